#!/usr/bin/python3
"""Differential suite: every request goes through nginx -> php-fpm and nginx -> phpmgr, and the
two answers must agree: status line, response headers (in order, duplicates kept) and body, byte
for byte.

Both backends run the same pool (same php.ini content, same env[] and php_*value[] lines, pm static
with 4 children), behind one nginx with four server blocks: php-fpm and phpmgr each without
fastcgi_keep_conn (one FastCGI connection per request) and with it (upstream keepalive 8; php-fpm
gets a second instance for that, see main()). Most cases run over both pairs; the "direct" ones
talk FastCGI straight to each backend and compare the raw CGI stream. One PASS/FAIL line per case.

Normalisations, all of them (anything else must match exactly):
  * the Date header is dropped (clock);
  * the nginx port of each server block is replaced by <PORT> in header values and bodies: the two
    backends sit behind different nginx ports, which PHP sees as SERVER_PORT and nginx writes into
    its own absolute redirects;
  * case-specific ones, each explained where the case is defined: a new session's random id in
    Set-Cookie, the Max-Age of a cookie with an absolute expiry (depends on the current second),
    and for a client that disconnects, whether the script stopped early rather than after exactly
    how many lines (depends on timing).
Values that depend on time or pids are not printed by the fixtures at all; they print a property of
the value instead (e.g. "REQUEST_TIME=recent int", the shape of an upload's temp name).
Besides the comparison, some cases assert on the bytes themselves (expect=...), on both backends.

PHPMGR_DIFF_SELFTEST=1 runs php-fpm against a second php-fpm (validates the harness and the
normalisations without phpmgr). DIFF_ONLY=regex runs the matching cases only; DIFF_DUMP=dir writes
both sides' results there; DIFF_BUDGET=seconds caps the run (default 150).
"""

import difflib
import gzip
import hashlib
import os
import re
import socket
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import body_has  # noqa: E402

DOCROOT = H.DIFF_DOCROOT
SELFTEST = os.environ.get("PHPMGR_DIFF_SELFTEST") == "1"
ONLY = os.environ.get("DIFF_ONLY")
STATE_DIR = [None]  # the pools' DIFF_STATE directory, set in main()
DUMP = os.environ.get("DIFF_DUMP")  # a directory: write both sides' results there for review
REQ_TIMEOUT = H.DIFF_REQ_TIMEOUT


# --------------------------------------------------------------------------------------------
# sides and snapshots

class Side(H.DiffSide):
    """One nginx server block (a backend through nginx, with or without keep-conn)."""

    def norm(self, data):
        """The port normalisation described at the top of the file."""
        if isinstance(data, bytes):
            return data.replace(str(self.port).encode(), b"<PORT>")
        return data.replace(str(self.port), "<PORT>")


class Snap:
    """A normalised response."""

    def __init__(self, side, r):
        self.status = "%d %s" % (r.status, r.reason)
        self.version = r.version
        # Date: the clock differs between the two requests
        self.headers = ["%s: %s" % (k, side.norm(v)) for k, v in r.headers if k.lower() != "date"]
        self.body = side.norm(r.body)
        self.error = r.error
        self.raw = r

    def key(self):
        return (self.status, self.version, tuple(self.headers), self.body, self.error)

    def header(self, name):
        return self.raw.header(name)


class DirectSide:
    """The backend itself, spoken to with the raw FastCGI client (no nginx in between)."""

    def __init__(self, label, port):
        self.label = label
        self.port = port

    def fcgi(self, params, stdin=b""):
        with H.FcgiConn(self.port, timeout=REQ_TIMEOUT) as fc:
            return FcgiSnap(fc.request(params, stdin, timeout=REQ_TIMEOUT))


class FcgiSnap:
    """A raw FastCGI answer: CGI stdout and stderr bytes, END_REQUEST statuses."""

    def __init__(self, res):
        self.stdout = res.stdout
        self.stderr = res.stderr
        self.end = (res.ended, res.app_status, res.protocol_status)

    def key(self):
        return ("fcgi", self.stdout, self.stderr, self.end)


def describe_body_diff(a, b):
    return H.describe_body_diff(a, b, "php-fpm", "phpmgr", context=2, max_lines=80)


def describe_diff(x, y):
    """Human-readable differences between two snapshot values (Snap, list, or plain)."""
    if isinstance(x, Snap) and isinstance(y, Snap):
        out = []
        if x.status != y.status or x.version != y.version:
            out.append("status: php-fpm %r %s / phpmgr %r %s" % (x.status, x.version, y.status,
                                                                  y.version))
        if x.headers != y.headers:
            if sorted(x.headers) == sorted(y.headers):
                out.append("headers: same set, different order")
            out.append("headers:")
            out += ["  " + ln for ln in difflib.unified_diff(x.headers, y.headers, "php-fpm",
                                                              "phpmgr", lineterm="", n=1)]
        if x.body != y.body:
            out += describe_body_diff(x.body, y.body)
        if x.error != y.error:
            out.append("framing: php-fpm %r / phpmgr %r" % (x.error, y.error))
        return out
    if isinstance(x, FcgiSnap) and isinstance(y, FcgiSnap):
        out = []
        if x.end != y.end:
            out.append("END_REQUEST (ended, appStatus, protocolStatus): php-fpm %s / phpmgr %s"
                       % (x.end, y.end))
        if x.stdout != y.stdout:
            out.append("FCGI_STDOUT differs:")
            out += describe_body_diff(x.stdout, y.stdout)
        if x.stderr != y.stderr:
            out.append("FCGI_STDERR differs:")
            out += describe_body_diff(x.stderr, y.stderr)
        return out
    if isinstance(x, list) and isinstance(y, list):
        out = []
        if len(x) != len(y):
            out.append("different number of steps: %d / %d" % (len(x), len(y)))
        for i, (a, b) in enumerate(zip(x, y)):
            if _key(a) != _key(b):
                out.append("step %d:" % i)
                out += ["  " + ln for ln in describe_diff(a, b)]
        return out
    return ["php-fpm: %r" % (x,), "phpmgr:  %r" % (y,)]


def _key(v):
    if isinstance(v, (Snap, FcgiSnap)):
        return v.key()
    if isinstance(v, list):
        return tuple(_key(i) for i in v)
    if isinstance(v, tuple):
        return tuple(_key(i) for i in v)
    return v


# --------------------------------------------------------------------------------------------
# cases

CASES = []
NEEDS = {}  # case name -> the shared PHP extensions it needs (skipped under ASan)


def case(name, variants=("plain", "keep"), expect=None, fixup=None, solo=False):
    """Register fn(side) -> snapshot value (Snap, list of them, or plain data).
    expect(value) -> None or a failure string, checked on both backends' results.
    fixup(value) -> value: a case-specific normalisation, applied to both.
    solo: run against phpmgr only (no php-fpm reference exists), expect() decides."""
    def deco(fn):
        CASES.append({"name": name, "fn": fn, "variants": variants, "expect": expect,
                      "fixup": fixup, "solo": solo})
        return fn
    return deco


def simple(name, path, method="GET", headers=(), body=b"", expect=None, fixup=None,
           variants=("plain", "keep"), **kw):
    def fn(s):
        return Snap(s, s.req(method, path, headers, body, **kw))
    case(name, variants, expect, fixup)(fn)


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
       expect=body_has('"same_twice": true', '"same_stream": true', '"t": true'))
simple("post-text-plain", "/post.php", "POST", [("Content-Type", "text/plain")],
       b"a=1&b=2 is not parsed as a form")
simple("post-no-content-type", "/post.php", "POST", [], b"x=1")
simple("post-empty-body", "/post.php", "POST", FORM, b"")
_BIG_BODY = b"".join(b"%07d-0123456789abcdefghijklmnopqrstuvwxyz\n" % i for i in range(110000))
simple("post-5mib-body-streamed", "/post.php", "POST", [("Content-Type", "application/octet-stream")],
       _BIG_BODY, expect=body_has("input: %d bytes sha1=%s" % (
           len(_BIG_BODY), hashlib.sha1(_BIG_BODY).hexdigest())))
# 9 MiB form > post_max_size (8M): PHP refuses to parse it (warning at request startup, logged)
simple("post-over-post-max-size", "/post.php", "POST", FORM, b"big=" + b"x" * (9 << 20))

# ---- multipart uploads
BOUNDARY = "----phpmgrDiffBoundary7MA4YWxkTrZu0gW"


def multipart(parts, close=True):
    return H.multipart(parts, BOUNDARY, close)


MP = [("Content-Type", "multipart/form-data; boundary=" + BOUNDARY)]


simple("upload-one-file", "/upload.php", "POST", MP,
       multipart([("title", "hello"), ("file", "a.txt", "text/plain", b"file content\n")]),
       expect=body_has("is_uploaded_file=true", "error=0"))
simple("upload-several-files", "/upload.php", "POST", MP,
       multipart([("f1", "one.bin", "application/octet-stream", H.pattern_bytes(1000, 1)),
                  ("f2", "two.txt", "text/plain", b"two\r\n--not a boundary\r\n"),
                  ("x", "y"),
                  ("f3", "three.dat", None, H.pattern_bytes(70000, 3))]))
simple("upload-array-names", "/upload.php", "POST", MP,
       multipart([("docs[]", "a.txt", "text/plain", b"A"), ("docs[]", "b.txt", "text/plain", b"BB"),
                  ("nest[x][y]", "n.txt", "text/plain", b"nested"), ("arr[k]", "v")]))
simple("upload-empty-file-field", "/upload.php", "POST", MP,
       multipart([("file", "", "application/octet-stream", b""), ("after", "1")]),
       expect=body_has("error=4"))
simple("upload-zero-byte-file", "/upload.php", "POST", MP,
       multipart([("file", "empty.txt", "text/plain", b"")]))
# upload_max_filesize = 1M (php_value in the pool): a 1.5 MB file gets UPLOAD_ERR_INI_SIZE (1)
simple("upload-too-large-ini", "/upload.php", "POST", MP,
       multipart([("small", "s.txt", "text/plain", b"ok"),
                  ("big", "big.bin", "application/octet-stream", H.pattern_bytes(1500000, 5))]),
       expect=body_has("error=1"))
simple("upload-max-file-size-field", "/upload.php", "POST", MP,
       multipart([("MAX_FILE_SIZE", "100"), ("f", "f.txt", "text/plain", b"z" * 200)]),
       expect=body_has("error=2"))
simple("upload-move-uploaded-file", "/upload.php?move=1", "POST", MP,
       multipart([("m1", "m1.bin", "application/octet-stream", H.pattern_bytes(5000, 9)),
                  ("m2", "m2.txt", "text/plain", b"second")]),
       expect=body_has("move_uploaded_file=true"))
# max_file_uploads = 5 (php_admin_value in the pool): files past the fifth are dropped
simple("upload-over-max-file-uploads", "/upload.php", "POST", MP,
       multipart([("u%d" % i, "u%d.txt" % i, "text/plain", b"%d" % i) for i in range(7)]))
simple("upload-odd-filenames", "/upload.php", "POST", MP,
       multipart([("p", "dir/sub/a b.txt", "text/plain", b"path"),
                  ("u", "\u00fcml\u00e4ut \u2713.txt", "text/plain; charset=utf-8", b"u"),
                  ("q", 'we\\"ird\'.txt', "", b"q"),
                  ("bin", "bin.dat", "application/octet-stream", bytes(range(256)) * 4)]))
simple("upload-malformed-no-final-boundary", "/upload.php", "POST", MP,
       multipart([("a", "1"), ("f", "f.txt", "text/plain", b"data")], close=False))
simple("upload-put-not-parsed", "/upload.php", "PUT", MP,
       multipart([("f", "f.txt", "text/plain", b"put data")]))

# ---- cookies
simple("cookies-in", "/cookies.php",
       headers=[("Cookie", 'a=1; b=x%20y; c.d=dot; e[f]=arr; a=dup; g="quoted"; h=; i=a=b; '
                           'sp ace=1; +plus=%2B')],
       expect=body_has("'c_d' => 'dot'"))
simple("cookies-two-headers", "/cookies.php", headers=[("Cookie", "one=1"), ("Cookie", "two=2")])
simple("setcookie-basic", "/setcookie.php?mode=basic")


def _maxage_fixup(v):
    # setcookie() with an absolute expires adds "Max-Age=<expires - now>": it changes every second,
    # so its number is masked; the rest of the cookie line is compared.
    v.headers = [re.sub(r"Max-Age=\d+", "Max-Age=<N>", h) for h in v.headers]
    return v


simple("setcookie-options", "/setcookie.php?mode=options", fixup=_maxage_fixup,
       expect=body_has("ValueError"))
simple("setcookie-header-mix", "/setcookie.php?mode=header")

# ---- header(), header_remove(), headers_list()
for op in ("replace_false", "remove", "remove_all", "injection", "sent", "code_via_header",
           "location_only", "location_201", "status_header", "status_line", "status_line10",
           "status_unknown", "www_auth", "many", "last_modified", "vary"):
    simple("headers-" + op.replace("_", "-"), "/headers.php?op=" + op)
simple("headers-if-modified-since", "/headers.php?op=last_modified",
       headers=[("If-Modified-Since", "Wed, 21 Oct 2015 07:28:00 GMT")])

# ---- status codes
for code in (200, 201, 202, 204, 301, 302, 303, 304, 307, 400, 401, 403, 404, 405, 410, 418, 422,
             429, 500, 502, 503):
    simple("status-%d" % code, "/status.php?code=%d" % code,
           expect=(lambda c: lambda v: None if v.status.startswith(str(c))
                   else "status %s" % v.status)(code))

# ---- Content-Type and charset
for m in ("default", "plain", "charset_ini", "explicit", "json", "no_charset", "mimetype_ini",
          "empty_mimetype", "lowercase", "remove"):
    simple("content-type-" + m.replace("_", "-"), "/ctype.php?mode=" + m)

# ---- output buffering
for m in ("nested", "flush", "implicit", "unclosed", "callback_headers", "chunked_cb", "list"):
    simple("ob-" + m.replace("_", "-"), "/ob.php?mode=" + m)


# ---- large, empty and binary output
def _big_expect(kib):
    def chk(v):
        if len(v.body) != kib * 1024:
            return "body %d bytes, expected %d" % (len(v.body), kib * 1024)
        if not v.body.startswith(b"00000000:0123") or not v.body.endswith(b"\n"):
            return "unexpected content %r" % v.body[:40]
        return None
    return chk


simple("output-1mib", "/big.php?kib=1024", expect=_big_expect(1024))
simple("output-10mib", "/big.php?kib=10240", expect=_big_expect(10240))
simple("output-3mib-with-flushes", "/big.php?kib=3072&flush=16", expect=_big_expect(3072))
simple("output-empty", "/empty.php", expect=lambda v: None if v.body == b"" else "body %r" % v.body)
simple("output-binary", "/binary.php",
       expect=lambda v: None if len(v.body) == 256 * 5 + 4 + 3 + 7 else "len %d" % len(v.body))
simple("head-php-script", "/server.php", "HEAD")
simple("head-large-output", "/big.php?kib=2048", "HEAD")
simple("head-status-404", "/status.php?code=404", "HEAD")

# ---- CGI variables, paths
simple("server-vars-basic", "/server.php?x=1&y=2",
       expect=body_has("SCRIPT_NAME='/server.php'", "PHP_SELF='/server.php'"))
simple("server-vars-path-info", "/server.php/extra/path.html?q=1",
       expect=body_has("PATH_INFO='/extra/path.html'"))
simple("server-vars-encoded-path-info", "/server.php/a%20b/%C3%BC/x%2Fy?x=%2F")
simple("server-vars-subdir", "/sub/server.php/p/i?z")
simple("server-vars-double-slash", "//server.php//x")
simple("server-vars-http10", "/server.php?v=10", version="HTTP/1.0")
simple("server-vars-auth-basic", "/server.php",
       headers=[("Authorization", "Basic dXNlcjpwYXNzOndvcmQ=")],
       expect=body_has("PHP_AUTH_USER='user'", "PHP_AUTH_PW='pass:word'"))
simple("server-vars-auth-bearer", "/server.php", headers=[("Authorization", "Bearer tok.en")])
simple("server-vars-request-headers", "/server.php",
       headers=[("User-Agent", "phpmgr-diff/1.0"), ("Accept", "*/*"), ("X-Custom", "v a l"),
                ("X-Dup", "one"), ("X-Dup", "two")])
simple("server-vars-https-param", "/server.php", headers=[("X-Forwarded-Proto", "https")])
simple("server-keys-sorted", "/server_keys.php")
simple("server-keys-order", "/server_keys.php?order=1")
simple("missing-script-404", "/definitely-missing.php", expect=body_has(status=404))
simple("missing-script-with-path-info", "/missing.php/x/y", expect=body_has(status=404))
simple("missing-script-head", "/definitely-missing.php", "HEAD")
simple("static-file-by-nginx", "/static.txt", expect=body_has("plain static text file"))
simple("static-dir-index-html", "/dir/", expect=body_has("dir index.html"))
simple("php-dir-index", "/sub/", expect=body_has("sub index: /sub/index.php /sub/"))
simple("php-dir-index-query", "/sub/?a=1")
simple("dir-without-slash-redirect", "/sub", expect=body_has(status=301))
simple("include-relative", "/include.php")


# ---- fastcgi_finish_request
def _finish(s):
    t0 = time.monotonic()
    r = s.req("GET", "/finish.php?id=ffr&sleep_ms=1000")
    elapsed = time.monotonic() - t0
    first = Snap(s, r)
    early = elapsed < 0.85  # the script keeps running for 1 s after the response is complete
    # the side effect appears only after the request's tail ran; poll for it (bounded)
    dl = H.Deadline(10)
    after = None
    while not dl.expired():
        after = s.req("GET", "/state.php?id=finish-ffr&del=1")
        if after.status == 200:
            break
        time.sleep(0.05)
    return [first, "response before the tail ran: %s" % early, Snap(s, after)]


case("fastcgi-finish-request",
     expect=lambda v: (None if v[1].endswith("True") and b"finished r=true" in v[2].body
                       else "early=%s, side effect %r" % (v[1], v[2].body[:80])))(_finish)

# ---- exit/die
for m in ("plain", "int", "string", "die", "silent", "in_function", "in_ob", "in_shutdown",
          "in_destructor", "status_then_exit", "finally"):
    simple("exit-" + m.replace("_", "-"), "/exit.php?mode=" + m)

# ---- errors (display_errors on via ini_set unless display=0)
for m, extra in (("warning", ""), ("warning", "&html=1"), ("warning", "&display=0"),
                 ("user_error", ""), ("reporting", ""), ("handler", ""),
                 ("undefined_function", ""), ("undefined_function", "&display=0"),
                 ("undefined_function", "&shutdown=1"), ("exception", ""),
                 ("exception", "&display=0"), ("exception", "&html=1"),
                 ("exception_handler", ""), ("error_exception", ""), ("type_error", ""),
                 ("parse_error", ""), ("memory", ""), ("memory", "&display=0&shutdown=1"),
                 ("time", ""), ("output_then_fatal", "&display=0"),
                 ("header_then_fatal", "&display=0"), ("stack", "&display=0"), ("log", "")):
    name = "error-" + m.replace("_", "-") + extra.replace("&", "-").replace("=", "")
    if m == "time":
        simple(name, "/errors.php?mode=time",
               expect=body_has("Maximum execution time of 1 second exceeded"))
    elif m == "undefined_function" and extra == "&display=0":
        simple(name, "/errors.php?mode=" + m + extra, expect=body_has(status=500))
    else:
        simple(name, "/errors.php?mode=" + m + extra)

simple("shutdown-functions-and-destructors", "/shutdown.php",
       expect=body_has("shutdown 2 args x y", "destruct global"))


# ---- sessions
def _sid_fixup(v):
    # a new session id is random: mask its value in Set-Cookie (its shape is checked by the
    # fixture, which prints "id shape=ok")
    for s in v if isinstance(v, list) else [v]:
        if isinstance(s, Snap):
            s.headers = [re.sub(r"PHPSESSID=[A-Za-z0-9,-]+", "PHPSESSID=<SID>", h)
                         for h in s.headers]
    return v


def _session_roundtrip(s):
    a = s.req("GET", "/session.php?mode=new")
    m = re.search(r"PHPSESSID=([A-Za-z0-9,-]+)", " ".join(a.header_all("Set-Cookie")))
    sid = m.group(1) if m else "none"
    b = s.req("GET", "/session.php?mode=again", [("Cookie", "PHPSESSID=" + sid)])
    c = s.req("GET", "/session.php?mode=destroy", [("Cookie", "PHPSESSID=" + sid)])
    return [Snap(s, a), Snap(s, b), Snap(s, c)]


case("session-start-cookie-roundtrip", fixup=_sid_fixup,
     expect=lambda v: None if b"count=2" in v[1].body and v[0].header("Set-Cookie")
     else "second request did not see the session: %r" % v[1].body)(_session_roundtrip)
simple("session-fixed-id", "/session.php?mode=fixed")
simple("session-strict-unknown-id", "/session.php?mode=strict",
       headers=[("Cookie", "PHPSESSID=unknownsessionid12345678")], fixup=_sid_fixup)

# ---- environment, request order, request headers, SAPI identity, ini
simple("env-getenv", "/env.php", expect=body_has("getenv(DIFF_ENV_A)='hello world'"))
simple("request-order", "/request.php?x=get&y=get&g=1", "POST",
       FORM + [("Cookie", "x=cookie; c=1")], b"x=post&p=1")
simple("getallheaders", "/allheaders.php",
       headers=[("User-Agent", "ua"), ("X-Lower-case", "lc"), ("X-Dup", "a"), ("X-Dup", "b"),
                ("Accept-Language", "en;q=0.8, de"), ("Cookie", "c=1")])
simple("sapi-identity", "/sapi.php",
       expect=body_has("php_sapi_name=fpm-fcgi", "PHP_SAPI=fpm-fcgi"))
simple("ini-get", "/ini.php")
simple("ini-get-sapi-entries", "/ini_sapi.php")
simple("extensions-and-opcache", "/extensions.php", expect=body_has("opcache_enabled=true"))
# the shared extensions these fixtures use (sapi.php: posix_*, opcache_get_status; ini.php:
# opcache.*; extensions.php: the whole list): the ASan run (PHP with -n) skips the cases
NEEDS["sapi-identity"] = ("posix", "opcache")
NEEDS["ini-get"] = ("opcache",)
NEEDS["extensions-and-opcache"] = ("opcache", "every other one php.ini loads")

# ---- methods with bodies
for meth in ("PUT", "DELETE", "PATCH", "OPTIONS"):
    simple("method-" + meth.lower(), "/method.php?m=1", meth,
           [("Content-Type", "application/json")], b'{"method":"%s"}' % meth.encode(),
           expect=body_has("REQUEST_METHOD=" + meth))
simple("method-put-urlencoded", "/method.php", "PUT", FORM, b"a=1&b=2")
simple("method-get-with-body", "/method.php", "GET", FORM, b"ignored=1")
simple("method-delete-no-body", "/method.php", "DELETE")
simple("method-custom-propfind", "/method.php", "PROPFIND", [("Content-Type", "text/xml")],
       b"<propfind/>")


# ---- gzip
def _gz_expect(v):
    if v.header("Content-Encoding") != "gzip":
        return "no Content-Encoding: gzip (%r)" % v.header("Content-Encoding")
    try:
        plain = gzip.decompress(v.body)
    except (OSError, EOFError, zlib.error) as e:
        return "body is not gzip: %s" % e
    if not plain.startswith(b"compressible line 0 ") or plain.count(b"\n") != 200:
        return "unexpected gunzipped content %r" % plain[:60]
    return None


simple("gzip-ob-gzhandler", "/gzip.php", headers=[("Accept-Encoding", "gzip, deflate")],
       expect=_gz_expect)
simple("gzip-ob-gzhandler-deflate-only", "/gzip.php", headers=[("Accept-Encoding", "deflate")])
simple("gzip-ob-gzhandler-no-accept", "/gzip.php")

# ---- misc
simple("redirect-loop-header", "/redirect_loop.php?n=7",
       expect=body_has("hop 7", status=302))
simple("unicode-output", "/unicode.php?q=%C3%BC%E2%9C%93")
simple("content-length-by-script", "/clen.php?mode=exact")
simple("content-length-zero-by-script", "/clen.php?mode=zero")
simple("content-length-after-ob", "/clen.php?mode=after_ob")


# ---- messages to the web server's log: PHP's log lines travel as FastCGI STDERR and nginx logs
# them; compare the logged text (nginx's own prefix and suffix, with times, pids, connection
# numbers and the upstream port, is cut away: only the quoted text PHP sent is kept)
def _stderr_log(s):
    start = os.path.getsize(s.ngx_log)
    r = s.req("GET", "/stderr.php")

    def lines():
        with open(s.ngx_log, "rb") as f:
            f.seek(start)
            text = f.read().decode("utf-8", "replace")
        return [m.group(1) for m in re.finditer(r'FastCGI sent in stderr: "(.*?)" while', text,
                                                re.S)]
    got = H.wait_until(lines, 3)
    return [Snap(s, r), got or []]


case("stderr-reaches-nginx-error-log",
     expect=lambda v: None if any("diff stderr marker one" in m for m in v[1])
     else "marker not logged: %r" % (v[1],))(_stderr_log)


# ---- straight to the backend with a raw FastCGI client (no nginx): the CGI stream itself must
# match byte for byte, including what nginx would hide (header spelling, Status lines, STDERR).
DIRECT = ("direct",)


def _p(script, query="", **kw):
    return H.php_params(DOCROOT, script, query=query, **kw)


def direct(name, params_fn, stdin=b"", expect=None):
    case(name, DIRECT, expect)(lambda s: s.fcgi(params_fn(), stdin))


direct("direct-basic", lambda: _p("/get.php", "a=1&b[]=2"))
direct("direct-missing-script", lambda: _p("/nope.php"))
direct("direct-directory-as-script", lambda: _p("/sub"))
# security.limit_extensions (default .php .phar ...): php-fpm refuses other files with 403
direct("direct-limit-extensions-txt", lambda: _p("/static.txt"))
direct("direct-no-script-filename", lambda: [kv for kv in _p("/server.php")
                                             if kv[0] != "SCRIPT_FILENAME"])
direct("direct-empty-params", lambda: [])
# cgi.fix_pathinfo=1: the script path is found inside a longer SCRIPT_FILENAME
direct("direct-fix-pathinfo-split", lambda: [
    (k, DOCROOT + "/server.php/extra/tail" if k == "SCRIPT_FILENAME" else
     "/server.php/extra/tail" if k == "SCRIPT_NAME" else v)
    for k, v in _p("/server.php")])
direct("direct-path-info-without-translated", lambda: _p("/server.php", path_info="/pi/x"))
# Apache mod_proxy_fcgi sends SCRIPT_FILENAME as "proxy:fcgi://host:port/path"; php-fpm strips it
direct("direct-apache-proxy-fcgi-prefix", lambda: [
    (k, "proxy:fcgi://127.0.0.1:9000" + v if k == "SCRIPT_FILENAME" else v)
    for k, v in _p("/server.php")])
# php-fpm keeps PHP_VALUE settings in the worker for its later requests (a php-fpm wart, not
# something to compare), so only settings that no other case looks at are used here
direct("direct-php-value-params", lambda: _p("/ini_small.php", extra=[
    ("PHP_VALUE", "user_agent=phpmgr-diff\ndefault_socket_timeout=17"),
    ("PHP_ADMIN_VALUE", "max_input_nesting_level=63")]),
    expect=lambda v: None if b"user_agent='phpmgr-diff'" in v.stdout and
    b"ini_set(max_input_nesting_level)=false" in v.stdout else "not applied: %r" % v.stdout)
direct("direct-stderr-stream", lambda: _p("/stderr.php"))
direct("direct-status-header-spelling", lambda: _p("/headers.php", "op=status_header"))
direct("direct-headers-spelling", lambda: _p("/setcookie.php", "mode=basic"))
direct("direct-fatal-error", lambda: _p("/errors.php", "mode=undefined_function&display=0"))
direct("direct-post-body", lambda: _p("/post.php", "q=1", method="POST",
                                      content_type="application/x-www-form-urlencoded",
                                      content_length=11), stdin=b"a=1&b=2&c=3")
direct("direct-content-length-shorter-than-stdin",
       lambda: _p("/post.php", method="POST", content_type="application/x-www-form-urlencoded",
                  content_length=3), stdin=b"a=1&b=2")
direct("direct-http-headers-as-params", lambda: _p("/allheaders.php", headers=[
    ("User-Agent", "direct"), ("X-Forwarded-For", "10.0.0.1"), ("Cookie", "k=v")]))


# ---- flush() streams output before the script ends, and a client that goes away stops the
# script at its next write (connection_status() 1 in the shutdown function), unless ignore_user_abort.
def _read_state(s, name, timeout=8):
    path = os.path.join(STATE_DIR[0], name)
    got = H.wait_until(lambda: os.path.exists(path), timeout)
    if not got:
        return "state file %s never appeared" % name
    with open(path) as f:
        data = f.read()
    os.unlink(path)
    return data


def _direct_stream(s):
    p = _p("/stream.php", "n=4&ms=300&id=ds")
    with H.FcgiConn(s.port, timeout=REQ_TIMEOUT) as fc:
        t0 = time.monotonic()
        fc.request_start(p)
        first = None
        dl = H.Deadline(15)
        while not dl.expired():
            rec = fc.read_record(dl.left())
            if rec is None:
                break
            if first is None and rec.type == H.FCGI_STDOUT and b"line 0" in rec.content:
                first = time.monotonic() - t0
            if rec.type == H.FCGI_END_REQUEST:
                break
        total = time.monotonic() - t0
    return ["first line before the end: %s" % (first is not None and first < total - 0.5),
            _read_state(s, "stream-ds")]


def _abort(s, via_nginx):
    # the client reads the first line and disconnects; the script would run 2 s more
    if via_nginx:
        sock = socket.create_connection((H.LOOPBACK, s.port), timeout=10)
        sock.sendall(b"GET /stream.php?n=20&ms=100&id=ab HTTP/1.1\r\nHost: localhost\r\n\r\n")
        buf = b""
        dl = H.Deadline(10)
        while b"line 0" not in buf and not dl.expired():
            sock.settimeout(dl.left())
            b = sock.recv(4096)
            if not b:
                break
            buf += b
        sock.close()
    else:
        with H.FcgiConn(s.port, timeout=10) as fc:
            fc.request_start(_p("/stream.php", "n=20&ms=100&id=ab"))
            dl = H.Deadline(10)
            while not dl.expired():
                rec = fc.read_record(dl.left())
                if rec is None or (rec.type == H.FCGI_STDOUT and b"line 0" in rec.content):
                    break
    st = _read_state(s, "stream-ab")
    m = re.match(r"lines=(\d+) (connection_status=\d+ connection_aborted=\d+)", st)
    if not m:
        return st
    # how many lines got out before the write that failed depends on timing: compare only
    # whether the script stopped early, and what it saw
    return "stopped early: %s, %s" % (int(m.group(1)) < 20, m.group(2))


case("flush-streams-before-script-end", DIRECT,
     expect=lambda v: None if v[0].endswith("True") else v[0])(_direct_stream)
case("client-abort-stops-script-direct", DIRECT,
     expect=lambda v: None if "True, connection_status=1" in v else "script not aborted: %r" % v)(
    lambda s: _abort(s, False))
case("client-abort-stops-script-via-nginx", ("plain", "keep"))(lambda s: _abort(s, True))


# ---- concurrency: 20 parallel requests, each must get its own body
def _concurrency(s, n=20):
    args = [(i,) for i in range(n)]

    def one(i):
        return s.req("GET", "/slow.php?n=%d&ms=100" % i, timeout=30)

    res = H.run_parallel(one, args, threads=n, timeout=60)
    out = []
    for (i,), (ok, r) in zip(args, res):
        if not ok:
            out.append("request %d failed: %r" % (i, r))
            continue
        good = (r.status == 200 and r.body == b"request %d %s\n" % (i, (b"%d" % i) * 50)
                and r.header("X-N") == str(i))
        out.append("request %d: %s" % (i, "ok" if good else "WRONG %d %r" % (r.status, r.body[:80])))
    return out


def _all_ok(v):
    return None if all(x.endswith(": ok") for x in v) else "; ".join(
        x for x in v if not x.endswith(": ok"))


case("concurrency-20-parallel", variants=("plain",), expect=_all_ok)(_concurrency)
# php-fpm cannot take more concurrent keep-conn connections than it has children: a child stays
# bound to its idle kept connection, and connections beyond max_children wait in the backlog
# until nginx drops an idle one (a known php-fpm limitation). So the compared keep-conn run uses
# max_children (4) requests at a time ...
case("concurrency-4-parallel-keep-conn", variants=("keep",), expect=_all_ok)(
    lambda s: _concurrency(s, 4))
# ... and phpmgr, whose master owns the connections and queues requests for its workers, must
# serve 20 at once over keep-conn connections too (no php-fpm reference: php-fpm stalls here).
case("concurrency-20-parallel-keep-conn-phpmgr-only", variants=("keep",), expect=_all_ok,
     solo=True)(_concurrency)


# ---- classic mode: nothing leaks from one request into the next on the same worker
def _leak(s):
    seen = {}
    for i in range(40):
        r = s.req("GET", "/leak.php")
        sn = Snap(s, r)
        seen.setdefault(sn.key(), [sn, 0])[1] += 1
    snaps = [v[0] for v in seen.values()]
    return snaps


def _leak_expect(v):
    if len(v) != 1:
        return "%d different responses over 40 requests:\n%s" % (
            len(v), "\n".join(repr(s.body[:400]) for s in v))
    b = v[0].body
    if b"LEAK" in b or b"static 1\n" not in b or b"precision 14\n" not in b:
        return "state leaked: %r" % b[:600]
    return None


case("classic-mode-no-leak-between-requests", expect=_leak_expect)(_leak)


# --------------------------------------------------------------------------------------------

def _dump(name, variant, va, vb):
    os.makedirs(DUMP, exist_ok=True)
    for label, v in (("fpm", va), ("mgr", vb)):
        with open(os.path.join(DUMP, "%s.%s.%s" % (name, variant, label)), "wb") as f:
            for item in (v if isinstance(v, list) else [v]):
                if isinstance(item, Snap):
                    f.write(("%s %s\n%s\n\n" % (item.version, item.status,
                                                   "\n".join(item.headers))).encode())
                    f.write(item.body[:20000] + b"\n----\n")
                elif isinstance(item, FcgiSnap):
                    f.write(b"END %r\nSTDOUT:\n%s\nSTDERR:\n%s\n----\n"
                            % (item.end, item.stdout[:20000], item.stderr[:5000]))
                else:
                    f.write(repr(item).encode() + b"\n----\n")


def run_case(rep, c, pairs):
    failures = []
    t0 = time.monotonic()
    for variant in c["variants"]:
        a_side, b_side = pairs[variant]
        if c["solo"]:
            try:
                msg = c["expect"](c["fn"](b_side))
            except Exception as e:  # noqa: BLE001
                msg = "request failed: %s: %s" % (type(e).__name__, e)
            if msg:
                failures.append("[%s] phpmgr: %s" % (variant, msg))
            continue
        try:
            va = c["fn"](a_side)
        except Exception as e:  # noqa: BLE001
            failures.append("[%s] php-fpm request failed: %s: %s" % (variant, type(e).__name__, e))
            continue
        try:
            vb = c["fn"](b_side)
        except Exception as e:  # noqa: BLE001
            failures.append("[%s] phpmgr request failed: %s: %s" % (variant, type(e).__name__, e))
            continue
        if c["fixup"]:
            va, vb = c["fixup"](va), c["fixup"](vb)
        if DUMP:
            _dump(c["name"], variant, va, vb)
        if c["expect"]:
            for label, v in (("php-fpm", va), ("phpmgr", vb)):
                msg = c["expect"](v)
                if msg:
                    failures.append("[%s] %s: %s" % (variant, label, msg))
        if _key(va) != _key(vb):
            failures.append("[%s] php-fpm and phpmgr differ:\n%s" % (
                variant, "\n".join("  " + ln for ln in describe_diff(va, vb))))
    dt = time.monotonic() - t0
    if failures:
        rep.fail(c["name"], "\n".join(failures))
    else:
        rep.ok(c["name"], "%.1fs" % dt if dt >= 1 else "")


def main():
    rep = H.Reporter()
    if not SELFTEST and not H.phpmgr_available():
        rep.fail("setup", "phpmgr binary not found or not executable: %s (build it with make all)"
                 % H.PHPMGR_BIN)
        return rep.finish()
    tmp = H.tmpdir("phpmgr-diff-")
    STATE_DIR[0], pool_extra = H.diff_pool_setup(tmp)
    # php-fpm needs its own instance for the keep-conn server blocks: a php-fpm child stays bound
    # to a kept connection while nginx holds it idle, so idle keepalive connections would starve
    # the non-keep-conn traffic of children. phpmgr's master owns the connections and serves both
    # kinds from one instance, which is what this exercises.
    fpm = H.PhpFpmServer(tmp, "php-fpm", pool_extra=pool_extra)
    fpm_k = H.PhpFpmServer(tmp, "php-fpm-keep", pool_extra=pool_extra)
    if SELFTEST:
        mgr = H.PhpFpmServer(tmp, "php-fpm-b", pool_extra=pool_extra)
        mgr_k = H.PhpFpmServer(tmp, "php-fpm-b-keep", pool_extra=pool_extra)
        backends = (fpm, fpm_k, mgr, mgr_k)
    else:
        mgr = mgr_k = H.PhpmgrServer(tmp, "phpmgr", pool_extra=pool_extra)
        backends = (fpm, fpm_k, mgr)
    servers = []
    try:
        for s in backends:
            try:
                s.start(timeout=20)
                servers.append(s)
            except H.StartError as e:
                rep.fail("setup-start-" + s.label, str(e))
                return rep.finish()
        ngx = H.NginxServer(tmp, DOCROOT, [("fpm", fpm.port, False), ("mgr", mgr.port, False),
                                           ("fpm_keep", fpm_k.port, True),
                                           ("mgr_keep", mgr_k.port, True)])
        ngx.start(timeout=15)
        servers.append(ngx)
        p = ngx.server_ports
        pairs = {"plain": (Side("fpm", p["fpm"]), Side("mgr", p["mgr"])),
                 "keep": (Side("fpm_keep", p["fpm_keep"]), Side("mgr_keep", p["mgr_keep"])),
                 "direct": (DirectSide("fpm", fpm.port), DirectSide("mgr", mgr.port))}
        for a, b in (pairs["plain"], pairs["keep"]):
            a.ngx_log = b.ngx_log = ngx.error_log
        H.log("php-fpm :%d, %s :%d, nginx %s; docroot %s" % (fpm.port, mgr.label, mgr.port, p,
                                                              DOCROOT))
        t0 = time.monotonic()
        # fail fast rather than wait out every request's timeout when phpmgr does not answer or
        # the run overruns its time budget
        dead = H.diff_health(pairs["plain"][1])
        if dead:
            dead = "phpmgr does not answer a trivial request through nginx: " + dead
            rep.fail("smoke-request", dead)
        budget = H.Deadline(float(os.environ.get("DIFF_BUDGET", "150")))
        for c in CASES:
            if ONLY and not re.search(ONLY, c["name"]):
                continue
            if c["solo"] and SELFTEST:
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
                rep.fail(c["name"], "not run: the suite's time budget (DIFF_BUDGET) ran out")
                continue
            nfail = len(rep.failed)
            run_case(rep, c, pairs)
            if len(rep.failed) > nfail:
                why = H.diff_health(pairs["plain"][1])
                if why:
                    dead = "phpmgr stopped answering after case %s: %s" % (c["name"], why)
        H.log("cases ran in %.1fs" % (time.monotonic() - t0))
        # the backend must still be alive and its log free of crashes after all of that
        for s in backends:
            rep.check("backend-alive-after-suite-" + s.label, s.alive(),
                      "%s exited:\n%s" % (s.label, s.log_text()[-2000:]))
        mlog = mgr.log_text()
        bad = [ln for ln in mlog.splitlines()
               if re.search(r"(SIGSEGV|SIGBUS|SIGABRT|signal 11|signal 6|core dumped|ALERT)", ln)]
        rep.check("backend-log-no-crash-" + mgr.label, not bad, "\n".join(bad[:20]))
    finally:
        for s in reversed(servers):
            s.stop(timeout=10)
        if rep.failed:
            H.log("%s log tail:\n%s" % (mgr.label, mgr.log_text()[-3000:]))
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
