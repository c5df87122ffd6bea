/* php-fpm's status page (pm.status_path) and ping (ping.path), answered by the master itself, so
 * they answer while every worker is busy; and the pool's scoreboard behind them (see
 * sapi/phpw_status.h), shared with the workers for fpm_get_status().
 *
 * A request is the pool's ping or status request when php-fpm would take it for one: it has
 * REQUEST_METHOD and SCRIPT_FILENAME (or PATH_TRANSLATED), and its SCRIPT_NAME is the path. Over
 * direct HTTP (http.listen) the request's normalised path is matched instead, before routing
 * (status_http_path()). The answer is php-fpm's byte for byte where its values allow: the same
 * headers, formats (?json, ?xml, ?html, ?openmetrics, plain text; ?full adds one block per
 * worker), fields, names and order; phpmgr's own fields follow php-fpm's. */
#ifndef PHPMGR_STATUS_H
#define PHPMGR_STATUS_H

#include <stddef.h>

struct pool;
struct pool_config;
struct request;
struct worker;
struct phpw_sb_pool;

/* At pool_create(), before any of its workers is forked: map the pool's scoreboard. 0, or -1
 * (logged). */
int status_pool_init(struct pool *p);
void status_pool_free(struct pool *p);
/* The pool's scoreboard (for the workers' fpm_get_status()), or NULL. */
struct phpw_sb_pool *status_scoreboard(const struct pool *p);

/* Every complete request a connection submits passes here first: it is counted (accepted conn)
 * and, when it is the pool's ping or status request, answered (through the relay, after the
 * completion batch). 1 when answered here, 0 when the pool runs it. */
int status_submit(struct pool *p, struct request *r);
/* 1 when an HTTP request for path (normalised, len bytes) is the pool's ping or status request:
 * the HTTP side then submits it as a script named path, whatever the files say. */
int status_http_path(const struct pool_config *pc, const char *path, size_t len);

/* The pool's hooks: a worker was given r; its request is over (ended, failed or abandoned). */
void status_dispatched(struct worker *w, const struct request *r);
void status_request_over(struct worker *w);
/* Periodic (pool tick): bring every slot and the pool's counters up to date in the scoreboard. */
void status_sync(struct pool *p);

#endif
