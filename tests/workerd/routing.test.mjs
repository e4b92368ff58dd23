// Which side of the Worker answers a request (health, admin API, proxy), and which provider a
// proxied request goes to: the detection table, first match wins, end to end through workerd.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { expectProxyError, send } from "./helpers.mjs";

let stack, token;
beforeAll(async () => {
  stack = await startStack();
  ({ token } = await stack.createToken({ label: "routing" }));
});
afterAll(async () => { await stack?.dispose(); });
beforeEach(() => stack.mock.reset());

describe("routes", () => {
  test("GET /health answers ok without a token and without calling any upstream", async () => {
    const res = await send(stack, "/health");
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ status: "ok" });
    expect(stack.mock.requests()).toEqual([]);
  });

  test("/admin/api/... is the admin side: a proxy token there is refused and nothing goes upstream", async () => {
    const res = await send(stack, "/admin/api/tokens", { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(401);
    expect(res.text).not.toContain("invalid_api_key");
    expect(stack.mock.requests()).toEqual([]);
  });

  test.each(["/healthz", "/administrator", "/some/other/path", "/"])("%s is proxied", async (path) => {
    const res = await send(stack, path, { headers: { authorization: `Bearer ${token}` } });
    // The mock answers unknown paths with its own 404, which the proxy passes back.
    expect(res.status).toBe(404);
    expect(res.json.error.message).toContain("mock openai");
    expect(stack.mock.requests("openai").map((r) => r.path)).toEqual([path]);
  });
});

// Each case: what the client sends, and where the mock should see it arrive.
// `slot` is the header the real key must be in upstream (with `value` built from the real key).
const bearer = (k) => `Bearer ${k}`;
const same = (k) => k;
const DETECTION = [
  { name: "/openai/ prefix, token in x-api-key", path: "/openai/v1/models", headers: (t) => ({ "x-api-key": t }), provider: "openai", upstream: "/v1/models", slot: "authorization", value: bearer },
  { name: "/openai/ prefix, token in x-goog-api-key", path: "/openai/v1/models", headers: (t) => ({ "x-goog-api-key": t }), provider: "openai", upstream: "/v1/models", slot: "authorization", value: bearer },
  { name: "/openai/ prefix, token in ?key=", path: "/openai/v1/models?key=TOKEN", provider: "openai", upstream: "/v1/models", slot: "authorization", value: bearer },
  { name: "/anthropic/ prefix, Bearer without anthropic-version", path: "/anthropic/v1/models", headers: (t) => ({ authorization: `Bearer ${t}` }), provider: "anthropic", upstream: "/v1/models", slot: "x-api-key", value: same },
  { name: "/anthropic/ prefix, token in x-goog-api-key", path: "/anthropic/v1/messages/count_tokens", method: "POST", headers: (t) => ({ "x-goog-api-key": t }), provider: "anthropic", upstream: "/v1/messages/count_tokens", slot: "x-api-key", value: same },
  { name: "/gemini/ prefix, token in x-api-key", path: "/gemini/v1beta/models", headers: (t) => ({ "x-api-key": t }), provider: "gemini", upstream: "/v1beta/models", slot: "x-goog-api-key", value: same },
  { name: "/gemini/ prefix on an OpenAI-compatible path keeps Bearer upstream", path: "/gemini/v1beta/openai/models", headers: (t) => ({ "x-api-key": t }), provider: "gemini", upstream: "/v1beta/openai/models", slot: "authorization", value: bearer },
  { name: "x-api-key is Anthropic", path: "/v1/messages/count_tokens", method: "POST", headers: (t) => ({ "x-api-key": t, "anthropic-version": "2023-06-01" }), provider: "anthropic", upstream: "/v1/messages/count_tokens", slot: "x-api-key", value: same },
  { name: "x-api-key wins over a Gemini path and a Bearer header", path: "/v1beta/models", headers: (t) => ({ "x-api-key": t, authorization: "Bearer something-else-entirely-000" }), provider: "anthropic", upstream: "/v1beta/models", slot: "x-api-key", value: same },
  { name: "x-goog-api-key is Gemini", path: "/v1beta/models/gemini-2.5-flash:generateContent", method: "POST", headers: (t) => ({ "x-goog-api-key": t }), provider: "gemini", upstream: "/v1beta/models/gemini-2.5-flash:generateContent", slot: "x-goog-api-key", value: same },
  { name: "x-goog-api-key on /v1/models/... is Gemini (Python google-genai)", path: "/v1/models/gemini-2.5-flash:generateContent", method: "POST", headers: (t) => ({ "x-goog-api-key": t }), provider: "gemini", upstream: "/v1/models/gemini-2.5-flash:generateContent", slot: "x-goog-api-key", value: same },
  { name: "x-goog-api-key wins over Bearer", path: "/v1/models", headers: (t) => ({ "x-goog-api-key": t, authorization: "Bearer something-else-entirely-000" }), provider: "gemini", upstream: "/v1/models", slot: "x-goog-api-key", value: same },
  { name: "Bearer on /v1beta/openai/ is Gemini with Bearer upstream", path: "/v1beta/openai/chat/completions", method: "POST", headers: (t) => ({ authorization: `Bearer ${t}` }), provider: "gemini", upstream: "/v1beta/openai/chat/completions", slot: "authorization", value: bearer },
  { name: "Bearer on /v1beta/openai/ stays Gemini even with anthropic-version", path: "/v1beta/openai/models", headers: (t) => ({ authorization: `Bearer ${t}`, "anthropic-version": "2023-06-01" }), provider: "gemini", upstream: "/v1beta/openai/models", slot: "authorization", value: bearer },
  { name: "Bearer with anthropic-version is Anthropic (x-api-key upstream)", path: "/v1/messages", method: "POST", headers: (t) => ({ authorization: `Bearer ${t}`, "anthropic-version": "2023-06-01" }), provider: "anthropic", upstream: "/v1/messages", slot: "x-api-key", value: same },
  { name: "Bearer on /v1beta/ is Gemini", path: "/v1beta/models", headers: (t) => ({ authorization: `Bearer ${t}` }), provider: "gemini", upstream: "/v1beta/models", slot: "x-goog-api-key", value: same },
  { name: "Bearer on /upload/v1beta/ is Gemini", path: "/upload/v1beta/files", method: "POST", headers: (t) => ({ authorization: `Bearer ${t}` }), provider: "gemini", upstream: "/upload/v1beta/files", slot: "x-goog-api-key", value: same },
  { name: "Bearer elsewhere is OpenAI", path: "/v1/chat/completions", method: "POST", headers: (t) => ({ authorization: `Bearer ${t}` }), provider: "openai", upstream: "/v1/chat/completions", slot: "authorization", value: bearer },
  { name: "lowercase bearer scheme is OpenAI too", path: "/v1/models", headers: (t) => ({ authorization: `bearer ${t}` }), provider: "openai", upstream: "/v1/models", slot: "authorization", value: bearer },
  { name: "Bearer wins over ?key=", path: "/v1/models?key=something-else-entirely-000", headers: (t) => ({ authorization: `Bearer ${t}` }), provider: "openai", upstream: "/v1/models", slot: "authorization", value: bearer },
  { name: "?key= is Gemini", path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=TOKEN", method: "POST", provider: "gemini", upstream: "/v1beta/models/gemini-2.5-flash:streamGenerateContent", slot: "x-goog-api-key", value: same },
  { name: "?key= is Gemini whatever the path", path: "/v1/models?key=TOKEN", provider: "gemini", upstream: "/v1/models", slot: "x-goog-api-key", value: same },
];

describe("provider detection", () => {
  test.each(DETECTION)("$name", async (c) => {
    const res = await send(stack, c.path.replace("TOKEN", encodeURIComponent(token)), {
      method: c.method ?? "GET",
      headers: { "content-type": "application/json", ...(c.headers ? c.headers(token) : {}) },
      body: c.method === "POST" ? JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] }) : undefined,
    });
    // 404 where the mock has no such route: it checks the key before routing, so the key was right.
    expect([200, 404], res.text).toContain(res.status);
    const received = stack.mock.requests();
    expect(received).toHaveLength(1);
    expect(stack.mock.requests(c.provider)).toHaveLength(1);
    const [seen] = received;
    expect(seen.path).toBe(c.upstream);
    expect(seen.headers[c.slot]).toBe(c.value(stack.realKeys[c.provider]));
  });

  test.each([
    ["no prefix", "/v1/chat/completions", "openai"],
    ["/openai/", "/openai/v1/chat/completions", "openai"],
    ["/anthropic/", "/anthropic/v1/messages", "anthropic"],
    ["/gemini/", "/gemini/v1beta/models/gemini-2.5-flash:generateContent", "gemini"],
  ])("no credential at all (%s) is a 401 in that provider's shape, and nothing goes upstream", async (_, path, shape) => {
    const res = await send(stack, path, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expectProxyError(res, 401, shape);
    expect(stack.mock.requests()).toEqual([]);
  });

  test("an Authorization header with another scheme is no credential", async () => {
    const res = await send(stack, "/v1/models", { headers: { authorization: `Basic ${Buffer.from(`u:${token}`).toString("base64")}` } });
    expectProxyError(res, 401, "openai");
    expect(stack.mock.requests()).toEqual([]);
  });
});
