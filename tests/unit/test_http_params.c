/* Unit tests for src/http_params.c: path normalisation (against a reference model, and every
 * traversal spelling), routing with front-controller, PATH_INFO, directory index and static-file
 * rules on a fake filesystem (asserting that no lookup ever leaves document_root), and the CGI/1.1
 * variables as FastCGI pairs, decoded back with fcgi_nv_next and compared with what nginx 1.22 +
 * php-fpm showed for the same requests. */
#include "check.h"
#include "fcgi.h"
#include "http.h"
#include "http_params.h"
#include "version.h"

#include <stdlib.h>
#include <string.h>

static char name_buf[512];

#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        snprintf(name_buf, sizeof name_buf, __VA_ARGS__);                                          \
        CHECK(cond, name_buf);                                                                     \
    } while (0)

static uint8_t *dup_exact(const void *src, size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    if (!p) abort();
    if (n) memcpy(p, src, n);
    return p;
}

/* ----- normalisation */

static const char *norm(const char *in)
{
    static char out[1024];
    size_t n = strlen(in);
    uint8_t *b = dup_exact(in, n);
    char *o = malloc(n ? n : 1);
    ssize_t r = http_path_normalize(b, n, o, n);
    free(b);
    if (r < 0) {
        free(o);
        return NULL;
    }
    memcpy(out, o, (size_t)r);
    out[r] = 0;
    free(o);
    return out;
}

static void norm_is(const char *in, const char *want)
{
    const char *got = norm(in);
    if (want)
        CHECKF(got && strcmp(got, want) == 0, "normalize %s -> %s (got %s)", in, want,
               got ? got : "error");
    else
        CHECKF(!got, "normalize %s rejected (got %s)", in, got ? got : "error");
}

/* Reference: decode everything, split on '/', apply the segment rules with a stack. */
static int ref_norm(const char *in, char *out)
{
    char dec[256];
    size_t n = 0, len = strlen(in);
    if (!len || in[0] != '/') return -1;
    for (size_t i = 0; i < len; i++) {
        if (in[i] != '%') {
            dec[n++] = in[i];
            continue;
        }
        unsigned v;
        char hx[3] = {0};
        if (i + 2 >= len) return -1;
        hx[0] = in[i + 1];
        hx[1] = in[i + 2];
        if (!strchr("0123456789abcdefABCDEF", hx[0]) || !hx[0] ||
            !strchr("0123456789abcdefABCDEF", hx[1]) || !hx[1])
            return -1;
        sscanf(hx, "%x", &v);
        if (v == 0) return -1;
        dec[n++] = (char)v;
        i += 2;
    }
    dec[n] = 0;
    const char *segs[128];
    size_t lens[128], ns = 0;
    int trailing = 0;
    size_t i = 1;
    while (i <= n) {
        size_t s = i;
        while (i < n && dec[i] != '/')
            i++;
        size_t l = i - s;
        int last = i >= n;
        trailing = 0;
        if (l == 0 || (l == 1 && dec[s] == '.')) {
            trailing = 1;
        } else if (l == 2 && dec[s] == '.' && dec[s + 1] == '.') {
            if (ns == 0) return -1;
            ns--;
            trailing = 1;
        } else {
            segs[ns] = dec + s;
            lens[ns++] = l;
        }
        if (last) break;
        i++;
        if (i > n) trailing = 1; /* path ended with '/' */
    }
    size_t o = 0;
    out[o++] = '/';
    for (size_t k = 0; k < ns; k++) {
        memcpy(out + o, segs[k], lens[k]);
        o += lens[k];
        if (k + 1 < ns || trailing) out[o++] = '/';
    }
    if (ns == 0) o = 1;
    out[o] = 0;
    return (int)o;
}

static void test_normalize(void)
{
    norm_is("/", "/");
    norm_is("/a/b", "/a/b");
    norm_is("/a//b", "/a/b");
    norm_is("//a", "/a");
    norm_is("/a//", "/a/");
    norm_is("/a/./b", "/a/b");
    norm_is("/a/../b", "/b");
    norm_is("/a/b/..", "/a/");
    norm_is("/a/.", "/a/");
    norm_is("/./", "/");
    norm_is("/a/b/../../c", "/c");
    norm_is("/..a/b../...", "/..a/b../...");
    norm_is("/%41%62", "/Ab");
    norm_is("/%25", "/%");
    norm_is("/%252e%252e/x", "/%2e%2e/x");
    norm_is("/a/%2e%2E/b", "/b");
    norm_is("/a/%2e/b", "/a/b");
    norm_is("/a%2Fb", "/a/b");
    norm_is("/a%2f..%2fb", "/b");
    norm_is("/x/..%2Ft.php", "/t.php");
    norm_is("/a\\..\\b", "/a\\..\\b");
    norm_is("/caf%C3%A9", "/caf\xc3\xa9");
    const char *lf = norm("/a%0ab");
    CHECK(lf && strcmp(lf, "/a\nb") == 0,
          "normalize: decoded LF kept (as nginx; only NUL refused)");
    norm_is("/..", NULL);
    norm_is("/../etc/passwd", NULL);
    norm_is("/a/../..", NULL);
    norm_is("/a/../../etc", NULL);
    norm_is("//..", NULL);
    norm_is("/%2e%2e", NULL);
    norm_is("/%2e%2e/etc/passwd", NULL);
    norm_is("/a/%2e%2e/%2E%2E/etc", NULL);
    norm_is("/a/..%2f..%2fetc", NULL);
    norm_is("/%2f..", NULL);
    norm_is("/%00", NULL);
    norm_is("/a%00.php", NULL);
    norm_is("/a%0", NULL);
    norm_is("/a%", NULL);
    norm_is("/a%zz", NULL);
    norm_is("/a%g0", NULL);
    norm_is("a/b", NULL);
    norm_is("", NULL);
    norm_is("*", NULL);

    /* Every path over a small nasty alphabet, against the reference model. */
    static const char *atoms[] = {"/", ".", "a", "%2e", "%2f", "%2E", ".."};
    int agree = 1, count = 0;
    char in[64], want[256];
    for (unsigned code = 0; code < 7u * 7 * 7 * 7 * 7 * 7; code++) {
        strcpy(in, "/");
        unsigned c = code;
        for (int k = 0; k < 6; k++) {
            strcat(in, atoms[c % 7]);
            c /= 7;
        }
        int r = ref_norm(in, want);
        const char *got = norm(in);
        count++;
        if ((r < 0) != (got == NULL) || (got && strcmp(got, want) != 0)) {
            if (agree)
                printf("  mismatch for %s: got %s want %s\n", in, got ? got : "-",
                       r < 0 ? "-" : want);
            agree = 0;
        }
        if (got &&
            (strstr(got, "/../") || strstr(got, "/./") || strstr(got, "//") || got[0] != '/'))
            agree = 0;
    }
    CHECKF(agree, "normalize agrees with the reference on %d generated paths", count);

    uint8_t raw_nul[] = {'/', 'a', 0, 'b'};
    char out_nul[4];
    CHECK(http_path_normalize(raw_nul, 4, out_nul, 4) == -1, "normalize rejects a raw NUL");

    /* Output never exceeds the input: cap == len always suffices. */
    uint8_t in2[] = "/a/b/c";
    char out2[6];
    CHECK(http_path_normalize(in2, 6, out2, 6) == 6, "normalize fits in len bytes");
    CHECK(http_path_normalize(in2, 6, out2, 3) == -1, "normalize reports a short buffer");
}

/* ----- routing on a fake filesystem */

#define ROOT "/srv/www"

static const char *files[] = {
    ROOT "/index.php",   ROOT "/t.php",   ROOT "/sub/t.php", ROOT "/sub/index.php",
    ROOT "/style.css",   ROOT "/.env",    ROOT "/x.PHP",     ROOT "/a.php.bak",
    ROOT "/.well/x.css", ROOT "/a b.css", ROOT "/x.phtml", ROOT "/dir/index.html",
    ROOT "/d/e/e/p/e/r/still/deeper/than/that/index.html",
};
static const char *others[] = {ROOT "/dir.php", ROOT "/sub"};
static const char *dirs[] = {ROOT "/", ROOT "/dir", ROOT "/d/e/e/p/e/r/still/deeper/than/that"};

static int lookups, escaped;

static int fake_stat(void *ctx, const char *path, size_t len)
{
    (void)ctx;
    lookups++;
    /* The invariant under test: every lookup is inside the root, with no dot segment. */
    if (strlen(path) != len || strncmp(path, ROOT "/", strlen(ROOT) + 1) != 0 ||
        strstr(path, "/../") || strstr(path, "/./") || strstr(path, "//") ||
        (len >= 3 && strcmp(path + len - 3, "/..") == 0))
        escaped++;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (strcmp(files[i], path) == 0) return HTTP_FILE_REGULAR;
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        if (strcmp(others[i], path) == 0) return HTTP_FILE_OTHER;
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        if (strcmp(dirs[i], path) == 0) return HTTP_FILE_DIR;
    return HTTP_FILE_NONE;
}

static struct http_site site(int index, int statics, int path_info)
{
    struct http_site s = {{ROOT, strlen(ROOT)},
                          {"index.php", index ? 9 : 0},
                          {"", 0},
                          (uint8_t)statics,
                          (uint8_t)path_info,
                          fake_stat,
                          NULL};
    return s;
}

static struct http_request req;
static struct http_header hdrs[32];
static uint8_t *rbuf;
static size_t rlen;

static int parse_req(const char *s)
{
    free(rbuf);
    rlen = strlen(s);
    rbuf = dup_exact(s, rlen);
    http_request_init(&req, hdrs, 32, NULL);
    return http_request_parse(&req, rbuf, rlen) > 0;
}

static char scratch[1024];
static struct http_route rt;

static int route_path(const struct http_site *st, const char *target)
{
    char line[512];
    snprintf(line, sizeof line, "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", target);
    if (!parse_req(line)) return -1;
    return http_route(st, &req, rbuf, scratch, sizeof scratch, &rt);
}

static int str_is(struct http_str s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

static void expect_script(const struct http_site *st, const char *target, const char *script,
                          const char *path_info, const char *doc_uri, const char *file)
{
    int k = route_path(st, target);
    CHECKF(k == HTTP_ROUTE_SCRIPT && str_is(rt.script_name, script) &&
               str_is(rt.path_info, path_info) && str_is(rt.document_uri, doc_uri) &&
               str_is(rt.filename, file) && rt.filename.p[rt.filename.len] == 0,
           "route %s -> script %s path_info '%s' (got kind %d %.*s '%.*s' %.*s)", target, script,
           path_info, k, (int)rt.script_name.len, rt.script_name.p, (int)rt.path_info.len,
           rt.path_info.p, (int)rt.filename.len, rt.filename.p);
}

static void expect_front(const struct http_site *st, const char *target)
{
    expect_script(st, target, "/index.php", "", "/index.php", ROOT "/index.php");
}

static void expect_static(const struct http_site *st, const char *target, const char *file)
{
    int k = route_path(st, target);
    CHECKF(k == HTTP_ROUTE_STATIC && str_is(rt.filename, file) &&
               rt.filename.p[rt.filename.len] == 0 && rt.document_uri.len == rt.uri.len &&
               memcmp(rt.document_uri.p, rt.uri.p, rt.uri.len) == 0,
           "route %s -> static %s (got kind %d status %u '%.*s')", target, file, k, rt.status,
           (int)rt.filename.len, rt.filename.p ? rt.filename.p : "");
}

static void expect_error(const struct http_site *st, const char *target, int status)
{
    int k = route_path(st, target);
    CHECKF(k == HTTP_ROUTE_ERROR && rt.status == status, "route %s -> %d (got kind %d status %u)",
           target, status, k, rt.status);
}

static void test_route(void)
{
    struct http_site s = site(1, 1, 1);
    expect_script(&s, "/t.php", "/t.php", "", "/t.php", ROOT "/t.php");
    expect_script(&s, "/t.php?a=1", "/t.php", "", "/t.php", ROOT "/t.php");
    expect_script(&s, "/t.php/extra/p%20x", "/t.php", "/extra/p x", "/t.php/extra/p x",
                  ROOT "/t.php");
    expect_script(&s, "/t.php/", "/t.php", "/", "/t.php/", ROOT "/t.php");
    expect_script(&s, "/sub/t.php", "/sub/t.php", "", "/sub/t.php", ROOT "/sub/t.php");
    expect_script(&s, "/sub%2Ft.php", "/sub/t.php", "", "/sub/t.php", ROOT "/sub/t.php");
    expect_script(&s, "/x/%2e%2e/t.php", "/t.php", "", "/t.php", ROOT "/t.php");
    expect_script(&s, "/sub/../t.php", "/t.php", "", "/t.php", ROOT "/t.php");
    expect_script(&s, "//t.php", "/t.php", "", "/t.php", ROOT "/t.php");
    expect_script(&s, "/", "/index.php", "", "/index.php", ROOT "/index.php");
    expect_script(&s, "/sub/", "/sub/index.php", "", "/sub/index.php", ROOT "/sub/index.php");
    expect_front(&s, "/nosub/");
    expect_front(&s, "/missing.php");
    expect_front(&s, "/missing.php/x");
    expect_front(&s, "/some/route?x=1");
    expect_front(&s, "/dir.php");
    expect_front(&s, "/sub");
    expect_front(&s, "/t.php.x/");
    expect_front(&s, "/.php");
    expect_front(&s, "/T.PHP");
    /* Static files, and what is never served statically. */
    CHECK(route_path(&s, "/style.css") == HTTP_ROUTE_STATIC &&
              str_is(rt.filename, ROOT "/style.css"),
          "route /style.css -> static");
    CHECK(route_path(&s, "/a%20b.css") == HTTP_ROUTE_STATIC && str_is(rt.filename, ROOT "/a b.css"),
          "route static with decoded name");
    expect_front(&s, "/.env");
    expect_front(&s, "/.well/x.css");
    expect_front(&s, "/x.PHP");
    expect_front(&s, "/a.php.bak");
    expect_front(&s, "/x.phtml");
    expect_front(&s, "/nofile.css");
    /* Traversal in every spelling is a 400 before any lookup. */
    static const char *bad[] = {"/../etc/passwd",
                                "/%2e%2e/etc/passwd",
                                "/a/%2e%2e/%2e%2e/etc",
                                "/a/..%2f..%2fetc/passwd",
                                "/%2E%2E%2Fetc",
                                "/..%2f",
                                "/a%00.php",
                                "/t.php%00.css",
                                "/bad%zzescape",
                                "/x/../../t.php"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int before = lookups;
        expect_error(&s, bad[i], 400);
        CHECKF(lookups == before, "no lookup for %s", bad[i]);
    }
    /* Options */
    struct http_site np = site(1, 1, 0);
    expect_script(&np, "/t.php", "/t.php", "", "/t.php", ROOT "/t.php");
    expect_front(&np, "/t.php/extra");
    struct http_site ns = site(1, 0, 1);
    expect_front(&ns, "/style.css");
    struct http_site ni = site(0, 1, 1);
    expect_error(&ni, "/nothing", 404);
    expect_error(&ni, "/missing.php", 404);
    expect_error(&ni, "/", 404);
    CHECK(route_path(&ni, "/style.css") == HTTP_ROUTE_STATIC, "no index: static still served");
    struct http_site nostat = site(1, 1, 1);
    nostat.stat = NULL;
    int before = lookups;
    expect_script(&nostat, "/any.php/p", "/any.php", "/p", "/any.php/p", ROOT "/any.php");
    expect_front(&nostat, "/style.css");
    expect_front(&nostat, "/");
    CHECK(lookups == before, "no stat callback: no lookups");

    /* Other request forms. */
    parse_req("GET http://h HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(http_route(&s, &req, rbuf, scratch, sizeof scratch, &rt) == HTTP_ROUTE_SCRIPT &&
              str_is(rt.script_name, "/index.php") && str_is(rt.uri, "/"),
          "route absolute-form without path");
    parse_req("GET http://h/t.php/x?q HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(http_route(&s, &req, rbuf, scratch, sizeof scratch, &rt) == HTTP_ROUTE_SCRIPT &&
              str_is(rt.script_name, "/t.php") && str_is(rt.path_info, "/x"),
          "route absolute-form");
    parse_req("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(http_route(&s, &req, rbuf, scratch, sizeof scratch, &rt) == HTTP_ROUTE_ERROR &&
              rt.status == 404,
          "route asterisk-form: 404");

    /* A scratch buffer too small. */
    route_path(&s, "/t.php");
    CHECK(http_route(&s, &req, rbuf, scratch, 10, &rt) == HTTP_ROUTE_ERROR && rt.status == 414,
          "route: scratch too small -> 414");
    CHECK(http_route(&s, &req, rbuf, scratch, 3, &rt) == HTTP_ROUTE_ERROR && rt.status == 414,
          "route: scratch shorter than the path -> 414");

    /* A directory without an index script: its index.html, as nginx's
     * "index index.php index.html" (the differential suites' /dir/), with or without http.index;
     * never a redirect for a path ending in '/'; "/dir" is a 301 (to "/dir/"). */
    expect_static(&s, "/dir/", ROOT "/dir/index.html");
    expect_static(&s, "/dir/?a=1", ROOT "/dir/index.html");
    expect_static(&s, "/d/e/e/p/e/r/still/deeper/than/that/",
                  ROOT "/d/e/e/p/e/r/still/deeper/than/that/index.html");
    expect_static(&ni, "/dir/", ROOT "/dir/index.html");
    expect_static(&np, "/dir/", ROOT "/dir/index.html");
    expect_front(&ns, "/dir/");
    expect_front(&s, "/sub/x/");
    expect_error(&ni, "/nodir/", 404);
    CHECK(route_path(&s, "/dir") == HTTP_ROUTE_REDIRECT && rt.status == 301 &&
              str_is(rt.uri, "/dir"),
          "route /dir (a directory) -> 301");
    CHECK(route_path(&s, "/dir/../dir?x") == HTTP_ROUTE_REDIRECT && str_is(rt.uri, "/dir"),
          "route /dir/../dir -> 301 for /dir");
    /* With exactly the scratch size http_params.h documents: never 414. With less: 414 or the
     * same route, never another one (a candidate that does not fit is not "not found"). */
    static const char *sized[] = {"/dir/", "/sub/", "/", "/t.php/x", "/style.css", "/dir",
                                  "/nothing/here", "/d/e/e/p/e/r/still/deeper/than/that/",
                                  "/d/e/e/p/e/r/still/deeper/than/that//"};
    const struct http_site *sites[] = {&s, &ni, &np, &ns};
    struct http_site one = s; /* a one-letter index name: the tightest case of the bound */
    one.index.p = "i";
    one.index.len = 1;
    char sized_bad[256] = "";
    for (size_t i = 0; i < sizeof sized / sizeof sized[0]; i++) {
        for (size_t j = 0; j <= sizeof sites / sizeof sites[0]; j++) {
            const struct http_site *st = j < sizeof sites / sizeof sites[0] ? sites[j] : &one;
            int want = route_path(st, sized[i]);
            struct http_route full = rt;
            char want_file[256];
            snprintf(want_file, sizeof want_file, "%.*s", (int)full.filename.len,
                     full.filename.p ? full.filename.p : "");
            size_t bound = 2 * req.path.len + 2 * st->index.len + st->document_root.len + 16;
            for (size_t cap = 0; cap <= bound && !sized_bad[0]; cap++) {
                char *buf = malloc(cap ? cap : 1);
                int k = http_route(st, &req, rbuf, buf, cap, &rt);
                int too_long = k == HTTP_ROUTE_ERROR && rt.status == 414;
                int same = k == want && rt.status == full.status && str_is(rt.filename, want_file);
                if (too_long ? cap == bound : !same)
                    snprintf(sized_bad, sizeof sized_bad,
                             "(%s, site %zu, scratch %zu of %zu: kind %d)", sized[i], j, cap,
                             bound, k);
                free(buf);
            }
        }
    }
    CHECKF(!sized_bad[0],
           "route: the documented scratch size suffices, a smaller one gives 414 or the same "
           "route %s", sized_bad);

    /* Many nasty targets: whatever the outcome, no lookup left the root. */
    static const char *atoms[] = {"/", "..", ".", "%2e", "%2f", "t.php", "sub", "%2E%2e", "x"};
    int bad_route = 0;
    for (unsigned code = 0; code < 9u * 9 * 9 * 9 * 9; code++) {
        char t[128] = "/";
        unsigned c = code;
        for (int k = 0; k < 5; k++) {
            strcat(t, atoms[c % 9]);
            c /= 9;
        }
        int k = route_path(&s, t);
        if (k == HTTP_ROUTE_SCRIPT || k == HTTP_ROUTE_STATIC) {
            if (strncmp(rt.filename.p, ROOT "/", strlen(ROOT) + 1) != 0 ||
                strstr(rt.filename.p, "/../") || strstr(rt.filename.p, "/./"))
                bad_route = 1;
        } else if (k != HTTP_ROUTE_ERROR || rt.status != 400) {
            bad_route = 1;
        }
    }
    CHECK(!bad_route, "route: generated traversal targets give root-confined files or 400");
    CHECK(escaped == 0, "route: no filesystem lookup outside document_root");
}

/* ----- FastCGI params */

struct kv {
    char name[64];
    char value[512];
};

static int decode_pairs(const uint8_t *p, size_t n, struct kv *kv, int max)
{
    const uint8_t *pos = p, *end = p + n, *name, *value;
    uint32_t nl, vl;
    int count = 0, rc;
    while ((rc = fcgi_nv_next(&pos, end, &name, &nl, &value, &vl)) == 1 && count < max) {
        if (nl >= sizeof kv->name || vl >= sizeof kv->value) return -1;
        memcpy(kv[count].name, name, nl);
        kv[count].name[nl] = 0;
        memcpy(kv[count].value, value, vl);
        kv[count].value[vl] = 0;
        count++;
    }
    return rc == 0 ? count : -1;
}

static const char *get(struct kv *kv, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(kv[i].name, name) == 0) return kv[i].value;
    return NULL;
}

static int count_name(struct kv *kv, int n, const char *name)
{
    int c = 0;
    for (int i = 0; i < n; i++)
        c += strcmp(kv[i].name, name) == 0;
    return c;
}

static struct kv kvs[64];
static uint8_t pbuf[8192];

static int encode(const struct http_site *st, int https, uint64_t chunked_len)
{
    struct http_conn_info ci = {
        {"127.0.0.1", 9}, {"8080", 4}, {"10.0.0.7", 8}, {"51726", 5}, (uint8_t)https};
    http_route(st, &req, rbuf, scratch, sizeof scratch, &rt);
    size_t n = http_params_encode(pbuf, sizeof pbuf, st, &ci, &req, rbuf, &rt, chunked_len);
    if (n > sizeof pbuf) return -1;
    /* Any smaller buffer reports the same size. */
    uint8_t small[64];
    if (http_params_encode(small, sizeof small, st, &ci, &req, rbuf, &rt, chunked_len) != n)
        return -2;
    return decode_pairs(pbuf, n, kvs, 64);
}

#define EXPECT(name, want)                                                                         \
    do {                                                                                           \
        const char *got_ = get(kvs, n, name);                                                      \
        CHECKF(got_ &&strcmp(got_, want) == 0, "param %s = '%.80s' (got '%.80s')", name, want,     \
               got_ ? got_ : "(absent)");                                                          \
    } while (0)

static void test_params(void)
{
    struct http_site s = site(1, 1, 1);
    parse_req("POST /t.php/extra/path%20x?op=srv&q=%41 HTTP/1.1\r\nHost: Example.COM:18080\r\n"
              "X-Dup: a\r\nCookie: c=1\r\nx-dup: b\r\nCookie: d=2\r\nX_Under: u\r\nX-Under: v\r\n"
              "Proxy: http://evil\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
              "Connection: close\r\nX.Dot: d\r\n\r\n");
    int n = encode(&s, 0, 0);
    CHECK(n > 0, "params: encoded and decoded");
    EXPECT("PATH_INFO", "/extra/path x");
    EXPECT("SCRIPT_FILENAME", ROOT "/t.php");
    EXPECT("QUERY_STRING", "op=srv&q=%41");
    EXPECT("REQUEST_METHOD", "POST");
    EXPECT("CONTENT_TYPE", "text/plain");
    EXPECT("CONTENT_LENGTH", "3");
    EXPECT("SCRIPT_NAME", "/t.php");
    EXPECT("REQUEST_URI", "/t.php/extra/path%20x?op=srv&q=%41");
    EXPECT("DOCUMENT_URI", "/t.php/extra/path x");
    EXPECT("DOCUMENT_ROOT", ROOT);
    EXPECT("SERVER_PROTOCOL", "HTTP/1.1");
    EXPECT("REQUEST_SCHEME", "http");
    CHECK(get(kvs, n, "HTTPS") == NULL, "param HTTPS absent without TLS");
    EXPECT("GATEWAY_INTERFACE", "CGI/1.1");
    EXPECT("SERVER_SOFTWARE", "phpmgr/" PHPMGR_VERSION_STRING);
    EXPECT("REMOTE_ADDR", "10.0.0.7");
    EXPECT("REMOTE_PORT", "51726");
    EXPECT("REMOTE_USER", "");
    EXPECT("SERVER_ADDR", "127.0.0.1");
    EXPECT("SERVER_PORT", "8080");
    EXPECT("SERVER_NAME", "");
    EXPECT("REDIRECT_STATUS", "200");
    EXPECT("HTTP_HOST", "Example.COM:18080");
    EXPECT("HTTP_X_DUP", "a, b");
    EXPECT("HTTP_COOKIE", "c=1; d=2");
    EXPECT("HTTP_X_UNDER", "v");
    EXPECT("HTTP_CONTENT_TYPE", "text/plain");
    EXPECT("HTTP_CONTENT_LENGTH", "3");
    EXPECT("HTTP_CONNECTION", "close");
    CHECK(get(kvs, n, "HTTP_PROXY") == NULL, "param HTTP_PROXY dropped (httpoxy)");
    CHECK(count_name(kvs, n, "HTTP_X_UNDER") == 1 && count_name(kvs, n, "HTTP_X_DUP") == 1,
          "params: one pair per header name");
    CHECK(get(kvs, n, "HTTP_X.DOT") == NULL && get(kvs, n, "HTTP_X_DOT") == NULL,
          "params: names with other characters dropped");
    /* nginx's order: PATH_INFO, SCRIPT_FILENAME, ..., REDIRECT_STATUS, then headers in order. */
    CHECK(strcmp(kvs[0].name, "PATH_INFO") == 0 && strcmp(kvs[1].name, "SCRIPT_FILENAME") == 0 &&
              strcmp(kvs[20].name, "REDIRECT_STATUS") == 0 &&
              strcmp(kvs[21].name, "HTTP_HOST") == 0 && strcmp(kvs[22].name, "HTTP_X_DUP") == 0 &&
              strcmp(kvs[23].name, "HTTP_COOKIE") == 0 &&
              strcmp(kvs[24].name, "HTTP_X_UNDER") == 0 && n == 28,
          "params: order");

    /* Front controller, no body, HTTPS. */
    parse_req("GET /some/route?op=srv&z=1 HTTP/1.0\r\n\r\n");
    n = encode(&s, 1, 0);
    EXPECT("SCRIPT_NAME", "/index.php");
    EXPECT("DOCUMENT_URI", "/index.php");
    EXPECT("SCRIPT_FILENAME", ROOT "/index.php");
    EXPECT("PATH_INFO", "");
    EXPECT("REQUEST_URI", "/some/route?op=srv&z=1");
    EXPECT("QUERY_STRING", "op=srv&z=1");
    EXPECT("CONTENT_TYPE", "");
    EXPECT("CONTENT_LENGTH", "");
    EXPECT("SERVER_PROTOCOL", "HTTP/1.0");
    EXPECT("REQUEST_SCHEME", "https");
    EXPECT("HTTPS", "on");
    CHECK(n == 22, "params: no headers, HTTPS added");

    /* Chunked body: CONTENT_LENGTH is the decoded size. */
    parse_req("POST /t.php HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    n = encode(&s, 0, 1234567);
    EXPECT("CONTENT_LENGTH", "1234567");
    EXPECT("HTTP_TRANSFER_ENCODING", "chunked");
    n = encode(&s, 0, 0);
    EXPECT("CONTENT_LENGTH", "0");

    /* Absolute-form: REQUEST_URI is the path part; empty path gets its '/'. */
    parse_req("GET http://Other.Host:99/t.php?op=srv HTTP/1.1\r\nHost: x.y\r\n\r\n");
    n = encode(&s, 0, 0);
    EXPECT("REQUEST_URI", "/t.php?op=srv");
    EXPECT("HTTP_HOST", "x.y");
    parse_req("GET http://h?q=1 HTTP/1.1\r\nHost: h\r\n\r\n");
    n = encode(&s, 0, 0);
    EXPECT("REQUEST_URI", "/?q=1");
    EXPECT("QUERY_STRING", "q=1");

    /* Long values use 4-byte lengths; SERVER_NAME from the site. */
    char big[600];
    memset(big, 'v', 300);
    big[300] = 0;
    char line[900];
    snprintf(line, sizeof line, "GET / HTTP/1.1\r\nHost: h\r\nX-Long: %s\r\nX-Long: w\r\n\r\n",
             big);
    parse_req(line);
    struct http_site sn = s;
    sn.server_name.p = "example.org";
    sn.server_name.len = 11;
    n = encode(&sn, 0, 0);
    strcat(big, ", w");
    EXPECT("HTTP_X_LONG", big);
    EXPECT("SERVER_NAME", "example.org");
    EXPECT("SCRIPT_NAME", "/index.php");
    EXPECT("DOCUMENT_URI", "/index.php");
    EXPECT("REQUEST_URI", "/");

    /* Exactly-sized output buffer. */
    struct http_conn_info ci = {{"", 0}, {"", 0}, {"", 0}, {"", 0}, 0};
    size_t need = http_params_encode(NULL, 0, &s, &ci, &req, rbuf, &rt, 0);
    uint8_t *exact = malloc(need);
    CHECK(http_params_encode(exact, need, &s, &ci, &req, rbuf, &rt, 0) == need &&
              decode_pairs(exact, need, kvs, 64) > 0,
          "params: exact-size buffer");
    free(exact);
}

int main(void)
{
    test_normalize();
    test_route();
    test_params();
    free(rbuf);
    return CHECK_DONE();
}
