/* Reload generations: OPcache's shared memory is created once, in the master, and inherited by
 * every worker, so a worker started by a reload would run the scripts the old ones compiled
 * (opcache.validate_timestamps = 0, or within opcache.revalidate_freq). php-fpm's reload re-execs
 * and gets a fresh cache; here the first worker of each reload empties the cache before it runs
 * any PHP of its own, and the others wait for it.
 *
 * The generation page is one MAP_SHARED anonymous page the master maps before its first fork;
 * every worker and pre-forked seed inherits it. The master bumps page->generation on each reload.
 * A worker reads it when it starts to serve (phpw_worker_run: a seed woken after the reload reads
 * the new value, whenever it was forked); when its generation is not done yet, the worker that
 * moves page->claim up to it invalidates every script OPcache holds (opcache_get_status(true),
 * then opcache_invalidate($path, true) for each, inside a request context), then publishes
 * page->done and wakes the waiters (a futex on done). The others wait for done, bounded: if the
 * claimer dies or takes too long they invalidate themselves (it is idempotent). Workers of the
 * old generation never look: a script they still run stays valid (invalidate only marks an entry
 * stale; its memory is kept until OPcache restarts), which is why opcache_reset() is not used (its
 * restart waits for every process to be idle, and opcache.force_restart_timeout kills them).
 * The memory of invalidated scripts counts as wasted: once OPcache is full and
 * opcache.max_wasted_percentage is passed, OPcache schedules its own restart, as after any
 * opcache_invalidate(). */
#include "phpw.h"
#include "phpw_int.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../src/log.h"
#include "SAPI.h"
#include "php_main.h"
#include "zend_exceptions.h"
#include "zend_ini.h"

/* How long a new worker waits for another one's invalidation before doing it itself. */
#define RELOAD_WAIT_MS 5000
/* The wait is cut in slices to notice a claimer that died. */
#define RELOAD_WAIT_SLICE_MS 50

struct gen_page {
    _Atomic uint32_t generation; /* bumped by the master at each reload */
    /* The highest generation a worker has taken on to invalidate (high 32 bits) and that worker's
     * pid (low 32 bits), set together so that a waiter never sees one without the other. */
    _Atomic uint64_t claim;
    _Atomic uint32_t done; /* highest generation invalidated (the futex word) */
    /* The last completed invalidation, for the master's log line: written before report_gen. */
    _Atomic uint32_t report_gen;
    _Atomic uint32_t report_scripts;
    _Atomic uint32_t report_failed;
    _Atomic int32_t report_pid;
    _Atomic uint64_t report_us;            /* request startup, invalidation and shutdown */
    _Atomic uint64_t report_invalidate_us; /* the invalidation alone */
    _Atomic uint64_t wait_max_us; /* longest wait of another new worker since the last report */
    _Atomic uint32_t took_over;   /* waiters that gave up waiting and invalidated themselves */
};

static struct gen_page *page;
static uint32_t reported; /* master: the last generation logged */

int phpw_reload_init(char *err, size_t errlen)
{
    if (page != NULL) return 0;
    void *p = mmap(NULL, sizeof(struct gen_page), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "mmap of the reload generation page failed: %s", strerror(errno));
        return -1;
    }
    page = p; /* zero-filled: generation 0, nothing to invalidate */
    return 0;
}

unsigned phpw_reload_bump(void)
{
    if (page == NULL) return 0;
    return atomic_fetch_add(&page->generation, 1) + 1;
}

int phpw_reload_report(struct phpw_reload_report *out)
{
    if (page == NULL) return 0;
    uint32_t g = atomic_load(&page->report_gen);
    if (g == reported) return 0;
    out->generation = g;
    out->scripts = atomic_load(&page->report_scripts);
    out->failed = atomic_load(&page->report_failed);
    out->pid = atomic_load(&page->report_pid);
    out->ms = (double)atomic_load(&page->report_us) / 1000.0;
    out->invalidate_ms = (double)atomic_load(&page->report_invalidate_us) / 1000.0;
    out->wait_max_ms = (double)atomic_exchange(&page->wait_max_us, 0) / 1000.0;
    out->took_over = atomic_exchange(&page->took_over, 0);
    if (atomic_load(&page->report_gen) != g) return 0; /* rewritten meanwhile: next time */
    reported = g;
    return 1;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- the invalidation, in a request context ---- */

static zend_function *find_function(const char *name)
{
    return zend_hash_str_find_ptr(CG(function_table), name, strlen(name));
}

/* opcache_get_status(true)['scripts'], then opcache_invalidate($path, true) for each key. Counts
 * what was invalidated and what was not (a script whose file is gone cannot be resolved). */
static void invalidate_scripts(uint32_t *n_ok, uint32_t *n_failed)
{
    zend_function *status_fn = find_function("opcache_get_status");
    zend_function *invalidate_fn = find_function("opcache_invalidate");
    if (status_fn == NULL || invalidate_fn == NULL) return; /* OPcache is not loaded */

    /* opcache.restrict_api allows its API only to scripts under a path: ours has no script, so
     * it is given that path while it calls. */
    char *saved_path = SG(request_info).path_translated;
    char *restrict_api =
        zend_ini_string_ex("opcache.restrict_api", sizeof("opcache.restrict_api") - 1, 0, NULL);
    if (restrict_api != NULL && *restrict_api) SG(request_info).path_translated = restrict_api;

    zval status, arg;
    ZVAL_TRUE(&arg);
    ZVAL_UNDEF(&status);
    zend_call_known_function(status_fn, NULL, NULL, &status, 1, &arg, NULL);
    zval *scripts = Z_TYPE(status) == IS_ARRAY
                        ? zend_hash_str_find(Z_ARRVAL(status), "scripts", sizeof("scripts") - 1)
                        : NULL;
    /* opcache.preload's scripts stay: their classes and functions live in the engine for good,
     * compiling them again would redeclare them; changing them needs a restart, as php-fpm's. */
    HashTable *preloaded = NULL;
    zval *ps = Z_TYPE(status) == IS_ARRAY
                   ? zend_hash_str_find(Z_ARRVAL(status), "preload_statistics",
                                        sizeof("preload_statistics") - 1)
                   : NULL;
    if (ps != NULL && Z_TYPE_P(ps) == IS_ARRAY) {
        zval *list = zend_hash_str_find(Z_ARRVAL_P(ps), "scripts", sizeof("scripts") - 1);
        if (list != NULL && Z_TYPE_P(list) == IS_ARRAY) {
            zval *v;
            ALLOC_HASHTABLE(preloaded);
            zend_hash_init(preloaded, zend_hash_num_elements(Z_ARRVAL_P(list)), NULL, NULL, 0);
            ZEND_HASH_FOREACH_VAL(Z_ARRVAL_P(list), v)
            {
                if (Z_TYPE_P(v) == IS_STRING) zend_hash_add_empty_element(preloaded, Z_STR_P(v));
            }
            ZEND_HASH_FOREACH_END();
        }
    }
    if (scripts != NULL && Z_TYPE_P(scripts) == IS_ARRAY) {
        zend_string *path;
        ZEND_HASH_FOREACH_STR_KEY(Z_ARRVAL_P(scripts), path)
        {
            if (path == NULL || (preloaded != NULL && zend_hash_exists(preloaded, path))) continue;
            zval args[2], rv;
            ZVAL_STR(&args[0], path);
            ZVAL_TRUE(&args[1]);
            ZVAL_UNDEF(&rv);
            zend_call_known_function(invalidate_fn, NULL, NULL, &rv, 2, args, NULL);
            if (Z_TYPE(rv) == IS_TRUE)
                (*n_ok)++;
            else
                (*n_failed)++;
            zval_ptr_dtor(&rv);
            if (EG(exception)) zend_clear_exception();
        }
        ZEND_HASH_FOREACH_END();
    }
    if (preloaded != NULL) {
        zend_hash_destroy(preloaded);
        FREE_HASHTABLE(preloaded);
    }
    zval_ptr_dtor(&status);
    if (EG(exception)) zend_clear_exception();
    SG(request_info).path_translated = saved_path;
}

/* A request of our own around invalidate_scripts() (the worker has none yet): OPcache's API
 * works only between its activate and deactivate. *us: the invalidation's own time. The first
 * request startup in a process costs a few ms (measured ~5 ms: copy-on-write faults of the
 * engine's memory, Zend's signal setup): here it is paid before the worker's first request,
 * which then starts in ~0.1 ms instead. */
static int invalidate_in_request(uint32_t *n_ok, uint32_t *n_failed, uint64_t *us)
{
    void *saved_ctx = SG(server_context);
    SG(server_context) = NULL; /* output, if a warning is displayed, goes to stdout */
    SG(request_info).request_method = NULL;
    SG(request_info).path_translated = NULL;
    SG(request_info).query_string = NULL;
    SG(request_info).request_uri = NULL;
    SG(request_info).content_type = NULL;
    SG(request_info).content_length = 0;
    SG(request_info).cookie_data = NULL;
    if (php_request_startup() == FAILURE) {
        SG(server_context) = saved_ctx;
        return -1;
    }
    SG(headers_sent) = 1;
    SG(request_info).no_headers = 1;
    uint64_t t0 = now_us();
    zend_try
    {
        invalidate_scripts(n_ok, n_failed);
    }
    zend_end_try();
    *us = now_us() - t0;
    php_request_shutdown(NULL);
    SG(server_context) = saved_ctx;
    return 0;
}

static void futex_wake_all(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static void futex_wait_ms(_Atomic uint32_t *word, uint32_t seen, int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, seen, &ts, NULL, 0);
}

static void publish_done(uint32_t g)
{
    uint32_t d = atomic_load(&page->done);
    while (d < g && !atomic_compare_exchange_weak(&page->done, &d, g)) {
    }
    futex_wake_all(&page->done);
}

static void invalidate_for(uint32_t g, const char *pool)
{
    uint32_t ok = 0, failed = 0;
    uint64_t t0 = now_us(), inv_us = 0;
    if (invalidate_in_request(&ok, &failed, &inv_us) < 0)
        phpw_log(LOG_LVL_ERROR,
                 "[pool %s] reload: PHP request startup failed: OPcache was not "
                 "cleared",
                 pool);
    uint64_t us = now_us() - t0;
    atomic_store(&page->report_scripts, ok);
    atomic_store(&page->report_failed, failed);
    atomic_store(&page->report_pid, (int32_t)getpid());
    atomic_store(&page->report_us, us);
    atomic_store(&page->report_invalidate_us, inv_us);
    atomic_store(&page->report_gen, g);
    publish_done(g);
}

/* This worker runs scripts from OPcache's shared memory: OPcache is loaded, and neither turned
 * off nor limited to its file cache here (the pool's php_admin_value[] are applied by now). A
 * worker that does not must neither wait nor claim: it could not clear the cache for the others. */
static int uses_opcache(void)
{
    return find_function("opcache_get_status") != NULL &&
           zend_ini_long("opcache.enable", sizeof("opcache.enable") - 1, 0) != 0 &&
           zend_ini_long("opcache.file_cache_only", sizeof("opcache.file_cache_only") - 1, 0) == 0;
}

void phpw_reload_sync(const char *pool)
{
    if (page == NULL) return;
    uint32_t g = atomic_load(&page->generation);
    if (atomic_load(&page->done) >= g) return; /* generation 0, or cleared already */
    if (!uses_opcache()) return;

    uint64_t c = atomic_load(&page->claim);
    uint64_t mine = (uint64_t)g << 32 | (uint32_t)getpid();
    while ((uint32_t)(c >> 32) < g) {
        if (atomic_compare_exchange_weak(&page->claim, &c, mine)) {
            invalidate_for(g, pool);
            return;
        }
    }

    /* Another new worker clears the cache: wait for it, so no stale script is served here. */
    uint64_t t0 = now_us();
    uint32_t d;
    while ((d = atomic_load(&page->done)) < g) {
        uint64_t waited_ms = (now_us() - t0) / 1000u;
        pid_t claimer = (pid_t)(uint32_t)atomic_load(&page->claim);
        int claimer_gone = claimer > 0 && kill(claimer, 0) < 0 && errno == ESRCH;
        if (waited_ms >= RELOAD_WAIT_MS || claimer_gone) {
            phpw_log(LOG_LVL_WARNING,
                     "[pool %s] reload: child %d %s clearing OPcache after %llu ms; clearing "
                     "it here",
                     pool, (int)claimer, claimer_gone ? "exited before" : "has not finished",
                     (unsigned long long)waited_ms);
            atomic_fetch_add(&page->took_over, 1);
            invalidate_for(g, pool);
            break;
        }
        futex_wait_ms(&page->done, d, RELOAD_WAIT_SLICE_MS);
    }
    uint64_t waited = now_us() - t0;
    uint64_t m = atomic_load(&page->wait_max_us);
    while (waited > m && !atomic_compare_exchange_weak(&page->wait_max_us, &m, waited)) {
    }
}
