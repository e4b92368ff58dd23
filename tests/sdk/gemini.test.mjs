// Gemini two ways, each configured as a user would: the real `@google/genai` Node SDK with
// httpOptions.baseUrl <proxy>, and the `openai` SDK with baseURL <proxy>/v1beta/openai; the token
// is the API key in both.
import { ApiError, GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { expectUpstream, rejection, revoke, REVOKED_MESSAGE } from "./upstream.mjs";

let stack;
beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.dispose(); });
beforeEach(() => stack.mock.reset());

const MODEL = "gemini-2.5-flash";
// @google/genai 3.x calls the Gemini API's v1 by default (not v1beta), with the key in
// x-goog-api-key: the proxy must recognise Gemini by that slot whatever the version segment.
const API_VERSION = "v1";
const genai = (apiKey) => new GoogleGenAI({ apiKey, httpOptions: { baseUrl: stack.url } });
const openai = (apiKey) => new OpenAI({ baseURL: `${stack.url}/v1beta/openai`, apiKey });

function expectGeminiUpstream(path, slot, token) {
  const [seen] = stack.mock.requests("gemini");
  const value = slot === "authorization" ? `Bearer ${stack.realKeys.gemini}` : stack.realKeys.gemini;
  expectUpstream(seen, { path, slot, value, token });
  return seen;
}

describe("native API through @google/genai", () => {
  test("generateContent: text and usageMetadata come back, the real key goes upstream", async () => {
    const { token } = await stack.createToken({ providers: ["gemini"] });
    const response = await genai(token).models.generateContent({ model: MODEL, contents: "hi" });
    expect(response.text).toBe("Hello from mock Gemini.");
    expect(response.usageMetadata).toMatchObject({ promptTokenCount: 4, candidatesTokenCount: 6, totalTokenCount: 10 });
    const seen = expectGeminiUpstream(`/${API_VERSION}/models/${MODEL}:generateContent`, "x-goog-api-key", token);
    expect(JSON.parse(seen.body.text).contents).toEqual([{ role: "user", parts: [{ text: "hi" }] }]);
  });

  test("generateContentStream: every chunk's text, usage on the last", async () => {
    const { token } = await stack.createToken({ providers: ["gemini"] });
    const stream = await genai(token).models.generateContentStream({ model: MODEL, contents: "hi" });
    let text = "";
    let usage = null;
    for await (const chunk of stream) {
      text += chunk.text ?? "";
      usage = chunk.usageMetadata ?? usage;
    }
    expect(text).toBe("Hello from mock Gemini.");
    expect(usage).toMatchObject({ promptTokenCount: 4, candidatesTokenCount: 6, totalTokenCount: 10 });
    const seen = expectGeminiUpstream(`/${API_VERSION}/models/${MODEL}:streamGenerateContent`, "x-goog-api-key", token);
    expect(seen.query).toBe("?alt=sse");
  });

  describe("a revoked token makes the SDK raise ApiError 401 with our message", () => {
    for (const how of ["disable", "delete"]) {
      test(how, async () => {
        const { id, token } = await stack.createToken({ providers: ["gemini"] });
        const ai = genai(token);
        await ai.models.generateContent({ model: MODEL, contents: "before" });
        await revoke(stack, id, how);
        stack.mock.reset();

        const err = await rejection(ai.models.generateContent({ model: MODEL, contents: "after" }));
        expect(err).toBeInstanceOf(ApiError);
        expect(err.status).toBe(401);
        // The SDK puts the whole error JSON in its message.
        expect(JSON.parse(err.message)).toEqual({ error: { code: 401, message: REVOKED_MESSAGE[how], status: "UNAUTHENTICATED" } });
        expect(stack.mock.requests()).toEqual([]);
      });
    }
  });

  test("a token without the gemini scope gets ApiError 403 PERMISSION_DENIED", async () => {
    const { token } = await stack.createToken({ providers: ["openai", "anthropic"] });
    const err = await rejection(genai(token).models.generateContent({ model: MODEL, contents: "hi" }));
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(403);
    expect(JSON.parse(err.message).error).toEqual({ code: 403, message: "This api-proxy token is not allowed to use Gemini.", status: "PERMISSION_DENIED" });
    expect(stack.mock.requests()).toEqual([]);
  });
});

describe("OpenAI-compatible API through the openai SDK", () => {
  const request = { model: MODEL, messages: [{ role: "user", content: "hi" }] };

  test("chat completion: reply and usage; the real Gemini key goes upstream as a Bearer", async () => {
    const { token } = await stack.createToken({ providers: ["gemini"] });
    const reply = await openai(token).chat.completions.create(request);
    expect(reply.choices[0].message.content).toBe("Hello from mock OpenAI. You said: hi");
    expect(reply.usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 7, total_tokens: 16 });
    expectGeminiUpstream("/v1beta/openai/chat/completions", "authorization", token);
    expect(stack.mock.requests("openai")).toEqual([]);
  });

  test("streamed chat completion with include_usage", async () => {
    const { token } = await stack.createToken({ providers: ["gemini"] });
    const stream = await openai(token).chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let usage = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe("Hello from mock OpenAI.");
    expect(usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 });
    expectGeminiUpstream("/v1beta/openai/chat/completions", "authorization", token);
  });

  test("a disabled token raises OpenAI's AuthenticationError with our message", async () => {
    const { id, token } = await stack.createToken({ providers: ["gemini"] });
    await revoke(stack, id, "disable");
    const err = await rejection(openai(token).chat.completions.create(request));
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(err.error.message).toBe(REVOKED_MESSAGE.disable);
    expect(stack.mock.requests()).toEqual([]);
  });

  test("a token scoped to openai only is refused for Gemini with PermissionDeniedError", async () => {
    const { token } = await stack.createToken({ providers: ["openai"] });
    const err = await rejection(openai(token).chat.completions.create(request));
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(err.error.message).toBe("This api-proxy token is not allowed to use Gemini.");
    expect(stack.mock.requests()).toEqual([]);
  });
});
