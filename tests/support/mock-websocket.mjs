// The WebSocket side of the mock providers: a `ws` server on each mock listener's upgrade event,
// so the same upstream URL the proxy already uses answers WebSocket handshakes too.
//
// Like the real APIs, it checks the credential in the provider's own slot (Bearer for OpenAI,
// `x-goog-api-key` or `?key=` for Gemini) and refuses the upgrade with a 401 in the provider's
// error shape. Every handshake is recorded (URL, raw headers, offered subprotocols) and so is
// every close the upstream side receives.
//
// What each endpoint speaks:
//   /v1/realtime?model=M   `session.created`; on `response.create`: `response.created`, a text
//                          delta, `response.done` with usage. (OpenAI Realtime)
//   /v1/responses          on `response.create`: `response.created`, a text delta,
//                          `response.completed` with usage and model. (Responses over WebSocket)
//   /ws/...BidiGenerateContent   on `setup`: `setupComplete`; on `clientContent` or
//                          `realtimeInput`: a model turn, then `turnComplete` with `usageMetadata`.
//                          Sent as binary frames, as Gemini Live does. (Gemini Live)
// Test hooks on every endpoint, sent by the client as text messages:
//   {"type":"mock.echo","tag":T}       answered with the same text, verbatim
//   any binary message                 answered with the same bytes
//   {"type":"mock.close","code":C,"reason":R}   the mock closes with C and R
//   {"type":"mock.terminate"}          the mock drops the connection without a close frame
//   {"type":"mock.burst","count":N,"size":S,"tag":T}   N text messages of S bytes each

import { WebSocketServer } from "ws";
import { REAL_KEYS } from "./mock-upstream.mjs";

export const REALTIME_USAGE = { total_tokens: 330, input_tokens: 300, output_tokens: 30, input_token_details: { cached_tokens: 128, text_tokens: 200, audio_tokens: 100 }, output_token_details: { text_tokens: 10, audio_tokens: 20 } };
export const RESPONSES_USAGE = { input_tokens: 1000, input_tokens_details: { cached_tokens: 600 }, output_tokens: 50, output_tokens_details: { reasoning_tokens: 20 }, total_tokens: 1050 };
export const LIVE_USAGE = { promptTokenCount: 40, cachedContentTokenCount: 8, responseTokenCount: 12, totalTokenCount: 52 };

function presentedKey(provider, req, url) {
  if (provider === "openai") return (req.headers.authorization ?? "").replace(/^Bearer /, "");
  return req.headers["x-goog-api-key"] ?? url.searchParams.get("key") ?? "";
}

function refuse(socket, provider, status, message) {
  const body = JSON.stringify(provider === "gemini"
    ? { error: { code: status, message, status: status === 401 ? "UNAUTHENTICATED" : "NOT_FOUND" } }
    : { error: { message, type: "invalid_request_error", param: null, code: status === 401 ? "invalid_api_key" : null } });
  socket.end(`HTTP/1.1 ${status} Refused\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

function endpointOf(provider, pathname) {
  if (provider === "openai" && pathname === "/v1/realtime") return "realtime";
  if (provider === "openai" && pathname === "/v1/responses") return "responses";
  // `@google/genai` asks for `//ws/...` (its base URL ends in a slash), which Google accepts.
  if (provider === "gemini" && /^\/\/?ws\/google\.ai\.generativelanguage\.v1(beta|alpha)?\.GenerativeService\.BidiGenerateContent$/.test(pathname)) return "live";
  return null;
}

function speak(endpoint, ws, url) {
  const send = (event) => ws.send(JSON.stringify(event));
  const sendLive = (event) => ws.send(Buffer.from(JSON.stringify(event)), { binary: true });
  if (endpoint === "realtime") send({ type: "session.created", event_id: "ev_1", session: { id: "sess_1", model: url.searchParams.get("model") } });
  return (text) => {
    let event;
    try { event = JSON.parse(text); } catch { return; }
    if (endpoint === "realtime" && event.type === "response.create") {
      send({ type: "response.created", response: { id: "resp_rt", status: "in_progress", usage: null } });
      send({ type: "response.output_text.delta", response_id: "resp_rt", delta: "Hello from Realtime" });
      send({ type: "response.done", response: { id: "resp_rt", status: "completed", usage: REALTIME_USAGE } });
    } else if (endpoint === "responses" && event.type === "response.create") {
      const model = event.model ?? "unknown";
      // The whole event sequence the HTTP stream has: Codex CLI reads the answer from the item events.
      const message = { type: "message", id: "msg_1", role: "assistant", status: "completed", content: [{ type: "output_text", text: "Hello over WebSocket", annotations: [] }] };
      const at = { item_id: "msg_1", output_index: 0, content_index: 0 };
      send({ type: "response.created", response: { id: "resp_ws", model, status: "in_progress", usage: null } });
      send({ type: "response.output_item.added", output_index: 0, item: { ...message, status: "in_progress", content: [] } });
      send({ type: "response.content_part.added", ...at, part: { type: "output_text", text: "", annotations: [] } });
      send({ type: "response.output_text.delta", ...at, delta: "Hello over WebSocket" });
      send({ type: "response.output_text.done", ...at, text: "Hello over WebSocket" });
      send({ type: "response.content_part.done", ...at, part: message.content[0] });
      send({ type: "response.output_item.done", output_index: 0, item: message });
      send({ type: "response.completed", response: { id: "resp_ws", object: "response", model, status: "completed", output: [message], usage: RESPONSES_USAGE } });
    } else if (endpoint === "live" && event.setup) {
      sendLive({ setupComplete: {} });
    } else if (endpoint === "live" && (event.clientContent || event.realtimeInput)) {
      sendLive({ serverContent: { modelTurn: { role: "model", parts: [{ text: "Hello from Live" }] } } });
      sendLive({ serverContent: { turnComplete: true }, usageMetadata: LIVE_USAGE });
    }
  };
}

/**
 * Serves WebSocket upgrades on each of `listeners` (the mock provider listeners). Returns what it
 * recorded and a way to stop.
 */
export function attachMockWebSocket(listeners) {
  // Each handshake record gets `session: { received: [...], closed: {code, reason} }` once upgraded.
  const handshakes = [];
  const closes = [];
  const sockets = new Set();
  const servers = [];
  for (const [provider, listener] of Object.entries(listeners)) {
    const wss = new WebSocketServer({
      noServer: true,
      // Like OpenAI, prefer `realtime`; otherwise the first offered protocol.
      handleProtocols: (protocols) => (protocols.has("realtime") ? "realtime" : [...protocols][0] ?? false),
      maxPayload: 64 << 20,
    });
    servers.push(wss);
    listener.server.on("upgrade", (req, socket, head) => {
      // Not `new URL(req.url, base)`: a path starting with `//` would be read as a host.
      const url = new URL(`http://mock${req.url}`);
      const protocols = (req.headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim()).filter(Boolean);
      const record = { provider, url: req.url, path: url.pathname, headers: { ...req.headers }, rawHeaders: [...req.rawHeaders], protocols };
      handshakes.push(record);
      if (presentedKey(provider, req, url) !== REAL_KEYS[provider]) return refuse(socket, provider, 401, "Incorrect API key provided.");
      const endpoint = endpointOf(provider, url.pathname);
      if (!endpoint) return refuse(socket, provider, 404, `No WebSocket endpoint at ${url.pathname}.`);
      wss.handleUpgrade(req, socket, head, (ws) => {
        sockets.add(ws);
        record.session = { received: [] };
        const onEvent = speak(endpoint, ws, url);
        ws.on("message", (data, isBinary) => {
          record.session.received.push(isBinary ? Buffer.from(data) : data.toString());
          if (isBinary) return ws.send(data, { binary: true });
          const text = data.toString();
          let event = null;
          try { event = JSON.parse(text); } catch { /* not JSON: nothing to answer */ }
          if (event?.type === "mock.echo") return ws.send(text);
          if (event?.type === "mock.close") return ws.close(event.code, event.reason);
          if (event?.type === "mock.terminate") return ws.terminate();
          if (event?.type === "mock.burst") {
            for (let i = 0; i < event.count; i++) ws.send(JSON.stringify({ type: "mock.burst", tag: event.tag, i, pad: "x".repeat(Math.max(0, event.size - 60)) }));
            return;
          }
          onEvent(text);
        });
        ws.on("close", (code, reason) => {
          sockets.delete(ws);
          record.session.closed = { code, reason: reason.toString() };
          closes.push({ provider, path: url.pathname, code, reason: reason.toString() });
        });
      });
    });
  }
  return {
    handshakes,
    closes,
    reset() { handshakes.length = 0; closes.length = 0; },
    /** Closes every open upstream socket with `code` and `reason` (a provider ending sessions). */
    closeAll(code, reason) { for (const ws of sockets) ws.close(code, reason); },
    openCount() { return sockets.size; },
    async close() {
      for (const ws of sockets) ws.terminate();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}
