// The dashboard in a real browser (Debian's chromium, headless, driven by playwright-core): sign in,
// create a token, read it off the page, use it through the proxy against the mock upstream, disable
// it and see the proxy refuse it, enable it again, delete it. Screenshots of the sign-in page, the
// token-created view and the list go to tests/artifacts/.

import { afterAll, beforeAll, expect, test } from "vitest";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startStack } from "../support/stack.mjs";

const CHROMIUM = "/usr/bin/chromium";
const artifacts = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../artifacts");

let stack, browser, context, page; // playwright gives the browser a fresh temporary profile
const problems = []; // console errors (CSP violations among them), page errors, unexpected dialogs

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
  context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: stack.url });
  page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error" || /Content.Security.Policy/i.test(m.text())) problems.push(`console: ${m.text()} (${m.location().url})`); });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
});

afterAll(async () => {
  await browser?.close();
  await stack?.dispose();
});

const shot = (name) => page.screenshot({ path: path.join(artifacts, name), fullPage: false });

function chat(token) {
  return fetch(`${stack.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hello from the browser test" }] }),
  });
}

const row = (label) => page.locator("tr[data-search]").filter({ has: page.getByRole("link", { name: label, exact: true }) });

test("sign in, create, use, disable, enable, delete", async () => {
  // Sign in: a wrong password first.
  await page.goto(`${stack.url}/admin`);
  await expect(page.getByRole("heading", { name: "Sign in" }).isVisible()).resolves.toBe(true);
  await shot("sign-in.png");
  await page.getByLabel("Admin password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("Wrong password.").waitFor();
  expect(problems.splice(0)).toEqual([expect.stringMatching(/status of 401 .*\/admin\/login\)$/)]); // that answer itself
  await page.getByLabel("Admin password").fill(stack.adminSecret);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("No tokens yet.").waitFor();
  const cookies = await context.cookies();
  expect(cookies.map((c) => [c.name, c.httpOnly, c.secure, c.sameSite, c.path])).toEqual([["apx_session", true, true, "Strict", "/admin"]]);
  expect(await page.evaluate(() => document.cookie)).toBe(""); // HttpOnly: no script can read it

  // A few tokens made through the API, so the list has company.
  await stack.createToken({ label: "alice's laptop", providers: ["openai", "anthropic"] });
  await stack.createToken({ label: "staging cluster", providers: ["gemini"] });
  const old = await stack.createToken({ label: "old demo app", providers: ["openai"] });
  await stack.admin("PATCH", `/admin/api/tokens/${old.id}`, { status: "disabled" });

  // Create one through the form, on its own page.
  await page.reload();
  await page.getByRole("link", { name: "New token" }).first().click();
  await page.getByLabel("Label").fill("ci-runner");
  await page.getByLabel("Anthropic").uncheck();
  await page.getByRole("button", { name: "Create token" }).click();
  await page.getByRole("heading", { name: "Token created for “ci-runner”" }).waitFor();
  const token = (await page.locator("#new-token").textContent()).trim();
  expect(token).toMatch(/^apx_[0-9A-Za-z]{39}$/);
  const snippets = await page.locator("pre code").allTextContents();
  expect(snippets.some((s) => s.includes(`base_url="${stack.url}/v1"`) && s.includes(token))).toBe(true);
  expect(snippets.some((s) => s.includes(`${stack.url}/v1beta/openai`))).toBe(true);
  expect(snippets.some((s) => /anthropic/i.test(s))).toBe(false);
  await page.locator('[data-copy="new-token"]').click();
  await page.getByRole("button", { name: "Copied" }).waitFor();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(token);
  await shot("token-created.png");

  // The token read from the page works through the proxy; the mock saw the real key, not the token.
  const used = await chat(token);
  expect(used.status).toBe(200);
  expect((await used.json()).choices[0].message.content).toContain("hello from the browser test");
  const upstream = stack.mock.requests("openai").at(-1);
  expect(upstream.headers.authorization).toBe(`Bearer ${stack.realKeys.openai}`);
  expect(JSON.stringify(stack.mock.requests())).not.toContain(token);

  // The list: label, …last4, providers, status, last used; the token itself is gone for good.
  await page.getByRole("link", { name: "Back to tokens" }).click();
  await row("ci-runner").waitFor();
  await expect(row("ci-runner").textContent()).resolves.toMatch(new RegExp(`…${token.slice(-4)}[\\s\\S]*OpenAI[\\s\\S]*Gemini[\\s\\S]*active`));
  expect(await page.content()).not.toContain(token);
  await shot("token-list.png");

  // A hostile label is text, not an element.
  const hostile = `<img src=x onerror=alert(1)>`;
  await stack.createToken({ label: hostile, providers: ["anthropic"] });
  await page.reload();
  expect(await page.getByRole("link", { name: hostile, exact: true }).count()).toBe(1);
  expect(await page.locator("main img").count()).toBe(0);

  // The filter box narrows the list as you type.
  await page.locator("#filter").fill("gemini");
  expect(await page.locator("tr[data-search]:visible").count()).toBe(2);
  await page.locator("#filter").fill("disabled");
  expect(await page.locator("tr[data-search]:visible").count()).toBe(1);
  await page.locator("#filter").fill("nothing like this");
  await page.getByText("No token matches this filter.").waitFor();
  await page.locator("#filter").fill("");

  // Disable: the proxy refuses the token; enable: it works again.
  await row("ci-runner").getByRole("button", { name: "Disable" }).click();
  await row("ci-runner").getByText("disabled", { exact: true }).waitFor();
  const refused = await chat(token);
  expect(refused.status).toBe(401);
  expect((await refused.json()).error.message).toContain("disabled");
  await row("ci-runner").getByRole("button", { name: "Enable" }).click();
  await row("ci-runner").getByText("active", { exact: true }).waitFor();
  expect((await chat(token)).status).toBe(200);

  // Delete asks first: dismissing keeps the token, accepting deletes it.
  const dialogs = [];
  const answer = (accept) => page.once("dialog", (d) => { dialogs.push(d.message()); return accept ? d.accept() : d.dismiss(); });
  answer(false);
  await row("ci-runner").getByRole("button", { name: "Delete" }).click();
  await page.waitForTimeout(300);
  expect(await row("ci-runner").count()).toBe(1);
  expect((await chat(token)).status).toBe(200);
  answer(true);
  await row("ci-runner").getByRole("button", { name: "Delete" }).click();
  await row("ci-runner").waitFor({ state: "detached" });
  expect(dialogs).toHaveLength(2);
  expect(dialogs[0]).toContain("ci-runner");
  expect(dialogs[0]).toContain(`…${token.slice(-4)}`);
  expect((await chat(token)).status).toBe(401);

  // Sign out: back to the sign-in page, and /admin stays there.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await page.goto(`${stack.url}/admin`);
  await page.getByLabel("Admin password").waitFor();
  expect(await context.cookies()).toEqual([]);

  expect(problems).toEqual([]);
});
