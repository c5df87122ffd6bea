/* Configuration loader: php-fpm.conf's syntax and meaning, read with inih.
 *
 * php-fpm reads its file with PHP's own INI scanner, one line at a time. inih splits lines
 * differently, so every line goes through read_line() before inih sees it:
 *  - leading whitespace is removed, since inih would take an indented line as the continuation of
 *    the previous value (Python configparser style) where PHP just ignores the indentation;
 *  - the comment is cut where PHP cuts it: at the first ';' outside quotes, with or without
 *    whitespace before it (inih cuts only at " ;" and ignores quotes, so it would cut
 *    access.format = "%R ; %u" and keep "a;b");
 *  - a ';' left inside quotes is hidden from inih as SEMI_MARK and restored in on_entry();
 *  - section headers are handled here (php-fpm's rules: [global], re-opening a pool, include files
 *    inheriting the current section), so inih never sees them;
 *  - a line longer than inih's buffer reaches inih as "key=LONG_MARK", the value is kept aside.
 * on_entry() then turns the raw value into what PHP's scanner would give php-fpm (quotes, escapes,
 * ${VAR}, yes/no keywords, E_* constants and | & ^ ~ ! expressions) and applies the key. */
#include "config.h"
#include "../sapi/phpw.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <grp.h>
#include <ini.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_INCLUDE_DEPTH 5 /* php-fpm refuses more than 5 nested files */
#define LOG_LIMIT_MIN 512   /* php-fpm's ZLOG_MIN_LIMIT */
#define SEMI_MARK '\x1f'
#define LONG_MARK '\x1e'
#define DEFAULT_ACCESS_FORMAT "%R - %u %t \"%m %r\" %s"

struct parser;

/* One file being read. */
struct source {
    struct parser *ps;
    FILE *fp;
    const char *path; /* owned by cfg->files */
    int line;
    char *buf;
    size_t cap;
    char *long_value; /* value of the current line when it did not fit inih's buffer */
};

struct loc {
    const char *file;
    int line;
};

enum ftype { F_STR, F_INT, F_LL, F_LIST };
#define K_WARN 1u /* parsed and validated, but phpmgr does not act on it yet */

struct key_def;
typedef int (*setter_fn)(struct source *, const struct key_def *, void *base, const char *val);

struct key_def {
    const char *name;
    setter_fn set;
    enum ftype type;
    size_t off;
    long long min, max; /* numeric range */
    unsigned flags;
};

static int set_str(struct source *, const struct key_def *, void *, const char *);
static int set_int(struct source *, const struct key_def *, void *, const char *);
static int set_time(struct source *, const struct key_def *, void *, const char *);
static int set_size(struct source *, const struct key_def *, void *, const char *);
static int set_bool(struct source *, const struct key_def *, void *, const char *);
static int set_log_level(struct source *, const struct key_def *, void *, const char *);
static int set_rlimit_core(struct source *, const struct key_def *, void *, const char *);
static int set_facility(struct source *, const struct key_def *, void *, const char *);
static int set_events(struct source *, const struct key_def *, void *, const char *);
static int set_pm(struct source *, const struct key_def *, void *, const char *);
static int set_listen(struct source *, const struct key_def *, void *, const char *);
static int set_mode(struct source *, const struct key_def *, void *, const char *);
static int set_clients(struct source *, const struct key_def *, void *, const char *);
static int set_uri_path(struct source *, const struct key_def *, void *, const char *);
static int set_nonempty(struct source *, const struct key_def *, void *, const char *);
static int set_extensions(struct source *, const struct key_def *, void *, const char *);
static int set_worker_mode(struct source *, const struct key_def *, void *, const char *);
static int set_http_listen(struct source *, const struct key_def *, void *, const char *);
static int set_cidrs(struct source *, const struct key_def *, void *, const char *);

#define GO(f) offsetof(struct global_config, f)
#define PO(f) offsetof(struct pool_config, f)
#define NOLIM 0, 0
#define INTS(lo, hi) (lo), (hi)
#define TIMES INTS(0, INT_MAX)

static const struct key_def global_keys[] = {
    {"pid", set_str, F_STR, GO(pid_file), NOLIM, 0},
    {"error_log", set_str, F_STR, GO(error_log), NOLIM, 0},
    {"log_level", set_log_level, F_INT, GO(log_level), NOLIM, 0},
    {"log_limit", set_int, F_INT, GO(log_limit), INTS(LOG_LIMIT_MIN, INT_MAX), 0},
    {"log_buffering", set_bool, F_INT, GO(log_buffering), NOLIM, K_WARN},
    {"syslog.facility", set_facility, F_STR, GO(syslog_facility), NOLIM, K_WARN},
    {"syslog.ident", set_str, F_STR, GO(syslog_ident), NOLIM, K_WARN},
    {"emergency_restart_threshold", set_int, F_INT, GO(emergency_restart_threshold),
     INTS(0, INT_MAX), K_WARN},
    {"emergency_restart_interval", set_time, F_INT, GO(emergency_restart_interval_ms), TIMES,
     K_WARN},
    {"process_control_timeout", set_time, F_INT, GO(process_control_timeout_ms), TIMES, 0},
    {"process.max", set_int, F_INT, GO(process_max), INTS(0, INT_MAX), K_WARN},
    {"process.priority", set_int, F_INT, GO(process_priority), INTS(-19, 20), 0},
    {"daemonize", set_bool, F_INT, GO(daemonize), NOLIM, 0},
    {"rlimit_files", set_int, F_INT, GO(rlimit_files), INTS(0, INT_MAX), 0},
    {"rlimit_core", set_rlimit_core, F_INT, GO(rlimit_core), NOLIM, 0},
    {"events.mechanism", set_events, F_STR, GO(events_mechanism), NOLIM, K_WARN},
    {"systemd_interval", set_time, F_INT, GO(systemd_interval_ms), TIMES, 0},
    {"php_ini", set_str, F_STR, GO(php_ini), NOLIM, 0},
};

static const struct key_def pool_keys[] = {
    {"prefix", set_str, F_STR, PO(prefix), NOLIM, 0},
    {"user", set_str, F_STR, PO(user), NOLIM, 0},
    {"group", set_str, F_STR, PO(group), NOLIM, 0},
    {"listen", set_listen, F_STR, PO(listen), NOLIM, 0},
    {"listen.backlog", set_int, F_INT, PO(listen_backlog), INTS(-1, INT_MAX), 0},
    {"listen.owner", set_str, F_STR, PO(listen_owner), NOLIM, 0},
    {"listen.group", set_str, F_STR, PO(listen_group), NOLIM, 0},
    {"listen.mode", set_mode, F_INT, PO(listen_mode), NOLIM, 0},
    {"listen.acl_users", set_str, F_STR, PO(listen_acl_users), NOLIM, K_WARN},
    {"listen.acl_groups", set_str, F_STR, PO(listen_acl_groups), NOLIM, K_WARN},
    {"listen.allowed_clients", set_clients, F_LIST, PO(allowed_clients), NOLIM, 0},
    {"listen.setfib", set_int, F_INT, PO(listen_setfib), INTS(-1, INT_MAX), K_WARN},
    {"process.priority", set_int, F_INT, PO(process_priority), INTS(-19, 20), 0},
    {"process.dumpable", set_bool, F_INT, PO(process_dumpable), NOLIM, K_WARN},
    {"pm", set_pm, F_INT, PO(pm), NOLIM, 0},
    {"pm.max_children", set_int, F_INT, PO(max_children), INTS(0, INT_MAX), 0},
    {"pm.start_servers", set_int, F_INT, PO(start_servers), INTS(0, INT_MAX), 0},
    {"pm.min_spare_servers", set_int, F_INT, PO(min_spare_servers), INTS(0, INT_MAX), 0},
    {"pm.max_spare_servers", set_int, F_INT, PO(max_spare_servers), INTS(0, INT_MAX), 0},
    {"pm.max_spawn_rate", set_int, F_INT, PO(max_spawn_rate), INTS(0, INT_MAX), 0},
    {"pm.process_idle_timeout", set_time, F_INT, PO(process_idle_timeout_ms), TIMES, 0},
    {"pm.max_requests", set_int, F_INT, PO(max_requests), INTS(0, INT_MAX), 0},
    {"pm.status_path", set_uri_path, F_STR, PO(status_path), NOLIM, 0},
    {"pm.status_listen", set_listen, F_STR, PO(status_listen), NOLIM, K_WARN},
    {"ping.path", set_uri_path, F_STR, PO(ping_path), NOLIM, 0},
    {"ping.response", set_nonempty, F_STR, PO(ping_response), NOLIM, 0},
    {"access.log", set_str, F_STR, PO(access_log), NOLIM, K_WARN},
    {"access.format", set_nonempty, F_STR, PO(access_format), NOLIM, K_WARN},
    {"slowlog", set_str, F_STR, PO(slowlog), NOLIM, 0},
    {"request_slowlog_timeout", set_time, F_INT, PO(request_slowlog_timeout_ms), TIMES, 0},
    {"request_slowlog_trace_depth", set_int, F_INT, PO(request_slowlog_trace_depth),
     INTS(0, INT_MAX), 0},
    {"request_terminate_timeout", set_time, F_INT, PO(request_terminate_timeout_ms), TIMES, 0},
    {"request_terminate_timeout_track_finished", set_bool, F_INT,
     PO(request_terminate_timeout_track_finished), NOLIM, K_WARN},
    {"rlimit_files", set_int, F_INT, PO(rlimit_files), INTS(0, INT_MAX), 0},
    {"rlimit_core", set_rlimit_core, F_INT, PO(rlimit_core), NOLIM, 0},
    {"chroot", set_str, F_STR, PO(chroot), NOLIM, K_WARN},
    {"chdir", set_str, F_STR, PO(chdir), NOLIM, 0},
    {"catch_workers_output", set_bool, F_INT, PO(catch_workers_output), NOLIM, 0},
    {"decorate_workers_output", set_bool, F_INT, PO(decorate_workers_output), NOLIM, 0},
    {"clear_env", set_bool, F_INT, PO(clear_env), NOLIM, 0},
    {"security.limit_extensions", set_extensions, F_LIST, PO(limit_extensions), NOLIM, 0},
    {"apparmor_hat", set_str, F_STR, PO(apparmor_hat), NOLIM, K_WARN},
    /* phpmgr's own keys */
    {"http.listen", set_http_listen, F_LIST, PO(http_listen), NOLIM, 0},
    {"http.document_root", set_str, F_STR, PO(http_document_root), NOLIM, 0},
    {"http.index", set_str, F_STR, PO(http_index), NOLIM, 0},
    {"http.server_name", set_str, F_STR, PO(http_server_name), NOLIM, 0},
    {"http.static", set_bool, F_INT, PO(http_static), NOLIM, 0},
    {"http.max_body_size", set_size, F_LL, PO(http_max_body_size), NOLIM, 0},
    {"http.max_header_size", set_size, F_LL, PO(http_max_header_size), NOLIM, 0},
    {"http.keepalive_timeout", set_time, F_INT, PO(http_keepalive_timeout_ms), TIMES, 0},
    {"http.header_timeout", set_time, F_INT, PO(http_header_timeout_ms), TIMES, 0},
    {"http.body_timeout", set_time, F_INT, PO(http_body_timeout_ms), TIMES, 0},
    {"http.send_timeout", set_time, F_INT, PO(http_send_timeout_ms), TIMES, 0},
    {"http.trusted_proxies", set_cidrs, F_LIST, PO(http_trusted_proxies), NOLIM, 0},
    {"fastcgi.max_body_size", set_size, F_LL, PO(fcgi_max_body_size), NOLIM, 0},
    {"fastcgi.send_timeout", set_time, F_INT, PO(fcgi_send_timeout_ms), TIMES, 0},
    {"request.read_timeout", set_time, F_INT, PO(request_read_timeout_ms), TIMES, 0},
    {"request.max_temp_file_size", set_size, F_LL, PO(response_temp_max), NOLIM, 0},
    {"request.body_buffer_size", set_size, F_LL, PO(body_buffer_size), NOLIM, 0},
    {"request.body_temp_dir", set_str, F_STR, PO(body_temp_dir), NOLIM, 0},
    {"worker.mode", set_worker_mode, F_INT, PO(worker_mode), NOLIM, 0},
    {"worker.bootstrap", set_str, F_STR, PO(worker_bootstrap), NOLIM, 0},
    {"worker.max_requests", set_int, F_INT, PO(worker_max_requests), INTS(0, INT_MAX), 0},
    {"worker.memory_limit", set_size, F_LL, PO(worker_memory_limit), NOLIM, 0},
    {"worker.leak_check", set_bool, F_INT, PO(worker_leak_check), NOLIM, 0},
    {"task.workers", set_int, F_INT, PO(task_workers), INTS(0, 65536), K_WARN},
    {"task.handler", set_str, F_STR, PO(task_handler), NOLIM, K_WARN},
    {"heartbeat.check_interval", set_time, F_INT, PO(heartbeat_check_interval_ms), TIMES, 0},
    {"heartbeat.idle_time", set_time, F_INT, PO(heartbeat_idle_time_ms), TIMES, 0},
    {"queue.max", set_int, F_INT, PO(queue_max), INTS(0, INT_MAX), 0},
};

#define N_GLOBAL_KEYS (sizeof(global_keys) / sizeof(global_keys[0]))
#define N_POOL_KEYS (sizeof(pool_keys) / sizeof(pool_keys[0]))

struct parser {
    struct config *cfg;
    char *err;
    size_t errlen;
    int failed;
    int cur_pool; /* -1: [global] (also before any section, as in php-fpm) */
    int depth;
    struct loc (*locs)[N_POOL_KEYS]; /* where each pool key was last set, per pool */
    size_t cap_pools, cap_warnings, cap_notices, cap_files;
    struct global_config def_global; /* defaults, to warn only about keys that change something */
    struct pool_config def_pool;
};

/* ---- messages ---- */

static void vfail(struct parser *ps, const char *file, int line, const char *key, const char *fmt,
                  va_list ap)
{
    if (ps->failed) return;
    ps->failed = 1;
    if (!ps->err || ps->errlen == 0) return;
    int n;
    if (!key)
        n = 0; /* php-fpm's own message, as it prints it */
    else if (file && line > 0)
        n = snprintf(ps->err, ps->errlen, "%s:%d: %s: ", file, line, key);
    else if (file)
        n = snprintf(ps->err, ps->errlen, "%s: %s: ", file, key);
    else
        n = snprintf(ps->err, ps->errlen, "%s: ", key);
    if (n < 0 || (size_t)n >= ps->errlen) return;
    vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
}

__attribute__((format(printf, 5, 6))) static int
fail_at(struct parser *ps, const char *file, int line, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(ps, file, line, key, fmt, ap);
    va_end(ap);
    return -1;
}

/* An error at the line being read. */
__attribute__((format(printf, 3, 4))) static int fail(struct source *src, const char *key,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(src->ps, src->path, src->line, key, fmt, ap);
    va_end(ap);
    return -1;
}

static int oom(struct parser *ps)
{
    return fail_at(ps, NULL, 0, "config", "out of memory");
}

static char *xstrdup(struct parser *ps, const char *s)
{
    char *d = strdup(s);
    if (!d) oom(ps);
    return d;
}

__attribute__((format(printf, 2, 3))) static char *xasprintf(struct parser *ps, const char *fmt,
                                                             ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!s) {
        oom(ps);
        return NULL;
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* Append s (owned) to a NULL-terminated array whose count and capacity are tracked. */
static int push_counted(struct parser *ps, char ***arr, size_t *n, size_t *cap, char *s)
{
    if (*n + 2 > *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        char **t = realloc(*arr, c * sizeof(char *));
        if (!t) {
            free(s);
            return oom(ps);
        }
        *arr = t;
        *cap = c;
    }
    (*arr)[(*n)++] = s;
    (*arr)[*n] = NULL;
    return 0;
}

__attribute__((format(printf, 5, 6))) static int
warn_at(struct parser *ps, const char *file, int line, const char *key, const char *fmt, ...)
{
    struct config *cfg = ps->cfg;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return oom(ps);
    char *msg = malloc((size_t)n + 1);
    if (!msg) return oom(ps);
    va_start(ap, fmt);
    vsnprintf(msg, (size_t)n + 1, fmt, ap);
    va_end(ap);
    char *w = xasprintf(ps, "%s:%d: %s: %s", file, line, key, msg);
    free(msg);
    if (!w) return -1;
    return push_counted(ps, &cfg->warnings, &cfg->n_warnings, &ps->cap_warnings, w);
}

/* One of php-fpm's NOTICE lines about the configuration (config.notices). */
__attribute__((format(printf, 2, 3))) static int notice(struct parser *ps, const char *fmt, ...)
{
    struct config *cfg = ps->cfg;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *msg = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!msg) return oom(ps);
    va_start(ap, fmt);
    vsnprintf(msg, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return push_counted(ps, &cfg->notices, &cfg->n_notices, &ps->cap_notices, msg);
}

static int not_acted(struct source *src, const char *key)
{
    return warn_at(src->ps, src->path, src->line, key, "parsed but not acted on yet");
}

/* ---- NULL-terminated string lists ---- */

static size_t list_len(char **l)
{
    size_t n = 0;
    while (l && l[n])
        n++;
    return n;
}

static void list_free(char **l)
{
    for (size_t i = 0; l && l[i]; i++)
        free(l[i]);
    free(l);
}

/* Append s (taking ownership) to *l. */
static int list_push(struct parser *ps, char ***l, char *s)
{
    size_t n = list_len(*l);
    char **t = realloc(*l, (n + 2) * sizeof(char *));
    if (!t) {
        free(s);
        return oom(ps);
    }
    t[n] = s;
    t[n + 1] = NULL;
    *l = t;
    return 0;
}

/* ---- value syntax: what PHP's INI scanner (ZEND_INI_SCANNER_NORMAL) makes of a raw value ---- */

struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
};

static void sb_putn(struct sbuf *b, const char *p, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        while (c < b->len + n + 1)
            c *= 2;
        char *t = realloc(b->s, c);
        if (!t) {
            b->oom = 1;
            return;
        }
        b->s = t;
        b->cap = c;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

/* Take the buffer's string ("" when nothing was written). */
static char *sb_take(struct sbuf *b)
{
    if (!b->oom && !b->s) sb_putn(b, "", 0);
    if (b->oom) {
        free(b->s);
        b->s = NULL;
        return NULL;
    }
    char *s = b->s;
    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}

/* PHP resolves every defined constant in an unquoted value; the only ones a pool config uses in
 * practice are the error levels (php_admin_value[error_reporting] = E_ALL & ~E_NOTICE). */
static const struct {
    const char *name;
    int value;
} php_constants[] = {
    {"E_ERROR", 1},
    {"E_WARNING", 2},
    {"E_PARSE", 4},
    {"E_NOTICE", 8},
    {"E_CORE_ERROR", 16},
    {"E_CORE_WARNING", 32},
    {"E_COMPILE_ERROR", 64},
    {"E_COMPILE_WARNING", 128},
    {"E_USER_ERROR", 256},
    {"E_USER_WARNING", 512},
    {"E_USER_NOTICE", 1024},
    {"E_STRICT", 2048},
    {"E_RECOVERABLE_ERROR", 4096},
    {"E_DEPRECATED", 8192},
    {"E_USER_DEPRECATED", 16384},
    {"E_ALL", 32767},
};

static int is_ident(const char *p, size_t n)
{
    if (n == 0 || !(isalpha((unsigned char)p[0]) || p[0] == '_')) return 0;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)p[i]) || p[i] == '_')) return 0;
    return 1;
}

/* ${NAME} or ${NAME:-fallback} at *pp (pointing at '$'): the environment variable, else the
 * fallback, else "". php-fpm would also look at php.ini directives first; phpmgr's master has no
 * php.ini loaded when it reads the config, so only the environment is consulted. */
static int expand_var(const char **pp, struct sbuf *b)
{
    const char *p = *pp + 2;
    const char *end = strchr(p, '}');
    if (!end) return -1;
    const char *fb = NULL;
    for (const char *q = p; q + 1 < end; q++)
        if (q[0] == ':' && q[1] == '-') {
            fb = q;
            break;
        }
    const char *name_end = fb ? fb : end;
    while (p < name_end && (*p == ' ' || *p == '\t'))
        p++;
    while (name_end > p && (name_end[-1] == ' ' || name_end[-1] == '\t'))
        name_end--;
    char name[256];
    size_t n = (size_t)(name_end - p);
    if (n >= sizeof(name)) return -1;
    memcpy(name, p, n);
    name[n] = '\0';
    const char *v = n ? getenv(name) : NULL;
    if (v)
        sb_puts(b, v);
    else if (fb)
        sb_putn(b, fb + 2, (size_t)(end - fb - 2));
    *pp = end + 1;
    return 0;
}

struct tok {
    char op; /* 0: operand */
    char *str;
};

struct expr {
    struct tok *t;
    size_t n, i;
};

struct eval {
    int is_num;
    int num;
    const char *str;
};

static int eval_int(struct eval v)
{
    return v.is_num ? v.num : atoi(v.str);
}

static int eval_expr(struct expr *e, struct eval *out);

static int eval_unary(struct expr *e, struct eval *out)
{
    if (e->i >= e->n) return -1;
    struct tok *t = &e->t[e->i++];
    if (t->op == 0) {
        *out = (struct eval){0, 0, t->str};
        return 0;
    }
    if (t->op == '~' || t->op == '!') {
        struct eval v;
        if (eval_unary(e, &v)) return -1;
        int x = eval_int(v);
        *out = (struct eval){1, t->op == '~' ? ~x : !x, NULL};
        return 0;
    }
    if (t->op == '(') {
        if (eval_expr(e, out)) return -1;
        if (e->i >= e->n || e->t[e->i].op != ')') return -1;
        e->i++;
        return 0;
    }
    return -1;
}

/* PHP's INI grammar: | & ^ all of one precedence, left to right; ~ and ! bind tighter. */
static int eval_expr(struct expr *e, struct eval *out)
{
    if (eval_unary(e, out)) return -1;
    while (e->i < e->n) {
        char op = e->t[e->i].op;
        if (op != '|' && op != '&' && op != '^') break;
        e->i++;
        struct eval r;
        if (eval_unary(e, &r)) return -1;
        int a = eval_int(*out), b = eval_int(r);
        *out = (struct eval){1, op == '|' ? (a | b) : op == '&' ? (a & b) : (a ^ b), NULL};
    }
    return 0;
}

static int push_tok(struct expr *e, size_t *cap, char op, char *str)
{
    if (e->n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        struct tok *t = realloc(e->t, c * sizeof(*t));
        if (!t) return -1;
        e->t = t;
        *cap = c;
    }
    e->t[e->n++] = (struct tok){op, str};
    return 0;
}

#define V_PHP 1 /* a directive's value: keywords, constants and operators apply */
#define OPERATORS "&|^~()!"

/* Turn raw (as inih hands it over: trimmed, comment removed) into the string php-fpm would get.
 * Returns a malloc'ed string, or NULL after reporting the error for key. */
static char *ini_value(struct source *src, const char *key, const char *raw, int mode)
{
    static const char *const yes[] = {"true", "on", "yes"};
    static const char *const no[] = {"false", "off", "no", "none", "null"};
    const int php = mode & V_PHP;
    if (php) {
        for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
            if (strcasecmp(raw, yes[i]) == 0) return xstrdup(src->ps, "1");
        for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
            if (strcasecmp(raw, no[i]) == 0) return xstrdup(src->ps, "");
    }

    struct sbuf cur = {0};
    struct expr e = {0};
    size_t ecap = 0;
    size_t ws_mark = SIZE_MAX; /* where unquoted whitespace at the end of cur starts */
    int have_operand = 0, have_op = 0, bad = 0;
    const char *why = NULL;
    const char *p = raw;

    while (*p && !bad) {
        char c = *p;
        if (c == '"') {
            /* PHP's scanner drops whitespace on both sides of a double-quoted string */
            if (ws_mark != SIZE_MAX && cur.s) cur.s[cur.len = ws_mark] = '\0';
            p++;
            for (;;) {
                if (!*p) {
                    why = "unterminated double-quoted string";
                    bad = 1;
                    break;
                }
                if (*p == '"') {
                    p++;
                    break;
                }
                if (*p == '\\' && p[1]) {
                    if (p[1] == '"' && p[2] == '\0') { /* "C:\dir\" : PHP keeps the backslash */
                        sb_putn(&cur, p, 1);
                        p += 2;
                        break;
                    }
                    if (p[1] == '"' || p[1] == '\\' || p[1] == '$')
                        sb_putn(&cur, p + 1, 1);
                    else
                        sb_putn(&cur, p, 2);
                    p += 2;
                    continue;
                }
                if (*p == '$' && p[1] == '{') {
                    if (expand_var(&p, &cur)) {
                        why = "bad ${VARIABLE} reference";
                        bad = 1;
                        break;
                    }
                    continue;
                }
                sb_putn(&cur, p++, 1);
            }
            while (*p == ' ' || *p == '\t')
                p++;
            ws_mark = SIZE_MAX;
            have_operand = 1;
        } else if (c == '\'') {
            const char *q = strchr(p + 1, '\'');
            if (!q) {
                why = "unterminated single-quoted string";
                bad = 1;
                break;
            }
            sb_putn(&cur, p + 1, (size_t)(q - p - 1));
            p = q + 1;
            ws_mark = SIZE_MAX;
            have_operand = 1;
        } else if (c == '$' && p[1] == '{') {
            if (expand_var(&p, &cur)) {
                why = "bad ${VARIABLE} reference";
                bad = 1;
                break;
            }
            ws_mark = SIZE_MAX;
            have_operand = 1;
        } else if (c == ' ' || c == '\t') {
            if (ws_mark == SIZE_MAX) ws_mark = cur.len;
            sb_putn(&cur, p++, 1);
        } else if (php && strchr(OPERATORS, c)) {
            if (have_operand) {
                char *s = sb_take(&cur);
                if (!s || push_tok(&e, &ecap, 0, s)) {
                    free(s);
                    cur.oom = 1;
                    break;
                }
            }
            if (push_tok(&e, &ecap, c, NULL)) {
                cur.oom = 1;
                break;
            }
            p++;
            while (*p == ' ' || *p == '\t')
                p++;
            have_operand = 0;
            have_op = 1;
            ws_mark = SIZE_MAX;
        } else {
            const char *start = p;
            while (*p && *p != ' ' && *p != '\t' && *p != '"' && *p != '\'' &&
                   !(php && strchr(OPERATORS, *p)) && !(*p == '$' && p[1] == '{'))
                p++;
            size_t n = (size_t)(p - start);
            int done = 0;
            if (php && is_ident(start, n)) {
                for (size_t i = 0; i < sizeof(php_constants) / sizeof(php_constants[0]); i++) {
                    if (strlen(php_constants[i].name) == n &&
                        memcmp(php_constants[i].name, start, n) == 0) {
                        char num[16];
                        snprintf(num, sizeof(num), "%d", php_constants[i].value);
                        sb_puts(&cur, num);
                        done = 1;
                        break;
                    }
                }
            }
            if (!done) sb_putn(&cur, start, n);
            ws_mark = SIZE_MAX;
            have_operand = 1;
        }
    }

    char *result = NULL;
    if (!bad && !cur.oom) {
        if (!have_op) {
            result = sb_take(&cur);
            if (!result) cur.oom = 1;
        } else {
            if (have_operand) {
                char *s = sb_take(&cur);
                if (!s || push_tok(&e, &ecap, 0, s)) {
                    free(s);
                    cur.oom = 1;
                }
            }
            struct eval v;
            if (!cur.oom) {
                if (eval_expr(&e, &v) || e.i != e.n) {
                    why = "not a valid expression (quote values containing & | ^ ~ ! ( ))";
                    bad = 1;
                } else if (v.is_num) {
                    result = xasprintf(src->ps, "%d", v.num);
                } else {
                    result = xstrdup(src->ps, v.str);
                }
            }
        }
    }
    free(cur.s);
    for (size_t i = 0; i < e.n; i++)
        free(e.t[i].str);
    free(e.t);
    if (bad) {
        free(result);
        fail(src, key, "%s", why);
        return NULL;
    }
    if (cur.oom) {
        free(result);
        oom(src->ps);
        return NULL;
    }
    return result;
}

/* ---- typed values ---- */

/* Decimal integer with an optional '-', nothing else. */
static int parse_ll(const char *s, long long *out)
{
    const char *p = s;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (!isdigit((unsigned char)*p)) return -1;
    long long v = 0;
    for (; isdigit((unsigned char)*p); p++) {
        int d = *p - '0';
        if (v > (LLONG_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    if (*p) return -1;
    *out = neg ? -v : v;
    return 0;
}

long long config_parse_time_ms(const char *value)
{
    if (!value || !isdigit((unsigned char)*value)) return -1;
    long long v = 0;
    const char *p = value;
    for (; isdigit((unsigned char)*p); p++) {
        if (v > (LLONG_MAX - 9) / 10) return -1;
        v = v * 10 + (*p - '0');
    }
    long long mult;
    if (*p == '\0' || strcmp(p, "s") == 0)
        mult = 1000;
    else if (strcmp(p, "ms") == 0) /* phpmgr's addition for its own sub-second timers */
        mult = 1;
    else if (strcmp(p, "m") == 0)
        mult = 60 * 1000;
    else if (strcmp(p, "h") == 0)
        mult = 3600 * 1000;
    else if (strcmp(p, "d") == 0)
        mult = 86400LL * 1000;
    else
        return -1;
    if (v > LLONG_MAX / mult) return -1;
    return v * mult;
}

long long config_parse_size(const char *value)
{
    if (!value || !isdigit((unsigned char)*value)) return -1;
    long long v = 0;
    const char *p = value;
    for (; isdigit((unsigned char)*p); p++) {
        if (v > (LLONG_MAX - 9) / 10) return -1;
        v = v * 10 + (*p - '0');
    }
    long long mult = 1;
    if (*p) {
        if (p[1]) return -1;
        switch (*p) {
        case 'k':
        case 'K':
            mult = 1LL << 10;
            break;
        case 'm':
        case 'M':
            mult = 1LL << 20;
            break;
        case 'g':
        case 'G':
            mult = 1LL << 30;
            break;
        default:
            return -1;
        }
    }
    if (v > LLONG_MAX / mult) return -1;
    return v * mult;
}

/* PHP's scanner has already turned unquoted yes/on/true into "1" and no/off/false/none into "";
 * the words are also taken when quoted, and "0", as php-fpm's documentation promises. */
static int parse_bool(const char *v)
{
    static const char *const t[] = {"1", "yes", "on", "true"};
    static const char *const f[] = {"", "0", "no", "off", "false", "none"};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strcasecmp(v, t[i]) == 0) return 1;
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        if (strcasecmp(v, f[i]) == 0) return 0;
    return -1;
}

/* IPv4 or IPv6 literal. */
static int ip_ok(const char *s)
{
    unsigned char a[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* php-fpm's listen syntaxes: "/path" (anything that is neither of the others), "port",
 * "host:port", "[ipv6]:port", "ipv6:port", "*:port". NULL when fine, else the reason. */
static const char *listen_error(const char *a)
{
    const char *colon = strrchr(a, ':');
    const char *port = colon ? colon + 1 : a;
    if (!colon && strspn(a, "0123456789") != strlen(a)) {
        if (strlen(a) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            return "unix socket path too long";
        return NULL;
    }
    long long p;
    if (parse_ll(port, &p) || p < 1 || p > 65535) return "port must be 1..65535";
    if (!colon) return NULL;
    size_t hl = (size_t)(colon - a);
    if (hl == 0) return "missing host before ':' (use *:port for every address)";
    char host[256];
    if (hl >= sizeof(host)) return "host name too long";
    memcpy(host, a, hl);
    host[hl] = '\0';
    if (host[0] == '[') {
        if (hl < 3 || host[hl - 1] != ']') return "bad [IPv6] address";
        host[hl - 1] = '\0';
        unsigned char buf[sizeof(struct in6_addr)];
        return inet_pton(AF_INET6, host + 1, buf) == 1 ? NULL : "bad [IPv6] address";
    }
    if (strchr(host, ':')) {
        unsigned char buf[sizeof(struct in6_addr)];
        return inet_pton(AF_INET6, host, buf) == 1 ? NULL : "bad IPv6 address";
    }
    if (strcmp(host, "*") == 0) return NULL;
    for (const char *h = host; *h; h++)
        if (!isalnum((unsigned char)*h) && *h != '.' && *h != '-' && *h != '_')
            return "bad host name";
    return NULL;
}

static int is_unix_listen(const char *a)
{
    return !strchr(a, ':') && strspn(a, "0123456789") != strlen(a);
}

/* "addr" or "addr/len" with an IPv4 or IPv6 address. */
static int cidr_ok(const char *s)
{
    char addr[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof(addr)) return 0;
    memcpy(addr, s, n);
    addr[n] = '\0';
    unsigned char buf[sizeof(struct in6_addr)];
    int bits;
    if (inet_pton(AF_INET, addr, buf) == 1)
        bits = 32;
    else if (inet_pton(AF_INET6, addr, buf) == 1)
        bits = 128;
    else
        return 0;
    if (!slash) return 1;
    long long len;
    return parse_ll(slash + 1, &len) == 0 && slash[1] != '-' && len <= bits;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- setters: val is the value after PHP's scanning; base is the global or pool struct ---- */

#define FIELD(type, base, k) ((type *)((char *)(base) + (k)->off))

static struct pool_config *cur_pool(struct source *src)
{
    struct parser *ps = src->ps;
    return ps->cur_pool >= 0 ? &ps->cfg->pools[ps->cur_pool] : NULL;
}

/* php-fpm replaces every "$pool" in a string value with the pool's name. */
static char *expand_pool(struct source *src, const char *key, const char *val)
{
    struct pool_config *pool = cur_pool(src);
    if (!strstr(val, "$pool")) return xstrdup(src->ps, val);
    if (!pool) {
        fail(src, key, "$pool can only be used in a pool section");
        return NULL;
    }
    struct sbuf b = {0};
    const char *p = val, *t;
    while ((t = strstr(p, "$pool"))) {
        sb_putn(&b, p, (size_t)(t - p));
        sb_puts(&b, pool->name);
        p = t + 5;
    }
    sb_puts(&b, p);
    char *s = sb_take(&b);
    if (!s) oom(src->ps);
    return s;
}

/* Store a string; an empty value unsets it (php-fpm treats "" as not set everywhere). */
static int store_str(struct source *src, const struct key_def *k, void *base, const char *val)
{
    char **f = FIELD(char *, base, k);
    char *s = NULL;
    if (*val && !(s = expand_pool(src, k->name, val))) return -1;
    free(*f);
    *f = s;
    return 0;
}

static int set_str(struct source *src, const struct key_def *k, void *base, const char *val)
{
    return store_str(src, k, base, val);
}

static int set_nonempty(struct source *src, const struct key_def *k, void *base, const char *val)
{
    if (!*val) return fail(src, k->name, "must not be empty");
    return store_str(src, k, base, val);
}

static int get_int(struct source *src, const struct key_def *k, const char *val, long long *v)
{
    if (parse_ll(val, v)) return fail(src, k->name, "'%s' is not a valid number", val);
    if (*v < k->min || *v > k->max) {
        if (k->min == 0 && *v < 0) return fail(src, k->name, "must not be negative");
        return fail(src, k->name, "%lld is out of range (%lld..%lld)", *v, k->min, k->max);
    }
    return 0;
}

static int set_int(struct source *src, const struct key_def *k, void *base, const char *val)
{
    long long v;
    if (get_int(src, k, val, &v)) return -1;
    *FIELD(int, base, k) = (int)v;
    return 0;
}

static int set_time(struct source *src, const struct key_def *k, void *base, const char *val)
{
    long long ms = config_parse_time_ms(val);
    if (ms < 0)
        return fail(src, k->name, "'%s' is not a valid time (a number with s, m, h or d)", val);
    if (ms > k->max) return fail(src, k->name, "'%s' is too long", val);
    *FIELD(int, base, k) = (int)ms;
    return 0;
}

static int set_size(struct source *src, const struct key_def *k, void *base, const char *val)
{
    long long v = config_parse_size(val);
    if (v < 0) return fail(src, k->name, "'%s' is not a valid size (a number with k, M or G)", val);
    *FIELD(long long, base, k) = v;
    return 0;
}

static int set_bool(struct source *src, const struct key_def *k, void *base, const char *val)
{
    int b = parse_bool(val);
    if (b < 0)
        return fail(src, k->name, "'%s' is not a boolean (yes/no, on/off, true/false, 1/0)", val);
    *FIELD(int, base, k) = b;
    return 0;
}

static int set_log_level(struct source *src, const struct key_def *k, void *base, const char *val)
{
    static const struct {
        const char *name;
        enum log_level level;
    } levels[] = {{"debug", LOG_LVL_DEBUG},     {"notice", LOG_LVL_NOTICE},
                  {"warning", LOG_LVL_WARNING}, {"warn", LOG_LVL_WARNING},
                  {"error", LOG_LVL_ERROR},     {"alert", LOG_LVL_ALERT}};
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        if (strcasecmp(val, levels[i].name) == 0) {
            *FIELD(enum log_level, base, k) = levels[i].level;
            return 0;
        }
    }
    return fail(src, k->name, "'%s' is not one of alert, error, warning, notice, debug", val);
}

static int set_rlimit_core(struct source *src, const struct key_def *k, void *base, const char *val)
{
    if (strcasecmp(val, "unlimited") == 0) {
        *FIELD(int, base, k) = -2;
        return 0;
    }
    long long v;
    if (parse_ll(val, &v) || v < 0 || v > INT_MAX)
        return fail(src, k->name, "'%s' must be 'unlimited' or a number >= 0", val);
    *FIELD(int, base, k) = (int)v;
    return 0;
}

static int set_facility(struct source *src, const struct key_def *k, void *base, const char *val)
{
    static const char *const names[] = {"auth",   "authpriv", "cron",   "daemon", "ftp",
                                        "kern",   "lpr",      "mail",   "news",   "syslog",
                                        "user",   "uucp",     "local0", "local1", "local2",
                                        "local3", "local4",   "local5", "local6", "local7"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(val, names[i]) == 0) return store_str(src, k, base, val);
    return fail(src, k->name, "'%s' is not a syslog facility (daemon, user, local0..local7, ...)",
                val);
}

static int set_events(struct source *src, const struct key_def *k, void *base, const char *val)
{
    /* what php-fpm can use on Linux */
    if (strcasecmp(val, "epoll") && strcasecmp(val, "poll") && strcasecmp(val, "select"))
        return fail(src, k->name, "'%s' is not available on Linux (epoll, poll or select)", val);
    return store_str(src, k, base, val);
}

static int set_pm(struct source *src, const struct key_def *k, void *base, const char *val)
{
    enum pm_mode *f = FIELD(enum pm_mode, base, k);
    if (strcasecmp(val, "static") == 0) {
        *f = PM_STATIC;
        return 0;
    }
    if (strcasecmp(val, "dynamic") == 0)
        *f = PM_DYNAMIC;
    else if (strcasecmp(val, "ondemand") == 0)
        *f = PM_ONDEMAND;
    else
        return fail(src, k->name, "'%s' is not static, dynamic or ondemand", val);
    return 0; /* the warning waits for check_pm(): a later file may set pm = static */
}

static int check_listen(struct source *src, const char *key, const char *addr)
{
    const char *why = listen_error(addr);
    if (why) return fail(src, key, "'%s': %s", addr, why);
    return 0;
}

static int set_listen(struct source *src, const struct key_def *k, void *base, const char *val)
{
    if (store_str(src, k, base, val)) return -1;
    const char *a = *FIELD(char *, base, k);
    return a ? check_listen(src, k->name, a) : 0;
}

static int set_http_listen(struct source *src, const struct key_def *k, void *base, const char *val)
{
    if (!*val) return fail(src, k->name, "must not be empty");
    char *a = expand_pool(src, k->name, val);
    if (!a) return -1;
    if (check_listen(src, k->name, a)) {
        free(a);
        return -1;
    }
    return list_push(src->ps, FIELD(char **, base, k), a);
}

static int set_mode(struct source *src, const struct key_def *k, void *base, const char *val)
{
    if (!*val || strspn(val, "01234567") != strlen(val) || strlen(val) > 5)
        return fail(src, k->name, "'%s' is not an octal mode such as 0660", val);
    long v = strtol(val, NULL, 8);
    if (v > 07777) return fail(src, k->name, "'%s' is not an octal mode such as 0660", val);
    *FIELD(int, base, k) = (int)v;
    return 0;
}

/* Split val at any of seps, trimming blanks; each item is checked by ok(). */
static int set_split_list(struct source *src, const struct key_def *k, void *base, const char *val,
                          const char *seps, int (*ok)(const char *), const char *what)
{
    char ***f = FIELD(char **, base, k);
    char **list = NULL;
    const char *p = val;
    while (*p) {
        size_t n = strcspn(p, seps);
        const char *s = p, *e = p + n;
        while (s < e && isblank((unsigned char)*s))
            s++;
        while (e > s && isblank((unsigned char)e[-1]))
            e--;
        if (e > s) {
            char *item = strndup(s, (size_t)(e - s));
            if (!item) {
                list_free(list);
                return oom(src->ps);
            }
            if (ok && !ok(item)) {
                fail(src, k->name, "'%s' is not %s", item, what);
                free(item);
                list_free(list);
                return -1;
            }
            if (list_push(src->ps, &list, item)) {
                list_free(list);
                return -1;
            }
        }
        p += n;
        if (*p) p++;
    }
    list_free(*f);
    *f = list;
    return 0;
}

static int set_clients(struct source *src, const struct key_def *k, void *base, const char *val)
{
    /* empty: any client, as php-fpm */
    return set_split_list(src, k, base, val, ",", ip_ok, "an IPv4 or IPv6 address");
}

static int set_cidrs(struct source *src, const struct key_def *k, void *base, const char *val)
{
    return set_split_list(src, k, base, val, ",", cidr_ok,
                          "an address or CIDR (10.0.0.0/8, fd00::/8)");
}

static int set_extensions(struct source *src, const struct key_def *k, void *base, const char *val)
{
    if (set_split_list(src, k, base, val, " \t", NULL, NULL)) return -1;
    char ***f = FIELD(char **, base, k);
    if (!*f) { /* empty value: every extension allowed, an empty list (not the default) */
        *f = calloc(1, sizeof(char *));
        if (!*f) return oom(src->ps);
    }
    return 0;
}

/* pm.status_path, ping.path: php-fpm wants '/' first and only [alnum]/-_.~ */
static int set_uri_path(struct source *src, const struct key_def *k, void *base, const char *val)
{
    if (*val) {
        if (*val != '/') return fail(src, k->name, "'%s' must start with a '/'", val);
        for (const char *p = val; *p; p++)
            if (!isalnum((unsigned char)*p) && !strchr("/-_.~", *p))
                return fail(src, k->name, "'%s' may only contain letters, digits and /-_.~", val);
    }
    return store_str(src, k, base, val);
}

static int set_worker_mode(struct source *src, const struct key_def *k, void *base, const char *val)
{
    enum worker_mode *f = FIELD(enum worker_mode, base, k);
    if (strcasecmp(val, "classic") == 0)
        *f = WORKER_CLASSIC;
    else if (strcasecmp(val, "resident") == 0)
        *f = WORKER_RESIDENT;
    else
        return fail(src, k->name, "'%s' is not classic or resident", val);
    return 0;
}

/* Does the field differ from its default? Only then is a "not acted on" warning worth giving. */
static int differs(const struct key_def *k, const void *base, const void *def)
{
    switch (k->type) {
    case F_INT:
        return *(const int *)((const char *)base + k->off) !=
               *(const int *)((const char *)def + k->off);
    case F_LL:
        return *(const long long *)((const char *)base + k->off) !=
               *(const long long *)((const char *)def + k->off);
    case F_STR:
    case F_LIST:
        return *(char *const *)((const char *)base + k->off) != NULL;
    }
    return 1;
}

/* ---- arrays: env[], php_*[], access.suppress_path[], timer.job[] ---- */

/* full is the key as written ("php_flag[display_errors]"), for messages. */
static int add_env(struct source *src, struct pool_config *pool, const char *full, const char *name,
                   const char *val)
{
    struct parser *ps = src->ps;
    if (!*val) return fail(src, full, "empty value");
    char *given = expand_pool(src, full, val);
    if (!given) return -1;
    /* php-fpm: a value starting with '$' names a variable of its environment */
    const char *e = given[0] == '$' ? getenv(given + 1) : given;
    char *v = xstrdup(ps, e ? e : "");
    char *n = v ? xstrdup(ps, name) : NULL;
    struct env_entry *t = n ? realloc(pool->env, (pool->n_env + 1) * sizeof(*t)) : NULL;
    if (!t) {
        free(n);
        free(v);
        free(given);
        return n ? oom(ps) : -1;
    }
    pool->env = t;
    /* application order: php-fpm prepends */
    memmove(&t[1], &t[0], pool->n_env * sizeof(*t));
    t[0] = (struct env_entry){n, v, given};
    pool->n_env++;
    return 0;
}

static int add_php_ini(struct source *src, struct pool_config *pool, const char *full,
                       const char *name, const char *val, int admin, int flag)
{
    struct parser *ps = src->ps;
    char *v;
    if (flag) {
        int b = parse_bool(val);
        if (b < 0)
            return fail(src, full, "'%s' is not a boolean (on/off, yes/no, true/false, 1/0)", val);
        v = xstrdup(ps, b ? "1" : "0");
    } else {
        v = expand_pool(src, full, val);
    }
    if (!v) return -1;
    char *n = xstrdup(ps, name);
    struct php_ini_entry *t = n ? realloc(pool->php_ini, (pool->n_php_ini + 1) * sizeof(*t)) : NULL;
    if (!t) {
        free(n);
        free(v);
        return n ? oom(ps) : -1;
    }
    pool->php_ini = t;
    /* application order: php-fpm prepends to one list for php_value/php_flag and to another for
     * the admin ones, and applies the first list, then the second */
    size_t at = 0;
    if (admin)
        while (at < pool->n_php_ini && !t[at].admin)
            at++;
    memmove(&t[at + 1], &t[at], (pool->n_php_ini - at) * sizeof(*t));
    t[at] = (struct php_ini_entry){n, v, admin};
    pool->n_php_ini++;
    return 0;
}

static int add_timer(struct source *src, struct pool_config *pool, const char *full,
                     const char *name, const char *val)
{
    struct parser *ps = src->ps;
    for (size_t i = 0; i < pool->n_timers; i++)
        if (strcmp(pool->timers[i].name, name) == 0)
            return fail(src, full, "timer '%s' is already defined", name);
    if (!*val) return fail(src, full, "empty value");
    char *v = expand_pool(src, full, val);
    char *n = v ? xstrdup(ps, name) : NULL;
    struct timer_job *t = n ? realloc(pool->timers, (pool->n_timers + 1) * sizeof(*t)) : NULL;
    if (!t) {
        free(n);
        free(v);
        return n ? oom(ps) : -1;
    }
    pool->timers = t;
    t[pool->n_timers++] = (struct timer_job){n, v};
    return not_acted(src, full);
}

static int set_array(struct source *src, const char *full, const char *key, const char *offset,
                     const char *val)
{
    static const char *const arrays[] = {"env",
                                         "php_value",
                                         "php_flag",
                                         "php_admin_value",
                                         "php_admin_flag",
                                         "access.suppress_path",
                                         "timer.job"};
    struct pool_config *pool = cur_pool(src);
    size_t which = 0;
    while (which < sizeof(arrays) / sizeof(arrays[0]) && strcasecmp(key, arrays[which]))
        which++;
    if (which == sizeof(arrays) / sizeof(arrays[0])) return fail(src, full, "unknown key");
    if (!pool) return fail(src, full, "arrays are not allowed in [global]");
    if (which == 5) { /* access.suppress_path[] */
        if (*offset) return fail(src, full, "takes no key: write access.suppress_path[] = /path");
        if (*val != '/') return fail(src, full, "'%s' must start with '/'", val);
        char *v = expand_pool(src, full, val);
        if (!v || list_push(src->ps, &pool->access_suppress_paths, v)) return -1;
        return not_acted(src, full);
    }
    if (!*offset) return fail(src, full, "a name is required: %s[NAME]", arrays[which]);
    if (which == 0) return add_env(src, pool, full, offset, val);
    if (which <= 4)
        return add_php_ini(src, pool, full, offset, val, which >= 3, which == 2 || which == 4);
    return add_timer(src, pool, full, offset, val);
}

/* ---- sections, includes, lines ---- */

static int parse_file(struct parser *ps, const char *path, struct source *from);

static int register_file(struct parser *ps, const char *path, const char **out)
{
    struct config *cfg = ps->cfg;
    char *p = xstrdup(ps, path);
    if (!p || push_counted(ps, &cfg->files, &cfg->n_files, &ps->cap_files, p)) return -1;
    *out = p;
    return 0;
}

static void pool_defaults(struct pool_config *p)
{
    memset(p, 0, sizeof(*p));
    p->listen_mode = 0660;
    p->listen_backlog = -1; /* php-fpm's FPM_BACKLOG_DEFAULT on Linux: the system's maximum */
    p->listen_setfib = -1;
    p->clear_env = 1;
    p->decorate_workers_output = 1;
    p->process_priority = 64;
    p->rlimit_files = -1;
    p->rlimit_core = -1;
    p->pm = PM_STATIC;
    p->max_spawn_rate = 32;
    p->process_idle_timeout_ms = 10000;
    p->request_slowlog_trace_depth = 20;
    p->http_static = 1;
    p->http_max_body_size = 8LL << 20;
    p->http_max_header_size = 16LL << 10;
    p->http_keepalive_timeout_ms = 75000;
    p->http_header_timeout_ms = 60000;
    p->http_body_timeout_ms = 60000;
    p->http_send_timeout_ms = 60000;
    p->fcgi_max_body_size = 4LL << 30;
    p->fcgi_send_timeout_ms = 60000;
    p->request_read_timeout_ms = 60000; /* nginx's fastcgi_read_timeout */
    p->response_temp_max = 1LL << 30;   /* nginx's fastcgi_max_temp_file_size */
    p->body_buffer_size = 64LL << 10;
    p->worker_mode = WORKER_CLASSIC;
    p->queue_max = 1024;
}

static void global_defaults(struct global_config *g)
{
    memset(g, 0, sizeof(*g));
    g->log_level = LOG_LVL_NOTICE;
    g->log_limit = 1024;
    g->log_buffering = 1;
    g->daemonize = 1;
    g->rlimit_files = -1;
    g->rlimit_core = -1;
    g->process_priority = 64;
    g->systemd_interval_ms = -1; /* 10 s, unless WATCHDOG_USEC says otherwise (sd_notify.c) */
}

/* "[name]": [global] switches to the global section; a pool name seen before re-opens that pool
 * (php-fpm compares names case-insensitively), so later files can override earlier ones. */
static int open_section(struct source *src, char *line)
{
    struct parser *ps = src->ps;
    struct config *cfg = ps->cfg;
    char q = 0;
    char *end = NULL;
    for (char *p = line + 1; *p; p++) {
        if (q) {
            if (q == '"' && *p == '\\' && p[1])
                p++;
            else if (*p == q)
                q = 0;
        } else if (*p == '"' || *p == '\'') {
            q = *p;
        } else if (*p == ']') {
            end = p;
            break;
        }
    }
    if (!end) return fail(src, line, "missing ']' at the end of the section header");
    for (char *p = end + 1; *p; p++)
        if (!isblank((unsigned char)*p))
            return fail(src, line, "unexpected text after the section header");
    *end = '\0';
    char *raw = line + 1;
    while (isblank((unsigned char)*raw))
        raw++;
    for (char *e = raw + strlen(raw); e > raw && isblank((unsigned char)e[-1]);)
        *--e = '\0';
    char *name = ini_value(src, "[section]", raw, 0);
    if (!name) return -1;
    if (!*name) {
        free(name);
        return fail(src, "[]", "empty section name");
    }
    if (strcasecmp(name, "global") == 0) {
        free(name);
        ps->cur_pool = -1;
        return 0;
    }
    for (size_t i = 0; i < cfg->n_pools; i++) {
        if (strcasecmp(cfg->pools[i].name, name) == 0) {
            free(name);
            ps->cur_pool = (int)i;
            return 0;
        }
    }
    if (cfg->n_pools == ps->cap_pools) {
        size_t c = ps->cap_pools ? ps->cap_pools * 2 : 4;
        struct pool_config *t = realloc(cfg->pools, c * sizeof(*t));
        if (!t) {
            free(name);
            return oom(ps);
        }
        cfg->pools = t;
        struct loc(*l)[N_POOL_KEYS] = realloc(ps->locs, c * sizeof(*l));
        if (!l) {
            free(name);
            return oom(ps);
        }
        ps->locs = l;
        ps->cap_pools = c;
    }
    char **given = calloc(N_POOL_KEYS, sizeof(char *));
    if (!given) {
        free(name);
        return oom(ps);
    }
    struct pool_config *pool = &cfg->pools[cfg->n_pools];
    pool_defaults(pool);
    pool->given = given;
    pool->name = name;
    pool->file = src->path;
    pool->line = src->line;
    memset(ps->locs[cfg->n_pools], 0, sizeof(ps->locs[0]));
    ps->cur_pool = (int)cfg->n_pools++;
    return 0;
}

/* glob(3)'s error callback has no user pointer; config_load() is not reentrant anyway (getenv). */
static int glob_errno;
static char glob_errpath[256];

static int on_glob_error(const char *epath, int eerrno)
{
    if (!glob_errno) {
        glob_errno = eerrno;
        snprintf(glob_errpath, sizeof(glob_errpath), "%s", epath);
    }
    return 1;
}

/* include = GLOB, relative to the prefix when one is given (php-fpm's rule) or else to the
 * directory of the including file. A pattern that matches nothing is a warning, as in php-fpm. */
static int include_glob(struct source *src, const char *val)
{
    struct parser *ps = src->ps;
    if (!*val) return fail(src, "include", "empty pattern");
    char *pattern;
    if (val[0] == '/') {
        pattern = xstrdup(ps, val);
    } else if (ps->cfg->prefix) {
        pattern = xasprintf(ps, "%s/%s", ps->cfg->prefix, val);
    } else {
        const char *slash = strrchr(src->path, '/');
        if (slash)
            pattern = xasprintf(ps, "%.*s/%s", (int)(slash - src->path), src->path, val);
        else
            pattern = xstrdup(ps, val);
    }
    if (!pattern) return -1;
    glob_t g;
    glob_errno = 0;
    /* GLOB_ERR as php-fpm: a directory that cannot be read (or does not exist) is an error */
    int rc = glob(pattern, GLOB_ERR | GLOB_MARK, on_glob_error, &g);
    if (rc == GLOB_NOMATCH) {
        rc = warn_at(ps, src->path, src->line, "include", "nothing matches '%s'", pattern);
        free(pattern);
        return rc;
    }
    if (rc != 0) {
        if (rc == GLOB_ABORTED && glob_errno)
            fail(src, "include", "'%s': cannot read '%s': %s", pattern, glob_errpath,
                 strerror(glob_errno));
        else
            fail(src, "include", "'%s': %s", pattern,
                 rc == GLOB_NOSPACE ? "out of memory" : "cannot expand the pattern");
        globfree(&g);
        free(pattern);
        return -1;
    }
    free(pattern);
    int ret = 0;
    for (size_t i = 0; i < g.gl_pathc && ret == 0; i++) {
        size_t n = strlen(g.gl_pathv[i]);
        if (n == 0 || g.gl_pathv[i][n - 1] == '/') continue; /* GLOB_MARK: a directory */
        ret = parse_file(ps, g.gl_pathv[i], src);
    }
    globfree(&g);
    return ret;
}

static const struct key_def *find_key(const struct key_def *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(t[i].name, name) == 0) return &t[i];
    return NULL;
}

static int set_scalar(struct source *src, const char *key, const char *val)
{
    struct parser *ps = src->ps;
    struct pool_config *pool = cur_pool(src);
    const struct key_def *k;
    void *base;
    const void *def;
    if (pool) {
        k = find_key(pool_keys, N_POOL_KEYS, key);
        if (!k && find_key(global_keys, N_GLOBAL_KEYS, key))
            return fail(src, key, "not a pool key: it belongs in [global]");
        base = pool;
        def = &ps->def_pool;
    } else {
        k = find_key(global_keys, N_GLOBAL_KEYS, key);
        if (!k && find_key(pool_keys, N_POOL_KEYS, key))
            return fail(src, key, "not a [global] key: it belongs in a pool section");
        base = &ps->cfg->global;
        def = &ps->def_global;
    }
    if (!k) return fail(src, key, "unknown key");
    if (k->set(src, k, base, val)) return -1;
    /* kept as given, for -tt: php-fpm prints its string keys so ($pool expanded, as it does) */
    char **given = pool ? &pool->given[k - pool_keys] : &ps->cfg->global.given[k - global_keys];
    char *g = pool ? expand_pool(src, k->name, val) : xstrdup(ps, val);
    if (!g) return -1;
    free(*given);
    *given = g;
    if (pool) ps->locs[ps->cur_pool][k - pool_keys] = (struct loc){src->path, src->line};
    if ((k->flags & K_WARN) && differs(k, base, def)) return not_acted(src, k->name);
    if (!pool && strcmp(k->name, "error_log") == 0 && ps->cfg->global.error_log &&
        strcmp(ps->cfg->global.error_log, "syslog") == 0)
        return warn_at(ps, src->path, src->line, k->name,
                       "syslog is parsed but not acted on yet: logging goes to stderr");
    return 0;
}

/* One "name = value" from inih. */
static int entry(struct source *src, const char *name, const char *raw)
{
    if (!*name) return fail(src, "=", "missing key before '='");
    const char *br = strchr(name, '[');
    if (!br) {
        char *val = ini_value(src, name, raw, V_PHP);
        if (!val) return -1;
        int rc =
            strcasecmp(name, "include") == 0 ? include_glob(src, val) : set_scalar(src, name, val);
        free(val);
        return rc;
    }
    /* name[offset] */
    size_t n = strlen(name);
    if (name[n - 1] != ']') return fail(src, name, "missing ']' after the key");
    char *key = strndup(name, (size_t)(br - name));
    char *off = strndup(br + 1, n - (size_t)(br - name) - 2);
    int rc = -1;
    if (!key || !off) {
        oom(src->ps);
        goto out;
    }
    for (char *e = key + strlen(key); e > key && isblank((unsigned char)e[-1]);)
        *--e = '\0';
    char *o = off;
    while (isblank((unsigned char)*o))
        o++;
    for (char *e = o + strlen(o); e > o && isblank((unsigned char)e[-1]);)
        *--e = '\0';
    char *offset = ini_value(src, name, o, 0);
    if (!offset) goto out;
    char *val = ini_value(src, name, raw, V_PHP);
    if (val) {
        rc = set_array(src, name, key, offset, val);
        free(val);
    }
    free(offset);
out:
    free(key);
    free(off);
    return rc;
}

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
    struct source *src = user;
    (void)section; /* sections are tracked by read_line(), php-fpm's way */
    if (src->ps->failed) return 0;
    if (value[0] == LONG_MARK && value[1] == '\0' && src->long_value) value = src->long_value;
    char *raw = strdup(value);
    if (!raw) {
        oom(src->ps);
        return 0;
    }
    for (char *p = raw; *p; p++)
        if (*p == SEMI_MARK) *p = ';';
    int rc = entry(src, name, raw);
    free(raw);
    return rc == 0;
}

/* Cut the comment: a ';' outside quotes, as PHP's scanner does. */
static void strip_comment(char *s)
{
    char q = 0;
    for (; *s; s++) {
        if (q == '"') {
            if (*s == '\\' && s[1])
                s++;
            else if (*s == '"')
                q = 0;
        } else if (q == '\'') {
            if (*s == '\'') q = 0;
        } else if (*s == '"' || *s == '\'') {
            q = *s;
        } else if (*s == ';') {
            *s = '\0';
            return;
        }
    }
}

/* inih's reader: hands over one physical line per call (so inih's line numbers stay ours),
 * rewritten as described at the top of this file. */
static char *read_line(char *str, int num, void *stream)
{
    struct source *src = stream;
    if (src->ps->failed) return NULL;
    if (num < 8) {
        fail(src, "line", "inih's line buffer is too small");
        return NULL;
    }
    errno = 0;
    ssize_t n = getline(&src->buf, &src->cap, src->fp);
    if (n < 0) { /* EOF leaves errno alone; a read error or ENOMEM must not pass for EOF */
        if (ferror(src->fp) || errno) fail(src, "read", "%s", strerror(errno ? errno : EIO));
        return NULL;
    }
    src->line++;
    char *s = src->buf;
    if (n > 0 && s[n - 1] == '\n') s[--n] = '\0';
    if (n > 0 && s[n - 1] == '\r') s[--n] = '\0';
    if (src->line == 1 && n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) { /* UTF-8 BOM */
        s += 3;
        n -= 3;
    }
    for (ssize_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 && s[i] != '\t') {
            fail(src, "line", "control character (byte 0x%02x) in the file", (unsigned char)s[i]);
            return NULL;
        }
    while (isblank((unsigned char)*s))
        s++;
    strip_comment(s);
    size_t len = strlen(s);
    while (len > 0 && isblank((unsigned char)s[len - 1]))
        s[--len] = '\0';

    free(src->long_value);
    src->long_value = NULL;
    if (len == 0 || *s == '#') { /* '#' comments: PHP 5 and inih took them; harmless to keep */
        strcpy(str, "\n");
        return str;
    }
    if (*s == '[') {
        if (open_section(src, s)) return NULL;
        strcpy(str, "\n");
        return str;
    }
    char *eq = strchr(s, '=');
    if (!eq) {
        fail(src, s, "expected 'key = value' or '[section]'");
        return NULL;
    }
    size_t klen = (size_t)(eq - s);
    if (memchr(s, ':', klen)) { /* inih would split the key there */
        while (eq > s && isblank((unsigned char)eq[-1]))
            eq--;
        *eq = '\0';
        fail(src, s, "':' is not allowed in a key");
        return NULL;
    }
    for (char *p = s; *p; p++)
        if (*p == ';') *p = SEMI_MARK; /* a ';' left here is inside quotes */
    if (len + 2 <= (size_t)num) {
        memcpy(str, s, len);
        strcpy(str + len, "\n");
        return str;
    }
    /* too long for inih's buffer (php_admin_value[disable_functions] often is) */
    if (klen + 4 > (size_t)num) {
        fail(src, "line", "key too long");
        return NULL;
    }
    const char *v = eq + 1;
    while (isblank((unsigned char)*v))
        v++;
    if (!(src->long_value = strdup(v))) {
        oom(src->ps);
        return NULL;
    }
    memcpy(str, s, klen + 1);
    str[klen + 1] = LONG_MARK;
    strcpy(str + klen + 2, "\n");
    return str;
}

static int parse_file(struct parser *ps, const char *path, struct source *from)
{
    if (ps->depth >= MAX_INCLUDE_DEPTH)
        return fail(from, "include", "'%s': more than %d nested files (an include loop?)", path,
                    MAX_INCLUDE_DEPTH);
    struct source src = {.ps = ps};
    if (register_file(ps, path, &src.path)) return -1;
    src.fp = fopen(path, "re");
    if (!src.fp) {
        if (from) return fail(from, "include", "cannot open '%s': %s", path, strerror(errno));
        return fail_at(ps, path, 0, "open", "%s", strerror(errno));
    }
    ps->depth++;
    int rc = ini_parse_stream(read_line, &src, on_entry, &src);
    ps->depth--;
    if (rc != 0 && !ps->failed) {
        if (rc > 0)
            fail_at(ps, src.path, rc, "line", "syntax error");
        else
            oom(ps);
    }
    fclose(src.fp);
    free(src.buf);
    free(src.long_value);
    return ps->failed ? -1 : 0;
}

/* ---- after every file: php-fpm's post-processing and checks ---- */

/* Where a pool key was set, else the pool's section header. */
static struct loc where(struct parser *ps, size_t i, const char *key)
{
    const struct key_def *k = find_key(pool_keys, N_POOL_KEYS, key);
    if (k && ps->locs[i][k - pool_keys].file) return ps->locs[i][k - pool_keys];
    return (struct loc){ps->cfg->pools[i].file, ps->cfg->pools[i].line};
}

static int was_set(struct parser *ps, size_t i, const char *key)
{
    const struct key_def *k = find_key(pool_keys, N_POOL_KEYS, key);
    return k && ps->locs[i][k - pool_keys].file != NULL;
}

__attribute__((format(printf, 4, 5))) static int pool_fail(struct parser *ps, size_t i,
                                                           const char *key, const char *fmt, ...)
{
    struct loc l = where(ps, i, key);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return fail_at(ps, l.file, l.line, key, "[pool %s] %s", ps->cfg->pools[i].name, msg);
}

/* A relative path becomes prefix/path (php-fpm's -p and per-pool prefix). */
static int absolutize(struct parser *ps, char **path, const char *prefix)
{
    if (!*path || **path == '/' || !prefix) return 0;
    char *p = xasprintf(ps, "%s/%s", prefix, *path);
    if (!p) return -1;
    free(*path);
    *path = p;
    return 0;
}

/* php-fpm's fpm_evaluate_full_path(): a relative path goes under the pool's prefix (for a pool's
 * paths, in_pool), else the global prefix (-p), else default_prefix, else PHP's compiled-in
 * PHP_PREFIX. With expand (chroot), a leading "$prefix" stands for that prefix; -2 when "$prefix"
 * is elsewhere in a relative path. A pool path that is still relative afterwards (a relative -p)
 * goes once more under the global prefix, as php-fpm does. */
static int fpm_path(struct parser *ps, char **path, const char *pool_prefix, int in_pool,
                    const char *default_prefix, int expand)
{
    if (!*path || **path == '/') return 0;
    const char *prefix = in_pool ? pool_prefix : NULL;
    if (!prefix) prefix = ps->cfg->prefix;
    if (!prefix) prefix = default_prefix ? default_prefix : phpw_build_prefix();
    const char *rest = *path;
    if (expand && strstr(rest, "$prefix")) {
        if (strncmp(rest, "$prefix", 7) != 0) return -2;
        rest += 7;
    }
    char *p = *rest ? xasprintf(ps, "%s/%s", prefix, rest) : xstrdup(ps, prefix);
    if (!p) return -1;
    free(*path);
    *path = p;
    if (*p != '/' && in_pool) return fpm_path(ps, path, NULL, 0, default_prefix, expand);
    return 0;
}

static int set_default_list(struct parser *ps, char ***l, const char *const *items)
{
    if (*l) return 0;
    for (; *items; items++) {
        char *s = xstrdup(ps, *items);
        if (!s || list_push(ps, l, s)) return -1;
    }
    return 0;
}

static int finish_global(struct parser *ps)
{
    struct config *cfg = ps->cfg;
    struct global_config *g = &cfg->global;
    const char *var = phpw_build_localstatedir();
    if (fpm_path(ps, &g->pid_file, NULL, 0, var, 0)) return -1;
    if (g->error_log && strcasecmp(g->error_log, "syslog") != 0 &&
        fpm_path(ps, &g->error_log, NULL, 0, var, 0))
        return -1;
    /* php-fpm's fpm_systemd_conf(): half of systemd's WatchdogSec wins when over a second */
    const char *w = getenv("WATCHDOG_USEC");
    long wd_ms = w ? atol(w) / 2000L : 0;
    if (wd_ms > 1000) {
        if (g->systemd_interval_ms > 0) {
            char *m = xstrdup(ps, "systemd_interval option ignored");
            if (!m || push_counted(ps, &cfg->warnings, &cfg->n_warnings, &ps->cap_warnings, m))
                return -1;
        }
        if (notice(ps, "systemd watchdog configured to %.3gsec", (double)((float)wd_ms / 1000.0f)))
            return -1;
    }
    if (!g->syslog_ident && !(g->syslog_ident = xstrdup(ps, "php-fpm"))) return -1;
    if (!g->syslog_facility && !(g->syslog_facility = xstrdup(ps, "daemon"))) return -1;
    return 0;
}

static int check_pm(struct parser *ps, size_t i)
{
    struct pool_config *p = &ps->cfg->pools[i];
    if (!was_set(ps, i, "pm"))
        return pool_fail(ps, i, "pm",
                         "the process manager is missing (static, dynamic or ondemand)");
    if (p->max_children < 1)
        return pool_fail(ps, i, "pm.max_children", "pm.max_children must be a positive value");
    if (p->pm == PM_DYNAMIC) {
        if (p->min_spare_servers <= 0)
            return pool_fail(ps, i, "pm.min_spare_servers",
                             "pm.min_spare_servers(%d) must be a positive value",
                             p->min_spare_servers);
        if (p->max_spare_servers <= 0)
            return pool_fail(ps, i, "pm.max_spare_servers",
                             "pm.max_spare_servers(%d) must be a positive value",
                             p->max_spare_servers);
        if (p->min_spare_servers > p->max_children || p->max_spare_servers > p->max_children)
            return pool_fail(ps, i,
                             p->min_spare_servers > p->max_children ? "pm.min_spare_servers"
                                                                    : "pm.max_spare_servers",
                             "pm.min_spare_servers(%d) and pm.max_spare_servers(%d) cannot be "
                             "greater than pm.max_children(%d)",
                             p->min_spare_servers, p->max_spare_servers, p->max_children);
        if (p->max_spare_servers < p->min_spare_servers)
            return pool_fail(ps, i, "pm.max_spare_servers",
                             "pm.max_spare_servers(%d) must not be less than "
                             "pm.min_spare_servers(%d)",
                             p->max_spare_servers, p->min_spare_servers);
        if (p->start_servers <= 0) {
            p->start_servers =
                p->min_spare_servers + (p->max_spare_servers - p->min_spare_servers) / 2;
            if (notice(ps, "[pool %s] pm.start_servers is not set. It's been set to %d.", p->name,
                       p->start_servers))
                return -1;
        } else if (p->start_servers < p->min_spare_servers ||
                   p->start_servers > p->max_spare_servers)
            return pool_fail(ps, i, "pm.start_servers",
                             "pm.start_servers(%d) must not be less than "
                             "pm.min_spare_servers(%d) and not greater than "
                             "pm.max_spare_servers(%d)",
                             p->start_servers, p->min_spare_servers, p->max_spare_servers);
        if (p->max_spawn_rate < 1)
            return pool_fail(ps, i, "pm.max_spawn_rate",
                             "pm.max_spawn_rate must be a positive value");
    } else if (p->pm == PM_ONDEMAND) {
        if (p->process_idle_timeout_ms < 1000)
            return pool_fail(ps, i, "pm.process_idle_timeout",
                             "pm.process_idle_timeout(%ds) must be greater than 0s",
                             p->process_idle_timeout_ms / 1000);
        p->start_servers = p->min_spare_servers = p->max_spare_servers = 0;
    }
    return 0;
}

/* php-fpm's list of php.ini paths that a prefix applies to */
static int is_path_ini(const char *name)
{
    static const char *const names[] = {"error_log",
                                        "extension_dir",
                                        "sendmail_path",
                                        "session.cookie_path",
                                        "session_pgsql.sem_file_name",
                                        "soap.wsdl_cache_dir",
                                        "uploadprogress.file.filename_template",
                                        "xdebug.output_dir",
                                        "xdebug.profiler_output_dir",
                                        "xdebug.trace_output_dir",
                                        "xmms.path",
                                        "axis2.client_home",
                                        "blenc.key_file",
                                        "coin_acceptor.device"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(name, names[i]) == 0) return 1;
    return 0;
}

static int check_unix_len(struct parser *ps, size_t i, const char *key, const char *addr)
{
    if (addr && is_unix_listen(addr) && strlen(addr) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return pool_fail(ps, i, key, "unix socket path '%s' is too long", addr);
    return 0;
}

/* A uid or gid written as digits, as php-fpm takes them ("user = 33"). 1 when s is one. */
static int parse_id(const char *s, unsigned long *out)
{
    long long v;
    if (!*s || strspn(s, "0123456789") != strlen(s) || parse_ll(s, &v) ||
        v > (long long)UINT32_MAX - 1)
        return 0; /* (uid_t)-1 means "unchanged" to the set*id calls */
    *out = (unsigned long)v;
    return 1;
}

/* php-fpm's own message for a user or group that does not exist, with no file:line (php-fpm's -t
 * prints exactly this line). sys: php-fpm logs it as a system error, with errno. */
static int lookup_fail(struct parser *ps, size_t i, int user, const char *name, int sys, int err)
{
    const char *pool = ps->cfg->pools[i].name;
    const char *what = user ? "uid for user" : "gid for group";
    if (sys)
        return fail_at(ps, NULL, 0, NULL, "[pool %s] cannot get %s '%s': %s (%d)", pool, what, name,
                       strerror(err), err);
    return fail_at(ps, NULL, 0, NULL, "[pool %s] cannot get %s '%s'", pool, what, name);
}

/* php-fpm's fpm_unix_test_config() and fpm_unix_conf_wp(): as root, resolve user (name or uid; a
 * name also gives the primary group and home) and group (name or gid) now, so a bad name fails
 * the load; not as root, both are ignored with a warning and $USER/$HOME are the running user's.
 * listen.owner and listen.group must exist whoever runs it (listen.c looks them up again when it
 * makes the socket). Numbers are taken as ids without a lookup, as php-fpm does. */
static int resolve_identity(struct parser *ps, size_t i)
{
    struct pool_config *p = &ps->cfg->pools[i];
    unsigned long id;
    struct passwd *pw;
    if (geteuid() != 0) {
        static const char *const keys[] = {"user", "group"};
        for (size_t k = 0; k < 2; k++) {
            if (!(k == 0 ? p->user : p->group)) continue;
            struct loc l = where(ps, i, keys[k]);
            if (warn_at(ps, l.file, l.line, keys[k],
                        "[pool %s] '%s' directive is ignored when FPM is not running as root",
                        p->name, keys[k]))
                return -1;
        }
        pw = getpwuid(getuid());
        if (pw &&
            (!(p->user_name = xstrdup(ps, pw->pw_name)) || !(p->home = xstrdup(ps, pw->pw_dir))))
            return -1;
    } else {
        if (p->user) {
            if (parse_id(p->user, &id)) {
                p->uid = (uid_t)id;
                pw = getpwuid(p->uid); /* a uid with no entry is fine, as in php-fpm */
            } else if (!(pw = getpwnam(p->user))) {
                return lookup_fail(ps, i, 1, p->user, 0, 0);
            }
            if (pw) {
                p->uid = pw->pw_uid;
                p->gid = pw->pw_gid;
                if (!(p->user_name = xstrdup(ps, pw->pw_name)) ||
                    !(p->home = xstrdup(ps, pw->pw_dir)))
                    return -1;
            }
            p->set_identity = 1;
        }
        if (p->group) {
            if (parse_id(p->group, &id)) {
                p->gid = (gid_t)id;
            } else {
                struct group *gr = getgrnam(p->group);
                if (!gr) return lookup_fail(ps, i, 0, p->group, 0, 0);
                p->gid = gr->gr_gid;
            }
            p->set_identity = 1;
        }
    }
    if (p->listen_owner && !parse_id(p->listen_owner, &id)) {
        errno = 0;
        if (!getpwnam(p->listen_owner)) return lookup_fail(ps, i, 1, p->listen_owner, 1, errno);
    }
    if (p->listen_group && !parse_id(p->listen_group, &id)) {
        errno = 0;
        if (!getgrnam(p->listen_group)) return lookup_fail(ps, i, 0, p->listen_group, 1, errno);
    }
    return 0;
}

static int finish_pool(struct parser *ps, size_t i)
{
    struct config *cfg = ps->cfg;
    struct pool_config *p = &cfg->pools[i];

    if (p->prefix) {
        if (fpm_path(ps, &p->prefix, NULL, 0, NULL, 0)) return -1;
        if (!is_dir(p->prefix))
            return pool_fail(ps, i, "prefix",
                             "the prefix '%s' does not exist or is not a directory", p->prefix);
    }
    const char *pp = p->prefix; /* php-fpm's keys: fpm_path(); phpmgr's: under a prefix if any */
    const char *prefix = p->prefix ? p->prefix : cfg->prefix;

    if (!p->listen)
        return pool_fail(ps, i, "listen",
                         "no listen address has been defined (listen is required)");
    if (is_unix_listen(p->listen) && fpm_path(ps, &p->listen, pp, 1, NULL, 0)) return -1;
    if (check_unix_len(ps, i, "listen", p->listen)) return -1;
    if (p->status_listen && is_unix_listen(p->status_listen) &&
        absolutize(ps, &p->status_listen, prefix))
        return -1;
    if (check_unix_len(ps, i, "pm.status_listen", p->status_listen)) return -1;
    for (size_t j = 0; p->http_listen && p->http_listen[j]; j++) {
        if (is_unix_listen(p->http_listen[j]) && absolutize(ps, &p->http_listen[j], prefix))
            return -1;
        if (check_unix_len(ps, i, "http.listen", p->http_listen[j])) return -1;
    }

    if (check_pm(ps, i)) return -1;

    if (p->status_path && !p->status_listen && strlen(p->status_path) < 2)
        return pool_fail(ps, i, "pm.status_path", "the status path '%s' is not long enough",
                         p->status_path);
    if (p->ping_path && strlen(p->ping_path) < 2)
        return pool_fail(ps, i, "ping.path", "the ping path '%s' is not long enough", p->ping_path);
    if (!p->ping_response && !(p->ping_response = xstrdup(ps, "pong"))) return -1;
    if (!p->access_format && !(p->access_format = xstrdup(ps, DEFAULT_ACCESS_FORMAT))) return -1;
    if (fpm_path(ps, &p->access_log, pp, 1, NULL, 0) || fpm_path(ps, &p->slowlog, pp, 1, NULL, 0))
        return -1;

    if (p->request_slowlog_timeout_ms) {
        if (!p->slowlog)
            return pool_fail(ps, i, "request_slowlog_timeout",
                             "'slowlog' must be specified for use with 'request_slowlog_timeout'");
        if (p->request_terminate_timeout_ms &&
            p->request_slowlog_timeout_ms > p->request_terminate_timeout_ms)
            return pool_fail(ps, i, "request_slowlog_timeout",
                             "'request_slowlog_timeout' can't be greater than "
                             "'request_terminate_timeout'");
    }
    if (p->request_slowlog_trace_depth == 0) {
        p->request_slowlog_trace_depth = 20; /* php-fpm: 0 means not set */
    } else if (was_set(ps, i, "request_slowlog_trace_depth") && !p->slowlog) {
        return pool_fail(ps, i, "request_slowlog_trace_depth",
                         "'slowlog' must be specified for use with "
                         "'request_slowlog_trace_depth'");
    }

    if (p->chroot) {
        int rc = fpm_path(ps, &p->chroot, pp, 1, NULL, 1);
        if (rc == -2)
            return pool_fail(ps, i, "chroot", "'$prefix' must be at the beginning of the value");
        if (rc) return -1;
        if (p->chroot[0] != '/')
            return pool_fail(ps, i, "chroot", "the chroot path '%s' must start with a '/'",
                             p->chroot);
        if (!is_dir(p->chroot))
            return pool_fail(ps, i, "chroot",
                             "the chroot path '%s' does not exist or is not a directory",
                             p->chroot);
    }
    if (p->chdir) {
        if (fpm_path(ps, &p->chdir, pp, 1, NULL, 0)) return -1;
        if (p->chdir[0] != '/')
            return pool_fail(ps, i, "chdir", "the chdir path '%s' must start with a '/'", p->chdir);
        if (p->chroot) {
            char *full = xasprintf(ps, "%s/%s", p->chroot, p->chdir);
            if (!full) return -1;
            int ok = is_dir(full);
            if (!ok)
                pool_fail(ps, i, "chdir",
                          "the chdir path '%s' within the chroot path '%s' ('%s') does not "
                          "exist or is not a directory",
                          p->chdir, p->chroot, full);
            free(full);
            if (!ok) return -1;
        } else if (!is_dir(p->chdir)) {
            return pool_fail(ps, i, "chdir",
                             "the chdir path '%s' does not exist or is not a directory", p->chdir);
        }
    }

    static const char *const exts[] = {".php", ".phar", NULL};
    if (set_default_list(ps, &p->limit_extensions, exts)) return -1;

    if (!p->chroot) {
        for (size_t j = 0; j < p->n_php_ini; j++) {
            struct php_ini_entry *e = &p->php_ini[j];
            if (!is_path_ini(e->name)) continue;
            if (e->admin && strcasecmp(e->name, "error_log") == 0 &&
                strcasecmp(e->value, "syslog") == 0)
                continue;
            if (*e->value && fpm_path(ps, &e->value, pp, 1, NULL, 0)) return -1;
        }
    }

    if (p->worker_mode == WORKER_RESIDENT && !p->worker_bootstrap)
        return pool_fail(ps, i, "worker.mode", "worker.mode = resident needs worker.bootstrap");
    if (p->worker_bootstrap) {
        if (absolutize(ps, &p->worker_bootstrap, prefix)) return -1;
        /* Checked here, as the master sees it: a typo fails `phpmgr test` and startup instead
         * of every worker. (A worker's user may still lack the right to read it.) */
        if (!p->chroot && access(p->worker_bootstrap, R_OK) < 0)
            return pool_fail(ps, i, "worker.bootstrap", "cannot read '%s': %s", p->worker_bootstrap,
                             strerror(errno));
    }
    if (p->task_workers > 0 && !p->task_handler)
        return pool_fail(ps, i, "task.workers", "task.workers > 0 needs task.handler");
    return 0;
}

/* php-fpm refuses two pools on one address; phpmgr's http.listen shares the same space. */
static int check_unique_addresses(struct parser *ps)
{
    struct config *cfg = ps->cfg;
    for (size_t i = 0; i < cfg->n_pools; i++) {
        struct pool_config *a = &cfg->pools[i];
        size_t na = 1 + list_len(a->http_listen);
        for (size_t x = 0; x < na; x++) {
            const char *addr = x == 0 ? a->listen : a->http_listen[x - 1];
            for (size_t j = i; j < cfg->n_pools; j++) {
                struct pool_config *b = &cfg->pools[j];
                size_t nb = 1 + list_len(b->http_listen);
                for (size_t y = (j == i ? x + 1 : 0); y < nb; y++) {
                    const char *other = y == 0 ? b->listen : b->http_listen[y - 1];
                    if (strcmp(addr, other) != 0) continue;
                    const char *key = y == 0 ? "listen" : "http.listen";
                    if (i == j)
                        return pool_fail(ps, j, key, "address '%s' is used twice in this pool",
                                         addr);
                    return pool_fail(ps, j, key, "address '%s' is already used by pool '%s'", addr,
                                     a->name);
                }
            }
        }
    }
    return 0;
}

/* ---- public ---- */

/* Every string and list a key sets, freed from the key tables (a hand-kept list missed one). A
 * field set by two keys is freed once: each is NULL once freed. */
static void free_key_fields(const struct key_def *keys, size_t n, void *base)
{
    for (size_t i = 0; i < n; i++) {
        void *field = (char *)base + keys[i].off;
        if (keys[i].type == F_STR) {
            free(*(char **)field);
            *(char **)field = NULL;
        } else if (keys[i].type == F_LIST) {
            list_free(*(char ***)field);
            *(char ***)field = NULL;
        }
    }
}

static void free_given(char **given, size_t n)
{
    for (size_t i = 0; given && i < n; i++)
        free(given[i]);
    free(given);
}

const char *config_given(const struct config *cfg, const struct pool_config *pool, const char *key)
{
    const struct key_def *k;
    if (pool) {
        k = find_key(pool_keys, N_POOL_KEYS, key);
        return k && pool->given ? pool->given[k - pool_keys] : NULL;
    }
    k = find_key(global_keys, N_GLOBAL_KEYS, key);
    return k && cfg->global.given ? cfg->global.given[k - global_keys] : NULL;
}

int config_field_at(int pool, size_t i, struct config_field *out)
{
    const struct key_def *t = pool ? pool_keys : global_keys;
    size_t n = pool ? N_POOL_KEYS : N_GLOBAL_KEYS;
    if (i >= n) return -1;
    static const enum config_field_type types[] = {[F_STR] = CONFIG_FIELD_STR,
                                                   [F_INT] = CONFIG_FIELD_INT,
                                                   [F_LL] = CONFIG_FIELD_LL,
                                                   [F_LIST] = CONFIG_FIELD_LIST};
    out->name = t[i].name;
    out->type = types[t[i].type];
    out->offset = t[i].off;
    return 0;
}

void config_free(struct config *cfg)
{
    if (!cfg) return;
    free(cfg->path);
    free(cfg->prefix);
    free_key_fields(global_keys, N_GLOBAL_KEYS, &cfg->global);
    free_given(cfg->global.given, N_GLOBAL_KEYS);
    for (size_t i = 0; i < cfg->n_pools; i++) {
        struct pool_config *p = &cfg->pools[i];
        free_key_fields(pool_keys, N_POOL_KEYS, p);
        free_given(p->given, N_POOL_KEYS);
        /* set by no key of the tables: the section name and the arrays */
        free(p->name);
        for (size_t j = 0; j < p->n_env; j++) {
            free(p->env[j].name);
            free(p->env[j].value);
            free(p->env[j].given);
        }
        free(p->env);
        for (size_t j = 0; j < p->n_php_ini; j++) {
            free(p->php_ini[j].name);
            free(p->php_ini[j].value);
        }
        free(p->php_ini);
        list_free(p->access_suppress_paths);
        for (size_t j = 0; j < p->n_timers; j++) {
            free(p->timers[j].name);
            free(p->timers[j].value);
        }
        free(p->timers);
        free(p->user_name);
        free(p->home);
    }
    free(cfg->pools);
    list_free(cfg->warnings);
    list_free(cfg->notices);
    list_free(cfg->files);
    memset(cfg, 0, sizeof(*cfg));
}

int config_load(const char *path, const char *prefix, struct config *out, char *err, size_t errlen)
{
    struct parser ps = {.cfg = out, .err = err, .errlen = errlen, .cur_pool = -1};
    memset(out, 0, sizeof(*out));
    if (err && errlen) err[0] = '\0';
    global_defaults(&out->global);
    global_defaults(&ps.def_global);
    if (!(out->global.given = calloc(N_GLOBAL_KEYS, sizeof(char *)))) {
        oom(&ps);
        goto fail;
    }
    pool_defaults(&ps.def_pool);
    if (!path || !*path) {
        fail_at(&ps, NULL, 0, "config", "no configuration file given");
        goto fail;
    }
    if (!(out->path = xstrdup(&ps, path))) goto fail;
    if (prefix && *prefix) {
        if (!is_dir(prefix)) {
            fail_at(&ps, NULL, 0, "prefix", "'%s' does not exist or is not a directory", prefix);
            goto fail;
        }
        if (!(out->prefix = xstrdup(&ps, prefix))) goto fail;
    }
    if (parse_file(&ps, path, NULL)) goto fail;
    if (out->n_pools == 0) {
        fail_at(&ps, path, 0, "[pool]",
                "no pool defined: at least one pool section (such as [www]) is required");
        goto fail;
    }
    if (finish_global(&ps)) goto fail;
    for (size_t i = 0; i < out->n_pools; i++)
        if (finish_pool(&ps, i)) goto fail;
    if (check_unique_addresses(&ps)) goto fail;
    /* php-fpm looks users and groups up after every other check (-t: fpm_unix_test_config) */
    for (size_t i = 0; i < out->n_pools; i++)
        if (resolve_identity(&ps, i)) goto fail;
    /* NULL-terminated even when empty, so callers can always iterate */
    if ((!out->warnings && !(out->warnings = calloc(1, sizeof(char *)))) ||
        (!out->notices && !(out->notices = calloc(1, sizeof(char *))))) {
        oom(&ps);
        goto fail;
    }
    free(ps.locs);
    return 0;
fail:
    free(ps.locs);
    config_free(out);
    return -1;
}
