/* libFuzzer target for src/http_params.c (links src/http.c and src/fcgi.c). The first two bytes
 * choose the site's options, the connection's scheme, the chunked length and a smaller buffer
 * size; the rest is parsed as a request head with src/http.c. An accepted head is routed against a
 * fixed site (document root ROOT, a stat callback answering from the in-memory tree below, never
 * the filesystem) with the scratch size http_params.h says always suffices, and again with a
 * smaller one, which must give 414 or the same route. Paths asked of the stat callback and file
 * names routed to stay lexically under ROOT (no "." / ".." segment, no "//"); static files are
 * never dotfiles or PHP source. A script route's params are encoded into a buffer of exactly the
 * size reported and into a smaller one with guard bytes after it: the size never changes, nothing
 * is written past the size given, and the encoding decodes with fcgi_nv_next into the documented
 * variables in order (SCRIPT_FILENAME the routed file under ROOT, REQUEST_URI the request target as
 * sent, ...) followed by the HTTP_* variables a simple model of nginx's header rules predicts.
 * Any violated invariant aborts. */
#include "fcgi.h"
#include "http.h"
#include "http_params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define NHDR 32
#define ROOT "/srv/www"
#define ROOT_LEN (sizeof ROOT - 1)
#define INDEX "index.php"

/* The document root's tree, relative to ROOT. */
static const struct {
    const char *path;
    int kind;
} tree[] = {
    {"/index.php", HTTP_FILE_REGULAR},
    {"/info.php", HTTP_FILE_REGULAR},
    {"/app", HTTP_FILE_DIR},
    {"/app/index.php", HTTP_FILE_REGULAR},
    {"/app/x.php", HTTP_FILE_REGULAR},
    {"/img", HTTP_FILE_DIR},
    {"/img/logo.png", HTTP_FILE_REGULAR},
    {"/docs", HTTP_FILE_DIR},
    {"/docs/index.html", HTTP_FILE_REGULAR},
    {"/empty", HTTP_FILE_DIR},
    {"/dir.php", HTTP_FILE_DIR},
    {"/dir.php/index.php", HTTP_FILE_REGULAR},
    {"/style.css", HTTP_FILE_REGULAR},
    {"/a.php.bak", HTTP_FILE_REGULAR},
    {"/x.PHP", HTTP_FILE_REGULAR},
    {"/.env", HTTP_FILE_REGULAR},
    {"/.git", HTTP_FILE_DIR},
    {"/.git/config", HTTP_FILE_REGULAR},
    {"/sub dir", HTTP_FILE_DIR},
    {"/sub dir/f%.txt", HTTP_FILE_REGULAR},
    {"/caf\xc3\xa9.php", HTTP_FILE_REGULAR},
    {"/fifo", HTTP_FILE_OTHER},
};

static const char *scratch_lo, *scratch_hi; /* the scratch buffer of the route being checked */

static int tree_kind(const char *rel, size_t len)
{
    for (size_t i = 0; i < sizeof tree / sizeof tree[0]; i++)
        if (strlen(tree[i].path) == len && memcmp(tree[i].path, rel, len) == 0) return tree[i].kind;
    return HTTP_FILE_NONE;
}

/* A path under ROOT with no empty (but, with trailing_slash, the last), "." or ".." segment. */
static int under_root(const char *p, size_t len, int trailing_slash)
{
    if (len <= ROOT_LEN + 1 || memcmp(p, ROOT "/", ROOT_LEN + 1) != 0) return 0;
    if (memchr(p, 0, len)) return 0;
    size_t i = ROOT_LEN;
    while (i < len) { /* p[i] == '/' */
        size_t j = i + 1;
        while (j < len && p[j] != '/')
            j++;
        size_t sl = j - i - 1;
        if (sl == 0 && !(trailing_slash && j == len)) return 0;
        if (sl == 1 && p[i + 1] == '.') return 0;
        if (sl == 2 && p[i + 1] == '.' && p[i + 2] == '.') return 0;
        i = j;
    }
    return 1;
}

static int fake_stat(void *ctx, const char *path, size_t len)
{
    REQUIRE(ctx == (void *)tree);
    REQUIRE(path >= scratch_lo && path + len < scratch_hi); /* NUL inside scratch too */
    REQUIRE(path[len] == 0 && strlen(path) == len);
    REQUIRE(under_root(path, len, 1)); /* "dir/" for try_files without an index */
    return tree_kind(path + ROOT_LEN, len - ROOT_LEN);
}

static int str_eq(struct http_str s, const void *p, size_t len)
{
    return s.len == len && (len == 0 || memcmp(s.p, p, len) == 0);
}

static int str_same(struct http_str a, struct http_str b)
{
    return str_eq(a, b.p, b.len);
}

/* s empty, or inside the scratch buffer or one of the site's strings. */
static int str_in(struct http_str s, const struct http_site *site)
{
    if (s.len == 0) return 1;
    if (s.p >= scratch_lo && s.p + s.len <= scratch_hi) return 1;
    const struct http_str *own[] = {&site->document_root, &site->index, &site->server_name};
    for (int i = 0; i < 3; i++)
        if (s.p >= own[i]->p && s.p + s.len <= own[i]->p + own[i]->len) return 1;
    return 0;
}

static int has_ci(const char *s, size_t n, const char *lower)
{
    size_t ln = strlen(lower);
    for (size_t i = 0; i + ln <= n; i++)
        if (strncasecmp(s + i, lower, ln) == 0) return 1;
    return 0;
}

/* The normalised path: '/', no empty, "." or ".." segment (a trailing '/' is kept), no NUL. */
static void check_uri(struct http_str u)
{
    REQUIRE(u.len >= 1 && u.p[0] == '/');
    REQUIRE(memchr(u.p, 0, u.len) == NULL);
    for (size_t i = 0; i < u.len;) {
        size_t j = i + 1;
        while (j < u.len && u.p[j] != '/')
            j++;
        size_t sl = j - i - 1;
        REQUIRE(sl > 0 || j == u.len); /* only the last segment may be empty */
        REQUIRE(!(sl == 1 && u.p[i + 1] == '.'));
        REQUIRE(!(sl == 2 && u.p[i + 1] == '.' && u.p[i + 2] == '.'));
        i = j;
    }
}

struct routed {
    int kind;
    uint16_t status;
    struct http_route rt;
};

static void check_route(const struct http_site *site, const struct http_request *req,
                        const uint8_t *buf, const struct http_route *rt, int kind)
{
    REQUIRE(kind == rt->kind);
    REQUIRE(str_in(rt->uri, site) && str_in(rt->script_name, site) && str_in(rt->path_info, site) &&
            str_in(rt->document_uri, site) && str_in(rt->filename, site));
    int has_index = site->index.len != 0;
    switch (kind) {
    case HTTP_ROUTE_ERROR: {
        REQUIRE(rt->status == 400 || rt->status == 404 || rt->status == 414);
        /* with the documented scratch size, never 414 */
        REQUIRE(rt->status != 414);
        if (req->form == HTTP_FORM_ASTERISK) {
            REQUIRE(rt->status == 404);
            return;
        }
        char *tmp = malloc(req->path.len + 1);
        if (!tmp) abort();
        ssize_t nl = req->path.len ? http_path_normalize(buf + req->path.off, req->path.len, tmp,
                                                         req->path.len + 1)
                                   : 1;
        free(tmp);
        /* 400 exactly when the path does not normalise; 404 only without a front controller */
        REQUIRE((rt->status == 400) == (nl < 0));
        if (rt->status == 404) REQUIRE(!has_index);
        return;
    }
    case HTTP_ROUTE_REDIRECT:
        REQUIRE(rt->status == 301 && site->static_files && site->stat);
        check_uri(rt->uri);
        REQUIRE(rt->uri.p[rt->uri.len - 1] != '/');
        REQUIRE(tree_kind(rt->uri.p, rt->uri.len) == HTTP_FILE_DIR);
        return;
    case HTTP_ROUTE_STATIC: {
        REQUIRE(site->static_files && site->stat);
        REQUIRE(req->form != HTTP_FORM_ASTERISK);
        check_uri(rt->uri);
        struct http_str f = rt->filename;
        REQUIRE(f.p[f.len] == 0 && under_root(f.p, f.len, 0));
        REQUIRE(tree_kind(f.p + ROOT_LEN, f.len - ROOT_LEN) == HTTP_FILE_REGULAR);
        /* never a dotfile, never PHP source */
        REQUIRE(memmem(f.p + ROOT_LEN, f.len - ROOT_LEN, "/.", 2) == NULL);
        const char *last = memrchr(f.p, '/', f.len) + 1;
        size_t ll = (size_t)(f.p + f.len - last);
        REQUIRE(!has_ci(last, ll, ".php") && !has_ci(last, ll, ".phtml") &&
                !has_ci(last, ll, ".phar"));
        REQUIRE(str_same(rt->document_uri, rt->uri));
        return;
    }
    case HTTP_ROUTE_SCRIPT: {
        REQUIRE(req->form != HTTP_FORM_ASTERISK);
        check_uri(rt->uri);
        struct http_str f = rt->filename;
        REQUIRE(f.p[f.len] == 0 && under_root(f.p, f.len, 0));
        REQUIRE(f.len >= ROOT_LEN + 5 && memcmp(f.p + f.len - 4, ".php", 4) == 0);
        if (site->stat) REQUIRE(tree_kind(f.p + ROOT_LEN, f.len - ROOT_LEN) == HTTP_FILE_REGULAR);
        /* SCRIPT_FILENAME = document root + SCRIPT_NAME */
        REQUIRE(str_eq(rt->script_name, f.p + ROOT_LEN, f.len - ROOT_LEN));
        if (rt->script_name.len + rt->path_info.len == rt->uri.len &&
            memcmp(rt->script_name.p, rt->uri.p, rt->script_name.len) == 0 &&
            str_eq(rt->path_info, rt->uri.p + rt->script_name.len, rt->path_info.len)) {
            /* the path names the script, what follows is PATH_INFO */
            REQUIRE(str_same(rt->document_uri, rt->uri));
            if (rt->path_info.len) REQUIRE(site->path_info && rt->path_info.p[0] == '/');
        } else {
            /* the directory's index script or the front controller */
            REQUIRE(has_index && rt->path_info.len == 0);
            REQUIRE(str_same(rt->document_uri, rt->script_name));
            size_t sl = rt->script_name.len, il = site->index.len;
            REQUIRE(sl > il && memcmp(rt->script_name.p + sl - il, site->index.p, il) == 0);
            REQUIRE(rt->script_name.p[sl - il - 1] == '/');
            if (sl != il + 1) /* not the front controller: uri + index */
                REQUIRE(str_eq(rt->uri, rt->script_name.p, sl - il));
        }
        return;
    }
    default:
        REQUIRE(0);
    }
}

/* Header names nginx passes: letters, digits and '-'. */
static int passable(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return 0;
    }
    return 1;
}

static int hname_eq(const uint8_t *buf, const struct http_header *a, const struct http_header *b)
{
    return a->name.len == b->name.len &&
           strncasecmp((const char *)buf + a->name.off, (const char *)buf + b->name.off,
                       a->name.len) == 0;
}

struct nv {
    const uint8_t *name, *value;
    uint32_t nl, vl;
};

static int nv_is(const struct nv *p, const char *name)
{
    return p->nl == strlen(name) && memcmp(p->name, name, p->nl) == 0;
}

static int nv_val(const struct nv *p, const void *v, size_t vl)
{
    return p->vl == vl && (vl == 0 || memcmp(p->value, v, vl) == 0);
}

/* The next pair, which must be named name. */
static const struct nv *next_pair(const struct nv *pairs, size_t np, size_t *i, const char *name)
{
    REQUIRE(*i < np && nv_is(&pairs[*i], name));
    return &pairs[(*i)++];
}

static void check_params(const uint8_t *out, size_t len, const struct http_site *site,
                         const struct http_conn_info *conn, const struct http_request *req,
                         const uint8_t *buf, const struct http_route *rt, uint64_t chunked_len)
{
    static struct nv pairs[64 + NHDR];
    size_t np = 0;
    const uint8_t *pos = out, *end = out + len;
    for (;;) {
        struct nv p;
        int rc = fcgi_nv_next(&pos, end, &p.name, &p.nl, &p.value, &p.vl);
        REQUIRE(rc >= 0);
        if (rc == 0) break;
        REQUIRE(np < sizeof pairs / sizeof pairs[0]);
        pairs[np++] = p;
    }
    REQUIRE(pos == end);

    size_t i = 0;
#define NEXT(name) next_pair(pairs, np, &i, name)
    REQUIRE(nv_val(NEXT("PATH_INFO"), rt->path_info.p, rt->path_info.len));
    const struct nv *sf = NEXT("SCRIPT_FILENAME");
    REQUIRE(nv_val(sf, rt->filename.p, rt->filename.len));
    REQUIRE(under_root((const char *)sf->value, sf->vl, 0));
    REQUIRE(memmem(sf->value, sf->vl, "/../", 4) == NULL);
    REQUIRE(nv_val(NEXT("QUERY_STRING"), buf + req->query.off, req->query.len));
    REQUIRE(nv_val(NEXT("REQUEST_METHOD"), buf + req->method_name.off, req->method_name.len));
    const struct nv *ct = NEXT("CONTENT_TYPE");
    if (req->content_type >= 0) {
        const struct http_span *v = &req->headers[req->content_type].value;
        REQUIRE(nv_val(ct, buf + v->off, v->len));
    } else {
        REQUIRE(ct->vl == 0);
    }
    const struct nv *cl = NEXT("CONTENT_LENGTH");
    if (req->body == HTTP_BODY_CHUNKED) {
        char num[24];
        int nn = snprintf(num, sizeof num, "%llu", (unsigned long long)chunked_len);
        REQUIRE(nv_val(cl, num, (size_t)nn));
    } else if (req->content_length_hdr >= 0) {
        const struct http_span *v = &req->headers[req->content_length_hdr].value;
        REQUIRE(nv_val(cl, buf + v->off, v->len));
    } else {
        REQUIRE(cl->vl == 0);
    }
    REQUIRE(nv_val(NEXT("SCRIPT_NAME"), rt->script_name.p, rt->script_name.len));
    /* REQUEST_URI: the request target as sent; for absolute-form its path and query (the part
     * after "scheme://authority", with a '/' in front when that part is empty or "?query"). */
    const struct nv *ru = NEXT("REQUEST_URI");
    const uint8_t *tgt = buf + req->target.off;
    if (req->form == HTTP_FORM_ABSOLUTE) {
        REQUIRE(req->uri.off + req->uri.len == req->target.off + req->target.len);
        const uint8_t *u = buf + req->uri.off;
        if (req->uri.len && u[0] == '/') {
            REQUIRE(nv_val(ru, u, req->uri.len));
        } else {
            REQUIRE(ru->vl == 1 + req->uri.len && ru->value[0] == '/' &&
                    memcmp(ru->value + 1, u, req->uri.len) == 0);
        }
    } else {
        REQUIRE(nv_val(ru, tgt, req->target.len));
    }
    REQUIRE(nv_val(NEXT("DOCUMENT_URI"), rt->document_uri.p, rt->document_uri.len));
    REQUIRE(nv_val(NEXT("DOCUMENT_ROOT"), ROOT, ROOT_LEN));
    REQUIRE(nv_val(NEXT("SERVER_PROTOCOL"), req->version_minor ? "HTTP/1.1" : "HTTP/1.0", 8));
    if (conn->https) {
        REQUIRE(nv_val(NEXT("REQUEST_SCHEME"), "https", 5));
        REQUIRE(nv_val(NEXT("HTTPS"), "on", 2));
    } else {
        REQUIRE(nv_val(NEXT("REQUEST_SCHEME"), "http", 4));
    }
    REQUIRE(nv_val(NEXT("GATEWAY_INTERFACE"), "CGI/1.1", 7));
    const struct nv *sw = NEXT("SERVER_SOFTWARE");
    REQUIRE(sw->vl > 7 && memcmp(sw->value, "phpmgr/", 7) == 0);
    REQUIRE(nv_val(NEXT("REMOTE_ADDR"), conn->remote_addr.p, conn->remote_addr.len));
    REQUIRE(nv_val(NEXT("REMOTE_PORT"), conn->remote_port.p, conn->remote_port.len));
    const struct nv *user = NEXT("REMOTE_USER");
    REQUIRE(user->vl < 256 && memchr(user->value, 0, user->vl) == NULL);
    if (user->vl) REQUIRE(http_header_find(req, buf, "Authorization", 13) >= 0);
    REQUIRE(nv_val(NEXT("SERVER_ADDR"), conn->server_addr.p, conn->server_addr.len));
    REQUIRE(nv_val(NEXT("SERVER_PORT"), conn->server_port.p, conn->server_port.len));
    REQUIRE(nv_val(NEXT("SERVER_NAME"), site->server_name.p, site->server_name.len));
    REQUIRE(nv_val(NEXT("REDIRECT_STATUS"), "200", 3));
#undef NEXT

    /* HTTP_*: one per passable header name but Proxy, in order of first appearance, the values of
     * repeated names joined. */
    const struct http_header *hs = req->headers;
    for (unsigned h = 0; h < req->nheaders; h++) {
        const uint8_t *name = buf + hs[h].name.off;
        size_t nl = hs[h].name.len;
        if (!passable(name, nl)) continue;
        if (nl == 5 && strncasecmp((const char *)name, "proxy", 5) == 0) continue;
        int seen = 0;
        for (unsigned j = 0; j < h && !seen; j++)
            seen = hname_eq(buf, &hs[j], &hs[h]);
        if (seen) continue;
        REQUIRE(i < np);
        const struct nv *p = &pairs[i++];
        REQUIRE(p->nl == 5 + nl && memcmp(p->name, "HTTP_", 5) == 0);
        for (size_t k = 0; k < nl; k++) {
            uint8_t c = name[k];
            uint8_t want = c == '-' ? '_' : (c >= 'a' && c <= 'z') ? (uint8_t)(c - 32) : c;
            REQUIRE(p->name[5 + k] == want);
        }
        const char *sep =
            nl == 6 && strncasecmp((const char *)name, "cookie", 6) == 0 ? "; " : ", ";
        size_t at = 0;
        int first = 1;
        for (unsigned j = h; j < req->nheaders; j++) {
            if (!hname_eq(buf, &hs[j], &hs[h])) continue;
            if (!first) {
                REQUIRE(at + 2 <= p->vl && memcmp(p->value + at, sep, 2) == 0);
                at += 2;
            }
            first = 0;
            const struct http_span *v = &hs[j].value;
            REQUIRE(at + v->len <= p->vl && memcmp(p->value + at, buf + v->off, v->len) == 0);
            at += v->len;
        }
        REQUIRE(at == p->vl);
    }
    REQUIRE(i == np);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    uint8_t c0 = data[0], c1 = data[1];
    size_t n = size - 2;
    uint8_t *buf = malloc(n ? n : 1); /* exact size: reads past the head are caught */
    if (!buf) abort();
    if (n) memcpy(buf, data + 2, n);

    static struct http_header hdrs[NHDR];
    struct http_request req;
    http_request_init(&req, hdrs, NHDR, NULL);
    ssize_t hl = http_request_parse(&req, buf, n);
    if (hl <= 0) {
        free(buf);
        return 0;
    }
    /* the head alone, so nothing reads the bytes after it */
    uint8_t *head = malloc((size_t)hl);
    if (!head) abort();
    memcpy(head, buf, (size_t)hl);
    free(buf);

    struct http_site site = {
        .document_root = {ROOT, ROOT_LEN},
        .index = {INDEX, (c0 & 4) ? 0 : sizeof INDEX - 1},
        .server_name = {"example.com", (c0 & 16) ? 11 : 0},
        .static_files = (uint8_t)(c0 & 1),
        .path_info = (uint8_t) !(c0 & 2),
        .stat = (c0 & 0x60) == 0x60 ? NULL : fake_stat,
        .stat_ctx = (void *)tree,
    };
    struct http_conn_info conn = {
        .server_addr = {"127.0.0.1", 9},
        .server_port = {"8080", 4},
        .remote_addr = {"192.0.2.7", 9},
        .remote_port = {"54321", 5},
        .https = (uint8_t)((c0 >> 3) & 1),
    };
    uint64_t chunked_len = (c0 & 0x80) ? UINT64_MAX - c1 : (uint64_t)c1 * 1000003u;

    /* Route with the scratch size the header documents as always enough. */
    size_t cap = 2 * (size_t)req.path.len + 2 * site.index.len + site.document_root.len + 16;
    char *scratch = malloc(cap);
    if (!scratch) abort();
    scratch_lo = scratch;
    scratch_hi = scratch + cap;
    struct http_route rt;
    int kind = http_route(&site, &req, head, scratch, cap, &rt);
    check_route(&site, &req, head, &rt, kind);

    /* A smaller scratch: 414, or the same route. */
    size_t cap2 = (size_t)c1 * cap / 256;
    char *scratch2 = malloc(cap2 ? cap2 : 1);
    if (!scratch2) abort();
    scratch_lo = scratch2;
    scratch_hi = scratch2 + cap2;
    struct http_route rt2;
    int kind2 = http_route(&site, &req, head, scratch2, cap2, &rt2);
    REQUIRE(kind2 == rt2.kind);
    if (!(kind2 == HTTP_ROUTE_ERROR && rt2.status == 414)) {
        REQUIRE(kind2 == kind && rt2.status == rt.status);
        REQUIRE(str_same(rt2.uri, rt.uri) && str_same(rt2.filename, rt.filename) &&
                str_same(rt2.script_name, rt.script_name) &&
                str_same(rt2.path_info, rt.path_info) &&
                str_same(rt2.document_uri, rt.document_uri));
    }
    free(scratch2);
    scratch_lo = scratch;
    scratch_hi = scratch + cap;

    if (kind == HTTP_ROUTE_SCRIPT) {
        /* Measure, then encode into exactly that much. */
        uint8_t probe[1];
        size_t need = http_params_encode(probe, 0, &site, &conn, &req, head, &rt, chunked_len);
        uint8_t *out = malloc(need);
        if (!out) abort();
        REQUIRE(http_params_encode(out, need, &site, &conn, &req, head, &rt, chunked_len) == need);
        check_params(out, need, &site, &conn, &req, head, &rt, chunked_len);

        /* A buffer too small: same size reported, nothing written past it. */
        size_t small = (size_t)(c1 ^ c0) * need / 256;
        uint8_t *sb = malloc(small + 64);
        if (!sb) abort();
        memset(sb, 0xA5, small + 64);
        REQUIRE(http_params_encode(sb, small, &site, &conn, &req, head, &rt, chunked_len) == need);
        for (size_t k = small; k < small + 64; k++)
            REQUIRE(sb[k] == 0xA5);
        free(sb);
        free(out);
    }
    free(scratch);
    free(head);
    return 0;
}
