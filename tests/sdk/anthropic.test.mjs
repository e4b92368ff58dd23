// The real `@anthropic-ai/sdk` Node SDK, configured as a user would: baseURL <proxy> (the SDK adds
// /v1/...), the token as apiKey (sent in x-api-key).
import Anthropic from "@anthropic-ai/sdk";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { expectUpstream, rejection, revoke, REVOKED_MESSAGE } from "./upstream.mjs";

let stack;
beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.dispose(); });
beforeEach(() => stack.mock.reset());

const client = (apiKey) => new Anthropic({ baseURL: stack.url, apiKey });
const request = (content) => ({ model: "claude-haiku-4-5", max_tokens: 64, messages: [{ role: "user", content }] });

function expectAnthropicUpstream(token) {
  const [seen] = stack.mock.requests("anthropic");
  expectUpstream(seen, { path: "/v1/messages", slot: "x-api-key", value: stack.realKeys.anthropic, token });
  expect(seen.headers["anthropic-version"]).toBeTruthy();
  return JSON.parse(seen.body.text);
}

test("messages.create: the reply and its usage come back, the real key goes upstream", async () => {
  const { token } = await stack.createToken({ providers: ["anthropic"] });
  const message = await client(token).messages.create(request("hi"));
  expect(message.content).toEqual([{ type: "text", text: "Hello from mock Anthropic. You said: hi" }]);
  expect(message.usage).toMatchObject({ input_tokens: 12, output_tokens: 8 });
  const sent = expectAnthropicUpstream(token);
  expect(sent.messages).toEqual([{ role: "user", content: "hi" }]);
});

test("messages.stream: text events, and a final message with the cumulative usage", async () => {
  const { token } = await stack.createToken({ providers: ["anthropic"] });
  const stream = client(token).messages.stream(request("hi"));
  let text = "";
  stream.on("text", (delta) => { text += delta; });
  const final = await stream.finalMessage();
  expect(text).toBe("Hello from mock Anthropic.");
  expect(final.content).toEqual([{ type: "text", text: "Hello from mock Anthropic." }]);
  expect(final.stop_reason).toBe("end_turn");
  expect(final.usage).toMatchObject({ input_tokens: 12, output_tokens: 8 });
  expect(expectAnthropicUpstream(token).stream).toBe(true);
});

describe("a revoked token makes the SDK raise AuthenticationError with our message", () => {
  for (const how of ["disable", "delete"]) {
    test(how, async () => {
      const { id, token } = await stack.createToken({ providers: ["anthropic"] });
      const anthropic = client(token);
      await anthropic.messages.create(request("before"));
      await revoke(stack, id, how);
      stack.mock.reset();

      const err = await rejection(anthropic.messages.create(request("after")));
      expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
      expect(err.status).toBe(401);
      expect(err.error).toEqual({ type: "error", error: { type: "authentication_error", message: REVOKED_MESSAGE[how] } });
      expect(stack.mock.requests()).toEqual([]);
    });
  }
});

test("a token without the anthropic scope makes the SDK raise PermissionDeniedError (403)", async () => {
  const { token } = await stack.createToken({ providers: ["openai"] });
  const err = await rejection(client(token).messages.create(request("hi")));
  expect(err).toBeInstanceOf(Anthropic.PermissionDeniedError);
  expect(err.status).toBe(403);
  expect(err.error.error).toEqual({ type: "permission_error", message: "This api-proxy token is not allowed to use Anthropic." });
  expect(stack.mock.requests()).toEqual([]);
});
