/* The relay: reads a worker's channel, follows its FastCGI records (request ids rewritten to the
 * client's), and queues the output and the request's end on the request; relay_deliver() hands
 * them to the connection after the completion batch. */
#include "relay.h"

#include <errno.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "pool_int.h"
#include "status.h"

/* Requests with output or news for their connection, in the order they got them. */
static struct request *news_head, *news_tail;

static void news_list_add(struct request *r)
{
    if (r->on_news_list) return;
    r->on_news_list = 1;
    request_hold(r, REQ_HELD_BY_RELAY);
    r->next_news = NULL;
    if (news_tail)
        news_tail->next_news = r;
    else
        news_head = r;
    news_tail = r;
}

void relay_news(struct request *r, enum request_news news, int status)
{
    if (r->conn == NULL) return; /* nobody is waiting for it */
    r->news = (uint8_t)news;
    r->news_status = (uint16_t)status;
    news_list_add(r);
}

int relay_deliver(void)
{
    if (news_head == NULL) return 0;
    struct request *r;
    while ((r = news_head) != NULL) {
        news_head = r->next_news;
        if (news_head == NULL) news_tail = NULL;
        r->on_news_list = 0;
        struct buf *b;
        while (r->conn != NULL && (b = buf_queue_pop(&r->relayed)) != NULL) conn_relay(r->conn, b);
        buf_queue_clear(&r->relayed);
        enum request_news news = (enum request_news)r->news;
        r->news = REQ_NEWS_NONE;
        if (r->conn != NULL && news == REQ_NEWS_DONE) conn_request_done(r->conn, r);
        if (r->conn != NULL && news == REQ_NEWS_FAILED)
            conn_request_failed(r->conn, r, r->news_status);
        if (!r->on_news_list) request_release(r, REQ_HELD_BY_RELAY);
    }
    return 1;
}

void relay_post_recv(struct worker *w)
{
    if (w->recv_posted || w->channel_closed) return;
    const struct request *r = w->req;
    w->recv_held = r != NULL && r->conn != NULL && conn_backlogged(r->conn);
    if (w->recv_held) return;
    if (w->rbuf == NULL) {
        w->rbuf = buf_get();
        if (w->rbuf == NULL) return; /* retried on the next tick */
    }
    ring_recv(&w->op_recv, w->fd, w->rbuf->data, BUF_CAP);
    w->recv_posted = 1;
    w->inflight++;
}

void pool_output_drained(struct request *r)
{
    struct worker *w = r->worker;
    if (w != NULL && w->req == r && w->recv_held) relay_post_recv(w);
}

void relay_request_over(struct worker *w)
{
    struct request *r = w->req;
    if (r != NULL) status_request_over(w);
    w->req = NULL;
    if (r != NULL) request_release(r, REQ_HELD_BY_POOL);
}

void relay_fail_running(struct worker *w, int status)
{
    struct request *r = w->req;
    if (r == NULL) return;
    if (!w->finished_early) relay_news(r, REQ_NEWS_FAILED, status);
    relay_request_over(w);
}

/* One END_REQUEST from the worker. */
static void on_end_request(struct worker *w)
{
    struct request *r = w->req;
    if (w->relay.app_status == PHPW_APP_STATUS_FINISHED && !w->finished_early) {
        /* fastcgi_finish_request(): the client's response is complete, the script runs on. */
        w->finished_early = 1;
        if (r != NULL) relay_news(r, REQ_NEWS_DONE, 0);
        return;
    }
    if (r != NULL && !w->finished_early) relay_news(r, REQ_NEWS_DONE, 0);
    relay_request_over(w);
    w->served++;
    w->finished_early = 0;
    if (w->relay.app_status == PHPW_APP_STATUS_LEAVING) {
        /* A resident worker that leaves on its own (worker.max_requests, memory, a fatal): it
         * takes nothing more; its exit is planned, so the successor comes at once. */
        worker_retire(w);
    } else if (w->state == W_BUSY) {
        w->state = W_IDLE;
        dispatch_next(w);
    }
}

/* Relay n bytes at p of the running response, from b (moved to the request when they are all
 * of it: *b is then NULL). Returns the bytes taken, less than n when the response ended inside,
 * or -1 when the worker was found broken. */
static ssize_t relay_response(struct worker *w, struct buf **b, uint8_t *p, size_t n)
{
    struct request *r = w->req;
    if (r == NULL) {
        worker_broken(w, "sent output while no request was running");
        return -1;
    }
    ssize_t k = fcgi_relay_scan(&w->relay, p, n, r->client_id);
    if (k < 0) {
        worker_broken(w, "sent a malformed FastCGI record");
        return -1;
    }
    if (r->conn != NULL && !w->finished_early && k > 0) {
        if (*b != NULL && p == (*b)->data && (size_t)k == (*b)->len) {
            buf_queue_push(&r->relayed, *b); /* the whole chunk moves, no copy */
            *b = NULL;
        } else if (buf_queue_append(&r->relayed, p, (size_t)k) < 0) {
            worker_broken(w, "its output could not be buffered"); /* answers 502 */
            return -1;
        }
        news_list_add(r);
    }
    if (w->relay.ended) {
        on_end_request(w);
        fcgi_relay_init(&w->relay);
        w->in_response = 0;
    }
    return k;
}

/* The leaving notice (sapi/phpw.h): the resident bootstrap returned by itself. */
static void on_leaving_notice(struct worker *w)
{
    struct pool *p = w->pool;
    if (w->returned || w->state == W_RETIRING || w->state == W_EMPTY) return; /* known already */
    w->returned = 1;
    /* None served: the worker's own warning says why (and pool.c backs off its respawn). */
    if (w->served > 0 && !p->stopping)
        log_notice("[pool %s] child %d: the bootstrap returned after %lu requests; the worker "
                   "is replaced",
                   p->cfg->name, (int)w->pid, w->served);
    if (w->state == W_IDLE && !w->sending) {
        idle_remove(p, w);
        worker_retire(w);
    } else {
        /* A request is on its way to it (answered UNSERVED), or its last one is still being
         * sent: dispatch_next() retires it once that is over. */
        w->retire_asked = 1;
    }
}

/* The worker answered its request UNSERVED, with nothing before (sapi/phpw.h): it is leaving. */
static void on_unserved(struct worker *w)
{
    struct request *r = w->req;
    if (r == NULL) {
        worker_broken(w, "answered a request while none was running");
        return;
    }
    w->retire_asked = 1;
    if (w->served > 0) {
        log_debug("[pool %s] child %d: handed its request back unserved; it goes to the next "
                  "worker",
                  w->pool->cfg->name, (int)w->pid);
        dispatch_requeue(w, r); /* the client never hears of it */
    } else {
        relay_fail_running(w, 502); /* a bootstrap that serves nothing would do the same again */
    }
    if (w->state == W_BUSY) {
        w->state = W_IDLE;
        dispatch_next(w); /* retires it, once the request's sending is over */
    }
}

/* A whole record the worker wrote outside a response: 1 when it is one (and handled), 0 when it
 * starts a response. */
static int on_lead_record(struct worker *w, const uint8_t *rec)
{
    uint16_t id = 0;
    uint32_t app_status = 0;
    if (fcgi_end_request_peek(rec, 16, &id, &app_status) != 1) return 0;
    if (id == 0 && app_status == PHPW_APP_STATUS_LEAVING) {
        on_leaving_notice(w);
        return 1;
    }
    if (id != 0 && app_status == PHPW_APP_STATUS_UNSERVED && !w->finished_early) {
        on_unserved(w);
        return 1;
    }
    return 0;
}

static void on_worker_data(struct worker *w, struct buf *b)
{
    size_t off = 0, len = b->len;
    while (off < len && !w->channel_closed) {
        if (!w->in_response) {
            /* The first bytes after an END_REQUEST: a response, or a record of sapi/phpw.h's
             * that is not one and must reach no client. Mostly a chunk holds enough to tell. */
            uint16_t id;
            uint32_t st;
            if (w->lead_len == 0) {
                int k = fcgi_end_request_peek(b->data + off, len - off, &id, &st);
                if (k == 0) { /* the rest comes with the next chunk */
                    memcpy(w->lead, b->data + off, len - off);
                    w->lead_len = (uint8_t)(len - off);
                    break;
                }
                if (k == 1 && on_lead_record(w, b->data + off)) {
                    off += 16;
                    continue;
                }
                w->in_response = 1;
            } else {
                size_t had = w->lead_len, take = sizeof(w->lead) - had;
                if (take > len - off) take = len - off;
                memcpy(w->lead + had, b->data + off, take);
                int k = fcgi_end_request_peek(w->lead, had + take, &id, &st);
                if (k == 0) {
                    w->lead_len = (uint8_t)(had + take);
                    break;
                }
                w->lead_len = 0;
                if (k == 1 && on_lead_record(w, w->lead)) {
                    off += take; /* had + take == 16 */
                    continue;
                }
                /* A response after all: what was kept goes first (copied), then this chunk. */
                w->in_response = 1;
                struct buf *none = NULL;
                /* They are less than an END_REQUEST: the response does not end inside. */
                if (relay_response(w, &none, w->lead, had) < 0) break;
                continue;
            }
        }
        ssize_t n = relay_response(w, &b, b->data + off, len - off);
        if (n < 0) break;
        off += (size_t)n;
    }
    if (b != NULL) buf_put(b);
}

static void worker_channel_closed(struct worker *w)
{
    w->channel_closed = 1;
    relay_fail_running(w, 502);
    if (w->state == W_IDLE) idle_remove(w->pool, w);
    if (w->state != W_EMPTY) w->state = W_RETIRING;
}

void relay_recv_completed(struct worker *w, int res)
{
    w->recv_posted = 0;
    if (w->channel_closed) return;
    if (res > 0) {
        struct buf *b = w->rbuf;
        w->rbuf = NULL;
        b->len = (uint32_t)res;
        w->last_output_ms = clock_ms();
        on_worker_data(w, b);
        relay_post_recv(w);
        return;
    }
    if (res < 0 && res != -ECONNRESET)
        log_warning("[pool %s] child %d: recv failed: %s", w->pool->cfg->name, (int)w->pid,
                    strerror(-res));
    worker_channel_closed(w);
}
