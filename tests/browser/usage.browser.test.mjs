// The usage views in a real browser (Debian's chromium, headless, playwright-core): a token's page
// with its three daily SVG charts and its table by model, the overview of tokens by cost, and the
// 30-day columns of the token list, under the dashboard's CSP with no console error. Thirty days
// of history are written into the token's real Ledger Durable Object (as the Worker writes them,
// with earlier timestamps); today's requests go through the proxy. The token page's screenshot is
// docs/usage.png.

import { afterAll, beforeAll, expect, test } from "vitest";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startStack } from "../support/stack.mjs";

const CHROMIUM = "/usr/bin/chromium";
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
// The README's screenshot is rewritten only when asked (UPDATE_DOCS_SCREENSHOTS=1), so a test run
// leaves the work tree as it found it.
const docs = process.env.UPDATE_DOCS_SCREENSHOTS === "1" ? path.join(root, "docs") : path.join(root, "tests/artifacts");

let stack, browser, page;
const problems = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`No browser at ${CHROMIUM}: install Debian's chromium (bash scripts/setup.sh --test does).`);
  mkdirSync(docs, { recursive: true });
  stack = await startStack();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
  page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error" || /Content.Security.Policy/i.test(m.text())) problems.push(`console: ${m.text()}`); });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
});

afterAll(async () => {
  await browser?.close();
  await stack?.dispose();
});

const DAY = 86400;

// One request as the Worker records it, `daysAgo` days back.
async function record(ledger, id, daysAgo, model, tokens, costPusd) {
  const at = Math.floor(Date.now() / 1000) - daysAgo * DAY;
  const entry = { at, provider: model.startsWith("claude") ? "anthropic" : "openai", model, kind: "chat", status: "2xx", tokens, cost_pusd: costPusd, estimated: false, partial: false };
  const res = await ledger.fetch("https://ledger/record", { method: "POST", body: JSON.stringify([{ token_id: id, entry }]) });
  expect(res.status).toBe(200);
}

test("a token's usage page: charts, table by model, overview and list columns", async () => {
  const a = await stack.createToken({ label: "data-pipeline" });
  const b = await stack.createToken({ label: "ci-bot" });
  const ns = await stack.mf.getDurableObjectNamespace("LEDGER");
  const ledger = ns.get(ns.idFromName(`token:${a.id}`));
  for (let d = 29; d >= 1; d--) {
    const n = 2 + ((d * 7) % 9);
    for (let i = 0; i < n; i++) {
      await record(ledger, a.id, d, "gpt-4o-mini", { input_tokens: 1200 + d * 40, cached_input_tokens: 300, cache_write_tokens: 0, output_tokens: 300 + ((d * 13) % 7) * 60, reasoning_tokens: 0 }, 420_000_000 + d * 9_000_000);
    }
    if (d % 3 === 0) await record(ledger, a.id, d, "claude-sonnet-4-5", { input_tokens: 5200, cached_input_tokens: 4000, cache_write_tokens: 1000, output_tokens: 800, reasoning_tokens: 0 }, 19_950_000_000);
    if (d % 10 === 0) await record(ledger, a.id, d, "my-finetune", { input_tokens: 900, cached_input_tokens: 0, cache_write_tokens: 0, output_tokens: 200, reasoning_tokens: 0 }, null);
  }
  // Today: real requests through the proxy.
  for (let i = 0; i < 3; i++) {
    const r = await fetch(`${stack.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${a.token}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "hi" }] }),
    });
    await r.text();
  }
  await (await fetch(`${stack.url}/v1/messages`, {
    method: "POST",
    headers: { "x-api-key": b.token, "anthropic-version": "2023-06-01", "content-type": "application/json" },
    body: JSON.stringify({ model: "claude-sonnet-4-5", max_tokens: 10, messages: [{ role: "user", content: "hi" }] }),
  })).text();

  let report;
  for (let i = 0; i < 50; i++) {
    report = (await stack.admin("GET", `/admin/api/tokens/${a.id}/usage`)).body;
    if (report.rows.some((r) => r.period === new Date().toISOString().slice(0, 10))) break;
    await new Promise((r) => setTimeout(r, 100));
  }

  await page.goto(`${stack.url}/admin`);
  await page.getByLabel("Admin password").fill(stack.adminSecret);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: /Tokens/ }).waitFor();

  await page.goto(`${stack.url}/admin/tokens/${a.id}/usage`);
  await page.getByRole("heading", { name: "Usage of data-pipeline" }).waitFor();
  expect(await page.locator("svg.chart").count()).toBe(3);
  for (const name of ["Requests per day", "Input and output tokens per day", "Cost per day in USD"]) {
    await expect(page.getByRole("img", { name }).isVisible()).resolves.toBe(true);
  }
  // 30 days of bars for requests; input and output bars side by side.
  expect(await page.getByRole("img", { name: "Requests per day" }).locator("rect title").count()).toBe(30);
  expect(await page.getByRole("img", { name: "Input and output tokens per day" }).locator("rect title").count()).toBe(60);
  const table = page.locator("table.numbers");
  await expect(table.locator("tbody tr").count()).resolves.toBe(3);
  await expect(table.getByText("no price").isVisible()).resolves.toBe(true);
  await expect(page.getByText(report.totals.requests.toLocaleString("en-US"), { exact: true }).first().isVisible()).resolves.toBe(true);
  await page.screenshot({ path: path.join(docs, "usage.png"), fullPage: true });

  await page.goto(`${stack.url}/admin/usage`);
  await page.getByRole("heading", { name: "Usage by token" }).waitFor();
  const labels = await page.locator("table.numbers tbody td.label").allTextContents();
  // The roll-up reaches the overview within the forward delay (1 s in tests).
  for (let i = 0; i < 30 && labels.length < 2; i++) {
    await new Promise((r) => setTimeout(r, 200));
    await page.reload();
    labels.splice(0, labels.length, ...(await page.locator("table.numbers tbody td.label").allTextContents()));
  }
  expect(labels).toEqual(["data-pipeline", "ci-bot"]);

  await page.goto(`${stack.url}/admin`);
  const row = page.locator("tr[data-search]").filter({ has: page.getByRole("link", { name: "data-pipeline", exact: true }) });
  await expect(row.locator("td.usage .use-requests").textContent()).resolves.toBe(report.totals.requests.toLocaleString("en-US"));
  expect(problems).toEqual([]);
});
