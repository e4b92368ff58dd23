// Large and binary bodies go through byte for byte, in both directions.

import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import { afterAll, beforeAll, beforeEach, expect, test } from "vitest";
import { startStack } from "../support/stack.mjs";
import { patternBytes } from "../support/mock-upstream.mjs";

let stack, token;
beforeAll(async () => {
  stack = await startStack();
  ({ token } = await stack.createToken({ label: "bodies" }));
});
afterAll(async () => { await stack?.dispose(); });
beforeEach(() => stack.mock.reset());

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

test("a 50 MB upload arrives byte-identical", async () => {
  const upload = randomBytes(50 * 1024 * 1024);
  const res = await fetch(`${stack.url}/echo/upload`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
    body: upload,
  });
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ length: upload.length, sha256: sha256(upload) });
});

test("a multipart file upload (as the SDKs send to /v1/files) arrives byte-identical", async () => {
  const form = new FormData();
  form.append("purpose", "batch");
  form.append("file", new Blob([randomBytes(3 * 1024 * 1024)]), "batch.jsonl");
  // Serialise once so the test knows the exact bytes and boundary the client sent.
  const request = new Request("http://x/", { method: "POST", body: form });
  const bytes = Buffer.from(await request.arrayBuffer());
  const res = await fetch(`${stack.url}/v1/files`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": request.headers.get("content-type") },
    body: bytes,
  });
  expect(res.status).toBe(200);
  const body = await res.json();
  expect([body.bytes, body.sha256]).toEqual([bytes.length, sha256(bytes)]);
  const [seen] = stack.mock.requests("openai");
  expect(seen.headers["content-type"]).toBe(request.headers.get("content-type"));
});

test("a binary response (/v1/audio/speech) comes back byte-identical", async () => {
  const res = await fetch(`${stack.url}/v1/audio/speech`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "accept-encoding": "identity" },
    body: JSON.stringify({ model: "gpt-4o-mini-tts", voice: "alloy", input: "hi" }),
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("audio/mpeg");
  expect(Buffer.from(await res.arrayBuffer()).equals(patternBytes(64 * 1024, 3))).toBe(true);
});

test.each([
  ["as it is", {}],
  // Stripping a header rebuilds the response around the same body stream: a second path.
  ["rebuilt to strip account headers", { "set-cookie": "__cf_bm=x", "openai-organization": "org-x" }],
])("a 20 MB download comes back byte-identical with its length (%s)", async (_, extra) => {
  const size = 20 * 1024 * 1024;
  const res = await fetch(`${stack.url}/download/${size}`, {
    headers: { "x-goog-api-key": token, "accept-encoding": "identity", "x-mock-extra-headers": JSON.stringify(extra) },
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("set-cookie")).toBeNull();
  expect(res.headers.get("content-length")).toBe(String(size));
  const bytes = Buffer.from(await res.arrayBuffer());
  expect(bytes.length).toBe(size);
  expect(sha256(bytes)).toBe(sha256(patternBytes(size)));
  expect(stack.mock.requests("gemini")).toHaveLength(1);
});

/** A raw HTTP/1.1 request, so the test controls the framing (fetch never sends a GET with a body). */
function rawRequest(url, { method, headers, chunks = [] }) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on("error", reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

// A GET or HEAD cannot carry a body upstream; an empty one from the client is no reason to fail.
test.each([
  ["GET", { "content-length": "0" }],
  ["GET", { "transfer-encoding": "chunked" }],
  ["HEAD", { "content-length": "0" }],
  ["HEAD", { "transfer-encoding": "chunked" }],
])("a %s with an empty body (%o) is forwarded without one", async (method, framing) => {
  const res = await rawRequest(`${stack.url}/v1/models`, { method, headers: { authorization: `Bearer ${token}`, ...framing } });
  expect(res.status, res.text).toBe(200);
  const [seen] = stack.mock.requests("openai");
  expect(seen.method).toBe(method);
  expect(seen.body.length).toBe(0);
  expect(seen.headers["transfer-encoding"]).toBeUndefined();
});
