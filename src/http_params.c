/* Routing and CGI/1.1 variables for HTTP requests: see http_params.h. */
#include "http_params.h"

#include "fcgi.h"
#include "version.h"

#include <string.h>
#include <strings.h>

#define SERVER_SOFTWARE "phpmgr/" PHPMGR_VERSION_STRING

static int hex_val(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

ssize_t http_path_normalize(const uint8_t *in, size_t len, char *out, size_t cap)
{
    if (len == 0 || in[0] != '/' || cap == 0) return -1;
    size_t o = 0, seg, i = 1;
    out[o++] = '/';
    seg = o; /* start of the current segment in out */
    for (;;) {
        int c = -1; /* -1: end of input */
        if (i < len) {
            c = in[i++];
            if (c == '%') {
                int h, l;
                if (len - i < 2 || (h = hex_val(in[i])) < 0 || (l = hex_val(in[i + 1])) < 0)
                    return -1;
                c = h << 4 | l;
                i += 2;
            }
            if (c == 0) return -1; /* raw or decoded NUL */
        }
        if (c != '/' && c != -1) {
            if (o >= cap) return -1;
            out[o++] = (char)c;
            continue;
        }
        /* A segment ended: resolve "." and "..". */
        size_t sl = o - seg;
        if (sl == 1 && out[seg] == '.') {
            o = seg;
        } else if (sl == 2 && out[seg] == '.' && out[seg + 1] == '.') {
            if (seg == 1) return -1; /* above the root */
            size_t k = seg - 1;      /* the '/' before ".." */
            while (k > 0 && out[k - 1] != '/')
                k--;
            o = seg = k;
        }
        if (c == -1) break;
        if (o == seg) continue; /* empty segment: "//" merged */
        if (o >= cap) return -1;
        out[o++] = '/';
        seg = o;
    }
    return (ssize_t)o;
}

/* Length of the script part of uri: the first "X.php" followed by '/' (with path_info) or ending
 * the path, as `location ~ [^/]\.php(/|$)` + `fastcgi_split_path_info ^(.+?\.php)(/.*)$`; 0 when
 * the path names no PHP script. */
static size_t php_script_len(const char *uri, size_t n, int path_info)
{
    for (size_t k = 1; k + 4 <= n; k++) {
        const char *dot = memchr(uri + k, '.', n - k - 3);
        if (!dot) return 0;
        k = (size_t)(dot - uri);
        if (k + 4 > n) return 0;
        if (memcmp(dot, ".php", 4) != 0 || uri[k - 1] == '/') continue;
        if (k + 4 == n) return n;
        if (path_info && uri[k + 4] == '/') return k + 4;
    }
    return 0;
}

static int contains_ci(const char *s, size_t n, const char *lower)
{
    size_t ln = strlen(lower);
    for (size_t i = 0; i + ln <= n; i++) {
        size_t k = 0;
        while (k < ln &&
               (s[i + k] >= 'A' && s[i + k] <= 'Z' ? s[i + k] | 0x20 : s[i + k]) == lower[k])
            k++;
        if (k == ln) return 1;
    }
    return 0;
}

/* Static files are never dotfiles (a segment starting with '.': .env, .git/...) nor PHP source in
 * any spelling (x.PHP, x.php.bak, x.phtml, x.phar). */
static int static_allowed(const char *uri, size_t n)
{
    size_t last = 0;
    for (size_t i = 0; i < n; i++) {
        if (uri[i] != '/') continue;
        if (i + 1 < n && uri[i + 1] == '.') return 0;
        last = i + 1;
    }
    const char *seg = uri + last;
    size_t sl = n - last;
    return !contains_ci(seg, sl, ".php") && !contains_ci(seg, sl, ".phtml") &&
           !contains_ci(seg, sl, ".phar");
}

/* scratch allocator */
struct scratch {
    char *p;
    size_t cap, len;
};

/* Concatenate up to three strings into scratch, NUL-terminated. NULL when it does not fit. */
static char *cat3(struct scratch *s, const char *a, size_t al, const char *b, size_t bl,
                  const char *c, size_t cl, size_t *out_len)
{
    size_t need = al + bl + cl + 1;
    if (need > s->cap - s->len) return NULL;
    char *d = s->p + s->len;
    if (al) memcpy(d, a, al);
    if (bl) memcpy(d + al, b, bl);
    if (cl) memcpy(d + al + bl, c, cl);
    d[al + bl + cl] = 0;
    s->len += need;
    *out_len = need - 1;
    return d;
}

static int file_kind(const struct http_site *site, const char *path, size_t len)
{
    return site->stat(site->stat_ctx, path, len);
}

static int route_error(struct http_route *rt, uint16_t status)
{
    rt->kind = HTTP_ROUTE_ERROR;
    rt->status = status;
    return rt->kind;
}

int http_route(const struct http_site *site, const struct http_request *req, const uint8_t *buf,
               char *scratch, size_t cap, struct http_route *rt)
{
    memset(rt, 0, sizeof *rt);
    struct scratch s = {scratch, cap, 0};
    const struct http_str *root = &site->document_root;
    if (req->form == HTTP_FORM_ASTERISK) return route_error(rt, 404);

    /* $uri */
    ssize_t ul;
    if (req->path.len == 0) { /* "http://host" or "http://host?q" */
        if (cap < 1) return route_error(rt, 414);
        scratch[0] = '/';
        ul = 1;
    } else {
        ul = http_path_normalize(buf + req->path.off, req->path.len, scratch, cap);
        if (ul < 0) return route_error(rt, req->path.len > cap ? 414 : 400);
    }
    const char *uri = scratch;
    size_t n = (size_t)ul;
    s.len = n;
    rt->uri.p = uri;
    rt->uri.len = n;

    size_t fl;
    char *file;
    size_t k = php_script_len(uri, n, site->path_info);
    if (k) {
        /* A PHP script, with what follows it as PATH_INFO. */
        file = cat3(&s, root->p, root->len, uri, k, NULL, 0, &fl);
        if (!file) return route_error(rt, 414);
        if (!site->stat || file_kind(site, file, fl) == HTTP_FILE_REGULAR) {
            rt->kind = HTTP_ROUTE_SCRIPT;
            rt->script_name.p = uri;
            rt->script_name.len = k;
            rt->path_info.p = uri + k;
            rt->path_info.len = n - k;
            rt->document_uri = rt->uri;
            rt->filename.p = file;
            rt->filename.len = fl;
            return rt->kind;
        }
        s.len = n;
    } else if (uri[n - 1] == '/' && site->stat) {
        /* A directory: its index script when there is one (nginx's index module). The script's
         * name (uri + index) is the tail of its file name: one copy, so the documented scratch
         * size suffices. Never a redirect here (that would be "/dir/" -> "/dir//"). */
        if (site->index.len) {
            file = cat3(&s, root->p, root->len, uri, n, site->index.p, site->index.len, &fl);
            if (!file) return route_error(rt, 414);
            if (file_kind(site, file, fl) == HTTP_FILE_REGULAR) {
                rt->kind = HTTP_ROUTE_SCRIPT;
                rt->script_name.p = rt->document_uri.p = file + root->len;
                rt->script_name.len = rt->document_uri.len = fl - root->len;
                rt->path_info.p = file + fl;
                rt->filename.p = file;
                rt->filename.len = fl;
                return rt->kind;
            }
        }
        /* then index.html, as nginx's "index index.php index.html" */
        s.len = n;
        if (site->static_files && static_allowed(uri, n)) {
            file = cat3(&s, root->p, root->len, uri, n, "index.html", 10, &fl);
            if (!file) return route_error(rt, 414); /* never a silently different route */
            if (file_kind(site, file, fl) == HTTP_FILE_REGULAR) {
                rt->kind = HTTP_ROUTE_STATIC;
                rt->document_uri = rt->uri;
                rt->filename.p = file;
                rt->filename.len = fl;
                return rt->kind;
            }
        }
        s.len = n;
    } else if (site->static_files && site->stat && static_allowed(uri, n)) {
        /* try_files $uri */
        file = cat3(&s, root->p, root->len, uri, n, NULL, 0, &fl);
        if (!file) return route_error(rt, 414);
        int kind = file_kind(site, file, fl);
        if (kind == HTTP_FILE_REGULAR) {
            rt->kind = HTTP_ROUTE_STATIC;
            rt->document_uri = rt->uri;
            rt->filename.p = file;
            rt->filename.len = fl;
            return rt->kind;
        }
        if (kind == HTTP_FILE_DIR) {
            rt->kind = HTTP_ROUTE_REDIRECT;
            rt->status = 301;
            return rt->kind;
        }
        s.len = n;
    }

    /* The front controller: /index.php?$query_string */
    if (!site->index.len) return route_error(rt, 404);
    size_t nl;
    char *name = cat3(&s, "/", 1, site->index.p, site->index.len, NULL, 0, &nl);
    if (!name) return route_error(rt, 414);
    file = cat3(&s, root->p, root->len, name, nl, NULL, 0, &fl);
    if (!file) return route_error(rt, 414);
    rt->kind = HTTP_ROUTE_SCRIPT;
    rt->script_name.p = rt->document_uri.p = name;
    rt->script_name.len = rt->document_uri.len = nl;
    rt->path_info.p = name + nl;
    rt->filename.p = file;
    rt->filename.len = fl;
    return rt->kind;
}

/* ---------------------------------------------------------------------------------------------
 * FastCGI params */

struct out {
    uint8_t *p;
    size_t cap, len;
};

static void pair(struct out *w, const char *name, size_t nl, const void *value, size_t vl)
{
    size_t room = w->len < w->cap ? w->cap - w->len : 0;
    w->len += fcgi_nv_encode(room ? w->p + w->len : NULL, room, name, nl, (const char *)value, vl);
}

#define PAIR(w, lit, v, vl) pair(w, lit, sizeof(lit) - 1, v, vl)
#define PAIR_S(w, lit, str) pair(w, lit, sizeof(lit) - 1, (str).p, (str).len)

static int b64_val(uint8_t c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* nginx's $remote_user: the user name of an "Authorization: Basic" header (whether or not any
 * authentication is configured). Returns its length in out, 0 when there is none. */
static size_t basic_auth_user(const struct http_request *req, const uint8_t *buf, char *out,
                              size_t cap)
{
    int h = http_header_find(req, buf, "Authorization", 13);
    if (h < 0) return 0;
    const uint8_t *v = buf + req->headers[h].value.off;
    size_t len = req->headers[h].value.len;
    if (len < 6 || strncasecmp((const char *)v, "basic ", 6) != 0) return 0;
    size_t i = 6, n = 0;
    while (i < len && v[i] == ' ') i++;
    unsigned acc = 0;
    int bits = 0;
    for (; i < len && v[i] != '='; i++) {
        int d = b64_val(v[i]);
        if (d < 0) return 0;
        acc = (acc << 6) | (unsigned)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            char ch = (char)((acc >> bits) & 0xff);
            if (ch == ':') return n;
            if (n + 1 >= cap || ch == '\0') return 0;
            out[n++] = ch;
        }
    }
    return 0; /* no ':' separator: not a valid credential */
}

static void put(struct out *w, const void *s, size_t n)
{
    if (w->len <= w->cap && n <= w->cap - w->len && n) memcpy(w->p + w->len, s, n);
    w->len += n;
}

/* FastCGI name-value length: 1 byte below 128, else 4 bytes with the top bit set. */
static void put_nv_len(struct out *w, size_t n)
{
    uint8_t b[4];
    if (n < 128) {
        b[0] = (uint8_t)n;
        put(w, b, 1);
    } else {
        b[0] = (uint8_t)(0x80 | (n >> 24));
        b[1] = (uint8_t)(n >> 16);
        b[2] = (uint8_t)(n >> 8);
        b[3] = (uint8_t)n;
        put(w, b, 4);
    }
}

/* A passable name (letters, digits, '-') equal to a lowercase literal, ignoring case. */
static int name_eq(const uint8_t *p, size_t n, const char *lower, size_t ln)
{
    if (n != ln) return 0;
    for (size_t i = 0; i < n; i++)
        if ((p[i] | 0x20) != (uint8_t)lower[i]) return 0;
    return 1;
}

#define name_is(p, n, lit) name_eq(p, n, lit, sizeof(lit) - 1)

static int same_name(const uint8_t *buf, const struct http_header *a, const struct http_header *b)
{
    size_t n = a->name.len;
    if (n != b->name.len) return 0;
    const uint8_t *x = buf + a->name.off, *y = buf + b->name.off;
    for (size_t i = 0; i < n; i++)
        if ((x[i] | 0x20) != (y[i] | 0x20)) return 0; /* letters, digits, '-' only */
    return 1;
}

/* Room for n bytes at the end of the output, or NULL once it no longer fits (the length still
 * grows, so the caller learns the size needed). */
static uint8_t *reserve(struct out *w, size_t n)
{
    uint8_t *p = w->len <= w->cap && n <= w->cap - w->len ? w->p + w->len : NULL;
    w->len += n;
    return p;
}

/* Bucket of a header name for duplicate detection: names in different buckets differ. */
static unsigned name_bucket(const uint8_t *p, size_t n)
{
    return (unsigned)(n * 7 + (p[n - 1] | 0x20) * 3 + (p[n / 2] | 0x20)) & 255;
}

/* HTTP_* spelling of a header name character: letters upper case, digits, '-' as '_'; 0 for
 * every other character (nginx drops such headers). */
static const uint8_t cgi_char[256] = {
    ['-'] = '_', ['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4', ['5'] = '5',
    ['6'] = '6', ['7'] = '7', ['8'] = '8', ['9'] = '9', ['A'] = 'A', ['B'] = 'B', ['C'] = 'C',
    ['D'] = 'D', ['E'] = 'E', ['F'] = 'F', ['G'] = 'G', ['H'] = 'H', ['I'] = 'I', ['J'] = 'J',
    ['K'] = 'K', ['L'] = 'L', ['M'] = 'M', ['N'] = 'N', ['O'] = 'O', ['P'] = 'P', ['Q'] = 'Q',
    ['R'] = 'R', ['S'] = 'S', ['T'] = 'T', ['U'] = 'U', ['V'] = 'V', ['W'] = 'W', ['X'] = 'X',
    ['Y'] = 'Y', ['Z'] = 'Z', ['a'] = 'A', ['b'] = 'B', ['c'] = 'C', ['d'] = 'D', ['e'] = 'E',
    ['f'] = 'F', ['g'] = 'G', ['h'] = 'H', ['i'] = 'I', ['j'] = 'J', ['k'] = 'K', ['l'] = 'L',
    ['m'] = 'M', ['n'] = 'N', ['o'] = 'O', ['p'] = 'P', ['q'] = 'Q', ['r'] = 'R', ['s'] = 'S',
    ['t'] = 'T', ['u'] = 'U', ['v'] = 'V', ['w'] = 'W', ['x'] = 'X', ['y'] = 'Y', ['z'] = 'Z',
};

static void http_vars(struct out *w, const struct http_request *req, const uint8_t *buf)
{
    const struct http_header *hs = req->headers;
    /* Most requests repeat no header name: mark the buckets used once and twice first, so that
     * only names sharing a bucket pay for pairwise comparison. */
    uint64_t once[4] = {0, 0, 0, 0}, twice[4] = {0, 0, 0, 0};
    for (unsigned i = 0; i < req->nheaders; i++) {
        unsigned b = name_bucket(buf + hs[i].name.off, hs[i].name.len);
        uint64_t bit = 1ULL << (b & 63);
        twice[b >> 6] |= once[b >> 6] & bit;
        once[b >> 6] |= bit;
    }
    for (unsigned i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &hs[i];
        const uint8_t *name = buf + h->name.off;
        size_t nl = h->name.len;
        if (name_is(name, nl, "proxy")) continue; /* httpoxy: no HTTP_PROXY */
        size_t vl = h->value.len;
        int dups = 0;
        unsigned b = name_bucket(name, nl);
        if (twice[b >> 6] >> (b & 63) & 1) {
            int seen = 0;
            for (unsigned j = 0; j < i && !seen; j++)
                seen = same_name(buf, &hs[j], h);
            if (seen) continue; /* joined into the first line of that name */
            for (unsigned j = i + 1; j < req->nheaders; j++)
                if (same_name(buf, &hs[j], h)) {
                    vl += 2 + hs[j].value.len;
                    dups = 1;
                }
        }
        /* Write the pair's lengths and name, checking the name as it is spelled out; a name
         * nginx would drop is taken back out. (A repeated name is as passable as its first line,
         * so the duplicate scans above never join a passable name with a dropped one.) */
        size_t start = w->len;
        put_nv_len(w, 5 + nl);
        put_nv_len(w, vl);
        uint8_t *d = reserve(w, 5 + nl);
        uint8_t bad = 0;
        if (d) {
            memcpy(d, "HTTP_", 5);
            for (size_t k = 0; k < nl; k++) {
                uint8_t c = cgi_char[name[k]];
                d[5 + k] = c;
                bad |= c == 0;
            }
        } else {
            for (size_t k = 0; k < nl; k++)
                bad |= cgi_char[name[k]] == 0;
        }
        if (bad) {
            w->len = start;
            continue;
        }
        put(w, buf + h->value.off, h->value.len);
        if (!dups) continue;
        const char *sep = name_is(name, nl, "cookie") ? "; " : ", ";
        for (unsigned j = i + 1; j < req->nheaders; j++) {
            if (!same_name(buf, &hs[j], h)) continue;
            put(w, sep, 2);
            put(w, buf + hs[j].value.off, hs[j].value.len);
        }
    }
}

size_t http_params_encode(uint8_t *out, size_t cap, const struct http_site *site,
                          const struct http_conn_info *conn, const struct http_request *req,
                          const uint8_t *buf, const struct http_route *rt, uint64_t chunked_len)
{
    struct out w = {out, cap, 0};
    static const struct http_str empty = {"", 0};

    PAIR_S(&w, "PATH_INFO", rt->path_info);
    PAIR_S(&w, "SCRIPT_FILENAME", rt->filename);
    PAIR(&w, "QUERY_STRING", buf + req->query.off, req->query.len);
    PAIR(&w, "REQUEST_METHOD", buf + req->method_name.off, req->method_name.len);
    if (req->content_type >= 0) {
        const struct http_header *h = &req->headers[req->content_type];
        PAIR(&w, "CONTENT_TYPE", buf + h->value.off, h->value.len);
    } else {
        PAIR_S(&w, "CONTENT_TYPE", empty);
    }
    if (req->body == HTTP_BODY_CHUNKED) {
        char num[20];
        size_t nn = 0;
        uint64_t v = chunked_len;
        do {
            num[sizeof num - ++nn] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        PAIR(&w, "CONTENT_LENGTH", num + sizeof num - nn, nn);
    } else if (req->content_length_hdr >= 0) {
        const struct http_header *h = &req->headers[req->content_length_hdr];
        PAIR(&w, "CONTENT_LENGTH", buf + h->value.off, h->value.len);
    } else {
        PAIR_S(&w, "CONTENT_LENGTH", empty);
    }
    PAIR_S(&w, "SCRIPT_NAME", rt->script_name);

    /* REQUEST_URI: as sent ($request_uri); absolute-form gives its path and query. */
    if (req->form == HTTP_FORM_ABSOLUTE && (req->uri.len == 0 || buf[req->uri.off] != '/')) {
        /* "/" + uri: the name, then a value that starts with the missing '/' */
        put_nv_len(&w, 11);
        put_nv_len(&w, 1 + req->uri.len);
        put(&w, "REQUEST_URI/", 12);
        put(&w, buf + req->uri.off, req->uri.len);
    } else {
        PAIR(&w, "REQUEST_URI", buf + req->uri.off, req->uri.len);
    }
    PAIR_S(&w, "DOCUMENT_URI", rt->document_uri);
    PAIR_S(&w, "DOCUMENT_ROOT", site->document_root);
    PAIR(&w, "SERVER_PROTOCOL", req->version_minor ? "HTTP/1.1" : "HTTP/1.0", 8);
    if (conn->https) {
        PAIR(&w, "REQUEST_SCHEME", "https", 5);
        PAIR(&w, "HTTPS", "on", 2);
    } else {
        PAIR(&w, "REQUEST_SCHEME", "http", 4);
    }
    PAIR(&w, "GATEWAY_INTERFACE", "CGI/1.1", 7);
    PAIR(&w, "SERVER_SOFTWARE", SERVER_SOFTWARE, sizeof SERVER_SOFTWARE - 1);
    PAIR_S(&w, "REMOTE_ADDR", conn->remote_addr);
    PAIR_S(&w, "REMOTE_PORT", conn->remote_port);
    char user[256];
    struct http_str ru = {user, basic_auth_user(req, buf, user, sizeof(user))};
    PAIR_S(&w, "REMOTE_USER", ru);
    PAIR_S(&w, "SERVER_ADDR", conn->server_addr);
    PAIR_S(&w, "SERVER_PORT", conn->server_port);
    PAIR_S(&w, "SERVER_NAME", site->server_name);
    PAIR(&w, "REDIRECT_STATUS", "200", 3);
    http_vars(&w, req, buf);
    return w.len;
}
