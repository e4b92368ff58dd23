// The real `openai` Node SDK, configured as a user would: baseURL <proxy>/v1, the token as apiKey.
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { expectUpstream, rejection, revoke, REVOKED_MESSAGE } from "./upstream.mjs";

let stack;
beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.dispose(); });
beforeEach(() => stack.mock.reset());

const client = (apiKey) => new OpenAI({ baseURL: `${stack.url}/v1`, apiKey });

function expectOpenAiUpstream(path, token) {
  const [seen] = stack.mock.requests("openai");
  expectUpstream(seen, { path, slot: "authorization", value: `Bearer ${stack.realKeys.openai}`, token });
  return JSON.parse(seen.body.text);
}

test("chat completion: the reply and its usage come back, the real key goes upstream", async () => {
  const { token } = await stack.createToken({ providers: ["openai"] });
  const reply = await client(token).chat.completions.create({
    model: "gpt-4o-mini",
    messages: [{ role: "user", content: "hi" }],
  });
  expect(reply.choices[0].message.content).toBe("Hello from mock OpenAI. You said: hi");
  expect(reply.usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 7, total_tokens: 16 });
  const sent = expectOpenAiUpstream("/v1/chat/completions", token);
  expect(sent.messages).toEqual([{ role: "user", content: "hi" }]);
});

test("streamed chat completion with include_usage: every delta, then the usage chunk", async () => {
  const { token } = await stack.createToken({ providers: ["openai"] });
  const stream = await client(token).chat.completions.create({
    model: "gpt-4o-mini",
    messages: [{ role: "user", content: "hi" }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let usage = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? "";
    if (chunk.usage) usage = chunk.usage;
  }
  expect(text).toBe("Hello from mock OpenAI.");
  expect(usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 });
  const sent = expectOpenAiUpstream("/v1/chat/completions", token);
  expect(sent).toMatchObject({ stream: true, stream_options: { include_usage: true } });
});

test("Responses API: output_text and usage", async () => {
  const { token } = await stack.createToken({ providers: ["openai"] });
  const response = await client(token).responses.create({ model: "gpt-4o-mini", input: "hi" });
  expect(response.output_text).toBe("Hello from mock OpenAI Responses.");
  expect(response.usage).toMatchObject({ input_tokens: 5, output_tokens: 6, total_tokens: 11 });
  expectOpenAiUpstream("/v1/responses", token);
});

test("streamed Responses API: text deltas and the completed response's usage", async () => {
  const { token } = await stack.createToken({ providers: ["openai"] });
  const stream = client(token).responses.stream({ model: "gpt-4o-mini", input: "hi" });
  let text = "";
  stream.on("response.output_text.delta", (e) => { text += e.delta; });
  const final = await stream.finalResponse();
  expect(text).toBe("Hello from mock OpenAI Responses.");
  expect(final.output_text).toBe("Hello from mock OpenAI Responses.");
  expect(final.usage).toMatchObject({ input_tokens: 5, output_tokens: 6, total_tokens: 11 });
  const sent = expectOpenAiUpstream("/v1/responses", token);
  expect(sent.stream).toBe(true);
});

describe("a revoked token makes the SDK raise AuthenticationError with our message", () => {
  for (const how of ["disable", "delete"]) {
    test(how, async () => {
      const { id, token } = await stack.createToken({ providers: ["openai"] });
      const openai = client(token);
      await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "before" }] });
      await revoke(stack, id, how);
      stack.mock.reset();

      const err = await rejection(openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "after" }] }));
      expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(err.status).toBe(401);
      expect(err.error.message).toBe(REVOKED_MESSAGE[how]);
      expect(stack.mock.requests()).toEqual([]);
    });
  }
});

test("a token without the openai scope makes the SDK raise PermissionDeniedError (403)", async () => {
  const { token } = await stack.createToken({ providers: ["anthropic", "gemini"] });
  const err = await rejection(client(token).chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }));
  expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
  expect(err.status).toBe(403);
  expect(err.error.message).toBe("This api-proxy token is not allowed to use OpenAI.");
  expect(stack.mock.requests()).toEqual([]);
});

test("streamed chat completion without include_usage: a chunk.choices[0] loop sees no extra chunk, and the ledger has the usage", async () => {
  const { id, token } = await stack.createToken({ providers: ["openai"] });
  const stream = await client(token).chat.completions.create({
    model: "gpt-4o-mini",
    messages: [{ role: "user", content: "hi" }],
    stream: true,
  });
  let text = "";
  let chunks = 0;
  for await (const chunk of stream) {
    // What most client code does; it throws on a usage-only chunk with "choices": [].
    text += chunk.choices[0].delta.content ?? "";
    expect(chunk.usage ?? null).toBeNull();
    chunks++;
  }
  expect(text).toBe("Hello from mock OpenAI.");
  expect(chunks).toBe(5);
  // The proxy asked upstream for the usage on the client's behalf.
  expect(expectOpenAiUpstream("/v1/chat/completions", token).stream_options).toEqual({ include_usage: true });
  let totals;
  for (let i = 0; i < 50; i++) {
    ({ totals } = (await stack.admin("GET", `/admin/api/tokens/${id}/usage`)).body);
    if (totals.requests) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(totals).toMatchObject({ requests: 1, input_tokens: 9, output_tokens: 4, estimated_requests: 0 });
});
