// Interleaved A/B runs of api_proxy builds, for deciding whether a change to the hot path pays.
// Not part of `npm run bench`. Build each variant first (scripts/build-worker.sh DIR), then:
//   node bench/ab.mjs [--rounds 7] [--seconds 4] [--startups 7] base=build variant=bench/tmp/v1 ...
// Every build runs in its own workerd on its own copy of one seeded local KV, as bench/run.mjs runs
// api_proxy, next to js_passthrough and js_equivalent as references. Each round runs wrk against
// every target once, in an order rotated per round, so load from elsewhere on a shared machine
// spreads over all of them; the figures are the median and the range over rounds. Startup is
// timed the same way, interleaved. Bundle: the wasm and the JS glue, raw and gzipped.

import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { ADMIN_SECRET, REAL_KEY, cpuSeconds, percentile, seedToken, startMock, startWorkerd, startupMs, untilOk, wrk } from "./run.mjs";

const argv = process.argv.slice(2);
const option = (name, fallback) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : fallback);
const rounds = option("--rounds", 7);
const seconds = option("--seconds", 4);
const startups = option("--startups", 7);
const connections = 16;
const root = path.resolve(import.meta.dirname, "..");
// `--var NAME=VALUE` (repeatable) sets a var on every api_proxy build, e.g. USAGE_METERING=off to
// measure the rest of the hot path without the meter and its ledger write.
const vars = Object.fromEntries(argv.filter((a, i) => argv[i - 1] === "--var").map((a) => a.split("=")));
const builds = argv.filter((a, i) => a.includes("=") && !argv[i - 1]?.startsWith("--")).map((a) => {
  const [name, dir] = a.split("=");
  return { name, dir: path.resolve(root, dir) };
});
if (!builds.length) throw new Error("usage: node bench/ab.mjs [--rounds N] [--seconds N] [--startups N] name=builddir ...");

const tmp = path.join(root, "bench/tmp/ab");
fs.rmSync(tmp, { recursive: true, force: true });
fs.mkdirSync(tmp, { recursive: true });
wrk.dir = tmp;

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: Math.round(percentile(s, 50) * 10) / 10, min: Math.round(s[0] * 10) / 10, max: Math.round(s[s.length - 1] * 10) / 10 };
};
const show = ({ median, min, max }) => `${median} (${min}-${max})`;

const mock = await startMock();
startWorkerd.upstream = mock;
const running = [mock];
try {
  const kvDir = path.join(tmp, "kv");
  const token = await seedToken(kvDir);
  const auth = `Bearer ${token}`;
  let copies = 0;
  const kvCopy = () => {
    const dir = path.join(tmp, `kv-${copies++}`);
    fs.cpSync(kvDir, dir, { recursive: true });
    return dir;
  };
  const starters = [
    ["js_passthrough", () => startWorkerd("js_passthrough", { auth })],
    ["js_equivalent", ((dir) => () => startWorkerd("js_equivalent", { kvDir: dir, auth }))(kvCopy())],
    ...builds.map(({ name, dir }) => {
      const kv = kvCopy();
      return [name, () => startWorkerd(`api_${name}`, { kvDir: kv, auth, worker: { scriptPath: path.join(dir, "index.js"), modulesRoot: dir, bindings: { OPENAI_API_KEY: REAL_KEY, ADMIN_SECRET, OPENAI_UPSTREAM: mock.url, ...vars } } })];
    }),
  ];

  console.log("bundle (index_bg.wasm + index.js), KiB raw / gzip:");
  for (const { name, dir } of builds) {
    const bytes = Buffer.concat([fs.readFileSync(path.join(dir, "index_bg.wasm")), fs.readFileSync(path.join(dir, "index.js"))]);
    console.log(`  ${name.padEnd(16)} ${(bytes.length / 1024).toFixed(1)} / ${(zlib.gzipSync(bytes, { level: 9 }).length / 1024).toFixed(1)}`);
  }

  const startupTimes = Object.fromEntries(starters.map(([name]) => [name, []]));
  for (let i = 0; i < startups; i++) {
    for (let j = 0; j < starters.length; j++) {
      const [name, start] = starters[(i + j) % starters.length];
      startupTimes[name].push(await startupMs(start));
    }
  }

  const targets = [];
  for (const [name, start] of starters) {
    const t = await start();
    running.push(t);
    await untilOk(t);
    await wrk(t, 1, connections);
    targets.push({ name, t, cpu: [], rps: [] });
  }
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < targets.length; j++) {
      const x = targets[(r + j) % targets.length];
      const before = cpuSeconds(x.t.pids);
      const out = await wrk(x.t, seconds, connections);
      x.cpu.push(((cpuSeconds(x.t.pids) - before) * 1e6) / out.requests);
      x.rps.push(out.requests / (out.duration_us / 1e6));
    }
    process.stderr.write(`[ab] round ${r + 1}/${rounds}\n`);
  }
  console.log(`\n${rounds} rounds of ${seconds} s, ${connections} connections; median (min-max). Startup: ${startups} runs.`);
  // Paired with js_equivalent's figure of the same round, which cancels slow drifts in the load.
  const eq = targets.find((x) => x.name === "js_equivalent");
  const paired = (x) => stats(x.cpu.map((c, i) => (100 * c) / eq.cpu[i]));
  console.log(`${"target".padEnd(16)} ${"cpu us/request".padEnd(22)} ${"cpu % of js_eq".padEnd(20)} ${"req/s".padEnd(24)} startup ms`);
  for (const x of targets) {
    console.log(`${x.name.padEnd(16)} ${show(stats(x.cpu)).padEnd(22)} ${show(paired(x)).padEnd(20)} ${show(stats(x.rps)).padEnd(24)} ${show(stats(startupTimes[x.name]))}`);
  }
  if (Object.keys(vars).length) console.log(`api builds ran with ${JSON.stringify(vars)}`);
  console.log(`load average ${fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
} finally {
  for (const t of running.reverse()) await t.stop().catch(() => {});
}
process.exit(0);
