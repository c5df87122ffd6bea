/* A worker process: the fork, and the child's setup before it enters the PHP worker loop (signals,
 * stdio, inherited fds, environment, user and group). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "pool_int.h"
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

/* After fork: become a worker. Never returns. */
static void child_main(struct pool *p, int fd, int out_fd, int err_fd)
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
    if (worker_fds_close_others(fd) < 0) child_fail(p, "closing inherited fds");

    if (cfg->chdir && chdir(cfg->chdir) < 0) child_fail(p, "chdir");
    if (cfg->clear_env) clearenv();
    for (size_t i = 0; i < cfg->n_env; i++)
        if (setenv(cfg->env[i].name, cfg->env[i].value, 1) < 0) child_fail(p, "setenv");
    child_drop_privileges(p);

    struct phpw_worker_opts o = {
        .pool = cfg->name,
        .fd = fd,
        .ini = p->ini,
        .n_ini = cfg->n_php_ini,
        .limit_extensions = (const char *const *)cfg->limit_extensions,
        .log_limit = p->log_limit,
    };
    int rc = phpw_worker_run(&o);
    phpw_engine_stop();
    _exit(rc == 0 ? 0 : 70);
}

pid_t worker_proc_spawn(struct pool *p, int *channel_fd)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        log_error("[pool %s] socketpair() failed: %s", p->cfg->name, strerror(errno));
        return -1;
    }
    int out_child = -1, err_child = -1, out_read = -1, err_read = -1;
    if (p->cfg->catch_workers_output) {
        out_read = worker_output_pipe(&out_child);
        err_read = worker_output_pipe(&err_child);
    }
    pid_t pid = fork();
    if (pid == 0) child_main(p, sv[1], out_child, err_child);
    if (pid < 0) log_error("[pool %s] fork() failed: %s", p->cfg->name, strerror(errno));
    close(sv[1]);
    if (out_child >= 0) close(out_child);
    if (err_child >= 0) close(err_child);
    if (pid < 0) {
        close(sv[0]);
        if (out_read >= 0) worker_output_close(out_read);
        if (err_read >= 0) worker_output_close(err_read);
        return -1;
    }
    int decorate = p->cfg->decorate_workers_output;
    if (out_read >= 0) worker_output_watch(out_read, p->cfg->name, pid, 0, decorate, p->log_limit);
    if (err_read >= 0) worker_output_watch(err_read, p->cfg->name, pid, 1, decorate, p->log_limit);
    *channel_fd = sv[0];
    return pid;
}
