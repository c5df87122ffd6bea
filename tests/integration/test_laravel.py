#!/usr/bin/python3
"""Laravel in phpmgr's resident mode (issue 14): tests/fixtures/laravel (a Laravel 8 app on Debian's
php-laravel-framework) started with `scripts/phpmgr-laravel start`, against the same app copy behind
nginx -> php-fpm8.2 (try_files to public/index.php).

  differential       every route answers as under nginx -> php-fpm: status, body, Content-Type,
                     Location, Set-Cookie names/attributes (values and dates normalised away)
  resident           the workers really are resident ($_SERVER['FRANKENPHP_WORKER'], the same
                     pid serves many requests, phpmgr_worker_id / phpmgr_request_count, -e / -x)
  sessions           two clients with their own cookie jars keep separate counters and values; a
                     client without a cookie never sees anyone's session
  leak_sequential    request data never reaches a later request: request-scoped singleton, static
                     and container state (cleaners), config, locale, controller instance, queued
                     cookies, re-registered providers, session of another user
  leak_concurrent    200 requests from 8 threads with distinct params (JSON singleton, user state,
                     per-thread sessions): each answer is its own
  ini_restored       ini_set() in one request does not reach the next (php-fpm restores ini; in
                     resident mode the bootstrap does, the core does not)
  events             phpmgr.* and laravels.* request events reach the app's dispatcher
  upload             multipart uploads (name, size, sha1), an over-limit upload
  client_abort       clients that leave while their request runs (after requests that called
                     ignore_user_abort(false)) cost no worker: the bootstrap keeps
                     ignore_user_abort(true), else the core bails the worker out
  abort / exit / throw / fatal
                     abort(403); exit() in a route ends that response and the worker goes on; an
                     exception is a 500 and the same workers go on; a fatal error is a 500, its
                     worker is replaced, the next requests work
  memory_flat        worker memory before/after LARAVEL_MEMORY_REQUESTS (default 2000) requests
  reload             `phpmgr-laravel reload` under load: no failed request, every worker replaced
  composer_layout    an app with vendor/autoload.php is loaded through it, not Debian's autoloader
  cli_errors         clear refusals: port in use, not a Laravel app, already running; `info`
  stop               `phpmgr-laravel stop`: graceful, the foreground process exits 0
  daemonize          `start -d`, then `restart -d`, then `stop`

LARAVEL_ONLY=regex runs the matching cases (the servers start anyway).

The fixture and this suite drive sapi/php/laravel.php (the bootstrap) and scripts/phpmgr-laravel;
tests/run.sh (make test) runs it like every tests/integration/test_*.py. About 10 s; most of it is
the server starts, client_abort and memory_flat. Run by hand: python3 tests/integration/test_laravel.py
"""

import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

FIX = os.path.join(H.FIXTURES, "laravel")
SCRIPT = os.path.join(H.REPO, "scripts", "phpmgr-laravel")
ONLY = os.environ.get("LARAVEL_ONLY")
MEM_REQUESTS = int(os.environ.get("LARAVEL_MEMORY_REQUESTS") or 2000)
WORKERS = 2
APP_ENV = "staging"
X_VERSION = "fixture-1.2.3"
REQ_TIMEOUT = 20.0


# --------------------------------------------------------------------------------------------
# the application copy and the servers

def make_app(tmp):
    """A copy of the fixture app whose storage/ and bootstrap/cache/ the workers can write."""
    app = os.path.join(tmp, "app")
    shutil.copytree(FIX, app)
    for d in ("storage", "bootstrap/cache"):
        os.makedirs(os.path.join(app, d), exist_ok=True)
    uid = gid = None
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("www-data")
            uid, gid = pw.pw_uid, pw.pw_gid
        except KeyError:
            pass
    for top in ("storage", "bootstrap/cache"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(app, top)):
            for n in [dirpath] + [os.path.join(dirpath, f) for f in filenames]:
                if uid is not None:
                    os.chown(n, uid, gid)
                os.chmod(n, 0o775 if os.path.isdir(n) else 0o664)
    os.chmod(app, 0o755)
    return os.path.realpath(app)


def cli(args, app, timeout=60, env_extra=None):
    """Run phpmgr-laravel to completion: (rc, output)."""
    env = dict(os.environ)
    env["PHPMGR"] = H.PHPMGR_BIN
    env.update(env_extra or {})
    p = subprocess.run([SCRIPT] + list(args) + ["--app=" + app], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, env=env,
                       cwd="/")
    return p.returncode, p.stdout.decode("utf-8", "replace")


class LaravelServer(H.Server):
    """`phpmgr-laravel start` in the foreground (it becomes phpmgr: self.pid is the master)."""

    name = "phpmgr-laravel"

    def __init__(self, tmp, app, workers=WORKERS, extra_args=()):
        super().__init__(tmp)
        self.app = app
        self.workers = workers
        self.extra_args = list(extra_args)
        self.ready_text = H.READY_LINE
        self.ready_log = os.path.join(app, "storage", "phpmgr", "error.log")
        self.http_port = self.fcgi_port = None
        self.env = dict(os.environ)
        self.env["PHPMGR"] = H.PHPMGR_BIN

    def write_config(self):
        self.http_port = H.free_port()
        self.fcgi_port = H.free_port()
        self.ports = [self.http_port]
        try:
            os.unlink(self.ready_log)  # the ready line must be this start's
        except FileNotFoundError:
            pass
        self.argv = [SCRIPT, "start", "--app=" + self.app, "--http=127.0.0.1:%d" % self.http_port,
                     "--fastcgi=127.0.0.1:%d" % self.fcgi_port, "--workers=%d" % self.workers,
                     "-e", APP_ENV, "-x", X_VERSION] + self.extra_args

    def log_text(self):
        return H.read_text(self.ready_log) + H.read_text(self.out_path)


def laravel_nginx_conf(tmp, port, root, fpm_port):
    """nginx as a Laravel site is usually configured: try_files to the front controller."""
    body = """
    server {
        listen %(lo)s:%(port)d;
        server_name localhost;
        root %(root)s;
        index index.php;
        location / {
            try_files $uri $uri/ /index.php?$query_string;
        }
        location ~ \\.php$ {
            fastcgi_split_path_info ^(.+\\.php)(/.+)$;
            include /etc/nginx/fastcgi.conf;
            fastcgi_read_timeout 60s;
            fastcgi_pass %(lo)s:%(fpm)d;
        }
    }
""" % {"lo": H.LOOPBACK, "port": port, "root": root, "fpm": fpm_port}
    return H.nginx_conf(tmp, os.path.join(tmp, "nginx-error.log"), body)


class LaravelNginx(H.NginxServer):
    def __init__(self, tmp, root, fpm_port):
        super().__init__(tmp, root, [])
        self.fpm_port = fpm_port
        self.port = None

    def write_config(self):
        self.port = H.free_port()
        self.ports = [self.port]
        with open(self.conf, "w") as f:
            f.write(laravel_nginx_conf(self.tmp, self.port, self.docroot, self.fpm_port))


class Env:
    tmp = None
    app = None
    mgr = None      # LaravelServer
    fpm = None
    nginx = None


# --------------------------------------------------------------------------------------------
# HTTP with a cookie jar

class Client:
    """One browser: a cookie jar, fresh connections (Connection: close)."""

    def __init__(self, port):
        self.port = port
        self.jar = {}

    def req(self, method="GET", path="/", headers=(), body=b"", timeout=REQ_TIMEOUT):
        hdrs = list(headers)
        if self.jar:
            hdrs.append(("Cookie", "; ".join("%s=%s" % kv for kv in self.jar.items())))
        r = H.http_request(self.port, method, path, hdrs, body, timeout=timeout)
        for sc in r.header_all("Set-Cookie"):
            nv = sc.split(";", 1)[0]
            if "=" in nv:
                k, v = nv.split("=", 1)
                if v in ("", "deleted") or re.search(r"(?i)max-age=0\b", sc):
                    self.jar.pop(k.strip(), None)
                else:
                    self.jar[k.strip()] = v.strip()
        return r

    def json(self, path, method="GET", **kw):
        r = self.req(method, path, **kw)
        if r.status != 200:
            raise AssertionError("%s %s: status %d body %r" % (method, path, r.status, r.body[:300]))
        return json.loads(r.body)


def get(port, path, **kw):
    return H.http_request(port, "GET", path, [], b"", timeout=kw.get("timeout", REQ_TIMEOUT))


def get_json(port, path):
    r = get(port, path)
    if r.status != 200:
        raise AssertionError("GET %s: status %d body %r" % (path, r.status, r.body[:300]))
    return json.loads(r.body)


def worker_pids():
    return set(H.proc_live_children(Env.mgr.pid))


def stats_by_pid(port, want, tries=10):
    """/stats of `want` distinct workers: {pid: stats}. Each round sends `want` requests at once,
    each keeping its worker busy 300 ms, so the master spreads them over the workers."""
    seen = {}
    for _ in range(tries):
        res = H.run_parallel(lambda: get_json(port, "/stats?sleep=300"), [()] * want,
                             threads=want, timeout=30)
        for ok, v in res:
            if ok:
                seen.setdefault(v["pid"], v)
        if len(seen) >= want:
            break
    return seen


# --------------------------------------------------------------------------------------------
# differential

def norm_cookie(sc):
    """A Set-Cookie header without its value and dates: name and attributes."""
    parts = [p.strip() for p in sc.split(";")]
    name = parts[0].split("=", 1)[0]
    attrs = sorted(p.lower() for p in parts[1:]
                   if not re.match(r"(?i)(expires|max-age)=", p))
    return name + ";" + ";".join(attrs)


def snapshot(r):
    return {
        "status": r.status,
        "content-type": (r.header("Content-Type") or "").lower().replace(" ", ""),
        "location": r.header("Location"),
        "cache-control": r.header("Cache-Control"),
        "x-answer": r.header("X-Answer"),
        "x-raw": r.header("X-Raw"),
        "set-cookie": sorted(norm_cookie(c) for c in r.header_all("Set-Cookie")),
        "body": r.body,
        "error": r.error,
    }


BOUNDARY = "----phpmgrLaravelBoundary7MA4YWxk"


def routes():
    """(label, method, path, headers, body, status_only)."""
    up_small = H.pattern_bytes(100 * 1024 + 7, 3)
    up_big = H.pattern_bytes(2600 * 1024, 5)  # over upload_max_filesize (2M)
    mp = lambda data, name: H.multipart(  # noqa: E731
        [("note", "hello upload"), ("file", name, "application/octet-stream", data)], BOUNDARY)
    mp_hdr = [("Content-Type", "multipart/form-data; boundary=" + BOUNDARY)]
    form = [("Content-Type", "application/x-www-form-urlencoded")]
    js = [("Content-Type", "application/json")]
    return [
        ("hello", "GET", "/hello", [], b"", False),
        ("head hello", "HEAD", "/hello", [], b"", False),
        ("json", "GET", "/json?tag=abc", [], b"", False),
        ("json no tag", "GET", "/json", [], b"", False),
        ("json utf-8", "GET", "/json?tag=%C3%A9t%C3%A9%20%F0%9F%98%80", [], b"", False),
        ("user", "GET", "/user?name=alice", [], b"", False),
        ("config", "GET", "/config?set=one", [], b"", False),
        ("greet de", "GET", "/greet?lang=de&name=Zoe", [], b"", False),
        ("greet", "GET", "/greet?name=Zoe", [], b"", False),
        ("counter", "GET", "/counter", [], b"", False),
        ("controller", "GET", "/controller?c=7", [], b"", False),
        ("leak", "GET", "/leak", [], b"", False),
        ("headers", "GET", "/headers", [("X-Probe", "p1")], b"", False),
        ("echo before the response", "GET", "/pre-echo", [], b"", False),
        ("raw header() + exit", "GET", "/raw", [], b"", False),
        ("ini", "GET", "/ini", [], b"", False),
        ("abort", "GET", "/abort", [], b"", False),
        ("exit", "GET", "/exit", [], b"", False),
        ("throw", "GET", "/throw", [], b"", False),
        ("redirect", "GET", "/redirect", [], b"", False),
        ("not found", "GET", "/no/such/route", [], b"", False),
        ("method not allowed", "PUT", "/echo", [], b"", False),
        ("session", "GET", "/session", [], b"", False),
        ("session show", "GET", "/session/show", [], b"", False),
        ("session post", "POST", "/session", form, b"value=v1", False),
        ("view", "GET", "/view?item=%3Cb%3E", [], b"", False),
        ("cookie queued", "GET", "/cookie?v=dark", [], b"", False),
        ("cookie none", "GET", "/cookie", [], b"", False),
        ("echo form", "POST", "/echo", form, b"a=1&b%5B%5D=2&b%5B%5D=3&empty=", False),
        ("echo json", "POST", "/echo", js, b'{"x":[1,2],"y":"z"}', False),
        ("upload", "POST", "/upload", mp_hdr, mp(up_small, "small.bin"), False),
        ("upload over limit", "POST", "/upload", mp_hdr, mp(up_big, "big.bin"), False),
        ("static robots.txt", "GET", "/robots.txt", [], b"", False),
        ("static css", "GET", "/app.css", [], b"", False),
        # A fatal error: both answer 500; php-fpm's page comes from Laravel's shutdown handler,
        # phpmgr's from the core, which replaces the worker: the status is what must agree.
        ("fatal", "GET", "/fatal", [], b"", True),
    ]


def t_differential():
    ref_port, mgr_port = Env.nginx.port, Env.mgr.http_port
    bad = []
    equal = 0
    for label, method, path, headers, body, status_only in routes():
        a = snapshot(H.http_request(ref_port, method, path, headers, body, timeout=REQ_TIMEOUT))
        b = snapshot(H.http_request(mgr_port, method, path, headers, body, timeout=REQ_TIMEOUT))
        keys = ["status"] if status_only else list(a)
        diffs = [k for k in keys if a[k] != b[k]]
        if not diffs:
            equal += 1
            continue
        lines = ["%s %s %s: differs in %s" % (label, method, path, ", ".join(diffs))]
        for k in diffs:
            if k == "body":
                lines += ["  " + ln for ln in H.describe_body_diff(a[k], b[k], "php-fpm", "phpmgr")]
            else:
                lines.append("  %s: php-fpm %r / phpmgr %r" % (k, a[k], b[k]))
        bad.append("\n".join(lines))
    t_differential.note = "%d of %d routes equal" % (equal, len(routes()))
    if bad:
        return "%d of %d routes differ from nginx->php-fpm:\n%s" % (len(bad), len(routes()),
                                                                    "\n".join(bad))
    return None


# --------------------------------------------------------------------------------------------
# resident mode itself

def t_resident():
    port = Env.mgr.http_port
    s = stats_by_pid(port, WORKERS)
    errs = []
    first = list(s.values())[0]
    if not first.get("resident"):
        errs.append("$_SERVER['FRANKENPHP_WORKER'] is not set in a resident worker: %r" % first)
    if set(s) - worker_pids():
        errs.append("answering pids %s are not the master's children %s" % (sorted(s), sorted(worker_pids())))
    ids = [v.get("worker_id") for v in s.values()]
    if any(not isinstance(i, int) or i < 0 or i >= WORKERS for i in ids):
        errs.append("phpmgr_worker_id() gave %r for %d workers" % (ids, WORKERS))
    # one pid serves many requests, its phpmgr_request_count grows
    counts = {}
    for _ in range(20):
        v = get_json(port, "/stats")
        counts.setdefault(v["pid"], []).append(v.get("request_count"))
    for pid, c in counts.items():
        if any(not isinstance(x, int) for x in c) or c != sorted(c) or len(set(c)) != len(c):
            errs.append("phpmgr_request_count() of pid %d not increasing: %r" % (pid, c))
    if first.get("app_env") != APP_ENV:
        errs.append("-e %s: the app sees environment %r" % (APP_ENV, first.get("app_env")))
    if first.get("x_version") != X_VERSION:
        errs.append("-x %s: $_SERVER['X_VERSION'] is %r" % (X_VERSION, first.get("x_version")))
    return "\n".join(errs) or None


def t_events():
    port = Env.mgr.http_port
    want_seen = ["phpmgr.received_request", "laravels.received_request"]
    want_prev = want_seen + ["phpmgr.generated_response", "laravels.generated_response"]
    got_prev = False
    for _ in range(12):
        v = get_json(port, "/events")
        if v["seen"] != want_seen:
            return "during a request the app saw events %r, expected %r" % (v["seen"], want_seen)
        if v["previous"] == want_prev:
            got_prev = True
    if not got_prev:
        return "no request saw the previous one's generated_response events (last: %r)" % v
    return None


# --------------------------------------------------------------------------------------------
# sessions and leaks

def t_sessions():
    port = Env.mgr.http_port
    a, b = Client(port), Client(port)
    errs = []
    for i in range(1, 6):
        ca = a.json("/session")["count"]
        if ca != i:
            errs.append("client A request %d: count %d" % (i, ca))
        if i <= 3:
            cb = b.json("/session")["count"]
            if cb != i:
                errs.append("client B request %d: count %d" % (i, cb))
    a.json("/session", "POST", headers=[("Content-Type", "application/x-www-form-urlencoded")],
           body=b"value=alice-secret")
    pb = b.json("/session", "POST", headers=[("Content-Type", "application/x-www-form-urlencoded")],
                body=b"value=bob-secret")
    if pb["previous"] is not None:
        errs.append("client B's first POST saw a previous value %r" % pb["previous"])
    for _ in range(4):
        sa, sb = a.json("/session/show"), b.json("/session/show")
        if sa != {"count": 5, "value": "alice-secret"}:
            errs.append("client A's session is %r" % sa)
        if sb != {"count": 3, "value": "bob-secret"}:
            errs.append("client B's session is %r" % sb)
        anon = Client(port).json("/session/show")
        if anon != {"count": None, "value": None}:
            errs.append("a client without a cookie sees session %r" % anon)
    return "\n".join(errs[:20]) or None


def leak_round(port, i, errs):
    t = "t%d" % i
    v = get_json(port, "/json?tag=" + t)
    if v["tag"] != t or v["singleton"] != t:
        errs.append("/json?tag=%s -> %r" % (t, v))
    v = get_json(port, "/json")
    if v["singleton"] is not None:
        errs.append("/json without a tag after tag=%s -> singleton %r" % (t, v["singleton"]))
    v = get_json(port, "/user?name=u%d" % i)
    if v["previous"] != {"static": None, "container": None}:
        errs.append("/user?name=u%d saw previous state %r" % (i, v["previous"]))
    v = get_json(port, "/config?set=c%d" % i)
    if v["previous"] is not None:
        errs.append("/config saw a value set by an earlier request: %r" % v)
    r = get(port, "/greet?lang=de&name=x")
    r2 = get(port, "/greet?name=y")
    if r.body != b"Hallo, x!" or r2.body != b"Hello, y!":
        errs.append("locale: %r then %r" % (r.body, r2.body))
    v = get_json(port, "/counter")
    if v["hits"] != 1:
        errs.append("/counter (a provider in register_providers) -> %r" % v)
    v = get_json(port, "/controller?c=k%d" % i)
    if v["constructed_with"] != "k%d" % i:
        errs.append("/controller?c=k%d answered by a controller built for %r" % (i, v["constructed_with"]))
    r = get(port, "/cookie?v=q%d" % i)
    r2 = get(port, "/cookie")
    names = [c.split("=", 1)[0] for c in r2.header_all("Set-Cookie")]
    if "fixture_pref" in names:
        errs.append("/cookie without v sent the cookie queued by an earlier request")
    if "fixture_pref" not in [c.split("=", 1)[0] for c in r.header_all("Set-Cookie")]:
        errs.append("/cookie?v= did not send its queued cookie")
    r = get(port, "/raw")
    r2 = get(port, "/hello")
    if r.status != 201 or r.header("X-Raw") != "yes":
        errs.append("/raw: status %d X-Raw %r" % (r.status, r.header("X-Raw")))
    if r2.status != 200 or r2.header("X-Raw") is not None or r2.body != b"Hello, world":
        errs.append("the request after /raw (header() + http_response_code(201) + exit): status %d, "
                    "X-Raw %r, body %r" % (r2.status, r2.header("X-Raw"), r2.body[:100]))
    # a user's session data never reaches a cookie-less request
    c = Client(port)
    c.json("/session", "POST", headers=[("Content-Type", "application/x-www-form-urlencoded")],
           body=("value=secret%d" % i).encode())
    anon = Client(port).json("/session/show")
    if anon["value"] is not None:
        errs.append("a new client sees another user's session value %r" % anon["value"])


def t_leak_sequential():
    errs = []
    for i in range(10):
        leak_round(Env.mgr.http_port, i, errs)
    return "\n".join(errs[:30]) or None


def t_ini_restored():
    """ini_set(), set_time_limit(), error_reporting() and date_default_timezone_set() in one
    request must not change the next (php-fpm starts every request from php.ini and the pool)."""
    port = Env.mgr.http_port
    ref = get_json(Env.nginx.port, "/ini")["others"]
    errs = []
    tzs = ["Pacific/Auckland", "America/Lima", "Asia/Tokyo", "Europe/Oslo", "Africa/Accra", "UTC"]
    for i in range(6):
        v = get_json(port, "/ini?p=%d&t=%d&er=%d&tz=%s" % (5 + i, 100 + i, i, tzs[i]))
        if v["previous"] != "14":
            errs.append("request %d saw precision %r set by an earlier request (php-fpm: '14')"
                        % (i, v["previous"]))
        if v["others"] != ref:
            errs.append("request %d saw %r after earlier requests changed them (php-fpm: %r)"
                        % (i, v["others"], ref))
    return "\n".join(errs) or None


def t_leak_concurrent():
    port = Env.mgr.http_port
    n_threads, per_thread = 8, 25  # 200 requests

    def one(tid):
        errs = []
        client = Client(port)
        count = 0
        for k in range(per_thread):
            tag = "th%d-%d" % (tid, k)
            kind = k % 3
            if kind == 0:
                v = get_json(port, "/json?tag=" + tag)
                if v["tag"] != tag or v["singleton"] != tag:
                    errs.append("thread %d: /json?tag=%s -> %r" % (tid, tag, v))
            elif kind == 1:
                v = get_json(port, "/user?name=" + tag)
                if v["name"] != tag or v["previous"] != {"static": None, "container": None}:
                    errs.append("thread %d: /user?name=%s -> %r" % (tid, tag, v))
            else:
                count += 1
                v = client.json("/session")
                if v["count"] != count:
                    errs.append("thread %d: session count %r, expected %d" % (tid, v["count"], count))
        return errs

    res = H.run_parallel(one, [(t,) for t in range(n_threads)], threads=n_threads, timeout=120)
    errs = []
    for ok, v in res:
        if not ok:
            errs.append("thread failed: %r" % (v,))
        else:
            errs += v
    t_leak_concurrent.note = "%d requests, %d threads, %d wrong" % (n_threads * per_thread, n_threads,
                                                                    len(errs))
    return "\n".join(errs[:30]) or None


# --------------------------------------------------------------------------------------------
# uploads, abort, exit, throw, fatal

def t_upload():
    port = Env.mgr.http_port
    errs = []
    for size, seed in ((0, 1), (1, 2), (65536, 3), (1500 * 1024, 4)):
        data = H.pattern_bytes(size, seed)
        body = H.multipart([("note", "n%d" % size), ("file", "f%d.bin" % size, "application/octet-stream",
                                                        data)], BOUNDARY)
        r = H.http_request(port, "POST", "/upload",
                           [("Content-Type", "multipart/form-data; boundary=" + BOUNDARY)], body,
                           timeout=REQ_TIMEOUT)
        if size == 0:
            # PHP reports an empty file as UPLOAD_ERR_NO_FILE... only when the name is empty;
            # a named empty file is valid with size 0
            pass
        try:
            v = json.loads(r.body)
        except ValueError:
            errs.append("size %d: status %d body %r" % (size, r.status, r.body[:200]))
            continue
        want = {"name": "f%d.bin" % size, "size": size, "sha1": hashlib.sha1(data).hexdigest(),
                "note": "n%d" % size, "files": 1}
        if r.status != 200 or v != want:
            errs.append("size %d: status %d %r, expected %r" % (size, r.status, v, want))
    # the next request has no files left over
    r = H.http_request(port, "POST", "/upload", [("Content-Type", "multipart/form-data; boundary=" + BOUNDARY)],
                       H.multipart([("note", "none")], BOUNDARY), timeout=REQ_TIMEOUT)
    if r.status != 422:
        errs.append("an upload request without a file after uploads: status %d %r" % (r.status, r.body[:200]))
    return "\n".join(errs) or None


def t_client_abort():
    port = Env.mgr.http_port
    for _ in range(4):  # each worker is likely to run one: the setting must not outlive it
        get_json(port, "/ini?ua=0")
    before = worker_pids()
    for i in range(6):
        s = socket.create_connection((H.LOOPBACK, port), timeout=REQ_TIMEOUT)
        s.sendall(b"GET /stats?sleep=300 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        time.sleep(0.05)
        s.close()  # gone while the handler sleeps; the response is written to nobody
        time.sleep(0.4)
        r = get(port, "/hello")
        if r.status != 200 or r.body != b"Hello, world":
            return "the request after client abort %d: status %d body %r" % (i, r.status, r.body[:200])
    after = worker_pids()
    if before != after:
        return "clients that left replaced workers: %s -> %s" % (sorted(before), sorted(after))
    return None


def t_abort():
    r = get(Env.mgr.http_port, "/abort")
    if r.status != 403 or b"Forbidden" not in r.body:
        return "status %d body %r" % (r.status, r.body[:200])
    return None


def t_exit():
    port = Env.mgr.http_port
    before = worker_pids()
    for _ in range(4):
        r = get(port, "/exit")
        if r.status != 200 or r.body != b"bye":
            return "/exit: status %d body %r" % (r.status, r.body[:200])
        v = get_json(port, "/json?tag=after-exit")
        if v["singleton"] != "after-exit":
            return "the request after /exit: %r" % v
    after = worker_pids()
    if before != after:
        return "exit() in a route replaced workers: %s -> %s" % (sorted(before), sorted(after))
    return None


def t_throw():
    port = Env.mgr.http_port
    before = worker_pids()
    for _ in range(4):
        r = get(port, "/throw")
        if r.status != 500 or b"Server Error" not in r.body:
            return "/throw: status %d body %r" % (r.status, r.body[:200])
        r = get(port, "/hello")
        if r.status != 200 or r.body != b"Hello, world":
            return "the request after /throw: status %d body %r" % (r.status, r.body[:200])
    after = worker_pids()
    if before != after:
        return "an exception replaced workers: %s -> %s" % (sorted(before), sorted(after))
    log = H.read_text(os.path.join(Env.app, "storage", "logs", "laravel.log"))
    if "boom from /throw" not in log:
        return "the exception is not in storage/logs/laravel.log"
    return None


def t_fatal():
    port = Env.mgr.http_port
    before = worker_pids()
    r = get(port, "/fatal")
    if r.status != 500:
        return "/fatal: status %d body %r" % (r.status, r.body[:300])
    replaced = H.wait_until(lambda: len(worker_pids()) == WORKERS and worker_pids() != before, 15)
    after = worker_pids()
    if not replaced:
        return "no worker was replaced after a fatal error: %s -> %s" % (sorted(before), sorted(after))
    if len(before - after) != 1:
        return "a fatal error replaced %d workers (%s -> %s), expected 1" % (
            len(before - after), sorted(before), sorted(after))
    for i in range(6):
        v = get_json(port, "/json?tag=after-fatal%d" % i)
        if v["singleton"] != "after-fatal%d" % i:
            return "after the fatal error: %r" % v
    t_fatal.note = "worker %s replaced by %s" % (sorted(before - after), sorted(after - before))
    return None


# --------------------------------------------------------------------------------------------
# memory

def hammer(port, paths, n, threads=4):
    """n requests over keep-alive connections, cycling through paths; returns failures."""
    per = n // threads
    fails = []
    lock = threading.Lock()

    def run(tid):
        conn = None
        for k in range(per):
            path = paths[(tid + k) % len(paths)]
            try:
                if conn is None:
                    conn = H.HttpConn(port, timeout=REQ_TIMEOUT)
                r = conn.request("GET", path, timeout=REQ_TIMEOUT)
                if r is None or r.status != 200:
                    raise H.HttpError("status %s" % (r.status if r else "closed"))
                if (r.header("Connection") or "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, H.HttpError) as e:
                with lock:
                    fails.append("%s: %s" % (path, e))
                if conn:
                    conn.close()
                conn = None
        if conn:
            conn.close()

    H.run_parallel(run, [(t,) for t in range(threads)], threads=threads, timeout=600)
    return fails


def t_memory_flat():
    port = Env.mgr.http_port
    paths = ["/json?tag=m", "/session", "/view?item=m", "/user?name=m", "/hello"]
    fails = hammer(port, paths, 400)  # warm-up: every code path compiled, caches filled
    before = stats_by_pid(port, WORKERS)
    t0 = time.monotonic()
    fails += hammer(port, paths, MEM_REQUESTS)
    dt = time.monotonic() - t0
    after = stats_by_pid(port, WORKERS)
    notes, errs = [], []
    for pid in sorted(set(before) & set(after)):
        b, a = before[pid], after[pid]
        dm = a["memory"] - b["memory"]
        dr = a["rss_kib"] - b["rss_kib"]
        notes.append("pid %d: memory %d -> %d B (%+d), rss %d -> %d KiB (%+d)" % (
            pid, b["memory"], a["memory"], dm, b["rss_kib"], a["rss_kib"], dr))
        if dm > 512 * 1024:
            errs.append("pid %d: memory_get_usage grew %d bytes over the run" % (pid, dm))
        if dr > 8 * 1024:
            errs.append("pid %d: RSS grew %d KiB over the run" % (pid, dr))
    if not set(before) & set(after):
        errs.append("no worker answered both before and after: %s / %s" % (sorted(before), sorted(after)))
    if fails:
        errs.append("%d requests failed, first: %s" % (len(fails), fails[0]))
    t_memory_flat.note = "%d requests in %.1fs (%.0f/s); %s" % (MEM_REQUESTS, dt, MEM_REQUESTS / dt,
                                                              "; ".join(notes))
    H.log("memory_flat: " + t_memory_flat.note)
    return "\n".join(errs) or None


# --------------------------------------------------------------------------------------------
# the CLI: reload, errors, stop, daemonize

def t_reload():
    port = Env.mgr.http_port
    before = worker_pids()
    stop = threading.Event()
    fails, done = [], [0]

    def load():
        while not stop.is_set():
            try:
                v = get_json(port, "/json?tag=r")
                if v["singleton"] != "r":
                    fails.append("wrong answer %r" % v)
            except Exception as e:  # noqa: BLE001
                fails.append("%s: %s" % (type(e).__name__, e))
            done[0] += 1

    ts = [threading.Thread(target=load, daemon=True) for _ in range(3)]
    for t in ts:
        t.start()
    time.sleep(0.5)
    rc, out = cli(["reload"], Env.app)
    ok = rc == 0 and H.wait_until(lambda: len(worker_pids()) == WORKERS and not (worker_pids() & before), 20)
    time.sleep(0.5)
    stop.set()
    for t in ts:
        t.join(REQ_TIMEOUT + 5)
    if rc != 0:
        return "phpmgr-laravel reload exited %d: %s" % (rc, out)
    if not ok:
        return "workers not all replaced after reload: %s -> %s" % (sorted(before), sorted(worker_pids()))
    if fails:
        return "%d of %d requests failed during reload, first: %s" % (len(fails), done[0], fails[0])
    t_reload.note = "%d requests during reload, none failed" % done[0]
    return None


def t_cli_errors():
    errs = []
    rc, out = cli(["start", "--http=127.0.0.1:%d" % Env.mgr.http_port, "-d"], Env.app)
    if rc == 0 or "already running" not in out:
        errs.append("start while running: rc %d, %r" % (rc, out))
    rc, out = cli(["start", "-i", "--http=127.0.0.1:%d" % Env.mgr.http_port, "-d"], Env.app)
    if rc == 0 or "in use" not in out:
        errs.append("start -i on a port in use: rc %d, %r" % (rc, out))
    notapp = H.tmpdir("phpmgr-notlaravel-")
    rc, out = cli(["start"], notapp)
    if rc == 0 or "not a Laravel application" not in out:
        errs.append("start in a non-Laravel directory: rc %d, %r" % (rc, out))
    rc, out = cli(["bogus"], Env.app)
    if rc == 0 or "unknown command" not in out:
        errs.append("unknown command: rc %d, %r" % (rc, out))
    rc, out = cli(["info"], Env.app)
    if rc != 0 or "8.83" not in out or X_VERSION not in out or "running (pid %d" % Env.mgr.pid not in out:
        errs.append("info: rc %d, %r" % (rc, out))
    return "\n".join(errs) or None


def t_stop():
    rc, out = cli(["stop"], Env.app, timeout=60)
    if rc != 0 or "stopped" not in out:
        return "phpmgr-laravel stop: rc %d, %r" % (rc, out)
    st = Env.mgr.wait_exit(10)
    if st != 0:
        return "the foreground phpmgr exited with %r after stop" % (st,)
    if H.port_accepts(Env.mgr.http_port):
        return "the HTTP port still accepts after stop"
    return None


VENDOR_AUTOLOAD = """<?php
// What Composer's autoloader does for this app, on Debian's framework (no network in tests).
define('FIXTURE_VENDOR_AUTOLOAD', true);
require_once '/usr/share/php/Illuminate/autoload.php';
spl_autoload_register(function ($class) {
    if (strncmp($class, 'App\\\\', 4) === 0) {
        $f = dirname(__DIR__).'/app/'.str_replace('\\\\', '/', substr($class, 4)).'.php';
        if (is_file($f)) {
            require $f;
        }
    }
});
"""


def t_composer_layout():
    """An app with vendor/autoload.php: the bootstrap uses it instead of Debian's autoloader."""
    tmp = H.tmpdir("phpmgr-laravel-vendor-")
    app = make_app(tmp)
    os.makedirs(os.path.join(app, "vendor"))
    with open(os.path.join(app, "vendor", "autoload.php"), "w") as f:
        f.write(VENDOR_AUTOLOAD)
    srv = LaravelServer(tmp, app, workers=1)
    try:
        srv.start(timeout=30)
        v = get_json(srv.http_port, "/stats")
        if v.get("autoload") != "vendor":
            return "the app was loaded through %r, not vendor/autoload.php" % v.get("autoload")
        for t in ("a", "b"):
            j = get_json(srv.http_port, "/json?tag=" + t)
            if j["singleton"] != t:
                return "/json?tag=%s -> %r" % (t, j)
    finally:
        srv.stop(signal.SIGQUIT, timeout=15)
    return None


def t_daemonize():
    port = H.free_port()
    errs = []
    rc, out = cli(["start", "-d", "--http=127.0.0.1:%d" % port, "--fastcgi=127.0.0.1:%d" % H.free_port(),
                   "--workers=1"], Env.app)
    if rc != 0:
        return "start -d: rc %d, %r" % (rc, out)
    try:
        if get(port, "/hello").body != b"Hello, world":
            errs.append("the daemon does not serve /hello")
        pid1 = int(open(os.path.join(Env.app, "storage", "phpmgr", "phpmgr.pid")).read())
        rc, out = cli(["restart", "-d", "--http=127.0.0.1:%d" % port,
                       "--fastcgi=127.0.0.1:%d" % H.free_port(), "--workers=1"], Env.app)
        if rc != 0:
            errs.append("restart -d: rc %d, %r" % (rc, out))
        pid2 = int(open(os.path.join(Env.app, "storage", "phpmgr", "phpmgr.pid")).read())
        if pid1 == pid2 or H.proc_stat(pid1) and H.proc_stat(pid1)[0] not in ("Z", "X"):
            errs.append("restart kept the old master %d (new %d)" % (pid1, pid2))
        v = get_json(port, "/json?tag=after-restart")
        if v["singleton"] != "after-restart":
            errs.append("after restart: %r" % v)
    finally:
        rc, out = cli(["stop"], Env.app)
        if rc != 0 or "stopped" not in out:
            errs.append("stop of the daemon: rc %d, %r" % (rc, out))
            try:  # last resort, by pid: never leave a daemon behind
                os.kill(int(open(os.path.join(Env.app, "storage", "phpmgr", "phpmgr.pid")).read()),
                        signal.SIGKILL)
            except (OSError, ValueError):
                pass
    return "\n".join(errs) or None


# --------------------------------------------------------------------------------------------

CASES = [
    ("differential", t_differential),
    ("resident", t_resident),
    ("events", t_events),
    ("sessions", t_sessions),
    ("leak_sequential", t_leak_sequential),
    ("leak_concurrent", t_leak_concurrent),
    ("ini_restored", t_ini_restored),
    ("upload", t_upload),
    ("client_abort", t_client_abort),
    ("abort", t_abort),
    ("exit", t_exit),
    ("throw", t_throw),
    ("fatal", t_fatal),
    ("memory_flat", t_memory_flat),
    ("reload", t_reload),
    ("composer_layout", t_composer_layout),
    ("cli_errors", t_cli_errors),
    ("stop", t_stop),
    ("daemonize", t_daemonize),
]


def main():
    rep = H.Reporter("laravel:")
    if not H.phpmgr_available():
        rep.fail("setup", "phpmgr binary not found or not executable: %s (make all)" % H.PHPMGR_BIN)
        return rep.finish()
    if not os.path.isfile("/usr/share/php/Illuminate/autoload.php"):
        rep.fail("setup", "Debian's php-laravel-framework is not installed (scripts/deps.sh)")
        return rep.finish()
    if H.ASAN:
        rep.skip("all", "the Laravel suite needs PHP's shared extensions (mbstring, ...), which "
                        "the ASan run does not load")
        return rep.finish()
    t_all = time.monotonic()
    Env.tmp = H.tmpdir("phpmgr-laravel-")
    Env.app = make_app(Env.tmp)
    try:
        fpm_extra = "\n".join(["env[APP_ENV] = " + APP_ENV, "env[X_VERSION] = " + X_VERSION] +
                              (["user = www-data", "group = www-data"] if os.geteuid() == 0 else []))
        Env.fpm = H.PhpFpmServer(Env.tmp, max_children=4, pool_extra=fpm_extra)
        Env.fpm.start(timeout=20)
        Env.nginx = LaravelNginx(Env.tmp, os.path.join(Env.app, "public"), Env.fpm.port)
        Env.nginx.start(timeout=20)
        Env.mgr = LaravelServer(Env.tmp, Env.app)
        Env.mgr.start(timeout=30)
    except H.StartError as e:
        rep.fail("setup", str(e))
        return rep.finish()
    try:
        for name, fn in CASES:
            if ONLY and not re.search(ONLY, name):
                continue
            fn.note = ""
            t0 = time.monotonic()
            try:
                r = fn()
            except (OSError, H.HttpError, AssertionError, ValueError) as e:
                r = "%s: %s" % (type(e).__name__, e)
            except Exception as e:  # noqa: BLE001 - one case must never take the file down
                import traceback
                r = "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc())
            dt = time.monotonic() - t0
            if r is None:
                rep.ok(name, ", ".join(x for x in (fn.note, "%.1fs" % dt) if x))
            else:
                rep.fail(name, "%s\n(%.1fs)" % (r, dt))
                H.log("phpmgr error.log tail:\n" + "\n".join(
                    "#   " + ln for ln in Env.mgr.log_text()[-2500:].splitlines()))
    finally:
        for s in (Env.mgr, Env.nginx, Env.fpm):
            if s is not None:
                s.stop(signal.SIGQUIT if s is Env.mgr else signal.SIGTERM, timeout=15)
    H.log("test_laravel ran in %.1fs" % (time.monotonic() - t_all))
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
