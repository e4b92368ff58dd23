// A WebSocket client for the workerd tests (the `ws` package), with the answer to the handshake
// kept either way: the 101's headers and the open socket, or the refusal's status and body.

import WebSocket from "ws";

/** The proxy's URL for `pathAndQuery`, as a ws:// URL. */
export const wsUrl = (stack, pathAndQuery) => stack.url.replace(/^http/, "ws") + pathAndQuery;

/**
 * Opens a WebSocket through the proxy. Resolves to `{ opened: true, ws, headers, protocol, ... }`
 * once the socket is open, or `{ opened: false, status, headers, text, json }` when the handshake
 * is refused with an HTTP answer (no 101).
 */
export function openSocket(stack, pathAndQuery, { protocols = [], headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(stack, pathAndQuery), protocols, { headers, perMessageDeflate: false, maxPayload: 64 << 20 });
    const messages = [];
    const waiters = [];
    let upgradeHeaders = null;
    const closed = new Promise((r) => ws.on("close", (code, reason) => r({ code, reason: reason.toString() })));
    ws.on("upgrade", (res) => { upgradeHeaders = new Headers(Object.entries(res.headers).map(([k, v]) => [k, String(v)])); });
    ws.on("message", (data, isBinary) => {
      const message = isBinary ? { binary: true, bytes: Buffer.from(data) } : { binary: false, text: data.toString() };
      if (!isBinary) { try { message.json = JSON.parse(message.text); } catch { message.json = null; } }
      messages.push(message);
      for (const w of [...waiters]) if (w.match(message)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(message); }
    });
    ws.on("unexpected-response", (_req, res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        let json = null;
        try { json = JSON.parse(text); } catch { json = null; }
        const h = new Headers(Object.entries(res.headers).map(([k, v]) => [k, String(v)]));
        resolve({ opened: false, status: res.statusCode, headers: h, text, json });
        ws.terminate();
      });
    });
    let opened = false;
    ws.on("error", (e) => { if (!opened) reject(e); });
    ws.on("open", () => (opened = true) && resolve({
      opened: true,
      ws,
      headers: upgradeHeaders,
      protocol: ws.protocol,
      messages,
      closed,
      /** The first message (already received or yet to come) that `match` accepts. */
      next(match = () => true, timeoutMs = 10_000) {
        const seen = messages.find(match);
        if (seen) return Promise.resolve(seen);
        return new Promise((res, rej) => {
          const waiter = { match, resolve: (m) => { clearTimeout(timer); res(m); } };
          const timer = setTimeout(() => { waiters.splice(waiters.indexOf(waiter), 1); rej(new Error("no matching message")); }, timeoutMs);
          waiters.push(waiter);
        });
      },
      sendJson(event) { ws.send(JSON.stringify(event)); },
    }));
  });
}

/** `next` matchers. */
export const ofType = (type) => (m) => m.json?.type === type;
export const withKey = (key) => (m) => {
  const json = m.binary ? safeJson(m.bytes.toString()) : m.json;
  return json != null && key in json;
};

export function safeJson(text) {
  try { return JSON.parse(text); } catch { return null; }
}
