/* request_slowlog_timeout, the master's part: the slowlog files and the workers' bells (see
 * struct phpw_slowlog_bell in sapi/phpw.h), and the check of running requests. The entries
 * themselves are written by the workers (sapi/slowlog.c). */
#ifndef PHPMGR_SLOWLOG_H
#define PHPMGR_SLOWLOG_H

#include <stdint.h>

struct config;
struct pool_config;
struct phpw_slowlog_bell;
struct worker;

/* Before the first fork, and before worker_fds_record() so that workers keep the files: open
 * (creating, mode 0600, as php-fpm) the slowlog of every pool with request_slowlog_timeout, and
 * map its bells. 0, or -1 (logged). */
int slowlog_open_all(const struct config *cfg);
/* Log reopen (SIGUSR1, SIGHUP): the same fd numbers name the files found at the paths now;
 * workers forked from now on write there (a worker also opens the path itself when it may). */
void slowlog_reopen_all(void);
/* The pool's slowlog fd and the bell of its worker slot, or -1 / NULL when the pool has none. */
int slowlog_fd(const struct pool_config *pc);
struct phpw_slowlog_bell *slowlog_bell(const struct pool_config *pc, int slot);
/* From the pool's tick, for a worker with a request: past request_slowlog_timeout and not yet
 * reported, log php-fpm's warning, count it and ring the worker's bell. 1 when it did. */
int slowlog_check(struct worker *w, uint64_t now);

#endif
