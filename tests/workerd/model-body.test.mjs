// A model-scoped token's JSON body is checked as it streams: long bodies reach the upstream
// byte-identical when the model is allowed, and never complete when it is refused, wherever the
// model sits; a declared length over the cap is refused before the body is sent; and three
// concurrent ~31 MiB bodies with the model at the very end leave workerd's memory nearly flat.

import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import { afterAll, beforeAll, beforeEach, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { errorMessage } from "./policy-support.mjs";

const MiB = 1 << 20;
const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

let stack, token;
beforeAll(async () => {
  stack = await startStack();
  ({ token } = await stack.createToken({ label: "model-scoped", allowed_models: ["gpt-4o-mini"] }));
});
afterAll(async () => { await stack?.dispose(); });
beforeEach(() => stack.mock.reset());

/** A chat body of about `size` bytes whose only model key is at the end, after escaped text. */
function bodyWithModelLast(size, model) {
  const head = "{\"messages\": [{\"role\": \"user\", \"content\": \"say \\\"model\\\": \\\"gpt-4o-mini\\\" ";
  const tail = `"}], "stream": false, "model": ${JSON.stringify(model)}}`;
  return Buffer.concat([Buffer.from(head), Buffer.alloc(Math.max(0, size - head.length - tail.length), "a"), Buffer.from(tail)]);
}

const post = (body, headers = {}) =>
  fetch(`${stack.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
    body,
    duplex: "half",
  });

test.each([
  ["declared length", (b) => b],
  ["streamed, no length", (b) => new Blob([b]).stream()],
])("a 5 MiB body with an allowed model at the end reaches the upstream byte-identical (%s)", async (_, as) => {
  const body = bodyWithModelLast(5 * MiB, "gpt-4o-mini");
  const res = await post(as(body));
  expect(res.status, await res.clone().text()).toBe(200);
  expect((await res.json()).model).toBe("gpt-4o-mini");
  const [seen] = stack.mock.requests("openai");
  expect([seen.body.length, seen.body.sha256]).toEqual([body.length, sha256(body)]);
});

test.each([
  ["at the end", () => bodyWithModelLast(5 * MiB, "gpt-4o")],
  ["at the start", () => Buffer.concat([Buffer.from("{\"model\": \"gpt-4o\", \"x\": \""), Buffer.alloc(5 * MiB, "a"), Buffer.from("\"}")])],
  ["twice, the second refused", () => Buffer.concat([Buffer.from("{\"model\": \"gpt-4o-mini\", \"x\": \""), Buffer.alloc(5 * MiB, "a"), Buffer.from("\", \"model\": \"gpt-4o\"}")])],
  ["after invalid JSON", () => Buffer.concat([Buffer.from("{\"x\": ["), Buffer.alloc(5 * MiB, "1"), Buffer.from("}, \"model\": \"gpt-4o-mini\"}")])],
])("a 5 MiB body with a refused model %s is a 403, and no complete request reaches the upstream", async (_, make) => {
  const res = await post(make());
  expect(res.status).toBe(403);
  expect(errorMessage(await res.json())).toMatch(/gpt-4o is not allowed|names none/);
  // The upstream may have seen the start of the body, never all of it.
  await new Promise((r) => setTimeout(r, 100));
  expect(stack.mock.requests().filter((r) => !r.body.aborted)).toEqual([]);
});

test("a declared length over the cap is a 413 before the body is sent", async () => {
  // Only the first 64 KiB of the declared 40 MiB are sent; the answer must not wait for the rest.
  const res = await new Promise((resolve, reject) => {
    const req = http.request(`${stack.url}/v1/chat/completions`, {
      method: "POST",
      agent: false,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "content-length": String(40 * MiB) },
    }, (r) => {
      // The answer's body stays open until the declared body has been read; its first bytes are
      // the error, sent at once.
      r.once("data", (d) => { resolve({ status: r.statusCode, text: d.toString() }); req.destroy(); });
    });
    req.on("error", reject);
    req.write(Buffer.alloc(64 * 1024, "{"));
  });
  expect(res.status).toBe(413);
  expect(JSON.parse(res.text).error.code).toBe("request_too_large");
  expect(stack.mock.requests()).toEqual([]);
});

// ---- memory ----

/** workerd processes started by this test process (Miniflare's child). */
function workerdPids() {
  return fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      return comm === "workerd" && ppid === process.pid;
    } catch {
      return false;
    }
  });
}
const kib = (pid, field) => Number(fs.readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"))[1]);

test("three concurrent ~31 MiB bodies with the model at the end: all served, and workerd's memory stays nearly flat", async () => {
  const [pid] = workerdPids();
  expect(pid, "workerd's pid").toBeGreaterThan(0);
  const body = bodyWithModelLast(31 * MiB, "gpt-4o-mini");
  // Warm up the path once, so the figure is the bodies' cost, not the first use's.
  expect((await post(bodyWithModelLast(2 * MiB, "gpt-4o-mini"))).status).toBe(200);
  stack.mock.reset();

  const before = kib(pid, "VmRSS");
  let resetPeak = true;
  try { fs.writeFileSync(`/proc/${pid}/clear_refs`, "5"); } catch { resetPeak = false; }
  let sampled = before;
  const timer = setInterval(() => { sampled = Math.max(sampled, kib(pid, "VmRSS")); }, 5);
  const answers = await Promise.all([0, 1, 2].map(() => post(body).then(async (r) => [r.status, (await r.json()).model])));
  clearInterval(timer);
  const peak = Math.max(sampled, resetPeak ? kib(pid, "VmHWM") : 0);
  const after = kib(pid, "VmRSS");

  expect(answers).toEqual([[200, "gpt-4o-mini"], [200, "gpt-4o-mini"], [200, "gpt-4o-mini"]]);
  for (const seen of stack.mock.requests("openai")) expect([seen.body.length, seen.body.sha256]).toEqual([body.length, sha256(body)]);
  const growthMiB = (peak - before) / 1024;
  console.log(`workerd RSS: ${(before / 1024).toFixed(1)} MiB before, peak +${growthMiB.toFixed(1)} MiB during 3 x ${(body.length / MiB).toFixed(1)} MiB, ${((after - before) / 1024).toFixed(1)} MiB after`);
  // Generous: holding the bodies would take 93 MiB (the read-it-whole design grew by ~200 MB).
  expect(growthMiB).toBeLessThan(64);
});
