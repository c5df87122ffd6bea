/* libFuzzer target for src/http.c. The first two bytes choose limits and split points; the rest is
 * parsed as a request head (whole, and again split in two and in three pieces with the buffer
 * growing, as the ring delivers it): every split must give the same outcome, an accepted head must
 * satisfy the strict grammar (CRLF-only lines, token names, no control bytes in values, coherent
 * framing), and every span must lie inside the head. The bytes after an accepted head (or the
 * whole input) then go through the chunked decoder whole, split, in place and one byte at a time,
 * which must all agree. Any violated invariant traps. */
#include "http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) __builtin_trap();                                                             \
    } while (0)

#define NHDR 24

static int is_tchar(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void span_ok(struct http_span s, size_t head_len)
{
    REQUIRE(s.off <= head_len && s.len <= head_len - s.off);
}

struct outcome {
    ssize_t rc;
    uint16_t status;
    struct http_request r;
    struct http_header h[NHDR];
};

/* Parse data[0, n) arriving in pieces ending at cuts[0..ncuts) then n; each call sees an exact-size
 * copy of everything so far. */
static void parse_pieces(struct outcome *o, const uint8_t *data, size_t n, const size_t *cuts,
                         int ncuts, const struct http_limits *lim)
{
    http_request_init(&o->r, o->h, NHDR, lim);
    o->rc = 0;
    for (int i = 0; i <= ncuts; i++) {
        size_t k = i < ncuts ? cuts[i] : n;
        uint8_t *b = malloc(k ? k : 1);
        if (!b) abort();
        if (k) memcpy(b, data, k);
        o->rc = http_request_parse(&o->r, b, k);
        free(b);
        if (o->rc != 0) break;
    }
    o->status = o->r.status;
}

static void check_head(const struct http_request *r, const uint8_t *b, size_t head_len)
{
    REQUIRE(head_len >= 4 && memcmp(b + head_len - 4, "\r\n\r\n", 4) == 0);
    /* CRLF only: every LF follows a CR, every CR precedes an LF. */
    for (size_t i = 0; i < head_len; i++) {
        if (b[i] == '\n') REQUIRE(i > 0 && b[i - 1] == '\r');
        if (b[i] == '\r') REQUIRE(i + 1 < head_len && b[i + 1] == '\n');
        REQUIRE(b[i] != 0);
    }
    REQUIRE(r->head_len == head_len);
    REQUIRE(r->version_minor <= 1);
    REQUIRE(r->method != HTTP_CONNECT);
    span_ok(r->method_name, head_len);
    span_ok(r->target, head_len);
    span_ok(r->uri, head_len);
    span_ok(r->path, head_len);
    span_ok(r->query, head_len);
    span_ok(r->authority, head_len);
    REQUIRE(r->method_name.len > 0 && r->target.len > 0);
    for (uint32_t i = 0; i < r->method_name.len; i++)
        REQUIRE(is_tchar(b[r->method_name.off + i]));
    for (uint32_t i = 0; i < r->target.len; i++) {
        uint8_t c = b[r->target.off + i];
        REQUIRE(c > 0x20 && c != 0x7f && c != '#');
    }
    if (r->form == HTTP_FORM_ORIGIN) REQUIRE(b[r->target.off] == '/');
    if (r->form == HTTP_FORM_ASTERISK) REQUIRE(r->method == HTTP_OPTIONS && r->target.len == 1);
    if (r->form == HTTP_FORM_ABSOLUTE) {
        REQUIRE(r->authority.len > 0);
        REQUIRE(memchr(b + r->authority.off, '@', r->authority.len) == NULL);
    }
    REQUIRE(r->path.off >= r->uri.off && r->path.off + r->path.len <= r->uri.off + r->uri.len);
    REQUIRE(r->nheaders <= NHDR);
    int hosts = 0, cls = 0, tes = 0;
    for (unsigned i = 0; i < r->nheaders; i++) {
        const struct http_header *h = &r->headers[i];
        span_ok(h->name, head_len);
        span_ok(h->value, head_len);
        REQUIRE(h->name.len > 0);
        for (uint32_t k = 0; k < h->name.len; k++)
            REQUIRE(is_tchar(b[h->name.off + k]));
        REQUIRE(b[h->name.off + h->name.len] == ':');
        for (uint32_t k = 0; k < h->value.len; k++) {
            uint8_t c = b[h->value.off + k];
            REQUIRE(c == '\t' || (c >= 0x20 && c != 0x7f));
        }
        if (h->value.len) {
            REQUIRE(b[h->value.off] != ' ' && b[h->value.off] != '\t');
            uint8_t last = b[h->value.off + h->value.len - 1];
            REQUIRE(last != ' ' && last != '\t');
        }
        if (h->name.len == 4 && !strncasecmp((const char *)b + h->name.off, "host", 4)) hosts++;
        if (h->name.len == 14 && !strncasecmp((const char *)b + h->name.off, "content-length", 14))
            cls++;
        if (h->name.len == 17 &&
            !strncasecmp((const char *)b + h->name.off, "transfer-encoding", 17))
            tes++;
    }
    /* At most one Host, found by lookup too; at most one CL or TE, never both. */
    REQUIRE(hosts <= 1 && (hosts == 1) == (r->host >= 0));
    if (r->host >= 0) REQUIRE(http_header_find(r, b, "Host", 4) == r->host);
    if (r->version_minor == 1) REQUIRE(r->host >= 0);
    REQUIRE(cls <= 1 && tes <= 1 && !(cls && tes));
    REQUIRE((cls == 1) == (r->content_length_hdr >= 0));
    REQUIRE((tes == 1) == (r->transfer_encoding >= 0));
    if (r->body == HTTP_BODY_CHUNKED) REQUIRE(tes == 1 && r->version_minor == 1);
    if (r->body == HTTP_BODY_LENGTH) REQUIRE(cls == 1 && r->content_length > 0);
    if (r->body == HTTP_BODY_NONE) REQUIRE(tes == 0 && (cls == 0 || r->content_length == 0));
    if (r->expect_continue) REQUIRE(r->version_minor == 1 && r->body != HTTP_BODY_NONE);
    if (r->limits.max_body && r->body == HTTP_BODY_LENGTH)
        REQUIRE(r->content_length <= r->limits.max_body);
}

static void check_request(const uint8_t *data, size_t n, uint8_t ctl0, uint8_t ctl1)
{
    struct http_limits lim = {0, 0, 0};
    if (ctl0 & 1) {
        lim.max_request_line = 8 + (ctl0 >> 1);
        lim.max_header_size = 16 + (uint32_t)ctl1 * 2;
        lim.max_body = ctl1;
    }
    static struct outcome whole, two, three;
    parse_pieces(&whole, data, n, NULL, 0, &lim);
    REQUIRE(whole.rc >= -1 && whole.rc <= (ssize_t)n);
    if (whole.rc < 0) {
        REQUIRE(whole.status == 400 || whole.status == 413 || whole.status == 414 ||
                whole.status == 417 || whole.status == 431 || whole.status == 501 ||
                whole.status == 505);
        REQUIRE(whole.r.error != NULL);
    }
    if (whole.rc > 0) check_head(&whole.r, data, (size_t)whole.rc);
    if (whole.rc > 0 && (ctl0 & 1)) {
        REQUIRE(whole.r.head_len - whole.r.head_start <= lim.max_header_size);
    }

    size_t c1 = n ? (size_t)ctl0 * n / 256 : 0, c2 = n ? (size_t)ctl1 * n / 256 : 0;
    if (c1 > c2) {
        size_t t = c1;
        c1 = c2;
        c2 = t;
    }
    size_t cuts2[1] = {c2}, cuts3[2] = {c1, c2};
    parse_pieces(&two, data, n, cuts2, 1, &lim);
    parse_pieces(&three, data, n, cuts3, 2, &lim);
    /* A complete head or an error found early is the same wherever the input was cut; only a
     * head found within the first piece can differ in one way: none (the rest never parsed). */
    REQUIRE(two.rc == whole.rc && three.rc == whole.rc);
    REQUIRE(two.status == whole.status && three.status == whole.status);
    if (whole.rc > 0) {
        REQUIRE(two.r.nheaders == whole.r.nheaders && three.r.nheaders == whole.r.nheaders);
        REQUIRE(two.r.body == whole.r.body && two.r.content_length == whole.r.content_length);
        REQUIRE(two.r.keep_alive == whole.r.keep_alive);
        REQUIRE(memcmp(&two.r.target, &whole.r.target, sizeof whole.r.target) == 0);
        REQUIRE(memcmp(two.h, whole.h, whole.r.nheaders * sizeof whole.h[0]) == 0);
    }
}

struct dec {
    ssize_t consumed; /* total, or -1 */
    uint16_t status;
    int done;
    uint64_t total;
    uint8_t *out;
    size_t out_len;
};

static void decode_pieces(struct dec *d, const uint8_t *data, size_t n, size_t step, int in_place,
                          uint64_t max)
{
    struct http_chunked c;
    http_chunked_init(&c, max);
    d->out = malloc(n ? n : 1);
    if (!d->out) abort();
    d->out_len = 0;
    d->consumed = 0;
    size_t i = 0;
    while (i < n && !http_chunked_done(&c)) {
        size_t k = n - i < step ? n - i : step;
        uint8_t *in = malloc(k);
        if (!in) abort();
        memcpy(in, data + i, k);
        size_t ol = 0;
        ssize_t rc = http_chunked_decode(&c, in, k, in_place ? in : d->out + d->out_len, &ol);
        if (in_place) memcpy(d->out + d->out_len, in, ol);
        free(in);
        REQUIRE(rc >= -1 && rc <= (ssize_t)k);
        REQUIRE(ol <= k);
        d->out_len += ol;
        if (rc < 0) {
            d->consumed = -1;
            break;
        }
        REQUIRE((size_t)rc == k || http_chunked_done(&c));
        d->consumed += rc;
        i += (size_t)rc;
        if ((size_t)rc < k) break;
    }
    d->status = c.status;
    d->done = http_chunked_done(&c);
    d->total = c.total;
    if (d->consumed >= 0) REQUIRE(d->total == d->out_len && d->out_len <= (size_t)d->consumed);
    if (d->consumed < 0) REQUIRE(c.status == 400 || c.status == 413 || c.status == 431);
    if (max) REQUIRE(c.total <= max);
}

static void check_chunked(const uint8_t *data, size_t n, uint8_t ctl)
{
    uint64_t max = (ctl & 3) == 1 ? ctl : 0;
    struct dec a, b, c, d;
    decode_pieces(&a, data, n, n ? n : 1, 0, max);
    decode_pieces(&b, data, n, (size_t)ctl + 1, 1, max);
    decode_pieces(&c, data, n, 1, 1, max);
    decode_pieces(&d, data, n, 7, 0, max);
    struct dec *all[3] = {&b, &c, &d};
    for (int i = 0; i < 3; i++) {
        REQUIRE(all[i]->consumed == a.consumed && all[i]->done == a.done);
        REQUIRE(all[i]->status == a.status);
        if (a.consumed >= 0) {
            REQUIRE(all[i]->out_len == a.out_len);
            REQUIRE(memcmp(all[i]->out, a.out, a.out_len) == 0);
        }
    }
    if (a.done) {
        /* The body ends with CRLF CRLF (last chunk or trailer section end). */
        REQUIRE(a.consumed >= 5 && memcmp(data + a.consumed - 2, "\r\n", 2) == 0);
    }
    free(a.out);
    free(b.out);
    free(c.out);
    free(d.out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    uint8_t ctl0 = data[0], ctl1 = data[1];
    size_t n = size - 2;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) abort();
    if (n) memcpy(buf, data + 2, n);

    check_request(buf, n, ctl0, ctl1);

    /* The body after an accepted head, else the whole input, through the chunked decoder. */
    struct http_request r;
    struct http_header h[NHDR];
    http_request_init(&r, h, NHDR, NULL);
    ssize_t rc = http_request_parse(&r, buf, n);
    if (rc > 0 && r.body == HTTP_BODY_CHUNKED)
        check_chunked(buf + rc, n - (size_t)rc, ctl1);
    else
        check_chunked(buf, n, ctl1);
    free(buf);
    return 0;
}
