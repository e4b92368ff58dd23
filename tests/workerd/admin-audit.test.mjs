// The audit log at GET /admin/api/audit and /admin/audit: every admin action (token create,
// change, disable, delete; sign-in success and failure; sign-outs) with when, from which client
// address and through which door, newest first and paged; never a token. A change that could not
// be stored writes no entry.

import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createHash } from "node:crypto";
import { startStack } from "../support/stack.mjs";
import { adminAs, dashboard, newClient } from "./admin-support.mjs";

const tokenId = (token) => createHash("sha256").update(token).digest("hex");
const audit = async (stack, query = "") => {
  const r = await stack.admin("GET", `/admin/api/audit${query}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
};

describe("with a working store", () => {
  let stack;
  let ui;
  beforeAll(async () => {
    stack = await startStack();
    ui = dashboard(stack);
  });
  afterAll(async () => { await stack?.dispose(); });

  test("each API write is logged: what, which fields before and after, when, from where, via the API", async () => {
    const client = newClient("198.19.0");
    const started = Date.now() - 1000;
    const custom = "a-custom-token-that-must-never-be-logged-0001";
    const created = await adminAs(stack, client, "POST", "/admin/api/tokens", { body: { label: "audited", providers: ["openai"], token: custom } });
    expect(created.status).toBe(201);
    const id = created.body.id;
    expect((await adminAs(stack, client, "PATCH", `/admin/api/tokens/${id}`, { body: { label: "audited 2", allowed_models: ["gpt-4o"] } })).status).toBe(200);
    expect((await adminAs(stack, client, "PATCH", `/admin/api/tokens/${id}`, { body: { status: "disabled" } })).status).toBe(200);
    expect((await adminAs(stack, client, "DELETE", `/admin/api/tokens/${id}`)).status).toBe(200);

    const log = await audit(stack);
    const mine = log.entries.filter((e) => e.token_id === id);
    expect(mine.map((e) => e.action)).toEqual(["delete", "disable", "change", "create"]);
    for (const e of mine) {
      expect(e.via).toBe("api");
      expect(e.client).toBe(client);
      expect(Date.parse(e.at)).toBeGreaterThanOrEqual(started);
      expect(Date.parse(e.at)).toBeLessThanOrEqual(Date.now() + 1000);
    }
    const [deleted, disabled, changed, create] = mine;
    expect(create.changes.find((c) => c.field === "label")).toEqual({ field: "label", before: null, after: "audited" });
    expect(create.changes.find((c) => c.field === "last4").after).toBe(custom.slice(-4));
    expect(changed.changes).toEqual([
      { field: "allowed_models", before: null, after: ["gpt-4o"] },
      { field: "label", before: "audited", after: "audited 2" },
    ]);
    expect(disabled.changes).toEqual([{ field: "status", before: "active", after: "disabled" }]);
    expect(deleted.label).toBe("audited 2");
    expect(deleted.changes.find((c) => c.field === "label")).toEqual({ field: "label", before: "audited 2", after: null });
    // Ids increase with time: newest first means descending.
    const ids = log.entries.map((e) => e.id);
    expect([...ids].sort((a, b) => b - a)).toEqual(ids);
    expect(JSON.stringify(log)).not.toContain(custom);
    expect(JSON.stringify(log)).not.toContain(custom.slice(0, 20));
  });

  test("dashboard actions and sign-ins are logged via the dashboard, and the audit page shows them", async () => {
    const client = newClient("198.19.1");
    expect((await ui.post("/admin/login", { password: "not it" }, { client })).status).toBe(401);
    const { cookie, csrf } = await ui.signIn({ client });
    const created = await ui.post("/admin/tokens", [["csrf", csrf], ["label", "from the dashboard"], ["providers", "gemini"]], { cookie, client });
    // Post, redirect, show once: the new token is read from the page the redirect leads to.
    expect(created.status).toBe(303);
    const sealed = created.cookies.find((c) => c.startsWith("apx_created=")).split(";")[0];
    const shown = await ui.send("/admin/created", { cookie: `${cookie}; ${sealed}`, client });
    const token = shown.text.match(/apx_[0-9A-Za-z]{39}/)[0];
    const id = tokenId(token);
    expect((await ui.post(`/admin/tokens/${id}/status`, { csrf, status: "disabled" }, { cookie, client })).status).toBe(303);
    expect((await ui.post(`/admin/tokens/${id}/status`, { csrf, status: "active" }, { cookie, client })).status).toBe(303);
    expect((await ui.post(`/admin/tokens/${id}/delete`, { csrf, confirm: "yes" }, { cookie, client })).status).toBe(303);

    const mine = (await audit(stack, "?limit=200")).entries.filter((e) => e.client === client);
    expect(mine.map((e) => e.action)).toEqual(["delete", "enable", "disable", "create", "sign_in", "sign_in_failed"]);
    for (const e of mine) expect(e.via).toBe("dashboard");
    expect(JSON.stringify(mine)).not.toContain(token);

    const page = await ui.send("/admin/audit", { cookie, client });
    expect(page.status).toBe(200);
    expect(page.text).toContain("Audit log");
    for (const word of ["sign-in failed", "sign-in", "create", "disable", "enable", "delete", "from the dashboard", client]) expect(page.text).toContain(word);
    expect(page.text).toContain("status: &#34;active&#34; → &#34;disabled&#34;".replaceAll("&#34;", page.text.includes("&quot;") ? "&quot;" : "&#34;"));
    expect(page.text).not.toContain(token);
  });

  test("a wrong API secret is logged as a failed sign-in via the API", async () => {
    const client = newClient("198.19.2");
    expect((await adminAs(stack, client, "GET", "/admin/api/tokens", { secret: "guess" })).status).toBe(401);
    const mine = (await audit(stack)).entries.filter((e) => e.client === client);
    expect(mine).toEqual([expect.objectContaining({ action: "sign_in_failed", via: "api", client })]);
    expect(JSON.stringify(mine)).not.toContain("guess");
  });

  test("paging: ?limit and ?before walk the log newest first without gaps or repeats", async () => {
    for (let i = 0; i < 7; i++) await stack.createToken({ label: `page ${i}` });
    const all = (await audit(stack, "?limit=200")).entries.map((e) => e.id);
    const walked = [];
    let query = "?limit=3";
    for (;;) {
      const page = await audit(stack, query);
      expect(page.entries.length).toBeLessThanOrEqual(3);
      walked.push(...page.entries.map((e) => e.id));
      if (!page.next_before) break;
      query = `?limit=3&before=${page.next_before}`;
    }
    expect(walked).toEqual(all);
    expect(all.length).toBeGreaterThan(7);
    const first = await audit(stack, "?limit=2");
    expect(first.entries.map((e) => e.label)).toEqual(["page 6", "page 5"]);
    expect((await audit(stack)).entries.length).toBe(Math.min(50, all.length));
  });

  test("bad paging arguments are 400 naming the field", async () => {
    for (const [query, field] of [["?limit=0", "limit"], ["?limit=201", "limit"], ["?limit=x", "limit"], ["?before=-1", "before"], ["?before=abc", "before"]]) {
      const r = await stack.admin("GET", `/admin/api/audit${query}`);
      expect(r.status, query).toBe(400);
      expect(r.body.error.field, query).toBe(field);
    }
  });

  test("the audit log needs the admin secret like every admin route", async () => {
    const r = await adminAs(stack, newClient("198.19.3"), "GET", "/admin/api/audit", { secret: "nope" });
    expect(r.status).toBe(401);
    expect(r.text).not.toContain("sign_in");
    expect((await ui.send("/admin/audit", { client: newClient("198.19.3") })).status).toBe(303);
  });
});

describe("when KV refuses the write", () => {
  let stack;
  beforeAll(async () => { stack = await startStack({ kvFailure: "writes" }); });
  afterAll(async () => { await stack?.dispose(); });

  test("a failed change writes no entry, and the record is untouched", async () => {
    const id = "c".repeat(64);
    const record = { label: "kept", providers: ["openai"], status: "active", created_at: "2026-12-01T09:00:00Z", last4: "abcd" };
    await (await stack.tokensKv()).put(id, JSON.stringify(record), { metadata: record });
    const client = newClient("198.19.4");
    const attempts = [
      ["POST", "/admin/api/tokens", { label: "new", providers: ["openai"] }],
      ["PATCH", `/admin/api/tokens/${id}`, { label: "changed" }],
      ["PATCH", `/admin/api/tokens/${id}`, { status: "disabled" }],
      ["DELETE", `/admin/api/tokens/${id}`, undefined],
    ];
    for (const [method, path, body] of attempts) {
      const r = await adminAs(stack, client, method, path, { body });
      expect(r.status, `${method} ${path}`).toBe(503);
    }
    const shown = await stack.admin("GET", `/admin/api/tokens/${id}`);
    expect(shown.body).toMatchObject({ label: "kept", status: "active" });
    const log = await audit(stack);
    expect(log.entries.filter((e) => e.client === client)).toEqual([]);
    expect(log.entries.filter((e) => ["create", "change", "disable", "delete"].includes(e.action))).toEqual([]);
    // And what AdminState now holds is still the record as it was: a later change starts from it.
    expect(JSON.stringify(log)).not.toContain("changed");
  });
});
