/* The PHP side of phpmgr, as seen by the manager: start the engine once in the master (before
 * fork, so OPcache's shared memory and loaded extensions are inherited), then in each forked
 * worker serve FastCGI requests from the master over a socketpair. No PHP or io_uring types cross
 * this boundary. */
#ifndef PHPMGR_PHPW_H
#define PHPMGR_PHPW_H

#include <stddef.h>
#include <stdint.h>

struct phpw_engine_opts {
    const char *php_ini_path; /* -c: a php.ini file or directory; NULL: the embed SAPI's default */
    int no_php_ini;           /* -n: no php.ini at all */
    const char *const *defines; /* -d KEY=VALUE entries, n_defines of them */
    size_t n_defines;
};

/* Start the engine as SAPI "fpm-fcgi" (php_module_startup). Returns 0, or -1 with a message in
 * err. Call once, in the master, before forking workers. */
int phpw_engine_start(const struct phpw_engine_opts *opts, char *err, size_t errlen);

/* Shut the engine down (the master at exit). */
void phpw_engine_stop(void);

/* End a worker process with code: what a full engine shutdown does that is visible outside the
 * process (persistent connections closed, stdio flushed), and none of the rest. Never returns. */
_Noreturn void phpw_worker_exit(int code);

/* PHP's version string, e.g. "8.2.36". Valid after phpw_engine_start(). */
const char *phpw_php_version(void);

/* The Zend engine's banner as php -v and php-fpm -v end it: "Zend Engine v4.2.x, Copyright ..."
 * and one "    with EXTENSION ..." line per loaded Zend extension (OPcache), each ending in a
 * newline. Valid after phpw_engine_start(). */
const char *phpw_zend_version(void);

/* PHP's compiled-in PHP_PREFIX ("/usr" on Debian) and PHP_LOCALSTATEDIR ("/var"): php-fpm takes
 * relative paths under them when no prefix is given. Valid any time. */
const char *phpw_build_prefix(void);
const char *phpw_build_localstatedir(void);

/* php-fpm -m and -i, after phpw_engine_start(): the loaded PHP and Zend modules, or phpinfo() as
 * text, on stdout. 0, or -1 when PHP could not start a request. */
int phpw_print_modules(void);
int phpw_print_info(void);

struct phpw_sb_pool;

/* Reload generations (sapi/reload.c): one shared page, mapped by the master before its first
 * fork and inherited by every worker, so a worker started by a reload never runs a script OPcache
 * compiled before it. phpw_reload_init(): in the master, once, before forking (0, or -1 with a
 * message). phpw_reload_bump(): on each reload, before its workers start; returns the new
 * generation. The first worker of a generation empties OPcache before it serves (the others wait
 * for it, bounded); phpw_reload_report() then returns 1 once with what it did, for the log. */
int phpw_reload_init(char *err, size_t errlen);
unsigned phpw_reload_bump(void);
struct phpw_reload_report {
    unsigned generation;
    unsigned scripts;     /* cached scripts invalidated */
    unsigned failed;      /* cached scripts that could not be (their file is gone) */
    int pid;              /* the worker that did it */
    double ms;            /* what it took, in that worker, before its first request */
    double invalidate_ms; /* of which the invalidation itself (the rest: a PHP request's
                             startup and shutdown, the first of which is slow in any worker) */
    double wait_max_ms;   /* the longest another new worker waited for it */
    unsigned took_over;   /* workers that stopped waiting and invalidated themselves */
};
int phpw_reload_report(struct phpw_reload_report *out);

struct phpw_ini {
    const char *name;
    const char *value;
    int admin; /* php_admin_value / php_admin_flag: PHP_INI_SYSTEM, ini_set() cannot change it */
};

struct phpw_worker_opts {
    const char *pool;           /* pool name, for log lines */
    int fd;                     /* worker end of the socketpair; the master speaks FastCGI on it */
    const struct phpw_ini *ini; /* pool php_value[]... applied once, before the first request */
    size_t n_ini;
    const char *const *limit_extensions; /* NULL-terminated; NULL or empty list: no limit */
    int log_limit; /* [global] log_limit: longest log line, as php-fpm; 0 means its default 1024 */
    /* Resident mode (worker.mode = resident): bootstrap is run once and serves requests through
     * phpmgr_handle_request(); NULL for classic mode. */
    const char *bootstrap;
    int worker_id;          /* the worker's slot in its pool, 0-based (phpmgr_worker_id()) */
    long max_requests;      /* leave after this many requests; 0: no limit */
    long long memory_limit; /* leave once PHP holds more than this after a request; 0: off */
    int leak_check;         /* warn when the memory kept after requests grows steadily */
    /* request_slowlog_timeout (see struct phpw_slowlog_bell); slowlog_bell NULL: off */
    struct phpw_slowlog_bell *slowlog_bell; /* this worker's slot's bell */
    int slowlog_fd;      /* the slowlog, opened by the master (appending), or -1 */
    const char *slowlog; /* its path */
    int slowlog_depth;   /* request_slowlog_trace_depth: frames per entry */
    struct phpw_sb_pool *scoreboard; /* the pool's status scoreboard (phpw_status.h), or NULL */
};

/* The slow request log without ptrace. When a request has run past request_slowlog_timeout the
 * master logs php-fpm's "executing too slow" warning and rings the worker's bell: it stores the
 * request's sequence number on the channel (as SIGURG counts them) in seq, then increments ring
 * and wakes futex waiters on ring (FUTEX_WAKE, not private: the bells live in a MAP_SHARED
 * mapping the master made before forking the pool, one per worker slot). No signal is sent:
 * a thread of the worker waits on the bell, so the script's syscalls (sleep(), reads) are never
 * interrupted. The worker appends one entry in php-fpm's format to the slowlog for that request,
 * once; a ring naming another request than the running one is ignored. */
struct phpw_slowlog_bell {
    uint32_t ring; /* futex word: incremented by the master on each ask */
    uint32_t seq;  /* the request asked about */
};

/* The worker's side of the FastCGI channel (contract with the master, see src/):
 *  - The master sends one request at a time: BEGIN_REQUEST (role RESPONDER, request id 1, flags
 *    FCGI_KEEP_CONN always, or libfcgi closes the channel after the request), PARAMS, then the
 *    whole STDIN stream ending with an empty STDIN record. It must never send FCGI_ABORT_REQUEST
 *    to a worker (libfcgi treats it as a protocol error and closes the channel); to stop a request
 *    it kills the worker. FCGI_GET_VALUES (request id 0) is answered by libfcgi between requests.
 *  - The worker answers with STDOUT records (CGI header block, then the body), STDERR records
 *    ("PHP message: ..." lines, "Primary script unknown", ...; several messages of one request
 *    are joined with "; " as php-fpm does), then an empty STDOUT record and END_REQUEST. Before
 *    END_REQUEST the worker has read STDIN to its end, so the next BEGIN_REQUEST may follow.
 *  - A normal request ends with exactly one END_REQUEST, appStatus 0: the worker is idle (it may
 *    still be freeing the request's memory, but it reads the next request when that is done).
 *  - fastcgi_finish_request() ends the response early: empty STDOUT record, then END_REQUEST with
 *    appStatus 0xFFFFFFFE (PHPW_APP_STATUS_FINISHED), meaning "response complete, worker still
 *    busy". When the script really ends the worker writes one more END_REQUEST (request id 1,
 *    appStatus 0, protocolStatus 0) with no other record in between: "idle now". Output written
 *    after fastcgi_finish_request() is discarded, never sent.
 *  - The master closes its end to make the worker leave phpw_worker_run().
 *  - A resident worker whose bootstrap returns by itself (it stopped calling
 *    phpmgr_handle_request(), as FrankenPHP worker scripts do after their own request count),
 *    when no planned leave is known to the master (PHPW_APP_STATUS_LEAVING, or the master closed
 *    the channel), writes a leaving notice between two requests: END_REQUEST with request id 0,
 *    appStatus PHPW_APP_STATUS_LEAVING, protocolStatus 0. The master may have sent a request
 *    before it read the notice, so the worker then reads on until the master closes the channel,
 *    and answers every request that arrives meanwhile without running it: its STDIN is read to
 *    its end, then END_REQUEST (the request's id) with appStatus PHPW_APP_STATUS_UNSERVED is its
 *    only record (no STDOUT, not even the empty one). On the notice the master sends nothing
 *    more and closes the channel (after such an answer, when a request was on its way); a
 *    request answered UNSERVED is given to another worker, and its client never hears of it. */
/* The request id the master uses on the channel says how the client connected: 1 when the
 * client's connection closes after the response, PHPW_REQUEST_ID_KEEP_CONN when the client sent
 * FCGI_KEEP_CONN (php-fpm's fastcgi_finish_request() behaves differently on the two). */
#define PHPW_REQUEST_ID_KEEP_CONN 2
/* When a request's client goes away, the master sends the worker SIGURG with sigqueue() value =
 * the request's sequence number on this channel (1 for the first request, counting every
 * request sent); the worker's next output then fails as php-fpm's write to a closed socket does
 * (connection_aborted(), ignore_user_abort). A stale signal for an earlier request is ignored. */
#define PHPW_APP_STATUS_FINISHED 0xFFFFFFFEu
/* A resident worker's END_REQUEST (the last one of a request) with this appStatus: the response
 * is complete and the worker leaves now (worker.max_requests, worker.memory_limit, a fatal error
 * in a handler); it must be sent nothing more. The client gets appStatus 0. */
#define PHPW_APP_STATUS_LEAVING 0xFFFFFFFDu
/* The only record of the answer to a request a leaving worker did not run (see above). */
#define PHPW_APP_STATUS_UNSERVED 0xFFFFFFFCu

/* Worker main loop. Resident mode (opts->bootstrap): run the bootstrap, which takes requests
 * with phpmgr_handle_request(). Classic mode: accept requests on opts->fd with libfcgi (keep-conn),
 * run each through php_request_startup / php_execute_script / php_request_shutdown, and return 0
 * when the master closes the channel. Returns non-zero on a setup failure. */
int phpw_worker_run(const struct phpw_worker_opts *opts);

#endif
