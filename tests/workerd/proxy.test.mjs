// What the proxy forwards upstream and what it hands back: credentials swapped, the request kept
// verbatim otherwise, private headers dropped both ways, upstream answers passed through as they
// are, and the proxy's own errors when an upstream cannot be reached or has no key.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { closedPort, expectProxyError, send } from "./helpers.mjs";

let stack, token;
beforeAll(async () => {
  stack = await startStack();
  ({ token } = await stack.createToken({ label: "proxy" }));
});
afterAll(async () => { await stack?.dispose(); });
beforeEach(() => stack.mock.reset());

const CREDENTIAL_HEADERS = ["authorization", "proxy-authorization", "x-api-key", "x-goog-api-key"];

describe("credentials", () => {
  // Through an explicit prefix every slot can be filled at once: the token in x-api-key (read first)
  // and client keys in all the others. Upstream must see one credential: the real key in its slot.
  test.each([
    ["openai", "/openai/v1/models", "authorization", (k) => `Bearer ${k}`],
    ["anthropic", "/anthropic/v1/models", "x-api-key", (k) => k],
    ["gemini", "/gemini/v1beta/models", "x-goog-api-key", (k) => k],
    ["gemini", "/gemini/v1beta/openai/models", "authorization", (k) => `Bearer ${k}`],
  ])("%s %s: every inbound slot is cleared and only the real key is set", async (provider, path, slot, value) => {
    const res = await send(stack, `${path}?key=client-query-key-000000000000&page=2`, {
      headers: {
        authorization: "Bearer client-bearer-key-00000000000000",
        "proxy-authorization": "Basic Y2xpZW50LXByb3h5OnBhc3N3b3Jk",
        "x-api-key": token,
        "x-goog-api-key": "client-x-goog-api-key-0000000000",
      },
    });
    expect(res.status, res.text).toBe(200);
    const [seen] = stack.mock.requests(provider);
    const present = CREDENTIAL_HEADERS.filter((h) => h in seen.headers);
    expect(present).toEqual([slot]);
    expect(seen.headers[slot]).toBe(value(stack.realKeys[provider]));
    expect(seen.url).toBe(`${path.replace(/^\/\w+/, "")}?page=2`);
    expect(seen.rawHeaders.join("\n")).not.toContain("client-");
  });
});

describe("the request is forwarded verbatim otherwise", () => {
  test.each(["GET", "POST", "PUT", "PATCH", "DELETE"])("%s keeps method, path and query (minus key) byte for byte", async (method) => {
    const query = "?b=2&a=1&key=" + encodeURIComponent(token) + "&sp=%20x%2F&empty=&flag&keyring=k&u=%C3%A9";
    const res = await send(stack, `/gemini/v1beta/files/abc%2Fdef/x:y${query}`, {
      method,
      body: method === "GET" ? undefined : "payload",
    });
    // The mock has no such route and says so with a 404, after checking the key.
    expect(res.status, res.text).toBe(404);
    const [seen] = stack.mock.requests("gemini");
    expect(seen.method).toBe(method);
    expect(seen.url).toBe("/v1beta/files/abc%2Fdef/x:y?b=2&a=1&sp=%20x%2F&empty=&flag&keyring=k&u=%C3%A9");
    if (method !== "GET") expect(seen.body.text).toBe("payload");
  });

  test("provider, SDK and content headers pass", async () => {
    const passing = {
      "anthropic-version": "2023-06-01",
      "anthropic-beta": "prompt-caching-2024-07-31",
      "openai-beta": "assistants=v2",
      "content-type": "application/json; charset=utf-8",
      accept: "application/json",
      "user-agent": "Anthropic/Python 0.70.0",
      "x-stainless-lang": "python",
      "idempotency-key": "stainless-retry-123",
    };
    const body = JSON.stringify({ model: "claude-sonnet-4-5", max_tokens: 5, messages: [{ role: "user", content: "hi" }] });
    const res = await send(stack, "/v1/messages", { method: "POST", headers: { "x-api-key": token, ...passing }, body });
    expect(res.status, res.text).toBe(200);
    const [seen] = stack.mock.requests("anthropic");
    for (const [name, value] of Object.entries(passing)) expect(seen.headers[name], name).toBe(value);
    expect(seen.body.text).toBe(body);
  });

  test("cookies and the client's address headers are not forwarded", async () => {
    const res = await send(stack, "/v1/models", {
      headers: {
        authorization: `Bearer ${token}`,
        cookie: "session=client-cookie",
        "cf-connecting-ip": "203.0.113.7",
        "cf-ipcountry": "XX",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "client.example",
        forwarded: "for=203.0.113.7",
        "x-real-ip": "203.0.113.7",
        "true-client-ip": "203.0.113.7",
      },
    });
    expect(res.status, res.text).toBe(200);
    const [seen] = stack.mock.requests("openai");
    const names = Object.keys(seen.headers);
    expect(names.filter((h) => h === "cookie" || h === "forwarded" || h === "x-real-ip" || h === "true-client-ip")).toEqual([]);
    // workerd adds its own cf-worker header to every subrequest (so does Cloudflare); it names the
    // Worker's zone, not the client.
    expect(names.filter((h) => (h.startsWith("cf-") && h !== "cf-worker") || h.startsWith("x-forwarded-"))).toEqual([]);
    expect(seen.rawHeaders.join("\n")).not.toContain("203.0.113.7");
  });
});

describe("the upstream answer comes back as it is", () => {
  test("a redirect is not followed: the client sees the 302 and its Location", async () => {
    const res = await send(stack, "/v1/models", { headers: { authorization: `Bearer ${token}`, "x-mock-status": "302" } });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("https://example.invalid/elsewhere");
    expect(stack.mock.requests()).toHaveLength(1);
  });

  test.each([
    ["openai", "/v1/chat/completions", (t) => ({ authorization: `Bearer ${t}` })],
    ["anthropic", "/v1/messages", (t) => ({ "x-api-key": t, "anthropic-version": "2023-06-01" })],
    ["gemini", "/v1beta/models/gemini-2.5-flash:generateContent", (t) => ({ "x-goog-api-key": t })],
  ])("%s: a 429 stays a 429 with retry-after and the provider's own body", async (provider, path, headers) => {
    const res = await send(stack, path, { method: "POST", headers: { ...headers(token), "content-type": "application/json", "x-mock-status": "429" }, body: "{}" });
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("7");
    expect(res.headers.get("x-request-id")).toBe("req_1");
    expect(res.text).toContain(`mock ${provider}: forced 429`);
  });

  test.each([401, 500])("an upstream %i (e.g. a revoked real key) is passed back, not rewritten", async (status) => {
    const res = await send(stack, "/v1/models", { headers: { authorization: `Bearer ${token}`, "x-mock-status": String(status) } });
    expect(res.status).toBe(status);
    expect(res.json.error.message).toBe(`mock openai: forced ${status}`);
  });

  test("account headers are stripped from responses; the rest, status and body are kept", async () => {
    const extra = {
      "set-cookie": "__cf_bm=upstream-cookie; Path=/",
      "openai-organization": "org-operator-secret",
      "openai-project": "proj_operator",
      "anthropic-organization-id": "11111111-2222-3333-4444-555555555555",
      "x-ratelimit-remaining-requests": "99",
    };
    const res = await send(stack, "/v1/models", { headers: { authorization: `Bearer ${token}`, "x-mock-extra-headers": JSON.stringify(extra) } });
    expect(res.status).toBe(200);
    for (const h of ["set-cookie", "openai-organization", "openai-project", "anthropic-organization-id"]) {
      expect(res.headers.get(h), h).toBeNull();
    }
    expect(res.headers.get("x-request-id")).toBe("req_1");
    expect(res.headers.get("x-ratelimit-remaining-requests")).toBe("99");
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.json.data[0].id).toBe("gpt-4o-mini");
  });
});

describe("an upstream that cannot be reached", () => {
  let down;
  beforeAll(async () => {
    const port = await closedPort();
    const closed = `http://127.0.0.1:${port}`;
    down = await startStack({ upstreams: { openai: closed, anthropic: closed, gemini: closed } });
    ({ token: down.token } = await down.createToken());
  });
  afterAll(async () => { await down?.dispose(); });

  test.each([
    ["openai", "/v1/chat/completions", (t) => ({ authorization: `Bearer ${t}` })],
    ["anthropic", "/v1/messages", (t) => ({ "x-api-key": t, "anthropic-version": "2023-06-01" })],
    ["gemini", "/v1beta/models/gemini-2.5-flash:generateContent", (t) => ({ "x-goog-api-key": t })],
    ["openai", "/v1beta/openai/chat/completions", (t) => ({ authorization: `Bearer ${t}` })],
  ])("is a 502 in the %s shape (%s)", async (shape, path, headers) => {
    const res = await send(down, path, { method: "POST", headers: { ...headers(down.token), "content-type": "application/json" }, body: "{}" });
    expectProxyError(res, 502, shape);
  });

  test("the operator's log says which upstream failed, and why", async () => {
    await send(down, "/v1/messages", { method: "POST", headers: { "x-api-key": down.token }, body: "{}" });
    await expect.poll(() => down.logs.join("")).toMatch(/"event":"upstream_unreachable",[^\n]*"provider":"anthropic",[^\n]*"detail":"[^"]/);
  });
});

describe.each([
  ["never set", { GEMINI_API_KEY: undefined }],
  ["set to an empty string", { GEMINI_API_KEY: "" }],
])("a provider whose key is %s", (_, bindings) => {
  let nokey;
  beforeAll(async () => {
    nokey = await startStack({ bindings });
    ({ token: nokey.token } = await nokey.createToken());
  });
  afterAll(async () => { await nokey?.dispose(); });

  test("is a 503 in its shape, and nothing goes upstream", async () => {
    const res = await send(nokey, "/v1beta/models", { headers: { "x-goog-api-key": nokey.token } });
    expectProxyError(res, 503, "gemini");
    expect(res.json.error.message).toContain("Gemini");
    expect(nokey.mock.requests()).toEqual([]);
  });

  test("the other providers still work", async () => {
    expect((await send(nokey, "/v1/models", { headers: { authorization: `Bearer ${nokey.token}` } })).status).toBe(200);
    expect((await send(nokey, "/v1/models", { headers: { "x-api-key": nokey.token } })).status).toBe(200);
  });
});
