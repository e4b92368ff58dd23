// The proxy's log: one JSON object per line, each with the request's id, the token's id prefix and
// the provider, one outcome line per request, and never a token or a real key, whether the request
// succeeded, was refused or failed upstream.

import { afterAll, beforeAll, expect, test } from "vitest";
import { ADMIN_SECRET, startStack } from "../support/stack.mjs";
import { closedPort, send } from "./helpers.mjs";

const CUSTOM = "log+sentinel/token=0123456789abcdefghijklmnopqrstuvwxyz~_.-";
const forms = (s) => [s, encodeURIComponent(s), Buffer.from(s).toString("base64")];

let stack, live, disabled, scoped;
const requests = [];

/** Sends one request with a fresh `cf-ray`, so its lines can be told apart. */
async function traced(name, pathAndQuery, { noRay = false, ...options } = {}) {
  const ray = noRay ? undefined : `${(requests.length + 1).toString(16).padStart(16, "0")}-TST`;
  const res = await send(stack, pathAndQuery, { ...options, headers: { ...options.headers, ...(ray ? { "cf-ray": ray } : {}) } });
  requests.push({ name, ray, res });
  return res;
}

const lines = () => stack.logs.join("").split("\n").filter((l) => l.trim() !== "");
const parsed = () => lines().map((l) => JSON.parse(l));

beforeAll(async () => {
  const closed = `http://127.0.0.1:${await closedPort()}`;
  stack = await startStack({ upstreams: { anthropic: closed } });
  live = await stack.createToken({ label: "live", token: CUSTOM });
  disabled = await stack.createToken({ label: "disabled" });
  await stack.admin("PATCH", `/admin/api/tokens/${disabled.id}`, { status: "disabled" });
  scoped = await stack.createToken({ label: "scoped", providers: ["gemini"], allowed_paths: ["/v1beta/models"] });
  const chat = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
  const json = { "content-type": "application/json" };

  expect((await traced("success openai", "/v1/chat/completions", { method: "POST", headers: { ...json, authorization: `Bearer ${live.token}` }, body: chat })).status).toBe(200);
  expect((await traced("success gemini ?key=", `/v1beta/models?key=${encodeURIComponent(live.token)}`)).status).toBe(200);
  expect((await traced("success streamed", `/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse`, { method: "POST", headers: { ...json, "x-goog-api-key": live.token }, body: "{}" })).status).toBe(200);
  expect((await traced("upstream answers 500", "/v1/models", { headers: { authorization: `Bearer ${live.token}`, "x-mock-status": "500" } })).status).toBe(500);
  expect((await traced("upstream unreachable", "/v1/messages", { method: "POST", headers: { ...json, "x-api-key": live.token }, body: "{}" })).status).toBe(502);
  expect((await traced("unknown token", "/v1/models", { headers: { authorization: `Bearer ${CUSTOM}-unknown` } })).status).toBe(401);
  expect((await traced("disabled token", "/v1/models", { headers: { "x-api-key": disabled.token } })).status).toBe(401);
  expect((await traced("path not allowed", "/v1beta/models/gemini-2.5-flash:generateContent", { method: "POST", headers: { ...json, "x-goog-api-key": scoped.token }, body: "{}" })).status).toBe(403);
  expect((await traced("wrong provider", "/v1/models", { headers: { authorization: `Bearer ${scoped.token}` } })).status).toBe(403);
  expect((await traced("no token", "/v1/models")).status).toBe(401);
  // A mistyped generated token: refused by its checksum, before any lookup.
  expect((await traced("bad checksum", "/v1/models", { headers: { authorization: "Bearer apx_0123456789ABCDEFGHIJKLMNOPQRSTUVWabcdef" } })).status).toBe(401);
  expect((await traced("no ray", "/v1/models", { noRay: true, headers: { authorization: `Bearer ${live.token}` } })).status).toBe(200);
  // workerd's output reaches the test through a pipe, a moment after the answer.
  for (let i = 0; i < 100 && parsed().filter((l) => l.event === "forwarded" || l.event === "refused").length < requests.length; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
});
afterAll(async () => { await stack?.dispose(); });

test("every line is one JSON object with a level, an event and the request's id", () => {
  expect(lines().length).toBeGreaterThan(requests.length);
  for (const line of parsed()) {
    expect(["info", "warn", "error"]).toContain(line.level);
    expect(line.event).toMatch(/^[a-z_]+$/);
    expect(line.request_id).toMatch(/^[0-9A-Za-z-]{1,64}$/);
  }
});

test("each request has exactly one outcome line, under its cf-ray, with the status the client got", () => {
  for (const { name, ray, res } of requests.filter((r) => r.name !== "no ray")) {
    const outcome = parsed().filter((l) => l.request_id === ray && (l.event === "forwarded" || l.event === "refused"));
    expect(outcome, name).toHaveLength(1);
    expect(outcome[0].status, name).toBe(res.status);
  }
});

test("a request without a cf-ray gets a generated id of its own", () => {
  const rays = new Set(requests.map((r) => r.ray).filter(Boolean));
  const generated = parsed().filter((l) => !rays.has(l.request_id));
  expect(generated.length).toBeGreaterThanOrEqual(1);
  for (const l of generated) expect(l.request_id).toMatch(/^[0-9a-f]{16}$/);
});

test("lines name the provider, and the token by the first 8 hex of its id once the token was looked up", () => {
  const byRay = (name) => parsed().filter((l) => l.request_id === requests.find((r) => r.name === name).ray);
  for (const name of ["success openai", "success gemini ?key=", "upstream answers 500", "upstream unreachable"]) {
    for (const l of byRay(name)) expect(l.token_id, name).toBe(live.id.slice(0, 8));
  }
  for (const l of byRay("disabled token")) expect(l.token_id).toBe(disabled.id.slice(0, 8));
  for (const l of byRay("wrong provider")) expect([l.token_id, l.provider]).toEqual([scoped.id.slice(0, 8), "openai"]);
  expect(byRay("success gemini ?key=").map((l) => l.provider)).toEqual(["gemini"]);
  expect(byRay("upstream unreachable").map((l) => [l.event, l.provider])).toEqual([["key_unreachable", "anthropic"], ["upstream_unreachable", "anthropic"], ["refused", "anthropic"]]);
  expect(byRay("no token").map((l) => [l.token_id, l.provider])).toEqual([[undefined, undefined]]);
  expect(byRay("bad checksum").map((l) => l.token_id)).toEqual([undefined]);
});

test("a failure is logged with its reason; a refusal with the message the client got", () => {
  const [unreachable] = parsed().filter((l) => l.event === "upstream_unreachable");
  expect(unreachable.level).toBe("error");
  expect(unreachable.detail.length).toBeGreaterThan(0);
  const unknown = parsed().find((l) => l.request_id === requests.find((r) => r.name === "unknown token").ray);
  expect([unknown.level, unknown.detail]).toEqual(["info", "Invalid api-proxy token."]);
});

test("no line holds a token, the admin secret or a real key, in any form", () => {
  const all = stack.logs.join("");
  for (const secret of [live.token, disabled.token, scoped.token, `${CUSTOM}-unknown`, ADMIN_SECRET, ...Object.values(stack.realKeys)]) {
    for (const form of forms(secret)) expect(all.includes(form), `the log holds ${form}`).toBe(false);
  }
});
