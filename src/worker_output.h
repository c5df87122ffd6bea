/* catch_workers_output: a worker's stdout and stderr go into pipes the master reads, and every
 * line lands in the error log as php-fpm writes it:
 *   WARNING: [pool www] child 123 said into stderr: "PHP message: ..."
 * (or the bare line with decorate_workers_output = no). Each reader owns itself and is freed at
 * the pipe's EOF, so it never depends on the worker slot it came from. */
#ifndef PHPMGR_WORKER_OUTPUT_H
#define PHPMGR_WORKER_OUTPUT_H

#include <sys/types.h>

#include "ring.h"

/* A pipe for one stream: *child_fd is the write end for the child (to dup2 onto 1 or 2), the
 * return value the read end for worker_output_watch(). -1 on failure (logged). */
int worker_output_pipe(int *child_fd);
/* Close a read end that will not be watched (the fork failed). */
void worker_output_close(int fd);
/* After fork, in the master: read fd and log its lines as the child's. Takes ownership of fd. */
void worker_output_watch(int fd, const char *pool, pid_t pid, int is_stderr, int decorate,
                         int line_limit);
/* At exit, after the ring is gone: free readers whose pipe has not reached EOF yet. */
void worker_output_free_all(void);
/* OP_WORKER_OUTPUT completions. */
void worker_output_complete(const struct completion *c);

#endif
