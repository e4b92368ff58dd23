// Browser origins through the built Worker in workerd: the CORS preflight (no token), a token's
// allowed_origins on the real request, and the CORS headers on every answer to a request with
// Origin, errors included, so a page's script can read them.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { expectNativeError, send } from "./policy-support.mjs";

let stack;
beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.dispose(); });
beforeEach(() => stack.mock.reset());

const APP = "https://app.example";
const EXPOSED = [
  "x-request-id", "request-id", "retry-after", "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
  "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens",
  "openai-processing-ms", "x-goog-upload-url", "x-goog-upload-status",
];
const list = (value) => (value ?? "").split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);

function expectCorsFor(res, origin) {
  expect(res.headers.get("access-control-allow-origin")).toBe(origin);
  expect(list(res.headers.get("vary"))).toContain("origin");
  const exposed = list(res.headers.get("access-control-expose-headers"));
  for (const name of EXPOSED) expect(exposed, name).toContain(name);
  expect(res.headers.get("access-control-allow-credentials")).toBeNull();
}

describe("preflight", () => {
  test("OPTIONS with Origin and Access-Control-Request-Method, no token: 204 allowing the requested headers", async () => {
    const asked = "authorization, content-type, x-stainless-os, x-stainless-retry-count, anthropic-version, anthropic-beta, " +
      "anthropic-dangerous-direct-browser-access, x-goog-api-key, x-goog-api-client";
    for (const path of ["/v1/chat/completions", "/v1/messages", "/v1beta/models/gemini-2.5-flash:generateContent"]) {
      const res = await fetch(stack.url + path, {
        method: "OPTIONS",
        headers: { origin: APP, "access-control-request-method": "POST", "access-control-request-headers": asked },
      });
      expect(res.status, path).toBe(204);
      expect(res.headers.get("access-control-allow-origin")).toBe(APP);
      expect(list(res.headers.get("access-control-allow-methods"))).toEqual(expect.arrayContaining(["get", "post"]));
      expect(list(res.headers.get("access-control-allow-headers"))).toEqual(expect.arrayContaining(list(asked)));
      expect(list(res.headers.get("vary"))).toContain("origin");
      expect(Number(res.headers.get("access-control-max-age"))).toBeGreaterThan(0);
      expect(await res.text()).toBe("");
    }
    expect(stack.mock.requests()).toEqual([]);
  });

  test("an OPTIONS that is not a preflight is an ordinary request and needs a token", async () => {
    const res = await fetch(`${stack.url}/v1/chat/completions`, { method: "OPTIONS", headers: { origin: APP } });
    expect(res.status).toBe(401);
    expect((await res.json()).error.message).toBe("Missing api-proxy token. Send your token where your SDK sends its API key.");
    expectCorsFor(res, APP);
  });
});

describe("allowed_origins", () => {
  test("a listed origin is served, with CORS headers for it and the upstream's Vary kept", async () => {
    const { token } = await stack.createToken({ allowed_origins: [APP, "http://localhost:5173"] });
    for (const origin of [APP, "http://localhost:5173"]) {
      const extra = { "x-mock-extra-headers": JSON.stringify({ vary: "Accept-Encoding", "openai-processing-ms": "12" }) };
      const { res, json } = await send(stack, "openai", token, { headers: { origin, ...extra } });
      expect(res.status).toBe(200);
      expect(json.choices[0].message.content).toBe("Hello from mock OpenAI. You said: hi");
      expectCorsFor(res, origin);
      expect(list(res.headers.get("vary"))).toEqual(["accept-encoding", "origin"]);
    }
    // The origin is the proxy's to judge; the provider does not hear about the page.
    for (const seen of stack.mock.requests("openai")) expect(seen.headers).not.toHaveProperty("origin");
  });

  test("an origin not listed gets 403 telling how to allow it, readable by the page; nothing goes upstream", async () => {
    const { token } = await stack.createToken({ allowed_origins: [APP] });
    for (const [provider, origin] of [["openai", "https://evil.example"], ["anthropic", "http://app.example"], ["gemini", "https://app.example:8443"]]) {
      const { res, json } = await send(stack, provider, token, { headers: { origin } });
      expect(res.status).toBe(403);
      expectNativeError(expect, provider, json, {
        status: 403,
        message: `Origin ${origin} is not allowed for this api-proxy token; add it to the token's allowed origins in the dashboard.`,
      });
      expectCorsFor(res, origin);
    }
    expect(stack.mock.requests()).toEqual([]);
  });

  test("a token without allowed_origins refuses any Origin, but serves requests without one", async () => {
    const { token } = await stack.createToken();
    const refused = await send(stack, "openai", token, { headers: { origin: APP } });
    expect(refused.status).toBe(403);
    expect(refused.json.error.message).toContain("add it to the token's allowed origins");
    const server = await send(stack, "openai", token);
    expect(server.status).toBe(200);
    expect(server.res.headers.get("access-control-allow-origin")).toBeNull();
    expect(stack.mock.requests()).toHaveLength(1);
  });

  test("* allows any origin, and the answer names that origin", async () => {
    const { token } = await stack.createToken({ allowed_origins: ["*"] });
    for (const origin of ["https://anything.example", "http://localhost:3000", "null"]) {
      const { res } = await send(stack, "anthropic", token, { headers: { origin } });
      expect(res.status, origin).toBe(200);
      expectCorsFor(res, origin);
    }
  });

  test("a rate-limited answer to a page carries the CORS headers and exposes the limit headers", async () => {
    const { token } = await stack.createToken({ allowed_origins: [APP], rate_limit: { requests: 1, per_seconds: 86400 } });
    const ok = await send(stack, "openai", token, { headers: { origin: APP } });
    expect(ok.status).toBe(200);
    expectCorsFor(ok.res, APP);
    expect(ok.res.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    const limited = await send(stack, "openai", token, { headers: { origin: APP } });
    expect(limited.status).toBe(429);
    expectCorsFor(limited.res, APP);
    expect(Number(limited.res.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});
