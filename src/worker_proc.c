/* A worker process: the fork (or the waking of the slot's pre-forked successor), and the child's
 * setup before it enters the PHP worker loop (signals, stdio, inherited fds, environment, user and
 * group). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "pool_int.h"
#include "proc_limits.h"
#include "slowlog.h"
#include "status.h"
#include "worker_fds.h"
#include "worker_output.h"

static void child_fail(const struct pool *p, const char *what)
{
    log_alert("[pool %s] child %d: %s: %s", p->cfg->name, (int)getpid(), what, strerror(errno));
    _exit(78);
}

/* user and group were resolved by the master at config load (config.c: resolve_identity), so a
 * bad name fails `phpmgr test` and startup instead of every worker; only the switch is left. */
static void child_drop_privileges(const struct pool *p)
{
    const struct pool_config *cfg = p->cfg;
    if (cfg->set_identity) {
        if (setgid(cfg->gid) < 0) child_fail(p, "setgid");
        /* a uid with no passwd entry: initgroups() by the number as written, as php-fpm */
        if (cfg->uid != 0 &&
            (initgroups(cfg->user_name ? cfg->user_name : cfg->user, cfg->gid) < 0 ||
             setuid(cfg->uid) < 0))
            child_fail(p, "switching user");
    }
    /* php-fpm sets these after env[], whatever clear_env says (fpm_env_init_child). */
    if ((cfg->user_name && setenv("USER", cfg->user_name, 1) < 0) ||
        (cfg->home && setenv("HOME", cfg->home, 1) < 0))
        child_fail(p, "setenv");
}

/* Pre-forked successors ("seeds"). With pm.max_requests a slot's worker is replaced every few
 * hundred requests. Forking the replacement from the master is costly where it hurts most: fork
 * write-protects every page of the busy master, which then takes a copy-on-write fault on each
 * page it writes next (measured: ~160 faults and ~8 ms of master CPU per respawn at 12k req/s),
 * and the child inherits the master's grown heap. Instead each worker, right after its setup and
 * before it runs any PHP, forks a copy of itself that sleeps: a seed, identical to a fresh worker.
 * To replace the worker the master wakes its seed, which forks its own seed and starts serving.
 * The master forks only the first generation, and again when a seed is missing (crash, error).
 *
 * A seed is its worker's child; when the worker exits it is reparented to the master, which is a
 * child subreaper for that purpose, so every serving worker is the master's child, as under
 * php-fpm. Its channel carries, before any FastCGI: the seed's pid (seed -> master, 4 bytes,
 * when it starts), then one activation byte (master -> seed) whose bits say which fds ride with
 * it in SCM_RIGHTS, in this order: stdout, stderr (catch_workers_output), the seed's own seed
 * channel. A seed whose channel closes exits. */
#define SEED_OUT 1
#define SEED_ERR 2
#define SEED_NEXT 4
/* How long the master waits for a seed's pid: it is written right after the seed's fork, so only a
 * seed that has not run yet (a worker that served pm.max_requests within its first moments) is
 * waited for; past this the master forks the worker itself. */
#define SEED_PID_WAIT_MS 100

/* At stop, how long the master waits for its idle seeds to exit before it kills them. */
#define SEED_STOP_WAIT_MS 1000

static int seeds_disabled; /* the master could not become a subreaper */

static void become_worker(struct pool *p, int slot, int fd, int out_fd, int err_fd, int seed_fd);

/* In a seed: sleep until the master wakes this process to serve on fd, then become the worker.
 * Never returns. */
static void seed_main(struct pool *p, int slot, int fd)
{
    /* Hold nothing of the worker that forked us: its output pipes must see EOF when it exits. */
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(devnull, STDOUT_FILENO) < 0 ||
        dup2(devnull, STDERR_FILENO) < 0 || worker_fds_close_others(&fd, 1) < 0)
        _exit(78);
    pid_t self = getpid();
    if (write(fd, &self, sizeof(self)) != (ssize_t)sizeof(self)) _exit(0);

    unsigned char flags = 0;
    struct iovec iov = {.iov_base = &flags, .iov_len = 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(3 * sizeof(int))];
    } cm;
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof(cm.buf)};
    ssize_t n;
    do
        n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n <= 0) _exit(0); /* the master closed our channel: not needed */
    int fds[3] = {-1, -1, -1}, n_fds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            n_fds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            if (n_fds > 3) n_fds = 3;
            memcpy(fds, CMSG_DATA(c), (size_t)n_fds * sizeof(int));
        }
    int i = 0;
    int out_fd = (flags & SEED_OUT) && i < n_fds ? fds[i++] : -1;
    int err_fd = (flags & SEED_ERR) && i < n_fds ? fds[i++] : -1;
    int next = (flags & SEED_NEXT) && i < n_fds ? fds[i++] : -1;
    become_worker(p, slot, fd, out_fd, err_fd, next);
}

/* Set up (once per fork from the master; seeds inherit it) and become a worker. Never returns. */
static void child_main(struct pool *p, int slot, int fd, int out_fd, int err_fd, int seed_fd)
{
    const struct pool_config *cfg = p->cfg;

    ring_exit();
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    static const int defaults[] = {SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGHUP, SIGCHLD};
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) signal(defaults[i], SIG_DFL);
    signal(SIGPIPE, SIG_IGN); /* a write to a gone peer must be an error, not a death */

    /* stdin to /dev/null; stdout and stderr to the master's pipes (catch_workers_output) or
     * /dev/null, as php-fpm does. */
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0) child_fail(p, "open(/dev/null)");
    if (dup2(devnull, STDIN_FILENO) < 0 || dup2(out_fd >= 0 ? out_fd : devnull, STDOUT_FILENO) < 0 ||
        dup2(err_fd >= 0 ? err_fd : devnull, STDERR_FILENO) < 0)
        child_fail(p, "dup2");
    log_open(NULL); /* the worker logs to its stderr, as php-fpm's children do */
    log_set_bare(1);
    /* Everything else the master has open (client sockets, listeners, other workers' channels,
     * pipes, the old log fd) goes; what the engine opened at startup stays. */
    int keep[2] = {fd, seed_fd};
    if (worker_fds_close_others(keep, 2) < 0) child_fail(p, "closing inherited fds");

    /* php-fpm's order: limits, then chdir, priority (as root), then the user switch */
    if (proc_limits_worker(cfg) < 0) _exit(78); /* it logged php-fpm's line */
    if (cfg->chdir && chdir(cfg->chdir) < 0) child_fail(p, "chdir");
    if (cfg->clear_env) clearenv();
    for (size_t i = 0; i < cfg->n_env; i++)
        if (setenv(cfg->env[i].name, cfg->env[i].value, 1) < 0) child_fail(p, "setenv");
    child_drop_privileges(p);
    become_worker(p, slot, fd, -1, -1, seed_fd);
}

static void become_worker(struct pool *p, int slot, int fd, int out_fd, int err_fd, int seed_fd)
{
    const struct pool_config *cfg = p->cfg;
    if (seed_fd >= 0) {
        /* Now, before any PHP runs here: the seed is a fresh worker, not one with our past. A
         * failed fork only costs speed: the master sees the seed channel close and forks. */
        pid_t s = fork();
        if (s == 0) seed_main(p, slot, seed_fd);
        close(seed_fd);
    }
    if (out_fd >= 0 || err_fd >= 0) {
        if ((out_fd >= 0 && dup2(out_fd, STDOUT_FILENO) < 0) ||
            (err_fd >= 0 && dup2(err_fd, STDERR_FILENO) < 0))
            child_fail(p, "dup2");
        if (out_fd >= 0) close(out_fd);
        if (err_fd >= 0) close(err_fd);
    }

    struct phpw_worker_opts o = {
        .pool = cfg->name,
        .fd = fd,
        .ini = p->ini,
        .n_ini = cfg->n_php_ini,
        .limit_extensions = (const char *const *)cfg->limit_extensions,
        .log_limit = p->log_limit,
        .bootstrap = cfg->worker_mode == WORKER_RESIDENT ? cfg->worker_bootstrap : NULL,
        .worker_id = slot,
        .max_requests = cfg->worker_max_requests,
        .memory_limit = cfg->worker_memory_limit,
        .leak_check = cfg->worker_leak_check,
        .slowlog_bell = slowlog_bell(cfg, slot),
        .slowlog_fd = slowlog_fd(cfg),
        .slowlog = cfg->slowlog,
        .slowlog_depth = cfg->request_slowlog_trace_depth,
        .scoreboard = status_scoreboard(p),
    };
    int rc = phpw_worker_run(&o);
    phpw_worker_exit(rc == 0 ? 0 : 70);
}

/* Wake the seed on seed_fd with the fds its worker needs; its pid, or -1 (logged) when it is gone
 * or does not answer. */
static pid_t seed_wake(struct pool *p, int seed_fd, int out_child, int err_child, int next_child)
{
    struct pollfd pfd = {.fd = seed_fd, .events = POLLIN};
    int n;
    do
        n = poll(&pfd, 1, SEED_PID_WAIT_MS);
    while (n < 0 && errno == EINTR);
    pid_t pid = -1;
    ssize_t r = n > 0 ? recv(seed_fd, &pid, sizeof(pid), MSG_DONTWAIT) : -1;
    if (r != (ssize_t)sizeof(pid) || pid <= 0) {
        if (n == 0)
            log_warning("[pool %s] the pre-forked worker did not start within %d ms; forking one",
                        p->cfg->name, SEED_PID_WAIT_MS);
        else if (r != 0)
            log_warning("[pool %s] reading the pre-forked worker's pid failed: %s; forking one",
                        p->cfg->name, r < 0 ? strerror(errno) : "short read");
        else
            log_debug("[pool %s] the pre-forked worker has exited; forking one", p->cfg->name);
        return -1;
    }
    unsigned char flags = 0;
    int fds[3], n_fds = 0;
    const int given[3] = {out_child, err_child, next_child};
    const unsigned char bits[3] = {SEED_OUT, SEED_ERR, SEED_NEXT};
    for (int i = 0; i < 3; i++)
        if (given[i] >= 0) {
            flags |= bits[i];
            fds[n_fds++] = given[i];
        }
    struct iovec iov = {.iov_base = &flags, .iov_len = 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(3 * sizeof(int))];
    } cm;
    memset(&cm, 0, sizeof(cm));
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    if (n_fds > 0) {
        m.msg_control = cm.buf;
        m.msg_controllen = CMSG_SPACE((size_t)n_fds * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN((size_t)n_fds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, (size_t)n_fds * sizeof(int));
    }
    if (sendmsg(seed_fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) != 1) {
        log_warning("[pool %s] waking the pre-forked worker %d failed: %s; forking one",
                    p->cfg->name, (int)pid, strerror(errno));
        return -1;
    }
    return pid;
}

/* Seeds pay off only for pools whose workers are replaced as they serve (pm.max_requests, a
 * resident worker's own limits). They need the master to adopt a seed whose worker exited:
 * become a child subreaper, once. */
static int seeds_usable(struct pool *p)
{
    static int subreaper;
    const struct pool_config *cfg = p->cfg;
    int recycles =
        cfg->max_requests > 0 || (cfg->worker_mode == WORKER_RESIDENT &&
                                  (cfg->worker_max_requests > 0 || cfg->worker_memory_limit > 0));
    if (!recycles || seeds_disabled) return 0;
    if (!subreaper) {
        if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
            log_warning("prctl(PR_SET_CHILD_SUBREAPER) failed: %s; workers are forked by the "
                        "master",
                        strerror(errno));
            seeds_disabled = 1;
            return 0;
        }
        subreaper = 1;
    }
    return 1;
}

pid_t worker_proc_spawn(struct pool *p, int slot, int *seed_fd, int *channel_fd)
{
    int sv[2] = {-1, -1}, next[2] = {-1, -1};
    int out_child = -1, err_child = -1, out_read = -1, err_read = -1;
    if (p->cfg->catch_workers_output) {
        out_read = worker_output_pipe(&out_child);
        err_read = worker_output_pipe(&err_child);
    }
    if (seeds_usable(p) && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, next) < 0) {
        log_warning("[pool %s] socketpair() for a pre-forked worker failed: %s", p->cfg->name,
                    strerror(errno));
        next[0] = next[1] = -1;
    }
    pid_t pid = -1;
    if (*seed_fd >= 0) {
        pid = seed_wake(p, *seed_fd, out_child, err_child, next[1]);
        if (pid > 0) {
            sv[0] = *seed_fd;
        } else {
            close(*seed_fd); /* a seed still waiting sees EOF and exits */
        }
        *seed_fd = -1;
    }
    if (pid < 0) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
            log_error("[pool %s] socketpair() failed: %s", p->cfg->name, strerror(errno));
            goto failed;
        }
        pid = fork();
        if (pid == 0) child_main(p, slot, sv[1], out_child, err_child, next[1]);
        close(sv[1]);
        if (pid < 0) {
            log_error("[pool %s] fork() failed: %s", p->cfg->name, strerror(errno));
            close(sv[0]);
            goto failed;
        }
    }
    if (out_child >= 0) close(out_child);
    if (err_child >= 0) close(err_child);
    if (next[1] >= 0) close(next[1]);
    *seed_fd = next[0];
    int decorate = p->cfg->decorate_workers_output;
    if (out_read >= 0) worker_output_watch(out_read, p->cfg->name, pid, 0, decorate, p->log_limit);
    if (err_read >= 0) worker_output_watch(err_read, p->cfg->name, pid, 1, decorate, p->log_limit);
    *channel_fd = sv[0];
    return pid;

failed:
    if (out_child >= 0) close(out_child);
    if (err_child >= 0) close(err_child);
    if (next[0] >= 0) close(next[0]);
    if (next[1] >= 0) close(next[1]);
    if (out_read >= 0) worker_output_close(out_read);
    if (err_read >= 0) worker_output_close(err_read);
    return -1;
}

void worker_proc_seeds_stop(struct pool *p)
{
    /* Every seed sees its channel close and exits; by now their workers are gone, so the seeds
     * are our children (subreaper): reap them, so none is left behind as a zombie. */
    pid_t pids[p->n_workers > 0 ? p->n_workers : 1];
    int n = 0;
    for (int i = 0; i < p->n_workers; i++) {
        struct worker *w = &p->workers[i];
        if (w->seed_fd < 0) continue;
        pid_t pid = -1;
        if (recv(w->seed_fd, &pid, sizeof(pid), MSG_DONTWAIT) == (ssize_t)sizeof(pid) && pid > 0)
            pids[n++] = pid;
        close(w->seed_fd);
        w->seed_fd = -1;
    }
    uint64_t deadline = clock_ms() + SEED_STOP_WAIT_MS;
    for (int i = 0; i < n; i++) {
        for (;;) {
            pid_t r = waitpid(pids[i], NULL, WNOHANG);
            if (r != 0) break; /* reaped, or not our child (still its worker's: not ours to reap) */
            if (clock_ms() >= deadline) {
                kill(pids[i], SIGKILL);
                waitpid(pids[i], NULL, 0);
                break;
            }
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
}
