#include "http_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cgi_response.h"
#include "clock.h"
#include "config.h"
#include "conn_int.h"
#include "fcgi.h"
#include "http.h"
#include "http_params.h"
#include "log.h"
#include "pool.h"
#include "request.h"
#include "stat_cache.h"
#include "static_file.h"
#include "status.h"
#include "version.h"

#define HTTP_MAX_HEADERS 128
#define RESP_HDR_CAP 16384
#define PARAMS_SCRATCH (256 * 1024)
#define MAX_TRUSTED 64

struct cidr {
    int family;
    uint8_t addr[16];
    unsigned bits;
};

struct http_site_ctx {
    struct http_site site;
    char *root; /* document root, NUL-terminated */
    int root_fd;
    struct http_limits limits;
    int keepalive_ms, header_ms, body_ms, send_ms;
    struct cidr trusted[MAX_TRUSTED];
    size_t n_trusted;
    const char *pool;
};

enum http_stage {
    HS_HEAD,   /* reading a request head (or idle between requests) */
    HS_BODY,   /* reading its body */
    HS_WORKER, /* a worker runs it; the response streams back */
    HS_STATIC, /* streaming a static file */
    HS_DONE,   /* the response is out; the connection closes */
};

struct http_state {
    const struct http_site_ctx *site;
    enum http_stage stage;
    uint64_t stage_ms; /* when the current head started arriving (HS_HEAD with bytes) */
    struct http_request req;
    struct http_header headers[HTTP_MAX_HEADERS];
    uint8_t *head_copy; /* a chunked request's head, kept until its params are encoded */
    uint32_t head_copy_cap;
    uint8_t keep_alive;
    uint8_t is_head;
    uint8_t http_minor;
    uint8_t https;
    /* body */
    uint64_t body_left;
    struct http_chunked chunked;
    struct http_route route;
    char *scratch; /* routing output (file names) */
    size_t scratch_cap;
    /* response */
    struct cgi_response resp;
    uint8_t resp_hdr[RESP_HDR_CAP];
    uint8_t head_sent;
    struct fcgi_relay records; /* the worker's records, as the relay reads them */
    /* connection addresses */
    char remote_addr[INET6_ADDRSTRLEN], remote_port[8], server_addr[INET6_ADDRSTRLEN],
        server_port[8];
    struct sockaddr_storage peer;
};

static uint8_t params_scratch[PARAMS_SCRATCH];

/* ---- small helpers ---- */

static const char *http_date(void)
{
    static char date[CGI_DATE_LEN + 1];
    static time_t cached;
    time_t now = time(NULL);
    if (now != cached) {
        cgi_response_date(date, now);
        cached = now;
    }
    return date;
}

static struct http_state *st(struct conn *c)
{
    return c->proto_state;
}

/* A response made here; the connection stays open only when keep and the request allows it. */
static void answer_simple(struct conn *c, int status, int keep)
{
    struct http_state *s = st(c);
    uint8_t out[1024];
    keep = keep && s->keep_alive;
    size_t n = cgi_response_simple(out, sizeof(out), status, http_date(), keep, s->is_head);
    if (n > sizeof(out)) n = 0;
    conn_queue(c, out, n);
    s->stage = keep ? HS_HEAD : HS_DONE;
    s->stage_ms = 0;
    http_request_init(&s->req, s->headers, HTTP_MAX_HEADERS, &s->site->limits);
    /* An error answer may come while the client is still sending (a head or body too large):
     * linger so it reads the answer rather than a reset. */
    if (!keep) conn_close_after_output(c, 1);
    conn_finish_request(c, c->req, keep);
}

static int cidr_parse(const char *text, struct cidr *out)
{
    char buf[64];
    const char *slash = strchr(text, '/');
    size_t n = slash ? (size_t)(slash - text) : strlen(text);
    if (n >= sizeof(buf)) return -1;
    memcpy(buf, text, n);
    buf[n] = 0;
    memset(out, 0, sizeof(*out));
    unsigned max;
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return -1;
    }
    out->bits = max;
    if (slash) {
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (*end || b < 0 || b > (long)max) return -1;
        out->bits = (unsigned)b;
    }
    return 0;
}

static int cidr_match(const struct cidr *c, int family, const uint8_t *addr)
{
    if (c->family != family) return 0;
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->addr, addr, full) != 0) return 0;
    if (rest == 0) return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (c->addr[full] & mask) == (addr[full] & mask);
}

static int addr_trusted(const struct http_site_ctx *site, int family, const uint8_t *addr)
{
    for (size_t i = 0; i < site->n_trusted; i++)
        if (cidr_match(&site->trusted[i], family, addr)) return 1;
    return 0;
}

/* Route-time file check: one stat; escapes through symlinks are refused when a static file is
 * opened (openat2 RESOLVE_BENEATH), and scripts are opened by PHP as under php-fpm. */
static int site_stat(void *ctx, const char *path, size_t len)
{
    (void)ctx;
    return stat_cache_kind(path, len, clock_ms());
}

struct http_site_ctx *http_conn_site_new(const struct pool_config *pc, char *err, size_t errlen)
{
    if (pc->http_document_root == NULL) {
        snprintf(err, errlen, "http.listen needs http.document_root");
        return NULL;
    }
    struct http_site_ctx *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->root = realpath(pc->http_document_root, NULL);
    if (s->root == NULL) {
        snprintf(err, errlen, "http.document_root '%s': %s", pc->http_document_root,
                 strerror(errno));
        free(s);
        return NULL;
    }
    s->root_fd = open(s->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (s->root_fd < 0) {
        if (s->root_fd >= 0) close(s->root_fd);
        snprintf(err, errlen, "http.document_root '%s': %s", s->root, strerror(errno));
        free(s->root);
        free(s);
        return NULL;
    }
    s->site.document_root.p = s->root;
    s->site.document_root.len = strlen(s->root);
    if (pc->http_index) {
        s->site.index.p = pc->http_index;
        s->site.index.len = strlen(pc->http_index);
    }
    if (pc->http_server_name) {
        s->site.server_name.p = pc->http_server_name;
        s->site.server_name.len = strlen(pc->http_server_name);
    }
    s->site.static_files = pc->http_static ? 1 : 0;
    s->site.path_info = 1;
    s->site.stat = site_stat;
    s->limits.max_header_size = (uint32_t)pc->http_max_header_size;
    s->limits.max_body = (uint64_t)pc->http_max_body_size;
    s->keepalive_ms = pc->http_keepalive_timeout_ms;
    s->header_ms = pc->http_header_timeout_ms;
    s->body_ms = pc->http_body_timeout_ms;
    s->send_ms = pc->http_send_timeout_ms;
    s->pool = pc->name;
    for (char **t = pc->http_trusted_proxies; t && *t; t++) {
        if (s->n_trusted == MAX_TRUSTED || cidr_parse(*t, &s->trusted[s->n_trusted]) < 0) {
            snprintf(err, errlen, "http.trusted_proxies: cannot use '%s'", *t);
            http_conn_site_free(s);
            return NULL;
        }
        s->n_trusted++;
    }
    return s;
}

void http_conn_site_free(struct http_site_ctx *s)
{
    if (s == NULL) return;
    close(s->root_fd);
    free(s->root);
    free(s);
}

static void addr_text(const struct sockaddr_storage *ss, char *host, size_t hl, char *port,
                      size_t pl)
{
    host[0] = 0;
    port[0] = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, (socklen_t)hl);
        snprintf(port, pl, "%u", ntohs(a->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
            inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], host, (socklen_t)hl);
        else
            inet_ntop(AF_INET6, &a->sin6_addr, host, (socklen_t)hl);
        snprintf(port, pl, "%u", ntohs(a->sin6_port));
    } else {
        snprintf(host, hl, "unix:");
    }
}

int http_conn_attach(struct conn *c, const void *ctx)
{
    const struct http_site_ctx *site = ctx;
    struct http_state *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        log_error("[pool %s] out of memory for an HTTP connection", site->pool);
        return -1;
    }
    s->site = site;
    s->keep_alive = 1;
    c->proto_state = s;
    c->send_timeout_ms = site->send_ms;
    /* Room for a whole head plus a body piece; a head over the limit is answered 431. */
    size_t need = (site->limits.max_header_size ? site->limits.max_header_size
                                                : HTTP_DEFAULT_MAX_HEADER_SIZE) +
                  64 * 1024;
    if (need > c->in_max) c->in_max = need;
    struct sockaddr_storage local;
    socklen_t len = sizeof(local);
    if (getsockname(c->fd, (struct sockaddr *)&local, &len) == 0)
        addr_text(&local, s->server_addr, sizeof(s->server_addr), s->server_port,
                  sizeof(s->server_port));
    len = sizeof(s->peer);
    if (getpeername(c->fd, (struct sockaddr *)&s->peer, &len) == 0)
        addr_text(&s->peer, s->remote_addr, sizeof(s->remote_addr), s->remote_port,
                  sizeof(s->remote_port));
    http_request_init(&s->req, s->headers, HTTP_MAX_HEADERS, &site->limits);
    return 0;
}

static void http_free(struct conn *c)
{
    struct http_state *s = st(c);
    if (s == NULL) return;
    free(s->head_copy);
    free(s->scratch);
    free(s);
    c->proto_state = NULL;
}

/* ---- request side ---- */

/* X-Forwarded-For / X-Forwarded-Proto from a trusted proxy: the client is the rightmost
 * address not itself a trusted proxy. */
static void apply_forwarded(struct conn *c, const uint8_t *buf, struct http_conn_info *ci,
                            char *addr_out, size_t addr_cap)
{
    struct http_state *s = st(c);
    const struct http_site_ctx *site = s->site;
    if (site->n_trusted == 0) return;
    uint8_t peer[16];
    int fam = s->peer.ss_family;
    if (fam == AF_INET) {
        memcpy(peer, &((struct sockaddr_in *)&s->peer)->sin_addr, 4);
    } else if (fam == AF_INET6) {
        const struct in6_addr *a6 = &((struct sockaddr_in6 *)&s->peer)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            fam = AF_INET;
            memcpy(peer, &a6->s6_addr[12], 4);
        } else {
            memcpy(peer, a6, 16);
        }
    } else {
        return;
    }
    if (!addr_trusted(site, fam, peer)) return;
    int h = http_header_find(&s->req, buf, "X-Forwarded-Proto", 17);
    if (h >= 0) {
        const struct http_span *v = &s->req.headers[h].value;
        if (v->len == 5 && strncasecmp((const char *)buf + v->off, "https", 5) == 0) ci->https = 1;
    }
    h = http_header_find(&s->req, buf, "X-Forwarded-For", 15);
    if (h < 0) return;
    const struct http_span *v = &s->req.headers[h].value;
    const char *p = (const char *)buf + v->off;
    size_t end = v->len;
    while (end > 0) {
        size_t start = end;
        while (start > 0 && p[start - 1] != ',') start--;
        size_t a = start, b = end;
        while (a < b && (p[a] == ' ' || p[a] == '\t')) a++;
        while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t')) b--;
        char tmp[INET6_ADDRSTRLEN];
        uint8_t bin[16];
        if (b - a == 0 || b - a >= sizeof(tmp)) return;
        memcpy(tmp, p + a, b - a);
        tmp[b - a] = 0;
        int f = inet_pton(AF_INET, tmp, bin) == 1 ? AF_INET
                : inet_pton(AF_INET6, tmp, bin) == 1 ? AF_INET6
                                                     : 0;
        if (f == 0) return;
        snprintf(addr_out, addr_cap, "%s", tmp);
        ci->remote_addr.p = addr_out;
        ci->remote_addr.len = strlen(addr_out);
        if (!addr_trusted(site, f, bin)) return;
        end = start > 0 ? start - 1 : 0;
    }
}

/* Encode the CGI params for the open request and submit it. */
static void submit_request(struct conn *c, const uint8_t *head, uint64_t chunked_len)
{
    struct http_state *s = st(c);
    struct request *r = c->req;
    struct http_conn_info ci = {
        .server_addr = {s->server_addr, strlen(s->server_addr)},
        .server_port = {s->server_port, strlen(s->server_port)},
        .remote_addr = {s->remote_addr, strlen(s->remote_addr)},
        .remote_port = {s->remote_port, strlen(s->remote_port)},
        .https = 0,
    };
    char fwd[INET6_ADDRSTRLEN];
    apply_forwarded(c, head, &ci, fwd, sizeof(fwd));
    s->https = ci.https;
    size_t n = http_params_encode(params_scratch, sizeof(params_scratch), &s->site->site, &ci,
                                  &s->req, head, &s->route, chunked_len);
    if (n > sizeof(params_scratch) || request_add_params(r, params_scratch, n, n) < 0) {
        answer_simple(c, 431, 0);
        return;
    }
    r->params_done = 1;
    if (request_add_stdin(r, NULL, 0) < 0) {
        conn_kill(c);
        return;
    }
    r->stdin_done = 1;
    s->stage = HS_WORKER;
    s->head_sent = 0;
    fcgi_relay_init(&s->records);
    cgi_response_init(&s->resp, s->resp_hdr, sizeof(s->resp_hdr));
    c->input_held = 1; /* a pipelined request waits until this response is out */
    conn_submit(c);
}

/* Append body bytes for the worker as STDIN records. */
static int add_body(struct conn *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t k = n > FCGI_MAX_CONTENT ? FCGI_MAX_CONTENT : n;
        if (request_add_stdin(c->req, p, k) < 0) {
            log_error("[pool %s] fd %d: request body from %s lost: answering 500",
                      pool_name(c->pool), c->fd, st(c)->remote_addr);
            answer_simple(c, 500, 0);
            return -1;
        }
        p += k;
        n -= k;
    }
    return 0;
}

static void read_body(struct conn *c)
{
    struct http_state *s = st(c);
    uint8_t *p = c->in + c->in_off;
    size_t avail = c->in_len - c->in_off;
    if (s->req.body == HTTP_BODY_LENGTH) {
        size_t take = avail < s->body_left ? avail : (size_t)s->body_left;
        if (add_body(c, p, take) < 0) return;
        c->in_off += take;
        s->body_left -= take;
        if (s->body_left == 0) submit_request(c, s->head_copy, 0);
        return;
    }
    size_t out_len = 0;
    ssize_t used = http_chunked_decode(&s->chunked, p, avail, p, &out_len);
    if (used < 0) {
        log_notice("[pool %s] %s: bad chunked body from %s: %s", pool_name(c->pool),
                   s->site->root, s->remote_addr, s->chunked.error ? s->chunked.error : "");
        answer_simple(c, s->chunked.status ? s->chunked.status : 400, 0);
        return;
    }
    if (add_body(c, p, out_len) < 0) return;
    c->in_off += (size_t)used;
    if (http_chunked_done(&s->chunked)) submit_request(c, s->head_copy, s->chunked.total);
}

static void serve_static(struct conn *c, const uint8_t *head);
static void response_complete(struct conn *c, int keep);

/* "/dir" names a directory: 301 to "/dir/" with the query kept, as nginx with its defaults
 * (absolute_redirect and port_in_redirect on, server_name_in_redirect off): Location is
 * "http://", the host of an absolute-form target or of Host without its port (lower case, no
 * trailing dot; the listening address when there is none), ":" and the listening port unless it
 * is 80, the decoded path (control bytes escaped), "/" and "?query"; the page is nginx's, footer
 * included. Always http: phpmgr has no TLS (and nginx behind a TLS proxy says http too). A
 * request with a body gets its answer and a closed connection: the body is not read, so it must
 * not be taken for the next request. */
static void redirect_to_directory(struct conn *c, const uint8_t *head)
{
    struct http_state *s = st(c);
    static const char body[] = "<html>\r\n<head><title>301 Moved Permanently</title></head>\r\n"
                               "<body>\r\n<center><h1>301 Moved Permanently</h1></center>\r\n"
                               "<hr><center>phpmgr/" PHPMGR_VERSION_STRING "</center>\r\n"
                               "</body>\r\n</html>\r\n";
    static const char hex[] = "0123456789ABCDEF";
    const struct http_span *hs = s->req.form == HTTP_FORM_ABSOLUTE ? &s->req.authority
                                 : s->req.host >= 0 ? &s->req.headers[s->req.host].value
                                                    : NULL;
    const char *host = hs ? (const char *)head + hs->off : "";
    size_t hl = 0, hn = hs ? hs->len : 0;
    if (hn && host[0] == '[') { /* "[v6]:port" */
        while (hl < hn && host[hl] != ']') hl++;
        if (hl < hn) hl++;
    } else {
        while (hl < hn && host[hl] != ':') hl++;
    }
    if (hl && host[hl - 1] == '.') hl--;
    int bracket = 0;
    if (hl == 0 && s->server_port[0]) { /* no Host (HTTP/1.0): the listening address */
        host = s->server_addr;
        hl = strlen(host);
        bracket = strchr(host, ':') != NULL;
    }
    int port = hl && s->server_port[0] && strcmp(s->server_port, "80") != 0;
    if (s->req.body != HTTP_BODY_NONE) s->keep_alive = 0;
    const struct http_span *q = &s->req.query;
    /* The head goes to resp_hdr (no worker response is in flight): check it fits, then write. */
    char *out = (char *)s->resp_hdr;
    size_t cap = sizeof(s->resp_hdr);
    int n = snprintf(out, cap,
                     "HTTP/1.1 301 Moved Permanently\r\nServer: phpmgr/" PHPMGR_VERSION_STRING
                     "\r\nDate: %s\r\nContent-Type: text/html\r\nContent-Length: %zu\r\n"
                     "Location: %s%s",
                     http_date(), sizeof(body) - 1, hl ? "http://" : "", bracket ? "[" : "");
    size_t o = n < 0 ? cap : (size_t)n;
    if (o + hl + 8 + 3 * s->route.uri.len + 2 + q->len + 32 > cap) {
        answer_simple(c, 414, 0);
        return;
    }
    for (size_t i = 0; i < hl; i++)
        out[o++] = host[i] >= 'A' && host[i] <= 'Z' ? (char)(host[i] | 0x20) : host[i];
    if (bracket) out[o++] = ']';
    if (port) o += (size_t)sprintf(out + o, ":%s", s->server_port);
    for (size_t i = 0; i < s->route.uri.len; i++) {
        uint8_t b = (uint8_t)s->route.uri.p[i];
        if (b < 0x20 || b == 0x7f) {
            out[o++] = '%';
            out[o++] = hex[b >> 4];
            out[o++] = hex[b & 15];
        } else {
            out[o++] = (char)b;
        }
    }
    out[o++] = '/';
    if (q->len) {
        out[o++] = '?';
        memcpy(out + o, head + q->off, q->len);
        o += q->len;
    }
    o += (size_t)sprintf(out + o, "\r\nConnection: %s\r\n\r\n",
                         s->keep_alive ? "keep-alive" : "close");
    conn_queue(c, out, o);
    if (!s->is_head) conn_queue(c, body, sizeof(body) - 1);
    s->stage = HS_STATIC;
    response_complete(c, s->keep_alive);
}

static void on_head(struct conn *c, size_t head_len)
{
    struct http_state *s = st(c);
    const uint8_t *head = c->in + c->in_off;
    s->keep_alive = s->req.keep_alive;
    s->https = 0;
    s->is_head = http_is_head(&s->req);
    s->http_minor = s->req.version_minor;
    size_t need = 2 * (size_t)s->req.path.len + 2 * s->site->site.index.len +
                  s->site->site.document_root.len + 16;
    if (need > s->scratch_cap) {
        char *p = realloc(s->scratch, need);
        if (p == NULL) {
            conn_kill(c);
            return;
        }
        s->scratch = p;
        s->scratch_cap = need;
    }
    int kind = http_route(&s->site->site, &s->req, head, s->scratch, s->scratch_cap, &s->route);
    struct http_route *rt = &s->route;
    if (rt->uri.len > 0 && status_http_path(pool_config(c->pool), rt->uri.p, rt->uri.len)) {
        /* ping.path, pm.status_path: a script of that name, answered by the master (status.c) */
        rt->kind = (uint8_t)(kind = HTTP_ROUTE_SCRIPT);
        rt->script_name = rt->document_uri = rt->filename = rt->uri;
        rt->path_info.p = rt->uri.p + rt->uri.len;
        rt->path_info.len = 0;
    }
    if (kind == HTTP_ROUTE_REDIRECT) {
        c->in_off += head_len;
        redirect_to_directory(c, head);
        return;
    }
    if (kind == HTTP_ROUTE_ERROR) {
        c->in_off += head_len;
        /* keep-alive only without a body: it is not read, and must not pass for a request */
        answer_simple(c, s->route.status, s->route.status == 404 && s->req.body == HTTP_BODY_NONE);
        return;
    }
    if (kind == HTTP_ROUTE_STATIC) {
        if (s->req.body != HTTP_BODY_NONE) {
            /* nginx answers a body sent to a static file with 405 */
            c->in_off += head_len;
            answer_simple(c, 405, 0);
            return;
        }
        /* Consumed first: a response done at once lets the next pipelined request in. */
        c->in_off += head_len;
        serve_static(c, head);
        return;
    }
    /* A script: keep the head (its spans are needed for the params after the body). */
    if (head_len > s->head_copy_cap) {
        uint8_t *p = realloc(s->head_copy, head_len);
        if (p == NULL) {
            conn_kill(c);
            return;
        }
        s->head_copy = p;
        s->head_copy_cap = (uint32_t)head_len;
    }
    memcpy(s->head_copy, head, head_len);
    /* The route's file names point into scratch, which stays put. */
    c->in_off += head_len;
    c->req = request_new(c, 1, 0, pool_body_spool(c->pool));
    if (c->req == NULL) {
        conn_kill(c);
        return;
    }
    if (s->req.body == HTTP_BODY_NONE) {
        submit_request(c, s->head_copy, 0);
        return;
    }
    s->stage = HS_BODY;
    s->body_left = s->req.content_length;
    if (s->req.body == HTTP_BODY_CHUNKED) http_chunked_init(&s->chunked, s->site->limits.max_body);
    if (s->req.expect_continue && c->in_len == c->in_off)
        conn_queue(c, CGI_RESPONSE_100_CONTINUE, sizeof(CGI_RESPONSE_100_CONTINUE) - 1);
    read_body(c);
}

static void http_input(struct conn *c)
{
    struct http_state *s = st(c);
    while (conn_can_parse(c) && c->in_off < c->in_len) {
        if (s->stage == HS_BODY) {
            read_body(c);
            return;
        }
        if (s->stage != HS_HEAD) {
            c->input_held = 1; /* pipelined bytes wait for the current response */
            return;
        }
        if (s->stage_ms == 0) s->stage_ms = clock_ms();
        ssize_t n = http_request_parse(&s->req, c->in + c->in_off, c->in_len - c->in_off);
        if (n == 0) return;
        if (n < 0) {
            log_notice("[pool %s] HTTP %d from %s: %s", pool_name(c->pool), s->req.status,
                       s->remote_addr, s->req.error ? s->req.error : "bad request");
            s->keep_alive = 0;
            s->is_head = 0;
            answer_simple(c, s->req.status ? s->req.status : 400, 0);
            return;
        }
        on_head(c, (size_t)n);
    }
}

/* ---- response side ---- */

static void response_complete(struct conn *c, int keep)
{
    struct http_state *s = st(c);
    keep = keep && s->keep_alive && !c->closing;
    s->stage = keep ? HS_HEAD : HS_DONE;
    s->stage_ms = 0;
    http_request_init(&s->req, s->headers, HTTP_MAX_HEADERS, &s->site->limits);
    conn_finish_request(c, c->req, keep);
}

/* The client sent FIN. While its request waits or runs that means it left (nginx answers 499
 * and drops the upstream request): the queued request is dropped, the running script sees the
 * abort. Unless it pipelined more requests first: like nginx, which looks for a FIN only past
 * the bytes it has not read, those are answered in turn before the close. */
static void http_eof(struct conn *c)
{
    if (c->req != NULL && c->in_off >= c->in_len) conn_kill(c);
}

static void send_head(struct conn *c, int64_t body_len)
{
    struct http_state *s = st(c);
    struct cgi_response_opts o = {
        .date = http_date(),
        .server = NULL,
        .body_len = body_len,
        .http_minor = s->http_minor,
        .head = s->is_head,
        .keep_alive = s->keep_alive,
        .keep_x_accel = 0,
    };
    uint8_t out[RESP_HDR_CAP + 1024];
    size_t n = cgi_response_head(&s->resp, &o, out, sizeof(out));
    if (n > sizeof(out)) {
        conn_kill(c);
        return;
    }
    conn_queue(c, out, n);
    s->head_sent = 1;
}

static void send_body(struct conn *c, const uint8_t *p, size_t len)
{
    struct http_state *s = st(c);
    uint8_t pre[CGI_BODY_PREFIX_MAX];
    size_t send = 0;
    size_t pl = cgi_response_body(&s->resp, len, pre, &send);
    if (pl) conn_queue(c, pre, pl);
    if (send) conn_queue(c, p, send);
}

#define MAX_PIECES 64

static void worker_failed_mid_response(struct conn *c)
{
    conn_kill(c);
}

static void http_worker_data(struct conn *c, struct buf *b)
{
    struct http_state *s = st(c);
    size_t off = 0;
    while (off < b->len && !c->dead && s->stage == HS_WORKER) {
        struct fcgi_piece pieces[MAX_PIECES];
        unsigned n = 0;
        ssize_t used = fcgi_relay_scan_pieces(&s->records, b->data + off, b->len - off, 1, pieces,
                                              MAX_PIECES, &n);
        int ended = s->records.ended;
        if (used < 0) {
            log_warning("[pool %s] malformed FastCGI record from a worker", pool_name(c->pool));
            if (!s->head_sent)
                answer_simple(c, 502, 0);
            else
                worker_failed_mid_response(c);
            break;
        }
        off += (size_t)used;
        for (unsigned i = 0; i < n && !c->dead; i++) {
            struct fcgi_piece *pc = &pieces[i];
            if (pc->type == FCGI_STDERR) {
                log_warning("[pool %s] FastCGI sent in stderr: \"%.*s\"", pool_name(c->pool),
                            (int)pc->len, (const char *)pc->p);
                continue;
            }
            if (pc->type != FCGI_STDOUT) continue;
            const uint8_t *p = pc->p;
            size_t len = pc->len;
            if (!s->head_sent) {
                ssize_t h = cgi_response_feed(&s->resp, p, len);
                if (h < 0) {
                    log_warning("[pool %s] bad CGI header block from a worker: %s",
                                pool_name(c->pool), s->resp.error ? s->resp.error : "");
                    answer_simple(c, 502, 0);
                    break;
                }
                if (!cgi_response_ready(&s->resp)) continue;
                p += h;
                len -= (size_t)h;
                /* The whole response in hand: send Content-Length instead of chunks. */
                int64_t body_len = -1;
                if (ended) {
                    body_len = (int64_t)len;
                    for (unsigned j = i + 1; j < n; j++)
                        if (pieces[j].type == FCGI_STDOUT) body_len += pieces[j].len;
                }
                send_head(c, body_len);
            }
            if (len > 0) send_body(c, p, len);
        }
        if (ended && !c->dead && s->stage == HS_WORKER) {
            if (!s->head_sent) {
                if (cgi_response_ready(&s->resp) || s->resp.hdr_len == 0) {
                    /* no output at all: an empty 200, as php-fpm behind nginx */
                    cgi_response_feed(&s->resp, (const uint8_t *)"\r\n", 2);
                }
                if (!cgi_response_ready(&s->resp)) {
                    answer_simple(c, 502, 0);
                    break;
                }
                send_head(c, 0);
            }
            uint8_t end[CGI_END_MAX];
            size_t el = cgi_response_end(&s->resp, end);
            if (el) conn_queue(c, end, el);
            s->stage = HS_DONE; /* until the pool says the request is over */
            break;
        }
    }
    buf_put(b);
}

static void http_request_done(struct conn *c, struct request *r)
{
    struct http_state *s = st(c);
    (void)r;
    int keep = s->stage == HS_DONE && s->resp.keep_alive;
    response_complete(c, keep);
}

static void http_request_failed(struct conn *c, struct request *r, int status)
{
    struct http_state *s = st(c);
    (void)r;
    if (s->head_sent) {
        worker_failed_mid_response(c);
        return;
    }
    uint8_t out[1024];
    size_t n = cgi_response_simple(out, sizeof(out), status, http_date(), s->keep_alive,
                                   s->is_head);
    if (n <= sizeof(out)) conn_queue(c, out, n);
    response_complete(c, 1);
}

/* ---- static files (see static_file.h) ---- */

static void http_file_sent(struct conn *c)
{
    if (st(c)->stage == HS_STATIC) response_complete(c, 1);
}

static void serve_static(struct conn *c, const uint8_t *head)
{
    struct http_state *s = st(c);
    if (s->req.method != HTTP_GET && s->req.method != HTTP_HEAD) {
        answer_simple(c, 405, 1);
        return;
    }
    struct static_request sr = {
        .root_fd = s->site->root_fd,
        .root = s->site->root,
        .filename = s->route.filename.p,
        .req = &s->req,
        .head = head,
        .keep_alive = s->keep_alive,
        .date = http_date(),
    };
    struct static_answer a;
    static_file_answer(&sr, &a);
    if (a.head_len == 0) {
        answer_simple(c, a.status, 1);
        return;
    }
    conn_queue(c, a.head, a.head_len);
    s->stage = HS_STATIC;
    if (a.fd < 0) {
        response_complete(c, 1);
        return;
    }
    c->input_held = 1;
    conn_send_file(c, a.fd, a.off, a.len);
}

/* Graceful stop: a request whose head or body is still arriving is refused now (lingering, so
 * the client reads the 503 rather than a reset); one already with a worker runs to its end. */
static void http_stop(struct conn *c)
{
    struct http_state *s = st(c);
    if (s->stage == HS_HEAD && c->in_len > c->in_off) {
        s->keep_alive = 0; /* the head's flags are the last request's */
        s->is_head = 0;
    } else if (s->stage != HS_BODY) {
        return;
    }
    answer_simple(c, 503, 0);
}

/* ---- timeouts ---- */

static void http_tick(struct conn *c, uint64_t now)
{
    struct http_state *s = st(c);
    const struct http_site_ctx *site = s->site;
    if (s->stage == HS_HEAD) {
        if (c->in_len > c->in_off && s->stage_ms && site->header_ms > 0 &&
            now - s->stage_ms >= (uint64_t)site->header_ms) {
            /* Slow or stalled head (slowloris): 408 and close. */
            s->keep_alive = 0;
            answer_simple(c, 408, 0);
        } else if (c->in_len == c->in_off && site->keepalive_ms > 0 && !c->sending &&
                   c->out.head == NULL &&
                   now - c->last_active_ms >= (uint64_t)site->keepalive_ms) {
            conn_kill(c);
        }
    } else if (s->stage == HS_BODY && site->body_ms > 0 &&
               now - c->last_active_ms >= (uint64_t)site->body_ms) {
        s->keep_alive = 0;
        answer_simple(c, 408, 0);
    }
}

const struct conn_proto http_conn_proto = {
    .name = "http",
    .on_input = http_input,
    .on_eof = http_eof,
    .on_worker_data = http_worker_data,
    .on_request_done = http_request_done,
    .on_request_failed = http_request_failed,
    .on_file_sent = http_file_sent,
    .on_stop = http_stop,
    .on_tick = http_tick,
    .on_free = http_free,
};
