/* Unit tests for src/cgi_response.c: CGI header block collection across chunks, the HTTP/1.1 head
 * (checked byte for byte against what nginx 1.22 sends for the same PHP output), body framing
 * (Content-Length, chunked, close-delimited, none), keep-alive outcomes, malformed worker output,
 * the generated error responses and the Date format. Inputs are exact-size heap copies. */
#include "cgi_response.h"
#include "check.h"
#include "version.h"

#include <stdlib.h>
#include <string.h>

static char name_buf[512];

#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        snprintf(name_buf, sizeof name_buf, __VA_ARGS__);                                          \
        CHECK(cond, name_buf);                                                                     \
    } while (0)

#define DATE "Mon, 23 Nov 2026 09:00:12 GMT"
#define SRV "Server: phpmgr/" PHPMGR_VERSION_STRING "\r\n"

static uint8_t *dup_exact(const void *src, size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    if (!p) abort();
    if (n) memcpy(p, src, n);
    return p;
}

/* A whole exchange: worker output in, wire bytes out. */
struct run {
    int ok;          /* header block complete and valid */
    size_t hdr_used; /* bytes of the output that were the header block */
    char wire[4096];
    size_t wire_len;
    size_t head_len;
    int keep_alive;
    int mode;
};

static uint8_t hdrbuf[1024];

static void wire_put(struct run *r, const void *p, size_t n)
{
    if (r->wire_len + n > sizeof r->wire) abort();
    memcpy(r->wire + r->wire_len, p, n);
    r->wire_len += n;
}

/* Feed out (n bytes) in pieces of step bytes (0: all at once), then frame the rest as body in
 * pieces of the same size and end the response. */
static struct run run_opts(const char *out, size_t n, size_t step, struct cgi_response_opts o,
                           size_t hdr_cap)
{
    struct run res = {0};
    struct cgi_response r;
    cgi_response_init(&r, hdrbuf, hdr_cap);
    if (!step) step = n ? n : 1;
    size_t i = 0;
    while (i < n && !cgi_response_ready(&r)) {
        size_t k = n - i < step ? n - i : step;
        uint8_t *piece = dup_exact(out + i, k);
        ssize_t used = cgi_response_feed(&r, piece, k);
        free(piece);
        if (used < 0) return res;
        res.hdr_used += (size_t)used;
        i += (size_t)used;
        if ((size_t)used < k && !cgi_response_ready(&r)) return res; /* must not happen */
    }
    if (!cgi_response_ready(&r)) return res;
    res.ok = 1;
    uint8_t head[2048];
    res.head_len = cgi_response_head(&r, &o, head, sizeof head);
    if (res.head_len > sizeof head) abort();
    wire_put(&res, head, res.head_len);
    while (i < n) {
        size_t k = n - i < step ? n - i : step, send;
        uint8_t pre[CGI_BODY_PREFIX_MAX];
        size_t pl = cgi_response_body(&r, k, pre, &send);
        wire_put(&res, pre, pl);
        wire_put(&res, out + i, send);
        i += k;
    }
    uint8_t end[CGI_END_MAX];
    size_t el = cgi_response_end(&r, end);
    wire_put(&res, end, el);
    res.keep_alive = r.keep_alive;
    res.mode = r.mode;
    return res;
}

static struct cgi_response_opts opts(int minor, int keep, int64_t body_len, int head)
{
    struct cgi_response_opts o = {DATE,          NULL,          body_len, (uint8_t)minor,
                                  (uint8_t)head, (uint8_t)keep, 0};
    return o;
}

static struct run run(const char *out, struct cgi_response_opts o)
{
    return run_opts(out, strlen(out), 0, o, sizeof hdrbuf);
}

static int wire_is(const struct run *r, const char *want)
{
    size_t n = strlen(want);
    if (r->wire_len != n || memcmp(r->wire, want, n) != 0) {
        printf("  wire: %.*s\n  want: %s\n", (int)r->wire_len, r->wire, want);
        return 0;
    }
    return 1;
}

#define PHP_HDRS "X-Powered-By: PHP/8.2.7\r\nContent-type: text/html; charset=UTF-8\r\n\r\n"

static void test_basic(void)
{
    struct run r = run(PHP_HDRS "hi", opts(1, 1, -1, 0));
    CHECK(r.ok && r.hdr_used == strlen(PHP_HDRS), "basic: block length");
    CHECK(wire_is(&r, "HTTP/1.1 200 OK\r\n" SRV "Date: " DATE "\r\n"
                      "Content-Type: text/html; charset=UTF-8\r\n"
                      "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n"
                      "X-Powered-By: PHP/8.2.7\r\n\r\n2\r\nhi\r\n0\r\n\r\n"),
          "basic: nginx's order, chunked");
    CHECK(r.keep_alive == 1 && r.mode == CGI_BODY_CHUNKED, "basic: keep-alive, chunked mode");

    /* Same output split at every size: identical wire bytes (chunk sizes aside, so compare the
     * head and the body bytes of a non-chunked response). */
    const char *o = PHP_HDRS "hello world";
    struct run whole = run(o, opts(1, 1, 11, 0));
    int same = whole.ok;
    for (size_t step = 1; step <= strlen(o); step++) {
        struct run s = run_opts(o, strlen(o), step, opts(1, 1, 11, 0), sizeof hdrbuf);
        if (!s.ok || s.hdr_used != whole.hdr_used || s.wire_len != whole.wire_len ||
            memcmp(s.wire, whole.wire, s.wire_len) != 0)
            same = 0;
    }
    CHECK(same, "basic: every chunking gives the same response");
    CHECK(wire_is(&whole, "HTTP/1.1 200 OK\r\n" SRV "Date: " DATE "\r\n"
                          "Content-Type: text/html; charset=UTF-8\r\n"
                          "Content-Length: 11\r\nConnection: keep-alive\r\n"
                          "X-Powered-By: PHP/8.2.7\r\n\r\nhello world"),
          "basic: known length gives Content-Length");

    /* Chunked over several body pieces: CRLF of one chunk goes in the next prefix. */
    struct run c = run_opts(o, strlen(o), 4, opts(1, 1, -1, 0), sizeof hdrbuf);
    const char *tail = "\r\n\r\n";
    char *body = strstr(c.wire, tail);
    CHECK(body && strcmp(body + 4, "") != 0, "chunked pieces: body present");
    CHECK(c.ok && c.wire_len > 0 && memcmp(c.wire + c.wire_len - 5, "0\r\n\r\n", 5) == 0,
          "chunked pieces: terminated");
}

static void test_status(void)
{
    struct run r =
        run("Status: 404 Not Found\r\nContent-type: text/html\r\n\r\nx", opts(1, 1, 1, 0));
    CHECK(r.ok && strncmp(r.wire, "HTTP/1.1 404 Not Found\r\n", 24) == 0, "status: with reason");
    r = run("Status: 299 Custom Thing\r\n\r\n", opts(1, 1, 0, 0));
    CHECK(strncmp(r.wire, "HTTP/1.1 299 Custom Thing\r\n", 27) == 0, "status: custom reason");
    r = run("Status: 299\r\n\r\n", opts(1, 1, 0, 0));
    CHECK(strncmp(r.wire, "HTTP/1.1 299 \r\n", 15) == 0, "status: no reason keeps the SP");
    r = run("Status: 503   \r\n\r\n", opts(1, 1, 0, 0));
    CHECK(strncmp(r.wire, "HTTP/1.1 503 \r\n", 15) == 0, "status: trailing OWS trimmed");
    r = run("X-B: 2\r\nLocation: /there?x=1\r\n\r\n", opts(1, 1, -1, 0));
    CHECK(wire_is(&r, "HTTP/1.1 302 Found\r\n" SRV "Date: " DATE "\r\n"
                      "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n"
                      "X-B: 2\r\nLocation: /there?x=1\r\n\r\n0\r\n\r\n"),
          "status: Location without Status is 302, Location kept in place");
    r = run("Location: /x\r\nStatus: 301 Moved Permanently\r\n\r\n", opts(1, 1, 0, 0));
    CHECK(strncmp(r.wire, "HTTP/1.1 301 Moved Permanently\r\n", 32) == 0,
          "status: explicit Status wins over Location");
    r = run("status: 201 Created\r\n\r\n", opts(1, 1, 0, 0));
    CHECK(strncmp(r.wire, "HTTP/1.1 201 Created\r\n", 22) == 0, "status: name any case");
    r = run("Content-type: text/plain\r\n\r\n", opts(1, 1, 0, 0));
    CHECK(strncmp(r.wire, "HTTP/1.1 200 OK\r\n", 17) == 0, "status: default 200 OK");
}

static void test_framing(void)
{
    /* The worker's Content-Length: body cut there, connection kept. */
    struct run r = run("Content-Length: 5\r\nX-A: 1\r\nContent-type: text/html\r\n\r\nhello world",
                       opts(1, 1, -1, 0));
    CHECK(wire_is(&r, "HTTP/1.1 200 OK\r\n" SRV "Date: " DATE "\r\nContent-Type: text/html\r\n"
                      "Content-Length: 5\r\nConnection: keep-alive\r\nX-A: 1\r\n\r\nhello"),
          "framing: worker Content-Length honoured and moved");
    CHECK(r.keep_alive == 1, "framing: extra body dropped, keep-alive");
    r = run("Content-Length: 10\r\n\r\nhello", opts(1, 1, -1, 0));
    CHECK(r.keep_alive == 0 && r.mode == CGI_BODY_LENGTH, "framing: short body closes");
    r = run("Content-Length: 3\r\n\r\nhello", opts(1, 1, 5, 0));
    CHECK(strstr(r.wire, "Content-Length: 3\r\n") && r.wire_len >= 3 &&
              memcmp(r.wire + r.wire_len - 7, "\r\n\r\nhel", 7) == 0,
          "framing: worker Content-Length wins over the caller's length");

    /* HTTP/1.0 */
    r = run(PHP_HDRS "hi", opts(0, 1, -1, 0));
    CHECK(wire_is(&r, "HTTP/1.1 200 OK\r\n" SRV "Date: " DATE "\r\n"
                      "Content-Type: text/html; charset=UTF-8\r\nConnection: close\r\n"
                      "X-Powered-By: PHP/8.2.7\r\n\r\nhi"),
          "1.0: unknown length is close-delimited");
    CHECK(r.keep_alive == 0 && r.mode == CGI_BODY_CLOSE, "1.0: close mode");
    r = run("Content-Length: 5\r\n\r\nhello", opts(0, 1, -1, 0));
    CHECK(strstr(r.wire, "Connection: keep-alive\r\n") && r.keep_alive == 1,
          "1.0: keep-alive with a length");
    r = run("\r\nhello", opts(0, 0, 5, 0));
    CHECK(strstr(r.wire, "Content-Length: 5\r\nConnection: close\r\n") && r.keep_alive == 0,
          "1.0: close when not asked for keep-alive");
    r = run(PHP_HDRS "hi", opts(1, 0, -1, 0));
    CHECK(strstr(r.wire, "Transfer-Encoding: chunked\r\nConnection: close\r\n") &&
              r.keep_alive == 0,
          "1.1: Connection: close when the caller does not keep");

    /* HEAD */
    r = run(PHP_HDRS, opts(1, 1, 0, 1));
    CHECK(wire_is(&r, "HTTP/1.1 200 OK\r\n" SRV "Date: " DATE "\r\n"
                      "Content-Type: text/html; charset=UTF-8\r\nConnection: keep-alive\r\n"
                      "X-Powered-By: PHP/8.2.7\r\n\r\n"),
          "HEAD: no length from the empty body, no chunking");
    CHECK(r.keep_alive == 1 && r.mode == CGI_BODY_NONE, "HEAD: keep-alive");
    r = run("Content-Length: 5\r\nX-A: 1\r\n\r\nhello", opts(1, 1, -1, 1));
    CHECK(wire_is(&r, "HTTP/1.1 200 OK\r\n" SRV "Date: " DATE "\r\nContent-Length: 5\r\n"
                      "Connection: keep-alive\r\nX-A: 1\r\n\r\n"),
          "HEAD: worker Content-Length reported, body dropped");
    r = run(PHP_HDRS, opts(0, 1, -1, 1));
    CHECK(r.keep_alive == 1, "HEAD 1.0: nothing to delimit, keep-alive");

    /* 204 / 304 */
    r = run("Status: 204 No Content\r\nX-D: 4\r\n\r\nignored", opts(1, 1, -1, 0));
    CHECK(wire_is(&r, "HTTP/1.1 204 No Content\r\n" SRV "Date: " DATE "\r\n"
                      "Connection: keep-alive\r\nX-D: 4\r\n\r\n"),
          "204: no framing headers, body dropped");
    r = run("Status: 304 Not Modified\r\nContent-Length: 10\r\nETag: \"x\"\r\n\r\n",
            opts(1, 1, 0, 0));
    CHECK(wire_is(&r, "HTTP/1.1 304 Not Modified\r\n" SRV "Date: " DATE "\r\n"
                      "Connection: keep-alive\r\nETag: \"x\"\r\n\r\n") &&
              r.keep_alive == 1,
          "304: no Content-Length, keep-alive");

    /* Body framing primitives. */
    struct cgi_response c;
    cgi_response_init(&c, hdrbuf, sizeof hdrbuf);
    uint8_t blk[] = "\r\n";
    cgi_response_feed(&c, blk, 2);
    struct cgi_response_opts o = opts(1, 1, -1, 0);
    uint8_t head[512], pre[CGI_BODY_PREFIX_MAX], end[CGI_END_MAX];
    cgi_response_head(&c, &o, head, sizeof head);
    size_t send = 99;
    CHECK(cgi_response_body(&c, 0, pre, &send) == 0 && send == 0, "chunked: empty piece skipped");
    size_t pl = cgi_response_body(&c, 0x10000, pre, &send);
    CHECK(pl == 7 && memcmp(pre, "10000\r\n", 7) == 0 && send == 0x10000, "chunked: hex size");
    pl = cgi_response_body(&c, 255, pre, &send);
    CHECK(pl == 6 && memcmp(pre, "\r\nff\r\n", 6) == 0, "chunked: previous CRLF in prefix");
    size_t el = cgi_response_end(&c, end);
    CHECK(el == 7 && memcmp(end, "\r\n0\r\n\r\n", 7) == 0 && c.keep_alive,
          "chunked: end closes the open chunk");
    cgi_response_init(&c, hdrbuf, sizeof hdrbuf);
    cgi_response_feed(&c, blk, 2);
    cgi_response_head(&c, &o, head, sizeof head);
    el = cgi_response_end(&c, end);
    CHECK(el == 5 && memcmp(end, "0\r\n\r\n", 5) == 0, "chunked: empty body is just 0 CRLF CRLF");
}

static void test_headers_passed(void)
{
    struct run r = run("X-C: 3\r\nDate: Mon, 01 Jan 2001 00:00:00 GMT\r\nServer: mine\r\n\r\nd",
                       opts(1, 1, -1, 0));
    CHECK(wire_is(&r, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n"
                      "X-C: 3\r\nDate: Mon, 01 Jan 2001 00:00:00 GMT\r\nServer: mine\r\n\r\n"
                      "1\r\nd\r\n0\r\n\r\n"),
          "worker Date and Server replace ours, in place");
    r = run("Connection: close\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: gzip\r\n"
            "X-Accel-Buffering: no\r\nX-Accel-Redirect: /x\r\nX-Accel-Expires: 1\r\n"
            "X-Accel-Limit-Rate: 1\r\nX-Accel-Charset: utf-8\r\nX-Accel-Redirect-No: 1\r\n"
            "Upgrade: foo\r\nTrailer: X\r\n\r\nc",
            opts(1, 1, 1, 0));
    CHECK(wire_is(&r, "HTTP/1.1 200 OK\r\n" SRV "Date: " DATE "\r\nContent-Length: 1\r\n"
                      "Connection: keep-alive\r\nX-Accel-Redirect-No: 1\r\nUpgrade: foo\r\n"
                      "Trailer: X\r\n\r\nc"),
          "hop-by-hop and X-Accel-* dropped as nginx does");
    struct cgi_response_opts o = opts(1, 1, 0, 0);
    o.keep_x_accel = 1;
    o.server = "custom";
    r = run("X-Accel-Redirect: /x\r\n\r\n", o);
    CHECK(strstr(r.wire, "X-Accel-Redirect: /x\r\n") && strstr(r.wire, "Server: custom\r\n"),
          "keep_x_accel passes them; server override");
    r = run("Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Type: a\r\nContent-Type: b\r\n"
            "NoColonHeader\r\nX-Empty:\r\nX-Spaces:    lots   of   space   \r\n\r\n",
            opts(1, 1, 0, 0));
    CHECK(wire_is(&r, "HTTP/1.1 200 OK\r\n" SRV "Date: " DATE "\r\nContent-Type: b\r\n"
                      "Content-Length: 0\r\nConnection: keep-alive\r\n"
                      "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nNoColonHeader: \r\nX-Empty: \r\n"
                      "X-Spaces: lots   of   space\r\n\r\n"),
          "cookies kept in order, last Content-Type, colon-less and empty headers");
    r = run("X-A: 1\nContent-type: t\n\nbody", opts(1, 1, 4, 0));
    CHECK(r.ok && r.hdr_used == 24 && strstr(r.wire, "X-A: 1\r\n"), "LF-only worker lines");
    r = run("X-A: 1\n\r\nbody", opts(1, 1, 4, 0));
    CHECK(r.ok && r.hdr_used == 9, "LF line then CRLF end");
    r = run("X-A: \x80\xff\t x\r\n\r\n", opts(1, 1, 0, 0));
    CHECK(r.ok && strstr(r.wire, "X-A: \x80\xff\t x\r\n"), "obs-text and HTAB in values");

    /* The head into a buffer too small: the needed size, then the same bytes. */
    struct cgi_response c;
    cgi_response_init(&c, hdrbuf, sizeof hdrbuf);
    const char *blk = "X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    uint8_t *in = dup_exact(blk, strlen(blk));
    cgi_response_feed(&c, in, strlen(blk));
    free(in);
    uint8_t small[16], big[512];
    struct cgi_response_opts oo = opts(1, 1, 0, 0);
    size_t need = cgi_response_head(&c, &oo, small, sizeof small);
    size_t got = cgi_response_head(&c, &oo, big, sizeof big);
    CHECK(need > sizeof small && need == got && memcmp(big + got - 4, "\r\n\r\n", 4) == 0,
          "head: reports the size needed");
}

static void bad(const char *label, const char *out, size_t hdr_cap)
{
    struct run r = run_opts(out, strlen(out), 0, opts(1, 1, -1, 0), hdr_cap);
    struct run r1 = run_opts(out, strlen(out), 1, opts(1, 1, -1, 0), hdr_cap);
    CHECKF(!r.ok && !r1.ok, "worker output rejected (502): %s", label);
}

static void test_malformed(void)
{
    bad("space in name", "Bad Header: x\r\n\r\n", 1024);
    bad("space before colon", "X-A : x\r\n\r\n", 1024);
    bad("leading space (obs-fold)", "X-A: x\r\n y\r\n\r\n", 1024);
    bad("empty name", ": x\r\n\r\n", 1024);
    bad("CTL in value", "X-A: a\x01\r\n\r\n", 1024);
    bad("DEL in value", "X-A: a\x7f\r\n\r\n", 1024);
    bad("bare CR in value", "X-A: a\rX-B: b\r\n\r\n", 1024);
    bad("CR CR LF", "X-A: a\r\r\n\r\n", 1024);
    bad("Status letters", "Status: abc\r\n\r\n", 1024);
    bad("Status two digits", "Status: 99\r\n\r\n", 1024);
    bad("Status 600", "Status: 600 Bad\r\n\r\n", 1024);
    bad("Status 1xx", "Status: 101 Switching Protocols\r\n\r\n", 1024);
    bad("Status 100", "Status: 100\r\n\r\n", 1024);
    bad("Status no space", "Status: 200OK\r\n\r\n", 1024);
    bad("Status empty", "Status:\r\n\r\n", 1024);
    bad("Content-Length letters", "Content-Length: 5x\r\n\r\n", 1024);
    bad("Content-Length sign", "Content-Length: +5\r\n\r\n", 1024);
    bad("Content-Length empty", "Content-Length:\r\n\r\n", 1024);
    bad("Content-Length overflow", "Content-Length: 9223372036854775808\r\n\r\n", 1024);
    bad("duplicate Content-Length", "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", 1024);
    bad("block larger than the buffer", "X-A: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", 16);

    /* A block that never ends is not ready; fed bytes all count as header. */
    struct cgi_response c;
    cgi_response_init(&c, hdrbuf, sizeof hdrbuf);
    uint8_t *in = dup_exact("X-A: 1\r\nbody without end", 25);
    CHECK(cgi_response_feed(&c, in, 25) == 25 && !cgi_response_ready(&c),
          "incomplete block: not ready");
    free(in);
    cgi_response_init(&c, hdrbuf, 4);
    in = dup_exact("X-A: 1\r\n\r\n", 10);
    CHECK(cgi_response_feed(&c, in, 10) == -1 && c.error, "too large: error with reason");
    CHECK(cgi_response_feed(&c, in, 10) == -1, "error is sticky");
    free(in);
    cgi_response_init(&c, hdrbuf, 10);
    in = dup_exact("X-A: 1\r\n\r\nmore", 14);
    CHECK(cgi_response_feed(&c, in, 14) == 10 && cgi_response_ready(&c),
          "block exactly filling the buffer, body after it");
    CHECK(cgi_response_feed(&c, in, 14) == 0, "feed after ready takes nothing");
    free(in);
}

/* Every byte value at every position of a 24-byte worker header value. */
static void test_every_byte(void)
{
    int ok = 1;
    for (int b = 0; b < 256; b++) {
        int valid = b == '\t' || (b >= 0x20 && b != 0x7f);
        for (int pos = 0; pos < 24; pos++) {
            char out[64];
            memcpy(out, "X: v", 4);
            memset(out + 4, 'v', 24);
            out[4 + pos] = (char)b;
            memcpy(out + 28, "v\r\n\r\n", 5);
            struct run r = run_opts(out, 33, 0, opts(1, 1, 0, 0), sizeof hdrbuf);
            /* an LF ends the line early: "X: v..." then a line of 'v's without a colon, which is
             * a colon-less header name, still valid; a CR there is a bare CR, invalid */
            int expect = valid || b == '\n';
            if (r.ok != expect) {
                printf("  byte 0x%02x at %d: ok %d\n", b, pos, r.ok);
                ok = 0;
            }
        }
    }
    CHECK(ok, "every byte at every position of a worker header value: accepted iff allowed");
}

static void test_simple(void)
{
    uint8_t out[1024];
    size_t n = cgi_response_simple(out, sizeof out, 404, DATE, 0, 0);
    const char *body =
        "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
        "<center><h1>404 Not Found</h1></center>\r\n<hr><center>phpmgr/" PHPMGR_VERSION_STRING
        "</center>\r\n</body>\r\n</html>\r\n";
    char want[1024];
    snprintf(want, sizeof want,
             "HTTP/1.1 404 Not Found\r\n" SRV "Date: " DATE "\r\nContent-Type: text/html\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
             strlen(body), body);
    CHECK(n == strlen(want) && memcmp(out, want, n) == 0, "simple: 404 page");
    size_t h = cgi_response_simple(out, sizeof out, 404, DATE, 1, 1);
    CHECK(h == strlen(want) - strlen(body) + strlen("keep-alive") - strlen("close") &&
              memcmp(out + h - 26, "Connection: keep-alive\r\n\r\n", 26) == 0,
          "simple: HEAD has the length but no body");
    n = cgi_response_simple(out, sizeof out, 304, DATE, 1, 0);
    CHECK(n == strlen("HTTP/1.1 304 Not Modified\r\n" SRV "Date: " DATE
                      "\r\nConnection: keep-alive\r\n\r\n"),
          "simple: 304 without body or type");
    n = cgi_response_simple(out, 8, 400, DATE, 0, 0);
    size_t n2 = cgi_response_simple(out, sizeof out, 400, DATE, 0, 0);
    CHECK(n == n2 && n > 8, "simple: size reported when too small");
    n = cgi_response_simple(out, sizeof out, 599, DATE, 0, 0);
    CHECK(n < sizeof out && memcmp(out, "HTTP/1.1 599 \r\n", 15) == 0 &&
              strstr((char *)out, "<title>599</title>") != NULL,
          "simple: status without a reason phrase");
    CHECK(strcmp(CGI_RESPONSE_100_CONTINUE, "HTTP/1.1 100 Continue\r\n\r\n") == 0,
          "100 Continue constant");
}

static void test_reason_and_date(void)
{
    CHECK(strcmp(cgi_response_reason(200), "OK") == 0, "reason 200");
    CHECK(strcmp(cgi_response_reason(413), "Content Too Large") == 0, "reason 413");
    CHECK(strcmp(cgi_response_reason(431), "Request Header Fields Too Large") == 0, "reason 431");
    CHECK(strcmp(cgi_response_reason(505), "HTTP Version Not Supported") == 0, "reason 505");
    CHECK(strcmp(cgi_response_reason(299), "") == 0, "reason unknown is empty");
    char d[CGI_DATE_LEN + 1];
    cgi_response_date(d, 0);
    CHECK(strcmp(d, "Thu, 01 Jan 1970 00:00:00 GMT") == 0, "date: epoch");
    cgi_response_date(d, 784111777);
    CHECK(strcmp(d, "Sun, 06 Nov 1994 08:49:37 GMT") == 0, "date: RFC example");
    cgi_response_date(d, 1795424412);
    CHECK(strcmp(d, DATE) == 0, "date: 2026");
    cgi_response_date(d, 951782400); /* leap day */
    CHECK(strcmp(d, "Tue, 29 Feb 2000 00:00:00 GMT") == 0, "date: leap day");
}

int main(void)
{
    test_basic();
    test_status();
    test_framing();
    test_headers_passed();
    test_malformed();
    test_every_byte();
    test_simple();
    test_reason_and_date();
    return CHECK_DONE();
}
