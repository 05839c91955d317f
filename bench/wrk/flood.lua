-- wrk script for python -m bench.abuse: an attacker's flood of create requests from one address.
-- BENCH_MODE "bot": a registered page's Origin and agent, each request with a new bogus bot_token
-- (a token the provider never issued); "origin": a foreign Origin. One JSON line of results.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Origin"] = os.getenv("BENCH_ORIGIN")
local agent, mode, n = os.getenv("BENCH_AGENT"), os.getenv("BENCH_MODE"), 0
local statuses = {}

request = function()
  n = n + 1
  local body = '{"agent_id":"' .. agent .. '"}'
  if mode == "bot" then body = '{"agent_id":"' .. agent .. '","bot_token":"bogus-' .. n .. '-' .. math.random(1000000000) .. '"}' end
  return wrk.format(nil, nil, nil, body)
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"errors_connect":%d,"errors_read":%d,"errors_timeout":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.timeout, latency:percentile(99)))
end
