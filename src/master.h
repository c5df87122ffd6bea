/* The master process: binds the listeners, starts the PHP engine, forks the pools, then runs the
 * io_uring loop (accept, client I/O, worker I/O, signals via signalfd, a periodic tick) until it
 * is told to stop. */
#ifndef PHPMGR_MASTER_H
#define PHPMGR_MASTER_H

#include "../sapi/phpw.h"
#include "config.h"

struct master_opts {
    int daemonize;    /* 1: detach (parent exits once workers are up), 0: stay in foreground */
    int force_stderr; /* -O: log to stderr whatever error_log says */
    int allow_root;   /* -R: workers may run as root */
    struct phpw_engine_opts engine;
};

/* Runs until stopped. Returns the process exit status. */
int master_run(struct config *cfg, const struct master_opts *o);

#endif
