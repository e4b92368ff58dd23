// Usage metering through the real Worker in workerd: each provider's answers (JSON and streamed,
// with and without reported usage, cut, disconnected, with an error event) end up in the token's
// ledger with exactly the counters the mock reported, mapped as the provider reference defines
// them; the admin API, the overview and the consumer's own view read them back.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { send } from "./helpers.mjs";
import { MOCK_USAGE, POOL_KEYS } from "../support/mock-upstream.mjs";

let stack;
beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.dispose(); });
beforeEach(() => stack.mock.reset());

const today = () => new Date().toISOString().slice(0, 10);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function usage(id, query = "") {
  const r = await stack.admin("GET", `/admin/api/tokens/${id}/usage${query}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

/** Polls the token's ledger until it holds `requests` requests (the write is made after the answer ends). */
async function settled(id, requests, query = "") {
  for (let i = 0; i < 100; i++) {
    const body = await usage(id, query);
    if (body.totals.requests >= requests) return body;
    await sleep(100);
  }
  throw new Error(`the ledger of ${id} never reached ${requests} requests`);
}

const counters = (t) => ({
  input_tokens: t.input_tokens, cached_input_tokens: t.cached_input_tokens, cache_write_tokens: t.cache_write_tokens,
  output_tokens: t.output_tokens, reasoning_tokens: t.reasoning_tokens,
});

const OPENAI = (t) => ({ authorization: `Bearer ${t}`, "content-type": "application/json" });
const ANTHROPIC = (t) => ({ "x-api-key": t, "anthropic-version": "2023-06-01", "content-type": "application/json" });
const GEMINI = (t) => ({ "x-goog-api-key": t, "content-type": "application/json" });
const chat = (extra = {}) => JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], ...extra });
const claude = (extra = {}) => JSON.stringify({ model: "claude-sonnet-4-5", max_tokens: 10, messages: [{ role: "user", content: "hi" }], ...extra });
const contents = JSON.stringify({ contents: [{ role: "user", parts: [{ text: "hi" }] }] });

// Each case: the request, and the ledger's counters the mock's reported usage must give.
const CASES = [
  {
    name: "OpenAI chat, JSON",
    req: (t) => ["/v1/chat/completions", { method: "POST", headers: OPENAI(t), body: chat() }],
    // prompt 9 (4 cached), completion 7 (2 reasoning)
    want: { input_tokens: 9, cached_input_tokens: 4, cache_write_tokens: 0, output_tokens: 7, reasoning_tokens: 2 },
    model: "gpt-4o-mini",
    // 5 plain input at 0.15, 4 cached at 0.075, 7 output at 0.6 USD per million tokens
    cost: (5 * 0.15 + 4 * 0.075 + 7 * 0.6) / 1e6,
  },
  {
    name: "OpenAI chat, streamed with include_usage",
    req: (t) => ["/v1/chat/completions", { method: "POST", headers: OPENAI(t), body: chat({ stream: true, stream_options: { include_usage: true } }) }],
    want: { input_tokens: 9, cached_input_tokens: 4, cache_write_tokens: 0, output_tokens: 4, reasoning_tokens: 0 },
    model: "gpt-4o-mini",
  },
  {
    name: "OpenAI chat, streamed without include_usage (the proxy asks for it)",
    req: (t) => ["/v1/chat/completions", { method: "POST", headers: OPENAI(t), body: chat({ stream: true }) }],
    want: { input_tokens: 9, cached_input_tokens: 4, cache_write_tokens: 0, output_tokens: 4, reasoning_tokens: 0 },
    model: "gpt-4o-mini",
  },
  {
    name: "Gemini through the OpenAI-compatible endpoint, streamed",
    req: (t) => ["/v1beta/openai/chat/completions", { method: "POST", headers: OPENAI(t), body: chat({ model: "gemini-2.5-flash", stream: true }) }],
    want: { input_tokens: 9, cached_input_tokens: 4, cache_write_tokens: 0, output_tokens: 4, reasoning_tokens: 0 },
    model: "gemini-2.5-flash",
    provider: "gemini",
  },
  {
    name: "OpenAI Responses, JSON",
    req: (t) => ["/v1/responses", { method: "POST", headers: OPENAI(t), body: JSON.stringify({ model: "gpt-5", input: "hi" }) }],
    want: { input_tokens: 5, cached_input_tokens: 1, cache_write_tokens: 0, output_tokens: 6, reasoning_tokens: 2 },
    model: "gpt-5",
  },
  {
    name: "OpenAI Responses, streamed",
    req: (t) => ["/v1/responses", { method: "POST", headers: OPENAI(t), body: JSON.stringify({ model: "gpt-5", input: "hi", stream: true }) }],
    want: { input_tokens: 5, cached_input_tokens: 1, cache_write_tokens: 0, output_tokens: 6, reasoning_tokens: 2 },
    model: "gpt-5",
  },
  {
    name: "OpenAI embeddings",
    req: (t) => ["/v1/embeddings", { method: "POST", headers: OPENAI(t), body: JSON.stringify({ model: "text-embedding-3-small", input: "hi" }) }],
    want: { input_tokens: 3, cached_input_tokens: 0, cache_write_tokens: 0, output_tokens: 0, reasoning_tokens: 0 },
    model: "text-embedding-3-small",
  },
  {
    name: "Anthropic messages, JSON (cache read and write counted once each)",
    req: (t) => ["/v1/messages", { method: "POST", headers: ANTHROPIC(t), body: claude() }],
    // input 12 + cache read 100 + cache write 50
    want: { input_tokens: 162, cached_input_tokens: 100, cache_write_tokens: 50, output_tokens: 8, reasoning_tokens: 0 },
    model: "claude-sonnet-4-5",
    // 12 plain at 3, 100 read at 0.3, 50 written at 3.75, 8 output at 15
    cost: (12 * 3 + 100 * 0.3 + 50 * 3.75 + 8 * 15) / 1e6,
  },
  {
    name: "Anthropic messages, streamed (cumulative message_delta replaces)",
    req: (t) => ["/v1/messages", { method: "POST", headers: ANTHROPIC(t), body: claude({ stream: true }) }],
    want: { input_tokens: 162, cached_input_tokens: 100, cache_write_tokens: 50, output_tokens: 8, reasoning_tokens: 0 },
    model: "claude-sonnet-4-5",
  },
  {
    name: "Gemini generateContent, JSON, thinking counted as output",
    req: (t) => ["/v1beta/models/gemini-2.5-flash:generateContent", { method: "POST", headers: { ...GEMINI(t), "x-mock-thoughts": "10" }, body: contents }],
    want: { input_tokens: 4, cached_input_tokens: 2, cache_write_tokens: 0, output_tokens: 16, reasoning_tokens: 10 },
    model: "gemini-2.5-flash",
  },
  {
    name: "Gemini streamGenerateContent (running usage, a chunk without it)",
    req: (t) => ["/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", { method: "POST", headers: { ...GEMINI(t), "x-mock-thoughts": "10" }, body: contents }],
    want: { input_tokens: 4, cached_input_tokens: 2, cache_write_tokens: 0, output_tokens: 16, reasoning_tokens: 10 },
    model: "gemini-2.5-flash",
  },
];

describe("each provider's reported usage reaches the ledger exactly", () => {
  for (const c of CASES) {
    test(c.name, async () => {
      const { id, token } = await stack.createToken({ label: c.name.slice(0, 40) });
      const [path, init] = c.req(token);
      const res = await send(stack, path, init);
      expect(res.status, res.text).toBe(200);
      const body = await settled(id, 1);
      expect(counters(body.totals)).toEqual(c.want);
      expect(body.totals).toMatchObject({ requests: 1, estimated_requests: 0, partial_requests: 0, unpriced_requests: 0 });
      expect(body.rows).toHaveLength(1);
      expect(body.rows[0]).toMatchObject({ period: today(), provider: c.provider ?? (path.startsWith("/v1beta") ? "gemini" : init.headers["x-api-key"] ? "anthropic" : "openai"), model: c.model });
      if (c.cost !== undefined) expect(body.totals.cost_usd).toBeCloseTo(c.cost, 15);
      else expect(body.totals.cost_usd).toBeGreaterThan(0);
    });
  }
});

test("the include_usage rewrite: upstream is asked for usage, the client sees no usage chunk", async () => {
  const { token } = await stack.createToken();
  const res = await send(stack, "/v1/chat/completions", { method: "POST", headers: OPENAI(token), body: chat({ stream: true }) });
  const [sent] = stack.mock.requests("openai");
  expect(JSON.parse(sent.body.text).stream_options).toEqual({ include_usage: true });
  expect(JSON.parse(sent.body.text).messages).toEqual([{ role: "user", content: "hi" }]);
  const events = res.text.split("\n\n").filter(Boolean);
  expect(events.at(-1)).toBe("data: [DONE]");
  for (const e of events.slice(0, -1)) {
    const chunk = JSON.parse(e.replace(/^data: /, ""));
    // What a client loop doing chunk.choices[0] needs.
    expect(chunk.choices.length, e).toBeGreaterThan(0);
    expect(chunk.usage, e).toBeUndefined();
  }
  expect(res.text).not.toContain('"choices":[]');
  // A client that asked for usage gets its chunk.
  const asked = await send(stack, "/v1/chat/completions", { method: "POST", headers: OPENAI(token), body: chat({ stream: true, stream_options: { include_usage: true } }) });
  expect(asked.text).toContain('"choices":[],"usage":{"prompt_tokens":9');
  // A client that said include_usage: false is treated as one that did not ask.
  const no = await send(stack, "/v1/chat/completions", { method: "POST", headers: OPENAI(token), body: chat({ stream: true, stream_options: { include_usage: false } }) });
  expect(no.text).not.toContain('"choices":[]');
  expect(JSON.parse(stack.mock.requests("openai")[2].body.text).stream_options).toEqual({ include_usage: true });
});

test("a request not streamed is forwarded byte for byte, never rewritten", async () => {
  const { token } = await stack.createToken();
  const body = '{"model":"gpt-4o-mini",  "messages":[{"role":"user","content":"hi"}]}';
  await send(stack, "/v1/chat/completions", { method: "POST", headers: OPENAI(token), body });
  expect(stack.mock.requests("openai")[0].body.text).toBe(body);
});

describe("answers without usage are estimated, never a silent 0", () => {
  const cases = [
    ["OpenAI chat JSON", (t) => ["/v1/chat/completions", { method: "POST", headers: { ...OPENAI(t), "x-mock-usage": "none" }, body: chat() }]],
    ["OpenAI chat stream", (t) => ["/v1/chat/completions", { method: "POST", headers: { ...OPENAI(t), "x-mock-usage": "none" }, body: chat({ stream: true }) }]],
    ["Anthropic stream", (t) => ["/v1/messages", { method: "POST", headers: { ...ANTHROPIC(t), "x-mock-usage": "none" }, body: claude({ stream: true }) }]],
    ["Gemini stream", (t) => ["/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", { method: "POST", headers: { ...GEMINI(t), "x-mock-usage": "none" }, body: contents }]],
    ["Gemini embedContent (reports nothing)", (t) => ["/v1beta/models/text-embedding-004:embedContent", { method: "POST", headers: GEMINI(t), body: JSON.stringify({ content: { parts: [{ text: "hello there" }] } }) }]],
  ];
  for (const [name, req] of cases) {
    test(name, async () => {
      const { id, token } = await stack.createToken();
      const [path, init] = req(token);
      expect((await send(stack, path, init)).status).toBe(200);
      const { totals } = await settled(id, 1);
      expect(totals).toMatchObject({ requests: 1, estimated_requests: 1, partial_requests: 0 });
      // About 4 bytes a token of the request's declared length.
      expect(totals.input_tokens).toBe(Math.ceil(Buffer.byteLength(init.body) / 4));
      if (!name.includes("embed")) expect(totals.output_tokens).toBeGreaterThan(0);
    });
  }
});

test("an Anthropic error event after a 200 is kept under 5xx with what was seen", async () => {
  const { id, token } = await stack.createToken();
  const res = await send(stack, "/v1/messages", { method: "POST", headers: { ...ANTHROPIC(token), "x-mock-error-event": "1" }, body: claude({ stream: true }) });
  expect(res.status).toBe(200);
  expect(res.text).toContain("event: error");
  const { totals } = await settled(id, 1);
  // Input and cache fields from message_start; the output estimated from the two deltas.
  expect(counters(totals)).toEqual({ input_tokens: 162, cached_input_tokens: 100, cache_write_tokens: 50, output_tokens: 2, reasoning_tokens: 0 });
  expect(totals).toMatchObject({ estimated_requests: 1, partial_requests: 0 });
});

test("a stream the upstream cuts short is recorded partial, with what it had said", async () => {
  const { id, token } = await stack.createToken();
  // message_start, content_block_start, ping, then the connection breaks.
  await send(stack, "/v1/messages", { method: "POST", headers: { ...ANTHROPIC(token), "x-mock-cut-after": "3" }, body: claude({ stream: true }) }).catch(() => null);
  const { totals } = await settled(id, 1);
  expect(totals).toMatchObject({ requests: 1, partial_requests: 1, input_tokens: 162, cached_input_tokens: 100, cache_write_tokens: 50 });
});

test("a client that disconnects mid-stream is recorded partial", async () => {
  const { id, token } = await stack.createToken();
  const controller = new AbortController();
  const res = await fetch(stack.url + "/v1/messages", {
    method: "POST",
    headers: { ...ANTHROPIC(token), "x-mock-hold": "gone" },
    body: claude({ stream: true }),
    signal: controller.signal,
  });
  const reader = res.body.getReader();
  const { value } = await reader.read();
  expect(new TextDecoder().decode(value)).toContain("message_start");
  controller.abort();
  await sleep(200);
  stack.mock.release("anthropic", "gone");
  const { totals } = await settled(id, 1);
  expect(totals).toMatchObject({ requests: 1, partial_requests: 1, input_tokens: 162 });
});

test("50 concurrent requests on one token add up exactly, and never show under another token", async () => {
  const a = await stack.createToken({ label: "busy" });
  const b = await stack.createToken({ label: "idle" });
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) =>
    send(stack, "/v1/chat/completions", { method: "POST", headers: OPENAI(a.token), body: chat(i % 2 ? { stream: true } : {}) })));
  expect(results.every((r) => r.status === 200)).toBe(true);
  const { totals } = await settled(a.id, 50);
  // 25 JSON (9 in, 7 out, 2 reasoning) + 25 streamed (9 in, 4 out).
  expect(totals).toMatchObject({ requests: 50, input_tokens: 450, cached_input_tokens: 200, output_tokens: 25 * 7 + 25 * 4, reasoning_tokens: 50, estimated_requests: 0 });
  await sleep(300);
  expect((await usage(a.id)).totals.requests).toBe(50);
  expect((await usage(b.id)).totals.requests).toBe(0);
  const own = await send(stack, "/_proxy/usage", { headers: { authorization: `Bearer ${b.token}` } });
  expect(own.status).toBe(200);
  expect(own.json.today.totals.requests).toBe(0);
  const busy = await send(stack, "/_proxy/usage", { headers: { "x-api-key": a.token } });
  expect(busy.json.today.totals).toMatchObject({ requests: 50, input_tokens: 450 });
  expect(busy.json.month.totals.requests).toBe(50);
});

test("the overview has every token's totals from one roll-up, equal to their ledgers", async () => {
  const a = await stack.createToken({ label: "overview-a" });
  const b = await stack.createToken({ label: "overview-b" });
  await send(stack, "/v1/messages", { method: "POST", headers: ANTHROPIC(a.token), body: claude() });
  await send(stack, "/v1/chat/completions", { method: "POST", headers: OPENAI(b.token), body: chat() });
  await send(stack, "/v1/chat/completions", { method: "POST", headers: OPENAI(b.token), body: chat() });
  const ledgerA = await settled(a.id, 1);
  const ledgerB = await settled(b.id, 2);
  let rows;
  for (let i = 0; i < 50; i++) {
    const r = await stack.admin("GET", "/admin/api/usage");
    expect(r.status).toBe(200);
    rows = Object.fromEntries(r.body.rows.map((row) => [row.token_id, row]));
    if (rows[a.id]?.requests === 1 && rows[b.id]?.requests === 2) break;
    await sleep(200);
  }
  expect(rows[a.id]).toMatchObject({ label: "overview-a", ...ledgerA.totals });
  expect(rows[b.id]).toMatchObject({ label: "overview-b", ...ledgerB.totals });
});

test("bad dates and ranges get a 400 naming the parameter; CSV has a header", async () => {
  const { id, token } = await stack.createToken();
  for (const [query, field] of [["?from=2026-02-30", "from"], ["?to=tomorrow", "to"], ["?from=2026-12-02&to=2026-12-01", "from"], ["?by=week", "by"], ["?format=xml", "format"]]) {
    const r = await stack.admin("GET", `/admin/api/tokens/${id}/usage${query}`);
    expect(r.status, query).toBe(400);
    expect(r.body.error.field, query).toBe(field);
    expect(r.body.error.message).toContain(field);
  }
  expect((await stack.admin("GET", "/admin/api/usage?from=nope")).body.error.field).toBe("from");
  await send(stack, "/v1/chat/completions", { method: "POST", headers: OPENAI(token), body: chat() });
  await settled(id, 1);
  const res = await fetch(`${stack.url}/admin/api/tokens/${id}/usage?format=csv&by=model`, { headers: { authorization: `Bearer ${stack.adminSecret}` } });
  expect(res.headers.get("content-type")).toContain("text/csv");
  const lines = (await res.text()).trim().split("\n");
  expect(lines[0]).toBe("period,provider,model,requests,input_tokens,cached_input_tokens,cache_write_tokens,output_tokens,reasoning_tokens,cost_usd,unpriced_requests,estimated_requests,partial_requests");
  expect(lines[1]).toMatch(/^\d{4}-\d\d-\d\d\/\d{4}-\d\d-\d\d,openai,gpt-4o-mini,1,9,4,0,7,2,[0-9.e-]+,0,0,0$/);
  const hourly = await usage(id, "?by=hour");
  expect(hourly.rows[0].period).toMatch(/^\d{4}-\d\d-\d\dT\d\d:00Z$/);
  // Without the admin secret: nothing.
  expect((await fetch(`${stack.url}/admin/api/tokens/${id}/usage`)).status).toBe(401);
});

test("a model without a price counts its tokens with cost null; an operator price applies", async () => {
  const { id, token } = await stack.createToken();
  await send(stack, "/v1/chat/completions", { method: "POST", headers: OPENAI(token), body: chat({ model: "my-finetune-x" }) });
  let body = await settled(id, 1);
  expect(body.totals).toMatchObject({ unpriced_requests: 1, input_tokens: 9, cost_usd: 0 });
  expect(body.rows[0].cost_usd).toBeNull();
  expect((await stack.admin("GET", "/admin/api/prices/my-finetune-x")).status).toBe(404);
  const bad = await stack.admin("PUT", "/admin/api/prices/my-finetune-x", { input: -1, output: 2 });
  expect(bad.status).toBe(400);
  const put = await stack.admin("PUT", "/admin/api/prices/my-finetune-x", { input: 1000, output: 2000 });
  expect(put.status).toBe(200);
  expect((await stack.admin("GET", "/admin/api/prices/my-finetune-x")).body).toMatchObject({ source: "override", price: { input: 1000, output: 2000 } });
  expect((await stack.admin("GET", "/admin/api/prices")).body.overrides["my-finetune-x"]).toEqual({ input: 1000, output: 2000 });
  // The Worker re-reads overrides within 30 s; this isolate forgot its copy when the admin wrote.
  await send(stack, "/v1/chat/completions", { method: "POST", headers: OPENAI(token), body: chat({ model: "my-finetune-x" }) });
  body = await settled(id, 2);
  expect(body.totals.unpriced_requests).toBe(1);
  expect(body.totals.cost_usd).toBeCloseTo((9 * 1000 + 7 * 2000) / 1e6, 12);
  expect((await stack.admin("DELETE", "/admin/api/prices/my-finetune-x")).status).toBe(200);
  expect((await stack.admin("GET", "/admin/api/prices/my-finetune-x")).status).toBe(404);
});

describe("OpenRouter's reported usage.cost is the cost; no other upstream's is", () => {
  // An OpenRouter model name has no row in the price table: without the reported cost it would be unpriced.
  const body = (extra = {}) => chat({ model: "some-lab/unlisted-model-7b", ...extra });
  for (const stream of [false, true]) {
    test(stream ? "streamed" : "JSON", async () => {
      const { id, token } = await stack.createToken({ providers: ["openrouter"] });
      const res = await send(stack, "/openrouter/api/v1/chat/completions", { method: "POST", headers: OPENAI(token), body: body(stream ? { stream: true } : {}) });
      expect(res.status, res.text).toBe(200);
      const got = await settled(id, 1);
      expect(got.rows[0]).toMatchObject({ provider: "openrouter", model: "some-lab/unlisted-model-7b" });
      expect(got.totals).toMatchObject({ requests: 1, unpriced_requests: 0, estimated_requests: 0 });
      expect(got.totals.cost_usd).toBeCloseTo(MOCK_USAGE.openrouterCost, 15);
    });
  }

  test("an OpenAI answer carrying a cost field is priced from the table", async () => {
    const { id, token } = await stack.createToken();
    await send(stack, "/v1/chat/completions", { method: "POST", headers: { ...OPENAI(token), "x-mock-cost": "42" }, body: chat() });
    const got = await settled(id, 1);
    expect(got.totals.cost_usd).toBeCloseTo((5 * 0.15 + 4 * 0.075 + 7 * 0.6) / 1e6, 15);
    // And an unpriced model stays unpriced, whatever the upstream says it cost.
    await send(stack, "/v1/chat/completions", { method: "POST", headers: { ...OPENAI(token), "x-mock-cost": "42" }, body: chat({ model: "my-finetune-y", stream: true }) });
    const both = await settled(id, 2);
    expect(both.totals.unpriced_requests).toBe(1);
    expect(both.totals.cost_usd).toBeCloseTo((5 * 0.15 + 4 * 0.075 + 7 * 0.6) / 1e6, 15);
  });
});

test("deleting a token deletes its usage", async () => {
  const { id, token } = await stack.createToken({ label: "short-lived" });
  await send(stack, "/v1/chat/completions", { method: "POST", headers: OPENAI(token), body: chat() });
  await settled(id, 1);
  expect((await stack.admin("DELETE", `/admin/api/tokens/${id}`)).status).toBe(200);
  expect((await stack.admin("GET", `/admin/api/tokens/${id}/usage`)).status).toBe(404);
  const overview = await stack.admin("GET", "/admin/api/usage");
  expect(overview.body.rows.map((r) => r.token_id)).not.toContain(id);
});

test("a token deleted and made again (the same custom token, so the same ledger) records usage again", async () => {
  // The ledger object makes its tables once per instance; deleting a token's usage drops them.
  const custom = { label: "again", providers: ["openai"], token: "custom-ledger-token-0123456789" };
  const first = await stack.createToken(custom);
  await send(stack, "/v1/chat/completions", { method: "POST", headers: OPENAI(first.token), body: chat() });
  await settled(first.id, 1);
  expect((await stack.admin("DELETE", `/admin/api/tokens/${first.id}`)).status).toBe(200);
  const again = await stack.createToken(custom);
  expect(again.id).toBe(first.id);
  await send(stack, "/v1/chat/completions", { method: "POST", headers: OPENAI(again.token), body: chat() });
  await send(stack, "/v1/chat/completions", { method: "POST", headers: OPENAI(again.token), body: chat() });
  const body = await settled(again.id, 2);
  expect(body.totals.requests).toBe(2);
});

test("/_proxy/usage refuses unknown tokens in the provider's shape and shows the token's limits", async () => {
  const bad = await send(stack, "/_proxy/usage", { headers: { "x-api-key": "apx_not-a-real-token" } });
  expect(bad.status).toBe(401);
  expect(bad.json.type).toBe("error");
  const none = await send(stack, "/_proxy/usage");
  expect(none.status).toBe(401);
  const { token } = await stack.createToken({ rate_limit: { requests: 100, per_seconds: 3600 }, providers: ["openai"] });
  const own = await send(stack, "/_proxy/usage", { headers: { authorization: `Bearer ${token}` } });
  expect(own.status).toBe(200);
  expect(own.json.limits).toMatchObject({ rate_limit: { requests: 100, per_seconds: 3600 }, providers: ["openai"] });
  expect(own.json.month.from).toBe(today().slice(0, 8) + "01");
  expect(own.text).not.toContain(token);
});

test("a model-scoped token's stream is checked by the policy and still asked for usage", async () => {
  const { id, token } = await stack.createToken({ allowed_models: ["gpt-4o-mini"] });
  const res = await send(stack, "/v1/chat/completions", { method: "POST", headers: OPENAI(token), body: chat({ stream: true }) });
  expect(res.status).toBe(200);
  expect(res.text).not.toContain('"choices":[]');
  expect(JSON.parse(stack.mock.requests("openai")[0].body.text).stream_options).toEqual({ include_usage: true });
  expect((await settled(id, 1)).totals).toMatchObject({ input_tokens: 9, output_tokens: 4, estimated_requests: 0 });
  const refused = await send(stack, "/v1/chat/completions", { method: "POST", headers: OPENAI(token), body: chat({ model: "gpt-4o", stream: true }) });
  expect(refused.status).toBe(403);
});

// Metering on top of the provider table, key pools and the model gate (merged from main).
describe("with key pools and the other providers", () => {
  let pooled;
  const [A, B, C] = POOL_KEYS;
  beforeAll(async () => {
    pooled = await startStack({ bindings: { GROQ_API_KEY: `${A},${B};weight=0,${C};weight=0`, REGION_RETRY: "off" } });
  });
  afterAll(async () => { await pooled?.dispose(); });
  beforeEach(() => pooled.mock.reset());

  async function settledOn(s, id, requests) {
    for (let i = 0; i < 100; i++) {
      const r = await s.admin("GET", `/admin/api/tokens/${id}/usage`);
      if (r.body.totals?.requests >= requests) return r.body;
      await sleep(100);
    }
    throw new Error(`the ledger of ${id} never reached ${requests} requests`);
  }

  test("failover: only the answer the client got is metered, under the table's provider name", async () => {
    const { id, token } = await pooled.createToken({ providers: ["groq"] });
    const res = await send(pooled, "/groq/openai/v1/chat/completions", {
      method: "POST", headers: { ...OPENAI(token), "x-mock-key-status": JSON.stringify({ [A]: 429, [B]: 503 }) }, body: chat(),
    });
    expect(res.status, res.text).toBe(200);
    expect(pooled.mock.requests("groq")).toHaveLength(3);
    const body = await settledOn(pooled, id, 1);
    await sleep(300);
    const again = (await pooled.admin("GET", `/admin/api/tokens/${id}/usage`)).body;
    expect(again.totals.requests).toBe(1);
    expect(counters(body.totals)).toEqual({ input_tokens: 9, cached_input_tokens: 4, cache_write_tokens: 0, output_tokens: 7, reasoning_tokens: 2 });
    expect(body.rows[0]).toMatchObject({ provider: "groq", model: "gpt-4o-mini" });
  });

  test("an OpenAI-compatible stream is asked for its usage too, and the client sees no usage chunk", async () => {
    const { id, token } = await pooled.createToken({ providers: ["groq"] });
    const res = await send(pooled, "/groq/openai/v1/chat/completions", { method: "POST", headers: OPENAI(token), body: chat({ stream: true }) });
    expect(res.status, res.text).toBe(200);
    expect(JSON.parse(pooled.mock.requests("groq")[0].body.text).stream_options).toEqual({ include_usage: true });
    expect(res.text).not.toContain('"choices":[]');
    const body = await settledOn(pooled, id, 1);
    expect(body.totals).toMatchObject({ requests: 1, estimated_requests: 0 });
    expect(counters(body.totals)).toEqual({ input_tokens: 9, cached_input_tokens: 4, cache_write_tokens: 0, output_tokens: 4, reasoning_tokens: 0 });
    expect(body.rows[0].provider).toBe("groq");
  });

  test("a model-scoped token: a short body the model gate read whole is rewritten; a long one streams on unrewritten and is estimated", async () => {
    const { id, token } = await pooled.createToken({ allowed_models: ["gpt-4o-mini"] });
    const short = await send(pooled, "/v1/chat/completions", { method: "POST", headers: OPENAI(token), body: chat({ stream: true }) });
    expect(short.status, short.text).toBe(200);
    expect(short.text).not.toContain('"choices":[]');
    expect(JSON.parse(pooled.mock.requests("openai")[0].body.text).stream_options).toEqual({ include_usage: true });
    const first = await settledOn(pooled, id, 1);
    expect(first.totals).toMatchObject({ requests: 1, estimated_requests: 0, output_tokens: 4 });

    // Past the model gate's 256 KiB pre-read the body is checked while it streams: forwarded as sent.
    const long = chat({ stream: true, padding: "x".repeat(300 * 1024) });
    const res = await send(pooled, "/v1/chat/completions", { method: "POST", headers: OPENAI(token), body: long });
    expect(res.status, res.text).toBe(200);
    const sent = pooled.mock.requests("openai")[1];
    expect(sent.body.length).toBe(Buffer.byteLength(long));
    expect(JSON.parse(sent.body.text).stream_options).toBeUndefined();
    const both = await settledOn(pooled, id, 2);
    expect(both.totals).toMatchObject({ requests: 2, estimated_requests: 1 });
  });
});
