-- wrk script: at the end, print one JSON line with the figures bench/run needs.
-- Latencies are in microseconds. Non-2xx/3xx answers are counted in "bad".
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bad":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout + e.status,
    latency:percentile(50), latency:percentile(99)))
end
