-- wrk script for the "laravel-session" row: returning clients. $BENCH_COOKIE_FILE holds one Cookie
-- header value per line (sessions made by bench.sh before the run, one per client); each request
-- sends the next one in turn, so every request reads and writes an existing file session.
-- Usage: BENCH_COOKIE_FILE=/path wrk -s session.lua URL
local path = os.getenv("BENCH_COOKIE_FILE")
assert(path, "BENCH_COOKIE_FILE is not set")
local cookies = {}
for line in io.lines(path) do
    if line ~= "" then cookies[#cookies + 1] = line end
end
assert(#cookies > 0, "no cookie in " .. path)
local i = 0

function request()
    i = i % #cookies + 1
    return wrk.format(nil, nil, { ["Cookie"] = cookies[i] })
end
