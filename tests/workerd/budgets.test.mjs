// Per-token budgets through the built Worker in workerd: a budget that fits N requests lets N
// through and refuses the next in each provider's quota shape; concurrent requests cannot overshoot
// it; a model without a price is refused under a dollar budget; the period rolls over; and a
// disabled or deleted token with limits in its Ledger object is refused at once, where one without
// them runs until its cached record expires. Each request's real usage is whatever the mock
// reports, read back from the ledger by a probe token, so nothing here restates the mock's numbers.

import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { providerRequest, send, sleep } from "./policy-support.mjs";

const PROVIDERS = ["openai", "anthropic", "gemini"];
const QUOTA = {
  openai: (json) => expect(json.error).toMatchObject({ type: "insufficient_quota", code: "insufficient_quota" }),
  anthropic: (json) => expect(json).toMatchObject({ type: "error", error: { type: "rate_limit_error" } }),
  gemini: (json) => expect(json.error).toMatchObject({ code: 429, status: "RESOURCE_EXHAUSTED" }),
};

async function totals(stack, id) {
  const r = await stack.admin("GET", `/admin/api/tokens/${id}/usage`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.totals;
}

/** Waits until the token's ledger holds `requests` requests (written after each answer ends). */
async function settled(stack, id, requests) {
  for (let i = 0; i < 150; i++) {
    const t = await totals(stack, id);
    if (t.requests >= requests) return t;
    await sleep(100);
  }
  throw new Error(`the ledger of ${id} never reached ${requests} requests`);
}

/** What one request of `provider` really costs, in tokens and dollars, as the ledger records it. */
async function probe(stack, provider) {
  const { id, token } = await stack.createToken({ label: `probe-${provider}` });
  expect((await send(stack, provider, token)).status).toBe(200);
  const t = await settled(stack, id, 1);
  return { tokens: t.input_tokens + t.output_tokens, usd: t.cost_usd };
}

describe("budgets", () => {
  let stack;
  const cost = {};
  beforeAll(async () => {
    stack = await startStack();
    for (const p of PROVIDERS) cost[p] = await probe(stack, p);
  });
  afterAll(async () => { await stack?.dispose(); });

  test.each(PROVIDERS)("%s: a token budget that fits exactly 3 requests lets 3 through and refuses the 4th in the quota shape", async (provider) => {
    const budget = 3 * cost[provider].tokens;
    const { id, token } = await stack.createToken({ label: "three", budget_tokens: { tokens: budget, per: "day" } });
    const left = [];
    for (let i = 0; i < 3; i++) {
      const { res, status, text } = await send(stack, provider, token);
      expect(status, text).toBe(200);
      left.push(Number(res.headers.get("x-api-proxy-budget-remaining-tokens")));
    }
    // Each answer says what is left once its own worst case is held.
    expect(left[0]).toBeLessThan(budget);
    stack.mock.reset();
    const { res, status, json } = await send(stack, provider, token);
    expect(status).toBe(429);
    QUOTA[provider](json);
    expect(json.error.message).toMatch(new RegExp(`budget of ${budget} tokens per day is used up\\. It resets at \\d{4}-\\d\\d-\\d\\dT00:00:00Z \\(UTC\\)`));
    expect(res.headers.get("x-api-proxy-budget-remaining-tokens")).toBe("0");
    expect(res.headers.get("x-should-retry")).toBe("false");
    expect(stack.mock.requests()).toEqual([]);
    const t = await settled(stack, id, 3);
    expect(t.input_tokens + t.output_tokens).toBe(budget);
  });

  test("a dollar budget that fits exactly 3 OpenAI requests lets 3 through and refuses the 4th", async () => {
    const usd = 3 * cost.openai.usd;
    expect(usd).toBeGreaterThan(0);
    const { id, token } = await stack.createToken({ label: "dollars", budget_usd: { usd, per: "month" } });
    for (let i = 0; i < 3; i++) expect((await send(stack, "openai", token)).status).toBe(200);
    const { status, json } = await send(stack, "openai", token);
    expect(status).toBe(429);
    expect(json.error.code).toBe("insufficient_quota");
    expect(json.error.message).toMatch(/budget of \$[\d.e-]+ per month is used up\. It resets at \d{4}-\d\d-01T00:00:00Z/);
    const t = await settled(stack, id, 3);
    expect(t.cost_usd).toBeCloseTo(usd, 12);
  });

  test("50 concurrent requests against a budget that fits 5: exactly 5 succeed and the spend is the budget", async () => {
    const budget = 5 * cost.openai.tokens;
    const { id, token } = await stack.createToken({ label: "burst", budget_tokens: { tokens: budget, per: "total" } });
    const answers = await Promise.all(Array.from({ length: 50 }, () => send(stack, "openai", token)));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(45);
    const t = await settled(stack, id, 5);
    expect(t.requests).toBe(5);
    expect(t.input_tokens + t.output_tokens).toBe(budget);
  });

  test("50 concurrent requests against a budget of 5.5 requests: the overshoot is at most one request's cost", async () => {
    const budget = Math.floor(5.5 * cost.openai.tokens);
    const { id, token } = await stack.createToken({ label: "burst-half", budget_tokens: { tokens: budget, per: "total" } });
    const answers = await Promise.all(Array.from({ length: 50 }, () => send(stack, "openai", token)));
    const ok = answers.filter((a) => a.status === 200).length;
    // The 6th is admitted on the half request that is left, and costs a whole one.
    expect(ok).toBe(6);
    const t = await settled(stack, id, ok);
    const spent = t.input_tokens + t.output_tokens;
    expect(spent).toBeGreaterThan(budget);
    expect(spent - budget).toBeLessThan(cost.openai.tokens);
    console.log(`budget overshoot under 50 concurrent requests: budget ${budget} tokens, spent ${spent} (+${spent - budget}, ${(100 * (spent - budget) / budget).toFixed(1)} %)`);
  });

  test("a request cut off by the upstream releases its reservation: the budget is whole again", async () => {
    const budget = cost.openai.tokens;
    const { token } = await stack.createToken({ label: "released", budget_tokens: { tokens: budget, per: "day" } });
    // A 500 from the upstream reports no usage: the reservation comes back.
    const failed = await send(stack, "openai", token, { headers: { "x-mock-status": "500" } });
    expect(failed.status).toBe(500);
    let status;
    for (let i = 0; i < 50 && status !== 200; i++) {
      ({ status } = await send(stack, "openai", token));
      if (status !== 200) await sleep(100);
    }
    expect(status).toBe(200);
  });

  test("a model without a price is refused under a dollar budget, with nothing sent upstream; a token budget lets it through", async () => {
    const { token } = await stack.createToken({ label: "unpriced", budget_usd: { usd: 5, per: "day" } });
    stack.mock.reset();
    const { status, json } = await send(stack, "openai", token, { model: "our-own-finetune" });
    expect(status).toBe(403);
    expect(json.error.message).toMatch(/dollar budget, and this model has no price/);
    expect(stack.mock.requests()).toEqual([]);
    const tokens = await stack.createToken({ label: "unpriced-tokens", budget_tokens: { tokens: 100000, per: "day" } });
    expect((await send(stack, "openai", tokens.token, { model: "our-own-finetune" })).status).toBe(200);
  });

  test("the request's max_tokens is its output's worst case: what is left says so", async () => {
    const { token } = await stack.createToken({ label: "max-tokens", budget_tokens: { tokens: 1_000_000, per: "day" } });
    const body = JSON.stringify({ model: "gpt-4o-mini", max_tokens: 1000, messages: [{ role: "user", content: "hi" }] });
    const { res, status } = await send(stack, "openai", token, { body });
    expect(status).toBe(200);
    const held = 1_000_000 - Number(res.headers.get("x-api-proxy-budget-remaining-tokens"));
    // Input: the body's length at 3 bytes a token; output: the 1000 asked for.
    expect(held).toBe(Math.ceil(Buffer.byteLength(body) / 3) + 1000);
  });

  test("a budgeted token's binary upload arrives byte-identical (only JSON bodies are read for their caps)", async () => {
    const { token } = await stack.createToken({ label: "upload", budget_tokens: { tokens: 10_000_000, per: "day" } });
    const upload = randomBytes(1024 * 1024);
    const res = await fetch(`${stack.url}/echo/upload`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
      body: upload,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ length: upload.length, sha256: createHash("sha256").update(upload).digest("hex") });
  });

  test("bad budgets get a 400 naming the field", async () => {
    for (const [field, value] of [["budget_usd", { usd: -1, per: "day" }], ["budget_tokens", { tokens: 10, per: "week" }], ["budget_usd", 25]]) {
      const r = await stack.admin("POST", "/admin/api/tokens", { label: "bad", providers: ["openai"], [field]: value });
      expect(r.status).toBe(400);
      expect(JSON.stringify(r.body)).toContain(field);
    }
  });

  test("null removes a budget", async () => {
    const { id, token } = await stack.createToken({ label: "removed", budget_tokens: { tokens: 1, per: "day" } });
    expect((await send(stack, "openai", token)).status).toBe(200);
    expect((await send(stack, "openai", token)).status).toBe(429);
    expect((await stack.admin("PATCH", `/admin/api/tokens/${id}`, { budget_tokens: null })).status).toBe(200);
    // The token is no longer limited: its next request goes through, with no budget header.
    const { res, status } = await send(stack, "openai", token);
    expect(status).toBe(200);
    expect(res.headers.get("x-api-proxy-budget-remaining-tokens")).toBeNull();
  });
});

describe("revocation", () => {
  // Requests go to a second isolate of the Worker (another location, with its own record cache);
  // the admin writes through the first. Only the token's Ledger object can tell the second one.
  let stack;
  beforeAll(async () => { stack = await startStack({ elsewhere: true, bindings: { RECORD_CACHE_SECS: "3" } }); });
  afterAll(async () => { await stack?.dispose(); });

  async function sendElsewhere(token) {
    const { path, headers, body } = providerRequest("openai", token);
    const res = await stack.elsewhere(path, { method: "POST", headers, body });
    return { status: res.status, json: await res.json() };
  }

  /** Sends requests until one is refused; returns how many got through and after how long. */
  async function untilRefused(token) {
    const started = Date.now();
    let through = 0;
    for (;;) {
      const { status, json } = await sendElsewhere(token);
      if (status === 401) return { through, ms: Date.now() - started, message: json.error.message };
      expect(status).toBe(200);
      through++;
      await sleep(100);
    }
  }

  test.each([
    ["a budget", { budget_tokens: { tokens: 1_000_000, per: "month" } }],
    ["a rate limit", { rate_limit: { requests: 1000, per_seconds: 60 } }],
  ])("a token with %s is refused at once at the other location when disabled, and when deleted", async (_, limits) => {
    const { id, token } = await stack.createToken({ label: "limited", ...limits });
    expect((await sendElsewhere(token)).status).toBe(200); // its record is now cached there
    expect((await stack.admin("PATCH", `/admin/api/tokens/${id}`, { status: "disabled" })).status).toBe(200);
    const disabled = await untilRefused(token);
    expect(disabled).toMatchObject({ through: 0, message: "This api-proxy token has been disabled." });
    expect((await stack.admin("PATCH", `/admin/api/tokens/${id}`, { status: "active" })).status).toBe(200);
    expect((await sendElsewhere(token)).status).toBe(200);
    expect((await stack.admin("DELETE", `/admin/api/tokens/${id}`)).status).toBeLessThan(300);
    expect(await untilRefused(token)).toMatchObject({ through: 0, message: "Invalid api-proxy token." });
  });

  test("both bounds: a limited token is refused at its next request, an unlimited one once the cached record expires", async () => {
    const limited = await stack.createToken({ label: "bound-limited", budget_tokens: { tokens: 1_000_000, per: "month" } });
    const plain = await stack.createToken({ label: "bound-plain" });
    for (const t of [limited, plain]) expect((await sendElsewhere(t.token)).status).toBe(200);
    for (const t of [limited, plain]) expect((await stack.admin("PATCH", `/admin/api/tokens/${t.id}`, { status: "disabled" })).status).toBe(200);
    const a = await untilRefused(limited.token);
    const b = await untilRefused(plain.token);
    expect(a.through).toBe(0);
    // Without a limit in its object, the token runs on its cached record (RECORD_CACHE_SECS, 3 here).
    expect(b.through).toBeGreaterThan(0);
    console.log(`revocation bounds (RECORD_CACHE_SECS=3): with limits in the Ledger object refused after ${a.through} requests (${a.ms} ms); without, after ${b.through} requests (${b.ms} ms)`);
  });
});

describe("the period rolls over", () => {
  let dir;
  beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), "api-proxy-budget-")); });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("a daily budget used up today is whole again tomorrow (the ledger's clock moved a day on)", async () => {
    let stack = await startStack({ persist: dir });
    let token, id;
    try {
      ({ id, token } = await stack.createToken({ label: "daily", budget_tokens: { tokens: 1, per: "day" } }));
      expect((await send(stack, "openai", token)).status).toBe(200);
      await settled(stack, id, 1);
      expect((await send(stack, "openai", token)).status).toBe(429);
    } finally {
      await stack.dispose();
    }
    stack = await startStack({ persist: dir, bindings: { LEDGER_CLOCK_OFFSET_SECONDS: "86400" } });
    try {
      expect((await send(stack, "openai", token)).status).toBe(200);
    } finally {
      await stack.dispose();
    }
  });
});
