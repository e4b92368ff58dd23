// The Node frameworks people build on, each its real package configured as the README's client
// table says, against the mock upstream through the proxy: one non-streamed and one streamed call
// each, checking what the client returned and what the upstream received (path, the real key in
// the provider's own slot, the token nowhere).

import { createAnthropic } from "@ai-sdk/anthropic";
import { createGoogleGenerativeAI } from "@ai-sdk/google";
import { createOpenAI } from "@ai-sdk/openai";
import { googleAI } from "@genkit-ai/google-genai";
import { ChatAnthropic } from "@langchain/anthropic";
import { ChatGoogleGenerativeAI } from "@langchain/google-genai";
import { ChatOpenAI } from "@langchain/openai";
import { generateText, streamText } from "ai";
import { genkit } from "genkit";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { expectUpstream } from "../sdk/upstream.mjs";

let stack;
beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.dispose(); });
beforeEach(() => stack.mock.reset());

const SLOTS = {
  openai: ["authorization", (k) => `Bearer ${k}`],
  anthropic: ["x-api-key", (k) => k],
  gemini: ["x-goog-api-key", (k) => k],
};

/** The one request the mock got went to `path` with the real key and no token; returns its body. */
function upstream(provider, path, token) {
  const seen = stack.mock.requests();
  expect(seen.map((r) => r.path)).toEqual([path]);
  const [slot, value] = SLOTS[provider];
  expectUpstream(seen[0], { path, slot, value: value(stack.realKeys[provider]), token });
  return JSON.parse(seen[0].body.text);
}

async function collect(stream) {
  let text = "";
  for await (const chunk of stream) text += typeof chunk === "string" ? chunk : chunk.content ?? chunk.text ?? "";
  return text;
}

const token = async (provider) => (await stack.createToken({ providers: [provider] })).token;

describe("ai (Vercel AI SDK)", () => {
  const cases = [
    ["@ai-sdk/openai, the default (Responses) model", "openai", "/v1/responses", "Hello from mock OpenAI Responses.", "Hello from mock OpenAI Responses.",
      (apiKey) => createOpenAI({ baseURL: `${stack.url}/v1`, apiKey })("gpt-4o-mini")],
    ["@ai-sdk/openai .chat()", "openai", "/v1/chat/completions", "Hello from mock OpenAI. You said: hi", "Hello from mock OpenAI.",
      (apiKey) => createOpenAI({ baseURL: `${stack.url}/v1`, apiKey }).chat("gpt-4o-mini")],
    ["@ai-sdk/anthropic", "anthropic", "/v1/messages", "Hello from mock Anthropic. You said: hi", "Hello from mock Anthropic.",
      (apiKey) => createAnthropic({ baseURL: `${stack.url}/v1`, apiKey })("claude-haiku-4-5")],
  ];
  for (const [name, provider, path, answer, streamed, model] of cases) {
    test(`${name}: generateText`, async () => {
      const t = await token(provider);
      const { text } = await generateText({ model: model(t), prompt: "hi" });
      expect(text).toBe(answer);
      expect(upstream(provider, path, t).stream).toBeFalsy();
    });
    test(`${name}: streamText`, async () => {
      const t = await token(provider);
      const result = streamText({ model: model(t), prompt: "hi" });
      expect(await collect(result.textStream)).toBe(streamed);
      expect(upstream(provider, path, t).stream).toBe(true);
    });
  }

  const google = (apiKey) => createGoogleGenerativeAI({ baseURL: `${stack.url}/v1beta`, apiKey })("gemini-2.5-flash");
  test("@ai-sdk/google: generateText", async () => {
    const t = await token("gemini");
    const { text } = await generateText({ model: google(t), prompt: "hi" });
    expect(text).toBe("Hello from mock Gemini.");
    expect(upstream("gemini", "/v1beta/models/gemini-2.5-flash:generateContent", t).contents).toBeTruthy();
  });
  test("@ai-sdk/google: streamText", async () => {
    const t = await token("gemini");
    const result = streamText({ model: google(t), prompt: "hi" });
    expect(await collect(result.textStream)).toBe("Hello from mock Gemini.");
    upstream("gemini", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", t);
    expect(stack.mock.requests()[0].query).toContain("alt=sse");
  });
});

describe("LangChain JS", () => {
  const cases = [
    ["@langchain/openai ChatOpenAI", "openai", "/v1/chat/completions", "Hello from mock OpenAI. You said: hi", "Hello from mock OpenAI.",
      (apiKey) => new ChatOpenAI({ model: "gpt-4o-mini", apiKey, configuration: { baseURL: `${stack.url}/v1` } })],
    ["@langchain/anthropic ChatAnthropic", "anthropic", "/v1/messages", "Hello from mock Anthropic. You said: hi", "Hello from mock Anthropic.",
      (apiKey) => new ChatAnthropic({ model: "claude-haiku-4-5", apiKey, anthropicApiUrl: stack.url })],
    ["@langchain/google-genai ChatGoogleGenerativeAI", "gemini", null, "Hello from mock Gemini.", "Hello from mock Gemini.",
      (apiKey) => new ChatGoogleGenerativeAI({ model: "gemini-2.5-flash", apiKey, baseUrl: stack.url })],
  ];
  for (const [name, provider, path, answer, streamed, model] of cases) {
    test(`${name}: invoke`, async () => {
      const t = await token(provider);
      const message = await model(t).invoke("hi");
      expect(message.content).toBe(answer);
      upstream(provider, path ?? "/v1beta/models/gemini-2.5-flash:generateContent", t);
    });
    test(`${name}: stream`, async () => {
      const t = await token(provider);
      expect(await collect(await model(t).stream("hi"))).toBe(streamed);
      const body = upstream(provider, path ?? "/v1beta/models/gemini-2.5-flash:streamGenerateContent", t);
      if (provider !== "gemini") expect(body.stream).toBe(true);
    });
  }
});

describe("Genkit with @genkit-ai/google-genai", () => {
  const ai = (apiKey) => genkit({ plugins: [googleAI({ apiKey, baseUrl: stack.url })] });
  test("generate", async () => {
    const t = await token("gemini");
    const { text } = await ai(t).generate({ model: googleAI.model("gemini-2.5-flash"), prompt: "hi" });
    expect(text).toBe("Hello from mock Gemini.");
    upstream("gemini", "/v1beta/models/gemini-2.5-flash:generateContent", t);
  });
  test("generateStream", async () => {
    const t = await token("gemini");
    const { stream, response } = ai(t).generateStream({ model: googleAI.model("gemini-2.5-flash"), prompt: "hi" });
    let text = "";
    for await (const chunk of stream) text += chunk.text;
    expect(text).toBe("Hello from mock Gemini.");
    expect((await response).text).toBe("Hello from mock Gemini.");
    upstream("gemini", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", t);
  });
});
