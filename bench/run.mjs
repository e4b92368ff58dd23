// The benchmark: api_proxy against the platform's floor and against what users would run instead,
// in one run on one machine. See the README's "Benchmark" section for what each figure means.
//
//   node bench/run.mjs            full run; writes bench/results/latest.json (build the Worker first)
//   node bench/run.mjs --smoke    tiny sizes and durations; writes bench/tmp/smoke.json
//   --out FILE                    write the JSON elsewhere
//
// Targets, all on 127.0.0.1 and all in front of the same mock upstream (bench/mock-upstream.mjs):
//   direct          the mock itself, the real key sent by the client
//   nginx           Debian's nginx with bench/nginx.conf.template
//   js_passthrough  bench/js-passthrough.mjs in its own workerd
//   js_equivalent   bench/js-equivalent.mjs (api_proxy's hot path in plain JavaScript) in its own
//                   workerd, on a copy of api_proxy's local KV
//   api_proxy       build/index.js in its own workerd, local KV holding one token
// Each Worker gets its own workerd process (one Miniflare each), so CPU and memory are read per
// target from /proc. Requests reach workerd's own socket (Miniflare's unsafeDirectSockets), with
// neither wrangler dev's Node proxy nor Miniflare's entry worker in the path; the run checks which
// process owns each listening port.

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Log, LogLevel, Miniflare } from "miniflare";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TARGETS = ["direct", "nginx", "js_passthrough", "js_equivalent", "api_proxy"];
const PROXIES = ["nginx", "js_passthrough", "js_equivalent", "api_proxy"];
// The two baselines api_proxy is compared with: the floor for any Worker, and a JavaScript Worker
// doing api_proxy's job.
const BASELINES = ["js_equivalent", "js_passthrough"];
export const REAL_KEY = "sk-real-openai-key-bench-000000000000";
const NGINX_TOKEN = "bench-nginx-token-0123456789abcdef";
export const ADMIN_SECRET = "bench-admin-secret-0123456789abcdef";
// "MB" in every figure and name means MiB, 2^20 bytes (what /proc reports memory in).
const MiB = 1024 * 1024;

const FULL = {
  connections: 16, warmupSeconds: 2, seconds: 8, rounds: 3,
  sseChunks: 50, sseIntervalMs: 20, sseStreams: 3,
  transferBytes: 100 * MiB, transferRuns: 5, startupRuns: 3, deadlineSeconds: 900,
};
const SMOKE = {
  connections: 2, warmupSeconds: 0, seconds: 1, rounds: 1,
  sseChunks: 5, sseIntervalMs: 5, sseStreams: 1,
  transferBytes: 1 * MiB, transferRuns: 1, startupRuns: 1, deadlineSeconds: 100,
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const log = (...a) => process.stderr.write(`[bench] ${a.join(" ")}\n`);

// ---------- /proc ----------

const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"]).stdout?.toString().trim()) || 100;

export function cpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    // Fields after the ")" that closes comm: state is 3rd overall, utime 14th, stime 15th.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / CLK_TCK;
}

function statusKiB(pid, field) {
  const m = fs.readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
  return m ? Number(m[1]) : 0;
}

const rssKiB = (pids) => pids.reduce((s, p) => s + statusKiB(p, "VmRSS"), 0);
const peakKiB = (pids) => pids.reduce((s, p) => s + statusKiB(p, "VmHWM"), 0);

// Resets VmHWM to the current RSS (Linux >= 4.0), so the peak of one transfer can be read.
function resetPeak(pids) {
  try {
    for (const p of pids) fs.writeFileSync(`/proc/${p}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

function childPids(parent, comm) {
  return fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      return name === comm && Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === parent;
    } catch {
      return false;
    }
  }).map(Number);
}

// The pid that owns the socket listening on 127.0.0.1:port.
function listeningPid(port) {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const line = fs.readFileSync("/proc/net/tcp", "utf8").split("\n")
    .map((l) => l.trim().split(/\s+/))
    .find((f) => f[1]?.endsWith(`:${hexPort}`) && f[3] === "0A");
  if (!line) return null;
  const socket = `socket:[${line[9]}]`;
  for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (fs.readdirSync(`/proc/${pid}/fd`).some((fd) => fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === socket)) return Number(pid);
    } catch { /* gone or not ours */ }
  }
  return null;
}

// ---------- HTTP client ----------

// One request; resolves with status, the body (unless discarded) and its length.
function request(url, { method = "GET", headers = {}, body, discard = false, onData } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { "accept-encoding": "identity", ...headers }, agent: false }, (res) => {
      const chunks = [];
      let length = 0;
      res.on("data", (c) => {
        length += c.length;
        if (onData) onData(c);
        else if (!discard) chunks.push(c);
      });
      res.on("end", () => resolve({ status: res.statusCode, length, text: discard ? "" : Buffer.concat(chunks).toString() }));
      res.on("error", reject);
    });
    req.on("error", reject);
    if (typeof body === "function") body(req).then(() => req.end(), reject);
    else req.end(body);
  });
}

const CHAT_BODY = JSON.stringify({
  model: "gpt-4o-mini",
  messages: [
    { role: "system", content: "You are a helpful assistant. ".repeat(12).trim() },
    { role: "user", content: "Tell me something short about reverse proxies, please. ".repeat(11).trim() },
  ],
  max_tokens: 200,
});

export const chat = (target, extraHeaders = {}) => request(`${target.url}/v1/chat/completions`, {
  method: "POST",
  headers: { authorization: target.auth, "content-type": "application/json", ...extraHeaders },
  body: CHAT_BODY,
});

export async function untilOk(target, deadlineMs = 30_000) {
  const end = nowMs() + deadlineMs;
  for (;;) {
    try {
      if ((await chat(target)).status === 200) return;
    } catch { /* not listening yet */ }
    if (nowMs() > end) throw new Error(`${target.name} never answered 200`);
    await sleep(2);
  }
}

// ---------- targets ----------

function compatibilityDate() {
  return fs.readFileSync(path.join(root, "wrangler.toml"), "utf8").match(/^compatibility_date\s*=\s*"([^"]+)"/m)[1];
}

function compatibilityFlags() {
  const m = fs.readFileSync(path.join(root, "wrangler.toml"), "utf8").match(/^compatibility_flags\s*=\s*\[([^\]]*)\]/m);
  return m ? [...m[1].matchAll(/"([^"]+)"/g)].map((x) => x[1]) : [];
}

export function startMock() {
  const child = spawn(process.execPath, [path.join(root, "bench/mock-upstream.mjs")], {
    env: { ...process.env, BENCH_REAL_KEY: REAL_KEY },
    stdio: ["pipe", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`mock upstream exited (${code})`)));
    child.stdout.once("data", (d) => {
      const port = Number(d.toString().match(/READY (\d+)/)[1]);
      resolve({ name: "direct", url: `http://127.0.0.1:${port}`, auth: `Bearer ${REAL_KEY}`, pids: [child.pid], stop: async () => child.kill() });
    });
  });
}

async function freePort() {
  const server = http.createServer();
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

async function startNginx(upstream, dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const conf = fs.readFileSync(path.join(root, "bench/nginx.conf.template"), "utf8")
    .replaceAll("@DIR@", dir).replaceAll("@PORT@", String(port)).replaceAll("@TOKEN@", NGINX_TOKEN)
    .replaceAll("@REAL_KEY@", REAL_KEY).replaceAll("@UPSTREAM@", new URL(upstream.url).host);
  fs.writeFileSync(path.join(dir, "nginx.conf"), conf);
  const nginx = fs.existsSync("/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx";
  const child = spawn(nginx, ["-p", dir, "-e", path.join(dir, "error.log"), "-c", path.join(dir, "nginx.conf")], { stdio: "inherit" });
  const exited = new Promise((r) => child.once("exit", r));
  const target = {
    name: "nginx", url: `http://127.0.0.1:${port}`, auth: `Bearer ${NGINX_TOKEN}`, port,
    get pids() { return [child.pid, ...childPids(child.pid, "nginx")]; },
    ownerPids: () => [child.pid, ...childPids(child.pid, "nginx")],
    stop: async () => { child.kill("SIGQUIT"); await Promise.race([exited, sleep(5000)]); child.kill("SIGKILL"); },
  };
  return target;
}

// `worker` overrides the Worker's own options; `options` adds Miniflare options, e.g. more workers
// for bench/profile.mjs.
export async function startWorkerd(name, { kvDir, auth, upstream = startWorkerd.upstream, worker = {}, options = {} } = {}) {
  const before = new Set(childPids(process.pid, "workerd"));
  const logs = [];
  const main = {
    name,
    modules: true,
    compatibilityDate: compatibilityDate(),
    // As wrangler.toml has them (request.signal tells usage metering of a client disconnect).
    compatibilityFlags: compatibilityFlags(),
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
    // Otherwise Miniflare routes every outbound fetch through one more JS Worker of its own, a hop
    // that Cloudflare does not have.
    stripCfConnectingIp: false,
    ...(name === "js_passthrough"
      ? {
        scriptPath: path.join(root, "bench/js-passthrough.mjs"),
        bindings: { OPENAI_API_KEY: REAL_KEY, OPENAI_UPSTREAM: upstream.url },
      }
      : name === "js_equivalent"
      ? {
        scriptPath: path.join(root, "bench/js-equivalent.mjs"),
        bindings: { OPENAI_API_KEY: REAL_KEY, OPENAI_UPSTREAM: upstream.url },
        kvNamespaces: ["TOKENS"],
      }
      : {
        scriptPath: path.join(root, "build/index.js"),
        modulesRoot: path.join(root, "build"),
        modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
        bindings: { OPENAI_API_KEY: REAL_KEY, ADMIN_SECRET, OPENAI_UPSTREAM: upstream.url },
        kvNamespaces: ["TOKENS"],
        durableObjects: { LIMITER: { className: "Limiter", useSQLite: true }, REGION_RELAY: { className: "RegionRelay", useSQLite: true }, ADMIN: { className: "AdminState", useSQLite: true }, LEDGER: { className: "Ledger", useSQLite: true } },
      }),
    ...worker,
  };
  const mf = new Miniflare({
    ...options,
    workers: [main, ...(options.workers ?? [])],
    ...(kvDir ? { kvPersist: kvDir } : {}),
    host: "127.0.0.1",
    port: 0,
    log: new Log(LogLevel.WARN),
    cf: { colo: "LOC", country: "XX", asn: 0 },
    handleRuntimeStdio(stdout, stderr) {
      stdout.on("data", (d) => logs.push(d.toString()));
      stderr.on("data", (d) => logs.push(d.toString()));
    },
  });
  try {
    await mf.ready;
  } catch (e) {
    throw new Error(`${name}: workerd did not start: ${e.message}\n${logs.join("")}`);
  }
  const url = (await mf.unsafeGetDirectURL(name)).toString().replace(/\/$/, "");
  const pids = childPids(process.pid, "workerd").filter((p) => !before.has(p));
  if (pids.length !== 1) throw new Error(`expected one new workerd process, found ${pids.length}`);
  return { name, url, auth, port: Number(new URL(url).port), pids, ownerPids: () => pids, logs, mf, stop: () => mf.dispose() };
}

// The token api_proxy checks, created through its own admin API into the persisted local KV.
export async function seedToken(kvDir) {
  const seeder = await startWorkerd("api_proxy", { kvDir });
  try {
    const res = await request(`${seeder.url}/admin/api/tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_SECRET}`, "content-type": "application/json" },
      body: JSON.stringify({ label: "bench", providers: ["openai"] }),
    });
    if (res.status !== 201) throw new Error(`creating the bench token failed: ${res.status} ${res.text}`);
    return JSON.parse(res.text).token;
  } finally {
    await seeder.stop();
  }
}

// ---------- measurements ----------

function bundle(outdir) {
  const r = spawnSync(path.join(root, "node_modules/.bin/wrangler"), ["deploy", "--dry-run", "--outdir", outdir], {
    cwd: root, env: { ...process.env, WRANGLER_SEND_METRICS: "false" }, encoding: "utf8", timeout: 600_000,
  });
  const m = `${r.stdout}${r.stderr}`.match(/Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/);
  if (!m) throw new Error(`wrangler deploy --dry-run printed no sizes:\n${r.stdout}\n${r.stderr}`);
  return { total_kib: Number(m[1]), gzip_kib: Number(m[2]) };
}

// Async on purpose: a spawnSync would block this process's event loop for the whole run, so
// nothing reads workerd's stdout, and once the pipe's 64 KiB fill with api_proxy's one log line per
// request (after about 280 requests) workerd blocks writing the next line and every request hangs.
export async function wrk(target, seconds, connections, urlPath = "/v1/chat/completions") {
  const bodyFile = path.join(wrk.dir ?? os.tmpdir(), "bench-chat.json");
  fs.writeFileSync(bodyFile, CHAT_BODY);
  const child = spawn("wrk", ["-t1", `-c${connections}`, `-d${seconds}s`, "--timeout", "10s", "-s", path.join(root, "bench/wrk-post.lua"), `${target.url}${urlPath}`], {
    env: { ...process.env, BENCH_BODY_FILE: bodyFile, BENCH_AUTH: target.auth },
  });
  let stdout = "", stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const killer = setTimeout(() => child.kill(), (seconds + 30) * 1000);
  const error = await new Promise((resolve) => { child.once("error", resolve); child.once("close", () => resolve("")); });
  clearTimeout(killer);
  const line = stdout.split("\n").find((l) => l.startsWith("WRK "));
  if (!line) throw new Error(`wrk failed against ${target.name}: ${error}${stderr}`);
  const out = JSON.parse(line.slice(4));
  if (out.errors || out.status_errors || !out.requests) throw new Error(`wrk against ${target.name}: ${line}`);
  return out;
}

// Rounds rotate the order of the targets so that a burst of load from elsewhere on the machine
// does not land on one target only; each figure is the median over rounds, CPU the total.
async function throughput(targets, cfg) {
  const runs = Object.fromEntries(targets.map((t) => [t.name, []]));
  const cpu = Object.fromEntries(targets.map((t) => [t.name, { seconds: 0, requests: 0 }]));
  if (cfg.warmupSeconds) for (const t of targets) await wrk(t, cfg.warmupSeconds, cfg.connections);
  for (let round = 0; round < cfg.rounds; round++) {
    for (let i = 0; i < targets.length; i++) {
      const t = targets[(i + round) % targets.length];
      const before = cpuSeconds(t.pids);
      const r = await wrk(t, cfg.seconds, cfg.connections);
      cpu[t.name].seconds += cpuSeconds(t.pids) - before;
      cpu[t.name].requests += r.requests;
      runs[t.name].push(r);
      log(`throughput round ${round + 1} ${t.name}: ${(r.requests / (r.duration_us / 1e6)).toFixed(0)} req/s`);
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  return {
    throughput: Object.fromEntries(Object.entries(runs).map(([name, rs]) => [name, {
      rps: round1(median(rs.map((r) => r.requests / (r.duration_us / 1e6)))),
      p50_ms: round3(median(rs.map((r) => r.p50_us / 1000))),
      p99_ms: round3(median(rs.map((r) => r.p99_us / 1000))),
    }])),
    cpu_us_per_request: Object.fromEntries(Object.entries(cpu).filter(([name]) => PROXIES.includes(name))
      .map(([name, c]) => [name, round1((c.seconds * 1e6) / c.requests)])),
  };
}

// Per event: the time from the mock's write to the client's read of the whole event, on the
// CLOCK_MONOTONIC both processes share.
export async function streamLatencies(target, cfg) {
  const latencies = [];
  for (let s = 0; s < cfg.sseStreams; s++) {
    let buffer = "";
    const res = await request(`${target.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: target.auth, "content-type": "application/json", "x-bench-chunks": String(cfg.sseChunks), "x-bench-interval-ms": String(cfg.sseIntervalMs) },
      body: JSON.stringify({ model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "hi" }] }),
      onData(chunk) {
        const arrived = process.hrtime.bigint();
        buffer += chunk.toString();
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const sent = BigInt(JSON.parse(event.replace(/^data: /, "")).sent_ns);
          latencies.push(Number(arrived - sent) / 1e6);
        }
      },
    });
    if (res.status !== 200) throw new Error(`stream through ${target.name}: ${res.status}`);
  }
  if (latencies.length !== cfg.sseStreams * cfg.sseChunks) throw new Error(`stream through ${target.name}: ${latencies.length} events`);
  return latencies;
}

export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

async function streaming(targets, cfg) {
  // A first stream per target warms up the JITs on the way.
  for (const t of targets) await streamLatencies(t, { ...cfg, sseStreams: 1, sseChunks: 3 });
  const lat = {};
  for (const t of targets) lat[t.name] = await streamLatencies(t, cfg);
  // What every target pays anyway: direct's median time from write to read.
  const floor = percentile(lat.direct, 50);
  return Object.fromEntries(targets.map((t) => {
    const extra = lat[t.name].map((l) => l - floor);
    return [t.name, { max_extra_ms: round3(Math.max(...extra)), p99_extra_ms: round3(percentile(extra, 99)), p50_extra_ms: round3(percentile(extra, 50)) }];
  }));
}

// Samples RSS while a transfer runs, besides the kernel's own peak, in case clear_refs is refused.
async function withPeakRss(target, run) {
  const pids = PROXIES.includes(target.name) ? target.pids : [];
  const base = rssKiB(pids);
  const resetOk = resetPeak(pids);
  let sampled = base;
  const timer = setInterval(() => { sampled = Math.max(sampled, rssKiB(pids)); }, 10);
  const t0 = nowMs();
  try {
    await run();
  } finally {
    clearInterval(timer);
  }
  const seconds = (nowMs() - t0) / 1000;
  const peak = Math.max(sampled, resetOk ? peakKiB(pids) : 0);
  return { seconds, rssDeltaKiB: pids.length ? peak - base : undefined };
}

export async function upload(target, bytes) {
  const chunk = Buffer.alloc(64 * 1024, "u");
  let reply;
  const m = await withPeakRss(target, async () => {
    reply = await request(`${target.url}/v1/files`, {
      method: "POST",
      headers: { authorization: target.auth, "content-type": "application/octet-stream", "content-length": String(bytes) },
      async body(req) {
        for (let sent = 0; sent < bytes; sent += chunk.length) {
          if (!req.write(chunk.subarray(0, Math.min(chunk.length, bytes - sent)))) await new Promise((r) => req.once("drain", r));
        }
      },
    });
  });
  if (reply.status !== 200 || JSON.parse(reply.text).bytes !== bytes) throw new Error(`upload through ${target.name}: ${reply.status} ${reply.text}`);
  return m;
}

export async function download(target, bytes) {
  let reply;
  const m = await withPeakRss(target, async () => {
    reply = await request(`${target.url}/v1/files/bench/content?bytes=${bytes}`, { headers: { authorization: target.auth }, discard: true });
  });
  if (reply.status !== 200 || reply.length !== bytes) throw new Error(`download through ${target.name}: ${reply.status}, ${reply.length} bytes`);
  return m;
}

// A transfer of 100 MB takes well under a second here, so one stall elsewhere on the machine can
// halve a single figure: the speed is the median of several, the memory growth the largest.
export async function transfers(target, transfer, bytes, runs) {
  await transfer(target, MiB);
  const ms = [];
  for (let i = 0; i < runs; i++) ms.push(await transfer(target, bytes));
  const deltas = ms.map((m) => m.rssDeltaKiB);
  return {
    mb_per_s: round1(bytes / MiB / percentile(ms.map((m) => m.seconds), 50)),
    ...(deltas[0] === undefined ? {} : { peak_rss_delta_mb: Math.round(Math.max(...deltas) / 10.24) / 100 }),
  };
}

export async function startupMs(start, firstOk = untilOk) {
  const t0 = nowMs();
  const target = await start();
  try {
    await firstOk(target);
    return nowMs() - t0;
  } finally {
    await target.stop();
  }
}

const round1 = (x) => Math.round(x * 10) / 10;
const round3 = (x) => Math.round(x * 1000) / 1000;

// ---------- report ----------

function machine() {
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? "unknown CPU"}, ${cpus.length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, node ${process.versions.node}`;
}

// Every figure of the table: its name and where it sits in the result, per target.
const FIGURES = [
  ["throughput rps", (r, t) => r.throughput[t]?.rps],
  ["latency p50 ms", (r, t) => r.throughput[t]?.p50_ms],
  ["latency p99 ms", (r, t) => r.throughput[t]?.p99_ms],
  ["cpu us/request", (r, t) => r.cpu_us_per_request[t]],
  ["stream max extra ms", (r, t) => r.stream[t]?.max_extra_ms],
  ["stream p99 extra ms", (r, t) => r.stream[t]?.p99_extra_ms],
  ["stream p50 extra ms", (r, t) => r.stream[t]?.p50_extra_ms],
  ["upload MB/s", (r, t) => r.upload_100mb[t]?.mb_per_s],
  ["upload peak RSS MB", (r, t) => r.upload_100mb[t]?.peak_rss_delta_mb],
  ["download MB/s", (r, t) => r.download_100mb[t]?.mb_per_s],
  ["download peak RSS MB", (r, t) => r.download_100mb[t]?.peak_rss_delta_mb],
  ["startup ms", (r, t) => r.startup_ms[t]],
];

// The goals of issue 16, for api_proxy. Each is a list of conditions, all of which must hold:
// [what is compared ("value" or a baseline's name), a comparison, the limit].
const GOALS = {
  "throughput rps": [["js_equivalent", ">=", 1.0], ["js_passthrough", ">=", 0.9]],
  "cpu us/request": [["js_equivalent", "<=", 1.0], ["js_passthrough", "<=", 1.3]],
  "stream p99 extra ms": [["value", "<", 1]],
  "upload peak RSS MB": [["value", "<", 16]],
  "download peak RSS MB": [["value", "<", 16]],
  "startup ms": [["js_passthrough", "<=", 1.5]],
  "bundle gzip KiB": [["value", "<", 250]],
};
const COMPARE = { ">=": (a, b) => a >= b, "<=": (a, b) => a <= b, "<": (a, b) => a < b };
const UNITS = { "stream p99 extra ms": " ms", "upload peak RSS MB": " MB", "download peak RSS MB": " MB", "bundle gzip KiB": " KiB" };

function ratio(a, b) {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? Math.round((a / b) * 100) / 100 : undefined;
}

const figureOf = (r, name) => (name === "bundle gzip KiB" ? () => r.bundle.gzip_kib : (t) => FIGURES.find(([n]) => n === name)[1](r, t));

// api_proxy's figures over each baseline's, figure by figure.
export function ratios(r) {
  return Object.fromEntries(BASELINES.map((b) => [`api_proxy/${b}`, Object.fromEntries(FIGURES
    .map(([name, get]) => [name, ratio(get(r, "api_proxy"), get(r, b))]).filter(([, v]) => v !== undefined))]));
}

// Each goal with the figures it reads and whether api_proxy meets it (null when a figure is missing).
export function goals(r) {
  return Object.fromEntries(Object.entries(GOALS).map(([name, conditions]) => {
    const get = figureOf(r, name);
    const parts = conditions.map(([against, op, limit]) => {
      const value = against === "value" ? get("api_proxy") : ratio(get("api_proxy"), get(against));
      const text = against === "value" ? `${op} ${limit}${UNITS[name] ?? ""}` : `${op} ${limit.toFixed(1)} x ${against}`;
      return { text, against, value, met: Number.isFinite(value) ? COMPARE[op](value, limit) : null };
    });
    const met = parts.some((p) => p.met === null) ? null : parts.every((p) => p.met);
    return [name, { goal: parts.map((p) => p.text).join(" and "), ...Object.fromEntries(parts.map((p) => [p.against, p.value])), met }];
  }));
}

export function table(r) {
  const g = goals(r);
  const goalCell = (name) => (g[name] ? `${g[name].goal}: ${g[name].met === null ? "?" : g[name].met ? "met" : "MISSED"}` : "");
  const cell = (v) => (v === undefined ? "-" : String(v));
  const lines = [["figure", ...TARGETS, ...BASELINES.map((b) => `api/${b}`), "goal"]];
  for (const [name, get] of FIGURES) {
    lines.push([name, ...TARGETS.map((t) => cell(get(r, t))), ...BASELINES.map((b) => cell(ratio(get(r, "api_proxy"), get(r, b)))), goalCell(name)]);
  }
  const blank = [...TARGETS.slice(0, -1), ...BASELINES].map(() => "");
  lines.push(["bundle total KiB", ...blank.slice(0, TARGETS.length - 1), cell(r.bundle.total_kib), ...blank.slice(TARGETS.length - 1), ""]);
  lines.push(["bundle gzip KiB", ...blank.slice(0, TARGETS.length - 1), cell(r.bundle.gzip_kib), ...blank.slice(TARGETS.length - 1), goalCell("bundle gzip KiB")]);
  const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  const fmt = (l) => `| ${l.map((c, i) => (i === 0 || i === l.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ")} |`;
  return [fmt(lines[0]), `|${widths.map((w, i) => (i === 0 || i === widths.length - 1 ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`, ...lines.slice(1).map(fmt)].join("\n");
}

// ---------- main ----------

async function main() {
  const argv = process.argv.slice(2);
  const smoke = argv.includes("--smoke");
  const cfg = smoke ? SMOKE : FULL;
  const outIndex = argv.indexOf("--out");
  const out = outIndex >= 0 ? path.resolve(argv[outIndex + 1]) : path.join(root, smoke ? "bench/tmp/smoke.json" : "bench/results/latest.json");
  const tmp = path.join(root, "bench/tmp", smoke ? "smoke" : "full");
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  wrk.dir = tmp;
  if (!fs.existsSync(path.join(root, "build/index.js"))) throw new Error("build/index.js is missing: run scripts/build-worker.sh first");

  const running = [];
  const stopAll = async () => { for (const t of running.splice(0).reverse()) await t.stop().catch(() => {}); };
  // Stops by itself, whatever hangs.
  const deadline = setTimeout(async () => {
    log(`deadline of ${cfg.deadlineSeconds} s reached; stopping`);
    await stopAll();
    process.exit(2);
  }, cfg.deadlineSeconds * 1000);
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, async () => { await stopAll(); process.exit(130); });

  const loadBefore = os.loadavg();
  try {
    log("bundle: wrangler deploy --dry-run");
    const bundleSizes = bundle(path.join(tmp, "bundle"));

    const mock = await startMock();
    running.push(mock);
    startWorkerd.upstream = mock;
    const kvDir = path.join(tmp, "kv");
    const token = await seedToken(kvDir);
    // The same record api_proxy stored, in a KV store of js_equivalent's own.
    const kvDirJs = path.join(tmp, "kv-js");
    fs.cpSync(kvDir, kvDirJs, { recursive: true });
    const starters = {
      nginx: () => startNginx(mock, path.join(tmp, "nginx")),
      js_passthrough: () => startWorkerd("js_passthrough", { auth: `Bearer ${token}` }),
      js_equivalent: () => startWorkerd("js_equivalent", { kvDir: kvDirJs, auth: `Bearer ${token}` }),
      api_proxy: () => startWorkerd("api_proxy", { kvDir, auth: `Bearer ${token}` }),
    };

    log("startup");
    const startups = Object.fromEntries(PROXIES.map((name) => [name, []]));
    for (let i = 0; i < cfg.startupRuns; i++) {
      for (const name of PROXIES) startups[name].push(await startupMs(starters[name]));
    }
    const startup = Object.fromEntries(PROXIES.map((name) => [name, round1(percentile(startups[name], 50))]));

    const targets = [mock];
    for (const name of PROXIES) {
      const t = await starters[name]();
      running.push(t);
      targets.push(t);
    }
    const servedBy = {};
    for (const t of targets.slice(1)) {
      await untilOk(t);
      const owner = listeningPid(t.port);
      if (!t.ownerPids().includes(owner)) throw new Error(`${t.name}: port ${t.port} is owned by pid ${owner}, not by ${t.ownerPids()}`);
      servedBy[t.name] = `${fs.readFileSync(`/proc/${owner}/comm`, "utf8").trim()} pid ${owner}`;
      if (t.name !== "js_passthrough") {
        const refused = await chat({ ...t, auth: "Bearer not-the-token-0123456789abcdefgh" });
        if (refused.status !== 401) throw new Error(`${t.name} let a wrong token through (${refused.status})`);
      }
    }
    log(`served by: ${JSON.stringify(servedBy)}`);

    log("throughput");
    const tp = await throughput(targets, cfg);
    log("streaming");
    const stream = await streaming(targets, cfg);
    log("upload and download");
    const up = {};
    const down = {};
    for (const t of targets) {
      up[t.name] = await transfers(t, upload, cfg.transferBytes, cfg.transferRuns);
      down[t.name] = await transfers(t, download, cfg.transferBytes, cfg.transferRuns);
      log(`${t.name}: up ${JSON.stringify(up[t.name])}, down ${JSON.stringify(down[t.name])}`);
    }

    const result = {
      throughput: tp.throughput,
      cpu_us_per_request: tp.cpu_us_per_request,
      stream,
      upload_100mb: up,
      download_100mb: down,
      bundle: bundleSizes,
      startup_ms: startup,
      machine: machine(),
      date: new Date().toISOString(),
      load_average_1m: { before: round1(loadBefore[0]), after: round1(os.loadavg()[0]) },
      settings: { smoke, ...cfg, transfer_mb: cfg.transferBytes / MiB, served_by: servedBy },
    };
    result.ratios = ratios(result);
    result.goals = goals(result);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`\n${table(result)}\n\n${result.date}, ${result.machine}; load average ${result.load_average_1m.before} -> ${result.load_average_1m.after}\nwritten to ${path.relative(root, out)}\n`);
  } finally {
    clearTimeout(deadline);
    await stopAll();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().then(() => process.exit(0), (e) => {
    console.error(e);
    process.exit(1);
  });
}
