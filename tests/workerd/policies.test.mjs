// Per-token policies through the built Worker in workerd: expiry, rate limits (in the Limiter
// Durable Object), client IPs, models and paths, each on its allowed and its refused side.
// Browser origins and CORS are in cors.test.mjs, header hygiene in header-hygiene.test.mjs.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { awayFromWindowEdge, errorMessage, expectNativeError, send } from "./policy-support.mjs";

let stack;
beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.dispose(); });
beforeEach(() => stack.mock.reset());

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

describe("expires_at", () => {
  test("a token past its expiry gets 401 saying when it expired; the upstream is not called", async () => {
    const { token } = await stack.createToken({ expires_at: "2020-01-01T00:00:00Z" });
    for (const provider of ["openai", "anthropic", "gemini"]) {
      const { status, json } = await send(stack, provider, token);
      expect(status).toBe(401);
      expectNativeError(expect, provider, json, {
        status: 401,
        message: "This api-proxy token expired at 2020-01-01T00:00:00Z; ask the operator for a new one.",
      });
    }
    expect(stack.mock.requests()).toEqual([]);
  });

  test("a token before its expiry works, and clearing an expiry revives an expired token", async () => {
    const future = await stack.createToken({ expires_at: "2099-01-01T00:00:00Z" });
    expect((await send(stack, "openai", future.token)).status).toBe(200);

    const past = await stack.createToken({ expires_at: "2021-06-01T12:00:00+02:00" });
    expect((await send(stack, "openai", past.token)).status).toBe(401);
    expect((await stack.admin("PATCH", `/admin/api/tokens/${past.id}`, { expires_at: null })).status).toBe(200);
    expect((await send(stack, "openai", past.token)).status).toBe(200);
    expect(stack.mock.requests("openai")).toHaveLength(2);
  });

  test("an unreadable stored expiry refuses the token (fails closed)", async () => {
    const { id, token } = await stack.createToken({ expires_at: "2099-01-01T00:00:00Z" });
    const kv = await stack.mf.getKVNamespace("TOKENS");
    const record = JSON.parse(await kv.get(id));
    await kv.put(id, JSON.stringify({ ...record, expires_at: "next tuesday" }));

    const { status, json } = await send(stack, "anthropic", token);
    expect(status).toBe(401);
    expectNativeError(expect, "anthropic", json, {
      status: 401,
      message: "This api-proxy token's expiry date is unreadable, so the token is refused; ask the operator to set it again.",
    });
    expect(stack.mock.requests()).toEqual([]);
  });
});

test("other damaged policy values in a stored record refuse rather than allow", async () => {
  const kv = await stack.mf.getKVNamespace("TOKENS");
  const damaged = [{ rate_limit: "lots" }, { allowed_ips: ["not-an-address"] }, { allowed_models: "gpt-4o-mini" }, { allowed_paths: [7] }];
  for (const change of damaged) {
    const { id, token } = await stack.createToken();
    const record = JSON.parse(await kv.get(id));
    await kv.put(id, JSON.stringify({ ...record, ...change }));
    const { status } = await send(stack, "openai", token);
    expect([401, 403, 503], JSON.stringify(change)).toContain(status);
  }
  expect(stack.mock.requests()).toEqual([]);
});

test("a record that no longer reads is refused as unreadable, stays out of the list, and can be deleted", async () => {
  const kv = await stack.mf.getKVNamespace("TOKENS");
  const healthy = await stack.createToken({ label: "healthy" });
  const broken = await stack.createToken({ label: "broken" });
  const record = JSON.parse(await kv.get(broken.id));
  // Written without metadata, as a record too large for it would be, so listing must read it.
  await kv.put(broken.id, JSON.stringify({ ...record, rate_limit: "lots" }));

  const { status, json } = await send(stack, "openai", broken.token);
  expect(status).toBe(401);
  expect(errorMessage(json)).toBe("This api-proxy token's stored record is unreadable; ask the operator to recreate it.");

  const list = await stack.admin("GET", "/admin/api/tokens");
  expect(list.status).toBe(200);
  const ids = list.body.tokens.map((t) => t.id);
  expect(ids).toContain(healthy.id);
  expect(ids).not.toContain(broken.id);

  expect((await stack.admin("DELETE", `/admin/api/tokens/${broken.id}`)).status).toBe(200);
  expect(await kv.get(broken.id)).toBeNull();
  expect(stack.mock.requests()).toEqual([]);
});

describe("rate_limit", () => {
  const limitHeaders = (res) => ({
    limit: res.headers.get("x-ratelimit-limit-requests"),
    remaining: res.headers.get("x-ratelimit-remaining-requests"),
    reset: res.headers.get("x-ratelimit-reset-requests"),
    retryAfter: res.headers.get("retry-after"),
  });

  test("3 per minute: three answers count down, the 4th is 429 with Retry-After and the limit headers", async () => {
    const { token } = await stack.createToken({ rate_limit: { requests: 3, per_seconds: 60 } });
    await awayFromWindowEdge(60);
    const allowed = [];
    for (let i = 0; i < 3; i++) {
      const { res, json } = await send(stack, "openai", token);
      expect(res.status).toBe(200);
      expect(json.object).toBe("chat.completion");
      allowed.push(limitHeaders(res));
    }
    expect(allowed.map((h) => [h.limit, h.remaining])).toEqual([["3", "2"], ["3", "1"], ["3", "0"]]);
    for (const h of allowed) {
      expect(h.reset).toMatch(/^([1-5]?[0-9]s|1m0s)$/);
      expect(h.retryAfter).toBeNull();
    }

    const { res, json } = await send(stack, "openai", token);
    expect(res.status).toBe(429);
    const h = limitHeaders(res);
    expect([h.limit, h.remaining]).toEqual(["3", "0"]);
    const wait = Number(h.retryAfter);
    expect(Number.isInteger(wait) && wait >= 1 && wait <= 60).toBe(true);
    expect(h.reset).toBe(wait === 60 ? "1m0s" : `${wait}s`);
    expect(json.error).toMatchObject({
      message: `This api-proxy token is limited to 3 requests per minute; try again in ${wait} s.`,
      type: "requests",
      code: "rate_limit_exceeded",
    });
    expect(stack.mock.requests("openai")).toHaveLength(3);
  });

  test("the limit is the token's, whoever calls: other addresses, agents and providers share it, in their own error shape", async () => {
    const { token } = await stack.createToken({ rate_limit: { requests: 2, per_seconds: 86400 } });
    const first = await send(stack, "openai", token, { headers: { "cf-connecting-ip": "198.51.100.1", "user-agent": "client-a" } });
    expect(first.status).toBe(200);
    const second = await send(stack, "gemini", token, { headers: { "cf-connecting-ip": "2001:db8::2", "user-agent": "client-b" } });
    expect(second.status).toBe(200);
    expect(limitHeaders(second.res)).toMatchObject({ limit: "2", remaining: "0" });

    const anthropic = await send(stack, "anthropic", token, { headers: { "cf-connecting-ip": "203.0.113.9", "user-agent": "client-c" } });
    expect(anthropic.status).toBe(429);
    const wait = anthropic.res.headers.get("retry-after");
    expect(Number(wait)).toBeGreaterThan(0);
    expectNativeError(expect, "anthropic", anthropic.json, {
      status: 429,
      message: `This api-proxy token is limited to 2 requests per day; try again in ${wait} s.`,
    });
    const gemini = await send(stack, "gemini", token);
    expect(gemini.status).toBe(429);
    expect(gemini.json.error.status).toBe("RESOURCE_EXHAUSTED");
    expect(stack.mock.requests()).toHaveLength(2);
  });

  test("two tokens count separately", async () => {
    const a = await stack.createToken({ rate_limit: { requests: 1, per_seconds: 3600 } });
    const b = await stack.createToken({ rate_limit: { requests: 1, per_seconds: 3600 } });
    expect((await send(stack, "openai", a.token)).status).toBe(200);
    expect((await send(stack, "openai", a.token)).status).toBe(429);
    const other = await send(stack, "openai", b.token);
    expect(other.status).toBe(200);
    expect(other.res.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    expect(other.res.headers.get("x-ratelimit-limit-requests")).toBe("1");
  });

  test("a token without a limit gets no rate-limit headers from us; the upstream's pass through", async () => {
    const { token } = await stack.createToken();
    for (let i = 0; i < 5; i++) {
      const { res } = await send(stack, "openai", token);
      expect(res.status).toBe(200);
      expect(limitHeaders(res)).toEqual({ limit: null, remaining: null, reset: null, retryAfter: null });
    }
    const upstream = { "x-ratelimit-limit-requests": "10000", "x-ratelimit-remaining-requests": "9999", "x-ratelimit-reset-requests": "6ms" };
    const extra = { "x-mock-extra-headers": JSON.stringify(upstream) };
    const passed = await send(stack, "openai", token, { headers: extra });
    expect(limitHeaders(passed.res)).toEqual({ limit: "10000", remaining: "9999", reset: "6ms", retryAfter: null });

    // On a limited token ours replace the upstream's, which describe the operator's whole account.
    const limited = await stack.createToken({ rate_limit: { requests: 50, per_seconds: 86400 } });
    const ours = await send(stack, "openai", limited.token, { headers: extra });
    expect(limitHeaders(ours.res)).toMatchObject({ limit: "50", remaining: "49" });
  });

  test("removing the limit through the admin API lets a limited-out token through again", async () => {
    const { id, token } = await stack.createToken({ rate_limit: { requests: 1, per_seconds: 86400 } });
    expect((await send(stack, "openai", token)).status).toBe(200);
    expect((await send(stack, "openai", token)).status).toBe(429);
    expect((await stack.admin("PATCH", `/admin/api/tokens/${id}`, { rate_limit: null })).status).toBe(200);
    const after = await send(stack, "openai", token);
    expect(after.status).toBe(200);
    expect(after.res.headers.get("x-ratelimit-limit-requests")).toBeNull();
  });
});

describe("allowed_ips", () => {
  const from = (ip) => ({ headers: { "cf-connecting-ip": ip } });

  test("IPv4 ranges: an address inside is served, one outside gets 403 naming it", async () => {
    const { token } = await stack.createToken({ allowed_ips: ["203.0.113.0/24", "192.0.2.10"] });
    for (const ip of ["203.0.113.7", "203.0.113.255", "192.0.2.10", "::ffff:203.0.113.8"]) {
      expect((await send(stack, "openai", token, from(ip))).status, ip).toBe(200);
    }
    for (const ip of ["203.0.114.1", "192.0.2.11", "2001:db8::1"]) {
      const { status, json } = await send(stack, "openai", token, from(ip));
      expect(status, ip).toBe(403);
      expect(errorMessage(json)).toBe(
        `Requests from ${ip} are not allowed for this api-proxy token; ask the operator to add this address to the token's allowed IPs.`,
      );
    }
    expect(stack.mock.requests("openai")).toHaveLength(4);
  });

  test("an IPv6 allowlist: addresses in the /48 are served, others refused in the provider's shape", async () => {
    const { token } = await stack.createToken({ allowed_ips: ["2001:db8:abcd::/48"] });
    expect((await send(stack, "gemini", token, from("2001:db8:abcd:12::1"))).status).toBe(200);
    expect((await send(stack, "anthropic", token, from("2001:DB8:ABCD:ffff:ffff:ffff:ffff:ffff"))).status).toBe(200);
    for (const ip of ["2001:db8:abce::1", "203.0.113.7"]) {
      const { status, json } = await send(stack, "gemini", token, from(ip));
      expect(status, ip).toBe(403);
      expectNativeError(expect, "gemini", json, {
        status: 403,
        message: `Requests from ${ip} are not allowed for this api-proxy token; ask the operator to add this address to the token's allowed IPs.`,
      });
    }
    expect(stack.mock.requests()).toHaveLength(2);
  });

  test("a token without allowed_ips serves any address", async () => {
    const { token } = await stack.createToken();
    for (const ip of ["198.51.100.200", "2001:db8::99"]) expect((await send(stack, "openai", token, from(ip))).status).toBe(200);
  });
});

describe("allowed_models", () => {
  const upstreamSha = (provider) => stack.mock.requests(provider)[0].body.sha256;

  test("claude-* allows a Claude model and refuses another, in an Anthropic body", async () => {
    const { token } = await stack.createToken({ allowed_models: ["claude-*"] });
    const ok = await send(stack, "anthropic", token, { model: "claude-haiku-4-5" });
    expect(ok.status).toBe(200);
    expect(ok.json.model).toBe("claude-haiku-4-5");
    const refused = await send(stack, "anthropic", token, { model: "gpt-4o" });
    expect(refused.status).toBe(403);
    expectNativeError(expect, "anthropic", refused.json, {
      status: 403,
      message: "Model gpt-4o is not allowed for this api-proxy token; it may use: claude-*.",
    });
    expect(stack.mock.requests("anthropic")).toHaveLength(1);
  });

  test("claude-* allows a Claude model and refuses another, in an OpenAI-style body", async () => {
    const { token } = await stack.createToken({ allowed_models: ["claude-*"] });
    const body = JSON.stringify({ messages: [{ role: "user", content: "say \"model\": \"gpt-4o\"" }], model: "claude-sonnet-4-5" });
    const ok = await send(stack, "openai", token, { body });
    expect(ok.status).toBe(200);
    expect(ok.json.model).toBe("claude-sonnet-4-5");
    // The body was read to find the model; what goes upstream is still the same bytes.
    expect(upstreamSha("openai")).toBe(sha256(body));

    const refused = await send(stack, "openai", token, { model: "gpt-4o-mini" });
    expect(refused.status).toBe(403);
    expect(refused.json.error).toMatchObject({
      message: "Model gpt-4o-mini is not allowed for this api-proxy token; it may use: claude-*.",
      code: "forbidden",
    });
    expect(stack.mock.requests("openai")).toHaveLength(1);
  });

  test("a Gemini model in the path: the listed one is served (plain and streamed), another refused", async () => {
    const { token } = await stack.createToken({ allowed_models: ["gemini-2.5-flash"] });
    const ok = await send(stack, "gemini", token, { model: "gemini-2.5-flash" });
    expect(ok.status).toBe(200);
    expect(ok.json.candidates[0].content.parts[0].text).toBe("Hello from mock Gemini.");
    const stream = await send(stack, "gemini", token, { path: "/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse" });
    expect(stream.status).toBe(200);
    expect(stream.text).toContain("mock Gemini.");

    const refused = await send(stack, "gemini", token, { model: "gemini-2.5-pro" });
    expect(refused.status).toBe(403);
    expectNativeError(expect, "gemini", refused.json, {
      status: 403,
      message: "Model gemini-2.5-pro is not allowed for this api-proxy token; it may use: gemini-2.5-flash.",
    });
    expect(stack.mock.requests("gemini").map((r) => r.path)).toEqual([
      "/v1beta/models/gemini-2.5-flash:generateContent",
      "/v1/models/gemini-2.5-flash:streamGenerateContent",
    ]);
  });

  test("a request whose model cannot be found is refused on a model-scoped token", async () => {
    const { token } = await stack.createToken({ allowed_models: ["gpt-4o-mini"] });
    const message =
      "This api-proxy token may only use certain models, and this request names none; " +
      "send a JSON body with a \"model\" field (or, for Gemini, the model in the path).";
    for (const body of ["{\"messages\": []}", "not json", "{\"model\": \"gpt-4o-mini\", \"model\": \"gpt-4o\"}"]) {
      const { status, json } = await send(stack, "openai", token, { body });
      expect(status, body).toBe(403);
      expect(errorMessage(json)).toBe(message);
    }
    const list = await send(stack, "openai", token, { method: "GET", path: "/v1/models" });
    expect(list.status).toBe(403);
    expect(errorMessage(list.json)).toBe(message);
    expect(stack.mock.requests()).toEqual([]);
    expect((await send(stack, "openai", token, { model: "gpt-4o-mini" })).status).toBe(200);
  });

  describe("a 40 MiB JSON body", () => {
    const MiB = 1 << 20;
    const bigJson = () => {
      const head = "{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"";
      const tail = "\"}]}";
      return Buffer.concat([Buffer.from(head), Buffer.alloc(40 * MiB - head.length - tail.length, "a"), Buffer.from(tail)]);
    };
    const TOO_LARGE = "The request body is larger than 32 MiB, the most this proxy reads for a token limited to certain models.";

    test("on a model-scoped token: 413, with or without a declared length; no complete request goes upstream", async () => {
      const { token } = await stack.createToken({ allowed_models: ["gpt-4o-mini"] });
      const body = bigJson();
      // Refused on its declared length, yet read to the end, so the client (still sending) reads
      // the 413 rather than a reset connection. A few times: a reset is a race, not a certainty.
      for (let i = 0; i < 8; i++) {
        const declared = await send(stack, "openai", token, { body });
        expect(declared.status).toBe(413);
        expect(declared.json.error).toMatchObject({ message: TOO_LARGE, code: "request_too_large" });
      }

      // Streamed without Content-Length: the proxy has to count what it reads.
      const res = await fetch(`${stack.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: new Blob([body]).stream(),
        duplex: "half",
      });
      expect(res.status).toBe(413);
      expect(errorMessage(await res.json())).toBe(TOO_LARGE);
      // Its first 32 MiB went on while it was scanned; the upstream saw them cut off, never whole.
      await new Promise((r) => setTimeout(r, 100));
      expect(stack.mock.requests().filter((r) => !r.body.aborted)).toEqual([]);
    });

    test("on a model-scoped token whose model is in the path (Gemini): not read, streamed through", async () => {
      const { token } = await stack.createToken({ allowed_models: ["gemini-2.5-flash"] });
      const body = bigJson();
      const { status } = await send(stack, "gemini", token, { body });
      expect(status).toBe(200);
      const [seen] = stack.mock.requests("gemini");
      expect([seen.body.length, seen.body.sha256]).toEqual([body.length, sha256(body)]);
    });

    test("on an unscoped token: streamed through and arrives byte-identical", async () => {
      const { token } = await stack.createToken();
      const body = bigJson();
      const { status, json } = await send(stack, "openai", token, { path: "/echo/upload", body });
      expect(status).toBe(200);
      expect(json).toEqual({ length: body.length, sha256: sha256(body) });
    });
  });
});

describe("allowed_paths", () => {
  test("listed paths and prefixes are served; others get 403 listing what the token may call", async () => {
    const { token } = await stack.createToken({ allowed_paths: ["/v1/chat/completions", "/v1beta/models/*"] });
    expect((await send(stack, "openai", token)).status).toBe(200);
    expect((await send(stack, "openai", token, { path: "/openai/v1/chat/completions" })).status).toBe(200);
    expect((await send(stack, "gemini", token)).status).toBe(200);
    expect(stack.mock.requests().map((r) => r.path).sort()).toEqual([
      "/v1/chat/completions",
      "/v1/chat/completions",
      "/v1beta/models/gemini-2.5-flash:generateContent",
    ]);
    stack.mock.reset();

    const cases = [
      ["openai", { method: "GET", path: "/v1/models" }, "/v1/models"],
      ["openai", { path: "/v1/embeddings" }, "/v1/embeddings"],
      ["openai", { path: "/v1/chat/completions/extra" }, "/v1/chat/completions/extra"],
      ["anthropic", {}, "/v1/messages"],
      // An encoded slash could become another path upstream, so it never matches a prefix.
      ["gemini", { path: "/v1beta/models/x%2F..%2Ffiles" }, "/v1beta/models/x%2F..%2Ffiles"],
    ];
    for (const [provider, options, path] of cases) {
      const { status, json } = await send(stack, provider, token, options);
      expect(status, path).toBe(403);
      expectNativeError(expect, provider, json, {
        status: 403,
        message: `Path ${path} is not allowed for this api-proxy token; it may call: /v1/chat/completions, /v1beta/models/*.`,
      });
    }
    expect(stack.mock.requests()).toEqual([]);
  });
});
