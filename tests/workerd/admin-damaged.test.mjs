// A record that no longer reads as one (written by hand, or by a broken release) shows in the
// dashboard's list as damaged, opens as a page that says so, and can be deleted from there.

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

test("a damaged record is listed as damaged, opens as such, and the dashboard deletes it", async () => {
  const healthy = await stack.createToken({ label: "healthy neighbour" });
  const id = "d".repeat(63) + "0";
  const kv = await stack.tokensKv();
  await kv.put(id, "{ this is not a token record");
  const client = newClient("198.21.0");
  const { cookie, csrf } = await ui.signIn({ client });

  const list = await ui.send("/admin", { cookie, client });
  expect(list.status).toBe(200);
  expect(list.text).toContain("healthy neighbour");
  const row = list.text.match(new RegExp(`<tr[^>]*damaged[^>]*>[\\s\\S]*?</tr>`))?.[0] ?? "";
  expect(row).toContain("damaged");
  expect(row).toContain(`action="/admin/tokens/${id}/delete"`);

  const opened = await ui.send(`/admin/tokens/${id}`, { cookie, client });
  expect(opened.status).toBe(200);
  expect(opened.text).toContain("Damaged record");
  expect(opened.text).not.toContain("did not answer");
  expect(opened.text).toContain(`action="/admin/tokens/${id}/delete"`);

  const asked = await ui.post(`/admin/tokens/${id}/delete`, { csrf }, { cookie, client });
  expect(asked.status).toBe(200);
  expect(asked.text).toContain("Damaged record");
  expect(await kv.get(id)).not.toBeNull();

  const deleted = await ui.post(`/admin/tokens/${id}/delete`, { csrf, confirm: "yes" }, { cookie, client });
  expect(deleted.status).toBe(303);
  expect(await kv.get(id)).toBeNull();
  const after = await ui.send("/admin", { cookie, client });
  expect(after.text).not.toContain(id);
  expect(after.text).toContain("healthy neighbour");
  expect((await stack.admin("GET", `/admin/api/tokens/${healthy.id}`)).status).toBe(200);
  const entry = (await stack.admin("GET", "/admin/api/audit")).body.entries[0];
  expect(entry).toMatchObject({ action: "delete", token_id: id, via: "dashboard", client });
});

test("the API lists damaged records by id", async () => {
  const id = "e".repeat(63) + "1";
  await (await stack.tokensKv()).put(id, "[]");
  const list = (await stack.admin("GET", "/admin/api/tokens")).body;
  expect(list.damaged).toContain(id);
  expect(list.tokens.map((t) => t.id)).not.toContain(id);
});

test("a damaged record cannot be changed, only deleted", async () => {
  const id = "f".repeat(63) + "2";
  await (await stack.tokensKv()).put(id, "null-ish");
  const client = newClient("198.21.0");
  const { cookie, csrf } = await ui.signIn({ client });
  const enabled = await ui.post(`/admin/tokens/${id}/status`, { csrf, status: "active" }, { cookie, client });
  expect(enabled.status).toBe(409);
  expect(await (await stack.tokensKv()).get(id)).toBe("null-ish");
});

test("no request crashed the Worker", () => {
  expect(stack.logs.join("")).not.toMatch(/panicked|RuntimeError|Uncaught/);
});
