#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "config.h"
#include "conn_int.h"
#include "fcgi.h"
#include "http_conn.h"
#include "log.h"
#include "pool.h"
#include "request.h"
#include "status.h"

#define CONN_IN_INITIAL 16384
/* Lingering close, as nginx's lingering_time and lingering_timeout. */
#define LINGER_TOTAL_MS 30000
#define LINGER_IDLE_MS 5000

static struct conn *all_conns;
static unsigned n_conns;
/* Killed connections with nothing in flight wait here until the end of the completion batch, so
 * no caller ever holds a pointer to a freed connection. */
static struct conn *dead_conns;

static void conn_flush(struct conn *c);

enum { SEND_QUEUE, SEND_FILL, SEND_PIPE, SEND_POLL };

/* Files go out by splice: file -> pipe, pipe -> socket, the pages never copied to user space.
 * A connection borrows an empty pipe for one file; a few are kept for the next. */
struct conn_pipe {
    struct conn_pipe *next;
    int rd, wr;
    size_t cap;
};
#define PIPES_KEEP 64
#define PIPE_WANT (256 * 1024)
static struct conn_pipe *free_pipes;
static unsigned n_free_pipes;

static void pipe_close(struct conn_pipe *p)
{
    close(p->rd);
    close(p->wr);
    free(p);
}

static struct conn_pipe *pipe_get(void)
{
    struct conn_pipe *p = free_pipes;
    if (p != NULL) {
        free_pipes = p->next;
        n_free_pipes--;
        return p;
    }
    int fds[2];
    p = malloc(sizeof(*p));
    if (p == NULL || pipe2(fds, O_CLOEXEC) < 0) {
        log_error("creating a pipe to send a file failed: %s", p ? strerror(errno) : "no memory");
        free(p);
        return NULL;
    }
    p->rd = fds[0];
    p->wr = fds[1];
    /* A bigger pipe means fewer round trips per file; the default 64 KiB is fine too. */
    int sz = fcntl(p->wr, F_SETPIPE_SZ, PIPE_WANT);
    if (sz < 0) sz = fcntl(p->wr, F_GETPIPE_SZ);
    p->cap = sz > 0 ? (size_t)sz : 65536;
    return p;
}

/* Back to the free list only when empty: leftover bytes would reach the next file's client. */
static void pipe_put(struct conn_pipe *p, int empty)
{
    if (!empty || n_free_pipes >= PIPES_KEEP) {
        pipe_close(p);
        return;
    }
    p->next = free_pipes;
    free_pipes = p;
    n_free_pipes++;
}

/* The file is sent or the connection is gone: let go of the file and the pipe. */
static void file_release(struct conn *c)
{
    if (c->file_fd >= 0) {
        close(c->file_fd);
        c->file_fd = -1;
    }
    if (c->pipe != NULL) {
        pipe_put(c->pipe, c->pipe_bytes == 0);
        c->pipe = NULL;
    }
    c->file_left = 0;
    c->pipe_bytes = 0;
}

unsigned conn_count(void)
{
    return n_conns;
}

static void post_recv(struct conn *c)
{
    if (c->dead || c->recv_posted || c->read_closed || c->out_blocked) return;
    if (c->lingering) {
        c->in_off = c->in_len = 0; /* what a lingering client sends is dropped */
    } else if (c->in_off > 0) {
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
    if (c->in_len == c->in_cap) {
        /* Full: a held protocol waits with what it has; otherwise it fails before this. */
        if (c->in_cap >= c->in_max) return;
        size_t n = c->in_cap * 2 > c->in_max ? c->in_max : c->in_cap * 2;
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

/* Let the protocol parse what is buffered, unless it must not now. After the client's FIN,
 * requests it sent before are still answered in turn; once nothing open is left and what remains
 * cannot be parsed further (an incomplete request), the connection closes after its output. */
static void run_input(struct conn *c)
{
    if (!conn_can_parse(c) || c->in_input) return;
    if (c->in_off < c->in_len) {
        c->in_input = 1;
        c->proto->on_input(c);
        c->in_input = 0;
    }
    if (!c->read_closed || !conn_can_parse(c)) return;
    if (c->req == NULL)
        conn_close_after_output(c, 0);
    else if (!request_complete(c->req))
        conn_kill(c); /* cut off mid-request: it can never be complete */
}

void conn_accepted(struct pool *pool, int fd, enum conn_kind kind, const void *ctx)
{
    struct conn *c = calloc(1, sizeof(*c));
    uint8_t *in = malloc(CONN_IN_INITIAL);
    if (c == NULL || in == NULL) {
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
    c->file_fd = -1;
    c->in = in;
    c->in_cap = CONN_IN_INITIAL;
    c->in_max = 2 * FCGI_MAX_RECORD;
    c->last_active_ms = clock_ms();
    c->send_timeout_ms = pool_config(pool)->fcgi_send_timeout_ms;
    c->proto = kind == CONN_HTTP ? &http_conn_proto : &fcgi_conn_proto;
    c->next = all_conns;
    if (all_conns) all_conns->prev = c;
    all_conns = c;
    n_conns++;
    if (kind == CONN_HTTP && http_conn_attach(c, ctx) < 0) {
        conn_kill(c);
        return;
    }
    post_recv(c);
}

static void conn_free_if_done(struct conn *c)
{
    if (!c->dead || c->inflight > 0 || c->on_dead_list) return;
    c->on_dead_list = 1;
    c->next_dead = dead_conns;
    dead_conns = c;
}

static void conn_free(struct conn *c)
{
    if (c->proto->on_free) c->proto->on_free(c);
    ring_close(c->fd); /* with the next submission: no syscall of its own */
    file_release(c);
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

void conn_reap(void)
{
    while (dead_conns != NULL) {
        struct conn *c = dead_conns;
        dead_conns = c->next_dead;
        conn_free(c);
    }
}

/* Close now: the request (if any) is let go, pending ops complete with errors after shutdown. */
void conn_kill(struct conn *c)
{
    if (c->dead) return;
    c->dead = 1;
    if (c->req != NULL) {
        struct request *r = c->req;
        c->req = NULL;
        if (request_held_by(r, REQ_HELD_BY_POOL)) pool_request_abandoned(r);
        request_release(r, REQ_HELD_BY_CONN);
    }
    /* Ops in flight on the socket end with an error; with none, close alone will do. */
    if (c->inflight > 0) shutdown(c->fd, SHUT_RDWR);
    if (!c->sending) buf_queue_clear(&c->out);
    conn_free_if_done(c);
}

/* ---- response spill: a worker's response past CONN_OUT_HIGH goes to a temp file (nginx's
 * fastcgi_max_temp_file_size), so the worker is free while a slow client reads ---- */

static int spill_allowed(const struct conn *c)
{
    return c->req != NULL && !c->spill_failed && pool_config(c->pool)->response_temp_max > 0;
}

static int spill_start(struct conn *c)
{
    int fd = body_spool_tmpfile(pool_body_spool(c->pool));
    if (fd < 0 || (c->pipe = pipe_get()) == NULL) {
        log_error("[pool %s] fd %d: cannot buffer a response in a temp file in %s: %s; the worker "
                  "waits for the client instead",
                  pool_name(c->pool), c->fd, pool_body_spool(c->pool)->dir, strerror(errno));
        if (fd >= 0) close(fd);
        c->spill_failed = 1;
        return -1;
    }
    c->file_fd = fd;
    c->file_off = c->file_left = c->spill_end = 0;
    c->pipe_bytes = 0;
    c->spilling = 1;
    return 0;
}

/* Written at once (into the page cache, as nginx writes its temp files); sent by splice. */
static int spill_write(struct conn *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = pwrite(c->file_fd, p, len, (off_t)c->spill_end);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            log_error("[pool %s] fd %d: writing a response to its temp file failed: %s",
                      pool_name(c->pool), c->fd, n < 0 ? strerror(errno) : "no progress");
            conn_kill(c);
            return -1;
        }
        p += n;
        len -= (size_t)n;
        c->spill_end += (uint64_t)n;
        c->file_left += (uint64_t)n;
    }
    return 0;
}

/* Where new output goes: 1 to the spill file (started when the memory backlog is full). */
static int to_spill(struct conn *c)
{
    if (c->spilling) return 1;
    return c->out.bytes >= CONN_OUT_HIGH && spill_allowed(c) && spill_start(c) == 0;
}

void conn_queue(struct conn *c, const void *data, size_t len)
{
    if (c->dead) return;
    if (to_spill(c)) {
        if (spill_write(c, data, len) == 0) conn_flush(c);
        return;
    }
    if (buf_queue_append(&c->out, data, len) < 0) {
        conn_kill(c);
        return;
    }
    if (c->out.bytes >= CONN_OUT_HIGH) c->out_blocked = 1;
    conn_flush(c);
}

void conn_queue_buf(struct conn *c, struct buf *b)
{
    if (c->dead) {
        buf_put(b);
        return;
    }
    if (to_spill(c)) {
        int rc = spill_write(c, b->data + b->off, b->len - b->off);
        buf_put(b);
        if (rc == 0) conn_flush(c);
        return;
    }
    buf_queue_push(&c->out, b);
    if (c->out.bytes >= CONN_OUT_HIGH) c->out_blocked = 1;
    conn_flush(c);
}

void conn_send_file(struct conn *c, int fd, uint64_t off, uint64_t len)
{
    if (c->dead) {
        close(fd);
        conn_kill(c);
        return;
    }
    c->file_fd = fd;
    c->file_off = off;
    c->file_left = len;
    c->pipe_bytes = 0;
    if ((c->pipe = pipe_get()) == NULL) {
        conn_kill(c);
        return;
    }
    conn_flush(c);
}

void conn_resume_input(struct conn *c)
{
    c->input_held = 0;
    /* From inside on_input (an answer made at once), its own loop takes the next request. */
    if (c->dead || c->in_input) return;
    run_input(c);
    post_recv(c);
}

/* Nothing is open or waiting to be sent: close now, or start lingering. */
static int output_done(const struct conn *c)
{
    return c->req == NULL && !c->sending && c->out.head == NULL && c->file_left == 0 &&
           c->pipe_bytes == 0;
}

static void close_now_or_linger(struct conn *c)
{
    if (!c->linger || c->read_closed) {
        conn_kill(c);
        return;
    }
    /* nginx's lingering close: our FIN goes out, what the client still sends is read and
     * dropped until it closes, goes quiet, or the total time passes. */
    if (shutdown(c->fd, SHUT_WR) < 0) {
        conn_kill(c);
        return;
    }
    uint64_t now = clock_ms();
    c->lingering = 1;
    c->linger_until_ms = now + LINGER_TOTAL_MS;
    c->last_active_ms = now;
    post_recv(c);
}

void conn_close_after_output(struct conn *c, int linger)
{
    if (c->dead) return;
    c->closing = 1;
    c->linger |= (uint8_t)(linger != 0);
    if (!c->lingering && output_done(c)) close_now_or_linger(c);
}

void conn_finish_request(struct conn *c, struct request *r, int keep)
{
    if (r != NULL) {
        if (c->req == r) c->req = NULL;
        request_release(r, REQ_HELD_BY_CONN);
    }
    if (c->dead) return;
    if (!keep || c->closing)
        conn_close_after_output(c, c->in_len > c->in_off); /* unread bytes: let it read ours */
    else
        conn_resume_input(c);
}

void conn_submit(struct conn *c)
{
    if (status_submit(c->pool, c->req)) return; /* ping.path, pm.status_path */
    pool_submit(c->pool, c->req);
}

void conn_relay(struct conn *c, struct buf *b)
{
    if (c->dead) {
        buf_put(b);
        return;
    }
    if (c->req) c->req->response_started = 1;
    c->proto->on_worker_data(c, b);
}

int conn_backlogged(const struct conn *c)
{
    if (c->dead) return 0;
    if (c->spilling) return c->spill_end >= (uint64_t)pool_config(c->pool)->response_temp_max;
    return c->out.bytes >= CONN_OUT_HIGH && !spill_allowed(c);
}

void conn_request_done(struct conn *c, struct request *r)
{
    c->proto->on_request_done(c, r);
}

void conn_request_failed(struct conn *c, struct request *r, int status)
{
    c->proto->on_request_failed(c, r, status);
}

static void conn_flush(struct conn *c)
{
    if (c->sending || c->dead) return;
    struct buf *b = c->out.head;
    if (b != NULL) {
        ring_send(&c->op_send, c->fd, b->data + b->off, b->len - b->off);
        c->send_kind = SEND_QUEUE;
    } else if (c->pipe_bytes > 0 && c->send_kind == SEND_PIPE) {
        /* The socket was full (EAGAIN): wait until it takes more. */
        ring_poll(&c->op_send, c->fd, POLLOUT);
        c->send_kind = SEND_POLL;
    } else if (c->pipe_bytes > 0) {
        ring_splice(&c->op_send, c->pipe->rd, -1, c->fd, c->pipe_bytes);
        c->send_kind = SEND_PIPE;
    } else if (c->file_left > 0) {
        size_t n = c->file_left < c->pipe->cap ? (size_t)c->file_left : c->pipe->cap;
        ring_splice(&c->op_send, c->file_fd, (int64_t)c->file_off, c->pipe->wr, n);
        c->send_kind = SEND_FILL;
    } else {
        c->send_active = 0;
        if (c->closing && !c->lingering && output_done(c)) close_now_or_linger(c);
        return;
    }
    if (!c->send_active) {
        c->send_active = 1;
        c->send_progress_ms = clock_ms();
    }
    c->sending = 1;
    c->inflight++;
}

static void on_sent(struct conn *c, int res)
{
    c->sending = 0;
    if (c->dead) {
        /* A fill that landed after the kill leaves file bytes in the pipe: file_release() must
         * not hand that pipe to the next client. */
        if (c->send_kind == SEND_FILL && res > 0) c->pipe_bytes += (size_t)res;
        buf_queue_clear(&c->out);
        return;
    }
    if (c->send_kind == SEND_POLL) {
        c->send_kind = SEND_QUEUE; /* anything but SEND_PIPE: the splice is tried again */
        if (res > 0) {
            conn_flush(c);
            return;
        }
    } else if (c->send_kind == SEND_PIPE && res == -EAGAIN) {
        conn_flush(c); /* keeps send_kind SEND_PIPE: polls */
        return;
    }
    if (res <= 0) {
        if (c->send_kind == SEND_FILL)
            log_error("[pool %s] fd %d: reading a file to send failed: %s", pool_name(c->pool),
                      c->fd, res < 0 ? strerror(-res) : "it shrank");
        else if (res < 0 && res != -EPIPE && res != -ECONNRESET)
            log_warning("[pool %s] fd %d: send failed: %s", pool_name(c->pool), c->fd,
                        strerror(-res));
        conn_kill(c);
        return;
    }
    if (c->send_kind != SEND_FILL) c->send_progress_ms = clock_ms();
    if (c->send_kind == SEND_FILL) {
        c->pipe_bytes += (size_t)res;
        c->file_off += (uint64_t)res;
        c->file_left -= (uint64_t)res;
    } else if (c->send_kind == SEND_PIPE) {
        c->pipe_bytes -= (size_t)res;
        if (c->pipe_bytes == 0 && c->file_left == 0) {
            int spilled = c->spilling;
            file_release(c); /* a drained spill file goes too: the next one starts afresh */
            c->spilling = 0;
            if (!spilled && c->proto->on_file_sent) c->proto->on_file_sent(c);
        }
    } else {
        struct buf *b = c->out.head;
        b->off += (uint32_t)res;
        c->out.bytes -= (size_t)res;
        if (b->off == b->len) buf_put(buf_queue_pop(&c->out));
    }
    if (c->dead) return;
    if (c->req != NULL && !conn_backlogged(c)) pool_output_drained(c->req);
    if (c->out_blocked && c->out.bytes < CONN_OUT_LOW && !c->spilling) {
        c->out_blocked = 0;
        run_input(c);
        post_recv(c);
    }
    if (!c->dead) conn_flush(c);
}

static void on_received(struct conn *c, int res)
{
    c->recv_posted = 0;
    if (c->dead) return;
    if (res < 0) {
        if (res != -ECONNRESET && !c->lingering)
            log_warning("[pool %s] fd %d: recv failed: %s", pool_name(c->pool), c->fd,
                        strerror(-res));
        conn_kill(c);
        return;
    }
    if (res == 0) {
        c->read_closed = 1;
        if (c->lingering) {
            conn_kill(c);
            return;
        }
        if (c->proto->on_eof) c->proto->on_eof(c);
        if (!c->dead) run_input(c);
        return;
    }
    c->in_len += (size_t)res;
    c->last_active_ms = clock_ms();
    run_input(c);
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

/* Heartbeat (Swoole's semantics): a client connection with no request open and nothing to send
 * for longer than heartbeat.idle_time (default: twice heartbeat.check_interval) is closed. The
 * check runs on every tick, which is finer than any sensible check_interval. */
static int heartbeat_expired(const struct conn *c, uint64_t now_ms)
{
    const struct pool_config *pc = pool_config(c->pool);
    int idle = pc->heartbeat_idle_time_ms;
    if (idle <= 0) idle = 2 * pc->heartbeat_check_interval_ms;
    if (idle <= 0 || c->req != NULL || c->sending || c->out.head != NULL) return 0;
    return now_ms - c->last_active_ms >= (uint64_t)idle;
}

void conn_tick(uint64_t now_ms)
{
    for (struct conn *c = all_conns; c != NULL; c = c->next) {
        if (c->dead) continue;
        if (c->lingering) {
            if (now_ms >= c->linger_until_ms || now_ms - c->last_active_ms >= LINGER_IDLE_MS)
                conn_kill(c);
        } else if (c->sending && c->send_timeout_ms > 0 &&
                   now_ms - c->send_progress_ms >= (uint64_t)c->send_timeout_ms) {
            /* A client that takes no byte of its response (nginx's send_timeout): nothing more
             * can be said to it, and its queue would hold master memory. */
            log_notice("[pool %s] fd %d: the %s client took nothing of its response for %d ms: "
                       "closing",
                       pool_name(c->pool), c->fd, c->proto->name, c->send_timeout_ms);
            conn_kill(c);
        } else if (heartbeat_expired(c, now_ms)) {
            log_debug("[pool %s] fd %d: closing a connection idle past heartbeat.idle_time",
                      pool_name(c->pool), c->fd);
            conn_kill(c);
        } else if (c->proto->on_tick) {
            c->proto->on_tick(c, now_ms);
        }
    }
}

void conn_stop_all(int graceful)
{
    struct conn *c = all_conns;
    while (c != NULL) {
        struct conn *next = c->next;
        /* Graceful: what is open runs to its end and its output is sent, a lingering close goes
         * on (bounded), nothing new is read. */
        if (!graceful) {
            conn_kill(c);
        } else if (!c->lingering) {
            if (c->proto->on_stop) c->proto->on_stop(c);
            if (c->dead)
                ;
            else if (output_done(c))
                conn_kill(c);
            else
                conn_close_after_output(c, 0);
        }
        c = next;
    }
}
