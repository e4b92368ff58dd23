// What relaying a WebSocket message costs the Worker: workerd's CPU (from /proc) while N messages
// go client -> Worker -> upstream echo -> Worker -> client, per relayed message (two per round
// trip), for
//   api_proxy       build/index.js: the pump (a WebSocketPair, each message re-sent from wasm glue)
//   js_pump         bench/js-websocket-pump.mjs: the same pump in plain JavaScript (no wasm, no
//                   token check)
//   js_passthrough  bench/js-passthrough.mjs: the upstream's socket handed back as it is, so the
//                   runtime relays it with no JavaScript per message (the floor)
// Not part of `npm run bench`; run it by hand after building: `node bench/websocket-cpu.mjs [N]`.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { WebSocket, WebSocketServer } from "ws";
import { cpuSeconds, seedToken, startWorkerd } from "./run.mjs";

const N = Number(process.argv[2] ?? 20_000);
const WINDOW = 64;
const CASES = [
  { name: "text 200 B", make: (i) => JSON.stringify({ type: "x", i, pad: "a".repeat(170) }) },
  { name: "text 16 KiB", make: (i) => JSON.stringify({ type: "x", i, pad: "a".repeat(16 * 1024 - 30) }) },
  { name: "binary 16 KiB", make: () => Buffer.alloc(16 * 1024, 7) },
];

async function echoServer() {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate: false });
  wss.on("connection", (ws) => ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary })));
  await new Promise((r) => wss.on("listening", r));
  return { url: `http://127.0.0.1:${wss.address().port}`, close: () => new Promise((r) => wss.close(r)) };
}

async function session(url, headers) {
  const ws = new WebSocket(url.replace(/^http/, "ws") + "/v1/realtime?model=bench", { headers, perMessageDeflate: false });
  await new Promise((resolve, reject) => { ws.on("open", resolve); ws.on("error", reject); });
  return ws;
}

// Sends `n` messages keeping WINDOW in flight; resolves when every echo is back.
function pump(ws, n, make) {
  return new Promise((resolve) => {
    let sent = 0;
    let got = 0;
    ws.on("message", () => {
      got++;
      if (got === n) resolve();
      else if (sent < n) ws.send(make(sent++));
    });
    for (; sent < Math.min(WINDOW, n); sent++) ws.send(make(sent));
  });
}

async function measure(target, headers) {
  const rows = {};
  for (const c of CASES) {
    const ws = await session(target.url, headers);
    await pump(ws, 500, c.make); // warm-up
    ws.removeAllListeners("message");
    const before = cpuSeconds(target.pids);
    const t0 = performance.now();
    await pump(ws, N, c.make);
    const wall = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(target.pids) - before;
    ws.close();
    rows[c.name] = { cpu_us_per_message: (cpu * 1e6) / (2 * N), messages_per_second: Math.round((2 * N) / wall) };
  }
  return rows;
}

const upstream = await echoServer();
const kvDir = fs.mkdtempSync(path.join(os.tmpdir(), "ws-bench-kv-"));
startWorkerd.upstream = upstream;
const token = await seedToken(kvDir);
const proxy = await startWorkerd("api_proxy", { kvDir, upstream });
const floor = await startWorkerd("js_passthrough", { upstream });
const jsPump = await startWorkerd("js_pump", {
  upstream,
  worker: {
    scriptPath: path.join(path.dirname(new URL(import.meta.url).pathname), "js-websocket-pump.mjs"),
    modulesRoot: undefined, modulesRules: undefined, kvNamespaces: undefined, durableObjects: undefined,
    bindings: { OPENAI_API_KEY: "sk-bench", OPENAI_UPSTREAM: upstream.url },
  },
});
try {
  const result = {
    messages_per_case: N,
    note: "workerd CPU per relayed message (user+system, /proc); each round trip relays two",
    api_proxy: await measure(proxy, { authorization: `Bearer ${token}` }),
    js_pump: await measure(jsPump, {}),
    js_passthrough: await measure(floor, { authorization: "Bearer anything" }),
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  await proxy.stop();
  await floor.stop();
  await jsPump.stop();
  await upstream.close();
  fs.rmSync(kvDir, { recursive: true, force: true });
}
