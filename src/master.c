#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "config_reload.h"
#include "conn.h"
#include "relay.h"
#include "worker_fds.h"
#include "http_conn.h"
#include "listen.h"
#include "log.h"
#include "pool.h"
#include "proc_limits.h"
#include "ring.h"
#include "sd_notify.h"
#include "slowlog.h"
#include "worker_output.h"

#define TICK_MS 250
#define FAST_STOP_GRACE_MS 3000
#define GRACEFUL_STOP_DEFAULT_MS 60000

struct listener {
    struct op op;
    enum conn_kind kind;
    struct http_site_ctx *site; /* HTTP listeners: the pool's site, owned here */
    int fd;
    int multishot;
    int rearm_on_tick; /* accept failed for lack of fds: retry on the next tick */
    size_t pool_index;
    struct pool *pool;
    const char *address;
    struct allowed_clients allowed;
};

static struct config *cfg;
static struct pool **pools;
static struct listener *listeners;
static size_t n_listeners;
static int sig_fd = -1;
static struct op sig_op = {OP_SIGNAL};
static struct signalfd_siginfo sig_info;
static struct op tick_op = {OP_TICK};
static int stopping;          /* 0 running, 1 graceful, 2 fast */
static uint64_t stop_deadline_ms;
static int killed_all;
static const char *error_log_path;
static int systemd_interval_ms;       /* 0: no periodic status to systemd */
static uint64_t systemd_next_ms;
static unsigned long systemd_last_requests;
static int allow_root; /* -R */

static void arm_accept(struct listener *l)
{
    ring_accept(&l->op, l->fd, l->multishot);
}

static void close_listeners(void)
{
    for (size_t i = 0; i < n_listeners; i++) {
        if (listeners[i].fd < 0) continue;
        /* shutdown() ends a pending accept; the close releases the port now. */
        shutdown(listeners[i].fd, SHUT_RDWR);
        close(listeners[i].fd);
        listeners[i].fd = -1;
        listen_cleanup(listeners[i].address);
    }
}

static void begin_stop(int graceful)
{
    if (stopping == 2 || (stopping == 1 && graceful)) return;
    stopping = graceful ? 1 : 2;
    log_notice(graceful ? "Finishing ..." : "Terminating ...");
    uint64_t grace = graceful ? (cfg->global.process_control_timeout_ms > 0
                                     ? (uint64_t)cfg->global.process_control_timeout_ms
                                     : GRACEFUL_STOP_DEFAULT_MS)
                              : FAST_STOP_GRACE_MS;
    stop_deadline_ms = clock_ms() + grace;
    close_listeners();
    for (size_t i = 0; i < cfg->n_pools; i++) pool_stop(pools[i], graceful);
    conn_stop_all(graceful);
}

static void reap_children(void)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) return;
        int known = 0;
        for (size_t i = 0; i < cfg->n_pools && !known; i++)
            known = pool_child_exited(pools[i], pid, status);
        if (!known) log_debug("reaped unknown child %d", (int)pid);
    }
}

static void reopen_log(void)
{
    if (error_log_path != NULL && log_open(error_log_path) < 0)
        log_error("failed to reopen error_log '%s': %s", error_log_path, strerror(errno));
    slowlog_reopen_all();
}

/* SIGUSR1: the configuration first (a file that no longer loads leaves everything as it is),
 * then a new reload generation (its first worker empties OPcache: sapi/reload.c), then every
 * worker is replaced: idle ones now, busy ones after their request. */
static void reload(void)
{
    if (config_reload(cfg, pools, allow_root) < 0) return;
    unsigned gen = phpw_reload_bump();
    log_debug("reload generation %u", gen);
    for (size_t i = 0; i < cfg->n_pools; i++)
        pool_reload(pools[i]);
}

/* What the first worker of the last reload generation did to OPcache, once it is done. */
static void reload_report(void)
{
    struct phpw_reload_report r;
    if (!phpw_reload_report(&r)) return;
    log_notice("reload %u: OPcache: %u cached script%s invalidated by child %d before it served, "
               "in %.1f ms (%.1f ms with its first PHP request startup)%s; other new workers "
               "waited up to %.1f ms%s",
               r.generation, r.scripts, r.scripts == 1 ? "" : "s", r.pid, r.invalidate_ms, r.ms,
               r.failed ? " (others could not be: their file is gone)" : "", r.wait_max_ms,
               r.took_over ? " (some stopped waiting and did it themselves)" : "");
}

static void on_signal(int res)
{
    if (res != (int)sizeof(sig_info)) {
        log_alert("read(signalfd) failed: %s", res < 0 ? strerror(-res) : "short read");
        begin_stop(0);
        return;
    }
    switch (sig_info.ssi_signo) {
    case SIGCHLD: reap_children(); break;
    case SIGINT:
    case SIGTERM: begin_stop(0); break;
    case SIGQUIT: begin_stop(1); break;
    case SIGUSR1:
        log_notice("Reloading in progress ...");
        reopen_log();
        if (!stopping) reload();
        break;
    case SIGUSR2:
        reopen_log();
        log_notice("SIGUSR2: no task workers to reload");
        break;
    case SIGHUP: reopen_log(); break;
    default: break;
    }
    ring_read(&sig_op, sig_fd, &sig_info, sizeof(sig_info), RING_OFF_CURRENT);
}

static void on_accept(struct listener *l, const struct completion *c)
{
    if (c->res >= 0) {
        if (stopping || l->fd < 0) {
            close(c->res);
        } else if (!allowed_clients_check(&l->allowed, c->res)) {
            log_error("Connection disallowed: IP address not in listen.allowed_clients (%s)",
                      l->address);
            close(c->res);
        } else {
            conn_accepted(l->pool, c->res, l->kind, l->site);
        }
        if (l->multishot && (c->flags & RING_CQE_MORE)) return; /* still armed */
    } else if (l->fd < 0) {
        return; /* closed for stop */
    } else if (c->res == -EINVAL && l->multishot) {
        log_notice("multishot accept not supported here; using one accept per connection");
        l->multishot = 0;
    } else if (c->res == -EMFILE || c->res == -ENFILE || c->res == -ENOMEM) {
        log_error("accept() on '%s' failed: %s", l->address, strerror(-c->res));
        l->rearm_on_tick = 1;
        return;
    } else if (c->res != -EINTR && c->res != -ECONNABORTED && c->res != -EAGAIN) {
        log_error("accept() on '%s' failed: %s", l->address, strerror(-c->res));
    }
    if (l->fd >= 0 && !stopping) arm_accept(l);
}

/* systemd_interval: the workers and requests of every pool, for `systemctl status`. */
static void systemd_status(uint64_t now)
{
    if (systemd_interval_ms <= 0 || now < systemd_next_ms || stopping) return;
    systemd_next_ms = now + (uint64_t)systemd_interval_ms;
    struct pool_counts sum = {0, 0, 0, 0};
    for (size_t i = 0; i < cfg->n_pools; i++) {
        struct pool_counts pc;
        pool_counts(pools[i], &pc);
        sum.active += pc.active;
        sum.idle += pc.idle;
        sum.requests += pc.requests;
        sum.slow += pc.slow;
    }
    sd_notify_status(sum.active, sum.idle, sum.requests, sum.slow, systemd_last_requests,
                     systemd_interval_ms);
    systemd_last_requests = sum.requests;
}

static void on_tick(void)
{
    uint64_t now = clock_ms();
    systemd_status(now);
    reload_report();
    for (size_t i = 0; i < cfg->n_pools; i++) pool_tick(pools[i]);
    conn_tick(now);
    for (size_t i = 0; i < n_listeners; i++)
        if (listeners[i].rearm_on_tick && listeners[i].fd >= 0 && !stopping) {
            listeners[i].rearm_on_tick = 0;
            arm_accept(&listeners[i]);
        }
    if (stopping && !killed_all && now >= stop_deadline_ms) {
        log_warning("some children did not exit in time; sending SIGKILL");
        for (size_t i = 0; i < cfg->n_pools; i++) pool_kill_all(pools[i]);
        conn_stop_all(0);
        killed_all = 1;
    }
    ring_timeout(&tick_op, TICK_MS);
}

static void on_completion(const struct completion *c)
{
    switch (c->op->kind) {
    case OP_ACCEPT: on_accept(container_of(c->op, struct listener, op), c); break;
    case OP_CONN_RECV:
    case OP_CONN_SEND: conn_complete(c); break;
    case OP_WORKER_RECV:
    case OP_WORKER_SEND: pool_complete(c); break;
    case OP_SIGNAL: on_signal(c->res); break;
    case OP_TICK: on_tick(); break;
    case OP_WORKER_OUTPUT: worker_output_complete(c); break;
    default: log_error("completion of unknown kind %d", c->op->kind); break;
    }
}

static int write_pid_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        log_alert("failed to create the pid file '%s': %s", path, strerror(errno));
        return -1;
    }
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d", (int)getpid());
    if (write(fd, buf, (size_t)n) != n) {
        log_alert("failed to write the pid file '%s': %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* Detach. The parent waits on a pipe for the child's verdict so `phpmgr start` fails loudly when
 * startup fails after the fork. Returns the write end in the child; never returns in the parent. */
static int daemonize(void)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        log_alert("pipe() failed: %s", strerror(errno));
        exit(78);
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_alert("fork() failed: %s", strerror(errno));
        exit(78);
    }
    if (pid > 0) {
        close(pfd[1]);
        unsigned char status = 1;
        ssize_t n;
        do n = read(pfd[0], &status, 1);
        while (n < 0 && errno == EINTR);
        _exit(n == 1 ? status : 78);
    }
    close(pfd[0]);
    if (setsid() < 0) log_warning("setsid() failed: %s", strerror(errno));
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        if (log_fd() != STDERR_FILENO) dup2(devnull, STDERR_FILENO);
        if (devnull > STDERR_FILENO) close(devnull);
    }
    return pfd[1];
}

static int check_root(const struct master_opts *o)
{
    if (getuid() != 0 || o->allow_root) return 0;
    for (size_t i = 0; i < cfg->n_pools; i++) {
        const struct pool_config *pc = &cfg->pools[i];
        /* By the resolved ids, as php-fpm: "user = 0" is root too. */
        if (pc->user == NULL || !pc->set_identity || pc->uid == 0 || pc->gid == 0) {
            log_error("[pool %s] please specify user and group other than root", pc->name);
            return -1;
        }
    }
    return 0;
}

static int open_one(size_t pool_index, const char *address, enum conn_kind kind)
{
    const struct pool_config *pc = &cfg->pools[pool_index];
    struct listener *l = &listeners[n_listeners];
    char err[512];
    /* As php-fpm: a unix socket belongs to the pool's user/group unless listen.* say. */
    struct listen_opts lo = {address, pc->listen_backlog,
                             pc->listen_owner ? pc->listen_owner : pc->user,
                             pc->listen_group ? pc->listen_group : pc->group, pc->listen_mode};
    l->fd = listen_open(&lo, err, sizeof(err));
    if (l->fd < 0) {
        log_error("[pool %s] %s", pc->name, err);
        return -1;
    }
    n_listeners++;
    l->pool_index = pool_index;
    l->kind = kind;
    l->op.kind = OP_ACCEPT;
    l->address = address;
    /* listen.allowed_clients guards every listener of the pool, HTTP ones too. */
    if (allowed_clients_parse(pc->allowed_clients, &l->allowed, err, sizeof(err)) < 0) {
        log_error("[pool %s] %s", pc->name, err);
        return -1;
    }
    if (kind == CONN_HTTP) {
        l->site = http_conn_site_new(pc, err, sizeof(err));
        if (l->site == NULL) {
            log_error("[pool %s] %s", pc->name, err);
            return -1;
        }
    }
    return 0;
}

static int open_listeners(void)
{
    size_t n = cfg->n_pools;
    for (size_t i = 0; i < cfg->n_pools; i++)
        for (char **h = cfg->pools[i].http_listen; h && *h; h++) n++;
    listeners = calloc(n, sizeof(*listeners));
    if (listeners == NULL) return -1;
    for (size_t i = 0; i < cfg->n_pools; i++) {
        if (open_one(i, cfg->pools[i].listen, CONN_FCGI) < 0) return -1;
        for (char **h = cfg->pools[i].http_listen; h && *h; h++)
            if (open_one(i, *h, CONN_HTTP) < 0) return -1;
    }
    return 0;
}

static int open_signalfd(void)
{
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGHUP};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) sigaddset(&set, sigs[i]);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) return -1;
    sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
    return sig_fd < 0 ? -1 : 0;
}

int master_run(struct config *config, const struct master_opts *o)
{
    cfg = config;
    allow_root = o->allow_root;
    int ready_fd = -1, engine_up = 0;
    signal(SIGPIPE, SIG_IGN);
    log_set_level(cfg->global.log_level);
    if (!o->force_stderr && cfg->global.error_log != NULL) {
        error_log_path = cfg->global.error_log;
        if (log_open(error_log_path) < 0) {
            log_alert("failed to open error_log (%s): %s", error_log_path, strerror(errno));
            return 78;
        }
    }
    for (size_t i = 0; i < cfg->n_warnings; i++) log_warning("%s", cfg->warnings[i]);
    for (size_t i = 0; i < cfg->n_notices; i++) log_notice("%s", cfg->notices[i]);
    systemd_interval_ms = sd_notify_configure(cfg->global.systemd_interval_ms);
    if (check_root(o) < 0 || proc_limits_master(&cfg->global) < 0) goto fail;
    {
        char err[512];
        if (phpw_engine_start(&o->engine, err, sizeof(err)) < 0) {
            log_alert("PHP engine startup failed: %s", err);
            goto fail;
        }
        engine_up = 1;
        /* Before the first fork: every worker and seed shares this page. */
        if (phpw_reload_init(err, sizeof(err)) < 0) {
            log_alert("%s", err);
            goto fail;
        }
    }
    if (slowlog_open_all(cfg) < 0) goto fail;
    /* What is open now (stdio, the engine's files, the slowlogs) is all a forked worker keeps. */
    if (worker_fds_record() < 0) goto fail;
    if (open_listeners() < 0) goto fail;
    if (o->daemonize) {
        if (!o->force_stderr && cfg->global.error_log == NULL) {
            error_log_path = "/var/log/phpmgr.log";
            if (log_open(error_log_path) < 0) {
                log_alert("failed to open error_log (%s): %s", error_log_path, strerror(errno));
                goto fail;
            }
        }
        ready_fd = daemonize();
    }
    if (cfg->global.pid_file && write_pid_file(cfg->global.pid_file) < 0) goto fail;
    /* Signals are blocked before the first fork so none is lost; children unblock them. */
    if (open_signalfd() < 0) {
        log_alert("signalfd() failed: %s", strerror(errno));
        goto fail;
    }
    if (ring_init(4096) < 0) goto fail;
    pools = calloc(cfg->n_pools, sizeof(*pools));
    if (pools == NULL) goto fail;
    for (size_t i = 0; i < cfg->n_pools; i++) {
        pools[i] = pool_create(&cfg->pools[i], o->allow_root, cfg->global.log_limit);
        if (pools[i] == NULL || pool_start(pools[i]) < 0) goto fail;
    }
    for (size_t i = 0; i < n_listeners; i++) listeners[i].pool = pools[listeners[i].pool_index];
    for (size_t i = 0; i < n_listeners; i++) {
        listeners[i].multishot = ring_has_multishot_accept();
        arm_accept(&listeners[i]);
    }
    ring_read(&sig_op, sig_fd, &sig_info, sizeof(sig_info), RING_OFF_CURRENT);
    ring_timeout(&tick_op, TICK_MS);
    log_notice("fpm is running, pid %d", (int)getpid());
    log_notice("ready to handle connections");
    sd_notify_ready();
    systemd_next_ms = clock_ms() + (uint64_t)systemd_interval_ms;
    if (ready_fd >= 0) {
        unsigned char ok = 0;
        if (write(ready_fd, &ok, 1) != 1) log_warning("could not tell the parent we are ready");
        close(ready_fd);
        ready_fd = -1;
    }

    for (;;) {
        int rc = ring_wait(on_completion);
        /* Between batches: what workers said reaches the connections, replacements are forked
         * (no client fd can be half-known now), closed connections are freed. */
        relay_deliver();
        for (size_t i = 0; i < cfg->n_pools; i++) pool_spawn_due(pools[i]);
        relay_deliver();
        conn_reap();
        if (rc < 0) {
            log_alert("io_uring wait failed: %s", strerror(-rc));
            begin_stop(0);
        }
        if (stopping) {
            /* Done when every worker is gone and every client has its output (or the stop
             * deadline closed them). */
            unsigned live = 0;
            for (size_t i = 0; i < cfg->n_pools; i++) live += pool_live_workers(pools[i]);
            if (live == 0 && conn_count() == 0) break;
        }
    }
    conn_stop_all(0);
    conn_reap();
    for (size_t i = 0; i < cfg->n_pools; i++) pool_free(pools[i]);
    free(pools);
    for (size_t i = 0; i < n_listeners; i++) {
        allowed_clients_free(&listeners[i].allowed);
        http_conn_site_free(listeners[i].site);
    }
    free(listeners);
    ring_exit();
    worker_output_free_all();
    if (cfg->global.pid_file) unlink(cfg->global.pid_file);
    phpw_engine_stop();
    log_notice("exiting, bye-bye!");
    return 0;

fail:
    log_error("FPM initialization failed");
    if (ready_fd >= 0) {
        unsigned char bad = 78;
        if (write(ready_fd, &bad, 1) < 0) { /* the parent exits 78 anyway on EOF */
        }
    }
    close_listeners();
    if (engine_up) phpw_engine_stop();
    return 78;
}
