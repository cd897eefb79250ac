-- wrk script for bench/scale/run.sh: one request type per wrk run, settings from the environment.
--   BENCH_TOKEN  bearer token            BENCH_PATH  path and query; "{id}" is replaced per request
--   BENCH_IDS    file of ids, one a line (needed when BENCH_PATH has {id})
--   BENCH_NAME   row name in the CSV     BENCH_OUT   CSV file the result row is appended to (none: warm-up)
local path = os.getenv("BENCH_PATH")
local headers = { ["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN"), ["Accept"] = "application/json" }
local ids = nil

function init(args)
  local file = os.getenv("BENCH_IDS")
  if path:find("{id}", 1, true) then
    ids = {}
    for line in io.lines(file) do
      if #line > 0 then ids[#ids + 1] = line end
    end
    -- each thread its own sequence
    math.randomseed(os.time() + tonumber(tostring(ids):match("0x(%x+)") or "0", 16) % 100000)
  end
end

function request()
  local p = path
  if ids then
    p = p:gsub("{id}", ids[math.random(#ids)])
  end
  return wrk.format("GET", p, headers)
end

function done(summary, latency, requests)
  local out = os.getenv("BENCH_OUT")
  if not out or #out == 0 then return end
  local seconds = summary.duration / 1e6
  local e = summary.errors
  local f = assert(io.open(out, "a"))
  -- latencies in milliseconds
  f:write(string.format("%s,%d,%.1f,%.2f,%.2f,%.2f,%.2f,%.2f,%d,%d\n",
    os.getenv("BENCH_NAME"), summary.requests, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.mean / 1000, latency.max / 1000, e.status, e.connect + e.read + e.write + e.timeout))
  f:close()
end
