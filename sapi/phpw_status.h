/* The status scoreboard: what php-fpm's fpm_scoreboard.h keeps, in one MAP_SHARED mapping per
 * pool that the master makes before it forks the pool's workers (src/status.c), so that every
 * worker sees it. The master writes the pool's counters and each worker slot's process and
 * request fields; a worker writes only the cpu and memory of its own last request (sapi/status.c).
 * Readers in a worker (fpm_get_status()) copy a record while its seq is even and unchanged
 * (a seqlock: the master makes seq odd while it writes). Sizes are php-fpm's: longer strings are
 * cut as its strlcpy() cuts them. No PHP or io_uring types: both sides include this. */
#ifndef PHPMGR_PHPW_STATUS_H
#define PHPMGR_PHPW_STATUS_H

#include <stdint.h>

enum phpw_sb_state {
    PHPW_SB_UNUSED,    /* no worker in this slot */
    PHPW_SB_IDLE,      /* "Idle" */
    PHPW_SB_RUNNING,   /* "Running" */
    PHPW_SB_FINISHING, /* "Finishing": after fastcgi_finish_request(), the script still runs */
};

struct phpw_sb_proc {
    uint32_t seq; /* seqlock of the master's fields */
    int32_t pid;
    uint32_t state; /* enum phpw_sb_state */
    uint32_t pad;
    int64_t start_epoch;     /* when the worker started (s) */
    uint64_t requests;       /* requests it was given */
    uint64_t accepted_us;    /* CLOCK_MONOTONIC µs when it was given the current/last request */
    uint64_t duration_us;    /* the last request's, once it is over */
    uint64_t content_length; /* CONTENT_LENGTH */
    char request_method[16];
    char request_uri[128]; /* SCRIPT_NAME, as php-fpm's SG(request_info).request_uri */
    char query_string[512];
    char script_filename[256];
    char auth_user[32]; /* the user of HTTP_AUTHORIZATION "Basic ..." */
    /* The worker's, written at the end of each script before the response ends: */
    uint32_t wseq; /* seqlock of these two */
    uint32_t pad2;
    double last_cpu;      /* % of one CPU used by the last request, as php-fpm computes it */
    uint64_t last_memory; /* zend_memory_peak_usage(1) at the end of the last request */
};

struct phpw_sb_pool {
    uint32_t seq; /* seqlock of the fields below, up to procs */
    uint32_t nprocs;
    char pool[32];
    char pm[16]; /* "static", "dynamic", "ondemand" */
    int64_t start_epoch;
    uint64_t accepted_conn;
    uint64_t requests; /* handed to workers */
    uint32_t listen_queue, max_listen_queue, listen_queue_len;
    uint32_t idle, active, max_active;
    uint32_t max_children_reached;
    uint32_t pad;
    uint64_t slow_requests;
    /* phpmgr's own */
    uint64_t requests_refused;
    uint64_t reloads;
    double master_cpu; /* seconds of CPU the master used, at the last update */
    struct phpw_sb_proc procs[];
};

/* Copy src to dst (size bytes) while its seq is even and unchanged; 0, or -1 after too many
 * tries (a writer that never finishes). */
static inline int phpw_sb_read(void *dst, const void *src, unsigned long size, const uint32_t *seq)
{
    for (int tries = 0; tries < 1000; tries++) {
        uint32_t s1 = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
        if (s1 & 1) continue;
        __builtin_memcpy(dst, src, size);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(seq, __ATOMIC_RELAXED) == s1) return 0;
    }
    return -1;
}

static inline void phpw_sb_write_begin(uint32_t *seq)
{
    __atomic_store_n(seq, *seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void phpw_sb_write_end(uint32_t *seq)
{
    __atomic_store_n(seq, *seq + 1, __ATOMIC_RELEASE);
}

#endif
