// Where api_proxy's CPU and startup time go. Not part of `npm run bench`; run it after a build:
//   node bench/profile.mjs [--seconds N]
// 0. Startup (median of 3) of js_passthrough, of js_passthrough with an unused KV binding (what
//    Miniflare's local KV adds), and of api_proxy up to its first /health and first proxied answer.
// 1. CPU per request (workerd process, /proc) of Worker variants that each leave out one part:
//      js_hello          a JS Worker answering a fixed JSON body: serving HTTP in workerd at all
//      api_health        api_proxy's /health: the same plus entering the Rust Worker
//      js_passthrough    the JS floor for a proxied request (bench/js-passthrough.mjs)
//      js_eq_memory_kv   api_proxy's hot path in JavaScript (bench/js-equivalent.mjs), TOKENS
//                        from a JS object
//      js_equivalent     the same on Miniflare's local KV, as benchmarked
//      api_memory_kv     api_proxy with TOKENS served from a JS object instead of Miniflare's KV
//      api_proxy         api_proxy as benchmarked, on Miniflare's local KV
// 2. V8 CPU profiles (workerd's inspector) of the js_passthrough, js_eq_memory_kv and api_memory_kv isolates under
//    the same load: self and inclusive time per function in microseconds per request, JS glue and
//    wasm alike. The release build has no function names, so the profiled api_memory_kv runs a
//    copy built without wasm-opt into bench/tmp/build-names. Miniflare's KV runs in other isolates.

import { spawnSync } from "node:child_process";
import WebSocket from "ws"; // Node 20 has no global WebSocket without a flag
import { createHash } from "node:crypto";
import { REAL_KEY, cpuSeconds, percentile, seedToken, startMock, startWorkerd, startupMs, untilOk, wrk } from "./run.mjs";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const argv = process.argv.slice(2);
const seconds = Number(argv[argv.indexOf("--seconds") + 1]) || 5;
const connections = 16;

const HELLO = `export default { fetch() { return new Response('{"status":"ok"}', { headers: { "content-type": "application/json" } }); } };`;
const MEMORY_KV = `
export default function ({ RECORDS }) {
  const records = JSON.parse(RECORDS);
  return {
    async get(key, options) {
      const value = records[key];
      if (value === undefined) return null;
      const type = typeof options === "string" ? options : options?.type;
      return type === "json" ? JSON.parse(value) : value;
    },
  };
}`;

async function cpuPerRequest(target, urlPath) {
  await untilOk(target).catch(() => {});
  await wrk(target, 1, connections, urlPath);
  const before = cpuSeconds(target.pids);
  const r = await wrk(target, seconds, connections, urlPath);
  const us = ((cpuSeconds(target.pids) - before) * 1e6) / r.requests;
  return { rps: Math.round(r.requests / (r.duration_us / 1e6)), cpu_us: Math.round(us) };
}

function cdp(url) {
  const ws = new WebSocket(url);
  const pending = new Map();
  let id = 0;
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    pending.get(msg.id)?.(msg.result);
    pending.delete(msg.id);
  };
  return new Promise((resolve, reject) => {
    ws.onerror = reject;
    ws.onopen = () => resolve({
      send: (method, params = {}) => new Promise((r) => { pending.set(++id, r); ws.send(JSON.stringify({ id, method, params })); }),
      close: () => ws.close(),
    });
  });
}

// Self and inclusive time per function, in microseconds per request.
function summarize(profile, requests, rows = 30) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (n) => {
    const f = n.callFrame;
    const where = f.url.startsWith("wasm://") ? "wasm" : f.url ? path.basename(f.url) : "";
    return `${(f.functionName || "(anonymous)").replace(/::h[0-9a-f]{16}/g, "")}${where ? ` [${where}]` : ""}`;
  };
  const self = new Map();
  const inclusive = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    const leaf = byId.get(id);
    self.set(label(leaf), (self.get(label(leaf)) ?? 0) + dt);
    const seen = new Set();
    for (let n = leaf; n; n = byId.get(parent.get(n.id))) seen.add(label(n));
    for (const l of seen) inclusive.set(l, (inclusive.get(l) ?? 0) + dt);
  });
  const top = (m) => [...m].sort((a, b) => b[1] - a[1]).slice(0, rows)
    .map(([l, t]) => `  ${(t / requests).toFixed(1).padStart(7)} us  ${l.slice(0, 150)}`).join("\n");
  return `${requests} requests, ${(total / requests).toFixed(1)} us of the isolate's thread per request (idle included)\nself:\n${top(self)}\ninclusive:\n${top(inclusive)}`;
}

async function profiled(target, port) {
  const inspector = await cdp(`ws://127.0.0.1:${port}/core:user:${target.name}`);
  await wrk(target, 1, connections);
  await inspector.send("Profiler.enable");
  await inspector.send("Profiler.setSamplingInterval", { interval: 50 });
  await inspector.send("Profiler.start");
  const r = await wrk(target, seconds, connections);
  const { profile } = await inspector.send("Profiler.stop");
  inspector.close();
  const file = path.join(tmp, `${target.name}.cpuprofile`);
  fs.writeFileSync(file, JSON.stringify(profile));
  console.log(`\n== ${target.name} isolate profile (${file}, opens in Chrome DevTools)\n${summarize(profile, r.requests)}`);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-profile-"));
const root = path.resolve(import.meta.dirname, "..");
const named = path.join(root, "bench/tmp/build-names");
const build = spawnSync("bash", ["-c", `source scripts/toolchain-env.sh && worker-build --release --no-opt --out-dir ${named}`], { cwd: root, encoding: "utf8" });
if (build.status !== 0) throw new Error(`building ${named} failed:\n${build.stderr}`);
const mock = await startMock();
startWorkerd.upstream = mock;
const running = [mock];
try {
  fs.writeFileSync(path.join(tmp, "hello.mjs"), HELLO);
  const kvDir = path.join(tmp, "kv");
  const token = await seedToken(kvDir);
  const auth = `Bearer ${token}`;
  const id = createHash("sha256").update(token).digest("hex");

  const health = async (t) => {
    for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 2))) {
      if (await fetch(`${t.url}/health`).then((r) => r.ok, () => false)) return;
    }
    throw new Error("no /health");
  };
  const startups = [
    ["js_passthrough", () => startWorkerd("js_passthrough", { auth })],
    ["js_passthrough + KV binding", () => startWorkerd("js_passthrough", { auth, worker: { kvNamespaces: ["TOKENS"] } })],
    ["api_proxy to /health", () => startWorkerd("api_proxy", { kvDir, auth }), health],
    ["api_proxy to proxied", () => startWorkerd("api_proxy", { kvDir, auth })],
  ];
  const times = Object.fromEntries(startups.map(([name]) => [name, []]));
  for (let i = 0; i < 3; i++) for (const [name, start, probe] of startups) times[name].push(await startupMs(start, probe));
  console.log("startup ms (median of 3):");
  for (const [name, ts] of Object.entries(times)) console.log(`  ${name.padEnd(28)} ${percentile(ts, 50).toFixed(0)}`);

  const memoryKv = (name, options = {}, dir = path.join(root, "build"), script = { scriptPath: path.join(dir, "index.js"), modulesRoot: dir }) => startWorkerd(name, {
    auth,
    worker: { ...script, kvNamespaces: [], wrappedBindings: { TOKENS: { scriptName: "memory-kv", bindings: { RECORDS: JSON.stringify({ [id]: record }) } } } },
    options: { workers: [{ name: "memory-kv", modules: true, script: MEMORY_KV }], ...options },
  });
  const jsEquivalent = { scriptPath: path.join(root, "bench/js-equivalent.mjs"), modulesRoot: path.join(root, "bench"), durableObjects: {}, bindings: { OPENAI_API_KEY: REAL_KEY, OPENAI_UPSTREAM: mock.url } };
  const jsKvDir = path.join(tmp, "kv-js");
  fs.cpSync(kvDir, jsKvDir, { recursive: true });
  const api = await startWorkerd("api_proxy", { kvDir, auth });
  running.push(api);
  const record = await (await api.mf.getKVNamespace("TOKENS")).get(id);
  const variants = [
    ["js_hello", () => startWorkerd("js_hello", { auth, worker: { scriptPath: path.join(tmp, "hello.mjs"), modulesRoot: tmp, bindings: {} } }), "/"],
    ["api_health", () => startWorkerd("api_health", { auth }), "/health"],
    ["js_passthrough", () => startWorkerd("js_passthrough", { auth })],
    ["js_eq_memory_kv", () => memoryKv("js_eq_memory_kv", {}, undefined, jsEquivalent)],
    ["js_equivalent", () => startWorkerd("js_equivalent", { kvDir: jsKvDir, auth })],
    ["api_memory_kv", () => memoryKv("api_memory_kv")],
    ["api_proxy", async () => api],
  ];
  for (const [name, start, urlPath] of variants) {
    const t = await start();
    if (t !== api) running.push(t);
    console.log(`${name.padEnd(15)} ${JSON.stringify(await cpuPerRequest(t, urlPath))}`);
  }
  for (const t of running.splice(1)) await t.stop();

  // Profiled apart: an attached inspector costs CPU of its own.
  await profiled(await startWorkerd("js_passthrough", { auth, options: { inspectorPort: 9329 } }).then((t) => (running.push(t), t)), 9329);
  await profiled(await memoryKv("js_eq_memory_kv", { inspectorPort: 9331 }, undefined, jsEquivalent).then((t) => (running.push(t), t)), 9331);
  await profiled(await memoryKv("api_memory_kv", { inspectorPort: 9330 }, named).then((t) => (running.push(t), t)), 9330);
} finally {
  for (const t of running.reverse()) await t.stop().catch(() => {});
}
process.exit(0);
