// Sentinels for the secrets: a client's token never reaches a provider (headers, URL, body), never
// lands in the Worker's logs, never comes back in a response; the admin secret never leaves the
// Worker; a provider's real key never reaches the client.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { ADMIN_SECRET, startStack } from "../support/stack.mjs";
import { ALL_PROVIDERS, closedPort, everythingUpstream, PREFIX_SLOTS, send, sendWithSlot, SLOTS as BUILT_IN_SLOTS } from "./helpers.mjs";

// The three built-ins' slots and every prefixed provider's.
const SLOTS = [...BUILT_IN_SLOTS, ...PREFIX_SLOTS];

// Long, and with characters that change under URL encoding, so an encoded copy would be a leak too.
const CUSTOM = "sentinel+custom/token=0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ~_.-";

/** The forms a secret could leak in: as is, URL-encoded, and inside a Basic credential. */
function forms(secret) {
  return [secret, encodeURIComponent(secret), Buffer.from(secret).toString("base64")];
}

function expectNowhere(haystack, secrets, where) {
  for (const secret of secrets) {
    for (const form of forms(secret)) expect(haystack.includes(form), `${where} contains ${form}`).toBe(false);
  }
}

const pageOf = (res) => `${res.status}\n${[...res.headers].map(([k, v]) => `${k}: ${v}`).join("\n")}\n${res.text}`;

describe("on the working path", () => {
  let stack;
  const tokens = {};
  const pages = [];
  beforeAll(async () => {
    stack = await startStack();
    tokens.custom = (await stack.createToken({ label: "sentinel-custom", token: CUSTOM, providers: ALL_PROVIDERS })).token;
    tokens.generated = (await stack.createToken({ label: "sentinel-generated", providers: ALL_PROVIDERS })).token;
  });
  afterAll(async () => { await stack?.dispose(); });
  beforeEach(() => stack.mock.reset());

  describe.each(["custom", "generated"])("a %s token", (kind) => {
    test.each(SLOTS)("$name: reaches the provider without the token", async (slot) => {
      const token = tokens[kind];
      const res = await sendWithSlot(stack, slot, token);
      pages.push(pageOf(res));
      // 404 where the mock has no such route: it checks the key before routing.
      expect([200, 404], res.text).toContain(res.status);
      const received = stack.mock.requests(slot.provider);
      expect(received).toHaveLength(1);
      expect(received[0].path).toBe(slot.upstreamPath ?? slot.path);
      if ("upstreamProtocols" in slot) expect(received[0].headers["sec-websocket-protocol"]).toBe(slot.upstreamProtocols);
      expectNowhere(everythingUpstream(stack), [token], "upstream");
    });

    // Slots no provider reads, but an upstream or a gateway in front of one might: each holds the
    // token next to a valid Bearer slot, and none of them may carry it on.
    test("with the token also in odd slots (KEY=, %6Bey=, key%3D, ;key=, access_token=, api_key=, upper-case subprotocol, api-key), none of it goes upstream", async () => {
      const token = tokens[kind];
      const t = encodeURIComponent(token);
      const res = await send(stack, `/v1/chat/completions?KEY=${t}&%6Bey=${t}&key%3D${t}&a=1;key=${t}&Key=${t}&access_token=${t}&API_KEY=${t}&b=2`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "api-key": token,
          "sec-websocket-protocol": `realtime, OPENAI-INSECURE-API-KEY.${token}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
      });
      pages.push(pageOf(res));
      expect(res.status, res.text).toBe(200);
      const [seen] = stack.mock.requests("openai");
      expect(seen.query).toBe("?a=1&b=2");
      expect(seen.headers["sec-websocket-protocol"]).toBe("realtime");
      expect(seen.headers["api-key"]).toBeUndefined();
      expectNowhere(everythingUpstream(stack), [token], "upstream");
    });

    test("with the token in every slot at once, none of it goes upstream", async () => {
      const token = tokens[kind];
      const res = await send(stack, `/openai/v1/chat/completions?key=${encodeURIComponent(token)}`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "proxy-authorization": `Bearer ${token}`,
          "x-api-key": token,
          "x-goog-api-key": token,
          "xi-api-key": token,
          "content-type": "application/json",
        },
        body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
      });
      pages.push(pageOf(res));
      expect(res.status).toBe(200);
      expect(stack.mock.requests("openai")).toHaveLength(1);
      expectNowhere(everythingUpstream(stack), [token], "upstream");
    });

    test("ElevenLabs with the token in every slot at once: only its real key goes upstream", async () => {
      const token = tokens[kind];
      const res = await send(stack, `/elevenlabs/v1/text-to-speech/v1/stream?key=${encodeURIComponent(token)}`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "x-api-key": token, "x-goog-api-key": token, "xi-api-key": token, "content-type": "application/json" },
        body: JSON.stringify({ text: "hi" }),
      });
      expect(res.status).toBe(200);
      const [seen] = stack.mock.requests("elevenlabs");
      expect(seen.headers["xi-api-key"]).toBe(stack.realKeys.elevenlabs);
      expectNowhere(everythingUpstream(stack), [token], "upstream");
    });

    test("a streamed answer carries no token either", async () => {
      const token = tokens[kind];
      const res = await send(stack, `/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=${encodeURIComponent(token)}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      pages.push(pageOf(res));
      expect(res.status).toBe(200);
      expect(stack.mock.requests("gemini")[0].url).toBe("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
      expectNowhere(everythingUpstream(stack), [token], "upstream");
    });
  });

  test("refusals (out of scope, disabled, unknown) answer without echoing the token", async () => {
    const scoped = await stack.createToken({ label: "scoped", providers: ["anthropic"], token: `${CUSTOM}-scoped` });
    pages.push(pageOf(await send(stack, "/v1/models", { headers: { authorization: `Bearer ${scoped.token}` } })));
    await stack.admin("PATCH", `/admin/api/tokens/${scoped.id}`, { status: "disabled" });
    pages.push(pageOf(await send(stack, "/v1/models", { headers: { "x-api-key": scoped.token } })));
    pages.push(pageOf(await send(stack, "/v1/models", { headers: { "x-goog-api-key": `${CUSTOM}-unknown` } })));
    expect(stack.mock.requests()).toEqual([]);
    expectNowhere(pages.join("\n"), [scoped.token, `${CUSTOM}-unknown`], "a response");
  });

  test("no response carried a token or a provider's real key", () => {
    expect(pages.length).toBeGreaterThan(20);
    expectNowhere(pages.join("\n"), [tokens.custom, tokens.generated, ...Object.values(stack.realKeys)], "a response");
  });

  test("the admin secret never went upstream, even when sent as a proxy token", async () => {
    const res = await send(stack, "/v1/models", { headers: { authorization: `Bearer ${ADMIN_SECRET}` } });
    expect(res.status).toBe(401);
    expect(stack.mock.requests()).toEqual([]);
    // The admin API itself has no upstream.
    await stack.admin("GET", "/admin/api/tokens");
    expect(stack.mock.requests()).toEqual([]);
  });

  test("the Worker's logs hold no token, no admin secret, no real key", () => {
    expectNowhere(stack.logs.join(""), [tokens.custom, tokens.generated, ADMIN_SECRET, ...Object.values(stack.realKeys)], "the logs");
  });
});

describe("on the paths that log an error", () => {
  let down, kvDown;
  beforeAll(async () => {
    const closed = `http://127.0.0.1:${await closedPort()}`;
    down = await startStack({
      upstreams: { openai: closed, anthropic: closed, gemini: closed },
      bindings: Object.fromEntries(ALL_PROVIDERS.slice(3).map((p) => [`${p.toUpperCase()}_UPSTREAM`, closed])),
    });
    down.closed = closed;
    kvDown = await startStack({ kvFailure: true });
  });
  afterAll(async () => {
    await down?.dispose();
    await kvDown?.dispose();
  });

  test("an unreachable upstream: the 502 and the log line hold no token", async () => {
    const { token } = await down.createToken({ token: CUSTOM, providers: ALL_PROVIDERS });
    for (const slot of SLOTS) {
      const res = await sendWithSlot(down, slot, token);
      expect(res.status, slot.name).toBe(502);
      expectNowhere(pageOf(res), [token, ...Object.values(down.realKeys)], "a response");
    }
    await expect.poll(() => down.logs.join("")).toContain("unreachable");
    expectNowhere(down.logs.join(""), [token, ADMIN_SECRET, ...Object.values(down.realKeys)], "the logs");
  });

  test("KV down: the 503 and the log line hold no token", async () => {
    for (const slot of SLOTS) {
      const res = await sendWithSlot(kvDown, slot, CUSTOM);
      expect(res.status, slot.name).toBe(503);
      expectNowhere(pageOf(res), [CUSTOM], "a response");
    }
    await kvDown.admin("POST", "/admin/api/tokens", { label: "x", providers: ["openai"], token: CUSTOM });
    await expect.poll(() => kvDown.logs.join("")).toContain("admin: token store error");
    expectNowhere(kvDown.logs.join(""), [CUSTOM, ADMIN_SECRET, ...Object.values(kvDown.realKeys)], "the logs");
  });
});
