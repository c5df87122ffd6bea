#!/usr/bin/python3
"""Resident mode (worker.mode = resident) with examples/resident: a tiny router built once per
worker by worker.php, and run classic by public/index.php.

  differential   the same routes through FastCGI: phpmgr resident == php-fpm classic (status,
                 type, headers the app sets, body), twice over, so later requests are checked
                 too: a resident worker must answer as a fresh php-fpm request would; fatal
                 errors included (the app's shutdown function prints an error page into them)
  resident       one worker process serves many requests; FRANKENPHP_WORKER, phpmgr_worker_id(),
                 phpmgr_request_count()
  isolation      nothing of one request reaches the next: headers, status, cookies, query, POST,
                 uploaded files (deleted after the request), an output buffer left open
  exit / throw / fatal
                 exit() ends the response and the worker goes on; an uncaught exception is
                 logged with its trace, answered 500, and the worker goes on; a fatal error
                 (E_USER_ERROR, memory exhausted) is answered 500 and the worker is replaced
  max_requests / memory_limit / leak_check
                 the worker's own limits, and the leak warning (none for a flat route)
  frankenphp     a worker script of FrankenPHP's shape (Octane, Symfony Runtime) runs unchanged
  classic        the API from a classic worker: a clear Error; worker id and count work
  bootstrap      a bootstrap that returns without serving is named in the log
  returns        a FrankenPHP worker script that returns after MAX_REQUESTS by itself, under
                 concurrent load over HTTP and FastCGI: no request is lost (the master may have
                 sent the next one already: it is answered by the next worker), each worker is
                 replaced, and the log says so once per worker
  stop           SIGQUIT while a resident worker runs a request: it is answered, the master exits

PHPMGR_BIN selects the binary. RESIDENT_ONLY=regex runs the matching cases.
"""

import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

APP = os.path.join(H.REPO, "examples", "resident")
DOCROOT = os.path.join(APP, "public")
FIX = os.path.join(H.FIXTURES, "resident")
ONLY = os.environ.get("RESIDENT_ONLY")
LEAK_REQUESTS = 450  # > 6 windows of 64: the warm-up window and 5 rising ones


def resident_pool(bootstrap=os.path.join(APP, "worker.php"), extra=""):
    return ("catch_workers_output = yes\nworker.mode = resident\nworker.bootstrap = %s\n%s"
            % (bootstrap, extra))


HTTP_LINES = "http.document_root = %s\nhttp.index = index.php\n" % DOCROOT


def fcgi_params(uri, method="GET", ctype="", body=b"", headers=None):
    path, _, query = uri.partition("?")
    p = [(k, v) for k, v in H.php_params(DOCROOT, "/index.php", query=query, method=method,
                                         content_type=ctype,
                                         content_length=len(body) if body else None,
                                         headers=headers)
         if k != "REQUEST_URI"]
    p.append(("REQUEST_URI", uri))
    return p


def get(server, path, **kw):
    return H.http_request(server.http_port, "GET", path, timeout=15, **kw)


def get_json(server, path):
    r = get(server, path)
    if r.status != 200:
        raise AssertionError("%s: status %s, body %r" % (path, r.status, r.body[:300]))
    return json.loads(r.body)


def multipart(fields, files):
    boundary = "----phpmgr-resident-test"
    out = b""
    for k, v in fields:
        out += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                % (boundary, k, v)).encode()
    for k, name, data in files:
        out += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n" % (boundary, k, name)).encode()
        out += data + b"\r\n"
    out += ("--%s--\r\n" % boundary).encode()
    return "multipart/form-data; boundary=" + boundary, out


class Ctx:
    pass


# --------------------------------------------------------------------------------------------
# differential: resident phpmgr against classic php-fpm, over FastCGI

def diff_requests():
    upload_type, upload_body = multipart([("x", "1")], [("f", "a.bin", os.urandom(3000))])
    return [
        ("GET /", fcgi_params("/")),
        ("GET /echo query+cookie+header",
         fcgi_params("/echo?a=1&b[]=2&b[]=3", headers=[("Cookie", "c=3; d=4"), ("X-Echo", "hi")])),
        ("GET /echo bare", fcgi_params("/echo")),
        ("POST /echo form", fcgi_params("/echo", "POST", "application/x-www-form-urlencoded",
                                        b"p=1&q[]=x")),
        ("POST /echo json", fcgi_params("/echo", "POST", "application/json", b'{"j":[1,2]}')),
        ("POST /echo upload", fcgi_params("/echo", "POST", upload_type, upload_body)),
        ("GET /status", fcgi_params("/status")),
        ("GET /headers", fcgi_params("/headers")),
        ("GET /buffered", fcgi_params("/buffered")),
        ("GET /exit", fcgi_params("/exit")),
        ("GET /throw", fcgi_params("/throw")),
        ("GET /undefined", fcgi_params("/undefined")),
        ("GET /finish", fcgi_params("/finish")),
        ("GET /user-error", fcgi_params("/user-error")),
        ("GET /fatal", fcgi_params("/fatal")),
        ("GET /nope", fcgi_params("/nope")),
        ("HEAD /", fcgi_params("/", "HEAD")),
    ], {"POST /echo form": b"p=1&q[]=x", "POST /echo json": b'{"j":[1,2]}',
        "POST /echo upload": upload_body}


def normalise(res):
    status, headers, body = res.cgi()
    keep = {}
    for k, v in headers:
        kl = k.lower()
        if kl in ("content-type", "x-route", "set-cookie", "x-only-here"):
            keep.setdefault(kl, []).append(v)
    # the upload's temp file name differs from run to run
    body = re.sub(rb'"tmp":\["[^"]*"\]', b'"tmp":["TMP"]', body)
    return status, keep, body


def t_differential(c):
    reqs, bodies = diff_requests()
    errs = []
    for rnd in range(2):
        for name, params in reqs:
            stdin = bodies.get(name, b"")
            want = normalise(H.fcgi_request(c.fpm.port, params, stdin))
            got = normalise(H.fcgi_request(c.r.port, params, stdin))
            if got != want:
                errs.append("round %d %s:\n  php-fpm  %r\n  resident %r" % (rnd + 1, name, want,
                                                                            got))
    return "\n".join(errs) or None


# --------------------------------------------------------------------------------------------
# the resident instance, over HTTP

def t_resident(c):
    seen = {}
    for _ in range(12):
        j = get_json(c.r, "/worker")
        if j["resident"] is not True:
            return "FRANKENPHP_WORKER not set in a resident worker: %r" % j
        if j["worker_id"] not in (0, 1):
            return "phpmgr_worker_id() %r for a pool of 2" % j["worker_id"]
        last = seen.get(j["pid"])
        if last is not None and j["count"] <= last:
            return "phpmgr_request_count() did not grow in pid %d: %d then %d" % (
                j["pid"], last, j["count"])
        seen[j["pid"]] = j["count"]
    if len(seen) > 2:
        return "12 requests were served by %d processes for 2 workers: %r" % (len(seen), seen)
    if max(seen.values()) < 6:
        return "no worker served many requests: %r" % seen
    return None


def t_ini(c):
    """ini_set(), set_time_limit(), error_reporting() and ignore_user_abort() in one request do
    not reach the next: it starts from php.ini and the bootstrap's own settings, as php-fpm
    starts every request from php.ini and the pool."""
    s = c.one
    base = json.loads(get(s, "/ini").body)
    if base["ignore_user_abort"] != "1":
        return "the bootstrap's ignore_user_abort(true) is not the baseline: %r" % base
    errs = []
    for i in range(3):
        if json.loads(get(s, "/ini?change=1").body) != base:
            errs.append("round %d: the request before the change saw %r" % (i, base))
        after = json.loads(get(s, "/ini").body)
        if after != base:
            errs.append("round %d: after a request changed ini settings: %r, want %r"
                        % (i, after, base))
    return "; ".join(errs) or None


def t_isolation(c):
    s = c.one
    errs = []
    r = get(s, "/status")
    if r.status != 201 or not r.header("Set-Cookie"):
        return "/status: %s %r" % (r.status, r.headers)
    r = get(s, "/")
    if r.status != 200 or r.header("Set-Cookie") or r.header("X-Route"):
        errs.append("after /status, / got %s with %r" % (r.status, r.headers))
    get(s, "/headers")
    r = get(s, "/")
    if r.header("X-Only-Here"):
        errs.append("a header of the previous request reached the next: %r" % r.headers)
    j = json.loads(get(s, "/echo?a=1", headers=[("Cookie", "c=3"), ("X-Echo", "one")]).body)
    if j["get"] != {"a": "1"} or j["cookie"] != {"c": "3"} or j["header"] != "one":
        errs.append("/echo with query and cookie: %r" % j)
    j = json.loads(get(s, "/echo").body)
    if j["get"] or j["cookie"] or j["request"] or j["header"] is not None:
        errs.append("the previous request's query, cookie or header reached the next: %r" % j)
    r = H.http_request(s.http_port, "POST", "/echo", body=b"p=1",
                       headers=[("Content-Type", "application/x-www-form-urlencoded")])
    j = json.loads(r.body)
    if j["post"] != {"p": "1"} or j["input"] != "p=1":
        errs.append("POST form: %r" % j)
    r = H.http_request(s.http_port, "POST", "/echo", body=b"raw body",
                       headers=[("Content-Type", "text/plain")])
    j = json.loads(r.body)
    if j["post"] or j["input"] != "raw body":
        errs.append("the previous $_POST reached the next POST, or php://input is stale: %r" % j)
    data = os.urandom(5000)
    ctype, body = multipart([("x", "1")], [("f", "up.bin", data)])
    j = json.loads(H.http_request(s.http_port, "POST", "/echo", body=body,
                                  headers=[("Content-Type", ctype)]).body)
    import hashlib
    if j["files"].get("f", {}).get("sha1") != hashlib.sha1(data).hexdigest():
        errs.append("upload: %r" % j)
    elif not H.wait_until(lambda: not os.path.exists(j["tmp"][0]), 3.0):
        errs.append("the uploaded temp file %s outlived its request" % j["tmp"][0])
    j = json.loads(get(s, "/echo").body)
    if j.get("files") not in (None, [], {}) and "files" in j:
        errs.append("$_FILES of the upload reached the next request: %r" % j)
    r = get(s, "/buffered")
    if r.status != 200 or r.body != b"inner buffer left open\n":
        errs.append("/buffered: %s %r" % (r.status, r.body))
    r = get(s, "/")
    if r.body != b"hello from the router\n":
        errs.append("after an output buffer left open, / got %r" % r.body)
    return "\n".join(errs) or None


def pid_of(s):
    return get_json(s, "/worker")["pid"]


def t_exit(c):
    s = c.one
    p0 = pid_of(s)
    r = get(s, "/exit")
    if r.status != 200 or r.body != b"before exit\n":
        return "/exit: %s %r" % (r.status, r.body)
    p1 = pid_of(s)
    return None if p1 == p0 else "exit() replaced the worker: pid %d then %d" % (p0, p1)


def t_throw(c):
    s = c.one
    p0 = pid_of(s)
    r = get(s, "/throw")
    if r.status != 500:
        return "/throw: status %s, body %r" % (r.status, r.body[:200])
    p1 = pid_of(s)
    if p1 != p0:
        return "an uncaught exception replaced the worker: pid %d then %d" % (p0, p1)
    want = [r"PHP Fatal error:  Uncaught RuntimeException: thrown by the /throw route",
            r"Stack trace:", r"#0 .*router\.php"]
    if not H.wait_until(lambda: all(re.search(w, s.log_text()) for w in want), 3.0):
        return "the log lacks the exception and its trace (%r):\n%s" % (want,
                                                                       s.log_text()[-2000:])
    return None


def t_fatal(c):
    s = c.one
    errs = []
    for path, body in (("/user-error", b"about to fail\nerror page: a fatal user error\n"),
                       ("/fatal", None)):
        p0 = pid_of(s)
        r = get(s, path)
        if r.status != 500 or (body is not None and r.body != body):
            errs.append("%s: %s %r" % (path, r.status, r.body[:200]))
        p1 = pid_of(s)
        if p1 == p0:
            errs.append("%s: the worker was not replaced after a fatal error (pid %d)" % (path, p0))
        j = get_json(s, "/worker")
        if j["pid"] != p1 or j["count"] != 2:
            errs.append("%s: the new worker does not serve on: %r" % (path, j))
    return "\n".join(errs) or None


def t_finish(c):
    s = c.one
    p0 = pid_of(s)
    r = get(s, "/finish")
    if r.status != 200 or r.body != b"finished early\n":
        return "/finish: %s %r" % (r.status, r.body)
    p1 = pid_of(s)
    return None if p1 == p0 else "fastcgi_finish_request() lost the worker: %d then %d" % (p0, p1)


def t_max_requests(c):
    s = c.maxreq
    pids = []
    for i in range(12):
        j = get_json(s, "/worker")
        want = i % 5 + 1
        if j["count"] != want:
            return "request %d: phpmgr_request_count() %d, want %d (worker.max_requests = 5)" % (
                i + 1, j["count"], want)
        pids.append(j["pid"])
    groups = [len(set(pids[k:k + 5])) for k in (0, 5, 10)]
    if groups != [1, 1, 1] or len(set(pids)) != 3:
        return "pids do not change every 5 requests: %r" % pids
    if not H.wait_until(lambda: len(re.findall(r"child \d+ exited with code 0", s.log_text())) >= 2,
                        3.0):
        return "no 'exited with code 0' lines for the planned exits:\n%s" % s.log_text()[-1500:]
    return None


def t_memory_limit(c):
    s = c.memlimit
    pids = []
    for i in range(16):
        r = get(s, "/grow?kb=2048")
        if r.status != 200:
            return "request %d: %s %r" % (i + 1, r.status, r.body[:200])
        pids.append(int(r.body))
    # /grow answers how many blocks its worker keeps: it starts again at 1 in a new worker
    restarts = sum(1 for a, b in zip(pids, pids[1:]) if b <= a)
    if restarts == 0:
        return "no worker was replaced past worker.memory_limit = 16M: %r" % pids
    if max(pids) > 8:
        return "a worker kept %d blocks of 2 MiB past worker.memory_limit = 16M" % max(pids)
    if "over worker.memory_limit" not in s.log_text():
        return "no log line names worker.memory_limit:\n%s" % s.log_text()[-1500:]
    return None


LEAK_RE = r"\[pool www\] child (\d+): memory kept between requests grew"


def t_leak_check(c):
    s = c.leak
    pid = pid_of(s)
    for _ in range(LEAK_REQUESTS):
        r = get(s, "/")
        if r.status != 200:
            return "/: %s" % r.status
    if re.search(LEAK_RE, s.log_text()):
        return "a leak was reported for a route that keeps nothing:\n%s" % s.log_text()[-1500:]
    for _ in range(LEAK_REQUESTS):
        r = get(s, "/leak")
        if r.status != 200:
            return "/leak: %s" % r.status
    m = None
    if H.wait_until(lambda: re.search(LEAK_RE, s.log_text()), 3.0):
        m = re.search(LEAK_RE, s.log_text())
    if not m:
        return "no leak warning after %d requests keeping 1 KiB each:\n%s" % (
            LEAK_REQUESTS, s.log_text()[-1500:])
    if int(m.group(1)) != pid:
        return "the warning names pid %s, the worker is %d" % (m.group(1), pid)
    return None


def t_frankenphp(c):
    s = c.franken
    first = None
    for i in range(5):
        r = H.http_request(s.http_port, "POST", "/any/path?i=%d" % i, body=b"k=v%d" % i,
                           headers=[("Content-Type", "application/x-www-form-urlencoded")])
        if r.status != 200:
            return "request %d: %s %r" % (i, r.status, r.body[:300])
        j = json.loads(r.body)
        if (j["method"] != "POST" or j["uri"] != "/any/path?i=%d" % i or j["query"] != {"i": str(i)}
                or j["post"] != {"k": "v%d" % i} or j["content"] != "k=v%d" % i):
            return "request %d: %r" % (i, j)
        if first is None:
            first = j
        elif j["pid"] != first["pid"] or j["booted_at"] != first["booted_at"]:
            return "the worker script was booted again: %r then %r" % (first, j)
        elif j["served"] != first["served"] + i:
            return "the handler's state was not kept: %r" % j
    return None


def t_classic(c):
    s = c.classic
    a = json.loads(get(s, "/classic-call.php").body)
    b = json.loads(get(s, "/classic-call.php").body)
    if not a["error"] or "resident worker" not in a["error"]:
        return "phpmgr_handle_request() in a classic worker: %r" % a
    if a["worker_id"] != 0 or a["pid"] != b["pid"] or b["count"] != a["count"] + 1:
        return "phpmgr_worker_id() / phpmgr_request_count() in a classic worker: %r %r" % (a, b)
    return None


def t_bootstrap_returns(c):
    s = H.PhpmgrHttpServer(c.tmp, "returns", max_children=1, http_lines=HTTP_LINES,
                           pool_extra=resident_pool(os.path.join(FIX, "returns.php")))
    try:
        s.start(timeout=20)
        want = [r"the bootstrap \S*returns\.php returned without serving a request",
                r"said into stdout: \"booted and gone\""]
        ok = H.wait_until(lambda: all(re.search(w, s.log_text()) for w in want), 5.0)
        return None if ok else "the log lacks %r:\n%s" % (want, s.log_text()[-2000:])
    finally:
        s.stop(timeout=5)


RETURNS_MAX = 3  # env[MAX_REQUESTS]: frankenphp-worker.php returns after that many requests
RETURNS_CLIENTS = 6
RETURNS_EACH = 40


def returns_load(s, fcgi):
    """RETURNS_CLIENTS loops of RETURNS_EACH requests at once; a list of (status or error, pid,
    served) per request."""
    params = [(k, v) for k, v in H.php_params(FIX, "/index.php") if k != "SCRIPT_FILENAME"]

    def one():
        if fcgi:
            res = H.fcgi_request(s.port, params, timeout=15)
            status, _, body = res.cgi()
        else:
            r = get(s, "/")
            status, body = r.status, r.body
        if status != 200:
            return status, None, None
        j = json.loads(body)
        return status, j["pid"], j["served"]

    def loop():
        out = []
        for _ in range(RETURNS_EACH):
            try:
                out.append(one())
            except Exception as e:  # noqa: BLE001 - reported with the counts
                out.append(("%s: %s" % (type(e).__name__, e), None, None))
        return out

    got = []
    for ok, v in H.run_parallel(loop, [()] * RETURNS_CLIENTS, threads=RETURNS_CLIENTS,
                                timeout=120):
        got += v if ok else [("client loop: %r" % (v,), None, None)]
    return got


def t_bootstrap_returns_under_load(c):
    s = H.PhpmgrHttpServer(
        c.tmp, "returns-load", max_children=1,
        http_lines="http.document_root = %s\nhttp.index = index.php\n" % FIX,
        pool_extra=resident_pool(os.path.join(FIX, "frankenphp-worker.php"),
                                 "env[MAX_REQUESTS] = %d\n" % RETURNS_MAX))
    s.start(timeout=20)
    try:
        errs = []
        pids = set()
        total = RETURNS_CLIENTS * RETURNS_EACH
        for via in ("http", "fastcgi"):
            got = returns_load(s, via == "fastcgi")
            bad = [st for st, _, _ in got if st != 200]
            if bad:
                errs.append("%s: %d of %d requests not answered 200: %r" % (
                    via, len(bad), total, sorted(set(map(str, bad)))[:5]))
            over = [n for _, _, n in got if n is not None and n > RETURNS_MAX]
            if over:
                errs.append("%s: a worker served request %d of %d" % (via, max(over), RETURNS_MAX))
            these = {p for _, p, _ in got if p is not None}
            # each worker serves RETURNS_MAX requests and is replaced
            if len(these) < (total - len(bad)) // RETURNS_MAX:
                errs.append("%s: %d requests answered by only %d processes" % (
                    via, total - len(bad), len(these)))
            pids |= these
        if not s.alive():
            errs.append("the server died")
        # once per worker, a notice; no warning about workers exiting or requests lost
        want = r"NOTICE: \[pool www\] child (\d+): the bootstrap returned after %d requests" % (
            RETURNS_MAX)
        H.wait_until(lambda: len(re.findall(want, s.log_text())) >= len(pids) - 1, 5.0)
        said = re.findall(want, s.log_text())
        if len(said) < len(pids) - 1 or len(said) != len(set(said)):
            errs.append("%d workers served, %d 'bootstrap returned' notices (%d distinct)" % (
                len(pids), len(said), len(set(said))))
        warn = [ln for ln in s.log_text().splitlines() if re.search(r"WARNING|ERROR", ln)]
        if warn:
            errs.append("%d warnings or errors in the log, first: %s" % (len(warn), warn[:3]))
        if errs:
            errs.append("log tail:\n" + s.log_text()[-1500:])
        return "\n".join(errs) or None
    finally:
        s.stop(timeout=5)


def t_stop_mid_request(c):
    s = H.PhpmgrHttpServer(c.tmp, "stop", max_children=1, http_lines=HTTP_LINES,
                           pool_extra=resident_pool())
    s.start(timeout=20)
    try:
        import threading
        box = {}

        def slow():
            try:
                box["r"] = get(s, "/slow?ms=500")
            except Exception as e:  # noqa: BLE001 - reported below
                box["e"] = e
        t = threading.Thread(target=slow)
        t.start()
        if not H.wait_until(lambda: "ready" in box or s.alive(), 1.0):
            return "server died"
        time.sleep(0.15)  # the request must be running when SIGQUIT comes; it sleeps 500 ms
        s.send_signal(signal.SIGQUIT)
        rc = s.wait_exit(10)
        t.join(10)
        if "e" in box or box.get("r") is None or box["r"].status != 200 or \
                box["r"].body != b"slept\n":
            return "the request running at SIGQUIT: %r" % (box.get("r") or box.get("e"))
        if rc != 0:
            return "master exit status %r after SIGQUIT:\n%s" % (rc, s.log_text()[-1500:])
        return None
    finally:
        s.stop(timeout=5)


# --------------------------------------------------------------------------------------------

def main():
    rep = H.Reporter()
    if not H.phpmgr_available():
        rep.fail("setup", "phpmgr binary not found: %s" % H.PHPMGR_BIN)
        return rep.finish()
    c = Ctx()
    c.tmp = H.tmpdir("phpmgr-resident-")
    c.fpm = H.PhpFpmServer(c.tmp, "php-fpm", max_children=2)
    c.r = H.PhpmgrHttpServer(c.tmp, "resident", max_children=2, http_lines=HTTP_LINES,
                             pool_extra=resident_pool())
    # variables_order with E (PHP's default without a php.ini): $_SERVER is built from $_ENV,
    # and both must be this request's
    c.one = H.PhpmgrHttpServer(c.tmp, "one", max_children=1, http_lines=HTTP_LINES,
                               pool_extra=resident_pool(
                                   extra="php_value[variables_order] = EGPCS\n"))
    c.maxreq = H.PhpmgrHttpServer(c.tmp, "maxreq", max_children=1, http_lines=HTTP_LINES,
                                  pool_extra=resident_pool(extra="worker.max_requests = 5\n"))
    c.memlimit = H.PhpmgrHttpServer(c.tmp, "memlimit", max_children=1, http_lines=HTTP_LINES,
                                    pool_extra=resident_pool(extra="worker.memory_limit = 16M\n"))
    c.leak = H.PhpmgrHttpServer(c.tmp, "leak", max_children=1, http_lines=HTTP_LINES,
                                pool_extra=resident_pool(extra="worker.leak_check = on\n"))
    c.franken = H.PhpmgrHttpServer(
        c.tmp, "franken", max_children=1,
        http_lines="http.document_root = %s\nhttp.index = index.php\n" % FIX,
        pool_extra=resident_pool(os.path.join(FIX, "frankenphp-worker.php")))
    c.classic = H.PhpmgrHttpServer(c.tmp, "classic", max_children=1,
                                   http_lines="http.document_root = %s\n" % FIX)
    servers = [c.fpm, c.r, c.one, c.maxreq, c.memlimit, c.leak, c.franken, c.classic]

    def run(name, fn):
        if ONLY and not re.search(ONLY, name):
            return
        rep.run(name, fn, c)

    t0 = time.monotonic()
    try:
        if not H.start_servers(rep, servers):
            return rep.finish()
        run("differential-resident-equals-php-fpm-classic", t_differential)
        run("resident-one-process-many-requests", t_resident)
        run("isolation-nothing-reaches-the-next-request", t_isolation)
        run("ini-changes-last-one-request", t_ini)
        run("exit-ends-the-response-worker-goes-on", t_exit)
        run("throw-logged-500-worker-goes-on", t_throw)
        run("fatal-500-worker-replaced", t_fatal)
        run("fastcgi-finish-request-worker-goes-on", t_finish)
        run("worker-max-requests", t_max_requests)
        run("worker-memory-limit", t_memory_limit)
        run("worker-leak-check", t_leak_check)
        run("frankenphp-worker-script-unchanged", t_frankenphp)
        run("classic-worker-api-error", t_classic)
        run("bootstrap-returning-is-logged", t_bootstrap_returns)
        run("bootstrap-returning-under-load-loses-no-request", t_bootstrap_returns_under_load)
        run("sigquit-mid-request-answered", t_stop_mid_request)
        run("servers-alive-after-all", lambda c: None if all(s.alive() for s in servers) else
            "dead: %s" % [s.label for s in servers if not s.alive()])
    finally:
        for s in servers:
            s.stop(timeout=5)
        if rep.failed:
            for s in servers:
                H.log("%s log tail:\n%s" % (s.label, s.log_text()[-2000:]))
        H.log("test_resident ran in %.1fs" % (time.monotonic() - t0))
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
