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

static void on_worker_data(struct worker *w, struct buf *b)
{
    size_t off = 0, len = b->len;
    while (off < len) {
        struct request *r = w->req;
        if (r == NULL) {
            worker_broken(w, "sent output while no request was running");
            break;
        }
        ssize_t n = fcgi_relay_scan(&w->relay, b->data + off, len - off, r->client_id);
        if (n < 0) {
            worker_broken(w, "sent a malformed FastCGI record");
            break;
        }
        if (r->conn != NULL && !w->finished_early && n > 0) {
            if (off == 0 && (size_t)n == len) {
                buf_queue_push(&r->relayed, b); /* the whole chunk moves, no copy */
                b = NULL;
            } else if (buf_queue_append(&r->relayed, b->data + off, (size_t)n) < 0) {
                worker_broken(w, "its output could not be buffered"); /* answers 502 */
                break;
            }
            news_list_add(r);
        }
        off += (size_t)n;
        if (w->relay.ended) {
            on_end_request(w);
            fcgi_relay_init(&w->relay);
        }
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
