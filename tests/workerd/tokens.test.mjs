// What the proxy does with the token a client presents: unknown, disabled, out of scope,
// malformed; every refusal in the caller's provider's native error shape, and none reaches upstream.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { expectProxyError, send } from "./helpers.mjs";

let stack;
beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.dispose(); });
beforeEach(() => stack.mock.reset());

// One request per error shape; `shape` is what the caller's SDK parses.
const CALLERS = [
  { shape: "openai", provider: "openai", path: "/v1/models", headers: (t) => ({ authorization: `Bearer ${t}` }) },
  { shape: "anthropic", provider: "anthropic", path: "/v1/models", headers: (t) => ({ "x-api-key": t, "anthropic-version": "2023-06-01" }) },
  { shape: "gemini", provider: "gemini", path: "/v1beta/models", headers: (t) => ({ "x-goog-api-key": t }) },
  // Gemini's OpenAI-compatible surface is used through the OpenAI SDK, which parses OpenAI errors.
  { shape: "openai", provider: "gemini", path: "/v1beta/openai/models", headers: (t) => ({ authorization: `Bearer ${t}` }) },
];
const callName = (c) => `${c.provider} ${c.path} (${c.shape} shape)`;
const call = (c, token) => send(stack, c.path, { headers: c.headers(token) });

describe.each(CALLERS.map((c) => [callName(c), c]))("%s", (_, caller) => {
  test("a valid token is let through", async () => {
    const { token } = await stack.createToken({ providers: [caller.provider] });
    const res = await call(caller, token);
    expect(res.status, res.text).toBe(200);
    expect(stack.mock.requests(caller.provider)).toHaveLength(1);
  });

  test("an unknown token is 401", async () => {
    const res = await call(caller, "a-custom-token-nobody-ever-created-0000");
    expectProxyError(res, 401, caller.shape);
    expect(stack.mock.requests()).toEqual([]);
  });

  test("a disabled token is 401, and works again once re-enabled", async () => {
    const created = await stack.createToken({ providers: [caller.provider] });
    expect((await stack.admin("PATCH", `/admin/api/tokens/${created.id}`, { status: "disabled" })).status).toBe(200);
    const res = await call(caller, created.token);
    expectProxyError(res, 401, caller.shape);
    expect(res.json.error.message).toMatch(/disabled/);
    expect(stack.mock.requests()).toEqual([]);

    expect((await stack.admin("PATCH", `/admin/api/tokens/${created.id}`, { status: "active" })).status).toBe(200);
    expect((await call(caller, created.token)).status).toBe(200);
  });

  test("a token not scoped to this provider is 403", async () => {
    const others = ["openai", "anthropic", "gemini"].filter((p) => p !== caller.provider);
    const { token } = await stack.createToken({ providers: others });
    const res = await call(caller, token);
    expectProxyError(res, 403, caller.shape);
    expect(stack.mock.requests()).toEqual([]);
  });

  test("a deleted token is 401", async () => {
    const created = await stack.createToken({ providers: [caller.provider] });
    expect((await stack.admin("DELETE", `/admin/api/tokens/${created.id}`)).status).toBe(200);
    expectProxyError(await call(caller, created.token), 401, caller.shape);
    expect(stack.mock.requests()).toEqual([]);
  });
});

describe("malformed tokens", () => {
  test("a generated token with one character changed fails its checksum: 401, nothing upstream", async () => {
    const { token } = await stack.createToken();
    const i = 10;
    const typo = token.slice(0, i) + (token[i] === "a" ? "b" : "a") + token.slice(i + 1);
    for (const caller of CALLERS) {
      expectProxyError(await call(caller, typo), 401, caller.shape);
    }
    expect(stack.mock.requests()).toEqual([]);
    // The original is fine, so the refusal above was the checksum.
    expect((await call(CALLERS[0], token)).status).toBe(200);
  });

  test.each([
    ["too short to be any token", "sk-short"],
    ["apx_ prefix with the wrong length", "apx_0123456789"],
  ])("%s: 401, nothing upstream", async (_, bad) => {
    for (const caller of CALLERS) {
      expectProxyError(await call(caller, bad), 401, caller.shape);
    }
    expect(stack.mock.requests()).toEqual([]);
  });
});
