// The admin JSON API's throttle: wrong secrets are counted per client address in the Limiter
// object, in the same budget as the dashboard's failed sign-ins (both guess the one ADMIN_SECRET),
// and past 5 a minute the client gets 429 with Retry-After, even with the right secret. Other
// clients are not affected.

import { afterAll, beforeAll, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { adminAs, dashboard, newClient } from "./admin-support.mjs";

let stack;
beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.dispose(); });

// The limiter counts per fixed minute; start early in one, so that every try lands in it.
async function startOfAMinute() {
  const s = new Date().getUTCSeconds();
  if (s > 45) await new Promise((r) => setTimeout(r, (61 - s) * 1000));
}

test("after 5 wrong secrets in a minute: 429 with Retry-After, even for the right secret", async () => {
  await startOfAMinute();
  const client = newClient("198.18.0");
  for (let i = 1; i <= 5; i++) {
    const res = await adminAs(stack, client, "GET", "/admin/api/tokens", { secret: `wrong-${i}` });
    expect(res.status, `try ${i}`).toBe(401);
  }
  const throttled = await adminAs(stack, client, "GET", "/admin/api/tokens", { secret: "wrong-6" });
  expect(throttled.status).toBe(429);
  const retryAfter = Number(throttled.headers.get("retry-after"));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(throttled.body.error.message).toMatch(/Too many wrong secrets/);
  // A throttled client learns nothing from the right secret, and changes nothing with it.
  const right = await adminAs(stack, client, "POST", "/admin/api/tokens", { body: { label: "from the throttled client", providers: ["openai"] } });
  expect(right.status).toBe(429);
  expect(right.text).not.toContain("apx_");
  // Another client with the right secret keeps working; another with a wrong one gets its 401.
  const other = await adminAs(stack, newClient("198.18.0"), "GET", "/admin/api/tokens");
  expect(other.status).toBe(200);
  expect(other.body.tokens.map((t) => t.label)).not.toContain("from the throttled client");
  expect((await adminAs(stack, newClient("198.18.0"), "GET", "/admin/api/tokens", { secret: "nope" })).status).toBe(401);
});

test("four wrong secrets do not block the right one", async () => {
  await startOfAMinute();
  const client = newClient("198.18.0");
  for (let i = 1; i <= 4; i++) expect((await adminAs(stack, client, "GET", "/admin/api/tokens", { secret: "nope" })).status).toBe(401);
  expect((await adminAs(stack, client, "GET", "/admin/api/tokens")).status).toBe(200);
});

test("wrong dashboard passwords and wrong API secrets share one budget per client", async () => {
  await startOfAMinute();
  const client = newClient("198.18.0");
  const ui = dashboard(stack);
  for (let i = 1; i <= 3; i++) expect((await ui.post("/admin/login", { password: `wrong-${i}` }, { client })).status).toBe(401);
  for (let i = 4; i <= 5; i++) expect((await adminAs(stack, client, "GET", "/admin/api/tokens", { secret: `wrong-${i}` })).status).toBe(401);
  expect((await adminAs(stack, client, "GET", "/admin/api/tokens")).status).toBe(429);
  expect((await ui.post("/admin/login", { password: stack.adminSecret }, { client })).status).toBe(429);
});

test("no request crashed the Worker", () => {
  expect(stack.logs.join("")).not.toMatch(/panicked|RuntimeError|Uncaught/);
});

test("a throttle that cannot be reached lets the admin in (logged): failing closed would lock the operator out during an outage", async () => {
  const broken = await startStack({ limiterFailure: true });
  try {
    const ok = await adminAs(broken, newClient("198.18.9"), "GET", "/admin/api/tokens");
    expect(ok.status).toBe(200);
    const wrong = await adminAs(broken, newClient("198.18.9"), "GET", "/admin/api/tokens", { secret: "wrong" });
    expect(wrong.status).toBe(401);
    await expect.poll(() => broken.logs.join("")).toMatch(/admin API limiter unavailable/);
  } finally {
    await broken.dispose();
  }
});
