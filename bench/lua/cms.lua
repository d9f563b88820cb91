-- bench/run's wrk script: the two CMS calls of the seed trace.
--
-- Environment (set by bench/run):
--   BENCH_METHOD      GET  GET  /api/v1/coSpaces      (the URL's path is used)
--                     PUT  PUT  /api/v1/coSpaces/<id> with the seed's body
--                     MIX  GET and PUT alternately (paths below; RSS runs)
--   BENCH_DELAY_MS    if set: each connection waits a random 0..2*N ms
--                     between a response and its next request (wrk's
--                     delay()), i.e. a low fixed offered rate; wrk 4 (not
--                     wrk2) still times each request from when it is sent
--
-- done() prints one "BENCH key=value ..." line that bench/run parses; wrk's
-- own output (with --latency) is kept in the raw log.

local method = os.getenv("BENCH_METHOD") or "GET"
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "")

local space = "458075bc-6def-4052-8ed6-b1192d6e6b35"
local get_path = "/api/v1/coSpaces"
local put_path = "/api/v1/coSpaces/" .. space

-- seed 000, API trace 9500 (TMS), byte for byte: leading '&', raw spaces
local put_body = "&nonMemberAccess=true&passcode=&name=Tim Kratzke Acano "
                 .. "TMSXE Test Meeting&secret=86db1bdd-5cf7-4ea8-b88d-479195f4701a"

-- admin:secret1, what TMS sends (and the bench's bridge credentials)
wrk.headers["Authorization"] = "Basic YWRtaW46c2VjcmV0MQ=="

if method == "PUT" then
    wrk.method = "PUT"
    wrk.body = put_body
    wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

elseif method == "MIX" then
    local put_headers = {}
    for k, v in pairs(wrk.headers) do put_headers[k] = v end
    put_headers["Content-Type"] = "application/x-www-form-urlencoded"

    local reqs
    local n = 0

    -- wrk.format() fills in Host from wrk.host, which is only set by then
    init = function(args)
        reqs = {
            wrk.format("GET", get_path, wrk.headers, nil),
            wrk.format("PUT", put_path, put_headers, put_body),
        }
    end

    request = function()
        n = n + 1
        return reqs[n % 2 + 1]
    end
end

if delay_ms then
    math.randomseed(os.time())
    delay = function()
        return math.random(0, 2 * delay_ms)
    end
end

done = function(summary, latency, requests)
    local e = summary.errors
    local secs = summary.duration / 1e6
    io.write(string.format(
        "BENCH requests=%d duration_us=%d rps=%.2f bytes=%d "
        .. "mean_us=%.1f stdev_us=%.1f p50_us=%d p90_us=%d p99_us=%d "
        .. "p999_us=%d max_us=%d err_connect=%d err_read=%d err_write=%d "
        .. "err_status=%d err_timeout=%d\n",
        summary.requests, summary.duration, summary.requests / secs,
        summary.bytes, latency.mean, latency.stdev,
        latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency:percentile(99.9), latency.max,
        e.connect, e.read, e.write, e.status, e.timeout))
end
