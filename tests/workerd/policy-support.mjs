// Helpers shared by the policy test files: one proxied request as each provider's client sends it.

/** The credential slot and a request of each provider. */
export function providerRequest(provider, token, { model, path, body, headers = {} } = {}) {
  if (provider === "anthropic") {
    return {
      path: path ?? "/v1/messages",
      headers: { "x-api-key": token, "anthropic-version": "2023-06-01", "content-type": "application/json", ...headers },
      body: body ?? JSON.stringify({ model: model ?? "claude-haiku-4-5", max_tokens: 16, messages: [{ role: "user", content: "hi" }] }),
    };
  }
  if (provider === "gemini") {
    return {
      path: path ?? `/v1beta/models/${model ?? "gemini-2.5-flash"}:generateContent`,
      headers: { "x-goog-api-key": token, "content-type": "application/json", ...headers },
      body: body ?? JSON.stringify({ contents: [{ role: "user", parts: [{ text: "hi" }] }] }),
    };
  }
  return {
    path: path ?? "/v1/chat/completions",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
    body: body ?? JSON.stringify({ model: model ?? "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
  };
}

/** Sends a provider's request through the proxy; returns the response and its parsed JSON body. */
export async function send(stack, provider, token, options = {}) {
  const { path, headers, body } = providerRequest(provider, token, options);
  const res = await fetch(stack.url + path, { method: options.method ?? "POST", headers, body: options.method === "GET" ? undefined : body });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { res, status: res.status, json, text };
}

/** The message of an error body in any of the three native shapes. */
export function errorMessage(json) {
  return json?.error?.message;
}

/** Each provider's native error body for our refusal. */
export function expectNativeError(expect, provider, json, { status, message }) {
  if (provider === "anthropic") {
    const type = { 401: "authentication_error", 403: "permission_error", 413: "request_too_large", 429: "rate_limit_error" }[status];
    expect(json).toEqual({ type: "error", error: { type, message } });
  } else if (provider === "gemini") {
    const s = { 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 413: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED" }[status];
    expect(json).toEqual({ error: { code: status, message, status: s } });
  } else {
    expect(json.error.message).toBe(message);
    expect(json.error).toHaveProperty("type");
    expect(json.error).toHaveProperty("code");
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Rate-limit windows are aligned to the clock (a minute starts at :00). A test that must see one
 * window's count waits out the last few seconds of a window instead of straddling two.
 */
export async function awayFromWindowEdge(windowSeconds, marginSeconds = 10) {
  const into = (Date.now() / 1000) % windowSeconds;
  if (into > windowSeconds - marginSeconds) await sleep((windowSeconds - into + 0.5) * 1000);
}
