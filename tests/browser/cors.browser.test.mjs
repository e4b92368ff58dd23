// A real browser: a page on another local origin (http://localhost:<port>) calls the proxy
// (http://127.0.0.1:<port>) with fetch, as a browser app would. The request carries Authorization
// and a JSON content type, so Chromium preflights it; the token's allowed_origins then decides.
import http from "node:http";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, beforeEach, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>api-proxy CORS test page</title>
<script>
  // What the page's own script can see of one call to the proxy.
  async function callProxy(proxyUrl, token) {
    try {
      const res = await fetch(proxyUrl + "/v1/chat/completions", {
        method: "POST",
        headers: { authorization: "Bearer " + token, "content-type": "application/json" },
        body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "from the page" }] }),
      });
      const pick = ["x-request-id", "x-ratelimit-remaining-requests", "content-type"];
      return {
        status: res.status,
        headers: Object.fromEntries(pick.map((h) => [h, res.headers.get(h)])),
        body: await res.json(),
      };
    } catch (e) {
      return { failed: String(e) };
    }
  }
</script>
<p>test page</p>`;

let stack;
let pageServer;
let pageOrigin;
let browser;

beforeAll(async () => {
  stack = await startStack();
  pageServer = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(PAGE);
  });
  await new Promise((resolve) => pageServer.listen(0, "127.0.0.1", resolve));
  // localhost and 127.0.0.1 are different origins: the page is cross-origin to the proxy.
  pageOrigin = `http://localhost:${pageServer.address().port}`;
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

afterAll(async () => {
  await browser?.close();
  if (pageServer) await new Promise((resolve) => { pageServer.closeAllConnections(); pageServer.close(resolve); });
  await stack?.dispose();
});

beforeEach(() => stack.mock.reset());

/** Opens the page in a fresh context and runs its callProxy with `token`. */
async function callFromPage(token, proxyUrl = stack.url) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(pageOrigin + "/");
    expect(await page.evaluate(() => location.origin)).toBe(pageOrigin);
    return await page.evaluate(([url, t]) => callProxy(url, t), [proxyUrl, token]);
  } finally {
    await context.close();
  }
}

test("a token that allows the page's origin: the page reads the reply and the exposed headers", async () => {
  const { token } = await stack.createToken({ allowed_origins: [pageOrigin], rate_limit: { requests: 10, per_seconds: 86400 } });
  const result = await callFromPage(token);
  expect(result.failed).toBeUndefined();
  expect(result.status).toBe(200);
  expect(result.body.choices[0].message.content).toBe("Hello from mock OpenAI. You said: from the page");
  expect(result.headers["x-request-id"]).toMatch(/^req_\d+$/);
  expect(result.headers["x-ratelimit-remaining-requests"]).toBe("9");

  const [seen] = stack.mock.requests("openai");
  expect(seen.headers.authorization).toBe(`Bearer ${stack.realKeys.openai}`);
  expect(seen.headers).not.toHaveProperty("origin");
  expect(seen.headers).not.toHaveProperty("referer");
});

test("a token that does not allow the page's origin: the page sees the 403 and can read why", async () => {
  const { token } = await stack.createToken({ allowed_origins: ["https://other-app.example"] });
  const result = await callFromPage(token);
  expect(result.failed).toBeUndefined();
  expect(result.status).toBe(403);
  expect(result.body.error.message).toBe(
    `Origin ${pageOrigin} is not allowed for this api-proxy token; add it to the token's allowed origins in the dashboard.`,
  );
  expect(stack.mock.requests()).toEqual([]);
});

test("control: the same call to a server that sends no CORS headers fails in this browser, unread", async () => {
  // The mock provider answers without any CORS headers. That the page cannot read it shows the
  // browser enforces CORS here, so the two tests above pass only because of the proxy's headers.
  const result = await callFromPage("any-token", stack.mock.urls.openai);
  expect(result.failed).toMatch(/TypeError/);
  expect(result.status).toBeUndefined();
  // Chromium sent its preflight (which the mock answered without CORS) and never the POST.
  expect(stack.mock.requests("openai").map((r) => r.method)).toEqual(["OPTIONS"]);
});
