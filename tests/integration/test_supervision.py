#!/usr/bin/python3
"""Supervision (issue 15): the process managers pm = dynamic and pm = ondemand, read off the
process tree and the log, with php-fpm's rules and log lines.

  dynamic-starts-start-servers        pm.start_servers workers at start, no more
  dynamic-spawns-when-spares-short    busy workers leave fewer than pm.min_spare_servers idle:
                                      new ones start (once a second, doubling), up to max_children
  dynamic-max-children-warning        all busy: php-fpm's "server reached pm.max_children setting"
  dynamic-retires-extra-spares        idle again: one idle worker retired a second down to
                                      pm.max_spare_servers, the rest keep serving
  ondemand-starts-none                no worker until a request comes; it is answered
  ondemand-spawns-per-request         concurrent requests get their own workers up to max_children,
                                      then php-fpm's "server reached max_children setting" line
  ondemand-idle-timeout               idle past pm.process_idle_timeout: retired down to none
  no-not-acted-on-warnings            neither pool warns that pm is "not acted on"
  debian-conf-same-log-as-php-fpm     Debian's php-fpm.conf and www.conf (pm = dynamic), only their
                                      paths moved to a temp dir: phpmgr's log from start to a
                                      graceful stop has php-fpm's lines, in php-fpm's order
  systemd-notify                      with $NOTIFY_SOCKET: READY=1 with MAINPID, then a STATUS
                                      line every systemd_interval (Type=notify units)
  respawn-backoff                     a bootstrap that fails at start: respawned after 1, 2, 4 s
                                      (not in a loop), each time with a line saying so
  global-limits                       [global] rlimit_files, rlimit_core and process.priority on
                                      the master and the workers it forks (/proc); a limit the
                                      system refuses stops the start with php-fpm's error line
  pool-limits                         the pool's rlimit_files, rlimit_core and process.priority on
                                      its workers only, the master keeps its own

SUPERVISION_ONLY=regex runs the matching cases. PHPMGR_BIN selects the binary.
"""

import os
import re
import signal
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

DOCROOT = os.path.join(H.FIXTURES, "www")
ONLY = os.environ.get("SUPERVISION_ONLY")


class PmServer(H.PhpmgrServer):
    """A phpmgr whose one pool uses the pm lines given (the harness writes pm = static)."""

    def __init__(self, tmp, label, pm_lines):
        super().__init__(tmp, label)
        self.pm_lines = pm_lines
        self.global_lines = ""

    def config_text(self):
        return ("[global]\npid = %s\nerror_log = %s\ndaemonize = no\nlog_level = debug\n%s"
                "[www]\nlisten = %s:%d\n%s\n"
                % (self.pid_file, self.error_log, self.global_lines, H.LOOPBACK, self.port,
                   self.pm_lines))


class Ctx:
    pass


def workers(s):
    return H.proc_live_children(s.pid)


def slow_requests(s, n, ms):
    """Start n requests that each sleep ms in PHP; returns (threads, results list)."""
    results = []

    def one():
        params = H.php_params(DOCROOT, "/sleep.php", query="ms=%d" % ms)
        try:
            results.append(H.fcgi_request(s.port, params, timeout=30))
        except Exception as e:  # noqa: BLE001 - counted as a failure below
            results.append(e)
    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    return threads, results


def finished_ok(threads, results, n):
    for t in threads:
        t.join(40)
    bad = [r for r in results if not isinstance(r, H.FcgiResult) or not r.ended
           or r.cgi()[0] != 200]
    if len(results) != n or bad:
        return "%d of %d slow requests failed: %r" % (len(bad) + n - len(results), n, bad[:2])
    return None


def count_in_log(s, pattern):
    return len(re.findall(pattern, s.log_text()))


# --------------------------------------------------------------------------------------------

def t_dynamic_start(c):
    s = c.dyn
    if not H.wait_until(lambda: len(workers(s)) == 2, 10):
        return "pm.start_servers = 2: the master has %d workers" % len(workers(s))
    # min_spare 1 is met, max_spare 3 not passed: the count holds
    H.wait_until(lambda: len(workers(s)) != 2, 2.5)
    n = len(workers(s))
    return None if n == 2 else "2 idle workers (min 1, max 3 spare) became %d" % n


def t_dynamic_spawn(c):
    s = c.dyn
    # 4 busy for 4 s: 0 idle < min_spare 1, so workers start until one is idle again
    c.dyn_threads, c.dyn_results = slow_requests(s, 4, 4000)
    if not H.wait_until(lambda: len(workers(s)) >= 5, 4):
        return "4 busy workers of max 6: still %d workers after 4 s" % len(workers(s))
    if count_in_log(s, r"\[pool www\] \d+ child\(ren\) have been created dynamically") < 1:
        return "no 'child(ren) have been created dynamically' debug line:\n%s" % s.log_text()[-1500:]
    return finished_ok(c.dyn_threads, c.dyn_results, 4)


def t_dynamic_max_children(c):
    s = c.dyn
    # long enough for the spawns (one a second, doubling) to reach max_children on a busy machine
    threads, results = slow_requests(s, 7, 6000)
    line = "WARNING: [pool www] server reached pm.max_children setting (6), consider raising it"
    ok = H.wait_until(lambda: line in s.log_text(), 9)
    err = finished_ok(threads, results, 7)
    if not ok:
        return "7 requests for 6 workers: no %r in the log:\n%s" % (line, s.log_text()[-1500:])
    if len(workers(s)) > 6:
        return "more than pm.max_children workers: %d" % len(workers(s))
    return err


def t_dynamic_retire(c):
    s = c.dyn
    if not H.wait_until(lambda: len(workers(s)) == 3, 10):
        return "idle again: %d workers, want pm.max_spare_servers = 3" % len(workers(s))
    if count_in_log(s, r"DEBUG: \[pool www\] child \d+ has been killed by the process management "
                       r"after \d+\.\d+ seconds from start") < 1:
        return "no 'has been killed by the process management' line:\n%s" % s.log_text()[-1500:]
    # still serving, and it stays at 3
    threads, results = slow_requests(s, 1, 10)
    err = finished_ok(threads, results, 1)
    H.wait_until(lambda: len(workers(s)) != 3, 2.5)
    return err or (None if len(workers(s)) == 3 else "then %d workers" % len(workers(s)))


def t_ondemand_none(c):
    s = c.ond
    H.wait_until(lambda: len(workers(s)) > 0, 1.5)
    if workers(s):
        return "pm = ondemand started workers before any request: %s" % workers(s)
    threads, results = slow_requests(s, 1, 10)
    err = finished_ok(threads, results, 1)
    return err or (None if len(workers(s)) == 1 else "after one request: %d workers"
                   % len(workers(s)))


def t_ondemand_spawn(c):
    s = c.ond
    threads, results = slow_requests(s, 5, 1500)
    grew = H.wait_until(lambda: len(workers(s)) == 3, 5)
    line = "WARNING: [pool www] server reached max_children setting (3), consider raising it"
    warned = H.wait_until(lambda: line in s.log_text(), 5)
    err = finished_ok(threads, results, 5)
    if not grew:
        return "5 concurrent requests, max_children 3: %d workers" % len(workers(s))
    if not warned:
        return "no %r:\n%s" % (line, s.log_text()[-1500:])
    return err


def t_ondemand_idle(c):
    s = c.ond
    # idle timeout 1 s, one retired a second: 3 -> 0 within ~5 s
    if not H.wait_until(lambda: len(workers(s)) == 0, 10):
        return "idle past pm.process_idle_timeout: still %d workers" % len(workers(s))
    threads, results = slow_requests(s, 2, 10)
    return finished_ok(threads, results, 2)


def t_no_warnings(c):
    bad = [ln for s in (c.dyn, c.ond) for ln in s.log_text().splitlines()
           if "not acted on" in ln]
    return "; ".join(bad) or None


DEBIAN_CONF = "/etc/php/8.2/fpm/php-fpm.conf"
DEBIAN_POOL = "/etc/php/8.2/fpm/pool.d/www.conf"


class DebianConfServer(H.Server):
    """php-fpm or phpmgr on Debian's stock configuration, with only its paths (pid, error_log,
    include, listen) moved into the test's directory."""

    def __init__(self, tmp, label, argv0):
        self.name = label
        super().__init__(tmp)
        self.label = label
        d = os.path.join(tmp, label)
        os.makedirs(d, exist_ok=True)
        self.error_log = self.ready_log = os.path.join(d, "fpm.log")
        self.ready_text = H.READY_LINE
        self.sock = os.path.join(d, "fpm.sock")
        conf = H.read_text(DEBIAN_CONF)
        conf = re.sub(r"(?m)^pid = .*$", "pid = " + os.path.join(d, "fpm.pid"), conf)
        conf = re.sub(r"(?m)^error_log = .*$", "error_log = " + self.error_log, conf)
        conf = re.sub(r"(?m)^include=.*$", "include=" + os.path.join(d, "*.pool"), conf)
        pool = re.sub(r"(?m)^listen = .*$", "listen = " + self.sock, H.read_text(DEBIAN_POOL))
        self.conf = os.path.join(d, "php-fpm.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        with open(os.path.join(d, "www.pool"), "w") as f:
            f.write(pool)
        self.argv = [argv0, "-F", "-y", self.conf]
        if argv0 == H.PHPMGR_BIN:
            self.phpmgr_asan()  # under ASan: -n, php.ini's core settings, sanitizer reports checked

    def write_config(self):
        self.ports = []
        try:
            os.unlink(self.error_log)
        except FileNotFoundError:
            pass

    def lines(self):
        """The log's messages without their timestamps and pids."""
        out = []
        for ln in H.read_text(self.error_log).splitlines():
            ln = re.sub(r"^\[[^]]*\] ", "", ln)
            out.append(re.sub(r"\d+", "N", ln))
        return out


def t_debian_conf(c):
    if not os.path.exists(DEBIAN_CONF) or not os.path.exists(DEBIAN_POOL):
        raise H.Skip("no %s" % DEBIAN_CONF)
    logs = {}
    for label, argv0 in (("fpm", H.PHP_FPM_BIN), ("mgr", H.PHPMGR_BIN)):
        s = DebianConfServer(c.tmp, "debian-" + label, argv0)
        s.start(timeout=20)
        try:
            # pm = dynamic, start_servers 2: both have their two children before the stop
            if not H.wait_until(lambda: len(H.proc_live_children(s.pid)) == 2, 10):
                return "%s on Debian's www.conf: %d children, want pm.start_servers = 2" % (
                    label, len(H.proc_live_children(s.pid)))
            s.send_signal(signal.SIGQUIT)
            rc = s.wait_exit(15)
            if rc != 0:
                return "%s: exit %r after SIGQUIT" % (label, rc)
        finally:
            s.stop(timeout=5)
        logs[label] = s.lines()
    if logs["mgr"] != logs["fpm"]:
        return "php-fpm logged:\n  %s\nphpmgr logged:\n  %s" % (
            "\n  ".join(logs["fpm"]), "\n  ".join(logs["mgr"]))
    return None


def t_systemd_notify(c):
    path = os.path.join(c.tmp, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(path)
        sock.settimeout(0.2)
        s = PmServer(c.tmp, "notify", "pm = static\npm.max_children = 2\n")
        s.global_lines = "systemd_interval = 1\n"
        s.env = dict(os.environ, NOTIFY_SOCKET=path)
        s.start(timeout=20)
        got = []
        try:
            dl = H.Deadline(5)
            while not dl.expired() and not any(m.startswith("READY=1\nSTATUS=Processes") for m in got):
                try:
                    got.append(sock.recv(4096).decode())
                except socket.timeout:
                    pass
            pid = s.pid
        finally:
            s.stop(timeout=10)
        want_ready = "READY=1\nSTATUS=Ready to handle connections\nMAINPID=%d" % pid
        if not got or got[0] != want_ready:
            return "first message %r, want %r" % (got[:1], want_ready)
        status = [m for m in got if "Processes" in m]
        if not status or not re.match(r"READY=1\nSTATUS=Processes active: 0, idle: 2, Requests: 0, "
                                      r"slow: 0, Traffic: 0\.00req/sec$", status[0]):
            return "status messages: %r" % got
        if "systemd monitor interval set to 1000ms" not in s.log_text():
            return "no 'systemd monitor interval set to 1000ms' line:\n%s" % s.log_text()[-800:]
        return None
    finally:
        sock.close()


def t_respawn_backoff(c):
    boot = os.path.join(H.FIXTURES, "resident", "broken.php")
    s = PmServer(c.tmp, "broken", "pm = static\npm.max_children = 1\nworker.mode = resident\n"
                 "worker.bootstrap = %s\ncatch_workers_output = yes\n" % boot)
    s.start(timeout=20)
    try:
        pat = (r"WARNING: \[pool www\] child \d+ exited \d+\.\d+ seconds after its start "
               r"\((\d+) times? in a row\): respawning in (\d+) s")
        dl = H.Deadline(12)
        want = [("1", "1"), ("2", "2"), ("3", "4")]
        while not dl.expired() and len(re.findall(pat, s.log_text())) < 3:
            H.wait_until(lambda: len(re.findall(pat, s.log_text())) >= 3, 1.0)
        t_third = dl.left()
        got = re.findall(pat, s.log_text())[:3]
        if got != want:
            return "backoff lines %r, want %r:\n%s" % (got, want, s.log_text()[-1500:])
        # the third death came after 1 + 2 s of pauses, not at once
        if 12 - t_third < 2.5:
            return "three deaths within %.1f s: no backoff" % (12 - t_third)
        if "this bootstrap is broken on purpose" not in s.log_text():
            return "the bootstrap's own error is not in the log"
        return None
    finally:
        s.stop(timeout=10)


def proc_limit(pid, name):
    with open("/proc/%d/limits" % pid) as f:
        text = f.read()
    for ln in text.splitlines():
        if ln.startswith(name):
            return ln[len(name):].split()[:2]
    return None


def proc_nice(pid):
    # /proc/PID/stat: field 19 is nice; the command (field 2) may hold spaces, so split after ")"
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[16])


def t_global_limits(c):
    s = PmServer(c.tmp, "limits", "pm = static\npm.max_children = 2\n")
    s.global_lines = "rlimit_files = 4321\nrlimit_core = unlimited\nprocess.priority = 7\n"
    s.start(timeout=20)
    try:
        if not H.wait_until(lambda: len(workers(s)) == 2, 10):
            return "workers did not start"
        errs = []
        for pid in [s.pid] + workers(s):
            files, core = proc_limit(pid, "Max open files"), proc_limit(pid, "Max core file size")
            if files != ["4321", "4321"] or core != ["unlimited", "unlimited"]:
                errs.append("pid %d: open files %r, core %r" % (pid, files, core))
            if proc_nice(pid) != 7:
                errs.append("pid %d: nice %d, want 7" % (pid, proc_nice(pid)))
        if "not acted on" in s.log_text():
            errs.append("a 'not acted on' warning: " + s.log_text()[-600:])
    finally:
        s.stop(timeout=10)
    # more open files than the hard limit allows (fs.nr_open): php-fpm refuses to start
    bad = PmServer(c.tmp, "limits-bad", "pm = static\npm.max_children = 1\n")
    bad.global_lines = "rlimit_files = 2147483647\n"
    try:
        bad.start(timeout=10, attempts=1)
        errs.append("started with rlimit_files = 2147483647")
    except H.StartError:
        pass
    finally:
        bad.stop(timeout=5)
    want = ("ERROR: failed to set rlimit_files for this pool. Please check your system limits or "
            "decrease rlimit_files. setrlimit(RLIMIT_NOFILE, 2147483647): Operation not permitted")
    if want not in bad.log_text():
        errs.append("no %r in:\n%s" % (want, bad.log_text()[-800:]))
    return "; ".join(errs) or None


def t_pool_limits(c):
    s = PmServer(c.tmp, "pool-limits", "pm = static\npm.max_children = 2\nrlimit_files = 1234\n"
                 "rlimit_core = 4096\nprocess.priority = 3\n")
    s.start(timeout=20)
    try:
        if not H.wait_until(lambda: len(workers(s)) == 2, 10):
            return "workers did not start"
        errs = []
        for pid in workers(s):
            files, core = proc_limit(pid, "Max open files"), proc_limit(pid, "Max core file size")
            if files != ["1234", "1234"] or core != ["4096", "4096"] or proc_nice(pid) != 3:
                errs.append("worker %d: open files %r, core %r, nice %d" % (
                    pid, files, core, proc_nice(pid)))
        if proc_limit(s.pid, "Max open files") == ["1234", "1234"] or proc_nice(s.pid) == 3:
            errs.append("the master took the pool's limits")
        if "not acted on" in s.log_text():
            errs.append("a 'not acted on' warning: " + s.log_text()[-600:])
        return "; ".join(errs) or None
    finally:
        s.stop(timeout=10)


def main():
    rep = H.Reporter()
    if not H.phpmgr_available():
        rep.fail("setup", "phpmgr binary not found: %s" % H.PHPMGR_BIN)
        return rep.finish()
    c = Ctx()
    c.tmp = H.tmpdir("phpmgr-supervision-")
    c.dyn = PmServer(c.tmp, "dynamic",
                     "pm = dynamic\npm.max_children = 6\npm.start_servers = 2\n"
                     "pm.min_spare_servers = 1\npm.max_spare_servers = 3\n")
    c.ond = PmServer(c.tmp, "ondemand",
                     "pm = ondemand\npm.max_children = 3\npm.process_idle_timeout = 1s\n")

    def run(name, fn):
        if ONLY and not re.search(ONLY, name):
            return
        rep.run(name, fn, c)

    try:
        if not H.start_servers(rep, (c.dyn, c.ond)):
            return rep.finish()
        run("dynamic-starts-start-servers", t_dynamic_start)
        run("dynamic-spawns-when-spares-short", t_dynamic_spawn)
        run("dynamic-max-children-warning", t_dynamic_max_children)
        run("dynamic-retires-extra-spares", t_dynamic_retire)
        run("ondemand-starts-none", t_ondemand_none)
        run("ondemand-spawns-per-request", t_ondemand_spawn)
        run("ondemand-idle-timeout", t_ondemand_idle)
        run("no-not-acted-on-warnings", t_no_warnings)
        run("debian-conf-same-log-as-php-fpm", t_debian_conf)
        run("systemd-notify", t_systemd_notify)
        run("respawn-backoff", t_respawn_backoff)
        run("global-limits", t_global_limits)
        run("pool-limits", t_pool_limits)
    finally:
        for s in (c.dyn, c.ond):
            s.stop(timeout=10)
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
