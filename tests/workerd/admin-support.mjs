// Driving the dashboard as a browser would (form posts, cookies, no redirects followed) from tests
// other than dashboard.test.mjs: the admin-races, sessions, audit and origin tests share these.

import { expect } from "vitest";

let nextClient = 1;
/** A fresh client address (CF-Connecting-IP), so one scenario's sign-in throttle stays its own. */
export const newClient = (net = "203.0.113") => `${net}.${nextClient++}`;

export function dashboard(stack) {
  async function send(path, { method = "GET", cookie, origin, form, headers = {}, client = "192.0.2.1" } = {}) {
    const h = { "cf-connecting-ip": client, ...headers };
    if (cookie) h.cookie = cookie;
    if (origin) h.origin = origin;
    let body;
    if (form) {
      h["content-type"] = "application/x-www-form-urlencoded";
      body = new URLSearchParams(Array.isArray(form) ? form : Object.entries(form)).toString();
    }
    const res = await fetch(stack.url + path, { method, headers: h, body, redirect: "manual" });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, location: res.headers.get("location"), cookies: res.headers.getSetCookie() };
  }
  const csrfOf = (html) => {
    const m = html.match(/name="csrf" value="([0-9a-f]+)"/);
    if (!m) throw new Error("no CSRF token in the page");
    return m[1];
  };
  return {
    send,
    csrfOf,
    /** A post as the dashboard's own forms make it: from our origin unless told otherwise. */
    post: (path, form, opts = {}) => send(path, { method: "POST", form, origin: stack.url, ...opts }),
    async signIn({ client = "192.0.2.1" } = {}) {
      const res = await send("/admin/login", { method: "POST", form: { password: stack.adminSecret }, origin: stack.url, client });
      expect(res.status, res.text).toBe(303);
      const cookie = res.cookies.find((c) => c.startsWith("apx_session=")).split(";")[0];
      const page = await send("/admin", { cookie, client });
      expect(page.status).toBe(200);
      return { cookie, csrf: csrfOf(page.text), client };
    },
  };
}

/** The admin API as another client address would call it. */
export async function adminAs(stack, client, method, path, { secret = stack.adminSecret, body } = {}) {
  const res = await fetch(stack.url + path, {
    method,
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/json", "cf-connecting-ip": client },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { json = null; }
  return { status: res.status, headers: res.headers, body: json, text };
}
