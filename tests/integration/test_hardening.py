#!/usr/bin/python3
"""Hardening of phpmgr's master (issue 13), tried the way a hostile or careless client would:

  flood_http / flood_fcgi_get_values   one client pipelines master-answered requests (OPTIONS *,
                                       a 404, HEAD of a static file; or FastCGI GET_VALUES) and never
                                       reads: the master's RSS grows < 16 MiB, others are served;
  sigquit_slow_reader[_fcgi]           SIGQUIT during a 20 MiB response to a slow reader: every byte
                                       arrives, then exit 0 and "exiting, bye-bye!";
  no_tcp_in_workers                    under accept load with pm.max_requests = 3, no worker ever
                                       holds a TCP socket or a stray pipe (/proc/PID/fd);
  no_pipe_in_workers_daemon            the same pipe check for a daemonized master;
  header_431_200k                      a 431 reaches a client still sending a 200 KB header;
  fifo_docroot[_swapped]               a FIFO in the docroot gets a 404 and does not stall others;
  leave_queued                         12 clients leave at once: at most the 2 running requests run,
                                       and they see the abort;
  fcgi_pipelined / fcgi_half_close     FastCGI: two requests in one write; a half-closed client;
  max_requests_respawn                 pm.max_requests = 1 does not pause a second per request;
  static_abandoned_pipes               reset static downloads never leak bytes into the next one;
  http_allowed_clients / allowed_clients_v4mapped
  user_typo / user_numeric             pool user resolved up front (typos refused, numeric accepted);
  read_timeout / fcgi_body_limit / fcgi_send_timeout   new pool keys (request.read_timeout,
                                       fastcgi.max_body_size, fastcgi.send_timeout);
  fcgi_body_limit_exact                the limit counts body bytes: a body of exactly the limit passes;
  http_half_close_pipelined / fcgi_half_close_pipelined   requests pipelined before the client's
                                       FIN are all answered, then the connection closes;
  sigquit_body_arriving / sigquit_fcgi_body_arriving   SIGQUIT while a request body is arriving:
                                       503 at once, and the master does not wait out
                                       process_control_timeout;
  stop_last_worker_dies                a stopping pool whose last worker dies answers its queue 503.

Every case starts its own phpmgr (fresh ports, a copy of tests/fixtures/hardening as docroot) and
stops it. PHPMGR_BIN selects the binary; HARDEN_ONLY=regex runs the matching cases;
HARDEN_FLOOD_SECONDS sets each flood's duration (default 20).
"""

import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

FIX = os.path.join(H.FIXTURES, "hardening")
ONLY = os.environ.get("HARDEN_ONLY")
FLOOD_SECONDS = float(os.environ.get("HARDEN_FLOOD_SECONDS") or 20)
FLOOD_MAX_REQUESTS = 1000000
RSS_LIMIT_KIB = 16 * 1024
RSS_ABORT_KIB = 1024 * 1024  # stop a flood early once the master grew by 1 GiB: the case failed
BYE = "exiting, bye-bye!"


# --------------------------------------------------------------------------------------------
# servers

class Mgr(H.PhpmgrServer):
    """phpmgr with a FastCGI listen (host fcgi_host) and, when http is set, one http.listen (host
    http_host) serving docroot; pool_extra are more pool lines. After start(): port, http_port."""

    def __init__(self, tmp, label, docroot, max_children=4, pool_extra="", http=True,
                 fcgi_host=H.LOOPBACK, http_host=H.LOOPBACK, global_extra=""):
        super().__init__(tmp, label, max_children=max_children, pool_extra=pool_extra,
                         global_extra=global_extra)
        self.docroot = docroot
        self.http = http
        self.fcgi_host = fcgi_host
        self.http_host = http_host
        self.http_port = None

    def config_text(self):
        t = ("[global]\npid = %s\nerror_log = %s\ndaemonize = no\n%s\n"
             % (self.pid_file, self.error_log, self.global_extra.strip()))
        t += ("[www]\nlisten = %s:%d\npm = static\npm.max_children = %d\n"
              % (self.fcgi_host, self.port, self.max_children))
        if self.http:
            t += "http.listen = %s:%d\nhttp.document_root = %s\n" % (self.http_host,
                                                                    self.http_port, self.docroot)
        return t + self.pool_extra.strip() + "\n"

    def write_config(self):
        self.http_port = H.free_port() if self.http else None
        super().write_config()
        if self.http:
            self.ports = [self.port, self.http_port]


class Case:
    """Per-case state: a temp dir, a docroot copy, the servers started (stopped at the end)."""

    def __init__(self, name):
        self.name = name
        self.tmp = H.tmpdir("phpmgr-harden-")
        self.servers = []
        self.notes = []

    def docroot(self):
        d = os.path.join(self.tmp, "www")
        if not os.path.isdir(d):
            shutil.copytree(FIX, d)
            os.chmod(d, 0o755)
        return os.path.realpath(d)

    def start(self, label="mgr", **kw):
        """A started Mgr; raises StartError with the log when it does not come up."""
        kw.setdefault("docroot", self.docroot())
        s = Mgr(self.tmp, label, **kw)
        self.servers.append(s)
        s.start(timeout=20)
        return s

    def stop_all(self):
        for s in self.servers:
            try:
                s.stop(timeout=5)
            except Exception:  # noqa: BLE001
                pass


def params(docroot, script, query="", **kw):
    return H.php_params(docroot, script, query=query, **kw)


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1])
    except OSError:
        pass
    return None


def http_get(port, path, timeout=5.0, method="GET"):
    return H.http_request(port, method, path, timeout=timeout)


def expect_http_ok(r, needle=b"hello", what="request"):
    if r.status != 200:
        return "%s: status %d, body %r" % (what, r.status, r.body[:200])
    if needle and needle not in r.body:
        return "%s: body %r lacks %r" % (what, r.body[:200], needle)
    if r.error:
        return "%s: framing: %s" % (what, r.error)
    return None


def expect_fcgi_ok(res, needle=b"hello", what="FastCGI request"):
    if not res.ended:
        return "%s: no END_REQUEST (eof=%s, stdout %r)" % (what, res.eof, res.stdout[:200])
    if res.protocol_status != H.FCGI_REQUEST_COMPLETE:
        return "%s: protocolStatus %s" % (what, res.protocol_status)
    status, _, body = res.cgi()
    if status != 200:
        return "%s: status %s, stdout %r" % (what, status, res.stdout[:200])
    if needle and needle not in body:
        return "%s: body %r lacks %r" % (what, body[:200], needle)
    return None


def pattern(mb):
    """What big.php?mb= writes."""
    return b"".join(b"%010dabcdefghijklmnopqrstu\n" % j for j in range(mb * 32768))


def first_diff(a, b):
    n = min(len(a), len(b))
    i = 0
    step = 1 << 16
    while i < n and a[i:i + step] == b[i:i + step]:
        i += step
    while i < n and a[i] == b[i]:
        i += 1
    return i


def body_mismatch(got, want, what="body"):
    if got == want:
        return None
    i = first_diff(got, want)
    return "%s: %d bytes, expected %d; first difference at byte %d: got %r, expected %r" % (
        what, len(got), len(want), i, got[i:i + 40], want[i:i + 40])


def raw_exchange(port, data, timeout=5.0, src=None, host=H.LOOPBACK):
    """Connect (from src when given), send data, read until EOF or timeout.
    Returns (bytes, how) with how in "eof", "reset", "timeout"."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        if src:
            s.bind((src, 0))
        s.connect((host, port))
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        dl = H.Deadline(timeout)
        out = []
        while True:
            if dl.expired():
                return b"".join(out), "timeout"
            s.settimeout(max(0.01, dl.left()))
            try:
                b = s.recv(65536)
            except socket.timeout:
                return b"".join(out), "timeout"
            except ConnectionResetError:
                return b"".join(out), "reset"
            if not b:
                return b"".join(out), "eof"
            out.append(b)
    finally:
        s.close()


# --------------------------------------------------------------------------------------------
# 1, 2: floods of master-answered requests from a client that never reads

def run_flood(c, srv, payload, per_payload, checker, label):
    """Sends payload (per_payload requests) over and over on one connection without reading,
    for FLOOD_SECONDS or FLOOD_MAX_REQUESTS. checker() is called from another thread every ~3 s
    and returns None or a failure text. Returns a failure text or None."""
    pid = srv.pid
    base = rss_kib(pid)
    if base is None:
        return "cannot read the master's VmRSS"
    buf = payload * 4
    mv = memoryview(buf)
    plen = len(payload)
    peak = base
    sent = 0
    reconnects = 0
    blocked = 0.0
    check_results = []
    stop = threading.Event()

    def check_loop():
        n = 0
        while not stop.is_set() and n < 20:
            if stop.wait(1.5 if n == 0 else 3.0):
                break
            n += 1
            t0 = time.monotonic()
            try:
                e = checker()
            except Exception as ex:  # noqa: BLE001
                e = "%s: %s" % (type(ex).__name__, ex)
            check_results.append((time.monotonic() - t0, e))

    th = threading.Thread(target=check_loop, daemon=True)
    th.start()

    def connect():
        s = socket.create_connection((H.LOOPBACK, srv.flood_port), timeout=5)
        s.setblocking(False)
        return s

    s = connect()
    dl = H.Deadline(FLOOD_SECONDS)
    max_bytes = FLOOD_MAX_REQUESTS * plen // per_payload
    pos = 0
    last_sample = 0.0
    aborted = None
    t_start = time.monotonic()
    try:
        while not dl.expired() and sent < max_bytes:
            now = time.monotonic()
            if now - last_sample > 0.2:
                last_sample = now
                r = rss_kib(pid)
                if r is None:
                    aborted = "the master is gone (exit status %s)" % srv.proc.poll()
                    break
                peak = max(peak, r)
                if r - base > RSS_ABORT_KIB:
                    aborted = "flood stopped early: the master grew by %d MiB" % ((r - base) >> 10)
                    break
            try:
                n = s.send(mv[pos:pos + 3 * plen])
                sent += n
                pos = (pos + n) % plen
            except BlockingIOError:
                t0 = time.monotonic()
                select.select([], [s], [], min(0.2, dl.left()))
                blocked += time.monotonic() - t0
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                reconnects += 1
                s.close()
                if reconnects > 100:
                    aborted = "the master closed the flooding connection 100 times"
                    break
                s = connect()
                pos = 0
        elapsed = time.monotonic() - t_start
        end = rss_kib(pid)
        if end is not None:
            peak = max(peak, end)
        if not check_results and srv.alive():
            # the flood was short (the request cap): one check with the connection still open
            t0 = time.monotonic()
            try:
                e = checker()
            except Exception as ex:  # noqa: BLE001
                e = "%s: %s" % (type(ex).__name__, ex)
            check_results.append((time.monotonic() - t0, e))
    finally:
        stop.set()
        th.join(10)
        s.close()
    nreq = sent * per_payload // plen
    note = ("%s: %d requests (%.1f MB) in %.1fs, %.1fs waiting to send, %d reconnects; master VmRSS %d KiB"
            " -> peak %d KiB (+%d KiB); %d checks during the flood"
            % (label, nreq, sent / 1e6, elapsed, blocked, reconnects, base, peak, peak - base,
               len(check_results)))
    H.log(note)
    errs = []
    if aborted:
        errs.append(aborted)
    if peak - base >= RSS_LIMIT_KIB:
        errs.append("master RSS grew by %d KiB (limit %d KiB)" % (peak - base, RSS_LIMIT_KIB))
    if not check_results:
        errs.append("no check ran during the flood")
    for dt, e in check_results:
        if e:
            errs.append("another client during the flood: %s (after %.1fs)" % (e, dt))
            break
    if not srv.alive():
        errs.append("master exited (status %s)" % srv.proc.poll())
    if errs:
        return "\n".join(errs + [note])
    c.notes.append("%d requests, +%d KiB" % (nreq, peak - base))
    return None


def t_flood_http(c):
    srv = c.start(pool_extra="http.static = yes")
    srv.flood_port = srv.http_port
    # warm up: each kind once, so allocator pools exist before the baseline
    r = http_get(srv.http_port, "/static.txt", method="HEAD")
    if r.status != 200:
        return "HEAD /static.txt: status %d (the fixture is not served statically?)" % r.status
    r = http_get(srv.http_port, "/no-such-file.txt")
    if r.status != 404:
        return "GET /no-such-file.txt: status %d, expected 404" % r.status
    e = expect_http_ok(http_get(srv.http_port, "/hello.php"), what="warm-up PHP request")
    if e:
        return e
    reqs = []
    for k in range(100):
        if k % 10 == 3:
            reqs.append(b"GET /no-such-file-%d.txt HTTP/1.1\r\nHost: x\r\n\r\n" % k)
        elif k % 10 == 7:
            reqs.append(b"HEAD /static.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        else:
            reqs.append(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
    payload = b"".join(reqs)

    def checker():
        return expect_http_ok(http_get(srv.http_port, "/hello.php?marker=during", timeout=5),
                              b"marker=during", "PHP request during the flood")

    return run_flood(c, srv, payload, len(reqs), checker, "http flood")


def t_flood_fcgi(c):
    srv = c.start(http=False)
    srv.flood_port = srv.port
    doc = srv.docroot
    with H.FcgiConn(srv.port) as fc:
        if fc.get_values() is None:
            return "warm-up GET_VALUES: connection closed"
    e = expect_fcgi_ok(H.fcgi_request(srv.port, params(doc, "/hello.php"), timeout=5),
                       what="warm-up request")
    if e:
        return e
    rec = H.fcgi_record(H.FCGI_GET_VALUES, 0, b"".join(
        H.fcgi_nv(n, "") for n in ("FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS")))
    payload = rec * 100

    def checker():
        res = H.fcgi_request(srv.port, params(doc, "/hello.php", "marker=during"), timeout=5)
        return expect_fcgi_ok(res, b"marker=during", "FastCGI request during the flood")

    return run_flood(c, srv, payload, 100, checker, "GET_VALUES flood")


# --------------------------------------------------------------------------------------------
# 3: SIGQUIT during a 20 MiB response to a slow reader

def _after_quit(srv, deadline=60.0):
    rc = srv.wait_exit(deadline)
    if rc is None:
        return "master still running %ds after SIGQUIT" % deadline
    errs = []
    if rc != 0:
        errs.append("master exit status %s after SIGQUIT" % rc)
    if BYE not in H.read_text(srv.error_log):
        errs.append("no %r in the log" % BYE)
    return "; ".join(errs) or None


def _quit_verdict(srv, errs, quit_at):
    """The case's failures plus the master's exit after SIGQUIT, or None."""
    e = _after_quit(srv)
    if e:
        errs.append(e)
    if errs:
        return "\n".join(errs + ["SIGQUIT sent after %d bytes" % quit_at])
    return None


def t_sigquit_slow_reader(c, pool_extra=""):
    srv = c.start(pool_extra=pool_extra)
    want = pattern(20)
    s = socket.create_connection((H.LOOPBACK, srv.http_port), timeout=10)
    raw = []
    got = 0
    quit_at = None
    how = "eof"
    dl = H.Deadline(90)
    try:
        s.sendall(b"GET /big.php?mb=20 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while True:
            if dl.expired():
                how = "timeout"
                break
            s.settimeout(min(10.0, max(0.01, dl.left())))
            try:
                b = s.recv(65536)
            except socket.timeout:
                how = "no byte for 10 s"
                break
            except ConnectionResetError:
                how = "reset"
                break
            if not b:
                break
            raw.append(b)
            got += len(b)
            if quit_at is None and got >= (1 << 20):
                quit_at = got
                srv.send_signal(signal.SIGQUIT)
            time.sleep(0.05 if quit_at is None else 0.008)
    finally:
        s.close()
    data = b"".join(raw)
    errs = []
    if quit_at is None:
        errs.append("only %d bytes arrived before the end (%s): SIGQUIT never sent" % (got, how))
        return "; ".join(errs)
    if how != "eof":
        errs.append("the download ended by %s after %d bytes" % (how, got))
    try:
        r = H.parse_http_response(data)
    except H.HttpError as e:
        r = None
        errs.append("response unparsable (%d bytes): %s" % (len(data), e))
    if r is not None:
        if r.status != 200:
            errs.append("status %d" % r.status)
        if r.error:
            errs.append("framing: %s (%d body bytes of %d)" % (r.error, len(r.body), len(want)))
        e = body_mismatch(r.body, want)
        if e:
            errs.append(e)
    return _quit_verdict(srv, errs, quit_at)


def t_sigquit_slow_reader_fcgi(c):
    srv = c.start(http=False)
    want = pattern(20)
    out = []
    got = 0
    quit_at = None
    ended = None
    eof = False
    with H.FcgiConn(srv.port, timeout=10) as fc:
        fc.request_start(params(srv.docroot, "/big.php", "mb=20"))
        dl = H.Deadline(90)
        since_pause = 0
        while not dl.expired():
            try:
                rec = fc.read_record(min(10.0, max(0.01, dl.left())))
            except socket.timeout:
                break
            if rec is None:
                eof = True
                break
            if rec.type == H.FCGI_STDOUT:
                out.append(rec.content)
                got += len(rec.content)
                since_pause += len(rec.content)
                if quit_at is None and got >= (1 << 20):
                    quit_at = got
                    srv.send_signal(signal.SIGQUIT)
                if since_pause >= 65536:
                    since_pause = 0
                    time.sleep(0.05 if quit_at is None else 0.008)
            elif rec.type == H.FCGI_END_REQUEST:
                ended = rec.end_request()
                break
    errs = []
    if quit_at is None:
        return "only %d bytes arrived (eof=%s ended=%s): SIGQUIT never sent" % (got, eof, ended)
    if ended is None:
        errs.append("no END_REQUEST (eof=%s) after %d stdout bytes" % (eof, got))
    elif ended[1] != H.FCGI_REQUEST_COMPLETE:
        errs.append("END_REQUEST protocolStatus %s" % ended[1])
    status, _, body = H.parse_cgi(b"".join(out))
    if status != 200:
        errs.append("CGI status %s" % status)
    e = body_mismatch(body, want)
    if e:
        errs.append(e)
    return _quit_verdict(srv, errs, quit_at)


# --------------------------------------------------------------------------------------------
# 4: no TCP socket (and no stray pipe) in any worker

def tcp_inodes():
    """{inode: (local, remote, state)} of every TCP socket (v4 and v6) right now."""
    out = {}
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for ln in lines:
            p = ln.split()
            if len(p) > 9 and p[9] != "0":
                out[p[9]] = (decode_addr(p[1]), decode_addr(p[2]), p[3])
    return out


def decode_addr(a):
    ip, port = a.split(":")
    port = int(port, 16)
    if len(ip) == 8:
        b = struct.pack("<I", int(ip, 16))
        return "%s:%d" % (socket.inet_ntop(socket.AF_INET, b), port)
    b = b"".join(struct.pack("<I", int(ip[i:i + 8], 16)) for i in range(0, 32, 8))
    return "[%s]:%d" % (socket.inet_ntop(socket.AF_INET6, b), port)


def proc_fds(pid):
    """{fd: link target} of pid, {} when it is gone."""
    out = {}
    d = "/proc/%d/fd" % pid
    try:
        names = os.listdir(d)
    except OSError:
        return out
    for n in names:
        try:
            out[int(n)] = os.readlink(os.path.join(d, n))
        except OSError:
            pass
    return out


TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
              "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
              "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING"}


def unix_inodes():
    out = set()
    try:
        with open("/proc/net/unix") as f:
            for ln in f.read().splitlines()[1:]:
                p = ln.split()
                if len(p) > 6:
                    out.add(p[6])
    except OSError:
        pass
    return out


def scan_workers(master_pid, violations, seen_pids, unconfirmed):
    """One look at every worker's fds. A worker still holding the master's io_uring fd or a
    listening socket (both always closed in a child) is between fork and its fd clean-up: that
    look is skipped. A TCP socket, or a pipe on an fd other than 1 and 2, counts only when the
    same fd still holds it once the worker sleeps (re-read up to 6 times, 3 ms apart)."""
    unix = None
    for pid in H.proc_live_children(master_pid):
        seen_pids.add(pid)
        fds = proc_fds(pid)
        if not fds or any("io_uring" in t for t in fds.values()):
            continue
        socks = [t[8:-1] for t in fds.values() if t.startswith("socket:[")]
        if unix is None and socks:
            unix = unix_inodes()
        if all(i in unix for i in socks) and not any(
                t.startswith("pipe:") and fd not in (1, 2) for fd, t in fds.items()):
            continue  # only AF_UNIX sockets (its channel to the master) and no stray pipe
        tcp = tcp_inodes()
        listening = [t for t in fds.values()
                     if t.startswith("socket:[") and tcp.get(t[8:-1], ("", "", ""))[2] == "0A"]
        if listening:
            continue
        for fd, target in sorted(fds.items()):
            m = re.match(r"socket:\[(\d+)\]$", target)
            bad = None
            if m and m.group(1) in tcp:
                loc, rem, stt = tcp[m.group(1)]
                bad = "TCP socket inode %s local %s remote %s %s" % (
                    m.group(1), loc, rem, TCP_STATES.get(stt, stt))
            elif target.startswith("pipe:") and fd not in (1, 2):
                bad = "pipe %s" % target
            if not bad:
                continue
            # A child between fork and its fd clean-up holds everything for a moment: count the
            # fd only when it is still there while the worker sleeps (waiting for work or in
            # PHP's usleep), which a child still setting itself up does not do.
            conf = None
            for _ in range(6):
                time.sleep(0.003)
                try:
                    again = os.readlink("/proc/%d/fd/%d" % (pid, fd))
                except OSError:
                    again = None
                st = H.proc_stat(pid)
                if again != target or not st:
                    break
                if st[0] == "S":
                    conf = "still held while the worker sleeps"
                    break
            key = (pid, fd, target)
            if conf is None:
                unconfirmed.append("worker %d fd %d: %s" % (pid, fd, bad))
                break  # this worker is mid-setup (or gone): look again in the next scan
            in_master = [mfd for mfd, t in proc_fds(master_pid).items() if t == target]
            violations.setdefault(key, "worker %d fd %d: %s (%s; %s)" % (
                pid, fd, bad, conf, "the master holds it too on fd %s" % in_master
                if in_master else "not open in the master"))
            if (pid, "map") not in violations:
                violations[(pid, "map")] = "  worker %d fds at that moment: %s" % (
                    pid, " ".join("%d=%s" % kv for kv in sorted(fds.items())))


def t_no_tcp_in_workers(c):
    srv = c.start(pool_extra="pm.max_requests = 3\ncatch_workers_output = yes")
    doc = srv.docroot
    stop = threading.Event()
    stats = {"http": [0, 0], "fcgi": [0, 0]}
    pids = set()
    errors = []
    lock = threading.Lock()

    def load(k):
        i = 0
        while not stop.is_set() and i < 100000:
            i += 1
            kind = "http" if (i + k) % 2 else "fcgi"
            ok = False
            try:
                if kind == "http":
                    r = H.http_request(srv.http_port, "GET", "/hello.php", timeout=5)
                    ok = r.status == 200 and b"hello" in r.body
                    body = r.body
                else:
                    res = H.fcgi_request(srv.port, params(doc, "/hello.php"), timeout=5)
                    ok = expect_fcgi_ok(res) is None
                    body = res.stdout
                m = re.search(rb"pid=(\d+)", body)
                with lock:
                    if m:
                        pids.add(int(m.group(1)))
            except Exception as e:  # noqa: BLE001
                with lock:
                    if len(errors) < 5:
                        errors.append("%s: %s: %s" % (kind, type(e).__name__, e))
            with lock:
                stats[kind][0] += 1
                stats[kind][1] += ok

    churn = [0]

    def accept_churn():
        # master-answered requests on fresh connections: an accept in nearly every completion
        # batch, so a fork in the middle of one has fresh client sockets to inherit
        i = 0
        while not stop.is_set() and i < 200000:
            i += 1
            try:
                if i % 2:
                    raw_exchange(srv.http_port,
                                 b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                 timeout=2)
                else:  # the master keeps this one open: read the answer, then leave
                    with socket.create_connection((H.LOOPBACK, srv.port), timeout=2) as cs:
                        cs.sendall(H.fcgi_record(H.FCGI_GET_VALUES, 0, b""))
                        cs.recv(4096)
            except OSError:
                pass
            churn[0] += 1

    ths = [threading.Thread(target=load, args=(k,), daemon=True) for k in range(6)]
    ths += [threading.Thread(target=accept_churn, daemon=True) for _ in range(3)]
    for t in ths:
        t.start()
    violations = {}
    unconfirmed = []
    seen = set()
    scans = 0
    idle = []  # connections that send nothing: accepted, never read from
    dl = H.Deadline(5.0)
    next_idle = 0.0
    try:
        while not dl.expired() and scans < 5000:
            scans += 1
            if time.monotonic() >= next_idle and len(idle) < 40:
                next_idle = time.monotonic() + 0.25
                for port in (srv.port, srv.http_port):
                    try:
                        idle.append(socket.create_connection((H.LOOPBACK, port), timeout=2))
                    except OSError:
                        pass
            scan_workers(srv.pid, violations, seen, unconfirmed)
    finally:
        stop.set()
        for t in ths:
            t.join(10)
        for sk in idle:
            sk.close()
    total = sum(v[0] for v in stats.values())
    good = sum(v[1] for v in stats.values())
    note = ("%d scans of %d worker pids; %d requests (http %d/%d ok, fcgi %d/%d ok), %d pids "
            "served, %d churn and %d idle connections" % (
                scans, len(seen), total, stats["http"][1], stats["http"][0], stats["fcgi"][1],
                stats["fcgi"][0], len(pids), churn[0], len(idle)))
    H.log("no_tcp_in_workers: " + note)
    if unconfirmed:
        H.log("%d fds seen in workers but gone before they slept (fork window, not counted), "
              "e.g. %s" % (len(unconfirmed), unconfirmed[0]))
    errs = []
    if violations:
        errs.append("%d leaked fds in workers:" % len([k for k in violations if k[1] != "map"]))
        errs += list(violations.values())[:24]
    if total < 50 or good < 0.9 * total:
        errs.append("the load did not succeed: %d of %d requests ok; %s" % (good, total, errors))
    if len(pids) <= 4:
        errs.append("workers were not recycled: pids %s" % sorted(pids))
    if errs:
        return "\n".join(errs + [note])
    return None


class Daemon:
    """A daemonized phpmgr (daemonize = yes, no -F): its pid comes from the pid file; stopped by
    pid, its workers SIGKILLed by identity if they outlive it."""

    def __init__(self, tmp, docroot):
        self.tmp = tmp
        self.conf = os.path.join(tmp, "daemon.conf")
        self.pid_file = os.path.join(tmp, "daemon.pid")
        self.error_log = os.path.join(tmp, "daemon.log")
        self.port = H.free_port()
        with open(self.conf, "w") as f:
            f.write("[global]\npid = %s\nerror_log = %s\ndaemonize = yes\n[www]\nlisten = %s:%d\n"
                    "pm = static\npm.max_children = 3\npm.max_requests = 2\n"
                    % (self.pid_file, self.error_log, H.LOOPBACK, self.port))
        self.pid = None
        self.kids = []

    def start(self):
        # under ASan no shared extension can load (see harness): -n and php.ini's core settings,
        # as the harness gives its servers; sanitizer reports to files checked at stop()
        self.san_prefix = os.path.join(self.tmp, "daemon.san")
        p = subprocess.run([H.PHPMGR_BIN, "start", "-R", "-c", self.conf] + H.php_args(),
                           stdin=subprocess.DEVNULL,
                           env=H.sanitizer_env(self.san_prefix) if H.ASAN else None,
                           capture_output=True, timeout=30)
        if p.returncode != 0:
            raise H.StartError("daemon start: exit %d %s %s\n%s" % (
                p.returncode, p.stdout[-500:], p.stderr[-1000:], H.read_text(self.error_log)[-1500:]))
        txt = H.wait_until(lambda: H.read_text(self.pid_file).strip(), 10)
        if not txt or not txt.isdigit():
            raise H.StartError("no pid in %s" % self.pid_file)
        pid = int(txt)
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmd = f.read()
        except OSError:
            cmd = b""
        if b"phpmgr" not in cmd:
            raise H.StartError("pid %d from the pid file is not phpmgr (%r)" % (pid, cmd[:100]))
        self.pid = pid
        self.ident = H.proc_identity(pid)
        _daemons.append(self)

    def stop(self):
        if self.pid is None:
            return
        kids = [k for k in (H.proc_identity(p) for p in H.proc_children(self.pid)) if k]
        if H.proc_alive(self.ident):
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if not H.wait_until(lambda: not H.proc_alive(self.ident), 10):
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for k in kids + self.kids:
            if k and H.proc_alive(k):
                try:
                    os.kill(k[0], signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.pid = None
        if self in _daemons:
            _daemons.remove(self)
        if H.ASAN:
            H.check_sanitizer_files("daemon", H.sanitizer_files(self.san_prefix) + [self.error_log])


_daemons = []


def _kill_daemons():
    for d in list(_daemons):
        try:
            d.stop()
        except Exception:  # noqa: BLE001
            pass


import atexit  # noqa: E402
atexit.register(_kill_daemons)


def t_no_pipe_in_workers_daemon(c):
    doc = c.docroot()
    d = Daemon(c.tmp, doc)
    try:
        try:
            d.start()
        except (H.StartError, subprocess.TimeoutExpired) as e:
            return "the daemon did not start: %s" % e
        if not H.wait_until(lambda: H.port_accepts(d.port), 10):
            return "port %d never accepted:\n%s" % (d.port, H.read_text(d.error_log)[-1500:])
        violations = {}
        unconfirmed = []
        seen = set()
        # first-generation workers, then recycled ones (pm.max_requests = 2)
        H.wait_until(lambda: len(H.proc_live_children(d.pid)) >= 3, 10)
        first = set(H.proc_live_children(d.pid))
        d.kids += [k for k in (H.proc_identity(p) for p in first) if k]
        scan_workers(d.pid, violations, seen, unconfirmed)
        errs = []
        for i in range(12):
            e = expect_fcgi_ok(H.fcgi_request(d.port, params(doc, "/hello.php"), timeout=10),
                               what="request %d" % i)
            if e:
                errs.append(e)
                break
        H.wait_until(lambda: len(set(H.proc_live_children(d.pid)) - first) >= 3, 10)
        d.kids += [k for k in (H.proc_identity(p) for p in H.proc_children(d.pid)) if k]
        scan_workers(d.pid, violations, seen, unconfirmed)
        if violations:
            errs.append("%d stray fds in workers of a daemonized master:"
                        % len([k for k in violations if k[1] != "map"]))
            errs += list(violations.values())[:20]
        if len(seen - first) < 1:
            errs.append("no recycled worker seen (first generation %s, all %s)"
                        % (sorted(first), sorted(seen)))
        return "\n".join(errs) or None
    finally:
        d.stop()


# --------------------------------------------------------------------------------------------
# 5: 431 to a client still sending a 200 KB header

def t_header_431(c):
    srv = c.start()
    req = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n"
    s = socket.create_connection((H.LOOPBACK, srv.http_port), timeout=10)
    send_err = []

    def sender():
        try:
            s.sendall(req)
        except OSError as e:
            send_err.append("%s: %s" % (type(e).__name__, e))

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    data = b""
    how = "eof"
    dl = H.Deadline(10)
    try:
        while True:
            if dl.expired():
                how = "timeout"
                break
            s.settimeout(max(0.01, dl.left()))
            try:
                b = s.recv(65536)
            except socket.timeout:
                how = "timeout"
                break
            except ConnectionResetError:
                how = "reset"
                break
            if not b:
                break
            data += b
    finally:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        t.join(5)
        s.close()
    if not data.startswith(b"HTTP/1.1 431"):
        return "received %d bytes %r, then %s (sender: %s)" % (
            len(data), data[:100], how, send_err or "sent all")
    if how != "eof":
        # a close with unread input resets the connection: on a real network the reset can
        # overtake the 431 and destroy it in the client's buffer (nginx: lingering_close)
        return ("the 431 arrived, then the connection ended by %s instead of a lingering close "
                "(FIN after draining the rest of the header); sender: %s"
                % (how, send_err or "sent all"))
    return None


# --------------------------------------------------------------------------------------------
# 6: a FIFO in the document root

def _fifo_case(c, swap):
    doc = c.docroot()
    with open(os.path.join(doc, "a.txt"), "w") as f:
        f.write("small static a\n")
    fifo = os.path.join(doc, "pipe.txt")
    srv = c.start(pool_extra="http.static = yes")
    if swap:
        # a regular file first, then a FIFO in its place within the stat cache's lifetime
        with open(fifo, "w") as f:
            f.write("regular for now\n")
        r = http_get(srv.http_port, "/pipe.txt")
        if r.status != 200:
            return "GET /pipe.txt as a regular file: status %d" % r.status
        os.unlink(fifo)
    os.mkfifo(fifo, 0o644)
    box = {}

    def pending():
        t0 = time.monotonic()
        try:
            box["r"] = http_get(srv.http_port, "/pipe.txt", timeout=5)
        except Exception as e:  # noqa: BLE001
            box["e"] = "%s: %s" % (type(e).__name__, e)
        box["dt"] = time.monotonic() - t0

    t = threading.Thread(target=pending, daemon=True)
    t.start()
    errs = []
    try:
        time.sleep(0.2)  # let the FIFO request reach the master first
        for path, needle in (("/a.txt", b"small static a"), ("/hello.php", b"hello")):
            t0 = time.monotonic()
            try:
                r = http_get(srv.http_port, path, timeout=2)
                e = expect_http_ok(r, needle, "GET " + path)
            except Exception as ex:  # noqa: BLE001
                e = "GET %s while /pipe.txt is pending: %s: %s" % (path, type(ex).__name__, ex)
            if e:
                errs.append("%s (%.2fs)" % (e, time.monotonic() - t0))
        t.join(6)
    finally:
        # release a master blocked in open(): a writer end, non-blocking (ENXIO without reader)
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass
        t.join(5)
    if "r" in box:
        if not 400 <= box["r"].status < 500:
            errs.append("/pipe.txt: status %d after %.2fs, expected 4xx (404)" % (
                box["r"].status, box["dt"]))
    else:
        errs.append("/pipe.txt: no answer (%s after %.2fs)" % (box.get("e", "still pending"),
                                                               box.get("dt", 0)))
    return "\n".join(errs) or None


def t_fifo_docroot(c):
    return _fifo_case(c, False)


def t_fifo_docroot_swapped(c):
    return _fifo_case(c, True)


# --------------------------------------------------------------------------------------------
# 7: clients that leave at once: only the running requests ran, and they saw the abort

def t_leave_queued(c):
    mark = os.path.join(c.tmp, "marks.log")
    open(mark, "w").close()
    os.chmod(mark, 0o666)
    srv = c.start(max_children=2, pool_extra="env[HARDEN_MARK] = " + mark)

    def lines():
        return H.read_text(mark).splitlines()

    for n in range(12):
        s = socket.create_connection((H.LOOPBACK, srv.http_port), timeout=5)
        s.sendall(b"GET /slow.php?id=%d HTTP/1.1\r\nHost: x\r\n\r\n" % n)
        s.close()

    def settled():
        ls = lines()
        st = [ln for ln in ls if ln.startswith("start ")]
        en = [ln for ln in ls if ln.startswith("end ")]
        return st and len(en) >= len(st)

    H.wait_until(settled, 10, interval=0.05)
    ls = lines()
    starts = [ln.split()[1] for ln in ls if ln.startswith("start ")]
    if len(starts) > 2:
        return ("%d of the 12 abandoned requests ran (at most the 2 running ones may):\n%s"
                % (len(starts), "\n".join(ls)))
    r = http_get(srv.http_port, "/hello.php?mark=fresh", timeout=30)
    e = expect_http_ok(r, what="fresh request after the 12")
    if e:
        return e
    ls = lines()
    starts = [ln.split()[1] for ln in ls if ln.startswith("start ")]
    ends = {}
    for ln in ls:
        m = re.match(r"end (\S+) status=(\d+) i=(\d+)", ln)
        if m:
            ends[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    errs = []
    if not starts:
        errs.append("no request started at all")
    if len(starts) > 2:
        errs.append("%d of the 12 abandoned requests ran" % len(starts))
    for sid in starts:
        if sid not in ends:
            errs.append("request %s started but has no end line" % sid)
        elif not ends[sid][0] & 1:
            errs.append("request %s ended with connection_status %d (not aborted) after %d of 30 "
                        "steps" % (sid, ends[sid][0], ends[sid][1]))
        elif ends[sid][1] >= 30:
            errs.append("request %s ran all 30 steps before seeing the abort" % sid)
    if errs:
        return "\n".join(errs + ["marker file:"] + ls)
    return None


# --------------------------------------------------------------------------------------------
# 8, 9: FastCGI pipelining and half-close

def t_fcgi_pipelined(c):
    srv = c.start(http=False)
    doc = srv.docroot

    def req(rid, marker):
        return (H.fcgi_record(H.FCGI_BEGIN_REQUEST, rid,
                              struct.pack("!HB5x", H.FCGI_RESPONDER, H.FCGI_KEEP_CONN))
                + H.fcgi_params_bytes(rid, params(doc, "/hello.php", "marker=" + marker))
                + H.fcgi_stream(H.FCGI_STDIN, rid, b""))

    with H.FcgiConn(srv.port) as fc:
        fc.send(req(1, "one") + req(2, "two"))
        r1 = fc.read_response(1, 10)
        e = expect_fcgi_ok(r1, b"marker=one", "request 1")
        if e:
            return e
        other = [r for r in r1.records if r.req_id != 1]
        if other:
            return "records of another id before request 1 ended: %s" % ", ".join(
                "%r%s" % (r, " protocolStatus %d" % r.end_request()[1]
                          if r.type == H.FCGI_END_REQUEST else "") for r in other)
        r2 = fc.read_response(2, 10)
        return expect_fcgi_ok(r2, b"marker=two", "request 2 (pipelined behind request 1)")


def t_fcgi_half_close(c):
    srv = c.start(http=False)
    with H.FcgiConn(srv.port) as fc:
        fc.request_start(params(srv.docroot, "/hello.php", "marker=half"), keep_conn=False)
        fc.sock.shutdown(socket.SHUT_WR)
        try:
            res = fc.read_response(1, 10)
        except socket.timeout:
            return "no complete answer within 10 s after the client's shutdown(SHUT_WR)"
        return expect_fcgi_ok(res, b"marker=half", "half-closed request")


# --------------------------------------------------------------------------------------------
# 10: pm.max_requests = 1 respawns at once

def t_max_requests_respawn(c):
    srv = c.start(max_children=1, pool_extra="pm.max_requests = 1")
    dl = H.Deadline(12)
    t0 = time.monotonic()
    pids = set()
    for i in range(20):
        if dl.expired():
            return "only %d of 20 requests done in 12 s (pids %d)" % (i, len(pids))
        try:
            r = http_get(srv.http_port, "/hello.php?marker=r%d" % i, timeout=max(0.1, dl.left()))
        except (OSError, H.HttpError) as e:
            return "request %d: %s: %s (after %.1fs)" % (i, type(e).__name__, e,
                                                         time.monotonic() - t0)
        e = expect_http_ok(r, b"marker=r%d" % i, "request %d" % i)
        if e:
            return e
        m = re.search(rb"pid=(\d+)", r.body)
        if m:
            pids.add(int(m.group(1)))
    dt = time.monotonic() - t0
    if len(pids) != 20:
        return "%d distinct pids over 20 requests with pm.max_requests = 1" % len(pids)
    c.notes.append("20 requests in %.2fs" % dt)
    return None


# --------------------------------------------------------------------------------------------
# 11: static downloads reset mid-file never leak bytes into others

def t_static_abandoned_pipes(c):
    doc = c.docroot()
    big = os.urandom(4 << 20)
    small = os.urandom(300 << 10)
    with open(os.path.join(doc, "big4m.bin"), "wb") as f:
        f.write(big)
    with open(os.path.join(doc, "small300k.bin"), "wb") as f:
        f.write(small)
    srv = c.start(pool_extra="http.static = yes")
    full = 0
    for i in range(60):
        s = socket.create_connection((H.LOOPBACK, srv.http_port), timeout=5)
        try:
            s.sendall(b"GET /big4m.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            got = 0
            dl = H.Deadline(5)
            while got < 8192 and not dl.expired():
                s.settimeout(max(0.01, dl.left()))
                b = s.recv(4096)
                if not b:
                    return "iteration %d: connection closed after %d bytes" % (i, got)
                got += len(b)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        finally:
            s.close()
        if i % 5 == 4:
            for path, want in (("/small300k.bin", small), ("/big4m.bin", big)):
                r = http_get(srv.http_port, path, timeout=15)
                if r.status != 200:
                    return "iteration %d: GET %s status %d" % (i, path, r.status)
                e = body_mismatch(r.body, want, "iteration %d: GET %s" % (i, path))
                if e:
                    return e
                full += 1
    c.notes.append("60 resets, %d full downloads intact" % full)
    return None


# --------------------------------------------------------------------------------------------
# 12: listen.allowed_clients

GET_HELLO = b"GET /hello.php HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def t_http_allowed_clients(c):
    srv = c.start(pool_extra="listen.allowed_clients = 127.0.0.2")
    errs = []
    data, how = raw_exchange(srv.http_port, GET_HELLO, src="127.0.0.2")
    if not data.startswith(b"HTTP/1.1 200"):
        errs.append("from 127.0.0.2 (allowed): %r then %s, expected a 200" % (data[:80], how))
    data, how = raw_exchange(srv.http_port, GET_HELLO, src="127.0.0.1")
    if data or how == "timeout":
        errs.append("from 127.0.0.1 (not allowed): got %d bytes %r then %s; expected the "
                    "connection closed with no response" % (len(data), data[:80], how))
    return "\n".join(errs) or None


def ipv6_ok():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::", 0))
        s.close()
        return True
    except OSError:
        return False


def t_allowed_clients_v4mapped(c, entry="127.0.0.1"):
    if not ipv6_ok():
        return "SKIP: no IPv6"
    srv = c.start(fcgi_host="[::]", http_host="[::]",
                  pool_extra="listen.allowed_clients = " + entry)
    errs = []
    data, how = raw_exchange(srv.http_port, GET_HELLO, src="127.0.0.1")
    if not data.startswith(b"HTTP/1.1 200"):
        errs.append("HTTP from 127.0.0.1 (allowed, peer ::ffff:127.0.0.1): %r then %s" % (
            data[:80], how))
    try:
        res = H.fcgi_request(srv.port, params(srv.docroot, "/hello.php"), timeout=5)
        e = expect_fcgi_ok(res, what="FastCGI from 127.0.0.1 (allowed, peer ::ffff:127.0.0.1)")
    except (OSError, H.HttpError) as ex:
        e = "FastCGI from 127.0.0.1: %s: %s" % (type(ex).__name__, ex)
    if e:
        errs.append(e)
    data, how = raw_exchange(srv.http_port, GET_HELLO, src="127.0.0.2")
    if data or how == "timeout":
        errs.append("HTTP from 127.0.0.2 (not allowed): %d bytes %r then %s, expected a close "
                    "with no response" % (len(data), data[:80], how))
    return "\n".join(errs) or None


def t_allowed_clients_v4mapped_entry(c):
    """The entry written as ::ffff:127.0.0.1 matches that peer too (php-fpm's fcgi_is_allowed
    compares an IPv6 peer with IPv6 entries byte for byte)."""
    return t_allowed_clients_v4mapped(c, "::ffff:127.0.0.1")


# --------------------------------------------------------------------------------------------
# 13: pool user resolved up front

def run_cli(args, timeout=20):
    p = subprocess.run([H.PHPMGR_BIN] + args, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout)
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


def _user_conf(c, name, user_lines):
    path = os.path.join(c.tmp, name)
    with open(path, "w") as f:
        f.write("[global]\nerror_log = %s/%s.log\n\n[www]\nlisten = 127.0.0.1:%d\npm = static\n"
                "pm.max_children = 2\n%s\n" % (c.tmp, name, H.free_port(), user_lines))
    return path


def t_user_typo(c):
    path = _user_conf(c, "typo.conf", "user = nosuchuser_xyz")
    rc, out = run_cli(["test", "-c", path])
    if rc == 0:
        return "phpmgr test: exit 0 for user = nosuchuser_xyz; output %r" % out[-500:]
    if "nosuchuser_xyz" not in out or not re.search(r"\buser\b", out):
        return "exit %d but the output does not name the user key and the name:\n%s" % (
            rc, out[-1500:])
    return None


def t_user_numeric(c):
    try:
        pw = __import__("pwd").getpwuid(33)
    except KeyError:
        return "SKIP: no uid 33 on this system"
    path = _user_conf(c, "numeric.conf", "user = 33\ngroup = 33")
    rc, out = run_cli(["test", "-c", path])
    if rc != 0:
        return "phpmgr test: exit %d for user = 33 (%s):\n%s" % (rc, pw.pw_name, out[-1500:])
    if os.getuid() != 0:
        return "SKIP: not root, workers cannot switch user"
    srv = c.start(pool_extra="user = 33\ngroup = 33", http=False)

    def uid_of(pid):
        try:
            with open("/proc/%d/status" % pid) as f:
                for ln in f:
                    if ln.startswith("Uid:"):
                        return int(ln.split()[2])  # effective
        except OSError:
            pass
        return None

    def workers_33():
        kids = H.proc_live_children(srv.pid)
        return kids if kids and all(uid_of(p) == 33 for p in kids) else None

    if not H.wait_until(workers_33, 10):
        kids = H.proc_live_children(srv.pid)
        return "workers are not uid 33 after 10 s: %s (see the log below)" % (
            [(p, uid_of(p)) for p in kids],)
    res = H.fcgi_request(srv.port, params(srv.docroot, "/hello.php"), timeout=5)
    return expect_fcgi_ok(res, what="request to a uid-33 worker")


# --------------------------------------------------------------------------------------------
# 14-16: new pool keys

def _start_new_key(c, key_line, **kw):
    try:
        return c.start(**kw), None
    except H.StartError as e:
        return None, "start with `%s` failed (key not supported yet?):\n%s" % (
            key_line, "\n".join(str(e).splitlines()[-3:]))


def t_read_timeout(c):
    srv, err = _start_new_key(c, "request.read_timeout = 2s",
                              pool_extra="request.read_timeout = 2s")
    if err:
        return err
    t0 = time.monotonic()
    try:
        r = http_get(srv.http_port, "/sleep.php?s=6", timeout=5)
    except (OSError, H.HttpError) as e:
        return "no answer within 5 s: %s: %s" % (type(e).__name__, e)
    if r.status != 504:
        return "status %d after %.2fs, expected 504" % (r.status, time.monotonic() - t0)
    c.notes.append("504 after %.2fs" % (time.monotonic() - t0))
    return None


def t_fcgi_body_limit(c):
    srv, err = _start_new_key(c, "fastcgi.max_body_size = 1m", http=False,
                              pool_extra="fastcgi.max_body_size = 1m")
    if err:
        return err
    body = os.urandom(2 << 20)
    fc = H.FcgiConn(srv.port, timeout=10)
    send_err = []
    try:
        p = params(srv.docroot, "/body.php", method="POST", content_type="application/octet-stream",
                   content_length=len(body))
        head = (H.fcgi_record(H.FCGI_BEGIN_REQUEST, 1, struct.pack("!HB5x", H.FCGI_RESPONDER, 0))
                + H.fcgi_params_bytes(1, p))

        def sender():
            try:
                fc.sock.sendall(head + H.fcgi_stream(H.FCGI_STDIN, 1, body))
            except OSError as e:
                send_err.append("%s: %s" % (type(e).__name__, e))

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        try:
            res = fc.read_response(1, 10)
        except socket.timeout:
            return "no complete answer within 10 s (sender: %s)" % (send_err or "sent all")
        t.join(5)
    finally:
        fc.close()
    errs = []
    status, _, b = res.cgi()
    if status != 413:
        errs.append("CGI status %s, expected 413 (stdout %r)" % (status, res.stdout[:200]))
    if not res.ended:
        errs.append("no END_REQUEST (eof=%s)" % res.eof)
    e = expect_fcgi_ok(H.fcgi_request(srv.port, params(srv.docroot, "/hello.php"), timeout=5),
                       what="the next connection")
    if e:
        errs.append(e)
    if not srv.alive():
        errs.append("master exited (status %s)" % srv.proc.poll())
    return "\n".join(errs) or None


def tcp_state(local_port, remote_port):
    """The state of the TCP socket local:local_port -> remote:remote_port (master's side)."""
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for ln in lines:
            p = ln.split()
            if int(p[1].split(":")[1], 16) == local_port and \
                    int(p[2].split(":")[1], 16) == remote_port:
                return TCP_STATES.get(p[3], p[3])
    return None


def t_fcgi_send_timeout(c):
    srv, err = _start_new_key(c, "fastcgi.send_timeout = 2s", http=False,
                              pool_extra="fastcgi.send_timeout = 2s")
    if err:
        return err
    fc = H.FcgiConn(srv.port, timeout=10)
    try:
        fc.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        fc.request_start(params(srv.docroot, "/big.php", "mb=20"))
        my_port = fc.sock.getsockname()[1]
        t0 = time.monotonic()
        # the master's side leaves ESTABLISHED (closed: FIN_WAIT*, or gone after a reset)
        st = H.wait_until(lambda: (tcp_state(srv.port, my_port) or "gone") != "ESTABLISHED", 10,
                          interval=0.1, max_interval=0.25)
        dt = time.monotonic() - t0
        state = tcp_state(srv.port, my_port) or "gone"
        errs = []
        other = expect_fcgi_ok(H.fcgi_request(srv.port, params(srv.docroot, "/hello.php"),
                                              timeout=5), what="another client meanwhile")
        if other:
            errs.append(other)
        if not st:
            errs.append("the master's side of a connection that reads nothing is still %s after "
                        "10 s" % state)
        # drain: the connection must end (EOF/reset) before the whole 20 MiB arrived
        got = 0
        ended = False
        how = "timeout"
        dl = H.Deadline(10)
        while not dl.expired():
            fc.sock.settimeout(max(0.01, dl.left()))
            try:
                b = fc.sock.recv(1 << 16)
            except socket.timeout:
                break
            except ConnectionResetError:
                how = "reset"
                break
            if not b:
                how = "eof"
                break
            got += len(b)
            if got > (20 << 20):
                ended = True
        if st and how == "timeout":
            errs.append("drained %d bytes, then the connection stayed open" % got)
        if ended:
            errs.append("the client received the whole response (%d bytes)" % got)
        if errs:
            return "\n".join(errs + ["master side %s after %.1fs; drained %d bytes then %s"
                                     % (state, dt, got, how)])
        c.notes.append("closed after %.1fs (%s), drained %d bytes then %s" % (dt, state, got, how))
        return None
    finally:
        fc.close()


# --------------------------------------------------------------------------------------------
# slow downloads: past 1 MiB a worker's response is buffered in a temp file, so the worker is free
# (request.max_temp_file_size, nginx's fastcgi_max_temp_file_size); with 0 the worker waits

def _read_all(sock, deadline):
    parts = []
    while not deadline.expired():
        sock.settimeout(max(0.01, deadline.left()))
        try:
            b = sock.recv(1 << 20)
        except (socket.timeout, ConnectionResetError):
            break
        if not b:
            return b"".join(parts), True
        parts.append(b)
    return b"".join(parts), False


def _slow_download(c, temp_max):
    extra = "" if temp_max is None else "request.max_temp_file_size = %s" % temp_max
    srv = c.start(max_children=1, pool_extra=extra)
    before = rss_kib(srv.pid)
    s = socket.create_connection((H.LOOPBACK, srv.http_port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    box = {}

    def second():
        t0 = time.monotonic()
        try:
            box["r"] = http_get(srv.http_port, "/hello.php", timeout=60)
        except Exception as e:  # noqa: BLE001
            box["e"] = e
        box["dt"] = time.monotonic() - t0

    t = threading.Thread(target=second, daemon=True)
    errs = []
    try:
        s.sendall(b"GET /big.php?mb=20 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        # the one worker now writes 20 MiB to a client that reads nothing; another request:
        t.start()
        served = H.wait_until(lambda: "dt" in box, 10 if temp_max is None else 2)
        peak = rss_kib(srv.pid)
        if temp_max is None and not served:
            errs.append("a second request waited 10 s for the only worker while a slow client "
                        "held it (the response should be buffered in a temp file)")
        if temp_max is not None and served:
            errs.append("with request.max_temp_file_size = 0 the second request was served "
                        "(%s) while the worker should be held by the slow client" % box)
        data, eof = _read_all(s, H.Deadline(60))
    finally:
        s.close()
    t.join(60)
    if "r" not in box:
        errs.append("second request: %s" % box.get("e", "no answer"))
    else:
        e = expect_http_ok(box["r"], b"hello", "second request")
        if e:
            errs.append(e)
    try:
        r = H.parse_http_response(data)
        e = body_mismatch(r.body, pattern(20)) if not r.error else "framing: " + r.error
        if e or not eof:
            errs.append("slow client: %s (eof %s)" % (e, eof))
    except H.HttpError as e:
        errs.append("slow client: unparsable response (%d bytes): %s" % (len(data), e))
    if before and peak and peak - before > RSS_LIMIT_KIB:
        errs.append("master RSS grew by %d KiB while the client read nothing" % (peak - before))
    if not errs:
        c.notes.append("second request after %.2fs, master RSS +%d KiB" % (
            box.get("dt", 0), (peak or 0) - (before or 0)))
    return "\n".join(errs) or None


def t_slow_download_frees_worker(c):
    return _slow_download(c, None)


def t_slow_download_no_temp_holds_worker(c):
    return _slow_download(c, "0")


def t_sigquit_slow_reader_no_temp(c):
    """The SIGQUIT case with the worker held by backpressure instead of a temp file."""
    return t_sigquit_slow_reader(c, "request.max_temp_file_size = 0")


# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Review findings: a half-close after pipelined requests; stop while a request is arriving; the
# FastCGI body limit counts body bytes; a stopping pool that loses its last worker.

def split_http_responses(raw):
    """The responses in raw, one after another (Content-Length framed), and what is left."""
    out = []
    while raw:
        end = raw.find(b"\r\n\r\n")
        if end < 0:
            break
        m = re.search(rb"\r\ncontent-length: *(\d+)", raw[:end + 2], re.I)
        n = int(m.group(1)) if m else 0
        if len(raw) < end + 4 + n:
            break
        out.append(H.parse_http_response(raw[:end + 4 + n]))
        raw = raw[end + 4 + n:]
    return out, raw


def t_http_half_close_pipelined(c):
    srv = c.start()
    # A static file big enough that sending it holds the connection's input (a splice).
    with open(os.path.join(srv.docroot, "big.bin"), "wb") as f:
        f.write(pattern(2))
    reqs = [("/hello.php?marker=one", b"marker=one"), ("/big.bin", None),
            ("/static.txt", None), ("/hello.php?marker=two", b"marker=two")]
    data = b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p.encode() for p, _ in reqs)
    s = socket.create_connection((H.LOOPBACK, srv.http_port), timeout=10)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        raw, eof = _read_all(s, H.Deadline(15))
    finally:
        s.close()
    got, rest = split_http_responses(raw)
    errs = []
    if not eof:
        errs.append("no close within 15 s")
    if len(got) != len(reqs):
        errs.append("%d of the %d pipelined requests answered before the close (%d bytes left "
                    "over): %s" % (len(got), len(reqs), len(rest),
                                   ", ".join("%d" % r.status for r in got)))
    for (path, needle), r in zip(reqs, got):
        if r.status != 200:
            errs.append("%s: status %d" % (path, r.status))
        elif needle and needle not in r.body:
            errs.append("%s: body %r" % (path, r.body[:100]))
        elif path == "/big.bin" and r.body != pattern(2):
            errs.append("/big.bin: body differs (%d bytes)" % len(r.body))
    return "\n".join(errs) or None


def t_fcgi_half_close_pipelined(c):
    srv = c.start(http=False)
    doc = srv.docroot

    def req(rid, marker, keep):
        return (H.fcgi_record(H.FCGI_BEGIN_REQUEST, rid,
                              struct.pack("!HB5x", H.FCGI_RESPONDER, H.FCGI_KEEP_CONN if keep else 0))
                + H.fcgi_params_bytes(rid, params(doc, "/hello.php", "marker=" + marker))
                + H.fcgi_stream(H.FCGI_STDIN, rid, b""))

    with H.FcgiConn(srv.port) as fc:
        fc.send(req(1, "one", True) + req(2, "two", True))
        fc.sock.shutdown(socket.SHUT_WR)
        try:
            r1 = fc.read_response(1, 10)
        except socket.timeout:
            return "request 1: no answer within 10 s after the client's shutdown(SHUT_WR)"
        e = expect_fcgi_ok(r1, b"marker=one", "request 1")
        if e:
            return e
        try:
            r2 = fc.read_response(2, 10)
        except socket.timeout:
            return "request 2 (pipelined, then FIN): no answer within 10 s"
        return expect_fcgi_ok(r2, b"marker=two", "request 2 (pipelined, then FIN)")


STOP_WAIT = 30  # process_control_timeout in the stop cases: the old failure waited all of it


def t_sigquit_body_arriving(c):
    srv = c.start(global_extra="process_control_timeout = %d" % STOP_WAIT)
    s = socket.create_connection((H.LOOPBACK, srv.http_port), timeout=10)
    try:
        s.sendall(b"POST /body.php HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        # The 100 Continue says the head is parsed and the body is awaited.
        cont = b""
        dl = H.Deadline(10)
        while b"\r\n\r\n" not in cont and not dl.expired():
            s.settimeout(max(0.01, dl.left()))
            b = s.recv(4096)
            if not b:
                break
            cont += b
        if not cont.startswith(b"HTTP/1.1 100"):
            return "no 100 Continue: %r" % cont[:200]
        s.sendall(b"x" * 1000)
        t0 = time.monotonic()
        srv.send_signal(signal.SIGQUIT)
        raw, eof = _read_all(s, H.Deadline(15))
    finally:
        s.close()
    errs = []
    try:
        r = H.parse_http_response(raw)
        if r.status != 503:
            errs.append("status %d, expected 503" % r.status)
    except H.HttpError as e:
        errs.append("no answer to the request still arriving (%s, %d bytes): %s"
                    % ("closed" if eof else "no close", len(raw), e))
    rc = srv.wait_exit(STOP_WAIT / 2)
    if rc is None:
        errs.append("master still running %.1fs after SIGQUIT" % (time.monotonic() - t0))
    elif rc != 0:
        errs.append("master exit status %s" % rc)
    return "\n".join(errs) or None


def t_sigquit_fcgi_body_arriving(c):
    srv = c.start(http=False, global_extra="process_control_timeout = %d" % STOP_WAIT)
    fc = H.FcgiConn(srv.port, timeout=10)
    try:
        p = params(srv.docroot, "/body.php", method="POST",
                   content_type="application/octet-stream", content_length=100000)
        fc.send(H.fcgi_record(H.FCGI_BEGIN_REQUEST, 1, struct.pack("!HB5x", H.FCGI_RESPONDER, 0))
                + H.fcgi_params_bytes(1, p) + H.fcgi_stream(H.FCGI_STDIN, 1, b"y" * 1000,
                                                            terminate=False))
        # An ordering barrier: once the master has answered a request on a second connection,
        # it has long read the first connection's bytes.
        e = expect_fcgi_ok(H.fcgi_request(srv.port, params(srv.docroot, "/hello.php")),
                           what="barrier request")
        if e:
            return e
        t0 = time.monotonic()
        srv.send_signal(signal.SIGQUIT)
        try:
            res = fc.read_response(1, 15)
        except socket.timeout:
            return "no answer within 15 s after SIGQUIT to the request still arriving"
    finally:
        fc.close()
    errs = []
    status, _, _ = res.cgi() if res.stdout else (None, None, None)
    if status != 503 or not res.ended:
        errs.append("expected a 503 and END_REQUEST, got status %s, %r" % (status, res))
    rc = srv.wait_exit(STOP_WAIT / 2)
    if rc is None:
        errs.append("master still running %.1fs after SIGQUIT" % (time.monotonic() - t0))
    elif rc != 0:
        errs.append("master exit status %s" % rc)
    return "\n".join(errs) or None


def t_fcgi_body_limit_exact(c):
    srv, err = _start_new_key(c, "fastcgi.max_body_size = 1k", http=False,
                              pool_extra="fastcgi.max_body_size = 1k")
    if err:
        return err
    errs = []
    for size, want in ((1024, 200), (1025, 413)):
        body = b"z" * size
        p = params(srv.docroot, "/body.php", method="POST",
                   content_type="application/octet-stream", content_length=size)
        res = H.fcgi_request(srv.port, p, stdin=body, timeout=10)
        status, _, out = res.cgi()
        status = status or 200
        if status != want:
            errs.append("a %d-byte body under a 1024-byte limit: status %s, expected %d (%r)"
                        % (size, status, want, out[:100]))
        elif want == 200 and b"len=%d " % size not in out:
            errs.append("a %d-byte body: the script saw %r" % (size, out[:100]))
    return "\n".join(errs) or None


def worker_pids(master_pid):
    pids = []
    try:
        with open("/proc/%d/task/%d/children" % (master_pid, master_pid)) as f:
            pids = [int(x) for x in f.read().split()]
    except OSError:
        pass
    return pids


def t_stop_last_worker_dies(c):
    mark = os.path.join(c.tmp, "marks.log")
    open(mark, "w").close()
    os.chmod(mark, 0o666)
    srv = c.start(max_children=1, global_extra="process_control_timeout = %d" % STOP_WAIT,
                  pool_extra="env[HARDEN_MARK] = " + mark)
    a = socket.create_connection((H.LOOPBACK, srv.http_port), timeout=10)
    b = socket.create_connection((H.LOOPBACK, srv.http_port), timeout=10)
    try:
        a.sendall(b"GET /slow.php?id=A HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        if not H.wait_until(lambda: "start A" in H.read_text(mark), 10):
            return "the running request never started"
        b.sendall(b"GET /hello.php HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        # Barrier: the master answers a static file itself; by then it has read b's request,
        # which waits in the queue behind A on the only worker.
        r = http_get(srv.http_port, "/static.txt")
        if r.status != 200:
            return "barrier static request: status %d" % r.status
        workers = worker_pids(srv.proc.pid)
        if len(workers) != 1:
            return "expected one worker, found %r" % workers
        t0 = time.monotonic()
        srv.send_signal(signal.SIGQUIT)
        os.kill(workers[0], signal.SIGKILL)
        raw, eof = _read_all(b, H.Deadline(10))
    finally:
        a.close()
        b.close()
    errs = []
    try:
        r = H.parse_http_response(raw)
        if r.status != 503:
            errs.append("the queued request: status %d, expected 503" % r.status)
    except H.HttpError as e:
        errs.append("the queued request got no answer within 10 s of its pool's last worker "
                    "dying (%s): %s" % ("closed" if eof else "no close", e))
    rc = srv.wait_exit(STOP_WAIT / 2)
    if rc is None:
        errs.append("master still running %.1fs after SIGQUIT" % (time.monotonic() - t0))
    return "\n".join(errs) or None


CASES = [
    ("flood_http", t_flood_http),
    ("flood_fcgi_get_values", t_flood_fcgi),
    ("sigquit_slow_reader", t_sigquit_slow_reader),
    ("sigquit_slow_reader_fcgi", t_sigquit_slow_reader_fcgi),
    ("sigquit_slow_reader_no_temp", t_sigquit_slow_reader_no_temp),
    ("slow_download_frees_worker", t_slow_download_frees_worker),
    ("slow_download_no_temp_holds_worker", t_slow_download_no_temp_holds_worker),
    ("no_tcp_in_workers", t_no_tcp_in_workers),
    ("no_pipe_in_workers_daemon", t_no_pipe_in_workers_daemon),
    ("header_431_200k", t_header_431),
    ("fifo_docroot", t_fifo_docroot),
    ("fifo_docroot_swapped", t_fifo_docroot_swapped),
    ("leave_queued", t_leave_queued),
    ("fcgi_pipelined", t_fcgi_pipelined),
    ("fcgi_half_close", t_fcgi_half_close),
    ("max_requests_respawn", t_max_requests_respawn),
    ("static_abandoned_pipes", t_static_abandoned_pipes),
    ("http_allowed_clients", t_http_allowed_clients),
    ("allowed_clients_v4mapped", t_allowed_clients_v4mapped),
    ("allowed_clients_v4mapped_entry", t_allowed_clients_v4mapped_entry),
    ("user_typo", t_user_typo),
    ("user_numeric", t_user_numeric),
    ("read_timeout", t_read_timeout),
    ("fcgi_body_limit", t_fcgi_body_limit),
    ("fcgi_send_timeout", t_fcgi_send_timeout),
    ("http_half_close_pipelined", t_http_half_close_pipelined),
    ("fcgi_half_close_pipelined", t_fcgi_half_close_pipelined),
    ("sigquit_body_arriving", t_sigquit_body_arriving),
    ("sigquit_fcgi_body_arriving", t_sigquit_fcgi_body_arriving),
    ("fcgi_body_limit_exact", t_fcgi_body_limit_exact),
    ("stop_last_worker_dies", t_stop_last_worker_dies),
]


def main():
    rep = H.Reporter()
    if not H.phpmgr_available():
        rep.fail("setup", "phpmgr binary not found or not executable: %s (make all)" % H.PHPMGR_BIN)
        return rep.finish()
    t_all = time.monotonic()
    for name, fn in CASES:
        if ONLY and not re.search(ONLY, name):
            continue
        c = Case(name)
        t0 = time.monotonic()
        try:
            try:
                r = fn(c)
            except H.StartError as e:
                r = "phpmgr did not start: %s" % e
            except H.Skip as e:
                r = "SKIP: %s" % e
            except (OSError, H.HttpError) as e:
                r = "%s: %s" % (type(e).__name__, e)
            except Exception as e:  # noqa: BLE001 - one case must never take the file down
                import traceback
                r = "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc())
            dt = time.monotonic() - t0
            if isinstance(r, str) and r.startswith("SKIP: "):
                rep.skip(name, r[6:])
            elif r is None or r is True:
                rep.ok(name, ", ".join(c.notes + ["%.1fs" % dt]))
            else:
                rep.fail(name, "%s\n(%.1fs)" % (r, dt))
                for s in c.servers:
                    H.log("%s log tail:\n%s" % (s.label, "\n".join(
                        "#   " + ln for ln in s.log_text()[-1500:].splitlines())))
        finally:
            c.stop_all()
    H.log("test_hardening ran in %.1fs" % (time.monotonic() - t_all))
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
