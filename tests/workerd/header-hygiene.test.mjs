// Header hygiene both ways through the built Worker in workerd: what the client's request must not
// tell the provider (its address, cookies, the page it runs on, hop-by-hop headers), and what the
// provider's answer must not tell the client (the operator's account), while the headers SDKs rely
// on travel both ways.
import http from "node:http";
import { afterAll, beforeAll, beforeEach, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { send } from "./policy-support.mjs";

let stack;
beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.dispose(); });
beforeEach(() => stack.mock.reset());

/** A request with exactly these headers (fetch would refuse or rewrite some of them). */
function rawRequest(path, headers, body) {
  const url = new URL(stack.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path, method: "POST", headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const CLIENT_ONLY = {
  cookie: "session=client-cookie-secret",
  "cf-connecting-ip": "203.0.113.77",
  "cf-ipcountry": "ZZ",
  "cf-ray": "client-ray-id",
  "cf-visitor": "{\"scheme\":\"https\"}",
  "x-forwarded-for": "203.0.113.77, 10.0.0.1",
  "x-forwarded-proto": "https",
  "x-forwarded-host": "client-host.example",
  forwarded: "for=203.0.113.77;proto=https",
  "x-real-ip": "203.0.113.77",
  "true-client-ip": "203.0.113.77",
  origin: "https://page.example",
  referer: "https://page.example/secret-page?q=1",
  "keep-alive": "timeout=99",
  te: "trailers",
  via: "1.1 client-proxy",
  "proxy-connection": "keep-alive",
  "proxy-authorization": "Basic Y2xpZW50OnNlY3JldA==",
};

const SDK_HEADERS = {
  "content-type": "application/json",
  accept: "application/json",
  "user-agent": "OpenAI/JS 7.57.0",
  "x-stainless-os": "Linux",
  "x-stainless-retry-count": "0",
  "openai-beta": "assistants=v2",
  "idempotency-key": "idem-123",
};

test("the client's address, cookies, page and hop-by-hop headers never reach the provider; SDK headers do", async () => {
  const { token } = await stack.createToken({ allowed_origins: ["https://page.example"] });
  const body = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
  const res = await rawRequest("/v1/chat/completions", { authorization: `Bearer ${token}`, ...CLIENT_ONLY, ...SDK_HEADERS }, body);
  expect(res.status).toBe(200);

  const [seen] = stack.mock.requests("openai");
  for (const name of Object.keys(CLIENT_ONLY)) expect(seen.headers, name).not.toHaveProperty(name);
  for (const name of Object.keys(seen.headers)) {
    expect(name.startsWith("x-forwarded-"), name).toBe(false);
    // workerd (like Cloudflare) marks every subrequest with cf-worker: the Worker's own zone.
    if (name.startsWith("cf-")) expect(name).toBe("cf-worker");
  }
  const everything = JSON.stringify(seen.rawHeaders);
  for (const secret of ["203.0.113.77", "client-cookie-secret", "page.example", "client-proxy", "Y2xpZW50OnNlY3JldA", token]) {
    expect(everything, secret).not.toContain(secret);
  }
  for (const [name, value] of Object.entries(SDK_HEADERS)) expect(seen.headers[name], name).toBe(value);
  expect(seen.headers.authorization).toBe(`Bearer ${stack.realKeys.openai}`);
});

test("Anthropic: anthropic-version and anthropic-beta pass, the client's cookies and address do not", async () => {
  const { token } = await stack.createToken();
  const res = await send(stack, "anthropic", token, {
    headers: { "anthropic-beta": "prompt-caching-2024-07-31", cookie: "a=b", "x-forwarded-for": "198.51.100.7", "x-real-ip": "198.51.100.7" },
  });
  expect(res.status).toBe(200);
  const [seen] = stack.mock.requests("anthropic");
  expect(seen.headers).toMatchObject({ "anthropic-version": "2023-06-01", "anthropic-beta": "prompt-caching-2024-07-31", "x-api-key": stack.realKeys.anthropic });
  for (const name of ["cookie", "x-forwarded-for", "x-real-ip"]) expect(seen.headers).not.toHaveProperty(name);
});

test("the provider's account headers never reach the client; ids, limits, retry-after and content headers do", async () => {
  const { token } = await stack.createToken();
  const upstream = {
    "set-cookie": "__cf_bm=upstream-cookie; path=/; HttpOnly",
    "openai-organization": "org-operator-secret",
    "openai-project": "proj_operator_secret",
    "anthropic-organization-id": "anthropic-org-secret",
    "request-id": "req_upstream_1",
    "openai-processing-ms": "42",
    "x-ratelimit-limit-tokens": "150000",
    "x-ratelimit-remaining-tokens": "149000",
    "retry-after": "3",
    "content-language": "en",
    "content-disposition": "inline",
  };
  for (const provider of ["openai", "anthropic", "gemini"]) {
    const { res, json } = await send(stack, provider, token, { headers: { "x-mock-extra-headers": JSON.stringify(upstream) } });
    expect(res.status, provider).toBe(200);
    expect(json).toBeTruthy();
    for (const name of ["set-cookie", "openai-organization", "openai-project", "anthropic-organization-id"]) {
      expect(res.headers.get(name), `${provider} ${name}`).toBeNull();
    }
    expect(res.headers.get("x-request-id")).toMatch(/^req_\d+$/);
    for (const name of ["request-id", "openai-processing-ms", "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "retry-after", "content-language", "content-disposition"]) {
      expect(res.headers.get(name), `${provider} ${name}`).toBe(upstream[name]);
    }
    expect(res.headers.get("content-type")).toBe("application/json");
  }
});

test("an upstream 429 reaches a token without a limit unchanged, retry-after included", async () => {
  const { token } = await stack.createToken();
  const { res, json } = await send(stack, "openai", token, { headers: { "x-mock-status": "429" } });
  expect(res.status).toBe(429);
  expect(res.headers.get("retry-after")).toBe("7");
  expect(json.error.message).toBe("mock openai: forced 429");
});

test("headers the client names in Connection are hop-by-hop and are not forwarded", async () => {
  const { token } = await stack.createToken();
  const body = JSON.stringify({ model: "gpt-4o-mini", messages: [] });
  const headers = {
    authorization: `Bearer ${token}`,
    "content-type": "application/json",
    connection: "keep-alive, X-Client-Hop, x-other-hop",
    "x-client-hop": "hop-secret",
    "x-other-hop": "hop-secret-2",
    "x-stainless-os": "Linux",
  };
  expect((await rawRequest("/v1/chat/completions", headers, body)).status).toBe(200);
  const [seen] = stack.mock.requests("openai");
  expect(seen.headers).not.toHaveProperty("x-client-hop");
  expect(seen.headers).not.toHaveProperty("x-other-hop");
  expect(seen.headers["x-stainless-os"]).toBe("Linux");
});
