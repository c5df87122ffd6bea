/* One FastCGI request on its way from a client connection through a pool's queue to a worker.
 * Two holders: the client connection (until the response is complete or the client is gone) and
 * the pool (from submission until the worker is done with it). It is freed when both let go. */
#ifndef PHPMGR_REQUEST_H
#define PHPMGR_REQUEST_H

#include <stddef.h>
#include <stdint.h>

struct conn;
struct pool;
struct worker;

struct request {
    struct conn *conn;     /* NULL once the client side let go */
    struct worker *worker; /* set while a worker runs it */
    struct request *next;  /* pool queue link */
    int in_pool;           /* the pool holds it (queued or running) */
    uint16_t client_id;    /* the client's request id, restored on the way back */
    uint8_t keep_conn;
    uint8_t params_done;
    uint8_t stdin_done;
    uint8_t response_started; /* response bytes reached the client's queue */
    uint8_t *params;          /* PARAMS content, contiguous */
    size_t params_len, params_cap;
    uint8_t *body; /* STDIN records already framed for the worker (id 1), with the terminator */
    size_t body_len, body_cap;
    uint64_t queued_ms;
    uint64_t started_ms;
};

/* The request id used on the worker channel: it tells the worker whether the client keeps its
 * connection (see PHPW_REQUEST_ID_KEEP_CONN in sapi/phpw.h). */
static inline uint16_t request_worker_id(const struct request *r)
{
    return r->keep_conn ? 2 : 1;
}

struct request *request_new(uint16_t client_id, uint8_t keep_conn);
/* Append to params/body; 0, or -1 when out of memory or past limit. */
int request_add_params(struct request *r, const uint8_t *data, size_t len, size_t limit);
int request_add_stdin(struct request *r, const uint8_t *data, size_t len);
/* Look up a param by name in the PARAMS content (for log lines); returns length or -1. */
int request_param(const struct request *r, const char *name, const uint8_t **value);
/* Drop one holder; frees when none is left. */
void request_release_conn(struct request *r);
void request_release_pool(struct request *r);

#endif
