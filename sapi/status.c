/* The worker's side of the status scoreboard (phpw_status.h): the cpu and memory of each request
 * as php-fpm's fpm_request_end() measures them, written to the worker's slot before the response
 * ends, and fpm_get_status(), which reads the scoreboard the master keeps. */
#include "phpw.h"
#include "phpw_int.h"
#include "phpw_status.h"

#include <sys/times.h>
#include <unistd.h>

static struct {
    struct phpw_sb_pool *sb;
    struct phpw_sb_proc *me;
    struct timespec begin;
    struct tms cpu_begin;
} st;

void phpw_status_start(const struct phpw_worker_opts *opts)
{
    st.sb = opts->scoreboard;
    st.me = NULL;
    if (st.sb != NULL && opts->worker_id >= 0 && (uint32_t)opts->worker_id < st.sb->nprocs)
        st.me = &st.sb->procs[opts->worker_id];
}

void phpw_status_request_begin(void)
{
    if (st.me == NULL) return;
    clock_gettime(CLOCK_MONOTONIC, &st.begin);
    times(&st.cpu_begin);
}

void phpw_status_request_end(void)
{
    if (st.me == NULL) return;
    struct timespec now;
    struct tms cpu;
    clock_gettime(CLOCK_MONOTONIC, &now);
    times(&cpu);
    double secs =
        (double)(now.tv_sec - st.begin.tv_sec) + (double)(now.tv_nsec - st.begin.tv_nsec) / 1e9;
    clock_t ticks =
        (cpu.tms_utime - st.cpu_begin.tms_utime) + (cpu.tms_stime - st.cpu_begin.tms_stime) +
        (cpu.tms_cutime - st.cpu_begin.tms_cutime) + (cpu.tms_cstime - st.cpu_begin.tms_cstime);
    /* php-fpm: ticks / sysconf(_SC_CLK_TCK) / duration * 100, 0 for no duration */
    double pct = secs > 0 ? (double)ticks / (double)sysconf(_SC_CLK_TCK) / secs * 100. : 0.;
    phpw_sb_write_begin(&st.me->wseq);
    st.me->last_cpu = pct;
    st.me->last_memory = (uint64_t)zend_memory_peak_usage(1);
    phpw_sb_write_end(&st.me->wseq);
}

static const char *state_name(uint32_t s)
{
    return s == PHPW_SB_RUNNING ? "Running" : s == PHPW_SB_FINISHING ? "Finishing" : "Idle";
}

int phpw_status_export(zval *status)
{
    struct phpw_sb_pool *sb = st.sb;
    if (sb == NULL) return -1;
    struct phpw_sb_pool pool;
    if (phpw_sb_read(&pool, sb, sizeof(pool), &sb->seq) < 0) return -1;
    uint32_t n = sb->nprocs;
    struct phpw_sb_proc *procs = safe_emalloc(sizeof(*procs), n ? n : 1, 0);
    uint32_t idle = 0, active = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct phpw_sb_proc *p = &procs[i];
        if (phpw_sb_read(p, &sb->procs[i], sizeof(*p), &sb->procs[i].seq) < 0) {
            p->state = PHPW_SB_UNUSED;
            continue;
        }
        phpw_sb_read(&p->last_cpu, &sb->procs[i].last_cpu,
                     sizeof(p->last_cpu) + sizeof(p->last_memory), &sb->procs[i].wseq);
        if (p->state == PHPW_SB_IDLE)
            idle++;
        else if (p->state != PHPW_SB_UNUSED)
            active++;
    }
    time_t now = time(NULL);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;

    array_init(status);
    add_assoc_string(status, "pool", pool.pool);
    add_assoc_string(status, "process-manager", pool.pm);
    add_assoc_long(status, "start-time", (zend_long)pool.start_epoch);
    add_assoc_long(status, "start-since", (zend_long)(now - (time_t)pool.start_epoch));
    add_assoc_long(status, "accepted-conn", (zend_long)pool.accepted_conn);
    add_assoc_long(status, "listen-queue", (zend_long)pool.listen_queue);
    add_assoc_long(status, "max-listen-queue", (zend_long)pool.max_listen_queue);
    add_assoc_long(status, "listen-queue-len", (zend_long)pool.listen_queue_len);
    add_assoc_long(status, "idle-processes", (zend_long)idle);
    add_assoc_long(status, "active-processes", (zend_long)active);
    add_assoc_long(status, "total-processes", (zend_long)(idle + active));
    add_assoc_long(status, "max-active-processes",
                   (zend_long)(pool.max_active > active ? pool.max_active : active));
    add_assoc_long(status, "max-children-reached", (zend_long)pool.max_children_reached);
    add_assoc_long(status, "slow-requests", (zend_long)pool.slow_requests);

    zval list;
    array_init(&list);
    for (uint32_t i = 0; i < n; i++) {
        const struct phpw_sb_proc *p = &procs[i];
        if (p->state == PHPW_SB_UNUSED) continue;
        int idle_now = p->state == PHPW_SB_IDLE;
        uint64_t duration = idle_now         ? p->duration_us
                            : p->accepted_us ? now_us - p->accepted_us
                                             : 0;
        zval e;
        array_init(&e);
        add_assoc_long(&e, "pid", p->pid);
        add_assoc_string(&e, "state", (char *)state_name(p->state));
        add_assoc_long(&e, "start-time", (zend_long)p->start_epoch);
        add_assoc_long(&e, "start-since", (zend_long)(now - (time_t)p->start_epoch));
        add_assoc_long(&e, "requests", (zend_long)p->requests);
        add_assoc_long(&e, "request-duration", (zend_long)duration);
        add_assoc_string(&e, "request-method",
                         (char *)(p->request_method[0] ? p->request_method : "-"));
        add_assoc_string(&e, "request-uri", (char *)p->request_uri);
        add_assoc_string(&e, "query-string", (char *)p->query_string);
        add_assoc_long(&e, "request-length", (zend_long)p->content_length);
        add_assoc_string(&e, "user", (char *)(p->auth_user[0] ? p->auth_user : "-"));
        add_assoc_string(&e, "script", (char *)(p->script_filename[0] ? p->script_filename : "-"));
        add_assoc_double(&e, "last-request-cpu", idle_now ? p->last_cpu : 0.);
        add_assoc_long(&e, "last-request-memory", idle_now ? (zend_long)p->last_memory : 0);
        add_next_index_zval(&list, &e);
    }
    add_assoc_zval(status, "procs", &list);
    /* phpmgr's own, after php-fpm's */
    add_assoc_long(status, "requests-refused", (zend_long)pool.requests_refused);
    add_assoc_long(status, "reloads", (zend_long)pool.reloads);
    add_assoc_double(status, "master-cpu", pool.master_cpu);
    efree(procs);
    return 0;
}
