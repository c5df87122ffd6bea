#!/usr/bin/python3
"""PHP memory of each worker, from the Laravel fixture's /stats route (stdlib only).

  phpstats.py URL N [PIDS]   rounds of N concurrent GET URL?sleep=300 (each keeps its worker busy
                             300 ms, so N at once reach N different workers), at most 10 rounds,
                             until every pid of PIDS (comma-separated; default: any N) answered.
                             One line per worker: "PID MEMORY MEMORY_REAL RSS_KIB REQUEST_COUNT"
                             (memory_get_usage(), memory_get_usage(true), VmRSS, phpmgr_request_count()
                             or "-" under php-fpm), read inside that request.
"""
import json
import sys
import threading
import urllib.request


def fetch(url, out):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            out.append(json.loads(r.read()))
    except Exception:  # a worker that did not answer is retried next round
        pass


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    url, n = argv[1], int(argv[2])
    want = {int(p) for p in argv[3].split(",") if p} if len(argv) > 3 else set()
    url += ("&" if "?" in url else "?") + "sleep=300"
    seen = {}
    for _ in range(10):
        got = []
        ts = [threading.Thread(target=fetch, args=(url, got)) for _ in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(15)
        for v in got:
            seen.setdefault(int(v["pid"]), v)
        if (want and want <= set(seen)) or (not want and len(seen) >= n):
            break
    for pid in sorted(seen):
        v = seen[pid]
        rc = v.get("request_count")
        print("%d %d %d %d %s" % (pid, v["memory"], v["memory_real"], v["rss_kib"], "-" if rc is None else rc))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
