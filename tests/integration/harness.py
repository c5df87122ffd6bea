"""Shared helpers for phpmgr's integration tests (stdlib only, run with Debian's /usr/bin/python3).

What is here:
  - Reporter: one "PASS: name" / "FAIL: name: detail" line per case, exit status 1 on any failure.
  - wait_until / Deadline: every wait is bounded.
  - free_port, tmpdir: loopback ports and temporary directories (removed at exit unless KEEP_TMP=1).
  - Server and its kinds PhpmgrServer, PhpFpmServer, NginxServer: start in their own process
    group, wait for readiness (a log line and an accepting port), stop by pid, and a last-resort
    SIGKILL of the group at exit (atexit), so nothing outlives the test.
  - http_request: a raw-socket HTTP/1.1 client that returns status, headers in order (duplicates
    kept) and the body bytes exactly (chunked decoded, framing checked).
  - FcgiConn: a raw FastCGI client over TCP (BEGIN_REQUEST with or without FCGI_KEEP_CONN, PARAMS,
    STDIN, ABORT_REQUEST, GET_VALUES, reading STDOUT/STDERR/END_REQUEST), parse_cgi for its output.
  - /proc helpers: children of a pid, process start times, liveness that ignores pid reuse.
  - run_parallel: bounded thread fan-out.
  - PHPMGR_ASAN=1: php_args() (-n and php.ini's core settings as -d), sanitizer_env(),
    sanitizer_files(), check_sanitizer_files() for phpmgr runs a suite makes itself.
  - nginx_conf, nginx_php_server: the nginx configuration every suite's nginx is built from.
  - for the differential suites: their pool lines (diff_pool_setup), DiffSide, diff_health,
    body_has, multipart, pattern_bytes, describe_body_diff.
"""

import atexit
import difflib
import hashlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
PHPMGR_BIN = os.environ.get("PHPMGR_BIN") or os.path.join(REPO, "build", "phpmgr")
PHP_FPM_BIN = os.environ.get("PHP_FPM_BIN") or "/usr/sbin/php-fpm8.2"
NGINX_BIN = os.environ.get("NGINX_BIN") or "/usr/sbin/nginx"
READY_LINE = "ready to handle connections"
LOOPBACK = "127.0.0.1"
# PHPMGR_ASAN=1 (tests/run.sh, with PHPMGR_BIN=build/asan/phpmgr): phpmgr starts with -n (no
# php.ini: PHP loads no shared extension, so cases needing one skip) and php.ini's core settings
# as -d flags (php_args(), below; Server.phpmgr_asan() for a suite's own server), each phpmgr
# process writes sanitizer reports to <tmp>/<label>.san.<pid>, and any report found when a server
# ends is a FAIL.
ASAN = os.environ.get("PHPMGR_ASAN") == "1"
# -n also drops php.ini's settings: PHP would run on its built-in defaults (display_errors=1, so a
# fatal error answers 200 with the message; variables_order EGPCS, request_order unset,
# output_buffering 0, zend.assertions 1 ...), not the production values the php-fpm it is compared
# with (and phpmgr without -n) read from Debian's php.ini. The ASan run gives them back as -d
# flags: every setting of PHP_INI (PHPMGR_PHP_INI overrides) in a section of PHP's core or of a
# module built into libphp (phpmgr -n -m: date, pcre, session, ...); a shared extension's settings
# ([opcache], [mbstring] ...) are left out, as the extension itself is.
PHP_INI = os.environ.get("PHPMGR_PHP_INI") or "/etc/php/8.2/embed/php.ini"
PHP_INI_CORE_SECTIONS = ("PHP", "Date", "filter", "Pcre", "mail function", "Session", "Assertion")
SANITIZER_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|: runtime error: |"
                          r"SUMMARY: UndefinedBehaviorSanitizer")


# --------------------------------------------------------------------------------------------
# reporting

class Reporter:
    """Prints one line per case; finish() exits 1 when any case failed."""

    def __init__(self, prefix=""):
        self.prefix = prefix
        self.passed = 0
        self.failed = []
        self.skipped = 0
        self.lock = threading.Lock()

    def _name(self, name):
        return self.prefix + name

    def ok(self, name, note=""):
        with self.lock:
            self.passed += 1
            print("PASS: %s%s" % (self._name(name), (" (" + note + ")") if note else ""), flush=True)

    def fail(self, name, detail):
        with self.lock:
            self.failed.append(name)
            lines = str(detail).rstrip("\n").split("\n")
            print("FAIL: %s: %s" % (self._name(name), lines[0]), flush=True)
            for ln in lines[1:200]:
                print("    " + ln, flush=True)
            if len(lines) > 200:
                print("    ... (%d more lines)" % (len(lines) - 200), flush=True)

    def skip(self, name, reason):
        with self.lock:
            self.skipped += 1
            print("SKIP: %s: %s" % (self._name(name), reason), flush=True)

    def check(self, name, cond, detail=""):
        if cond:
            self.ok(name)
        else:
            self.fail(name, detail or "condition false")
        return bool(cond)

    def run(self, name, fn, *args, **kw):
        """Run fn; it returns None/True for a pass, a string (the failure detail) or False for a
        failure, or raises (a failure with the exception)."""
        t0 = time.monotonic()
        try:
            r = fn(*args, **kw)
        except Skip as e:
            self.skip(name, str(e))
            return True
        except (OSError, HttpError) as e:  # timeouts, resets: the message says it all
            self.fail(name, "%s: %s" % (type(e).__name__, e))
            return False
        except Exception as e:  # noqa: BLE001 - a test case must never take the whole file down
            import traceback
            self.fail(name, "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc()))
            return False
        dt = time.monotonic() - t0
        if r is None or r is True:
            self.ok(name, "%.2fs" % dt if dt >= 1.0 else "")
            return True
        self.fail(name, r if isinstance(r, str) else "returned %r" % (r,))
        return False

    def finish(self):
        failed = len(self.failed) + len(_sanitizer_reports)
        print("%d passed, %d failed, %d skipped" % (self.passed, failed, self.skipped),
              flush=True)
        sys.stdout.flush()
        return 1 if failed else 0


class Skip(Exception):
    """Raised by a case run with Reporter.run when it cannot run here: a SKIP line with the reason."""


def require_extensions(*names):
    """A case that needs shared PHP extensions calls this first. Under PHPMGR_ASAN=1 phpmgr runs
    with -n and loads none (PHP dlopens them with RTLD_DEEPBIND, which ASan refuses): it skips."""
    if ASAN:
        raise Skip("needs PHP extension %s; the ASan run loads no shared extension"
                   % ", ".join(names))


def php_ini_defines(path=None, sections=PHP_INI_CORE_SECTIONS):
    """["key=value", ...]: the settings of php.ini at path (PHP_INI) that are in one of sections,
    values as written there (-d parses them as php.ini does: E_ALL & ~E_DEPRECATED, "GPCS")."""
    out = []
    section = None
    for ln in read_text(path or PHP_INI).splitlines():
        ln = ln.strip()
        if not ln or ln.startswith(";"):
            continue
        m = re.match(r"^\[(.*)\]$", ln)
        if m:
            section = m.group(1).strip()
            continue
        if section not in sections or "=" not in ln:
            continue
        k, v = ln.split("=", 1)
        out.append("%s=%s" % (k.strip(), v.strip()))
    return out


_php_args = None


def php_args():
    """The PHP flags phpmgr is started with, for suites that run it themselves: none normally;
    under PHPMGR_ASAN=1, -n and php.ini's core settings as -d flags (see PHP_INI)."""
    global _php_args
    if not ASAN:
        return []
    if _php_args is None:
        _php_args = ["-n"]
        for d in php_ini_defines():
            _php_args += ["-d", d]
    return list(_php_args)


def sanitizer_env(prefix, env=None):
    """env (os.environ when None) with ASAN_OPTIONS / UBSAN_OPTIONS writing reports to
    prefix.<pid>, for a phpmgr run outside PhpmgrServer: sanitizer_files(prefix) lists them for
    check_sanitizer_files."""
    env = dict(os.environ if env is None else env)
    for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        env[var] = ":".join(filter(None, [env.get(var), "log_path=" + prefix]))
    return env


def log(msg):
    """Diagnostics that are not result lines."""
    print("# " + msg, flush=True)


# --------------------------------------------------------------------------------------------
# bounded waiting

class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return max(0.0, self.end - time.monotonic())

    def expired(self):
        return time.monotonic() >= self.end


def wait_until(pred, timeout, interval=0.02, max_interval=0.2):
    """Poll pred() until it returns a truthy value or timeout seconds pass. Returns the last
    value of pred (falsy on timeout)."""
    dl = Deadline(timeout)
    iv = interval
    while True:
        v = pred()
        if v:
            return v
        if dl.expired():
            return v
        time.sleep(min(iv, dl.left()))
        iv = min(iv * 1.5, max_interval)


# --------------------------------------------------------------------------------------------
# ports and temporary directories

def free_port():
    """A port that was free a moment ago (bind port 0, release). Callers retry on a collision."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def port_accepts(port, host=LOOPBACK, timeout=0.5):
    try:
        c = socket.create_connection((host, port), timeout=timeout)
    except OSError:
        return False
    c.close()
    return True


_tmpdirs = []


def tmpdir(prefix="phpmgr-it-"):
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    _tmpdirs.append(d)
    return d


def _remove_tmpdirs():
    if os.environ.get("KEEP_TMP"):
        for d in _tmpdirs:
            print("# kept " + d, flush=True)
        return
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# processes

_servers = []
_cleanup_lock = threading.Lock()


def _cleanup_all():
    with _cleanup_lock:
        for s in list(_servers):
            try:
                s.kill_group()
            except Exception:  # noqa: BLE001
                pass
    _remove_tmpdirs()
    if _sanitizer_reports:  # reported as FAIL lines when found; make sure the exit status says so
        sys.stdout.flush()
        os._exit(1)


atexit.register(_cleanup_all)


def _term_handler(signum, frame):  # a timeout(1) from run.sh still gets a cleanup
    _cleanup_all()
    os._exit(128 + signum)


for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    try:
        signal.signal(_sig, _term_handler)
    except (ValueError, OSError):
        pass


def read_text(path, limit=4 << 20):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


class StartError(Exception):
    pass


class Server:
    """A process started in its own process group, with a readiness check.

    Subclasses set self.argv, self.ports (ports that must accept) and self.ready_log
    (a file that must contain self.ready_text), and may override write_config()."""

    name = "server"
    ready_text = None
    san_prefix = None  # set: sanitizer reports (san_prefix.<pid>, the outputs) checked at the end

    def __init__(self, tmp):
        self.tmp = tmp
        self.proc = None
        self.argv = []
        self.ports = []
        self.ready_log = None
        self.out_path = os.path.join(tmp, self.name + ".out")
        self.env = None

    def phpmgr_asan(self):
        """For a server whose argv runs PHPMGR_BIN, built by a suite: under PHPMGR_ASAN=1, append
        php_args() to argv and check its processes' sanitizer reports as PhpmgrServer does (a
        report is a FAIL). Call it after setting argv (and env)."""
        if not ASAN:
            return
        self.argv = list(self.argv) + php_args()
        self.san_prefix = os.path.join(self.tmp, self.name + ".san")
        self.env = sanitizer_env(self.san_prefix, self.env)

    def san_files(self):
        return sanitizer_files(self.san_prefix) if self.san_prefix else []

    def check_sanitizer(self):
        """Report (a FAIL line, and a failed exit) any sanitizer report written by this server's
        processes since the last check: san_prefix.<pid> files, its stdout/stderr, its log."""
        if not hasattr(self, "san_seen"):
            self.san_seen = {}
        paths = self.san_files() + [self.out_path]
        for p in (getattr(self, "error_log", None), self.ready_log):
            if p and p not in paths:
                paths.append(p)
        check_sanitizer_files(getattr(self, "label", self.name), paths, self.san_seen)

    # subclasses: pick new ports and rewrite their config (called before each start attempt)
    def write_config(self):
        pass

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        t = ""
        if self.ready_log:
            t += read_text(self.ready_log)
        t += read_text(self.out_path)
        return t + "".join(read_text(p) for p in self.san_files())

    def _ready(self):
        if not self.alive():
            return "exited"
        if self.ready_text and self.ready_log and self.ready_text not in read_text(self.ready_log):
            return None
        for p in self.ports:
            if not port_accepts(p):
                return None
        return "ready"

    def start(self, timeout=15.0, attempts=3):
        """Start and wait until ready. Retries with fresh ports when the first try fails because
        a port was taken in the meantime."""
        last = ""
        for attempt in range(attempts):
            self.write_config()
            out = open(self.out_path, "ab")
            try:
                self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=subprocess.STDOUT, cwd=self.tmp,
                                             start_new_session=True, env=self.env)
            finally:
                out.close()
            _servers.append(self)
            r = wait_until(self._ready, timeout, interval=0.02, max_interval=0.1)
            if r == "ready":
                return self
            last = self.log_text()[-3000:]
            self.kill_group()
            if "in use" not in last and "Address already" not in last:
                break
        raise StartError("%s did not become ready (argv %s):\n%s" % (self.name, " ".join(self.argv),
                                                                      last))

    def send_signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout):
        """Wait for the process to exit; returns its exit status or None on timeout."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Signal the main pid, wait for it, then SIGKILL whatever is left of the group."""
        rc = None
        if self.alive():
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            rc = self.wait_exit(timeout)
        elif self.proc is not None:
            rc = self.proc.poll()
        self.kill_group()
        return rc

    def kill_group(self):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group we created (start_new_session)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        if self in _servers:
            try:
                _servers.remove(self)
            except ValueError:
                pass
        if self.san_prefix is not None:
            self.check_sanitizer()


def pool_config(port, max_children=4, pool="www", extra=""):
    """The [pool] part shared by php-fpm and phpmgr configs (phpmgr reads php-fpm's syntax)."""
    return ("[%s]\nlisten = %s:%d\npm = static\npm.max_children = %d\n%s\n"
            % (pool, LOOPBACK, port, max_children, extra.strip() + "\n" if extra else ""))


class _FpmLike(Server):
    def __init__(self, tmp, label, max_children=4, pool_extra="", global_extra="", port=None):
        self.name = label
        super().__init__(tmp)
        self.label = label
        self.max_children = max_children
        self.pool_extra = pool_extra
        self.global_extra = global_extra
        self.fixed_port = port
        self.port = None
        self.conf = os.path.join(tmp, label + ".conf")
        self.error_log = os.path.join(tmp, label + ".log")
        self.pid_file = os.path.join(tmp, label + ".pid")
        self.ready_log = self.error_log
        self.ready_text = READY_LINE

    def config_text(self):
        return ("[global]\npid = %s\nerror_log = %s\ndaemonize = no\n%s\n"
                % (self.pid_file, self.error_log, self.global_extra.strip())
                + pool_config(self.port, self.max_children, extra=self.pool_extra))

    def write_config(self):
        self.port = self.fixed_port or free_port()
        self.ports = [self.port]
        # a fresh error log per attempt, so the ready line is this start's
        try:
            os.unlink(self.error_log)
        except FileNotFoundError:
            pass
        with open(self.conf, "w") as f:
            f.write(self.config_text())


_sanitizer_reports = []


def sanitizer_files(prefix):
    """The report files (prefix.<pid>) of processes run with sanitizer_env(prefix)."""
    d = os.path.dirname(prefix)
    try:
        return [os.path.join(d, n) for n in sorted(os.listdir(d))
                if n.startswith(os.path.basename(prefix) + ".")]
    except OSError:
        return []


def check_sanitizer_files(label, paths, seen=None):
    """Report (a FAIL line, and a failed exit at the end) any sanitizer report in paths (report
    files, outputs, logs), past the length seen[path] already scanned (seen is updated). Returns
    the number of reports found."""
    seen = {} if seen is None else seen
    found = 0
    for path in paths:
        text = read_text(path)
        start = seen.get(path, 0)
        if len(text) < start:  # a new log of a restart
            start = 0
        seen[path] = len(text)
        lines = text[start:].splitlines()
        hits = [i for i, ln in enumerate(lines) if SANITIZER_RE.search(ln)]
        if not hits:
            continue
        excerpt = lines[max(0, hits[0] - 2):hits[0] + 60]
        ours = [ln.strip() for ln in excerpt if re.search(r"#\d+ .* in \S+ (\S*/)?(src|sapi)/", ln)
                and "libsanitizer" not in ln]
        _sanitizer_reports.append(path)
        found += 1
        print("FAIL: sanitizer-report-%s: %s%s (in %s)\n%s" % (
            label, lines[hits[0]].strip(), (" at " + ours[0]) if ours else "", path,
            "\n".join("    " + ln for ln in excerpt)), flush=True)
    return found


class PhpmgrServer(_FpmLike):
    def __init__(self, tmp, label="phpmgr", **kw):
        super().__init__(tmp, label, **kw)
        self.argv = [PHPMGR_BIN, "start", "-F", "-R", "-c", self.conf]
        self.san_prefix = os.path.join(tmp, label + ".san")
        self.san_seen = {}  # file -> bytes already scanned
        if ASAN:
            self.argv += php_args()
            self.env = sanitizer_env(self.san_prefix)


class PhpFpmServer(_FpmLike):
    def __init__(self, tmp, label="php-fpm", **kw):
        super().__init__(tmp, label, **kw)
        self.argv = [PHP_FPM_BIN, "-F", "-R", "-y", self.conf]


def nginx_conf(tmp, error_log, body):
    """A whole nginx.conf for an nginx run with its prefix in tmp: one worker (as root), pid, logs
    and temp files under tmp, Debian's MIME types, 20m request bodies, 5 s keep-alive; body is
    the inside of the http block (upstreams and server blocks)."""
    return """user root;
worker_processes 1;
pid %(t)s/nginx.pid;
error_log %(elog)s info;
events { worker_connections 1024; }
http {
    access_log %(t)s/nginx-access.log;
    client_body_temp_path %(t)s/ngx_client_body;
    fastcgi_temp_path %(t)s/ngx_fastcgi;
    proxy_temp_path %(t)s/ngx_proxy;
    uwsgi_temp_path %(t)s/ngx_uwsgi;
    scgi_temp_path %(t)s/ngx_scgi;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_max_body_size 20m;
    keepalive_timeout 5s;
%(body)s}
""" % {"t": tmp, "elog": error_log, "body": body}


def nginx_php_server(port, root, fastcgi_pass, keep_conn=False):
    """A server block on LOOPBACK:port for a PHP site in root, as Debian configures one: PHP
    paths go to fastcgi_pass (an address or an upstream name; fastcgi_keep_conn when keep_conn),
    anything else is nginx's own static handling with `index index.php index.html`."""
    return """
    server {
        listen %(lo)s:%(port)d;
        server_name localhost;
        root %(root)s;
        index index.php index.html;
        location ~ [^/]\\.php(/|$) {
            # Debian's snippets/fastcgi-php.conf (without its try_files, so a missing
            # script reaches the backend, whose answer is what we compare).
            fastcgi_split_path_info ^(.+?\\.php)(/.*)$;
            set $path_info $fastcgi_path_info;
            fastcgi_param PATH_INFO $path_info;
            fastcgi_index index.php;
            include /etc/nginx/fastcgi.conf;
            fastcgi_read_timeout 60s;
%(keep)s            fastcgi_pass %(target)s;
        }
    }
""" % {"lo": LOOPBACK, "port": port, "root": root, "target": fastcgi_pass,
       "keep": "            fastcgi_keep_conn on;\n" if keep_conn else ""}


class NginxServer(Server):
    """nginx with one server block per entry of backends: (name, backend_port, keep_conn).
    After start(), self.server_ports[name] is the nginx port of that server block."""

    name = "nginx"

    def __init__(self, tmp, docroot, backends):
        super().__init__(tmp)
        self.docroot = docroot
        self.backends = backends
        self.conf = os.path.join(tmp, "nginx.conf")
        self.error_log = os.path.join(tmp, "nginx-error.log")
        self.server_ports = {}
        self.argv = [NGINX_BIN, "-p", tmp + "/", "-e", self.error_log, "-c", self.conf,
                     "-g", "daemon off;"]
        for d in ("client_body", "fastcgi", "proxy", "uwsgi", "scgi"):
            os.makedirs(os.path.join(tmp, "ngx_" + d), exist_ok=True)

    def write_config(self):
        self.server_ports = {name: free_port() for name, _, _ in self.backends}
        self.ports = list(self.server_ports.values())
        upstreams = []
        servers = []
        for name, bport, keep in self.backends:
            if keep:
                upstreams.append("    upstream up_%s { server %s:%d; keepalive 8; }\n"
                                 % (name, LOOPBACK, bport))
                target = "up_" + name
            else:
                target = "%s:%d" % (LOOPBACK, bport)
            servers.append(nginx_php_server(self.server_ports[name], self.docroot, target, keep))
        with open(self.conf, "w") as f:
            f.write(nginx_conf(self.tmp, self.error_log, "".join(upstreams) + "".join(servers)))

    def log_text(self):
        return read_text(self.error_log) + read_text(self.out_path)


# --------------------------------------------------------------------------------------------
# HTTP client

class HttpResponse:
    def __init__(self):
        self.version = ""
        self.status = 0
        self.reason = ""
        self.headers = []  # [(name, value)] in order, names as sent
        self.body = b""
        self.chunked = False
        self.elapsed = 0.0
        self.error = None  # framing problem or early close, as text

    def header(self, name, default=None):
        n = name.lower()
        for k, v in self.headers:
            if k.lower() == n:
                return v
        return default

    def header_all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def __repr__(self):
        return "<HTTP %s %s, %d headers, %d body bytes>" % (self.status, self.reason,
                                                            len(self.headers), len(self.body))


class HttpError(Exception):
    pass


def _recv_all(sock, deadline, limit=256 << 20):
    chunks = []
    total = 0
    while True:
        left = deadline.left()
        if left <= 0:
            raise HttpError("timed out waiting for the response (%d bytes so far)" % total)
        sock.settimeout(left)
        try:
            b = sock.recv(1 << 16)
        except socket.timeout:
            raise HttpError("timed out waiting for the response (%d bytes so far)" % total)
        except ConnectionResetError:
            if total:
                break
            raise
        if not b:
            break
        chunks.append(b)
        total += len(b)
        if total > limit:
            raise HttpError("response larger than %d bytes" % limit)
    return b"".join(chunks)


def _dechunk(data):
    out = []
    pos = 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return b"".join(out), "truncated chunk size line"
        size_s = data[pos:eol].split(b";", 1)[0].strip()
        try:
            size = int(size_s, 16)
        except ValueError:
            return b"".join(out), "bad chunk size %r" % size_s
        pos = eol + 2
        if size == 0:
            # trailers until an empty line
            end = data.find(b"\r\n\r\n", pos - 2)
            return b"".join(out), None if end >= 0 else "missing final CRLF"
        if pos + size + 2 > len(data):
            out.append(data[pos:pos + size])
            return b"".join(out), "truncated chunk"
        out.append(data[pos:pos + size])
        if data[pos + size:pos + size + 2] != b"\r\n":
            return b"".join(out), "chunk not followed by CRLF"
        pos += size + 2


def parse_http_response(raw, method="GET"):
    r = HttpResponse()
    head_end = raw.find(b"\r\n\r\n")
    if head_end < 0:
        raise HttpError("no complete response head in %d bytes: %r" % (len(raw), raw[:200]))
    head = raw[:head_end].decode("iso-8859-1")
    rest = raw[head_end + 4:]
    lines = head.split("\r\n")
    m = re.match(r"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
    if not m:
        raise HttpError("bad status line %r" % lines[0])
    r.version, r.status, r.reason = m.group(1), int(m.group(2)), m.group(3) or ""
    for ln in lines[1:]:
        if ":" not in ln:
            raise HttpError("bad header line %r" % ln)
        k, v = ln.split(":", 1)
        r.headers.append((k, v.strip()))
    if method == "HEAD" or r.status in (204, 304) or 100 <= r.status < 200:
        r.body = rest
        if rest:
            r.error = "%d bytes after a bodiless response" % len(rest)
        return r
    te = (r.header("Transfer-Encoding") or "").lower()
    cl = r.header("Content-Length")
    if "chunked" in te:
        r.chunked = True
        r.body, r.error = _dechunk(rest)
    elif cl is not None:
        n = int(cl)
        r.body = rest[:n]
        if len(rest) != n:
            r.error = "Content-Length %d but %d bytes arrived" % (n, len(rest))
    else:
        r.body = rest
    return r


def http_request(port, method="GET", path="/", headers=None, body=b"", timeout=30.0,
                 host="localhost", version="HTTP/1.1", send_length=None):
    """One request on a fresh connection (Connection: close); reads to EOF within timeout.
    headers: list of (name, value) pairs sent in order. send_length: force/skip Content-Length
    (default: sent when there is a body or the method usually has one)."""
    if isinstance(body, str):
        body = body.encode()
    hdrs = [("Host", host)]
    hdrs += list(headers or [])
    if not any(k.lower() == "connection" for k, _ in hdrs):
        hdrs.append(("Connection", "close"))
    if send_length is None:
        send_length = bool(body) or method in ("POST", "PUT", "PATCH")
    if send_length and not any(k.lower() == "content-length" for k, _ in hdrs):
        hdrs.append(("Content-Length", str(len(body))))
    req = ("%s %s %s\r\n" % (method, path, version)).encode("latin-1")
    for k, v in hdrs:
        req += ("%s: %s\r\n" % (k, v)).encode("latin-1")
    req += b"\r\n" + body
    dl = Deadline(timeout)
    t0 = time.monotonic()
    s = socket.create_connection((LOOPBACK, port), timeout=min(timeout, 10))
    try:
        s.settimeout(dl.left())
        s.sendall(req)
        raw = _recv_all(s, dl)
    finally:
        s.close()
    r = parse_http_response(raw, method)
    r.elapsed = time.monotonic() - t0
    return r


# --------------------------------------------------------------------------------------------
# FastCGI client

FCGI_BEGIN_REQUEST = 1
FCGI_ABORT_REQUEST = 2
FCGI_END_REQUEST = 3
FCGI_PARAMS = 4
FCGI_STDIN = 5
FCGI_STDOUT = 6
FCGI_STDERR = 7
FCGI_DATA = 8
FCGI_GET_VALUES = 9
FCGI_GET_VALUES_RESULT = 10
FCGI_UNKNOWN_TYPE = 11
FCGI_RESPONDER = 1
FCGI_KEEP_CONN = 1
FCGI_REQUEST_COMPLETE = 0
FCGI_CANT_MPX_CONN = 1
FCGI_OVERLOADED = 2
FCGI_UNKNOWN_ROLE = 3
FCGI_TYPE_NAMES = {1: "BEGIN_REQUEST", 2: "ABORT_REQUEST", 3: "END_REQUEST", 4: "PARAMS",
                   5: "STDIN", 6: "STDOUT", 7: "STDERR", 8: "DATA", 9: "GET_VALUES",
                   10: "GET_VALUES_RESULT", 11: "UNKNOWN_TYPE"}


def fcgi_record(rtype, req_id, content=b"", padding=None, version=1):
    if len(content) > 65535:
        raise ValueError("record content over 65535 bytes")
    if padding is None:
        padding = (-len(content)) % 8
    return (struct.pack("!BBHHBx", version, rtype, req_id, len(content), padding) + content
            + b"\0" * padding)


def fcgi_nv(name, value):
    if isinstance(name, str):
        name = name.encode("utf-8", "surrogateescape")
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogateescape")

    def ln(n):
        return struct.pack("!B", n) if n < 128 else struct.pack("!I", n | 0x80000000)

    return ln(len(name)) + ln(len(value)) + name + value


def fcgi_stream(rtype, req_id, data, terminate=True, chunk=65535):
    out = []
    for i in range(0, len(data), chunk):
        out.append(fcgi_record(rtype, req_id, data[i:i + chunk]))
    if terminate:
        out.append(fcgi_record(rtype, req_id, b""))
    return b"".join(out)


def fcgi_params_bytes(req_id, params, terminate=True):
    """PARAMS records holding whole name-value pairs (php-fpm, like nginx, never splits a pair
    across records; a single pair over 65535 bytes is split, as the spec allows)."""
    items = params.items() if isinstance(params, dict) else params
    out = []
    cur = b""
    for k, v in items:
        nv = fcgi_nv(k, v)
        if len(cur) + len(nv) > 65535 and cur:
            out.append(fcgi_record(FCGI_PARAMS, req_id, cur))
            cur = b""
        if len(nv) > 65535:
            out.append(fcgi_stream(FCGI_PARAMS, req_id, nv, terminate=False))
            continue
        cur += nv
    if cur:
        out.append(fcgi_record(FCGI_PARAMS, req_id, cur))
    if terminate:
        out.append(fcgi_record(FCGI_PARAMS, req_id, b""))
    return b"".join(out)


def fcgi_nv_parse(content):
    out = []
    pos = 0

    def rdlen(p):
        b = content[p]
        if b < 128:
            return b, p + 1
        return struct.unpack("!I", content[p:p + 4])[0] & 0x7FFFFFFF, p + 4

    while pos < len(content):
        nl, pos = rdlen(pos)
        vl, pos = rdlen(pos)
        name = content[pos:pos + nl]
        pos += nl
        value = content[pos:pos + vl]
        pos += vl
        out.append((name.decode("latin-1"), value.decode("latin-1")))
    return out


class FcgiRecord:
    __slots__ = ("version", "type", "req_id", "content")

    def __init__(self, version, rtype, req_id, content):
        self.version, self.type, self.req_id, self.content = version, rtype, req_id, content

    def __repr__(self):
        return "<%s id=%d %d bytes>" % (FCGI_TYPE_NAMES.get(self.type, self.type), self.req_id,
                                        len(self.content))

    def end_request(self):
        """(app_status, protocol_status) of an END_REQUEST record."""
        app, proto = struct.unpack("!IB", self.content[:5])
        return app, proto


class FcgiResult:
    def __init__(self):
        self.stdout = b""
        self.stderr = b""
        self.app_status = None
        self.protocol_status = None
        self.ended = False      # END_REQUEST seen
        self.eof = False        # the peer closed the connection
        self.records = []
        self.elapsed = 0.0

    def cgi(self):
        return parse_cgi(self.stdout)

    def __repr__(self):
        return ("<FcgiResult ended=%s eof=%s proto=%s app=%s stdout=%d stderr=%d>"
                % (self.ended, self.eof, self.protocol_status, self.app_status, len(self.stdout),
                   len(self.stderr)))


class _SocketConn:
    """A client connection on self.sock, usable in a with-block that closes it."""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


class FcgiConn(_SocketConn):
    """A FastCGI client connection (we are the web server side)."""

    def __init__(self, port, host=LOOPBACK, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.closed = False

    def send(self, data):
        self.sock.sendall(data)

    def begin(self, req_id=1, keep_conn=False, role=FCGI_RESPONDER):
        self.send(fcgi_record(FCGI_BEGIN_REQUEST, req_id,
                              struct.pack("!HB5x", role, FCGI_KEEP_CONN if keep_conn else 0)))

    def params(self, req_id, params, terminate=True):
        self.send(fcgi_params_bytes(req_id, params, terminate))

    def stdin(self, req_id, data=b"", terminate=True):
        self.send(fcgi_stream(FCGI_STDIN, req_id, data, terminate))

    def abort(self, req_id):
        self.send(fcgi_record(FCGI_ABORT_REQUEST, req_id))

    def get_values(self, names=("FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS"),
                   timeout=5.0):
        """Send GET_VALUES and return the GET_VALUES_RESULT pairs as a dict (None on EOF)."""
        self.send(fcgi_record(FCGI_GET_VALUES, 0, b"".join(fcgi_nv(n, "") for n in names)))
        dl = Deadline(timeout)
        while True:
            rec = self.read_record(dl.left())
            if rec is None:
                return None
            if rec.type == FCGI_GET_VALUES_RESULT:
                return dict(fcgi_nv_parse(rec.content))

    def read_record(self, timeout=10.0):
        """The next record, None on EOF; raises socket.timeout when nothing complete arrives."""
        dl = Deadline(timeout)
        while True:
            if len(self.buf) >= 8:
                ver, rtype, rid, clen, plen = struct.unpack("!BBHHB", self.buf[:7])
                total = 8 + clen + plen
                if len(self.buf) >= total:
                    rec = FcgiRecord(ver, rtype, rid, self.buf[8:8 + clen])
                    self.buf = self.buf[total:]
                    return rec
            if self.closed:
                return None
            left = dl.left()
            if left <= 0:
                raise socket.timeout("no complete FastCGI record within %.1fs" % timeout)
            self.sock.settimeout(left)
            try:
                b = self.sock.recv(1 << 16)
            except socket.timeout:
                raise socket.timeout("no complete FastCGI record within %.1fs" % timeout)
            except ConnectionResetError:
                b = b""
            if not b:
                self.closed = True
                if len(self.buf) < 8:
                    return None
            self.buf += b

    def read_response(self, req_id=1, timeout=10.0, keep_records=True):
        """Collect records for req_id until its END_REQUEST or EOF. Raises socket.timeout."""
        res = FcgiResult()
        dl = Deadline(timeout)
        t0 = time.monotonic()
        out, err = [], []
        while True:
            rec = self.read_record(dl.left())
            if rec is None:
                res.eof = True
                break
            if keep_records:
                res.records.append(rec)
            if rec.req_id != req_id:
                continue
            if rec.type == FCGI_STDOUT:
                out.append(rec.content)
            elif rec.type == FCGI_STDERR:
                err.append(rec.content)
            elif rec.type == FCGI_END_REQUEST:
                res.ended = True
                res.app_status, res.protocol_status = rec.end_request()
                break
        res.stdout = b"".join(out)
        res.stderr = b"".join(err)
        res.elapsed = time.monotonic() - t0
        return res

    def request_start(self, params, stdin=b"", req_id=1, keep_conn=False):
        """Send a whole request in one write; read the answer with read_record/read_response."""
        if isinstance(stdin, str):
            stdin = stdin.encode()
        self.send(fcgi_record(FCGI_BEGIN_REQUEST, req_id,
                              struct.pack("!HB5x", FCGI_RESPONDER,
                                          FCGI_KEEP_CONN if keep_conn else 0))
                  + fcgi_params_bytes(req_id, params) + fcgi_stream(FCGI_STDIN, req_id, stdin))

    def request(self, params, stdin=b"", req_id=1, keep_conn=False, timeout=10.0):
        if isinstance(stdin, str):
            stdin = stdin.encode()
        # one write for the whole request, as a web server does
        self.send(fcgi_record(FCGI_BEGIN_REQUEST, req_id,
                              struct.pack("!HB5x", FCGI_RESPONDER,
                                          FCGI_KEEP_CONN if keep_conn else 0))
                  + fcgi_params_bytes(req_id, params) + fcgi_stream(FCGI_STDIN, req_id, stdin))
        return self.read_response(req_id, timeout)

    def wait_closed(self, timeout=5.0):
        """True when the peer closes the connection within timeout (data before it is skipped)."""
        dl = Deadline(timeout)
        while not dl.expired():
            try:
                rec = self.read_record(dl.left())
            except socket.timeout:
                return False
            except OSError:
                return True
            if rec is None:
                return True
        return False



def fcgi_request(port, params, stdin=b"", timeout=10.0):
    """One request on a fresh, non-keep-conn connection."""
    with FcgiConn(port, timeout=timeout) as c:
        return c.request(params, stdin, timeout=timeout)


def parse_cgi(stdout):
    """A CGI response (as a FastCGI responder writes it): (status, [(name, value)], body)."""
    sep = stdout.find(b"\r\n\r\n")
    seplen = 4
    alt = stdout.find(b"\n\n")
    if sep < 0 or (0 <= alt < sep):
        sep, seplen = alt, 2
    if sep < 0:
        return None, [], stdout
    head = stdout[:sep].decode("iso-8859-1")
    body = stdout[sep + seplen:]
    headers = []
    status = 200
    for ln in re.split(r"\r?\n", head):
        if ":" not in ln:
            continue
        k, v = ln.split(":", 1)
        v = v.strip()
        if k.lower() == "status":
            try:
                status = int(v.split()[0])
            except (ValueError, IndexError):
                status = None
        headers.append((k, v))
    return status, headers, body


def php_params(docroot, script, query="", method="GET", path_info=None, content_type="",
               content_length=None, headers=None, server_port=80, extra=None):
    """FastCGI params the way nginx with Debian's fastcgi_params sends them."""
    uri = script + (path_info or "")
    p = [
        ("SCRIPT_FILENAME", docroot + script),
        ("QUERY_STRING", query),
        ("REQUEST_METHOD", method),
        ("CONTENT_TYPE", content_type),
        ("CONTENT_LENGTH", "" if content_length is None else str(content_length)),
        ("SCRIPT_NAME", script),
        ("REQUEST_URI", uri + ("?" + query if query else "")),
        ("DOCUMENT_URI", uri),
        ("DOCUMENT_ROOT", docroot),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REQUEST_SCHEME", "http"),
        ("GATEWAY_INTERFACE", "CGI/1.1"),
        ("SERVER_SOFTWARE", "phpmgr-test"),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("REMOTE_PORT", "40000"),
        ("SERVER_ADDR", "127.0.0.1"),
        ("SERVER_PORT", str(server_port)),
        ("SERVER_NAME", "localhost"),
        ("REDIRECT_STATUS", "200"),
        ("HTTP_HOST", "localhost"),
    ]
    if path_info is not None:
        p.append(("PATH_INFO", path_info))
    for k, v in (headers or []):
        p.append(("HTTP_" + k.upper().replace("-", "_"), v))
    for k, v in (extra or []):
        p.append((k, v))
    return p


# --------------------------------------------------------------------------------------------
# /proc

def proc_stat(pid):
    """(state, ppid, starttime) or None when the process is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            s = f.read().decode("latin-1")
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return None
    rest = s[s.rfind(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[19])


def proc_children(ppid):
    """Pids whose parent is ppid (zombies included; see proc_alive)."""
    out = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for n in names:
        if not n.isdigit():
            continue
        st = proc_stat(int(n))
        if st and st[1] == ppid:
            out.append(int(n))
    return sorted(out)


def proc_live_children(ppid):
    return [p for p in proc_children(ppid) if (proc_stat(p) or ("Z",))[0] not in ("Z", "X")]


def proc_identity(pid):
    st = proc_stat(pid)
    return (pid, st[2]) if st else None


def proc_alive(identity):
    """True when the process (pid, starttime) still exists and is not a zombie (pid reuse safe)."""
    pid, start = identity
    st = proc_stat(pid)
    return bool(st) and st[2] == start and st[0] not in ("Z", "X")


# --------------------------------------------------------------------------------------------
# threads

def run_parallel(fn, args_list, threads=8, timeout=60.0):
    """Call fn(*args) for each args tuple on up to `threads` threads. Returns a list of
    (ok, value_or_exception) in input order; entries still running at the deadline are
    (False, TimeoutError)."""
    results = [(False, TimeoutError("not finished"))] * len(args_list)
    idx = [0]
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                i = idx[0]
                if i >= len(args_list):
                    return
                idx[0] += 1
            try:
                results[i] = (True, fn(*args_list[i]))
            except Exception as e:  # noqa: BLE001
                results[i] = (False, e)

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(min(threads, len(args_list)))]
    for t in ts:
        t.start()
    dl = Deadline(timeout)
    for t in ts:
        t.join(dl.left())
    return results


def phpmgr_available():
    return os.path.isfile(PHPMGR_BIN) and os.access(PHPMGR_BIN, os.X_OK)


def start_servers(rep, servers, timeout=20):
    """Start every server; the first that fails is reported as start-LABEL: False."""
    for s in servers:
        try:
            s.start(timeout=timeout)
        except StartError as e:
            rep.fail("start-" + s.label, str(e))
            return False
    return True



# --------------------------------------------------------------------------------------------
# phpmgr serving HTTP directly, and a persistent raw HTTP/1.x client connection

class PhpmgrHttpServer(PhpmgrServer):
    """phpmgr with `http.listen` on fresh loopback ports (http_listeners of them) besides its
    FastCGI listen; http_lines are more pool lines (http.document_root, http.* ...). All listeners
    must accept before the server counts as ready. After start(): self.http_port (the first)
    and self.http_ports."""

    def __init__(self, tmp, label="phpmgr-http", http_lines="", http_listeners=1, **kw):
        super().__init__(tmp, label, **kw)
        self.http_lines = http_lines
        self.http_listeners = http_listeners
        self.http_ports = []
        self.http_port = None

    def config_text(self):
        listen = "".join("http.listen = %s:%d\n" % (LOOPBACK, p) for p in self.http_ports)
        return super().config_text() + listen + self.http_lines.strip() + "\n"

    def write_config(self):
        self.http_ports = [free_port() for _ in range(self.http_listeners)]
        self.http_port = self.http_ports[0]
        super().write_config()
        self.ports = [self.port] + self.http_ports


def build_request(method="GET", path="/", headers=None, body=b"", version="HTTP/1.1",
                  host="localhost", content_length=None):
    """Request bytes: Host first (unless host is None), headers in order, Content-Length when
    there is a body (or content_length is given; False suppresses it)."""
    if isinstance(body, str):
        body = body.encode()
    hdrs = [("Host", host)] if host is not None else []
    hdrs += list(headers or [])
    if content_length is None:
        content_length = len(body) if body or method in ("POST", "PUT", "PATCH") else False
    if content_length is not False and not any(k.lower() in ("content-length", "transfer-encoding")
                                               for k, _ in hdrs):
        hdrs.append(("Content-Length", str(content_length)))
    out = ("%s %s %s\r\n" % (method, path, version)).encode("latin-1")
    for k, v in hdrs:
        out += ("%s: %s\r\n" % (k, v)).encode("latin-1")
    return out + b"\r\n" + body


class HttpConn(_SocketConn):
    """One client connection that can carry several requests (keep-alive, pipelining) and tells
    exactly how each response was framed and whether the server closed the connection.

    read_response() returns an HttpResponse with extra attributes: interim (the 1xx responses
    before it, as (status, headers)), framing ("length", "chunked", "close", "none"), raw_head
    (bytes); or None when the server closed the connection before sending a byte of it."""

    def __init__(self, port, host=LOOPBACK, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False
        self.reset = False
        self.extra = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def request(self, method="GET", path="/", headers=None, body=b"", version="HTTP/1.1",
                host="localhost", timeout=10.0, **kw):
        self.send(build_request(method, path, headers, body, version, host, **kw))
        return self.read_response(method, timeout)

    def _fill(self, dl):
        """Receive more bytes; False at EOF (or reset)."""
        if self.eof:
            return False
        left = dl.left()
        if left <= 0:
            raise HttpError("timed out (%d bytes buffered: %r)" % (len(self.buf), self.buf[:200]))
        self.sock.settimeout(left)
        try:
            b = self.sock.recv(1 << 16)
        except socket.timeout:
            raise HttpError("timed out (%d bytes buffered: %r)" % (len(self.buf), self.buf[:200]))
        except ConnectionResetError:
            self.reset = True
            b = b""
        if not b:
            self.eof = True
            return False
        self.buf += b
        return True

    def read_head(self, timeout=10.0):
        """(status, reason, version, headers, raw_head) of the next response head, or None on
        EOF before one."""
        dl = Deadline(timeout)
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if not self._fill(dl):
                if self.buf:
                    raise HttpError("connection closed inside a response head: %r"
                                    % self.buf[:300])
                return None
        raw = self.buf[:end + 4]
        self.buf = self.buf[end + 4:]
        lines = raw[:-4].decode("iso-8859-1").split("\r\n")
        m = re.match(r"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
        if not m:
            raise HttpError("bad status line %r" % lines[0])
        hdrs = []
        for ln in lines[1:]:
            if ":" not in ln:
                raise HttpError("bad header line %r" % ln)
            k, v = ln.split(":", 1)
            hdrs.append((k, v.strip()))
        return int(m.group(2)), m.group(3) or "", m.group(1), hdrs, raw

    def read_response(self, method="GET", timeout=10.0):
        dl = Deadline(timeout)
        t0 = time.monotonic()
        interim = []
        while True:
            h = self.read_head(dl.left())
            if h is None:
                return None
            status, reason, version, hdrs, raw = h
            if 100 <= status < 200 and status != 101:
                interim.append((status, hdrs))
                continue
            break
        r = HttpResponse()
        r.status, r.reason, r.version, r.headers = status, reason, version, hdrs
        r.raw_head = raw
        r.interim = interim
        te = (r.header("Transfer-Encoding") or "").lower()
        cl = r.header("Content-Length")
        if method == "HEAD" or status in (204, 304):
            r.framing = "none"
        elif "chunked" in te:
            r.framing = "chunked"
            r.chunked = True
            r.body = self._read_chunked(dl)
        elif cl is not None:
            r.framing = "length"
            n = int(cl)
            while len(self.buf) < n:
                if not self._fill(dl):
                    r.error = "Content-Length %d but the connection closed after %d bytes" % (
                        n, len(self.buf))
                    break
            r.body, self.buf = self.buf[:n], self.buf[n:]
        else:
            r.framing = "close"
            while self._fill(dl):
                pass
            r.body, self.buf = self.buf, b""
        r.elapsed = time.monotonic() - t0
        return r

    def _read_chunked(self, dl):
        out = []
        while True:
            while b"\r\n" not in self.buf:
                if not self._fill(dl):
                    raise HttpError("connection closed inside a chunk size line")
            line, self.buf = self.buf.split(b"\r\n", 1)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise HttpError("bad chunk size line %r" % line[:100])
            if size == 0:
                while True:  # trailers up to the empty line
                    while b"\r\n" not in self.buf:
                        if not self._fill(dl):
                            raise HttpError("connection closed inside the trailer section")
                    t, self.buf = self.buf.split(b"\r\n", 1)
                    if t == b"":
                        return b"".join(out)
            while len(self.buf) < size + 2:
                if not self._fill(dl):
                    raise HttpError("connection closed inside a chunk (%d of %d bytes)"
                                    % (len(self.buf), size))
            if self.buf[size:size + 2] != b"\r\n":
                raise HttpError("chunk not followed by CRLF")
            out.append(self.buf[:size])
            self.buf = self.buf[size + 2:]

    def wait_closed(self, timeout=5.0):
        """True when the server closes (EOF or reset) within timeout; bytes that arrive first
        are kept in self.extra."""
        dl = Deadline(timeout)
        while not self.eof:
            try:
                if not self._fill(dl):
                    break
            except HttpError:
                self.extra = self.buf
                return False
            except OSError:
                self.extra = self.buf
                return True
        self.extra = self.buf
        return True



# --------------------------------------------------------------------------------------------
# differential suites (test_differential.py, test_http_differential.py): the same request to a
# reference (nginx -> php-fpm) and to phpmgr, on the fixtures in tests/fixtures/diff/www

DIFF_DOCROOT = os.path.join(FIXTURES, "diff", "www")
DIFF_REQ_TIMEOUT = 30.0


def diff_pool_setup(tmp):
    """The pool lines every backend of a differential suite runs (the fixtures expect them), and
    the world-writable directory they name as DIFF_STATE: (state_dir, pool_extra)."""
    state = os.path.join(tmp, "state")
    os.mkdir(state)
    os.chmod(state, 0o777)
    pool_extra = "\n".join([
        "env[DIFF_ENV_A] = hello world",
        'env[DIFF_ENV_B] = "quoted value"',
        "env[DIFF_STATE] = " + state,
        "php_value[upload_max_filesize] = 1M",
        "php_admin_value[max_file_uploads] = 5",
        "php_flag[short_open_tag] = on",
    ])
    return state, pool_extra


class DiffSide:
    """One side of a comparison: an HTTP port (an nginx server block, or phpmgr's http.listen)
    with a label for the reports. Each suite adds its normalisation."""

    def __init__(self, label, port):
        self.label = label
        self.port = port

    def req(self, method="GET", path="/", headers=(), body=b"", **kw):
        kw.setdefault("timeout", DIFF_REQ_TIMEOUT)
        return http_request(self.port, method, path, list(headers), body, **kw)


def diff_health(side):
    """None when side still answers a trivial PHP request (slow.php), else why not."""
    try:
        r = side.req("GET", "/slow.php?n=7&ms=0", timeout=8)
    except (OSError, HttpError) as e:
        return "%s: %s" % (type(e).__name__, e)
    if r.status != 200 or not r.body.startswith(b"request 7 "):
        return "status %d body %r" % (r.status, r.body[:200])
    return None


def body_has(*needles, status=None):
    """An expect check: the body (of a snapshot with .body and .status) holds every needle, and
    the status starts with status when given; None, or what is wrong."""
    def chk(v):
        for n in needles:
            if isinstance(n, str):
                n = n.encode()
            if n not in v.body:
                return "body lacks %r; body starts %r" % (n, v.body[:300])
        if status is not None and not v.status.startswith(str(status)):
            return "status %s, expected %s" % (v.status, status)
        return None
    return chk


def multipart(parts, boundary, close=True):
    """A multipart/form-data body. parts: (name, value) for fields or (name, filename,
    content_type, data) for files (no Content-Type line when content_type is empty); close=False
    leaves out the final boundary."""
    out = []
    for p in parts:
        out.append(b"--" + boundary.encode() + b"\r\n")
        if len(p) == 2:
            out.append(b'Content-Disposition: form-data; name="%s"\r\n\r\n' % p[0].encode())
            out.append(p[1] if isinstance(p[1], bytes) else p[1].encode())
        else:
            name, fname, ctype, data = p
            out.append(b'Content-Disposition: form-data; name="%s"; filename="%s"\r\n'
                       % (name.encode(), fname.encode()))
            if ctype:
                out.append(b"Content-Type: %s\r\n" % ctype.encode())
            out.append(b"\r\n" + data)
        out.append(b"\r\n")
    if close:
        out.append(b"--" + boundary.encode() + b"--\r\n")
    return b"".join(out)


def pattern_bytes(n, seed):
    """n bytes of a reproducible binary pattern (every byte value occurs)."""
    return bytes((i * 31 + seed * 7 + (i >> 8)) & 0xFF for i in range(n))


def describe_body_diff(a, b, a_label, b_label, context=1, max_lines=40):
    """How body b differs from body a, as report lines: both sizes and hashes, then for text a
    unified line diff (context lines around each change, at most max_lines lines, indented), for
    binary data the first differing byte."""
    out = ["body: %s %d bytes sha256 %s, %s %d bytes sha256 %s"
           % (a_label, len(a), hashlib.sha256(a).hexdigest()[:12], b_label, len(b),
              hashlib.sha256(b).hexdigest()[:12])]
    try:
        ta, tb = a.decode("utf-8"), b.decode("utf-8")
        text = len(a) < 65536 and len(b) < 65536
    except UnicodeDecodeError:
        text = False
    if text:
        d = [ln for ln in difflib.unified_diff(ta.splitlines(), tb.splitlines(), a_label, b_label,
                                               lineterm="", n=context) if not ln.startswith("@@")]
        out += ["  " + ln for ln in d[:max_lines]]
        if len(d) > max_lines:
            out.append("  ... %d more diff lines" % (len(d) - max_lines))
    else:
        i = 0
        n = min(len(a), len(b))
        while i < n and a[i] == b[i]:
            i += 1
        out.append("first difference at byte %d: %s %r / %s %r"
                   % (i, a_label, a[max(0, i - 20):i + 40], b_label, b[max(0, i - 20):i + 40]))
    return out
