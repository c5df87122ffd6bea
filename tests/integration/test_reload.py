#!/usr/bin/python3
"""Graceful reload (SIGUSR1, `phpmgr reload`) that an operator can trust. One phpmgr with three
pools serving a generated docroot, all with opcache.validate_timestamps = 0 (so OPcache never looks
at a file again once it has compiled it): [classic], [seeded] (pm.max_requests, so each worker
has a pre-forked successor, a seed, forked before the reload and woken after it) and [resident]
(worker.mode = resident: a bootstrap that requires lib.php once and logs its pid to boot.log).

  opcache-{classic,seeded,resident}
                      lib.php edited, still served stale (the precondition), SIGUSR1: once every
                      worker is replaced, each pool serves the edit (the first new worker empties
                      OPcache before serving; the master logs what it cost)
  config-applied      php_admin_value and env[] edited, SIGUSR1: new workers have them, and the
                      log names what was applied
  config-needs-restart  listen, pm.max_children and a new pool: the log names them as needing
                      `phpmgr restart`; the old listeners serve on, the other changes apply
  config-invalid      an unknown key: "reload failed: FILE:LINE: KEY: ...; keeping the current
                      configuration", no worker replaced, serving goes on; `phpmgr reload` says
                      the same and exits 78 without signalling
  five-reloads-under-load
                      client threads (direct HTTP to every pool, nginx fastcgi_pass with and
                      without keep-alive) while lib.php changes and SIGUSR1 comes five times:
                      no non-2xx, no socket error, every worker replaced each time, every new
                      resident worker ran the bootstrap, every pool serves each new version
  sigusr2-no-disturbance  SIGUSR2 under load: logged, no worker replaced, no failed request

PHPMGR_BIN selects the binary. RELOAD_ONLY=regex runs the matching cases.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

ONLY = os.environ.get("RELOAD_ONLY")
POOLS = ("classic", "seeded", "resident")
CHILDREN = {"classic": 3, "seeded": 2, "resident": 2}
REPLACE_TIMEOUT = 20.0
REQ_TIMEOUT = 15.0

OPCACHE_LINES = ("php_admin_value[opcache.validate_timestamps] = 0\n"
                 "php_admin_value[opcache.file_update_protection] = 0\n")

VER_PHP = """<?php
require __DIR__ . '/lib.php';
if (isset($_GET['sleep'])) usleep((int)$_GET['sleep'] * 1000);
header('Content-Type: application/json');
echo json_encode(['v' => lib_version(), 'pid' => getmypid(), 'foo' => getenv('FOO'),
                  'mem' => ini_get('memory_limit')]);
"""

BOOT_PHP = """<?php
require __DIR__ . '/www/lib.php';
file_put_contents(__DIR__ . '/boot.log', getmypid() . "\\n", FILE_APPEND);
while (phpmgr_handle_request(function () {
    if (isset($_GET['sleep'])) usleep((int)$_GET['sleep'] * 1000);
    header('Content-Type: application/json');
    echo json_encode(['v' => lib_version(), 'pid' => getmypid(), 'foo' => getenv('FOO'),
                      'mem' => ini_get('memory_limit')]);
})) {
}
"""


def lib_php(version):
    return "<?php\nfunction lib_version() { return '%s'; }\n" % version


def write_atomic(path, text):
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


class ReloadServer(H.PhpmgrServer):
    """phpmgr with the three pools; pool_extra[name] adds lines to a pool, extra_text adds whole
    sections, listen_override[name] replaces a pool's FastCGI address. rewrite() writes the file
    again with the same ports (for a reload)."""

    def __init__(self, tmp):
        super().__init__(tmp, "phpmgr-reload")
        self.www = os.path.join(tmp, "www")
        self.fcgi_ports = {}
        self.http_ports = {}
        self.pool_extra = {p: "" for p in POOLS}
        self.children = dict(CHILDREN)
        self.listen_override = {}
        self.extra_text = ""

    def config_text(self):
        out = ("[global]\npid = %s\nerror_log = %s\ndaemonize = no\n"
               % (self.pid_file, self.error_log))
        for name in POOLS:
            out += ("[%s]\nlisten = %s\nhttp.listen = %s:%d\nhttp.document_root = %s\n"
                    "pm = static\npm.max_children = %d\ncatch_workers_output = yes\n"
                    "%s%s\n"
                    % (name, self.listen_override.get(name, "%s:%d" % (H.LOOPBACK,
                                                                       self.fcgi_ports[name])),
                       H.LOOPBACK, self.http_ports[name], self.www, self.children[name],
                       OPCACHE_LINES, self.pool_extra[name].strip()))
        return out + self.extra_text

    def write_config(self):
        self.fcgi_ports = {p: H.free_port() for p in POOLS}
        self.http_ports = {p: H.free_port() for p in POOLS}
        self.ports = list(self.fcgi_ports.values()) + list(self.http_ports.values())
        self.port = self.fcgi_ports["classic"]
        try:
            os.unlink(self.error_log)
        except FileNotFoundError:
            pass
        self.rewrite()

    def rewrite(self, text=None):
        with open(self.conf, "w") as f:
            f.write(self.config_text() if text is None else text)


class Ctx:
    pass


# --------------------------------------------------------------------------------------------
# helpers

def get(port, path="/ver.php", timeout=REQ_TIMEOUT):
    r = H.http_request(port, "GET", path, timeout=timeout)
    if r.status != 200 or r.error:
        raise AssertionError("GET %s on %d: status %s %s, body %r" % (path, port, r.status,
                                                                       r.error or "", r.body[:300]))
    return json.loads(r.body)


def workers(c):
    """The master's live children: the workers (a seed is its worker's child until woken)."""
    return set(H.proc_live_children(c.srv.pid))


def total_children(c):
    return sum(c.srv.children.values())


def wait_replaced(c, before, timeout=REPLACE_TIMEOUT):
    """Until none of before is alive and every slot has a worker again; the new set or None."""
    want = total_children(c)

    def done():
        now = workers(c)
        return now if len(now) == want and not (now & before) else None
    return H.wait_until(done, timeout, interval=0.02, max_interval=0.1)


def log_since(c, mark):
    return c.srv.log_text()[mark:] if mark is not None else c.srv.log_text()


def log_mark(c):
    return len(c.srv.log_text())


def wait_log(c, mark, pattern, timeout=10.0):
    rx = re.compile(pattern)
    return H.wait_until(lambda: rx.search(log_since(c, mark)), timeout)


def reload_and_wait(c, sig=signal.SIGUSR1):
    before = workers(c)
    mark = log_mark(c)
    c.srv.send_signal(sig)
    after = wait_replaced(c, before)
    return before, after, mark


def all_pools_serve(c, pred, tries=None):
    """Every pool answers each of tries requests with pred(json) true; None, or what failed."""
    for name in POOLS:
        for _ in range(tries or c.srv.children[name] * 2):
            v = get(c.srv.http_ports[name])
            if not pred(v):
                return "[%s] answered %r" % (name, v)
    return None


def boot_pids(c):
    try:
        with open(os.path.join(c.tmp, "boot.log")) as f:
            return {int(x) for x in f.read().split()}
    except FileNotFoundError:
        return set()


# --------------------------------------------------------------------------------------------
# cases

def t_opcache_reload(c):
    """The reload all three opcache-* cases look at; returns a dict pool -> failure or None."""
    H.require_extensions("opcache")
    version = "v0"  # written before the start; the resident bootstrap compiled it at boot
    err = all_pools_serve(c, lambda v: v["v"] == version)
    if err:
        raise AssertionError("before the edit: " + err)
    edited = version + "-edited"
    write_atomic(c.lib, lib_php(edited))
    # The precondition: validate_timestamps = 0 really serves the old compiled file.
    stale = all_pools_serve(c, lambda v: v["v"] == version, tries=2)
    if stale:
        raise H.Skip("OPcache does not keep serving the compiled file here (%s)" % stale)
    before, after, mark = reload_and_wait(c)
    if after is None:
        raise AssertionError("workers not replaced: %s -> %s" % (sorted(before), sorted(workers(c))))
    res = {}
    for name in POOLS:
        seen = []
        for _ in range(c.srv.children[name] * 3):
            v = get(c.srv.http_ports[name])
            seen.append((v["pid"], v["v"]))
        bad = [s for s in seen if s[1] != edited]
        res[name] = ("served %d stale answers after the reload (want %s): %s"
                     % (len(bad), edited, bad[:4]) if bad else None)
    m = wait_log(c, mark, r"reload \d+: OPcache: (\d+) cached scripts? invalidated .*")
    c.opcache_note = m.group(0)[:200] if m else "no OPcache line in the log"
    if not m:
        res = {k: v or "no 'reload N: OPcache: ...' line in the log" for k, v in res.items()}
    return res


def opcache_case(pool):
    def case(c):
        if c.opcache_result is None:
            try:
                c.opcache_result = t_opcache_reload(c)
            except H.Skip:
                raise
            except Exception as e:  # noqa: BLE001
                c.opcache_result = {p: "%s: %s" % (type(e).__name__, e) for p in POOLS}
        if pool == "resident":
            H.log("opcache: " + c.opcache_note)
        return c.opcache_result[pool]
    return case


def t_config_applied(c):
    c.srv.pool_extra["classic"] = "env[FOO] = two\nphp_admin_value[memory_limit] = 96M\n"
    c.srv.pool_extra["seeded"] = "pm.max_requests = 100000\nenv[FOO] = two\n"
    c.srv.rewrite()
    before, after, mark = reload_and_wait(c)
    if after is None:
        return "workers not replaced: %s -> %s" % (sorted(before), sorted(workers(c)))
    m = wait_log(c, mark, r"configuration reloaded from .*: applied to new workers: (.*)")
    if not m:
        return "no 'configuration reloaded ... applied' line:\n" + log_since(c, mark)[-1500:]
    for key in ("[classic] php_admin_value[memory_limit], env[FOO]", "[seeded] env[FOO]"):
        if key not in m.group(1):
            return "applied keys %r do not name %r" % (m.group(1), key)
    for name, foo, mem in (("classic", "two", "96M"), ("seeded", "two", None),
                           ("resident", False, None)):
        for _ in range(c.srv.children[name] * 2):
            v = get(c.srv.http_ports[name])
            if v["foo"] != foo or (mem and v["mem"] != mem):
                return "[%s] pid %s: FOO=%r memory_limit=%r, want %r %r" % (
                    name, v["pid"], v["foo"], v["mem"], foo, mem)
    if "restart" in log_since(c, mark):
        return "a restart was asked for, for changes that apply:\n" + log_since(c, mark)[-1500:]
    return None


def t_config_needs_restart(c):
    new_port = H.free_port()
    c.srv.listen_override["classic"] = "%s:%d" % (H.LOOPBACK, new_port)
    c.srv.children["seeded"] = CHILDREN["seeded"] + 1
    c.srv.pool_extra["resident"] += "\nenv[FOO] = three\n"
    c.srv.extra_text = "[extra]\nlisten = %s:%d\npm = static\npm.max_children = 1\n" % (
        H.LOOPBACK, H.free_port())
    c.srv.rewrite()
    # what runs keeps its sizes: count the workers as they are
    c.srv.children["seeded"] = CHILDREN["seeded"]
    before, after, mark = reload_and_wait(c)
    try:
        if after is None:
            return "workers not replaced: %s -> %s" % (sorted(before), sorted(workers(c)))
        m = wait_log(c, mark, r"changes that need `phpmgr restart`[^:]*: (.*)")
        if not m:
            return "no 'need `phpmgr restart`' line:\n" + log_since(c, mark)[-1500:]
        for key in ("[classic] listen", "[seeded] pm.max_children", "pool [extra] added"):
            if key not in m.group(1):
                return "restart line %r does not name %r" % (m.group(0), key)
        if "env[FOO]" in m.group(1):
            return "env[] listed as needing a restart: %r" % m.group(0)
        if H.port_accepts(new_port):
            return "the new listen address accepts: it was applied"
        res = H.fcgi_request(c.srv.fcgi_ports["classic"],
                             H.php_params(c.srv.www, "/ver.php"), timeout=REQ_TIMEOUT)
        if b'"v"' not in res.stdout:
            return "the old FastCGI listener does not serve: %r" % res.stdout[:300]
        for _ in range(4):
            v = get(c.srv.http_ports["resident"])
            if v["foo"] != "three":
                return "[resident] FOO=%r after the reload, want 'three'" % v["foo"]
        return None
    finally:
        c.srv.listen_override.clear()
        c.srv.extra_text = ""
        c.srv.rewrite()


def t_config_invalid(c):
    good = c.srv.config_text()
    lines = good.split("\n")
    at = lines.index("[seeded]") + 1
    bad = lines[:at] + ["no_such_key = 1"] + lines[at:]
    c.srv.rewrite("\n".join(bad))
    line_no = at + 1
    try:
        before = workers(c)
        mark = log_mark(c)
        c.srv.send_signal(signal.SIGUSR1)
        want = (r"reload failed: %s:%d: no_such_key: [^;\n]*; keeping the current configuration"
                % (re.escape(c.srv.conf), line_no))
        if not wait_log(c, mark, want):
            return "no %r line:\n%s" % (want, log_since(c, mark)[-1500:])
        # the master acted on the signal already (the line is its answer): nothing may follow
        dl = H.Deadline(1.0)
        while not dl.expired():
            if workers(c) != before:
                return "workers replaced after a failed reload: %s -> %s" % (
                    sorted(before), sorted(workers(c)))
            err = all_pools_serve(c, lambda v: True, tries=1)
            if err:
                return err
        if re.search(r"child \d+ (started|exited)", log_since(c, mark)):
            return "children started or exited:\n" + log_since(c, mark)[-1500:]
        p = subprocess.run([H.PHPMGR_BIN, "reload", "-c", c.srv.conf], capture_output=True,
                           text=True, timeout=20)
        out = p.stdout + p.stderr
        if p.returncode != 78 or not re.search(want, out):
            return "phpmgr reload with the bad file: exit %d, %r" % (p.returncode, out[-600:])
        if workers(c) != before:
            return "`phpmgr reload` with a bad file replaced workers"
        return None
    finally:
        c.srv.rewrite(good)


class Load:
    """Client threads until stop(): each target is (label, port, via) and gets requests in a
    loop; every answer must be a 200 with a version in its JSON."""

    def __init__(self, targets, threads_per_target=1):
        self.targets = targets
        self.stop_ev = threading.Event()
        self.fails = []
        self.done = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(t,), daemon=True)
                        for t in targets for _ in range(threads_per_target)]

    def run(self, target):
        label, port, path = target
        while not self.stop_ev.is_set():
            try:
                v = get(port, path)
                ok = isinstance(v, dict) and v.get("v")
                if not ok:
                    raise AssertionError("bad answer %r" % v)
            except Exception as e:  # noqa: BLE001
                with self.lock:
                    self.fails.append("%s: %s: %s" % (label, type(e).__name__, e))
            with self.lock:
                self.done += 1

    def start(self):
        for t in self.threads:
            t.start()
        H.wait_until(lambda: self.done >= 2 * len(self.threads), 10)

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(REQ_TIMEOUT + 5)


def load_targets(c):
    """Quick requests and 30 ms ones (so reloads find busy workers) on every pool directly, and
    through nginx with and without FastCGI keep-alive."""
    t = []
    for path in ("/ver.php", "/ver.php?sleep=30"):
        t += [("http-%s %s" % (p, path), c.srv.http_ports[p], path) for p in POOLS]
        t += [("nginx-fastcgi_pass " + path, c.nginx.server_ports["plain"], path),
              ("nginx-keepalive " + path, c.nginx.server_ports["keep"], path)]
    return t


def phpmgr_reload(c):
    p = subprocess.run([H.PHPMGR_BIN, "reload", "-c", c.srv.conf], capture_output=True, text=True,
                       timeout=20)
    if p.returncode != 0:
        raise AssertionError("phpmgr reload: exit %d: %s" % (p.returncode, p.stdout + p.stderr))


def wait_requests(load, n, timeout=10.0):
    """Until the load threads complete n more requests (constant load between reloads)."""
    start = load.done
    return H.wait_until(lambda: load.done - start >= n, timeout)


def t_five_reloads(c):
    load = Load(load_targets(c), threads_per_target=1)
    notes, errs, costs = [], [], []
    load.start()
    try:
        for i in range(5):
            version = "v-load-%d-%d" % (i, time.monotonic_ns())
            write_atomic(c.lib, lib_php(version))
            boots = boot_pids(c)
            wait_requests(load, 50)
            before = workers(c)
            mark = log_mark(c)
            phpmgr_reload(c)
            after = wait_replaced(c, before)
            if after is None:
                errs.append("reload %d: workers not replaced: %s -> %s"
                            % (i + 1, sorted(before), sorted(workers(c))))
                break
            err = all_pools_serve(c, lambda v, ver=version: v["v"] == ver)
            if err:
                errs.append("reload %d: stale after every worker was replaced: %s" % (i + 1, err))
            for port in (c.nginx.server_ports["plain"], c.nginx.server_ports["keep"]):
                v = get(port)
                if v["v"] != version:
                    errs.append("reload %d: nginx answered %r" % (i + 1, v))
            res_pids = {get(c.srv.http_ports["resident"])["pid"] for _ in range(4)}
            new_boots = boot_pids(c) - boots
            if not res_pids <= new_boots:
                errs.append("reload %d: resident workers %s did not run the bootstrap (new boots %s)"
                            % (i + 1, sorted(res_pids), sorted(new_boots)))
            # without OPcache (the ASan run's -n) there is nothing to invalidate, nor a line
            m = None if H.ASAN else wait_log(c, mark, r"reload \d+: OPcache: .* in ([\d.]+) ms \(")
            if m:
                costs.append(float(m.group(1)))
            elif not H.ASAN:
                errs.append("reload %d: no OPcache line in the log" % (i + 1))
            notes.append(len(after))
        if not errs:
            # and five SIGUSR1 back to back, each arriving while the last one's workers start
            version = "v-burst-%d" % time.monotonic_ns()
            write_atomic(c.lib, lib_php(version))
            wait_requests(load, 50)
            before = workers(c)
            for _ in range(5):
                c.srv.send_signal(signal.SIGUSR1)
                time.sleep(0.02)  # spacing between signals, not a readiness wait
            if wait_replaced(c, before) is None:
                errs.append("burst: workers not replaced: %s -> %s" % (sorted(before),
                                                                      sorted(workers(c))))
            else:
                wait_requests(load, 50)
                err = all_pools_serve(c, lambda v, ver=version: v["v"] == ver)
                if err:
                    errs.append("burst: stale after every worker was replaced: " + err)
    finally:
        load.stop()
    if load.fails:
        errs.append("%d of %d requests failed, first: %s" % (len(load.fails), load.done,
                                                             "; ".join(load.fails[:3])))
    note = ("%d requests over %d targets, %d workers replaced each time, "
                           "OPcache invalidation %s ms"
                           % (load.done, len(load.targets), notes[0] if notes else 0,
                              "/".join("%.1f" % x for x in costs)))
    H.log("five-reloads-under-load: " + note)
    return "\n".join(errs) or None


def t_sigusr2(c):
    load = Load(load_targets(c))
    load.start()
    try:
        before = workers(c)
        mark = log_mark(c)
        c.srv.send_signal(signal.SIGUSR2)
        if not wait_log(c, mark, r"SIGUSR2"):
            return "no log line for SIGUSR2:\n" + log_since(c, mark)[-1000:]
        dl = H.Deadline(1.0)
        while not dl.expired():
            if workers(c) != before:
                return "workers changed after SIGUSR2: %s -> %s" % (sorted(before),
                                                                   sorted(workers(c)))
            time.sleep(0.05)
    finally:
        load.stop()
    if load.fails:
        return "%d of %d requests failed, first: %s" % (len(load.fails), load.done, load.fails[0])
    if re.search(r"child \d+ (started|exited)|Reloading", log_since(c, mark)):
        return "SIGUSR2 touched request workers:\n" + log_since(c, mark)[-1000:]
    H.log("sigusr2-no-disturbance: %d requests, no worker replaced" % load.done)
    return None


# --------------------------------------------------------------------------------------------

def main():
    rep = H.Reporter()
    if not H.phpmgr_available():
        rep.fail("setup", "phpmgr binary not found: %s" % H.PHPMGR_BIN)
        return rep.finish()
    c = Ctx()
    c.tmp = H.tmpdir("phpmgr-reload-")
    c.srv = ReloadServer(c.tmp)
    os.makedirs(c.srv.www)
    c.lib = os.path.join(c.srv.www, "lib.php")
    write_atomic(c.lib, lib_php("v0"))
    with open(os.path.join(c.srv.www, "ver.php"), "w") as f:
        f.write(VER_PHP)
    with open(os.path.join(c.tmp, "boot.php"), "w") as f:
        f.write(BOOT_PHP)
    c.srv.pool_extra["seeded"] = "pm.max_requests = 100000\n"
    c.srv.pool_extra["resident"] = ("worker.mode = resident\nworker.bootstrap = %s\n"
                                    % os.path.join(c.tmp, "boot.php"))
    c.opcache_result = None
    c.opcache_note = ""
    c.nginx = None
    t0 = time.monotonic()

    def run(name, fn):
        if ONLY and not re.search(ONLY, name):
            return
        rep.run(name, fn, c)

    try:
        try:
            c.srv.start(timeout=20)
            c.nginx = H.NginxServer(c.tmp, c.srv.www,
                                    [("plain", c.srv.fcgi_ports["classic"], False),
                                     ("keep", c.srv.fcgi_ports["classic"], True)])
            c.nginx.start(timeout=15)
        except H.StartError as e:
            rep.fail("start", str(e))
            return rep.finish()
        for p in POOLS:
            run("opcache-" + p, opcache_case(p))
        run("config-applied", t_config_applied)
        run("config-needs-restart", t_config_needs_restart)
        run("config-invalid", t_config_invalid)
        run("five-reloads-under-load", t_five_reloads)
        run("sigusr2-no-disturbance", t_sigusr2)
        run("master-alive", lambda c: None if c.srv.alive() else "the master exited")
    finally:
        if c.nginx:
            c.nginx.stop(timeout=5)
        c.srv.stop(signal.SIGQUIT, timeout=10)
        if rep.failed:
            H.log("phpmgr log tail:\n%s" % c.srv.log_text()[-4000:])
        H.log("test_reload ran in %.1fs" % (time.monotonic() - t0))
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
