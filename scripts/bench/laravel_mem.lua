-- wrk script for the "laravel-memory" load: $BENCH_REQUESTS requests, alternately GET /json?tag=N
-- (no session) and GET /session with the next cookie of $BENCH_COOKIE_FILE (as session.lua), then
-- the thread stops and creates the file $BENCH_DONE_FILE (run it with -t1; requests still in flight
-- then are not counted). wrk's main thread still sleeps for -d: bench.sh sends wrk SIGINT when the
-- file appears, and wrk prints its results at once.
local path = os.getenv("BENCH_COOKIE_FILE")
local limit = tonumber(os.getenv("BENCH_REQUESTS"))
local marker = os.getenv("BENCH_DONE_FILE")
assert(path and limit and marker, "BENCH_COOKIE_FILE, BENCH_REQUESTS and BENCH_DONE_FILE must be set")
local cookies = {}
for line in io.lines(path) do
    if line ~= "" then cookies[#cookies + 1] = line end
end
assert(#cookies > 0, "no cookie in " .. path)
local sent, done, c = 0, 0, 0

function request()
    sent = sent + 1
    if sent % 2 == 1 then
        return wrk.format("GET", "/json?tag=" .. sent)
    end
    c = c % #cookies + 1
    return wrk.format("GET", "/session", { ["Cookie"] = cookies[c] })
end

function response(status, headers, body)
    done = done + 1
    if done == limit then
        local f = io.open(marker, "w")
        if f then f:close() end
        wrk.thread:stop()
    end
end
