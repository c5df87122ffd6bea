/* Which file descriptors a forked worker keeps. The master records, once, the fds open right after
 * the PHP engine started (stdio, OPcache's lock file and whatever else the engine opened); a
 * worker keeps those and its channel and closes every other fd. Closing by an allowlist rather
 * than by a list of the master's fds means a worker never inherits a client socket, not even one
 * the kernel accepted into a completion the master has not read yet. */
#ifndef PHPMGR_WORKER_FDS_H
#define PHPMGR_WORKER_FDS_H

/* In the master, right after the engine started: record the open fds (but the error log's, which
 * the child replaces with its stderr). 0, or -1 (logged). */
int worker_fds_record(void);
/* In a forked child: close every fd not recorded, except the n_keep (at most 2) fds in keep
 * (negative ones are ignored). 0, or -1 with errno. */
int worker_fds_close_others(const int *keep, int n_keep);

#endif
