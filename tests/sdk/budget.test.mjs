// A used-up budget as each real Node SDK reports it: a token budget that fits exactly two calls
// lets two through, and the third raises that SDK's usual quota error with our message (OpenAI's
// RateLimitError with code insufficient_quota, Anthropic's RateLimitError, @google/genai's ApiError
// 429 RESOURCE_EXHAUSTED). The SDKs run with their default retries: the refusal says
// `x-should-retry: false`, which openai and @anthropic-ai/sdk honour.
import Anthropic from "@anthropic-ai/sdk";
import { ApiError, GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { rejection } from "./upstream.mjs";

let stack;
beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.dispose(); });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const USED_UP = /^This api-proxy token's budget of \d+ tokens per month is used up\. It resets at \d{4}-\d\d-01T00:00:00Z \(UTC\)\.$/;

/** Runs `call` once with a probe token and reads what it cost in tokens from the ledger. */
async function tokensPerCall(providers, call) {
  const { id, token } = await stack.createToken({ providers, label: "probe" });
  await call(token);
  for (let i = 0; i < 100; i++) {
    const { body } = await stack.admin("GET", `/admin/api/tokens/${id}/usage`);
    if (body.totals.requests === 1) return body.totals.input_tokens + body.totals.output_tokens;
    await sleep(100);
  }
  throw new Error("the probe's usage never reached the ledger");
}

/** A token whose budget fits exactly two calls of `call`. */
async function twoCallToken(providers, call) {
  const per = await tokensPerCall(providers, call);
  return (await stack.createToken({ providers, budget_tokens: { tokens: 2 * per, per: "month" } })).token;
}

describe("openai", () => {
  const call = (token) => new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: token }).chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });

  test("the third call raises RateLimitError with code insufficient_quota and our message", async () => {
    const token = await twoCallToken(["openai"], call);
    await call(token);
    await call(token);
    const err = await rejection(call(token));
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.status).toBe(429);
    expect(err.code).toBe("insufficient_quota");
    expect(err.error.message).toMatch(USED_UP);
    expect(err.headers.get("x-api-proxy-budget-remaining-tokens")).toBe("0");
  });
});

describe("@anthropic-ai/sdk", () => {
  const call = (token) => new Anthropic({ baseURL: stack.url, apiKey: token }).messages.create({ model: "claude-haiku-4-5", max_tokens: 16, messages: [{ role: "user", content: "hi" }] });

  test("the third call raises RateLimitError with our message", async () => {
    const token = await twoCallToken(["anthropic"], call);
    await call(token);
    await call(token);
    const err = await rejection(call(token));
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    expect(err.error.error.type).toBe("rate_limit_error");
    expect(err.error.error.message).toMatch(USED_UP);
  });

  test("a streamed call settles its real usage too: the third stream is refused", async () => {
    const stream = async (token) => {
      const s = new Anthropic({ baseURL: stack.url, apiKey: token }).messages.stream({ model: "claude-haiku-4-5", max_tokens: 16, messages: [{ role: "user", content: "hi" }] });
      return s.finalMessage();
    };
    const token = await twoCallToken(["anthropic"], stream);
    await stream(token);
    await stream(token);
    const err = await rejection(stream(token));
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    expect(err.error.error.message).toMatch(USED_UP);
  });
});

describe("@google/genai", () => {
  const call = (token) => new GoogleGenAI({ apiKey: token, httpOptions: { baseUrl: stack.url } }).models.generateContent({ model: "gemini-2.5-flash", contents: "hi" });

  test("the third call raises ApiError 429 RESOURCE_EXHAUSTED with our message", async () => {
    const token = await twoCallToken(["gemini"], call);
    await call(token);
    await call(token);
    const err = await rejection(call(token));
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(429);
    const { error } = JSON.parse(err.message);
    expect(error).toMatchObject({ code: 429, status: "RESOURCE_EXHAUSTED" });
    expect(error.message).toMatch(USED_UP);
  });
});
