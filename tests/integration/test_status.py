#!/usr/bin/python3
"""php-fpm's status page (pm.status_path) and ping (ping.path, ping.response), answered by
phpmgr's master, against php-fpm 8.2 with the same pool (pm static, 2 workers) after the same
requests.

  headers          every format's CGI header block (and HEAD's) is php-fpm's, byte for byte
  keys-<fmt>       plain, json, xml: php-fpm's keys in php-fpm's order, phpmgr's own after them;
                   the values that do not depend on timing or pids are equal
  counters         accepted conn grows by the requests sent, as php-fpm's; requests refused
  full-<fmt>       ?full: one block per worker with php-fpm's keys; the last request a worker ran
                   (method, URI with query, script, content length, Basic auth user) is there
  cpu-memory       an idle worker's last request memory is the worker's own (> 0)
  html             ?html and ?html&full parse; the same rows and columns as php-fpm's
  openmetrics      ?openmetrics parses (HELP/TYPE/sample lines, # EOF last); php-fpm's metrics in
                   its order, then phpmgr's
  query-prefix     "?j" is json and "?f" full, as php-fpm matches $_GET keys
  ping             ping.response with php-fpm's headers, GET and HEAD, over FastCGI
  not-status       no SCRIPT_FILENAME: not the status page (the worker's 404, as php-fpm's)
  http             over http.listen: ping and ?json by the request path, HEAD without a body
  keep-alive       ping, status and a script one after the other on one FastCGI keep-conn
                   connection and on one HTTP keep-alive connection
  busy             both workers busy and a request queued: status and ping still answer at
                   once; active 2, idle 0, listen queue 1, then max listen queue 1
  fpm-get-status   fpm_get_status() returns php-fpm's keys, the caller's worker Running
  nginx            through nginx fastcgi_pass: ping and ?json as php-fpm's
  no-warning       the keys are acted on: no "not acted on yet" line for them

PHPMGR_BIN selects the binary. STATUS_ONLY=regex runs the matching cases.
"""

import base64
import json
import os
import re
import sys
import threading
import time
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

ONLY = os.environ.get("STATUS_ONLY")
POOL = "pm.status_path = /status\nping.path = /ping\nping.response = alive\n"
FORMATS = ["", "json", "xml", "html", "openmetrics"]
AUTH = "Basic " + base64.b64encode(b"alice:secret").decode()

PHP = {
    "hello.php": "<?php echo 'hello';\n",
    "post.php": "<?php echo strlen(file_get_contents('php://input'));\n",
    "sleep.php": "<?php usleep((int)($_GET['ms'] ?? 0) * 1000); echo 'slept';\n",
    "gs.php": "<?php echo json_encode(fpm_get_status());\n",
}


class Ctx:
    pass


C = Ctx()


def fcgi(side, script, query="", method="GET", body=b"", headers=None, drop=()):
    params = H.php_params(C.www, script, query=query, method=method,
                          content_length=len(body) if body else None,
                          content_type="text/plain" if body else "", headers=headers)
    params = [(k, v) for k, v in params if k not in drop]
    return H.fcgi_request(side.port, params, stdin=body, timeout=15)


def status(side, query="", method="GET"):
    r = fcgi(side, "/status", query=query, method=method)
    if not r.ended:
        raise AssertionError("%s: no END_REQUEST for /status?%s: %r" % (side.label, query, r))
    return H.parse_cgi(r.stdout)


def body(side, query):
    st, hdrs, b = status(side, query)
    if st != 200:
        raise AssertionError("%s /status?%s: status %s, body %r" % (side.label, query, st, b[:300]))
    return b.decode()


def workload(side):
    """The same requests on both servers: three GETs, a POST with a 5-byte body and a user."""
    for i in range(3):
        r = fcgi(side, "/hello.php", query="n=%d" % i)
        assert r.stdout.endswith(b"hello"), r
    r = fcgi(side, "/post.php", query="a=1&b=<2>", method="POST", body=b"12345",
             headers=[("Authorization", AUTH)])
    assert r.stdout.endswith(b"5"), r


def text_keys(text):
    """Keys of the plain format: the pool part, then each ?full block."""
    parts = text.split("\n************************\n")
    out = []
    for p in parts:
        out.append([ln.split(":", 1)[0] for ln in p.strip("\n").split("\n") if ln])
    return out


def xml_keys(text):
    root = ET.fromstring(text)
    pool = [e.tag for e in root if e.tag != "processes"]
    procs = [[e.tag for e in p] for p in root.iter("process")]
    return pool, procs


def prefix_check(name, fpm_keys, mgr_keys):
    if mgr_keys[:len(fpm_keys)] != fpm_keys:
        return "%s: keys differ\n  php-fpm: %s\n  phpmgr:  %s" % (name, fpm_keys, mgr_keys)
    return None


def t_headers():
    for q in FORMATS + ["full", "json&full"]:
        a, b = status(C.fpm, q), status(C.mgr, q)
        if a[:2] != b[:2]:
            return "?%s: headers differ\n  php-fpm: %r\n  phpmgr:  %r" % (q, a[:2], b[:2])
    a, b = status(C.fpm, "json", "HEAD"), status(C.mgr, "json", "HEAD")
    if a != b:
        return "HEAD: php-fpm %r, phpmgr %r" % (a, b)


STABLE = ["pool", "process manager", "total processes", "max children reached", "slow requests",
          "listen queue"]


def t_keys_plain():
    a, b = text_keys(body(C.fpm, "")), text_keys(body(C.mgr, ""))
    err = prefix_check("plain", a[0], b[0])
    if err:
        return err
    extra = b[0][len(a[0]):]
    if extra != ["requests refused", "reloads", "master cpu"]:
        return "phpmgr's own fields: %s" % extra
    va = dict(ln.split(":", 1) for ln in body(C.fpm, "").strip().split("\n"))
    vb = dict(ln.split(":", 1) for ln in body(C.mgr, "").strip().split("\n"))
    diff = [k for k in STABLE if va[k] != vb[k]]
    if diff:
        return "values differ: %s" % [(k, va[k], vb[k]) for k in diff]


def t_keys_json():
    a, b = json.loads(body(C.fpm, "json")), json.loads(body(C.mgr, "json"))
    err = prefix_check("json", list(a), list(b))
    if err:
        return err
    diff = [k for k in STABLE if a[k] != b[k]]
    if diff:
        return "values differ: %s" % [(k, a[k], b[k]) for k in diff]
    if b["listen queue len"] != 1024:  # queue.max
        return "listen queue len %r, want queue.max 1024" % b["listen queue len"]


def t_keys_xml():
    a, b = xml_keys(body(C.fpm, "xml")), xml_keys(body(C.mgr, "xml"))
    return prefix_check("xml", a[0], b[0])


def t_counters():
    before = {s.label: json.loads(body(s, "json")) for s in (C.fpm, C.mgr)}
    for s in (C.fpm, C.mgr):
        workload(s)
    after = {s.label: json.loads(body(s, "json")) for s in (C.fpm, C.mgr)}
    # five requests and the second status request itself
    for s in (C.fpm, C.mgr):
        d = after[s.label]["accepted conn"] - before[s.label]["accepted conn"]
        if d != 5:
            return "%s: accepted conn grew by %d, want 5" % (s.label, d)
    m = after[C.mgr.label]
    if m["requests refused"] != 0 or m["reloads"] != 0 or m["max active processes"] < 1:
        return "phpmgr's counters: %s" % m


def full_check(fmt):
    if fmt == "":
        a, b = text_keys(body(C.fpm, "full")), text_keys(body(C.mgr, "full"))
        a_pool, a_procs, b_pool, b_procs = a[0], a[1:], b[0], b[1:]
    elif fmt == "json":
        a, b = json.loads(body(C.fpm, "json&full")), json.loads(body(C.mgr, "json&full"))
        a_pool = [k for k in a if k != "processes"]
        b_pool = [k for k in b if k != "processes"]
        a_procs = [list(p) for p in a["processes"]]
        b_procs = [list(p) for p in b["processes"]]
    else:
        (a_pool, a_procs), (b_pool, b_procs) = (xml_keys(body(C.fpm, "xml&full")),
                                                xml_keys(body(C.mgr, "xml&full")))
    err = prefix_check("?%s&full pool" % fmt, a_pool, b_pool)
    if err:
        return err
    if len(a_procs) != 2 or len(b_procs) != 2:
        return "blocks: php-fpm %d, phpmgr %d (want 2, one per worker)" % (len(a_procs),
                                                                           len(b_procs))
    for p in b_procs:
        if p != a_procs[0]:
            return "process keys differ\n  php-fpm: %s\n  phpmgr:  %s" % (a_procs[0], p)


def t_full_values():
    """phpmgr keeps what the master handed over: the POST of workload() is some worker's last."""
    b = json.loads(body(C.mgr, "json&full"))
    procs = b["processes"]
    want = {"request method": "POST", "request uri": "/post.php?a=1&b=<2>",
            "content length": 5, "user": "alice", "script": C.www + "/post.php", "state": "Idle"}
    if not any(all(p.get(k) == v for k, v in want.items()) for p in procs):
        return "no process shows %s:\n%s" % (want, json.dumps(procs, indent=1))
    pids = sorted(p["pid"] for p in procs)
    live = sorted(H.proc_live_children(C.mgr.pid))
    if not set(pids) <= set(live):
        return "pids %s are not the master's children %s" % (pids, live)
    x = body(C.mgr, "xml&full")
    if "<request-uri>/post.php?a=1&amp;b=&lt;2&gt;</request-uri>" not in x:
        return "xml does not escape the URI as php-fpm: %s" % x


def t_cpu_memory():
    for _ in range(2):
        fcgi(C.mgr, "/hello.php")
    b = json.loads(body(C.mgr, "json&full"))
    served = [p for p in b["processes"] if p["state"] == "Idle" and p["requests"] > 0]
    if not served or not all(p["last request memory"] > 0 for p in served):
        return "an idle worker that served requests shows no memory: %s" % b["processes"]
    if not all(isinstance(p["last request cpu"], (int, float)) for p in b["processes"]):
        return "cpu: %s" % b["processes"]


class Table(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.cell, self.row = [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.row = []
        elif tag in ("th", "td"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self.row is not None:
            self.row.append(self.cell)
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.rows.append(self.row)
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def html_rows(text):
    if not text.startswith("<!DOCTYPE html") or not text.endswith("</body></html>"):
        raise AssertionError("not php-fpm's page frame: %r ... %r" % (text[:60], text[-40:]))
    ET.fromstring(re.sub(r"<!DOCTYPE[^>]*>", "", text))  # well-formed XHTML
    t = Table()
    t.feed(text)
    return t.rows


def t_html():
    a, b = html_rows(body(C.fpm, "html")), html_rows(body(C.mgr, "html"))
    err = prefix_check("html rows", [r[0] for r in a], [r[0] for r in b])
    if err:
        return err
    a, b = html_rows(body(C.fpm, "html&full")), html_rows(body(C.mgr, "html&full"))
    ha = next(r for r in a if r[0] == "pid")
    hb = next(r for r in b if r[0] == "pid")
    if ha != hb:
        return "process columns differ: %s / %s" % (ha, hb)
    nb = len([r for r in b if len(r) == len(hb)]) - 1
    if nb != 2:
        return "phpmgr: %d process rows, want 2" % nb


def om_parse(text):
    """[(metric, type, value)] of an OpenMetrics text; raises on a malformed one."""
    lines = text.split("\n")
    if lines[-2:] != ["# EOF", ""]:
        raise AssertionError("does not end with '# EOF\\n': %r" % lines[-3:])
    types, helps, out = {}, {}, []
    for ln in lines[:-2]:
        m = re.fullmatch(r"# (HELP|TYPE) ([a-z_]+) (.+)", ln)
        if m:
            (helps if m.group(1) == "HELP" else types)[m.group(2)] = m.group(3)
            continue
        m = re.fullmatch(r"([a-z_]+) ([0-9.]+)", ln)
        if not m:
            raise AssertionError("bad line %r" % ln)
        name = m.group(1)
        fam = name[:-6] if name.endswith("_total") and name[:-6] in types else name
        if fam not in types or fam not in helps:
            raise AssertionError("sample %s without TYPE or HELP" % name)
        out.append((name, types[fam], float(m.group(2))))
    return out


def t_openmetrics():
    a, b = om_parse(body(C.fpm, "openmetrics")), om_parse(body(C.mgr, "openmetrics"))
    na, nb = [(n, t) for n, t, _ in a], [(n, t) for n, t, _ in b]
    err = prefix_check("openmetrics", na, nb)
    if err:
        return err
    own = [n for n, _ in nb[len(na):]]
    if not own or not all(n.startswith("phpmgr_") for n in own):
        return "phpmgr's metrics: %s" % own
    full = [(n, t) for n, t, _ in om_parse(body(C.mgr, "openmetrics&full"))]
    if full != nb:  # php-fpm's ?full adds nothing to this format
        return "?openmetrics&full: %s" % full


def t_query_prefix():
    for s in (C.fpm, C.mgr):
        st, hdrs, b = status(s, "j&f")
        d = json.loads(b)
        if "processes" not in d or len(d["processes"]) != 2:
            return "%s: ?j&f is not json&full: %r" % (s.label, b[:200])


def t_ping():
    for m in ("GET", "HEAD"):
        a = H.parse_cgi(fcgi(C.fpm, "/ping", method=m).stdout)
        b = H.parse_cgi(fcgi(C.mgr, "/ping", method=m).stdout)
        if a != b:
            return "%s: php-fpm %r, phpmgr %r" % (m, a, b)
    if b[2] != b"" or a[0] != 200:
        return "HEAD: %r" % (b,)
    if H.parse_cgi(fcgi(C.mgr, "/ping").stdout)[2] != b"alive":
        return "ping.response not sent"


def t_not_status():
    a = fcgi(C.fpm, "/status", drop=("SCRIPT_FILENAME",))
    b = fcgi(C.mgr, "/status", drop=("SCRIPT_FILENAME",))
    if H.parse_cgi(a.stdout)[::2] != H.parse_cgi(b.stdout)[::2]:
        return "php-fpm %r, phpmgr %r" % (a.stdout, b.stdout)
    if H.parse_cgi(b.stdout)[0] != 404:
        return "not the worker's 404: %r" % b.stdout


def t_http():
    r = H.http_request(C.mgr.http_port, path="/ping")
    want = [("Content-type", "text/plain;charset=UTF-8"),
            ("Expires", "Thu, 01 Jan 1970 00:00:00 GMT"),
            ("Cache-Control", "no-cache, no-store, must-revalidate, max-age=0")]
    got = [(k, v) for k, v in r.headers if k.lower() in ("content-type", "expires",
                                                          "cache-control")]
    if r.status != 200 or r.body != b"alive" or [(k.lower(), v) for k, v in got] != \
            [(k.lower(), v) for k, v in want]:
        return "GET /ping: %s %r %r" % (r.status, r.headers, r.body)
    r = H.http_request(C.mgr.http_port, method="HEAD", path="/ping")
    if r.status != 200 or r.body != b"":
        return "HEAD /ping: %s %r" % (r.status, r.body)
    r = H.http_request(C.mgr.http_port, path="/status?json&full")
    if r.status != 200 or r.header("Content-Type") != "application/json":
        return "GET /status?json&full: %s %r" % (r.status, r.headers)
    d = json.loads(r.body)
    a = json.loads(body(C.fpm, "json"))
    if list(d)[:len(a)] != list(a) or len(d["processes"]) != 2:
        return "keys: %s" % list(d)
    # a path that only looks like it is not the status page
    r = H.http_request(C.mgr.http_port, path="/status/x")
    if r.status == 200 and b"accepted conn" in r.body:
        return "/status/x answered as the status page"


def t_keep_alive():
    with H.FcgiConn(C.mgr.port) as c:
        for i, (script, want) in enumerate([("/ping", b"alive"), ("/status", b'"pool"'),
                                            ("/hello.php", b"hello"), ("/ping", b"alive")]):
            params = H.php_params(C.www, script, query="json" if script == "/status" else "")
            r = c.request(params, req_id=i + 1, keep_conn=True)
            if not r.ended or want not in r.stdout:
                return "fcgi %s: %r %r" % (script, r, r.stdout[-200:])
    with H.HttpConn(C.mgr.http_port) as c:
        for path, want in [("/ping", b"alive"), ("/status?json", b'"pool"'),
                           ("/hello.php", b"hello"), ("/ping", b"alive")]:
            r = c.request("GET", path)
            if r is None or r.status != 200 or want not in r.body:
                return "http %s: %r" % (path, r and (r.status, r.body[:200]))


def t_busy():
    results = []

    def slow():
        results.append(fcgi(C.mgr, "/sleep.php", query="ms=1500"))

    threads = [threading.Thread(target=slow) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        ok = H.wait_until(lambda: json.loads(body(C.mgr, "json"))["listen queue"] == 1, 1.0)
        if not ok:
            return "not 2 busy + 1 queued: %s" % body(C.mgr, "json")
        t0 = time.monotonic()
        d = json.loads(body(C.mgr, "json&full"))
        p = H.parse_cgi(fcgi(C.mgr, "/ping").stdout)
        dt = time.monotonic() - t0
        if dt > 0.5:
            return "status and ping took %.2fs while the workers were busy" % dt
        if p[2] != b"alive":
            return "ping: %r" % (p,)
        if (d["active processes"], d["idle processes"], d["listen queue"]) != (2, 0, 1):
            return "counts: %s" % d
        if [x["state"] for x in d["processes"]] != ["Running", "Running"] or \
                {x["request uri"] for x in d["processes"]} != {"/sleep.php?ms=1500"}:
            return "processes: %s" % d["processes"]
    finally:
        for t in threads:
            t.join(15)
    if len(results) != 3 or not all(r.stdout.endswith(b"slept") for r in results):
        return "sleepers: %s" % results
    d = json.loads(body(C.mgr, "json"))
    if d["max listen queue"] < 1 or d["max active processes"] != 2 or d["listen queue"] != 0:
        return "after: %s" % d


def t_fpm_get_status():
    a = json.loads(H.parse_cgi(fcgi(C.fpm, "/gs.php").stdout)[2])
    b = json.loads(H.parse_cgi(fcgi(C.mgr, "/gs.php").stdout)[2])
    ka, kb = [k for k in a if k != "procs"], [k for k in b if k != "procs"]
    err = prefix_check("fpm_get_status()", ka, kb) or \
        prefix_check("procs", list(a["procs"][0]), list(b["procs"][0]))
    if err:
        return err
    if list(b).index("procs") != list(a).index("procs"):
        return "procs moved: %s" % list(b)
    me = [p for p in b["procs"] if p["request-uri"] == "/gs.php"]
    if len(b["procs"]) != 2 or len(me) != 1 or me[0]["state"] != "Running" or \
            b["active-processes"] < 1 or b["pool"] != "www":
        return "phpmgr: %s" % b


class StatusNginx(H.NginxServer):
    """nginx with a status location (as php-fpm's docs configure one) and PHP for each backend."""

    def write_config(self):
        self.server_ports = {name: H.free_port() for name, _, _ in self.backends}
        self.ports = list(self.server_ports.values())
        servers = []
        for name, bport, _ in self.backends:
            servers.append("""
    server {
        listen %(lo)s:%(port)d;
        root %(root)s;
        location ~ ^/(status|ping)$ {
            include /etc/nginx/fastcgi.conf;
            fastcgi_pass %(lo)s:%(b)d;
        }
        location ~ \\.php$ {
            include /etc/nginx/fastcgi.conf;
            fastcgi_pass %(lo)s:%(b)d;
        }
    }
""" % {"lo": H.LOOPBACK, "port": self.server_ports[name], "root": self.docroot, "b": bport})
        with open(self.conf, "w") as f:
            f.write(H.nginx_conf(self.tmp, self.error_log, "".join(servers)))


def t_nginx():
    ng = StatusNginx(C.tmp, C.www, [("fpm", C.fpm.port, False), ("mgr", C.mgr.port, False)])
    ng.start()
    try:
        pf, pm = ng.server_ports["fpm"], ng.server_ports["mgr"]
        a, b = H.http_request(pf, path="/ping"), H.http_request(pm, path="/ping")
        if (a.status, a.body, a.header("Content-Type")) != (b.status, b.body,
                                                              b.header("Content-Type")):
            return "ping: php-fpm %s %r %r, phpmgr %s %r %r" % (
                a.status, a.body, a.headers, b.status, b.body, b.headers)
        a, b = H.http_request(pf, path="/status?json"), H.http_request(pm, path="/status?json")
        if a.status != 200 or b.status != 200:
            return "status: %s / %s" % (a.status, b.status)
        ka, kb = list(json.loads(a.body)), list(json.loads(b.body))
        err = prefix_check("nginx json", ka, kb)
        if err:
            return err
        for h in ("Content-Type", "Expires", "Cache-Control"):
            if a.header(h) != b.header(h):
                return "%s: php-fpm %r, phpmgr %r" % (h, a.header(h), b.header(h))
    finally:
        ng.stop()


def t_no_warning():
    log = C.mgr.log_text()
    bad = [ln for ln in log.splitlines() if "not acted on" in ln and
           ("status_path" in ln or "ping.path" in ln)]
    if bad:
        return "\n".join(bad)


def main():
    rep = H.Reporter()
    if not H.phpmgr_available():
        rep.fail("setup", "phpmgr binary not found: %s" % H.PHPMGR_BIN)
        return rep.finish()
    C.tmp = H.tmpdir("phpmgr-status-")
    C.www = os.path.join(C.tmp, "www")
    os.mkdir(C.www)
    for name, text in PHP.items():
        with open(os.path.join(C.www, name), "w") as f:
            f.write(text)
    C.fpm = H.PhpFpmServer(C.tmp, max_children=2, pool_extra=POOL)
    C.mgr = H.PhpmgrHttpServer(C.tmp, label="phpmgr", max_children=2, pool_extra=POOL,
                               http_lines="http.document_root = %s\n" % C.www)
    cases = [("headers", t_headers), ("keys-plain", t_keys_plain), ("keys-json", t_keys_json),
             ("keys-xml", t_keys_xml), ("counters", t_counters),
             ("full-plain", lambda: full_check("")), ("full-json", lambda: full_check("json")),
             ("full-xml", lambda: full_check("xml")), ("full-values", t_full_values),
             ("cpu-memory", t_cpu_memory), ("html", t_html), ("openmetrics", t_openmetrics),
             ("query-prefix", t_query_prefix), ("ping", t_ping), ("not-status", t_not_status),
             ("http", t_http), ("keep-alive", t_keep_alive), ("busy", t_busy), ("fpm-get-status", t_fpm_get_status),
             ("nginx", t_nginx), ("no-warning", t_no_warning)]
    try:
        C.fpm.start()
        C.mgr.start()
        for s in (C.fpm, C.mgr):
            workload(s)
        for name, fn in cases:
            if ONLY and not re.search(ONLY, name):
                continue
            rep.run(name, fn)
    except (H.StartError, AssertionError, OSError) as e:
        rep.fail("setup", str(e))
    finally:
        C.fpm.stop()
        C.mgr.stop()
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
