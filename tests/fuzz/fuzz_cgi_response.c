/* libFuzzer target for src/cgi_response.c. The first two bytes choose options and split points;
 * the rest is a worker's STDOUT stream, fed whole and in pieces (which must agree), then turned
 * into an HTTP/1.1 response. The head must be well-formed (status line, CRLF-only lines, one
 * Connection line, framing headers only where the mode says, no control bytes), and the framed body
 * must decode back to the body bytes the mode allows (chunked parsed by a small checker here).
 * cgi_response_simple and cgi_response_date are exercised with input-chosen values. Any violated
 * invariant traps. */
#include "cgi_response.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) __builtin_trap();                                                             \
    } while (0)

#define DATE "Mon, 23 Nov 2026 09:00:12 GMT"

static uint8_t hdr_a[2048], hdr_b[2048];

/* Feed data in pieces of step bytes; returns bytes that were header (or -1) and leaves r fed. */
static ssize_t feed(struct cgi_response *r, uint8_t *hdr, size_t cap, const uint8_t *data, size_t n,
                    size_t step)
{
    cgi_response_init(r, hdr, cap);
    size_t i = 0;
    while (i < n && !cgi_response_ready(r)) {
        size_t k = n - i < step ? n - i : step;
        uint8_t *piece = malloc(k);
        if (!piece) abort();
        memcpy(piece, data + i, k);
        ssize_t used = cgi_response_feed(r, piece, k);
        free(piece);
        if (used < 0) return -1;
        REQUIRE((size_t)used <= k);
        REQUIRE((size_t)used == k || cgi_response_ready(r));
        i += (size_t)used;
    }
    return (ssize_t)i;
}

/* Count header lines named name (case-insensitive) in a head. */
static int count_header(const uint8_t *h, size_t n, const char *name)
{
    size_t nl = strlen(name);
    int c = 0;
    for (size_t i = 0; i + nl + 1 < n; i++)
        if ((i == 0 || h[i - 1] == '\n') && !strncasecmp((const char *)h + i, name, nl) &&
            h[i + nl] == ':')
            c++;
    return c;
}

static void check_head(const struct cgi_response *r, const uint8_t *h, size_t n,
                       const struct cgi_response_opts *o)
{
    REQUIRE(n >= 17 && memcmp(h, "HTTP/1.1 ", 9) == 0);
    REQUIRE(h[9] >= '2' && h[9] <= '5' && h[10] >= '0' && h[10] <= '9' && h[11] >= '0' &&
            h[11] <= '9' && h[12] == ' ');
    REQUIRE(memcmp(h + n - 4, "\r\n\r\n", 4) == 0);
    for (size_t i = 0; i < n; i++) {
        if (h[i] == '\n') REQUIRE(i > 0 && h[i - 1] == '\r');
        if (h[i] == '\r') REQUIRE(i + 1 < n && h[i + 1] == '\n');
        REQUIRE(h[i] != 0 && h[i] != 0x7f);
        REQUIRE(h[i] >= 0x20 || h[i] == '\r' || h[i] == '\n' || h[i] == '\t');
    }
    REQUIRE(count_header(h, n, "connection") == 1);
    REQUIRE(count_header(h, n, "status") == 0);
    REQUIRE(count_header(h, n, "keep-alive") == 0);
    REQUIRE(count_header(h, n, "content-type") <= 1);
    int te = count_header(h, n, "transfer-encoding"), cl = count_header(h, n, "content-length");
    REQUIRE(te == (r->mode == CGI_BODY_CHUNKED));
    REQUIRE(cl <= 1 && !(te && cl));
    if (r->mode == CGI_BODY_LENGTH) REQUIRE(cl == 1);
    if (r->mode == CGI_BODY_CHUNKED) REQUIRE(o->http_minor == 1 && !o->head);
    if (r->mode == CGI_BODY_CLOSE) REQUIRE(r->keep_alive == 0 && o->http_minor == 0);
    if (o->head || r->status == 204 || r->status == 304) REQUIRE(r->mode == CGI_BODY_NONE);
    if (!o->keep_alive) REQUIRE(r->keep_alive == 0);
    const char *conn = r->keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
    REQUIRE(memmem(h, n, conn, strlen(conn)) != NULL);
}

/* Parse a chunked body completely: the decoded bytes must be want. */
static void check_chunked(const uint8_t *w, size_t n, const uint8_t *want, size_t want_len)
{
    size_t i = 0, got = 0;
    for (;;) {
        size_t size = 0;
        REQUIRE(i < n);
        while (i < n && w[i] != '\r') {
            uint8_t c = w[i++];
            REQUIRE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
            size = size * 16 + (size_t)(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        REQUIRE(i + 1 < n && w[i + 1] == '\n');
        i += 2;
        if (size == 0) break;
        REQUIRE(size <= n - i && got + size <= want_len);
        REQUIRE(memcmp(w + i, want + got, size) == 0);
        got += size;
        i += size;
        REQUIRE(i + 1 < n && w[i] == '\r' && w[i + 1] == '\n');
        i += 2;
    }
    REQUIRE(i + 2 == n && w[i] == '\r' && w[i + 1] == '\n');
    REQUIRE(got == want_len);
}

static void check_body(struct cgi_response *r, const uint8_t *body, size_t n, size_t step)
{
    size_t cap = n * 2 + 64 + (n / (step ? step : 1) + 1) * CGI_BODY_PREFIX_MAX;
    uint8_t *wire = malloc(cap);
    if (!wire) abort();
    size_t wl = 0, sent_total = 0, i = 0;
    while (i < n) {
        size_t k = n - i < step ? n - i : step, send;
        uint8_t pre[CGI_BODY_PREFIX_MAX];
        size_t pl = cgi_response_body(r, k, pre, &send);
        REQUIRE(pl <= CGI_BODY_PREFIX_MAX && send <= k);
        if (r->mode == CGI_BODY_NONE) REQUIRE(send == 0 && pl == 0);
        if (r->mode == CGI_BODY_CHUNKED || r->mode == CGI_BODY_CLOSE) REQUIRE(send == k);
        memcpy(wire + wl, pre, pl);
        wl += pl;
        memcpy(wire + wl, body + i, send);
        wl += send;
        /* Sent bytes are always a prefix of the body (LENGTH cuts the tail). */
        REQUIRE(send == 0 || sent_total == i);
        sent_total += send;
        i += k;
    }
    uint8_t end[CGI_END_MAX];
    size_t el = cgi_response_end(r, end);
    REQUIRE(el <= CGI_END_MAX);
    memcpy(wire + wl, end, el);
    wl += el;
    switch (r->mode) {
    case CGI_BODY_NONE:
        REQUIRE(wl == 0);
        break;
    case CGI_BODY_LENGTH:
        REQUIRE(wl == (n < r->limit ? n : r->limit));
        REQUIRE(memcmp(wire, body, wl) == 0);
        if (n < r->limit) REQUIRE(r->keep_alive == 0);
        break;
    case CGI_BODY_CLOSE:
        REQUIRE(wl == n && memcmp(wire, body, n) == 0 && r->keep_alive == 0);
        break;
    case CGI_BODY_CHUNKED:
        check_chunked(wire, wl, body, n);
        break;
    }
    free(wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    uint8_t c0 = data[0], c1 = data[1];
    size_t n = size - 2;
    uint8_t *out = malloc(n ? n : 1);
    if (!out) abort();
    if (n) memcpy(out, data + 2, n);

    size_t cap = (c0 & 0x80) ? 32 + (size_t)c1 : sizeof hdr_a;
    struct cgi_response a, b;
    ssize_t ua = feed(&a, hdr_a, cap, out, n, n ? n : 1);
    ssize_t ub = feed(&b, hdr_b, cap, out, n, 1 + c1 % 13);
    REQUIRE(ua == ub);
    REQUIRE(cgi_response_ready(&a) == cgi_response_ready(&b));
    if (ua >= 0 && cgi_response_ready(&a)) {
        REQUIRE(a.hdr_len == (size_t)ua && b.hdr_len == a.hdr_len);
        REQUIRE(memcmp(hdr_a, hdr_b, a.hdr_len) == 0);
        REQUIRE(a.status == b.status && a.content_length == b.content_length);
        REQUIRE(a.status >= 200 && a.status <= 599);

        struct cgi_response_opts o = {DATE,
                                      (c0 & 0x40) ? "x" : NULL,
                                      -1,
                                      (uint8_t)(c0 & 1),
                                      (uint8_t)((c0 >> 1) & 1),
                                      (uint8_t)((c0 >> 2) & 1),
                                      (uint8_t)((c0 >> 3) & 1)};
        if (c0 & 0x10) o.body_len = (int64_t)(n - (size_t)ua);
        uint8_t small[8];
        size_t need = cgi_response_head(&a, &o, small, sizeof small);
        uint8_t *head = malloc(need);
        if (!head) abort();
        REQUIRE(cgi_response_head(&a, &o, head, need) == need);
        check_head(&a, head, need, &o);
        size_t need_b = cgi_response_head(&b, &o, head, need);
        REQUIRE(need_b == need);
        free(head);
        check_body(&a, out + ua, n - (size_t)ua, 1 + (size_t)(c1 >> 4) * 37);
    }

    /* Generated responses. */
    uint8_t resp[1024];
    int status = (int)((unsigned)c0 << 8 | c1) % 1100;
    size_t rn = cgi_response_simple(resp, sizeof resp, status, DATE, c0 & 1, c0 & 2);
    REQUIRE(rn <= sizeof resp && rn >= 17 && memcmp(resp, "HTTP/1.1 ", 9) == 0);
    char date[CGI_DATE_LEN + 1];
    time_t t = 0;
    memcpy(&t, data, size < sizeof t ? size : sizeof t);
    cgi_response_date(date, t % 253402300800LL); /* up to year 9999 */
    REQUIRE(strlen(date) == CGI_DATE_LEN && memcmp(date + 25, " GMT", 4) == 0);
    free(out);
    return 0;
}
