// Starts what a test needs: the mock provider APIs and the built Worker (build/index.js and its
// wasm) in workerd through Miniflare, with local KV, the dev secrets and the upstream vars pointed at
// the mock. Miniflare serves workerd's own socket, with no wrangler dev proxy in front.
//
// As a module: `await startStack()`. As a program (for the Python SDK tests):
// `node tests/support/stack.mjs` prints one line `STACK {json}` with the URLs and secrets, then serves until
// its stdin closes or it gets SIGTERM.

import { Miniflare, Log, LogLevel } from "miniflare";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { startMockUpstream, REAL_KEYS, COMPAT_BASES } from "./mock-upstream.mjs";
import { attachMockWebSocket } from "./mock-websocket.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const ADMIN_SECRET = "test-admin-secret-0123456789abcdef";

// A KV binding whose every call fails, as KV does when it is unreachable.
const FAILING_KV = `
export default function () {
  const fail = async () => { throw new Error("KV is unreachable (test)"); };
  return { get: fail, getWithMetadata: fail, put: fail, list: fail, delete: fail };
}`;

// A binding whose reads reach the real (local) namespace but whose every write fails: a change
// that cannot be stored.
const FAILING_WRITES_KV = `
export default function (env) {
  const fail = async () => { throw new Error("KV refused the write (test)"); };
  return {
    get: (...a) => env.INNER.get(...a),
    getWithMetadata: (...a) => env.INNER.getWithMetadata(...a),
    list: (...a) => env.INNER.list(...a),
    put: fail,
    delete: fail,
  };
}`;

// Workers KV as it behaves on the network: every call waits a random 0..LATENCY ms before it
// reaches the real (local) namespace, so that calls made at once finish in any order.
const SLOW_KV = `
const pause = (ms) => new Promise((r) => setTimeout(r, Math.random() * ms));
export default function (env) {
  const ms = Number(env.LATENCY_MS);
  const wrap = (name) => async (...args) => { await pause(ms); const out = await env.INNER[name](...args); await pause(ms); return out; };
  return { get: wrap("get"), getWithMetadata: wrap("getWithMetadata"), put: wrap("put"), list: wrap("list"), delete: wrap("delete") };
}`;

// A rate limiter whose every call fails, as a Durable Object that cannot be reached does: bound as
// LIMITER in place of the real class when a test asks for `limiterFailure`.
const FAILING_LIMITER = `
export class Limiter {
  async fetch() { throw new Error("the limiter is unreachable (test)"); }
}
export default { fetch() { return new Response("failing limiter"); } };`;

// A token's Ledger object that cannot be reached when a request asks it: bound as LEDGER when a
// test asks for `ledgerFailure`. It still takes the admin's word (/tell), so tokens can be made.
const FAILING_LEDGER = `
export class Ledger {
  async fetch(request) {
    if (new URL(request.url).pathname === "/tell") return new Response("told");
    throw new Error("the ledger is unreachable (test)");
  }
}
export default { fetch() { return new Response("failing ledger"); } };`;

// `bindings` overrides the Worker's vars and secrets; a value of `undefined` removes that binding
// (a secret never set with `wrangler secret put`). `persist` is a directory where KV and the
// Durable Objects keep their data, so a second stack started on it sees what the first stored.
// `kvFailure`: true fails every KV call, "writes" only puts and deletes. `kvLatencyMs`: KV answers
// after a random delay up to this.
export async function startStack({ kvFailure = false, kvLatencyMs = 0, limiterFailure = false, ledgerFailure = false, elsewhere = false, persist, bindings = {}, upstreams } = {}) {
  const mock = await startMockUpstream();
  const websockets = attachMockWebSocket(mock.listeners);
  const logs = [];
  const workerBindings = {
    OPENAI_API_KEY: REAL_KEYS.openai,
    ANTHROPIC_API_KEY: REAL_KEYS.anthropic,
    GEMINI_API_KEY: REAL_KEYS.gemini,
    ADMIN_SECRET,
    OPENAI_UPSTREAM: upstreams?.openai ?? mock.urls.openai,
    ANTHROPIC_UPSTREAM: upstreams?.anthropic ?? mock.urls.anthropic,
    GEMINI_UPSTREAM: upstreams?.gemini ?? mock.urls.gemini,
    // The account overview is fed within a second, so tests need not wait a minute.
    USAGE_FORWARD_SECONDS: "1",
    // A client that stopped reading is taken as gone after 2 s instead of 10.
    USAGE_CLIENT_IDLE_SECONDS: "2",
    // Every other provider, and one operator-defined OpenAI-compatible upstream ("custom"), at the mock.
    ...Object.fromEntries(["elevenlabs", ...Object.keys(COMPAT_BASES)].filter((p) => p !== "custom" && p !== "azure").flatMap((p) => [
      [`${p.toUpperCase()}_API_KEY`, REAL_KEYS[p]],
      [`${p.toUpperCase()}_UPSTREAM`, mock.urls[p]],
    ])),
    EXTRA_PROVIDERS: JSON.stringify([
      { name: "custom", origin: mock.urls.custom, display_name: "Custom vLLM" },
      { name: "azure", origin: mock.urls.azure, key_header: "api-key", base_path: "/openai/deployments/d1" },
    ]),
    CUSTOM_API_KEY: REAL_KEYS.custom,
    AZURE_API_KEY: REAL_KEYS.azure,
    // workerd refuses jurisdiction-bound namespaces; locally the relay runs unrestricted (see README).
    REGION_RELAY_JURISDICTION: "none",
    ...bindings,
  };
  for (const [name, value] of Object.entries(workerBindings)) if (value === undefined) delete workerBindings[name];
  const main = {
    name: "api-proxy",
    modules: true,
    scriptPath: path.join(root, "build/index.js"),
    modulesRoot: path.join(root, "build"),
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
    compatibilityDate: "2026-04-20",
    bindings: workerBindings,
    durableObjects: {
      LIMITER: limiterFailure ? { className: "Limiter", scriptName: "failing-limiter" } : { className: "Limiter", useSQLite: true },
      REGION_RELAY: { className: "RegionRelay", useSQLite: true },
      ADMIN: { className: "AdminState", useSQLite: true },
      LEDGER: ledgerFailure ? { className: "Ledger", scriptName: "failing-ledger" } : { className: "Ledger", useSQLite: true },
    },
    ...(kvFailure === "writes"
      ? { wrappedBindings: { TOKENS: { scriptName: "failing-writes-kv" } } }
      : kvFailure
      ? { wrappedBindings: { TOKENS: { scriptName: "failing-kv" } } }
      : kvLatencyMs
        ? { wrappedBindings: { TOKENS: { scriptName: "slow-kv", bindings: { LATENCY_MS: kvLatencyMs } } } }
        : { kvNamespaces: ["TOKENS"] }),
  };
  const workers = [main];
  if (kvFailure === "writes") workers.push({ name: "failing-writes-kv", modules: true, script: FAILING_WRITES_KV, kvNamespaces: { INNER: "TOKENS" } });
  else if (kvFailure) workers.push({ name: "failing-kv", modules: true, script: FAILING_KV });
  if (kvLatencyMs) workers.push({ name: "slow-kv", modules: true, script: SLOW_KV, kvNamespaces: { INNER: "TOKENS" } });
  // `elsewhere`: the same Worker once more, in its own isolate with its own record cache, as a
  // second Cloudflare location runs it: same KV, and the first Worker's Durable Objects.
  if (elsewhere) {
    workers.push({
      ...main,
      name: "elsewhere",
      routes: ["elsewhere.test/*"],
      durableObjects: Object.fromEntries(Object.entries(main.durableObjects).map(([binding, o]) => [binding, { className: o.className, scriptName: o.scriptName ?? "api-proxy" }])),
    });
  }
  if (ledgerFailure) workers.push({ name: "failing-ledger", modules: true, script: FAILING_LEDGER, durableObjects: { LEDGER: "Ledger" } });
  if (limiterFailure) workers.push({ name: "failing-limiter", modules: true, script: FAILING_LIMITER, durableObjects: { LIMITER: "Limiter" } });

  const mf = new Miniflare({
    workers,
    host: "127.0.0.1",
    port: 0,
    log: new Log(LogLevel.WARN),
    // Offline: a fixed request.cf instead of the one Miniflare would download.
    cf: { colo: "LOC", country: "XX", asn: 0 },
    ...(persist ? { kvPersist: path.join(persist, "kv"), durableObjectsPersist: path.join(persist, "do") } : {}),
    handleRuntimeStdio(stdout, stderr) {
      stdout.on("data", (d) => logs.push(d.toString()));
      stderr.on("data", (d) => logs.push(d.toString()));
    },
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");

  async function admin(method, pathname, body) {
    const res = await fetch(url + pathname, {
      method,
      headers: { authorization: `Bearer ${workerBindings.ADMIN_SECRET}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
  }

  return {
    url,
    mf,
    /** The TOKENS namespace itself, as `wrangler kv` would reach it: no Worker in between. */
    tokensKv: () =>
      kvFailure === "writes" ? mf.getKVNamespace("INNER", "failing-writes-kv") : kvLatencyMs ? mf.getKVNamespace("INNER", "slow-kv") : mf.getKVNamespace("TOKENS"),
    mock,
    /** The mock's WebSocket endpoints: recorded handshakes and closes (tests/support/mock-websocket.mjs). */
    websockets,
    logs,
    adminSecret: workerBindings.ADMIN_SECRET,
    realKeys: REAL_KEYS,
    admin,
    /** A request to the `elsewhere` Worker (another isolate: another location's record cache). */
    elsewhere: (pathname, init) => mf.dispatchFetch("http://elsewhere.test" + pathname, init),
    /** Creates a token through the admin API; returns the API's JSON (id, token, record). */
    async createToken({ label = "test", providers = ["openai", "anthropic", "gemini"], ...rest } = {}) {
      const r = await admin("POST", "/admin/api/tokens", { label, providers, ...rest });
      if (r.status !== 201) throw new Error(`creating a token failed: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    },
    async dispose() {
      await mf.dispose();
      await websockets.close();
      await mock.close();
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const stack = await startStack();
  process.stdout.write("STACK " + JSON.stringify({ url: stack.url, mock: stack.mock.urls, adminSecret: ADMIN_SECRET, realKeys: REAL_KEYS }) + "\n");
  const stop = async () => { await stack.dispose(); process.exit(0); };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.stdin.on("end", stop);
  process.stdin.resume();
}
