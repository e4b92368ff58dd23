// Server-sent events pass through as they are produced: the client can read the first event while
// the upstream is still holding back the rest. The mock holds after its first event until the test
// releases it, so buffering anywhere would leave the first read waiting (and the test failing).

import { afterAll, beforeAll, beforeEach, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";

let stack, token;
beforeAll(async () => {
  stack = await startStack();
  ({ token } = await stack.createToken({ label: "streaming" }));
});
afterAll(async () => { await stack?.dispose(); });
beforeEach(() => stack.mock.reset());

const STREAMS = [
  {
    provider: "openai",
    path: "/v1/chat/completions",
    headers: (t) => ({ authorization: `Bearer ${t}` }),
    body: { model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "hi" }] },
    first: '"role":"assistant"',
    rest: ["Hello", " mock OpenAI.", "data: [DONE]"],
  },
  {
    provider: "anthropic",
    path: "/v1/messages",
    headers: (t) => ({ "x-api-key": t, "anthropic-version": "2023-06-01" }),
    body: { model: "claude-sonnet-4-5", max_tokens: 10, stream: true, messages: [{ role: "user", content: "hi" }] },
    first: "event: message_start",
    rest: ["event: content_block_delta", " mock Anthropic.", "event: message_stop"],
  },
  {
    provider: "gemini",
    path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
    headers: (t) => ({ "x-goog-api-key": t }),
    body: { contents: [{ role: "user", parts: [{ text: "hi" }] }] },
    first: '"text":"Hello from"',
    rest: [" mock Gemini.", '"finishReason"'],
  },
  {
    provider: "gemini",
    path: "/v1beta/openai/chat/completions",
    headers: (t) => ({ authorization: `Bearer ${t}` }),
    body: { model: "gemini-2.5-flash", stream: true, messages: [{ role: "user", content: "hi" }] },
    first: '"role":"assistant"',
    rest: ["Hello", "data: [DONE]"],
  },
];

// Reads until the buffer holds one whole SSE event (it ends with a blank line). A proxy that
// buffered the response would never deliver it while the mock holds, so give up after a while with
// a message that says so, rather than at the test timeout.
async function readFirstEvent(reader, decoder) {
  let text = "";
  let timer;
  const stuck = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no whole first event while the upstream holds the rest; got ${JSON.stringify(text)}`)), 20_000);
  });
  try {
    while (!text.includes("\n\n")) {
      const { value, done } = await Promise.race([reader.read(), stuck]);
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    clearTimeout(timer);
  }
  return text;
}

async function readToEnd(reader, decoder) {
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text + decoder.decode();
    text += decoder.decode(value, { stream: true });
  }
}

// Real providers send account headers on most answers (OpenAI: set-cookie, openai-organization,
// openai-project); the proxy then rebuilds the response around the same body stream, a second path
// that must stream just the same.
const ACCOUNT_HEADERS = { "set-cookie": "__cf_bm=upstream; Path=/", "openai-organization": "org-operator", "openai-project": "proj_operator", "anthropic-organization-id": "0000-org" };
const CASES = STREAMS.flatMap((s, i) => [
  [`${s.provider} ${s.path}`, s, `plain-${i}`, {}],
  [`${s.provider} ${s.path}, with account headers to strip`, s, `stripped-${i}`, ACCOUNT_HEADERS],
]);

test.each(CASES)("%s: the first event arrives before the upstream sends the rest", async (name, s, holdId, extra) => {
  const res = await fetch(stack.url + s.path, {
    method: "POST",
    headers: { ...s.headers(token), "content-type": "application/json", "accept-encoding": "identity", "x-mock-hold": holdId, "x-mock-extra-headers": JSON.stringify(extra) },
    body: JSON.stringify(s.body),
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/event-stream");
  for (const h of Object.keys(ACCOUNT_HEADERS)) expect(res.headers.get(h), h).toBeNull();
  const reader = res.body.getReader();
  const decoder = new TextDecoder();

  const release = () => fetch(`${stack.mock.urls[s.provider]}/__mock/release/${holdId}`, { method: "POST" });
  let first;
  try {
    first = await readFirstEvent(reader, decoder);
  } catch (e) {
    await release();
    throw e;
  }
  expect(first).toContain(s.first);
  // Everything read so far is the first event: the upstream has not sent more yet.
  expect(first.trimEnd().split("\n\n")).toHaveLength(1);
  for (const later of s.rest) expect(first).not.toContain(later);

  await release();
  const rest = await readToEnd(reader, decoder);
  for (const later of s.rest) expect(rest).toContain(later);
  expect(stack.mock.requests(s.provider)).toHaveLength(1);
});

test("a long stream arrives whole and in order", async () => {
  const res = await fetch(stack.url + "/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "accept-encoding": "identity", "x-mock-chunks": "200" },
    body: JSON.stringify({ model: "gpt-4o-mini", stream: true, messages: [] }),
  });
  expect(res.status).toBe(200);
  const events = (await res.text()).trimEnd().split("\n\n").map((e) => JSON.parse(e.replace(/^data: /, "")).i);
  expect(events).toEqual(Array.from({ length: 200 }, (_, i) => i));
});
