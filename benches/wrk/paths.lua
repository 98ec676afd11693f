-- wrk script: cycles through the request paths listed (one per line) in the
-- file given after `--`, so a scenario measures queries, not one cached URL.
-- A line may add one request header after a tab: `PATH<TAB>Name: value`.
-- Prints one machine-readable RESULT line for benches/run.sh.
local paths = {}
local idx = 0

init = function(args)
  local f = assert(io.open(args[1], "r"))
  for line in f:lines() do
    if #line > 0 then
      local path, name, value = line:match("^([^\t]+)\t([^:]+):%s*(.*)$")
      if path then
        paths[#paths + 1] = { path, name, value }
      else
        paths[#paths + 1] = { line }
      end
    end
  end
  f:close()
end

request = function()
  idx = idx % #paths + 1
  local entry = paths[idx]
  local headers = { ["Accept-Encoding"] = "gzip" }
  if entry[2] then headers[entry[2]] = entry[3] end
  return wrk.format("GET", entry[1], headers)
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
