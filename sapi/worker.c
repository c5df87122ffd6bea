/* The worker: pool ini once after fork, then one FastCGI request at a time from the master through
 * libfcgi, each run through PHP's request lifecycle exactly as php-fpm's main loop does. */
#include "phpw.h"
#include "phpw_int.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../src/log.h"
#include "SAPI.h"
#include "php_main.h"
#include "php_output.h"
#include "zend_signal.h"

struct phpw_req phpw_req;
int phpw_worker_id;

volatile sig_atomic_t phpw_client_gone;
/* Requests accepted so far; the master counts the same and names the request in SIGURG. */
static volatile sig_atomic_t request_seq;
/* The request the last SIGURG named: the master may see a client leave before this worker has
 * read the request, so serve() checks it too. */
static volatile sig_atomic_t aborted_seq;

static void on_client_gone(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    aborted_seq = si->si_value.sival_int;
    if (aborted_seq == request_seq) phpw_client_gone = 1;
}

static const char *const *limit_exts;
static size_t log_limit = 1024;

/* ---- logging, as a php-fpm child's zlog ---- */

static const char *const level_names[] = {"DEBUG", "NOTICE", "WARNING", "ERROR", "ALERT"};

void phpw_log_prefixed(int level, const char *prefix, const char *msg)
{
    if (level < LOG_LVL_DEBUG || level > LOG_LVL_ALERT) level = LOG_LVL_NOTICE;
    if (!phpw_in_worker) {
        log_msg((enum log_level)level, "%s%s", prefix, msg);
        return;
    }

    /* One line "LEVEL: prefix msg", at most log_limit - 1 bytes, "..." at the end when cut, as
     * php-fpm's zlog does. DEBUG lines carry no level (php-fpm's default level hides them). */
    char stackbuf[2048];
    size_t limit = log_limit;
    char *line = stackbuf;
    if (limit + 1 > sizeof(stackbuf)) {
        line = malloc(limit + 1);
        if (line == NULL) {
            line = stackbuf;
            limit = sizeof(stackbuf) - 1;
        }
    }
    size_t n = 0;
    if (level >= LOG_LVL_NOTICE) {
        n = (size_t)snprintf(line, limit, "%s: ", level_names[level]);
        if (n >= limit) n = limit - 1;
    }
    size_t body = n;
    bool cut = false;
    for (const char *part[2] = {prefix, msg}, **pp = part; pp < part + 2; pp++) {
        size_t len = strlen(*pp);
        if (n + len >= limit) {
            len = limit - 1 - n;
            cut = true;
        }
        memcpy(line + n, *pp, len);
        n += len;
        if (cut) break;
    }
    if (cut && n >= body + 3) memcpy(line + n - 3, "...", 3);

    /* FastCGI stderr: the web server logs it ("FastCGI sent in stderr: ..."). */
    struct phpw_req *rq = phpw_current();
    if (rq != NULL && !rq->ended && phpw_cgi.fcgi_logging && n > body) {
        if (rq->log_started) {
            FCGX_PutStr("; ", 2, rq->fcgx.err);
        } else {
            rq->log_started = true;
        }
        FCGX_PutStr(line + body, (int)(n - body), rq->fcgx.err);
    }
    if (level >= LOG_LVL_NOTICE) {
        line[n++] = '\n';
        ssize_t w = write(STDERR_FILENO, line, n); /* one write: lines never interleave */
        (void)w;
    }
    if (line != stackbuf) free(line);
}

void phpw_log(int level, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    phpw_log_prefixed(level, "", buf);
}

int phpw_limit_extensions(const char *path)
{
    if (path == NULL || limit_exts == NULL || *limit_exts == NULL) return 0;
    size_t path_len = strlen(path);
    for (const char *const *p = limit_exts; *p; p++) {
        size_t ext_len = strlen(*p);
        if (path_len > ext_len && strcmp(*p, path + path_len - ext_len) == 0) return 0;
    }
    phpw_log(LOG_LVL_NOTICE,
             "Access to the script '%s' has been denied (see security.limit_extensions)", path);
    return 1;
}

/* ---- the request lifecycle (php-fpm's main loop body) ---- */

/* An END_REQUEST record and nothing else, written past libfcgi. 0, or -1 when the channel
 * failed. */
static int write_end_record(int fd, int request_id, uint32_t app_status)
{
    unsigned char rec[16] = {1, 3, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    rec[2] = (unsigned char)((request_id >> 8) & 0xff);
    rec[3] = (unsigned char)(request_id & 0xff);
    for (int i = 0; i < 4; i++)
        rec[8 + i] = (unsigned char)(app_status >> (24 - 8 * i));
    size_t done = 0;
    while (done < sizeof(rec)) {
        ssize_t w = write(fd, rec + done, sizeof(rec) - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        done += (size_t)w;
    }
    return 0;
}

int phpw_write_idle_record(struct phpw_req *rq, uint32_t app_status)
{
    return write_end_record(rq->fcgx.ipcFd, rq->fcgx.requestId, app_status);
}

void phpw_leave_unasked(struct phpw_req *rq)
{
    if (write_end_record(rq->fcgx.ipcFd, 0, PHPW_APP_STATUS_LEAVING) < 0) return;
    /* At most the one request the master sent before it read the notice, then EOF. */
    while (phpw_accept(rq) == 0) {
        request_seq++; /* the master counted it too (SIGURG) */
        char buf[8192];
        while (FCGX_GetStr(buf, (int)sizeof(buf), rq->fcgx.in) > 0) {
        }
        /* Closing the streams through libfcgi (at the next accept) would write an empty STDOUT
         * record and an END_REQUEST of its own: the answer is our END_REQUEST alone. */
        rq->fcgx.out->wasFCloseCalled = rq->fcgx.out->isClosed = 1;
        rq->fcgx.err->wasFCloseCalled = rq->fcgx.err->isClosed = 1;
        if (phpw_write_idle_record(rq, PHPW_APP_STATUS_UNSERVED) < 0) break;
    }
}

static void puts_body(const char *s)
{
    php_output_write(s, strlen(s));
}

long phpw_request_count(void)
{
    return (long)request_seq;
}

int phpw_request_begin(struct phpw_req *rq)
{
    request_seq++;
    phpw_client_gone = aborted_seq == request_seq;
    phpw_slowlog_request_begin((long)request_seq);
    phpw_status_request_begin();
    struct timespec ts;

    rq->body_fd = -1;
    rq->ended = false;
    rq->finished_early = false;
    rq->log_started = false;
    rq->leaving = false;
    clock_gettime(CLOCK_REALTIME, &ts);
    rq->start_time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;

    if (phpw_params_load(&rq->params, rq->fcgx.envp) < 0) {
        phpw_log(LOG_LVL_ERROR, "out of memory reading the request's params");
        return -1;
    }
    SG(server_context) = rq;
    phpw_init_request_info(rq);
    return 0;
}

void phpw_request_finish_script(struct phpw_req *rq)
{
    phpw_slowlog_request_end();
    phpw_status_request_end();
    if (rq->body_fd >= 0) close(rq->body_fd);
    rq->body_fd = -2;

    /* fastcgi.error_header: replace the status of a fatal error that sent no headers yet */
    if (EG(exit_status) == 255 && phpw_cgi.error_header && *phpw_cgi.error_header &&
        !SG(headers_sent)) {
        sapi_header_line ctr = {0};
        ctr.line = phpw_cgi.error_header;
        ctr.line_len = strlen(phpw_cgi.error_header);
        sapi_header_op(SAPI_HEADER_REPLACE, &ctr);
    }

    if (SG(request_info).path_translated) {
        efree(SG(request_info).path_translated);
        SG(request_info).path_translated = NULL;
    }
}

/* Serve one accepted request. Returns 0, or -1 when the worker must stop (as php-fpm exits when
 * php_request_startup() fails). */
static int serve(struct phpw_req *rq)
{
    zend_file_handle file_handle;
    char *primary_script = NULL;

    if (phpw_request_begin(rq) < 0) return -1;

    /* request startup only once path_translated is known */
    if (php_request_startup() == FAILURE) {
        phpw_end_response(rq, 0);
        SG(server_context) = NULL;
        phpw_log(LOG_LVL_ERROR, "PHP request startup failed");
        return -1;
    }

    /* no REQUEST_METHOD: certainly not an HTTP request over FastCGI */
    if (SG(request_info).request_method == NULL) {
        /* nothing to run */
    } else if (SG(request_info).path_translated == NULL) {
        zend_try
        {
            phpw_log(LOG_LVL_DEBUG, "Primary script unknown");
            SG(sapi_headers).http_response_code = 404;
            puts_body("File not found.\n");
        }
        zend_catch {}
        zend_end_try();
    } else if (phpw_limit_extensions(SG(request_info).path_translated)) {
        zend_try
        {
            SG(sapi_headers).http_response_code = 403;
            puts_body("Access denied.\n");
        }
        zend_catch {}
        zend_end_try();
    } else {
        /* php_fopen_primary_script() may free path_translated on failure; keep a copy to log */
        primary_script = estrdup(SG(request_info).path_translated);
        if (php_fopen_primary_script(&file_handle) == FAILURE) {
            int e = errno;
            zend_try
            {
                phpw_log(LOG_LVL_ERROR, "Unable to open primary script: %s (%s)", primary_script,
                         strerror(e));
                if (e == EACCES) {
                    SG(sapi_headers).http_response_code = 403;
                    puts_body("Access denied.\n");
                } else {
                    SG(sapi_headers).http_response_code = 404;
                    puts_body("No input file specified.\n");
                }
            }
            zend_catch {}
            zend_end_try();
        } else {
            EG(exit_status) = 0; /* not the previous request's */
            php_execute_script(&file_handle);
        }
        /* Opened by the scanner, the handle is in CG(open_files) and freed with it; from
         * OPcache's cache it is not, and is ours to free. */
        if (!file_handle.in_list) zend_destroy_file_handle(&file_handle);
        efree(primary_script);
    }

    phpw_request_finish_script(rq);

    /* Sends the response's END_REQUEST from the SAPI's deactivate hook, then frees it all. */
    php_request_shutdown(NULL);
#ifdef ZEND_SIGNALS
    /* The first request's startup installed Zend's deferring signal handlers and nothing in
     * a worker removes them, so later startups need not query all seven again: 7 syscalls
     * of the ~20 a hello-world request costs. */
    SIGG(reset) = 0;
#endif

    if (!rq->ended) phpw_end_response(rq, 0);
    SG(server_context) = NULL;
    if (rq->finished_early && phpw_write_idle_record(rq, 0) < 0) return -1;
    return 0;
}

/* Sleep in poll(POLLIN), not in libfcgi's read(): a unix socket wakes everyone asleep on it
 * whenever the master drains this worker's output (unix_write_space), and a reader blocked in
 * read() would be woken for nothing once per request; a POLLIN poller is not. 0 when the
 * channel has data or EOF, -1 on error. */
static int wait_for_request(int fd);

int phpw_accept(struct phpw_req *rq)
{
    if (wait_for_request(rq->fcgx.ipcFd) < 0) return -1;
    return FCGX_Accept_r(&rq->fcgx) >= 0 ? 0 : -1;
}

static int wait_for_request(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    for (;;) {
        int n = poll(&pfd, 1, -1);
        if (n > 0) return 0;
        if (n < 0 && errno != EINTR) {
            phpw_log(LOG_LVL_ERROR, "poll on the master channel failed: %s", strerror(errno));
            return -1;
        }
    }
}

int phpw_worker_run(const struct phpw_worker_opts *opts)
{
    phpw_in_worker = true;
    phpw_worker_id = opts->worker_id;
    log_limit = opts->log_limit > 0 ? (size_t)opts->log_limit : 1024;
    if (log_limit < 16) log_limit = 16;

    /* php-fpm's children ignore SIGPIPE, so a closed socket (fsockopen, the master) is an error
     * return, not a death. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPIPE, &sa, NULL) < 0) {
        phpw_log(LOG_LVL_ERROR, "sigaction(SIGPIPE) failed: %s", strerror(errno));
        return 1;
    }

    sa.sa_handler = NULL;
    sa.sa_sigaction = on_client_gone;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    if (sigaction(SIGURG, &sa, NULL) < 0) {
        phpw_log(LOG_LVL_ERROR, "sigaction(SIGURG) failed: %s", strerror(errno));
        return 1;
    }

    /* pool php_value[] / php_admin_value[]: user values first, then admin, as php-fpm */
    bool extension_loaded = false;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < opts->n_ini; i++) {
            const struct phpw_ini *e = &opts->ini[i];
            if ((e->admin != 0) != (pass == 1)) continue;
            int r = phpw_ini_apply_master(e->name, e->value, e->admin);
            if (r == -1) {
                phpw_log(LOG_LVL_ERROR, "Unable to set %s '%s'",
                         e->admin ? "php_admin_value" : "php_value", e->name);
            } else if (r == 2) {
                extension_loaded = true;
            }
        }
    }
    if (extension_loaded) zend_collect_module_handlers();
    limit_exts = opts->limit_extensions;
    phpw_install_env_hooks();
    phpw_slowlog_start(opts); /* a failure is logged; the worker serves without a slowlog */
    phpw_status_start(opts);

    /* FCGX_Init() installs handlers for SIGUSR1 and SIGTERM that only set a flag; the worker
     * keeps the dispositions the master gave it (SIGTERM must still terminate it). */
    struct sigaction old_usr1, old_term, old_pipe;
    if (sigaction(SIGUSR1, NULL, &old_usr1) < 0 || sigaction(SIGTERM, NULL, &old_term) < 0 ||
        sigaction(SIGPIPE, NULL, &old_pipe) < 0) {
        phpw_log(LOG_LVL_ERROR, "sigaction failed: %s", strerror(errno));
        return 1;
    }
    int rc = FCGX_Init();
    if (sigaction(SIGUSR1, &old_usr1, NULL) < 0 || sigaction(SIGTERM, &old_term, NULL) < 0 ||
        sigaction(SIGPIPE, &old_pipe, NULL) < 0) {
        phpw_log(LOG_LVL_ERROR, "sigaction failed: %s", strerror(errno));
        return 1;
    }
    if (rc != 0) {
        phpw_log(LOG_LVL_ERROR, "FCGX_Init failed (%d)", rc);
        return 1;
    }

    /* The channel is already connected: no accept. keepConnection stops the Finish inside
     * FCGX_Accept_r from closing it before the first request. */
    FCGX_InitRequest(&phpw_req.fcgx, -1, 0);
    phpw_req.fcgx.ipcFd = opts->fd;
    phpw_req.fcgx.keepConnection = 1;
    phpw_params_reset(&phpw_req.params);

    phpw_reload_sync(opts->pool); /* no stale OPcache entry after a reload */

    volatile int status = 0;
    if (opts->bootstrap != NULL) {
        status = phpw_resident_run(opts);
    } else {
        zend_first_try
        {
            while (phpw_accept(&phpw_req) == 0) {
                if (serve(&phpw_req) < 0) {
                    status = 1;
                    break;
                }
            }
        }
        zend_catch
        {
            status = 1;
        }
        zend_end_try();
    }

    SG(server_context) = NULL;
    /* libfcgi has closed the channel already when the master closed it; after an error, close
     * it here without libfcgi's lingering shutdown. */
    if (phpw_req.fcgx.ipcFd >= 0) {
        close(phpw_req.fcgx.ipcFd);
        phpw_req.fcgx.ipcFd = -1;
    }
    FCGX_Free(&phpw_req.fcgx, 0);
    phpw_params_free(&phpw_req.params);
    return status;
}
