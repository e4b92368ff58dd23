// The dashboard's Origin check is an exact comparison with our own origin. Sign-in has no CSRF
// token behind it, so a look-alike origin (a longer host, another port, another scheme, a trailing
// dot or slash, a prefix of ours) must be refused as firmly as a foreign one.

import { afterAll, beforeAll, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { dashboard, newClient } from "./admin-support.mjs";

let stack;
let ui;
beforeAll(async () => {
  stack = await startStack();
  ui = dashboard(stack);
});
afterAll(async () => { await stack?.dispose(); });

// stack.url is http://127.0.0.1:<port>
const lookAlikes = () => {
  const ours = stack.url;
  const { port } = new URL(ours);
  return [
    `${ours}.evil.example`,
    `${ours}0`,
    `${ours}:1234`,
    `${ours}.`,
    `${ours}/`,
    `${ours}@evil.example`,
    ours.replace("http://", "https://"),
    ours.replace("http://", "http://evil."),
    `http://127.0.0.1`,
    `http://127.0.0.1:${port.slice(0, -1)}`,
    ours.slice(0, -1),
    `http://127.0.0.10:${port}`,
    `http://127.0.0.1:${port}${port}`,
    "null",
  ];
};

test("sign-in with the right password from a look-alike origin is refused and sets no cookie", async () => {
  for (const origin of lookAlikes()) {
    const res = await ui.send("/admin/login", { method: "POST", form: { password: stack.adminSecret }, origin, client: newClient("198.22.0") });
    expect(res.status, origin).toBe(403);
    expect(res.cookies, origin).toEqual([]);
  }
  // Our own origin, exactly, signs in.
  const ok = await ui.send("/admin/login", { method: "POST", form: { password: stack.adminSecret }, origin: stack.url, client: newClient("198.22.0") });
  expect(ok.status).toBe(303);
});

test("a signed-in form post with the right CSRF token from a look-alike origin changes nothing", async () => {
  const client = newClient("198.22.1");
  const { cookie, csrf } = await ui.signIn({ client });
  const token = await stack.createToken({ label: "target" });
  for (const origin of lookAlikes()) {
    const res = await ui.send(`/admin/tokens/${token.id}/status`, { method: "POST", form: { csrf, status: "disabled" }, cookie, origin, client });
    expect(res.status, origin).toBe(403);
  }
  expect((await stack.admin("GET", `/admin/api/tokens/${token.id}`)).body.status).toBe("active");
});
