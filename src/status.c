/* php-fpm's status page and ping, answered by the master (see status.h), and the pool's
 * scoreboard (sapi/phpw_status.h). What each field holds in phpmgr:
 *   accepted conn        requests the pool's listeners submitted (ping and status included)
 *   listen queue         requests waiting for a worker now (phpmgr's request queue; the master
 *                        accepts at once, so the kernel's accept queue stays empty)
 *   max listen queue     the most requests that waited at once since the start
 *   listen queue len     queue.max, the bound of that queue
 *   idle/active          workers waiting / running a request (a status request runs in none)
 *   max active processes the most workers running at once
 *   max children reached, slow requests: as php-fpm counts them (pm.c, slowlog.c)
 * Per worker: the request as the master handed it over (SCRIPT_NAME, QUERY_STRING,
 * REQUEST_METHOD, CONTENT_LENGTH, SCRIPT_FILENAME, the Basic auth user), its duration from then
 * until the worker ended it; the last request's cpu and memory are the worker's own figures. */
#include "status.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#include "../sapi/phpw_status.h"
#include "clock.h"
#include "config.h"
#include "fcgi.h"
#include "log.h"
#include "pool_int.h"

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Copy a param value into a scoreboard string as strlcpy() does with a C string: up to its first
 * NUL, cut to size - 1 bytes. */
static void put_str(char *dst, size_t size, const uint8_t *v, int n)
{
    size_t len = 0;
    if (n > 0) {
        const uint8_t *z = memchr(v, 0, (size_t)n);
        len = z ? (size_t)(z - v) : (size_t)n;
        if (len > size - 1) len = size - 1;
        memcpy(dst, v, len);
    }
    dst[len] = 0;
}

static const char *pm_name(enum pm_mode pm)
{
    return pm == PM_STATIC ? "static" : pm == PM_DYNAMIC ? "dynamic" : "ondemand";
}

int status_pool_init(struct pool *p)
{
    size_t n = p->n_workers > 0 ? (size_t)p->n_workers : 0;
    size_t len = sizeof(struct phpw_sb_pool) + n * sizeof(struct phpw_sb_proc);
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        log_alert("[pool %s] mmap() for the status scoreboard failed: %s", p->cfg->name,
                  strerror(errno));
        return -1;
    }
    struct phpw_sb_pool *sb = m;
    sb->nprocs = (uint32_t)n;
    put_str(sb->pool, sizeof(sb->pool), (const uint8_t *)p->cfg->name, (int)strlen(p->cfg->name));
    snprintf(sb->pm, sizeof(sb->pm), "%s", pm_name(p->cfg->pm));
    sb->start_epoch = (int64_t)time(NULL);
    sb->listen_queue_len = (uint32_t)p->cfg->queue_max;
    p->sb = sb;
    p->sb_len = len;
    return 0;
}

void status_pool_free(struct pool *p)
{
    if (p->sb != NULL) munmap(p->sb, p->sb_len);
    p->sb = NULL;
}

struct phpw_sb_pool *status_scoreboard(const struct pool *p)
{
    return p->sb;
}

/* ---------------------------------------------------------------------------------------------
 * Keeping the scoreboard */

static void sync_pool_fields(struct pool *p)
{
    struct phpw_sb_pool *sb = p->sb;
    phpw_sb_write_begin(&sb->seq);
    sb->accepted_conn = p->accepted_conn;
    sb->requests = p->requests;
    sb->listen_queue = p->queue_len;
    sb->max_listen_queue = p->queue_len_max;
    sb->active = p->active;
    sb->max_active = p->max_active;
    sb->max_children_reached = p->max_children_reached;
    sb->slow_requests = p->slow_requests;
    sb->requests_refused = p->requests_refused;
    sb->reloads = p->reloads;
    phpw_sb_write_end(&sb->seq);
}

/* A new process in the slot: php-fpm's fresh scoreboard entry. Inside the slot's write. */
static void proc_reset(struct phpw_sb_proc *proc, const struct worker *w)
{
    uint32_t seq = proc->seq;
    memset(proc, 0, sizeof(*proc));
    proc->seq = seq;
    proc->pid = (int32_t)w->pid;
    uint64_t age_ms = clock_ms() - w->spawned_ms;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    proc->start_epoch = (now_ms - (int64_t)age_ms) / 1000;
}

static uint32_t worker_sb_state(const struct worker *w)
{
    switch (w->state) {
    case W_IDLE:
        return PHPW_SB_IDLE;
    case W_BUSY:
        return w->finished_early ? PHPW_SB_FINISHING : PHPW_SB_RUNNING;
    case W_RETIRING:
        if (w->req != NULL) return w->finished_early ? PHPW_SB_FINISHING : PHPW_SB_RUNNING;
        return PHPW_SB_UNUSED; /* on its way out */
    default:
        return PHPW_SB_UNUSED;
    }
}

void status_sync(struct pool *p)
{
    if (p->sb == NULL) return;
    unsigned idle = 0, active = 0;
    for (int i = 0; i < p->n_workers; i++) {
        const struct worker *w = &p->workers[i];
        struct phpw_sb_proc *proc = &p->sb->procs[i];
        uint32_t state = worker_sb_state(w);
        if (state == PHPW_SB_IDLE) idle++;
        if (state == PHPW_SB_RUNNING || state == PHPW_SB_FINISHING) active++;
        int new_pid = state != PHPW_SB_UNUSED && proc->pid != (int32_t)w->pid;
        if (state == proc->state && !new_pid && proc->requests == w->seq) continue;
        phpw_sb_write_begin(&proc->seq);
        if (new_pid) proc_reset(proc, w);
        proc->state = state;
        if (state != PHPW_SB_UNUSED) proc->requests = w->seq;
        phpw_sb_write_end(&proc->seq);
    }
    p->active = active;
    if (active > p->max_active) p->max_active = active;
    phpw_sb_write_begin(&p->sb->seq);
    p->sb->idle = idle;
    phpw_sb_write_end(&p->sb->seq);
    sync_pool_fields(p);
}

/* The request's fields php-fpm's scoreboard keeps, in one pass over its params. */
static void copy_request(struct phpw_sb_proc *proc, const struct request *r);

void status_dispatched(struct worker *w, const struct request *r)
{
    struct pool *p = w->pool;
    if (p->sb == NULL) return;
    struct phpw_sb_proc *proc = &p->sb->procs[w - p->workers];
    phpw_sb_write_begin(&proc->seq);
    if (proc->pid != (int32_t)w->pid) proc_reset(proc, w);
    proc->state = PHPW_SB_RUNNING;
    proc->requests = w->seq;
    proc->accepted_us = mono_us();
    proc->duration_us = 0;
    copy_request(proc, r);
    phpw_sb_write_end(&proc->seq);
    p->active++;
    if (p->active > p->max_active) p->max_active = p->active;
    sync_pool_fields(p);
}

void status_request_over(struct worker *w)
{
    struct pool *p = w->pool;
    if (p->sb == NULL) return;
    struct phpw_sb_proc *proc = &p->sb->procs[w - p->workers];
    phpw_sb_write_begin(&proc->seq);
    proc->state = PHPW_SB_IDLE;
    proc->duration_us = mono_us() - proc->accepted_us;
    phpw_sb_write_end(&proc->seq);
    if (p->active > 0) p->active--;
    sync_pool_fields(p);
}

/* PHP's non-strict base64_decode(): characters outside the alphabet are skipped, '=' ends it. */
static size_t base64_decode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n && in[i] != '='; i++) {
        int c = in[i], v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '+')
            v = 62;
        else if (c == '/')
            v = 63;
        else
            continue;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o < cap) out[o++] = (char)(acc >> bits & 0xff);
        }
    }
    return o;
}

/* php_handle_auth_data(): "Basic " + base64 of "user:password" gives the user. */
static void auth_user(char *dst, size_t size, const uint8_t *v, int n)
{
    dst[0] = 0;
    if (n <= 6 || memcmp(v, "Basic ", 6) != 0) return;
    char dec[512];
    size_t dl = base64_decode(v + 6, (size_t)n - 6, dec, sizeof(dec));
    const char *colon = memchr(dec, ':', dl);
    if (colon == NULL) return;
    put_str(dst, size, (const uint8_t *)dec, (int)(colon - dec));
}

static int name_is(const uint8_t *n, uint32_t nl, const char *want, size_t wl)
{
    return nl == wl && memcmp(n, want, wl) == 0;
}
#define NAME_IS(n, nl, lit) name_is(n, nl, lit, sizeof(lit) - 1)

static void copy_request(struct phpw_sb_proc *proc, const struct request *r)
{
    const uint8_t *pos = r->params, *end = r->params + r->params_len, *n, *v;
    uint32_t nl, vl;
    const uint8_t *filename = NULL, *translated = NULL;
    int fl = -1, tl = -1;
    proc->request_method[0] = proc->request_uri[0] = proc->query_string[0] = 0;
    proc->script_filename[0] = proc->auth_user[0] = 0;
    proc->content_length = 0;
    while (fcgi_nv_next(&pos, end, &n, &nl, &v, &vl) == 1) {
        if (nl < 11 || nl > 18) continue; /* the names below only */
        if (NAME_IS(n, nl, "REQUEST_METHOD")) {
            put_str(proc->request_method, sizeof(proc->request_method), v, (int)vl);
        } else if (NAME_IS(n, nl, "SCRIPT_NAME")) {
            put_str(proc->request_uri, sizeof(proc->request_uri), v, (int)vl);
        } else if (NAME_IS(n, nl, "QUERY_STRING")) {
            put_str(proc->query_string, sizeof(proc->query_string), v, (int)vl);
        } else if (NAME_IS(n, nl, "SCRIPT_FILENAME")) {
            filename = v;
            fl = (int)vl;
        } else if (NAME_IS(n, nl, "PATH_TRANSLATED")) {
            translated = v;
            tl = (int)vl;
        } else if (NAME_IS(n, nl, "CONTENT_LENGTH")) {
            char num[24];
            put_str(num, sizeof(num), v, (int)vl);
            proc->content_length = (uint64_t)strtoll(num, NULL, 10); /* atol() */
        } else if (NAME_IS(n, nl, "HTTP_AUTHORIZATION")) {
            auth_user(proc->auth_user, sizeof(proc->auth_user), v, (int)vl);
        }
    }
    /* php-fpm's script: SCRIPT_FILENAME, or PATH_TRANSLATED without it */
    if (filename != NULL)
        put_str(proc->script_filename, sizeof(proc->script_filename), filename, fl);
    else if (translated != NULL)
        put_str(proc->script_filename, sizeof(proc->script_filename), translated, tl);
}

/* ---------------------------------------------------------------------------------------------
 * The answers */

struct out {
    char *p;
    size_t len, cap;
    int failed;
};

static void out_reserve(struct out *o, size_t more)
{
    if (o->failed || o->len + more + 1 <= o->cap) return;
    size_t cap = o->cap ? o->cap : 4096;
    while (cap < o->len + more + 1)
        cap *= 2;
    char *p = realloc(o->p, cap);
    if (p == NULL) {
        o->failed = 1;
        return;
    }
    o->p = p;
    o->cap = cap;
}

static void out_put(struct out *o, const char *s, size_t n)
{
    out_reserve(o, n);
    if (o->failed) return;
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = 0;
}

static void out_puts(struct out *o, const char *s)
{
    out_put(o, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void out_printf(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[512];
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof(small)) {
        out_put(o, small, (size_t)n);
        return;
    }
    out_reserve(o, (size_t)n);
    if (o->failed) return;
    va_start(ap, fmt);
    vsnprintf(o->p + o->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    o->len += (size_t)n;
}

/* One UTF-8 character of s[0..n) as PHP's decoders read one: its code point and length, or -1
 * for an invalid sequence (overlong, surrogate, past U+10FFFF, cut short). */
static int utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len;
    uint32_t v, min;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, v = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, v = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, v = c & 0x07, min = 0x10000;
    else
        return -1;
    if ((size_t)len > n) return -1;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return -1;
        v = v << 6 | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return -1;
    *cp = v;
    return len;
}

/* htmlspecialchars() as php-fpm calls it (ENT_COMPAT | ENT_DISALLOWED | ENT_HTML_DOC_XML1,
 * UTF-8, double encoding): & " < > as entities, characters XML 1.0 does not allow as U+FFFD, and
 * nothing at all for a string that is not valid UTF-8. */
static void put_html(struct out *o, const char *s)
{
    size_t n = strlen(s), start = o->len;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_next(u + i, n - i, &cp);
        if (k < 0) {
            o->len = start; /* PHP returns an empty string */
            if (o->p) o->p[start] = 0;
            return;
        }
        int allowed = cp == 0x9 || cp == 0xa || cp == 0xd || (cp >= 0x20 && cp <= 0xd7ff) ||
                      (cp >= 0xe000 && cp <= 0x10ffff && cp != 0xfffe && cp != 0xffff);
        if (!allowed)
            out_puts(o, "\xef\xbf\xbd");
        else if (cp == '&')
            out_puts(o, "&amp;");
        else if (cp == '"')
            out_puts(o, "&quot;");
        else if (cp == '<')
            out_puts(o, "&lt;");
        else if (cp == '>')
            out_puts(o, "&gt;");
        else
            out_put(o, s + i, (size_t)k);
        i += (size_t)k;
    }
}

/* json_encode() of a string without its quotes, as php-fpm calls it (PHP_JSON_INVALID_UTF8_IGNORE
 * only: '/' escaped, non-ASCII as \uXXXX, invalid bytes dropped). */
static void put_json(struct out *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(s);
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_next(u + i, n - i, &cp);
        if (k < 0) {
            i++;
            continue;
        }
        i += (size_t)k;
        char e[16];
        switch (cp) {
        case '"':
            out_puts(o, "\\\"");
            continue;
        case '\\':
            out_puts(o, "\\\\");
            continue;
        case '/':
            out_puts(o, "\\/");
            continue;
        case '\b':
            out_puts(o, "\\b");
            continue;
        case '\f':
            out_puts(o, "\\f");
            continue;
        case '\n':
            out_puts(o, "\\n");
            continue;
        case '\r':
            out_puts(o, "\\r");
            continue;
        case '\t':
            out_puts(o, "\\t");
            continue;
        default:
            break;
        }
        if (cp >= 0x20 && cp < 0x80) {
            char c = (char)cp;
            out_put(o, &c, 1);
            continue;
        }
        uint32_t units[2] = {cp, 0};
        int nu = 1;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            units[0] = 0xd800 | (cp >> 10);
            units[1] = 0xdc00 | (cp & 0x3ff);
            nu = 2;
        }
        for (int j = 0; j < nu; j++) {
            e[0] = '\\';
            e[1] = 'u';
            for (int d = 0; d < 4; d++)
                e[2 + d] = hex[units[j] >> (12 - 4 * d) & 0xf];
            out_put(o, e, 6);
        }
    }
}

enum fmt { F_TEXT, F_HTML, F_XML, F_JSON, F_OPENMETRICS };

static const char *const expires = "Expires: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
                                   "Cache-Control: no-cache, no-store, must-revalidate, "
                                   "max-age=0\r\n";

/* php-fpm's headers as its SAPI sends them: text types get default_charset (";charset=UTF-8",
 * and SAPI's own spelling "Content-type"), the others stay as set. */
static const char *content_type(enum fmt f)
{
    switch (f) {
    case F_HTML:
        return "Content-type: text/html;charset=UTF-8\r\n";
    case F_XML:
        return "Content-type: text/xml;charset=UTF-8\r\n";
    case F_JSON:
        return "Content-Type: application/json\r\n";
    case F_OPENMETRICS:
        return "Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n";
    default:
        return "Content-type: text/plain;charset=UTF-8\r\n";
    }
}

/* A field of the pool part. */
struct field {
    const char *name; /* text, html and json name; xml: spaces become '-' */
    int is_string;    /* json: quoted */
    char value[64];
};

static void time_text(char *buf, size_t size, enum fmt f, int64_t epoch)
{
    time_t t = (time_t)epoch;
    struct tm tm;
    if (f == F_TEXT || f == F_HTML) {
        localtime_r(&t, &tm);
        if (strftime(buf, size, "%d/%b/%Y:%H:%M:%S %z", &tm) == 0) buf[0] = 0;
    } else {
        snprintf(buf, size, "%lld", (long long)epoch);
    }
}

static void put_xml_name(struct out *o, const char *name)
{
    for (const char *c = name; *c; c++)
        out_put(o, *c == ' ' ? "-" : c, 1);
}

static void put_fields(struct out *o, enum fmt f, const struct field *fs, size_t n, int first)
{
    for (size_t i = 0; i < n; i++) {
        const struct field *x = &fs[i];
        switch (f) {
        case F_TEXT: {
            char label[64];
            snprintf(label, sizeof(label), "%s:", x->name);
            out_printf(o, "%-22s%s\n", label, x->value);
            break;
        }
        case F_HTML:
            out_printf(o, "<tr><th>%s</th><td>%s</td></tr>\n", x->name, x->value);
            break;
        case F_XML:
            out_puts(o, "<");
            put_xml_name(o, x->name);
            out_printf(o, ">%s</", x->value);
            put_xml_name(o, x->name);
            out_puts(o, ">\n");
            break;
        case F_JSON:
            out_printf(o, x->is_string ? "%s\"%s\":\"%s\"" : "%s\"%s\":%s",
                       first && i == 0 ? "" : ",", x->name, x->value);
            break;
        default:
            break;
        }
    }
}

/* The per-process fields: php-fpm's names (the text format says "request URI"). */
static const char *const proc_names[] = {
    "pid",
    "state",
    "start time",
    "start since",
    "requests",
    "request duration",
    "request method",
    "request uri",
    "content length",
    "user",
    "script",
    "last request cpu",
    "last request memory",
};
#define N_PROC_FIELDS (sizeof(proc_names) / sizeof(proc_names[0]))

static const char *state_name(uint32_t s)
{
    return s == PHPW_SB_RUNNING ? "Running" : s == PHPW_SB_FINISHING ? "Finishing" : "Idle";
}

static void put_escaped(struct out *o, enum fmt f, const char *s)
{
    if (f == F_HTML || f == F_XML)
        put_html(o, s);
    else if (f == F_JSON)
        put_json(o, s);
    else
        out_puts(o, s);
}

static void put_proc(struct out *o, enum fmt f, const struct phpw_sb_proc *pr, time_t now,
                     uint64_t now_us)
{
    char start[64];
    time_text(start, sizeof(start), f, pr->start_epoch);
    uint64_t duration = pr->state == PHPW_SB_IDLE ? pr->duration_us
                        : pr->accepted_us         ? now_us - pr->accepted_us
                                                  : 0;
    double cpu = 0;
    uint64_t memory = 0;
    if (pr->state == PHPW_SB_IDLE) {
        cpu = pr->last_cpu;
        memory = pr->last_memory;
    }
    /* each value as text; the URI is built apart (escaped per format) */
    char v[N_PROC_FIELDS][64];
    snprintf(v[0], 64, "%d", (int)pr->pid);
    snprintf(v[1], 64, "%s", state_name(pr->state));
    snprintf(v[2], 64, "%s", start);
    snprintf(v[3], 64, "%lu", (unsigned long)(now - (time_t)pr->start_epoch));
    snprintf(v[4], 64, "%lu", (unsigned long)pr->requests);
    snprintf(v[5], 64, "%lu", (unsigned long)duration);
    snprintf(v[8], 64, "%zu", (size_t)pr->content_length);
    snprintf(v[11], 64, "%.2f", cpu);
    snprintf(v[12], 64, "%zu", (size_t)memory);
    const char *method = pr->request_method[0] ? pr->request_method : "-";
    const char *user = pr->auth_user[0] ? pr->auth_user : "-";
    const char *script = pr->script_filename[0] ? pr->script_filename : "-";

    if (f == F_TEXT)
        out_puts(o, "\n************************\n");
    else if (f == F_HTML)
        out_puts(o, "<tr>");
    else if (f == F_XML)
        out_puts(o, "<process>");
    else if (f == F_JSON)
        out_puts(o, "{");
    for (size_t i = 0; i < N_PROC_FIELDS; i++) {
        const char *name = proc_names[i];
        int quoted = i == 1 || i == 6 || i == 7 || i == 9 || i == 10; /* json strings */
        if (f == F_TEXT) {
            char label[64];
            snprintf(label, sizeof(label), "%s:", i == 7 ? "request URI" : name);
            out_printf(o, "%-22s", label);
        } else if (f == F_HTML) {
            out_puts(o, "<td>");
        } else if (f == F_XML) {
            out_puts(o, "<");
            put_xml_name(o, name);
            out_puts(o, ">");
        } else {
            out_printf(o, "%s\"%s\":%s", i ? "," : "", name, quoted ? "\"" : "");
        }
        if (i == 6) {
            out_puts(o, method);
        } else if (i == 7) {
            if (pr->request_uri[0])
                put_escaped(o, f, pr->request_uri);
            else
                out_puts(o, "-");
            if (pr->query_string[0]) {
                out_puts(o, "?");
                put_escaped(o, f, pr->query_string);
            }
        } else if (i == 9) {
            out_puts(o, user);
        } else if (i == 10) {
            out_puts(o, script);
        } else {
            out_puts(o, v[i]);
        }
        if (f == F_TEXT) {
            out_puts(o, "\n");
        } else if (f == F_HTML) {
            out_puts(o, "</td>");
        } else if (f == F_XML) {
            out_puts(o, "</");
            put_xml_name(o, name);
            out_puts(o, ">");
        } else if (quoted) {
            out_puts(o, "\"");
        }
    }
    if (f == F_HTML)
        out_puts(o, "</tr>\n");
    else if (f == F_XML)
        out_puts(o, "</process>\n");
    else if (f == F_JSON)
        out_puts(o, "}");
}

static double master_cpu(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) < 0) return 0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void openmetrics(struct out *o, const struct phpw_sb_pool *sb, time_t now)
{
    out_printf(o,
               "# HELP phpfpm_up Could pool %s using a %s PM on PHP-FPM be reached?\n"
               "# TYPE phpfpm_up gauge\n"
               "phpfpm_up 1\n",
               sb->pool, sb->pm);
    static const struct {
        const char *name, *type, *help;
    } m[] = {
        {"start_since", "counter", "The number of seconds since FPM has started."},
        {"accepted_connections", "counter", "The number of requests accepted by the pool."},
        {"listen_queue", "gauge", "The number of requests in the queue of pending connections."},
        {"max_listen_queue", "counter",
         "The maximum number of requests in the queue of pending connections since FPM has "
         "started."},
        {"listen_queue_length", "gauge", "The size of the socket queue of pending connections."},
        {"idle_processes", "gauge", "The number of idle processes."},
        {"active_processes", "gauge", "The number of active processes."},
        {"total_processes", "gauge", "The number of idle + active processes."},
        {"max_active_processes", "counter",
         "The maximum number of active processes since FPM has started."},
        {"max_children_reached", "counter",
         "The number of times, the process limit has been reached, when pm tries to start more "
         "children (works only for pm 'dynamic' and 'ondemand')."},
        {"slow_requests", "counter",
         "The number of requests that exceeded your 'request_slowlog_timeout' value."},
    };
    unsigned long val[] = {
        (unsigned long)(now - (time_t)sb->start_epoch),
        (unsigned long)sb->accepted_conn,
        sb->listen_queue,
        sb->max_listen_queue,
        sb->listen_queue_len,
        sb->idle,
        sb->active,
        sb->idle + sb->active,
        sb->max_active,
        sb->max_children_reached,
        (unsigned long)sb->slow_requests,
    };
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        /* php-fpm gives TYPE before HELP for this one */
        if (strcmp(m[i].name, "listen_queue_length") == 0)
            out_printf(o, "# TYPE phpfpm_%s %s\n# HELP phpfpm_%s %s\n", m[i].name, m[i].type,
                       m[i].name, m[i].help);
        else
            out_printf(o, "# HELP phpfpm_%s %s\n# TYPE phpfpm_%s %s\n", m[i].name, m[i].help,
                       m[i].name, m[i].type);
        out_printf(o, "phpfpm_%s %lu\n", m[i].name, val[i]);
    }
    /* phpmgr's own, before the end (OpenMetrics counters end in _total) */
    out_printf(o,
               "# HELP phpmgr_requests_refused The number of requests answered 503 without "
               "running (request queue full, or stopping).\n"
               "# TYPE phpmgr_requests_refused counter\n"
               "phpmgr_requests_refused_total %lu\n"
               "# HELP phpmgr_reloads The number of worker reloads (SIGUSR1) since phpmgr has "
               "started.\n"
               "# TYPE phpmgr_reloads counter\n"
               "phpmgr_reloads_total %lu\n"
               "# HELP phpmgr_master_cpu_seconds CPU time used by the master process.\n"
               "# TYPE phpmgr_master_cpu_seconds counter\n"
               "phpmgr_master_cpu_seconds_total %.2f\n"
               "# EOF\n",
               (unsigned long)sb->requests_refused, (unsigned long)sb->reloads, sb->master_cpu);
}

static void render_status(struct out *o, struct pool *p, enum fmt f, int full)
{
    status_sync(p);
    struct phpw_sb_pool *sb = p->sb;
    phpw_sb_write_begin(&sb->seq);
    sb->master_cpu = master_cpu();
    phpw_sb_write_end(&sb->seq);
    time_t now = time(NULL);
    uint64_t now_us = mono_us();
    if (f == F_OPENMETRICS) {
        openmetrics(o, sb, now); /* php-fpm's ?full adds nothing here */
        return;
    }
    char start[64];
    time_text(start, sizeof(start), f, sb->start_epoch);
    struct field fs[] = {
        {"pool", 1, ""},
        {"process manager", 1, ""},
        {"start time", 0, ""},
        {"start since", 0, ""},
        {"accepted conn", 0, ""},
        {"listen queue", 0, ""},
        {"max listen queue", 0, ""},
        {"listen queue len", 0, ""},
        {"idle processes", 0, ""},
        {"active processes", 0, ""},
        {"total processes", 0, ""},
        {"max active processes", 0, ""},
        {"max children reached", 0, ""},
        {"slow requests", 0, ""},
    };
    snprintf(fs[0].value, 64, "%s", sb->pool);
    snprintf(fs[1].value, 64, "%s", sb->pm);
    snprintf(fs[2].value, 64, "%s", start);
    snprintf(fs[3].value, 64, "%lu", (unsigned long)(now - (time_t)sb->start_epoch));
    snprintf(fs[4].value, 64, "%lu", (unsigned long)sb->accepted_conn);
    snprintf(fs[5].value, 64, "%d", (int)sb->listen_queue);
    snprintf(fs[6].value, 64, "%d", (int)sb->max_listen_queue);
    snprintf(fs[7].value, 64, "%u", sb->listen_queue_len);
    snprintf(fs[8].value, 64, "%d", (int)sb->idle);
    snprintf(fs[9].value, 64, "%d", (int)sb->active);
    snprintf(fs[10].value, 64, "%d", (int)(sb->idle + sb->active));
    snprintf(fs[11].value, 64, "%d", (int)sb->max_active);
    snprintf(fs[12].value, 64, "%u", sb->max_children_reached);
    snprintf(fs[13].value, 64, "%lu", (unsigned long)sb->slow_requests);
    /* phpmgr's own, after php-fpm's */
    struct field extra[] = {
        {"requests refused", 0, ""},
        {"reloads", 0, ""},
        {"master cpu", 0, ""},
    };
    snprintf(extra[0].value, 64, "%lu", (unsigned long)sb->requests_refused);
    snprintf(extra[1].value, 64, "%lu", (unsigned long)sb->reloads);
    snprintf(extra[2].value, 64, "%.2f", sb->master_cpu);
    const size_t nf = sizeof(fs) / sizeof(fs[0]), ne = sizeof(extra) / sizeof(extra[0]);

    switch (f) {
    case F_HTML:
        out_puts(o, "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" "
                    "\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\">\n"
                    "<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n"
                    "<head><title>PHP-FPM Status Page</title></head>\n"
                    "<body>\n"
                    "<table>\n");
        break;
    case F_XML:
        out_puts(o, "<?xml version=\"1.0\" ?>\n<status>\n");
        break;
    case F_JSON:
        out_puts(o, "{");
        break;
    default:
        break;
    }
    put_fields(o, f, fs, nf, 1);
    put_fields(o, f, extra, ne, 0);
    if (f == F_HTML) out_puts(o, "</table>\n");
    if (!full) {
        if (f == F_HTML)
            out_puts(o, "</body></html>");
        else if (f == F_XML)
            out_puts(o, "</status>");
        else if (f == F_JSON)
            out_puts(o, "}");
        return;
    }
    if (f == F_HTML) {
        out_puts(o, "<table border=\"1\">\n<tr>");
        for (size_t i = 0; i < N_PROC_FIELDS; i++)
            out_printf(o, "<th>%s</th>", proc_names[i]);
        out_puts(o, "</tr>\n");
    } else if (f == F_XML) {
        out_puts(o, "<processes>\n");
    } else if (f == F_JSON) {
        out_puts(o, ", \"processes\":[");
    }
    int first = 1;
    for (uint32_t i = 0; i < sb->nprocs; i++) {
        struct phpw_sb_proc pr = sb->procs[i];
        if (pr.state == PHPW_SB_UNUSED) continue;
        /* the worker's own fields, written by it (a torn read only costs this one answer) */
        phpw_sb_read(&pr.last_cpu, &sb->procs[i].last_cpu,
                     sizeof(pr.last_cpu) + sizeof(pr.last_memory), &sb->procs[i].wseq);
        if (!first && f == F_JSON) out_puts(o, ",");
        first = 0;
        put_proc(o, f, &pr, now, now_us);
    }
    if (f == F_HTML)
        out_puts(o, "</table></body></html>");
    else if (f == F_XML)
        out_puts(o, "</processes>\n</status>");
    else if (f == F_JSON)
        out_puts(o, "]}");
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c |= 32;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Is name one of $_GET's keys, as php-fpm asks (fpm_php_get_string_from_table(): a key matches
 * when it is a prefix of name, so "?j" is "?json")? Keys as PHP registers them from QUERY_STRING:
 * '&'-separated, url-decoded, leading spaces dropped, "key[...]" is key. */
static int get_has(const uint8_t *q, int ql, const char *name)
{
    size_t nl = strlen(name);
    int i = 0;
    while (i < ql) {
        int j = i;
        while (j < ql && q[j] != '&')
            j++;
        char key[64];
        size_t kl = 0;
        int k = i, too_long = 0, skipping = 1;
        for (; k < j && q[k] != '='; k++) {
            int c = q[k];
            if (c == '+') c = ' ';
            if (c == '%' && k + 2 < j) {
                int hi = q[k + 1], lo = q[k + 2];
                int h = hexval(hi), l = hexval(lo);
                if (h >= 0 && l >= 0) {
                    c = h << 4 | l;
                    k += 2;
                }
            }
            if (skipping && c == ' ') continue;
            skipping = 0;
            if (c == '[') break;
            if (kl == sizeof(key)) {
                too_long = 1;
                break;
            }
            key[kl++] = (char)c;
        }
        if (!too_long && kl > 0 && kl <= nl && memcmp(key, name, kl) == 0) return 1;
        i = j + 1;
    }
    return 0;
}

static int answer(struct request *r, const char *head, const struct out *body)
{
    size_t hl = strlen(head), bl = body ? body->len : 0;
    char *all = malloc(hl + bl + 1);
    size_t framed = fcgi_stream_size(hl + bl, 1) + 16;
    uint8_t *rec = malloc(framed);
    int rc = -1;
    if (all != NULL && rec != NULL) {
        memcpy(all, head, hl);
        if (bl) memcpy(all + hl, body->p, bl);
        size_t n =
            fcgi_stream_encode(rec, FCGI_STDOUT, r->client_id, (const uint8_t *)all, hl + bl, 1);
        fcgi_end_request_encode(rec + n, r->client_id, 0, FCGI_REQUEST_COMPLETE);
        rc = buf_queue_append(&r->relayed, rec, n + 16);
    }
    free(all);
    free(rec);
    return rc;
}

static int param_is(const struct request *r, const char *name, const char *want)
{
    const uint8_t *v;
    int n = request_param(r, name, &v);
    return n >= 0 && (size_t)n == strlen(want) && memcmp(v, want, (size_t)n) == 0;
}

int status_submit(struct pool *p, struct request *r)
{
    p->accepted_conn++;
    const struct pool_config *pc = p->cfg;
    if (pc->ping_path == NULL && pc->status_path == NULL) return 0;
    /* php-fpm: no REQUEST_METHOD is no HTTP request; no script path leaves request_uri unset */
    const uint8_t *method;
    int ml = request_param(r, "REQUEST_METHOD", &method);
    if (ml < 0) return 0;
    const uint8_t *unused;
    if (request_param(r, "SCRIPT_FILENAME", &unused) < 0 &&
        request_param(r, "PATH_TRANSLATED", &unused) < 0)
        return 0;
    int head_only = ml == 4 && memcmp(method, "HEAD", 4) == 0;
    int rc;
    if (pc->ping_path && param_is(r, "SCRIPT_NAME", pc->ping_path)) {
        struct out body = {0};
        char head[512];
        snprintf(head, sizeof(head), "%s%s\r\n", content_type(F_TEXT), expires);
        if (!head_only) out_puts(&body, pc->ping_response);
        rc = body.failed ? -1 : answer(r, head, &body);
        free(body.p);
    } else if (pc->status_path && param_is(r, "SCRIPT_NAME", pc->status_path)) {
        const uint8_t *q = NULL;
        int ql = request_param(r, "QUERY_STRING", &q);
        enum fmt f = get_has(q, ql, "html")          ? F_HTML
                     : get_has(q, ql, "xml")         ? F_XML
                     : get_has(q, ql, "json")        ? F_JSON
                     : get_has(q, ql, "openmetrics") ? F_OPENMETRICS
                                                     : F_TEXT;
        struct out body = {0};
        char head[512];
        if (head_only) {
            /* php-fpm stops before choosing a type: PHP's default one */
            snprintf(head, sizeof(head), "%sContent-type: text/html; charset=UTF-8\r\n\r\n",
                     expires);
        } else {
            snprintf(head, sizeof(head), "%s%s\r\n", expires, content_type(f));
            render_status(&body, p, f, get_has(q, ql, "full"));
        }
        rc = body.failed ? -1 : answer(r, head, &body);
        free(body.p);
    } else {
        return 0;
    }
    if (rc < 0) {
        log_error("[pool %s] out of memory answering a status request", pc->name);
        relay_news(r, REQ_NEWS_FAILED, 503);
    } else {
        relay_news(r, REQ_NEWS_DONE, 0);
    }
    return 1;
}

int status_http_path(const struct pool_config *pc, const char *path, size_t len)
{
    return (pc->ping_path && strlen(pc->ping_path) == len &&
            memcmp(pc->ping_path, path, len) == 0) ||
           (pc->status_path && strlen(pc->status_path) == len &&
            memcmp(pc->status_path, path, len) == 0);
}
