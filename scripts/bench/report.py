#!/usr/bin/python3
"""Turns scripts/bench.sh's records into the tables it prints (stdlib only).

  report.py parse WRK_OUTPUT_FILE    one line: rps requests p50_ms p99_ms non2xx socket_errors
  report.py table RECORDS_TSV        the result tables (Markdown, readable on a terminal too)

RECORDS_TSV lines (tab-separated), written by bench.sh:
  run   SIDE ROW CONNS KIND WRK_FILE MASTER_TICKS MASTER_NS CLK_TCK [QUEUE]
        KIND: measured | warmup; QUEUE: the most connections seen waiting in the PHP server's
        accept queue (listen socket Recv-Q) at 1/4, 1/2 and 3/4 of the run
  mem   SIDE PHASE ROLE PID RSS_KB PSS_KB PRIVATE_KB                    ROLE: master | worker
  pmem  SIDE PHASE PID MEMORY MEMORY_REAL RSS_KIB REQUEST_COUNT      PHP's view of a Laravel worker (/stats)
        PHASE (with mem SIDE lfpm / lmgr): before | warm | after        laravel-memory's samples
  memrun SIDE WRK_FILE REQUESTS                                      one part of the laravel-memory load
  na    SIDE REASON                                                      a side that did not run
  param NAME VALUE                                                   max_requests: the recycling paths' setting
SIDE: fpm (nginx->php-fpm, fastcgi_pass), fpm_unix / mgr_unix (over a unix socket), mgr (nginx->phpmgr, fastcgi_pass),
      mgr_proxy (nginx->phpmgr, proxy_pass), mgr_http (wrk->phpmgr, direct HTTP);
      fpm_mr, mgr_mr, mgr_http_mr: fpm, mgr, mgr_http with pm.max_requests set (worker recycling);
      resident rows: rmgr / rmgr_http (phpmgr resident hello world, nginx fastcgi_pass / direct HTTP, against
      fpm's hello.php), lfpm (nginx→php-fpm, Laravel fixture), lmgr / lmgr_http (phpmgr-laravel, nginx fastcgi_pass /
      direct HTTP).
"""
import re
import sys

SIDES = {
    "fpm": "nginx→php-fpm (fastcgi_pass)",
    "fpm_unix": "nginx→php-fpm (fastcgi_pass, unix socket)",
    "mgr_unix": "nginx→phpmgr (fastcgi_pass, unix socket)",
    "mgr": "nginx→phpmgr (fastcgi_pass)",
    "mgr_proxy": "nginx→phpmgr (proxy_pass)",
    "mgr_http": "wrk→phpmgr (direct HTTP)",
    "fpm_mr": "nginx→php-fpm (fastcgi_pass), pm.max_requests",
    "mgr_mr": "nginx→phpmgr (fastcgi_pass), pm.max_requests",
    "mgr_http_mr": "wrk→phpmgr (direct HTTP), pm.max_requests",
    "rmgr": "nginx→phpmgr resident (fastcgi_pass)",
    "rmgr_http": "wrk→phpmgr resident (direct HTTP)",
    "lfpm": "nginx→php-fpm (Laravel, try_files)",
    "lmgr": "nginx→phpmgr-laravel (fastcgi_pass)",
    "lmgr_http": "wrk→phpmgr-laravel (direct HTTP)",
}
# The resident rows: row -> (the php-fpm baseline side, the phpmgr sides, issue 14's target ratio)
RES_ROWS = {
    "resident": ("fpm", ["rmgr", "rmgr_http"], 4),
    "laravel-json": ("lfpm", ["lmgr", "lmgr_http"], 20),
    "laravel-session": ("lfpm", ["lmgr", "lmgr_http"], 2),
}
RES_ROW_TEXT = {
    "resident": "hello world",
    "laravel-json": "Laravel GET /json",
    "laravel-session": "Laravel GET /session",
}
MR_PAIRS = [("fpm", "fpm_mr"), ("mgr", "mgr_mr"), ("mgr_http", "mgr_http_mr")]
ROW_ORDER = ["hello", "template", "64k", "upload", "noop", "resident", "laravel-json", "laravel-session"]
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def lat_ms(tok):
    m = re.match(r"^([0-9.]+)(us|ms|s|m|h)$", tok)
    if not m:
        return None
    return float(m.group(1)) * UNIT_MS[m.group(2)]


def parse_wrk(path):
    r = {"rps": None, "requests": None, "p50": None, "p99": None, "avg": None, "non2xx": 0, "sockerr": "",
         "errors_total": 0, "ok": False}
    try:
        text = open(path, errors="replace").read()
    except OSError:
        return r
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("Requests/sec:"):
            r["rps"] = float(s.split()[1])
        elif re.match(r"^\d+ requests in ", s):
            r["requests"] = int(s.split()[0])
        elif s.startswith("Latency") and r["avg"] is None:
            r["avg"] = lat_ms(s.split()[1])
        elif s.startswith("50%"):
            r["p50"] = lat_ms(s.split()[1])
        elif s.startswith("99%"):
            r["p99"] = lat_ms(s.split()[1])
        elif s.startswith("Non-2xx or 3xx responses:"):
            r["non2xx"] = int(s.split(":")[1])
        elif s.startswith("Socket errors:"):
            r["sockerr"] = s.split(":", 1)[1].strip()
            r["errors_total"] = sum(int(x) for x in re.findall(r"\d+", r["sockerr"]))
    r["ok"] = r["rps"] is not None and bool(r["requests"])
    # Little's law: requests in flight on average = throughput × mean latency (of completed requests)
    r["inflight"] = r["rps"] * r["avg"] / 1000.0 if r["ok"] and r["avg"] is not None else None
    return r


def fmt_lat(ms):
    if ms is None:
        return "-"
    if ms < 1:
        return "%.0f µs" % (ms * 1000)
    if ms < 100:
        return "%.2f ms" % ms
    return "%.0f ms" % ms


def fmt_rps(v, r=None):
    s = "-" if v is None else ("%.0f" % v)
    if r is not None and (r.get("non2xx") or r.get("errors_total")):
        s += " †"
    return s


def ratio(a, b, digits=2):
    if a is None or b is None or b == 0:
        return "-"
    return "%.*f×" % (digits, a / b)


def table(lines, header, align=None):
    out = ["| " + " | ".join(header) + " |"]
    out.append("|" + "|".join(("---:" if (align and align[i] == "r") else "---") for i in range(len(header))) + "|")
    for l in lines:
        out.append("| " + " | ".join(l) + " |")
    return "\n".join(out)


def load(path):
    runs, mems, na = [], [], {}
    params.clear()
    pmems.clear()
    memruns.clear()
    for raw in open(path):
        f = raw.rstrip("\n").split("\t")
        if f[0] == "run":
            side, row, conns, kind, wf, ticks, ns, clk = f[1:9]
            queue = f[9] if len(f) > 9 and f[9] not in ("", "-") else None
            w = parse_wrk(wf)
            w["queue"] = int(queue) if queue is not None else None
            w.update(side=side, row=row, conns=int(conns), kind=kind, file=wf,
                     ticks=int(ticks) if ticks not in ("", "-") else None,
                     ns=int(ns) if ns not in ("", "-") else None, clk=int(clk) if clk else 100)
            runs.append(w)
        elif f[0] == "mem":
            side, phase, role, pid, rss, pss, priv = f[1:8]
            mems.append(dict(side=side, phase=phase, role=role, pid=pid,
                             rss=None if rss == "-" else int(rss), pss=None if pss == "-" else int(pss),
                             priv=None if priv == "-" else int(priv)))
        elif f[0] == "na":
            na[f[1]] = f[2]
        elif f[0] == "param":
            params[f[1]] = f[2]
        elif f[0] == "pmem":
            side, phase, pid, m, mr, rss, rc = f[1:8]
            pmems[(side, phase, pid)] = dict(memory=int(m), memory_real=int(mr), rss=int(rss),
                                             count=None if rc == "-" else int(rc))
        elif f[0] == "memrun":
            memruns.setdefault(f[1], []).append(dict(parse_wrk(f[2]), target=int(f[3])))
    # the resident rows are in their own table, not in the classic ones
    classic = [r for r in runs if r["row"] not in RES_ROWS]
    resident_runs[:] = [r for r in runs if r["row"] in RES_ROWS]
    return classic, mems, na


params = {}
pmems = {}          # (side, phase, pid) -> PHP's memory figures from /stats
memruns = {}        # side -> the laravel-memory load's parts (wrk result + wanted request count)
resident_runs = []  # the runs of the resident rows


def resident_table(runs, na):
    """Resident mode against php-fpm: each phpmgr path's req/s over the row's php-fpm baseline."""
    meas = {(r["side"], r["row"], r["conns"]): r for r in runs if r["kind"] == "measured"}
    keys = sorted({(r["row"], r["conns"]) for r in meas.values()},
                  key=lambda k: (ROW_ORDER.index(k[0]), k[1]))
    ok = lambda r: r is not None and r["ok"]
    hdr = ["row", "conns", "php-fpm req/s", "p50", "p99"]
    for label in ("nginx→phpmgr (fastcgi_pass)", "wrk→phpmgr (direct HTTP)"):
        hdr += [label + " req/s", "p50", "p99", "× php-fpm"]
    hdr.append("target")
    lines = []
    for row, c in keys:
        base_side, sides, target = RES_ROWS[row]
        base = meas.get((base_side, row, c))
        cells = [RES_ROW_TEXT[row], str(c)]
        cells += ([fmt_rps(base["rps"], base), fmt_lat(base["p50"]), fmt_lat(base["p99"])] if ok(base)
                  else [na.get(base_side, "failed" if base else "not run"), "", ""])
        for s in sides:
            r = meas.get((s, row, c))
            if ok(r):
                cells += [fmt_rps(r["rps"], r), fmt_lat(r["p50"]), fmt_lat(r["p99"]),
                          ratio(r["rps"], base["rps"], 1) if ok(base) else "-"]
            else:
                cells += [na.get(s, "failed" if r else "not run"), "", "", "-"]
        cells.append("≥ %d×" % target)
        lines.append(cells)
    return table(lines, hdr, "llrrr" + "rrrr" * 2 + "r")


def laravel_mem_table(mems):
    """Each Laravel worker at the laravel-memory samples: /proc and PHP's own figures."""
    rows = {}
    for m in mems:
        if m["side"] in ("lfpm", "lmgr") and m["role"] == "worker":
            rows.setdefault((m["side"], m["pid"]), {})[m["phase"]] = m
    for side, phase, pid in pmems:
        rows.setdefault((side, pid), {})
    phases = ("before", "warm", "after")
    mib = lambda kb: "-" if kb is None else "%.1f" % (kb / 1024)
    mib_b = lambda b: "-" if b is None else "%.1f" % (b / 1048576)

    def delta(a, b, scale):
        return "-" if a is None or b is None else "%+.2f" % ((b - a) / scale)

    lines = []
    for side, pid in sorted(rows, key=lambda k: (k[0] != "lfpm", int(k[1]))):
        ph = rows[(side, pid)]
        pm = {p: pmems.get((side, p, pid), {}) for p in phases}
        rss = [ph.get(p, {}).get("rss") for p in phases]
        pss = [ph.get(p, {}).get("pss") for p in phases]
        mem = [pm[p].get("memory") for p in phases]
        cnt = ["-" if pm[p].get("count") is None else str(pm[p]["count"]) for p in phases]
        lines.append([SIDES[side].split(" (")[0].replace("nginx→", ""), pid, " / ".join(cnt),
                      " / ".join(mib(v) for v in rss), delta(rss[1], rss[2], 1024),
                      " / ".join(mib(v) for v in pss),
                      " / ".join(mib_b(v) for v in mem), delta(mem[1], mem[2], 1048576),
                      mib_b(pm["after"].get("memory_real"))])
    return table(lines, ["server", "worker pid", "requests served", "VmRSS MiB", "Δ VmRSS warm→after",
                         "Pss MiB", "PHP memory MiB", "Δ PHP memory warm→after", "PHP memory (real) after"],
                 "llrrrrrrr")


def mr_table(runs):
    """Each path with pm.max_requests next to the same path without it."""
    meas = {(r["side"], r["row"], r["conns"]): r for r in runs if r["kind"] == "measured"}
    keys = sorted({(r["row"], r["conns"]) for r in meas.values() if r["side"].endswith("_mr")},
                  key=lambda k: (ROW_ORDER.index(k[0]) if k[0] in ROW_ORDER else 99, k[1]))
    ok = lambda r: r is not None and r["ok"]
    lines = []
    for row, c in keys:
        for base, mr in MR_PAIRS:
            a, b = meas.get((base, row, c)), meas.get((mr, row, c))
            if a is None and b is None:
                continue
            cells = [SIDES[base], row, str(c)]
            for r in (a, b):
                cells += [fmt_rps(r["rps"], r), fmt_lat(r["p99"])] if ok(r) else ["n/a" if r is None else "failed", ""]
            cells.append(ratio(b["rps"], a["rps"]) if ok(a) and ok(b) else "-")
            cells.append(ratio(b["p99"], a["p99"]) if ok(a) and ok(b) else "-")
            lines.append(cells)
    n = params.get("max_requests", "N")
    return table(lines, ["path", "row", "conns", "req/s", "p99", "req/s, max_requests = %s" % n, "p99",
                         "req/s with/without", "p99 with/without"], "lllrrrrrr")


def cpu_us_per_req(r):
    """(from utime+stime ticks, from schedstat ns) in µs per request, or None."""
    if not r["requests"]:
        return None, None
    a = r["ticks"] * 1e6 / r["clk"] / r["requests"] if r["ticks"] is not None else None
    b = r["ns"] / 1e3 / r["requests"] if r["ns"] is not None and r["ns"] >= 0 else None
    return a, b


def fmt_us(v):
    return "-" if v is None else ("%.1f" % v if v < 100 else "%.0f" % v)


def main_table(runs, na):
    meas = {(r["side"], r["row"], r["conns"]): r for r in runs if r["kind"] == "measured"}
    keys = sorted({(r["row"], r["conns"]) for r in runs if r["kind"] == "measured" and r["row"] != "noop"},
                  key=lambda k: (ROW_ORDER.index(k[0]) if k[0] in ROW_ORDER else 99, k[1]))
    out = []
    hdr = ["row", "conns", "php-fpm req/s", "p50", "p99", "phpmgr req/s", "p50", "p99",
           "req/s phpmgr/fpm", "p99 phpmgr/fpm", "phpmgr master µs/req"]
    lines = []
    for row, c in keys:
        a = meas.get(("fpm", row, c))
        b = meas.get(("mgr", row, c))
        cells = [row, str(c)]
        for r, side in ((a, "fpm"), (b, "mgr")):
            if r and r["ok"]:
                cells += [fmt_rps(r["rps"], r), fmt_lat(r["p50"]), fmt_lat(r["p99"])]
            else:
                cells += ["n/a", "", ""] if side in na else ["failed" if r else "not run", "", ""]
        ok = a and b and a["ok"] and b["ok"]
        cells.append(ratio(b["rps"], a["rps"]) if ok else "-")
        cells.append(ratio(b["p99"], a["p99"]) if ok else "-")
        cells.append(fmt_us(cpu_us_per_req(b)[1] if cpu_us_per_req(b)[1] is not None else cpu_us_per_req(b)[0])
                     if b and b["ok"] else "-")
        lines.append(cells)
    out.append(table(lines, hdr, "llrrrrrrrrr"))
    return "\n".join(out)


def http_table(runs, na):
    out = []
    meas = {(r["side"], r["row"], r["conns"]): r for r in runs if r["kind"] == "measured"}
    for side in ("mgr_proxy", "mgr_http"):
        if side in na:
            out.append("%-32s %s" % (SIDES[side] + ":", na[side]))
    live = [s for s in ("mgr_proxy", "mgr_http") if s not in na
            and any(r["side"] == s for r in runs)]  # (BENCH_ONLY may leave one out)
    if live:
        keys = sorted({(r["row"], r["conns"]) for r in runs if r["kind"] == "measured" and r["side"] in live},
                      key=lambda k: (ROW_ORDER.index(k[0]) if k[0] in ROW_ORDER else 99, k[1]))
        hdr = ["row", "conns"]
        for s in live:
            hdr += [SIDES[s] + " req/s", "p50", "p99", "req/s vs php-fpm"]
        lines = []
        for row, c in keys:
            if row == "noop":
                continue
            base = meas.get(("fpm", row, c))
            cells = [row, str(c)]
            for s in live:
                r = meas.get((s, row, c))
                if r and r["ok"]:
                    cells += [fmt_rps(r["rps"], r), fmt_lat(r["p50"]), fmt_lat(r["p99"]),
                              ratio(r["rps"], base["rps"]) if base and base["ok"] else "-"]
                else:
                    cells += ["failed", "", "", "-"]
            lines.append(cells)
        out.append(table(lines, hdr))
    return "\n".join(out)


def ref_table(runs):
    meas = {(r["side"], r["row"], r["conns"]): r for r in runs if r["kind"] == "measured"}
    keys = sorted({(r["row"], r["conns"]) for r in runs
                   if r["kind"] == "measured" and r["side"] in ("fpm_unix", "mgr_unix") and r["row"] != "noop"},
                  key=lambda k: (ROW_ORDER.index(k[0]) if k[0] in ROW_ORDER else 99, k[1]))
    if not keys:
        return ""
    ok = lambda r: r is not None and r["ok"]
    lines = []
    for row, c in keys:
        fu, mu = meas.get(("fpm_unix", row, c)), meas.get(("mgr_unix", row, c))
        ft, mt = meas.get(("fpm", row, c)), meas.get(("mgr", row, c))
        cells = [row, str(c)]
        for r in (fu, mu):
            cells += [fmt_rps(r["rps"], r), fmt_lat(r["p50"]), fmt_lat(r["p99"])] if ok(r) else ["n/a", "", ""]
        cells.append(ratio(mu["rps"], fu["rps"]) if ok(mu) and ok(fu) else "-")
        cells.append(ratio(mu["p99"], fu["p99"]) if ok(mu) and ok(fu) else "-")
        cells.append(ratio(ft["rps"], fu["rps"]) if ok(ft) and ok(fu) else "-")
        cells.append(ratio(mt["rps"], mu["rps"]) if ok(mt) and ok(mu) else "-")
        lines.append(cells)
    return table(lines, ["row", "conns", "php-fpm req/s", "p50", "p99", "phpmgr req/s", "p50", "p99",
                         "req/s phpmgr/fpm", "p99 phpmgr/fpm", "php-fpm req/s TCP/unix",
                         "phpmgr req/s TCP/unix"], "llrrrrrrrrrr")


def conc_table(runs):
    """Served concurrency per path: Little's law and the PHP server's accept queue."""
    meas = {(r["side"], r["row"], r["conns"]): r for r in runs if r["kind"] == "measured"}
    sides = [s for s in ("fpm", "mgr", "fpm_unix", "mgr_unix", "mgr_proxy", "mgr_http")
             if any(r["side"] == s for r in meas.values())]
    keys = sorted({(r["row"], r["conns"]) for r in meas.values() if r["row"] != "noop"},
                  key=lambda k: (ROW_ORDER.index(k[0]) if k[0] in ROW_ORDER else 99, k[1]))
    hdr = ["row", "conns"]
    for s in sides:
        hdr += [SIDES[s] + ": in flight", "accept queue"]
    lines = []
    for row, c in keys:
        cells = [row, str(c)]
        for s in sides:
            r = meas.get((s, row, c))
            if r and r["ok"]:
                cells += ["%.1f" % r["inflight"] if r["inflight"] is not None else "-",
                          "-" if r.get("queue") is None else str(r["queue"])]
            else:
                cells += ["-", "-"]
        lines.append(cells)
    return table(lines, hdr, "ll" + "r" * (len(hdr) - 2))


def cpu_table(runs, na):
    lines = []
    for side in ("fpm", "mgr", "mgr_proxy", "mgr_http"):
        if side in na:
            if side in ("fpm", "mgr"):
                lines.append([SIDES[side], "n/a", "", "", "", ""])
            continue
        for r in runs:
            if r["kind"] == "measured" and r["row"] == "noop" and r["side"] == side:
                a, b = cpu_us_per_req(r)
                lines.append([SIDES[side], str(r["conns"]), str(r["requests"]), fmt_rps(r["rps"]),
                              fmt_us(a), fmt_us(b)])
    return table(lines, ["path (no-op script)", "conns", "requests", "req/s",
                         "master µs/req (utime+stime)", "master µs/req (schedstat)"], "lrrrrr")


def mem_table(mems, na):
    lines = []
    groups = {}
    for m in mems:
        groups.setdefault((m["side"], m["phase"], m["role"]), []).append(m)

    def avg(ms, k):
        v = [m[k] for m in ms if m[k] is not None]
        return "%.1f MiB" % (sum(v) / len(v) / 1024) if v else "-"

    for side in ("fpm", "mgr"):
        for phase in ("fresh", "after-load"):
            w = groups.get((side, phase, "worker"), [])
            ms = groups.get((side, phase, "master"), [])
            if not w and not ms:
                continue
            lines.append([SIDES[side].split(" ")[0].replace("nginx→", ""), phase, str(len(w)),
                          avg(w, "rss"), avg(w, "pss"), avg(w, "priv"),
                          avg(ms, "rss"), avg(ms, "pss")])
    return table(lines, ["server", "when", "workers", "worker VmRSS (avg)", "worker Pss (avg)",
                         "worker private (avg)", "master VmRSS", "master Pss"], "llrrrrrr")


def problems(runs):
    out = []
    for r in runs:
        bad = []
        if not r["ok"]:
            bad.append("no completed request (wrk output: %s)" % r["file"] if r["requests"] == 0
                       else "wrk produced no result (see %s)" % r["file"])
        if r["non2xx"]:
            bad.append("Non-2xx or 3xx responses: %d" % r["non2xx"])
        if r["errors_total"]:
            bad.append("Socket errors: %s" % r["sockerr"])
        if bad:
            out.append("- %s %s c=%d (%s): %s" % (SIDES.get(r["side"], r["side"]), r["row"], r["conns"],
                                                  r["kind"], "; ".join(bad)))
    return out


def main(argv):
    if len(argv) == 3 and argv[1] == "parse":
        r = parse_wrk(argv[2])
        print("%s %s %s %s %d %s %s" % (r["rps"], r["requests"], r["p50"], r["p99"], r["non2xx"],
                                        r["sockerr"].replace(" ", "") or "none", r["inflight"]))
        return 0
    if len(argv) == 3 and argv[1] == "table":
        runs, mems, na = load(argv[2])
        # the classic tables only when a classic row ran (BENCH_ONLY may leave only the resident rows)
        classic = any(r["kind"] == "measured" and r["row"] != "noop" for r in runs)
        if classic:
            print("### Throughput and latency (FastCGI paths)\n")
            print(main_table(runs, na))
            if "mgr" in na:
                print("\nphpmgr: " + na["mgr"])
            print("\nratios: req/s above 1× and p99 below 1× favour phpmgr. "
                  "\"phpmgr master µs/req\": the master's on-CPU time during that run / requests.\n"
                  "† wrk reported non-2xx responses or socket errors for that run (see \"wrk errors\" below); "
                  "p50/p99 only cover completed requests, so a path that leaves connections waiting "
                  "(wrk \"timeout\" counts) looks faster than it is.\n")
            ref = ref_table(runs)
            if ref:
                print("### Reference: both over a unix socket (nginx→php-fpm / nginx→phpmgr, fastcgi_pass unix:)\n")
                print(ref)
                print()
            print("### Connections actually served\n")
            print(conc_table(runs))
            print("\n\"in flight\": req/s × mean latency (Little's law) = how many of the wrk connections had a "
                  "request being served on average; well below \"conns\" means the rest waited (wrk never reports "
                  "a request that gets no answer before the run ends, so they are missing from p50/p99). "
                  "\"accept queue\": the most connections seen waiting, not yet accepted, on the PHP server's "
                  "listen socket during the run.\n")
        if any(r["side"].endswith("_mr") for r in runs):
            print("### pm.max_requests = %s (workers recycled) vs the same pool without it\n"
                  % params.get("max_requests", "?"))
            print(mr_table(runs))
            print("\nThe same workers and script; each worker exits after that many requests and is "
                  "replaced. Within 10% (ratio ≥ 0.90×) is the goal: a planned exit must be respawned "
                  "at once, not after a crash back-off.\n")
        if resident_runs:
            print("### Resident mode (issue 14): phpmgr resident and phpmgr-laravel against php-fpm\n")
            print(resident_table(resident_runs, na))
            print("\nThe same number of workers on every side. \"hello world\": tests/fixtures/bench/resident.php "
                  "(a resident loop printing hello.php's answer) against php-fpm running hello.php. Laravel: "
                  "tests/fixtures/laravel, one app copy; php-fpm boots the framework for every request, "
                  "phpmgr-laravel once per worker. /session: returning clients, each request carries the cookie of "
                  "an existing file session (read and written back). \"target\": issue 14's goal for "
                  "\"× php-fpm\".\n")
        if memruns or pmems:
            print("### Laravel worker memory before and after %s requests\n" % params.get("mem_requests", "N"))
            for side in ("lfpm", "lmgr"):
                parts = memruns.get(side)
                if not parts:
                    continue
                done = [r["requests"] or 0 for r in parts]
                secs = sum(r["requests"] / r["rps"] for r in parts if r["ok"] and r["rps"])
                bad = sum(r["non2xx"] + r["errors_total"] for r in parts)
                print("- %s: %s requests completed (%s wanted) at %s connections, %s req/s%s" % (
                    SIDES[side], " + ".join(map(str, done)), " + ".join(str(r["target"]) for r in parts),
                    params.get("mem_conns", "?"), fmt_rps(sum(done) / secs if secs else None),
                    "" if not bad else " († %d non-2xx responses or socket errors: see wrk errors)" % bad))
            print()
            print(laravel_mem_table(mems))
            print("\nEach cell \"a / b / c\": right after start-up and the checks / after the first tenth of the "
                  "requests (warm: what the framework loads lazily is loaded) / after all of them. VmRSS / Pss: /proc, "
                  "workers idle. PHP memory: memory_get_usage() (real: memory_get_usage(true), what the Zend "
                  "allocator holds) read inside a /stats request on that worker. Under php-fpm every request starts "
                  "from an empty heap, so its PHP figures are one request's; a resident worker's include the "
                  "framework it keeps. \"requests served\": phpmgr_request_count() (php-fpm: -). A leak shows as "
                  "a Δ warm→after that grows with the number of requests.\n")
        if classic:
            print("### HTTP ingress paths\n")
            print(http_table(runs, na))
            print()
        if any(r["row"] == "noop" for r in runs):
            print("### Master CPU per request (no-op script)\n")
            print(cpu_table(runs, na))
            print()
        print("### Memory per idle worker\n")
        print(mem_table(mems, na))
        print("\n### wrk errors (Non-2xx or 3xx responses, socket errors)\n")
        p = problems(runs + resident_runs)
        print("\n".join(p) if p else "none: every run had only 2xx responses and no socket errors")
        if any("timeout" in x and not x.endswith("timeout 0") for x in p):
            print("\n\"timeout N\" (wrk): at each 2-second check, every connection whose request has been "
                  "outstanding longer than --timeout adds 1; such requests never enter the latency figures.")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
