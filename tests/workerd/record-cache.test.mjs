// The isolate's token record cache (src/tokens/store.rs, bound `RECORD_CACHE_SECS`, 20 s by
// default: tokens::cache_bound's unit tests pin that). A change written to KV outside the Worker
// (as `wrangler kv key put` would) is not seen before the bound, and is seen after it. The bound is
// a [vars] setting so this runs without waiting 20 s; the test waits for time to pass and asserts
// what the proxy answers, never how long anything took.

import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

async function chat(stack, token) {
  const res = await fetch(`${stack.url}/v1/models`, { headers: { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
}

/** Disables the token in KV directly, the way an operator editing KV by hand would. */
async function disableBehindTheWorkersBack(stack, id) {
  const kv = await stack.tokensKv();
  const record = JSON.parse(await kv.get(id));
  record.status = "disabled";
  await kv.put(id, JSON.stringify(record), { metadata: record });
}

describe.each([
  ["a 1 s bound", "1", 1000],
  ["a 2 s bound", "2", 2000],
])("with %s", (_, secs, boundMs) => {
  let stack;
  beforeAll(async () => { stack = await startStack({ bindings: { RECORD_CACHE_SECS: secs } }); });
  afterAll(async () => { await stack?.dispose(); });

  test("a change made in KV takes effect once the bound has passed since the record was read", async () => {
    const token = await stack.createToken();
    expect(await chat(stack, token.token)).toBe(200);
    // The record was cached at the latest now.
    const readAt = Date.now();
    await disableBehindTheWorkersBack(stack, token.id);
    const waited = boundMs + 300 - (Date.now() - readAt);
    if (waited > 0) await pause(waited);
    expect(await chat(stack, token.token)).toBe(401);
  });
});

describe("with a 60 s bound", () => {
  let stack;
  beforeAll(async () => { stack = await startStack({ bindings: { RECORD_CACHE_SECS: "60" } }); });
  afterAll(async () => { await stack?.dispose(); });

  test("a change made in KV is not seen before the bound: the cached record still answers", async () => {
    const token = await stack.createToken();
    expect(await chat(stack, token.token)).toBe(200);
    await disableBehindTheWorkersBack(stack, token.id);
    expect(await chat(stack, token.token)).toBe(200);
    // A change made through the admin API in this isolate takes effect at once all the same.
    expect((await stack.admin("PATCH", `/admin/api/tokens/${token.id}`, { status: "disabled" })).status).toBe(200);
    expect(await chat(stack, token.token)).toBe(401);
  });

  test("an unknown token is never cached: created in KV, it works at once", async () => {
    const token = await stack.createToken();
    const kv = await stack.tokensKv();
    const record = JSON.parse(await kv.get(token.id));
    await kv.delete(token.id);
    expect(await chat(stack, token.token)).toBe(401);
    await kv.put(token.id, JSON.stringify(record), { metadata: record });
    expect(await chat(stack, token.token)).toBe(200);
  });
});

describe("with the default bound", () => {
  let stack;
  beforeAll(async () => { stack = await startStack(); });
  afterAll(async () => { await stack?.dispose(); });

  test("the cache is on: a change made in KV is not seen at once", async () => {
    const token = await stack.createToken();
    expect(await chat(stack, token.token)).toBe(200);
    await disableBehindTheWorkersBack(stack, token.id);
    expect(await chat(stack, token.token)).toBe(200);
  });
});
