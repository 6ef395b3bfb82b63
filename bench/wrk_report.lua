-- wrk script for the benchmarks: request shape from the environment, and a done() that prints
-- one machine-readable line (latencies in microseconds), parsed by bench/wrk.py.
--   BENCH_AUTHORIZATION  value of the Authorization header (e.g. "Bearer eyJ...")
--   BENCH_METHOD         GET (default) or POST
--   BENCH_BODY_FILE      file whose content is sent as the body (POST)
--   BENCH_CONTENT_TYPE   Content-Type of that body (default application/json)

local auth = os.getenv("BENCH_AUTHORIZATION")
if auth ~= nil and auth ~= "" then
  wrk.headers["Authorization"] = auth
end

local method = os.getenv("BENCH_METHOD")
if method ~= nil and method ~= "" then
  wrk.method = method
end

local body_file = os.getenv("BENCH_BODY_FILE")
if body_file ~= nil and body_file ~= "" then
  local handle = assert(io.open(body_file, "rb"))
  wrk.body = handle:read("*a")
  handle:close()
  wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%.0f duration_us=%.0f bytes=%.0f p50_us=%.0f p90_us=%.0f " ..
    "p99_us=%.0f max_us=%.0f mean_us=%.0f errors_connect=%.0f errors_read=%.0f " ..
    "errors_write=%.0f errors_status=%.0f errors_timeout=%.0f\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
