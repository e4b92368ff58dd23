// The dashboard's price page at /admin/prices: set and remove a model's override with plain form
// posts (the same AdminState write as the price API, audited as the dashboard's), refused without
// the session's CSRF token, and a hostile model name shown as text. Changes are checked through
// the admin JSON API, not through the page that made them.

import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { dashboard, newClient } from "./admin-support.mjs";

let stack;
let ui;
beforeAll(async () => { stack = await startStack(); ui = dashboard(stack); });
afterAll(async () => { await stack?.dispose(); });

const overrides = async () => {
  const r = await stack.admin("GET", "/admin/api/prices");
  expect(r.status).toBe(200);
  return r.body.overrides;
};
const cookieOf = (res, name) => res.cookies.find((c) => c.startsWith(`${name}=`))?.split(";")[0];
const withNotice = (session, res) => [session.cookie, cookieOf(res, "apx_notice")].filter(Boolean).join("; ");

describe("the price page", () => {
  test("is linked from the usage overview, which the token list links to", async () => {
    const s = await ui.signIn({ client: newClient("198.18.7") });
    const list = await ui.send("/admin", { cookie: s.cookie, client: s.client });
    expect(list.text).toContain('href="/admin/usage"');
    const overview = await ui.send("/admin/usage", { cookie: s.cookie, client: s.client });
    expect(overview.text).toContain('href="/admin/prices"');
    const page = await ui.send("/admin/prices", { cookie: s.cookie, client: s.client });
    expect(page.status).toBe(200);
    expect(page.text.match(/<h1/g)).toHaveLength(1);
  });

  test("a price set through the form is in the API and the audit log via the dashboard, and Remove drops it", async () => {
    const s = await ui.signIn({ client: newClient("198.18.8") });
    const set = await ui.post("/admin/prices", { csrf: s.csrf, model: "form-model", input: "2.5", cached_input: "", cache_write: "3", output: "10" }, { cookie: s.cookie, client: s.client });
    expect(set.status, set.text).toBe(303);
    expect(set.location).toBe("/admin/prices");
    expect((await overrides())["form-model"]).toEqual({ input: 2.5, cache_write: 3, output: 10 });
    // What the proxy reads.
    expect(JSON.parse(await (await stack.tokensKv()).get("usage:prices"))["form-model"]).toEqual({ input: 2.5, cache_write: 3, output: 10 });

    const after = await ui.send("/admin/prices", { cookie: withNotice(s, set), client: s.client });
    expect(after.text).toContain("Saved the price of form-model.");
    expect(after.text).toContain("Remove<span class=\"sr\"> price for form-model</span>");
    expect(after.text).toMatch(/<td class="text">form-model<\/td><td>\$2\.5<\/td><td>—<\/td><td>\$3<\/td><td>\$10<\/td>/);
    // The notice is shown once: the page that shows it clears its cookie.
    expect(cookieOf(after, "apx_notice")).toBe("apx_notice=");

    const removed = await ui.post("/admin/prices/remove", { csrf: s.csrf, model: "form-model" }, { cookie: s.cookie, client: s.client });
    expect(removed.status, removed.text).toBe(303);
    expect(await overrides()).not.toHaveProperty("form-model");
    const page = await ui.send("/admin/prices", { cookie: withNotice(s, removed), client: s.client });
    expect(page.text).toContain("Removed the price override of form-model");
    expect(page.text).not.toContain("price for form-model");

    const log = (await stack.admin("GET", "/admin/api/audit?limit=200")).body.entries.filter((e) => e.model === "form-model");
    expect(log.map((e) => e.action)).toEqual(["price_removed", "price_set"]);
    for (const e of log) expect(e).toMatchObject({ via: "dashboard", client: s.client });
    expect(log[1].changes).toEqual(expect.arrayContaining([{ field: "input", before: null, after: 2.5 }, { field: "output", before: null, after: 10 }]));
  });

  test("bad rates are refused at their inputs with what was typed kept, and nothing is written", async () => {
    const s = await ui.signIn({ client: newClient("198.18.9") });
    const res = await ui.post("/admin/prices", { csrf: s.csrf, model: "bad-model", input: "abc", cached_input: "-1", cache_write: "", output: "" }, { cookie: s.cookie, client: s.client });
    expect(res.status).toBe(400);
    expect(res.text).toContain("3 fields need attention");
    expect(res.text).toMatch(/<p class="field-error" id="input-error">Input must be a number/);
    expect(res.text).toMatch(/<p class="field-error" id="cached_input-error">Cached input must be a number of USD per million tokens between 0 and 100000\./);
    expect(res.text).toContain('id="output-error"');
    expect(res.text).not.toContain('id="cache_write-error"');
    expect(res.text).toContain('value="abc"');
    expect(await overrides()).not.toHaveProperty("bad-model");
  });

  test("a post without the session's CSRF token, or from another origin, changes nothing", async () => {
    const s = await ui.signIn({ client: newClient("198.18.10") });
    const noCsrf = await ui.post("/admin/prices", { model: "csrf-model", input: "1", output: "1" }, { cookie: s.cookie, client: s.client });
    expect(noCsrf.status).toBe(403);
    const foreign = await ui.post("/admin/prices", { csrf: s.csrf, model: "csrf-model", input: "1", output: "1" }, { cookie: s.cookie, client: s.client, origin: "https://evil.example" });
    expect(foreign.status).toBe(403);
    expect(await overrides()).not.toHaveProperty("csrf-model");

    expect((await stack.admin("PUT", "/admin/api/prices/keep-model", { input: 1, output: 2 })).status).toBe(200);
    const remove = await ui.post("/admin/prices/remove", { csrf: "0".repeat(64), model: "keep-model" }, { cookie: s.cookie, client: s.client });
    expect(remove.status).toBe(403);
    expect((await overrides())["keep-model"]).toEqual({ input: 1, output: 2 });
  });

  test("a hostile model name is refused by the form and shown as text", async () => {
    const s = await ui.signIn({ client: newClient("198.18.11") });
    const evil = '<img src=x onerror=alert(1)>"';
    const res = await ui.post("/admin/prices", { csrf: s.csrf, model: evil, input: "1", output: "1" }, { cookie: s.cookie, client: s.client });
    expect(res.status).toBe(400);
    expect(res.text).toContain('id="model-error"');
    expect(res.text).not.toContain("<img src=x");
    expect(res.text).toMatch(/value="&(#60|lt);img src=x onerror=alert\(1\)&(#62|gt);&(#34|quot);"/);
    expect(Object.keys(await overrides())).not.toContain(evil);

    // One that reached the store some other way (written to KV before AdminState existed) is
    // listed as text, its Remove button named after it, escaped too.
    const kv = await stack.tokensKv();
    const before = await kv.get("usage:prices");
    await kv.put("usage:prices", JSON.stringify({ ...JSON.parse(before ?? "{}"), [evil]: { input: 1, output: 2 } }));
    try {
      const page = await ui.send("/admin/prices", { cookie: s.cookie, client: s.client });
      expect(page.status).toBe(200);
      expect(page.text).not.toContain("<img src=x");
      expect(page.text).toMatch(/price for &(#60|lt);img src=x onerror=alert\(1\)&(#62|gt);&(#34|quot);<\/span>/);
    } finally {
      if (before === null) await kv.delete("usage:prices"); else await kv.put("usage:prices", before);
    }
  });
});
