// The rate limit is counted in the token's Ledger Durable Object, not in the isolate: an object that cannot be
// reached refuses (503, in the caller's shape) instead of letting the token run unlimited, and the
// count survives a restart of the Worker on the same storage, as it must when Cloudflare runs the
// next request in another isolate or location.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { expectProxyError } from "./helpers.mjs";
import { awayFromWindowEdge, send } from "./policy-support.mjs";

describe("a token's ledger object that cannot be reached", () => {
  let stack, limited, unlimited;
  beforeAll(async () => {
    stack = await startStack({ ledgerFailure: true });
    limited = await stack.createToken({ label: "limited", rate_limit: { requests: 100, per_seconds: 60 } });
    unlimited = await stack.createToken({ label: "unlimited" });
  });
  afterAll(async () => { await stack?.dispose(); });

  test.each(["openai", "anthropic", "gemini"])("refuses a rate-limited %s request with a 503 in its shape, and sends nothing upstream", async (provider) => {
    stack.mock.reset();
    const { res, json, text } = await send(stack, provider, limited.token);
    expectProxyError({ status: res.status, headers: res.headers, text, json }, 503, provider);
    expect(json.error.message).toMatch(/limits \(rate limit, budget\) cannot be checked/);
    expect(stack.mock.requests()).toEqual([]);
  });

  test("says so in the log, with the token's id prefix", async () => {
    await expect.poll(() => stack.logs.join("")).toMatch(new RegExp(`"event":"token_limits_unavailable","request_id":"[^"]+","token_id":"${limited.id.slice(0, 8)}"`));
  });

  test("tokens without a limit never call it, and keep working", async () => {
    stack.mock.reset();
    const { status } = await send(stack, "openai", unlimited.token);
    expect(status).toBe(200);
    expect(stack.mock.requests("openai")).toHaveLength(1);
  });
});

describe("a restart of the Worker on the same storage", () => {
  let dir;
  beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), "api-proxy-limiter-")); });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("keeps the count: the third request of a 2-per-day token is refused by the new isolate", async () => {
    await awayFromWindowEdge(86400, 30);
    let stack = await startStack({ persist: dir });
    let token;
    try {
      ({ token } = await stack.createToken({ label: "survives", rate_limit: { requests: 2, per_seconds: 86400 } }));
      for (let i = 0; i < 2; i++) expect((await send(stack, "openai", token)).status).toBe(200);
    } finally {
      await stack.dispose();
    }
    stack = await startStack({ persist: dir });
    try {
      const { res, status } = await send(stack, "openai", token);
      expect(status).toBe(429);
      expect(res.headers.get("x-ratelimit-remaining-requests")).toBe("0");
      expect(stack.mock.requests()).toEqual([]);
    } finally {
      await stack.dispose();
    }
  });
});
