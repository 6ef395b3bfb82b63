-- wrk script for the benchmarks: request shape from the environment, and a done() that prints
-- one machine-readable line (latencies in microseconds), parsed by bench/wrk.py.
--   BENCH_AUTHORIZATION  value of the Authorization header (e.g. "Bearer eyJ...")
--   BENCH_METHOD         GET (default) or POST
--   BENCH_BODY_FILE      file whose content is sent as the body (POST)
--   BENCH_CONTENT_TYPE   Content-Type of that body (default application/json)
-- A body of its own per request (payments: each one to another family, with another key):
--   BENCH_VALUES_FILE    one value per line; no value is sent twice in a run
--   BENCH_BODY_TEMPLATE  the body, with @VALUE@ where the value goes
--   BENCH_KEY_PREFIX     when set, an Idempotency-Key header unique in the run: prefix-thread-n
--   BENCH_THREADS        wrk's thread count (thread t sends values t+1, t+1+T, t+1+2T, ...)
-- Then done() also prints values_sent (requests made, answered or not), values_used (the
-- highest line used) and values_exhausted (requests that found no value left: they reuse one,
-- and the server should refuse them).

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

local values_file = os.getenv("BENCH_VALUES_FILE")
local per_request = values_file ~= nil and values_file ~= ""
local threads = {}

-- Runs once per thread, in the main state, before the thread starts.
function setup(thread)
  thread:set("bench_index", #threads)
  table.insert(threads, thread)
end

if per_request then
  -- Each thread's state loads this file: every thread has the whole list.
  local values = {}
  for line in io.lines(values_file) do
    if line ~= "" then
      values[#values + 1] = line
    end
  end
  local template = assert(os.getenv("BENCH_BODY_TEMPLATE"), "BENCH_BODY_TEMPLATE is not set")
  local at, after = template:find("@VALUE@", 1, true)
  assert(at, "BENCH_BODY_TEMPLATE has no @VALUE@")
  local before_value, after_value = template:sub(1, at - 1), template:sub(after + 1)
  local key_prefix = os.getenv("BENCH_KEY_PREFIX") or ""
  local thread_count = tonumber(os.getenv("BENCH_THREADS") or "1")
  local headers = {}
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
  headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
  bench_sent = 0
  bench_exhausted = 0

  function request()
    local position = bench_index + bench_sent * thread_count + 1
    bench_sent = bench_sent + 1
    if position > #values then
      bench_exhausted = bench_exhausted + 1
      position = (position - 1) % #values + 1
    end
    if key_prefix ~= "" then
      headers["Idempotency-Key"] = key_prefix .. "-" .. bench_index .. "-" .. bench_sent
    end
    return wrk.format(wrk.method, nil, headers, before_value .. values[position] ..
      after_value)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%.0f duration_us=%.0f bytes=%.0f p50_us=%.0f p90_us=%.0f " ..
    "p99_us=%.0f max_us=%.0f mean_us=%.0f errors_connect=%.0f errors_read=%.0f " ..
    "errors_write=%.0f errors_status=%.0f errors_timeout=%.0f",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
  if per_request then
    local sent_total, used, exhausted = 0, 0, 0
    local thread_count = #threads
    for _, thread in ipairs(threads) do
      local sent = thread:get("bench_sent") or 0
      sent_total = sent_total + sent
      if sent > 0 then
        used = math.max(used, thread:get("bench_index") + (sent - 1) * thread_count + 1)
      end
      exhausted = exhausted + (thread:get("bench_exhausted") or 0)
    end
    io.write(string.format(" values_sent=%.0f values_used=%.0f values_exhausted=%.0f",
      sent_total, used, exhausted))
  end
  io.write("\n")
end
