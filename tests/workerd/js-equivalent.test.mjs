// The benchmark's js_equivalent baseline (bench/js-equivalent.mjs) must do api_proxy's job, or the
// comparison flatters one side: the same requests sent to both Workers must reach the provider
// alike (the real key in its slot, never the token, the same headers dropped) and be refused alike.
// Both run in workerd through Miniflare, in front of the same mock upstream; js_equivalent runs on
// its own socket, as in the benchmark, and reads the record api_proxy stored.
import http from "node:http";
import { createHash } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Log, LogLevel, Miniflare } from "miniflare";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { REAL_KEYS, startMockUpstream } from "../support/mock-upstream.mjs";
import { everythingUpstream, send, sendWithSlot, SLOTS } from "./helpers.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const FAILING_KV = `
export default function () {
  const fail = async () => { throw new Error("KV is unreachable (test)"); };
  return { get: fail, getWithMetadata: fail, put: fail, list: fail, delete: fail };
}`;

// A generated token's checksum (the admin API's documented format), to make well-formed tokens
// that were never stored.
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
function withChecksum(body) {
  let n = createHash("sha256").update(body).digest().readBigUInt64BE(0);
  let out = body;
  for (let i = 0; i < 6; i++) { out += BASE62[Number(n % 62n)]; n /= 62n; }
  return out;
}

const ADMIN_SECRET = "test-admin-secret-0123456789abcdef";

let mf;
let mock;
// api_proxy and js_equivalent as the benchmark runs them: each on its own socket in workerd, the
// two sharing one KV namespace, so js_equivalent reads the very records api_proxy's admin API wrote.
let stack;
const js = {};
let token;

async function createToken(body = {}) {
  const res = await fetch(`${stack.url}/admin/api/tokens`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_SECRET}`, "content-type": "application/json" },
    body: JSON.stringify({ label: "bench", providers: ["openai", "anthropic", "gemini"], ...body }),
  });
  expect(res.status).toBe(201);
  return res.json();
}

beforeAll(async () => {
  mock = await startMockUpstream();
  const bindings = {
    OPENAI_API_KEY: REAL_KEYS.openai,
    ANTHROPIC_API_KEY: REAL_KEYS.anthropic,
    GEMINI_API_KEY: REAL_KEYS.gemini,
    OPENAI_UPSTREAM: mock.urls.openai,
    ANTHROPIC_UPSTREAM: mock.urls.anthropic,
    GEMINI_UPSTREAM: mock.urls.gemini,
  };
  const worker = (name, extra) => ({
    name,
    modules: true,
    scriptPath: path.join(root, "bench/js-equivalent.mjs"),
    compatibilityDate: "2026-04-20",
    bindings,
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
    stripCfConnectingIp: false,
    ...extra,
  });
  mf = new Miniflare({
    workers: [
      worker("api_proxy", {
        scriptPath: path.join(root, "build/index.js"),
        modulesRoot: path.join(root, "build"),
        modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
        bindings: { ...bindings, ADMIN_SECRET },
        kvNamespaces: ["TOKENS"],
        durableObjects: { LIMITER: { className: "Limiter", useSQLite: true }, ADMIN: { className: "AdminState", useSQLite: true }, LEDGER: { className: "Ledger", useSQLite: true } },
      }),
      worker("js_equivalent", { kvNamespaces: ["TOKENS"] }),
      worker("js_equivalent_kv_down", { wrappedBindings: { TOKENS: { scriptName: "failing-kv" } } }),
      { name: "failing-kv", modules: true, script: FAILING_KV },
    ],
    host: "127.0.0.1",
    port: 0,
    log: new Log(LogLevel.WARN),
    cf: { colo: "LOC", country: "XX", asn: 0 },
  });
  await mf.ready;
  const url = async (name) => (await mf.unsafeGetDirectURL(name)).toString().replace(/\/$/, "");
  stack = { url: await url("api_proxy"), mock };
  for (const name of ["js_equivalent", "js_equivalent_kv_down"]) js[name] = { url: await url(name), mock };
  ({ token } = await createToken());
});
afterAll(async () => {
  await mf?.dispose();
  await mock?.close();
});
beforeEach(() => stack.mock.reset());

/** Sends the same request to api_proxy and then to js_equivalent; returns both answers and what the mock saw for each. */
async function both(sendOne) {
  stack.mock.reset();
  const api = await sendOne(stack);
  const apiUpstream = stack.mock.requests();
  stack.mock.reset();
  const eq = await sendOne(js.js_equivalent);
  const eqUpstream = stack.mock.requests();
  return { api, eq, apiUpstream, eqUpstream };
}

/** A POST with exactly these headers (fetch would refuse or rewrite some of them). */
function rawPost(target, urlPath, headers, body) {
  const url = new URL(target.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: urlPath, method: "POST", headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

// What the benchmark sends (bench/run.mjs and bench/wrk-post.lua), plus what a client behind a
// browser or another proxy adds, which must not travel on.
const SDK_HEADERS = {
  "content-type": "application/json",
  accept: "application/json",
  "user-agent": "OpenAI/JS 7.57.0",
  "x-stainless-lang": "js",
  "x-stainless-os": "Linux",
  "x-stainless-retry-count": "0",
  "openai-beta": "assistants=v2",
};
const CLIENT_ONLY = {
  cookie: "session=client-cookie-secret",
  "cf-connecting-ip": "203.0.113.77",
  "x-forwarded-for": "203.0.113.77",
  forwarded: "for=203.0.113.77",
  referer: "https://page.example/secret",
  "proxy-authorization": "Basic Y2xpZW50OnNlY3JldA==",
  connection: "keep-alive, x-client-hop",
  "x-client-hop": "hop-secret",
};
const CHAT = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });

describe("a valid token", () => {
  test("the benchmark's chat request: the same answer, and upstream the same request with the real key and not the token", async () => {
    const r = await both((t) => rawPost(t, "/v1/chat/completions?key=in-the-query&alt=json", { authorization: `Bearer ${token}`, ...SDK_HEADERS, ...CLIENT_ONLY }, CHAT));
    expect(r.api.status, r.api.text).toBe(200);
    expect(r.eq.status, r.eq.text).toBe(200);
    expect(JSON.parse(r.eq.text)).toEqual(JSON.parse(r.api.text));
    expect(r.eqUpstream).toHaveLength(1);
    expect(r.apiUpstream).toHaveLength(1);
    const [api, eq] = [r.apiUpstream[0], r.eqUpstream[0]];
    expect(eq.headers.authorization).toBe(`Bearer ${REAL_KEYS.openai}`);
    expect({ method: eq.method, url: eq.url, body: eq.body.text }).toEqual({ method: api.method, url: api.url, body: api.body.text });
    expect(eq.url).toBe("/v1/chat/completions?alt=json");
    expect(eq.headers).toEqual(api.headers);
    for (const name of ["cookie", "cf-connecting-ip", "x-forwarded-for", "forwarded", "referer", "proxy-authorization", "x-client-hop"]) {
      expect(eq.headers, name).not.toHaveProperty(name);
    }
    for (const [name, value] of Object.entries(SDK_HEADERS)) expect(eq.headers[name], name).toBe(value);
    const seen = JSON.stringify(eq.rawHeaders) + eq.url;
    for (const secret of [token, "203.0.113.77", "client-cookie-secret", "hop-secret", "Y2xpZW50OnNlY3JldA", "in-the-query"]) {
      expect(seen, secret).not.toContain(secret);
    }
  });

  test.each(SLOTS.map((s) => [s.name, s]))("%s: the real key in the provider's slot, as api_proxy sends it", async (_, slot) => {
    const r = await both((t) => sendWithSlot(t, slot, token));
    expect(r.api.status, r.api.text).toBe(200);
    // The mock answers 200 only with the provider's real key in the provider's own slot.
    expect(r.eq.status, r.eq.text).toBe(200);
    expect(r.eqUpstream.map((q) => [q.url, q.headers])).toEqual(r.apiUpstream.map((q) => [q.url, q.headers]));
    expect(r.eqUpstream[0].path).toBe(slot.upstreamPath ?? slot.path);
    stack.mock.reset();
    await sendWithSlot(js.js_equivalent, slot, token);
    expect(everythingUpstream(stack)).not.toContain(token);
  });

  test("a stream passes through unchanged, and the provider's account headers do not", async () => {
    const extra = JSON.stringify({ "openai-organization": "org-secret", "set-cookie": "a=b", "x-request-id": "req_kept" });
    const body = JSON.stringify({ model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "hi" }] });
    const r = await both((t) => send(t, "/v1/chat/completions", { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "x-mock-extra-headers": extra }, body }));
    expect(r.eq.status).toBe(200);
    expect(r.eq.headers.get("content-type")).toContain("text/event-stream");
    expect(r.eq.text).toContain("data: ");
    expect(r.eq.text).toBe(r.api.text);
    for (const res of [r.api, r.eq]) {
      expect(res.headers.get("openai-organization")).toBeNull();
      expect(res.headers.get("set-cookie")).toBeNull();
      expect(res.headers.get("x-request-id")).toBe("req_kept");
    }
  });
});

describe("refusals, as api_proxy refuses", () => {
  const CALLERS = SLOTS.filter((s) => ["OpenAI Bearer", "Anthropic x-api-key", "Gemini x-goog-api-key", "Gemini OpenAI-compatible Bearer"].includes(s.name));

  test("a token with one character changed fails its checksum: the same 401, nothing upstream, and no KV read", async () => {
    const i = 10;
    const typo = token.slice(0, i) + (token[i] === "a" ? "b" : "a") + token.slice(i + 1);
    for (const slot of CALLERS) {
      const r = await both((t) => sendWithSlot(t, slot, typo));
      expect(r.api.status, slot.name).toBe(401);
      expect([r.eq.status, r.eq.json], slot.name).toEqual([r.api.status, r.api.json]);
      expect(r.eqUpstream).toEqual([]);
      // With KV unreachable the answer is still the 401: the checksum alone refused it.
      const down = await sendWithSlot(js.js_equivalent_kv_down, slot, typo);
      expect([down.status, down.json], slot.name).toEqual([r.api.status, r.api.json]);
    }
    // ...whereas a well-formed token does need KV there.
    expect((await sendWithSlot(js.js_equivalent_kv_down, CALLERS[0], token)).status).toBe(503);
    expect(stack.mock.requests()).toEqual([]);
  });

  test.each([
    ["a generated token that was never stored", withChecksum(`apx_${"Z".repeat(33)}`)],
    ["a custom token that was never stored", "a-custom-token-nobody-created-0123"],
    ["too short to be any token", "sk-short"],
  ])("%s: the same 401, nothing upstream", async (_, unknown) => {
    for (const slot of CALLERS) {
      const r = await both((t) => sendWithSlot(t, slot, unknown));
      expect(r.api.status, slot.name).toBe(401);
      expect([r.eq.status, r.eq.json], slot.name).toEqual([r.api.status, r.api.json]);
      expect(r.eqUpstream).toEqual([]);
    }
  });

  test("no credential at all: the same 401", async () => {
    const r = await both((t) => send(t, "/anthropic/v1/messages", { method: "POST", body: "{}" }));
    expect(r.api.status).toBe(401);
    expect([r.eq.status, r.eq.json]).toEqual([r.api.status, r.api.json]);
  });

  test("a token disabled, or not for this provider: the same 401 and 403", async () => {
    const narrow = await createToken({ providers: ["anthropic"] });
    const disabled = await createToken();
    const patched = await fetch(`${stack.url}/admin/api/tokens/${disabled.id}`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${ADMIN_SECRET}`, "content-type": "application/json" },
      body: JSON.stringify({ status: "disabled" }),
    });
    expect(patched.status).toBe(200);
    for (const [t, status] of [[narrow, 403], [disabled, 401]]) {
      const r = await both((target) => sendWithSlot(target, CALLERS[0], t.token));
      expect(r.api.status).toBe(status);
      expect([r.eq.status, r.eq.json]).toEqual([r.api.status, r.api.json]);
      expect(r.eqUpstream).toEqual([]);
    }
  });
});
