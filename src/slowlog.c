/* request_slowlog_timeout, the master's part. php-fpm's master stops a slow worker with ptrace and
 * reads its stack; ours only asks: it rings the worker's bell and the worker writes its own entry
 * (sapi/slowlog.c), so no ptrace right is needed (containers without CAP_SYS_PTRACE, Yama).
 *
 * The slowlog is opened here, as root before any fork, with php-fpm's flags and mode (O_APPEND,
 * created 0600): workers inherit the fd, so they can write a file their user may not open.
 * The bells are one MAP_SHARED page (or more) per pool, a bell per worker slot, inherited by every
 * worker forked from the master or from a pre-forked seed. */
#include "slowlog.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "pool_int.h"

struct slowlog_pool {
    const struct pool_config *pc;
    int fd;
    struct phpw_slowlog_bell *bells; /* pc->max_children of them */
    size_t map_len;
};

static struct slowlog_pool *pools;
static size_t n_pools;

static int open_file(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, S_IRUSR | S_IWUSR);
}

int slowlog_open_all(const struct config *cfg)
{
    pools = calloc(cfg->n_pools ? cfg->n_pools : 1, sizeof(*pools));
    if (pools == NULL) {
        log_alert("out of memory opening the slowlogs");
        return -1;
    }
    for (size_t i = 0; i < cfg->n_pools; i++) {
        const struct pool_config *pc = &cfg->pools[i];
        if (pc->request_slowlog_timeout_ms <= 0 || pc->slowlog == NULL) continue;
        struct slowlog_pool *s = &pools[n_pools];
        s->pc = pc;
        s->fd = open_file(pc->slowlog);
        if (s->fd < 0) {
            log_alert("[pool %s] Unable to create or open slowlog(%s): %s (%d)", pc->name,
                      pc->slowlog, strerror(errno), errno);
            return -1;
        }
        s->map_len = (size_t)(pc->max_children > 0 ? pc->max_children : 1) * sizeof(*s->bells);
        void *m = mmap(NULL, s->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            log_alert("[pool %s] mmap() for the slowlog failed: %s", pc->name, strerror(errno));
            close(s->fd);
            return -1;
        }
        s->bells = m;
        n_pools++;
    }
    return 0;
}

void slowlog_reopen_all(void)
{
    for (size_t i = 0; i < n_pools; i++) {
        struct slowlog_pool *s = &pools[i];
        int fd = open_file(s->pc->slowlog);
        if (fd < 0 || dup3(fd, s->fd, O_CLOEXEC) < 0)
            log_error("[pool %s] failed to reopen slowlog '%s': %s", s->pc->name, s->pc->slowlog,
                      strerror(errno));
        if (fd >= 0) close(fd);
    }
}

static const struct slowlog_pool *find(const struct pool_config *pc)
{
    for (size_t i = 0; i < n_pools; i++)
        if (pools[i].pc == pc) return &pools[i];
    return NULL;
}

int slowlog_fd(const struct pool_config *pc)
{
    const struct slowlog_pool *s = find(pc);
    return s ? s->fd : -1;
}

struct phpw_slowlog_bell *slowlog_bell(const struct pool_config *pc, int slot)
{
    const struct slowlog_pool *s = find(pc);
    if (s == NULL || slot < 0 || slot >= pc->max_children) return NULL;
    return &s->bells[slot];
}

/* A param of r as php-fpm's scoreboard keeps it: cut to size - 1 bytes. */
static int param(const struct request *r, const char *name, size_t size, const char **out)
{
    const uint8_t *v = NULL;
    int n = request_param(r, name, &v);
    if (n <= 0) {
        *out = "";
        return 0;
    }
    *out = (const char *)v;
    return n > (int)size - 1 ? (int)size - 1 : n;
}

static void log_slow(const struct worker *w, uint64_t ran_ms)
{
    const struct request *r = w->req;
    /* php-fpm names the request by SG(request_info).request_uri (SCRIPT_NAME) and QUERY_STRING,
     * and writes the script's name with its bytes outside ' '..0x7f as dots */
    const char *script, *method, *uri, *query;
    int sl = param(r, "SCRIPT_FILENAME", 256, &script);
    int ml = param(r, "REQUEST_METHOD", 16, &method);
    int ul = param(r, "SCRIPT_NAME", 128, &uri);
    int ql = param(r, "QUERY_STRING", 512, &query);
    char pure[256];
    for (int i = 0; i < sl; i++) {
        unsigned char c = (unsigned char)script[i];
        pure[i] = c < ' ' || c > 0x7f ? '.' : (char)c;
    }
    log_warning("[pool %s] child %d, script '%.*s' (request: \"%.*s %.*s%s%.*s\") executing too "
                "slow (%d.%06d sec), logging",
                w->pool->cfg->name, (int)w->pid, sl, pure, ml, method, ul, uri, ql > 0 ? "?" : "",
                ql, query, (int)(ran_ms / 1000), (int)(ran_ms % 1000) * 1000);
}

int slowlog_check(struct worker *w, uint64_t now)
{
    const struct pool_config *pc = w->pool->cfg;
    int limit = pc->request_slowlog_timeout_ms;
    if (limit <= 0 || w->state != W_BUSY || w->req == NULL || w->timed_out) return 0;
    uint64_t mark = (uint64_t)(uint32_t)w->pid << 32 | w->seq;
    if (w->slow_logged == mark || now - w->req->started_ms < (uint64_t)limit) return 0;
    struct phpw_slowlog_bell *bell = slowlog_bell(pc, (int)(w - w->pool->workers));
    if (bell == NULL) return 0;
    w->slow_logged = mark;
    w->pool->slow_requests++;
    log_slow(w, now - w->req->started_ms);
    __atomic_store_n(&bell->seq, (uint32_t)w->seq, __ATOMIC_RELAXED);
    __atomic_add_fetch(&bell->ring, 1, __ATOMIC_RELEASE);
    if (syscall(SYS_futex, &bell->ring, FUTEX_WAKE, 1, NULL, NULL, 0) < 0)
        log_warning("[pool %s] child %d: futex(FUTEX_WAKE) for the slowlog failed: %s", pc->name,
                    (int)w->pid, strerror(errno));
    return 1;
}
