// The benchmark's second baseline: api_proxy's hot path written in plain JavaScript, so the
// figures can say whether Rust/wasm costs or gains anything against a Worker doing the same job.
// It is a port, rule for rule, of what a proxied request goes through in src/:
//   provider detection for all three providers (provider.rs), the token's checksum (token.rs),
//   SHA-256 through crypto.subtle, the KV record read as text and parsed, kept 20 s in the
//   isolate (worker_token_store.rs), the status and provider scope of the record, the once-a-day
//   "last used" write off the response path (worker_proxy.rs note_use), the header rules both
//   ways and the key swap (credentials.rs), CORS (cors.rs), and the bodies handed through as
//   streams; the errors in each provider's shape (error_body.rs).
// Not ported: the admin side (404 here), and the policy checks that need more than a field read
// (allowed IPs, paths and models, rate limits); a record that sets one of them is refused (403),
// so this baseline never lets through what api_proxy would check. Expiry and origins are ported.
// tests/workerd/js-equivalent.test.mjs checks that it answers the benchmark's requests as
// api_proxy does.

const PREFIX = "apx_";
const GENERATED_LEN = 4 + 33 + 6;
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RECORD_CACHE_MS = 20_000;
const RECORD_CACHE_ENTRIES = 1_000;
const WS_KEY_PROTOCOL_PREFIX = "openai-insecure-api-key.";

const PROVIDERS = {
  openai: { secret: "OPENAI_API_KEY", upstreamVar: "OPENAI_UPSTREAM", upstream: "https://api.openai.com", display: "OpenAI" },
  anthropic: { secret: "ANTHROPIC_API_KEY", upstreamVar: "ANTHROPIC_UPSTREAM", upstream: "https://api.anthropic.com", display: "Anthropic" },
  gemini: { secret: "GEMINI_API_KEY", upstreamVar: "GEMINI_UPSTREAM", upstream: "https://generativelanguage.googleapis.com", display: "Gemini" },
};
const PROVIDER_NAMES = ["openai", "anthropic", "gemini"];

const CREDENTIAL_HEADERS = ["authorization", "proxy-authorization", "x-api-key", "x-goog-api-key"];
const PRIVATE_OR_HOP_HEADERS = ["cookie", "origin", "referer", "forwarded", "x-real-ip", "true-client-ip", "host", "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "via"];
const DROPPED_REQUEST = new Set([...CREDENTIAL_HEADERS, ...PRIVATE_OR_HOP_HEADERS]);
const DROPPED_RESPONSE_HEADERS = ["set-cookie", "openai-organization", "openai-project", "anthropic-organization-id"];
const NOT_PORTED_POLICIES = ["rate_limit", "allowed_ips", "allowed_models", "allowed_paths"];

const EXPOSED_HEADERS = [
  "x-request-id", "request-id", "retry-after", "retry-after-ms", "x-should-retry",
  "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
  "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens",
  "openai-processing-ms", "openai-version", "x-goog-upload-url", "x-goog-upload-status",
  "x-goog-upload-control-url", "x-goog-upload-chunk-granularity", "x-goog-upload-size-received",
].join(", ");

// ---------- errors (error_body.rs) ----------

const KINDS = {
  unauthenticated: { status: 401, openai: ["invalid_request_error", "invalid_api_key"], anthropic: "authentication_error", gemini: "UNAUTHENTICATED" },
  forbidden: { status: 403, openai: ["invalid_request_error", "forbidden"], anthropic: "permission_error", gemini: "PERMISSION_DENIED" },
  notFound: { status: 404, openai: ["invalid_request_error", "not_found"], anthropic: "not_found_error", gemini: "NOT_FOUND" },
  badGateway: { status: 502, openai: ["server_error", "upstream_unreachable"], anthropic: "api_error", gemini: "UNAVAILABLE" },
  unavailable: { status: 503, openai: ["server_error", "service_unavailable"], anthropic: "overloaded_error", gemini: "UNAVAILABLE" },
};

class ProxyError {
  constructor(shape, kind, message) {
    this.shape = shape;
    this.kind = KINDS[kind];
    this.message = message;
  }
}

// Keys in the order serde_json writes them (sorted), so both Workers send the same bytes.
function errorBody(shape, kind, message) {
  if (shape === "anthropic") return JSON.stringify({ error: { message, type: kind.anthropic }, type: "error" });
  if (shape === "gemini") return JSON.stringify({ error: { code: kind.status, message, status: kind.gemini } });
  return JSON.stringify({ error: { code: kind.openai[1], message, param: null, type: kind.openai[0] } });
}

function jsonResponse(status, body, extra = []) {
  const headers = new Headers({ "content-type": "application/json" });
  setHeaders(headers, extra);
  return new Response(body, { status, headers });
}

function setHeaders(headers, extra) {
  for (const [name, value] of extra) {
    if (name === "vary") headers.append(name, value);
    else headers.set(name, value);
  }
}

// ---------- detection (provider.rs) ----------

const present = (v) => {
  if (v === null || v === undefined) return null;
  const t = v.trim();
  return t === "" ? null : t;
};

function bearer(authorization) {
  const value = present(authorization);
  if (value === null) return null;
  const space = value.indexOf(" ");
  if (space < 0) return null;
  return value.slice(0, space).toLowerCase() === "bearer" ? present(value.slice(space + 1)) : null;
}

function websocketKey(protocols) {
  if (protocols === null) return null;
  for (const p of protocols.split(",")) {
    const t = p.trim();
    if (t.startsWith(WS_KEY_PROTOCOL_PREFIX)) return t.length > WS_KEY_PROTOCOL_PREFIX.length ? t.slice(WS_KEY_PROTOCOL_PREFIX.length) : null;
  }
  return null;
}

const utf8 = new TextEncoder();
const lossy = new TextDecoder("utf-8", { fatal: false });

// urlencoded.rs decode: %XX escapes and "+", malformed escapes kept, invalid UTF-8 replaced.
function formDecode(s) {
  if (!s.includes("%") && !s.includes("+")) return s;
  const bytes = utf8.encode(s);
  const out = [];
  const hex = (b) => (b >= 48 && b <= 57 ? b - 48 : b >= 65 && b <= 70 ? b - 55 : b >= 97 && b <= 102 ? b - 87 : -1);
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 37 && i + 2 < bytes.length && hex(bytes[i + 1]) >= 0 && hex(bytes[i + 2]) >= 0) {
      out.push(hex(bytes[i + 1]) * 16 + hex(bytes[i + 2]));
      i += 2;
    } else out.push(b === 43 ? 32 : b);
  }
  return lossy.decode(new Uint8Array(out));
}

function keyParam(query) {
  for (const pair of query.split("&")) {
    if (pair.startsWith("key=")) {
      const k = formDecode(pair.slice(4));
      return k === "" ? null : k;
    }
  }
  return null;
}

function explicitPrefix(path) {
  for (const p of PROVIDER_NAMES) {
    if (!path.startsWith(`/${p}`)) continue;
    const rest = path.slice(p.length + 1);
    if (rest === "") return [p, "/"];
    if (rest.startsWith("/")) return [p, rest];
  }
  return null;
}

const isGeminiOpenAiCompat = (path) => path.startsWith("/v1beta/openai/");

// First match wins, as in provider.rs detect().
function detect(path, query, h) {
  const xApiKey = present(h.xApiKey);
  const xGoog = present(h.xGoogApiKey);
  const token = bearer(h.authorization);
  const wsKey = websocketKey(h.websocketProtocol);
  const kp = keyParam(query);
  const prefixed = explicitPrefix(path);
  if (prefixed) {
    const t = xApiKey ?? xGoog ?? token ?? wsKey ?? kp;
    return t === null ? { missing: prefixed[0] } : { provider: prefixed[0], upstreamPath: prefixed[1], token: t };
  }
  if (xApiKey !== null) return { provider: "anthropic", upstreamPath: path, token: xApiKey };
  if (xGoog !== null) return { provider: "gemini", upstreamPath: path, token: xGoog };
  if (token !== null) {
    let provider = "openai";
    if (isGeminiOpenAiCompat(path)) provider = "gemini";
    else if (present(h.anthropicVersion) !== null) provider = "anthropic";
    else if (path.startsWith("/v1beta/") || path.startsWith("/upload/v1beta/")) provider = "gemini";
    return { provider, upstreamPath: path, token };
  }
  if (wsKey !== null) return { provider: "openai", upstreamPath: path, token: wsKey };
  if (kp !== null) return { provider: "gemini", upstreamPath: path, token: kp };
  return { missing: null };
}

const errorShape = (provider, upstreamPath) => (provider === "gemini" && isGeminiOpenAiCompat(upstreamPath) ? "openai" : provider);

// ---------- tokens (token.rs) ----------

const sha256 = async (s) => new Uint8Array(await crypto.subtle.digest("SHA-256", utf8.encode(s)));
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const toHex = (bytes) => {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]];
  return s;
};

// The first 8 bytes of SHA-256(body) as a big-endian u64, in base62, least significant digit
// first. The u64 is kept as two 32-bit halves; each division by 62 stays exact in a double.
async function checksum(body) {
  const d = await sha256(body);
  let hi = ((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]) >>> 0;
  let lo = ((d[4] << 24) | (d[5] << 16) | (d[6] << 8) | d[7]) >>> 0;
  let out = "";
  for (let i = 0; i < 6; i++) {
    const r1 = hi % 62;
    hi = Math.floor(hi / 62);
    const mid = r1 * 4294967296 + lo;
    out += BASE62[mid % 62];
    lo = Math.floor(mid / 62);
  }
  return out;
}

const isAlnum = (c) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

async function isPlausible(token) {
  if (token.startsWith(PREFIX)) {
    if (token.length !== GENERATED_LEN) return false;
    for (let i = PREFIX.length; i < token.length; i++) if (!isAlnum(token.charCodeAt(i))) return false;
    return (await checksum(token.slice(0, GENERATED_LEN - 6))) === token.slice(GENERATED_LEN - 6);
  }
  if (token.length < 24 || token.length > 256) return false;
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

// ---------- the token store (worker_token_store.rs) ----------

const recordCache = new Map();
const recordedUse = new Map();

class StoreError extends Error {
  constructor(message, damaged) {
    super(message);
    this.damaged = damaged;
  }
}

// What serde requires of a TokenRecord; anything else is a damaged record.
function readRecord(id, text) {
  let r;
  try {
    r = JSON.parse(text);
  } catch (e) {
    throw new StoreError(`record ${id}: ${e.message}`, true);
  }
  const ok = r && typeof r === "object" && typeof r.label === "string" && Array.isArray(r.providers)
    && r.providers.every((p) => PROVIDER_NAMES.includes(p)) && (r.status === "active" || r.status === "disabled")
    && typeof r.created_at === "string" && typeof r.last4 === "string";
  if (!ok) throw new StoreError(`record ${id}: not a token record`, true);
  return r;
}

async function recordForRequest(kv, id, nowMs) {
  const cached = recordCache.get(id);
  if (cached && nowMs - cached.at < RECORD_CACHE_MS) return cached.record;
  let text;
  try {
    text = await kv.get(id);
  } catch (e) {
    throw new StoreError(e.message, false);
  }
  if (text === null) return null;
  const record = readRecord(id, text);
  if (recordCache.size >= RECORD_CACHE_ENTRIES) recordCache.clear();
  recordCache.set(id, { at: nowMs, record });
  return record;
}

function noteUse(id, env, ctx) {
  const today = new Date().toISOString().slice(0, 10);
  if (recordedUse.get(id) === today) return;
  recordedUse.set(id, today);
  const key = `used:${id}`;
  ctx.waitUntil((async () => {
    try {
      const day = await env.TOKENS.get(key);
      if (day !== null && day >= today) return;
      await env.TOKENS.put(key, today, { metadata: today });
    } catch (e) {
      console.error(`recording last use failed: ${e.message}`);
    }
  })());
}

// ---------- the proxied request (worker_proxy.rs) ----------

async function authorize(detected, env, shape) {
  const refused = (kind, message) => new ProxyError(shape, kind, message);
  if (!(await isPlausible(detected.token))) throw refused("unauthenticated", "Invalid api-proxy token.");
  const id = toHex(await sha256(detected.token));
  let record;
  try {
    if (!env.TOKENS) throw new StoreError("no TOKENS binding", false);
    record = await recordForRequest(env.TOKENS, id, Date.now());
  } catch (e) {
    if (e.damaged) {
      console.error(`token record unreadable: ${e.message}`);
      throw refused("unauthenticated", "This api-proxy token's stored record is unreadable; ask the operator to recreate it.");
    }
    console.error(`token store unavailable: ${e.message}`);
    throw refused("unavailable", "The token store is unavailable; try again shortly.");
  }
  if (record === null) throw refused("unauthenticated", "Invalid api-proxy token.");
  if (record.status !== "active") throw refused("unauthenticated", "This api-proxy token has been disabled.");
  if (!record.providers.includes(detected.provider)) {
    throw refused("forbidden", `This api-proxy token is not allowed to use ${PROVIDERS[detected.provider].display}.`);
  }
  return { id, record };
}

// policy.rs check_expiry and check_origin; the rest is not ported and refuses.
function checkPolicy(record, origin, shape) {
  for (const field of NOT_PORTED_POLICIES) {
    if (record[field] !== undefined && record[field] !== null) {
      throw new ProxyError(shape, "forbidden", `js_equivalent does not implement ${field}.`);
    }
  }
  if (record.expires_at !== undefined && record.expires_at !== null) {
    const at = Date.parse(record.expires_at);
    if (Number.isNaN(at)) {
      throw new ProxyError(shape, "unauthenticated", "This api-proxy token's expiry date is unreadable, so the token is refused; ask the operator to set it again.");
    }
    if (Math.floor(Date.now() / 1000) >= Math.floor(at / 1000)) {
      throw new ProxyError(shape, "unauthenticated", `This api-proxy token expired at ${record.expires_at}; ask the operator for a new one.`);
    }
  }
  if (origin !== null) {
    const allowed = record.allowed_origins ?? [];
    if (!allowed.some((a) => a === "*" || a.toLowerCase() === origin.toLowerCase())) {
      const shown = [...origin].length > 100 ? `${[...origin].slice(0, 100).join("")}...` : origin;
      throw new ProxyError(shape, "forbidden", `Origin ${shown} is not allowed for this api-proxy token; add it to the token's allowed origins in the dashboard.`);
    }
  }
}

function stripKeyParam(query) {
  return query.split("&").filter((pair) => pair !== "" && pair !== "key" && !pair.startsWith("key=")).join("&");
}

function upstreamUrl(env, provider, path, query) {
  const p = PROVIDERS[provider];
  const configured = env[p.upstreamVar];
  let base = typeof configured === "string" && configured !== "" ? configured : p.upstream;
  while (base.endsWith("/")) base = base.slice(0, -1);
  const q = stripKeyParam(query);
  return q === "" ? base + path : `${base}${path}?${q}`;
}

function upstreamCredential(provider, upstreamPath, key) {
  if (provider === "anthropic") return ["x-api-key", key];
  if (provider === "gemini" && !isGeminiOpenAiCompat(upstreamPath)) return ["x-goog-api-key", key];
  return ["authorization", `Bearer ${key}`];
}

const dropRequestHeader = (name) => DROPPED_REQUEST.has(name) || name.startsWith("cf-") || name.startsWith("x-forwarded-");

function upstreamHeaders(inbound, websocketProtocol) {
  const headers = new Headers();
  const connection = inbound.get("connection");
  const hopByHop = connection === null ? [] : connection.split(",").map((n) => n.trim().toLowerCase()).filter((n) => n !== "");
  for (const [name, value] of inbound) {
    if (!dropRequestHeader(name) && !hopByHop.includes(name)) headers.append(name, value);
  }
  if (websocketProtocol !== null) {
    const kept = websocketProtocol.split(",").map((p) => p.trim()).filter((p) => p !== "" && !p.startsWith(WS_KEY_PROTOCOL_PREFIX));
    if (kept.length) headers.set("sec-websocket-protocol", kept.join(", "));
    else headers.delete("sec-websocket-protocol");
  }
  return headers;
}

async function forward(request, url, origin, env, ctx) {
  const inbound = request.headers;
  const path = url.pathname;
  const query = url.search.startsWith("?") ? url.search.slice(1) : url.search;
  const websocketProtocol = inbound.get("sec-websocket-protocol");
  const detected = detect(path, query, {
    authorization: inbound.get("authorization"),
    xApiKey: inbound.get("x-api-key"),
    xGoogApiKey: inbound.get("x-goog-api-key"),
    anthropicVersion: inbound.get("anthropic-version"),
    websocketProtocol,
  });
  if (detected.provider === undefined) {
    throw new ProxyError(detected.missing, "unauthenticated", "Missing api-proxy token. Send your token where your SDK sends its API key.");
  }
  const shape = errorShape(detected.provider, detected.upstreamPath);
  const { id, record } = await authorize(detected, env, shape);
  inbound.get("cf-connecting-ip"); // read on every request by api_proxy for its IP policy
  checkPolicy(record, origin, shape);
  noteUse(id, env, ctx);

  const provider = PROVIDERS[detected.provider];
  const key = env[provider.secret];
  if (typeof key !== "string" || key === "") {
    throw new ProxyError(shape, "unavailable", `This proxy has no ${provider.display} key configured.`);
  }
  const headers = upstreamHeaders(inbound, websocketProtocol);
  const [name, value] = upstreamCredential(detected.provider, detected.upstreamPath, key);
  headers.set(name, value);
  try {
    return await fetch(upstreamUrl(env, detected.provider, detected.upstreamPath, query), {
      method: request.method,
      headers,
      body: request.body,
      redirect: "manual",
    });
  } catch (e) {
    console.error(`upstream ${detected.provider} unreachable: ${e?.message ?? e}`);
    throw new ProxyError(shape, "badGateway", `The ${provider.display} API could not be reached through the proxy.`);
  }
}

function isHeaderName(name) {
  return name !== "" && /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/.test(name);
}

function preflight(origin, requested) {
  const extra = [
    ["access-control-allow-origin", origin],
    ["access-control-allow-methods", "GET, POST, PUT, PATCH, DELETE"],
    ["access-control-max-age", "86400"],
    ["vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"],
  ];
  const names = (requested ?? "").split(",").map((h) => h.trim()).filter(isHeaderName).map((h) => h.toLowerCase());
  if (names.length) extra.push(["access-control-allow-headers", names.join(", ")]);
  const headers = new Headers();
  setHeaders(headers, extra);
  return new Response(null, { status: 204, headers });
}

// The upstream response untouched, unless a header must go or be added; never the body copied.
function finish(response, extra) {
  const upstream = response.headers;
  const hasPrivate = DROPPED_RESPONSE_HEADERS.some((h) => upstream.has(h));
  if (!hasPrivate && extra.length === 0) return response;
  const headers = new Headers(upstream);
  for (const h of DROPPED_RESPONSE_HEADERS) headers.delete(h);
  setHeaders(headers, extra);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

async function handleProxy(request, url, env, ctx) {
  const o = request.headers.get("origin");
  const origin = o === null || o === "" ? null : o;
  if (origin !== null) {
    const requestMethod = request.headers.get("access-control-request-method");
    if (request.method.toUpperCase() === "OPTIONS" && requestMethod !== null && requestMethod !== "") {
      return preflight(origin, request.headers.get("access-control-request-headers"));
    }
  }
  const cors = origin === null ? [] : [
    ["access-control-allow-origin", origin],
    ["access-control-expose-headers", EXPOSED_HEADERS],
    ["vary", "Origin"],
  ];
  try {
    return finish(await forward(request, url, origin, env, ctx), cors);
  } catch (e) {
    if (!(e instanceof ProxyError)) throw e;
    return jsonResponse(e.kind.status, errorBody(e.shape, e.kind, e.message), cors);
  }
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/health") return jsonResponse(200, '{"status":"ok"}');
    if (url.pathname === "/admin" || url.pathname.startsWith("/admin/")) {
      return jsonResponse(404, errorBody(null, KINDS.notFound, "js_equivalent has no admin side."));
    }
    return handleProxy(request, url, env, ctx);
  },
};
