// The admin JSON API under /admin/api/tokens: authentication, the token lifecycle, validation that
// names the bad field, and the rule that a token's plaintext is shown once, at creation.

import { createHash } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { ADMIN_SECRET, startStack } from "../support/stack.mjs";
import { send } from "./helpers.mjs";

let stack;
beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.dispose(); });
beforeEach(() => stack.mock.reset());

const sha256 = (s) => createHash("sha256").update(s).digest("hex");
const CUSTOM = "my-own-custom-token-for-ci-0123456789";
const ABSENT_ID = "0".repeat(64);

// The documented format of a generated token: apx_ + 33 base62 + a 6-character checksum, which is
// the first 8 bytes of SHA-256(apx_ + body) as a big-endian integer, in base62, least significant
// digit first.
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
function checksum(body) {
  let n = createHash("sha256").update(body).digest().readBigUInt64BE(0);
  let out = "";
  for (let i = 0; i < 6; i++) { out += BASE62[Number(n % 62n)]; n /= 62n; }
  return out;
}

async function listTokens() {
  const r = await stack.admin("GET", "/admin/api/tokens");
  expect(r.status).toBe(200);
  return r.body.tokens;
}

describe("authentication", () => {
  const routes = [
    ["GET", "/admin/api/tokens"],
    ["POST", "/admin/api/tokens"],
    ["GET", `/admin/api/tokens/${ABSENT_ID}`],
    ["PATCH", `/admin/api/tokens/${ABSENT_ID}`],
    ["DELETE", `/admin/api/tokens/${ABSENT_ID}`],
  ];
  const wrong = [
    ["no Authorization", {}],
    ["a wrong secret", { authorization: "Bearer not-the-admin-secret" }],
    ["the secret with one character more", { authorization: `Bearer ${ADMIN_SECRET}x` }],
    ["the secret with one character less", { authorization: `Bearer ${ADMIN_SECRET.slice(0, -1)}` }],
    ["the secret in another scheme", { authorization: `Basic ${Buffer.from(`admin:${ADMIN_SECRET}`).toString("base64")}` }],
    ["the secret in x-api-key", { "x-api-key": ADMIN_SECRET }],
  ];
  // Wrong secrets are throttled per client address (admin-throttle.test.mjs), so each try here
  // comes from an address of its own.
  let nextClient = 1;
  const stranger = () => ({ "cf-connecting-ip": `198.51.100.${nextClient++}` });
  test.each(routes)("%s %s is 401 without the right secret", async (method, path) => {
    for (const [name, headers] of wrong) {
      const res = await send(stack, path, { method, headers: { ...headers, ...stranger(), "content-type": "application/json" }, body: method === "POST" || method === "PATCH" ? JSON.stringify({ label: "x", providers: ["openai"] }) : undefined });
      expect(res.status, name).toBe(401);
      expect(res.json.error.message, name).toMatch(/ADMIN_SECRET/);
    }
  });

  test("an unauthenticated request changes nothing", async () => {
    const created = await stack.createToken({ label: "survivor" });
    await send(stack, "/admin/api/tokens", { method: "POST", headers: { ...stranger(), "content-type": "application/json" }, body: JSON.stringify({ label: "intruder", providers: ["openai"] }) });
    await send(stack, `/admin/api/tokens/${created.id}`, { method: "DELETE", headers: stranger() });
    await send(stack, `/admin/api/tokens/${created.id}`, { method: "PATCH", headers: stranger(), body: JSON.stringify({ status: "disabled" }) });
    const tokens = await listTokens();
    expect(tokens.map((t) => t.label)).not.toContain("intruder");
    expect(tokens.find((t) => t.id === created.id).status).toBe("active");
  });

  test("the admin API never calls an upstream", async () => {
    await stack.admin("GET", "/admin/api/tokens");
    await stack.createToken();
    expect(stack.mock.requests()).toEqual([]);
  });
});

describe.each([
  ["never set", undefined],
  ["empty", ""],
])("with ADMIN_SECRET %s", (_, secret) => {
  let locked;
  beforeAll(async () => { locked = await startStack({ bindings: { ADMIN_SECRET: secret } }); });
  afterAll(async () => { await locked?.dispose(); });

  test("the admin API refuses everyone, whatever they send", async () => {
    for (const authorization of [undefined, "Bearer ", "Bearer undefined", `Bearer ${ADMIN_SECRET}`]) {
      const res = await send(locked, "/admin/api/tokens", { headers: authorization === undefined ? {} : { authorization } });
      expect(res.status, authorization).toBe(401);
    }
  });
});

describe("lifecycle", () => {
  test("POST creates a token: 201 with id, token, label, providers, status, created_at, last4", async () => {
    const before = Date.now();
    const r = await stack.admin("POST", "/admin/api/tokens", { label: "  laptop  ", providers: ["gemini", "openai", "gemini"] });
    expect(r.status).toBe(201);
    expect(r.headers.get("content-type")).toContain("application/json");
    const t = r.body;
    expect(Object.keys(t).sort()).toEqual(["created_at", "id", "label", "last4", "providers", "status", "token"]);
    expect(t.id).toBe(sha256(t.token));
    expect(t.label).toBe("laptop");
    expect(t.providers).toEqual(["openai", "gemini"]);
    expect(t.status).toBe("active");
    expect(t.last4).toBe(t.token.slice(-4));
    expect(t.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // The clock of the Worker and of the test are the same machine's.
    expect(Math.abs(Date.parse(t.created_at) - before)).toBeLessThan(10 * 60 * 1000);
  });

  test("a generated token is apx_ + 33 base62 + a 6-character checksum, and each one is new", async () => {
    const tokens = await Promise.all(Array.from({ length: 5 }, () => stack.createToken()));
    for (const { token } of tokens) {
      expect(token).toMatch(/^apx_[0-9A-Za-z]{33}[0-9A-Za-z]{6}$/);
      expect(token.slice(-6)).toBe(checksum(token.slice(0, -6)));
    }
    expect(new Set(tokens.map((t) => t.token)).size).toBe(5);
  });

  test("the plaintext is shown once: never in GET list, GET one or PATCH", async () => {
    const created = await stack.createToken({ label: "shown-once" });
    const list = await stack.admin("GET", "/admin/api/tokens");
    const one = await stack.admin("GET", `/admin/api/tokens/${created.id}`);
    const patched = await stack.admin("PATCH", `/admin/api/tokens/${created.id}`, { label: "renamed" });
    for (const r of [list, one, patched]) {
      expect(r.status).toBe(200);
      expect(JSON.stringify(r.body)).not.toContain(created.token);
    }
    const { token, ...record } = created;
    expect(one.body).toEqual(record);
    expect(list.body.tokens).toContainEqual(record);
  });

  test("GET lists every token, oldest first", async () => {
    const a = await stack.createToken({ label: "list-a" });
    const b = await stack.createToken({ label: "list-b", providers: ["anthropic"] });
    const tokens = await listTokens();
    const ids = tokens.map((t) => t.id);
    expect(ids).toContain(a.id);
    expect(ids).toContain(b.id);
    const times = tokens.map((t) => t.created_at);
    expect(times).toEqual([...times].sort());
    expect(tokens.find((t) => t.id === b.id)).toEqual({ id: b.id, label: "list-b", providers: ["anthropic"], status: "active", created_at: b.created_at, last4: b.last4 });
  });

  test("PATCH changes only the fields it names, and the change is what GET returns", async () => {
    const created = await stack.createToken({ label: "before", providers: ["openai"] });
    const r = await stack.admin("PATCH", `/admin/api/tokens/${created.id}`, { providers: ["anthropic", "openai"], status: "disabled" });
    expect(r.status).toBe(200);
    const expected = { id: created.id, label: "before", providers: ["openai", "anthropic"], status: "disabled", created_at: created.created_at, last4: created.last4 };
    expect(r.body).toEqual(expected);
    expect((await stack.admin("GET", `/admin/api/tokens/${created.id}`)).body).toEqual(expected);
    expect((await stack.admin("PATCH", `/admin/api/tokens/${created.id}`, {})).body).toEqual(expected);
  });

  test("DELETE removes the token: then 404, gone from the list, refused by the proxy", async () => {
    const created = await stack.createToken({ label: "doomed" });
    const r = await stack.admin("DELETE", `/admin/api/tokens/${created.id}`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ deleted: created.id });
    expect((await stack.admin("GET", `/admin/api/tokens/${created.id}`)).status).toBe(404);
    expect((await stack.admin("DELETE", `/admin/api/tokens/${created.id}`)).status).toBe(404);
    expect((await listTokens()).map((t) => t.id)).not.toContain(created.id);
    expect((await send(stack, "/v1/models", { headers: { authorization: `Bearer ${created.token}` } })).status).toBe(401);
  });

  test.each(["GET", "PATCH", "DELETE"])("%s of an unknown id is 404", async (method) => {
    for (const id of [ABSENT_ID, "not-a-token-id", "A".repeat(64)]) {
      const r = await stack.admin(method, `/admin/api/tokens/${id}`, method === "PATCH" ? { label: "x" } : undefined);
      expect(r.status, id).toBe(404);
    }
  });

  test("other methods on a token are 405; unknown admin paths are 404", async () => {
    const created = await stack.createToken();
    expect((await stack.admin("PUT", `/admin/api/tokens/${created.id}`, { label: "x" })).status).toBe(405);
    expect((await stack.admin("GET", "/admin/api/nothing-here")).status).toBe(404);
  });
});

describe("custom tokens", () => {
  test("a custom token is stored by its hash, shown once, and works through the proxy", async () => {
    const r = await stack.admin("POST", "/admin/api/tokens", { label: "custom", providers: ["anthropic"], token: CUSTOM });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ id: sha256(CUSTOM), token: CUSTOM, last4: CUSTOM.slice(-4), providers: ["anthropic"] });
    const res = await send(stack, "/v1/messages", {
      method: "POST",
      headers: { "x-api-key": CUSTOM, "anthropic-version": "2023-06-01", "content-type": "application/json" },
      body: JSON.stringify({ model: "claude-sonnet-4-5", max_tokens: 5, messages: [{ role: "user", content: "hi" }] }),
    });
    expect(res.status).toBe(200);
    expect(res.json.content[0].text).toContain("You said: hi");
  });

  test("creating a custom token that exists is 409, and the existing one is untouched", async () => {
    const token = "another-custom-token-for-the-409-case";
    const first = await stack.createToken({ label: "first", providers: ["openai"], token });
    const again = await stack.admin("POST", "/admin/api/tokens", { label: "second", providers: ["gemini"], token });
    expect(again.status).toBe(409);
    expect(again.body.error.field).toBe("token");
    expect(JSON.stringify(again.body)).not.toContain(token);
    expect((await stack.admin("GET", `/admin/api/tokens/${first.id}`)).body).toMatchObject({ label: "first", providers: ["openai"] });
  });
});

describe("validation names the bad field", () => {
  const ok = { label: "ok", providers: ["openai"] };
  const CREATE = [
    ["label", { providers: ["openai"] }],
    ["label", { ...ok, label: "" }],
    ["label", { ...ok, label: "   " }],
    ["label", { ...ok, label: 42 }],
    ["label", { ...ok, label: "x".repeat(101) }],
    ["label", { ...ok, label: "bell\u0007" }],
    ["providers", { label: "ok" }],
    ["providers", { ...ok, providers: [] }],
    ["providers", { ...ok, providers: "openai" }],
    ["providers", { ...ok, providers: [1] }],
    ["providers", { ...ok, providers: ["cohere"] }],
    ["providers", { ...ok, providers: ["openai", "OpenAI"] }],
    ["token", { ...ok, token: "too-short" }],
    ["token", { ...ok, token: 123 }],
    ["token", { ...ok, token: "has spaces in it, which headers mangle" }],
    ["token", { ...ok, token: "apx_this-looks-generated-but-has-no-checksum" }],
    ["body", { ...ok, scopes: ["openai"] }],
    ["body", ["not", "an", "object"]],
  ];
  test.each(CREATE)("POST: %s in %j", async (field, body) => {
    const r = await stack.admin("POST", "/admin/api/tokens", body);
    expect(r.status).toBe(400);
    expect(r.body.error.field).toBe(field);
    expect(r.body.error.message.startsWith(`${field}:`)).toBe(true);
  });

  test("POST: a body that is not JSON is 400 naming body", async () => {
    const res = await send(stack, "/admin/api/tokens", {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_SECRET}`, "content-type": "application/json" },
      body: "{label: nope",
    });
    expect(res.status).toBe(400);
    expect(res.json.error.field).toBe("body");
  });

  test("an unknown provider is refused by name, and nothing is created", async () => {
    const before = (await listTokens()).length;
    const r = await stack.admin("POST", "/admin/api/tokens", { label: "bad", providers: ["openai", "cohere"] });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toContain('"cohere"');
    expect((await listTokens()).length).toBe(before);
  });

  const PATCH = [
    ["status", { status: "paused" }],
    ["status", { status: true }],
    ["providers", { providers: ["openai", "cohere"] }],
    ["providers", { providers: [] }],
    ["label", { label: "" }],
    ["body", { token: "a-new-plaintext-cannot-be-set-here" }],
    ["body", "disabled"],
  ];
  test.each(PATCH)("PATCH: %s in %j is 400, and nothing is half-applied", async (field, body) => {
    const created = await stack.createToken({ label: "unchanged", providers: ["openai"] });
    const sent = typeof body === "object" ? { label: "half-applied", ...body } : body;
    const r = await stack.admin("PATCH", `/admin/api/tokens/${created.id}`, sent);
    expect(r.status).toBe(400);
    expect(r.body.error.field).toBe(field);
    expect((await stack.admin("GET", `/admin/api/tokens/${created.id}`)).body).toMatchObject({ label: "unchanged", providers: ["openai"], status: "active" });
  });
});
