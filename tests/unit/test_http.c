/* Unit tests for src/http.c: the request head parser (accepted forms, limits, keep-alive, Expect,
 * a smuggling and malformed-request corpus that must all be rejected) and the chunked decoder.
 * Every input is parsed from an exact-size heap copy, whole and again one byte at a time, so the
 * sanitizer build catches any read past the end and splitting can never change the outcome. */
#include "check.h"
#include "http.h"

#include <stdlib.h>
#include <string.h>

static char name_buf[512];

#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        snprintf(name_buf, sizeof name_buf, __VA_ARGS__);                                          \
        CHECK(cond, name_buf);                                                                     \
    } while (0)

#define NHDR 32

static uint8_t *dup_exact(const void *src, size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    if (!p) abort();
    if (n) memcpy(p, src, n);
    return p;
}

/* The last parse: its buffer stays alive until the next parse so spans can be checked. */
static struct http_request req;
static struct http_header hdrs[NHDR];
static uint8_t *cur;
static size_t cur_len;

/* Parse the whole of s (n bytes) at once and again growing one byte at a time (each call sees an
 * exact-size buffer of the bytes so far); both must agree. Returns the whole-buffer result. */
static ssize_t parse_n(const char *s, size_t n, const struct http_limits *lim)
{
    free(cur);
    cur = dup_exact(s, n);
    cur_len = n;
    http_request_init(&req, hdrs, NHDR, lim);
    ssize_t whole = http_request_parse(&req, cur, n);

    struct http_request r2;
    struct http_header h2[NHDR];
    http_request_init(&r2, h2, NHDR, lim);
    ssize_t rc = 0;
    for (size_t k = 1; k <= n; k++) {
        uint8_t *part = dup_exact(s, k);
        rc = http_request_parse(&r2, part, k);
        free(part);
        if (rc != 0) break;
    }
    int same = rc == whole;
    if (same && whole < 0) same = r2.status == req.status;
    if (same && whole > 0)
        same = r2.nheaders == req.nheaders && r2.body == req.body &&
               r2.keep_alive == req.keep_alive && r2.target.off == req.target.off &&
               r2.content_length == req.content_length && r2.host == req.host;
    if (!same) {
        printf("FAIL: split parse differs for %.60s (whole %zd/%u, split %zd/%u)\n", s, whole,
               req.status, rc, r2.status);
        check_failed = 1;
    }
    return whole;
}

static ssize_t parse(const char *s)
{
    return parse_n(s, strlen(s), NULL);
}

static int span_is(struct http_span sp, const char *want)
{
    return sp.len == strlen(want) && sp.off + sp.len <= cur_len &&
           memcmp(cur + sp.off, want, sp.len) == 0;
}

/* Expect rejection with a given status. */
static void rejects(const char *label, const char *s, int status)
{
    ssize_t rc = parse(s);
    CHECKF(rc == -1 && req.status == status, "reject %s -> %d (got rc %zd status %u %s)", label,
           status, rc, req.status, req.error ? req.error : "");
}

static void test_simple_get(void)
{
    const char *s = "GET /index.php?a=1&b=2 HTTP/1.1\r\nHost: example.com\r\n"
                    "User-Agent: t\r\nAccept: */*\r\n\r\n";
    ssize_t rc = parse(s);
    CHECK(rc == (ssize_t)strlen(s), "get: head length is the whole input");
    CHECK(req.method == HTTP_GET && span_is(req.method_name, "GET"), "get: method");
    CHECK(req.version_minor == 1, "get: HTTP/1.1");
    CHECK(req.form == HTTP_FORM_ORIGIN, "get: origin-form");
    CHECK(span_is(req.target, "/index.php?a=1&b=2"), "get: target as sent");
    CHECK(span_is(req.uri, "/index.php?a=1&b=2"), "get: uri");
    CHECK(span_is(req.path, "/index.php"), "get: path");
    CHECK(span_is(req.query, "a=1&b=2"), "get: query");
    CHECK(req.nheaders == 3, "get: three headers");
    CHECK(req.host == 0 && span_is(req.headers[0].value, "example.com"), "get: host found");
    CHECK(span_is(req.headers[1].name, "User-Agent") && span_is(req.headers[1].value, "t"),
          "get: header name and value");
    CHECK(req.body == HTTP_BODY_NONE && req.keep_alive == 1 && !req.expect_continue,
          "get: no body, keep-alive");
    CHECK(req.content_type == -1 && req.content_length_hdr == -1 && req.transfer_encoding == -1,
          "get: no framing headers");
    CHECK(http_header_find(&req, cur, "accept", 6) == 2, "header_find: case-insensitive");
    CHECK(http_header_find(&req, cur, "ACCEPT", 6) == 2, "header_find: upper case");
    CHECK(http_header_find(&req, cur, "Accep", 5) == -1, "header_find: prefix is no match");
    CHECK(http_header_find(&req, cur, "Cookie", 6) == -1, "header_find: absent");

    /* Calling again after completion returns the same length. */
    CHECK(http_request_parse(&req, cur, cur_len) == rc, "get: parse after done is stable");
}

static void test_incomplete(void)
{
    CHECK(parse("GET / HTTP/1.1\r\nHost: x\r\n") == 0, "incomplete: no empty line yet");
    CHECK(parse("GET / HTTP/1.1\r\nHost: x\r\n\r") == 0, "incomplete: CR of the end");
    CHECK(parse("") == 0, "incomplete: nothing");
    CHECK(parse("GET / HT") == 0, "incomplete: partial request line");
    CHECK(parse("\r\n") == 0, "incomplete: a leading empty line only");
}

static void test_pipelining(void)
{
    const char *a = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
    char both[256];
    snprintf(both, sizeof both, "%sGET /b HTTP/1.1\r\nHost: x\r\n\r\n", a);
    ssize_t rc = parse(both);
    CHECK(rc == (ssize_t)strlen(a), "pipelining: head ends at the first request");
    CHECK(span_is(req.path, "/a"), "pipelining: first request parsed");
    /* The second one parses from where the first ended. */
    struct http_request r2;
    struct http_header h2[4];
    http_request_init(&r2, h2, 4, NULL);
    ssize_t rc2 = http_request_parse(&r2, cur + rc, cur_len - (size_t)rc);
    CHECK(rc2 == (ssize_t)(cur_len - (size_t)rc), "pipelining: second request complete");
    CHECK(r2.path.len == 2 && memcmp(cur + rc + r2.path.off, "/b", 2) == 0,
          "pipelining: second path");

    /* A POST body and the next request right after. */
    const char *p = "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n";
    rc = parse(p);
    CHECK(rc > 0 && req.body == HTTP_BODY_LENGTH && req.content_length == 3 &&
              memcmp(cur + rc, "abc", 3) == 0,
          "pipelining: body starts at head_len");
}

static void test_bodies(void)
{
    parse("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 42\r\nContent-Type: text/plain\r\n\r\n");
    CHECK(req.body == HTTP_BODY_LENGTH && req.content_length == 42, "body: Content-Length");
    CHECK(req.content_length_hdr == 1 && req.content_type == 2, "body: header indexes");
    parse("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
    CHECK(req.body == HTTP_BODY_NONE && req.content_length_hdr == 1, "body: Content-Length 0");
    parse("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    CHECK(req.body == HTTP_BODY_CHUNKED, "body: chunked");
    parse("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ChUnKeD  \r\n\r\n");
    CHECK(req.body == HTTP_BODY_CHUNKED, "body: chunked is case-insensitive, OWS trimmed");
    parse("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length:  007 \r\n\r\n");
    CHECK(req.body == HTTP_BODY_LENGTH && req.content_length == 7,
          "body: Content-Length with leading zeros and OWS");
    parse("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775807\r\n\r\n");
    CHECK(req.body == HTTP_BODY_LENGTH && req.content_length == 9223372036854775807ULL,
          "body: Content-Length INT64_MAX");
    rejects("Content-Length INT64_MAX+1",
            "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775808\r\n\r\n", 400);

    struct http_limits lim = {0, 0, 100};
    const char *s = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n";
    CHECK(parse_n(s, strlen(s), &lim) > 0, "max_body: equal is fine");
    s = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n";
    CHECK(parse_n(s, strlen(s), &lim) == -1 && req.status == 413, "max_body: above is 413");
    s = "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    CHECK(parse_n(s, strlen(s), &lim) > 0, "max_body: chunked is left to the decoder");
}

static void test_keepalive(void)
{
    parse("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(req.keep_alive == 1, "keep-alive: 1.1 default");
    parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    CHECK(req.keep_alive == 0, "keep-alive: 1.1 close");
    parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n");
    CHECK(req.keep_alive == 0, "keep-alive: close in a list, any case");
    parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: te\r\nConnection: close \r\n\r\n");
    CHECK(req.keep_alive == 0, "keep-alive: close in a second Connection line");
    parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n");
    CHECK(req.keep_alive == 1, "keep-alive: 'closed' is not close");
    parse("GET / HTTP/1.0\r\n\r\n");
    CHECK(req.keep_alive == 0 && req.version_minor == 0, "keep-alive: 1.0 default close");
    parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    CHECK(req.keep_alive == 1, "keep-alive: 1.0 keep-alive");
    parse("GET / HTTP/1.0\r\nConnection: foo ,keep-alive,\r\n\r\n");
    CHECK(req.keep_alive == 1, "keep-alive: 1.0 keep-alive in a list");
    parse("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n");
    CHECK(req.keep_alive == 0, "keep-alive: close wins over keep-alive");
    parse("GET / HTTP/1.0\r\nHost: h\r\n\r\n");
    CHECK(req.host == 0, "1.0: Host optional but used when present");
}

static void test_expect(void)
{
    parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    CHECK(req.expect_continue == 1, "expect: 100-continue with a body");
    parse(
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-Continue\r\n\r\n");
    CHECK(req.expect_continue == 1, "expect: case-insensitive, chunked body");
    parse("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n");
    CHECK(req.expect_continue == 0, "expect: no body, nothing to continue");
    parse("POST / HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    CHECK(req.expect_continue == 0, "expect: ignored on HTTP/1.0");
    parse("POST / HTTP/1.0\r\nContent-Length: 5\r\nExpect: something\r\n\r\n");
    CHECK(req.status == 0 && req.body == HTTP_BODY_LENGTH, "expect: other ignored on HTTP/1.0");
    rejects("Expect other", "GET / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n", 417);
    rejects("Expect list with other",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nExpect: 100-continue, x\r\n\r\n",
            417);
    rejects("Expect empty", "GET / HTTP/1.1\r\nHost: h\r\nExpect:\r\n\r\n", 417);
}

static void test_forms(void)
{
    parse("GET http://Example.com:8080/a/b?x=y HTTP/1.1\r\nHost: other\r\n\r\n");
    CHECK(req.form == HTTP_FORM_ABSOLUTE, "absolute: form");
    CHECK(span_is(req.authority, "Example.com:8080"), "absolute: authority");
    CHECK(span_is(req.uri, "/a/b?x=y") && span_is(req.path, "/a/b") && span_is(req.query, "x=y"),
          "absolute: uri, path, query");
    CHECK(span_is(req.target, "http://Example.com:8080/a/b?x=y"), "absolute: target as sent");
    parse("GET HTTPS://h HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(req.form == HTTP_FORM_ABSOLUTE && req.uri.len == 0 && span_is(req.authority, "h"),
          "absolute: https, empty path");
    parse("GET http://h?q HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(req.path.len == 0 && span_is(req.query, "q"), "absolute: query without path");
    parse("GET http://[::1]:80/ HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(span_is(req.authority, "[::1]:80"), "absolute: IPv6 literal");
    parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(req.form == HTTP_FORM_ASTERISK && req.method == HTTP_OPTIONS, "asterisk: OPTIONS *");
    parse("PROPFIND /dav HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(req.method == HTTP_OTHER && span_is(req.method_name, "PROPFIND"),
          "method: unknown token passed on");
    parse("get / HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(req.method == HTTP_OTHER, "method: case-sensitive (get is not GET)");
    parse("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(req.method == HTTP_HEAD && http_is_head(&req), "method: HEAD");
    parse("GET /a?b?c HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(span_is(req.path, "/a") && span_is(req.query, "b?c"), "query: first '?' splits");
    parse("GET /x? HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(span_is(req.path, "/x") && req.query.len == 0, "query: empty after '?'");
    parse("GET /{\"a\":1}|^`\\ HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(req.status == 0 && req.head_len > 0, "target: browser-unencoded VCHARs accepted");
    parse("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(req.status == 0 && req.head_len > 0, "target: raw UTF-8 accepted (as nginx)");
}

static void test_headers(void)
{
    parse("GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Sp:   a \t b  \t\r\nX-Obs: \x80\xff\r\n"
          "X-Tab:\tv\r\n\r\n");
    CHECK(req.nheaders == 5, "headers: count");
    CHECK(req.headers[1].value.len == 0, "headers: empty value");
    CHECK(span_is(req.headers[2].value, "a \t b"), "headers: OWS trimmed, inner kept");
    CHECK(span_is(req.headers[3].value, "\x80\xff"), "headers: obs-text allowed");
    CHECK(span_is(req.headers[4].value, "v"), "headers: HTAB as OWS");
    parse("GET / HTTP/1.1\r\nhOsT: h\r\n\r\n");
    CHECK(req.host == 0, "headers: Host any case");
    parse("GET / HTTP/1.1\r\nHost:\r\n\r\n");
    CHECK(req.host == 0 && req.status == 0, "host: empty value allowed");
    parse("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
    CHECK(req.status == 0 && req.head_len, "host: IPv6 with port");
    parse("GET / HTTP/1.1\r\nHost: a-b.c_d~e%41:1\r\n\r\n");
    CHECK(req.status == 0 && req.head_len, "host: reg-name characters");
    parse("GET / HTTP/1.1\r\nContent-Type: a\r\nContent-Type: b\r\nHost: h\r\n\r\n");
    CHECK(req.content_type == 0, "headers: first Content-Type");
    parse("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(req.head_len == 29 && span_is(req.path, "/"), "leading empty line skipped");
    parse("\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(req.head_len > 0, "four leading empty lines skipped");
    rejects("five leading empty lines", "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
            400);
}

static void test_limits(void)
{
    struct http_limits lim = {32, 96, 0};
    char line[256];
    /* "GET /xxx HTTP/1.1" exactly 32 bytes */
    snprintf(line, sizeof line, "GET /%s HTTP/1.1\r\nHost: h\r\n\r\n", "xxxxxxxxxxxxxxxxxx");
    CHECK(strstr(line, "\r\n") - line == 32, "limits: test line is 32 bytes");
    CHECK(parse_n(line, strlen(line), &lim) > 0, "limits: request line at the limit");
    snprintf(line, sizeof line, "GET /%s HTTP/1.1\r\nHost: h\r\n\r\n", "xxxxxxxxxxxxxxxxxxx");
    CHECK(parse_n(line, strlen(line), &lim) == -1 && req.status == 414,
          "limits: request line one over -> 414");
    /* 414 before the line ends: the client is still sending. */
    memset(line, 'a', 40);
    memcpy(line, "GET /", 5);
    CHECK(parse_n(line, 40, &lim) == -1 && req.status == 414, "limits: 414 without waiting");
    CHECK(parse_n(line, 33, &lim) == 0, "limits: 33 bytes without LF may still be CR LF");
    CHECK(parse_n(line, 34, &lim) == -1 && req.status == 414, "limits: 34 bytes without LF");

    /* Whole head exactly 96 bytes, then one more. */
    char h[256];
    const char *pre = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
    size_t pl = strlen(pre), vl = 96 - pl - 4;
    memcpy(h, pre, pl);
    memset(h + pl, 'v', vl);
    memcpy(h + pl + vl, "\r\n\r\n", 4);
    CHECK(parse_n(h, 96, &lim) == 96, "limits: head at max_header_size");
    memcpy(h + pl, "vv", 2);
    memset(h + pl, 'v', vl + 1);
    memcpy(h + pl + vl + 1, "\r\n\r\n", 4);
    CHECK(parse_n(h, 97, &lim) == -1 && req.status == 431, "limits: head one over -> 431");
    memset(h + pl, 'v', 120);
    CHECK(parse_n(h, pl + 120, &lim) == -1 && req.status == 431,
          "limits: 431 without waiting for the end");

    /* Too many header lines for the caller's array. */
    char many[2048] = "GET / HTTP/1.1\r\nHost: h\r\n";
    for (int i = 0; i < NHDR - 1; i++)
        strcat(many, "X: y\r\n");
    strcat(many, "\r\n");
    CHECK(parse(many) > 0 && req.nheaders == NHDR, "limits: header array exactly full");
    many[strlen(many) - 2] = 0;
    strcat(many, "X: y\r\n\r\n");
    rejects("one header line too many", many, 431);

    struct http_limits def = {0, 0, 0};
    struct http_request r;
    http_request_init(&r, hdrs, NHDR, &def);
    CHECK(r.limits.max_request_line == HTTP_DEFAULT_MAX_REQUEST_LINE &&
              r.limits.max_header_size == HTTP_DEFAULT_MAX_HEADER_SIZE,
          "limits: zero means default");
}

/* The word-at-a-time scanners against the byte rules: every byte value at every position of a
 * 24-byte value or target (three words and their boundaries). */
static void test_every_byte(void)
{
    int value_ok = 1, target_ok = 1;
    char buf[128];
    for (int b = 0; b < 256; b++) {
        int valid_value = b == '\t' || (b >= 0x20 && b != 0x7f);
        int valid_target = (b > 0x20 && b != 0x7f && b != '#');
        for (int pos = 0; pos < 24; pos++) {
            char v[25];
            memset(v, 'v', 24);
            v[pos] = (char)b;
            /* value: "X: " + 24 bytes; leading/trailing SP/HTAB are OWS, so frame with 'v' */
            int n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: h\r\nX: v");
            memcpy(buf + n, v, 24);
            n += 24;
            n += snprintf(buf + n, sizeof buf - (size_t)n, "v\r\n\r\n");
            struct http_request r;
            struct http_header h[4];
            uint8_t *c = dup_exact(buf, (size_t)n);
            http_request_init(&r, h, 4, NULL);
            ssize_t rc = http_request_parse(&r, c, (size_t)n);
            free(c);
            /* (an LF there ends the line early without a CR: 400 as well) */
            if ((rc > 0) != valid_value) value_ok = 0;
            if (rc < 0 && r.status != 400) value_ok = 0;

            n = snprintf(buf, sizeof buf, "GET /");
            memcpy(buf + n, v, 24);
            n += 24;
            n += snprintf(buf + n, sizeof buf - (size_t)n, " HTTP/1.1\r\nHost: h\r\n\r\n");
            c = dup_exact(buf, (size_t)n);
            http_request_init(&r, h, 4, NULL);
            rc = http_request_parse(&r, c, (size_t)n);
            free(c);
            if ((rc > 0) != valid_target) target_ok = 0;
        }
    }
    CHECK(value_ok, "every byte at every position of a header value: accepted iff allowed");
    CHECK(target_ok, "every byte at every position of a target: accepted iff allowed");
}

/* Requests that must never be accepted: smuggling vectors and malformed heads. */
static void test_smuggling_corpus(void)
{
    /* E() keeps the literal's exact size: some entries carry NUL bytes. */
/* clang-format off */
#define E(label, req, status) {label, req, sizeof(req) - 1, status}
    static const struct {
        const char *label, *req;
        size_t len;
        int status;
    } corpus[] = {
        /* CL.TE and TE.CL */
        E("CL.TE", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        E("TE.CL", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n", 400),
        E("TE.CL lower", "POST / HTTP/1.1\r\nHost: h\r\ntransfer-encoding: chunked\r\ncontent-length: 6\r\n\r\n", 400),
        E("TE tab + CL", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\tchunked\r\nContent-Length: 3\r\n\r\n", 400),
        E("CL 0 + TE", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        E("TE gzip + CL", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n", 400),
        /* Transfer-Encoding tricks */
        E("TE space before colon", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n", 400),
        E("TE tab before colon", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding\t: chunked\r\n\r\n", 400),
        E("TE chunked, identity", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 501),
        E("TE identity", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", 501),
        E("TE gzip, chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        E("TE chunked,chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked,chunked\r\n\r\n", 501),
        E("TE xchunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", 501),
        E("TE chunkedx", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunkedx\r\n\r\n", 501),
        E("TE chunked;q", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", 501),
        E("TE quoted", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", 501),
        E("TE split word", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chun ked\r\n\r\n", 501),
        E("TE obs-text", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\x85\r\n\r\n", 501),
        E("TE empty", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n", 501),
        E("TE vertical tab", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\x0b chunked\r\n\r\n", 400),
        E("TE form feed", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \x0c" "chunked\r\n\r\n", 400),
        E("TE NUL", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\0\r\n\r\n", 400),
        E("TE twice", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        E("TE twice identity", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-encoding: identity\r\n\r\n", 400),
        E("TE obs-fold", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n", 400),
        E("TE obs-fold tab", "POST / HTTP/1.1\r\nHost: h\r\nX: y\r\n\tTransfer-Encoding: chunked\r\n\r\n", 400),
        E("TE leading space", "POST / HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: h\r\n\r\n", 400),
        E("TE underscore-less name trick", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding\r\n: chunked\r\n\r\n", 400),
        E("TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        E("TE LF only", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\n\r\n", 400),
        /* Content-Length tricks */
        E("CL plus", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", 400),
        E("CL minus", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400),
        E("CL list same", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n", 400),
        E("CL list no space", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,5\r\n\r\n", 400),
        E("CL twice same", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400),
        E("CL twice different", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n", 400),
        E("CL hex", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\n", 400),
        E("CL decimal point", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5.0\r\n\r\n", 400),
        E("CL exponent", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1e3\r\n\r\n", 400),
        E("CL empty", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400),
        E("CL inner space", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5 5\r\n\r\n", 400),
        E("CL overflow", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
        E("CL 2^64", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n", 400),
        E("CL NUL", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\0\r\n\r\n", 400),
        E("CL fullwidth digit", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \xef\xbc\x95\r\n\r\n", 400),
        E("CL space before colon", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length : 5\r\n\r\n", 400),
        E("CL name with space", "POST / HTTP/1.1\r\nHost: h\r\nContent Length: 5\r\n\r\n", 400),
        E("CL obs-fold", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n 5\r\n\r\n", 400),
        /* Line endings */
        E("LF only", "GET / HTTP/1.1\nHost: h\n\n", 400),
        E("LF only end", "GET / HTTP/1.1\r\nHost: h\r\n\n", 400),
        E("LF only header", "GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", 400),
        E("bare CR header", "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400),
        E("bare CR end", "GET / HTTP/1.1\r\nHost: h\r\n\r\r\n", 400),
        E("CR CR LF", "GET / HTTP/1.1\r\r\nHost: h\r\n\r\n", 400),
        E("bare CR in line", "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400),
        E("leading LF", "\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        /* Control bytes */
        E("NUL in value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", 400),
        E("NUL in name", "GET / HTTP/1.1\r\nHost: h\r\nX\0: a\r\n\r\n", 400),
        E("NUL in target", "GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        E("NUL in method", "G\0T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        E("DEL in value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", 400),
        E("ESC in value", "GET / HTTP/1.1\r\nHost: h\r\nX: \x1b[31m\r\n\r\n", 400),
        E("DEL in target", "GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        E("TAB in target", "GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        E("fragment in target", "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        /* Header names */
        E("empty name", "GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", 400),
        E("no colon", "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400),
        E("name with slash", "GET / HTTP/1.1\r\nHost: h\r\nX/Y: v\r\n\r\n", 400),
        E("name with UTF-8", "GET / HTTP/1.1\r\nHost: h\r\nTr\xc3\xa4nsfer-Encoding: chunked\r\n\r\n", 400),
        E("name with paren", "GET / HTTP/1.1\r\nHost: h\r\nX(: v\r\n\r\n", 400),
        E("obs-fold generic", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400),
        /* Host */
        E("missing Host 1.1", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 400),
        E("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400),
        E("two Hosts case", "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400),
        E("Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
        E("Host with slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
        E("Host with backslash", "GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n", 400),
        E("Host userinfo", "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400),
        E("Host bad port", "GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n", 400),
        E("Host long port", "GET / HTTP/1.1\r\nHost: a:123456\r\n\r\n", 400),
        E("Host port only", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", 400),
        E("Host list", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", 400),
        E("Host bad pct", "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", 400),
        E("Host open bracket", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),
        E("Host empty brackets", "GET / HTTP/1.1\r\nHost: []\r\n\r\n", 400),
        E("Host 1.0 invalid", "GET / HTTP/1.0\r\nHost: a b\r\n\r\n", 400),
        /* Request line */
        E("HTTP/0.9", "GET /\r\n\r\n", 400),
        E("HTTP/0.9 version", "GET / HTTP/0.9\r\n\r\n", 505),
        E("HTTP/1.2", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505),
        E("HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        E("HTTP/3.0", "GET / HTTP/3.0\r\nHost: h\r\n\r\n", 505),
        E("h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
        E("HTTP/1.10", "GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400),
        E("HTTP/11", "GET / HTTP/11\r\nHost: h\r\n\r\n", 400),
        E("lowercase version", "GET / http/1.1\r\nHost: h\r\n\r\n", 400),
        E("HTTP/1", "GET / HTTP/1\r\nHost: h\r\n\r\n", 400),
        E("double space", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        E("double space 2", "GET /  HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        E("tab separator", "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        E("trailing space", "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400),
        E("leading space", " GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        E("no target", "GET HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        E("method with slash", "GE/T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        E("CONNECT", "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", 501),
        E("authority-form GET", "GET h:80 HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        E("asterisk GET", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        E("relative target", "GET index.php HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        E("absolute userinfo", "GET http://u:p@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        E("absolute ftp", "GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        E("absolute one slash", "GET http:/h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        E("absolute no host", "GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        E("absolute bad host", "GET http://a%zz/ HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        E("absolute port only", "GET http://:80/ HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        E("absolute missing Host", "GET http://h/ HTTP/1.1\r\n\r\n", 400),
        E("header before request line", "Host: h\r\nGET / HTTP/1.1\r\n\r\n", 400),
    };
#undef E
    /* clang-format on */
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
        ssize_t rc = parse_n(corpus[i].req, corpus[i].len, NULL);
        CHECKF(rc == -1 && req.status == corpus[i].status, "corpus: %s -> %d (got %zd/%u %s)",
               corpus[i].label, corpus[i].status, rc, req.status, req.error ? req.error : "");
    }
}

/* ----- chunked decoder */

struct dec {
    int rc;          /* 1 done, 0 incomplete, -1 error */
    size_t consumed; /* input bytes consumed */
    uint16_t status;
    char out[512];
    size_t out_len;
};

/* Decode the whole input at once into a separate buffer. */
static struct dec decode_whole(const char *s, size_t n, uint64_t max)
{
    struct dec d = {0};
    uint8_t *in = dup_exact(s, n), *out = malloc(n ? n : 1);
    struct http_chunked c;
    http_chunked_init(&c, max);
    size_t ol = 0;
    ssize_t rc = http_chunked_decode(&c, in, n, out, &ol);
    d.rc = rc < 0 ? -1 : http_chunked_done(&c) ? 1 : 0;
    d.consumed = rc < 0 ? 0 : (size_t)rc;
    d.status = c.status;
    if (ol > sizeof d.out) ol = sizeof d.out;
    memcpy(d.out, out, ol);
    d.out_len = ol;
    free(in);
    free(out);
    return d;
}

/* Decode in place, one byte per call. */
static struct dec decode_bytes(const char *s, size_t n, uint64_t max)
{
    struct dec d = {0};
    struct http_chunked c;
    http_chunked_init(&c, max);
    d.rc = 0;
    for (size_t i = 0; i < n && !http_chunked_done(&c); i++) {
        uint8_t *b = dup_exact(s + i, 1);
        size_t ol = 0;
        ssize_t rc = http_chunked_decode(&c, b, 1, b, &ol);
        if (ol && d.out_len < sizeof d.out) d.out[d.out_len++] = (char)b[0];
        free(b);
        if (rc < 0) {
            d.rc = -1;
            d.status = c.status;
            return d;
        }
        d.consumed += (size_t)rc;
    }
    d.rc = http_chunked_done(&c) ? 1 : 0;
    return d;
}

static void chunk_ok(const char *label, const char *s, const char *want, size_t consumed)
{
    size_t n = strlen(s);
    struct dec a = decode_whole(s, n, 0), b = decode_bytes(s, n, 0);
    CHECKF(a.rc == 1 && a.out_len == strlen(want) && memcmp(a.out, want, a.out_len) == 0 &&
               a.consumed == consumed,
           "chunked ok: %s (rc %d, out %zu, consumed %zu)", label, a.rc, a.out_len, a.consumed);
    CHECKF(b.rc == 1 && b.out_len == a.out_len && memcmp(b.out, a.out, a.out_len) == 0 &&
               b.consumed == consumed,
           "chunked ok byte by byte: %s", label);
}

static void chunk_bad(const char *label, const char *s, size_t n, int status, uint64_t max)
{
    struct dec a = decode_whole(s, n, max), b = decode_bytes(s, n, max);
    CHECKF(a.rc == -1 && a.status == status, "chunked reject: %s -> %d (rc %d status %u)", label,
           status, a.rc, a.status);
    CHECKF(b.rc == -1 && b.status == status, "chunked reject byte by byte: %s", label);
}

static void test_chunked(void)
{
    chunk_ok("one chunk", "5\r\nhello\r\n0\r\n\r\n", "hello", 15);
    chunk_ok("two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", 26);
    chunk_ok("hex upper/lower", "A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n",
             "0123456789abcdefghij", 35);
    chunk_ok("leading zeros", "0005\r\nhello\r\n000\r\n\r\n", "hello", 20);
    chunk_ok("empty body", "0\r\n\r\n", "", 5);
    chunk_ok("extension", "5;name=value\r\nhello\r\n0;last\r\n\r\n", "hello", 31);
    chunk_ok("extensions with BWS", "5 ; a = b ;c;d=\"q\\\"x;y\"\r\nhello\r\n0\r\n\r\n", "hello",
             37);
    chunk_ok("trailers", "5\r\nhello\r\n0\r\nX-T: v\r\nY:\tw x\r\n\r\n", "hello", 31);
    chunk_ok("stops at the end", "1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "a", 11);

    /* In place, the whole buffer. */
    const char *src = "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\nNEXT";
    uint8_t *b = dup_exact(src, strlen(src));
    struct http_chunked c;
    http_chunked_init(&c, 0);
    size_t ol = 0;
    ssize_t rc = http_chunked_decode(&c, b, strlen(src), b, &ol);
    CHECK(rc == (ssize_t)strlen(src) - 4 && ol == 7 && memcmp(b, "abcdefg", 7) == 0,
          "chunked: in place");
    CHECK(http_chunked_done(&c) && c.total == 7, "chunked: done and total");
    CHECK(http_chunked_decode(&c, b, 4, b, &ol) == 0 && ol == 0, "chunked: nothing after done");
    free(b);

    /* Split across calls at every position gives the same result. */
    const char *s = "1a;x=\"y\"\r\nabcdefghijklmnopqrstuvwxyz\r\n2\r\n12\r\n0\r\nT: 1\r\n\r\n";
    size_t n = strlen(s);
    int all = 1;
    for (size_t k = 0; k <= n; k++) {
        uint8_t *p1 = dup_exact(s, k), *p2 = dup_exact(s + k, n - k), out[128];
        http_chunked_init(&c, 0);
        size_t o1 = 0, o2 = 0;
        ssize_t r1 = http_chunked_decode(&c, p1, k, out, &o1);
        ssize_t r2 = http_chunked_decode(&c, p2, n - k, out + o1, &o2);
        if (r1 != (ssize_t)k || r2 != (ssize_t)(n - k) || o1 + o2 != 28 ||
            memcmp(out, "abcdefghijklmnopqrstuvwxyz12", 28) != 0 || !http_chunked_done(&c))
            all = 0;
        free(p1);
        free(p2);
    }
    CHECK(all, "chunked: every two-way split decodes the same");

    /* Incomplete is not an error. */
    struct dec d = decode_whole("5\r\nhel", 6, 0);
    CHECK(d.rc == 0 && d.out_len == 3 && d.consumed == 6, "chunked: partial data delivered");
    d = decode_whole("5\r\nhello\r\n0\r\n", 13, 0);
    CHECK(d.rc == 0 && d.consumed == 13, "chunked: waiting for the final CRLF");

    chunk_bad("LF after size", "5\nhello\r\n0\r\n\r\n", 14, 400, 0);
    chunk_bad("no CRLF after data", "5\r\nhelloX\r\n0\r\n\r\n", 17, 400, 0);
    chunk_bad("LF only after data", "5\r\nhello\n0\r\n\r\n", 14, 400, 0);
    chunk_bad("CR only after data", "5\r\nhello\r0\r\n\r\n", 14, 400, 0);
    chunk_bad("data longer than size", "3\r\nhello\r\n0\r\n\r\n", 15, 400, 0);
    chunk_bad("not hex", "g\r\n", 3, 400, 0);
    chunk_bad("empty size", "\r\nhello\r\n", 9, 400, 0);
    chunk_bad("negative size", "-5\r\nhello\r\n", 11, 400, 0);
    chunk_bad("plus size", "+5\r\nhello\r\n", 11, 400, 0);
    chunk_bad("0x prefix", "0x5\r\nhello\r\n", 12, 400, 0);
    chunk_bad("leading space", " 5\r\nhello\r\n", 11, 400, 0);
    chunk_bad("trailing space", "5 \r\nhello\r\n", 11, 400, 0);
    chunk_bad("trailing tab", "5\t\r\nhello\r\n", 11, 400, 0);
    chunk_bad("overflow 17 digits", "10000000000000000\r\n", 19, 400, 0);
    chunk_bad("overflow many f", "fffffffffffffffff\r\n", 19, 400, 0);
    chunk_bad("NUL in size", "5\0\r\nhello\r\n", 11, 400, 0);
    chunk_bad("empty extension", "5;\r\nhello\r\n", 11, 400, 0);
    chunk_bad("extension no name", "5;=a\r\nhello\r\n", 13, 400, 0);
    chunk_bad("extension trailing BWS", "5;a \r\nhello\r\n", 13, 400, 0);
    chunk_bad("extension empty value", "5;a=\r\nhello\r\n", 13, 400, 0);
    chunk_bad("extension CTL", "5;a=\x01\r\nhello\r\n", 14, 400, 0);
    chunk_bad("extension LF", "5;a\nhello\r\n", 11, 400, 0);
    chunk_bad("extension unterminated quote", "5;a=\"x\r\nhello\r\n", 15, 400, 0);
    chunk_bad("extension NUL in quote", "5;a=\"\0\"\r\nhello\r\n", 16, 400, 0);
    chunk_bad("size LF only final", "0\n\r\n", 4, 400, 0);
    chunk_bad("final LF only", "0\r\n\n", 4, 400, 0);
    chunk_bad("final CR junk", "0\r\n\rX", 5, 400, 0);
    chunk_bad("trailer obs-fold", "0\r\nX: a\r\n b\r\n\r\n", 15, 400, 0);
    chunk_bad("trailer no colon", "0\r\nX a\r\n\r\n", 10, 400, 0);
    chunk_bad("trailer space before colon", "0\r\nX : a\r\n\r\n", 12, 400, 0);
    chunk_bad("trailer NUL", "0\r\nX: a\0\r\n\r\n", 12, 400, 0);
    chunk_bad("trailer LF only", "0\r\nX: a\n\r\n", 10, 400, 0);
    chunk_bad("trailer bare CR", "0\r\nX: a\rb\r\n\r\n", 13, 400, 0);

    char big[HTTP_CHUNK_LINE_MAX + 64];
    memcpy(big, "5;a=", 4);
    memset(big + 4, 'x', sizeof big - 4);
    chunk_bad("extension too long", big, sizeof big, 400, 0);
    static char tr[HTTP_TRAILER_MAX + 64];
    memcpy(tr, "0\r\nX: ", 6);
    memset(tr + 6, 'x', sizeof tr - 6);
    chunk_bad("trailers too large", tr, sizeof tr, 431, 0);

    chunk_bad("above max_body in one chunk", "b\r\nhello world\r\n0\r\n\r\n", 22, 413, 10);
    chunk_bad("above max_body over chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 26, 413, 10);
    chunk_bad("huge size with a limit", "ffffffffffffffff\r\n", 18, 413, 1000);
    d = decode_whole("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", 25, 10);
    CHECK(d.rc == 1 && d.out_len == 10, "chunked: exactly max_body");

    /* After an error every call fails. */
    http_chunked_init(&c, 0);
    uint8_t g[2] = {'g', '\r'};
    CHECK(http_chunked_decode(&c, g, 2, g, &ol) == -1 && c.status == 400 && c.error,
          "chunked: error reported");
    CHECK(http_chunked_decode(&c, g, 2, g, &ol) == -1, "chunked: error is sticky");
}

int main(void)
{
    test_simple_get();
    test_incomplete();
    test_pipelining();
    test_bodies();
    test_keepalive();
    test_expect();
    test_forms();
    test_headers();
    test_limits();
    test_every_byte();
    test_smuggling_corpus();
    test_chunked();
    free(cur);
    return CHECK_DONE();
}
