// Policy refusals as each real Node SDK reports them: a model the token may not use, and a rate
// limit reached, each raise that SDK's usual error class with our message. Retries are off where
// the SDK has them (openai, @anthropic-ai/sdk retry a 429 by default; @google/genai only when
// configured), so the second call is refused once and reported.
import Anthropic from "@anthropic-ai/sdk";
import { ApiError, GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { rejection } from "./upstream.mjs";

let stack;
beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.dispose(); });
beforeEach(() => stack.mock.reset());

const ONE_A_DAY = { requests: 1, per_seconds: 86400 };
const rateMessage = (retryAfter) => `This api-proxy token is limited to 1 request per day; try again in ${retryAfter} s.`;

describe("openai", () => {
  const client = (apiKey) => new OpenAI({ baseURL: `${stack.url}/v1`, apiKey, maxRetries: 0 });
  const chat = (model) => ({ model, messages: [{ role: "user", content: "hi" }] });

  test("a model the token may not use raises PermissionDeniedError (403) with our message", async () => {
    const { token } = await stack.createToken({ providers: ["openai"], allowed_models: ["gpt-4o-mini"] });
    const openai = client(token);
    expect((await openai.chat.completions.create(chat("gpt-4o-mini"))).model).toBe("gpt-4o-mini");
    const err = await rejection(openai.chat.completions.create(chat("gpt-4o")));
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(err.status).toBe(403);
    expect(err.error.message).toBe("Model gpt-4o is not allowed for this api-proxy token; it may use: gpt-4o-mini.");
    expect(stack.mock.requests("openai")).toHaveLength(1);
  });

  test("a reached rate limit raises RateLimitError (429) with our message and headers", async () => {
    const { token } = await stack.createToken({ providers: ["openai"], rate_limit: ONE_A_DAY });
    const openai = client(token);
    const { response } = await openai.chat.completions.create(chat("gpt-4o-mini")).withResponse();
    expect(response.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    const err = await rejection(openai.chat.completions.create(chat("gpt-4o-mini")));
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.status).toBe(429);
    const retryAfter = err.headers.get("retry-after");
    expect(Number(retryAfter)).toBeGreaterThan(0);
    expect(err.error.message).toBe(rateMessage(retryAfter));
    expect(err.headers.get("x-ratelimit-limit-requests")).toBe("1");
    expect(stack.mock.requests("openai")).toHaveLength(1);
  });
});

describe("@anthropic-ai/sdk", () => {
  const client = (apiKey) => new Anthropic({ baseURL: stack.url, apiKey, maxRetries: 0 });
  const message = (model) => ({ model, max_tokens: 16, messages: [{ role: "user", content: "hi" }] });

  test("a model the token may not use raises PermissionDeniedError (403) with our message", async () => {
    const { token } = await stack.createToken({ providers: ["anthropic"], allowed_models: ["claude-haiku-*"] });
    const anthropic = client(token);
    expect((await anthropic.messages.create(message("claude-haiku-4-5"))).model).toBe("claude-haiku-4-5");
    const err = await rejection(anthropic.messages.create(message("claude-opus-4-1")));
    expect(err).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect(err.status).toBe(403);
    expect(err.error).toEqual({
      type: "error",
      error: { type: "permission_error", message: "Model claude-opus-4-1 is not allowed for this api-proxy token; it may use: claude-haiku-*." },
    });
    expect(stack.mock.requests("anthropic")).toHaveLength(1);
  });

  test("a reached rate limit raises RateLimitError (429) with our message", async () => {
    const { token } = await stack.createToken({ providers: ["anthropic"], rate_limit: ONE_A_DAY });
    const anthropic = client(token);
    await anthropic.messages.create(message("claude-haiku-4-5"));
    const err = await rejection(anthropic.messages.create(message("claude-haiku-4-5")));
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    expect(err.status).toBe(429);
    const retryAfter = err.headers.get("retry-after");
    expect(err.error).toEqual({ type: "error", error: { type: "rate_limit_error", message: rateMessage(retryAfter) } });
    expect(stack.mock.requests("anthropic")).toHaveLength(1);
  });
});

describe("@google/genai", () => {
  const client = (apiKey) => new GoogleGenAI({ apiKey, httpOptions: { baseUrl: stack.url } });

  test("a model the token may not use raises ApiError 403 PERMISSION_DENIED with our message", async () => {
    const { token } = await stack.createToken({ providers: ["gemini"], allowed_models: ["gemini-2.5-flash"] });
    const ai = client(token);
    expect((await ai.models.generateContent({ model: "gemini-2.5-flash", contents: "hi" })).text).toBe("Hello from mock Gemini.");
    const err = await rejection(ai.models.generateContent({ model: "gemini-2.5-pro", contents: "hi" }));
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(403);
    expect(JSON.parse(err.message).error).toEqual({
      code: 403,
      message: "Model gemini-2.5-pro is not allowed for this api-proxy token; it may use: gemini-2.5-flash.",
      status: "PERMISSION_DENIED",
    });
    expect(stack.mock.requests("gemini")).toHaveLength(1);
  });

  test("a reached rate limit raises ApiError 429 RESOURCE_EXHAUSTED with our message", async () => {
    const { token } = await stack.createToken({ providers: ["gemini"], rate_limit: ONE_A_DAY });
    const ai = client(token);
    await ai.models.generateContent({ model: "gemini-2.5-flash", contents: "hi" });
    const err = await rejection(ai.models.generateContent({ model: "gemini-2.5-flash", contents: "hi" }));
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(429);
    const { error } = JSON.parse(err.message);
    expect(error).toMatchObject({ code: 429, status: "RESOURCE_EXHAUSTED" });
    expect(error.message).toMatch(/^This api-proxy token is limited to 1 request per day; try again in \d+ s\.$/);
    expect(stack.mock.requests("gemini")).toHaveLength(1);
  });
});
