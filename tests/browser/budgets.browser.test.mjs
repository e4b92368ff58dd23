// Budgets on the dashboard in Debian's chromium (playwright-core), at a 1280x800 laptop and a
// 390x844 phone: a budget set through the token form (a bad amount refused at its field first),
// the token used through the proxy against the mock upstream, and the list and the token's page
// showing "used / limit" with a meter, what is left and the reset, with no sideways scrolling and
// the row's actions still in view. The list's screenshot at 1280x800 is docs/budgets.png.

import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startStack } from "../support/stack.mjs";

const CHROMIUM = "/usr/bin/chromium";
const here = path.dirname(fileURLToPath(import.meta.url));
const artifacts = path.resolve(here, "../artifacts");
// The README's screenshots are rewritten only when asked (UPDATE_DOCS_SCREENSHOTS=1), so a test
// run leaves the work tree as it found it.
const docs = process.env.UPDATE_DOCS_SCREENSHOTS === "1" ? path.resolve(here, "../../docs") : artifacts;

const SIZES = [
  { name: "laptop", width: 1280, height: 800 },
  { name: "phone", width: 390, height: 844, isMobile: true, hasTouch: true },
];

let stack, browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`No browser at ${CHROMIUM}: install Debian's chromium (bash scripts/setup.sh --test does).`);
  mkdirSync(artifacts, { recursive: true });
  stack = await startStack();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  // Neighbours for the list: a limited token without a budget, and one with a dollar budget.
  await stack.createToken({ label: "staging cluster", providers: ["gemini"], rate_limit: { requests: 600, per_seconds: 3600 }, allowed_models: ["gemini-2.5-flash", "gemini-2.5-pro"] });
  await stack.createToken({ label: "contractor", providers: ["openai", "anthropic"], budget_usd: { usd: 25, per: "month" } });
});

afterAll(async () => {
  await browser?.close();
  await stack?.dispose();
});

const inView = (box, size) => box && box.x >= 0 && box.y >= 0 && box.x + box.width <= size.width + 0.5 && box.y + box.height <= size.height + 0.5;
const rowOf = (page, label) => page.locator("tr[data-search]").filter({ has: page.getByRole("link", { name: label, exact: true }) });

async function signedIn(size) {
  const context = await browser.newContext({ viewport: { width: size.width, height: size.height }, deviceScaleFactor: size.isMobile ? 2 : 1, isMobile: !!size.isMobile, hasTouch: !!size.hasTouch });
  const page = await context.newPage();
  const problems = [];
  page.on("console", (m) => { if ((m.type() === "error" && !/status of 4\d\d/.test(m.text())) || /Content.Security.Policy/i.test(m.text())) problems.push(`console: ${m.text()}`); });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  await page.goto(`${stack.url}/admin`);
  await page.getByLabel("Admin password").fill(stack.adminSecret);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { level: 1, name: /^Tokens/ }).waitFor();
  return { context, page, problems };
}

for (const size of SIZES) {
  describe(`at ${size.width}x${size.height} (${size.name})`, () => {
    let page, context, problems;
    const label = `ci budget ${size.name}`;
    beforeAll(async () => { ({ page, context, problems } = await signedIn(size)); });
    afterAll(async () => { await context?.close(); });

    test("a budget set through the form: a bad amount is refused at its field, then the bar fills as the token is used", async () => {
      await page.getByRole("link", { name: "New token" }).first().click();
      await page.getByRole("heading", { level: 1, name: "New token" }).waitFor();
      await page.getByLabel("Label").fill(label);
      await page.getByLabel("Dollar budget (USD)", { exact: true }).fill("five dollars");
      await page.getByLabel("Token budget (tokens)", { exact: true }).fill("1000");
      await page.getByLabel("Token budget (tokens) period").selectOption("day");
      await page.getByRole("button", { name: /^Create/ }).click();

      const usd = page.getByLabel("Dollar budget (USD)", { exact: true });
      await expect(usd.getAttribute("aria-invalid")).resolves.toBe("true");
      const error = page.locator("#budget_usd-error");
      await expect(error.textContent()).resolves.toMatch(/^Dollar budget must be an amount of dollars above 0/);
      expect(inView(await error.boundingBox(), size) || (await error.scrollIntoViewIfNeeded(), inView(await error.boundingBox(), size))).toBe(true);
      await expect(page.evaluate(() => document.activeElement?.id)).resolves.toBe("budget_usd");
      await expect(page.getByLabel("Token budget (tokens)", { exact: true }).inputValue()).resolves.toBe("1000");
      await expect(page.getByLabel("Token budget (tokens) period").inputValue()).resolves.toBe("day");

      await usd.fill("5");
      await page.getByRole("button", { name: /^Create/ }).click();
      const token = (await page.locator("#new-token").textContent()).trim();
      expect(token).toMatch(/^apx_/);
      for (let i = 0; i < 3; i++) {
        const r = await fetch(`${stack.url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ model: "gpt-4o-mini", max_tokens: 10, messages: [{ role: "user", content: "hi" }] }),
        });
        expect(r.status).toBe(200);
        expect(r.headers.get("x-api-proxy-budget-remaining-tokens")).not.toBeNull();
        await r.text();
      }
      // The spend is settled after each answer ends (waitUntil): wait until all three are in.
      for (let i = 0; ; i++) {
        const body = await (await fetch(`${stack.url}/_proxy/usage`, { headers: { authorization: `Bearer ${token}` } })).json();
        const line = body.budgets.find((b) => b.unit === "tokens");
        if (line.spent === 48 && line.held === 0) break;
        if (i > 100) throw new Error(`never settled: ${JSON.stringify(body.budgets)}`);
        await new Promise((r) => setTimeout(r, 100));
      }

      await page.goto(`${stack.url}/admin`);
      const row = rowOf(page, label);
      const meter = row.getByRole("meter", { name: "Token budget per day: 48 / 1,000 tokens" });
      await expect(meter.isVisible()).resolves.toBe(true);
      await expect(meter.evaluate((m) => [m.value, m.max])).resolves.toEqual([48, 1000]);
      await expect(meter.getAttribute("aria-valuetext")).resolves.toBe("48 of 1,000 tokens used, 952 tokens left");
      await expect(row.getByText("952 tokens left", { exact: true }).isVisible()).resolves.toBe(true);
      await expect(row.getByRole("meter", { name: /^Dollar budget per month: \$0\.0\d+ \/ \$5\.00$/ }).isVisible()).resolves.toBe(true);
      await expect(rowOf(page, "staging cluster").getByRole("meter").count()).resolves.toBe(0);

      // Still no sideways scrolling, and each budgeted row's actions beside its label.
      const scroll = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
      expect(scroll[0]).toBeLessThanOrEqual(scroll[1]);
      for (const name of [label, "contractor"]) {
        const r = rowOf(page, name);
        const del = r.getByRole("button", { name: new RegExp(`^Delete ${name}`) });
        await del.focus();
        const rowBox = await r.boundingBox();
        for (const c of [r.locator("td.label a"), r.getByRole("link", { name: new RegExp(`^Edit ${name}`) }), del]) {
          const box = await c.boundingBox();
          expect(inView(box, size), `${name}: ${await c.textContent()} at ${JSON.stringify(box)}`).toBe(true);
          expect(box.y >= rowBox.y - 0.5 && box.y + box.height <= rowBox.y + rowBox.height + 0.5, name).toBe(true);
        }
        const bars = await r.locator("meter").evaluateAll((ms) => ms.map((m) => m.getBoundingClientRect().width));
        expect(bars.every((w) => w >= 100), `${name}: bars ${bars}`).toBe(true);
      }
      await page.screenshot({ path: path.join(artifacts, `budgets-list-${size.name}.png`), fullPage: true });
      if (size.name === "laptop") {
        // The 30-day column comes from the account roll-up, fed within a second: wait for it.
        for (let i = 0; (await row.locator(".use-requests").textContent()) !== "3"; i++) {
          if (i > 50) throw new Error("the 30-day column never showed the three requests");
          await new Promise((r) => setTimeout(r, 200));
          await page.reload();
        }
        await page.evaluate(() => { document.activeElement?.blur(); window.scrollTo(0, 0); });
        await page.screenshot({ path: path.join(docs, "budgets.png"), fullPage: false });
      }

      // The token's page shows the same bar.
      await row.getByRole("link", { name: label, exact: true }).click();
      await page.getByRole("heading", { level: 2, name: /^Budgets/ }).waitFor();
      await expect(page.getByRole("meter", { name: "Token budget per day: 48 / 1,000 tokens" }).isVisible()).resolves.toBe(true);
      await page.screenshot({ path: path.join(artifacts, `budgets-token-${size.name}.png`), fullPage: false });
      expect(problems).toEqual([]);
    });
  });
}
