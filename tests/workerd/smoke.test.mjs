import { afterAll, beforeAll, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";

let stack;
beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.dispose(); });

test("health", async () => {
  const res = await fetch(`${stack.url}/health`);
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ status: "ok" });
});

test("openai chat through the proxy", async () => {
  const { token } = await stack.createToken();
  const res = await fetch(`${stack.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
  });
  expect(res.status).toBe(200);
  const body = await res.json();
  expect(body.choices[0].message.content).toContain("You said: hi");
  const [seen] = stack.mock.requests("openai");
  expect(seen.headers.authorization).toBe(`Bearer ${stack.realKeys.openai}`);
});
