// The benchmark's upstream: an OpenAI-shaped API reduced to what the figures need, run as its own
// process so that the orchestrator's clients never share an event loop with it.
//   POST /v1/chat/completions          a ~1 KB JSON reply (the body is read, not parsed)
//     with x-bench-chunks: N and x-bench-interval-ms: MS   an SSE stream of N events instead, each
//     carrying the CLOCK_MONOTONIC nanoseconds at which it was written (same clock in every process)
//   POST /v1/files                     a sink: counts the body and answers its length
//   GET  /v1/files/bench/content?bytes=N   a source of N bytes
// Every request must carry the real key (env BENCH_REAL_KEY), so a proxy that forgot to swap it
// gets 401s.
// Prints `READY <port>` on stdout when listening.

import http from "node:http";

const REAL_KEY = process.env.BENCH_REAL_KEY;
const CHUNK = Buffer.alloc(64 * 1024, "x");

// About 1 KB, like a short chat completion.
const REPLY = Buffer.from(JSON.stringify({
  id: "chatcmpl-bench", object: "chat.completion", created: 1, model: "gpt-4o-mini",
  choices: [{ index: 0, message: { role: "assistant", content: "Hello from the benchmark upstream. ".repeat(22).trim(), refusal: null }, finish_reason: "stop", logprobs: null }],
  usage: { prompt_tokens: 210, completion_tokens: 180, total_tokens: 390 },
}));

function reply(res, status, body, type = "application/json") {
  res.writeHead(status, { "content-type": type, "content-length": body.length });
  res.end(body);
}

async function drain(req) {
  let length = 0;
  for await (const chunk of req) length += chunk.length;
  return length;
}

// Writes `total` bytes, waiting for the socket to take each chunk.
async function source(res, total) {
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": total });
  for (let sent = 0; sent < total; sent += CHUNK.length) {
    const n = Math.min(CHUNK.length, total - sent);
    if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
      await new Promise((resolve) => res.once("drain", resolve));
    }
  }
  res.end();
}

async function sse(res, chunks, intervalMs) {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  for (let i = 0; i < chunks; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, intervalMs));
    res.write(`data: {"i":${i},"sent_ns":"${process.hrtime.bigint()}"}\n\n`);
  }
  res.end();
}

async function handle(req, res) {
  if (req.headers.authorization !== `Bearer ${REAL_KEY}`) {
    await drain(req);
    return reply(res, 401, Buffer.from('{"error":{"message":"wrong key","type":"invalid_request_error","code":"invalid_api_key"}}'));
  }
  const url = new URL(req.url, "http://upstream");
  if (req.method === "POST" && url.pathname === "/v1/chat/completions") {
    await drain(req);
    const chunks = Number(req.headers["x-bench-chunks"] ?? 0);
    if (chunks > 0) return sse(res, chunks, Number(req.headers["x-bench-interval-ms"] ?? 0));
    return reply(res, 200, REPLY);
  }
  if (req.method === "POST" && url.pathname === "/v1/files") {
    const length = await drain(req);
    return reply(res, 200, Buffer.from(JSON.stringify({ bytes: length })));
  }
  if (req.method === "GET" && url.pathname === "/v1/files/bench/content") {
    return source(res, Number(url.searchParams.get("bytes")));
  }
  await drain(req);
  return reply(res, 404, Buffer.from('{"error":{"message":"no route"}}'));
}

const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  handle(req, res).catch((e) => res.destroy(e));
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`READY ${server.address().port}\n`);
});
// Dies with the orchestrator.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
