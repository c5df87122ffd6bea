#include "pool.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../sapi/phpw.h"
#include "buf.h"
#include "clock.h"
#include "config.h"
#include "conn.h"
#include "fcgi.h"
#include "fdreg.h"
#include "log.h"
#include "request.h"
#include "worker_output.h"

/* A worker that dies sooner than this after its start is respawned only after a pause, so a
 * broken setup does not fork in a tight loop. */
#define RESPAWN_QUICK_DEATH_MS 1000
#define RESPAWN_DELAY_MS 1000

enum worker_state {
    W_EMPTY,    /* no process in this slot */
    W_IDLE,     /* waiting for a request */
    W_BUSY,     /* running a request */
    W_RETIRING, /* told to exit (channel shut), not yet reaped */
};

struct worker {
    struct op op_recv;
    struct op op_send;
    struct pool *pool;
    struct worker *next_idle;
    pid_t pid;
    int fd;
    enum worker_state state;
    unsigned inflight;
    uint8_t recv_posted;
    uint8_t recv_held; /* not reading: the client has a big backlog (conn_backlogged) */
    uint8_t channel_closed; /* EOF or error seen on the socketpair */
    uint8_t reaped;
    uint8_t finished_early; /* response ended by fastcgi_finish_request(), script still runs */
    uint8_t timed_out;
    uint8_t sending;      /* op_send is in flight (a sendmsg, or a read of a spooled body) */
    uint8_t reading_body; /* ... and it is the read */
    uint8_t in_idle;      /* on the pool's idle list */
    uint8_t retire_asked; /* reload: exit after the current request */
    unsigned seq;         /* requests sent on this channel (names a request in SIGURG) */
    struct request *req;
    struct buf *rbuf;
    struct fcgi_relay relay;
    /* Dispatch: iov[0] is BEGIN_REQUEST + PARAMS records, iov[1] the framed STDIN (or nothing
     * when the body is in a temp file: it follows in chunks read into body_chunk). send_req is held
     * until all of it is sent, even when the worker answers before reading it. */
    struct request *send_req;
    uint64_t body_sent;
    uint8_t *body_chunk; /* REQUEST_BODY_CHUNK bytes, allocated on the first spooled body */
    uint8_t *head;
    size_t head_cap;
    struct iovec iov[2];
    struct msghdr msg;
    unsigned long served;
    uint64_t spawned_ms;
    uint64_t respawn_at_ms;
};

struct pool {
    const struct pool_config *cfg;
    struct phpw_ini *ini;
    struct worker *workers;
    int n_workers;
    int run_as_root;
    int log_limit;
    struct worker *idle;
    struct request *queue_head, *queue_tail;
    struct body_spool spool;
    unsigned queue_len;
    int stopping; /* 1 graceful, 2 fast */
    uint64_t queue_full_logged_ms;
};

/* Every pool, to find a queued request whose client went away. */
static struct pool **all_pools;
static size_t n_all_pools;

static void worker_spawn(struct worker *w);
static void worker_next(struct worker *w);
static void worker_broken(struct worker *w, const char *why);

const char *pool_name(const struct pool *p)
{
    return p->cfg->name;
}

const struct body_spool *pool_body_spool(const struct pool *p)
{
    return &p->spool;
}

const struct pool_config *pool_config(const struct pool *p)
{
    return p->cfg;
}

struct pool *pool_create(const struct pool_config *cfg, int run_as_root, int log_limit)
{
    struct pool *p = calloc(1, sizeof(*p));
    if (p == NULL) goto oom;
    p->cfg = cfg;
    p->spool.dir_fd = -1;
    p->run_as_root = run_as_root;
    p->log_limit = log_limit;
    p->n_workers = cfg->max_children;
    p->workers = calloc((size_t)p->n_workers, sizeof(*p->workers));
    p->ini = calloc(cfg->n_php_ini + 1, sizeof(*p->ini));
    struct pool **all = realloc(all_pools, (n_all_pools + 1) * sizeof(*all));
    if (p->workers == NULL || p->ini == NULL || all == NULL) goto oom;
    all_pools = all;
    all_pools[n_all_pools++] = p;
    for (size_t i = 0; i < cfg->n_php_ini; i++) {
        p->ini[i].name = cfg->php_ini[i].name;
        p->ini[i].value = cfg->php_ini[i].value;
        p->ini[i].admin = cfg->php_ini[i].admin;
    }
    for (int i = 0; i < p->n_workers; i++) {
        struct worker *w = &p->workers[i];
        w->pool = p;
        w->fd = -1;
        w->op_recv.kind = OP_WORKER_RECV;
        w->op_send.kind = OP_WORKER_SEND;
    }
    if (body_spool_open(&p->spool, cfg->name, cfg->body_temp_dir,
                        (size_t)cfg->body_buffer_size) < 0) {
        pool_free(p);
        return NULL;
    }
    return p;
oom:
    log_alert("[pool %s] out of memory creating the pool", cfg->name);
    if (p) {
        free(p->workers);
        free(p->ini);
        free(p);
    }
    return NULL;
}

int pool_start(struct pool *p)
{
    for (int i = 0; i < p->n_workers; i++) {
        worker_spawn(&p->workers[i]);
        if (p->workers[i].state == W_EMPTY) return -1;
    }
    return 0;
}

/* ---- the child side of fork ---- */

static void child_fail(const struct pool *p, const char *what)
{
    log_alert("[pool %s] child %d: %s: %s", p->cfg->name, (int)getpid(), what, strerror(errno));
    _exit(78);
}

/* After fork: become a worker. Never returns. */
static void child_main(struct pool *p, int fd, int out_fd, int err_fd)
{
    const struct pool_config *cfg = p->cfg;

    ring_exit();
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGQUIT, SIG_DFL);
    signal(SIGUSR1, SIG_DFL);
    signal(SIGUSR2, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_IGN); /* a write to a gone peer must be an error, not a death */

    /* stdin to /dev/null; stdout and stderr to the master's pipes (catch_workers_output) or
     * /dev/null, as php-fpm does. */
    int devnull = open("/dev/null", O_RDWR);
    if (devnull < 0) child_fail(p, "open(/dev/null)");
    if (dup2(devnull, STDIN_FILENO) < 0 || dup2(out_fd >= 0 ? out_fd : devnull, STDOUT_FILENO) < 0 ||
        dup2(err_fd >= 0 ? err_fd : devnull, STDERR_FILENO) < 0)
        child_fail(p, "dup2");
    if (devnull > STDERR_FILENO) close(devnull);
    if (out_fd > STDERR_FILENO) close(out_fd);
    if (err_fd > STDERR_FILENO) close(err_fd);
    log_open(NULL); /* the worker logs to its stderr, as php-fpm's children do */
    log_set_bare(1);
    fdreg_close_all_in_child(fd);

    if (cfg->chdir && chdir(cfg->chdir) < 0) child_fail(p, "chdir");
    if (cfg->clear_env) clearenv();
    for (size_t i = 0; i < cfg->n_env; i++)
        if (setenv(cfg->env[i].name, cfg->env[i].value, 1) < 0) child_fail(p, "setenv");

    if (getuid() == 0 && cfg->user != NULL && cfg->user[0]) {
        struct passwd *pw = getpwnam(cfg->user);
        if (pw == NULL) child_fail(p, "getpwnam");
        gid_t gid = pw->pw_gid;
        if (cfg->group != NULL && cfg->group[0]) {
            struct group *gr = getgrnam(cfg->group);
            if (gr == NULL) child_fail(p, "getgrnam");
            gid = gr->gr_gid;
        }
        if (setgid(gid) < 0 || initgroups(cfg->user, gid) < 0 || setuid(pw->pw_uid) < 0)
            child_fail(p, "switching user/group");
        if (cfg->clear_env) {
            /* php-fpm sets these for the pool user even with clear_env. */
            setenv("USER", pw->pw_name, 1);
            setenv("HOME", pw->pw_dir, 1);
        }
    }

    struct phpw_worker_opts o = {
        .pool = cfg->name,
        .fd = fd,
        .ini = p->ini,
        .n_ini = cfg->n_php_ini,
        .limit_extensions = (const char *const *)cfg->limit_extensions,
        .log_limit = p->log_limit,
    };
    int rc = phpw_worker_run(&o);
    phpw_engine_stop();
    _exit(rc == 0 ? 0 : 70);
}

/* ---- the master side ---- */

static void post_recv(struct worker *w)
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

static void worker_spawn(struct worker *w)
{
    struct pool *p = w->pool;
    int sv[2];
    ring_submit(); /* queued closes of client sockets happen before the fork, not in the child */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        log_error("[pool %s] socketpair() failed: %s", p->cfg->name, strerror(errno));
        w->respawn_at_ms = clock_ms() + RESPAWN_DELAY_MS;
        return;
    }
    int out_child = -1, err_child = -1, out_read = -1, err_read = -1;
    if (p->cfg->catch_workers_output) {
        out_read = worker_output_pipe(&out_child);
        err_read = worker_output_pipe(&err_child);
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_error("[pool %s] fork() failed: %s", p->cfg->name, strerror(errno));
        pid = -1;
    } else if (pid == 0) {
        close(sv[0]);
        child_main(p, sv[1], out_child, err_child);
    }
    close(sv[1]);
    if (fdreg_add(sv[0]) < 0) {
        close(sv[0]);
        sv[0] = -1;
    }
    if (out_child >= 0) close(out_child);
    if (err_child >= 0) close(err_child);
    if (pid < 0 || sv[0] < 0) {
        if (pid > 0) kill(pid, SIGKILL); /* reaped later as an unknown child */
        if (sv[0] >= 0) {
            fdreg_del(sv[0]);
            close(sv[0]);
        }
        if (out_read >= 0) worker_output_close(out_read);
        if (err_read >= 0) worker_output_close(err_read);
        w->respawn_at_ms = clock_ms() + RESPAWN_DELAY_MS;
        return;
    }
    int decorate = p->cfg->decorate_workers_output;
    if (out_read >= 0) worker_output_watch(out_read, p->cfg->name, pid, 0, decorate, p->log_limit);
    if (err_read >= 0) worker_output_watch(err_read, p->cfg->name, pid, 1, decorate, p->log_limit);
    w->pid = pid;
    w->fd = sv[0];
    w->state = W_IDLE;
    w->channel_closed = w->reaped = w->finished_early = w->timed_out = 0;
    w->sending = w->reading_body = w->in_idle = w->retire_asked = 0;
    w->send_req = NULL;
    w->seq = 0;
    w->served = 0;
    w->spawned_ms = clock_ms();
    w->respawn_at_ms = 0;
    w->req = NULL;
    fcgi_relay_init(&w->relay);
    log_debug("[pool %s] child %d started", p->cfg->name, (int)pid);
    post_recv(w);
    worker_next(w);
}

/* Close the master's end once the process is reaped and no op is in flight; then respawn. */
static void worker_maybe_finish(struct worker *w)
{
    if (w->state == W_EMPTY || !w->reaped || w->inflight > 0) return;
    struct pool *p = w->pool;
    fdreg_del(w->fd);
    close(w->fd);
    w->fd = -1;
    buf_put(w->rbuf);
    w->rbuf = NULL;
    w->state = W_EMPTY;
    if (p->stopping) return;
    uint64_t now = clock_ms();
    if (now - w->spawned_ms < RESPAWN_QUICK_DEATH_MS)
        w->respawn_at_ms = now + RESPAWN_DELAY_MS;
    else
        worker_spawn(w);
}

/* Take the worker out of service: the process sees EOF on its channel and exits. */
static void worker_retire(struct worker *w)
{
    if (w->state == W_RETIRING || w->state == W_EMPTY) return;
    w->state = W_RETIRING;
    shutdown(w->fd, SHUT_WR);
}

static void idle_remove(struct pool *p, struct worker *w)
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

static int dispatch(struct worker *w, struct request *r)
{
    const struct request *cr = r;
    size_t need = 16 + fcgi_stream_size(cr->params_len, 1);
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
    r->started_ms = clock_ms();
    w->state = W_BUSY;
    w->finished_early = 0;
    fcgi_relay_init(&w->relay);
    return 0;
}

/* The worker is free: give it the next queued request, or park it. */
static void worker_next(struct worker *w)
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
    while (p->queue_head != NULL) {
        struct request *r = p->queue_head;
        p->queue_head = r->next;
        if (p->queue_head == NULL) p->queue_tail = NULL;
        p->queue_len--;
        if (dispatch(w, r) == 0) return;
        if (r->conn) conn_request_failed(r->conn, r, 502);
        request_release_pool(r);
    }
    if (p->stopping) {
        worker_retire(w);
        return;
    }
    w->next_idle = p->idle;
    p->idle = w;
    w->in_idle = 1;
}

void pool_submit(struct pool *p, struct request *r)
{
    if (p->stopping) {
        conn_request_failed(r->conn, r, 503);
        request_release_pool(r);
        return;
    }
    struct worker *w = idle_pop(p);
    if (w != NULL) {
        if (dispatch(w, r) == 0) return;
        worker_next(w);
    }
    if (p->queue_len >= (unsigned)p->cfg->queue_max) {
        uint64_t now = clock_ms();
        if (now - p->queue_full_logged_ms > 10000) {
            log_warning("[pool %s] request queue is full (queue.max = %d): answering 503",
                        p->cfg->name, p->cfg->queue_max);
            p->queue_full_logged_ms = now;
        }
        conn_request_failed(r->conn, r, 503);
        request_release_pool(r);
        return;
    }
    r->next = NULL;
    if (p->queue_tail)
        p->queue_tail->next = r;
    else
        p->queue_head = r;
    p->queue_tail = r;
    p->queue_len++;
}

void pool_output_drained(struct request *r)
{
    struct worker *w = r->worker;
    if (w != NULL && w->req == r && w->recv_held) post_recv(w);
}

void pool_request_abandoned(struct request *r)
{
    struct worker *w = r->worker;
    if (w != NULL) {
        if (w->recv_held) post_recv(w); /* its output is dropped from now on */
        /* Running: its output is dropped once r->conn is gone, and the script learns of it at
         * its next output, as under php-fpm (see SIGURG in sapi/phpw.h). */
        if (w->req == r && w->state == W_BUSY && !w->finished_early) {
            union sigval v = {.sival_int = (int)w->seq};
            if (sigqueue(w->pid, SIGURG, v) < 0 && errno != ESRCH)
                log_warning("[pool %s] child %d: sigqueue(SIGURG): %s", w->pool->cfg->name,
                            (int)w->pid, strerror(errno));
        }
        return;
    }
    /* Queued: find its pool through the connection-less path and take it out. */
    for (size_t i = 0; i < n_all_pools; i++) {
        struct pool *p = all_pools[i];
        struct request *prev = NULL;
        for (struct request *q = p->queue_head; q; prev = q, q = q->next) {
            if (q != r) continue;
            if (prev)
                prev->next = q->next;
            else
                p->queue_head = q->next;
            if (p->queue_tail == q) p->queue_tail = prev;
            p->queue_len--;
            r->in_pool = 0;
            return;
        }
    }
}

/* The response (or the worker) is over for this request. */
static void request_over(struct worker *w)
{
    struct request *r = w->req;
    w->req = NULL;
    /* While its body is still being sent the send path holds it (see send_done()). */
    if (r != NULL && r != w->send_req) request_release_pool(r);
}

/* Everything of the request is sent, or the channel broke. */
static void send_done(struct worker *w)
{
    struct request *r = w->send_req;
    w->send_req = NULL;
    if (r != NULL && r != w->req) request_release_pool(r);
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
        worker_next(w);
        return;
    }
    w->inflight++;
    w->sending = 1;
}

static void on_send_completed(struct worker *w, int res)
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

/* The worker's request fails (crash, timeout): answer the client if it still waits. */
static void fail_request(struct worker *w, int status)
{
    struct request *r = w->req;
    if (r == NULL) return;
    if (r->conn != NULL && !w->finished_early) conn_request_failed(r->conn, r, status);
    request_over(w);
}

static void worker_broken(struct worker *w, const char *why)
{
    log_warning("[pool %s] child %d: %s; killing it", w->pool->cfg->name, (int)w->pid, why);
    kill(w->pid, SIGKILL);
    fail_request(w, 502);
    w->channel_closed = 1;
    shutdown(w->fd, SHUT_RDWR);
    if (w->state != W_EMPTY) w->state = W_RETIRING;
}

/* One END_REQUEST from the worker. */
static void on_end_request(struct worker *w)
{
    struct request *r = w->req;
    if (w->relay.app_status == PHPW_APP_STATUS_FINISHED && !w->finished_early) {
        w->finished_early = 1;
        if (r != NULL && r->conn != NULL) conn_request_done(r->conn, r);
        return;
    }
    if (r != NULL && r->conn != NULL && !w->finished_early) conn_request_done(r->conn, r);
    request_over(w);
    w->served++;
    w->finished_early = 0;
    if (w->state == W_BUSY) {
        w->state = W_IDLE;
        worker_next(w);
    }
}

static void on_worker_data(struct worker *w, struct buf *b)
{
    size_t off = 0;
    int handed_over = 0;
    while (off < b->len) {
        if (w->req == NULL) {
            worker_broken(w, "sent output while no request was running");
            break;
        }
        uint16_t id = w->req->client_id;
        ssize_t n = fcgi_relay_scan(&w->relay, b->data + off, b->len - off, id);
        if (n < 0) {
            worker_broken(w, "sent a malformed FastCGI record");
            break;
        }
        struct conn *c = w->req->conn;
        int ended = w->relay.ended;
        if (c != NULL && !w->finished_early && n > 0) {
            if (off == 0 && (size_t)n == b->len) {
                conn_relay(c, b);
                handed_over = 1;
            } else {
                conn_relay_copy(c, b->data + off, (size_t)n);
            }
        }
        off += (size_t)n;
        if (ended) {
            on_end_request(w);
            fcgi_relay_init(&w->relay);
        }
    }
    if (!handed_over) buf_put(b);
}

static void worker_channel_closed(struct worker *w)
{
    w->channel_closed = 1;
    fail_request(w, 502);
    if (w->state == W_IDLE) idle_remove(w->pool, w);
    if (w->state != W_EMPTY) w->state = W_RETIRING;
}

void pool_complete(const struct completion *cp)
{
    struct worker *w;
    if (cp->op->kind == OP_WORKER_RECV) {
        w = container_of(cp->op, struct worker, op_recv);
        w->inflight--;
        w->recv_posted = 0;
        if (cp->res > 0 && !w->channel_closed) {
            struct buf *b = w->rbuf;
            w->rbuf = NULL;
            b->len = (uint32_t)cp->res;
            on_worker_data(w, b);
            post_recv(w);
        } else if (!w->channel_closed) {
            if (cp->res < 0 && cp->res != -ECONNRESET)
                log_warning("[pool %s] child %d: recv failed: %s", w->pool->cfg->name,
                            (int)w->pid, strerror(-cp->res));
            worker_channel_closed(w);
        }
    } else {
        w = container_of(cp->op, struct worker, op_send);
        w->inflight--;
        on_send_completed(w, cp->res);
    }
    worker_maybe_finish(w);
}

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGSEGV: return "SIGSEGV";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGQUIT: return "SIGQUIT";
    case SIGINT: return "SIGINT";
    default: return "";
    }
}

int pool_child_exited(struct pool *p, pid_t pid, int status)
{
    for (int i = 0; i < p->n_workers; i++) {
        struct worker *w = &p->workers[i];
        if (w->state == W_EMPTY || w->pid != pid) continue;
        double secs = (double)(clock_ms() - w->spawned_ms) / 1000.0;
        if (WIFSIGNALED(status)) {
            int sig = WTERMSIG(status);
            /* Expected at stop; anything else is worth a warning. */
            enum log_level lvl = p->stopping && sig != SIGKILL ? LOG_LVL_NOTICE : LOG_LVL_WARNING;
            log_msg(lvl, "[pool %s] child %d exited on signal %d (%s%s) after %f seconds from start",
                        p->cfg->name, (int)pid, sig, signal_name(sig),
                        WCOREDUMP(status) ? " - core dumped" : "", secs);
        } else if (WEXITSTATUS(status) != 0 || w->state != W_RETIRING) {
            log_warning("[pool %s] child %d exited with code %d after %f seconds from start",
                        p->cfg->name, (int)pid, WEXITSTATUS(status), secs);
        } else {
            log_notice("[pool %s] child %d exited with code 0 after %f seconds from start",
                       p->cfg->name, (int)pid, secs);
        }
        w->reaped = 1;
        if (w->state == W_IDLE) idle_remove(p, w);
        fail_request(w, 502);
        if (!w->channel_closed) {
            w->channel_closed = 1;
            shutdown(w->fd, SHUT_RDWR); /* completes the pending recv */
        }
        w->state = W_RETIRING;
        worker_maybe_finish(w);
        return 1;
    }
    return 0;
}

void pool_tick(struct pool *p)
{
    uint64_t now = clock_ms();
    int limit = p->cfg->request_terminate_timeout_ms;
    for (int i = 0; i < p->n_workers; i++) {
        struct worker *w = &p->workers[i];
        if (w->state == W_EMPTY) {
            if (!p->stopping && w->respawn_at_ms && now >= w->respawn_at_ms) worker_spawn(w);
            continue;
        }
        if (w->rbuf == NULL && !w->recv_posted) post_recv(w);
        if (limit > 0 && w->state == W_BUSY && w->req != NULL && !w->timed_out &&
            now - w->req->started_ms >= (uint64_t)limit) {
            const uint8_t *script = NULL, *method = NULL, *uri = NULL;
            int sl = request_param(w->req, "SCRIPT_FILENAME", &script);
            int ml = request_param(w->req, "REQUEST_METHOD", &method);
            int ul = request_param(w->req, "REQUEST_URI", &uri);
            log_warning("[pool %s] child %d, script '%.*s' (request: \"%.*s %.*s\") execution "
                        "timed out (%f sec), terminating",
                        p->cfg->name, (int)w->pid, sl > 0 ? sl : 0, sl > 0 ? (const char *)script : "",
                        ml > 0 ? ml : 0, ml > 0 ? (const char *)method : "", ul > 0 ? ul : 0,
                        ul > 0 ? (const char *)uri : "",
                        (double)(now - w->req->started_ms) / 1000.0);
            w->timed_out = 1;
            kill(w->pid, SIGKILL);
            fail_request(w, 504);
            w->state = W_RETIRING;
        }
    }
}

void pool_reload(struct pool *p)
{
    for (int i = 0; i < p->n_workers; i++) {
        struct worker *w = &p->workers[i];
        if (w->state == W_IDLE) {
            idle_remove(p, w);
            worker_retire(w);
        } else if (w->state == W_BUSY) {
            w->retire_asked = 1; /* worker_next() retires it after this request */
        }
    }
}

void pool_stop(struct pool *p, int graceful)
{
    p->stopping = graceful ? 1 : 2;
    if (!graceful) {
        while (p->queue_head) {
            struct request *r = p->queue_head;
            p->queue_head = r->next;
            p->queue_len--;
            if (r->conn) conn_request_failed(r->conn, r, 503);
            request_release_pool(r);
        }
        p->queue_tail = NULL;
    }
    for (int i = 0; i < p->n_workers; i++) {
        struct worker *w = &p->workers[i];
        if (w->state == W_EMPTY) continue;
        if (!graceful) {
            kill(w->pid, SIGTERM);
        } else if (w->state == W_IDLE) {
            idle_remove(p, w);
            worker_retire(w);
        }
    }
}

void pool_kill_all(struct pool *p)
{
    for (int i = 0; i < p->n_workers; i++)
        if (p->workers[i].state != W_EMPTY && !p->workers[i].reaped)
            kill(p->workers[i].pid, SIGKILL);
}

unsigned pool_live_workers(const struct pool *p)
{
    unsigned n = 0;
    for (int i = 0; i < p->n_workers; i++)
        if (p->workers[i].state != W_EMPTY) n++;
    return n;
}

void pool_free(struct pool *p)
{
    if (p == NULL) return;
    for (int i = 0; i < p->n_workers; i++) {
        free(p->workers[i].head);
        buf_put(p->workers[i].rbuf);
        free(p->workers[i].body_chunk);
        if (p->workers[i].fd >= 0) {
            fdreg_del(p->workers[i].fd);
            close(p->workers[i].fd);
        }
    }
    for (size_t i = 0; i < n_all_pools; i++)
        if (all_pools[i] == p) all_pools[i] = all_pools[--n_all_pools];
    body_spool_close(&p->spool);
    free(p->workers);
    free(p->ini);
    free(p);
}
