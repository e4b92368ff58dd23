// The coding agents, each its real CLI from npm run once non-interactively with a one-line prompt,
// configured as the README's client table says, against the mock upstream through the proxy. Each
// must print the mock's answer; the mock must have received the real key in the provider's own
// slot on the provider's path, and never the token; and no agent may reach beyond 127.0.0.1.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { expectUpstream } from "../sdk/upstream.mjs";
import { agentEnv, bin, run, startEgressSentinel, startRecorder, tempHome } from "./agent-support.mjs";

const PROMPT = "Say hello in five words.";

let stack;
let sentinel;
beforeAll(async () => {
  stack = await startStack();
  sentinel = await startEgressSentinel();
});
afterAll(async () => {
  await sentinel?.close();
  await stack?.dispose();
});
beforeEach(() => {
  stack.mock.reset();
  sentinel.attempts.length = 0;
});

/** Every request the mock got for `provider` carried the real key and no token; returns them. */
function upstreamRequests(provider, slot, token) {
  const seen = stack.mock.requests(provider);
  const key = stack.realKeys[provider];
  for (const r of seen) expectUpstream(r, { path: r.path, slot, value: slot === "authorization" ? `Bearer ${key}` : key, token });
  expect(JSON.stringify(stack.mock.requests())).not.toContain(token);
  return seen;
}

function expectRan(result, answer) {
  expect(result.signal, result.stderr).toBeNull();
  expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
  expect(result.stdout).toContain(answer);
}

describe("Claude Code (claude -p)", () => {
  // Off: the auto-updater, telemetry, error reports and the feedback command. Without
  // CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC, claude 2.1.332 also opened three connections to
  // api.anthropic.com itself (seen by the egress sentinel), whatever ANTHROPIC_BASE_URL says.
  const quiet = { CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1", DISABLE_AUTOUPDATER: "1", DISABLE_TELEMETRY: "1", DISABLE_ERROR_REPORTING: "1" };

  for (const variable of ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"]) {
    test(`ANTHROPIC_BASE_URL and ${variable}`, async () => {
      const { token } = await stack.createToken({ providers: ["anthropic"] });
      const recorder = await startRecorder(stack.url);
      try {
        const home = tempHome();
        const env = agentEnv(home, sentinel, { ...quiet, ANTHROPIC_BASE_URL: recorder.url, [variable]: token });
        const result = await run(bin("claude"), ["-p", PROMPT, "--model", "claude-haiku-4-5"], { env, cwd: home });
        expectRan(result, "Hello from mock Anthropic.");

        const seen = upstreamRequests("anthropic", "x-api-key", token);
        const messages = seen.filter((r) => r.path === "/v1/messages");
        expect(messages.length).toBeGreaterThan(0);
        const body = JSON.parse(messages.at(-1).body.text);
        expect(body.stream).toBe(true);
        expect(JSON.stringify(body.messages)).toContain(PROMPT);
        expect(messages.at(-1).headers["anthropic-version"]).toBeTruthy();
        // Whatever else it sent the proxy (older releases warmed the connection with a HEAD /;
        // 2.1.332 sent only the POST), nothing but /v1/messages reached the upstream.
        expect(seen.map((r) => r.path).filter((p) => p !== "/v1/messages" && p !== "/v1/messages/count_tokens")).toEqual([]);
        for (const r of recorder.seen.filter((r) => r.method === "HEAD" && r.path === "/")) expect(r.status).toBe(401);
        expect(sentinel.attempts).toEqual([]);
      } finally {
        await recorder.close();
      }
    });
  }
});

// Decided: the proxy answers a HEAD / without a token like any other request without one, 401 with
// no body, without asking KV and without going upstream. A warm-up probe only wants the connection
// (its status is ignored), and a 2xx on the root would tell scanners there is something to try;
// /health is the unauthenticated liveness check.
test("an unauthenticated HEAD / (Claude Code's connection warm-up) is a 401 with no body, and nothing goes upstream", async () => {
  const res = await fetch(stack.url + "/", { method: "HEAD" });
  expect(res.status).toBe(401);
  expect(await res.text()).toBe("");
  expect(stack.mock.requests()).toEqual([]);
});

describe("Codex CLI (codex exec)", () => {
  test("openai_base_url in config.toml and CODEX_API_KEY", async () => {
    const { token } = await stack.createToken({ providers: ["openai"] });
    const home = tempHome({
      ".codex/config.toml": [
        `openai_base_url = "${stack.url}/v1"`,
        "check_for_update_on_startup = false",
        "[analytics]",
        "enabled = false",
        "[feedback]",
        "enabled = false",
        // Plugins are on by default and sync a curated catalog from github.com and chatgpt.com at
        // startup, even for an API-key user (seen by the egress sentinel).
        "[features]",
        "plugins = false",
        "",
      ].join("\n"),
    });
    const env = agentEnv(home, sentinel, { CODEX_HOME: `${home}/.codex`, CODEX_API_KEY: token });
    const result = await run(bin("codex"), ["exec", "--skip-git-repo-check", "--ephemeral", PROMPT], { env, cwd: home });
    // Codex opens the Responses API over a WebSocket first; through the proxy that now works, so
    // it answers from the WebSocket and never falls back to HTTP.
    expectRan(result, "Hello over WebSocket");
    expect(upstreamRequests("openai", "authorization", token).filter((r) => r.method === "POST")).toEqual([]);
    const handshakes = stack.websockets.handshakes.filter((h) => h.path === "/v1/responses");
    expect(handshakes.length).toBe(1);
    expect(handshakes[0].headers.authorization).toBe(`Bearer ${stack.realKeys.openai}`);
    expect(JSON.stringify(handshakes[0])).not.toContain(token);
    const sent = handshakes[0].session.received.map((m) => JSON.parse(m)).filter((e) => e.type === "response.create");
    expect(JSON.stringify(sent.at(-1).input)).toContain(PROMPT);
    expect(sentinel.attempts).toEqual([]);
  });
});

describe("Gemini CLI (gemini -p)", () => {
  test("GOOGLE_GEMINI_BASE_URL and GEMINI_API_KEY, the auth type pinned to gemini-api-key", async () => {
    const { token } = await stack.createToken({ providers: ["gemini"] });
    const settings = {
      // Without this, the current release ignores GOOGLE_GEMINI_BASE_URL's key and asks for a login.
      security: { auth: { selectedType: "gemini-api-key" } },
      general: { enableAutoUpdate: false, enableAutoUpdateNotification: false },
      privacy: { usageStatisticsEnabled: false },
      telemetry: { enabled: false },
    };
    const home = tempHome({ ".gemini/settings.json": JSON.stringify(settings) });
    const env = agentEnv(home, sentinel, { GOOGLE_GEMINI_BASE_URL: stack.url, GEMINI_API_KEY: token, GEMINI_CLI_TRUST_WORKSPACE: "true" });
    const result = await run(bin("gemini"), ["-p", PROMPT], { env, cwd: home });
    expectRan(result, "Hello from mock Gemini.");

    const seen = upstreamRequests("gemini", "x-goog-api-key", token);
    // Its model router asks a small model for a JSON complexity score first (the mock answers an
    // instance of the schema), then streams the answer from the chosen model.
    const router = seen.find((r) => r.path.endsWith(":generateContent"));
    expect(JSON.parse(router.body.text).generationConfig.responseMimeType).toBe("application/json");
    const streamed = seen.filter((r) => r.path.endsWith(":streamGenerateContent"));
    expect(streamed.length).toBeGreaterThan(0);
    expect(streamed.at(-1).query).toContain("alt=sse");
    expect(JSON.stringify(JSON.parse(streamed.at(-1).body.text).contents)).toContain(PROMPT);
    expect(sentinel.attempts).toEqual([]);
  });
});
