#!/usr/bin/python3
"""phpmgr's master, talked to directly with a raw FastCGI client (no nginx): connection handling
(keep-conn, GET_VALUES, multiplexing refusal, ABORT_REQUEST, limits, garbage), the CLI (test,
version), the process manager (pm.max_requests, request_terminate_timeout, a worker killed under
load), OPcache in workers, and clean shutdown on SIGTERM and SIGQUIT.

PHPMGR_BIN selects the binary (default build/phpmgr). MASTER_ONLY=regex runs matching cases.
"""

import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

DOCROOT = os.path.join(H.FIXTURES, "www")
ONLY = os.environ.get("MASTER_ONLY")
MAX_CHILDREN = 4


def params(script, query="", method="GET", body_len=None, ctype="", port=80, extra=None):
    return H.php_params(DOCROOT, script, query=query, method=method, content_type=ctype,
                        content_length=body_len, server_port=port, extra=extra)


def expect_ok(res, body_re=None, what="request"):
    """None when res is a complete 200 response (matching body_re), else a failure text."""
    if not res.ended:
        return "%s: no END_REQUEST (eof=%s, stdout %r)" % (what, res.eof, res.stdout[:200])
    if res.protocol_status != H.FCGI_REQUEST_COMPLETE:
        return "%s: protocolStatus %s" % (what, res.protocol_status)
    status, _, body = res.cgi()
    if status != 200:
        return "%s: status %s, stdout %r, stderr %r" % (what, status, res.stdout[:300],
                                                       res.stderr[:300])
    if body_re and not re.search(body_re, body):
        return "%s: body %r does not match %r" % (what, body[:300], body_re)
    return None


def get_pid(res):
    m = re.search(rb"pid=(\d+)", res.stdout)
    return int(m.group(1)) if m else None


class Ctx:
    pass


# --------------------------------------------------------------------------------------------
# FastCGI connection handling (instance A)

def t_single_request(c):
    res = H.fcgi_request(c.a.port, params("/echo.php", "marker=one"))
    err = expect_ok(res, rb"marker=one\n")
    if err:
        return err
    status, hdrs, _ = res.cgi()
    names = [k.lower() for k, _ in hdrs]
    if "x-echo" not in names or "content-type" not in names:
        return "headers missing from %r" % hdrs
    if res.app_status != 0:
        return "appStatus %s, expected 0" % res.app_status
    return None


def t_non_keep_conn_closes(c):
    with H.FcgiConn(c.a.port) as fc:
        res = fc.request(params("/echo.php", "marker=nk"), keep_conn=False)
        err = expect_ok(res, rb"marker=nk")
        if err:
            return err
        if res.eof:
            return None  # closed right with the END_REQUEST
        if not fc.wait_closed(5.0):
            return "connection still open 5 s after END_REQUEST without FCGI_KEEP_CONN"
    return None


def t_keep_conn_reuse(c):
    with H.FcgiConn(c.a.port) as fc:
        for i, rid in enumerate((1, 1, 7)):
            body = b"x" * (i * 1000)
            res = fc.request(params("/echo.php", "marker=k%d" % i, "POST", len(body),
                                    "application/octet-stream"), body, req_id=rid,
                             keep_conn=True)
            err = expect_ok(res, rb"marker=k%d\n" % i, "request %d (id %d)" % (i + 1, rid))
            if err:
                return err
            if res.eof:
                return "connection closed after request %d despite FCGI_KEEP_CONN" % (i + 1)
            ids = {r.req_id for r in res.records}
            if ids != {rid}:
                return "request %d: records carry ids %s, expected only %d" % (i + 1, ids, rid)
        # still open and usable: a fourth exchange
        res = fc.request(params("/echo.php", "marker=k4"), req_id=2, keep_conn=False)
        return expect_ok(res, rb"marker=k4", "request 4")


def t_keep_conn_many(c):
    """100 requests back to back on one keep-conn connection."""
    with H.FcgiConn(c.a.port) as fc:
        for i in range(100):
            res = fc.request(params("/echo.php", "marker=m%d" % i), keep_conn=True, timeout=10)
            err = expect_ok(res, rb"marker=m%d\n" % i, "request %d" % i)
            if err:
                return err
    return None


def t_get_values(c):
    with H.FcgiConn(c.a.port) as fc:
        vals = fc.get_values(("FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS"))
        if vals is None:
            return "connection closed instead of a GET_VALUES_RESULT"
        if vals.get("FCGI_MPXS_CONNS") != "0":
            return "FCGI_MPXS_CONNS = %r, expected '0' (%r)" % (vals.get("FCGI_MPXS_CONNS"), vals)
        for k in ("FCGI_MAX_CONNS", "FCGI_MAX_REQS"):
            if not (vals.get(k) or "").isdigit() or int(vals[k]) < 1:
                return "%s = %r, expected a positive number (%r)" % (k, vals.get(k), vals)
        # an unknown name is left out of the answer
        vals2 = fc.get_values(("FCGI_NO_SUCH_VALUE", "FCGI_MPXS_CONNS"))
        if vals2 is None or "FCGI_NO_SUCH_VALUE" in vals2 or vals2.get("FCGI_MPXS_CONNS") != "0":
            return "second GET_VALUES answered %r" % (vals2,)
        # the connection still serves a request afterwards
        res = fc.request(params("/echo.php", "marker=gv"), keep_conn=False)
        return expect_ok(res, rb"marker=gv", "request after GET_VALUES")


def t_unknown_type(c):
    """A management record of an unknown type gets FCGI_UNKNOWN_TYPE (FastCGI 1.0, 4.2)."""
    with H.FcgiConn(c.a.port) as fc:
        fc.send(H.fcgi_record(42, 0, b""))
        try:
            rec = fc.read_record(5.0)
        except socket.timeout:
            return "no answer within 5 s"
        if rec is None:
            return "connection closed instead of FCGI_UNKNOWN_TYPE"
        if rec.type != H.FCGI_UNKNOWN_TYPE or rec.content[:1] != b"\x2a":
            return "answered %r content %r" % (rec, rec.content)
        res = fc.request(params("/echo.php", "marker=ut"), keep_conn=False)
        return expect_ok(res, rb"marker=ut", "request after UNKNOWN_TYPE")


def t_unknown_role(c):
    """A role other than RESPONDER is refused with FCGI_UNKNOWN_ROLE, as php-fpm does."""
    with H.FcgiConn(c.a.port) as fc:
        fc.send(H.fcgi_record(H.FCGI_BEGIN_REQUEST, 1, struct.pack("!HB5x", 2, 0)))  # AUTHORIZER
        fc.params(1, params("/echo.php"))
        fc.stdin(1, b"")
        try:
            res = fc.read_response(1, 5.0)
        except socket.timeout:
            return "no answer within 5 s"
        if res.eof and not res.ended:
            return None  # closing is an acceptable refusal too
        if res.protocol_status != H.FCGI_UNKNOWN_ROLE:
            return "protocolStatus %s, stdout %r" % (res.protocol_status, res.stdout[:200])
    return None


def t_cant_mpx(c):
    """A second BEGIN_REQUEST (other id) while the first request's STDIN is still arriving
    (interleaved, i.e. multiplexed): refused with CANT_MPX_CONN at once, and the first request
    still completes."""
    with H.FcgiConn(c.a.port) as fc:
        fc.begin(1, keep_conn=True)
        fc.params(1, params("/echo.php", "marker=first", method="POST", body_len=4))
        fc.stdin(1, b"ab", terminate=False)
        fc.begin(2, keep_conn=True)
        fc.params(2, params("/echo.php", "marker=second"))
        fc.stdin(2, b"")
        dl = H.Deadline(10)
        rec = fc.read_record(dl.left())
        if rec is None or rec.type != H.FCGI_END_REQUEST or rec.req_id != 2:
            return "expected an END_REQUEST for id 2 first, got %r" % (rec,)
        if rec.end_request()[1] != H.FCGI_CANT_MPX_CONN:
            return "second id ended with protocolStatus %s, expected 1 (CANT_MPX_CONN)" % (
                rec.end_request()[1],)
        fc.stdin(1, b"cd")
        res = fc.read_response(1, timeout=dl.left())
        return expect_ok(res, rb"marker=first", "first request")


def t_pipelined_second(c):
    """A second request sent complete on a kept connection before the first one's answer
    (pipelined, not interleaved): served after the first, in order, as php-fpm does."""
    with H.FcgiConn(c.a.port) as fc:
        fc.begin(1, keep_conn=True)
        fc.params(1, params("/sleep.php", "ms=300"))
        fc.stdin(1, b"")
        fc.begin(2, keep_conn=True)
        fc.params(2, params("/echo.php", "marker=second"))
        fc.stdin(2, b"")
        dl = H.Deadline(10)
        order, out = [], {1: [], 2: []}
        while len(order) < 2 and not dl.expired():
            rec = fc.read_record(dl.left())
            if rec is None:
                return "connection closed after END_REQUESTs %s" % order
            if rec.type == H.FCGI_END_REQUEST:
                if rec.end_request()[1] != H.FCGI_REQUEST_COMPLETE:
                    return "id %d ended with protocolStatus %s" % (rec.req_id,
                                                                   rec.end_request()[1])
                order.append(rec.req_id)
            elif rec.type == H.FCGI_STDOUT and rec.req_id in out:
                if 2 in out and rec.req_id == 1 and out[2]:
                    return "outputs interleaved"
                out[rec.req_id].append(rec.content)
        if order != [1, 2]:
            return "END_REQUEST order %s, expected [1, 2]" % order
        if not b"".join(out[1]).split(b"\r\n\r\n", 1)[-1].startswith(b"slept 300ms"):
            return "first output %r" % b"".join(out[1])[:200]
        if b"marker=second" not in b"".join(out[2]):
            return "second output %r" % b"".join(out[2])[:200]
    return None


def t_abort_before_dispatch(c):
    """ABORT_REQUEST while the request is still incomplete (STDIN open)."""
    with H.FcgiConn(c.a.port) as fc:
        fc.begin(1, keep_conn=True)
        fc.params(1, params("/echo.php", "marker=ab", "POST", 100, "text/plain"))
        fc.stdin(1, b"partial", terminate=False)
        fc.abort(1)
        try:
            res = fc.read_response(1, 5.0)
        except socket.timeout:
            return "neither END_REQUEST nor close within 5 s after ABORT_REQUEST"
        if res.ended and not res.eof:
            # the connection must still serve the next request
            r2 = fc.request(params("/echo.php", "marker=after-abort"), req_id=1, keep_conn=False)
            err = expect_ok(r2, rb"marker=after-abort", "request after abort on same connection")
            if err:
                return err
    return expect_ok(H.fcgi_request(c.a.port, params("/echo.php", "marker=fresh")),
                     rb"marker=fresh", "fresh connection after abort")


def t_abort_running(c):
    """ABORT_REQUEST while the script runs: END_REQUEST or a clean close, no hang."""
    with H.FcgiConn(c.a.port) as fc:
        fc.begin(1, keep_conn=True)
        fc.params(1, params("/sleep.php", "ms=1500"))
        fc.stdin(1, b"")
        time.sleep(0.3)
        fc.abort(1)
        try:
            res = fc.read_response(1, 6.0)
        except socket.timeout:
            return "neither END_REQUEST nor close within 6 s after ABORT_REQUEST"
        if res.ended and not res.eof:
            r2 = fc.request(params("/echo.php", "marker=after-abort2"), keep_conn=False)
            err = expect_ok(r2, rb"marker=after-abort2", "request after abort on same connection")
            if err:
                return err
    return expect_ok(H.fcgi_request(c.a.port, params("/echo.php", "marker=fresh2")),
                     rb"marker=fresh2", "fresh connection after abort")


def t_oversized_params(c):
    """4 MiB of PARAMS (64 records of ~64 KiB): refused, the script never runs, no hang."""
    with H.FcgiConn(c.a.port) as fc:
        fc.begin(1, keep_conn=False)
        p = params("/echo.php", "marker=oversized")
        blob = b"".join(H.fcgi_nv(k, v) for k, v in p)
        pad = H.fcgi_nv("HTTP_X_PAD", "p" * 60000)
        sent_ok = True
        try:
            fc.send(H.fcgi_stream(H.FCGI_PARAMS, 1, blob, terminate=False))
            for i in range(70):
                fc.send(H.fcgi_record(H.FCGI_PARAMS, 1, H.fcgi_nv("HTTP_X_PAD%d" % i, "p" * 60000)))
            fc.send(H.fcgi_record(H.FCGI_PARAMS, 1, b""))
            fc.stdin(1, b"")
        except (BrokenPipeError, ConnectionResetError):
            sent_ok = False  # refused while we were still sending: fine
        del pad
        if sent_ok:
            try:
                res = fc.read_response(1, 8.0)
            except socket.timeout:
                return "no answer and no close within 8 s"
            if b"marker=oversized" in res.stdout:
                return "the script ran with 4 MiB of params (no limit enforced)"
            if res.ended and res.cgi()[0] == 200:
                return "answered 200: %r" % res.stdout[:200]
    return expect_ok(H.fcgi_request(c.a.port, params("/echo.php", "marker=after-big")),
                     rb"marker=after-big", "request after the oversized one")


def t_big_params_accepted(c):
    """100 KiB of params (a big cookie and many headers, as nginx may send) is still served."""
    extra = [("HTTP_COOKIE", "c=" + "v" * 60000)] + [("HTTP_X_H%d" % i, "h" * 400)
                                                     for i in range(100)]
    res = H.fcgi_request(c.a.port, params("/echo.php", "marker=bigparams", extra=extra))
    return expect_ok(res, rb"marker=bigparams\n")


def _closed_after(port, data):
    with H.FcgiConn(port) as fc:
        try:
            fc.send(data)
        except (BrokenPipeError, ConnectionResetError):
            return None
        dl = H.Deadline(5)
        while not dl.expired():
            try:
                rec = fc.read_record(dl.left())
            except socket.timeout:
                break
            except OSError:
                return None
            if rec is None:
                return None
            if rec.type == H.FCGI_STDOUT and rec.content:
                return "got output for a garbage stream: %r" % rec.content[:100]
        return "connection still open 5 s after garbage"


def t_garbage_version(c):
    bad = H.fcgi_record(H.FCGI_BEGIN_REQUEST, 1, struct.pack("!HB5x", 1, 0), version=2)
    err = _closed_after(c.a.port, bad + H.fcgi_params_bytes(1, params("/echo.php"), True))
    if err:
        return "version 2 record: " + err
    err = _closed_after(c.a.port, b"GET /echo.php HTTP/1.1\r\nHost: x\r\n\r\n")
    if err:
        return "an HTTP request on the FastCGI port: " + err
    err = _closed_after(c.a.port, b"\x01\x01\x00\x01\x00\x08\x00\x00" + b"\x00\x01\x00"
                        + b"\x00" * 5 + b"\xff" * 64)
    if err:
        return "a valid BEGIN_REQUEST followed by 0xff bytes: " + err
    return expect_ok(H.fcgi_request(c.a.port, params("/echo.php", "marker=after-garbage")),
                     rb"marker=after-garbage", "request after the garbage")


def t_large_stdin(c):
    body = bytes((i * 7) & 0xFF for i in range(3 << 20))
    import hashlib
    res = H.fcgi_request(c.a.port, params("/echo.php", "marker=big", "POST", len(body),
                                          "application/octet-stream"), body, timeout=20)
    return expect_ok(res, rb"input=%d sha1=%s" % (len(body), hashlib.sha1(body).hexdigest().encode()))


def t_stderr_stream(c):
    res = H.fcgi_request(c.a.port, params("/stderr.php"))
    err = expect_ok(res, rb"logged")
    if err:
        return err
    if b"phpmgr-test-stderr-marker" not in res.stderr:
        return "error_log() text not on FCGI_STDERR (stderr %r)" % res.stderr[:300]
    return None


def t_catch_workers_output(c):
    res = H.fcgi_request(c.a.port, params("/stderr_raw.php"))
    err = expect_ok(res, rb"pid=\d+")
    if err:
        return err
    pid = get_pid(res)
    want = re.compile(r'WARNING: \[pool www\] child %d said into stderr: "phpmgr-catch-marker %d"'
                      % (pid, pid))
    if not H.wait_until(lambda: want.search(H.read_text(c.a.error_log)), 5):
        return "no php-fpm style line matching %r in the error_log; tail:\n%s" % (
            want.pattern, H.read_text(c.a.error_log)[-1500:])
    return None


def t_opcache(c):
    H.require_extensions("opcache")
    res = H.fcgi_request(c.a.port, params("/opcache.php"))
    return expect_ok(res, rb"sapi=fpm-fcgi\nopcache_enabled=true\n")


def t_static_children(c):
    kids = H.wait_until(lambda: len(H.proc_live_children(c.a.pid)) == MAX_CHILDREN and
                        H.proc_live_children(c.a.pid), 10)
    if not kids:
        return "master %d has children %s, expected %d workers" % (
            c.a.pid, H.proc_live_children(c.a.pid), MAX_CHILDREN)
    # and each of them serves: MAX_CHILDREN concurrent slow requests land on distinct workers
    pids = distinct_worker_pids(c.a.port, MAX_CHILDREN)
    if pids is None or len(pids) != MAX_CHILDREN:
        return "concurrent requests saw worker pids %s" % (pids,)
    if not pids <= set(kids):
        return "responding pids %s are not the master's children %s" % (pids, kids)
    return None


def distinct_worker_pids(port, n, ms=400):
    res = H.run_parallel(lambda i: H.fcgi_request(port, params("/pid.php", "ms=%d" % ms),
                                                  timeout=15),
                         [(i,) for i in range(n)], threads=n, timeout=30)
    pids = set()
    for ok, r in res:
        if not ok or expect_ok(r, rb"pid=\d+"):
            return None
        pids.add(get_pid(r))
    return pids


# --------------------------------------------------------------------------------------------
# process manager

def t_terminate_timeout(c):
    """request_terminate_timeout = 2s, script sleeps 30 s: an error response within a bounded
    time, then the pool serves again with its full set of workers."""
    before = set(H.proc_live_children(c.a.pid))
    t0 = time.monotonic()
    try:
        with H.FcgiConn(c.a.port, timeout=15) as fc:
            res = fc.request(params("/sleep.php", "s=30"), timeout=12)
    except socket.timeout:
        return "no response and no close within 12 s (timeout is 2 s)"
    dt = time.monotonic() - t0
    if dt < 1.5:
        return "answered after %.2fs, before the 2 s timeout: %r" % (dt, res)
    if b"slept" in res.stdout:
        return "the script was not stopped: %r" % res.stdout[:200]
    status = res.cgi()[0] if res.stdout else None
    if not (res.ended and status is not None and 500 <= status <= 599):
        return ("expected an error response (Status 5xx + END_REQUEST) after %.1fs, got %r "
                "stdout %r" % (dt, res, res.stdout[:200]))
    # php-fpm's log line, which alert rules match on
    want = re.compile(r"WARNING: \[pool www\] child \d+, script '%s/sleep.php' \(request: "
                      r'"GET /sleep.php\?s=30"\) execution timed out \([\d.]+ sec\), terminating'
                      % re.escape(DOCROOT))
    if not H.wait_until(lambda: want.search(H.read_text(c.a.error_log)), 5):
        c.timeout_log = "no line matching %r; log tail:\n%s" % (
            want.pattern, H.read_text(c.a.error_log)[-1500:])
    else:
        c.timeout_log = None
    err = expect_ok(H.fcgi_request(c.a.port, params("/echo.php", "marker=after-timeout")),
                    rb"marker=after-timeout", "request after the timeout")
    if err:
        return err
    ok = H.wait_until(lambda: len(H.proc_live_children(c.a.pid)) == MAX_CHILDREN, 10)
    if not ok:
        return "workers after the timeout: %s (before %s)" % (H.proc_live_children(c.a.pid),
                                                               sorted(before))
    return None


def t_kill9_under_load(c):
    """8 threads x 50 requests; one worker gets SIGKILL mid-way. Every request finishes (at most
    the one in flight on the killed worker fails), the worker is replaced, the master serves."""
    seen = {}
    seen_lock = threading.Lock()
    killed = {}
    total = 8 * 50

    def worker(t):
        outcomes = []
        fc = None
        for i in range(50):
            keep = t % 2 == 0  # half the threads reuse one keep-conn connection
            try:
                if fc is None:
                    fc = H.FcgiConn(c.a.port, timeout=10)
                res = fc.request(params("/pid.php", "ms=5"), keep_conn=keep, timeout=10)
                if not keep or res.eof:
                    fc.close()
                    fc = None
            except (socket.timeout, OSError) as e:
                outcomes.append(("error", "%s: %s" % (type(e).__name__, e)))
                if fc:
                    fc.close()
                fc = None
                continue
            pid = get_pid(res)
            if expect_ok(res, rb"pid=\d+") is None and pid:
                outcomes.append(("ok", pid))
                with seen_lock:
                    seen[pid] = seen.get(pid, 0) + 1
            else:
                outcomes.append(("bad", "%r status %s" % (res, res.cgi()[0] if res.stdout else None)))
        if fc:
            fc.close()
        return outcomes

    def killer():
        dl = H.Deadline(20)
        while not dl.expired():
            with seen_lock:
                n = sum(seen.values())
                cand = [p for p, k in seen.items() if k >= 3]
            if n >= 60 and cand:
                victim = cand[0]
                killed["pid"] = victim
                killed["identity"] = H.proc_identity(victim)
                try:
                    os.kill(victim, signal.SIGKILL)
                except ProcessLookupError:
                    killed["error"] = "already gone"
                return
            time.sleep(0.01)

    kt = threading.Thread(target=killer, daemon=True)
    kt.start()
    t0 = time.monotonic()
    results = H.run_parallel(worker, [(t,) for t in range(8)], threads=8, timeout=90)
    kt.join(5)
    dt = time.monotonic() - t0
    if "pid" not in killed:
        return "never found a worker to kill (seen %s)" % seen
    done = [o for ok, r in results if ok for o in r]
    unfinished = [r for ok, r in results if not ok]
    if unfinished:
        return "threads did not finish within 90 s: %s" % unfinished[:3]
    if len(done) != total:
        return "%d outcomes for %d requests" % (len(done), total)
    bad = [o for o in done if o[0] != "ok"]
    if len(bad) > 1:
        return "%d requests failed (at most 1 may, the one on the killed worker): %s" % (
            len(bad), bad[:5])
    victim = killed["pid"]
    after_kill = H.wait_until(lambda: (len(H.proc_live_children(c.a.pid)) == MAX_CHILDREN
                                       and victim not in H.proc_live_children(c.a.pid)), 10)
    if not after_kill:
        return "workers after the kill: %s (killed %d)" % (H.proc_live_children(c.a.pid), victim)
    pids = distinct_worker_pids(c.a.port, MAX_CHILDREN)
    if pids is None or len(pids) != MAX_CHILDREN or victim in pids:
        return "after the kill, concurrent requests saw pids %s (killed %d)" % (pids, victim)
    if not c.a.alive():
        return "master exited"
    H.log("kill -9 of %d under load: %d requests in %.1fs, %d failed" % (victim, total, dt,
                                                                       len(bad)))
    want = re.compile(r"WARNING: \[pool www\] child %d exited on signal 9 \(SIGKILL\) after "
                      r"[\d.]+ seconds from start" % victim)
    if not H.wait_until(lambda: want.search(H.read_text(c.a.error_log)), 5):
        c.kill_log = "no line matching %r; log tail:\n%s" % (
            want.pattern, H.read_text(c.a.error_log)[-1500:])
    else:
        c.kill_log = None
    return None


def t_max_requests(c):
    """pm.max_requests = 3 with 2 workers: 15 sequential requests, no pid serves more than 3,
    so at least 5 different pids appear, and the pool is back to 2 workers."""
    counts = {}
    for i in range(15):
        res = H.fcgi_request(c.b.port, params("/pid.php"))
        err = expect_ok(res, rb"pid=\d+", "request %d" % i)
        if err:
            return err
        p = get_pid(res)
        counts[p] = counts.get(p, 0) + 1
    over = {p: n for p, n in counts.items() if n > 3}
    if over:
        return "pids served more than pm.max_requests=3 requests: %s" % over
    if len(counts) < 5:
        return "only %d distinct pids over 15 requests: %s" % (len(counts), counts)
    ok = H.wait_until(lambda: len(H.proc_live_children(c.b.pid)) == 2, 10)
    if not ok:
        return "workers now %s, expected 2" % H.proc_live_children(c.b.pid)
    return None


# --------------------------------------------------------------------------------------------
# shutdown

def t_sigquit(c):
    """SIGQUIT with a request in flight. Records two outcomes: the master and every worker exit
    (c.quit_exit), and the in-flight request completes normally (c.quit_inflight)."""
    kids = [H.proc_identity(p) for p in H.proc_live_children(c.b.pid)]
    kids = [k for k in kids if k]
    c.quit_exit = c.quit_inflight = "not run"
    if not kids:
        c.quit_exit = c.quit_inflight = "no workers found under master %d" % c.b.pid
        return
    box = {}

    def slow():
        try:
            box["res"] = H.fcgi_request(c.b.port, params("/sleep.php", "ms=1200"), timeout=15)
        except Exception as e:  # noqa: BLE001
            box["err"] = e

    t = threading.Thread(target=slow, daemon=True)
    t.start()
    time.sleep(0.4)  # the request is running on a worker by now (it takes 1.2 s)
    c.b.send_signal(signal.SIGQUIT)
    t.join(15)
    rc = c.b.wait_exit(15)
    if "err" in box or "res" not in box:
        c.quit_inflight = "the in-flight request failed: %r" % box.get("err")
    else:
        c.quit_inflight = expect_ok(box["res"], rb"slept 1200ms", "in-flight request")
    if rc is None:
        c.quit_exit = "master still running 15 s after SIGQUIT"
    elif not H.wait_until(lambda: not [k for k in kids if H.proc_alive(k)], 5):
        c.quit_exit = "workers still alive after the master exited: %s" % [
            k for k in kids if H.proc_alive(k)]
    elif rc != 0:
        c.quit_exit = "master exit status %s after SIGQUIT" % rc
    elif H.port_accepts(c.b.port):
        c.quit_exit = "port %d still accepts after exit" % c.b.port
    else:
        c.quit_exit = None


def t_sigterm(c):
    kids = [k for k in (H.proc_identity(p) for p in H.proc_live_children(c.a.pid)) if k]
    if not kids:
        return "no workers found under master %d" % c.a.pid
    t0 = time.monotonic()
    c.a.send_signal(signal.SIGTERM)
    rc = c.a.wait_exit(10)
    if rc is None:
        return "master still running 10 s after SIGTERM"
    dt = time.monotonic() - t0
    if not H.wait_until(lambda: not [k for k in kids if H.proc_alive(k)], 5):
        return "workers still alive after the master exited: %s" % [
            k for k in kids if H.proc_alive(k)]
    if rc != 0:
        return "master exit status %s after SIGTERM" % rc
    if H.port_accepts(c.a.port):
        return "port %d still accepts after exit" % c.a.port
    H.log("SIGTERM: master exited in %.2fs" % dt)
    return None


# --------------------------------------------------------------------------------------------
# CLI

def run_cli(args, timeout=20):
    p = subprocess.run([H.PHPMGR_BIN] + args, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def t_cli_test_debian_conf(c):
    rc, out, err = run_cli(["test", "-c", "/etc/php/8.2/fpm/php-fpm.conf"])
    if rc != 0:
        return "exit %d\nstdout: %s\nstderr: %s" % (rc, out[-1500:], err[-1500:])
    return None


def t_cli_fpm_style_test(c):
    rc, out, err = run_cli(["-t", "-y", "/etc/php/8.2/fpm/php-fpm.conf"])
    if rc != 0:
        return "phpmgr -t -y: exit %d\nstdout: %s\nstderr: %s" % (rc, out[-1500:], err[-1500:])
    return None


def _bad_conf(c, name, lines):
    path = os.path.join(c.tmp, name)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def t_cli_test_typo(c):
    lines = ["[global]", "error_log = %s/typo.log" % c.tmp, "", "[www]",
             "listen = 127.0.0.1:9", "pm = static", "pm.max_childern = 4"]
    path = _bad_conf(c, "typo.conf", lines)
    rc, out, err = run_cli(["test", "-c", path])
    if rc == 0:
        return "exit 0 for a config with a misspelt key (stderr %r)" % err
    want = "%s:7:" % path
    if want not in err or "pm.max_childern" not in err:
        return "stderr does not name %s and the key:\n%s" % (want, err[-1500:])
    return None


def t_cli_test_bad_value(c):
    lines = ["[global]", "error_log = %s/bad.log" % c.tmp, "[www]", "listen = 127.0.0.1:9",
             "pm = sometimes", "pm.max_children = 4"]
    path = _bad_conf(c, "badvalue.conf", lines)
    rc, out, err = run_cli(["test", "-c", path])
    if rc == 0:
        return "exit 0 for pm = sometimes"
    if "%s:5:" % path not in err or not re.search(r"\bpm\b", err):
        return "stderr does not name %s:5: and pm:\n%s" % (path, err[-1500:])
    return None


def t_cli_version(c):
    # php-fpm -v's banner (compared line by line with php-fpm in test_cli.py), then phpmgr's line
    # (under ASan no php.ini: it would load shared extensions, which ASan refuses)
    rc, out, err = run_cli(["version", "-n"] if H.ASAN else ["version"])
    if rc != 0:
        return "exit %d: %s %s" % (rc, out, err)
    lines = out.rstrip("\n").split("\n")
    if not re.match(r"PHP 8\.\d+\.\d+\S* \(fpm-fcgi\) \(built: ", lines[0]):
        return "first line is not php-fpm's banner: %r" % out
    if not re.fullmatch(r"phpmgr \d+\.\d+\.\d+", lines[-1]):
        return "last line is not 'phpmgr X.Y.Z': %r" % out
    return None


# --------------------------------------------------------------------------------------------

def main():
    rep = H.Reporter()
    against_fpm = os.environ.get("MASTER_AGAINST_FPM") == "1"  # harness development only
    if not against_fpm and not H.phpmgr_available():
        rep.fail("setup", "phpmgr binary not found or not executable: %s (build it with make all)"
                 % H.PHPMGR_BIN)
        return rep.finish()
    c = Ctx()
    c.tmp = H.tmpdir("phpmgr-master-")
    kind = H.PhpFpmServer if against_fpm else H.PhpmgrServer
    c.a = kind(c.tmp, "phpmgr-a", max_children=MAX_CHILDREN,
               pool_extra="request_terminate_timeout = 2s\ncatch_workers_output = yes")
    c.b = kind(c.tmp, "phpmgr-b", max_children=2, pool_extra="pm.max_requests = 3")

    c.dead = None

    def run(name, fn, needs_requests=True):
        if ONLY and not re.search(ONLY, name):
            return
        if against_fpm and name.startswith("cli-"):
            return
        if needs_requests and c.dead:
            # fail fast instead of waiting out every case's timeouts
            rep.fail(name, "not run: " + c.dead)
            return
        rep.run(name, fn, c)

    def smoke(c):
        for s in (c.a, c.b):
            try:
                res = H.fcgi_request(s.port, params("/echo.php", "marker=smoke"), timeout=10)
            except (OSError, H.HttpError) as e:
                c.dead = "%s did not answer a plain request (%s)" % (s.label, e)
                return c.dead
            err = expect_ok(res, rb"marker=smoke\n", s.label + " smoke request")
            if err:
                c.dead = "%s did not answer a plain request correctly: %s" % (s.label, err)
                return c.dead
        return None

    t0 = time.monotonic()
    try:
        run("cli-version", t_cli_version, False)
        run("cli-test-debian-php-fpm-conf", t_cli_test_debian_conf, False)
        run("cli-php-fpm-style-t-y", t_cli_fpm_style_test, False)
        run("cli-test-typo-names-file-line-key", t_cli_test_typo, False)
        run("cli-test-bad-value-names-file-line-key", t_cli_test_bad_value, False)
        if not H.start_servers(rep, (c.a, c.b)):
            return rep.finish()
        rep.ok("start-foreground-ready-line")
        run("smoke-request-answered", smoke)
        run("pm-static-children", t_static_children)
        run("fcgi-single-request", t_single_request)
        run("fcgi-non-keep-conn-closes", t_non_keep_conn_closes)
        run("fcgi-keep-conn-reuse-3", t_keep_conn_reuse)
        run("fcgi-keep-conn-100-in-a-row", t_keep_conn_many)
        run("fcgi-get-values", t_get_values)
        run("fcgi-unknown-type", t_unknown_type)
        run("fcgi-unknown-role", t_unknown_role)
        run("fcgi-cant-mpx-conn", t_cant_mpx)
        run("fcgi-pipelined-second-request-waits", t_pipelined_second)
        run("fcgi-abort-before-dispatch", t_abort_before_dispatch)
        run("fcgi-abort-while-running", t_abort_running)
        run("fcgi-100k-params-accepted", t_big_params_accepted)
        run("fcgi-oversized-params-refused", t_oversized_params)
        run("fcgi-garbage-closes", t_garbage_version)
        run("fcgi-large-stdin-3mib", t_large_stdin)
        run("fcgi-stderr-stream", t_stderr_stream)
        run("catch-workers-output-logged", t_catch_workers_output)
        run("opcache-enabled-in-workers", t_opcache)
        c.timeout_log = c.kill_log = "not run (its case failed first)"
        run("request-terminate-timeout", t_terminate_timeout)
        run("log-line-execution-timed-out", lambda c: c.timeout_log)
        run("kill-9-worker-under-load", t_kill9_under_load)
        run("log-line-child-exited-on-signal-9", lambda c: c.kill_log)
        run("pm-max-requests-recycles", t_max_requests)
        run("master-alive-after-all", lambda c: None if c.a.alive() and c.b.alive()
            else "a alive %s, b alive %s\n%s" % (c.a.alive(), c.b.alive(),
                                                 c.a.log_text()[-2000:]), False)
        if not ONLY or re.search(ONLY, "shutdown-sigquit"):
            t_sigquit(c)
        run("shutdown-sigquit-exits-clean", lambda c: c.quit_exit, False)
        run("shutdown-sigquit-completes-in-flight-request", lambda c: c.quit_inflight)
        run("shutdown-sigterm", t_sigterm, False)
    finally:
        for s in (c.a, c.b):
            s.stop(timeout=5)
        if rep.failed:
            for s in (c.a, c.b):
                H.log("%s log tail:\n%s" % (s.label, s.log_text()[-2500:]))
        H.log("test_master ran in %.1fs" % (time.monotonic() - t0))
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
