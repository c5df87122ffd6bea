#include "conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "config.h"
#include "fcgi.h"
#include "fdreg.h"
#include "log.h"
#include "pool.h"
#include "request.h"

/* Limits on what a client may send before its request is complete. */
#define CONN_IN_INITIAL 16384
#define CONN_IN_MAX (2 * FCGI_MAX_RECORD)
#define PARAMS_MAX (256 * 1024)

struct conn {
    struct op op_recv;
    struct op op_send;
    struct conn *prev, *next; /* every open connection, for stop */
    struct pool *pool;
    int fd;
    unsigned inflight;   /* ops submitted and not completed */
    uint8_t recv_posted; /* a recv is in flight */
    uint8_t sending;     /* a send is in flight */
    uint8_t closing;     /* close once the send queue is empty */
    uint8_t dead;        /* shut down; freed when nothing is in flight */
    uint8_t *in;
    size_t in_len, in_cap;
    struct buf_queue out;
    struct request *req; /* the one request this connection has open */
    struct conn *next_dead;
    uint8_t on_dead_list;
};

static struct conn *all_conns;
static unsigned n_conns;
/* Killed connections with nothing in flight wait here until the end of the completion batch, so
 * no caller ever holds a pointer to a freed connection. */
static struct conn *dead_conns;

static void conn_kill(struct conn *c);
static void conn_flush(struct conn *c);
static void conn_free(struct conn *c);

unsigned conn_count(void)
{
    return n_conns;
}

static void post_recv(struct conn *c)
{
    if (c->dead || c->recv_posted) return;
    if (c->in_len == c->in_cap) {
        if (c->in_cap >= CONN_IN_MAX) return; /* a full record always fits; parser is stuck */
        size_t n = c->in_cap * 2 > CONN_IN_MAX ? CONN_IN_MAX : c->in_cap * 2;
        uint8_t *p = realloc(c->in, n);
        if (p == NULL) {
            log_error("[pool %s] fd %d: out of memory growing input buffer", pool_name(c->pool),
                      c->fd);
            conn_kill(c);
            return;
        }
        c->in = p;
        c->in_cap = n;
    }
    ring_recv(&c->op_recv, c->fd, c->in + c->in_len, c->in_cap - c->in_len);
    c->recv_posted = 1;
    c->inflight++;
}

void conn_accepted(struct pool *pool, int fd)
{
    struct conn *c = calloc(1, sizeof(*c));
    uint8_t *in = malloc(CONN_IN_INITIAL);
    if (c == NULL || in == NULL || fdreg_add(fd) < 0) {
        log_error("[pool %s] out of memory accepting fd %d", pool_name(pool), fd);
        free(c);
        free(in);
        close(fd);
        return;
    }
    c->op_recv.kind = OP_CONN_RECV;
    c->op_send.kind = OP_CONN_SEND;
    c->pool = pool;
    c->fd = fd;
    c->in = in;
    c->in_cap = CONN_IN_INITIAL;
    c->next = all_conns;
    if (all_conns) all_conns->prev = c;
    all_conns = c;
    n_conns++;
    post_recv(c);
}

static void conn_free_if_done(struct conn *c)
{
    if (!c->dead || c->inflight > 0 || c->on_dead_list) return;
    c->on_dead_list = 1;
    c->next_dead = dead_conns;
    dead_conns = c;
}

void conn_reap(void)
{
    while (dead_conns != NULL) {
        struct conn *c = dead_conns;
        dead_conns = c->next_dead;
        conn_free(c);
    }
}

static void conn_free(struct conn *c)
{
    fdreg_del(c->fd);
    close(c->fd);
    buf_queue_clear(&c->out);
    free(c->in);
    if (c->prev)
        c->prev->next = c->next;
    else
        all_conns = c->next;
    if (c->next) c->next->prev = c->prev;
    n_conns--;
    free(c);
}

/* Close now: the request (if any) is let go, pending ops complete with errors after shutdown. */
static void conn_kill(struct conn *c)
{
    if (c->dead) return;
    c->dead = 1;
    if (c->req != NULL) {
        struct request *r = c->req;
        c->req = NULL;
        if (r->in_pool) pool_request_abandoned(r);
        request_release_conn(r);
    }
    shutdown(c->fd, SHUT_RDWR);
    if (!c->sending) buf_queue_clear(&c->out);
    conn_free_if_done(c);
}

static void queue_bytes(struct conn *c, const void *data, size_t len)
{
    if (c->dead) return;
    if (buf_queue_append(&c->out, data, len) < 0) {
        conn_kill(c);
        return;
    }
    conn_flush(c);
}

static void send_end_request(struct conn *c, uint16_t id, uint8_t protocol_status)
{
    uint8_t rec[16];
    fcgi_end_request_encode(rec, id, 0, protocol_status);
    queue_bytes(c, rec, sizeof(rec));
}

/* A response made here (errors, 503): Status header, plain body, END_REQUEST. */
static void send_error_response(struct conn *c, uint16_t id, int status)
{
    const char *reason = status == 503   ? "Service Unavailable"
                         : status == 504 ? "Gateway Timeout"
                         : status == 413 ? "Payload Too Large"
                                         : "Bad Gateway";
    char body[512];
    int n = snprintf(body, sizeof(body),
                     "Status: %d %s\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n%d %s\n",
                     status, reason, status, reason);
    uint8_t rec[FCGI_HEADER_LEN * 2 + sizeof(body)];
    size_t len = fcgi_stream_encode(rec, FCGI_STDOUT, id, (const uint8_t *)body, (size_t)n, 1);
    queue_bytes(c, rec, len);
    send_end_request(c, id, FCGI_REQUEST_COMPLETE);
}

void conn_relay(struct conn *c, struct buf *b)
{
    if (c->dead) {
        buf_put(b);
        return;
    }
    if (c->req) c->req->response_started = 1;
    buf_queue_push(&c->out, b);
    conn_flush(c);
}

void conn_relay_copy(struct conn *c, const void *data, size_t len)
{
    if (c->req) c->req->response_started = 1;
    queue_bytes(c, data, len);
}

void conn_request_done(struct conn *c, struct request *r)
{
    if (c->req == r) c->req = NULL;
    int keep = r->keep_conn;
    request_release_conn(r);
    if (c->dead) return;
    if (!keep) {
        c->closing = 1;
        if (!c->sending && c->out.head == NULL) conn_kill(c);
    }
}

void conn_request_failed(struct conn *c, struct request *r, int status)
{
    if (r->response_started) {
        /* Part of a response went out: only a closed connection tells the client it is broken. */
        conn_kill(c);
        return;
    }
    send_error_response(c, r->client_id, status);
    conn_request_done(c, r);
}

static void conn_flush(struct conn *c)
{
    if (c->sending || c->dead) return;
    struct buf *b = c->out.head;
    if (b == NULL) {
        if (c->closing) conn_kill(c);
        return;
    }
    ring_send(&c->op_send, c->fd, b->data + b->off, b->len - b->off);
    c->sending = 1;
    c->inflight++;
}

static void on_sent(struct conn *c, int res)
{
    c->sending = 0;
    if (c->dead) {
        buf_queue_clear(&c->out);
        return;
    }
    if (res <= 0) {
        if (res < 0 && res != -EPIPE && res != -ECONNRESET)
            log_warning("[pool %s] fd %d: send failed: %s", pool_name(c->pool), c->fd,
                        strerror(-res));
        conn_kill(c);
        return;
    }
    struct buf *b = c->out.head;
    b->off += (uint32_t)res;
    c->out.bytes -= (size_t)res;
    if (b->off == b->len) {
        c->out.head = b->next;
        if (c->out.head == NULL) c->out.tail = NULL;
        buf_put(b);
    }
    conn_flush(c);
}

/* Management records (request id 0). */
static void on_management(struct conn *c, const struct fcgi_record *rec)
{
    if (rec->type == FCGI_GET_VALUES) {
        const struct pool_config *pc = pool_config(c->pool);
        uint8_t out[512];
        size_t n = fcgi_get_values_result(out, sizeof(out), rec->content, rec->content_len,
                                          (unsigned)pc->max_children, (unsigned)pc->max_children);
        if (n > 0) queue_bytes(c, out, n);
        return;
    }
    uint8_t out[16];
    fcgi_header_encode(out, FCGI_UNKNOWN_TYPE, 0, 8, 0);
    memset(out + 8, 0, 8);
    out[8] = rec->type;
    queue_bytes(c, out, sizeof(out));
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
        /* One request at a time per connection, as php-fpm: refuse the second one. */
        send_end_request(c, rec->request_id, FCGI_CANT_MPX_CONN);
        return;
    }
    if (role != FCGI_RESPONDER) {
        send_end_request(c, rec->request_id, FCGI_UNKNOWN_ROLE);
        return;
    }
    c->req = request_new(rec->request_id, (flags & FCGI_KEEP_CONN) != 0);
    if (c->req == NULL) {
        conn_kill(c);
        return;
    }
    c->req->conn = c;
    c->closing = 0;
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
    if (!r->params_done || !r->stdin_done || r->in_pool) return;
    r->in_pool = 1;
    r->queued_ms = clock_ms();
    pool_submit(c->pool, r);
}

static void on_abort(struct conn *c, struct request *r)
{
    uint16_t id = r->client_id;
    c->req = NULL;
    if (r->in_pool) pool_request_abandoned(r);
    request_release_conn(r);
    send_end_request(c, id, FCGI_REQUEST_COMPLETE);
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
        if (request_add_stdin(r, rec->content, rec->content_len) < 0) {
            log_error("[pool %s] fd %d: out of memory buffering a request body",
                      pool_name(c->pool), c->fd);
            conn_kill(c);
            return;
        }
        if (rec->content_len == 0) {
            r->stdin_done = 1;
            maybe_submit(c);
        }
        return;
    case FCGI_ABORT_REQUEST:
        on_abort(c, r);
        return;
    case FCGI_DATA:
        return; /* only the Filter role uses it */
    default:
        protocol_error(c, "unexpected record type from the client");
        return;
    }
}

static void on_received(struct conn *c, int res)
{
    c->recv_posted = 0;
    if (c->dead) return;
    if (res <= 0) {
        if (res < 0 && res != -ECONNRESET)
            log_warning("[pool %s] fd %d: recv failed: %s", pool_name(c->pool), c->fd,
                        strerror(-res));
        conn_kill(c);
        return;
    }
    c->in_len += (size_t)res;
    size_t off = 0;
    while (off < c->in_len && !c->dead) {
        struct fcgi_record rec;
        ssize_t n = fcgi_record_parse(c->in + off, c->in_len - off, &rec);
        if (n < 0) {
            protocol_error(c, "bad record header (version is not 1)");
            return;
        }
        if (n == 0) break;
        on_record(c, &rec);
        off += (size_t)n;
    }
    if (c->dead) return;
    if (off > 0) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    post_recv(c);
}

void conn_complete(const struct completion *cp)
{
    struct conn *c;
    if (cp->op->kind == OP_CONN_RECV) {
        c = container_of(cp->op, struct conn, op_recv);
        c->inflight--;
        on_received(c, cp->res);
    } else {
        c = container_of(cp->op, struct conn, op_send);
        c->inflight--;
        on_sent(c, cp->res);
    }
    conn_free_if_done(c); /* freed later, in conn_reap() */
}

void conn_stop_all(int graceful)
{
    struct conn *c = all_conns;
    while (c != NULL) {
        struct conn *next = c->next;
        if (graceful && c->req != NULL)
            c->closing = 1;
        else if (!graceful || (!c->sending && c->out.head == NULL))
            conn_kill(c);
        else
            c->closing = 1;
        c = next;
    }
}
