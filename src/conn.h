/* Client connections: FastCGI (nginx fastcgi_pass, any FastCGI client) or HTTP/1.1 (browsers,
 * nginx proxy_pass). A connection reads one request at a time, submits it to its pool, and sends
 * back what the worker relays, in its own protocol. */
#ifndef PHPMGR_CONN_H
#define PHPMGR_CONN_H

#include <stdint.h>

#include "ring.h"

struct buf;
struct conn;
struct pool;
struct request;

enum conn_kind { CONN_FCGI, CONN_HTTP };

/* A connection accepted on a pool's listener takes ownership of fd. ctx is the listener's
 * protocol context (for HTTP, from http_conn_site_new()), NULL for FastCGI. */
void conn_accepted(struct pool *pool, int fd, enum conn_kind kind, const void *ctx);
/* OP_CONN_RECV / OP_CONN_SEND completions. */
void conn_complete(const struct completion *c);

/* From the relay (after the completion batch), a worker's response: FastCGI records, request ids
 * already rewritten to the client's; ownership of b passes. */
void conn_relay(struct conn *c, struct buf *b);
/* The client has more than CONN_OUT_HIGH bytes of response waiting: the pool stops reading the
 * worker (which then blocks in its writes) until pool_output_drained(), so a slow client never
 * makes the master hold a whole big response. */
#define CONN_OUT_HIGH (1024 * 1024)
#define CONN_OUT_LOW (256 * 1024)
int conn_backlogged(const struct conn *c);
/* The worker sent END_REQUEST for r: the connection lets go of r. */
void conn_request_done(struct conn *c, struct request *r);
/* The request failed before or during its response (worker died, timed out, queue full): answer
 * with status when nothing was sent yet, else close the connection so the client sees it broke. */
void conn_request_failed(struct conn *c, struct request *r, int status);

/* Periodic: send timeouts, lingering closes, heartbeat, the protocols' own timeouts. */
void conn_tick(uint64_t now_ms);
/* Stop: graceful lets connections finish their current request and send all of its output, then
 * close (conn_count() reaches 0); otherwise close all now. */
void conn_stop_all(int graceful);
/* Free connections closed during the last batch of completions (call after each batch). */
void conn_reap(void);
/* Number of open client connections. */
unsigned conn_count(void);

#endif
