// The policy fields through the admin API in workerd: accepted and returned (in their stored form),
// refused with a 400 naming the field, and changed or cleared (null) by PATCH.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";

let stack;
beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.dispose(); });

const POLICY = {
  expires_at: "2027-01-01T01:00:00+01:00",
  rate_limit: { requests: 100, per_seconds: 3600 },
  allowed_ips: ["10.0.0.0/8", " 2001:db8::/32 "],
  allowed_origins: ["HTTPS://App.Example:443/", "http://localhost:5173"],
  allowed_models: ["gpt-4o-mini", "claude-*"],
  allowed_paths: ["/v1/chat/completions", "/v1beta/models/*"],
};
const STORED = {
  expires_at: "2027-01-01T00:00:00Z",
  rate_limit: { requests: 100, per_seconds: 3600 },
  allowed_ips: ["10.0.0.0/8", "2001:db8::/32"],
  allowed_origins: ["https://app.example", "http://localhost:5173"],
  allowed_models: ["gpt-4o-mini", "claude-*"],
  allowed_paths: ["/v1/chat/completions", "/v1beta/models/*"],
};
const FIELDS = Object.keys(STORED);

const get = async (id) => {
  const r = await stack.admin("GET", `/admin/api/tokens/${id}`);
  expect(r.status).toBe(200);
  return r.body;
};

test("every policy field is accepted on create and returned in its stored form, by create, GET and the list", async () => {
  const created = await stack.createToken({ label: "policy", ...POLICY });
  expect(created).toMatchObject(STORED);
  expect(await get(created.id)).toMatchObject(STORED);
  const { body } = await stack.admin("GET", "/admin/api/tokens");
  expect(body.tokens.find((t) => t.id === created.id)).toMatchObject(STORED);
});

test("a token created without policy fields returns none of them", async () => {
  const created = await stack.createToken({ label: "plain" });
  const shown = await get(created.id);
  for (const field of FIELDS) expect(shown).not.toHaveProperty(field);
});

describe("bad values get 400 naming the field, and nothing is created", () => {
  const cases = [
    ["expires_at", "2027-01-01"],
    ["expires_at", "tomorrow"],
    ["rate_limit", { requests: 0, per_seconds: 60 }],
    ["rate_limit", { requests: 10, per_seconds: 120 }],
    ["rate_limit", { requests: 10 }],
    ["rate_limit", 60],
    ["allowed_ips", ["10.0.0.1/8"]],
    ["allowed_ips", ["2001:db8::/129"]],
    ["allowed_ips", ["not-an-address"]],
    ["allowed_ips", []],
    ["allowed_origins", ["https://app.example/path"]],
    ["allowed_origins", "https://app.example"],
    ["allowed_models", ["gpt-*-mini"]],
    ["allowed_models", ["gpt 4o"]],
    ["allowed_paths", ["v1/chat/completions"]],
    ["allowed_paths", ["/v1/*/completions"]],
  ];
  for (const [field, value] of cases) {
    test(`${field}: ${JSON.stringify(value)}`, async () => {
      const before = (await stack.admin("GET", "/admin/api/tokens")).body.tokens.length;
      const r = await stack.admin("POST", "/admin/api/tokens", { label: "bad", providers: ["openai"], [field]: value });
      expect(r.status).toBe(400);
      expect(r.body.error.field).toBe(field);
      expect(r.body.error.message).toContain(field);
      expect((await stack.admin("GET", "/admin/api/tokens")).body.tokens.length).toBe(before);
    });
  }
});

describe("PATCH", () => {
  test("changes the fields it names and keeps the others", async () => {
    const { id } = await stack.createToken({ label: "patch", ...POLICY });
    const change = {
      expires_at: "2028-06-30T12:00:00Z",
      rate_limit: { requests: 5, per_seconds: 60 },
      allowed_ips: ["192.0.2.0/24"],
      allowed_origins: ["*"],
      allowed_models: ["gemini-*"],
      allowed_paths: ["/v1/messages"],
    };
    for (const [field, value] of Object.entries(change)) {
      const r = await stack.admin("PATCH", `/admin/api/tokens/${id}`, { [field]: value });
      expect(r.status, field).toBe(200);
      expect(r.body[field]).toEqual(value);
    }
    expect(await get(id)).toMatchObject(change);
    const r = await stack.admin("PATCH", `/admin/api/tokens/${id}`, { label: "renamed" });
    expect(r.status).toBe(200);
    expect(await get(id)).toMatchObject({ label: "renamed", ...change });
  });

  test("null clears each field", async () => {
    const { id } = await stack.createToken({ label: "clear", ...POLICY });
    for (const field of FIELDS) {
      const r = await stack.admin("PATCH", `/admin/api/tokens/${id}`, { [field]: null });
      expect(r.status, field).toBe(200);
      expect(r.body).not.toHaveProperty(field);
    }
    const shown = await get(id);
    for (const field of FIELDS) expect(shown).not.toHaveProperty(field);
  });

  test("a bad value gets 400 naming the field and changes nothing", async () => {
    const { id } = await stack.createToken({ label: "keep", ...POLICY });
    for (const [field, value] of [["allowed_ips", ["300.0.0.0/8"]], ["rate_limit", { requests: -1, per_seconds: 60 }], ["expires_at", 1_800_000_000]]) {
      const r = await stack.admin("PATCH", `/admin/api/tokens/${id}`, { label: "changed", [field]: value });
      expect(r.status).toBe(400);
      expect(r.body.error.field).toBe(field);
    }
    expect(await get(id)).toMatchObject({ label: "keep", ...STORED });
  });
});
