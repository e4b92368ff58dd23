// Keeps the benchmark from rotting: a tiny run of bench/run.mjs must produce every figure. It says
// nothing about speed; `npm run bench` measures that.
import { expect, test } from "vitest";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const ALL = ["direct", "nginx", "js_passthrough", "api_proxy"];
const PROXIES = ["nginx", "js_passthrough", "api_proxy"];

function expectedFigures() {
  const figures = [];
  for (const t of ALL) {
    figures.push(...["rps", "p50_ms", "p99_ms"].map((f) => ["throughput", t, f]));
    figures.push(...["max_extra_ms", "p99_extra_ms"].map((f) => ["stream", t, f]));
    for (const dir of ["upload_100mb", "download_100mb"]) {
      figures.push([dir, t, "mb_per_s"]);
      if (PROXIES.includes(t)) figures.push([dir, t, "peak_rss_delta_mb"]);
    }
  }
  for (const t of PROXIES) figures.push(["cpu_us_per_request", t], ["startup_ms", t]);
  figures.push(["bundle", "total_kib"], ["bundle", "gzip_kib"]);
  return figures;
}

test("bench --smoke produces every figure", () => {
  const out = path.join(root, "bench/tmp/smoke.json");
  fs.rmSync(out, { force: true });
  const run = spawnSync(process.execPath, ["bench/run.mjs", "--smoke", "--out", out], { cwd: root, encoding: "utf8", timeout: 110_000 });
  expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
  const result = JSON.parse(fs.readFileSync(out, "utf8"));
  const missing = expectedFigures().filter((keys) => !Number.isFinite(keys.reduce((o, k) => o?.[k], result))).map((k) => k.join("."));
  expect(missing).toEqual([]);
  expect(result.machine).toMatch(/\S/);
  expect(Number.isNaN(Date.parse(result.date))).toBe(false);
  expect(run.stdout).toContain("api/js");
}, 120_000);
