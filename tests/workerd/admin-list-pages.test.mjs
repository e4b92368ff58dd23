// GET /admin/api/tokens must walk every KV list page: KV returns at most 1000 keys per call, so
// with more tokens than that a list that read only the first page would silently lose some.

import { afterAll, beforeAll, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";

const COUNT = 1150;
const BATCH = 50;

let stack;
const created = [];
beforeAll(async () => {
  stack = await startStack();
  // In parallel batches: one at a time would take long, all at once would swamp workerd.
  for (let i = 0; i < COUNT; i += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, COUNT - i) }, (_, j) => stack.createToken({ label: `bulk-${i + j}`, providers: ["openai"] }));
    created.push(...(await Promise.all(batch)));
  }
}, 300_000);
afterAll(async () => { await stack?.dispose(); });

test("the tokens really span more than one KV list page", async () => {
  const kv = await stack.mf.getKVNamespace("TOKENS");
  const first = await kv.list();
  expect(first.keys).toHaveLength(1000);
  expect(first.list_complete).toBe(false);
});

test(`all ${COUNT} tokens are listed, each once, without plaintext`, async () => {
  const r = await stack.admin("GET", "/admin/api/tokens");
  expect(r.status).toBe(200);
  const ids = r.body.tokens.map((t) => t.id);
  expect(ids).toHaveLength(COUNT);
  expect(new Set(ids)).toEqual(new Set(created.map((t) => t.id)));
  const byId = new Map(r.body.tokens.map((t) => [t.id, t]));
  for (const t of created) expect(byId.get(t.id).label).toBe(t.label);
  const text = JSON.stringify(r.body);
  for (const t of created) expect(text.includes(t.token)).toBe(false);
});

test("a token from the second KV page works through the proxy and can be managed", async () => {
  // KV lists keys in order, so the greatest id is on the last page.
  const last = created.reduce((a, b) => (a.id > b.id ? a : b));
  expect((await fetch(`${stack.url}/v1/models`, { headers: { authorization: `Bearer ${last.token}` } })).status).toBe(200);
  expect((await stack.admin("DELETE", `/admin/api/tokens/${last.id}`)).status).toBe(200);
  const ids = (await stack.admin("GET", "/admin/api/tokens")).body.tokens.map((t) => t.id);
  expect(ids).toHaveLength(COUNT - 1);
  expect(ids).not.toContain(last.id);
});
