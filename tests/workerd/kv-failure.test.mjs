// When Workers KV cannot be reached, every answer that needs it is a clean 503 in the caller's shape
// (so SDKs retry), never a 500 or a Worker exception (1101), and nothing goes upstream unchecked.

import { afterAll, beforeAll, beforeEach, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { expectProxyError, send } from "./helpers.mjs";

// A token that passes the syntax check, so the proxy has to ask KV about it.
const TOKEN = "a-plausible-custom-token-while-kv-is-down";

let stack;
beforeAll(async () => { stack = await startStack({ kvFailure: true }); });
afterAll(async () => { await stack?.dispose(); });
beforeEach(() => stack.mock.reset());

test.each([
  ["openai", "/v1/chat/completions", { authorization: `Bearer ${TOKEN}` }],
  ["anthropic", "/v1/messages", { "x-api-key": TOKEN, "anthropic-version": "2023-06-01" }],
  ["gemini", "/v1beta/models/gemini-2.5-flash:generateContent", { "x-goog-api-key": TOKEN }],
  ["openai", "/v1beta/openai/chat/completions", { authorization: `Bearer ${TOKEN}` }],
  ["gemini", "/v1beta/models/gemini-2.5-flash:generateContent?key=" + TOKEN, {}],
])("a proxied request is 503 in the %s shape (%s)", async (shape, path, headers) => {
  const res = await send(stack, path, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: "{}" });
  expectProxyError(res, 503, shape);
  expect(stack.mock.requests()).toEqual([]);
});

test("the failure is the store's, and is logged for the operator", async () => {
  await send(stack, "/v1/models", { headers: { authorization: `Bearer ${TOKEN}` } });
  await expect.poll(() => stack.logs.join("")).toMatch(/"event":"token_store_unavailable",[^\n]*KV is unreachable \(test\)/);
});

test("a token that fails its checksum is still a 401: no KV needed to refuse it", async () => {
  const res = await send(stack, "/v1/models", { headers: { authorization: "Bearer apx_0123456789ABCDEFGHIJKLMNOPQRSTUVWabcdef" } });
  expectProxyError(res, 401, "openai");
});

test("/health does not need KV", async () => {
  const res = await send(stack, "/health");
  expect(res.status).toBe(200);
});

test.each([
  ["GET", "/admin/api/tokens", undefined],
  ["POST", "/admin/api/tokens", { label: "x", providers: ["openai"] }],
  ["POST", "/admin/api/tokens", { label: "x", providers: ["openai"], token: "a-custom-token-while-kv-is-down" }],
  ["GET", `/admin/api/tokens/${"a".repeat(64)}`, undefined],
  ["PATCH", `/admin/api/tokens/${"a".repeat(64)}`, { status: "disabled" }],
  ["DELETE", `/admin/api/tokens/${"a".repeat(64)}`, undefined],
])("admin %s %s is 503", async (method, path, body) => {
  const r = await stack.admin(method, path, body);
  expect(r.status).toBe(503);
  expect(r.body.error.message).toMatch(/token store is unavailable/);
});

test("admin authentication is still checked first", async () => {
  expect((await send(stack, "/admin/api/tokens")).status).toBe(401);
});

test("no request crashed the Worker", () => {
  expect(stack.logs.join("")).not.toMatch(/panicked|RuntimeError|Uncaught/);
});
