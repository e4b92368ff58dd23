// The real `openai` Node SDK against two OpenAI-compatible providers behind their prefixes, as a
// user configures it: baseURL <proxy>/groq/openai/v1 and <proxy>/openrouter/api/v1, the token as apiKey.
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { expectUpstream, rejection } from "./upstream.mjs";

let stack;
beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.dispose(); });
beforeEach(() => stack.mock.reset());

describe.each([
  ["groq", "/groq/openai/v1", "/openai/v1"],
  ["openrouter", "/openrouter/api/v1", "/api/v1"],
])("%s", (provider, prefix, upstreamBase) => {
  const client = (apiKey) => new OpenAI({ baseURL: `${stack.url}${prefix}`, apiKey, maxRetries: 0 });

  test("chat completion: the reply comes back, the provider's real key goes upstream", async () => {
    const { token } = await stack.createToken({ providers: [provider] });
    const reply = await client(token).chat.completions.create({ model: "m", messages: [{ role: "user", content: "hi" }] });
    expect(reply.choices[0].message.content).toBe("Hello from mock OpenAI. You said: hi");
    const [seen] = stack.mock.requests(provider);
    expectUpstream(seen, { path: `${upstreamBase}/chat/completions`, slot: "authorization", value: `Bearer ${stack.realKeys[provider]}`, token });
  });

  test("streamed chat completion with usage", async () => {
    const { token } = await stack.createToken({ providers: [provider] });
    const stream = await client(token).chat.completions.create({
      model: "m", messages: [{ role: "user", content: "hi" }], stream: true, stream_options: { include_usage: true },
    });
    let text = "";
    let usage = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe("Hello from mock OpenAI.");
    expect(usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 4 });
  });

  test("a token without this provider gets the SDK's PermissionDeniedError with our message", async () => {
    const { token } = await stack.createToken({ providers: ["openai"] });
    const e = await rejection(client(token).models.list());
    expect(e).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(e.message).toContain("not allowed to use");
    expect(stack.mock.requests()).toEqual([]);
  });
});
