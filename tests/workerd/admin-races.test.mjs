// Admin writes racing each other. A DELETE that has answered 200 is final: no PATCH, dashboard save
// or status change that was in flight may put the record back (in KV, in the list, or in the
// proxy's answer). And two changes of different fields made at once both survive.

import { afterAll, beforeAll, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { dashboard } from "./admin-support.mjs";

let stack;
let ui;
beforeAll(async () => {
  stack = await startStack({ kvLatencyMs: 8 });
  ui = dashboard(stack);
});
afterAll(async () => { await stack?.dispose(); });

const PAIRS = 40;
// The two sides of a pair are sent at once: which reaches KV first is up to KV's latency.
const both = (a, b) => Promise.all([a(), b()]);

async function expectGone(created, label) {
  const kv = await stack.tokensKv();
  expect(await kv.get(created.id), `${label}: still in KV`).toBeNull();
  expect((await stack.admin("GET", `/admin/api/tokens/${created.id}`)).status, `${label}: the API still shows it`).toBe(404);
  const listed = (await stack.admin("GET", "/admin/api/tokens")).body.tokens.map((t) => t.id);
  expect(listed, `${label}: still listed`).not.toContain(created.id);
  const proxied = await fetch(`${stack.url}/v1/models`, { headers: { authorization: `Bearer ${created.token}` } });
  await proxied.arrayBuffer();
  expect(proxied.status, `${label}: the proxy still serves it`).toBe(401);
}

/** Runs `change` and a DELETE on each of PAIRS fresh tokens, the DELETE a little later each time. */
async function race(change) {
  const tokens = await Promise.all(Array.from({ length: PAIRS }, (_, i) => stack.createToken({ label: `race ${i}` })));
  const outcomes = await Promise.all(
    tokens.map(async (t, i) => {
      const [changed, deleted] = await both(() => change(t, i), () => stack.admin("DELETE", `/admin/api/tokens/${t.id}`));
      return { t, deleted: deleted.status, changed };
    }),
  );
  const deleted = outcomes.filter((o) => o.deleted === 200);
  // Every DELETE reached an existing record, so every one of them must have succeeded.
  expect(deleted.length).toBe(PAIRS);
  for (const o of deleted) await expectGone(o.t, `token ${o.t.label} (change answered ${o.changed})`);
}

test("a PATCH racing a DELETE never brings the token back", async () => {
  await race(async (t, i) => (await stack.admin("PATCH", `/admin/api/tokens/${t.id}`, i % 2 ? { label: "renamed" } : { status: "active" })).status);
});

test("a dashboard save racing a DELETE never brings the token back", async () => {
  const { cookie, csrf } = await ui.signIn();
  await race(async (t) => {
    const form = [["csrf", csrf], ["label", "edited in the dashboard"], ["providers", "openai"], ["rate_per_seconds", "60"]];
    return (await ui.post(`/admin/tokens/${t.id}`, form, { cookie })).status;
  });
});

test("a dashboard enable racing a dashboard delete never brings the token back", async () => {
  const { cookie, csrf } = await ui.signIn({ client: "192.0.2.2" });
  const tokens = await Promise.all(Array.from({ length: PAIRS }, (_, i) => stack.createToken({ label: `ui race ${i}` })));
  const outcomes = await Promise.all(
    tokens.map(async (t, i) => {
      const [enabled, deleted] = await both(
        () => ui.post(`/admin/tokens/${t.id}/status`, { csrf, status: "active" }, { cookie, client: "192.0.2.2" }),
        () => ui.post(`/admin/tokens/${t.id}/delete`, { csrf, confirm: "yes" }, { cookie, client: "192.0.2.2" }),
      );
      return { t, deleted: deleted.status, enabled: enabled.status };
    }),
  );
  for (const o of outcomes) expect(o.deleted, "the dashboard delete redirects back to the list").toBe(303);
  for (const o of outcomes) await expectGone(o.t, `token ${o.t.label} (enable answered ${o.enabled})`);
});

test("two PATCHes of different fields made at once both survive", async () => {
  const tokens = await Promise.all(Array.from({ length: PAIRS }, (_, i) => stack.createToken({ label: `both ${i}` })));
  await Promise.all(
    tokens.map((t, i) =>
      Promise.all([
        stack.admin("PATCH", `/admin/api/tokens/${t.id}`, { label: `both ${i} renamed` }),
        stack.admin("PATCH", `/admin/api/tokens/${t.id}`, { allowed_models: ["gpt-4o-mini"] }),
        stack.admin("PATCH", `/admin/api/tokens/${t.id}`, { status: "disabled" }),
      ]).then((answers) => answers.forEach((a) => expect(a.status).toBe(200))),
    ),
  );
  for (const [i, t] of tokens.entries()) {
    const shown = (await stack.admin("GET", `/admin/api/tokens/${t.id}`)).body;
    expect({ label: shown.label, allowed_models: shown.allowed_models, status: shown.status }, t.id).toEqual({
      label: `both ${i} renamed`,
      allowed_models: ["gpt-4o-mini"],
      status: "disabled",
    });
  }
});

test("no request crashed the Worker", () => {
  expect(stack.logs.join("")).not.toMatch(/panicked|RuntimeError|Uncaught/);
});
