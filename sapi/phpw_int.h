/* Internal interface between the files of sapi/ (never included by src/).
 *
 *   engine.c     the SAPI module and the "cgi-fcgi" PHP module (ini entries, constants), startup
 *   params.c     the FastCGI params of the current request: hash lookup, putenv, fpm's order
 *   request.c    per-request SAPI callbacks: request info, $_SERVER, I/O, headers, logging
 *   ini.c        php_value / php_admin_value: pool values once per worker, PHP_VALUE per request
 *   functions.c  fastcgi_finish_request(), apache_request_headers(), getallheaders(), ...
 *   worker.c     the libfcgi loop and the request lifecycle
 *   resident.c   resident mode: the bootstrap, phpmgr_handle_request() and the per-request reset
 *   slowlog.c    request_slowlog_timeout: the stack dump the master asks for, written here
 *   reload.c     reload generations: OPcache emptied once per reload, before new workers serve */
#ifndef PHPMGR_PHPW_INT_H
#define PHPMGR_PHPW_INT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <fcgiapp.h>

#include "php.h"
#include "SAPI.h"

#include "../src/version.h" /* PHPMGR_VERSION_STRING, shared with the manager */
#include "phpw.h"

/* ---- params.c ---- */

/* One FastCGI param. name and value are NUL-terminated and writable (php-fpm's path logic edits
 * them in place); value NULL means deleted. */
struct phpw_param {
    char *name;
    char *value;
    uint32_t name_len;
    uint32_t value_len;
    uint32_t hash;
    int32_t next; /* next entry in the same bucket, -1 at the end */
};

#define PHPW_PARAM_BUCKETS 128 /* power of two; nginx sends 20-40 params */

struct phpw_arena_block;

struct phpw_params {
    struct phpw_param *v; /* in arrival order; php-fpm iterates newest first, and so do we */
    size_t n, cap;
    int32_t bucket[PHPW_PARAM_BUCKETS];
    struct phpw_arena_block *arena; /* copies made by phpw_param_put, kept across requests */
};

/* Index the "NAME=VALUE" strings of a libfcgi request (the '=' becomes a NUL). Returns 0, or -1
 * when out of memory. The strings must stay valid until the next reset (until FCGX_Finish_r). */
int phpw_params_load(struct phpw_params *p, char **envp);
void phpw_params_reset(struct phpw_params *p);
void phpw_params_free(struct phpw_params *p);
char *phpw_param_get(const struct phpw_params *p, const char *name, size_t name_len);
/* php-fpm's FCGI_PUTENV: value NULL deletes; otherwise a copy is stored (the name must outlive
 * the request: string literals only) and returned, or NULL when out of memory. */
char *phpw_param_put(struct phpw_params *p, const char *name, const char *value);

#define PHPW_PARAM(p, lit) phpw_param_get((p), lit, sizeof(lit) - 1)

/* ---- the request being served (worker.c owns it) ---- */

struct phpw_req {
    FCGX_Request fcgx;
    struct phpw_params params;
    double start_time;   /* when the request arrived, for $_SERVER['REQUEST_TIME_FLOAT'] */
    int body_fd;         /* REQUEST_BODY_FILE: -1 not looked at yet, -2 none, else the fd */
    bool ended;          /* END_REQUEST sent: later output is discarded */
    bool finished_early; /* ended by fastcgi_finish_request(): an "idle" END_REQUEST follows */
    bool log_started;    /* a message went to FastCGI stderr: the next one is joined with "; " */
    bool in_bootstrap;   /* resident mode, between requests: no FastCGI request is open, output
                            goes to stdout (the error log) and no header is sent */
    bool leaving;        /* resident mode: the worker leaves after this request (its last
                            END_REQUEST says PHPW_APP_STATUS_LEAVING) */
};

/* SG(server_context) points here while a request runs, and is NULL otherwise. */
extern struct phpw_req phpw_req;

static inline struct phpw_req *phpw_current(void)
{
    return (struct phpw_req *)SG(server_context);
}

/* ---- engine.c ---- */

/* php-fpm's own ini entries (cgi.*, fastcgi.*, fpm.config), same names, defaults and levels. */
struct phpw_cgi_globals {
    bool rfc2616_headers;
    bool nph;
    bool force_redirect;
    bool fix_pathinfo;
    bool discard_path;
    bool fcgi_logging;
    char *redirect_status_env;
    char *error_header;
    char *fpm_config;
    HashTable user_config_cache; /* .user.ini per directory, as php-fpm caches them */
};

/* One user_config_cache entry: the merged .user.ini values of a directory. */
struct phpw_user_config {
    time_t expires;
    HashTable *user_config;
};
extern struct phpw_cgi_globals phpw_cgi;

extern sapi_module_struct phpw_sapi_module;
/* Set from SIGURG when the master says this request's client went away (see phpw.h). */
extern volatile sig_atomic_t phpw_client_gone;
extern bool phpw_in_worker; /* set after fork: logs go to the worker's stderr, not the master's */

/* ---- request.c ---- */

/* php-fpm's init_request_info(): SCRIPT_FILENAME / PATH_INFO / PATH_TRANSLATED / SCRIPT_NAME,
 * SG(request_info), auth, PHP_VALUE and PHP_ADMIN_VALUE. Runs before php_request_startup(). */
void phpw_init_request_info(struct phpw_req *rq);
/* Send END_REQUEST with app_status after reading STDIN to its end; once per request. */
void phpw_end_response(struct phpw_req *rq, uint32_t app_status);
/* Write the CGI response body bytes; 0 on success, -1 when the channel failed. */
int phpw_out_write(struct phpw_req *rq, const char *buf, size_t len);
/* The environment hooks (php_import_environment_variables and friends), installed after fork. */
void phpw_install_env_hooks(void);

int phpw_sapi_activate(void);
int phpw_sapi_deactivate(void);
size_t phpw_sapi_ub_write(const char *str, size_t len);
void phpw_sapi_flush(void *server_context);
char *phpw_sapi_getenv(const char *name, size_t name_len);
int phpw_sapi_send_headers(sapi_headers_struct *sapi_headers);
size_t phpw_sapi_read_post(char *buf, size_t count);
char *phpw_sapi_read_cookies(void);
void phpw_sapi_register_variables(zval *track_vars_array);
void phpw_sapi_log_message(const char *message, int syslog_type);
zend_result phpw_sapi_get_request_time(double *request_time);

/* ---- worker.c: the request lifecycle pieces resident.c shares ---- */

/* Wait for the master's next request and accept it; 0, or -1 when the channel closed or failed
 * (the worker leaves). */
int phpw_accept(struct phpw_req *rq);
/* A request was accepted: count it (SIGURG sequence), reset rq, load its params, and set
 * SG(server_context) and SG(request_info) from them. 0, or -1 when out of memory. */
int phpw_request_begin(struct phpw_req *rq);
/* After the script ran: close a body file, apply fastcgi.error_header, free path_translated. */
void phpw_request_finish_script(struct phpw_req *rq);
/* The "idle now" END_REQUEST after fastcgi_finish_request() (see phpw.h), with app_status 0 or
 * PHPW_APP_STATUS_LEAVING. 0, or -1 when the channel failed. */
int phpw_write_idle_record(struct phpw_req *rq, uint32_t app_status);
/* A resident bootstrap returned by itself: write the leaving notice, then answer every request
 * the master sends until it closes the channel with PHPW_APP_STATUS_UNSERVED, unrun (see
 * phpw.h). Returns at EOF or when the channel fails. */
void phpw_leave_unasked(struct phpw_req *rq);
/* The worker's slot in its pool (phpmgr_worker_id()) and the requests it accepted so far,
 * the current one included (phpmgr_request_count()). */
extern int phpw_worker_id;
long phpw_request_count(void);

/* ---- resident.c ---- */

/* Resident mode: run opts->bootstrap in one long request; it serves requests through
 * phpmgr_handle_request(). Returns 0 when the worker leaves as planned, 1 after a failure. */
int phpw_resident_run(const struct phpw_worker_opts *opts);
/* In a resident worker (phpmgr_handle_request() exists for it). */
extern bool phpw_resident;

PHP_FUNCTION(phpmgr_handle_request);

/* ---- worker.c: logging as a php-fpm child does ---- */

/* Levels are src/log.h's enum log_level. In a request, the message also goes to FastCGI stderr
 * (fastcgi.logging); in a worker, "LEVEL: message" goes to stderr (the master decorates it as
 * "child N said into stderr"); in the master it goes to the error log via log_msg(). */
void phpw_log(int level, const char *fmt, ...) ZEND_ATTRIBUTE_FORMAT(printf, 2, 3);
void phpw_log_prefixed(int level, const char *prefix, const char *msg);

/* security.limit_extensions: 0 allowed, 1 denied (and logged as php-fpm logs it). */
int phpw_limit_extensions(const char *path);

/* ---- ini.c ---- */

/* php-fpm's fpm_php_apply_defines_ex() for pool values: alters the master value, so the setting
 * lasts for the worker's life; admin ones become PHP_INI_SYSTEM. "extension" loads a module,
 * "disable_functions" / "disable_classes" take effect. 1 applied, 2 extension loaded, 0 extension
 * failed, -1 unknown directive or bad value. */
int phpw_ini_apply_master(const char *name, const char *value, int admin);
/* PHP_VALUE / PHP_ADMIN_VALUE of one request: parsed as php-fpm parses them, applied as
 * modifications that zend_deactivate() undoes at the end of the request. */
void phpw_ini_apply_request(const char *ini, int admin);

/* ---- slowlog.c ---- */

/* After fork, in the worker: when opts->slowlog_bell is set, start the thread that waits on it and
 * hook zend_interrupt_function. 0, or -1 (logged: the worker runs without a slowlog). */
int phpw_slowlog_start(const struct phpw_worker_opts *opts);
/* The request with this sequence number runs (from phpw_request_begin()) / is over (from
 * phpw_request_finish_script(), where php-fpm marks its request finished). */
void phpw_slowlog_request_begin(long seq);
void phpw_slowlog_request_end(void);

/* ---- status.c ---- */

/* After fork, in the worker: find its slot in opts->scoreboard (none: all of these do nothing). */
void phpw_status_start(const struct phpw_worker_opts *opts);
/* From phpw_request_begin() / phpw_request_finish_script(), where php-fpm reads the clocks: the
 * request's cpu and memory go to the worker's slot before its response ends. */
void phpw_status_request_begin(void);
void phpw_status_request_end(void);
/* fpm_get_status(): php-fpm's array from the scoreboard. 0, or -1 (no scoreboard). */
int phpw_status_export(zval *status);

/* ---- reload.c ---- */

/* Before a worker serves (classic: its first script; resident: its bootstrap): when a reload
 * happened since the generation OPcache was last emptied for, empty it or wait until another new
 * worker has (see phpw.h). Reads the generation now, not at fork: a seed forked before a reload
 * and woken after it is a worker of the new generation. */
void phpw_reload_sync(const char *pool);

/* ---- functions.c ---- */

extern const zend_function_entry phpw_functions[];

#endif
