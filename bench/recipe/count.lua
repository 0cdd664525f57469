-- SPDX-License-Identifier: MIT
-- wrk script: counts responses by class and by backend (the lab web apps answer "NAME\n").
-- Prints key=value lines at the end: responses, ok_2xx, non_2xx, status_<code>, and wrk's
-- socket errors (connect, read, write, timeout) and its own non-2xx/3xx count (status).
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok, bad, codes = 0, 0, ""
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    bad = bad + 1
    if bad <= 10000 then codes = codes .. status .. " " end
  end
end

function done(summary, latency, requests)
  local tok, tbad, per = 0, 0, {}
  for _, t in ipairs(threads) do
    tok = tok + t:get("ok")
    tbad = tbad + t:get("bad")
    for c in string.gmatch(t:get("codes") or "", "%d+") do per[c] = (per[c] or 0) + 1 end
  end
  io.write(string.format("responses=%d\nok_2xx=%d\nnon_2xx=%d\n", tok + tbad, tok, tbad))
  for c, n in pairs(per) do io.write(string.format("status_%s=%d\n", c, n)) end
  local e = summary.errors
  io.write(string.format("err_connect=%d\nerr_read=%d\nerr_write=%d\nerr_timeout=%d\nerr_status=%d\n",
    e.connect, e.read, e.write, e.timeout, e.status))
  io.write(string.format("socket_errors=%d\n", e.connect + e.read + e.write + e.timeout))
  io.write(string.format("requests=%d\nduration_s=%.2f\nrps=%.0f\n", summary.requests,
    summary.duration / 1e6, summary.requests / (summary.duration / 1e6)))
  io.write(string.format("lat_p50_ms=%.2f\nlat_p99_ms=%.2f\nlat_max_ms=%.2f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
