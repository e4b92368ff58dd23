-- JSON POST for wrk: the body from the file in BENCH_BODY_FILE, the Authorization header from
-- BENCH_AUTH, the other headers as the OpenAI Node SDK sends them (a proxy pays per header).
-- Prints one JSON line with the figures when done.
local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
wrk.headers["User-Agent"] = "OpenAI/JS 7.57.0"
wrk.headers["X-Stainless-Lang"] = "js"
wrk.headers["X-Stainless-Package-Version"] = "7.57.0"
wrk.headers["X-Stainless-OS"] = "Linux"
wrk.headers["X-Stainless-Arch"] = "x64"
wrk.headers["X-Stainless-Runtime"] = "node"
wrk.headers["X-Stainless-Runtime-Version"] = "v22.23.3"
wrk.headers["X-Stainless-Retry-Count"] = "0"
wrk.headers["X-Stainless-Timeout"] = "600"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d,"status_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
