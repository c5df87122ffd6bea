#!/usr/bin/python3
"""Differential suite for phpmgr's HTTP front end: the same PHP request goes to
  ref    nginx -> php-fpm (fastcgi_pass, Debian's fastcgi_params: the reference),
  proxy  nginx -> phpmgr's http.listen (proxy_pass, HTTP/1.1 upstream keepalive, Connection "",
         Host, X-Forwarded-For / X-Forwarded-Proto; phpmgr trusts 127.0.0.1/32), and
  direct the client -> phpmgr's http.listen (no nginx at all),
and proxy and direct must each agree with ref: status code and reason, the response headers that
carry meaning, and the body bytes. The fixtures are tests/fixtures/diff/www (the FastCGI
differential suite's scripts); both backends run the same pool lines (env[], php_*value[]).

What is NOT compared, and why (anything else must match):
  * Date (the clock), Server (each server names itself: nginx/1.22.1 vs phpmgr/x.y.z);
  * Connection, Keep-Alive: connection management, hop-by-hop (RFC 9110 7.6.1), differs between
    nginx's and phpmgr's keep-alive policies and says nothing about the response itself;
  * Transfer-Encoding vs Content-Length: framing. nginx -> php-fpm streams a FastCGI response
    without a known length as chunked, phpmgr sends Content-Length when it has the whole response.
    The de-framed body bytes are compared exactly. Content-Length IS compared when both sides
    send it (e.g. a script that sets it itself);
  * header name case (case-insensitive by RFC 9110 5.1) and the order of headers with different
    names (RFC 9110 5.3: only the order of same-name lines matters, and that one is kept:
    Set-Cookie, Vary, Link ... are compared in order);
  * in bodies, the port a side listens on is replaced by <PORT> (PHP sees it as SERVER_PORT and
    nginx writes it into absolute redirects) and a server's own name and version (nginx/1.22.1,
    phpmgr/x.y.z, in SERVER_SOFTWARE and in nginx's/phpmgr's error pages) by <SOFTWARE>;
  * proxy only: the request headers nginx adds or rewrites on the way (X-Forwarded-For,
    X-Forwarded-Proto, and Connection, which the config sets to "") are not visible to php-fpm
    and are removed from scripts' header dumps; SERVER_PROTOCOL is the upstream's HTTP/1.1 even
    for an HTTP/1.0 client (proxy_http_version 1.1);
  * case-specific ones (random session ids, a cookie's Max-Age), explained where defined.

One PASS/FAIL line per case (a case fails when either variant differs from ref; the detail says
which). HTTPDIFF_ONLY=regex runs the matching cases only; HTTPDIFF_DUMP=dir writes all answers.
"""

import difflib
import gzip
import hashlib
import os
import re
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import body_has  # noqa: E402

DOCROOT = H.DIFF_DOCROOT
ONLY = os.environ.get("HTTPDIFF_ONLY")
DUMP = os.environ.get("HTTPDIFF_DUMP")
REQ_TIMEOUT = H.DIFF_REQ_TIMEOUT
STATE_DIR = [None]
SOFTWARE_RE = re.compile(rb"(nginx/\d+\.\d+\.\d+|phpmgr/\d+\.\d+\.\d+[A-Za-z0-9.+-]*)")
IGNORED = {"date", "server", "connection", "keep-alive", "transfer-encoding"}


# --------------------------------------------------------------------------------------------
# sides and snapshots

class Side(H.DiffSide):
    def __init__(self, label, port, mask_ports):
        super().__init__(label, port)
        self.mask_ports = [str(p).encode() for p in mask_ports]

    def norm_body(self, data):
        for p in self.mask_ports:
            data = data.replace(p, b"<PORT>")
        return SOFTWARE_RE.sub(b"<SOFTWARE>", data)

    def norm_value(self, v):
        return self.norm_body(v.encode("latin-1")).decode("latin-1")


class Snap:
    """A response, normalised as described at the top of the file."""

    def __init__(self, side, r):
        self.side = side.label
        self.status = "%d %s" % (r.status, r.reason)
        self.headers = [(k.lower(), side.norm_value(v)) for k, v in r.headers
                        if k.lower() not in IGNORED]
        self.body = side.norm_body(r.body)
        self.error = r.error
        self.raw = r

    def header(self, name):
        return self.raw.header(name)


# Request headers that nginx's proxy_pass adds (X-Forwarded-For/-Proto) or drops (Connection,
# set to "" for upstream keepalive) on the way to phpmgr: php-fpm behind fastcgi_pass sees the
# client's set. For the proxy comparison they are removed from both bodies, in the spellings the
# fixtures print them ("HTTP_X_FORWARDED_FOR=...", "X-Forwarded-For: ...", a bare key name), and
# server_keys.php's "count=" line, which counts them, is dropped with them.
_PROXY_HDR = rb"(HTTP_X_FORWARDED_FOR|HTTP_X_FORWARDED_PROTO|HTTP_CONNECTION|X-Forwarded-For|" \
             rb"X-Forwarded-Proto|Connection)"
_PROXY_LINES = re.compile(rb"(?m)^" + _PROXY_HDR + rb"(\b[=:].*)?\n|^count=\d+\n")


_PROXY_ITEMS = re.compile(rb"(?<=[:,])(HTTP_X_FORWARDED_FOR|HTTP_X_FORWARDED_PROTO|"
                          rb"HTTP_CONNECTION),|,(HTTP_X_FORWARDED_FOR|HTTP_X_FORWARDED_PROTO|"
                          rb"HTTP_CONNECTION)(?=\n)")


def proxy_norm(v):
    if isinstance(v, list):
        return [proxy_norm(x) for x in v]
    if not isinstance(v, Snap):
        return v
    c = Snap.__new__(Snap)
    c.__dict__.update(v.__dict__)
    c.body = _PROXY_ITEMS.sub(b"", _PROXY_LINES.sub(b"", v.body))
    return c


def _ordered(headers, keep_cl):
    # stable sort by name: the order of same-name lines is kept, different names are unordered
    hs = [h for h in headers if keep_cl or h[0] != "content-length"]
    return sorted(hs, key=lambda h: h[0])


def snap_diff(ref, got):
    """Differences between a ref Snap and a proxy/direct Snap, as text lines ([] when equal)."""
    out = []
    ref_status = ref.status
    got_status = got.status
    if ref_status != got_status:
        out.append("status: ref %r / %s %r" % (ref_status, got.side, got_status))
    both_cl = (any(k == "content-length" for k, _ in ref.headers) and
               any(k == "content-length" for k, _ in got.headers))
    a = ["%s: %s" % h for h in _ordered(ref.headers, both_cl)]
    b = ["%s: %s" % h for h in _ordered(got.headers, both_cl)]
    if a != b:
        out.append("headers (ref vs %s):" % got.side)
        out += ["  " + ln for ln in difflib.unified_diff(a, b, "ref", got.side, lineterm="", n=0)
                if not ln.startswith("@@")]
    if ref.body != got.body:
        out += H.describe_body_diff(ref.body, got.body, "ref", got.side)
    if (ref.error or None) != (got.error or None):
        out.append("framing: ref %r / %s %r" % (ref.error, got.side, got.error))
    return out


def value_diff(ref, got, label):
    """Differences between two case values (Snap, list of them and strings, or plain data)."""
    if isinstance(ref, Snap) and isinstance(got, Snap):
        return snap_diff(ref, got)
    if isinstance(ref, list) and isinstance(got, list):
        out = []
        if len(ref) != len(got):
            out.append("%d steps / %d" % (len(ref), len(got)))
        for i, (x, y) in enumerate(zip(ref, got)):
            d = value_diff(x, y, label)
            if d:
                out.append("step %d:" % i)
                out += ["  " + ln for ln in d]
        return out
    if ref != got:
        return ["ref: %r" % (ref,), "%s: %r" % (label, got)]
    return []


# --------------------------------------------------------------------------------------------
# cases

CASES = []
NEEDS = {}  # case name -> the shared PHP extensions it needs (skipped under ASan)
BOTH = ("proxy", "direct")


def case(name, variants=BOTH, expect=None, fixup=None, ref_fixup=None, proxy_fixup=None,
         compare=True):
    """fn(side) -> Snap, list of Snaps/strings, or plain data. expect(value) -> None or a
    failure, checked on every side's value (ref too, unless compare is False: then ref is not
    asked at all and expect alone decides); fixup(value) -> value, on every side; ref_fixup and
    proxy_fixup on that side only (each use is explained where it is given)."""
    def deco(fn):
        CASES.append({"name": name, "fn": fn, "variants": variants, "expect": expect,
                      "fixup": fixup, "ref_fixup": ref_fixup, "proxy_fixup": proxy_fixup,
                      "compare": compare})
        return fn
    return deco


def simple(name, path, method="GET", headers=(), body=b"", expect=None, fixup=None,
           variants=BOTH, ref_fixup=None, proxy_fixup=None, compare=True, **kw):
    case(name, variants, expect, fixup, ref_fixup, proxy_fixup, compare)(
        lambda s: Snap(s, s.req(method, path, headers, body, **kw)))


def body_sub(old, new):
    """A fixup replacing bytes in the body of a Snap (or of each Snap in a list)."""
    def fx(v):
        for x in v if isinstance(v, list) else [v]:
            if isinstance(x, Snap):
                x.body = x.body.replace(old, new)
        return v
    return fx


def status_is(code):
    return lambda v: None if v.status.startswith(str(code)) else "status %s" % v.status


FORM = [("Content-Type", "application/x-www-form-urlencoded")]

# ---- GET and query strings
simple("get-simple", "/get.php?a=1&b=two", expect=body_has("'b' => 'two'"))
simple("get-arrays", "/get.php?a[]=1&a[]=2&a[b]=3&c[x][y]=4&d[]=&e=&f[1][]=z",
       expect=body_has("'y' => '4'"))
simple("get-encoded",
       "/get.php?s=%E2%9C%93%20x%2By&p=a+b&amp=%26%3D&nul=a%00b&pct=%zz&dot.key=1&sp%20ace=2&%C3%BC=u")
simple("get-empty", "/get.php", expect=body_has("count=0"))
simple("get-empty-question-mark", "/get.php?")
simple("get-weird", "/get.php?&&=x&a&b=&[]=1&x[=2&y]=3&a[[b]]=4&z[a]b=5&n[]]=6")
simple("get-many-vars", "/get.php?" + "&".join("v%d=%d" % (i, i) for i in range(300)))
simple("get-long-uri", "/get.php?long=" + "L" * 6000)

# ---- POST bodies
simple("post-urlencoded", "/post.php?g=1", "POST", FORM, b"a=1&b[]=2&b[]=3&c=%C3%BC&d=x+y&e",
       expect=body_has(b"'c' => '\xc3\xbc'"))
simple("post-urlencoded-charset", "/post.php", "POST",
       [("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")], b"k=v&k2[a]=b")
simple("post-json-input-twice", "/input.php", "POST", [("Content-Type", "application/json")],
       b'{"name":"caf\\u00e9","list":[1,2,3],"nested":{"t":true,"n":null}}',
       expect=body_has('"same_twice": true', '"same_stream": true'))
simple("post-text-plain", "/post.php", "POST", [("Content-Type", "text/plain")],
       b"a=1&b=2 is not parsed as a form")
simple("post-no-content-type", "/post.php", "POST", [], b"x=1")
simple("post-empty-body", "/post.php", "POST", FORM, b"")
_BIG = b"".join(b"%07d-0123456789abcdefghijklmnopqrstuvwxyz\n" % i for i in range(110000))
simple("post-5mib-body", "/post.php", "POST", [("Content-Type", "application/octet-stream")], _BIG,
       expect=body_has("input: %d bytes sha1=%s" % (len(_BIG), hashlib.sha1(_BIG).hexdigest())))
# 9 MiB form > post_max_size (8M): PHP refuses to parse it (both backends accept 20 MiB bodies:
# nginx client_max_body_size 20m, phpmgr http.max_body_size = 20M)
simple("post-over-post-max-size", "/post.php", "POST", FORM, b"big=" + b"x" * (9 << 20))


def _chunked_post(s):
    # a chunked request body: nginx de-chunks it for php-fpm (CONTENT_LENGTH set); phpmgr must too
    data = b"a=1&b=" + b"z" * 5000 + b"&c=3"
    body = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + 777]), data[i:i + 777])
                    for i in range(0, len(data), 777)) + b"0\r\n\r\n"
    with H.HttpConn(s.port, timeout=REQ_TIMEOUT) as c:
        r = c.request("POST", "/post.php?chunked=1", FORM + [("Transfer-Encoding", "chunked"),
                                                             ("Connection", "close")], body,
                      timeout=REQ_TIMEOUT)
    return Snap(s, r)


case("post-chunked-request-body", expect=body_has("CONTENT_LENGTH=5010"))(_chunked_post)

# ---- multipart uploads
BOUNDARY = "----phpmgrHttpDiffBoundary7MA4YWxkTrZu0gW"
MP = [("Content-Type", "multipart/form-data; boundary=" + BOUNDARY)]


def multipart(parts, close=True):
    return H.multipart(parts, BOUNDARY, close)


simple("upload-one-file", "/upload.php", "POST", MP,
       multipart([("title", "hello"), ("file", "a.txt", "text/plain", b"file content\n")]),
       expect=body_has("is_uploaded_file=true", "error=0"))
simple("upload-several-files", "/upload.php", "POST", MP,
       multipart([("f1", "one.bin", "application/octet-stream", H.pattern_bytes(1000, 1)),
                  ("f2", "two.txt", "text/plain", b"two\r\n--not a boundary\r\n"),
                  ("x", "y"), ("f3", "three.dat", None, H.pattern_bytes(70000, 3))]))
simple("upload-array-names", "/upload.php", "POST", MP,
       multipart([("docs[]", "a.txt", "text/plain", b"A"), ("docs[]", "b.txt", "text/plain", b"BB"),
                  ("nest[x][y]", "n.txt", "text/plain", b"nested"), ("arr[k]", "v")]))
simple("upload-too-large-ini", "/upload.php", "POST", MP,
       multipart([("small", "s.txt", "text/plain", b"ok"),
                  ("big", "big.bin", "application/octet-stream", H.pattern_bytes(1500000, 5))]),
       expect=body_has("error=1"))
simple("upload-move-uploaded-file", "/upload.php?move=1", "POST", MP,
       multipart([("m1", "m1.bin", "application/octet-stream", H.pattern_bytes(5000, 9))]),
       expect=body_has("move_uploaded_file=true"))
simple("upload-over-max-file-uploads", "/upload.php", "POST", MP,
       multipart([("u%d" % i, "u%d.txt" % i, "text/plain", b"%d" % i) for i in range(7)]))
simple("upload-malformed-no-final-boundary", "/upload.php", "POST", MP,
       multipart([("a", "1"), ("f", "f.txt", "text/plain", b"data")], close=False))
simple("upload-put-not-parsed", "/upload.php", "PUT", MP,
       multipart([("f", "f.txt", "text/plain", b"put data")]))

# ---- cookies
simple("cookies-in", "/cookies.php",
       headers=[("Cookie", 'a=1; b=x%20y; c.d=dot; e[f]=arr; a=dup; g="quoted"; h=; i=a=b; '
                           'sp ace=1; +plus=%2B')], expect=body_has("'c_d' => 'dot'"))
# Two Cookie lines: nginx 1.22 (the reference here) passes both as HTTP_COOKIE params and PHP
# keeps the last; nginx >= 1.23.0 joins them with "; " (RFC 6265 5.4: one Cookie line), which is
# what phpmgr does. Not compared with the reference: phpmgr's own answer is checked.
simple("cookies-two-headers-joined", "/cookies.php", headers=[("Cookie", "one=1"), ("Cookie", "two=2")],
       compare=False, expect=body_has("HTTP_COOKIE='one=1; two=2'", "'one' => '1'", "'two' => '2'"))
simple("setcookie-basic", "/setcookie.php?mode=basic")


def _maxage_fixup(v):
    # setcookie() with an absolute expiry adds Max-Age=<expires - now>: changes every second
    v.headers = [(k, re.sub(r"Max-Age=\d+", "Max-Age=<N>", x)) for k, x in v.headers]
    return v


simple("setcookie-options", "/setcookie.php?mode=options", fixup=_maxage_fixup)
simple("setcookie-header-mix", "/setcookie.php?mode=header")

# ---- header(), header_remove(), status lines
for op in ("replace_false", "remove", "remove_all", "injection", "sent", "code_via_header",
           "location_only", "location_201", "status_header", "status_line", "status_line10",
           "status_unknown", "www_auth", "many", "last_modified", "vary"):
    simple("headers-" + op.replace("_", "-"), "/headers.php?op=" + op)
simple("headers-if-modified-since", "/headers.php?op=last_modified",
       headers=[("If-Modified-Since", "Wed, 21 Oct 2015 07:28:00 GMT")])

for code in (200, 201, 204, 301, 302, 304, 307, 400, 401, 403, 404, 405, 410, 418, 422, 429, 500,
             502, 503):
    simple("status-%d" % code, "/status.php?code=%d" % code, expect=status_is(code))
simple("head-status-404", "/status.php?code=404", "HEAD")

# ---- Content-Type and charset
for m in ("default", "plain", "charset_ini", "explicit", "json", "no_charset", "mimetype_ini",
          "empty_mimetype", "lowercase", "remove"):
    simple("content-type-" + m.replace("_", "-"), "/ctype.php?mode=" + m)

# ---- output buffering, sizes, HEAD
for m in ("nested", "flush", "implicit", "unclosed", "callback_headers", "chunked_cb", "list"):
    simple("ob-" + m.replace("_", "-"), "/ob.php?mode=" + m)
simple("output-1mib", "/big.php?kib=1024",
       expect=lambda v: None if len(v.body) == 1 << 20 else "len %d" % len(v.body))
simple("output-3mib-with-flushes", "/big.php?kib=3072&flush=16")
simple("output-empty", "/empty.php", expect=lambda v: None if v.body == b"" else "body %r" % v.body)
simple("output-binary", "/binary.php")
simple("head-php-script", "/server.php", "HEAD")
simple("head-large-output", "/big.php?kib=2048", "HEAD")
simple("content-length-by-script", "/clen.php?mode=exact")
simple("content-length-zero-by-script", "/clen.php?mode=zero")
simple("content-length-after-ob", "/clen.php?mode=after_ob")


def _stream(s):
    # flush() output: compared like any response; direct, it must also reach the client as it is
    # written (the first line well before the script's end, 2 s). Through nginx that depends on
    # proxy/fastcgi buffering (on by default), so the timing is checked on the direct side only.
    with H.HttpConn(s.port, timeout=REQ_TIMEOUT) as c:
        t0 = time.monotonic()
        c.send(H.build_request("GET", "/stream.php?n=5&ms=400&id=hs%s" % s.label,
                               [("Connection", "close")]))
        h = c.read_head(10)
        first = time.monotonic() - t0
        c.buf = h[4] + c.buf
        r = c.read_response("GET", 15)
        total = time.monotonic() - t0
    ok = s.label != "direct" or first < total - 1.0
    return [Snap(s, r), "streamed" if ok else "NOT streamed: head after %.1fs of %.1fs"
            % (first, total)]


case("flush-streams-to-client")(_stream)

# ---- CGI variables and routing
# server-vars-basic and -path-info compare every variable server.php prints. The other
# server-vars cases mask PATH_TRANSLATED and SERVER_NAME (whose differences, if any, those two
# cases already report) so that each shows only what is particular to it.
_MASK_KNOWN = lambda v: _mask_lines(v, (b"PATH_TRANSLATED=", b"SERVER_NAME="))  # noqa: E731


def _mask_lines(v, prefixes):
    for x in v if isinstance(v, list) else [v]:
        if isinstance(x, Snap):
            x.body = b"".join(ln if not ln.startswith(prefixes) else ln.split(b"=")[0] + b"=<MASKED>\n"
                              for ln in x.body.splitlines(True))
    return v


simple("server-vars-basic", "/server.php?x=1&y=2",
       expect=body_has("SCRIPT_NAME='/server.php'", "PHP_SELF='/server.php'"))
simple("server-vars-path-info", "/server.php/extra/path.html?q=1",
       expect=body_has("PATH_INFO='/extra/path.html'"))
simple("server-vars-encoded-path-info", "/server.php/a%20b/%C3%BC/x%2Fy?x=%2F", fixup=_MASK_KNOWN)
simple("server-vars-subdir", "/sub/server.php/p/i?z", fixup=_MASK_KNOWN)
simple("server-vars-double-slash", "//server.php//x", fixup=_MASK_KNOWN)
simple("server-vars-dot-segments", "/sub/../server.php?dots=1", fixup=_MASK_KNOWN)
# behind proxy_pass PHP sees the upstream request's protocol (proxy_http_version 1.1)
simple("server-vars-http10", "/server.php?v=10", version="HTTP/1.0", fixup=_MASK_KNOWN,
       proxy_fixup=body_sub(b"SERVER_PROTOCOL='HTTP/1.1'", b"SERVER_PROTOCOL='HTTP/1.0'"))
simple("server-vars-auth-basic", "/server.php",
       headers=[("Authorization", "Basic dXNlcjpwYXNzOndvcmQ=")], fixup=_MASK_KNOWN,
       expect=body_has("PHP_AUTH_USER='user'", "PHP_AUTH_PW='pass:word'"))
simple("server-vars-auth-bearer", "/server.php", headers=[("Authorization", "Bearer tok.en")], fixup=_MASK_KNOWN)
# Two X-Dup lines: nginx 1.22 passes both as HTTP_X_DUP and PHP keeps the last; RFC 9110 5.3 (and
# nginx >= 1.23.0) join them with ", ", as phpmgr does: the reference's value is rewritten to that.
_JOIN_DUP = body_sub(b"HTTP_X_DUP='two'", b"HTTP_X_DUP='one, two'")
simple("server-vars-request-headers", "/server.php",
       headers=[("User-Agent", "phpmgr-diff/1.0"), ("Accept", "*/*"), ("X-Custom", "v a l"),
                ("X-Dup", "one"), ("X-Dup", "two")], ref_fixup=_JOIN_DUP, fixup=_MASK_KNOWN)
simple("server-vars-https-forwarded-by-nginx", "/server.php",
       headers=[("X-Forwarded-Proto", "https")], variants=("proxy",), fixup=_MASK_KNOWN)
simple("server-keys-sorted", "/server_keys.php")
simple("server-keys-order", "/server_keys.php?order=1")
simple("missing-script-404", "/definitely-missing.php", expect=status_is(404))
simple("missing-script-with-path-info", "/missing.php/x/y", expect=status_is(404))
simple("missing-script-head", "/definitely-missing.php", "HEAD")
simple("php-dir-index", "/sub/", expect=body_has("sub index: /sub/index.php /sub/"))
simple("php-dir-index-query", "/sub/?a=1")
simple("include-relative", "/include.php")

# ---- exit/die, errors, shutdown
for m in ("plain", "int", "string", "die", "silent", "in_function", "in_ob", "in_shutdown",
          "in_destructor", "status_then_exit", "finally"):
    simple("exit-" + m.replace("_", "-"), "/exit.php?mode=" + m)
for m, extra in (("warning", ""), ("warning", "&display=0"), ("user_error", ""),
                 ("undefined_function", ""), ("undefined_function", "&display=0"),
                 ("exception", ""), ("exception", "&display=0"), ("exception_handler", ""),
                 ("type_error", ""), ("parse_error", ""), ("memory", "&display=0&shutdown=1"),
                 ("output_then_fatal", "&display=0"), ("header_then_fatal", "&display=0")):
    simple("error-" + m.replace("_", "-") + extra.replace("&", "-").replace("=", ""),
           "/errors.php?mode=" + m + extra)
simple("shutdown-functions-and-destructors", "/shutdown.php",
       expect=body_has("shutdown 2 args x y", "destruct global"))


# ---- sessions
def _sid_fixup(v):
    # a new session id is random: masked in Set-Cookie (the fixture checks its shape)
    for s in v if isinstance(v, list) else [v]:
        if isinstance(s, Snap):
            s.headers = [(k, re.sub(r"PHPSESSID=[A-Za-z0-9,-]+", "PHPSESSID=<SID>", x))
                         for k, x in s.headers]
    return v


def _session(s):
    a = s.req("GET", "/session.php?mode=new")
    m = re.search(r"PHPSESSID=([A-Za-z0-9,-]+)", " ".join(a.header_all("Set-Cookie")))
    sid = m.group(1) if m else "none"
    b = s.req("GET", "/session.php?mode=again", [("Cookie", "PHPSESSID=" + sid)])
    return [Snap(s, a), Snap(s, b)]


case("session-roundtrip", fixup=_sid_fixup,
     expect=lambda v: None if b"count=2" in v[1].body else "no session: %r" % v[1].body)(_session)


# ---- fastcgi_finish_request: the response ends there, the script goes on
def _finish(s):
    t0 = time.monotonic()
    r = s.req("GET", "/finish.php?id=hf%s&sleep_ms=1000" % s.label)
    early = time.monotonic() - t0 < 0.85
    dl = H.Deadline(10)
    after = None
    while not dl.expired():
        after = s.req("GET", "/state.php?id=finish-hf%s&del=1" % s.label)
        if after.status == 200:
            break
        time.sleep(0.05)
    return [Snap(s, r), "response before the tail ran: %s" % early, Snap(s, after)]


case("fastcgi-finish-request",
     expect=lambda v: None if v[1].endswith("True") and b"finished r=true" in v[2].body
     else "early=%s, %r" % (v[1], v[2].body[:80]))(_finish)

# ---- environment, headers, identity, ini
simple("env-getenv", "/env.php", expect=body_has("getenv(DIFF_ENV_A)='hello world'"))
simple("request-order", "/request.php?x=get&y=get&g=1", "POST",
       FORM + [("Cookie", "x=cookie; c=1")], b"x=post&p=1")
# two X-Dup lines: joined, as in server-vars-request-headers (the reference is rewritten)
simple("getallheaders", "/allheaders.php",
       headers=[("User-Agent", "ua"), ("X-Lower-case", "lc"), ("X-Dup", "a"), ("X-Dup", "b"),
                ("Accept-Language", "en;q=0.8, de"), ("Cookie", "c=1")],
       ref_fixup=lambda v: body_sub(b"HTTP_X_DUP=b\n", b"HTTP_X_DUP=a, b\n")(
           body_sub(b"X-Dup: b\n", b"X-Dup: a, b\n")(v)))
simple("sapi-identity", "/sapi.php", expect=body_has("php_sapi_name=fpm-fcgi"))
simple("ini-get", "/ini.php")
simple("extensions-and-opcache", "/extensions.php", expect=body_has("opcache_enabled=true"))
# the shared extensions these fixtures use (sapi.php: posix_*, opcache_get_status; ini.php:
# opcache.*; extensions.php: the whole list): the ASan run (PHP with -n) skips the cases
NEEDS["sapi-identity"] = ("posix", "opcache")
NEEDS["ini-get"] = ("opcache",)
NEEDS["extensions-and-opcache"] = ("opcache", "every other one php.ini loads")

# ---- methods
for meth in ("PUT", "DELETE", "PATCH", "OPTIONS"):
    simple("method-" + meth.lower(), "/method.php?m=1", meth,
           [("Content-Type", "application/json")], b'{"method":"%s"}' % meth.encode(),
           expect=body_has("REQUEST_METHOD=" + meth))
simple("method-get-with-body", "/method.php", "GET", FORM, b"ignored=1")
simple("method-delete-no-body", "/method.php", "DELETE")
simple("method-custom-propfind", "/method.php", "PROPFIND", [("Content-Type", "text/xml")],
       b"<propfind/>")


# ---- gzip, misc
def _gz(v):
    if v.header("Content-Encoding") != "gzip":
        return "no Content-Encoding: gzip"
    try:
        plain = gzip.decompress(v.raw.body)
    except (OSError, EOFError, zlib.error) as e:
        return "not gzip: %s" % e
    return None if plain.count(b"\n") == 200 else "gunzipped %r" % plain[:60]


simple("gzip-ob-gzhandler", "/gzip.php", headers=[("Accept-Encoding", "gzip, deflate")],
       expect=_gz)
simple("gzip-ob-gzhandler-no-accept", "/gzip.php")
simple("redirect-loop-header", "/redirect_loop.php?n=7", expect=body_has("hop 7", status=302))
simple("unicode-output", "/unicode.php?q=%C3%BC%E2%9C%93")


# ---- keep-alive: several requests on one client connection give the same answers
def _keepalive(s):
    out = []
    with H.HttpConn(s.port, timeout=REQ_TIMEOUT) as c:
        for path in ("/get.php?k=1", "/status.php?code=404", "/clen.php?mode=exact",
                     "/ob.php?mode=flush", "/get.php?k=2"):
            r = c.request("GET", path, timeout=REQ_TIMEOUT)
            if r is None:
                out.append("closed before %s" % path)
                break
            out.append(Snap(s, r))
    return out


case("keepalive-sequence")(_keepalive)


# ---- static files and directories (last: see the report on keep-alive static responses; a
# static file served over nginx's upstream keepalive has been seen to upset later requests)
simple("static-file", "/static.txt", expect=body_has("plain static text file"))
simple("static-file-if-none-match", "/static.txt", headers=[("If-None-Match", "*")])
simple("static-dir-index-html", "/dir/", expect=body_has("dir index.html"))
# a directory named without its '/': nginx's 301 to "http://" Host ":" port "/dir/" ["?" args]
simple("static-dir-redirect", "/dir", expect=status_is(301))
simple("static-dir-redirect-query", "/dir?a=1&b=%20", expect=status_is(301))
simple("static-dir-redirect-head", "/dir", "HEAD")
simple("non-php-file-served-as-static", "/inc/data.inc")
simple("static-file-head", "/static.txt", "HEAD")


# --------------------------------------------------------------------------------------------

class DiffNginx(H.NginxServer):
    """nginx with two server blocks: ref (fastcgi_pass to php-fpm, as the FastCGI differential
    suite configures it) and proxy (proxy_pass to phpmgr's http.listen with upstream keepalive)."""

    def __init__(self, tmp, docroot, fpm_port, mgr_http_port):
        super().__init__(tmp, docroot, [])
        self.fpm_port = fpm_port
        self.mgr_http_port = mgr_http_port

    def write_config(self):
        self.server_ports = {"ref": H.free_port(), "proxy": H.free_port()}
        self.ports = list(self.server_ports.values())
        ref = H.nginx_php_server(self.server_ports["ref"], self.docroot,
                                 "%s:%d" % (H.LOOPBACK, self.fpm_port))
        proxy = """    server {
        listen %(lo)s:%(proxy)d;
        server_name localhost;
        location / {
            proxy_pass http://up_mgr_http;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 60s;
        }
    }
""" % {"lo": H.LOOPBACK, "proxy": self.server_ports["proxy"]}
        upstream = "    upstream up_mgr_http { server %s:%d; keepalive 8; }\n" % (
            H.LOOPBACK, self.mgr_http_port)
        with open(self.conf, "w") as f:
            f.write(H.nginx_conf(self.tmp, self.error_log, upstream + ref + proxy))


def _dump(name, label, v):
    os.makedirs(DUMP, exist_ok=True)
    with open(os.path.join(DUMP, "%s.%s" % (name, label)), "wb") as f:
        for item in (v if isinstance(v, list) else [v]):
            if isinstance(item, Snap):
                f.write(("%s\n%s\n\n" % (item.status, "\n".join(
                    "%s: %s" % h for h in item.headers))).encode("latin-1"))
                f.write(item.body[:20000] + b"\n----\n")
            else:
                f.write(repr(item).encode() + b"\n----\n")


def run_case(rep, c, sides):
    failures = []
    t0 = time.monotonic()

    def call(side):
        v = c["fn"](side)
        if c["fixup"]:
            v = c["fixup"](v)
        if DUMP:
            _dump(c["name"], side.label, v)
        return v

    ref = None
    if c["compare"]:
        try:
            ref = call(sides["ref"])
        except Exception as e:  # noqa: BLE001
            rep.fail(c["name"], "ref (nginx -> php-fpm) request failed: %s: %s"
                     % (type(e).__name__, e))
            return
        if c["ref_fixup"]:
            ref = c["ref_fixup"](ref)
        if c["expect"]:
            msg = c["expect"](ref)
            if msg:
                failures.append("ref (nginx -> php-fpm) itself: %s" % msg)
    for variant in c["variants"]:
        try:
            got = call(sides[variant])
        except Exception as e:  # noqa: BLE001
            failures.append("[%s] request failed: %s: %s" % (variant, type(e).__name__, e))
            continue
        if variant == "proxy" and c["proxy_fixup"]:
            got = c["proxy_fixup"](got)
        if c["expect"]:
            msg = c["expect"](got)
            if msg:
                failures.append("[%s] %s" % (variant, msg))
        if not c["compare"]:
            continue
        a, b = (proxy_norm(ref), proxy_norm(got)) if variant == "proxy" else (ref, got)
        d = value_diff(a, b, variant)
        if d:
            failures.append("[%s] differs from nginx -> php-fpm:\n%s" % (
                variant, "\n".join("  " + ln for ln in d)))
    dt = time.monotonic() - t0
    if failures:
        rep.fail(c["name"], "\n".join(failures))
    else:
        rep.ok(c["name"], "%.1fs" % dt if dt >= 1 else "")


def main():
    rep = H.Reporter()
    if not H.phpmgr_available():
        rep.fail("setup", "phpmgr binary not found: %s (make all)" % H.PHPMGR_BIN)
        return rep.finish()
    tmp = H.tmpdir("phpmgr-httpdiff-")
    # the same pool lines as the FastCGI differential suite (its fixtures expect them)
    STATE_DIR[0], pool_extra = H.diff_pool_setup(tmp)
    fpm = H.PhpFpmServer(tmp, "php-fpm", pool_extra=pool_extra)
    mgr = H.PhpmgrHttpServer(tmp, "phpmgr", pool_extra=pool_extra, http_lines="\n".join([
        "http.document_root = " + DOCROOT,
        "http.index = index.php",
        "http.server_name = localhost",  # nginx: server_name localhost
        "http.static = yes",
        "http.max_body_size = 20M",  # nginx: client_max_body_size 20m
        "http.trusted_proxies = 127.0.0.1/32",
    ]))
    stack = {"ngx": None}

    def bring_up():
        """(Re)start phpmgr when it is not running and nginx (its upstream is phpmgr's port),
        and return the three sides; raises StartError."""
        if not mgr.alive():
            mgr.stop(timeout=5)
            mgr.start(timeout=20)
        if stack["ngx"] is not None:
            stack["ngx"].stop(timeout=10)
        ngx = DiffNginx(tmp, DOCROOT, fpm.port, mgr.http_port)
        ngx.start(timeout=15)
        stack["ngx"] = ngx
        p = ngx.server_ports
        H.log("php-fpm :%d, phpmgr http :%d, nginx ref :%d proxy :%d; docroot %s"
              % (fpm.port, mgr.http_port, p["ref"], p["proxy"], DOCROOT))
        return {"ref": Side("ref", p["ref"], [p["ref"]]),
                "proxy": Side("proxy", p["proxy"], [p["proxy"], mgr.http_port]),
                "direct": Side("direct", mgr.http_port, [mgr.http_port])}

    try:
        try:
            fpm.start(timeout=20)
            sides = bring_up()
        except H.StartError as e:
            rep.fail("setup", str(e))
            return rep.finish()
        t0 = time.monotonic()
        dead = H.diff_health(sides["direct"]) or H.diff_health(sides["proxy"])
        if dead:
            rep.fail("smoke-request", "phpmgr does not answer a trivial request: " + dead)
        budget = H.Deadline(float(os.environ.get("HTTPDIFF_BUDGET", "120")))
        n = 0
        crashes = 0
        for c in CASES:
            if ONLY and not re.search(ONLY, c["name"]):
                continue
            if c["name"] in NEEDS:
                try:
                    H.require_extensions(*NEEDS[c["name"]])
                except H.Skip as e:
                    rep.skip(c["name"], str(e))
                    continue
            if dead:
                rep.fail(c["name"], "not run: " + dead)
                continue
            if budget.expired():
                rep.fail(c["name"], "not run: the time budget (HTTPDIFF_BUDGET) ran out")
                continue
            nfail = len(rep.failed)
            run_case(rep, c, sides)
            n += 1
            if len(rep.failed) > nfail or not mgr.alive():
                why = "exited (status %s)" % mgr.proc.poll() if not mgr.alive() else \
                    H.diff_health(sides["direct"])
                if why:
                    # report it, then restart phpmgr (and nginx, whose upstream it is) so that
                    # the remaining cases still say something
                    crashes += 1
                    rep.fail("phpmgr-survives-" + c["name"], "phpmgr %s during this case:\n%s"
                             % (why, mgr.log_text()[-1500:]))
                    mgr.stop(timeout=5)
                    if crashes > 5:
                        dead = "phpmgr failed %d times; giving up" % crashes
                        continue
                    try:
                        sides = bring_up()
                    except H.StartError as e:
                        dead = "restart failed: %s" % e
        H.log("%d cases ran in %.1fs" % (n, time.monotonic() - t0))
        rep.check("phpmgr-alive-after-suite", mgr.alive(), mgr.log_text()[-2000:])
        bad = [ln for ln in mgr.log_text().splitlines()
               if re.search(r"(SIGSEGV|SIGBUS|SIGABRT|signal 11|signal 6|core dumped|ALERT)", ln)]
        rep.check("phpmgr-log-no-crash", not bad, "\n".join(bad[:20]))
    finally:
        if stack["ngx"] is not None:
            stack["ngx"].stop(timeout=10)
        mgr.stop(timeout=10)
        fpm.stop(timeout=10)
        if rep.failed:
            H.log("phpmgr log tail:\n" + mgr.log_text()[-2500:])
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
