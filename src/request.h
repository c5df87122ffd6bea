/* One FastCGI request on its way from a client connection through a pool's queue to a worker and
 * back. Several parts of the master hold it at once (see enum request_holder); it is freed when
 * the last one lets go, so none has to know when the others are done. */
#ifndef PHPMGR_REQUEST_H
#define PHPMGR_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct conn;
struct pool;
struct worker;

enum request_holder {
    REQ_HELD_BY_CONN = 1,  /* the client connection, until its response is complete or it left */
    REQ_HELD_BY_POOL = 2,  /* the pool: queued, or running on a worker */
    REQ_HELD_BY_SEND = 4,  /* a worker's send path, until the whole request is written to it */
    REQ_HELD_BY_RELAY = 8, /* the relay, while it has output or news for the connection */
};

/* What the relay has to tell the connection, delivered after the completion batch. */
enum request_news {
    REQ_NEWS_NONE,
    REQ_NEWS_DONE,   /* the response is complete (END_REQUEST, or fastcgi_finish_request()) */
    REQ_NEWS_FAILED, /* the request failed: answer news_status if nothing was sent yet */
};

struct request {
    struct conn *conn;     /* NULL once the client side let go */
    struct pool *pool;     /* the pool it was submitted to */
    struct worker *worker; /* set while a worker runs it */
    struct request *next;  /* pool queue link */
    struct request *next_news; /* relay's delivery list link */
    uint8_t holders;       /* enum request_holder bits */
    uint8_t news;          /* enum request_news */
    uint8_t on_news_list;
    uint16_t news_status;
    struct buf_queue relayed; /* worker output waiting for delivery to the connection */
    uint16_t client_id;    /* the client's request id, restored on the way back */
    uint8_t keep_conn;
    uint8_t params_done;
    uint8_t stdin_done;
    uint8_t response_started; /* response bytes reached the client's queue */
    uint8_t *params;          /* PARAMS content, contiguous */
    size_t params_len, params_cap;
    /* STDIN records already framed for the worker, with the terminator: in body[] up to the
     * spool's mem_max; past it, in body_fd (an unlinked temp file), body[] then staging what is
     * not written yet. body_len counts them all, body_mem_len those in body[]. */
    uint8_t *body;
    size_t body_len, body_mem_len, body_cap;
    uint64_t body_content_len; /* the body's own bytes, without framing (fastcgi.max_body_size) */
    int body_fd; /* -1: the body is in memory */
    const struct body_spool *spool;
    uint64_t queued_ms;
    uint64_t started_ms;
};

/* The request id used on the worker channel: it tells the worker whether the client keeps its
 * connection (see PHPW_REQUEST_ID_KEEP_CONN in sapi/phpw.h). */
static inline uint16_t request_worker_id(const struct request *r)
{
    return r->keep_conn ? 2 : 1;
}

/* Every record of the request has arrived (its PARAMS and STDIN are ended). */
static inline int request_complete(const struct request *r)
{
    return r->params_done && r->stdin_done;
}

/* A spooled body moves through memory in pieces of this size (written, then read back). */
#define REQUEST_BODY_CHUNK (128 * 1024)

/* Where a pool's request bodies go once they outgrow memory. */
struct body_spool {
    size_t mem_max;  /* bytes of framed body kept in memory */
    int dir_fd;      /* the temp directory (O_PATH) */
    const char *dir; /* its name, for log lines */
};

/* Open spool->dir and check a temp file can be made there; 0, or -1 with a log line. */
int body_spool_open(struct body_spool *spool, const char *pool, const char *dir, size_t mem_max);
void body_spool_close(struct body_spool *spool);
/* An unlinked read-write temp file in the spool directory (also for responses buffered for slow
 * clients); -1 with errno. */
int body_spool_tmpfile(const struct body_spool *spool);

/* A new request held by its connection c. */
struct request *request_new(struct conn *c, uint16_t client_id, uint8_t keep_conn,
                            const struct body_spool *spool);
/* Append to params; 0, or -1 when out of memory or past limit. */
int request_add_params(struct request *r, const uint8_t *data, size_t len, size_t limit);
/* Append one STDIN record (len <= 65535; 0 ends the body); 0, or -1 when out of memory or the
 * temp file cannot be written (logged). */
int request_add_stdin(struct request *r, const uint8_t *data, size_t len);
/* Look up a param by name in the PARAMS content (for log lines); returns length or -1. */
int request_param(const struct request *r, const char *name, const uint8_t **value);
/* Take or drop one holder (enum request_holder); the request is freed when none is left. */
void request_hold(struct request *r, unsigned holder);
void request_release(struct request *r, unsigned holder);
static inline int request_held_by(const struct request *r, unsigned holder)
{
    return (r->holders & holder) != 0;
}

#endif
