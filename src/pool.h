/* A pool of PHP worker processes (pm = static for now): forks them, hands each one request at a
 * time over its socketpair, relays the response back to the client connection (through the relay:
 * see relay.h), queues requests when every worker is busy, and supervises: a worker that dies is
 * reaped and replaced (its request answered 502), request_terminate_timeout kills it (answered
 * 504), request.read_timeout answers 504 and abandons the request, pm.max_requests retires it. */
#ifndef PHPMGR_POOL_H
#define PHPMGR_POOL_H

#include <sys/types.h>

#include "ring.h"

struct pool_config;
struct request;
struct pool;
struct body_spool;

/* Build a pool from its config (no process started yet). NULL with a log line on failure.
 * log_limit caps the length of a worker's captured output line. */
struct pool *pool_create(const struct pool_config *cfg, int run_as_root, int log_limit);
/* Fork the workers. 0, or -1 (logged). */
int pool_start(struct pool *p);
/* Fork the replacements that are due. Call between completion batches only, when every fd the
 * master opened is known (see worker_fds.h). */
void pool_spawn_due(struct pool *p);
const char *pool_name(const struct pool *p);
const struct pool_config *pool_config(const struct pool *p);
/* Where the pool's request bodies are spooled past memory (request.body_* keys). */
const struct body_spool *pool_body_spool(const struct pool *p);

/* A complete request from a client connection: run it, queue it, or refuse it (503, told through
 * the relay). The pool holds r from now on (REQ_HELD_BY_POOL). */
void pool_submit(struct pool *p, struct request *r);
/* r's client took its queued response down below CONN_OUT_LOW: read its worker again. */
void pool_output_drained(struct request *r);
/* The client went away or aborted: dequeue r, or stop relaying to it if it runs. */
void pool_request_abandoned(struct request *r);

/* OP_WORKER_RECV / OP_WORKER_SEND completions. */
void pool_complete(const struct completion *c);
/* A child exited (from waitpid); 1 when it was one of this pool's workers. */
int pool_child_exited(struct pool *p, pid_t pid, int status);
/* Periodic work: timeouts. */
void pool_tick(struct pool *p);
/* Retire every worker after its current request and start fresh ones (SIGUSR1). */
void pool_reload(struct pool *p);
/* The configuration behind the pool changed (reload; config_reload.c moved new values into the
 * same pool_config): ini, when not NULL, replaces the php_value[] list handed to workers (the pool
 * owns it from now on; its strings are the config's), and pre-forked workers set up with the old
 * values are let go. */
struct phpw_ini;
void pool_reconfigured(struct pool *p, struct phpw_ini *ini);
/* Stop: graceful retires workers once their queue is empty; otherwise SIGTERM now. */
void pool_stop(struct pool *p, int graceful);
/* Send SIGKILL to every remaining worker (stop deadline passed). */
void pool_kill_all(struct pool *p);
/* What the pool's workers are doing, and requests it has handed to them since it started. */
struct pool_counts {
    unsigned active, idle;
    unsigned long requests, slow;
};
void pool_counts(const struct pool *p, struct pool_counts *out);
/* Number of worker processes not yet reaped. */
unsigned pool_live_workers(const struct pool *p);
void pool_free(struct pool *p);

#endif
