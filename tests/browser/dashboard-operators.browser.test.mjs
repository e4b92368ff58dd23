// The dashboard as operators use it (issue 17), in Debian's chromium at a 1280x800 laptop and a
// 390x844 phone: every row's actions in view with its label, an expired token shown and filtered
// as expired, a past expiry refused at its field, every bad field marked at once, a reload after
// create making no second token, a notice after Disable with the filter kept (and its Undo), and
// buttons named after their token. Screenshots of the list at both sizes go to docs/ for the README.

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
  { name: "laptop", width: 1280, height: 800, screenshot: "dashboard.png" },
  { name: "phone", width: 390, height: 844, screenshot: "dashboard-phone.png", isMobile: true, hasTouch: true },
];

let stack, browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`No browser at ${CHROMIUM}: install Debian's chromium (bash scripts/setup.sh --test does) to run the browser test.`);
  }
  mkdirSync(artifacts, { recursive: true });
  stack = await startStack();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  // The list an operator with a few limited tokens has: long limit chips are what pushed the
  // actions off the edge before.
  const limited = {
    rate_limit: { requests: 600, per_seconds: 3600 },
    allowed_models: ["gpt-4o-mini", "gpt-4.1-mini", "claude-3-5-haiku-latest", "claude-sonnet-4-*", "gemini-2.5-flash"],
    allowed_ips: ["203.0.113.0/24", "2001:db8:85a3::/48", "198.51.100.7"],
    allowed_paths: ["/v1/chat/completions", "/v1/responses", "/v1/messages"],
  };
  await stack.createToken({ label: "staging cluster", providers: ["gemini"], ...limited });
  await stack.createToken({ label: "alice's laptop", providers: ["openai", "anthropic"], allowed_origins: ["https://notebook.example.com"] });
  await stack.createToken({ label: "nightly-evals", providers: ["openai", "anthropic", "gemini"], ...limited, expires_at: "2027-06-30T00:00:00Z" });
  await stack.createToken({ label: "summer intern (2026)", providers: ["openai"], expires_at: "2026-09-01T00:00:00Z" });
  const old = await stack.createToken({ label: "old demo app", providers: ["openai"] });
  await stack.admin("PATCH", `/admin/api/tokens/${old.id}`, { status: "disabled" });
  const used = await stack.createToken({ label: "ci-runner", providers: ["openai", "gemini"], rate_limit: { requests: 60, per_seconds: 60 } });
  const chat = await fetch(`${stack.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${used.token}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
  });
  expect(chat.status).toBe(200);
  // "Last used" is written in the background; wait until it is there.
  for (let i = 0; !(await stack.admin("GET", `/admin/api/tokens/${used.id}`)).body.last_used; i++) {
    if (i > 100) throw new Error("last use never recorded");
    await new Promise((r) => setTimeout(r, 50));
  }
});

afterAll(async () => {
  await browser?.close();
  await stack?.dispose();
});

async function apiCount() {
  return (await stack.admin("GET", "/admin/api/tokens")).body.tokens.length;
}

async function signedIn(size, { javaScriptEnabled = true } = {}) {
  const context = await browser.newContext({
    viewport: { width: size.width, height: size.height }, deviceScaleFactor: size.isMobile ? 2 : 1,
    isMobile: !!size.isMobile, hasTouch: !!size.hasTouch, javaScriptEnabled,
  });
  const page = await context.newPage();
  const problems = [];
  page.on("console", (m) => { if (m.type() === "error" && !/status of 4\d\d/.test(m.text())) problems.push(`console: ${m.text()}`); });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("dialog", (d) => d.accept());
  await page.goto(`${stack.url}/admin`);
  await page.getByLabel("Admin password").fill(stack.adminSecret);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { level: 1, name: /^Tokens/ }).waitFor();
  return { context, page, problems };
}

const rowOf = (page, label) => page.locator("tr[data-search]").filter({ has: page.getByRole("link", { name: label, exact: true }) });

// Whether a box lies wholly inside the viewport.
const inView = (box, size) => box && box.x >= 0 && box.y >= 0 && box.x + box.width <= size.width + 0.5 && box.y + box.height <= size.height + 0.5;

for (const size of SIZES) {
  describe(`at ${size.width}x${size.height} (${size.name})`, () => {
    let page, context, problems;
    beforeAll(async () => { ({ page, context, problems } = await signedIn(size)); });
    afterAll(async () => { await context?.close(); });

    test("the list comes first, with one h1, and New token opens the form on its own page", async () => {
      await page.goto(`${stack.url}/admin`);
      expect(await page.locator("h1").count()).toBe(1);
      const firstRow = await page.locator("tr[data-search]").first().boundingBox();
      expect(firstRow.y).toBeLessThan(size.height);
      expect(await page.locator("#label").count()).toBe(0);
      await page.getByRole("link", { name: "New token" }).first().click();
      await page.getByRole("heading", { level: 1, name: "New token" }).waitFor();
      expect(await page.locator("h1").count()).toBe(1);
    });

    test("every row's label and actions are in view together, with no sideways scrolling", async () => {
      await page.goto(`${stack.url}/admin`);
      const scroll = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
      expect(scroll[0]).toBeLessThanOrEqual(scroll[1]);
      const rows = page.locator("tr[data-search]");
      const n = await rows.count();
      expect(n).toBeGreaterThanOrEqual(6);
      for (let i = 0; i < n; i++) {
        const row = rows.nth(i);
        const label = (await row.locator("td.label a").textContent()).trim();
        const controls = [row.locator("td.label a"), ...["Edit", "Disable|Enable", "Delete"].map((name) => row.getByRole(/Edit/.test(name) ? "link" : "button", { name: new RegExp(`^(${name}) `) }))];
        // Tab to Delete as a keyboard user would, then the label must still be in view beside it.
        await controls[3].focus();
        for (const c of controls) {
          const box = await c.boundingBox();
          expect(inView(box, size), `${label}: ${await c.textContent()} at ${JSON.stringify(box)}`).toBe(true);
        }
        // In the same row or card.
        const rowBox = await row.boundingBox();
        for (const c of controls) {
          const box = await c.boundingBox();
          expect(box.y >= rowBox.y - 0.5 && box.y + box.height <= rowBox.y + rowBox.height + 0.5, label).toBe(true);
        }
      }
      expect(problems).toEqual([]);
    });

    test("an expired token says expired, and the filter finds it by that word and by its limits", async () => {
      await page.goto(`${stack.url}/admin`);
      await expect(rowOf(page, "summer intern (2026)").locator(".status").textContent()).resolves.toBe("expired");
      await expect(rowOf(page, "ci-runner").locator(".status").textContent()).resolves.toBe("active");
      await expect(rowOf(page, "old demo app").locator(".status").textContent()).resolves.toBe("disabled");
      await page.locator("#filter").fill("expired");
      expect(await page.locator("tr[data-search]:visible").count()).toBe(1);
      await expect(page.locator("tr[data-search]:visible td.label a").textContent()).resolves.toBe("summer intern (2026)");
      // Without the live filter, as a submitted query.
      await page.goto(`${stack.url}/admin?q=expired`);
      expect(await page.locator("tr[data-search]").count()).toBe(1);
      await page.goto(`${stack.url}/admin?q=${encodeURIComponent("claude-sonnet")}`);
      expect(await page.locator("tr[data-search]").count()).toBe(2);
      await page.goto(`${stack.url}/admin?q=${encodeURIComponent("600 per hour")}`);
      expect(await page.locator("tr[data-search]").count()).toBe(2);
    });

    test("last used reads as relative time, with the day on hover; created shows its exact time on hover", async () => {
      await page.goto(`${stack.url}/admin`);
      const used = rowOf(page, "ci-runner").locator("td.used time");
      await expect(used.textContent()).resolves.toBe("today");
      await expect(used.getAttribute("title")).resolves.toMatch(/^Last request on \d{4}-\d\d-\d\d \(UTC/);
      await expect(rowOf(page, "old demo app").locator("td.used").textContent()).resolves.toContain("never");
      await expect(rowOf(page, "ci-runner").locator("td.created time").getAttribute("title")).resolves.toMatch(/^Created \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    });

    test("sorting by label and by last used, kept in the address", async () => {
      await page.goto(`${stack.url}/admin?sort=label`);
      const labels = await page.locator("tr[data-search] td.label a").allTextContents();
      expect(labels).toEqual([...labels].sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1)));
      await page.goto(`${stack.url}/admin?sort=last_used`);
      await expect(page.locator("tr[data-search] td.label a").first().textContent()).resolves.toBe("ci-runner");
      if (size.isMobile) {
        // Cards have no column headers: the order menu does it.
        await page.getByLabel("Order").selectOption("label");
        await page.waitForURL(/sort=label/);
      } else {
        await page.getByRole("link", { name: "Label", exact: true }).click();
        await page.waitForURL(/sort=label/);
        await expect(page.locator("th.col-label").getAttribute("aria-sort")).resolves.toBe("ascending");
      }
      const again = await page.locator("tr[data-search] td.label a").allTextContents();
      expect(again).toEqual(labels);
    });

    test("a past expiry is refused at its field, with focus there", async () => {
      await page.goto(`${stack.url}/admin/new`);
      const before = await apiCount();
      await page.getByLabel("Label").fill(`dead on arrival ${size.name}`);
      await page.getByLabel("Expires").fill("2020-01-01T00:00:00Z");
      await page.getByRole("button", { name: "Create token" }).click();
      await page.getByText("Not created: 1 field needs attention.").waitFor();
      const expires = page.getByLabel("Expires");
      await expect(expires.getAttribute("aria-invalid")).resolves.toBe("true");
      await expect.poll(() => expires.evaluate((el) => el === document.activeElement)).toBe(true);
      const described = (await expires.getAttribute("aria-describedby")).split(" ");
      const error = await page.locator(`#${described[0]}`).textContent();
      expect(error).toContain("Expires is in the past");
      await expect(expires.inputValue()).resolves.toBe("2020-01-01T00:00:00Z");
      await expect(page.getByLabel("Label").inputValue()).resolves.toBe(`dead on arrival ${size.name}`);
      expect(await apiCount()).toBe(before);
    });

    test("two bad fields give two marked errors at once, in the form's words", async () => {
      await page.goto(`${stack.url}/admin/new`);
      await page.getByLabel("Label").fill(`two mistakes ${size.name}`);
      await page.getByLabel("Rate limit (requests)").fill("lots");
      await page.getByLabel("Client IP addresses").fill("10.0.0.1/8");
      await page.getByRole("button", { name: "Create token" }).click();
      await page.getByText("Not created: 2 fields need attention.").waitFor();
      const marked = page.locator('[aria-invalid="true"]');
      expect(await marked.count()).toBe(2);
      const ids = await marked.evaluateAll((els) => els.map((e) => e.id));
      expect(ids).toEqual(["rate_requests", "allowed_ips"]);
      for (const id of ids) {
        const errorId = (await page.locator(`#${id}`).getAttribute("aria-describedby")).split(" ")[0];
        expect(errorId).toBe(`${id}-error`);
        const text = await page.locator(`#${errorId}`).textContent();
        expect(text).not.toMatch(/rate_limit|allowed_ips/);
        expect(await page.locator(`#${errorId}`).isVisible()).toBe(true);
      }
      await expect(page.locator("#rate_requests-error").textContent()).resolves.toContain("Rate limit must be a whole number");
      await expect(page.locator("#allowed_ips-error").textContent()).resolves.toContain("Client IP addresses:");
      await expect.poll(() => page.evaluate(() => document.activeElement.id)).toBe("rate_requests");
      await page.screenshot({ path: path.join(artifacts, `form-errors-${size.name}.png`), fullPage: true });
      // The rate-limit input is named by its visible label, not overridden.
      expect(await page.getByRole("textbox", { name: "Rate limit (requests)", exact: true }).count()).toBe(1);
    });

    test("create, then reload and go Back: no second token, and the token is not shown again", async () => {
      const before = await apiCount();
      await page.goto(`${stack.url}/admin/new`);
      const label = `reload-probe-${size.name}`;
      await page.getByLabel("Label").fill(label);
      await page.getByRole("button", { name: "Create token" }).click();
      await page.getByRole("heading", { name: `Token created for “${label}”` }).waitFor();
      expect(new URL(page.url()).pathname).toBe("/admin/created");
      const token = (await page.locator("#new-token").textContent()).trim();
      expect(token).toMatch(/^apx_/);
      expect(await apiCount()).toBe(before + 1);
      await page.screenshot({ path: path.join(artifacts, `created-${size.name}.png`) });
      const reloaded = await page.reload();
      expect(reloaded.status()).toBe(410);
      await page.getByRole("heading", { name: "Already shown" }).waitFor();
      expect(await page.content()).not.toContain(token);
      expect(await apiCount()).toBe(before + 1);
      await page.goBack();
      await page.getByRole("heading", { level: 1, name: "New token" }).waitFor();
      await page.goForward();
      await page.getByRole("heading", { name: "Already shown" }).waitFor();
      expect(await page.content()).not.toContain(token);
      expect(await apiCount()).toBe(before + 1);
      const listed = (await stack.admin("GET", "/admin/api/tokens")).body.tokens.filter((t) => t.label === label);
      expect(listed).toHaveLength(1);
      // Out of the list again, so the screenshots show only the operator's own tokens.
      expect((await stack.admin("DELETE", `/admin/api/tokens/${listed[0].id}`)).status).toBe(200);
    });

    test("Disable from a filtered list: a notice naming the token, the filter and the row kept, and Undo", async () => {
      const label = size.isMobile ? "staging cluster" : "nightly-evals";
      const q = label.split(/[ -]/)[0];
      await page.goto(`${stack.url}/admin?q=${encodeURIComponent(q)}`);
      await rowOf(page, label).getByRole("button", { name: `Disable ${label}`, exact: true }).click();
      const notice = page.getByRole("status").filter({ hasText: `${label} disabled` });
      await notice.waitFor();
      expect(inView(await notice.boundingBox(), size)).toBe(true);
      const url = new URL(page.url());
      expect(url.searchParams.get("q")).toBe(q);
      expect(url.hash).toMatch(/^#token-[0-9a-f]{64}$/);
      await expect(page.locator("#filter").inputValue()).resolves.toBe(q);
      await expect(rowOf(page, label).locator(".status").textContent()).resolves.toBe("disabled");
      expect(inView(await rowOf(page, label).locator("td.label a").boundingBox(), size)).toBe(true);
      const tokens = (await stack.admin("GET", "/admin/api/tokens")).body.tokens;
      expect(tokens.find((t) => t.label === label).status).toBe("disabled");
      if (size.name === "laptop") await page.screenshot({ path: path.join(artifacts, "notice-laptop.png") });
      // Undo: enabled again, still filtered.
      await page.getByRole("button", { name: `Undo (enable ${label} again)`, exact: true }).click();
      await page.getByRole("status").filter({ hasText: `${label} enabled` }).waitFor();
      expect(new URL(page.url()).searchParams.get("q")).toBe(q);
      await expect(rowOf(page, label).locator(".status").textContent()).resolves.toBe("active");
      // A reload does not show the notice again.
      await page.reload();
      expect(await page.getByRole("status").count()).toBe(0);
    });

    test("every action's accessible name contains its token's label", async () => {
      await page.goto(`${stack.url}/admin`);
      for (const label of ["ci-runner", "old demo app", "alice's laptop"]) {
        const row = rowOf(page, label);
        expect(await row.getByRole("link", { name: `Edit ${label}`, exact: true }).count(), label).toBe(1);
        expect(await row.getByRole("button", { name: new RegExp(`^(Disable|Enable) ${label.replace(/[()]/g, "\\$&")}$`) }).count(), label).toBe(1);
        expect(await row.getByRole("button", { name: `Delete ${label}`, exact: true }).count(), label).toBe(1);
      }
      expect(await page.getByRole("button", { name: "Delete", exact: true }).count()).toBe(0);
    });

    test("the edit page: Disable and Delete there too, an empty expiry reads never, a save says what changed", async () => {
      await page.goto(`${stack.url}/admin?q=alice`);
      await rowOf(page, "alice's laptop").getByRole("link", { name: "Edit alice's laptop" }).click();
      await page.getByRole("heading", { level: 1, name: /alice's laptop/ }).waitFor();
      expect(await page.locator("h1").count()).toBe(1);
      await expect(page.locator(".facts").textContent()).resolves.toMatch(/Expires\s*never/);
      expect(await page.getByRole("button", { name: "Disable alice's laptop" }).count()).toBe(1);
      expect(await page.getByRole("button", { name: "Delete alice's laptop" }).count()).toBe(1);
      await page.screenshot({ path: path.join(artifacts, `edit-${size.name}.png`), fullPage: true });
      const limit = size.isMobile ? 120 : 100;
      await page.getByLabel("Rate limit (requests)").fill(String(limit));
      await page.getByRole("button", { name: /^Save changes/ }).click();
      await page.getByRole("status").filter({ hasText: "alice's laptop saved: rate limit changed." }).waitFor();
      expect(new URL(page.url()).searchParams.get("q")).toBe("alice");
      const t = (await stack.admin("GET", "/admin/api/tokens")).body.tokens.find((x) => x.label === "alice's laptop");
      expect(t.rate_limit).toEqual({ requests: limit, per_seconds: 60 });
    });

    test(`screenshot of the list into docs/${size.screenshot}`, async () => {
      await page.goto(`${stack.url}/admin`);
      await page.locator("tr[data-search]").first().waitFor();
      await page.screenshot({ path: path.join(docs, size.screenshot), fullPage: false });
      expect(problems).toEqual([]);
    });
  });
}

describe("without JavaScript", () => {
  test("create shows the token once, errors are marked and focused, Disable leaves a notice and keeps the filter", async () => {
    const { context, page } = await signedIn(SIZES[0], { javaScriptEnabled: false });
    try {
      await page.getByRole("link", { name: "New token" }).first().click();
      await page.getByLabel("Label").fill("no-js bot");
      await page.getByLabel("Expires").fill("yesterday");
      await page.getByRole("button", { name: "Create token" }).click();
      await page.getByText("Not created: 1 field needs attention.").waitFor();
      await expect.poll(() => page.evaluate(() => document.activeElement.id)).toBe("expires_at");
      await page.getByLabel("Expires").fill("");
      const before = await apiCount();
      await page.getByRole("button", { name: "Create token" }).click();
      await page.getByRole("heading", { name: "Token created for “no-js bot”" }).waitFor();
      await page.reload();
      await page.getByRole("heading", { name: "Already shown" }).waitFor();
      expect(await apiCount()).toBe(before + 1);
      await page.goto(`${stack.url}/admin?q=no-js`);
      await rowOf(page, "no-js bot").getByRole("button", { name: "Disable no-js bot" }).click();
      await page.getByRole("status").filter({ hasText: "no-js bot disabled" }).waitFor();
      expect(new URL(page.url()).searchParams.get("q")).toBe("no-js");
      // Delete without the script asks on a page of its own.
      await rowOf(page, "no-js bot").getByRole("button", { name: "Delete no-js bot" }).click();
      await page.getByRole("heading", { name: "Delete “no-js bot”?" }).waitFor();
      await expect(page.locator("main").textContent()).resolves.toContain("within about a minute and a half");
      await page.getByRole("button", { name: "Delete no-js bot" }).click();
      await page.getByRole("status").filter({ hasText: "no-js bot (…" }).waitFor();
      expect(new URL(page.url()).searchParams.get("q")).toBe("no-js");
      expect(await apiCount()).toBe(before);
    } finally {
      await context.close();
    }
  });
});
