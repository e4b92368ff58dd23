// A stand-in for the three provider APIs: one node:http listener per provider, each answering in
// that provider's wire format (JSON, SSE, binary) and recording every request it receives, so tests
// can check what the proxy sent upstream (path, headers, body) and what the client got back.
//
// It checks the credential the way the real API does: the real key in the provider's own slot,
// or a 401 in the provider's error shape.
//
// Test hooks, sent by the test through the proxy as ordinary request headers:
//   x-mock-status: N        answer with status N (in the provider's error shape when >= 400)
//   x-mock-hold: ID         (streaming) send the first event, then wait for POST /__mock/release/ID
//   x-mock-chunks / x-mock-interval-ms   (streaming) how many events, and the pause between them
//   x-mock-extra-headers: JSON object of response headers to add (to JSON, binary and SSE answers)
//   x-mock-usage: none      report no usage at all (JSON, and every stream format)
//   x-mock-cut-after: N     (streaming) send N events, then break the connection
//   x-mock-error-event: 1   (Anthropic streaming) an `event: error` after the content, instead of
//                           message_delta / message_stop (what the API sends when it is overloaded)
//   x-mock-thoughts: N      (Gemini) report N thinking tokens (thoughtsTokenCount)
// The usage reported is fixed per provider (see MOCK_USAGE), so tests can check the ledger.
//   x-mock-key-status: JSON {key: N}   answer N when the request carries that key (key pools)
//   x-mock-abort-after-first: 1   (streaming) send the first event, then cut the connection
//   x-mock-region-refuse-once: ID  the first request with this ID gets the provider's region
//                                  refusal (OpenAI 403, Gemini 400); later ones are served
//   x-mock-reset-after: N   (streaming) after N events, reset the connection (RST) instead of ending
//   x-mock-hold-headers: ID send nothing, not even headers, until POST /__mock/release/ID
//   x-mock-cost: USD        (chat) put `usage.cost` in the usage, as OpenRouter always does
// Besides the three, one OpenAI-compatible listener per other provider (its own base path, Bearer
// key), an ElevenLabs one (xi-api-key, binary audio), "custom" (an operator-defined upstream) and
// "azure" (an operator-defined one reading its key from `api-key`, as Azure OpenAI does).
// A record's `body.aborted` is set when the connection failed mid-body (the body never arrived whole).
// Each request record notes `clientClosed` when the proxy closed the connection before the answer ended.
// Control endpoints on each listener: GET /__mock/requests, POST /__mock/reset,
// POST /__mock/release/ID.
//
// Structured answers, for the frameworks and coding agents that ask for them: a request that forces
// a tool (OpenAI tool_choice / "required", Anthropic tool_choice tool / any, Gemini mode ANY) gets a
// call of that tool whose arguments are an instance of its parameter schema, and a request for JSON
// (a JSON schema, OpenAI's json_object, Gemini's responseMimeType application/json) gets an instance
// of the schema as its text. Instances are built from the schema alone (sampleFromSchema), so a test
// can check the client parsed the answer into its own type.

import http from "node:http";
import { createHash } from "node:crypto";

export const REAL_KEYS = {
  openai: "sk-real-openai-key-0000000000000000",
  anthropic: "sk-ant-real-anthropic-key-000000000",
  gemini: "real-gemini-key-AIzaSy000000000000",
  elevenlabs: "real-elevenlabs-key-sk_000000000000",
  mistral: "real-mistral-key-000000000000000000",
  groq: "gsk_real-groq-key-00000000000000000",
  openrouter: "sk-or-v1-real-openrouter-key-000000",
  deepseek: "sk-real-deepseek-key-0000000000000",
  xai: "xai-real-xai-key-000000000000000000",
  together: "real-together-key-0000000000000000",
  fireworks: "fw_real-fireworks-key-000000000000",
  cerebras: "csk-real-cerebras-key-00000000000",
  perplexity: "pplx-real-perplexity-key-00000000",
  custom: "real-custom-upstream-key-00000000",
  azure: "real-azure-style-key-0000000000000",
};

// The base path each OpenAI-compatible provider serves its API under ("/v1/chat/completions"
// becomes base + "/chat/completions"). "custom" stands for an operator's vLLM.
export const COMPAT_BASES = {
  mistral: "/v1", groq: "/openai/v1", openrouter: "/api/v1", deepseek: "/v1", xai: "/v1",
  together: "/v1", fireworks: "/inference/v1", cerebras: "/v1", perplexity: "", custom: "/v1",
  azure: "/openai/deployments/d1",
};

// Keys every listener also accepts, so a test can give any provider a pool of them.
export const POOL_KEYS = ["sk-pool-key-a-1111", "sk-pool-key-b-2222", "sk-pool-key-c-3333"];

const KEEP_BODY_BYTES = 1 << 20;

// What each answer reports, in the provider's own fields.
export const MOCK_USAGE = {
  openaiChat: { prompt_tokens: 9, completion_tokens: 7, total_tokens: 16, prompt_tokens_details: { cached_tokens: 4 }, completion_tokens_details: { reasoning_tokens: 2 } },
  openaiChatStream: { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13, prompt_tokens_details: { cached_tokens: 4 }, completion_tokens_details: { reasoning_tokens: 0 } },
  openaiResponses: { input_tokens: 5, output_tokens: 6, total_tokens: 11, input_tokens_details: { cached_tokens: 1 }, output_tokens_details: { reasoning_tokens: 2 } },
  openaiEmbeddings: { prompt_tokens: 3, total_tokens: 3 },
  anthropic: { input_tokens: 12, output_tokens: 8, cache_creation_input_tokens: 50, cache_read_input_tokens: 100 },
  gemini: { promptTokenCount: 4, candidatesTokenCount: 6, totalTokenCount: 10, cachedContentTokenCount: 2 },
  // OpenRouter adds what the call cost, in USD, to its chat usage (JSON and the stream's last chunk).
  openrouterCost: 0.0000375,
};

// The `usage.cost` a chat answer carries: OpenRouter's always; any listener's with x-mock-cost.
const reportedCost = (provider, req) =>
  req.headers["x-mock-cost"] !== undefined ? Number(req.headers["x-mock-cost"]) : provider === "openrouter" ? MOCK_USAGE.openrouterCost : undefined;
const withCost = (usage, cost) => (cost === undefined ? usage : { ...usage, cost });

const noUsage = (req) => req.headers["x-mock-usage"] === "none";

function errorBody(provider, status, message) {
  if (provider === "elevenlabs") return { detail: { status: status === 401 ? "invalid_api_key" : `error_${status}`, message } };
  if (provider === "anthropic") {
    const type = { 401: "authentication_error", 403: "permission_error", 404: "not_found_error", 429: "rate_limit_error", 529: "overloaded_error" }[status] ?? "api_error";
    return { type: "error", error: { type, message } };
  }
  if (provider === "gemini") {
    const s = { 400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED" }[status] ?? "UNAVAILABLE";
    return { error: { code: status, message, status: s } };
  }
  return { error: { message, type: status === 429 ? "requests" : "invalid_request_error", param: null, code: status === 401 ? "invalid_api_key" : null } };
}

function presentedKey(provider, req, url) {
  const bearer = (req.headers.authorization ?? "").replace(/^Bearer /, "");
  if (provider === "elevenlabs") return req.headers["xi-api-key"] ?? "";
  if (provider === "azure") return req.headers["api-key"] ?? "";
  if (provider in COMPAT_BASES) return bearer;
  if (provider === "openai") return bearer;
  if (provider === "anthropic") return req.headers["x-api-key"] ?? "";
  if (url.pathname.startsWith("/v1beta/openai/")) return bearer;
  return req.headers["x-goog-api-key"] ?? url.searchParams.get("key") ?? "";
}

// Deterministic bytes, so a download can be checked without keeping a copy around.
export function patternBytes(length, seed = 7) {
  const out = Buffer.allocUnsafe(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out[i] = x >> 16;
  }
  return out;
}

const extraHeaders = (req) => (req.headers["x-mock-extra-headers"] ? JSON.parse(req.headers["x-mock-extra-headers"]) : {});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Listener {
  constructor(provider) {
    this.provider = provider;
    this.requests = [];
    this.holds = new Map();
    this.refusedOnce = new Set();
    this.server = http.createServer((req, res) => this.handle(req, res).catch((e) => {
      res.destroy(e);
    }));
  }

  async listen() {
    await new Promise((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${this.server.address().port}`;
    return this.url;
  }

  release(id) {
    const waiter = this.holds.get(id);
    if (waiter) waiter.resolve();
    else this.holds.set(id, { released: true });
  }

  waitFor(id) {
    const existing = this.holds.get(id);
    if (existing?.released) return Promise.resolve();
    return new Promise((resolve) => this.holds.set(id, { resolve }));
  }

  async readBody(req) {
    const hash = createHash("sha256");
    const kept = [];
    let length = 0;
    let aborted = false;
    try {
      for await (const chunk of req) {
        hash.update(chunk);
        if (length < KEEP_BODY_BYTES) kept.push(chunk);
        length += chunk.length;
      }
    } catch {
      aborted = true;
    }
    const head = Buffer.concat(kept).subarray(0, KEEP_BODY_BYTES);
    return { length, sha256: hash.digest("hex"), text: head.toString("utf8"), ...(aborted ? { aborted } : {}) };
  }

  async handle(req, res) {
    const url = new URL(req.url, this.url);
    if (url.pathname.startsWith("/__mock/")) return this.control(req, res, url);

    const body = await this.readBody(req);
    const record = { method: req.method, url: req.url, path: url.pathname, query: url.search, headers: req.headers, rawHeaders: req.rawHeaders, body };
    this.requests.push(record);
    res.on("close", () => { if (!res.writableFinished) { record.clientClosed = true; record.closedAt = Date.now(); } });
    if (body.aborted) return res.destroy();
    if (req.headers["x-mock-hold-headers"]) await this.waitFor(req.headers["x-mock-hold-headers"]);

    const extra = extraHeaders(req);
    const send = (status, payload, headers = {}) => {
      res.writeHead(status, { "content-type": "application/json", "x-request-id": `req_${this.requests.length}`, ...extra, ...headers });
      res.end(typeof payload === "string" || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload));
    };

    const key = presentedKey(this.provider, req, url);
    record.key = key;
    if (key !== REAL_KEYS[this.provider] && !POOL_KEYS.includes(key)) {
      return send(401, errorBody(this.provider, 401, `mock ${this.provider}: wrong or missing API key`));
    }
    const refuseId = req.headers["x-mock-region-refuse-once"];
    if (refuseId && !this.refusedOnce.has(refuseId)) {
      this.refusedOnce.add(refuseId);
      if (this.provider === "gemini") {
        return send(400, { error: { code: 400, message: "User location is not supported for the API use.", status: "FAILED_PRECONDITION" } });
      }
      return send(403, { error: { code: "unsupported_country_region_territory", message: "Country, region, or territory not supported", param: null, type: "request_forbidden" } });
    }
    const keyStatus = req.headers["x-mock-key-status"] ? JSON.parse(req.headers["x-mock-key-status"])[key] : undefined;
    const forced = Number(keyStatus ?? req.headers["x-mock-status"] ?? 0);
    if (forced >= 400) {
      return send(forced, errorBody(this.provider, forced, `mock ${this.provider}: forced ${forced}`), forced === 429 ? { "retry-after": "7" } : {});
    }
    if (forced >= 300) return send(forced, "", { location: "https://example.invalid/elsewhere" });

    let json = null;
    if ((req.headers["content-type"] ?? "").includes("application/json") && body.length < KEEP_BODY_BYTES) {
      try { json = JSON.parse(body.text); } catch { json = null; }
    }
    return this.route(req, res, url, json, body, send);
  }

  async route(req, res, url, json, body, send) {
    const p = url.pathname;
    const stream = json?.stream === true || url.searchParams.get("alt") === "sse" || p.endsWith(":streamGenerateContent");
    if (p === "/echo/upload") return send(200, { length: body.length, sha256: body.sha256 });
    if (p.startsWith("/download/")) {
      const bytes = patternBytes(Number(p.split("/")[2]));
      return send(200, bytes, { "content-type": "application/octet-stream", "content-length": String(bytes.length) });
    }

    if (this.provider === "elevenlabs") {
      const tts = p.match(/^\/v1\/text-to-speech\/([^/]+)(\/stream)?$/);
      if (tts && req.method === "POST") return this.audio(req, res, Number(url.searchParams.get("bytes") ?? 96 * 1024));
      if (p === "/v1/voices") return send(200, { voices: [{ voice_id: "mock-voice", name: "Mock" }] });
    }
    const compatBase = COMPAT_BASES[this.provider];
    const compat = compatBase !== undefined && (p === compatBase || p.startsWith(compatBase + "/"));
    if (this.provider === "openai" || p.startsWith("/v1beta/openai/") || compat) {
      const base = compat ? "/v1" + p.slice(compatBase.length) : p.replace(/^\/v1beta\/openai/, "/v1");
      const bare = noUsage(req);
      if (base === "/v1/chat/completions") {
        const structured = openaiChatStructured(json);
        if (structured) return stream ? this.sse(req, res, openaiChatStructuredEvents(json, structured)) : send(200, structured);
        const cost = reportedCost(this.provider, req);
        return stream ? this.sse(req, res, openaiChatEvents(json, bare, cost)) : send(200, openaiChat(json, bare, cost));
      }
      if (base === "/v1/responses" && req.method === "POST") {
        const structured = openaiResponseStructured(json);
        if (structured) return stream ? this.sse(req, res, openaiResponseStructuredEvents(structured)) : send(200, structured);
        return stream ? this.sse(req, res, openaiResponseEvents(json, bare)) : send(200, openaiResponse(json, bare));
      }
      if (base === "/v1/embeddings") return send(200, { object: "list", data: [{ object: "embedding", index: 0, embedding: [0.1, 0.2, 0.3] }], model: json?.model, ...(bare ? {} : { usage: MOCK_USAGE.openaiEmbeddings }) });
      if (base === "/v1/models") return send(200, { object: "list", data: [{ id: "gpt-4o-mini", object: "model", created: 1, owned_by: "mock" }] });
      if (base === "/v1/audio/speech") return send(200, patternBytes(64 * 1024, 3), { "content-type": "audio/mpeg" });
      if (base === "/v1/files") return send(200, { id: "file-mock", object: "file", bytes: body.length, sha256: body.sha256, purpose: "batch" });
    }
    if (this.provider === "anthropic") {
      if (p === "/v1/messages") {
        const structured = anthropicStructured(json);
        if (structured) return stream ? this.sse(req, res, anthropicStructuredEvents(structured)) : send(200, structured);
        const errorEvent = req.headers["x-mock-error-event"] === "1";
        return stream ? this.sse(req, res, anthropicEvents(json, noUsage(req), errorEvent)) : send(200, anthropicMessage(json, noUsage(req)));
      }
      if (p === "/v1/messages/count_tokens") return send(200, { input_tokens: 11 });
      if (p === "/v1/models") return send(200, { data: [{ id: "claude-sonnet-4-5", type: "model", display_name: "Claude", created_at: "2025-01-01T00:00:00Z" }], has_more: false, first_id: "claude-sonnet-4-5", last_id: "claude-sonnet-4-5" });
    }
    if (this.provider === "gemini") {
      const m = p.match(/^\/(v1beta|v1)\/models\/([^:]+):(\w+)$/);
      const thoughts = Number(req.headers["x-mock-thoughts"] ?? 0);
      if (m && m[3] === "generateContent") return send(200, geminiStructured(m[2], json) ?? geminiResponse(m[2], "Hello from mock Gemini.", !noUsage(req), { thoughts }));
      if (m && m[3] === "streamGenerateContent") {
        const structured = geminiStructured(m[2], json);
        return this.sse(req, res, structured ? [{ data: structured }] : geminiEvents(m[2], !noUsage(req), thoughts));
      }
      if (m && m[3] === "countTokens") return send(200, { totalTokens: 7 });
      const model = p.match(/^\/(v1beta|v1)\/models\/([^:/]+)$/);
      if (model && req.method === "GET") return send(200, geminiModel(model[2]));
      if (m && m[3] === "embedContent") return send(200, { embedding: { values: [0.1, 0.2, 0.3] } });
      if (/^\/(v1beta|v1)\/models$/.test(p)) return send(200, { models: [{ name: "models/gemini-2.5-flash", displayName: "Gemini 2.5 Flash" }] });
    }
    return send(404, errorBody(this.provider, 404, `mock ${this.provider}: no route for ${req.method} ${p}`));
  }

  // ElevenLabs text-to-speech: audio bytes (a fixed pattern) written in chunks with pauses, as a
  // stream of generated audio arrives.
  async audio(req, res, length) {
    const bytes = patternBytes(length, 11);
    res.writeHead(200, { "content-type": "audio/mpeg", "x-request-id": `req_${this.requests.length}`, ...extraHeaders(req) });
    const step = 16 * 1024;
    const hold = req.headers["x-mock-hold"];
    for (let i = 0; i < bytes.length; i += step) {
      res.write(bytes.subarray(i, i + step));
      if (i === 0 && hold) await this.waitFor(hold);
      await sleep(5);
    }
    res.end();
  }

  // Writes events one by one; with x-mock-hold, stops after the first until released.
  async sse(req, res, events) {
    const chunks = Number(req.headers["x-mock-chunks"] ?? 0);
    const interval = Number(req.headers["x-mock-interval-ms"] ?? 0);
    const hold = req.headers["x-mock-hold"];
    const cutAfter = req.headers["x-mock-cut-after"] === undefined ? Infinity : Number(req.headers["x-mock-cut-after"]);
    const resetAfter = Number(req.headers["x-mock-reset-after"] ?? 0);
    if (chunks > 0) events = Array.from({ length: chunks }, (_, i) => ({ data: { i, t: Date.now() } }));
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", "x-request-id": `req_${this.requests.length}`, ...extraHeaders(req) });
    for (let i = 0; i < events.length; i++) {
      if (i >= cutAfter) {
        // Let the events written so far leave, then break the connection mid-stream.
        await sleep(50);
        res.destroy();
        return;
      }
      const e = events[i];
      const data = typeof e.data === "string" ? e.data : JSON.stringify(chunks > 0 ? { ...e.data, t: Date.now() } : e.data);
      res.write((e.event ? `event: ${e.event}\n` : "") + `data: ${data}\n\n`);
      if (resetAfter && i + 1 === resetAfter) {
        await sleep(20);
        return res.socket.resetAndDestroy();
      }
      if (i === 0 && hold) await this.waitFor(hold);
      if (i === 0 && req.headers["x-mock-abort-after-first"]) { await sleep(20); res.destroy(); return; }
      if (res.destroyed) return;
      if (interval) await sleep(interval);
    }
    res.end();
  }

  control(req, res, url) {
    const reply = (payload) => { res.writeHead(200, { "content-type": "application/json" }); res.end(JSON.stringify(payload)); };
    if (url.pathname === "/__mock/requests") return reply(this.requests);
    if (url.pathname === "/__mock/reset") { this.requests = []; this.holds.clear(); this.refusedOnce.clear(); return reply({ ok: true }); }
    const release = url.pathname.match(/^\/__mock\/release\/(.+)$/);
    if (release) { this.release(release[1]); return reply({ ok: true }); }
    res.writeHead(404); res.end();
  }
}

function lastUserText(json) {
  const messages = json?.messages ?? [];
  const last = messages[messages.length - 1];
  if (!last) return "";
  return typeof last.content === "string" ? last.content : (last.content ?? []).map((c) => c.text ?? "").join("");
}

function openaiChat(json, bare = false, cost = undefined) {
  return {
    id: "chatcmpl-mock", object: "chat.completion", created: 1, model: json?.model ?? "gpt-4o-mini",
    choices: [{ index: 0, message: { role: "assistant", content: `Hello from mock OpenAI. You said: ${lastUserText(json)}`, refusal: null }, finish_reason: "stop", logprobs: null }],
    ...(bare ? {} : { usage: withCost(MOCK_USAGE.openaiChat, cost) }),
  };
}

function openaiChatEvents(json, bare = false, cost = undefined) {
  const model = json?.model ?? "gpt-4o-mini";
  const chunk = (delta, finish = null) => ({ data: { id: "chatcmpl-mock", object: "chat.completion.chunk", created: 1, model, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] } });
  const events = [chunk({ role: "assistant", content: "" }), chunk({ content: "Hello" }), chunk({ content: " from" }), chunk({ content: " mock OpenAI." }), chunk({}, "stop")];
  if (json?.stream_options?.include_usage && !bare) {
    events.push({ data: { id: "chatcmpl-mock", object: "chat.completion.chunk", created: 1, model, choices: [], usage: withCost(MOCK_USAGE.openaiChatStream, cost) } });
  }
  events.push({ data: "[DONE]" });
  return events;
}

function openaiResponse(json, bare = false) {
  return {
    id: "resp_mock", object: "response", created_at: 1, status: "completed", model: json?.model ?? "gpt-4o-mini",
    output: [{ type: "message", id: "msg_mock", status: "completed", role: "assistant", content: [{ type: "output_text", text: "Hello from mock OpenAI Responses.", annotations: [] }] }],
    usage: bare ? null : MOCK_USAGE.openaiResponses,
  };
}

// The event sequence the real API streams, item by item: the SDK's ResponseStream accumulates the
// output from the *.added events and refuses a delta for an item it was not told about.
function openaiResponseEvents(json, bare = false) {
  const done = openaiResponse(json, bare);
  const [message] = done.output;
  const [part] = message.content;
  const deltas = ["Hello from", " mock OpenAI Responses."];
  const at = { item_id: message.id, output_index: 0, content_index: 0 };
  const events = [
    { type: "response.created", response: { ...done, status: "in_progress", output: [], usage: null } },
    { type: "response.in_progress", response: { ...done, status: "in_progress", output: [], usage: null } },
    { type: "response.output_item.added", output_index: 0, item: { ...message, status: "in_progress", content: [] } },
    { type: "response.content_part.added", ...at, part: { ...part, text: "" } },
    ...deltas.map((delta) => ({ type: "response.output_text.delta", ...at, delta, logprobs: [] })),
    { type: "response.output_text.done", ...at, text: part.text, logprobs: [] },
    { type: "response.content_part.done", ...at, part },
    { type: "response.output_item.done", output_index: 0, item: message },
    { type: "response.completed", response: done },
  ];
  return events.map((data, sequence_number) => ({ event: data.type, data: { ...data, sequence_number } }));
}

function anthropicMessage(json, bare = false) {
  const r = {
    id: "msg_mock", type: "message", role: "assistant", model: json?.model ?? "claude-sonnet-4-5",
    content: [{ type: "text", text: `Hello from mock Anthropic. You said: ${lastUserText(json)}` }],
    stop_reason: "end_turn", stop_sequence: null,
    usage: MOCK_USAGE.anthropic,
  };
  if (bare) delete r.usage;
  return r;
}

// Newer API versions repeat the input and cache fields in message_delta, cumulative like output.
function anthropicEvents(json, bare = false, errorEvent = false) {
  const start = { ...anthropicMessage(json), content: [], stop_reason: null, usage: { ...MOCK_USAGE.anthropic, output_tokens: 1 } };
  if (bare) delete start.usage;
  const deltaUsage = bare ? {} : { usage: MOCK_USAGE.anthropic };
  const end = errorEvent
    ? [{ event: "error", data: { type: "error", error: { type: "overloaded_error", message: "Overloaded" } } }]
    : [
      { event: "message_delta", data: { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, ...deltaUsage } },
      { event: "message_stop", data: { type: "message_stop" } },
    ];
  return [
    { event: "message_start", data: { type: "message_start", message: start } },
    { event: "content_block_start", data: { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } } },
    { event: "ping", data: { type: "ping" } },
    { event: "content_block_delta", data: { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hello from" } } },
    { event: "content_block_delta", data: { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: " mock Anthropic." } } },
    { event: "content_block_stop", data: { type: "content_block_stop", index: 0 } },
    ...end,
  ];
}

function geminiResponse(model, text, withUsage, { thoughts = 0, last = true, running = null } = {}) {
  const candidate = { content: { role: "model", parts: [{ text }] }, index: 0 };
  if (last) candidate.finishReason = "STOP";
  const r = { candidates: [candidate], modelVersion: model };
  if (withUsage) {
    const u = running ?? MOCK_USAGE.gemini;
    r.usageMetadata = { ...u, ...(thoughts ? { thoughtsTokenCount: thoughts, totalTokenCount: u.totalTokenCount + thoughts } : {}) };
  }
  return r;
}

// Running totals: the first chunk reports what was generated so far, the middle one none (which
// must not reset the count), the last one (finishReason, no new text) the final totals.
function geminiEvents(model, withUsage = true, thoughts = 0) {
  const running = { promptTokenCount: 4, candidatesTokenCount: 2, totalTokenCount: 6, cachedContentTokenCount: 2 };
  return [
    { data: geminiResponse(model, "Hello from", withUsage, { thoughts, last: false, running }) },
    { data: geminiResponse(model, " mock Gemini.", false, { last: false }) },
    { data: geminiResponse(model, "", withUsage, { thoughts }) },
  ];
}

// ---------- structured answers: forced tool calls and JSON ----------

/**
 * An instance of a JSON schema (or a Gemini OpenAPI-style one, with upper-case types), built from
 * the schema alone: the first enum value or const, the default, else a value of the type
 * ("mock <name>" for strings, the minimum or 1 for numbers, every property of an object).
 */
export function sampleFromSchema(schema, root = schema, name = "value", depth = 0) {
  if (!schema || typeof schema !== "object" || depth > 8) return null;
  if (schema.$ref) {
    const target = schema.$ref.replace(/^#\//, "").split("/").reduce((o, k) => o?.[k], root);
    return sampleFromSchema(target, root, name, depth + 1);
  }
  if ("const" in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
  if ("default" in schema && schema.default !== null) return schema.default;
  for (const k of ["anyOf", "oneOf", "allOf"]) {
    if (Array.isArray(schema[k]) && schema[k].length) {
      const choice = schema[k].find((s) => s?.type !== "null") ?? schema[k][0];
      return sampleFromSchema(choice, root, name, depth + 1);
    }
  }
  let type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  type = String(type ?? (schema.properties ? "object" : schema.items ? "array" : "string")).toLowerCase();
  if (type === "object") {
    return Object.fromEntries(Object.entries(schema.properties ?? {}).map(([k, v]) => [k, sampleFromSchema(v, root, k, depth + 1)]));
  }
  if (type === "array") return [sampleFromSchema(schema.items ?? {}, root, name, depth + 1)];
  if (type === "integer") return Math.max(1, Math.ceil(schema.minimum ?? 1));
  if (type === "number") return Math.max(1, schema.minimum ?? 1);
  if (type === "boolean") return true;
  if (type === "null") return null;
  return `mock ${name}`;
}

// The JSON schema a json_object request spells out in its messages (instructor's JSON mode puts it
// in the system prompt), or an empty one.
function schemaInMessages(messages) {
  const texts = (messages ?? []).map((m) => (typeof m.content === "string" ? m.content : (m.content ?? []).map((c) => c.text ?? "").join("")));
  for (const text of texts) {
    for (let at = text.indexOf("{"); at !== -1; at = text.indexOf("{", at + 1)) {
      let depth = 0;
      for (let end = at; end < text.length; end++) {
        if (text[end] === "{") depth++;
        else if (text[end] === "}" && --depth === 0) {
          try {
            const candidate = JSON.parse(text.slice(at, end + 1));
            if (candidate && typeof candidate === "object" && candidate.properties) return candidate;
          } catch { /* not JSON; try the next brace */ }
          break;
        }
      }
    }
  }
  return { type: "object" };
}

function openaiForcedTool(json) {
  const tools = (json?.tools ?? []).filter((t) => t.type === "function");
  const choice = json?.tool_choice;
  if (!tools.length || !choice || choice === "auto" || choice === "none") return null;
  const name = choice.function?.name ?? choice.name;
  const tool = (name && tools.find((t) => (t.function?.name ?? t.name) === name)) ?? tools[0];
  const fn = tool.function ?? tool;
  return { name: fn.name, arguments: JSON.stringify(sampleFromSchema(fn.parameters ?? {})) };
}

function openaiJsonText(format) {
  if (format?.type === "json_schema") return JSON.stringify(sampleFromSchema(format.json_schema?.schema ?? format.schema ?? {}));
  return null;
}

function openaiChatStructured(json) {
  const call = openaiForcedTool(json);
  const format = json?.response_format;
  let text = openaiJsonText(format);
  if (format?.type === "json_object") text = JSON.stringify(sampleFromSchema(schemaInMessages(json?.messages)));
  if (!call && text === null) return null;
  const message = call
    ? { role: "assistant", content: null, refusal: null, tool_calls: [{ id: "call_mock", type: "function", function: call }] }
    : { role: "assistant", content: text, refusal: null };
  return {
    id: "chatcmpl-mock", object: "chat.completion", created: 1, model: json?.model ?? "gpt-4o-mini",
    choices: [{ index: 0, message, finish_reason: call ? "tool_calls" : "stop", logprobs: null }],
    usage: { prompt_tokens: 9, completion_tokens: 7, total_tokens: 16, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } },
  };
}

// The same answer as chunks: the call's arguments (or the JSON text) split in two deltas.
function openaiChatStructuredEvents(json, done) {
  const model = done.model;
  const { message, finish_reason } = done.choices[0];
  const chunk = (delta, finish = null) => ({ data: { id: "chatcmpl-mock", object: "chat.completion.chunk", created: 1, model, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] } });
  const halves = (t) => [t.slice(0, Math.ceil(t.length / 2)), t.slice(Math.ceil(t.length / 2))];
  const events = [chunk({ role: "assistant", content: message.content === null ? null : "" })];
  if (message.tool_calls) {
    const [call] = message.tool_calls;
    const [a, b] = halves(call.function.arguments);
    events.push(chunk({ tool_calls: [{ index: 0, id: call.id, type: "function", function: { name: call.function.name, arguments: a } }] }));
    events.push(chunk({ tool_calls: [{ index: 0, function: { arguments: b } }] }));
  } else {
    for (const part of halves(message.content)) events.push(chunk({ content: part }));
  }
  events.push(chunk({}, finish_reason));
  if (json?.stream_options?.include_usage) {
    events.push({ data: { id: "chatcmpl-mock", object: "chat.completion.chunk", created: 1, model, choices: [], usage: done.usage } });
  }
  events.push({ data: "[DONE]" });
  return events;
}

function openaiResponseStructured(json) {
  const call = openaiForcedTool(json);
  const text = openaiJsonText(json?.text?.format);
  if (!call && text === null) return null;
  const done = openaiResponse(json);
  done.output = call
    ? [{ type: "function_call", id: "fc_mock", call_id: "call_mock", name: call.name, arguments: call.arguments, status: "completed" }]
    : [{ type: "message", id: "msg_mock", status: "completed", role: "assistant", content: [{ type: "output_text", text, annotations: [] }] }];
  return done;
}

function openaiResponseStructuredEvents(done) {
  const [item] = done.output;
  if (item.type === "message") {
    return openaiResponseEventsFor(done);
  }
  const events = [
    { type: "response.created", response: { ...done, status: "in_progress", output: [], usage: null } },
    { type: "response.output_item.added", output_index: 0, item: { ...item, arguments: "", status: "in_progress" } },
    { type: "response.function_call_arguments.delta", item_id: item.id, output_index: 0, delta: item.arguments },
    { type: "response.function_call_arguments.done", item_id: item.id, output_index: 0, arguments: item.arguments },
    { type: "response.output_item.done", output_index: 0, item },
    { type: "response.completed", response: done },
  ];
  return events.map((data, sequence_number) => ({ event: data.type, data: { ...data, sequence_number } }));
}

// openaiResponseEvents for a finished response whose one output is a message with one text part.
function openaiResponseEventsFor(done) {
  const [message] = done.output;
  const [part] = message.content;
  const at = { item_id: message.id, output_index: 0, content_index: 0 };
  const events = [
    { type: "response.created", response: { ...done, status: "in_progress", output: [], usage: null } },
    { type: "response.output_item.added", output_index: 0, item: { ...message, status: "in_progress", content: [] } },
    { type: "response.content_part.added", ...at, part: { ...part, text: "" } },
    { type: "response.output_text.delta", ...at, delta: part.text, logprobs: [] },
    { type: "response.output_text.done", ...at, text: part.text, logprobs: [] },
    { type: "response.content_part.done", ...at, part },
    { type: "response.output_item.done", output_index: 0, item: message },
    { type: "response.completed", response: done },
  ];
  return events.map((data, sequence_number) => ({ event: data.type, data: { ...data, sequence_number } }));
}

function anthropicStructured(json) {
  const choice = json?.tool_choice;
  const tools = json?.tools ?? [];
  let block = null;
  if (tools.length && (choice?.type === "tool" || choice?.type === "any")) {
    const tool = tools.find((t) => t.name === choice.name) ?? tools[0];
    block = { type: "tool_use", id: "toolu_mock", name: tool.name, input: sampleFromSchema(tool.input_schema ?? {}) };
  } else if (json?.output_format?.type === "json_schema" || json?.output_config?.format?.type === "json_schema") {
    const format = json.output_format ?? json.output_config.format;
    block = { type: "text", text: JSON.stringify(sampleFromSchema(format.schema ?? {})) };
  }
  if (!block) return null;
  return { ...anthropicMessage(json), content: [block], stop_reason: block.type === "tool_use" ? "tool_use" : "end_turn" };
}

function anthropicStructuredEvents(done) {
  const [block] = done.content;
  const start = { ...done, content: [], stop_reason: null, usage: { ...done.usage, output_tokens: 1 } };
  const delta = block.type === "tool_use"
    ? { type: "input_json_delta", partial_json: JSON.stringify(block.input) }
    : { type: "text_delta", text: block.text };
  return [
    { event: "message_start", data: { type: "message_start", message: start } },
    { event: "content_block_start", data: { type: "content_block_start", index: 0, content_block: block.type === "tool_use" ? { ...block, input: {} } : { type: "text", text: "" } } },
    { event: "content_block_delta", data: { type: "content_block_delta", index: 0, delta } },
    { event: "content_block_stop", data: { type: "content_block_stop", index: 0 } },
    { event: "message_delta", data: { type: "message_delta", delta: { stop_reason: done.stop_reason, stop_sequence: null }, usage: { output_tokens: done.usage.output_tokens } } },
    { event: "message_stop", data: { type: "message_stop" } },
  ];
}

function geminiStructured(model, json) {
  const mode = json?.toolConfig?.functionCallingConfig?.mode;
  const declarations = (json?.tools ?? []).flatMap((t) => t.functionDeclarations ?? []);
  const config = json?.generationConfig ?? {};
  let part = null;
  if (declarations.length && mode === "ANY") {
    const allowed = json.toolConfig.functionCallingConfig.allowedFunctionNames;
    const fn = declarations.find((d) => allowed?.includes(d.name)) ?? declarations[0];
    part = { functionCall: { name: fn.name, args: sampleFromSchema(fn.parametersJsonSchema ?? fn.parameters ?? {}) } };
  } else if (config.responseMimeType === "application/json") {
    part = { text: JSON.stringify(sampleFromSchema(config.responseJsonSchema ?? config.responseSchema ?? {})) };
  }
  if (!part) return null;
  const r = geminiResponse(model, "", true);
  r.candidates[0].content.parts = [part];
  return r;
}

function geminiModel(model) {
  return {
    name: `models/${model}`, version: "001", displayName: `Mock ${model}`, description: "mock model",
    inputTokenLimit: 1048576, outputTokenLimit: 65536,
    supportedGenerationMethods: ["generateContent", "streamGenerateContent", "countTokens"],
  };
}

export async function startMockUpstream() {
  const listeners = Object.fromEntries(["openai", "anthropic", "gemini", "elevenlabs", ...Object.keys(COMPAT_BASES)].map((p) => [p, new Listener(p)]));
  const urls = {};
  for (const [p, l] of Object.entries(listeners)) urls[p] = await l.listen();
  return {
    urls,
    listeners,
    /** Every request the mock received, for one provider or all, oldest first. */
    requests(provider) {
      if (provider) return listeners[provider].requests;
      return Object.values(listeners).flatMap((l) => l.requests);
    },
    reset() { for (const l of Object.values(listeners)) { l.requests = []; l.holds.clear(); l.refusedOnce.clear(); } },
    release(provider, id) { listeners[provider].release(id); },
    async close() {
      await Promise.all(Object.values(listeners).map((l) => new Promise((r) => { l.server.closeAllConnections(); l.server.close(r); })));
    },
  };
}
