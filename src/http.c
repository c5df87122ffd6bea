/* HTTP/1.1 request head parser and chunked body decoder: see http.h for the rules enforced. */
#include "http.h"

#include <string.h>

/* Byte classes (RFC 9110 section 5.6.2 tchar, 5.5 field-vchar, RFC 3986 for targets and hosts). */
#define C_TCHAR 1  /* token character */
#define C_VALUE 2  /* allowed in a field value: HTAB, SP, VCHAR, obs-text */
#define C_TARGET 4 /* allowed in a request-target: VCHAR except '#', and obs-text (as nginx) */
#define C_HEX 8    /* hex digit */
#define C_REG 16   /* reg-name: unreserved, sub-delims, '%' */

/* clang-format off */
static const uint8_t cls[256] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  2,  0,  0,  0,  0,  0,  0,  /* 0x00 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 0x10 */
    2,  23, 6,  3,  23, 23, 23, 23, 22, 22, 23, 23, 22, 23, 23, 6,  /* 0x20 */
    31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 6,  22, 6,  22, 6,  6,  /* 0x30 */
    6,  31, 31, 31, 31, 31, 31, 23, 23, 23, 23, 23, 23, 23, 23, 23, /* 0x40 */
    23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 6,  6,  6,  7,  23, /* 0x50 */
    7,  31, 31, 31, 31, 31, 31, 23, 23, 23, 23, 23, 23, 23, 23, 23, /* 0x60 */
    23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 6,  7,  6,  23, 0,  /* 0x70 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 0x80 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 0x90 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 0xa0 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 0xb0 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 0xc0 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 0xd0 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 0xe0 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 0xf0 */
};
/* clang-format on */

static int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static int is_ws(uint8_t c)
{
    return c == ' ' || c == '\t';
}

/* Word-at-a-time scanning (SWAR): a 64-bit word holds 8 bytes; "any byte below n" and "any byte
 * equal to c" are exact as booleans with the classic borrow tricks, so the byte loops below only
 * run where a word holds a byte that needs a closer look. Loads use memcpy (unaligned-safe) and
 * never go past the end given. */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static uint64_t any_below(uint64_t x, unsigned n)
{
    return (x - ONES * n) & ~x & HIGHS;
}

static uint64_t any_equal(uint64_t x, unsigned c)
{
    return any_below(x ^ (ONES * c), 1);
}

/* End of the field-value bytes (HTAB, SP, VCHAR, obs-text) starting at p, at most e. */
static size_t scan_value(const uint8_t *buf, size_t p, size_t e)
{
    for (;;) {
        while (e - p >= 8) {
            uint64_t x;
            memcpy(&x, buf + p, 8);
            if (any_below(x, 0x20) | any_equal(x, 0x7f)) break; /* a CTL, or just an HTAB */
            p += 8;
        }
        size_t stop = e - p < 8 ? e : p + 8;
        while (p < stop && (cls[buf[p]] & C_VALUE))
            p++;
        if (p < stop || p == e) return p;
    }
}

/* End of the request-target bytes starting at p, at most e. */
static size_t scan_target(const uint8_t *buf, size_t p, size_t e)
{
    for (;;) {
        while (e - p >= 8) {
            uint64_t x;
            memcpy(&x, buf + p, 8);
            if (any_below(x, 0x21) | any_equal(x, 0x7f) | any_equal(x, '#')) break;
            p += 8;
        }
        size_t stop = e - p < 8 ? e : p + 8;
        while (p < stop && (cls[buf[p]] & C_TARGET))
            p++;
        if (p < stop || p == e) return p;
    }
}

/* Case-insensitive compare of a token against a lowercase literal. Valid for tokens only: for
 * token characters, (c | 0x20) equals a lowercase letter or '-' exactly when c is that character
 * in either case. */
static int token_eq(const uint8_t *p, size_t n, const char *lower, size_t lower_len)
{
    if (n != lower_len) return 0;
    for (size_t i = 0; i < n; i++)
        if ((p[i] | 0x20) != (uint8_t)lower[i]) return 0;
    return 1;
}

/* Same for arbitrary bytes (values): folds ASCII letters only. */
static int value_eq(const uint8_t *p, size_t n, const char *lower, size_t lower_len)
{
    if (n != lower_len) return 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c >= 'A' && c <= 'Z') c |= 0x20;
        if (c != (uint8_t)lower[i]) return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------------------------------------
 * request head */

enum { ST_LINE, ST_HEADERS, ST_DONE, ST_ERROR };

/* r->flags */
#define F_CLOSE 1         /* Connection: close */
#define F_KEEPALIVE 2     /* Connection: keep-alive */
#define F_TE_CHUNKED 4    /* the Transfer-Encoding value is exactly "chunked" */
#define F_EXPECT_100 8    /* Expect: 100-continue */
#define F_EXPECT_OTHER 16 /* some other expectation */

/* Leading empty lines before the request line (RFC 9112 section 2.2 says ignore at least one). */
#define MAX_EMPTY_LINES 4

static ssize_t fail(struct http_request *r, uint16_t status, const char *why)
{
    r->stage = ST_ERROR;
    r->status = status;
    r->error = why;
    return -1;
}

static struct http_span span(size_t off, size_t len)
{
    struct http_span s = {(uint32_t)off, (uint32_t)len};
    return s;
}

void http_request_init(struct http_request *r, struct http_header *headers, uint16_t cap,
                       const struct http_limits *limits)
{
    memset(r, 0, sizeof *r);
    r->headers = headers;
    r->headers_cap = cap > INT16_MAX ? INT16_MAX : cap;
    if (limits) r->limits = *limits;
    if (!r->limits.max_request_line) r->limits.max_request_line = HTTP_DEFAULT_MAX_REQUEST_LINE;
    if (!r->limits.max_header_size) r->limits.max_header_size = HTTP_DEFAULT_MAX_HEADER_SIZE;
    /* Offsets are 32-bit: keep every limit far from wrapping. */
    if (r->limits.max_request_line > (1u << 30)) r->limits.max_request_line = 1u << 30;
    if (r->limits.max_header_size > (1u << 30)) r->limits.max_header_size = 1u << 30;
    r->host = r->content_type = r->content_length_hdr = r->transfer_encoding = -1;
}

static enum http_method method_lookup(const uint8_t *p, size_t n)
{
    switch (n) {
    case 3:
        if (!memcmp(p, "GET", 3)) return HTTP_GET;
        if (!memcmp(p, "PUT", 3)) return HTTP_PUT;
        break;
    case 4:
        if (!memcmp(p, "HEAD", 4)) return HTTP_HEAD;
        if (!memcmp(p, "POST", 4)) return HTTP_POST;
        break;
    case 5:
        if (!memcmp(p, "PATCH", 5)) return HTTP_PATCH;
        if (!memcmp(p, "TRACE", 5)) return HTTP_TRACE;
        break;
    case 6:
        if (!memcmp(p, "DELETE", 6)) return HTTP_DELETE;
        break;
    case 7:
        if (!memcmp(p, "OPTIONS", 7)) return HTTP_OPTIONS;
        if (!memcmp(p, "CONNECT", 7)) return HTTP_CONNECT;
        break;
    }
    return HTTP_OTHER;
}

/* uri-host [ ":" port ] (RFC 9110 section 7.2, RFC 3986 section 3.2.2). IP-literals are checked
 * for their character set only; reg-names may be empty (RFC 9112 allows an empty Host), ports are
 * up to 5 digits. No userinfo. */
static int valid_host(const uint8_t *p, size_t n)
{
    size_t i = 0;
    if (n && p[0] == '[') {
        for (i = 1; i < n && p[i] != ']'; i++) {
            uint8_t c = p[i];
            if (!(cls[c] & C_HEX) && c != ':' && c != '.' && !((cls[c] & C_REG) && c != '%'))
                return 0;
        }
        if (i >= n || i == 1) return 0;
        i++; /* ']' */
    } else {
        for (; i < n && p[i] != ':'; i++) {
            if (!(cls[p[i]] & C_REG)) return 0;
            if (p[i] == '%' && (i + 2 >= n || !(cls[p[i + 1]] & C_HEX) || !(cls[p[i + 2]] & C_HEX)))
                return 0;
        }
    }
    if (i == n) return 1;
    if (i == 0 || p[i] != ':' || n - i - 1 > 5) return 0; /* ":80" has no host */
    for (i++; i < n; i++)
        if (!is_digit(p[i])) return 0;
    return 1;
}

/* Fill uri/path/query from the path-and-query part at [s, e). */
static void split_uri(struct http_request *r, const uint8_t *buf, size_t s, size_t e)
{
    r->uri = span(s, e - s);
    const uint8_t *q = memchr(buf + s, '?', e - s);
    if (q) {
        size_t qo = (size_t)(q - buf);
        r->path = span(s, qo - s);
        r->query = span(qo + 1, e - qo - 1);
    } else {
        r->path = span(s, e - s);
        r->query = span(e, 0);
    }
}

/* "http://authority[/path][?query]" at [s, e). */
static ssize_t parse_absolute(struct http_request *r, const uint8_t *buf, size_t s, size_t e)
{
    size_t i = s;
    while (i < e && buf[i] != ':')
        i++;
    if (!(token_eq(buf + s, i - s, "http", 4) || token_eq(buf + s, i - s, "https", 5)) ||
        e - i < 3 || buf[i + 1] != '/' || buf[i + 2] != '/')
        return fail(r, 400, "invalid request target");
    size_t a = i + 3, ae = a;
    while (ae < e && buf[ae] != '/' && buf[ae] != '?')
        ae++;
    if (ae == a) return fail(r, 400, "invalid request target");
    if (memchr(buf + a, '@', ae - a)) return fail(r, 400, "userinfo in request target");
    if (!valid_host(buf + a, ae - a)) return fail(r, 400, "invalid request target");
    r->authority = span(a, ae - a);
    r->form = HTTP_FORM_ABSOLUTE;
    split_uri(r, buf, ae, e);
    return 0;
}

/* request-line = method SP request-target SP HTTP-version, at [s, e) (CRLF excluded). */
static ssize_t parse_request_line(struct http_request *r, const uint8_t *buf, size_t s, size_t e)
{
    size_t p = s;
    while (p < e && (cls[buf[p]] & C_TCHAR))
        p++;
    if (p == s || p == e || buf[p] != ' ') return fail(r, 400, "invalid method");
    r->method_name = span(s, p - s);
    r->method = (uint8_t)method_lookup(buf + s, p - s);

    size_t t = ++p;
    p = scan_target(buf, p, e);
    if (p == t || p == e || buf[p] != ' ') return fail(r, 400, "invalid request target");
    r->target = span(t, p - t);

    p++;
    if (e - p != 8 || memcmp(buf + p, "HTTP/", 5) != 0 || !is_digit(buf[p + 5]) ||
        buf[p + 6] != '.' || !is_digit(buf[p + 7]))
        return fail(r, 400, "invalid HTTP version");
    if (buf[p + 5] != '1' || buf[p + 7] > '1') return fail(r, 505, "unsupported HTTP version");
    r->version_minor = (uint8_t)(buf[p + 7] - '0');

    if (r->method == HTTP_CONNECT) return fail(r, 501, "CONNECT not supported");
    if (buf[t] == '/') {
        r->form = HTTP_FORM_ORIGIN;
        split_uri(r, buf, t, r->target.off + r->target.len);
        return 0;
    }
    if (r->target.len == 1 && buf[t] == '*') {
        if (r->method != HTTP_OPTIONS) return fail(r, 400, "asterisk-form without OPTIONS");
        r->form = HTTP_FORM_ASTERISK;
        r->uri = r->path = r->target;
        r->query = span(t + 1, 0);
        return 0;
    }
    return parse_absolute(r, buf, t, t + r->target.len);
}

/* Content-Length = 1*DIGIT, at most INT64_MAX. */
static int parse_content_length(const uint8_t *p, size_t n, uint64_t *out)
{
    if (n == 0) return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(p[i])) return -1;
        unsigned d = (unsigned)(p[i] - '0');
        if (v > ((uint64_t)INT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Connection = #connection-option: remembers close and keep-alive, ignores the rest. */
static void parse_connection(struct http_request *r, const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (is_ws(p[i]) || p[i] == ','))
            i++;
        size_t s = i;
        while (i < n && p[i] != ',')
            i++;
        size_t e = i;
        while (e > s && is_ws(p[e - 1]))
            e--;
        if (value_eq(p + s, e - s, "close", 5))
            r->flags |= F_CLOSE;
        else if (value_eq(p + s, e - s, "keep-alive", 10))
            r->flags |= F_KEEPALIVE;
    }
}

/* Expect = #expectation: 100-continue is the only one defined. */
static void parse_expect(struct http_request *r, const uint8_t *p, size_t n)
{
    size_t i = 0;
    int any = 0;
    while (i < n) {
        while (i < n && (is_ws(p[i]) || p[i] == ','))
            i++;
        size_t s = i;
        while (i < n && p[i] != ',')
            i++;
        size_t e = i;
        while (e > s && is_ws(p[e - 1]))
            e--;
        if (e == s) continue;
        any = 1;
        if (value_eq(p + s, e - s, "100-continue", 12))
            r->flags |= F_EXPECT_100;
        else
            r->flags |= F_EXPECT_OTHER;
    }
    if (!any) r->flags |= F_EXPECT_OTHER; /* "Expect:" with nothing in it */
}

/* field-line = field-name ":" OWS field-value OWS, at [s, e) (CRLF excluded). The headers that
 * decide framing and routing are recognised here, in the same pass. */
static ssize_t parse_header_line(struct http_request *r, const uint8_t *buf, size_t s, size_t e)
{
    size_t p = s;
    while (p < e && (cls[buf[p]] & C_TCHAR))
        p++;
    if (p == s) {
        if (is_ws(buf[s])) return fail(r, 400, "obs-fold or whitespace before a header name");
        return fail(r, 400, "invalid header name");
    }
    if (p == e || buf[p] != ':') {
        if (p < e && is_ws(buf[p])) return fail(r, 400, "whitespace before the colon");
        return fail(r, 400, "invalid header name");
    }
    size_t ne = p++;
    while (p < e && is_ws(buf[p]))
        p++;
    size_t v = p;
    p = scan_value(buf, p, e);
    if (p != e) return fail(r, 400, "control byte in a header value");
    while (p > v && is_ws(buf[p - 1]))
        p--;

    if (r->nheaders >= r->headers_cap) return fail(r, 431, "too many header lines");
    int idx = r->nheaders++;
    struct http_header *h = &r->headers[idx];
    h->name = span(s, ne - s);
    h->value = span(v, p - v);

    const uint8_t *name = buf + s, *val = buf + v;
    size_t nl = ne - s, vl = p - v;
    switch (nl) {
    case 4:
        if (token_eq(name, nl, "host", 4)) {
            if (r->host >= 0) return fail(r, 400, "more than one Host");
            if (!valid_host(val, vl)) return fail(r, 400, "invalid Host");
            r->host = (int16_t)idx;
        }
        break;
    case 6:
        if (token_eq(name, nl, "expect", 6)) parse_expect(r, val, vl);
        break;
    case 10:
        if (token_eq(name, nl, "connection", 10)) parse_connection(r, val, vl);
        break;
    case 12:
        if (r->content_type < 0 && token_eq(name, nl, "content-type", 12))
            r->content_type = (int16_t)idx;
        break;
    case 14:
        if (token_eq(name, nl, "content-length", 14)) {
            if (r->content_length_hdr >= 0) return fail(r, 400, "more than one Content-Length");
            if (parse_content_length(val, vl, &r->content_length) < 0)
                return fail(r, 400, "invalid Content-Length");
            r->content_length_hdr = (int16_t)idx;
        }
        break;
    case 17:
        if (token_eq(name, nl, "transfer-encoding", 17)) {
            if (r->transfer_encoding >= 0) return fail(r, 400, "more than one Transfer-Encoding");
            r->transfer_encoding = (int16_t)idx;
            if (value_eq(val, vl, "chunked", 7)) r->flags |= F_TE_CHUNKED;
        }
        break;
    }
    return 0;
}

/* The empty line ended the head at end (exclusive): whole-message checks. */
static ssize_t finish_head(struct http_request *r, size_t end)
{
    if (r->version_minor == 1 && r->host < 0) return fail(r, 400, "missing Host");
    if (r->transfer_encoding >= 0) {
        if (r->content_length_hdr >= 0)
            return fail(r, 400, "Transfer-Encoding with Content-Length");
        if (r->version_minor == 0) return fail(r, 400, "Transfer-Encoding in HTTP/1.0");
        if (!(r->flags & F_TE_CHUNKED)) return fail(r, 501, "unsupported Transfer-Encoding");
        r->body = HTTP_BODY_CHUNKED;
    } else if (r->content_length_hdr >= 0) {
        if (r->limits.max_body && r->content_length > r->limits.max_body)
            return fail(r, 413, "Content-Length above the body limit");
        r->body = r->content_length ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
    } else {
        r->body = HTTP_BODY_NONE;
    }
    if (r->version_minor == 1) {
        /* HTTP/1.0 expectations are ignored (RFC 9110 section 10.1.1). */
        if (r->flags & F_EXPECT_OTHER) return fail(r, 417, "unsupported expectation");
        r->expect_continue = (r->flags & F_EXPECT_100) && r->body != HTTP_BODY_NONE;
        r->keep_alive = !(r->flags & F_CLOSE);
    } else {
        r->keep_alive = (r->flags & F_KEEPALIVE) && !(r->flags & F_CLOSE);
    }
    r->head_len = (uint32_t)end;
    r->stage = ST_DONE;
    return (ssize_t)end;
}

ssize_t http_request_parse(struct http_request *r, const uint8_t *buf, size_t len)
{
    if (r->stage == ST_DONE) return r->head_len;
    if (r->stage == ST_ERROR) return -1;
    for (;;) {
        /* The line's LF must come before limit: past it the line (414) or the head (431) is too
         * long, so nothing beyond it is ever scanned. */
        size_t limit = r->stage == ST_LINE ? (size_t)r->pos + r->limits.max_request_line + 2
                                           : (size_t)r->head_start + r->limits.max_header_size;
        size_t end = len < limit ? len : limit;
        size_t from = (size_t)r->pos + r->scanned;
        const uint8_t *lf = from < end ? memchr(buf + from, '\n', end - from) : NULL;
        if (!lf) {
            if (len >= limit) {
                if (r->stage == ST_LINE) return fail(r, 414, "request line too long");
                return fail(r, 431, "request header too large");
            }
            if (end > r->pos) r->scanned = (uint32_t)(end - r->pos);
            return 0;
        }
        size_t e = (size_t)(lf - buf);
        if (e == r->pos || buf[e - 1] != '\r') return fail(r, 400, "line not ended by CRLF");
        size_t s = r->pos;
        r->pos = (uint32_t)(e + 1);
        r->scanned = 0;
        e--; /* the CR */
        if (r->stage == ST_LINE) {
            if (e == s) {
                if (++r->empty_lines > MAX_EMPTY_LINES)
                    return fail(r, 400, "empty lines before the request line");
                r->head_start = r->pos;
                continue;
            }
            if (parse_request_line(r, buf, s, e) < 0) return -1;
            r->stage = ST_HEADERS;
        } else {
            if (e == s) return finish_head(r, r->pos);
            if (parse_header_line(r, buf, s, e) < 0) return -1;
        }
    }
}

int http_header_find(const struct http_request *r, const uint8_t *buf, const char *name,
                     size_t name_len)
{
    for (unsigned i = 0; i < r->nheaders; i++) {
        const struct http_header *h = &r->headers[i];
        if (h->name.len != name_len) continue;
        size_t k = 0;
        for (; k < name_len; k++) {
            uint8_t a = buf[h->name.off + k], b = (uint8_t)name[k];
            if (a >= 'A' && a <= 'Z') a |= 0x20;
            if (b >= 'A' && b <= 'Z') b |= 0x20;
            if (a != b) break;
        }
        if (k == name_len) return (int)i;
    }
    return -1;
}

/* ---------------------------------------------------------------------------------------------
 * chunked body */

enum {
    CH_SIZE_FIRST,   /* first hex digit of a chunk size */
    CH_SIZE,         /* more hex digits, ';', BWS or CR */
    CH_SIZE_BWS,     /* whitespace after the size: only ';' may follow */
    CH_EXT_PRE_NAME, /* after ';': BWS then an extension name */
    CH_EXT_NAME,
    CH_EXT_POST_NAME, /* BWS after a name: '=' or ';' */
    CH_EXT_PRE_VAL,   /* after '=': BWS then a token or quoted-string */
    CH_EXT_TOKEN,
    CH_EXT_QUOTED,
    CH_EXT_QUOTED_ESC,
    CH_EXT_POST_VAL, /* after a value: ';' or CR (BWS only before ';') */
    CH_EXT_POST_VAL_BWS,
    CH_SIZE_LF, /* CR seen at the end of a chunk-size line */
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TRAILER_START, /* start of a trailer line, or the final CRLF */
    CH_TRAILER_NAME,
    CH_TRAILER_VALUE,
    CH_TRAILER_LF,
    CH_FINAL_LF,
    CH_DONE,
    CH_ERROR,
};

void http_chunked_init(struct http_chunked *c, uint64_t max_body)
{
    memset(c, 0, sizeof *c);
    c->max_body = max_body;
    c->state = CH_SIZE_FIRST;
}

int http_chunked_done(const struct http_chunked *c)
{
    return c->state == CH_DONE;
}

static ssize_t chunk_fail(struct http_chunked *c, uint16_t status, const char *why)
{
    c->state = CH_ERROR;
    c->status = status;
    c->error = why;
    return -1;
}

static int hex_val(uint8_t ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    ch |= 0x20;
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
}

/* qdtext / quoted-pair octets (RFC 9110 section 5.6.4). */
static int is_qdtext(uint8_t ch)
{
    return ch == '\t' || ch == ' ' || ch == 0x21 || (ch >= 0x23 && ch <= 0x5b) ||
           (ch >= 0x5d && ch <= 0x7e) || ch >= 0x80;
}

ssize_t http_chunked_decode(struct http_chunked *c, const uint8_t *in, size_t len, uint8_t *out,
                            size_t *out_len)
{
    size_t i = 0, o = 0;
    *out_len = 0;
    if (c->state == CH_ERROR) return -1;
    while (i < len && c->state != CH_DONE) {
        if (c->state == CH_DATA) {
            size_t n = len - i;
            if (n > c->remaining) n = (size_t)c->remaining;
            if (out + o != in + i) memmove(out + o, in + i, n);
            i += n;
            o += n;
            c->remaining -= n;
            c->total += n;
            if (c->remaining == 0) c->state = CH_DATA_CR;
            continue;
        }
        uint8_t ch = in[i++];
        if (c->state <= CH_SIZE_LF && ++c->line_len > HTTP_CHUNK_LINE_MAX) {
            *out_len = o;
            return chunk_fail(c, 400, "chunk-size line too long");
        }
        if (c->state >= CH_TRAILER_START && c->state <= CH_FINAL_LF &&
            ++c->trailer_len > HTTP_TRAILER_MAX) {
            *out_len = o;
            return chunk_fail(c, 431, "trailer section too large");
        }
        switch (c->state) {
        case CH_SIZE_FIRST:
        case CH_SIZE: {
            int d = hex_val(ch);
            if (d >= 0) {
                if (c->remaining > (UINT64_MAX >> 4)) goto bad_size;
                c->remaining = c->remaining << 4 | (unsigned)d;
                c->state = CH_SIZE;
                break;
            }
            if (c->state == CH_SIZE_FIRST) goto bad_size;
            if (ch == ';')
                c->state = CH_EXT_PRE_NAME;
            else if (is_ws(ch))
                c->state = CH_SIZE_BWS;
            else if (ch == '\r')
                c->state = CH_SIZE_LF;
            else
                goto bad_size;
            break;
        }
        case CH_SIZE_BWS:
            if (ch == ';')
                c->state = CH_EXT_PRE_NAME;
            else if (!is_ws(ch))
                goto bad_size;
            break;
        case CH_EXT_PRE_NAME:
            if (cls[ch] & C_TCHAR)
                c->state = CH_EXT_NAME;
            else if (!is_ws(ch))
                goto bad_ext;
            break;
        case CH_EXT_NAME:
            if (cls[ch] & C_TCHAR) break;
            if (ch == '=')
                c->state = CH_EXT_PRE_VAL;
            else if (ch == ';')
                c->state = CH_EXT_PRE_NAME;
            else if (is_ws(ch))
                c->state = CH_EXT_POST_NAME;
            else if (ch == '\r')
                c->state = CH_SIZE_LF;
            else
                goto bad_ext;
            break;
        case CH_EXT_POST_NAME:
            if (ch == '=')
                c->state = CH_EXT_PRE_VAL;
            else if (ch == ';')
                c->state = CH_EXT_PRE_NAME;
            else if (!is_ws(ch))
                goto bad_ext;
            break;
        case CH_EXT_PRE_VAL:
            if (ch == '"')
                c->state = CH_EXT_QUOTED;
            else if (cls[ch] & C_TCHAR)
                c->state = CH_EXT_TOKEN;
            else if (!is_ws(ch))
                goto bad_ext;
            break;
        case CH_EXT_TOKEN:
            if (cls[ch] & C_TCHAR) break;
            if (ch == ';')
                c->state = CH_EXT_PRE_NAME;
            else if (is_ws(ch))
                c->state = CH_EXT_POST_VAL_BWS;
            else if (ch == '\r')
                c->state = CH_SIZE_LF;
            else
                goto bad_ext;
            break;
        case CH_EXT_QUOTED:
            if (ch == '"')
                c->state = CH_EXT_POST_VAL;
            else if (ch == '\\')
                c->state = CH_EXT_QUOTED_ESC;
            else if (!is_qdtext(ch))
                goto bad_ext;
            break;
        case CH_EXT_QUOTED_ESC:
            if (!(cls[ch] & C_VALUE)) goto bad_ext;
            c->state = CH_EXT_QUOTED;
            break;
        case CH_EXT_POST_VAL:
            if (ch == ';')
                c->state = CH_EXT_PRE_NAME;
            else if (is_ws(ch))
                c->state = CH_EXT_POST_VAL_BWS;
            else if (ch == '\r')
                c->state = CH_SIZE_LF;
            else
                goto bad_ext;
            break;
        case CH_EXT_POST_VAL_BWS:
            if (ch == ';')
                c->state = CH_EXT_PRE_NAME;
            else if (!is_ws(ch))
                goto bad_ext;
            break;
        case CH_SIZE_LF:
            if (ch != '\n') goto bad_size;
            c->line_len = 0;
            if (c->remaining == 0) {
                c->state = CH_TRAILER_START;
            } else {
                if (c->max_body && c->remaining > c->max_body - c->total) {
                    *out_len = o;
                    return chunk_fail(c, 413, "chunked body above the body limit");
                }
                c->state = CH_DATA;
            }
            break;
        case CH_DATA_CR:
            if (ch != '\r') goto bad_data;
            c->state = CH_DATA_LF;
            break;
        case CH_DATA_LF:
            if (ch != '\n') goto bad_data;
            c->state = CH_SIZE_FIRST;
            break;
        case CH_TRAILER_START:
            if (ch == '\r')
                c->state = CH_FINAL_LF;
            else if (cls[ch] & C_TCHAR)
                c->state = CH_TRAILER_NAME;
            else
                goto bad_trailer;
            break;
        case CH_TRAILER_NAME:
            if (ch == ':')
                c->state = CH_TRAILER_VALUE;
            else if (!(cls[ch] & C_TCHAR))
                goto bad_trailer;
            break;
        case CH_TRAILER_VALUE:
            if (ch == '\r')
                c->state = CH_TRAILER_LF;
            else if (!(cls[ch] & C_VALUE))
                goto bad_trailer;
            break;
        case CH_TRAILER_LF:
            if (ch != '\n') goto bad_trailer;
            c->state = CH_TRAILER_START;
            break;
        case CH_FINAL_LF:
            if (ch != '\n') goto bad_trailer;
            c->state = CH_DONE;
            break;
        }
    }
    *out_len = o;
    return (ssize_t)i;

bad_size:
    *out_len = o;
    return chunk_fail(c, 400, "invalid chunk size");
bad_ext:
    *out_len = o;
    return chunk_fail(c, 400, "invalid chunk extension");
bad_data:
    *out_len = o;
    return chunk_fail(c, 400, "chunk data not followed by CRLF");
bad_trailer:
    *out_len = o;
    return chunk_fail(c, 400, "invalid trailer section");
}
