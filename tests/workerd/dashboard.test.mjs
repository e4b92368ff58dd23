// The dashboard at /admin, driven as a browser would drive it (form posts, cookies, redirects not
// followed) against the built Worker in workerd: sign-in, sessions, CSRF and Origin checks,
// throttling, escaping, security headers, the token list at scale, and where a plaintext token may
// appear. Changes are verified through the admin JSON API, never through the page that made them.

import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { startStack } from "../support/stack.mjs";

let stack;
beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.dispose(); });

// Every admin response this file sees, for the security-header check at the end.
const seen = [];

// A client address per scenario (Miniflare keeps a CF-Connecting-IP the request already has, as
// Cloudflare's edge sets it), so the sign-in throttle of one scenario does not spill into another.
let nextClient = 1;
const newClient = () => `198.51.100.${nextClient++}`;
const MAIN_CLIENT = newClient();

async function send(path, { method = "GET", cookie, origin, form, headers = {}, client = MAIN_CLIENT, base = stack.url } = {}) {
  const h = { "cf-connecting-ip": client, ...headers };
  if (cookie) h.cookie = cookie;
  if (origin) h.origin = origin;
  let body;
  if (form) {
    h["content-type"] = "application/x-www-form-urlencoded";
    body = new URLSearchParams(Array.isArray(form) ? form : Object.entries(form)).toString();
  }
  const res = await fetch(base + path, { method, headers: h, body, redirect: "manual" });
  const text = await res.text();
  const out = { status: res.status, headers: res.headers, text, location: res.headers.get("location"), cookies: res.headers.getSetCookie() };
  if (new URL(base + path).pathname.startsWith("/admin")) seen.push({ method, path, status: res.status, headers: res.headers });
  return out;
}

const get = (path, opts = {}) => send(path, opts);
// A post as the dashboard's own forms make it: from our origin, unless the test says otherwise.
const post = (path, form, opts = {}) => send(path, { method: "POST", form, origin: stack.url, ...opts });

function csrfOf(html) {
  const m = html.match(/name="csrf" value="([0-9a-f]+)"/);
  if (!m) throw new Error("no CSRF token in the page");
  return m[1];
}

async function signIn({ client = MAIN_CLIENT, s = stack } = {}) {
  const res = await send("/admin/login", { method: "POST", form: { password: s.adminSecret }, origin: s.url, client, base: s.url });
  expect(res.status).toBe(303);
  const cookie = res.cookies.find((c) => c.startsWith("apx_session=")).split(";")[0];
  const page = await send("/admin", { cookie, client, base: s.url });
  expect(page.status).toBe(200);
  return { cookie, csrf: csrfOf(page.text) };
}

// What the sign-in page and the dashboard look like, as a user would tell them apart.
const isSignInPage = (html) => html.includes('action="/admin/login"') && html.includes('name="password"') && !html.includes("New token");
const isDashboard = (html) => html.includes("New token") && html.includes("Sign out") && !html.includes('action="/admin/login"');

// The cookie format of src/admin/session.rs, reimplemented: key = HMAC(ADMIN_SECRET, "api-proxy/session-key/v1");
// cookie = "<expires>.<nonce hex>.<hex HMAC(key, "session:<expires>.<nonce hex>")>";
// CSRF = hex HMAC(key, "csrf:<nonce hex>").
const hmac = (key, text) => createHmac("sha256", key).update(text).digest();
const sessionKey = (secret) => hmac(secret, "api-proxy/session-key/v1");
function mintCookie(secret, expires, nonce = randomBytes(16).toString("hex"), key = sessionKey(secret)) {
  const payload = `${expires}.${nonce}`;
  return `apx_session=${payload}.${hmac(key, `session:${payload}`).toString("hex")}`;
}
const csrfFor = (secret, nonce) => hmac(sessionKey(secret), `csrf:${nonce}`).toString("hex");
const nowSecs = () => Math.floor(Date.now() / 1000);
const tokenId = (token) => createHash("sha256").update(token).digest("hex");
const utcDay = () => new Date().toISOString().slice(0, 10);

async function apiToken(id) {
  const r = await stack.admin("GET", `/admin/api/tokens/${id}`);
  return r.status === 200 ? r.body : null;
}
async function apiCount() {
  return (await stack.admin("GET", "/admin/api/tokens")).body.tokens.length;
}
const rows = (html) => html.match(/<tr data-search=/g)?.length ?? 0;

// A create is post-redirect-get: the post answers 303 to /admin/created with the new token sealed
// in a one-read cookie, and that page shows it. Returns the redirect and the page it leads to.
function cookieFrom(res, name) {
  const set = res.cookies.find((c) => c.startsWith(`${name}=`));
  return set ? set.split(";")[0] : null;
}
async function createViaForm(fields, cookie, opts = {}) {
  const res = await post("/admin/tokens", fields, { cookie, ...opts });
  if (res.status !== 303) return { res, page: null, token: null };
  expect(res.location).toBe("/admin/created");
  const created = cookieFrom(res, "apx_created");
  expect(created).toBeTruthy();
  const page = await get("/admin/created", { cookie: `${cookie}; ${created}` });
  const token = page.text.match(/<code id="new-token">([^<]+)<\/code>/)?.[1] ?? null;
  return { res, page, token, created };
}

function chat(token, extra = {}) {
  return fetch(`${stack.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...extra },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
  });
}

async function until(what, check, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("with no tokens the dashboard shows a helpful empty state", async () => {
  const { cookie } = await signIn();
  const res = await get("/admin", { cookie });
  expect(res.status).toBe(200);
  expect(res.text).toContain("No tokens yet.");
  expect(res.text).toContain("Create one for each consumer");
  expect(res.text).toMatch(/Tokens <span class="count">0<\/span>/);
  expect(res.text).not.toContain("<table>");
});

describe("sign-in", () => {
  test("GET /admin without a session shows the sign-in form and sets no cookie", async () => {
    const res = await get("/admin");
    expect(res.status).toBe(200);
    expect(isSignInPage(res.text)).toBe(true);
    expect(res.cookies).toEqual([]);
    expect((await get("/admin/")).status).toBe(200);
  });

  test("other pages without a session redirect to the sign-in page", async () => {
    const { id } = await stack.createToken({ label: "hidden" });
    for (const path of [`/admin/tokens/${id}`, "/admin/nope", "/admin/logout"]) {
      const res = await get(path);
      expect(res.status, path).toBe(303);
      expect(res.location, path).toBe("/admin");
      expect(res.text).not.toContain("hidden");
    }
  });

  test("a wrong password answers 401 with the form, a message and no cookie", async () => {
    const client = newClient();
    for (const password of ["wrong", "", stack.adminSecret + " ", stack.adminSecret.toUpperCase()]) {
      const res = await post("/admin/login", { password }, { client });
      expect(res.status, password).toBe(401);
      expect(isSignInPage(res.text)).toBe(true);
      expect(res.text).toContain("Wrong password.");
      expect(res.cookies).toEqual([]);
    }
    const missing = await post("/admin/login", {}, { client: newClient() });
    expect(missing.status).toBe(401);
  });

  test("the right password sets a signed session cookie with the promised attributes", async () => {
    const res = await post("/admin/login", { password: stack.adminSecret }, { client: newClient() });
    expect(res.status).toBe(303);
    expect(res.location).toBe("/admin");
    expect(res.cookies).toHaveLength(1);
    const [pair, ...attrs] = res.cookies[0].split(";").map((s) => s.trim());
    expect(attrs.sort()).toEqual(["HttpOnly", "Max-Age=86400", "Path=/admin", "SameSite=Strict", "Secure"]);
    const value = pair.slice("apx_session=".length);
    expect(value).not.toContain(stack.adminSecret);
    expect(value).not.toContain(sessionKey(stack.adminSecret).toString("hex"));
    // The format is ours: expiry 24 h from now, a random nonce, and our HMAC under the derived key.
    const [expires, nonce] = value.split(".");
    expect(Number(expires) - nowSecs()).toBeGreaterThan(86400 - 60);
    expect(Number(expires) - nowSecs()).toBeLessThanOrEqual(86400);
    expect(`apx_session=${value}`).toBe(mintCookie(stack.adminSecret, expires, nonce));
    const page = await get("/admin", { cookie: pair });
    expect(isDashboard(page.text)).toBe(true);
    expect(csrfOf(page.text)).toBe(csrfFor(stack.adminSecret, nonce));
  });

  test("each sign-in gets its own session and CSRF token", async () => {
    const a = await signIn();
    const b = await signIn();
    expect(a.cookie).not.toBe(b.cookie);
    expect(a.csrf).not.toBe(b.csrf);
  });

  test("sign-in from another origin, or with no Origin, is refused and sets no cookie", async () => {
    for (const origin of [undefined, "https://evil.example", "null", stack.url.replace("127.0.0.1", "localhost")]) {
      const res = await send("/admin/login", { method: "POST", form: { password: stack.adminSecret }, origin, client: newClient() });
      expect(res.status, String(origin)).toBe(403);
      expect(res.cookies).toEqual([]);
    }
  });

  test("sign out clears the cookie; without the CSRF token it is refused", async () => {
    const { cookie, csrf } = await signIn();
    const refused = await post("/admin/logout", {}, { cookie });
    expect(refused.status).toBe(403);
    expect(refused.cookies).toEqual([]);
    const res = await post("/admin/logout", { csrf }, { cookie });
    expect(res.status).toBe(303);
    expect(res.location).toBe("/admin");
    expect(res.cookies).toHaveLength(1);
    expect(res.cookies[0]).toMatch(/^apx_session=;/);
    expect(res.cookies[0]).toContain("Max-Age=0");
    expect(res.cookies[0]).toContain("Path=/admin");
  });
});

describe("a session the server did not issue, or no longer honours, gets the sign-in page", () => {
  const secret = () => stack.adminSecret;

  test("a validly signed cookie minted here shows the dashboard (the derivation is right)", async () => {
    const res = await get("/admin", { cookie: mintCookie(secret(), nowSecs() + 3600) });
    expect(isDashboard(res.text)).toBe(true);
  });

  test("an expired, validly signed session", async () => {
    for (const expires of [nowSecs() - 1, nowSecs() - 86400, 0]) {
      const res = await get("/admin", { cookie: mintCookie(secret(), expires) });
      expect(res.status).toBe(200);
      expect(isSignInPage(res.text), String(expires)).toBe(true);
    }
  });

  test("a session signed with an expiry beyond 24 h", async () => {
    const res = await get("/admin", { cookie: mintCookie(secret(), nowSecs() + 2 * 86400) });
    expect(isSignInPage(res.text)).toBe(true);
  });

  test("a cookie signed with ADMIN_SECRET itself instead of the derived key", async () => {
    const res = await get("/admin", { cookie: mintCookie(secret(), nowSecs() + 3600, undefined, Buffer.from(secret())) });
    expect(isSignInPage(res.text)).toBe(true);
  });

  test("tampered cookies: signature, expiry, nonce, truncation, junk", async () => {
    const { cookie } = await signIn();
    const value = cookie.slice("apx_session=".length);
    const [expires, nonce, sig] = value.split(".");
    const flip = (s, i) => s.slice(0, i) + (s[i] === "0" ? "1" : "0") + s.slice(i + 1);
    const tampered = [
      `${expires}.${nonce}.${flip(sig, 0)}`,
      `${expires}.${nonce}.${flip(sig, sig.length - 1)}`,
      `${Number(expires) + 3600}.${nonce}.${sig}`,
      `${expires}.${flip(nonce, 3)}.${sig}`,
      `${expires}.${nonce}.${sig.slice(0, -2)}`,
      `${expires}.${nonce}.`,
      `${expires}.${nonce}`,
      `${expires}.${nonce}.${sig}.${sig}`,
      `${expires}.${nonce}.${sig.toUpperCase()}`,
      "",
      "garbage",
    ];
    for (const v of tampered) {
      const res = await get("/admin", { cookie: `apx_session=${v}` });
      expect(isSignInPage(res.text), v).toBe(true);
    }
    // The untouched cookie still works, so each refusal above is the tampering's doing.
    expect(isDashboard((await get("/admin", { cookie })).text)).toBe(true);
  });

  test("a tampered cookie cannot post either: 401 with the sign-in form, nothing changed", async () => {
    const { id } = await stack.createToken({ label: "keep me" });
    const { cookie, csrf } = await signIn();
    const bad = cookie.replace(/.$/, (c) => (c === "0" ? "1" : "0"));
    const res = await post(`/admin/tokens/${id}/delete`, { csrf, confirm: "yes" }, { cookie: bad });
    expect(res.status).toBe(401);
    expect(isSignInPage(res.text)).toBe(true);
    expect((await apiToken(id))?.label).toBe("keep me");
  });

  test("a cookie from another deployment (another ADMIN_SECRET) is foreign", async () => {
    const other = await startStack({ bindings: { ADMIN_SECRET: "other-admin-secret-fedcba9876543210" } });
    try {
      const theirs = await signIn({ s: other });
      expect(isDashboard((await get("/admin", { cookie: theirs.cookie, base: other.url })).text)).toBe(true);
      const here = await get("/admin", { cookie: theirs.cookie });
      expect(isSignInPage(here.text)).toBe(true);
      const { id } = await stack.createToken({ label: "not theirs" });
      const res = await post(`/admin/tokens/${id}/status`, { csrf: theirs.csrf, status: "disabled" }, { cookie: theirs.cookie });
      expect(res.status).toBe(401);
      expect((await apiToken(id)).status).toBe("active");
    } finally {
      await other.dispose();
    }
  });

  test("several cookies: only apx_session counts, and a look-alike name is ignored", async () => {
    const { cookie } = await signIn();
    const value = cookie.slice("apx_session=".length);
    expect(isDashboard((await get("/admin", { cookie: `theme=dark; ${cookie}; x=1` })).text)).toBe(true);
    expect(isSignInPage((await get("/admin", { cookie: `apx_session_old=${value}` })).text)).toBe(true);
  });
});

describe("CSRF and Origin", () => {
  test("a post without the session's CSRF token or from elsewhere is refused (403) and changes nothing", async () => {
    const victim = await stack.createToken({ label: "victim", providers: ["openai"] });
    const a = await signIn();
    const b = await signIn();
    const before = await apiCount();
    const actions = [
      [`/admin/tokens/${victim.id}/status`, { status: "disabled" }],
      [`/admin/tokens/${victim.id}/delete`, { confirm: "yes" }],
      [`/admin/tokens/${victim.id}`, [["label", "pwned"], ["providers", "anthropic"]]],
      ["/admin/tokens", [["label", "attacker"], ["providers", "openai"], ["token", "attacker-chosen-token-0123456789"]]],
      ["/admin/logout", {}],
    ];
    const withCsrf = (form, csrf) => (Array.isArray(form) ? [...form, ["csrf", csrf]] : { ...form, csrf });
    const attempts = [
      ["missing CSRF", () => ({}), stack.url],
      ["empty CSRF", () => ({ csrf: "" }), stack.url],
      ["wrong CSRF", () => ({ csrf: randomBytes(32).toString("hex") }), stack.url],
      ["another session's CSRF", () => ({ csrf: b.csrf }), stack.url],
      ["no Origin", () => ({ csrf: a.csrf }), undefined],
      ["foreign Origin", () => ({ csrf: a.csrf }), "https://evil.example"],
      ["null Origin", () => ({ csrf: a.csrf }), "null"],
      ["sibling port", () => ({ csrf: a.csrf }), stack.url.replace(/:\d+$/, ":1")],
    ];
    for (const [path, form] of actions) {
      for (const [name, extra, origin] of attempts) {
        const fields = "csrf" in extra() ? withCsrf(form, extra().csrf) : form;
        const res = await send(path, { method: "POST", form: fields, cookie: a.cookie, origin });
        expect(res.status, `${name} → ${path}`).toBe(403);
        expect(res.cookies, `${name} → ${path}`).toEqual([]);
        expect(res.text).toContain("nothing was changed");
      }
    }
    const after = await apiToken(victim.id);
    expect(after).toMatchObject({ label: "victim", providers: ["openai"], status: "active" });
    expect(await apiCount()).toBe(before);
    expect((await chat(victim.token)).status).toBe(200);
    // The same post, done right, does change things, so the refusals above are not vacuous.
    const ok = await post(`/admin/tokens/${victim.id}/status`, { status: "disabled", csrf: a.csrf }, { cookie: a.cookie });
    expect(ok.status).toBe(303);
    expect((await apiToken(victim.id)).status).toBe("disabled");
  });

  test("every form on the dashboard carries the session's CSRF token", async () => {
    await stack.createToken({ label: "one more" });
    const { cookie, csrf } = await signIn();
    const html = (await get("/admin", { cookie })).text;
    const forms = html.match(/<form method="post"[\s\S]*?<\/form>/g);
    expect(forms.length).toBeGreaterThanOrEqual(4);
    for (const form of forms) expect(form).toContain(`name="csrf" value="${csrf}"`);
  });
});

describe("routes", () => {
  let session;
  beforeAll(async () => { session = await signIn(); });

  test("assets are served without a session", async () => {
    const css = await get("/admin/assets/admin.css");
    expect(css.status).toBe(200);
    expect(css.headers.get("content-type")).toMatch(/^text\/css/);
    const js = await get("/admin/assets/admin.js");
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toMatch(/^text\/javascript/);
  });

  test("create from the form: 303 to a page with the token once and snippets for the chosen providers only", async () => {
    const { page: res, token } = await createViaForm([["csrf", session.csrf], ["label", "form made"], ["providers", "openai"], ["providers", "gemini"]], session.cookie);
    expect(res.status).toBe(200);
    expect(token).toMatch(/^apx_[0-9A-Za-z]{39}$/);
    expect(res.text).toContain("only time it is shown");
    expect(res.text).toContain('data-copy="new-token"');
    expect(res.text).toContain(`${stack.url}/v1`);
    expect(res.text).toContain(`${stack.url}/v1beta/openai`);
    expect(res.text).not.toMatch(/Anthropic ·/);
    // The coding agents of the chosen providers, ready to paste (HTML-escaped in the page).
    expect(res.text).toContain(`export CODEX_API_KEY=&#34;${token}&#34;`);
    expect(res.text).toContain(`export GOOGLE_GEMINI_BASE_URL=&#34;${stack.url}&#34;\nexport GEMINI_API_KEY=&#34;${token}&#34;`);
    expect(res.text).not.toContain("Claude Code");
    const record = await apiToken(tokenId(token));
    expect(record).toMatchObject({ label: "form made", providers: ["openai", "gemini"], status: "active", last4: token.slice(-4) });
    expect((await chat(token)).status).toBe(200);
  });

  test("create with a custom token; a duplicate or invalid one is refused with 400 and nothing made", async () => {
    const custom = `custom-token-${randomBytes(8).toString("hex")}`;
    const form = (token, label = "custom") => [["csrf", session.csrf], ["label", label], ["providers", "anthropic"], ["token", token]];
    const { res, token } = await createViaForm(form(custom), session.cookie);
    expect(res.status).toBe(303);
    expect(token).toBe(custom);
    const before = await apiCount();
    for (const [token, message] of [[custom, "already in use"], ["short", "at least 24"], ["apx_notagenuinegeneratedtoken00000000000", "reserved"]]) {
      const again = await post("/admin/tokens", form(token, "dup"), { cookie: session.cookie });
      expect(again.status, token).toBe(400);
      expect(again.text).toContain(message);
      expect(isDashboard(again.text)).toBe(true);
    }
    const invalid = [
      [["csrf", session.csrf], ["label", "no providers"]],
      [["csrf", session.csrf], ["label", "   "], ["providers", "openai"]],
      [["csrf", session.csrf], ["label", "x".repeat(101)], ["providers", "openai"]],
      [["csrf", session.csrf], ["label", "bad provider"], ["providers", "cohere"]],
    ];
    for (const fields of invalid) {
      const bad = await post("/admin/tokens", fields, { cookie: session.cookie });
      expect(bad.status).toBe(400);
      expect(bad.text).toContain("Not created:");
    }
    expect(await apiCount()).toBe(before);
  });

  test("edit page, save, and a refused save", async () => {
    const { id, token } = await stack.createToken({ label: "before edit", providers: ["openai"] });
    const page = await get(`/admin/tokens/${id}`, { cookie: session.cookie });
    expect(page.status).toBe(200);
    expect(page.text).toContain('value="before edit"');
    expect(page.text).toContain(`…${token.slice(-4)}`);
    const saved = await post(`/admin/tokens/${id}`, [["csrf", session.csrf], ["label", "after edit"], ["providers", "anthropic"]], { cookie: session.cookie });
    expect(saved.status).toBe(303);
    expect(saved.location).toBe(`/admin#token-${id}`);
    expect(await apiToken(id)).toMatchObject({ label: "after edit", providers: ["anthropic"] });
    const refused = await post(`/admin/tokens/${id}`, [["csrf", session.csrf], ["label", "no providers left"]], { cookie: session.cookie });
    expect(refused.status).toBe(400);
    expect(refused.text).toContain("Not saved:");
    expect(refused.text).toContain('value="no providers left"');
    expect(await apiToken(id)).toMatchObject({ label: "after edit", providers: ["anthropic"] });
  });

  test("disable, enable: the proxy follows", async () => {
    const { id, token } = await stack.createToken({ label: "toggle", providers: ["openai"] });
    const status = (s) => post(`/admin/tokens/${id}/status`, { csrf: session.csrf, status: s }, { cookie: session.cookie });
    expect((await status("disabled")).status).toBe(303);
    expect((await apiToken(id)).status).toBe("disabled");
    expect((await chat(token)).status).toBe(401);
    expect((await get("/admin?q=toggle", { cookie: session.cookie })).text).toMatch(/status off">disabled[\s\S]*Enable/);
    expect((await status("active")).status).toBe(303);
    expect((await chat(token)).status).toBe(200);
    const bogus = await status("deleted");
    expect(bogus.status).toBe(400);
    expect((await apiToken(id)).status).toBe("active");
  });

  test("delete asks first, then deletes", async () => {
    const { id, token } = await stack.createToken({ label: "doomed" });
    const ask = await post(`/admin/tokens/${id}/delete`, { csrf: session.csrf }, { cookie: session.cookie });
    expect(ask.status).toBe(200);
    expect(ask.text).toContain("Delete “doomed”?");
    expect(ask.text).toContain('name="confirm" value="yes"');
    expect(await apiToken(id)).not.toBeNull();
    const done = await post(`/admin/tokens/${id}/delete`, { csrf: session.csrf, confirm: "yes" }, { cookie: session.cookie });
    expect(done.status).toBe(303);
    expect(await apiToken(id)).toBeNull();
    expect((await chat(token)).status).toBe(401);
    const again = await post(`/admin/tokens/${id}/delete`, { csrf: session.csrf, confirm: "yes" }, { cookie: session.cookie });
    expect(again.status).toBe(404);
  });

  test("unknown pages, ids and actions: 404; other methods: 405", async () => {
    const missing = "0".repeat(64);
    const c = { cookie: session.cookie };
    for (const path of [`/admin/tokens/${missing}`, "/admin/tokens/not-an-id", "/admin/nope", "/admin/tokens", "/admin/assets/nope.js"]) {
      expect((await get(path, c)).status, path).toBe(404);
    }
    for (const path of [`/admin/tokens/${missing}`, `/admin/tokens/${missing}/status`, `/admin/tokens/${missing}/delete`, "/admin/nope", "/admin/tokens/abc/status"]) {
      const res = await post(path, { csrf: session.csrf, status: "disabled", label: "x", providers: "openai" }, c);
      expect(res.status, path).toBe(404);
    }
    for (const method of ["PUT", "DELETE", "PATCH"]) {
      const res = await send("/admin", { method, cookie: session.cookie, origin: stack.url });
      expect(res.status, method).toBe(405);
    }
  });

  test("the JSON API refuses without the admin secret", async () => {
    const res = await get("/admin/api/tokens", { cookie: session.cookie });
    expect(res.status).toBe(401);
    const wrong = await get("/admin/api/tokens", { headers: { authorization: "Bearer wrong" } });
    expect(wrong.status).toBe(401);
    const right = await get("/admin/api/tokens", { headers: { authorization: `Bearer ${stack.adminSecret}` } });
    expect(right.status).toBe(200);
  });

  test("with ADMIN_SECRET unset the dashboard says so (503) and nothing lets anyone in", async () => {
    const bare = await startStack({ bindings: { ADMIN_SECRET: "" } });
    try {
      const page = await get("/admin", { base: bare.url });
      expect(page.status).toBe(503);
      expect(page.text).toContain("ADMIN_SECRET");
      const login = await send("/admin/login", { method: "POST", form: { password: "" }, origin: bare.url, base: bare.url });
      expect(login.status).toBe(503);
      expect(login.cookies).toEqual([]);
      const forged = await get("/admin", { cookie: mintCookie("", nowSecs() + 3600), base: bare.url });
      expect(forged.status).toBe(503);
      for (const auth of ["Bearer ", "Bearer", ""]) {
        const api = await get("/admin/api/tokens", { base: bare.url, headers: { authorization: auth } });
        expect(api.status, JSON.stringify(auth)).toBe(401);
      }
    } finally {
      await bare.dispose();
    }
  });
});

describe("sign-in throttling", () => {
  // The limiter counts per fixed minute; start the five failures early in one, so they all land in it.
  async function startOfAMinute() {
    const s = new Date().getUTCSeconds();
    if (s > 45) await new Promise((r) => setTimeout(r, (61 - s) * 1000));
  }

  test("after 5 failures in a minute: 429 with Retry-After, even for the right password", async () => {
    await startOfAMinute();
    const client = newClient();
    const login = (password, c = client) => post("/admin/login", { password }, { client: c });
    for (let i = 1; i <= 5; i++) expect((await login(`wrong-${i}`)).status, `failure ${i}`).toBe(401);
    const throttled = await login("wrong-6");
    expect(throttled.status).toBe(429);
    const retryAfter = Number(throttled.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(isSignInPage(throttled.text)).toBe(true);
    expect(throttled.text).toContain("Too many failed sign-ins");
    const right = await login(stack.adminSecret);
    expect(right.status).toBe(429);
    expect(right.cookies).toEqual([]);
    // Another client is not affected.
    expect((await login(stack.adminSecret, newClient())).status).toBe(303);
  });

  test("four failures do not block the right password", async () => {
    await startOfAMinute();
    const client = newClient();
    for (let i = 1; i <= 4; i++) expect((await post("/admin/login", { password: "nope" }, { client })).status).toBe(401);
    const res = await post("/admin/login", { password: stack.adminSecret }, { client });
    expect(res.status).toBe(303);
    expect(res.cookies[0]).toMatch(/^apx_session=\d+\./);
  });
});

describe("escaping", () => {
  const hostile = `<script>alert(1)</script>"><img src=x onerror=alert(2)>'&amp;`;
  const raw = ["<script>alert(1)", "<img src=x", "onerror=alert(2)>"];
  // Our own markup has exactly one <script> (the admin.js include) and no <img>.
  function expectInert(html, where) {
    for (const r of raw) expect(html, where).not.toContain(r);
    expect(html.match(/<script/g).length, where).toBe(1);
    expect(html, where).toMatch(/&(lt|#60);script&(gt|#62);alert\(1\)&(lt|#60);\/script&(gt|#62);/);
  }

  test("a hostile label renders as text on the created page, the list, the edit and delete pages", async () => {
    const { cookie, csrf } = await signIn();
    const { page: created, token } = await createViaForm([["csrf", csrf], ["label", hostile], ["providers", "openai"]], cookie);
    expect(created.status).toBe(200);
    expectInert(created.text, "created");
    const id = tokenId(token);
    expect((await apiToken(id)).label).toBe(hostile);
    expectInert((await get("/admin", { cookie })).text, "list");
    expectInert((await get(`/admin/tokens/${id}`, { cookie })).text, "edit");
    expectInert((await post(`/admin/tokens/${id}/delete`, { csrf }, { cookie })).text, "confirm delete");
    const refused = await post(`/admin/tokens/${id}`, [["csrf", csrf], ["label", hostile]], { cookie });
    expect(refused.status).toBe(400);
    expectInert(refused.text, "refused edit");
  });

  test("the filter query is escaped where it is echoed", async () => {
    const { cookie } = await signIn();
    const res = await get(`/admin?q=${encodeURIComponent(`"><script>alert(1)</script>`)}`, { cookie });
    expect(res.status).toBe(200);
    expect(res.text).not.toContain("<script>alert(1)");
    expect(res.text.match(/<script/g).length).toBe(1);
  });
});

describe("the plaintext token", () => {
  test("appears only on the page the create redirects to, once", async () => {
    const { cookie, csrf } = await signIn();
    const { res: redirect, page: created, token } = await createViaForm([["csrf", csrf], ["label", "sentinel"], ["providers", "openai"], ["providers", "anthropic"], ["providers", "gemini"]], cookie);
    const id = tokenId(token);
    expect(created.text.split(token).length - 1).toBeGreaterThanOrEqual(2); // the token and its snippets
    // Use it through each provider, so it passes every code path that sees it.
    expect((await chat(token)).status).toBe(200);
    const anthropic = await fetch(`${stack.url}/v1/messages`, { method: "POST", headers: { "x-api-key": token, "anthropic-version": "2023-06-01", "content-type": "application/json" }, body: JSON.stringify({ model: "claude-x", max_tokens: 5, messages: [{ role: "user", content: "hi" }] }) });
    expect(anthropic.status).toBe(200);
    const gemini = await fetch(`${stack.url}/v1beta/models/gemini-x:generateContent?key=${token}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ contents: [{ parts: [{ text: "hi" }] }] }) });
    expect(gemini.status).toBe(200);
    await until("last use recorded", async () => (await apiToken(id))?.last_used);
    const elsewhere = {
      redirect: JSON.stringify([redirect.status, redirect.location, redirect.cookies, redirect.text]),
      createdAgain: (await get("/admin/created", { cookie })).text,
      list: (await get("/admin", { cookie })).text,
      filtered: (await get("/admin?q=sentinel", { cookie })).text,
      edit: (await get(`/admin/tokens/${id}`, { cookie })).text,
      confirm: (await post(`/admin/tokens/${id}/delete`, { csrf }, { cookie })).text,
      disabled: (await post(`/admin/tokens/${id}/status`, { csrf, status: "disabled" }, { cookie })).text,
      listAfter: (await get("/admin", { cookie })).text,
      apiList: JSON.stringify((await stack.admin("GET", "/admin/api/tokens")).body),
      apiShow: JSON.stringify((await stack.admin("GET", `/admin/api/tokens/${id}`)).body),
      apiPatch: JSON.stringify((await stack.admin("PATCH", `/admin/api/tokens/${id}`, { label: "sentinel 2" })).body),
      refusedProxy: await (await chat(token)).text(),
      upstream: JSON.stringify(stack.mock.requests()),
      logs: stack.logs.join(""),
    };
    expect(elsewhere.list).toContain(`…${token.slice(-4)}`);
    for (const [where, text] of Object.entries(elsewhere)) {
      expect(text.includes(token), where).toBe(false);
      expect(text.includes(token.slice(4, -4)), `${where} (a part of it)`).toBe(false);
    }
  });
});

describe("post-redirect-get: the created token and the notices ride in sealed one-read cookies", () => {
  let session;
  beforeAll(async () => { session = await signIn(); });
  const form = (label, extra = []) => [["csrf", session.csrf], ["label", label], ["providers", "openai"], ...extra];

  test("the created page shows the token to its session once, and clears the cookie", async () => {
    const before = await apiCount();
    const { res, page, token, created } = await createViaForm(form("prg once"), session.cookie);
    expect(await apiCount()).toBe(before + 1);
    // The cookie carries the token sealed, not in the clear, and only to /admin/created.
    expect(created).not.toContain(token);
    expect(created).not.toContain(token.slice(4, -4));
    const attrs = res.cookies.find((c) => c.startsWith("apx_created=")).split(";").map((a) => a.trim()).slice(1).sort();
    expect(attrs).toEqual(["HttpOnly", "Max-Age=120", "Path=/admin/created", "SameSite=Strict", "Secure"]);
    expect(res.text).toBe("");
    // Reading it clears it.
    expect(page.cookies).toEqual([expect.stringMatching(/^apx_created=; Path=\/admin\/created; .*Max-Age=0$/)]);
    expect(page.headers.get("cache-control")).toBe("no-store");
    // A reload (the browser no longer has the cookie): nothing shown, nothing created.
    const reload = await get("/admin/created", { cookie: session.cookie });
    expect(reload.status).toBe(410);
    expect(reload.text).toContain("Already shown");
    expect(reload.text).not.toContain(token);
    expect(await apiCount()).toBe(before + 1);
    // Another session, or a tampered cookie, cannot open it.
    const other = await signIn();
    const theirs = await get("/admin/created", { cookie: `${other.cookie}; ${created}` });
    expect(theirs.status).toBe(410);
    expect(theirs.text).not.toContain(token);
    const tampered = created.replace(/.$/, (c) => (c === "0" ? "1" : "0"));
    expect((await get("/admin/created", { cookie: `${session.cookie}; ${tampered}` })).status).toBe(410);
  });

  test("a past expiry is refused by the form at its field; the API still accepts one", async () => {
    const before = await apiCount();
    const res = await post("/admin/tokens", form("dead on arrival", [["expires_at", "2020-01-01T00:00:00Z"], ["rate_requests", "0"]]), { cookie: session.cookie });
    expect(res.status).toBe(400);
    expect(res.text).toContain("Not created: 2 fields need attention.");
    expect(res.text).toMatch(/id="expires_at"[^>]*aria-describedby="expires_at-error expires_at-hint" aria-invalid="true" autofocus/);
    expect(res.text).toMatch(/<p class="field-error" id="expires_at-error">Expires is in the past \(2020-01-01 00:00:00 UTC\)/);
    expect(res.text).toMatch(/id="rate_requests"[^>]*aria-invalid="true"/);
    expect(res.text).toContain('value="2020-01-01T00:00:00Z"');
    expect(await apiCount()).toBe(before);
    const api = await stack.admin("POST", "/admin/api/tokens", { label: "api past", providers: ["openai"], expires_at: "2020-01-01T00:00:00Z" });
    expect(api.status).toBe(201);
    expect((await get("/admin?q=api+past", { cookie: session.cookie })).text).toContain('<span class="status expired">expired</span>');
  });

  test("Disable from a filtered, sorted list: back to it at the row, with a notice and its Undo, shown once", async () => {
    const { id } = await stack.createToken({ label: "notice probe" });
    const res = await post(`/admin/tokens/${id}/status`, { csrf: session.csrf, status: "disabled", q: "notice pro", sort: "label" }, { cookie: session.cookie });
    expect(res.status).toBe(303);
    expect(res.location).toBe(`/admin?q=notice+pro&sort=label#token-${id}`);
    const notice = cookieFrom(res, "apx_notice");
    expect(notice).not.toContain("notice probe");
    const list = await get("/admin?q=notice+pro&sort=label", { cookie: `${session.cookie}; ${notice}` });
    expect(list.text).toContain("notice probe disabled: the proxy refuses it from now on.");
    expect(list.text).toMatch(new RegExp(`action="/admin/tokens/${id}/status">[\\s\\S]*?name="status" value="active">\\s*<button type="submit">Undo<span class="sr"> \\(enable notice probe again\\)`));
    expect(list.cookies).toEqual([expect.stringMatching(/^apx_notice=; Path=\/admin; .*Max-Age=0$/)]);
    expect(list.text).toContain('id="filter" name="q" type="search" value="notice pro"');
    expect((await get("/admin", { cookie: session.cookie })).text).not.toContain("notice probe disabled");
    // Undo.
    const undo = await post(`/admin/tokens/${id}/status`, { csrf: session.csrf, status: "active", q: "notice pro", sort: "label" }, { cookie: session.cookie });
    const after = await get("/admin?q=notice+pro", { cookie: `${session.cookie}; ${cookieFrom(undo, "apx_notice")}` });
    expect(after.text).toContain("notice probe enabled: it works again.");
    expect((await apiToken(id)).status).toBe("active");
  });

  test("save and delete say what changed; delete lands on the neighbouring row; the way back is always /admin", async () => {
    const a = await stack.createToken({ label: "neighbour a" });
    const b = await stack.createToken({ label: "neighbour b" });
    const saved = await post(`/admin/tokens/${a.id}`, form("neighbour a", [["rate_requests", "5"], ["rate_per_seconds", "3600"], ["allowed_models", "gpt-4o-mini"]]), { cookie: session.cookie });
    const shown = await get("/admin", { cookie: `${session.cookie}; ${cookieFrom(saved, "apx_notice")}` });
    expect(shown.text).toContain("neighbour a saved: providers, rate limit and models changed.");
    const gone = await post(`/admin/tokens/${b.id}/delete`, { csrf: session.csrf, confirm: "yes", neighbour: a.id, q: "neighbour" }, { cookie: session.cookie });
    expect(gone.location).toBe(`/admin?q=neighbour#token-${a.id}`);
    const told = await get("/admin?q=neighbour", { cookie: `${session.cookie}; ${cookieFrom(gone, "apx_notice")}` });
    expect(told.text).toContain(`neighbour b (…${b.token.slice(-4)}) deleted.`);
    // Whatever is posted, the redirect stays on /admin: the filter is encoded, a bad row id dropped.
    const odd = await post(`/admin/tokens/${a.id}/status`, { csrf: session.csrf, status: "disabled", q: "//evil.example/#x", sort: "https://evil.example" }, { cookie: session.cookie });
    expect(odd.location).toBe(`/admin?q=%2F%2Fevil.example%2F%23x#token-${a.id}`);
    const c = await stack.createToken({ label: "neighbour c" });
    const bad = await post(`/admin/tokens/${c.id}/delete`, { csrf: session.csrf, confirm: "yes", neighbour: "../../evil" }, { cookie: session.cookie });
    expect(bad.location).toBe("/admin");
  });

  test("an edit with several mistakes lists them all, each at its field, and keeps what was typed", async () => {
    const { id } = await stack.createToken({ label: "many mistakes", providers: ["openai"] });
    const res = await post(`/admin/tokens/${id}`, [["csrf", session.csrf], ["label", ""], ["allowed_origins", "app.example.com"], ["allowed_paths", "v1/chat"]], { cookie: session.cookie });
    expect(res.status).toBe(400);
    expect(res.text).toContain("Not saved: 4 fields need attention.");
    for (const id of ["label-error", "providers-error", "allowed_paths-error", "allowed_origins-error"]) expect(res.text).toContain(`id="${id}"`);
    expect(res.text).toContain("Give the token a label");
    expect(res.text).toContain("Tick at least one provider");
    expect(res.text).toContain("app.example.com</textarea>");
    expect(res.text).not.toMatch(/allowed_origins:|allowed_paths:/);
    expect((await apiToken(id)).label).toBe("many mistakes");
  });
});

describe("last used", () => {
  test("after a proxied request the list shows today; more requests do not write KV again", async () => {
    const { id, token } = await stack.createToken({ label: "last-used-probe", providers: ["openai"] });
    const { cookie } = await signIn();
    const row = async () => (await get("/admin?q=last-used-probe", { cookie })).text.match(/<tr data-search=[\s\S]*?<\/tr>/)[0];
    expect(await row()).toMatch(/<td class="used"[^>]*><span title="No request with this token yet">never<\/span><\/td>/);
    const kv = await stack.mf.getKVNamespace("TOKENS");
    expect(await kv.get(`used:${id}`)).toBeNull();

    const dayBefore = utcDay();
    expect((await chat(token)).status).toBe(200);
    const stored = await until("used:<id> written", () => kv.getWithMetadata(`used:${id}`).then((r) => r.value && r));
    const dayAfter = utcDay();
    expect([dayBefore, dayAfter]).toContain(stored.value);
    expect(stored.metadata).toBe(stored.value);
    expect(await row()).toMatch(new RegExp(`<time datetime="${stored.value}" title="Last request on ${stored.value} \\(UTC; recorded by the day\\)">today</time>`));
    expect((await get(`/admin/tokens/${id}`, { cookie })).text).toContain(`today (${stored.value})`);

    // Mark the stored value; a further write for today would replace the mark.
    const mark = `${stored.value}~mark`;
    await kv.put(`used:${id}`, mark, { metadata: stored.value });
    for (let i = 0; i < 5; i++) expect((await chat(token)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await kv.get(`used:${id}`)).toBe(mark);
  });
});

describe("hundreds of tokens", () => {
  // KV lists 1000 keys a page: more than that proves every page is read.
  const COUNT = 1050;
  test(`${COUNT} tokens are all listed, filterable with ?q=`, async () => {
    const before = await apiCount();
    const ids = [];
    for (let start = 0; start < COUNT; start += 50) {
      const batch = [];
      for (let i = start; i < Math.min(start + 50, COUNT); i++) {
        const label = `bulk-${String(i).padStart(4, "0")}${i % 100 === 7 ? " needle" : ""}`;
        batch.push(stack.createToken({ label, providers: i % 2 ? ["openai"] : ["gemini", "anthropic"] }));
      }
      ids.push(...(await Promise.all(batch)).map((t) => t.id));
    }
    expect(await apiCount()).toBe(before + COUNT);
    const { cookie } = await signIn();
    const all = await get("/admin", { cookie });
    expect(all.status).toBe(200);
    expect(all.text).toContain(`<span class="count">${before + COUNT}</span>`);
    expect(rows(all.text)).toBe(before + COUNT);
    for (const id of ids) expect(all.text).toContain(`href="/admin/tokens/${id}"`);
    for (let i = 0; i < COUNT; i++) expect(all.text).toContain(`>bulk-${String(i).padStart(4, "0")}`);

    const bulk = await get("/admin?q=bulk-", { cookie });
    expect(rows(bulk.text)).toBe(COUNT);
    const needles = await get("/admin?q=NEEDLE", { cookie });
    const needleCount = Array.from({ length: COUNT }, (_, i) => i).filter((i) => i % 100 === 7).length;
    expect(rows(needles.text)).toBe(needleCount);
    expect(needles.text).toContain(`<span class="count">${before + COUNT}</span>`);
    const none = await get("/admin?q=no-such-token-anywhere", { cookie });
    expect(rows(none.text)).toBe(0);
    expect(none.text).toContain("No token matches “no-such-token-anywhere”.");
  });
});

test("every admin response carried the security headers", () => {
  const statuses = new Set(seen.map((r) => r.status));
  for (const s of [200, 303, 400, 401, 403, 404, 405, 410, 429, 503]) expect(statuses.has(s), `saw a ${s}`).toBe(true);
  expect(seen.some((r) => r.path.startsWith("/admin/assets/"))).toBe(true);
  expect(seen.some((r) => r.path.startsWith("/admin/api/"))).toBe(true);
  for (const r of seen) {
    const where = `${r.method} ${r.path} → ${r.status}`;
    const csp = (r.headers.get("content-security-policy") ?? "").split(";").map((d) => d.trim());
    for (const d of ["default-src 'self'", "frame-ancestors 'none'", "form-action 'self'"]) expect(csp, where).toContain(d);
    expect(r.headers.get("x-content-type-options"), where).toBe("nosniff");
    expect(r.headers.get("referrer-policy"), where).toBe("no-referrer");
    expect(r.headers.get("cache-control"), where).toBe("no-store");
  }
});
