-- wrk script: report.lua's figures, with each connection pausing 1 ms
-- between requests: a steady load well below what the machine can serve,
-- so that latency measures the requests' own wait, not a queue behind a
-- saturated CPU (bench/run case O).
dofile("bench/report.lua")

delay = function()
  return 1
end
