// Signing out ends the session on the server, not only in the browser that signed out: a copy of
// the cookie (from another tab, a backup, a stolen laptop) stops working. "Sign out everywhere"
// ends every session opened before it, and a sign-in after it works.

import { afterAll, beforeAll, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { dashboard, newClient } from "./admin-support.mjs";

let stack;
let ui;
beforeAll(async () => {
  stack = await startStack();
  ui = dashboard(stack);
});
afterAll(async () => { await stack?.dispose(); });

const isSignInPage = (html) => html.includes('action="/admin/login"') && html.includes('name="password"');
const isDashboard = (html) => html.includes("New token") && !html.includes('action="/admin/login"');

async function works(cookie, client) {
  const page = await ui.send("/admin", { cookie, client });
  expect(page.status).toBe(200);
  return isDashboard(page.text) && !isSignInPage(page.text);
}

test("after sign-out, a copy of the cookie gets the sign-in page and cannot change anything", async () => {
  const client = newClient("198.20.0");
  const { cookie, csrf } = await ui.signIn({ client });
  const copy = cookie;
  expect(await works(copy, client)).toBe(true);
  const out = await ui.post("/admin/logout", { csrf }, { cookie, client });
  expect(out.status).toBe(303);
  expect(out.cookies[0]).toMatch(/^apx_session=;/);
  expect(await works(copy, client)).toBe(false);
  const created = await ui.post("/admin/tokens", [["csrf", csrf], ["label", "after sign-out"], ["providers", "openai"]], { cookie: copy, client });
  expect(created.status).toBe(401);
  expect(created.text).not.toMatch(/apx_[0-9A-Za-z]{39}/);
  const labels = (await stack.admin("GET", "/admin/api/tokens")).body.tokens.map((t) => t.label);
  expect(labels).not.toContain("after sign-out");
});

test("signing out one session leaves the others signed in", async () => {
  const client = newClient("198.20.0");
  const a = await ui.signIn({ client });
  const b = await ui.signIn({ client });
  expect((await ui.post("/admin/logout", { csrf: a.csrf }, { cookie: a.cookie, client })).status).toBe(303);
  expect(await works(a.cookie, client)).toBe(false);
  expect(await works(b.cookie, client)).toBe(true);
});

test("sign out everywhere ends every session, this one and copies included; a new sign-in then works", async () => {
  const client = newClient("198.20.0");
  const a = await ui.signIn({ client });
  const b = await ui.signIn({ client: newClient("198.20.0") });
  const page = await ui.send("/admin/audit", { cookie: a.cookie, client });
  expect(page.text).toContain('action="/admin/logout-everywhere"');
  const refused = await ui.post("/admin/logout-everywhere", {}, { cookie: a.cookie, client });
  expect(refused.status).toBe(403);
  expect(await works(b.cookie, b.client)).toBe(true);
  const out = await ui.post("/admin/logout-everywhere", { csrf: a.csrf }, { cookie: a.cookie, client });
  expect(out.status).toBe(303);
  expect(out.cookies[0]).toMatch(/^apx_session=;/);
  expect(await works(a.cookie, client)).toBe(false);
  expect(await works(b.cookie, b.client)).toBe(false);
  const again = await ui.signIn({ client });
  expect(await works(again.cookie, client)).toBe(true);
  const log = (await stack.admin("GET", "/admin/api/audit")).body.entries;
  expect(log[0]).toMatchObject({ action: "sign_in", via: "dashboard", client });
  expect(log[1]).toMatchObject({ action: "sign_out_everywhere", via: "dashboard", client });
});

test("sign-out is logged", async () => {
  const client = newClient("198.20.1");
  const { cookie, csrf } = await ui.signIn({ client });
  await ui.post("/admin/logout", { csrf }, { cookie, client });
  const mine = (await stack.admin("GET", "/admin/api/audit")).body.entries.filter((e) => e.client === client);
  expect(mine.map((e) => e.action)).toEqual(["sign_out", "sign_in"]);
});

test("no request crashed the Worker", () => {
  expect(stack.logs.join("")).not.toMatch(/panicked|RuntimeError|Uncaught/);
});
