#!/usr/bin/python3
"""php-fpm's command line (issue 15), differential: phpmgr run with php-fpm's flags and no command
against /usr/sbin/php-fpm8.2 with the same ones. Log lines are compared after their timestamp;
phpmgr's own "parsed but not acted on yet" warnings are dropped first (php-fpm has no such line).
Every config sets error_log inside a temp dir: php-fpm -t also writes its lines there.

  tt-debian-conf              -tt on Debian's php-fpm.conf (phpmgr on the real file, php-fpm on a
                              copy whose error_log is moved to a temp dir; that line mapped back)
  tt-all-keys                 every php-fpm key set (env[], php_value/php_admin_value/flags,
                              access.suppress_path[], $pool, prefix, chroot $prefix, status_listen)
  tt-pm-kinds                 dynamic without start_servers (php-fpm's NOTICE), ondemand, static
  tt-prefix                   -p PREFIX: relative pid, error_log, include, listen, access.log,
                              slowlog, chdir, php_admin_value paths, pool prefix; -g PID
  tt-relative-no-prefix       relative paths without -p: under php-fpm's /usr and /var
  tt-flags-and-empty          -F / -D (last wins) on daemonize, empty values, log_level = error
                              (nothing printed), WATCHDOG_USEC
  t-unknown-user-group        user, group, listen.owner, listen.group that do not exist: same
                              ERROR lines, exit 78; with -R too
  t-numeric-ids               numeric user, group, listen.owner, listen.group accepted
  t-user-not-defined          as root without -R, a pool with no user: php-fpm's ALERT, exit 78
  v-banner                    -v: php-fpm's lines (built date aside), OPcache's line from php.ini,
                              then "phpmgr X.Y.Z"; -n -v without OPcache; phpmgr version the same
  m-modules                   -m: the same module lists
  usage-bad-options           --bogus, -Z, -y with no file, an extra argument: php-fpm's usage on
                              stdout, nothing on stderr, exit 64; -h, -?, --help: exit 0
  command-mode                phpmgr help (phpmgr's usage, exit 0); phpmgr test -t -c FILE dumps

CLI_ONLY=regex runs the matching cases. PHPMGR_BIN and PHP_FPM_BIN select the binaries.
"""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

ONLY = os.environ.get("CLI_ONLY")
DEBIAN_CONF = "/etc/php/8.2/fpm/php-fpm.conf"
TS_RE = re.compile(r"^\[\d\d-[A-Z][a-z][a-z]-\d{4} \d\d:\d\d:\d\d\] ")
NOT_ACTED = re.compile(r"^WARNING: .*: parsed but not acted on yet$")
BUILT_RE = re.compile(r" \(built: [^)]*\)")


class Ctx:
    pass


def env_clean(extra=None):
    e = {k: v for k, v in os.environ.items()
         if k not in ("WATCHDOG_USEC", "NOTIFY_SOCKET", "PHPMGR_CONFIG")}
    e.update(extra or {})
    return e


SAN_DIR = None  # main(): the temp dir where ASan reports of phpmgr runs go
SAN_SEEN = {}


def run(argv, env=None, timeout=30):
    e = env_clean(env)
    san = H.ASAN and argv[0] == H.PHPMGR_BIN
    if san:  # reports to files (checked below), not into the stderr compared with php-fpm's
        e = H.sanitizer_env(os.path.join(SAN_DIR, "cli.san"), e)
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                       env=e)
    if san:
        H.check_sanitizer_files("cli", H.sanitizer_files(os.path.join(SAN_DIR, "cli.san")),
                                SAN_SEEN)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def log_lines(text):
    """Log lines without their timestamp, phpmgr's own not-acted-on warnings dropped."""
    out = []
    for ln in text.split("\n"):
        ln = TS_RE.sub("", ln)
        if NOT_ACTED.match(ln):
            continue
        out.append(ln)
    return out


def both(args, env=None, fpm_args=None):
    """Run phpmgr and php-fpm with the same flags: ((rc, out, err) of phpmgr, of php-fpm)."""
    return (run([H.PHPMGR_BIN] + args, env),
            run([H.PHP_FPM_BIN] + (fpm_args if fpm_args is not None else args), env))


def compare(args, env=None, fpm_args=None, map_fpm=None, expect_dump=True):
    """None when exit status, stdout and the log lines (stderr) are the same, else a diff."""
    (rc1, out1, err1), (rc2, out2, err2) = both(args, env, fpm_args)
    a, b = log_lines(err1), log_lines(err2)
    if map_fpm:
        b = [map_fpm(x) for x in b]
    problems = []
    if rc1 != rc2:
        problems.append("exit status: phpmgr %d, php-fpm %d" % (rc1, rc2))
    if out1 != out2:
        problems.append("stdout differs:\n" + "\n".join(H.difflib.unified_diff(
            out2.split("\n"), out1.split("\n"), "php-fpm", "phpmgr", lineterm="", n=1)))
    if a != b:
        problems.append("log lines differ (- php-fpm, + phpmgr):\n" + "\n".join(
            list(H.difflib.unified_diff(b, a, "php-fpm", "phpmgr", lineterm="", n=1))[:80]))
    if problems:
        return "phpmgr %s\n%s" % (" ".join(args), "\n".join(problems))
    if expect_dump and rc1 == 0 and "-tt" in args and not any("\tpm = " in x for x in a):
        return "no dump in the output:\n" + err1[-2000:]
    return None


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def need_root():
    if os.geteuid() != 0:
        raise H.Skip("php-fpm checks users and groups this way only as root")


# --------------------------------------------------------------------------------------------
# -tt

def t_tt_debian(c):
    if not os.path.exists(DEBIAN_CONF):
        raise H.Skip(DEBIAN_CONF + " not installed")
    with open(DEBIAN_CONF) as f:
        text = f.read()
    m = re.search(r"^error_log\s*=\s*(\S+)\s*$", text, re.M)
    if not m:
        return "no error_log line in " + DEBIAN_CONF
    real_log = m.group(1)
    moved_log = os.path.join(c.tmp, "debian-fpm.log")
    copy = write(os.path.join(c.tmp, "debian", "php-fpm.conf"),
                 text.replace(m.group(0), "error_log = " + moved_log))

    def back(line):
        return (line.replace("error_log = " + moved_log, "error_log = " + real_log)
                .replace(copy, DEBIAN_CONF))

    return compare(["-tt", "-y", DEBIAN_CONF], fpm_args=["-tt", "-y", copy], map_fpm=back)


def all_keys_conf(c):
    d = os.path.join(c.tmp, "all")
    for sub in ("log", "root/sub", "chdir"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    return write(os.path.join(d, "all.conf"), """\
[global]
pid = {d}/fpm.pid
error_log = {d}/error.log
syslog.ident = myident
syslog.facility = local3
log_buffering = no
log_level = notice
log_limit = 4096
emergency_restart_threshold = 10
emergency_restart_interval = 1m
process_control_timeout = 10s
process.max = 128
process.priority = -5
daemonize = no
rlimit_files = 1024
rlimit_core = unlimited
events.mechanism = epoll
systemd_interval = 20

[www]
prefix = {d}
user = www-data
group = www-data
listen = www.sock
listen.backlog = 100
listen.owner = www-data
listen.group = www-data
listen.mode = 0666
listen.acl_users = www-data
listen.acl_groups = www-data
listen.allowed_clients = 127.0.0.1, ::1
process.priority = 5
process.dumpable = yes
pm = dynamic
pm.max_children = 10
pm.start_servers = 3
pm.min_spare_servers = 2
pm.max_spare_servers = 5
pm.max_spawn_rate = 8
pm.process_idle_timeout = 20s
pm.max_requests = 500
pm.status_path = /status
pm.status_listen = 127.0.0.1:{p1}
ping.path = /ping
ping.response = ok
access.log = log/$pool.access.log
access.format = "%R - %u %t \\"%m %r%Q%q\\" %s %f %{{mili}}d %{{kilo}}M %C%%"
access.suppress_path[] = /ping
access.suppress_path[] = /health
slowlog = log/$pool.slow.log
request_slowlog_timeout = 5s
request_slowlog_trace_depth = 10
request_terminate_timeout = 1h
request_terminate_timeout_track_finished = yes
rlimit_files = 2048
rlimit_core = 0
chroot = $prefix/root
chdir = /sub
catch_workers_output = yes
decorate_workers_output = no
clear_env = no
security.limit_extensions = .php  .php7 .html
env[HOSTNAME] = $HOSTNAME
env[PATH] = /usr/local/bin:/usr/bin:/bin
env[TMP] = /tmp
env[POOL] = $pool
php_flag[display_errors] = off
php_value[memory_limit] = 64M
php_admin_value[error_log] = log/php_errors.log
php_admin_flag[log_errors] = on
php_admin_value[error_reporting] = E_ALL & ~E_NOTICE
php_value[session.save_path] = "/tmp/sess"
php_value[memory_limit] = 32M

[second]
user = www-data
listen = {d}/second.sock
pm = static
pm.max_children = 2
pm.status_listen = {d}/status.sock
ping.response = unused
access.format = %R
php_admin_value[error_log] = log/second.log
php_admin_value[sendmail_path] = /usr/sbin/sendmail -t -i
env[A] = a
env[B] = $A
""".format(d=d, p1=H.free_port()))


def t_tt_all_keys(c):
    return compare(["-tt", "-y", all_keys_conf(c)])


def t_tt_pm_kinds(c):
    d = os.path.join(c.tmp, "pm")
    conf = write(os.path.join(d, "pm.conf"), """\
[global]
error_log = {d}/error.log
[dyn]
user = www-data
listen = 127.0.0.1:{p1}
pm = dynamic
pm.max_children = 9
pm.min_spare_servers = 2
pm.max_spare_servers = 7
[ond]
user = www-data
listen = 127.0.0.1:{p2}
pm = ondemand
pm.max_children = 4
pm.start_servers = 2
pm.process_idle_timeout = 3m
[sta]
user = www-data
listen = 127.0.0.1:{p3}
pm = static
pm.max_children = 2
pm.max_spawn_rate = 4
""".format(d=d, p1=H.free_port(), p2=H.free_port(), p3=H.free_port()))
    err = compare(["-tt", "-y", conf])
    if err:
        return err
    _, (_, _, fpm_err) = both(["-tt", "-y", conf])
    if "pm.start_servers is not set. It's been set to 4." not in fpm_err:
        return "php-fpm printed no start_servers notice: the case tests nothing"
    return None


def t_tt_prefix(c):
    p = os.path.join(c.tmp, "prefix")
    for sub in ("etc/pool.d", "log", "run", "pools/a/root", "pools/a/log", "work"):
        os.makedirs(os.path.join(p, sub), exist_ok=True)
    write(os.path.join(p, "etc/php-fpm.conf"), """\
[global]
pid = run/fpm.pid
error_log = log/error.log
include = etc/pool.d/*.conf
[a]
prefix = pools/a
user = www-data
listen = a.sock
pm = static
pm.max_children = 1
access.log = log/access.log
slowlog = log/slow.log
request_slowlog_timeout = 3
chroot = $prefix/root
chdir = /
php_admin_value[error_log] = err.log
php_value[extension_dir] = ext
[b]
user = www-data
listen = b.sock
pm = ondemand
pm.max_children = 1
chdir = work
php_value[error_log] = log/b-php.log
php_admin_value[error_log] = syslog
php_value[memory_limit] = 16M
""")
    write(os.path.join(p, "etc/pool.d/c.conf"),
          "[c]\nuser = www-data\nlisten = 127.0.0.1:%d\npm = static\npm.max_children = 1\n"
          "env[POOL] = $pool\n" % H.free_port())
    for args in (["-tt", "-p", p], ["-tt", "-p", p + "/", "-y", p + "/etc/php-fpm.conf"]):
        err = compare(args)
        if err:
            return err
    # -g: the pid file unless the configuration names one (php-fpm's rule)
    err = compare(["-tt", "-p", p, "-g", "/tmp/elsewhere.pid"])
    if err:
        return err
    conf2 = write(os.path.join(p, "etc/nopid.conf"),
                  "[global]\nerror_log = log/error2.log\n[x]\nuser = www-data\n"
                  "listen = x.sock\npm = static\npm.max_children = 1\n")
    for g in ("/tmp/explicit.pid", "run/relative.pid"):
        err = compare(["-tt", "-p", p, "-g", g, "-y", conf2])
        if err:
            return err
    return None


def t_tt_relative_no_prefix(c):
    d = os.path.join(c.tmp, "rel")
    # php-fpm -t creates access.log, slowlog (with a timeout) and error_log: none relative here
    conf = write(os.path.join(d, "rel.conf"), """\
[global]
pid = run/rel.pid
error_log = {d}/error.log
[rel]
user = www-data
listen = rel.sock
pm = static
pm.max_children = 1
chdir = bin
php_value[error_log] = rel-php.log
php_admin_value[sendmail_path] = sbin/sendmail
php_admin_value[error_log] = syslog
pm.status_listen = status.sock
""".format(d=d))
    return compare(["-tt", "-y", conf])


def t_tt_flags_and_empty(c):
    d = os.path.join(c.tmp, "flags")
    conf = write(os.path.join(d, "flags.conf"), """\
[global]
error_log = {d}/error.log
daemonize = yes
systemd_interval = 3
[www]
user = www-data
listen = 127.0.0.1:{p1}
pm = static
pm.max_children = 1
listen.allowed_clients =
security.limit_extensions =
ping.path =
chdir =
""".format(d=d, p1=H.free_port()))
    for args in (["-tt", "-F"], ["-tt", "-D"], ["-tt", "-F", "-D"], ["-tt", "-D", "-F"],
                 ["-t", "-t"], ["-t"]):
        err = compare(args + ["-y", conf])
        if err:
            return err
    err = compare(["-tt", "-y", conf], env={"WATCHDOG_USEC": "30000000"})
    if err:
        return "with WATCHDOG_USEC: " + err
    quiet = write(os.path.join(d, "quiet.conf"), open(conf).read().replace(
        "daemonize = yes", "log_level = error"))
    err = compare(["-tt", "-y", quiet], expect_dump=False)
    if err:
        return err
    rc, out, err = run([H.PHPMGR_BIN, "-tt", "-y", quiet])
    if rc != 0 or out or err:
        return "log_level = error: exit %d, output %r %r (php-fpm prints nothing)" % (rc, out, err)
    return None


# --------------------------------------------------------------------------------------------
# -t: users and groups

def ids_conf(c, name, lines):
    return write(os.path.join(c.tmp, "ids", name + ".conf"),
                 "[global]\nerror_log = %s/ids/%s.log\n[www]\n%s\nlisten = 127.0.0.1:%d\n"
                 "pm = static\npm.max_children = 1\n"
                 % (c.tmp, name, "\n".join(lines), H.free_port()))


def t_unknown_user_group(c):
    need_root()
    cases = {
        "user": ["user = no-such-user-phpmgr"],
        "group": ["user = www-data", "group = no-such-group-phpmgr"],
        "listen-owner": ["user = www-data", "listen.owner = no-such-user-phpmgr"],
        "listen-group": ["user = www-data", "listen.group = no-such-group-phpmgr"],
        "user-and-group": ["user = no-such-user-phpmgr", "group = no-such-group-phpmgr"],
    }
    for name, lines in cases.items():
        conf = ids_conf(c, name, lines)
        for extra in ([], ["-R"]):
            (rc, _, err), _ = both(["-t"] + extra + ["-y", conf])
            if rc != 78:
                return "%s: phpmgr -t exit %d, want 78\n%s" % (name, rc, err)
            if "cannot get" not in err:
                return "%s: no 'cannot get' line:\n%s" % (name, err)
            problem = compare(["-t"] + extra + ["-y", conf])
            if problem:
                return name + ": " + problem
    return None


def t_numeric_ids(c):
    need_root()
    conf = ids_conf(c, "numeric", ["user = 54321", "group = 54322", "listen.owner = 54323",
                                   "listen.group = 54324"])
    (rc, _, err), _ = both(["-t", "-y", conf])
    if rc != 0:
        return "numeric ids refused: exit %d\n%s" % (rc, err)
    return compare(["-tt", "-y", conf])


def t_user_not_defined(c):
    need_root()
    conf = ids_conf(c, "nouser", ["group = www-data"])
    return compare(["-t", "-y", conf]) or compare(["-t", "-R", "-y", conf])


# --------------------------------------------------------------------------------------------
# -v, -m, usage

# Under ASan (PHPMGR_ASAN=1) -v and -m run only with -n: without it they load php.ini's shared
# extensions, which PHP cannot dlopen under the sanitizer runtime (RTLD_DEEPBIND).
ASAN_NO_INI = ("-v and -m without -n load php.ini's shared extensions (OPcache's banner line), "
               "which the ASan run cannot; checked with -n only")


def t_v_banner(c):
    for flags in ([["-n", "-v"]] if H.ASAN else
                  (["-v"], ["-n", "-v"], ["-d", "opcache.enable=0", "-v"])):
        (rc1, out1, err1), (rc2, out2, err2) = both(flags)
        if rc1 != 0 or rc2 != 0:
            return "%s: exit phpmgr %d, php-fpm %d\n%s" % (flags, rc1, rc2, err1)
        a, b = out1.rstrip("\n").split("\n"), out2.rstrip("\n").split("\n")
        if not re.fullmatch(r"phpmgr \d+\.\d+\.\d+", a[-1]):
            return "%s: last line is not 'phpmgr X.Y.Z': %r" % (flags, a[-1])
        if not BUILT_RE.search(a[0]):
            return "%s: no (built: ...) in %r" % (flags, a[0])
        if [BUILT_RE.sub("", x) for x in a[:-1]] != [BUILT_RE.sub("", x) for x in b]:
            return "%s: lines differ from php-fpm's:\nphpmgr:  %r\nphp-fpm: %r" % (flags, a, b)
        if flags == ["-v"] and not any("Zend OPcache" in x for x in b):
            raise H.Skip("php-fpm8.2 -v shows no OPcache line here (php.ini does not load it)")
        if flags == ["-n", "-v"] and any("OPcache" in x for x in a):
            return "-n -v still shows OPcache: %r" % a
    n = ["-n"] if H.ASAN else []
    rc, out, _ = run([H.PHPMGR_BIN, "version"] + n)
    rc2, out2, _ = run([H.PHPMGR_BIN] + n + ["-v"])
    if rc != 0 or out != out2:
        return "phpmgr version differs from phpmgr -v:\n%r\n%r" % (out, out2)
    if H.ASAN:
        raise H.Skip(ASAN_NO_INI)
    return None


def t_m_modules(c):
    for flags in ([["-n", "-m"]] if H.ASAN else (["-m"], ["-n", "-m"])):
        err = compare(flags)
        if err:
            return err
    if H.ASAN:
        raise H.Skip(ASAN_NO_INI)
    return None


def t_usage(c):
    def fpm_name(text):
        return text.replace(os.path.basename(H.PHP_FPM_BIN), "PROG")

    def mgr_name(text):
        return text.replace(os.path.basename(H.PHPMGR_BIN), "PROG")

    for args, want_rc in ((["--bogus"], 64), (["-Z"], 64), (["-y"], 64), (["-t", "extra"], 64),
                          (["--bogus", "-v"], 64), (["-h"], 0), (["-?"], 0), (["--help"], 0),
                          (["--usage"], 0)):
        (rc1, out1, err1), (rc2, out2, err2) = both(args)
        if rc2 != want_rc:
            return "php-fpm %s: exit %d, expected %d (the case is out of date)" % (args, rc2,
                                                                                  want_rc)
        if rc1 != rc2 or mgr_name(out1) != fpm_name(out2) or err1 != err2:
            return ("phpmgr %s: exit %d (php-fpm %d)\nstdout:\n%s\nstderr:\n%s\nphp-fpm's stdout:\n%s"
                    % (args, rc1, rc2, out1[-1500:], err1[-500:], out2[-1500:]))
        if "Usage: PROG [-n] [-e]" not in mgr_name(out1):
            return "phpmgr %s: no php-fpm usage line:\n%s" % (args, out1[-1000:])
    # an option php-fpm handles before the bad one still wins
    rc, out, _ = run([H.PHPMGR_BIN] + (["-n"] if H.ASAN else []) + ["-v", "--bogus"])
    if rc != 0 or not out.startswith("PHP "):
        return "-v --bogus: exit %d, %r" % (rc, out[:200])
    return None


def t_command_mode(c):
    rc, out, err = run([H.PHPMGR_BIN, "help"])
    if rc != 0 or "phpmgr start" not in out or err:
        return "phpmgr help: exit %d\nstdout: %s\nstderr: %s" % (rc, out, err)
    rc, out, err = run([H.PHPMGR_BIN, "bogus-command"])
    if rc != 64 or "unknown command" not in err:
        return "phpmgr bogus-command: exit %d\n%s" % (rc, err)
    conf = all_keys_conf(c)
    rc, _, err = run([H.PHPMGR_BIN, "test", "-t", "-c", conf])
    (_, _, err2), _ = both(["-tt", "-y", conf])
    if rc != 0 or log_lines(err) != log_lines(err2):
        return "phpmgr test -t -c differs from phpmgr -tt -y: exit %d\n%s" % (rc, err[-2000:])
    rc, _, err = run([H.PHPMGR_BIN, "test", "-c", conf])
    if rc != 0 or "\tpm = " in err or "test is successful" not in err:
        return "phpmgr test -c: exit %d, expected no dump:\n%s" % (rc, err[-2000:])
    return None


def main():
    rep = H.Reporter()
    if not H.phpmgr_available():
        rep.fail("setup", "phpmgr binary not found: %s" % H.PHPMGR_BIN)
        return rep.finish()
    if not (os.path.exists(H.PHP_FPM_BIN) and shutil.which(H.PHP_FPM_BIN)):
        rep.fail("setup", "php-fpm binary not found: %s" % H.PHP_FPM_BIN)
        return rep.finish()
    c = Ctx()
    c.tmp = H.tmpdir("phpmgr-cli-")
    global SAN_DIR
    SAN_DIR = c.tmp
    cases = [
        ("tt-debian-conf", t_tt_debian),
        ("tt-all-keys", t_tt_all_keys),
        ("tt-pm-kinds", t_tt_pm_kinds),
        ("tt-prefix", t_tt_prefix),
        ("tt-relative-no-prefix", t_tt_relative_no_prefix),
        ("tt-flags-and-empty", t_tt_flags_and_empty),
        ("t-unknown-user-group", t_unknown_user_group),
        ("t-numeric-ids", t_numeric_ids),
        ("t-user-not-defined", t_user_not_defined),
        ("v-banner", t_v_banner),
        ("m-modules", t_m_modules),
        ("usage-bad-options", t_usage),
        ("command-mode", t_command_mode),
    ]
    for name, fn in cases:
        if ONLY and not re.search(ONLY, name):
            continue
        rep.run(name, fn, c)
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
