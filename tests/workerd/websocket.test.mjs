// WebSockets through the proxy: OpenAI Realtime, the Responses API over WebSocket and Gemini
// Live, against the mock's `ws` endpoints (tests/support/mock-websocket.mjs). The handshake goes
// through the same gate as HTTP; a session is relayed message by message, closes cross both
// ways, and a revoked token's session is ended.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { LIVE_USAGE, REALTIME_USAGE, RESPONSES_USAGE } from "../support/mock-websocket.mjs";
import { ofType, openSocket, safeJson, withKey } from "../support/websocket-client.mjs";
import { expectProxyError } from "./helpers.mjs";

const LIVE = (version) => `/ws/google.ai.generativelanguage.${version}.GenerativeService.BidiGenerateContent`;
const liveJson = (m) => safeJson(m.binary ? m.bytes.toString() : m.text);

/** Every endpoint and credential slot a client may open a session with. */
const ENDPOINTS = [
  { name: "Realtime, Bearer (server)", provider: "openai", path: "/v1/realtime?model=gpt-realtime", upstreamPath: "/v1/realtime", open: (t) => ({ headers: { authorization: `Bearer ${t}` } }), kind: "realtime" },
  { name: "Realtime, browser subprotocols", provider: "openai", path: "/v1/realtime?model=gpt-realtime", upstreamPath: "/v1/realtime", open: (t) => ({ protocols: ["realtime", `openai-insecure-api-key.${t}`, "openai-beta.realtime-v1"] }), kind: "realtime", protocol: "realtime" },
  { name: "Realtime, /openai prefix", provider: "openai", path: "/openai/v1/realtime?model=gpt-realtime", upstreamPath: "/v1/realtime", open: (t) => ({ headers: { authorization: `Bearer ${t}` } }), kind: "realtime" },
  { name: "Responses over WebSocket, Bearer (Codex)", provider: "openai", path: "/v1/responses", upstreamPath: "/v1/responses", open: (t) => ({ headers: { authorization: `Bearer ${t}`, "openai-beta": "responses_websockets=2026-02-06" } }), kind: "responses" },
  ...["v1beta", "v1alpha", "v1"].flatMap((v) => [
    { name: `Gemini Live ${v}, ?key=`, provider: "gemini", path: (t) => `${LIVE(v)}?key=${encodeURIComponent(t)}`, upstreamPath: LIVE(v), open: () => ({}), kind: "live" },
    { name: `Gemini Live ${v}, x-goog-api-key`, provider: "gemini", path: LIVE(v), upstreamPath: LIVE(v), open: (t) => ({ headers: { "x-goog-api-key": t } }), kind: "live" },
  ]),
];

const pathOf = (e, token) => (typeof e.path === "function" ? e.path(token) : e.path);

/** One exchange in the endpoint's own events; returns the usage-bearing event the client got. */
async function roundTrip(s, kind) {
  if (kind === "realtime") {
    await s.next(ofType("session.created"));
    s.sendJson({ type: "response.create" });
    return (await s.next(ofType("response.done"))).json;
  }
  if (kind === "responses") {
    s.sendJson({ type: "response.create", model: "gpt-5-codex", instructions: "be brief", input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] }], stream: true });
    return (await s.next(ofType("response.completed"))).json;
  }
  s.sendJson({ setup: { model: "models/gemini-live-2.5-flash" } });
  await s.next(withKey("setupComplete"));
  s.sendJson({ clientContent: { turns: [{ role: "user", parts: [{ text: "hi" }] }], turnComplete: true } });
  return liveJson(await s.next(withKey("usageMetadata")));
}

const expectUsage = (kind, event) => {
  if (kind === "realtime") expect(event.response.usage).toEqual(REALTIME_USAGE);
  else if (kind === "responses") expect(event.response.usage).toEqual(RESPONSES_USAGE);
  else expect(event.usageMetadata).toEqual(LIVE_USAGE);
};

describe("WebSocket sessions", () => {
  let stack;
  let token;
  beforeAll(async () => {
    stack = await startStack();
    ({ token } = await stack.createToken({ label: "ws" }));
  });
  afterAll(async () => { await stack?.dispose(); });
  beforeEach(() => { stack.mock.reset(); stack.websockets.reset(); });

  describe.each(ENDPOINTS)("$name", (e) => {
    test("opens upstream with the real key in its slot and without the token, and relays the session", async () => {
      const s = await openSocket(stack, pathOf(e, token), e.open(token));
      expect(s.opened, JSON.stringify(s.json)).toBe(true);
      expectUsage(e.kind, await roundTrip(s, e.kind));
      s.ws.close(1000, "done");
      await s.closed;

      const [hs] = stack.websockets.handshakes;
      expect(stack.websockets.handshakes).toHaveLength(1);
      expect(hs.path).toBe(e.upstreamPath);
      expect(hs.headers.upgrade).toBe("websocket");
      if (e.provider === "openai") expect(hs.headers.authorization).toBe(`Bearer ${stack.realKeys.openai}`);
      else expect(hs.headers["x-goog-api-key"]).toBe(stack.realKeys.gemini);
      const upstream = [hs.url, ...hs.rawHeaders].join("\n");
      expect(upstream).not.toContain(token);
      expect(upstream).not.toContain(encodeURIComponent(token));
      expect(hs.url).not.toMatch(/[?&]key=/);
      if (e.protocol) {
        expect(s.protocol).toBe(e.protocol);
        expect(s.headers.get("sec-websocket-protocol")).toBe(e.protocol);
        expect(hs.protocols).toEqual(["realtime", "openai-beta.realtime-v1"]);
      }
      expect(stack.logs.join("")).not.toContain(token);
    });
  });

  test("the Codex handshake headers reach the upstream", async () => {
    const s = await openSocket(stack, "/v1/responses", { headers: { authorization: `Bearer ${token}`, "openai-beta": "responses_websockets=2026-02-06", "session-id": "sess-123", originator: "codex_exec" } });
    expect(s.opened).toBe(true);
    s.ws.close();
    const [hs] = stack.websockets.handshakes;
    expect(hs.headers["openai-beta"]).toBe("responses_websockets=2026-02-06");
    expect(hs.headers["session-id"]).toBe("sess-123");
    expect(hs.headers.originator).toBe("codex_exec");
  });

  test("the key subprotocol is never offered upstream nor named back, even when listed first or alone", async () => {
    const s = await openSocket(stack, "/v1/realtime?model=gpt-realtime", { protocols: [`openai-insecure-api-key.${token}`, "openai-beta.realtime-v1", "realtime"] });
    expect(s.protocol).toBe("realtime");
    expect(stack.websockets.handshakes[0].protocols).toEqual(["openai-beta.realtime-v1", "realtime"]);
    s.ws.close();
    stack.websockets.reset();
    // Alone: the upstream is offered nothing and chooses nothing, so the client (which offered a
    // protocol) fails the connection rather than hear its key named back.
    await expect(openSocket(stack, "/v1/realtime?model=gpt-realtime", { protocols: [`openai-insecure-api-key.${token}`] })).rejects.toThrow(/subprotocol/);
    expect(stack.websockets.handshakes[0].protocols).toEqual([]);
    expect(stack.websockets.handshakes[0].rawHeaders.join("\n")).not.toContain(token);
  });

  describe("refusals come before any upgrade, in the provider's shape", () => {
    const expectNoUpstream = () => expect(stack.websockets.handshakes).toHaveLength(0);

    test("an unknown token: 401 for Realtime (OpenAI shape) and Live (Gemini shape)", async () => {
      const wrong = "apx_not-a-real-token-at-all-000000000";
      let r = await openSocket(stack, "/v1/realtime?model=gpt-realtime", { headers: { authorization: `Bearer ${wrong}` } });
      expect(r.opened).toBe(false);
      expectProxyError(r, 401, "openai");
      r = await openSocket(stack, "/v1/realtime?model=gpt-realtime", { protocols: ["realtime", `openai-insecure-api-key.${wrong}`] });
      expectProxyError(r, 401, "openai");
      r = await openSocket(stack, `${LIVE("v1beta")}?key=${wrong}`);
      expectProxyError(r, 401, "gemini");
      r = await openSocket(stack, "/v1/responses");
      expectProxyError(r, 401, "openai");
      expectNoUpstream();
    });

    test("a disabled token: 401; a token without the provider: 403", async () => {
      const disabled = await stack.createToken({ label: "ws-disabled" });
      await stack.admin("PATCH", `/admin/api/tokens/${disabled.id}`, { status: "disabled" });
      expectProxyError(await openSocket(stack, "/v1/responses", { headers: { authorization: `Bearer ${disabled.token}` } }), 401, "openai");
      const anthropicOnly = await stack.createToken({ label: "ws-anthropic", providers: ["anthropic"] });
      expectProxyError(await openSocket(stack, `${LIVE("v1alpha")}?key=${anthropicOnly.token}`), 403, "gemini");
      expectNoUpstream();
    });

    test("a model-scoped token opens Realtime for its model (from ?model=) and is refused for others", async () => {
      const scoped = await stack.createToken({ label: "ws-model", allowed_models: ["gpt-realtime*"] });
      const ok = await openSocket(stack, "/v1/realtime?model=gpt-realtime-mini", { headers: { authorization: `Bearer ${scoped.token}` } });
      expect(ok.opened).toBe(true);
      ok.ws.close();
      stack.websockets.reset();
      const refused = await openSocket(stack, "/v1/realtime?model=gpt-4o-realtime-preview", { headers: { authorization: `Bearer ${scoped.token}` } });
      expectProxyError(refused, 403, "openai");
      expect(refused.json.error.message).toContain("gpt-4o-realtime-preview");
      expectProxyError(await openSocket(stack, "/v1/realtime", { headers: { authorization: `Bearer ${scoped.token}` } }), 403, "openai");
      expectNoUpstream();
    });

    test("browser origins: an unlisted origin gets 403; a listed one gets its CORS headers on the 101", async () => {
      const browser = await stack.createToken({ label: "ws-browser", allowed_origins: ["https://app.example.com"] });
      const open = (origin) => openSocket(stack, "/v1/realtime?model=gpt-realtime", { protocols: ["realtime", `openai-insecure-api-key.${browser.token}`], headers: { origin } });
      const refused = await open("https://evil.example.net");
      expectProxyError(refused, 403, "openai");
      expect(refused.json.error.message).toContain("https://evil.example.net");
      expectNoUpstream();
      const ok = await open("https://app.example.com");
      expect(ok.opened).toBe(true);
      expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
      expect(ok.protocol).toBe("realtime");
      ok.ws.close();
    });

    test("the rate limit counts each connection once, with its headers on the 101, then 429", async () => {
      const limited = await stack.createToken({ label: "ws-limited", rate_limit: { requests: 2, per_seconds: 3600 } });
      const open = () => openSocket(stack, "/v1/responses", { headers: { authorization: `Bearer ${limited.token}` } });
      const first = await open();
      expect(first.opened).toBe(true);
      expect(first.headers.get("x-ratelimit-limit-requests")).toBe("2");
      expect(first.headers.get("x-ratelimit-remaining-requests")).toBe("1");
      // Messages in a session are not requests.
      for (let i = 0; i < 5; i++) first.sendJson({ type: "mock.echo", i });
      await first.next((m) => m.json?.i === 4);
      const second = await open();
      expect(second.opened).toBe(true);
      expect(second.headers.get("x-ratelimit-remaining-requests")).toBe("0");
      const third = await open();
      expect(third.opened).toBe(false);
      expect(third.status).toBe(429);
      expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(third.json.error.message).toContain("limited to 2 requests");
      expect(stack.websockets.handshakes).toHaveLength(2);
      first.ws.close();
      second.ws.close();
    });
  });

  describe("frames", () => {
    let s;
    let upstream;
    beforeAll(async () => {
      s = await openSocket(stack, "/v1/responses", { headers: { authorization: `Bearer ${token}` } });
      upstream = stack.websockets.handshakes.at(-1).session;
    });
    afterAll(() => s?.ws.close());

    test("text passes byte for byte both ways", async () => {
      const text = JSON.stringify({ type: "mock.echo", tag: "unicode", s: "héllo ✓ 🚀 \u0000 \\n \"q\" 中文" });
      s.ws.send(text);
      const echoed = await s.next((m) => m.json?.tag === "unicode");
      expect(echoed.binary).toBe(false);
      expect(Buffer.from(echoed.text)).toEqual(Buffer.from(text));
      expect(upstream.received.at(-1)).toBe(text);
    });

    test("binary passes byte for byte both ways, every byte value", async () => {
      const bytes = Buffer.from(Array.from({ length: 1024 }, (_, i) => (i * 7 + 3) % 256));
      s.ws.send(bytes);
      const echoed = await s.next((m) => m.binary && m.bytes.length === bytes.length);
      expect(echoed.bytes.equals(bytes)).toBe(true);
      const received = upstream.received.at(-1);
      expect(Buffer.isBuffer(received) && received.equals(bytes)).toBe(true);
    });

    test("a 1 MiB binary and a 1 MiB text message pass both ways", async () => {
      const big = Buffer.alloc(1 << 20);
      for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 11) & 0xff;
      s.ws.send(big);
      const echoed = await s.next((m) => m.binary && m.bytes.length === big.length, 30_000);
      expect(echoed.bytes.equals(big)).toBe(true);
      const text = JSON.stringify({ type: "mock.echo", tag: "big", pad: "é".repeat((1 << 19) - 40) });
      s.ws.send(text);
      const back = await s.next((m) => m.json?.tag === "big", 30_000);
      expect(back.text === text).toBe(true);
    });
  });

  describe("close", () => {
    const open = async () => {
      const s = await openSocket(stack, "/v1/responses", { headers: { authorization: `Bearer ${token}` } });
      s.upstream = stack.websockets.handshakes.at(-1).session;
      return s;
    };
    const upstreamClose = async (s) => {
      for (let i = 0; i < 100 && !s.upstream.closed; i++) await new Promise((r) => setTimeout(r, 50));
      return s.upstream.closed;
    };

    test("the client's code and reason reach the upstream", async () => {
      const s = await open();
      s.ws.close(4000, "client is done");
      expect(await s.closed).toEqual({ code: 4000, reason: "client is done" });
      expect(await upstreamClose(s)).toMatchObject({ code: 4000, reason: "client is done" });
    });

    test("the upstream's code and reason reach the client", async () => {
      for (const [code, reason] of [[1000, "normal"], [1011, "server error"], [4001, "session limit"]]) {
        const s = await open();
        s.sendJson({ type: "mock.close", code, reason });
        expect(await s.closed).toEqual({ code, reason });
      }
    });

    test("an upstream that drops without a close frame closes the client with 1011, saying so", async () => {
      const s = await open();
      s.sendJson({ type: "mock.terminate" });
      const closed = await s.closed;
      expect(closed.code).toBe(1011);
      expect(closed.reason).toContain("1006");
    });

    test("a client that drops closes the upstream", async () => {
      const s = await open();
      s.ws.terminate();
      const c = await upstreamClose(s);
      expect(c).toBeDefined();
      expect(c.code).toBe(1011);
    });
  });

  describe("usage: one ledger entry per session, when it ends", () => {
    const usageOf = async (id) => {
      const r = await stack.admin("GET", `/admin/api/tokens/${id}/usage?by=model`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body;
    };
    /** Polls the token's ledger until it holds `requests` sessions (written after each ends). */
    const settled = async (id, requests) => {
      for (let i = 0; i < 100; i++) {
        const body = await usageOf(id);
        if (body.totals.requests >= requests) return body;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`the ledger of ${id} never reached ${requests} sessions`);
    };
    const counters = (r) => [r.requests, r.input_tokens, r.cached_input_tokens, r.cache_write_tokens, r.output_tokens, r.reasoning_tokens, r.partial_requests];

    test("Realtime (two responses), Live and Responses sessions are recorded with the mock's usage, under their provider and model; another token's ledger stays empty", async () => {
      const mine = await stack.createToken({ label: "ws-usage" });
      const other = await stack.createToken({ label: "ws-usage-other" });
      const rt = await openSocket(stack, "/v1/realtime?model=gpt-realtime-usage", { headers: { authorization: `Bearer ${mine.token}` } });
      await roundTrip(rt, "realtime");
      rt.sendJson({ type: "response.create" });
      let seen = 0;
      await rt.next((m) => m.json?.type === "response.done" && ++seen === 2);
      rt.ws.close(1000);
      const live = await openSocket(stack, `${LIVE("v1beta")}?key=${mine.token}`);
      await roundTrip(live, "live");
      live.ws.close(1000);
      const rs = await openSocket(stack, "/v1/responses", { headers: { authorization: `Bearer ${mine.token}` } });
      await roundTrip(rs, "responses");
      rs.ws.close(1000);

      const body = await settled(mine.id, 3);
      await new Promise((r) => setTimeout(r, 300)); // nothing more arrives (one entry per session)
      const { rows, totals } = await usageOf(mine.id);
      const row = (provider, model) => rows.find((r) => r.provider === provider && r.model === model);
      expect(rows.length, JSON.stringify(body)).toBe(3);
      const rtRow = row("openai", "gpt-realtime-usage");
      expect(counters(rtRow)).toEqual([1, 2 * REALTIME_USAGE.input_tokens, 2 * REALTIME_USAGE.input_token_details.cached_tokens, 0, 2 * REALTIME_USAGE.output_tokens, 0, 0]);
      expect([rtRow.cost_usd, rtRow.unpriced_requests]).toEqual([null, 1]); // no price for this model
      expect(counters(row("gemini", "gemini-live-2.5-flash"))).toEqual([1, LIVE_USAGE.promptTokenCount, LIVE_USAGE.cachedContentTokenCount, 0, LIVE_USAGE.responseTokenCount, 0, 0]);
      const rsRow = row("openai", "gpt-5-codex");
      expect(counters(rsRow)).toEqual([1, RESPONSES_USAGE.input_tokens, RESPONSES_USAGE.input_tokens_details.cached_tokens, 0, RESPONSES_USAGE.output_tokens, RESPONSES_USAGE.output_tokens_details.reasoning_tokens, 0]);
      // gpt-5-codex at $1.25 / $0.125 cached / $10 output per million tokens.
      const cached = RESPONSES_USAGE.input_tokens_details.cached_tokens;
      const expected = ((RESPONSES_USAGE.input_tokens - cached) * 1.25 + cached * 0.125 + RESPONSES_USAGE.output_tokens * 10) / 1e6;
      expect(rsRow.cost_usd).toBeCloseTo(expected, 12);
      expect(totals.requests).toBe(3);
      expect((await usageOf(other.id)).totals.requests).toBe(0);
      expect((await usageOf(other.id)).rows).toEqual([]);
      expect(stack.logs.join("")).not.toContain(mine.token);
    });

    test("a session that ends before any usage event is one partial entry", async () => {
      const { id, token: t } = await stack.createToken({ label: "ws-usage-cut" });
      const rt = await openSocket(stack, "/v1/realtime?model=gpt-realtime-cut", { headers: { authorization: `Bearer ${t}` } });
      await rt.next(ofType("session.created"));
      rt.ws.close(1000);
      const { rows } = await settled(id, 1);
      expect(rows.map((r) => [r.provider, r.model, ...counters(r)])).toEqual([["openai", "gpt-realtime-cut", 1, 0, 0, 0, 0, 0, 1]]);
    });
  });

  test("20 concurrent sessions keep their messages apart", async () => {
    const sessions = await Promise.all(Array.from({ length: 20 }, () => openSocket(stack, "/v1/responses", { headers: { authorization: `Bearer ${token}` } })));
    expect(sessions.every((s) => s.opened)).toBe(true);
    sessions.forEach((s, i) => {
      s.sendJson({ type: "mock.burst", tag: `s${i}`, count: 25, size: 200 });
      s.sendJson({ type: "mock.echo", tag: `s${i}`, last: true });
    });
    await Promise.all(sessions.map((s) => s.next((m) => m.json?.last === true)));
    sessions.forEach((s, i) => {
      expect(s.messages.every((m) => m.json?.tag === `s${i}`)).toBe(true);
      expect(s.messages.filter((m) => m.json?.type === "mock.burst").map((m) => m.json.i)).toEqual(Array.from({ length: 25 }, (_, k) => k));
    });
    sessions.forEach((s) => s.ws.close());
  });
});

describe("a session whose token is revoked", () => {
  let stack;
  beforeAll(async () => {
    stack = await startStack({ bindings: { WEBSOCKET_RECHECK_SECONDS: "1" } });
  });
  afterAll(async () => { await stack?.dispose(); });

  test("is closed with 1008 and the reason, and the upstream is closed too", async () => {
    const t = await stack.createToken({ label: "ws-revoke" });
    const s = await openSocket(stack, "/v1/realtime?model=gpt-realtime", { headers: { authorization: `Bearer ${t.token}` } });
    expect(s.opened).toBe(true);
    const upstream = stack.websockets.handshakes.at(-1).session;
    await s.next(ofType("session.created"));
    await stack.admin("PATCH", `/admin/api/tokens/${t.id}`, { status: "disabled" });
    const closed = await s.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toContain("disabled");
    for (let i = 0; i < 100 && !upstream.closed; i++) await new Promise((r) => setTimeout(r, 50));
    expect(upstream.closed).toMatchObject({ code: 1000 });
  });

  test("a deleted token's session is closed, and another token's session goes on", async () => {
    const gone = await stack.createToken({ label: "ws-gone" });
    const kept = await stack.createToken({ label: "ws-kept" });
    const a = await openSocket(stack, `${LIVE("v1beta")}?key=${gone.token}`);
    const b = await openSocket(stack, `${LIVE("v1beta")}?key=${kept.token}`);
    await stack.admin("DELETE", `/admin/api/tokens/${gone.id}`);
    const closed = await a.closed;
    expect(closed).toMatchObject({ code: 1008 });
    expect(closed.reason).toContain("deleted");
    b.sendJson({ type: "mock.echo", tag: "still-here" });
    expect((await b.next((m) => m.json?.tag === "still-here")).text).toContain("still-here");
    b.ws.close();
  });

  test("a model-scoped token's Responses session: an allowed model passes, another ends the session before it reaches the upstream", async () => {
    const scoped = await stack.createToken({ label: "ws-model-msg", allowed_models: ["gpt-5*"] });
    const s = await openSocket(stack, "/v1/responses", { headers: { authorization: `Bearer ${scoped.token}` } });
    expect(s.opened).toBe(true);
    s.sendJson({ type: "response.create", model: "gpt-5-codex", input: [] });
    await s.next(ofType("response.completed"));
    s.sendJson({ type: "response.create", model: "o3-pro", input: [] });
    const closed = await s.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toContain("o3-pro");
    const received = stack.websockets.handshakes.at(-1).session.received;
    expect(received.some((m) => typeof m === "string" && m.includes("o3-pro"))).toBe(false);
  });

  test("a budgeted token's session is closed once other requests use the budget up; a new one is refused before the upgrade", async () => {
    const t = await stack.createToken({ label: "ws-budget", budget_tokens: { tokens: 1, per: "month" } });
    const s = await openSocket(stack, "/v1/realtime?model=gpt-realtime", { headers: { authorization: `Bearer ${t.token}` } });
    expect(s.opened).toBe(true);
    await s.next(ofType("session.created"));
    const http = await fetch(`${stack.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${t.token}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
    });
    expect(http.status).toBe(200);
    await http.text();
    const closed = await s.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(/budget/);
    const refused = await openSocket(stack, "/v1/realtime?model=gpt-realtime", { headers: { authorization: `Bearer ${t.token}` } });
    expect(refused.status).toBe(429);
    expect(refused.json.error).toMatchObject({ type: "insufficient_quota", code: "insufficient_quota" });
  });

  test("a 15 s session with a recheck every second keeps relaying (the longest session tested)", async () => {
    const t = await stack.createToken({ label: "ws-long" });
    const s = await openSocket(stack, "/v1/responses", { headers: { authorization: `Bearer ${t.token}` } });
    for (let i = 0; i < 6; i++) {
      s.sendJson({ type: "mock.echo", tag: `tick${i}` });
      await s.next((m) => m.json?.tag === `tick${i}`);
      await new Promise((r) => setTimeout(r, 2500));
    }
    expect(s.ws.readyState).toBe(1);
    s.ws.close(1000);
    expect((await s.closed).code).toBe(1000);
  }, 60_000);
});
