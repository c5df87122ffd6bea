/* The FastCGI side of a client connection: records in, one request at a time (a request sent
 * while another is still arriving is refused with FCGI_CANT_MPX_CONN; one sent after the first
 * was complete waits for its turn, as under php-fpm), GET_VALUES answered here, and the worker's
 * records relayed back as they are (their ids already rewritten to the client's). */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "conn_int.h"
#include "fcgi.h"
#include "log.h"
#include "pool.h"
#include "request.h"

#define PARAMS_MAX (256 * 1024)

static void send_end_request(struct conn *c, uint16_t id, uint8_t protocol_status)
{
    uint8_t rec[16];
    fcgi_end_request_encode(rec, id, 0, protocol_status);
    conn_queue(c, rec, sizeof(rec));
}

/* A response made here (worker failure, 503): Status header, plain body, END_REQUEST. */
static void send_error_response(struct conn *c, uint16_t id, int status)
{
    const char *reason = status == 503   ? "Service Unavailable"
                         : status == 504 ? "Gateway Timeout"
                         : status == 413 ? "Request Entity Too Large"
                                         : "Bad Gateway";
    char body[256];
    int n = snprintf(body, sizeof(body),
                     "Status: %d %s\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n%d %s\n",
                     status, reason, status, reason);
    uint8_t rec[FCGI_HEADER_LEN * 2 + sizeof(body) + 16];
    size_t len = fcgi_stream_encode(rec, FCGI_STDOUT, id, (const uint8_t *)body, (size_t)n, 1);
    fcgi_end_request_encode(rec + len, id, 0, FCGI_REQUEST_COMPLETE);
    conn_queue(c, rec, len + 16);
}

static void fcgi_worker_data(struct conn *c, struct buf *b)
{
    conn_queue_buf(c, b);
}

static void fcgi_request_done(struct conn *c, struct request *r)
{
    conn_finish_request(c, r, r->keep_conn);
}

static void fcgi_request_failed(struct conn *c, struct request *r, int status)
{
    if (r->response_started) {
        /* Part of a response went out: only a closed connection tells the client it broke. */
        conn_kill(c);
        return;
    }
    send_error_response(c, r->client_id, status);
    conn_finish_request(c, r, r->keep_conn);
}

/* Management records (request id 0). */
static void on_management(struct conn *c, const struct fcgi_record *rec)
{
    if (rec->type == FCGI_GET_VALUES) {
        const struct pool_config *pc = pool_config(c->pool);
        uint8_t out[512];
        size_t n = fcgi_get_values_result(out, sizeof(out), rec->content, rec->content_len,
                                          (unsigned)pc->max_children, (unsigned)pc->max_children);
        if (n > 0) conn_queue(c, out, n);
        return;
    }
    uint8_t out[16];
    fcgi_header_encode(out, FCGI_UNKNOWN_TYPE, 0, 8, 0);
    memset(out + 8, 0, 8);
    out[8] = rec->type;
    conn_queue(c, out, sizeof(out));
}

static void protocol_error(struct conn *c, const char *what)
{
    log_warning("[pool %s] fd %d: FastCGI protocol error: %s; closing the connection",
                pool_name(c->pool), c->fd, what);
    conn_kill(c);
}

static void on_begin(struct conn *c, const struct fcgi_record *rec)
{
    if (rec->content_len < 8) {
        protocol_error(c, "short BEGIN_REQUEST");
        return;
    }
    uint16_t role = (uint16_t)(rec->content[0] << 8 | rec->content[1]);
    uint8_t flags = rec->content[2];
    if (c->req != NULL) {
        /* One request at a time per connection, as php-fpm: a second one arriving while the
         * first is still being sent is refused (fcgi_input holds one sent after it). */
        send_end_request(c, rec->request_id, FCGI_CANT_MPX_CONN);
        return;
    }
    if (role != FCGI_RESPONDER) {
        send_end_request(c, rec->request_id, FCGI_UNKNOWN_ROLE);
        return;
    }
    c->req = request_new(c, rec->request_id, (flags & FCGI_KEEP_CONN) != 0,
                         pool_body_spool(c->pool));
    if (c->req == NULL) conn_kill(c);
}

/* Every pair must be well formed before anything reaches a worker. */
static int params_valid(const struct request *r)
{
    const uint8_t *pos = r->params, *end = r->params + r->params_len, *n, *v;
    uint32_t nl, vl;
    int rc;
    while ((rc = fcgi_nv_next(&pos, end, &n, &nl, &v, &vl)) == 1)
        if (nl == 0) return 0;
    return rc == 0;
}

static void maybe_submit(struct conn *c)
{
    struct request *r = c->req;
    if (request_complete(r)) conn_submit(c);
}

static void on_abort(struct conn *c, struct request *r)
{
    uint16_t id = r->client_id;
    c->req = NULL;
    if (request_held_by(r, REQ_HELD_BY_POOL)) pool_request_abandoned(r);
    request_release(r, REQ_HELD_BY_CONN);
    send_end_request(c, id, FCGI_REQUEST_COMPLETE);
}

/* Answer status to r, still arriving, and let go of it; unless keep, close after the answer
 * (lingering: the client may still be sending). */
static void refuse_arriving(struct conn *c, struct request *r, int status, int keep)
{
    send_error_response(c, r->client_id, status);
    c->req = NULL;
    request_release(r, REQ_HELD_BY_CONN);
    if (!keep) conn_close_after_output(c, 1);
}

/* A body past fastcgi.max_body_size: 413, and the rest of its STDIN is ignored (records for a
 * request that is not open are dropped). */
static void body_too_large(struct conn *c, struct request *r)
{
    const struct pool_config *pc = pool_config(c->pool);
    log_warning("[pool %s] fd %d: FastCGI request body larger than fastcgi.max_body_size (%lld "
                "bytes): answering 413",
                pool_name(c->pool), c->fd, pc->fcgi_max_body_size);
    refuse_arriving(c, r, 413, r->keep_conn);
}

static void on_record(struct conn *c, const struct fcgi_record *rec)
{
    if (rec->request_id == 0) {
        on_management(c, rec);
        return;
    }
    if (rec->type == FCGI_BEGIN_REQUEST) {
        on_begin(c, rec);
        return;
    }
    struct request *r = c->req;
    /* Records for a request id that is not open (a refused second request) are ignored. */
    if (r == NULL || rec->request_id != r->client_id) {
        if (rec->type > FCGI_UNKNOWN_TYPE) protocol_error(c, "unknown record type");
        return;
    }
    switch (rec->type) {
    case FCGI_PARAMS:
        if (r->params_done) {
            protocol_error(c, "PARAMS after the end of PARAMS");
            return;
        }
        if (rec->content_len == 0) {
            if (!params_valid(r)) {
                protocol_error(c, "malformed PARAMS name-value pairs");
                return;
            }
            r->params_done = 1;
            maybe_submit(c);
        } else if (request_add_params(r, rec->content, rec->content_len, PARAMS_MAX) < 0) {
            protocol_error(c, "PARAMS larger than 256 KiB");
        }
        return;
    case FCGI_STDIN:
        if (r->stdin_done) {
            protocol_error(c, "STDIN after the end of STDIN");
            return;
        }
        long long limit = pool_config(c->pool)->fcgi_max_body_size;
        if (limit > 0 && (long long)(r->body_content_len + rec->content_len) > limit) {
            body_too_large(c, r);
            return;
        }
        if (request_add_stdin(r, rec->content, rec->content_len) < 0) {
            log_error("[pool %s] fd %d: request body lost; closing the connection",
                      pool_name(c->pool), c->fd);
            conn_kill(c);
            return;
        }
        if (rec->content_len == 0) {
            r->stdin_done = 1;
            maybe_submit(c);
        }
        return;
    case FCGI_ABORT_REQUEST: on_abort(c, r); return;
    case FCGI_DATA: return; /* only the Filter role uses it */
    default: protocol_error(c, "unexpected record type from the client"); return;
    }
}

static void fcgi_input(struct conn *c)
{
    while (c->in_off < c->in_len && conn_can_parse(c)) {
        struct fcgi_record rec;
        ssize_t n = fcgi_record_parse(c->in + c->in_off, c->in_len - c->in_off, &rec);
        if (n < 0) {
            protocol_error(c, "bad record header (version is not 1)");
            return;
        }
        if (n == 0) break;
        if (rec.type == FCGI_BEGIN_REQUEST && rec.request_id != 0 && c->req != NULL &&
            request_complete(c->req)) {
            /* The next request, sent before our answer: it waits, unread, for its turn. */
            c->input_held = 1;
            return;
        }
        c->in_off += (size_t)n;
        on_record(c, &rec);
    }
}

/* Graceful stop: a request still arriving is refused now (the client reads the 503 while we
 * linger); a complete one runs to its end. */
static void fcgi_stop(struct conn *c)
{
    struct request *r = c->req;
    if (r != NULL && !request_complete(r)) refuse_arriving(c, r, 503, 0);
}

const struct conn_proto fcgi_conn_proto = {
    .name = "fastcgi",
    .on_input = fcgi_input,
    .on_worker_data = fcgi_worker_data,
    .on_request_done = fcgi_request_done,
    .on_request_failed = fcgi_request_failed,
    .on_stop = fcgi_stop,
};
