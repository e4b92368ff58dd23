// WebSocket sessions with the real clients, configured as a user would (base URL = the proxy, API
// key = the token): the `openai` SDK's Realtime client (`openai/realtime/ws`) and its Responses
// WebSocket client (`openai/resources/responses/ws`), a Responses session opened the way Codex
// CLI opens it, and `@google/genai`'s `live.connect`.
import net from "node:net";
import { GoogleGenAI, Modality } from "@google/genai";
import OpenAI from "openai";
import { OpenAIRealtimeWS } from "openai/realtime/ws";
import { ResponsesWS } from "openai/resources/responses/ws";
import { afterAll, beforeAll, beforeEach, expect, test } from "vitest";
import { LIVE_USAGE, REALTIME_USAGE, RESPONSES_USAGE } from "../support/mock-websocket.mjs";
import { startStack } from "../support/stack.mjs";
import { ofType, openSocket } from "../support/websocket-client.mjs";

let stack;
beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.dispose(); });
beforeEach(() => { stack.mock.reset(); stack.websockets.reset(); });

const once = (emitter, event) => new Promise((resolve) => emitter.on(event, resolve));

function expectUpstreamHandshake(path, { provider, token }) {
  const [hs] = stack.websockets.handshakes;
  expect(stack.websockets.handshakes).toHaveLength(1);
  expect(hs.path).toBe(path);
  if (provider === "openai") expect(hs.headers.authorization).toBe(`Bearer ${stack.realKeys.openai}`);
  else expect(hs.headers["x-goog-api-key"]).toBe(stack.realKeys.gemini);
  expect(JSON.stringify(hs)).not.toContain(token);
  return hs;
}

test("openai Realtime (OpenAIRealtimeWS): session.created, a response and its usage", async () => {
  const { token } = await stack.createToken({ providers: ["openai"] });
  const client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: token });
  // The SDK always dials wss://; the test proxy speaks plain HTTP, so the TCP connection is made
  // here and the SDK runs its WebSocket over it (a deployed Worker is reached over TLS).
  const { port } = new URL(stack.url);
  const rt = new OpenAIRealtimeWS({ model: "gpt-realtime", options: { createConnection: () => net.connect(Number(port), "127.0.0.1") } }, client);
  const created = once(rt, "session.created");
  const errors = [];
  rt.on("error", (e) => errors.push(e));
  expect((await created).session.model).toBe("gpt-realtime");
  const done = once(rt, "response.done");
  rt.send({ type: "response.create" });
  const event = await done;
  expect(event.response.usage).toEqual(REALTIME_USAGE);
  const closed = new Promise((r) => rt.socket.on("close", (code) => r(code)));
  rt.close({ code: 1000, reason: "bye" });
  expect(await closed).toBe(1000);
  expect(errors).toEqual([]);
  expectUpstreamHandshake("/v1/realtime", { provider: "openai", token });
  expect(stack.websockets.handshakes[0].url).toBe("/v1/realtime?model=gpt-realtime");
});

test("openai Responses over WebSocket (ResponsesWS): response.create, the text and its usage", async () => {
  const { token } = await stack.createToken({ providers: ["openai"] });
  const client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: token });
  const rws = new ResponsesWS(client);
  const errors = [];
  rws.on("error", (e) => errors.push(e));
  const completed = once(rws, "response.completed");
  const deltas = [];
  rws.on("response.output_text.delta", (e) => deltas.push(e.delta));
  rws.send({ type: "response.create", model: "gpt-5-mini", input: "hi" });
  const event = await completed;
  expect(deltas.join("")).toBe("Hello over WebSocket");
  expect(event.response.model).toBe("gpt-5-mini");
  expect(event.response.usage).toEqual(RESPONSES_USAGE);
  rws.close({ code: 1000, reason: "done" });
  expect(errors).toEqual([]);
  expectUpstreamHandshake("/v1/responses", { provider: "openai", token });
});

test("a Responses session as Codex CLI opens it: its headers reach the upstream and the turn completes", async () => {
  const { token } = await stack.createToken({ providers: ["openai"] });
  // What Codex sends (codex-rs responses_websocket): the Bearer key, the WebSocket beta header,
  // its session headers, then one `response.create` per turn with the whole request inline.
  const s = await openSocket(stack, "/v1/responses", {
    headers: {
      authorization: `Bearer ${token}`,
      "openai-beta": "responses_websockets=2026-02-06",
      originator: "codex_exec",
      "session-id": "0199a0f4-5b1e-7c3a-9d2e-codexsession",
      "x-client-request-id": "0199a0f4-5b1e-7c3a-9d2e-codexsession",
      "user-agent": "codex_exec/0.135.0 (Debian 13; x86_64) (codex_exec; 0.135.0)",
    },
  });
  expect(s.opened, s.text).toBe(true);
  s.sendJson({
    type: "response.create",
    model: "gpt-5-codex",
    instructions: "You are Codex.",
    input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "list the files" }] }],
    tools: [{ type: "function", name: "shell", description: "Runs a command", strict: false, parameters: { type: "object", properties: { command: { type: "array", items: { type: "string" } } }, required: ["command"] } }],
    tool_choice: "auto",
    parallel_tool_calls: false,
    reasoning: { effort: "medium", summary: "auto" },
    store: false,
    stream: true,
    include: ["reasoning.encrypted_content"],
    prompt_cache_key: "0199a0f4-5b1e-7c3a-9d2e-codexsession",
  });
  const completed = await s.next(ofType("response.completed"));
  expect(completed.json.response.usage).toEqual(RESPONSES_USAGE);
  expect(s.messages.filter((m) => m.json?.type === "response.output_text.delta").map((m) => m.json.delta).join("")).toBe("Hello over WebSocket");
  s.ws.close(1000);
  const hs = expectUpstreamHandshake("/v1/responses", { provider: "openai", token });
  expect(hs.headers).toMatchObject({ "openai-beta": "responses_websockets=2026-02-06", originator: "codex_exec", "session-id": "0199a0f4-5b1e-7c3a-9d2e-codexsession" });
  expect(JSON.parse(hs.session.received[0]).tools[0].name).toBe("shell");
});

test("@google/genai live.connect: setupComplete, a model turn and usageMetadata", async () => {
  const { token } = await stack.createToken({ providers: ["gemini"] });
  const ai = new GoogleGenAI({ apiKey: token, httpOptions: { baseUrl: stack.url } });
  const messages = [];
  let turnDone;
  const turn = new Promise((r) => { turnDone = r; });
  const session = await ai.live.connect({
    model: "gemini-live-2.5-flash",
    config: { responseModalities: [Modality.TEXT] },
    callbacks: {
      onmessage: (m) => { messages.push(m); if (m.usageMetadata) turnDone(); },
      onerror: (e) => messages.push({ error: e.message }),
    },
  });
  session.sendClientContent({ turns: [{ role: "user", parts: [{ text: "hi" }] }], turnComplete: true });
  await turn;
  session.close();
  expect(messages.some((m) => m.error)).toBe(false);
  expect(messages.map((m) => m.text).filter(Boolean).join("")).toBe("Hello from Live");
  expect(messages.find((m) => m.usageMetadata).usageMetadata).toEqual(LIVE_USAGE);
  // @google/genai 3.x uses the v1 API, and its base URL's trailing slash doubles the first one.
  const hs = expectUpstreamHandshake("//ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent", { provider: "gemini", token });
  expect(new URL(hs.url, "http://x").searchParams.has("key")).toBe(false);
  expect(JSON.parse(hs.session.received[0].toString()).setup.model).toBe("models/gemini-live-2.5-flash");
});
