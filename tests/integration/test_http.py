#!/usr/bin/python3
"""phpmgr's direct HTTP/1.1 front end (http.listen), spoken to with raw sockets.

Three phpmgr instances serve a copy of tests/fixtures/http/www (copied so that the test can add
dotfiles, symlinks out of the docroot and PHP source look-alikes that git should not hold):
  main  - pm.max_children 4, http.index = index.php, static on, max_body 8M, max_header 16k,
          trusted_proxies 127.0.0.1/32, request_terminate_timeout 2s, two http.listen lines;
  tmo   - http.header_timeout / keepalive_timeout / body_timeout = 1s, no trusted proxies;
  hb    - heartbeat.check_interval 1s, heartbeat.idle_time 2s (keepalive_timeout long).
Every pool has auto_prepend_file = tests/fixtures/http/hit.php, which appends "METHOD URI" to a
hit log on every PHP execution: the malformed-request corpus checks that log never grows.

One PASS/FAIL line per case. HTTP_ONLY=regex runs the matching cases only.
"""

import hashlib
import os
import re
import shutil
import socket
import sys
import threading
import time
from email.utils import parsedate_to_datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

FIX = os.path.join(H.FIXTURES, "http")
ONLY = os.environ.get("HTTP_ONLY")
MARK = "SOURCE-MARKER-7c1e"  # in files that must never be served as text
PASSWD_MARK = b"root:x:0:0"


class Ctx:
    pass


C = Ctx()


# --------------------------------------------------------------------------------------------
# helpers

def hits():
    """The hit log's lines (every PHP execution on any of the servers)."""
    try:
        with open(C.hitlog, "rb") as f:
            return f.read().decode("latin-1").splitlines()
    except FileNotFoundError:
        return []


def kv(body):
    """info.php's "KEY=value" lines as a dict."""
    out = {}
    for ln in body.decode("latin-1").splitlines():
        if "=" in ln:
            k, v = ln.split("=", 1)
            out.setdefault(k, v)
    return out


def conn(port=None, timeout=10.0):
    return H.HttpConn(port or C.main.http_port, timeout=timeout)


def get(path, port=None, method="GET", headers=(), body=b"", version="HTTP/1.1", timeout=15,
        **kw):
    """One request on a fresh connection (Connection: close); the HttpConn-parsed response."""
    with conn(port) as c:
        hdrs = list(headers)
        if not any(k.lower() == "connection" for k, _ in hdrs):
            hdrs.append(("Connection", "close"))
        r = c.request(method, path, hdrs, body, version=version, timeout=timeout, **kw)
        if r is None:
            raise H.HttpError("connection closed without a response")
        return r


def want(r, status=200, body_has=None):
    if r is None:
        return "the connection closed without a response"
    if r.status != status:
        return "status %d %s, expected %d; body %r" % (r.status, r.reason, status, r.body[:300])
    for n in ([body_has] if isinstance(body_has, (str, bytes)) else (body_has or [])):
        if isinstance(n, str):
            n = n.encode()
        if n not in r.body:
            return "body lacks %r: %r" % (n, r.body[:400])
    if getattr(r, "error", None):
        return "framing: " + r.error
    return None


def recv_some(sock, timeout):
    """Bytes that arrive within timeout (b"" on EOF, None when nothing came)."""
    sock.settimeout(timeout)
    try:
        return sock.recv(65536)
    except socket.timeout:
        return None
    except ConnectionResetError:
        return b""


# --------------------------------------------------------------------------------------------
# cases: methods, keep-alive, HTTP/1.0, pipelining

CASES = []


def case(name):
    def deco(fn):
        CASES.append((name, fn))
        return fn
    return deco


@case("get-basic")
def t_get():
    r = get("/info.php?a=1&b=two")
    e = want(r, 200, ["REQUEST_METHOD=GET", 'GET={"a":"1","b":"two"}'])
    if e:
        return e
    if r.header("Content-Type") != "text/plain;charset=UTF-8" and \
            not (r.header("Content-Type") or "").startswith("text/plain"):
        return "Content-Type %r" % r.header("Content-Type")
    if r.header("X-Script") != "info":
        return "X-Script header missing: %r" % r.headers


@case("head-no-body-same-headers")
def t_head():
    with conn() as c:
        g = c.request("GET", "/info.php?h=1")
        h = c.request("HEAD", "/info.php?h=1")
        after = c.request("GET", "/info.php?after=head")
    if h is None or after is None:
        return "connection closed after HEAD"
    if h.status != 200 or h.body:
        return "HEAD: status %d, %d body bytes" % (h.status, len(h.body))
    if h.header("Content-Type") != g.header("Content-Type") or h.header("X-Script") != "info":
        return "HEAD headers differ from GET: %r vs %r" % (h.headers, g.headers)
    if h.header("Content-Length") not in (None, g.header("Content-Length")):
        return "HEAD Content-Length %r, GET's body is %d bytes" % (h.header("Content-Length"),
                                                                   len(g.body))
    return want(after, 200, "REQUEST_URI=/info.php?after=head")


@case("post-form")
def t_post():
    r = get("/info.php", method="POST",
            headers=[("Content-Type", "application/x-www-form-urlencoded")], body=b"x=1&y[]=2")
    return want(r, 200, ['POST={"x":"1","y":["2"]}', "CONTENT_LENGTH=9",
                         "CONTENT_TYPE=application/x-www-form-urlencoded"])


@case("unknown-method-token-passed-to-php")
def t_propfind():
    r = get("/info.php", method="PROPFIND", headers=[("Content-Type", "text/xml")],
            body=b"<propfind/>")
    return want(r, 200, ["REQUEST_METHOD=PROPFIND", "INPUT_LEN=11"])


@case("keepalive-reuse-5-requests")
def t_keepalive():
    ports = set()
    with conn() as c:
        for i in range(5):
            r = c.request("GET", "/info.php?n=%d" % i)
            if r is None:
                return "connection closed after %d requests" % i
            e = want(r, 200, "N=%d\n" % i)
            if e:
                return "request %d: %s" % (i, e)
            if (r.header("Connection") or "").lower() == "close":
                return "request %d answered Connection: close" % i
            ports.add(kv(r.body).get("REMOTE_PORT"))
    if len(ports) != 1:
        return "REMOTE_PORT changed between requests on one socket: %r" % ports


@case("http11-connection-close-honoured")
def t_close():
    with conn() as c:
        r = c.request("GET", "/info.php", [("Connection", "close")])
        e = want(r, 200)
        if e:
            return e
        if not c.wait_closed(3):
            return "server kept the connection open after Connection: close"


@case("http10-closes-by-default")
def t_http10():
    with conn() as c:
        r = c.request("GET", "/info.php?v=10", version="HTTP/1.0")
        e = want(r, 200, "SERVER_PROTOCOL=HTTP/1.0")
        if e:
            return e
        if not c.wait_closed(3):
            return "HTTP/1.0 request without keep-alive: connection left open"
        if r.version not in ("HTTP/1.1", "HTTP/1.0"):
            return "response version %r" % r.version


@case("http10-keepalive-on-request")
def t_http10_ka():
    with conn() as c:
        for i in range(3):
            r = c.request("GET", "/info.php?n=%d" % i, [("Connection", "keep-alive")],
                          version="HTTP/1.0")
            if r is None:
                return "closed after %d HTTP/1.0 keep-alive requests" % i
            e = want(r, 200, "N=%d\n" % i)
            if e:
                return e
            if r.framing == "chunked":
                return "chunked response to an HTTP/1.0 client"
            if r.framing != "length":
                return "HTTP/1.0 keep-alive response without Content-Length (%s)" % r.framing
            if (r.header("Connection") or "").lower() != "keep-alive":
                return "no 'Connection: keep-alive' in the answer: %r" % r.headers


@case("pipelining-3-in-one-write")
def t_pipeline():
    reqs = b"".join(H.build_request("GET", "/info.php?n=%d" % i) for i in (1, 2, 3))
    with conn() as c:
        c.send(reqs)
        got = []
        for i in (1, 2, 3):
            r = c.read_response("GET", 10)
            if r is None:
                return "closed after %d responses" % len(got)
            got.append(kv(r.body).get("N"))
    if got != ["1", "2", "3"]:
        return "responses out of order or wrong: %r" % got


@case("pipelining-mixed-post-head-get")
def t_pipeline_mixed():
    reqs = (H.build_request("POST", "/info.php?n=1", [("Content-Type", "text/plain")], b"abc")
            + H.build_request("HEAD", "/info.php?n=2")
            + H.build_request("GET", "/stream.php?n=2&ms=0")
            + H.build_request("GET", "/info.php?n=5", [("Connection", "close")]))
    with conn() as c:
        c.send(reqs)
        r1 = c.read_response("POST")
        r2 = c.read_response("HEAD")
        r3 = c.read_response("GET")
        r5 = c.read_response("GET")
        if None in (r1, r2, r3, r5):
            return "connection closed early: %r" % ([r1, r2, r3, r5],)
        closed = c.wait_closed(3)
        extra = c.extra
    if b"INPUT_LEN=3" not in r1.body or kv(r1.body).get("N") != "1":
        return "POST: %r" % r1.body[:200]
    if r2.status != 200 or r2.body:
        return "HEAD: %d %r" % (r2.status, r2.body[:100])
    if r3.body != b"line 0\nline 1\ndone\n":
        return "streamed: %r" % r3.body
    if kv(r5.body).get("N") != "5":
        return "last: %r" % r5.body[:200]
    if not closed:
        return "not closed after the pipelined Connection: close request"
    if extra:
        return "bytes after the last response: %r" % extra[:100]


@case("pipelining-many-split-across-writes")
def t_pipeline_split():
    reqs = b"".join(H.build_request("GET", "/info.php?n=%d" % i) for i in range(20))
    with conn() as c:
        for i in range(0, len(reqs), 37):  # odd-sized pieces that split heads anywhere
            c.send(reqs[i:i + 37])
        got = []
        for i in range(20):
            r = c.read_response("GET", 10)
            if r is None:
                return "closed after %d responses" % len(got)
            got.append(kv(r.body).get("N"))
    if got != [str(i) for i in range(20)]:
        return "wrong order: %r" % got


# --------------------------------------------------------------------------------------------
# request bodies

def chunked(data, sizes=(7, 1, 300, 4096)):
    out = []
    i = k = 0
    while i < len(data):
        n = sizes[k % len(sizes)]
        k += 1
        out.append(b"%x\r\n" % len(data[i:i + n]) + data[i:i + n] + b"\r\n")
        i += n
    return b"".join(out) + b"0\r\n\r\n"


@case("chunked-request-body-dechunked")
def t_chunked():
    data = bytes(range(256)) * 40 + b"tail"
    with conn() as c:
        c.send(H.build_request("POST", "/info.php", [("Transfer-Encoding", "chunked"),
                                                      ("Content-Type", "application/octet-stream")])
               + chunked(data))
        r = c.read_response("POST")
    e = want(r, 200)
    if e:
        return e
    v = kv(r.body)
    exp = {"CONTENT_LENGTH": str(len(data)), "INPUT_LEN": str(len(data)),
           "INPUT_SHA1": hashlib.sha1(data).hexdigest()}
    bad = {k: (v.get(k), x) for k, x in exp.items() if v.get(k) != x}
    if bad:
        return "got vs expected: %r" % bad
    if v.get("HTTP_TRANSFER_ENCODING") not in ("(unset)", "chunked"):
        return "HTTP_TRANSFER_ENCODING=%r" % v.get("HTTP_TRANSFER_ENCODING")


@case("chunked-request-extensions-trailers-slow-pieces")
def t_chunked_ext():
    body = (b"5;name=value;q=\"quoted\"\r\nhello\r\n"
            b"1\r\n \r\n"
            b"A\r\n0123456789\r\n"
            b"0\r\nX-Trailer: t\r\n\r\n")
    with conn() as c:
        c.send(H.build_request("POST", "/info.php?n=7", [("Transfer-Encoding", "chunked")]))
        for i in range(0, len(body), 3):
            c.send(body[i:i + 3])
            time.sleep(0.005)
        r = c.read_response("POST")
        r2 = c.request("GET", "/info.php?n=8")  # the connection is still in sync
    e = want(r, 200, ["CONTENT_LENGTH=16", "INPUT_LEN=16",
                      "INPUT_SHA1=" + hashlib.sha1(b"hello 0123456789").hexdigest()])
    return e or want(r2, 200, "N=8\n")


@case("chunked-form-post-parsed")
def t_chunked_form():
    with conn() as c:
        c.send(H.build_request("POST", "/info.php", [
            ("Transfer-Encoding", "chunked"),
            ("Content-Type", "application/x-www-form-urlencoded")]) + chunked(b"a=1&b=2", (3,)))
        r = c.read_response("POST")
    return want(r, 200, ['POST={"a":"1","b":"2"}', "CONTENT_LENGTH=7"])


@case("expect-100-continue-waits")
def t_expect():
    body = b"hello world"
    with conn() as c:
        c.send(H.build_request("POST", "/info.php", [("Expect", "100-continue"),
                                                      ("Content-Length", str(len(body)))]))
        h = c.read_head(2.0)  # the client sends nothing until the 100 arrives
        if h is None:
            return "closed instead of 100 Continue"
        if h[0] != 100:
            return "first response is %d, not 100 Continue" % h[0]
        c.send(body)
        r = c.read_response("POST")
    e = want(r, 200, ["INPUT_LEN=11", "INPUT_SHA1=" + hashlib.sha1(body).hexdigest()])
    if e:
        return e


@case("expect-100-continue-body-sent-anyway")
def t_expect_eager():
    body = b"eager body"
    with conn() as c:
        c.send(H.build_request("POST", "/info.php?n=1", [("Expect", "100-continue")], body))
        r = c.read_response("POST")
        r2 = c.request("GET", "/info.php?n=2")
    e = want(r, 200, "INPUT_LEN=10")
    if e:
        return e
    if any(s != 100 for s, _ in r.interim):
        return "interim responses %r" % r.interim
    return want(r2, 200, "N=2\n")


@case("expect-100-over-limit-413-without-100")
def t_expect_413():
    before = len(hits())
    with conn() as c:
        c.send(H.build_request("POST", "/info.php?case=expect413",
                               [("Expect", "100-continue"), ("Content-Length", str(9 << 20))]))
        r = c.read_response("POST", 3)
        if r is None:
            return "closed without a response"
        if r.status != 413:
            return "status %d, expected 413 (interim %r)" % (r.status, r.interim)
        if r.interim:
            return "sent %r before the 413" % (r.interim,)
        if not c.wait_closed(3):
            return "connection left open after 413"
    if len(hits()) != before:
        return "reached PHP: %r" % hits()[before:]


@case("expect-100-http10-ignored")
def t_expect_10():
    with conn() as c:
        c.send(H.build_request("POST", "/info.php", [("Expect", "100-continue"),
                                                      ("Content-Length", "3")],
                               version="HTTP/1.0"))
        early = recv_some(c.sock, 0.5)
        c.send(b"abc")
        r = c.read_response("POST")
    if early:
        return "answered an HTTP/1.0 expectation with %r" % early[:80]
    return want(r, 200, "INPUT_LEN=3")


@case("expect-unknown-417")
def t_expect_417():
    before = len(hits())
    with conn() as c:
        r = c.request("POST", "/info.php?case=417", [("Expect", "fancy-thing")], b"abc")
        if r is None or r.status != 417:
            return "expected 417, got %r" % (r and r.status)
    if len(hits()) != before:
        return "reached PHP"


@case("large-body-5mib")
def t_large():
    data = os.urandom(5 << 20)
    with conn(timeout=30) as c:
        r = c.request("POST", "/info.php", [("Content-Type", "application/octet-stream")], data,
                      timeout=30)
    return want(r, 200, ["INPUT_LEN=%d" % len(data),
                         "INPUT_SHA1=" + hashlib.sha1(data).hexdigest(),
                         "CONTENT_LENGTH=%d" % len(data)])


@case("large-body-5mib-chunked")
def t_large_chunked():
    data = os.urandom(5 << 20)
    with conn(timeout=30) as c:
        c.send(H.build_request("POST", "/info.php", [("Transfer-Encoding", "chunked")])
               + chunked(data, (65536, 1000, 123457)))
        r = c.read_response("POST", 30)
    return want(r, 200, ["INPUT_LEN=%d" % len(data), "CONTENT_LENGTH=%d" % len(data),
                         "INPUT_SHA1=" + hashlib.sha1(data).hexdigest()])


def spool_fds(server):
    """The master's open files in the spool directory (O_TMPFILE ones read "dir/#ino (deleted)")."""
    out = []
    fd_dir = "/proc/%d/fd" % server.pid
    for name in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, name))
        except OSError:
            continue
        if target.startswith(C.spool_dir + "/"):
            out.append(target)
    return out


@case("body-past-buffer-spooled-to-temp-file-then-freed")
def t_body_spooled():
    """request.body_buffer_size = 64k (default): a 1 MiB body is in a temp file in
    request.body_temp_dir while it arrives (not in master memory), reaches PHP intact, and the
    file is gone once the request is over."""
    data = os.urandom(1 << 20)
    before = spool_fds(C.main)
    if before:
        return "spool files open before the case: %r" % before
    with conn(timeout=30) as c:
        c.send(H.build_request("POST", "/info.php", [("Content-Type", "application/octet-stream")],
                               content_length=len(data)) + data[:300000])
        seen = []
        if not H.wait_until(lambda: seen.extend(spool_fds(C.main)) or seen, 10):
            return "no temp file in %s while 300000 of %d body bytes were in" % (
                C.spool_dir, len(data))
        if not all(t.endswith("(deleted)") for t in seen):
            return "the temp file has a name on disk: %r" % seen
        c.send(data[300000:])
        r = c.read_response("POST", 30)
    err = want(r, 200, ["INPUT_LEN=%d" % len(data), "INPUT_SHA1=" + hashlib.sha1(data).hexdigest()])
    if err:
        return err
    if not H.wait_until(lambda: not spool_fds(C.main), 10):
        return "temp file still open after the response: %r" % spool_fds(C.main)
    return None


@case("body-under-buffer-not-spooled")
def t_body_not_spooled():
    data = os.urandom(60000)
    with conn(timeout=30) as c:
        c.send(H.build_request("POST", "/info.php", [], content_length=len(data)) + data[:50000])
        # The master has taken the 50000 bytes once the head's 100-continue-free path reads on;
        # give it a bounded moment, then check no file appeared.
        H.wait_until(lambda: bool(spool_fds(C.main)), 0.5)
        open_now = spool_fds(C.main)
        c.send(data[50000:])
        r = c.read_response("POST", 30)
    if open_now:
        return "a 60000-byte body was spooled: %r" % open_now
    return want(r, 200, ["INPUT_SHA1=" + hashlib.sha1(data).hexdigest()])


@case("body-temp-dir-missing-fails-startup")
def t_body_temp_dir_missing():
    tmp = H.tmpdir("phpmgr-http-spool-")
    bad = os.path.join(tmp, "no-such-dir")
    s = H.PhpmgrHttpServer(tmp, "mgr-bad-spool", max_children=1,
                           http_lines="http.document_root = %s\nrequest.body_temp_dir = %s"
                           % (C.docroot, bad))
    try:
        s.start(timeout=10, attempts=1)
    except H.StartError:
        pass
    else:
        return "phpmgr started with request.body_temp_dir = %s" % bad
    finally:
        s.stop(timeout=5)
    if not re.search(r"request\.body_temp_dir.*no-such-dir.*No such file", s.log_text()):
        return "the log does not name the key and the reason:\n" + s.log_text()[-800:]
    return None


@case("body-over-max-413-content-length")
def t_413():
    before = len(hits())
    with conn() as c:
        t0 = time.monotonic()
        c.send(H.build_request("POST", "/info.php?case=413", [("Content-Length", str(9 << 20))]))
        c.send(b"x" * 65536)
        r = c.read_response("POST", 5)
        dt = time.monotonic() - t0
        if r is None or r.status != 413:
            return "expected 413, got %r" % (r and (r.status, r.body[:100]))
        if not c.wait_closed(3):
            return "connection left open after 413"
    if len(hits()) != before:
        return "reached PHP"
    if dt > 2:
        return "413 took %.1fs (should not wait for the body)" % dt


@case("body-over-max-413-chunked")
def t_413_chunked():
    before = len(hits())
    c = conn()
    stop = threading.Event()

    def pump():
        piece = b"10000\r\n" + b"y" * 0x10000 + b"\r\n"
        try:
            c.send(H.build_request("POST", "/info.php?case=413c",
                                   [("Transfer-Encoding", "chunked")]))
            for _ in range(160):  # 10 MiB at most
                if stop.is_set():
                    return
                c.sock.sendall(piece)
        except OSError:
            pass

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    try:
        r = c.read_response("POST", 10)
    except (OSError, H.HttpError) as e:
        r = None
        err = str(e)
    else:
        err = ""
    stop.set()
    t.join(5)
    c.close()
    if r is None or r.status != 413:
        return "expected 413, got %r %s" % (r and r.status, err)
    if len(hits()) != before:
        return "reached PHP"


@case("request-line-too-long-414")
def t_414():
    before = len(hits())
    for n in (10000, 15000):
        with conn() as c:
            c.send(b"GET /info.php?" + b"q" * n + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            r = c.read_response("GET", 5)
            if r is None or r.status != 414:
                return "request line of %d bytes: expected 414, got %r" % (n, r and r.status)
            if not c.wait_closed(3):
                return "left open after 414"
    if len(hits()) != before:
        return "reached PHP"


@case("headers-too-large-431")
def t_431():
    before = len(hits())
    variants = {
        "20 headers of 1000 bytes": [("X-Big-%d" % i, "v" * 1000) for i in range(20)],
        "one header of 20000 bytes": [("X-Huge", "h" * 20000)],
        "300 small header lines": [("X-N%d" % i, "1") for i in range(300)],
    }
    for label, hdrs in variants.items():
        with conn() as c:
            c.send(H.build_request("GET", "/info.php?case=431", hdrs))
            r = c.read_response("GET", 5)
            if r is None or r.status != 431:
                return "%s: expected 431, got %r" % (label, r and r.status)
            if not c.wait_closed(3):
                return "%s: left open after 431" % label
    if len(hits()) != before:
        return "reached PHP"


@case("headers-just-under-limit-accepted")
def t_431_ok():
    r = get("/info.php", headers=[("X-Big-%d" % i, "v" * 1000) for i in range(12)])
    return want(r, 200)


# --------------------------------------------------------------------------------------------
# the malformed / smuggling corpus: every entry gets one 4xx/5xx response and a closed
# connection, and never reaches PHP (the hit log does not grow). Each request targets
# /info.php?case=NAME and is followed by a well-formed "smuggled" request in the same write,
# which must not be answered either.

SMUGGLED = b"GET /info.php?smuggled=1 HTTP/1.1\r\nHost: localhost\r\n\r\n"


def rq(name, line=None, headers=b"Host: localhost\r\n", body=b"", method=b"GET", version=b"HTTP/1.1"):
    if line is None:
        line = method + b" /info.php?case=" + name.encode() + b" " + version
    return line + b"\r\n" + headers + b"\r\n" + body


def post(name, headers, body):
    return rq(name, headers=b"Host: localhost\r\n" + headers, body=body, method=b"POST")


def te_chunked(name, body):
    return post(name, b"Transfer-Encoding: chunked\r\n", body)


E400 = (400,)
E400_501 = (400, 501)
E400_505 = (400, 505)
CORPUS = [
    # Content-Length
    ("cl-duplicate-equal", post("cl-duplicate-equal", b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"), E400),
    ("cl-conflicting", post("cl-conflicting", b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"), E400),
    ("cl-list", post("cl-list", b"Content-Length: 5, 5\r\n", b"hello"), E400),
    ("cl-plus-sign", post("cl-plus-sign", b"Content-Length: +5\r\n", b"hello"), E400),
    ("cl-negative", post("cl-negative", b"Content-Length: -5\r\n", b"hello"), E400),
    ("cl-hex", post("cl-hex", b"Content-Length: 0x5\r\n", b"hello"), E400),
    ("cl-empty", post("cl-empty", b"Content-Length: \r\n", b""), E400),
    ("cl-inner-space", post("cl-inner-space", b"Content-Length: 1 0\r\n", b"0123456789"), E400),
    ("cl-overflow", post("cl-overflow", b"Content-Length: 184467440737095516170\r\n", b""), (400, 413)),
    # Transfer-Encoding
    ("te-and-cl", post("te-and-cl", b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", b"0\r\n\r\n"), E400),
    ("cl-and-te", post("cl-and-te", b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), E400),
    ("te-cl-classic-smuggle", post("te-cl-classic-smuggle", b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\nG"), E400),
    ("te-gzip", post("te-gzip", b"Transfer-Encoding: gzip\r\n", b"xx"), E400_501),
    ("te-gzip-chunked", post("te-gzip-chunked", b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"), E400_501),
    ("te-chunked-chunked", post("te-chunked-chunked", b"Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n"), E400_501),
    ("te-identity", post("te-identity", b"Transfer-Encoding: identity\r\n", b""), E400_501),
    ("te-xchunked", post("te-xchunked", b"Transfer-Encoding: xchunked\r\n", b"0\r\n\r\n"), E400_501),
    ("te-chunked-trailing-comma", post("te-chunked-trailing-comma", b"Transfer-Encoding: chunked,\r\n", b"0\r\n\r\n"), E400_501),
    ("te-two-lines", post("te-two-lines", b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", b"0\r\n\r\n"), E400_501),
    ("te-two-lines-chunked", post("te-two-lines-chunked", b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), E400_501),
    ("te-vertical-tab", post("te-vertical-tab", b"Transfer-Encoding: \x0bchunked\r\n", b"0\r\n\r\n"), E400_501),
    ("te-space-before-colon", post("te-space-before-colon", b"Transfer-Encoding : chunked\r\n", b"0\r\n\r\n"), E400),
    ("cl-space-before-colon", post("cl-space-before-colon", b"Content-Length : 5\r\n", b"hello"), E400),
    ("te-folded-value", post("te-folded-value", b"Transfer-Encoding:\r\n chunked\r\n", b"0\r\n\r\n"), E400_501),
    ("te-in-http10", rq("te-in-http10", headers=b"Host: localhost\r\nTransfer-Encoding: chunked\r\n", body=b"0\r\n\r\n", method=b"POST", version=b"HTTP/1.0"), E400),
    # chunked bodies
    ("chunk-size-not-hex", te_chunked("chunk-size-not-hex", b"zz\r\nhello\r\n0\r\n\r\n"), E400),
    ("chunk-size-negative", te_chunked("chunk-size-negative", b"-5\r\nhello\r\n0\r\n\r\n"), E400),
    ("chunk-size-0x", te_chunked("chunk-size-0x", b"0x5\r\nhello\r\n0\r\n\r\n"), E400),
    ("chunk-size-overflow", te_chunked("chunk-size-overflow", b"10000000000000005\r\nhello\r\n0\r\n\r\n"), (400, 413)),
    ("chunk-size-empty", te_chunked("chunk-size-empty", b"\r\nhello\r\n0\r\n\r\n"), E400),
    ("chunk-size-space-inside", te_chunked("chunk-size-space-inside", b"5 5\r\nhello\r\n0\r\n\r\n"), E400),
    ("chunk-data-longer-than-size", te_chunked("chunk-data-longer-than-size", b"3\r\nhello\r\n0\r\n\r\n"), E400),
    ("chunk-missing-crlf", te_chunked("chunk-missing-crlf", b"5\r\nhelloXX0\r\n\r\n"), E400),
    ("chunk-bare-lf", te_chunked("chunk-bare-lf", b"5\nhello\n0\n\n"), E400),
    ("chunk-ext-nul", te_chunked("chunk-ext-nul", b"5;a\x00b\r\nhello\r\n0\r\n\r\n"), E400),
    ("chunk-ext-too-long", te_chunked("chunk-ext-too-long", b"5;x=" + b"e" * 6000 + b"\r\nhello\r\n0\r\n\r\n"), (400, 431)),
    ("chunk-bad-trailer", te_chunked("chunk-bad-trailer", b"5\r\nhello\r\n0\r\nX-T : y\r\n\r\n"), E400),
    # header syntax
    ("obs-fold", rq("obs-fold", headers=b"Host: localhost\r\nX-Test: a\r\n b\r\n"), E400),
    ("obs-fold-tab", rq("obs-fold-tab", headers=b"Host: localhost\r\nX-Test: a\r\n\tb\r\n"), E400),
    ("obs-fold-first-line", rq("obs-fold-first-line", headers=b" X-Test: a\r\nHost: localhost\r\n"), E400),
    ("whitespace-only-line", rq("whitespace-only-line", headers=b"Host: localhost\r\n \r\n"), E400),
    ("space-before-colon", rq("space-before-colon", headers=b"Host: localhost\r\nX-Test : a\r\n"), E400),
    ("space-before-colon-host", rq("space-before-colon-host", headers=b"Host : localhost\r\n"), E400),
    ("tab-before-colon", rq("tab-before-colon", headers=b"Host: localhost\r\nX-Test\t: a\r\n"), E400),
    ("nul-in-value", rq("nul-in-value", headers=b"Host: localhost\r\nX-Test: a\x00b\r\n"), E400),
    ("ctl-01-in-value", rq("ctl-01-in-value", headers=b"Host: localhost\r\nX-Test: a\x01b\r\n"), E400),
    ("esc-in-value", rq("esc-in-value", headers=b"Host: localhost\r\nX-Test: a\x1bb\r\n"), E400),
    ("del-in-value", rq("del-in-value", headers=b"Host: localhost\r\nX-Test: a\x7fb\r\n"), E400),
    ("cr-in-value", rq("cr-in-value", headers=b"Host: localhost\r\nX-Test: a\rb\r\n"), E400),
    ("nul-in-name", rq("nul-in-name", headers=b"Host: localhost\r\nX-T\x00est: a\r\n"), E400),
    ("non-token-name", rq("non-token-name", headers=b"Host: localhost\r\nX(Test): a\r\n"), E400),
    ("8bit-in-name", rq("8bit-in-name", headers=b"Host: localhost\r\nX-T\xe9st: a\r\n"), E400),
    ("empty-name", rq("empty-name", headers=b"Host: localhost\r\n: a\r\n"), E400),
    ("no-colon", rq("no-colon", headers=b"Host: localhost\r\nNoColonHere\r\n"), E400),
    # line endings
    ("bare-lf-everywhere", b"GET /info.php?case=bare-lf-everywhere HTTP/1.1\nHost: localhost\n\n", E400),
    ("bare-lf-one-header", b"GET /info.php?case=bare-lf-one-header HTTP/1.1\r\nHost: localhost\nX-Test: a\r\n\r\n", E400),
    ("bare-lf-request-line", b"GET /info.php?case=bare-lf-request-line HTTP/1.1\nHost: localhost\r\n\r\n", E400),
    ("bare-cr", b"GET /info.php?case=bare-cr HTTP/1.1\rHost: localhost\r\n\r\n", E400),
    ("bare-lf-final", b"GET /info.php?case=bare-lf-final HTTP/1.1\r\nHost: localhost\r\n\n", E400),
    # request line: method
    ("method-bad-char", rq("method-bad-char", line=b"G(ET /info.php?case=method-bad-char HTTP/1.1"), E400),
    ("method-empty", rq("method-empty", line=b" /info.php?case=method-empty HTTP/1.1"), E400),
    ("method-nul", rq("method-nul", line=b"GE\x00T /info.php?case=method-nul HTTP/1.1"), E400),
    ("method-8bit", rq("method-8bit", line=b"G\xc9T /info.php?case=method-8bit HTTP/1.1"), E400),
    ("method-slash", rq("method-slash", line=b"GET/ /info.php?case=method-slash HTTP/1.1"), E400),
    # request line: separators, target
    ("double-space", rq("double-space", line=b"GET  /info.php?case=double-space HTTP/1.1"), E400),
    ("tab-separators", rq("tab-separators", line=b"GET\t/info.php?case=tab-separators\tHTTP/1.1"), E400),
    ("trailing-space", rq("trailing-space", line=b"GET /info.php?case=trailing-space HTTP/1.1 "), E400_505),
    ("target-no-slash", rq("target-no-slash", line=b"GET info.php?case=target-no-slash HTTP/1.1"), E400),
    ("target-space-inside", rq("target-space-inside", line=b"GET /info.php?case=target space HTTP/1.1"), E400_505),
    ("target-ctl", rq("target-ctl", line=b"GET /info.php?case=target-ctl\x01 HTTP/1.1"), E400),
    ("target-del", rq("target-del", line=b"GET /info.php?case=target-del\x7f HTTP/1.1"), E400),
    ("target-encoded-nul", rq("target-encoded-nul", line=b"GET /info.php%00.txt?case=target-encoded-nul HTTP/1.1"), E400),
    ("target-bad-percent", rq("target-bad-percent", line=b"GET /in%zzfo.php?case=target-bad-percent HTTP/1.1"), E400),
    ("target-truncated-percent", rq("target-truncated-percent", line=b"GET /info.php% HTTP/1.1"), E400),
    ("target-dotdot-above-root", rq("target-dotdot-above-root", line=b"GET /../info.php?case=target-dotdot-above-root HTTP/1.1"), (400, 403, 404)),
    ("target-asterisk-get", rq("target-asterisk-get", line=b"GET * HTTP/1.1"), E400),
    ("target-authority-form-get", rq("target-authority-form-get", line=b"GET localhost:80 HTTP/1.1"), E400),
    ("target-absolute-ftp", rq("target-absolute-ftp", line=b"GET ftp://localhost/info.php?case=target-absolute-ftp HTTP/1.1"), E400),
    ("target-absolute-userinfo", rq("target-absolute-userinfo", line=b"GET http://user@localhost/info.php?case=target-absolute-userinfo HTTP/1.1"), E400),
    # Host
    ("host-missing", rq("host-missing", headers=b""), E400),
    ("host-two", rq("host-two", headers=b"Host: localhost\r\nHost: evil.example\r\n"), E400),
    ("host-two-equal", rq("host-two-equal", headers=b"Host: localhost\r\nHost: localhost\r\n"), E400),
    ("host-with-space", rq("host-with-space", headers=b"Host: local host\r\n"), E400),
    ("host-with-slash", rq("host-with-slash", headers=b"Host: localhost/evil\r\n"), E400),
    ("host-with-userinfo", rq("host-with-userinfo", headers=b"Host: user@localhost\r\n"), E400),
    ("host-bad-port", rq("host-bad-port", headers=b"Host: localhost:80x\r\n"), E400),
    # versions
    ("http2-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", E400_505),
    ("http09-request", b"GET /info.php?case=http09-request\r\n", E400_505),
    ("version-1.2", rq("version-1.2", version=b"HTTP/1.2"), E400_505),
    ("version-2.0", rq("version-2.0", version=b"HTTP/2.0"), E400_505),
    ("version-lowercase", rq("version-lowercase", version=b"http/1.1"), E400_505),
    ("version-garbage", rq("version-garbage", version=b"HTTP/1.1x"), E400_505),
    ("version-two-digit-minor", rq("version-two-digit-minor", version=b"HTTP/1.10"), E400_505),
    ("version-missing-minor", rq("version-missing-minor", version=b"HTTP/1"), E400_505),
    # CONNECT
    ("connect-method", b"CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\n\r\n", (501,)),
]

# Near misses that a strict parser must still accept (so the corpus is not passing by refusing
# everything): these do reach PHP.
ACCEPTED = [
    ("te-chunked-mixed-case", post("ok-te-case", b"Transfer-Encoding: ChUnKeD\r\n", b"3\r\nabc\r\n0\r\n\r\n"), b"INPUT_LEN=3"),
    ("htab-in-value", rq("ok-htab", headers=b"Host: localhost\r\nX-Test: a\tb\r\n"), b"HTTP_X_TEST=a\tb"),
    ("obs-text-in-value", rq("ok-obstext", headers=b"Host: localhost\r\nX-Test: caf\xe9\r\n"), b"HTTP_X_TEST=caf\xe9"),
    ("ows-around-value", rq("ok-ows", headers=b"Host: localhost\r\nX-Test: \t v \t\r\n"), b"HTTP_X_TEST=v\n"),
    ("lowercase-names", b"GET /info.php?case=ok-lower HTTP/1.1\r\nhost: localhost\r\nx-test: low\r\n\r\n", b"HTTP_X_TEST=low"),
    ("cl-zero-get", rq("ok-cl0", headers=b"Host: localhost\r\nContent-Length: 0\r\n"), b"INPUT_LEN=0"),
    ("host-with-port", rq("ok-hostport", headers=b"Host: localhost:8080\r\n"), b"HTTP_HOST=localhost:8080"),
    ("host-ipv6-literal", rq("ok-host6", headers=b"Host: [::1]:8080\r\n"), b"HTTP_HOST=[::1]:8080"),
    ("leading-empty-line", b"\r\nGET /info.php?case=ok-leading HTTP/1.1\r\nHost: localhost\r\n\r\n", b"REQUEST_URI=/info.php?case=ok-leading"),
    ("absolute-form-target", b"GET http://localhost/info.php?case=ok-absolute HTTP/1.1\r\nHost: localhost\r\n\r\n", b"REQUEST_URI=/info.php?case=ok-absolute"),
    ("http10-no-host", b"GET /info.php?case=ok-10 HTTP/1.0\r\n\r\n", b"SERVER_PROTOCOL=HTTP/1.0"),
    ("options-asterisk", b"OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n", None),
]


def corpus_case(name, raw, allowed):
    def fn():
        before = len(hits())
        with conn() as c:
            try:
                c.send(raw + SMUGGLED)
            except OSError:
                pass  # the server may already have answered and closed
            try:
                r = c.read_response("GET", 5)
            except H.HttpError as e:
                return "no proper response: %s" % e
            if r is None:
                return "connection closed without any response"
            closed = c.wait_closed(3)
            extra = c.extra
        time.sleep(0.02)
        new = hits()[before:]
        errs = []
        if r.status not in allowed:
            errs.append("status %d %s, expected %s" % (r.status, r.reason,
                                                       "/".join(map(str, allowed))))
        if not closed:
            errs.append("connection not closed after the error response")
        if extra:
            errs.append("more bytes after the error response: %r" % extra[:200])
        if new:
            errs.append("reached PHP: %r" % new)
        if r.status == 200:
            errs.append("body %r" % r.body[:200])
        return "; ".join(errs) or None
    return fn


def accepted_case(name, raw, needle):
    def fn():
        with conn() as c:
            c.send(raw)
            r = c.read_response("GET", 5)
        if r is None:
            return "closed without a response"
        if needle is None:
            return None if r.status < 500 and r.status != 400 else "status %d" % r.status
        return want(r, 200, needle)
    return fn


for _n, _raw, _allowed in CORPUS:
    case("malformed-" + _n)(corpus_case(_n, _raw, _allowed))
for _n, _raw, _needle in ACCEPTED:
    case("accepted-" + _n)(accepted_case(_n, _raw, _needle))


@case("malformed-corpus-nothing-reached-php")
def t_corpus_summary():
    bad = [h for h in hits() if "smuggled=1" in h or
           any("case=%s" % n in h for n, _, _ in CORPUS)]
    if bad:
        return "these reached PHP: %r" % bad


# --------------------------------------------------------------------------------------------
# response framing

@case("small-response-content-length")
def t_cl():
    r = get("/info.php")
    if r.framing != "length":
        return "framing %s (%r)" % (r.framing, r.headers)
    if int(r.header("Content-Length")) != len(r.body):
        return "Content-Length mismatch"


@case("streamed-response-chunked-and-early")
def t_stream():
    with conn() as c:
        c.send(H.build_request("GET", "/stream.php?n=5&ms=250"))
        t0 = time.monotonic()
        h = c.read_head(10)
        t_head = time.monotonic() - t0
        # put the head back and read the whole response
        c.buf = h[4] + c.buf
        r = c.read_response("GET", 10)
        total = time.monotonic() - t0
        r2 = c.request("GET", "/info.php?n=9")
    if r.framing != "chunked":
        return "framing %s, expected chunked: %r" % (r.framing, r.headers)
    exp = b"".join(b"line %d\n" % i for i in range(5)) + b"done\n"
    if r.body != exp:
        return "body %r" % r.body
    if t_head > total - 0.6:
        return "head arrived after %.2fs of %.2fs: not streamed" % (t_head, total)
    return want(r2, 200, "N=9\n")


@case("streamed-response-http10-not-chunked")
def t_stream10():
    with conn() as c:
        r = c.request("GET", "/stream.php?n=3&ms=50", [("Connection", "keep-alive")],
                      version="HTTP/1.0")
        if r is None:
            return "no response"
        if r.framing == "chunked":
            return "chunked sent to an HTTP/1.0 client"
        exp = b"line 0\nline 1\nline 2\ndone\n"
        if r.body != exp:
            return "body %r (framing %s)" % (r.body, r.framing)
        if r.framing == "close" and not c.eof:
            return "close-delimited body but the connection stayed open"


@case("big-response-1mib")
def t_big():
    r = get("/big.php?kib=1024")
    if r.status != 200 or len(r.body) != 1 << 20 or r.error:
        return "status %d, %d bytes, %s" % (r.status, len(r.body), r.error)
    if not r.body.startswith(b"00000000:xx") or not r.body.endswith(b"x\n"):
        return "content %r" % r.body[:40]


@case("head-streamed-script-no-body")
def t_head_stream():
    with conn() as c:
        h = c.request("HEAD", "/stream.php?n=3&ms=0")
        r = c.request("GET", "/info.php?n=4")
    if h is None or h.status != 200 or h.body:
        return "HEAD: %r" % h
    return want(r, 200, "N=4\n")


def _bodiless(code, body):
    with conn() as c:
        r = c.request("GET", "/status.php?code=%d&body=%s" % (code, body))
        r2 = c.request("GET", "/info.php?n=after%d" % code)
    if r is None or r.status != code:
        return "status %r" % (r and r.status)
    if r.header("Transfer-Encoding"):
        return "%d with Transfer-Encoding %r" % (code, r.header("Transfer-Encoding"))
    if code == 204 and r.header("Content-Length") not in (None,):
        return "204 with Content-Length %r" % r.header("Content-Length")
    if r2 is None:
        return "connection closed after %d" % code
    return want(r2, 200, "N=after%d" % code)


@case("status-204-no-body")
def t_204():
    return _bodiless(204, "0")


@case("status-204-php-printed-body-dropped")
def t_204b():
    return _bodiless(204, "1")


@case("status-304-no-body")
def t_304():
    return _bodiless(304, "0")


@case("status-304-php-printed-body-dropped")
def t_304b():
    return _bodiless(304, "1")


@case("status-header-becomes-status-line")
def t_status_hdr():
    r = get("/status.php?code=410&how=status&reason=Gone%20Away")
    if r.status != 410:
        return "status %d %s" % (r.status, r.reason)
    if r.reason != "Gone Away":
        return "reason %r, expected 'Gone Away' (nginx keeps the script's reason)" % r.reason
    if r.header("Status") is not None:
        return "Status header leaked into the response: %r" % r.header("Status")


@case("status-http-line-from-php")
def t_status_line():
    r = get("/status.php?code=299&how=line")
    if r.status != 299:
        return "status %d %s" % (r.status, r.reason)


@case("status-http-response-code")
def t_status_code():
    for code in (201, 404, 418, 500, 503):
        r = get("/status.php?code=%d" % code)
        if r.status != code or b"status body %d" % code not in r.body:
            return "code %d: got %d %r" % (code, r.status, r.body[:100])


@case("location-header-302")
def t_location():
    r = get("/location.php")
    if r.status != 302 or r.header("Location") != "/elsewhere?x=1":
        return "status %d Location %r" % (r.status, r.header("Location"))


@case("multiple-set-cookie-kept")
def t_cookies():
    r = get("/cookies.php")
    ck = r.header_all("Set-Cookie")
    if len(ck) != 3 or not ck[0].startswith("a=1") or not ck[1].startswith("b=two") or \
            not ck[2].startswith("c=3"):
        return "Set-Cookie lines %r" % ck
    xm = r.header_all("X-Multi")
    if xm not in (["one", "two"], ["one, two"]):
        return "X-Multi %r" % xm


@case("date-and-server-headers")
def t_date():
    for path in ("/info.php", "/hello.txt", "/nope-404.txt", "/status.php?code=500"):
        r = get(path)
        d = r.header("Date")
        if not d or not r.header("Server"):
            return "%s: Date %r Server %r" % (path, d, r.header("Server"))
        try:
            when = parsedate_to_datetime(d).timestamp()
        except (TypeError, ValueError):
            return "%s: bad Date %r" % (path, d)
        if abs(when - time.time()) > 10 or not d.endswith(" GMT"):
            return "%s: Date %r is not now in GMT" % (path, d)
        if len(r.header_all("Date")) != 1 or len(r.header_all("Server")) != 1:
            return "%s: duplicate Date/Server: %r" % (path, r.headers)


# --------------------------------------------------------------------------------------------
# routing and CGI variables

@case("front-controller-for-non-file")
def t_front():
    r = get("/some/route/here?x=1&y=two")
    e = want(r, 200, ["front controller", "REQUEST_URI=/some/route/here?x=1&y=two",
                      "QUERY_STRING=x=1&y=two", "SCRIPT_NAME=/index.php",
                      'GET={"x":"1","y":"two"}'])
    if e:
        return e
    v = kv(r.body)
    if v.get("SCRIPT_FILENAME") != C.docroot + "/index.php":
        return "SCRIPT_FILENAME %r" % v.get("SCRIPT_FILENAME")


@case("front-controller-for-missing-directory")
def t_front_dir():
    r = get("/no/such/dir/")
    return want(r, 200, ["front controller", "REQUEST_URI=/no/such/dir/"])


@case("path-info-after-script")
def t_path_info():
    r = get("/info.php/extra/path.html?q=1")
    e = want(r, 200)
    if e:
        return e
    v = kv(r.body)
    exp = {"SCRIPT_NAME": "/info.php", "PATH_INFO": "/extra/path.html",
           "REQUEST_URI": "/info.php/extra/path.html?q=1", "QUERY_STRING": "q=1",
           "PHP_SELF": "/info.php/extra/path.html", "SCRIPT_FILENAME": C.docroot + "/info.php"}
    bad = {k: (v.get(k), x) for k, x in exp.items() if v.get(k) != x}
    if bad:
        return "got vs expected: %r" % bad


@case("request-uri-as-sent-query-string-raw")
def t_request_uri():
    r = get("/info.php?a=%20b&c=%2F&d=%C3%BC&e")
    v = kv(r.body)
    exp = {"REQUEST_URI": "/info.php?a=%20b&c=%2F&d=%C3%BC&e",
           "QUERY_STRING": "a=%20b&c=%2F&d=%C3%BC&e", "SCRIPT_NAME": "/info.php",
           "DOCUMENT_ROOT": C.docroot, "PATH_INFO": "", "REQUEST_METHOD": "GET",
           "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "HTTPS": "(unset)",
           "SERVER_PORT": str(C.main.http_port), "GATEWAY_INTERFACE": "CGI/1.1",
           "HTTP_HOST": "localhost"}
    bad = {k: (v.get(k), x) for k, x in exp.items() if v.get(k) != x}
    if bad:
        return "got vs expected: %r" % bad


@case("encoded-path-to-script")
def t_encoded_path():
    r = get("/inf%6F.php?enc=1")
    v = kv(r.body)
    if r.status != 200 or v.get("SCRIPT_NAME") != "/info.php" or \
            v.get("REQUEST_URI") != "/inf%6F.php?enc=1":
        return "status %d SCRIPT_NAME %r REQUEST_URI %r" % (r.status, v.get("SCRIPT_NAME"),
                                                            v.get("REQUEST_URI"))


@case("directory-index-script")
def t_dir_index():
    r = get("/sub/?z=1")
    return want(r, 200, "sub index SCRIPT_NAME=/sub/index.php REQUEST_URI=/sub/?z=1")


@case("directory-without-slash-301-as-nginx")
def t_dir_redirect():
    # nginx's defaults: "http://" + the request's host without its port, lower case (the
    # listening address when there is no Host) + ":" + the listening port + path + "/" + "?args",
    # and nginx's page with its footer
    port = C.main.http_port
    for path, headers, version, loc in (
            ("/sub", [("Host", "Example.COM.:1234")], "HTTP/1.1", "http://example.com:%d/sub/"),
            ("/sub?x=1&y", [], "HTTP/1.0", "http://127.0.0.1:%d/sub/?x=1&y"),
            ("http://Abs.Example/sub", [("Host", "other")], "HTTP/1.1",
             "http://abs.example:%d/sub/")):
        with conn() as c:
            c.send(H.build_request("GET", path, headers + [("Connection", "close")],
                                   version=version, host=None))
            r = c.read_response()
        e = want(r, 301, ["<h1>301 Moved Permanently</h1>", "<hr><center>phpmgr/"])
        if e:
            return "%s: %s" % (path, e)
        if r.header("Location") != loc % port:
            return "%s: Location %r, expected %r" % (path, r.header("Location"), loc % port)


@case("directory-without-slash-301-body-never-read-as-a-request")
def t_dir_redirect_body():
    # the body of a request answered without reading it must not pass for the next request
    # (behind a proxy's shared upstream connection, that request would be someone else's)
    inner = H.build_request("GET", "/info.php?smuggled=1")
    with conn() as c:
        c.send(H.build_request("POST", "/sub", [("Content-Type", "text/plain")], inner))
        r = c.read_response()
        e = want(r, 301)
        if e:
            return e
        nxt = c.read_response(timeout=3)
    if nxt is not None:
        return "the body was answered as a request: %d %r" % (nxt.status, nxt.body[:120])
    if any("smuggled" in ln for ln in hits()):
        return "the body ran as a PHP request"


@case("absolute-form-request")
def t_absolute():
    r = get("http://localhost/info.php?abs=1")
    v = kv(r.body)
    if r.status != 200 or v.get("REQUEST_URI") != "/info.php?abs=1" or \
            v.get("SCRIPT_NAME") != "/info.php":
        return "status %d %r" % (r.status, r.body[:300])


@case("second-http-listen-serves")
def t_second_listen():
    r = get("/info.php?n=2nd", port=C.main.http_ports[1])
    e = want(r, 200, "N=2nd")
    if e:
        return e
    if kv(r.body).get("SERVER_PORT") != str(C.main.http_ports[1]):
        return "SERVER_PORT %r" % kv(r.body).get("SERVER_PORT")


# --------------------------------------------------------------------------------------------
# static files

@case("static-content-types")
def t_types():
    exp = {"/hello.txt": ("text/plain", b"hello static world\n"),
           "/style.css": ("text/css", None), "/app.js": ("javascript", None),
           "/data.json": ("application/json", None), "/page.html": ("text/html", None),
           "/logo.png": ("image/png", None), "/blob.unknownext": ("application/octet-stream", None)}
    errs = []
    for path, (ctype, body) in exp.items():
        r = get(path)
        with open(C.docroot + path, "rb") as f:
            content = f.read()
        got = r.header("Content-Type") or ""
        if r.status != 200 or ctype not in got or r.body != content or r.framing != "length":
            errs.append("%s: %d %r framing %s body %r" % (path, r.status, got, r.framing,
                                                         r.body[:40]))
    if len(hits()) and any("hello.txt" in h for h in hits()):
        errs.append("a static file went through PHP")
    return "; ".join(errs) or None


@case("static-large-file")
def t_static_big():
    r = get("/large.bin", timeout=20)
    if r.status != 200 or r.body != C.large or r.framing != "length":
        return "status %d, %d of %d bytes" % (r.status, len(r.body), len(C.large))


def raw_get(path, rcvbuf=None, port=None):
    """A socket with GET path sent (Connection: close); a small rcvbuf keeps the server's data
    waiting in its own buffers (and the splice pipe) instead of ours."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(15)
    sock.connect((H.LOOPBACK, port or C.main.http_port))
    sock.sendall(H.build_request("GET", path, [("Connection", "close")]))
    return sock


def read_to_eof(sock, deadline_s, pace=None):
    """Everything until EOF (bounded by deadline_s); pace(n_so_far) may sleep to read slowly."""
    dl = H.Deadline(deadline_s)
    data = bytearray()
    while not dl.expired():
        sock.settimeout(max(0.05, dl.left()))
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not chunk:
            return bytes(data), True
        data += chunk
        if pace:
            pace(len(data))
    return bytes(data), False


def split_head(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


@case("static-big-file-slow-reader-intact")
def t_static_slow_reader():
    """A 24 MiB file spliced to a client that reads in small steps: every byte, in order."""
    path = os.path.join(C.docroot, "big24.bin")
    data = os.urandom(24 << 20)
    with open(path, "wb") as f:
        f.write(data)
    sock = raw_get("/big24.bin", rcvbuf=65536)
    try:
        raw, eof = read_to_eof(sock, 60, pace=lambda n: time.sleep(0.002) if n < (2 << 20) else None)
    finally:
        sock.close()
    head, body = split_head(raw)
    if "200 OK" not in head.split("\r\n")[0]:
        return "head: %r" % head[:200]
    if not eof or len(body) != len(data) or hashlib.sha1(body).digest() != hashlib.sha1(data).digest():
        return "eof %s, %d of %d bytes, sha1 %s" % (eof, len(body), len(data),
                                                   "equal" if body == data else "differs")
    return None


@case("static-client-gone-mid-file-then-pipes-clean")
def t_static_client_gone():
    """Clients that leave mid-file must not leave bytes behind for the next file's client: after
    10 abandoned downloads, 6 concurrent full ones of two different files are each intact."""
    for name, seed in (("a24.bin", b"A"), ("b24.bin", b"B")):
        p = os.path.join(C.docroot, name)
        if not os.path.exists(p):
            with open(p, "wb") as f:
                f.write(hashlib.sha256(seed).digest() * ((24 << 20) // 32))
    for _ in range(10):
        sock = raw_get("/a24.bin", rcvbuf=32768)
        sock.recv(50000)
        sock.close()
    results = {}

    def fetch(i):
        name = "/a24.bin" if i % 2 else "/b24.bin"
        sock = raw_get(name)
        try:
            raw, eof = read_to_eof(sock, 60)
        finally:
            sock.close()
        _, body = split_head(raw)
        with open(os.path.join(C.docroot, name[1:]), "rb") as f:
            results[i] = (eof, body == f.read(), len(body))

    ths = [threading.Thread(target=fetch, args=(i,)) for i in range(6)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(90)
    bad = {i: v for i, v in results.items() if not (v[0] and v[1])}
    if len(results) != 6 or bad:
        return "downloads not intact (i: eof, equal, length): %r of %d" % (bad, len(results))
    return None


@case("static-file-truncated-mid-send-closes")
def t_static_truncated():
    """The file shrinks while it is being sent: the connection is closed short of
    Content-Length (the client can tell), never left hanging, and the log says why."""
    path = os.path.join(C.docroot, "shrinks.bin")
    with open(path, "wb") as f:
        f.write(os.urandom(48 << 20))
    sock = raw_get("/shrinks.bin", rcvbuf=16384)
    try:
        sock.settimeout(10)
        first = sock.recv(16384)
        os.truncate(path, 0)
        raw, eof = read_to_eof(sock, 30)
    finally:
        sock.close()
    head, body = split_head(first + raw)
    m = re.search(r"Content-Length: (\d+)", head)
    if not m or int(m.group(1)) != 48 << 20:
        return "head: %r" % head[:300]
    if not eof:
        return "no EOF within 30 s after %d bytes" % len(body)
    if len(body) >= 48 << 20:
        return "the whole file arrived although it was truncated to 0 early on"
    if not H.wait_until(lambda: "reading a file to send failed: it shrank" in C.main.log_text(), 5):
        return "no log line about the short file"
    return None


def send_timeout_file():
    path = os.path.join(C.docroot, "sendtmo.bin")
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(hashlib.sha256(b"send-timeout").digest() * ((32 << 20) // 32))
    return path


@case("send-timeout-client-that-stops-reading-is-closed")
def t_send_timeout_stuck():
    """http.send_timeout = 1s (mgr-timeouts): a client that reads nothing of a 32 MiB response for
    3 s has its connection closed; reading afterwards ends early, short of the file."""
    size = os.path.getsize(send_timeout_file())
    sock = raw_get("/sendtmo.bin", rcvbuf=16384, port=C.tmo.http_port)
    try:
        if not H.wait_until(lambda: "took nothing of its response" in C.tmo.log_text(), 6):
            return "no send-timeout log line within 6 s of not reading"
        raw, eof = read_to_eof(sock, 20)
    finally:
        sock.close()
    _, body = split_head(raw)
    if not eof:
        return "the connection stayed open (no EOF within 20 s of reading)"
    if len(body) >= size:
        return "the whole %d-byte file arrived: the stuck connection was not closed" % size
    return None


@case("send-timeout-slow-but-steady-reader-served")
def t_send_timeout_steady():
    """The timeout runs between two sends, not over the whole response: a client that pauses
    0.6 s after every 2 MiB (2.4 s of pauses in all, past the 1 s timeout) gets all of it.
    (Like nginx's send_timeout, it counts bytes the socket takes: a reader too slow to free a
    third of the socket's send buffer within the timeout is closed, as nginx would.)"""
    with open(send_timeout_file(), "rb") as f:
        data = f.read()
    sock = raw_get("/sendtmo.bin", port=C.tmo.http_port)
    try:
        raw = bytearray()
        for _ in range(4):
            want = len(raw) + (2 << 20)
            while len(raw) < want:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                raw += chunk
            time.sleep(0.6)
        rest, eof = read_to_eof(sock, 30)
    finally:
        sock.close()
    _, body = split_head(bytes(raw) + rest)
    if not eof or body != data:
        return "eof %s, %d of %d bytes, %s" % (eof, len(body), len(data),
                                              "equal" if body == data else "differs")
    return None


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


@case("big-php-output-to-stalled-client-not-buffered-in-master")
def t_output_backpressure():
    """A script writes 96 MiB to a client that reads nothing for 2 s: the master stops reading
    that worker once ~1 MiB waits for the client (the worker blocks in its writes, as behind
    nginx), so its RSS grows by far less than the response; then every byte still arrives."""
    script = os.path.join(C.docroot, "bigout.php")
    with open(script, "w") as f:
        f.write('<?php header("Content-Type: application/octet-stream");\n'
                '$s = str_repeat("0123456789abcdef", 4096);\n'
                'for ($i = 0; $i < 1536; $i++) { echo $s; flush(); }\n')
    total = 1536 * 65536
    srv = C.hb  # no request_terminate_timeout there
    pid = srv.pid
    before = vm_rss_kib(pid)
    sock = raw_get("/bigout.php", rcvbuf=65536, port=srv.http_port)
    try:
        peak = before
        dl = H.Deadline(2.0)
        while not dl.expired():  # sample while the client reads nothing
            peak = max(peak, vm_rss_kib(pid))
            time.sleep(0.05)
        raw, eof = read_to_eof(sock, 60)
    finally:
        sock.close()
    head, body = split_head(raw)
    if not eof or "200 OK" not in head.split("\r\n")[0]:
        return "eof %s, head %r" % (eof, head[:200])
    if "transfer-encoding: chunked" in head.lower():
        body, err = H._dechunk(body)
        if err:
            return "chunked framing: " + err
    if len(body) != total:
        return "%d of %d body bytes" % (len(body), total)
    growth = peak - before
    if growth > 24 * 1024:
        return "master RSS grew by %d KiB while the client read nothing (response %d KiB)" % (
            growth, total // 1024)
    H.log("master RSS growth while stalled: %d KiB of a %d KiB response" % (growth, total // 1024))
    return None


@case("static-etag-if-none-match-304")
def t_etag():
    r = get("/hello.txt")
    etag = r.header("ETag")
    if not etag:
        return "no ETag: %r" % r.headers
    r2 = get("/hello.txt", headers=[("If-None-Match", etag)])
    r3 = get("/hello.txt", headers=[("If-None-Match", '"other"')])
    if r2.status != 304 or r2.body:
        return "If-None-Match %s: status %d, %d body bytes" % (etag, r2.status, len(r2.body))
    if r2.header("ETag") != etag:
        return "304 without the ETag: %r" % r2.headers
    if r3.status != 200 or r3.body != b"hello static world\n":
        return "mismatched If-None-Match: status %d" % r3.status


@case("static-if-none-match-list-and-weak")
def t_etag_list():
    etag = get("/hello.txt").header("ETag") or '"none"'
    errs = []
    for v in ('"other", ' + etag, "W/" + etag):
        r = get("/hello.txt", headers=[("If-None-Match", v)])
        if r.status != 304:
            errs.append("If-None-Match: %s -> %d (RFC 9110 13.1.2: weak comparison, lists; "
                        "nginx answers 304)" % (v, r.status))
    return "; ".join(errs) or None


@case("static-last-modified-if-modified-since-304")
def t_lm():
    r = get("/hello.txt")
    lm = r.header("Last-Modified")
    if not lm:
        return "no Last-Modified"
    r2 = get("/hello.txt", headers=[("If-Modified-Since", lm)])
    if r2.status != 304 or r2.body:
        return "If-Modified-Since = Last-Modified: status %d" % r2.status
    # (a later date gets 200 here, like nginx's default "if_modified_since exact")
    r4 = get("/hello.txt", headers=[("If-Modified-Since", "Thu, 01 Jan 1998 00:00:00 GMT")])
    if r4.status != 200 or r4.body != b"hello static world\n":
        return "older If-Modified-Since: %d" % r4.status


@case("static-range-206")
def t_range():
    r = get("/hello.txt", headers=[("Range", "bytes=0-4")])
    if r.status != 206 or r.body != b"hello" or not (r.header("Content-Range") or "").startswith(
            "bytes 0-4/"):
        return "Range: bytes=0-4 -> status %d, Content-Range %r, body %r" % (
            r.status, r.header("Content-Range"), r.body[:40])


@case("static-head-no-body")
def t_static_head():
    r = get("/hello.txt", method="HEAD")
    if r.status != 200 or r.body or r.header("Content-Length") != "19":
        return "HEAD: %d %r %r" % (r.status, r.headers, r.body[:40])


def _exactly_one(c, what):
    """After a response, nothing more may arrive on the connection (within 0.5 s)."""
    more = recv_some(c.sock, 0.5)
    if more:
        n = more.count(b"HTTP/1.1 ")
        return "%s: %d more bytes (%d more status lines) arrived unasked: %r" % (
            what, len(more), n, more[:120])
    return None


@case("static-keepalive-get-one-response-each")
def t_static_ka():
    with conn() as c:
        r = c.request("GET", "/hello.txt")
        if r is None or r.status != 200 or r.body != b"hello static world\n":
            return "first GET: %r" % r
        e = _exactly_one(c, "after one keep-alive GET of a static file")
        if e:
            return e
        r2 = c.request("GET", "/style.css")
        if r2 is None or r2.body != b"body { color: red; }\n":
            return "second GET: %r" % (r2 and r2.body[:80])


@case("pipelining-with-static-file")
def t_pipeline_static():
    reqs = (H.build_request("GET", "/info.php?n=1") + H.build_request("GET", "/hello.txt")
            + H.build_request("GET", "/info.php?n=3", [("Connection", "close")]))
    with conn() as c:
        c.send(reqs)
        rs = [c.read_response("GET", 5) for _ in range(3)]
        if None in rs:
            return "connection closed early: %r" % (rs,)
        closed = c.wait_closed(3)
        extra = c.extra
    got = [kv(rs[0].body).get("N"), rs[1].body, kv(rs[2].body).get("N")]
    if got != ["1", b"hello static world\n", "3"]:
        return "responses %r; the third was %d %r %r" % (got, rs[2].status, rs[2].headers[:4],
                                                         rs[2].body[:40])
    if not closed or extra:
        return "closed=%s, %d more bytes: %r" % (closed, len(extra), extra[:100])


@case("static-keepalive-conditional-304")
def t_static_ka_304():
    etag = get("/hello.txt").header("ETag")
    with conn() as c:
        r = c.request("GET", "/hello.txt", [("If-None-Match", etag)])
        if r is None or r.status != 304:
            return "first: %r" % (r and r.status)
        e = _exactly_one(c, "after a keep-alive 304")
        if e:
            return e
        r2 = c.request("GET", "/info.php?n=after304")
    return want(r2, 200, "N=after304")


@case("static-keepalive-head-then-get")
def t_static_ka_head():
    with conn() as c:
        h = c.request("HEAD", "/hello.txt", timeout=5)
        if h is None:
            return "connection closed without an answer to a keep-alive HEAD of a static file"
        if h.status != 200 or h.body:
            return "HEAD: %d %r" % (h.status, h.body[:60])
        e = _exactly_one(c, "after a keep-alive HEAD of a static file")
        if e:
            return e
        r = c.request("GET", "/hello.txt", [("Connection", "close")])
    if r is None or r.body != b"hello static world\n":
        return "GET after HEAD: %r" % r


@case("static-post-refused")
def t_static_post():
    before = len(hits())
    r = get("/hello.txt", method="POST", body=b"x=1")
    if r.status not in (405, 403):
        return "status %d" % r.status
    if len(hits()) != before:
        return "reached PHP"


# Escapes: each must be refused (400/403/404), never the file.
TRAVERSALS = ["/../etc/passwd", "/%2e%2e/etc/passwd", "/..%2fetc/passwd", "/%2e%2e%2fetc%2fpasswd",
              "/%2E%2E/etc/passwd", "/sub/../../etc/passwd", "/./../etc/passwd",
              "/sub/%2e%2e/%2e%2e/etc/passwd", "/outside-link", "/outside-dir/passwd",
              "/sub/outside-rel", "http://localhost/../etc/passwd"]
# Not escapes on Linux (a backslash is a file name byte, %25 decodes once, "//" is merged, and
# /etc/passwd is a path under the docroot): these may reach the front controller, which is fine,
# but must never return the file.
NOT_ESCAPES = ["/..%5cetc/passwd", "/%252e%252e/etc/passwd", "/outside-link/", "//etc/passwd",
               "/etc/passwd", "/outside-dir/", "/outside-dir"]


@case("static-no-escape-from-docroot")
def t_traversal():
    errs = []
    for p in TRAVERSALS + NOT_ESCAPES:
        for method in ("GET", "HEAD"):
            try:
                r = get(p, method=method)
            except (OSError, H.HttpError) as e:
                errs.append("%s %s: %s" % (method, p, e))
                continue
            if PASSWD_MARK in r.body or (method == "HEAD" and r.status == 200 and
                                         r.header("X-Script") is None):
                errs.append("%s %s: SERVED the file outside the docroot (%d, %r)"
                            % (method, p, r.status, r.headers))
            elif p in TRAVERSALS and r.status not in (400, 403, 404):
                errs.append("%s %s: status %d (%s) %r" % (method, p, r.status,
                                                          r.header("X-Script"), r.body[:60]))
    return "; ".join(errs) or None


@case("static-symlink-inside-docroot-served")
def t_symlink_inside():
    r = get("/inside-link.txt")
    return want(r, 200, "hello static world")


@case("php-source-never-served")
def t_source():
    errs = []
    for p in ("/info.php", "/backup.php.bak", "/old.php~", "/x.phtml", "/Upper.PHP", "/a.phar",
              "/info.php.", "/info.php%20", "/sub/index.php", "/src.phps"):
        r = get(p)
        if MARK.encode() in r.body or b"<?php" in r.body:
            errs.append("%s: source served (%d %r)" % (p, r.status, r.header("Content-Type")))
    return "; ".join(errs) or None


@case("dotfiles-not-served")
def t_dotfiles():
    errs = []
    for p in ("/.env", "/.git/config", "/.git/HEAD", "/sub/.htpasswd", "/%2eenv", "/.git/",
              "/sub/../.env"):
        r = get(p)
        if MARK.encode() in r.body:
            errs.append("%s: served (%d)" % (p, r.status))
    return "; ".join(errs) or None


# --------------------------------------------------------------------------------------------
# proxies

@case("trusted-proxy-x-forwarded-for-and-proto")
def t_xff():
    r = get("/info.php", headers=[("X-Forwarded-For", "203.0.113.9"),
                                  ("X-Forwarded-Proto", "https")])
    v = kv(r.body)
    exp = {"REMOTE_ADDR": "203.0.113.9", "HTTPS": "on", "REQUEST_SCHEME": "https"}
    bad = {k: (v.get(k), x) for k, x in exp.items() if v.get(k) != x}
    if bad:
        return "got vs expected: %r" % bad


@case("trusted-proxy-chain-rightmost-untrusted")
def t_xff_chain():
    errs = []
    for xff, exp in (("198.51.100.1, 203.0.113.9", "203.0.113.9"),
                     ("198.51.100.1, 203.0.113.9, 127.0.0.1", "203.0.113.9"),
                     ("2001:db8::7", "2001:db8::7"),
                     ("not-an-address", "127.0.0.1")):
        v = kv(get("/info.php", headers=[("X-Forwarded-For", xff)]).body)
        if v.get("REMOTE_ADDR") != exp:
            errs.append("XFF %r: REMOTE_ADDR %r, expected %r" % (xff, v.get("REMOTE_ADDR"), exp))
    v = kv(get("/info.php", headers=[("X-Forwarded-Proto", "http")]).body)
    if v.get("HTTPS") != "(unset)":
        errs.append("X-Forwarded-Proto: http gave HTTPS=%r" % v.get("HTTPS"))
    return "; ".join(errs) or None


@case("untrusted-peer-forwarded-headers-ignored")
def t_xff_untrusted():
    r = get("/info.php", port=C.tmo.http_port,
            headers=[("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Proto", "https")])
    v = kv(r.body)
    if v.get("REMOTE_ADDR") != "127.0.0.1" or v.get("HTTPS") != "(unset)":
        return "REMOTE_ADDR %r HTTPS %r" % (v.get("REMOTE_ADDR"), v.get("HTTPS"))


# --------------------------------------------------------------------------------------------
# worker failures

@case("worker-crash-502-no-hang")
def t_crash():
    H.require_extensions("posix")  # crash.php: posix_kill
    t0 = time.monotonic()
    with conn() as c:
        r = c.request("GET", "/crash.php", timeout=8)
        dt = time.monotonic() - t0
        if r is None:
            return "closed without a response after %.1fs" % dt
        if r.status != 502:
            return "status %d %r" % (r.status, r.body[:200])
        try:
            r2 = c.request("GET", "/info.php?n=after-crash", timeout=8)
        except OSError:
            r2 = None  # a reset is a clean enough close
        if r2 is not None and want(r2, 200, "N=after-crash"):
            return "the connection is neither usable nor closed: %r" % r2
    if dt > 5:
        return "502 took %.1fs" % dt
    return want(get("/info.php?n=recovered"), 200, "N=recovered")


@case("worker-crash-mid-stream-closes")
def t_crash_mid():
    H.require_extensions("posix")  # crash.php: posix_kill
    t0 = time.monotonic()
    with conn() as c:
        c.send(H.build_request("GET", "/crash.php?before=1"))
        try:
            r = c.read_response("GET", 8)
        except H.HttpError as e:
            r = None
            why = str(e)
        else:
            why = ""
        dt = time.monotonic() - t0
        if r is not None and r.status == 200 and r.framing == "chunked":
            return "a crashed worker's response ended like a complete one: %r" % r.body
        if r is not None and r.status == 200 and r.framing == "length":
            return "complete Content-Length response for a crashed worker: %r" % r.body
        if r is None and "timed out" in why:
            return "hang: " + why
        if not c.wait_closed(3) and r is not None and r.status == 200:
            return "connection left open after a truncated response"
    if dt > 5:
        return "took %.1fs" % dt


@case("request-terminate-timeout-504")
def t_504():
    t0 = time.monotonic()
    r = get("/sleep.php?ms=8000", timeout=10)
    dt = time.monotonic() - t0
    if r.status != 504:
        return "status %d after %.1fs" % (r.status, dt)
    if dt > 4.5:
        return "504 after %.1fs (request_terminate_timeout 2s)" % dt
    return want(get("/info.php?n=after504"), 200, "N=after504")


# --------------------------------------------------------------------------------------------
# timeouts (instance tmo: 1s header/keep-alive/body timeouts; instance hb: heartbeat)

def _closed_within(c, hi):
    t0 = time.monotonic()
    closed = c.wait_closed(hi + 1.0)
    dt = time.monotonic() - t0
    if not closed:
        return None, dt
    return True, dt


@case("header-timeout-half-head")
def t_header_timeout():
    with conn(C.tmo.http_port) as c:
        c.send(b"GET /info.php?case=half HTTP/1.1\r\nHost: localhost\r\n")
        closed, dt = _closed_within(c, 3.0)
        extra = c.extra
    if not closed:
        return "still open after %.1fs (header_timeout 1s)" % dt
    if dt < 0.7 or dt > 3.0:
        return "closed after %.2fs, expected about 1s" % dt
    H.log("half head closed after %.2fs with %r" % (dt, extra[:40]))


@case("header-timeout-trickle-is-total")
def t_header_trickle():
    # one byte every 200 ms: each byte is activity, but the head as a whole must be cut at ~1s
    head = b"GET /info.php?case=trickle HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + b"p" * 40
    with conn(C.tmo.http_port) as c:
        t0 = time.monotonic()
        closed_at = None
        for b in head:
            try:
                c.send(bytes([b]))
            except OSError:
                closed_at = time.monotonic() - t0
                break
            d = recv_some(c.sock, 0.2)
            if d is not None:
                closed_at = time.monotonic() - t0
                break
            if time.monotonic() - t0 > 5:
                break
    if closed_at is None:
        return "a head trickled for 5s was never cut off (header_timeout 1s)"
    if closed_at > 3.0:
        return "cut off only after %.1fs" % closed_at


@case("header-timeout-slow-but-complete-head-served")
def t_header_ok():
    with conn(C.tmo.http_port) as c:
        raw = H.build_request("GET", "/info.php?n=slowok")
        for i in range(0, len(raw), 10):
            c.send(raw[i:i + 10])
            time.sleep(0.05)
        r = c.read_response("GET", 5)
    return want(r, 200, "N=slowok")


@case("keepalive-timeout-idle-connection")
def t_ka_timeout():
    with conn(C.tmo.http_port) as c:
        r = c.request("GET", "/info.php")
        e = want(r, 200)
        if e:
            return e
        closed, dt = _closed_within(c, 3.0)
    if not closed:
        return "idle keep-alive connection still open after %.1fs" % dt
    if dt < 0.7 or dt > 3.0:
        return "closed after %.2fs, expected about 1s" % dt


@case("keepalive-timeout-silent-new-connection")
def t_ka_fresh():
    with conn(C.tmo.http_port) as c:
        closed, dt = _closed_within(c, 3.0)
    if not closed:
        return "a connection that never sent a byte is still open after %.1fs" % dt


@case("body-timeout-stalled-body")
def t_body_timeout():
    before = len(hits())
    with conn(C.tmo.http_port) as c:
        c.send(H.build_request("POST", "/info.php?case=stalled-body", [("Content-Length", "100")])
               + b"0123456789")
        closed, dt = _closed_within(c, 3.0)
        extra = c.extra
    if not closed:
        return "still open after %.1fs (body_timeout 1s)" % dt
    if len(hits()) != before:
        return "an incomplete body reached PHP"
    if dt > 3.0:
        return "closed after %.1fs" % dt
    H.log("stalled body closed after %.2fs with %r" % (dt, extra[:40]))


@case("keepalive-connection-usable-before-timeout")
def t_ka_ok():
    with conn(C.tmo.http_port) as c:
        for i in range(3):
            r = c.request("GET", "/info.php?n=%d" % i)
            if r is None:
                return "closed after %d requests 0.4s apart" % i
            time.sleep(0.4)


@case("heartbeat-idle-time-closes-idle-connection")
def t_heartbeat():
    with conn(C.hb.http_port) as c:
        r = c.request("GET", "/info.php")
        e = want(r, 200)
        if e:
            return e
        closed, dt = _closed_within(c, 5.0)
    if not closed:
        return "still open after %.1fs (heartbeat.idle_time 2s)" % dt
    if dt < 1.4 or dt > 5.0:
        return "closed after %.2fs, expected about 2s" % dt


@case("heartbeat-spares-connection-with-running-request")
def t_heartbeat_busy():
    r = get("/sleep.php?ms=3500", port=C.hb.http_port, timeout=10)
    return want(r, 200, "slept 3500")


# --------------------------------------------------------------------------------------------
# slow clients: 200 connections send a head one byte per second; 4 workers; a normal request
# must still be served promptly

def _slow_clients(n, duration, payload_fn):
    socks = []
    try:
        for i in range(n):
            s = socket.create_connection((H.LOOPBACK, C.main.http_port), timeout=5)
            s.setblocking(False)
            socks.append(s)
    except OSError as e:
        for s in socks:
            s.close()
        return None, "could only open %d connections: %s" % (len(socks), e)
    lat = []
    errs = []
    stop = threading.Event()

    def prober():
        k = 0
        while not stop.is_set():
            time.sleep(0.7)
            t0 = time.monotonic()
            try:
                r = get("/info.php?n=probe%d" % k, timeout=10)
                ok = r.status == 200 and b"N=probe%d\n" % k in r.body
            except (OSError, H.HttpError) as e:
                ok = False
                errs.append(str(e))
            lat.append((time.monotonic() - t0, ok))
            k += 1

    th = threading.Thread(target=prober, daemon=True)
    th.start()
    dead = 0
    t0 = time.monotonic()
    step = 0
    try:
        while time.monotonic() - t0 < duration:
            dead = 0
            for i, s in enumerate(socks):
                data = payload_fn(i, step)
                try:
                    if data:
                        s.send(data)
                except OSError:
                    dead += 1
            step += 1
            time.sleep(max(0.0, t0 + step - time.monotonic()))
    finally:
        stop.set()
        th.join(15)
        for s in socks:
            s.close()
    return (lat, dead, errs), None


@case("slow-clients-200-heads-byte-per-second")
def t_slowloris():
    head = b"GET /info.php?slow=1 HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"s" * 100

    res, err = _slow_clients(200, 6.0, lambda i, step: head[step:step + 1])
    if err:
        return err
    lat, dead, errs = res
    if not lat:
        return "no probe request finished"
    worst = max(x for x, _ in lat)
    bad = [x for x, ok in lat if not ok]
    H.log("slowloris: %d probes, latency max %.3fs median %.3fs; %d slow connections closed "
          "by the server" % (len(lat), worst, sorted(x for x, _ in lat)[len(lat) // 2], dead))
    if bad:
        return "%d of %d probe requests failed: %s" % (len(bad), len(lat), errs[:3])
    if worst > 2.0:
        return "a normal request took %.2fs while 200 slow clients were connected" % worst
    C.slowloris_note = "max %.3fs over %d probes" % (worst, len(lat))


@case("slow-clients-20-bodies-byte-per-second")
def t_slow_bodies():
    # the whole body is read before a worker is taken: 20 (> 4 workers) trickling POST bodies
    head = H.build_request("POST", "/info.php?slowbody=1", [("Content-Length", "1000")])

    def payload(i, step):
        return head if step == 0 else b"b"

    res, err = _slow_clients(20, 4.0, payload)
    if err:
        return err
    lat, dead, errs = res
    if not lat:
        return "no probe request finished"
    worst = max(x for x, _ in lat)
    if any(not ok for _, ok in lat):
        return "probe requests failed: %s" % errs[:3]
    if worst > 2.0:
        return "a normal request took %.2fs while 20 slow bodies were arriving" % worst
    if any("slowbody" in h for h in hits()):
        return "an incomplete body reached PHP"


# --------------------------------------------------------------------------------------------

def health(server):
    """None when the server answers two keep-alive requests and one pipelined pair, else why not."""
    if not server.alive():
        return "exited"
    try:
        with H.HttpConn(server.http_port, timeout=5) as c:
            for i in range(2):
                r = c.request("GET", "/info.php?n=health%d" % i, timeout=5)
                if r is None or r.status != 200 or kv(r.body).get("N") != "health%d" % i:
                    return "request %d: %r" % (i, r and (r.status, r.body[:100]))
            c.send(H.build_request("GET", "/info.php?n=p1") + H.build_request("GET", "/info.php?n=p2"))
            for n in ("p1", "p2"):
                r = c.read_response("GET", 5)
                if r is None or kv(r.body).get("N") != n:
                    return "pipelined %s: %r" % (n, r and (r.status, r.body[:100]))
    except (OSError, H.HttpError) as e:
        return "%s: %s" % (type(e).__name__, e)
    return None


def setup_docroot(tmp):
    root = os.path.join(tmp, "www")
    shutil.copytree(os.path.join(FIX, "www"), root, symlinks=True)
    os.makedirs(os.path.join(root, ".git"))
    files = {".env": "APP_KEY=" + MARK, ".git/config": "[core] " + MARK, ".git/HEAD": MARK,
             "sub/.htpasswd": "u:" + MARK, "backup.php.bak": "<?php // " + MARK,
             "old.php~": "<?php // " + MARK, "x.phtml": "<?php // " + MARK,
             "Upper.PHP": "<?php // " + MARK, "a.phar": "<?php // " + MARK,
             "src.phps": "<?php // " + MARK, "info.php.": "<?php // " + MARK}
    for name, text in files.items():
        with open(os.path.join(root, name), "w") as f:
            f.write(text + "\n")
    # symlinks: out of the docroot (absolute and relative), and one that stays inside
    os.symlink("/etc/passwd", os.path.join(root, "outside-link"))
    os.symlink("/etc", os.path.join(root, "outside-dir"))
    os.symlink("../../../../../../../../../etc/passwd", os.path.join(root, "sub", "outside-rel"))
    os.symlink("hello.txt", os.path.join(root, "inside-link.txt"))
    C.large = os.urandom(3 << 20)
    with open(os.path.join(root, "large.bin"), "wb") as f:
        f.write(C.large)
    return os.path.realpath(root)


def main():
    rep = H.Reporter()
    if not H.phpmgr_available():
        rep.fail("setup", "phpmgr binary not found: %s (make all)" % H.PHPMGR_BIN)
        return rep.finish()
    tmp = H.tmpdir("phpmgr-http-")
    C.docroot = setup_docroot(tmp)
    C.hitlog = os.path.join(tmp, "hits.log")
    C.spool_dir = os.path.join(tmp, "spool")
    os.mkdir(C.spool_dir)
    C.slowloris_note = None
    common = "\n".join([
        "env[HIT_LOG] = " + C.hitlog,
        "php_admin_value[auto_prepend_file] = " + os.path.join(FIX, "hit.php"),
        "php_admin_value[output_buffering] = 4096",
    ])
    http_common = "\n".join([
        "http.document_root = " + C.docroot,
        "http.index = index.php",
        "http.static = yes",
    ])
    C.main = H.PhpmgrHttpServer(
        tmp, "mgr-main", max_children=4, http_listeners=2,
        pool_extra=common + "\nrequest_terminate_timeout = 2s",
        http_lines=http_common + "\n" + "\n".join([
            "http.max_body_size = 8M", "http.max_header_size = 16k",
            "http.keepalive_timeout = 75s", "http.header_timeout = 60s",
            "http.body_timeout = 60s", "http.trusted_proxies = 127.0.0.1/32,::1",
            "request.body_temp_dir = " + C.spool_dir]))
    C.tmo = H.PhpmgrHttpServer(
        tmp, "mgr-timeouts", max_children=2, pool_extra=common,
        http_lines=http_common + "\n" + "\n".join([
            "http.header_timeout = 1s", "http.keepalive_timeout = 1s", "http.body_timeout = 1s",
            "http.send_timeout = 1s"]))
    C.hb = H.PhpmgrHttpServer(
        tmp, "mgr-heartbeat", max_children=2, pool_extra=common,
        http_lines=http_common + "\n" + "\n".join([
            "http.keepalive_timeout = 60s", "heartbeat.check_interval = 1s",
            "heartbeat.idle_time = 2s"]))
    servers = [C.main, C.tmo, C.hb]
    errors = {}

    def start(s):
        try:
            s.start(timeout=20)
        except H.StartError as e:
            errors[s.label] = str(e)

    ths = [threading.Thread(target=start, args=(s,)) for s in servers]
    for t in ths:
        t.start()
    for t in ths:
        t.join(60)
    try:
        if errors:
            for label, e in errors.items():
                rep.fail("setup-start-" + label, e)
            return rep.finish()
        H.log("main http :%s fcgi :%d; timeouts :%d; heartbeat :%d; docroot %s" % (
            C.main.http_ports, C.main.port, C.tmo.http_port, C.hb.http_port, C.docroot))
        t_start = time.monotonic()
        for name, fn in CASES:
            if ONLY and not re.search(ONLY, name):
                continue
            rep.run(name, fn)
            sick = health(C.main)
            if sick and C.main.alive():
                rep.fail("server-healthy-after-" + name, "mgr-main no longer serves a trivial "
                         "request: %s; restarting it" % sick)
                C.main.stop(timeout=5)
            for s in servers:
                if not s.alive():
                    # report it, then restart it (fresh ports) so the remaining cases still run
                    rc = s.proc.poll() if s.proc else None
                    rep.fail("server-survives-" + name, "%s exited (status %s) during this case:"
                             "\n%s" % (s.label, rc, s.log_text()[-1500:]))
                    s.stop(timeout=5)
                    try:
                        s.start(timeout=20)
                    except H.StartError as e:
                        rep.fail("server-restart-" + s.label, str(e))
                        return rep.finish()
        H.log("cases ran in %.1fs" % (time.monotonic() - t_start))
        if C.slowloris_note:
            H.log("slow-clients latency: " + C.slowloris_note)
        for s in servers:
            rep.check("server-alive-at-end-" + s.label, s.alive(),
                      "exited:\n" + s.log_text()[-2000:])
            bad = [ln for ln in s.log_text().splitlines()
                   if re.search(r"SIGSEGV|SIGBUS|SIGABRT|signal 11|signal 6|core dumped|ALERT|"
                                r"AddressSanitizer", ln)]
            rep.check("server-log-no-crash-" + s.label, not bad, "\n".join(bad[:20]))
    finally:
        for s in servers:
            s.stop(timeout=10)
        if rep.failed:
            H.log("mgr-main log tail:\n" + C.main.log_text()[-2500:])
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
