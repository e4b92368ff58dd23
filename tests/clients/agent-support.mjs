// Running a coding agent's real CLI (from npm) once, non-interactively, the way its README tells a
// user to point it at the proxy: in a temporary HOME of its own (nothing read from or written to
// the machine's config), with auto-update, telemetry and error reporting off, and every proxy
// variable pointing at an egress sentinel, so a request to anywhere but 127.0.0.1 is seen and
// refused instead of leaving the machine.

import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");

export const bin = (name) => path.join(root, "node_modules/.bin", name);

/** A temporary HOME; `files` maps paths inside it to their contents. */
export function tempHome(files = {}) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "agent-home-"));
  for (const [file, contents] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(home, file)), { recursive: true });
    fs.writeFileSync(path.join(home, file), contents);
  }
  return home;
}

/**
 * An HTTP proxy that records and refuses whatever is sent to it (plain requests and CONNECT
 * tunnels): the agents get it as HTTP(S)_PROXY, with 127.0.0.1 exempt, so `attempts` lists every
 * host they tried to reach beyond the machine.
 */
export async function startEgressSentinel() {
  const attempts = [];
  const server = http.createServer((req, res) => {
    attempts.push(`${req.method} ${req.url}`);
    res.writeHead(403).end();
  });
  server.on("connect", (req, socket) => {
    attempts.push(`CONNECT ${req.url}`);
    socket.end("HTTP/1.1 403 Forbidden\r\n\r\n");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    attempts,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}

/**
 * A recording pass-through in front of the proxy: every request an agent sends reaches the proxy
 * unchanged, and `seen` keeps its method, path and the proxy's status (the agents' own requests,
 * which the mock upstream never sees when the proxy answers itself). Plain HTTP only; an agent
 * that tries a WebSocket is pointed at the proxy directly.
 */
export async function startRecorder(target) {
  const seen = [];
  const server = http.createServer((req, res) => {
    const upstream = http.request(target + req.url, { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (answer) => {
      seen.push({ method: req.method, path: req.url, status: answer.statusCode });
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
      answer.on("error", () => res.destroy());
    });
    // An agent that exits mid-request resets its socket; that ends this exchange, not the test run.
    upstream.on("error", () => res.destroy());
    req.on("error", () => upstream.destroy());
    res.on("error", () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    seen,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}

/** The environment every agent run starts from: nothing of the caller's but PATH. */
export function agentEnv(home, sentinel, extra) {
  return {
    PATH: `${path.join(root, "node_modules/.bin")}:${process.env.PATH}`,
    HOME: home,
    TMPDIR: home,
    TERM: "dumb",
    NO_COLOR: "1",
    HTTP_PROXY: sentinel.url,
    HTTPS_PROXY: sentinel.url,
    ALL_PROXY: sentinel.url,
    http_proxy: sentinel.url,
    https_proxy: sentinel.url,
    NO_PROXY: "127.0.0.1,localhost",
    no_proxy: "127.0.0.1,localhost",
    ...extra,
  };
}

/**
 * Runs `command args` asynchronously (the mock upstream lives in this process, so a synchronous
 * spawn would starve it); resolves with its exit status and output, killing it after `timeoutMs`.
 */
export function run(command, args, { env, cwd, timeoutMs = 150_000 }) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => { stdout += d; });
    child.stderr.on("data", (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("exit", (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}
