// What usage metering costs: the same release Worker twice, metering on (the default) and off
// (`USAGE_METERING=off`), in front of the benchmark's mock upstream, alternating rounds.
// Not part of `npm run bench`; run it after a build:   node bench/metering.mjs [--seconds N]
//   - CPU per request (the workerd process, /proc) for the 1 KB JSON chat answer, under wrk;
//   - CPU per stream for SSE streams of 50 events (a client that did not ask for usage, so the
//     include_usage rewrite and the usage-chunk filter are in the path when metering is on);
//   - the streaming extra delay: per event, the time from the mock's write to the client's read,
//     metering on minus off (p50 and p99).
// The Ledger writes happen in the same workerd process, so they are in the "on" CPU figures.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ADMIN_SECRET, REAL_KEY, cpuSeconds, percentile, seedToken, startMock, startWorkerd, streamLatencies, untilOk, wrk } from "./run.mjs";

const argv = process.argv.slice(2);
const seconds = Number(argv[argv.indexOf("--seconds") + 1]) || 5;
const rounds = 3;

const mock = await startMock();
startWorkerd.upstream = mock;
const kvDir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-metering-"));
wrk.dir = kvDir;
const token = await seedToken(kvDir);
const auth = `Bearer ${token}`;
const bindings = (metering) => ({ OPENAI_API_KEY: REAL_KEY, ADMIN_SECRET, OPENAI_UPSTREAM: mock.url, USAGE_METERING: metering });
const targets = [];
try {
  for (const metering of ["on", "off"]) {
    const t = await startWorkerd("api_proxy", { kvDir, auth, worker: { bindings: bindings(metering) } });
    t.name = `metering_${metering}`;
    await untilOk(t);
    targets.push(t);
  }
  const cpu = Object.fromEntries(targets.map((t) => [t.name, { json: [0, 0], stream: [0, 0] }]));
  const lat = Object.fromEntries(targets.map((t) => [t.name, []]));
  for (const t of targets) await wrk(t, 2, 16); // warm-up
  for (let round = 0; round < rounds; round++) {
    for (const t of round % 2 ? [...targets].reverse() : targets) {
      let before = cpuSeconds(t.pids);
      const r = await wrk(t, seconds, 16);
      cpu[t.name].json[0] += cpuSeconds(t.pids) - before;
      cpu[t.name].json[1] += r.requests;
      before = cpuSeconds(t.pids);
      const streams = 40;
      await Promise.all(Array.from({ length: 8 }, () => streamLatencies(t, { sseStreams: streams / 8, sseChunks: 50, sseIntervalMs: 0 })));
      // Let the ledger writes of those streams land before reading the CPU.
      await new Promise((r) => setTimeout(r, 300));
      cpu[t.name].stream[0] += cpuSeconds(t.pids) - before;
      cpu[t.name].stream[1] += streams;
      lat[t.name].push(...(await streamLatencies(t, { sseStreams: 2, sseChunks: 50, sseIntervalMs: 20 })));
      console.error(`round ${round + 1} ${t.name}: ${(r.requests / (r.duration_us / 1e6)).toFixed(0)} req/s`);
    }
  }
  const per = ([s, n]) => Math.round((s * 1e6) / n);
  const result = {};
  for (const t of targets) {
    result[t.name] = {
      cpu_us_per_json_request: per(cpu[t.name].json),
      cpu_us_per_stream_of_50_events: per(cpu[t.name].stream),
      stream_event_delay_p50_ms: Number(percentile(lat[t.name], 50).toFixed(3)),
      stream_event_delay_p99_ms: Number(percentile(lat[t.name], 99).toFixed(3)),
    };
  }
  const on = result.metering_on, off = result.metering_off;
  result.metering_cost = {
    cpu_us_per_json_request: on.cpu_us_per_json_request - off.cpu_us_per_json_request,
    cpu_us_per_stream_of_50_events: on.cpu_us_per_stream_of_50_events - off.cpu_us_per_stream_of_50_events,
    stream_extra_delay_p50_ms: Number((on.stream_event_delay_p50_ms - off.stream_event_delay_p50_ms).toFixed(3)),
    stream_extra_delay_p99_ms: Number((on.stream_event_delay_p99_ms - off.stream_event_delay_p99_ms).toFixed(3)),
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  for (const t of targets) await t.stop();
  await mock.stop();
  fs.rmSync(kvDir, { recursive: true, force: true });
}
