-- wrk script: cycles through the request paths listed (one per line) in the
-- file given after `--`, so a scenario measures queries, not one cached URL.
-- Prints one machine-readable RESULT line for benches/run.sh.
local paths = {}
local idx = 0

init = function(args)
  local f = assert(io.open(args[1], "r"))
  for line in f:lines() do
    if #line > 0 then paths[#paths + 1] = line end
  end
  f:close()
end

request = function()
  idx = idx % #paths + 1
  return wrk.format("GET", paths[idx], { ["Accept-Encoding"] = "gzip" })
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %.1f %.3f %.3f %d %d\n",
    summary.requests,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.timeout,
    e.status))
end
