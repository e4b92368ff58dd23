// The provider table, key pools with failover, region refusals and client disconnects, through the
// built Worker in workerd and the mock upstreams.

import { createHash } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { COMPAT_BASES, POOL_KEYS, patternBytes } from "../support/mock-upstream.mjs";
import { expectProxyError, everythingUpstream, send } from "./helpers.mjs";

const COMPAT = Object.keys(COMPAT_BASES).filter((p) => p !== "custom" && p !== "azure");
const ALL = ["openai", "anthropic", "gemini", "elevenlabs", ...COMPAT, "custom", "azure"];
const [A, B, C] = POOL_KEYS;
const sha = (buf) => createHash("sha256").update(buf).digest("hex");
const chat = (extra = {}) => JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }], ...extra });
const json = { "content-type": "application/json" };

async function signIn(stack) {
  const res = await fetch(`${stack.url}/admin/login`, {
    method: "POST",
    headers: { origin: stack.url, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ password: stack.adminSecret }),
    redirect: "manual",
  });
  return res.headers.getSetCookie().find((c) => c.startsWith("apx_session=")).split(";")[0];
}

describe("the provider table", () => {
  let stack, token;
  beforeAll(async () => {
    stack = await startStack();
    token = (await stack.createToken({ label: "all", providers: ALL })).token;
  });
  afterAll(async () => { await stack?.dispose(); });
  beforeEach(() => stack.mock.reset());

  test.each(COMPAT)("%s: /<name>/<its own path> reaches it with its key as Bearer, never the token", async (name) => {
    const base = COMPAT_BASES[name];
    const res = await send(stack, `/${name}${base}/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${token}`, ...json }, body: chat() });
    expect(res.status, res.text).toBe(200);
    expect(res.json.choices[0].message.content).toContain("You said: hi");
    const [seen] = stack.mock.requests(name);
    expect(seen.path).toBe(`${base}/chat/completions`);
    expect(seen.headers.authorization).toBe(`Bearer ${stack.realKeys[name]}`);
    expect(stack.mock.requests().length).toBe(1);
    expect(everythingUpstream(stack)).not.toContain(token);
  });

  test("ElevenLabs: the token in xi-api-key or as Bearer; upstream gets xi-api-key only", async () => {
    for (const headers of [{ "xi-api-key": token }, { authorization: `Bearer ${token}` }]) {
      stack.mock.reset();
      const res = await send(stack, "/elevenlabs/v1/voices", { headers });
      expect(res.status, res.text).toBe(200);
      const [seen] = stack.mock.requests("elevenlabs");
      expect(seen.path).toBe("/v1/voices");
      expect(seen.headers["xi-api-key"]).toBe(stack.realKeys.elevenlabs);
      expect(seen.headers.authorization).toBeUndefined();
      expect(everythingUpstream(stack)).not.toContain(token);
    }
  });

  test("ElevenLabs: speech streams back byte for byte, its first bytes before the rest exist", async () => {
    const length = 200 * 1024 + 17;
    const res = await fetch(`${stack.url}/elevenlabs/v1/text-to-speech/mock-voice/stream?bytes=${length}`, {
      method: "POST",
      headers: { "xi-api-key": token, ...json, "x-mock-hold": "tts-1" },
      body: JSON.stringify({ text: "hello", model_id: "eleven_multilingual_v2" }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("audio/mpeg");
    const reader = res.body.getReader();
    // The mock holds everything after its first 16 KiB until released: those bytes arrive first.
    const chunks = [];
    let received = 0;
    while (received < 16 * 1024) {
      const { value, done } = await reader.read();
      expect(done).toBe(false);
      chunks.push(value);
      received += value.length;
    }
    expect(received).toBe(16 * 1024);
    stack.mock.release("elevenlabs", "tts-1");
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
    }
    const body = Buffer.concat(chunks);
    expect(body.length).toBe(length);
    expect(sha(body)).toBe(sha(patternBytes(length, 11)));
  });

  test("ElevenLabs: the proxy's own errors are in its {detail: {status, message}} shape", async () => {
    const res = await send(stack, "/elevenlabs/v1/voices", { headers: { "xi-api-key": "apx_not-a-real-token-000000000000000" } });
    expect(res.status).toBe(401);
    expect(Object.keys(res.json)).toEqual(["detail"]);
    expect(res.json.detail.status).toBe("invalid_api_key");
    expect(res.json.detail.message).toMatch(/token/);
    expect(stack.mock.requests()).toEqual([]);
  });

  test("an operator-defined provider from EXTRA_PROVIDERS: its prefix, its secret, its scope", async () => {
    const res = await send(stack, "/custom/v1/chat/completions", { method: "POST", headers: { authorization: `Bearer ${token}`, ...json }, body: chat() });
    expect(res.status, res.text).toBe(200);
    const [seen] = stack.mock.requests("custom");
    expect(seen.path).toBe("/v1/chat/completions");
    expect(seen.headers.authorization).toBe(`Bearer ${stack.realKeys.custom}`);
    const other = await stack.createToken({ label: "openai only", providers: ["openai"] });
    const refused = await send(stack, "/custom/v1/models", { headers: { authorization: `Bearer ${other.token}` } });
    expectProxyError(refused, 403, "openai");
    expect(refused.json.error.message).toContain("Custom vLLM");
  });

  test("an operator-defined provider with its own key header: the real key there, a client's value dropped", async () => {
    const res = await send(stack, "/azure/openai/deployments/d1/chat/completions?api-version=2024-10-21", {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "api-key": token, ...json },
      body: chat(),
    });
    expect(res.status, res.text).toBe(200);
    const [seen] = stack.mock.requests("azure");
    expect(seen.url).toBe("/openai/deployments/d1/chat/completions?api-version=2024-10-21");
    expect(seen.headers["api-key"]).toBe(stack.realKeys.azure);
    expect(seen.headers.authorization).toBeUndefined();
    expect(everythingUpstream(stack)).not.toContain(token);
  });

  test("the admin API accepts every provider of the table as a scope", async () => {
    const r = await stack.admin("POST", "/admin/api/tokens", { label: "scopes", providers: ["custom", "elevenlabs", "perplexity"] });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.providers).toEqual(["elevenlabs", "perplexity", "custom"]);
  });

  test("new providers are reached by prefix only: an xi-api-key without /elevenlabs/ is no credential", async () => {
    const res = await send(stack, "/v1/voices", { headers: { "xi-api-key": token } });
    expectProxyError(res, 401, "openai");
    expect(stack.mock.requests()).toEqual([]);
  });

  test("the dashboard lists every provider with its base URL and keys by last four only", async () => {
    const cookie = await signIn(stack);
    const html = await (await fetch(`${stack.url}/admin`, { headers: { cookie } })).text();
    for (const name of ALL) expect(html, name).toContain(`data-provider="${name}"`);
    expect(html).toContain(`${stack.url}/groq/openai/v1`);
    expect(html).toContain(`…${stack.realKeys.groq.slice(-4)}`);
    for (const key of Object.values(stack.realKeys)) expect(html).not.toContain(key);
    // The create form (on its own page) offers them all.
    const form = await (await fetch(`${stack.url}/admin/new`, { headers: { cookie } })).text();
    for (const name of ALL) expect(form).toContain(`name="providers" value="${name}"`);
  });
});

describe("a stack with key pools, a provider without a key and a bad EXTRA_PROVIDERS row", () => {
  let stack, token;
  const pool = `${A},${B};weight=0,${C};weight=0`;
  beforeAll(async () => {
    stack = await startStack({
      bindings: {
        MISTRAL_API_KEY: undefined,
        GROQ_API_KEY: pool,
        TOGETHER_API_KEY: pool,
        XAI_API_KEY: pool,
        DEEPSEEK_API_KEY: `${A},${B};weight=0`,
        FIREWORKS_API_KEY: pool,
        REGION_RETRY: "off",
        EXTRA_PROVIDERS: JSON.stringify([{ name: "Bad Name", origin: "https://x" }, { name: "custom", origin: "http://127.0.0.1:1" }]),
      },
    });
    token = (await stack.createToken({ label: "all", providers: ["openai", "anthropic", "gemini", "elevenlabs", ...COMPAT, "custom"] })).token;

  });
  afterAll(async () => { await stack?.dispose(); });
  beforeEach(() => stack.mock.reset());

  const post = (path, headers = {}, body = chat()) =>
    send(stack, path, { method: "POST", headers: { authorization: `Bearer ${token}`, ...json, ...headers }, body });
  const keysSeen = (name) => stack.mock.requests(name).map((r) => r.key);

  test("a provider whose secret is not set answers 503 for that provider only", async () => {
    const res = await post("/mistral/v1/chat/completions");
    expectProxyError(res, 503, "openai");
    expect(res.json.error.message).toContain("no Mistral key");
    expect((await post("/cerebras/v1/chat/completions")).status).toBe(200);
    const cookie = await signIn(stack);
    const html = await (await fetch(`${stack.url}/admin`, { headers: { cookie } })).text();
    expect(html).toMatch(/data-provider="mistral">[\s\S]*?not configured/);
  });

  test("a bad EXTRA_PROVIDERS row is left out and said so; the good one still works", async () => {
    await expect.poll(() => stack.logs.join("")).toContain("EXTRA_PROVIDERS[0] ignored");
    const cookie = await signIn(stack);
    const html = await (await fetch(`${stack.url}/admin`, { headers: { cookie } })).text();
    expect(html).toContain("EXTRA_PROVIDERS[0] ignored");
    expect(html).toContain('data-provider="custom"');
  });

  test("first key 429, second 503: the client gets the third key's answer, keys tried in weight order", async () => {
    const res = await post("/groq/openai/v1/chat/completions", { "x-mock-key-status": JSON.stringify({ [A]: 429, [B]: 503 }) });
    expect(res.status, res.text).toBe(200);
    expect(res.json.object).toBe("chat.completion");
    expect(keysSeen("groq")).toEqual([A, B, C]);
    // The 429's retry-after (7 s) rests key A: the next request starts with B.
    stack.mock.reset();
    expect((await post("/groq/openai/v1/chat/completions")).status).toBe(200);
    expect(keysSeen("groq")).toEqual([B]);
    expect(everythingUpstream(stack)).not.toContain(token);
    const cookie = await signIn(stack);
    const html = await (await fetch(`${stack.url}/admin`, { headers: { cookie } })).text();
    expect(html).toMatch(/#0 <code>…1111<\/code>: last answer 429, resting \ds/);
    expect(html).toMatch(/#1 <code>…2222<\/code> weight 0: last answer 200/);
  });

  test("when every key fails, the client gets the last key's answer", async () => {
    const res = await post("/fireworks/inference/v1/chat/completions", { "x-mock-key-status": JSON.stringify({ [A]: 502, [B]: 529, [C]: 500 }) });
    expect(res.status).toBe(500);
    expect(keysSeen("fireworks")).toEqual([A, B, C]);
  });

  test("a body over 8 MiB, or of unknown length, gets no second try; a small one does", async () => {
    const status = { "x-mock-key-status": JSON.stringify({ [A]: 503 }) };
    const big = Buffer.alloc(8 * 1024 * 1024 + 1, 0x20);
    const large = await post("/together/v1/chat/completions", status, big);
    expect(large.status).toBe(503);
    expect(keysSeen("together")).toEqual([A]);
    expect(stack.mock.requests("together")[0].body.length).toBe(big.length);

    stack.mock.reset();
    const chunked = await fetch(`${stack.url}/together/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, ...json, ...status },
      body: new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode(chat())); c.close(); } }),
      duplex: "half",
    });
    expect(chunked.status).toBe(503);
    expect(keysSeen("together")).toEqual([A]);

    stack.mock.reset();
    const small = await post("/together/v1/chat/completions", status);
    expect(small.status).toBe(200);
    expect(keysSeen("together")).toEqual([A, B]);
    // The replayed body is the same bytes.
    const [first, second] = stack.mock.requests("together");
    expect(second.body.sha256).toBe(first.body.sha256);
  });

  test("no failover once bytes reached the client: a stream that breaks midway ends as it ends", async () => {
    const res = await fetch(`${stack.url}/xai/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, ...json, "x-mock-abort-after-first": "1" },
      body: chat({ stream: true }),
    });
    expect(res.status).toBe(200);
    let text = "";
    try {
      for await (const chunk of res.body) text += Buffer.from(chunk).toString();
    } catch {
      // The cut connection may surface as a read error.
    }
    expect(text).toContain("chat.completion.chunk");
    expect(text).not.toContain("[DONE]");
    expect(keysSeen("xai")).toHaveLength(1);
  });

  test("a key answering 401 leaves rotation, logged by its index, never its value", async () => {
    const res = await post("/deepseek/v1/chat/completions", { "x-mock-key-status": JSON.stringify({ [A]: 401 }) });
    expect(res.status).toBe(401);
    expect(keysSeen("deepseek")).toEqual([A]);
    await expect.poll(() => stack.logs.join("")).toContain("deepseek key #0 answered 401");
    stack.mock.reset();
    expect((await post("/deepseek/v1/chat/completions")).status).toBe(200);
    expect(keysSeen("deepseek")).toEqual([B]);
    for (const key of POOL_KEYS) expect(stack.logs.join("")).not.toContain(key);
  });

  test("with REGION_RETRY=off a region refusal goes to the client as it is", async () => {
    const res = await send(stack, "/v1/chat/completions", { method: "POST", headers: { authorization: `Bearer ${token}`, ...json, "x-mock-region-refuse-once": "off-1" }, body: chat() });
    expect(res.status).toBe(403);
    expect(res.json.error.code).toBe("unsupported_country_region_territory");
    expect(stack.mock.requests("openai")).toHaveLength(1);
  });
});

describe("region refusals and disconnects", () => {
  let stack, token;
  beforeAll(async () => {
    stack = await startStack();
    token = (await stack.createToken({ label: "region" })).token;
  });
  afterAll(async () => { await stack?.dispose(); });
  beforeEach(() => stack.mock.reset());

  test("OpenAI's 403 unsupported_country_region_territory is sent again through the US relay", async () => {
    const res = await send(stack, "/v1/chat/completions", { method: "POST", headers: { authorization: `Bearer ${token}`, ...json, "x-mock-region-refuse-once": "r1" }, body: chat() });
    expect(res.status, res.text).toBe(200);
    expect(res.json.choices[0].message.content).toContain("You said: hi");
    // Locally the relay object runs unrestricted, placed by its location hint (workerd has no jurisdictions).
    expect(res.headers.get("x-api-proxy-region-retry")).toBe("enam");
    const seen = stack.mock.requests("openai");
    expect(seen).toHaveLength(2);
    expect(seen.map((r) => r.headers.authorization)).toEqual([`Bearer ${stack.realKeys.openai}`, `Bearer ${stack.realKeys.openai}`]);
    expect(seen[1].body.sha256).toBe(seen[0].body.sha256);
    expect(everythingUpstream(stack)).not.toContain(token);
  });

  test("Gemini's 400 'User location is not supported' too", async () => {
    const res = await send(stack, "/v1beta/models/gemini-2.5-flash:generateContent", { method: "POST", headers: { "x-goog-api-key": token, ...json, "x-mock-region-refuse-once": "g1" }, body: "{}" });
    expect(res.status, res.text).toBe(200);
    // Locally the relay object runs unrestricted, placed by its location hint (workerd has no jurisdictions).
    expect(res.headers.get("x-api-proxy-region-retry")).toBe("enam");
    expect(stack.mock.requests("gemini")).toHaveLength(2);
    expect(everythingUpstream(stack)).not.toContain(token);
  });

  test("another 403 is not a region refusal and is not sent again", async () => {
    const res = await send(stack, "/v1/models", { headers: { authorization: `Bearer ${token}`, "x-mock-status": "403" } });
    expect(res.status).toBe(403);
    expect(res.headers.get("x-api-proxy-region-retry")).toBeNull();
    expect(res.json.error.message).toContain("forced 403");
    expect(stack.mock.requests("openai")).toHaveLength(1);
  });

  test("when the client goes away mid-stream, the upstream request is cancelled", async () => {
    const controller = new AbortController();
    const res = await fetch(`${stack.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, ...json, "x-mock-chunks": "400", "x-mock-interval-ms": "50" },
      body: chat({ stream: true }),
      signal: controller.signal,
    });
    const reader = res.body.getReader();
    await reader.read();
    controller.abort();
    const [seen] = stack.mock.requests("openai");
    // Generous: the event matters, not its speed (400 chunks x 50 ms would take 20 s).
    await expect.poll(() => seen.clientClosed, { timeout: 5000, interval: 50 }).toBe(true);
  });
});
