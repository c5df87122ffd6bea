/* A pool's worker slots: spawn, reap and respawn, request_terminate_timeout and
 * request.read_timeout, reload and stop. Forks happen only from pool_start() and
 * pool_spawn_due(), which the loop calls between completion batches. */
#include "pool.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "pool_int.h"
#include "slowlog.h"
#include "status.h"

/* A worker that dies on its own sooner than this after its start is respawned only after a pause
 * that doubles with each such death in a row (up to the max), so a broken setup (a bootstrap that
 * fails, an extension that crashes) does not fork in a loop. Workers we retired (pm.max_requests,
 * reload) are replaced at once. */
#define RESPAWN_QUICK_DEATH_MS 1000
#define RESPAWN_DELAY_MS 1000
#define RESPAWN_DELAY_MAX_MS 32000

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
    p->idle_spawn_rate = 1;
    p->workers = calloc((size_t)p->n_workers, sizeof(*p->workers));
    p->ini = calloc(cfg->n_php_ini + 1, sizeof(*p->ini));
    if (p->workers == NULL || p->ini == NULL) goto oom;
    for (size_t i = 0; i < cfg->n_php_ini; i++) {
        p->ini[i].name = cfg->php_ini[i].name;
        p->ini[i].value = cfg->php_ini[i].value;
        p->ini[i].admin = cfg->php_ini[i].admin;
    }
    for (int i = 0; i < p->n_workers; i++) {
        struct worker *w = &p->workers[i];
        w->pool = p;
        w->fd = -1;
        w->seed_fd = -1;
        w->op_recv.kind = OP_WORKER_RECV;
        w->op_send.kind = OP_WORKER_SEND;
    }
    if (status_pool_init(p) < 0 || body_spool_open(&p->spool, cfg->name, cfg->body_temp_dir,
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

static void worker_spawn(struct worker *w)
{
    struct pool *p = w->pool;
    int fd = -1;
    pid_t pid = worker_proc_spawn(p, (int)(w - p->workers), &w->seed_fd, &fd);
    if (pid < 0) {
        w->respawn_at_ms = clock_ms() + RESPAWN_DELAY_MS;
        p->respawn_due = 1;
        return;
    }
    w->pid = pid;
    w->fd = fd;
    w->state = W_IDLE;
    w->channel_closed = w->reaped = w->finished_early = w->timed_out = 0;
    w->sending = w->reading_body = w->in_idle = w->retire_asked = w->planned_exit = 0;
    w->idle_kill = w->returned = w->lead_len = w->in_response = 0;
    w->send_req = w->requeue_req = NULL;
    w->seq = 0;
    w->served = 0;
    w->spawned_ms = clock_ms();
    w->respawn_at_ms = 0;
    w->req = NULL;
    fcgi_relay_init(&w->relay);
    /* php-fpm's levels: a replacement of a child that exited is a notice, the pool's first
     * children and pm's spawns are debug lines. */
    log_msg(w->replacing ? LOG_LVL_NOTICE : LOG_LVL_DEBUG, "[pool %s] child %d started",
            p->cfg->name, (int)pid);
    w->replacing = 0;
    status_sync(p);
    relay_post_recv(w);
    dispatch_next(w);
}

int pool_start(struct pool *p)
{
    p->maintained_ms = clock_ms();
    for (int i = 0; i < pm_initial_workers(p); i++) {
        worker_spawn(&p->workers[i]);
        if (p->workers[i].state == W_EMPTY) return -1;
    }
    return 0;
}

void pool_spawn_due(struct pool *p)
{
    if (!p->respawn_due) return;
    uint64_t now = clock_ms();
    int pending = 0;
    for (int i = 0; i < p->n_workers; i++) {
        struct worker *w = &p->workers[i];
        if (w->state != W_EMPTY || w->respawn_at_ms == 0) continue;
        if (p->stopping) {
            w->respawn_at_ms = 0;
            continue;
        }
        if (now >= w->respawn_at_ms) worker_spawn(w);
        if (w->state == W_EMPTY) pending = 1;
    }
    p->respawn_due = pending;
}

/* Stopping with no worker left to take them: every queued request is answered 503. */
static void refuse_queued(struct pool *p)
{
    struct request *r;
    while ((r = p->queue_head) != NULL) {
        dispatch_unqueue(p, r);
        relay_news(r, REQ_NEWS_FAILED, 503);
        request_release(r, REQ_HELD_BY_POOL);
    }
}

/* Close the master's end once the process is reaped and no op is in flight; then plan the
 * respawn (done between batches by pool_spawn_due()). */
void worker_maybe_finish(struct worker *w)
{
    if (w->state == W_EMPTY || !w->reaped || w->inflight > 0) return;
    struct pool *p = w->pool;
    close(w->fd);
    w->fd = -1;
    buf_put(w->rbuf);
    w->rbuf = NULL;
    w->state = W_EMPTY;
    if (w->idle_kill) return; /* pm dynamic/ondemand retired it: the slot stays unused */
    if (p->stopping) {
        /* The queue waits for the workers finishing their last request; the last one to go
         * (one that died, say) leaves none to serve it. */
        if (pool_live_workers(p) == 0) refuse_queued(p);
        return;
    }
    uint64_t now = clock_ms();
    /* A bootstrap that returned without serving is no planned leave either. */
    int crashed_early = (!w->planned_exit || (w->returned && w->served == 0)) &&
                        now - w->spawned_ms < RESPAWN_QUICK_DEATH_MS;
    uint64_t delay = 0;
    if (!crashed_early) {
        w->quick_deaths = 0;
    } else {
        unsigned shift = w->quick_deaths < 5 ? w->quick_deaths : 5;
        delay = (uint64_t)RESPAWN_DELAY_MS << shift;
        if (delay > RESPAWN_DELAY_MAX_MS) delay = RESPAWN_DELAY_MAX_MS;
        w->quick_deaths++;
        log_warning("[pool %s] child %d exited %.3f seconds after its start (%u time%s in a row): "
                    "respawning in %.0f s; see the lines above for why it failed",
                    p->cfg->name, (int)w->pid, (double)(now - w->spawned_ms) / 1000.0,
                    w->quick_deaths, w->quick_deaths == 1 ? "" : "s", (double)delay / 1000.0);
    }
    w->respawn_at_ms = now + delay;
    w->replacing = 1;
    p->respawn_due = 1;
}

/* Take the worker out of service: the process sees EOF on its channel and exits. */
void worker_retire(struct worker *w)
{
    if (w->state == W_RETIRING || w->state == W_EMPTY) return;
    w->state = W_RETIRING;
    w->planned_exit = 1;
    shutdown(w->fd, SHUT_WR);
}

void worker_broken(struct worker *w, const char *why)
{
    log_warning("[pool %s] child %d: %s; killing it", w->pool->cfg->name, (int)w->pid, why);
    kill(w->pid, SIGKILL);
    relay_fail_running(w, 502);
    w->channel_closed = 1;
    shutdown(w->fd, SHUT_RDWR);
    if (w->state == W_IDLE) idle_remove(w->pool, w);
    if (w->state != W_EMPTY) w->state = W_RETIRING;
}

void pool_complete(const struct completion *cp)
{
    struct worker *w;
    if (cp->op->kind == OP_WORKER_RECV) {
        w = container_of(cp->op, struct worker, op_recv);
        w->inflight--;
        relay_recv_completed(w, cp->res);
    } else {
        w = container_of(cp->op, struct worker, op_send);
        w->inflight--;
        dispatch_send_completed(w, cp->res);
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
            /* Expected at stop (php-fpm says it only at debug level); a signal other than
             * SIGQUIT may have lost a request: a warning. */
            enum log_level lvl = p->stopping && sig != SIGKILL ? LOG_LVL_DEBUG : LOG_LVL_WARNING;
            if (!p->stopping && sig == SIGQUIT) lvl = LOG_LVL_NOTICE;
            log_msg(lvl, "[pool %s] child %d exited on signal %d (%s%s) after %f seconds from start",
                    p->cfg->name, (int)pid, sig, signal_name(sig),
                    WCOREDUMP(status) ? " - core dumped" : "", secs);
        } else if (w->idle_kill && WEXITSTATUS(status) == 0) {
            log_debug("[pool %s] child %d has been killed by the process management after %f "
                      "seconds from start",
                      p->cfg->name, (int)pid, secs);
        } else if (WEXITSTATUS(status) != 0 || w->state != W_RETIRING) {
            log_warning("[pool %s] child %d exited with code %d after %f seconds from start",
                        p->cfg->name, (int)pid, WEXITSTATUS(status), secs);
        } else {
            log_msg(p->stopping ? LOG_LVL_DEBUG : LOG_LVL_NOTICE,
                    "[pool %s] child %d exited with code 0 after %f seconds from start",
                    p->cfg->name, (int)pid, secs);
        }
        /* Only a clean exit we asked for is planned; a crash on the way out still backs off. */
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            w->planned_exit = w->timed_out;
            w->idle_kill = 0; /* it crashed on the way out: replaced as any crash */
        }
        w->reaped = 1;
        if (w->state == W_IDLE) idle_remove(p, w);
        relay_fail_running(w, 502);
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

static void log_request_timeout(const struct worker *w, uint64_t now)
{
    const struct request *r = w->req;
    const uint8_t *script = NULL, *method = NULL, *uri = NULL;
    int sl = request_param(r, "SCRIPT_FILENAME", &script);
    int ml = request_param(r, "REQUEST_METHOD", &method);
    int ul = request_param(r, "REQUEST_URI", &uri);
    log_warning("[pool %s] child %d, script '%.*s' (request: \"%.*s %.*s\") execution timed out "
                "(%f sec), terminating",
                w->pool->cfg->name, (int)w->pid, sl > 0 ? sl : 0, sl > 0 ? (const char *)script : "",
                ml > 0 ? ml : 0, ml > 0 ? (const char *)method : "", ul > 0 ? ul : 0,
                ul > 0 ? (const char *)uri : "", (double)(now - r->started_ms) / 1000.0);
}

/* request.read_timeout (nginx's fastcgi_read_timeout): the worker said nothing for too long. The
 * client gets 504 and the request is abandoned: the script sees the abort at its next output, as
 * a php-fpm worker does when nginx gives up on it. */
static void read_timed_out(struct worker *w, uint64_t now)
{
    struct request *r = w->req;
    log_warning("[pool %s] child %d: no output for %.3f s (request.read_timeout): answering 504",
                w->pool->cfg->name, (int)w->pid, (double)(now - w->last_output_ms) / 1000.0);
    relay_news(r, REQ_NEWS_FAILED, 504);
    pool_request_abandoned(r);
    w->last_output_ms = now;
}

void pool_tick(struct pool *p)
{
    uint64_t now = clock_ms();
    pm_maintain(p, now);
    status_sync(p);
    int limit = p->cfg->request_terminate_timeout_ms;
    int read_limit = p->cfg->request_read_timeout_ms;
    for (int i = 0; i < p->n_workers; i++) {
        struct worker *w = &p->workers[i];
        if (w->state == W_EMPTY) continue;
        if (w->rbuf == NULL && !w->recv_posted) relay_post_recv(w);
        if (w->state != W_BUSY || w->req == NULL || w->timed_out) continue;
        if (slowlog_check(w, now)) continue; /* php-fpm: terminate is checked at the next tick */
        if (limit > 0 && now - w->req->started_ms >= (uint64_t)limit) {
            log_request_timeout(w, now);
            w->timed_out = 1;
            kill(w->pid, SIGKILL);
            relay_fail_running(w, 504);
            w->state = W_RETIRING;
        } else if (read_limit > 0 && w->req->conn != NULL && !w->finished_early && !w->recv_held &&
                   now - w->last_output_ms >= (uint64_t)read_limit) {
            read_timed_out(w, now);
        }
    }
}

void pool_reload(struct pool *p)
{
    p->reloads++;
    for (int i = 0; i < p->n_workers; i++) {
        struct worker *w = &p->workers[i];
        if (w->state == W_IDLE) {
            idle_remove(p, w);
            /* ondemand starts from none, as php-fpm's reload does: the next request forks */
            if (p->cfg->pm == PM_ONDEMAND) w->idle_kill = 1;
            worker_retire(w);
        } else if (w->state == W_BUSY) {
            w->retire_asked = 1; /* dispatch_next() retires it after this request */
        }
    }
}

void pool_stop(struct pool *p, int graceful)
{
    p->stopping = graceful ? 1 : 2;
    /* Queued requests wait for the workers' last requests; with no worker (ondemand), nobody
     * would take them. */
    if (!graceful || pool_live_workers(p) == 0) refuse_queued(p);
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

void pool_counts(const struct pool *p, struct pool_counts *out)
{
    out->active = out->idle = 0;
    for (int i = 0; i < p->n_workers; i++) {
        if (p->workers[i].state == W_BUSY) out->active++;
        else if (p->workers[i].state == W_IDLE) out->idle++;
    }
    out->requests = p->requests;
    out->slow = p->slow_requests;
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
    worker_proc_seeds_stop(p);
    for (int i = 0; i < p->n_workers; i++) {
        free(p->workers[i].head);
        buf_put(p->workers[i].rbuf);
        free(p->workers[i].body_chunk);
        if (p->workers[i].fd >= 0) close(p->workers[i].fd);
    }
    body_spool_close(&p->spool);
    status_pool_free(p);
    free(p->workers);
    free(p->ini);
    free(p);
}
