-- wrk script for the "upload" row: POST the file named by $BENCH_BODY_FILE (1 MiB) as the body.
-- wrk adds Content-Length itself. Usage: BENCH_BODY_FILE=/path wrk -s upload.lua URL
local path = os.getenv("BENCH_BODY_FILE")
assert(path, "BENCH_BODY_FILE is not set")
local f = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
