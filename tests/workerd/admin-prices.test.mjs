// Price overrides are admin writes like token writes (issue 14): written through AdminState one at
// a time, so concurrent changes to different models all survive, and each one is in the audit log
// (a change KV refused is not).

import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { adminAs, newClient } from "./admin-support.mjs";

const audit = async (stack) => {
  const r = await stack.admin("GET", "/admin/api/audit?limit=200");
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.entries;
};

describe("with a slow KV", () => {
  let stack;
  beforeAll(async () => { stack = await startStack({ kvLatencyMs: 8 }); });
  afterAll(async () => { await stack?.dispose(); });

  test("20 concurrent PUTs for 20 different models all survive, in the API and in KV", async () => {
    const models = Array.from({ length: 20 }, (_, i) => `race-model-${i}`);
    const answers = await Promise.all(models.map((m, i) => stack.admin("PUT", `/admin/api/prices/${m}`, { input: i + 1, output: 2 * (i + 1) })));
    expect(answers.map((a) => a.status)).toEqual(models.map(() => 200));
    const overrides = (await stack.admin("GET", "/admin/api/prices")).body.overrides;
    expect(Object.keys(overrides).sort()).toEqual([...models].sort());
    models.forEach((m, i) => expect(overrides[m], m).toEqual({ input: i + 1, output: 2 * (i + 1) }));
    // What the proxy reads: the one KV key.
    const kv = JSON.parse(await (await stack.tokensKv()).get("usage:prices"));
    expect(Object.keys(kv).sort()).toEqual([...models].sort());

    // Removing half of them at once, while the other half is changed, also loses nothing.
    const changes = await Promise.all(models.map((m, i) => (i % 2 ? stack.admin("DELETE", `/admin/api/prices/${m}`) : stack.admin("PUT", `/admin/api/prices/${m}`, { input: 100 + i, output: 1 }))));
    expect(changes.map((a) => a.status)).toEqual(models.map(() => 200));
    const after = JSON.parse(await (await stack.tokensKv()).get("usage:prices"));
    expect(Object.keys(after).sort()).toEqual(models.filter((_, i) => i % 2 === 0).sort());
    for (const [i, m] of models.entries()) if (i % 2 === 0) expect(after[m], m).toEqual({ input: 100 + i, output: 1 });
  });
});

describe("with a working store", () => {
  let stack;
  beforeAll(async () => { stack = await startStack(); });
  afterAll(async () => { await stack?.dispose(); });

  test("a price set, changed and removed is in the audit log: model, before and after, client, via the API", async () => {
    const client = newClient("198.19.5");
    expect((await adminAs(stack, client, "PUT", "/admin/api/prices/audited-model", { body: { input: 1, output: 2 } })).status).toBe(200);
    expect((await adminAs(stack, client, "PUT", "/admin/api/prices/audited-model", { body: { input: 3, output: 2 } })).status).toBe(200);
    expect((await adminAs(stack, client, "DELETE", "/admin/api/prices/audited-model")).status).toBe(200);
    // Nothing to remove: a 404, and nothing logged.
    expect((await adminAs(stack, client, "DELETE", "/admin/api/prices/audited-model")).status).toBe(404);
    const mine = (await audit(stack)).filter((e) => e.model === "audited-model");
    expect(mine.map((e) => e.action)).toEqual(["price_removed", "price_set", "price_set"]);
    for (const e of mine) expect(e).toMatchObject({ client, via: "api" });
    const [removed, changed, set] = mine;
    expect(set.changes).toEqual([{ field: "input", before: null, after: 1 }, { field: "output", before: null, after: 2 }]);
    expect(changed.changes).toEqual([{ field: "input", before: 1, after: 3 }]);
    expect(removed.changes).toEqual([{ field: "input", before: 3, after: null }, { field: "output", before: 2, after: null }]);
  });
});

describe("an override written before AdminState existed", () => {
  let stack;
  beforeAll(async () => { stack = await startStack(); });
  afterAll(async () => { await stack?.dispose(); });

  test("is adopted from KV by the first change, not dropped", async () => {
    const kv = await stack.tokensKv();
    await kv.put("usage:prices", JSON.stringify({ "old-model": { input: 7, output: 8 } }));
    expect((await stack.admin("PUT", "/admin/api/prices/new-model", { input: 1, output: 1 })).status).toBe(200);
    expect(JSON.parse(await kv.get("usage:prices"))).toEqual({ "old-model": { input: 7, output: 8 }, "new-model": { input: 1, output: 1 } });
    expect((await stack.admin("DELETE", "/admin/api/prices/old-model")).status).toBe(200);
    expect(JSON.parse(await kv.get("usage:prices"))).toEqual({ "new-model": { input: 1, output: 1 } });
  });
});

describe("when KV refuses the write", () => {
  let stack;
  beforeAll(async () => { stack = await startStack({ kvFailure: "writes" }); });
  afterAll(async () => { await stack?.dispose(); });

  test("a price change KV refused answers 503 and writes no audit entry", async () => {
    const client = newClient("198.19.6");
    expect((await adminAs(stack, client, "PUT", "/admin/api/prices/refused-model", { body: { input: 1, output: 2 } })).status).toBe(503);
    const entries = await audit(stack);
    expect(entries.filter((e) => e.client === client)).toEqual([]);
    expect(entries.filter((e) => e.action.startsWith("price"))).toEqual([]);
    // Nor does AdminState believe it: the overrides are still empty.
    expect((await stack.admin("GET", "/admin/api/prices/refused-model")).status).toBe(404);
  });
});
