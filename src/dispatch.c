/* A pool's queue and dispatch: a submitted request goes to an idle worker, or waits in the queue
 * (bounded by queue.max, past it 503); sending it to the worker writes BEGIN_REQUEST + PARAMS +
 * STDIN with one sendmsg, or streams a spooled body from its temp file in chunks. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "pool_int.h"
#include "status.h"

void idle_remove(struct pool *p, struct worker *w)
{
    if (!w->in_idle) return;
    for (struct worker **pp = &p->idle; *pp; pp = &(*pp)->next_idle)
        if (*pp == w) {
            *pp = w->next_idle;
            break;
        }
    w->in_idle = 0;
}

static struct worker *idle_pop(struct pool *p)
{
    struct worker *w = p->idle;
    if (w != NULL) {
        p->idle = w->next_idle;
        w->in_idle = 0;
    }
    return w;
}

static struct request *queue_pop(struct pool *p)
{
    struct request *r = p->queue_head;
    if (r == NULL) return NULL;
    p->queue_head = r->next;
    if (p->queue_head == NULL) p->queue_tail = NULL;
    p->queue_len--;
    return r;
}

int dispatch_unqueue(struct pool *p, struct request *r)
{
    struct request *prev = NULL;
    for (struct request *q = p->queue_head; q; prev = q, q = q->next) {
        if (q != r) continue;
        if (prev)
            prev->next = q->next;
        else
            p->queue_head = q->next;
        if (p->queue_tail == q) p->queue_tail = prev;
        p->queue_len--;
        return 1;
    }
    return 0;
}

/* Start sending r to w. 0, or -1 (logged) when w cannot take it. */
static int dispatch(struct worker *w, struct request *r)
{
    size_t need = 16 + fcgi_stream_size(r->params_len, 1);
    if (need > w->head_cap) {
        uint8_t *h = realloc(w->head, need);
        if (h == NULL) {
            log_error("[pool %s] out of memory dispatching a request", w->pool->cfg->name);
            return -1;
        }
        w->head = h;
        w->head_cap = need;
    }
    uint16_t id = request_worker_id(r);
    fcgi_begin_request_encode(w->head, id, FCGI_RESPONDER, FCGI_KEEP_CONN);
    size_t n = 16 + fcgi_stream_encode(w->head + 16, FCGI_PARAMS, id, r->params, r->params_len, 1);
    w->iov[0].iov_base = w->head;
    w->iov[0].iov_len = n;
    w->iov[1].iov_base = r->body;
    w->iov[1].iov_len = r->body_fd < 0 ? r->body_len : 0;
    w->send_req = r;
    request_hold(r, REQ_HELD_BY_SEND);
    w->body_sent = 0;
    memset(&w->msg, 0, sizeof(w->msg));
    w->msg.msg_iov = w->iov;
    w->msg.msg_iovlen = 2;
    ring_sendmsg(&w->op_send, w->fd, &w->msg);
    w->inflight++;
    w->sending = 1;
    w->seq++;
    w->req = r;
    r->worker = w;
    r->started_ms = w->last_output_ms = clock_ms();
    w->state = W_BUSY;
    w->finished_early = 0;
    w->pool->requests++;
    status_dispatched(w, r);
    fcgi_relay_init(&w->relay);
    return 0;
}

void dispatch_next(struct worker *w)
{
    struct pool *p = w->pool;
    /* Still sending the last request's body (the worker answered before reading it all): the send
     * completion calls back here. */
    if (w->state != W_IDLE || w->sending || w->in_idle) return;
    if (w->retire_asked ||
        (p->cfg->max_requests > 0 && w->served >= (unsigned long)p->cfg->max_requests)) {
        worker_retire(w);
        return;
    }
    struct request *r;
    while ((r = queue_pop(p)) != NULL) {
        if (dispatch(w, r) == 0) return;
        relay_news(r, REQ_NEWS_FAILED, 502);
        request_release(r, REQ_HELD_BY_POOL);
    }
    if (p->stopping) {
        worker_retire(w);
        return;
    }
    w->next_idle = p->idle;
    p->idle = w;
    w->in_idle = 1;
    w->idle_since_ms = clock_ms();
}

/* r comes back unrun from a worker that left: ahead of every request that came after it. */
static void requeue(struct pool *p, struct request *r)
{
    if (r->conn == NULL) { /* its client left meanwhile: nobody waits for it */
        request_release(r, REQ_HELD_BY_POOL);
        return;
    }
    struct worker *w = idle_pop(p);
    if (w != NULL) {
        if (dispatch(w, r) == 0) return;
        dispatch_next(w);
    }
    /* Past queue.max too: it was admitted already. */
    r->next = p->queue_head;
    p->queue_head = r;
    if (p->queue_tail == NULL) p->queue_tail = r;
    p->queue_len++;
    pm_request_queued(p);
}

void dispatch_requeue(struct worker *w, struct request *r)
{
    struct pool *p = w->pool;
    w->req = NULL;
    r->worker = NULL;
    p->requests--; /* counted when it is handed out again */
    /* The worker read it all before answering, but the send's completion may still be to come:
     * until then the send path holds r (REQ_HELD_BY_SEND), and another worker's cannot. */
    if (w->send_req == r)
        w->requeue_req = r;
    else
        requeue(p, r);
}

/* Refuse r at once (pool stopping, queue full): its connection hears it after the batch. */
static void refuse(struct request *r, int status)
{
    relay_news(r, REQ_NEWS_FAILED, status);
    request_release(r, REQ_HELD_BY_POOL);
}

void pool_submit(struct pool *p, struct request *r)
{
    request_hold(r, REQ_HELD_BY_POOL);
    r->pool = p;
    r->queued_ms = clock_ms();
    if (p->stopping) {
        p->requests_refused++;
        refuse(r, 503);
        return;
    }
    struct worker *w = idle_pop(p);
    if (w != NULL) {
        if (dispatch(w, r) == 0) return;
        dispatch_next(w);
    }
    if (p->queue_len >= (unsigned)p->cfg->queue_max) {
        uint64_t now = clock_ms();
        if (now - p->queue_full_logged_ms > 10000) {
            log_warning("[pool %s] request queue is full (queue.max = %d): answering 503",
                        p->cfg->name, p->cfg->queue_max);
            p->queue_full_logged_ms = now;
        }
        p->requests_refused++;
        refuse(r, 503);
        return;
    }
    r->next = NULL;
    if (p->queue_tail)
        p->queue_tail->next = r;
    else
        p->queue_head = r;
    p->queue_tail = r;
    p->queue_len++;
    if (p->queue_len > p->queue_len_max) p->queue_len_max = p->queue_len;
    pm_request_queued(p);
}

void pool_request_abandoned(struct request *r)
{
    struct worker *w = r->worker;
    if (w == NULL) {
        /* Queued: it never runs. */
        if (r->pool != NULL && dispatch_unqueue(r->pool, r)) request_release(r, REQ_HELD_BY_POOL);
        return;
    }
    if (w->recv_held) relay_post_recv(w); /* its output is dropped from now on */
    /* Running: its output is dropped once r->conn is gone, and the script learns of it at its next
     * output, as under php-fpm (see SIGURG in sapi/phpw.h). */
    if (w->req == r && w->state == W_BUSY && !w->finished_early) {
        union sigval v = {.sival_int = (int)w->seq};
        if (sigqueue(w->pid, SIGURG, v) < 0 && errno != ESRCH)
            log_warning("[pool %s] child %d: sigqueue(SIGURG): %s", w->pool->cfg->name,
                        (int)w->pid, strerror(errno));
    }
}

/* Everything of the request is sent, or the channel broke. */
static void send_done(struct worker *w)
{
    struct request *r = w->send_req;
    w->send_req = NULL;
    if (r == NULL) return;
    request_release(r, REQ_HELD_BY_SEND); /* the pool still holds it when it is requeued */
    if (w->requeue_req == r) {
        w->requeue_req = NULL;
        requeue(w->pool, r);
    }
}

/* Send what is left of the request: the iovecs, then the spooled body chunk by chunk. */
static void send_more(struct worker *w)
{
    struct request *r = w->send_req;
    if (w->channel_closed || r == NULL) {
        send_done(w);
        return;
    }
    if (w->iov[0].iov_len > 0 || w->iov[1].iov_len > 0) {
        ring_sendmsg(&w->op_send, w->fd, &w->msg);
    } else if (r->body_fd >= 0 && w->body_sent < r->body_len) {
        if (w->body_chunk == NULL && (w->body_chunk = malloc(REQUEST_BODY_CHUNK)) == NULL) {
            worker_broken(w, "no memory to send a request body");
            send_done(w);
            return;
        }
        uint64_t left = r->body_len - w->body_sent;
        ring_read(&w->op_send, r->body_fd, w->body_chunk,
                  left < REQUEST_BODY_CHUNK ? left : REQUEST_BODY_CHUNK, w->body_sent);
        w->reading_body = 1;
    } else {
        send_done(w);
        dispatch_next(w);
        return;
    }
    w->inflight++;
    w->sending = 1;
}

void dispatch_send_completed(struct worker *w, int res)
{
    w->sending = 0;
    if (w->reading_body) {
        w->reading_body = 0;
        if (res <= 0) {
            log_error("[pool %s] child %d: reading a spooled request body failed: %s",
                      w->pool->cfg->name, (int)w->pid, res < 0 ? strerror(-res) : "end of file");
            worker_broken(w, "its request body could not be sent");
            send_done(w);
            return;
        }
        w->body_sent += (uint64_t)res;
        w->iov[0].iov_base = w->body_chunk;
        w->iov[0].iov_len = (size_t)res;
        send_more(w);
        return;
    }
    if (res < 0) {
        if (!w->channel_closed) {
            log_warning("[pool %s] child %d: sending the request failed: %s", w->pool->cfg->name,
                        (int)w->pid, strerror(-res));
            worker_broken(w, "its channel broke");
        }
        send_done(w);
        return;
    }
    /* Partial send: advance the two iovecs. */
    size_t sent = (size_t)res;
    for (int i = 0; i < 2 && sent > 0; i++) {
        size_t k = sent < w->iov[i].iov_len ? sent : w->iov[i].iov_len;
        w->iov[i].iov_base = (uint8_t *)w->iov[i].iov_base + k;
        w->iov[i].iov_len -= k;
        sent -= k;
    }
    send_more(w);
}
