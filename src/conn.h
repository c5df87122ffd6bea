/* A FastCGI client connection (nginx fastcgi_pass, or any FastCGI client): reads records,
 * assembles one request at a time, submits it to its pool, and sends back what the worker
 * relays. Multiplexing is refused with FCGI_CANT_MPX_CONN; GET_VALUES is answered here. */
#ifndef PHPMGR_CONN_H
#define PHPMGR_CONN_H

#include "ring.h"

struct buf;
struct conn;
struct pool;
struct request;

/* A connection accepted on a pool's listener takes ownership of fd. */
void conn_accepted(struct pool *pool, int fd);
/* OP_CONN_RECV / OP_CONN_SEND completions. */
void conn_complete(const struct completion *c);

/* From the pool, relaying a worker's response: queue a chunk (ownership passes), or bytes. */
void conn_relay(struct conn *c, struct buf *b);
void conn_relay_copy(struct conn *c, const void *data, size_t len);
/* The response to r is complete on the wire (END_REQUEST relayed): the connection lets go of r. */
void conn_request_done(struct conn *c, struct request *r);
/* The request failed before or during its response (worker died, timed out, queue full): answer
 * with status when nothing was sent yet, else close the connection so the client sees it broke. */
void conn_request_failed(struct conn *c, struct request *r, int status);

/* Stop: graceful lets connections finish their current request; otherwise close all now. */
void conn_stop_all(int graceful);
/* Free connections closed during the last batch of completions (call after each batch). */
void conn_reap(void);
/* Number of open client connections. */
unsigned conn_count(void);

#endif
