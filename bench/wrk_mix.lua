-- wrk script for the canaryd benchmarks (bench/run.sh, bench/reload.sh).
--
-- Sends GET / and puts the canary cookie on a small share of the requests, so the
-- proxy under test evaluates its cookie regex on every request and takes the
-- cookie route on some of them:
--   WRK_COOKIE_PERCENT  share of requests with the cookie, 0..100 (default 10)
--   WRK_COOKIE          the Cookie header value (default "email=joe@example.com")
-- The share is exact and deterministic: every thread sends the cookie on requests
-- spread evenly over each block of 100.
--
-- At the end it prints one machine-readable line that the shell scripts parse:
--   WRKRESULT requests=N duration_us=N bytes=N connect=N read=N write=N status=N
--             timeout=N p50_us=N p90_us=N p99_us=N max_us=N
-- (status = responses that were not 2xx or 3xx; the others are socket errors).

local percent = tonumber(os.getenv("WRK_COOKIE_PERCENT") or "10")
local cookie_value = os.getenv("WRK_COOKIE") or "email=joe@example.com"

local plain_req, cookie_req
local n = 0

function init(args)
    plain_req = wrk.format("GET", "/")
    cookie_req = wrk.format("GET", "/", { ["Cookie"] = cookie_value })
end

function request()
    n = n + 1
    -- Request k of a block of 100 carries the cookie when the integer part of
    -- k * percent / 100 steps up: exactly `percent` of every 100, evenly spread.
    local k = n % 100
    if math.floor((k + 1) * percent / 100) > math.floor(k * percent / 100) then
        return cookie_req
    end
    return plain_req
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "WRKRESULT requests=%d duration_us=%d bytes=%d connect=%d read=%d write=%d " ..
        "status=%d timeout=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
        summary.requests, summary.duration, summary.bytes,
        e.connect, e.read, e.write, e.status, e.timeout,
        latency:percentile(50), latency:percentile(90), latency:percentile(99),
        latency.max))
end
