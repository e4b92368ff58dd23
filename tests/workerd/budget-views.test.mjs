// Where an operator and a consumer see a token's budgets, through the real Worker in workerd after
// real requests: the dashboard's list, the token's page and its usage page ("used / limit", a
// meter, what is left, when it resets), the consumer's GET /_proxy/usage (`budgets`) and the admin
// API's token view (`budget_status`); and the token form's budget fields (set, refused at their
// field, cleared, named in the notice). The mock's usage is known: an OpenAI chat JSON answer
// reports 9 prompt tokens (4 cached) and 7 completion tokens.

import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { send } from "./helpers.mjs";
import { dashboard } from "./admin-support.mjs";

let stack;
let ui;
beforeAll(async () => {
  stack = await startStack();
  ui = dashboard(stack);
});
afterAll(async () => { await stack?.dispose(); });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const OPENAI = (t) => ({ authorization: `Bearer ${t}`, "content-type": "application/json" });
const chat = JSON.stringify({ model: "gpt-4o-mini", max_tokens: 10, messages: [{ role: "user", content: "hi" }] });
const PER_REQUEST_TOKENS = 9 + 7;
// 5 plain input at 0.15, 4 cached at 0.075, 7 output at 0.6 USD per million tokens.
const PER_REQUEST_USD = (5 * 0.15 + 4 * 0.075 + 7 * 0.6) / 1e6;
const tomorrow = () => new Date(Math.floor(Date.now() / 86_400_000 + 1) * 86_400_000).toISOString().slice(0, 10);
const nextMonth = () => { const d = new Date(); return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)).toISOString().slice(0, 10); };

async function consumerUsage(token) {
  const r = await send(stack, "/_proxy/usage", { headers: { authorization: `Bearer ${token}` } });
  expect(r.status, r.text).toBe(200);
  return r.json;
}

/** Polls /_proxy/usage until the token budget's settled spend reaches `tokens` with nothing held. */
async function settled(token, tokens) {
  let last;
  for (let i = 0; i < 100; i++) {
    last = await consumerUsage(token);
    const line = last.budgets.find((b) => b.unit === "tokens");
    if (line && line.spent >= tokens && line.held === 0) return last;
    await sleep(100);
  }
  throw new Error(`the budget never settled at ${tokens} tokens: ${JSON.stringify(last)}`);
}

/** The list's row of a token, as HTML. */
function rowOf(html, id) {
  const m = html.match(new RegExp(`<tr [^>]*id="token-${id}">[\\s\\S]*?</tr>`));
  if (!m) throw new Error(`no row for ${id}`);
  return m[0];
}

describe("a token with budgets, after three requests", () => {
  let capped;
  let plain;
  beforeAll(async () => {
    capped = await stack.createToken({ label: "capped", budget_tokens: { tokens: 1000, per: "day" }, budget_usd: { usd: 1, per: "month" } });
    plain = await stack.createToken({ label: "plain" });
    for (let i = 0; i < 3; i++) {
      const r = await send(stack, "/v1/chat/completions", { method: "POST", headers: OPENAI(capped.token), body: chat });
      expect(r.status, r.text).toBe(200);
      await send(stack, "/v1/chat/completions", { method: "POST", headers: OPENAI(plain.token), body: chat });
    }
    await settled(capped.token, 3 * PER_REQUEST_TOKENS);
  });

  test("/_proxy/usage gives each budget's spend, what is left and when it resets", async () => {
    const body = await consumerUsage(capped.token);
    const tokens = body.budgets.find((b) => b.unit === "tokens");
    expect(tokens).toEqual({ unit: "tokens", limit: 1000, per: "day", spent: 48, held: 0, left: 952, resets_at: `${tomorrow()}T00:00:00Z` });
    const usd = body.budgets.find((b) => b.unit === "usd");
    expect(usd.per).toBe("month");
    expect(usd.spent).toBeCloseTo(3 * PER_REQUEST_USD, 12);
    expect(usd.left).toBeCloseTo(1 - 3 * PER_REQUEST_USD, 12);
    expect(usd.resets_at).toBe(`${nextMonth()}T00:00:00Z`);
    expect((await consumerUsage(plain.token)).budgets).toEqual([]);
  });

  test("the admin API's token view carries budget_status; a token without a budget has none", async () => {
    const r = await stack.admin("GET", `/admin/api/tokens/${capped.id}`);
    expect(r.status).toBe(200);
    expect(r.body.budget_status.find((b) => b.unit === "tokens")).toMatchObject({ spent: 48, left: 952 });
    expect(r.body.budget_tokens).toEqual({ tokens: 1000, per: "day" });
    const p = await stack.admin("GET", `/admin/api/tokens/${plain.id}`);
    expect(p.body).not.toHaveProperty("budget_status");
  });

  test("the list shows used / limit with a meter, what is left and the reset, only on the budgeted row", async () => {
    const { cookie, client } = await ui.signIn();
    const page = await ui.send("/admin", { cookie, client });
    expect(page.status).toBe(200);
    const row = rowOf(page.text, capped.id);
    expect(row).toContain('<meter min="0" max="1000" low="800" high="800" optimum="0" value="48" aria-label="Token budget per day: 48 / 1,000 tokens"');
    expect(row).toContain("<strong>48</strong> / 1,000 tokens");
    expect(row).toContain("952 tokens left");
    expect(row).toContain(`resets ${tomorrow()} 00:00 UTC`);
    expect(row).toContain("Dollar budget per month");
    expect(row).toContain("/ $1.00");
    expect(row).not.toContain("Use not available");
    expect(rowOf(page.text, plain.id)).not.toContain("<meter");
  });

  test("the token's page and its usage page show the same budgets", async () => {
    const { cookie, client } = await ui.signIn();
    for (const path of [`/admin/tokens/${capped.id}`, `/admin/tokens/${capped.id}/usage`]) {
      const page = await ui.send(path, { cookie, client });
      expect(page.status, path).toBe(200);
      expect(page.text, path).toContain('<h2 id="budgets-heading">Budgets');
      expect(page.text, path).toContain('value="48" aria-label="Token budget per day: 48 / 1,000 tokens" aria-valuetext="48 of 1,000 tokens used, 952 tokens left"');
      expect(page.text, path).toContain(`<time datetime="${tomorrow()}T00:00:00Z">`);
    }
    const plainPage = await ui.send(`/admin/tokens/${plain.id}`, { cookie, client });
    expect(plainPage.text).not.toContain("budgets-heading");
  });
});

describe("the token form's budget fields", () => {
  const base = (csrf) => ({ csrf, label: "form-budget", providers: "openai", rate_per_seconds: "60", budget_usd_per: "month", budget_tokens_per: "day" });

  test("a bad amount is refused at its field; a good one is saved, kept on edit and cleared when emptied", async () => {
    const { cookie, csrf, client } = await ui.signIn();
    const bad = await ui.post("/admin/tokens", { ...base(csrf), budget_usd: "lots", budget_tokens: "1.5" }, { cookie, client });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('<p class="field-error" id="budget_usd-error">Dollar budget must be an amount of dollars above 0');
    expect(bad.text).toContain('<p class="field-error" id="budget_tokens-error">Token budget must be a whole number of tokens');
    expect(bad.text).toContain('value="lots"');
    const before = await stack.admin("GET", "/admin/api/tokens");
    expect(before.body.tokens.some((t) => t.label === "form-budget")).toBe(false);

    const created = await ui.post("/admin/tokens", { ...base(csrf), budget_usd: "$2.50", budget_tokens: "2,000,000" }, { cookie, client });
    expect(created.status, created.text).toBe(303);
    const listed = (await stack.admin("GET", "/admin/api/tokens")).body.tokens.find((t) => t.label === "form-budget");
    expect(listed.budget_usd).toEqual({ usd: 2.5, per: "month" });
    expect(listed.budget_tokens).toEqual({ tokens: 2000000, per: "day" });

    const edit = await ui.send(`/admin/tokens/${listed.id}`, { cookie, client });
    expect(edit.text).toContain('id="budget_usd" name="budget_usd" value="2.5"');
    expect(edit.text).toContain('id="budget_tokens" name="budget_tokens" value="2000000"');
    expect(edit.text).toMatch(/<select id="budget_tokens_per" name="budget_tokens_per">\s*<option value="day" selected>/);

    // Keeping the dollar budget, changing its period, and emptying the token budget.
    const saved = await ui.post(`/admin/tokens/${listed.id}`, { ...base(csrf), budget_usd: "2.5", budget_usd_per: "total", budget_tokens: "" }, { cookie, client });
    expect(saved.status, saved.text).toBe(303);
    const after = (await stack.admin("GET", `/admin/api/tokens/${listed.id}`)).body;
    expect(after.budget_usd).toEqual({ usd: 2.5, per: "total" });
    expect(after).not.toHaveProperty("budget_tokens");
    const list = await ui.send(saved.location, { cookie: `${cookie}; ${saved.cookies.find((c) => c.startsWith("apx_notice=")).split(";")[0]}`, client });
    expect(list.text).toContain("form-budget saved: dollar budget and token budget changed.");
  });
});

describe("when the token's ledger object cannot be reached", () => {
  let down;
  afterAll(async () => { await down?.dispose(); });

  test("the list and the token's page still open, showing each budget's limit alone; the admin API says null", async () => {
    down = await startStack({ ledgerFailure: true });
    const capped = await down.createToken({ label: "capped", budget_tokens: { tokens: 1000, per: "day" } });
    const downUi = dashboard(down);
    const { cookie, client } = await downUi.signIn({ client: "192.0.2.77" });
    for (const path of ["/admin", `/admin/tokens/${capped.id}`]) {
      const page = await downUi.send(path, { cookie, client });
      expect(page.status, path).toBe(200);
      expect(page.text, path).toContain("Token budget per day");
      expect(page.text, path).toContain("1,000 tokens");
      expect(page.text, path).toContain("Use not available right now.");
      expect(page.text, path).not.toContain("<meter");
    }
    const r = await down.admin("GET", `/admin/api/tokens/${capped.id}`);
    expect(r.status).toBe(200);
    expect(r.body.budget_status).toBeNull();
  });
});
