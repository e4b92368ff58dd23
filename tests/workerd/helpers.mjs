// Small helpers shared by the workerd test files: sending a request through the proxy, the
// credential slots a client can use, and the providers' native error shapes.

import net from "node:net";
import { expect } from "vitest";

/**
 * Sends a request to the proxy and reads the whole answer. Redirects are never followed, so a test
 * sees exactly what the Worker returned.
 */
export async function send(stack, pathAndQuery, { method = "GET", headers = {}, body } = {}) {
  const res = await fetch(stack.url + pathAndQuery, { method, headers, body, redirect: "manual" });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { json = null; }
  return { status: res.status, headers: res.headers, text, json };
}

/**
 * The ways a client can present a token, and a typical request for each. `path` is what the
 * client requests; `upstreamPath` what the provider should receive.
 */
export const SLOTS = [
  { name: "OpenAI Bearer", provider: "openai", path: "/v1/models", headers: (t) => ({ authorization: `Bearer ${t}` }) },
  { name: "Anthropic x-api-key", provider: "anthropic", path: "/v1/models", headers: (t) => ({ "x-api-key": t, "anthropic-version": "2023-06-01" }) },
  { name: "Anthropic Bearer + anthropic-version", provider: "anthropic", path: "/v1/models", headers: (t) => ({ authorization: `Bearer ${t}`, "anthropic-version": "2023-06-01" }) },
  { name: "Gemini x-goog-api-key", provider: "gemini", path: "/v1beta/models", headers: (t) => ({ "x-goog-api-key": t }) },
  { name: "Gemini x-goog-api-key on /v1/models (google-genai)", provider: "gemini", path: "/v1/models/gemini-2.5-flash:generateContent", headers: (t) => ({ "x-goog-api-key": t }) },
  { name: "Gemini ?key=", provider: "gemini", path: "/v1beta/models", query: (t) => `?key=${encodeURIComponent(t)}` },
  { name: "Gemini Bearer on /v1beta/", provider: "gemini", path: "/v1beta/models", headers: (t) => ({ authorization: `Bearer ${t}` }) },
  { name: "Gemini OpenAI-compatible Bearer", provider: "gemini", path: "/v1beta/openai/models", headers: (t) => ({ authorization: `Bearer ${t}` }) },
  { name: "/openai/ prefix with x-api-key", provider: "openai", path: "/openai/v1/models", upstreamPath: "/v1/models", headers: (t) => ({ "x-api-key": t }) },
  { name: "/anthropic/ prefix with ?key=", provider: "anthropic", path: "/anthropic/v1/models", upstreamPath: "/v1/models", query: (t) => `?key=${encodeURIComponent(t)}` },
  { name: "/gemini/ prefix with Bearer", provider: "gemini", path: "/gemini/v1beta/models", upstreamPath: "/v1beta/models", headers: (t) => ({ authorization: `Bearer ${t}` }) },
  { name: "/gemini/ prefix with x-api-key", provider: "gemini", path: "/gemini/v1beta/models", upstreamPath: "/v1beta/models", headers: (t) => ({ "x-api-key": t }) },
  // OpenAI's browser WebSocket clients carry the key as a subprotocol; the header is dropped when
  // that is its only entry, and the entry removed when there are others.
  { name: "OpenAI WebSocket key subprotocol, alone", provider: "openai", path: "/v1/models", headers: (t) => ({ "sec-websocket-protocol": `openai-insecure-api-key.${t}` }), upstreamProtocols: undefined },
  { name: "OpenAI WebSocket key subprotocol, among others", provider: "openai", path: "/v1/models", headers: (t) => ({ "sec-websocket-protocol": `realtime, openai-insecure-api-key.${t}, openai-beta.realtime-v1` }), upstreamProtocols: "realtime, openai-beta.realtime-v1" },
];

/**
 * The providers reached by an explicit prefix only: ElevenLabs in its own slot and as Bearer, each
 * OpenAI-compatible one, and the stack's operator-defined upstreams ("custom"; "azure", whose key
 * goes in `api-key`).
 */
export const PREFIX_SLOTS = [
  { name: "/elevenlabs/ prefix with xi-api-key", provider: "elevenlabs", path: "/elevenlabs/v1/voices", upstreamPath: "/v1/voices", headers: (t) => ({ "xi-api-key": t }) },
  { name: "/elevenlabs/ prefix with Bearer", provider: "elevenlabs", path: "/elevenlabs/v1/voices", upstreamPath: "/v1/voices", headers: (t) => ({ authorization: `Bearer ${t}` }) },
  ...Object.entries({ mistral: "/v1", groq: "/openai/v1", openrouter: "/api/v1", deepseek: "/v1", xai: "/v1", together: "/v1", fireworks: "/inference/v1", cerebras: "/v1", perplexity: "", custom: "/v1", azure: "/openai/deployments/d1" })
    .map(([provider, base]) => ({ name: `/${provider}/ prefix with Bearer`, provider, path: `/${provider}${base}/models`, upstreamPath: `${base}/models`, headers: (t) => ({ authorization: `Bearer ${t}` }) })),
];

/** Every provider name the test stack configures. */
export const ALL_PROVIDERS = ["openai", "anthropic", "gemini", ...new Set(PREFIX_SLOTS.map((s) => s.provider))];

/** Sends one request with the token in `slot`'s place. */
export function sendWithSlot(stack, slot, token, extraHeaders = {}) {
  const query = slot.query ? slot.query(token) : "";
  const headers = { ...(slot.headers ? slot.headers(token) : {}), ...extraHeaders };
  return send(stack, slot.path + query, { headers });
}

const ANTHROPIC_TYPES = { 401: "authentication_error", 403: "permission_error", 502: "api_error", 503: "overloaded_error" };
const GEMINI_STATUSES = { 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 502: "UNAVAILABLE", 503: "UNAVAILABLE" };
const OPENAI_CODES = { 401: "invalid_api_key", 403: "forbidden", 502: "upstream_unreachable", 503: "service_unavailable" };

/**
 * Asserts that `res` is an error the proxy produced itself, with `status`, in `shape`'s native JSON
 * body ("openai", "anthropic" or "gemini"), so that the provider's SDK raises its usual error.
 */
export function expectProxyError(res, status, shape) {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get("content-type")).toContain("application/json");
  const body = res.json;
  expect(body, res.text).not.toBeNull();
  if (shape === "anthropic") {
    expect(Object.keys(body).sort()).toEqual(["error", "type"]);
    expect(body.type).toBe("error");
    expect(body.error.type).toBe(ANTHROPIC_TYPES[status]);
    expect(typeof body.error.message).toBe("string");
  } else if (shape === "gemini") {
    expect(Object.keys(body)).toEqual(["error"]);
    expect(body.error.code).toBe(status);
    expect(body.error.status).toBe(GEMINI_STATUSES[status]);
    expect(typeof body.error.message).toBe("string");
  } else {
    expect(shape).toBe("openai");
    expect(Object.keys(body)).toEqual(["error"]);
    expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
    expect(body.error.param).toBeNull();
    expect(body.error.code).toBe(OPENAI_CODES[status]);
    expect(typeof body.error.type).toBe("string");
    expect(body.error.message.length).toBeGreaterThan(0);
  }
}

/** A TCP port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export async function closedPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Everything the mock received from the proxy, as one string to search for secrets. */
export function everythingUpstream(stack) {
  return stack.mock.requests().map((r) => [r.method, r.url, r.rawHeaders.join("\n"), r.body.text].join("\n")).join("\n");
}
