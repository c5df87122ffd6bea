#!/usr/bin/python3
"""The slow request log (slowlog, request_slowlog_timeout, request_slowlog_trace_depth), written
by the worker itself when the master asks (no ptrace), in php-fpm's format.

  sleep-nested     a request asleep in time_nanosleep() under include / function / method /
                   function: php-fpm's warning in the error log, one slowlog entry with the
                   worker's pid, script_filename and the frames innermost first with the caller's
                   file:line; the response and its duration are those of a server without slowlog
                   (the sleep is not cut short: time_nanosleep() returns true)
  busy-loop        a request spinning in PHP code: its frames
  fast             a fast request: no entry, no warning
  trace-depth      request_slowlog_trace_depth = 2: two frames
  resident         worker.mode = resident: the handler's frames down to phpmgr_handle_request()
  other-user       workers running as nobody write the root-owned 0600 file the master created
  reopen           the file renamed away and SIGHUP: the next entry goes to a new file
  slow-counter     the systemd STATUS line counts the slow requests ("slow: N")
  php-fpm-shape    php-fpm's own entry and warning for the same script (ptrace; skipped when it
                   cannot trace here) equal ours once addresses, times, pids are normalised

PHPMGR_BIN selects the binary. SLOWLOG_ONLY=regex runs the matching cases.
"""

import json
import os
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

ONLY = os.environ.get("SLOWLOG_ONLY")
SLEEP_US = 1500000

LIB_PHP = """<?php
function inner($us) {
    return time_nanosleep(intdiv($us, 1000000), ($us % 1000000) * 1000);
}
class Slow {
    public function run($us) {
        return inner($us);
    }
}
function outer($us) {
    $s = new Slow();
    return $s->run($us);
}
return outer((int)($_GET['us'] ?? 0));
"""
SLEEP_PHP = """<?php
$t = hrtime(true);
$r = include __DIR__ . '/lib.php';
$ms = intdiv(hrtime(true) - $t, 1000000);
echo json_encode(['pid' => getmypid(), 'ret' => $r, 'ms' => $ms]);
"""
# innermost first: the function, then where it was called from
SLEEP_FRAMES = ["time_nanosleep() {d}/lib.php:3", "inner() {d}/lib.php:7", "run() {d}/lib.php:12",
                "outer() {d}/lib.php:14", "[INCLUDE_OR_EVAL]() {d}/sleep.php:3"]
BUSY_PHP = """<?php
function spin($s) {
    $t = microtime(true); $n = 0;
    while (microtime(true) - $t < $s) { $n++; }
    return $n;
}
function work($s) {
    return spin($s);
}
echo json_encode(['pid' => getmypid(), 'spun' => work((float)($_GET['s'] ?? 0)) > 0]);
"""
BOOT_PHP = """<?php
function handle() {
    $r = time_nanosleep(1, 200000000);
    echo json_encode(['pid' => getmypid(), 'ret' => $r]);
}
while (phpmgr_handle_request(function () { handle(); })) {
}
"""
RESIDENT_FRAMES = ["time_nanosleep() {d}/boot.php:3", "handle() {d}/boot.php:6",
                   "{{closure}}() {d}/boot.php:6", "phpmgr_handle_request() {d}/boot.php:6"]

HEAD_RE = re.compile(r"^\[(\d\d)-([A-Z][a-z]{2})-(\d{4}) (\d\d):(\d\d):(\d\d)\]  \[pool (\S+)\] "
                     r"pid (\d+)$")
FRAME_RE = re.compile(r"^\[0x([0-9a-f]{16})\] (.*)$")
WARN_RE = re.compile(r"^\[\d\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d\] WARNING: \[pool (\S+)\] child "
                     r"(\d+), script '([^']*)' \(request: \"([^\"]*)\"\) executing too slow "
                     r"\((\d+)\.(\d{6}) sec\), logging$")


class Ctx:
    pass


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def entries(text):
    """The slowlog's entries: each a dict with head (the header match), script, frames (the lines
    after the address) and raw (the entry's text). Every entry starts with a blank line."""
    out = []
    if not text:
        return out
    if not text.startswith("\n"):
        raise AssertionError("slowlog does not start with a blank line: %r" % text[:200])
    for chunk in text[1:].split("\n\n"):
        lines = chunk.rstrip("\n").split("\n")
        head = HEAD_RE.match(lines[0])
        if not head or len(lines) < 2 or not lines[1].startswith("script_filename = "):
            raise AssertionError("malformed entry: %r" % chunk)
        frames = []
        for ln in lines[2:]:
            m = FRAME_RE.match(ln)
            if not m:
                raise AssertionError("malformed frame line %r in %r" % (ln, chunk))
            frames.append(m.group(2))
        out.append({"head": head, "script": lines[1][len("script_filename = "):],
                    "frames": frames, "raw": "\n" + chunk + ("\n" if not chunk.endswith("\n") else "")})
    return out


def warnings(server):
    return [m for m in (WARN_RE.match(ln) for ln in read(server.error_log).splitlines()) if m]


def fcgi_get(port, docroot, script, query, timeout=20):
    t0 = time.monotonic()
    r = H.fcgi_request(port, H.php_params(docroot, script, query=query), timeout=timeout)
    dt = time.monotonic() - t0
    status, headers, body = r.cgi()
    return status, body, dt


class SlowServer(H.PhpmgrServer):
    def __init__(self, tmp, label, extra="", global_extra="", max_children=1):
        self.slowlog = os.path.join(tmp, label + ".slow.log")
        lines = "slowlog = %s\n%s" % (self.slowlog, extra) if self.slowlog else extra
        super().__init__(tmp, label, max_children=max_children, pool_extra=lines,
                         global_extra=global_extra)


def wait_entries(server, n, timeout=5.0):
    """The slowlog's entries once it has at least n (bounded wait)."""
    got = H.wait_until(lambda: len(entries(read(server.slowlog))) >= n and
                       entries(read(server.slowlog)), timeout)
    return got or entries(read(server.slowlog))


# --------------------------------------------------------------------------------------------

def t_sleep_nested(c):
    s = c.main
    before = len(entries(read(s.slowlog)))
    nw = len(warnings(s))
    status, body, dt = fcgi_get(s.port, c.www, "/sleep.php", "us=%d" % SLEEP_US)
    if status != 200:
        return "status %s, body %r" % (status, body[:300])
    res = json.loads(body)
    got = wait_entries(s, before + 1)[before:]
    time.sleep(0.6)  # two more ticks of the master: still one entry and one warning
    got = entries(read(s.slowlog))[before:]
    ws = warnings(s)[nw:]
    if len(got) != 1 or len(ws) != 1:
        return "%d entries and %d warnings for one slow request:\n%s\n%s" % (
            len(got), len(ws), read(s.slowlog), read(s.error_log)[-2000:])
    e, w = got[0], ws[0]
    want = [f.format(d=c.www) for f in SLEEP_FRAMES]
    problems = []
    if e["head"].group(7) != "www" or int(e["head"].group(8)) != res["pid"]:
        problems.append("header %r, worker pid %d" % (e["head"].group(0), res["pid"]))
    if e["script"] != c.www + "/sleep.php":
        problems.append("script_filename %r" % e["script"])
    if e["frames"] != want:
        problems.append("frames %r, want %r" % (e["frames"], want))
    if (w.group(1), int(w.group(2)), w.group(3), w.group(4)) != (
            "www", res["pid"], c.www + "/sleep.php", "GET /sleep.php?us=%d" % SLEEP_US):
        problems.append("warning %r" % w.group(0))
    secs = int(w.group(5)) + int(w.group(6)) / 1e6
    if not 0.5 <= secs < 1.2:
        problems.append("warning says %.6f sec for a 500ms timeout" % secs)
    # the same request without slowlog: same answer, as long
    status2, body2, dt2 = fcgi_get(c.plain.port, c.www, "/sleep.php", "us=%d" % SLEEP_US)
    res2 = json.loads(body2)
    if res["ret"] is not True or res2["ret"] is not True:
        problems.append("time_nanosleep returned %r (slowlog) / %r (none)" % (res["ret"], res2["ret"]))
    if res["ms"] < SLEEP_US // 1000 or abs(res["ms"] - res2["ms"]) > 150:
        problems.append("slept %d ms with slowlog, %d ms without" % (res["ms"], res2["ms"]))
    if abs(dt - dt2) > 0.3:
        problems.append("took %.3f s with slowlog, %.3f s without" % (dt, dt2))
    return "; ".join(problems) or None


def t_busy_loop(c):
    s = c.main
    before = len(entries(read(s.slowlog)))
    status, body, dt = fcgi_get(s.port, c.www, "/busy.php", "s=1.2")
    if status != 200 or not json.loads(body)["spun"]:
        return "status %s, body %r" % (status, body[:300])
    got = wait_entries(s, before + 1)[before:]
    if len(got) != 1:
        return "%d entries:\n%s" % (len(got), read(s.slowlog))
    frames = got[0]["frames"]
    tail = ["spin() %s/busy.php:8" % c.www, "work() %s/busy.php:10" % c.www]
    # caught between opcodes of spin(), or (from the other thread) inside microtime()
    if frames != tail and frames != ["microtime() %s/busy.php:4" % c.www] + tail:
        return "frames %r, want %r" % (frames, tail)
    return None


def t_fast(c):
    s = c.main
    before, nw = read(s.slowlog), len(warnings(s))
    for _ in range(5):
        status, body, dt = fcgi_get(s.port, c.www, "/sleep.php", "us=1000")
        if status != 200:
            return "status %s" % status
    time.sleep(0.6)  # past the timeout and two ticks: nothing may appear
    if read(s.slowlog) != before or len(warnings(s)) != nw:
        return "fast requests were logged:\n%s" % read(s.slowlog)[len(before):]
    return None


def t_trace_depth(c):
    s = c.depth
    status, body, dt = fcgi_get(s.port, c.www, "/sleep.php", "us=1000000")
    got = wait_entries(s, 1)
    want = [f.format(d=c.www) for f in SLEEP_FRAMES[:2]]
    if status != 200 or len(got) != 1 or got[0]["frames"] != want:
        return "status %s, entries %r, want one with frames %r" % (
            status, [e["frames"] for e in got], want)
    return None


def t_resident(c):
    s = c.resident
    status, body, dt = fcgi_get(s.port, c.www, "/sleep.php", "")
    if status != 200:
        return "status %s, body %r" % (status, body[:300])
    res = json.loads(body)
    got = wait_entries(s, 1)
    want = [f.format(d=c.www) for f in RESIDENT_FRAMES]
    if len(got) != 1:
        return "%d entries:\n%s" % (len(got), read(s.slowlog))
    e = got[0]
    if e["frames"] != want or int(e["head"].group(8)) != res["pid"] or res["ret"] is not True \
            or e["script"] != c.www + "/sleep.php":
        return "entry %r (worker %d, time_nanosleep %r), want frames %r" % (
            e["raw"], res["pid"], res["ret"], want)
    return None


def t_other_user(c):
    if c.nobody is None:
        raise H.Skip("needs root")
    s = c.nobody
    st = os.stat(s.slowlog)
    if st.st_uid != 0 or st.st_mode & 0o777 != 0o600:
        return "slowlog is uid %d mode %o, want root's 0600 as php-fpm makes it" % (
            st.st_uid, st.st_mode & 0o777)
    status, body, dt = fcgi_get(s.port, c.www, "/sleep.php", "us=1000000")
    got = wait_entries(s, 1)
    if status != 200 or len(got) != 1 or len(got[0]["frames"]) != 5:
        return "status %s, body %r, slowlog %r" % (status, body[:200], read(s.slowlog))
    return None


def t_reopen(c):
    s = c.depth
    old = s.slowlog + ".1"
    os.rename(s.slowlog, old)
    n_old = len(entries(read(old)))
    s.send_signal(signal.SIGHUP)
    if not H.wait_until(lambda: os.path.exists(s.slowlog), 5):
        return "no new slowlog after SIGHUP"
    fcgi_get(s.port, c.www, "/sleep.php", "us=1000000")
    got = wait_entries(s, 1)
    if len(got) != 1 or len(entries(read(old))) != n_old:
        return "new file %r, old file %r" % (read(s.slowlog), read(old))
    return None


class NotifyReader:
    """$NOTIFY_SOCKET's messages, read as they come: the master's sd_notify() must never find the
    queue full (10 datagrams by default)."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.messages = []
        self.done = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while not self.done:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass
            except OSError:
                return

    def close(self):
        self.done = True
        self.thread.join(2)
        self.sock.close()


def t_slow_counter(c):
    s = c.main
    n = len(warnings(s))
    if n == 0:
        return "no slow request was logged before"
    want = "slow: %d," % n
    first = len(c.notify.messages)
    if H.wait_until(lambda: any(want in m for m in c.notify.messages[first:]), 5):
        return None
    return "no STATUS with %r: %r" % (want, c.notify.messages[-3:])


def normalise(text, docroot):
    text = re.sub(r"\[0x[0-9a-f]{16}\]", "[0xADDR]", text)
    text = re.sub(r"^\[\d\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d\]", "[DATE]", text, flags=re.M)
    text = re.sub(r"pid \d+", "pid N", text)
    text = re.sub(r"child \d+", "child N", text)
    text = re.sub(r"\(\d+\.\d{6} sec\)", "(S sec)", text)
    return text.replace(docroot, "DOCROOT")


def t_php_fpm_shape(c):
    if not os.path.exists(H.PHP_FPM_BIN):
        raise H.Skip("no php-fpm")
    tmp = c.tmp
    fpm_slow = os.path.join(tmp, "fpm.slow.log")
    fpm = H.PhpFpmServer(tmp, "php-fpm", max_children=1,
                         pool_extra="slowlog = %s\nrequest_slowlog_timeout = 1s\n" % fpm_slow)
    mgr = SlowServer(tmp, "cmp", "request_slowlog_timeout = 1s\n")
    fpm.start()
    mgr.start()
    try:
        for srv in (fpm, mgr):
            status, body, dt = fcgi_get(srv.port, c.www, "/sleep.php", "us=1600000")
            if status != 200 or json.loads(body)["ret"] is not True:
                return "%s: status %s, body %r" % (srv.label, status, body[:200])
        H.wait_until(lambda: read(fpm_slow).count("\n\n") >= 1, 5)
        H.wait_until(lambda: len(entries(read(mgr.slowlog))) >= 1, 5)
    finally:
        fpm.stop()
        mgr.stop()
    theirs, ours = read(fpm_slow), read(mgr.slowlog)
    if not theirs.strip():
        raise H.Skip("php-fpm wrote no slowlog entry here (no ptrace?): %s"
                     % read(fpm.error_log)[-300:].replace("\n", " | "))
    problems = []
    if normalise(theirs, c.www) != normalise(ours, c.www):
        problems.append("php-fpm's entry:\n%s\nours:\n%s" % (normalise(theirs, c.www),
                                                             normalise(ours, c.www)))
    fw = [normalise(m.group(0), c.www).split("] ", 1)[1] for m in warnings(fpm)]
    mw = [normalise(m.group(0), c.www).split("] ", 1)[1] for m in warnings(mgr)]
    if fw != mw or len(fw) != 1:
        problems.append("warnings: php-fpm %r, ours %r" % (fw, mw))
    return "\n".join(problems) or None


def main():
    rep = H.Reporter()
    if not H.phpmgr_available():
        rep.fail("setup", "phpmgr binary not found: %s" % H.PHPMGR_BIN)
        return rep.finish()
    c = Ctx()
    c.tmp = H.tmpdir("phpmgr-slowlog-")
    c.www = os.path.join(c.tmp, "www")
    os.mkdir(c.www)
    os.chmod(c.www, 0o755)
    for name, text in (("lib.php", LIB_PHP), ("sleep.php", SLEEP_PHP), ("busy.php", BUSY_PHP),
                       ("boot.php", BOOT_PHP)):
        write(os.path.join(c.www, name), text)

    notify_path = os.path.join(c.tmp, "notify.sock")
    c.notify = NotifyReader(notify_path)

    c.main = SlowServer(c.tmp, "main", "request_slowlog_timeout = 500ms\n",
                        global_extra="systemd_interval = 1\n")
    c.main.env = dict(c.main.env or os.environ, NOTIFY_SOCKET=notify_path)
    c.plain = SlowServer(c.tmp, "plain")
    c.plain.slowlog = None
    c.plain.pool_extra = ""
    c.depth = SlowServer(c.tmp, "depth",
                         "request_slowlog_timeout = 500ms\nrequest_slowlog_trace_depth = 2\n")
    c.resident = SlowServer(c.tmp, "resident", "request_slowlog_timeout = 500ms\n"
                            "catch_workers_output = yes\nworker.mode = resident\n"
                            "worker.bootstrap = %s/boot.php\n" % c.www)
    c.nobody = None
    if os.geteuid() == 0:
        c.nobody = SlowServer(c.tmp, "nobody", "request_slowlog_timeout = 500ms\nuser = nobody\n"
                              "group = nogroup\n")
    servers = [s for s in (c.main, c.plain, c.depth, c.resident, c.nobody) if s is not None]

    cases = [("sleep-nested", t_sleep_nested), ("busy-loop", t_busy_loop), ("fast", t_fast),
             ("trace-depth", t_trace_depth), ("resident", t_resident),
             ("other-user", t_other_user), ("reopen", t_reopen),
             ("slow-counter", t_slow_counter), ("php-fpm-shape", t_php_fpm_shape)]
    try:
        for s in servers:
            s.start()
        for name, fn in cases:
            if ONLY and not re.search(ONLY, name):
                continue
            rep.run(name, fn, c)
    except H.StartError as e:
        rep.fail("setup", str(e))
    finally:
        for s in servers:
            s.stop()
        c.notify.close()
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
