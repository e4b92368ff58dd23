// Keeps the benchmark from rotting: a tiny run of bench/run.mjs must produce every figure. It says
// nothing about speed; `npm run bench` measures that.
import { expect, test } from "vitest";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const ALL = ["direct", "nginx", "js_passthrough", "js_equivalent", "api_proxy"];
const PROXIES = ["nginx", "js_passthrough", "js_equivalent", "api_proxy"];
const BASELINES = ["js_equivalent", "js_passthrough"];
// The goals of issue 16 and the baselines each one is read against ("value": api_proxy's own figure).
const GOALS = {
  "throughput rps": ["js_equivalent", "js_passthrough"],
  "cpu us/request": ["js_equivalent", "js_passthrough"],
  "stream p99 extra ms": ["value"],
  "upload peak RSS MB": ["value"],
  "download peak RSS MB": ["value"],
  "startup ms": ["js_passthrough"],
  "bundle gzip KiB": ["value"],
};

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
  // api_proxy against both baselines, figure by figure, in the JSON and in the printed table.
  for (const b of BASELINES) {
    for (const figure of ["throughput rps", "cpu us/request", "startup ms", "upload MB/s", "download MB/s"]) {
      const ratio = result.ratios[`api_proxy/${b}`][figure];
      expect(ratio, `${b} ${figure}`).toBeGreaterThan(0);
    }
    expect(result.ratios[`api_proxy/${b}`]["throughput rps"]).toBeCloseTo(result.throughput.api_proxy.rps / result.throughput[b].rps, 2);
    expect(run.stdout).toContain(`api/${b}`);
  }
  expect(Object.keys(result.goals).sort()).toEqual(Object.keys(GOALS).sort());
  for (const [name, against] of Object.entries(GOALS)) {
    const goal = result.goals[name];
    for (const a of against) expect(Number.isFinite(goal[a]), `${name} ${a}`).toBe(true);
    expect(typeof goal.met, name).toBe("boolean");
    expect(run.stdout).toContain(`${goal.goal}: ${goal.met ? "met" : "MISSED"}`);
  }
}, 120_000);
