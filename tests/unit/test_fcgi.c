/* Unit tests for src/fcgi.c: record parsing, name-value pairs, encoders, GET_VALUES and the relay
 * scanner. Inputs that matter for bounds are copied into exact-size heap buffers so that the
 * sanitizer build catches any read past the end. */
#include "check.h"
#include "fcgi.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static char name_buf[256];

/* CHECK with a formatted name. */
#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        snprintf(name_buf, sizeof name_buf, __VA_ARGS__);                                          \
        CHECK(cond, name_buf);                                                                     \
    } while (0)

/* Exact-size heap copy, so ASan flags any access at or past n. */
static uint8_t *dup_exact(const uint8_t *src, size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    if (!p) abort();
    if (n) memcpy(p, src, n);
    return p;
}

/* Growable test stream. */
struct sbuf {
    uint8_t *p;
    size_t len, cap;
};

static void sb_put(struct sbuf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
}

/* Appends a record; padding bytes are 0xEE so a test notices if they are taken for content. */
static void sb_record(struct sbuf *b, uint8_t type, uint16_t id, const void *content, uint16_t clen,
                      uint8_t pad)
{
    uint8_t h[FCGI_HEADER_LEN];
    fcgi_header_encode(h, type, id, clen, pad);
    sb_put(b, h, sizeof h);
    sb_put(b, content, clen);
    uint8_t pb[255];
    memset(pb, 0xEE, sizeof pb);
    sb_put(b, pb, pad);
}

static void sb_end(struct sbuf *b, uint16_t id, uint32_t app_status, uint8_t pad)
{
    uint8_t body[8] = {0};
    body[0] = (uint8_t)(app_status >> 24);
    body[1] = (uint8_t)(app_status >> 16);
    body[2] = (uint8_t)(app_status >> 8);
    body[3] = (uint8_t)app_status;
    sb_record(b, FCGI_END_REQUEST, id, body, 8, pad);
}

/* ---------------------------------------------------------------- record parse */

static void test_record_parse(void)
{
    struct fcgi_record rec;
    uint8_t h[32] = {0};

    CHECK(fcgi_record_parse(h, 0, &rec) == 0, "parse: empty buffer needs more");

    fcgi_header_encode(h, FCGI_STDIN, 0x1234, 5, 3);
    memcpy(h + 8, "hello", 5);
    memset(h + 13, 0xEE, 3);
    int all_short_zero = 1;
    for (size_t n = 1; n < 16; n++) {
        uint8_t *b = dup_exact(h, n);
        if (fcgi_record_parse(b, n, &rec) != 0) all_short_zero = 0;
        free(b);
    }
    CHECK(all_short_zero, "parse: every prefix of a record (incl. partial padding) returns 0");

    uint8_t *b = dup_exact(h, 16);
    memset(&rec, 0, sizeof rec);
    CHECK(fcgi_record_parse(b, 16, &rec) == 16, "parse: header+content+padding consumed");
    CHECK(rec.type == FCGI_STDIN, "parse: type");
    CHECK(rec.request_id == 0x1234, "parse: request id big-endian");
    CHECK(rec.content_len == 5, "parse: content_len");
    CHECK(rec.content == b + 8 && memcmp(rec.content, "hello", 5) == 0,
          "parse: content points into buffer");
    free(b);

    CHECK(fcgi_record_parse(h, sizeof h, &rec) == 16, "parse: trailing bytes are not consumed");

    fcgi_header_encode(h, FCGI_STDIN, 1, 0, 0);
    CHECK(fcgi_record_parse(h, 8, &rec) == 8 && rec.content_len == 0, "parse: empty record is 8");

    fcgi_header_encode(h, FCGI_STDIN, 1, 0, 7);
    CHECK(fcgi_record_parse(h, 14, &rec) == 0, "parse: padding-only record incomplete");
    CHECK(fcgi_record_parse(h, 15, &rec) == 15, "parse: padding-only record complete");

    h[0] = 2;
    CHECK(fcgi_record_parse(h, 8, &rec) == -1, "parse: version 2 rejected");
    h[0] = 0;
    CHECK(fcgi_record_parse(h, 8, &rec) == -1, "parse: version 0 rejected");
    uint8_t g = 'G';
    CHECK(fcgi_record_parse(&g, 1, &rec) == -1, "parse: bad version detected from first byte");
    h[0] = 1;
    CHECK(fcgi_record_parse(h, 1, &rec) == 0, "parse: lone good version byte needs more");

    /* Largest record: 65535 content + 255 padding. */
    uint8_t *big = calloc(1, FCGI_MAX_RECORD);
    fcgi_header_encode(big, FCGI_PARAMS, 65535, 65535, 255);
    CHECK(fcgi_record_parse(big, FCGI_MAX_RECORD - 1, &rec) == 0, "parse: max record minus 1");
    CHECK(fcgi_record_parse(big, FCGI_MAX_RECORD, &rec) == FCGI_MAX_RECORD &&
              rec.content_len == 65535 && rec.request_id == 65535,
          "parse: max record");
    free(big);
}

/* ---------------------------------------------------------------- name-value pairs */

static int nv_roundtrip(size_t nl, size_t vl)
{
    char *name = malloc(nl + 1), *value = malloc(vl + 1);
    for (size_t i = 0; i < nl; i++)
        name[i] = (char)('a' + i % 26);
    for (size_t i = 0; i < vl; i++)
        value[i] = (char)('0' + i % 10);
    size_t need = fcgi_nv_encode(NULL, 0, name, nl, value, vl);
    size_t expect = (nl < 128 ? 1 : 4) + (vl < 128 ? 1 : 4) + nl + vl;
    int ok = need == expect;
    uint8_t *out = malloc(need);
    ok = ok && fcgi_nv_encode(out, need, name, nl, value, vl) == need;
    ok = ok && ((out[0] & 0x80) != 0) == (nl >= 128);
    const uint8_t *pos = out, *n, *v;
    uint32_t gnl, gvl;
    ok = ok && fcgi_nv_next(&pos, out + need, &n, &gnl, &v, &gvl) == 1;
    ok = ok && gnl == nl && gvl == vl && memcmp(n, name, nl) == 0 && memcmp(v, value, vl) == 0;
    ok = ok && pos == out + need;
    ok = ok && fcgi_nv_next(&pos, out + need, &n, &gnl, &v, &gvl) == 0;
    free(out);
    free(name);
    free(value);
    return ok;
}

/* Runs fcgi_nv_next once over an exact-size copy of bytes; returns its result and checks that
 * *pos is untouched on failure. */
static int nv_once(const uint8_t *bytes, size_t n, int *pos_ok)
{
    uint8_t *b = dup_exact(bytes, n);
    const uint8_t *pos = b, *name, *value;
    uint32_t nl, vl;
    int rc = fcgi_nv_next(&pos, b + n, &name, &nl, &value, &vl);
    if (pos_ok) *pos_ok = rc == 1 ? pos <= b + n : pos == b;
    free(b);
    return rc;
}

static void test_nv(void)
{
    size_t sizes[] = {0, 1, 127, 128, 255, 65535, 65536, 200000};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        for (size_t j = 0; j < sizeof sizes / sizeof *sizes; j++)
            CHECKF(nv_roundtrip(sizes[i], sizes[j]), "nv: round trip name %zu value %zu", sizes[i],
                   sizes[j]);

    /* Iterating several pairs, including an empty value and a 4-byte length. */
    uint8_t buf[1024];
    size_t off = 0;
    off += fcgi_nv_encode(buf + off, sizeof buf - off, "SCRIPT_FILENAME", 15, "/x.php", 6);
    off += fcgi_nv_encode(buf + off, sizeof buf - off, "EMPTY", 5, "", 0);
    char longv[300];
    memset(longv, 'L', sizeof longv);
    off += fcgi_nv_encode(buf + off, sizeof buf - off, "LONG", 4, longv, sizeof longv);
    uint8_t *b = dup_exact(buf, off);
    const uint8_t *pos = b, *n, *v;
    uint32_t nl, vl;
    int r1 = fcgi_nv_next(&pos, b + off, &n, &nl, &v, &vl);
    CHECK(r1 == 1 && nl == 15 && vl == 6 && memcmp(v, "/x.php", 6) == 0, "nv: first pair");
    int r2 = fcgi_nv_next(&pos, b + off, &n, &nl, &v, &vl);
    CHECK(r2 == 1 && nl == 5 && vl == 0 && memcmp(n, "EMPTY", 5) == 0, "nv: empty value");
    int r3 = fcgi_nv_next(&pos, b + off, &n, &nl, &v, &vl);
    CHECK(r3 == 1 && nl == 4 && vl == 300 && v[299] == 'L', "nv: 4-byte value length");
    CHECK(fcgi_nv_next(&pos, b + off, &n, &nl, &v, &vl) == 0, "nv: end after last pair");
    CHECK(fcgi_nv_next(&pos, b + off, &n, &nl, &v, &vl) == 0, "nv: end is sticky");
    free(b);

    int pos_ok;
    uint8_t e0[] = {0};
    CHECK(nv_once(e0, 0, &pos_ok) == 0, "nv: empty range is end");
    uint8_t t1[] = {3};
    CHECK(nv_once(t1, 1, &pos_ok) == -1 && pos_ok, "nv: only name length");
    uint8_t t2[] = {0x80, 0, 0};
    CHECK(nv_once(t2, 3, &pos_ok) == -1 && pos_ok, "nv: truncated 4-byte name length");
    uint8_t t3[] = {1, 0x80, 0, 0};
    CHECK(nv_once(t3, 4, &pos_ok) == -1 && pos_ok, "nv: truncated 4-byte value length");
    uint8_t t4[] = {3, 0, 'a', 'b'};
    CHECK(nv_once(t4, 4, &pos_ok) == -1 && pos_ok, "nv: name past end by one");
    uint8_t t5[] = {1, 2, 'a', 'b'};
    CHECK(nv_once(t5, 4, &pos_ok) == -1 && pos_ok, "nv: value past end by one");
    uint8_t t6[] = {1, 2, 'a', 'b', 'c'};
    CHECK(nv_once(t6, 5, &pos_ok) == 1 && pos_ok, "nv: exact fit");
    uint8_t t7[] = {0, 0};
    CHECK(nv_once(t7, 2, &pos_ok) == 1 && pos_ok, "nv: empty name and value");
    uint8_t t8[] = {0xff, 0xff, 0xff, 0xff, 0, 'x'};
    CHECK(nv_once(t8, 6, &pos_ok) == -1 && pos_ok, "nv: name length 0x7fffffff");
    uint8_t t9[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'x'};
    CHECK(nv_once(t9, 9, &pos_ok) == -1 && pos_ok, "nv: both lengths 0x7fffffff (sum > 2^32)");
    uint8_t t10[] = {0, 0xff, 0xff, 0xff, 0xfe, 'x'};
    CHECK(nv_once(t10, 6, &pos_ok) == -1 && pos_ok, "nv: value length near 2^31");
    uint8_t t11[] = {0x80, 0, 0, 1, 0x80, 0, 0, 2, 'n', 'v', 'v'};
    CHECK(nv_once(t11, sizeof t11, &pos_ok) == 1 && pos_ok, "nv: non-minimal 4-byte lengths");
    uint8_t t12[] = {0x80, 0, 0, 0x80, 0};
    CHECK(nv_once(t12, sizeof t12, &pos_ok) == -1, "nv: high bit of 4-byte length is masked");

    /* A truncation of a valid pair at every length fails cleanly. */
    size_t full = fcgi_nv_encode(buf, sizeof buf, "LONG", 4, longv, sizeof longv);
    int all_fail = 1;
    for (size_t k = 1; k < full; k++)
        if (nv_once(buf, k, &pos_ok) != -1 || !pos_ok) all_fail = 0;
    CHECK(all_fail, "nv: every truncation of a pair is -1 with pos unchanged");

    /* pos beyond end is refused, not read. */
    pos = buf + 2;
    CHECK(fcgi_nv_next(&pos, buf + 1, &n, &nl, &v, &vl) == -1, "nv: pos past end");
}

static void test_nv_encode(void)
{
    uint8_t out[16];
    CHECK(fcgi_nv_encode(NULL, 0, "AB", 2, "xyz", 3) == 7, "nv_encode: measure with cap 0");
    memset(out, 0x55, sizeof out);
    CHECK(fcgi_nv_encode(out, 6, "AB", 2, "xyz", 3) == 7, "nv_encode: too small returns need");
    int untouched = 1;
    for (size_t i = 0; i < sizeof out; i++)
        if (out[i] != 0x55) untouched = 0;
    CHECK(untouched, "nv_encode: too small writes nothing");
    CHECK(fcgi_nv_encode(out, 7, "AB", 2, "xyz", 3) == 7 && memcmp(out,
                                                                   "\x02\x03"
                                                                   "ABxyz",
                                                                   7) == 0,
          "nv_encode: exact bytes");
    CHECK(out[7] == 0x55, "nv_encode: no write past size");

    uint8_t big[200];
    char v128[128];
    memset(v128, 'v', sizeof v128);
    CHECK(fcgi_nv_encode(big, sizeof big, "N", 1, v128, 127) == 1 + 1 + 1 + 127 && big[1] == 127,
          "nv_encode: 127 uses 1 byte");
    CHECK(fcgi_nv_encode(big, sizeof big, "N", 1, v128, 128) == 1 + 4 + 1 + 128 &&
              memcmp(big + 1, "\x80\x00\x00\x80", 4) == 0,
          "nv_encode: 128 uses 4 bytes with high bit");
    CHECK(fcgi_nv_encode(NULL, 0, "N", 1, NULL, (size_t)0x7fffffff) == 1 + 4 + 1 + 0x7fffffffu,
          "nv_encode: 2^31-1 measurable");
    CHECK(fcgi_nv_encode(NULL, 0, "N", 1, NULL, (size_t)0x80000000u) == 0,
          "nv_encode: 2^31 not encodable");
    CHECK(fcgi_nv_encode(NULL, 0, NULL, SIZE_MAX, "v", 1) == 0, "nv_encode: SIZE_MAX name");
}

/* ---------------------------------------------------------------- fixed records */

static void test_fixed_records(void)
{
    uint8_t h[8];
    fcgi_header_encode(h, FCGI_STDOUT, 0xA1B2, 0xC3D4, 0xE5);
    CHECK(memcmp(h, "\x01\x06\xA1\xB2\xC3\xD4\xE5\x00", 8) == 0, "header: exact bytes");

    uint8_t br[16];
    memset(br, 0x55, sizeof br);
    fcgi_begin_request_encode(br, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
    CHECK(memcmp(br, "\x01\x01\x00\x01\x00\x08\x00\x00\x00\x01\x01\x00\x00\x00\x00\x00", 16) == 0,
          "begin_request: exact bytes with KEEP_CONN");
    struct fcgi_record rec;
    CHECK(fcgi_record_parse(br, 16, &rec) == 16 && rec.type == FCGI_BEGIN_REQUEST &&
              rec.content_len == 8,
          "begin_request: parses back");

    fcgi_end_request_encode(br, 0x0102, 0xDEADBEEF, FCGI_OVERLOADED);
    CHECK(memcmp(br, "\x01\x03\x01\x02\x00\x08\x00\x00\xDE\xAD\xBE\xEF\x02\x00\x00\x00", 16) == 0,
          "end_request: exact bytes");
}

/* A worker's END_REQUEST outside a response (sapi/phpw.h): told from a response's first record
 * with as few bytes as possible, and at any split. */
static void test_end_request_peek(void)
{
    uint8_t rec[16];
    fcgi_end_request_encode(rec, 0, 0xFFFFFFFD, 0);
    uint16_t id = 7;
    uint32_t st = 7;
    int ok = 1;
    for (size_t n = 0; n < 16; n++)
        ok = ok && fcgi_end_request_peek(rec, n, &id, &st) == 0;
    CHECK(ok && id == 7 && st == 7, "end_request_peek: any prefix cannot tell yet");
    CHECK(fcgi_end_request_peek(rec, 16, &id, &st) == 1 && id == 0 && st == 0xFFFFFFFDu,
          "end_request_peek: id 0, appStatus");
    fcgi_end_request_encode(rec, 2, 0xFFFFFFFC, 0);
    CHECK(fcgi_end_request_peek(rec, 40, &id, &st) == 1 && id == 2 && st == 0xFFFFFFFCu,
          "end_request_peek: more bytes after it");

    uint8_t h[16] = {0};
    fcgi_header_encode(h, FCGI_STDOUT, 1, 8, 0);
    CHECK(fcgi_end_request_peek(h, 2, &id, &st) == -1, "end_request_peek: STDOUT at byte 2");
    CHECK(fcgi_end_request_peek((const uint8_t *)"\x02", 1, &id, &st) == -1,
          "end_request_peek: bad version at byte 1");
    fcgi_header_encode(h, FCGI_END_REQUEST, 1, 8, 8); /* padded: not the plain form */
    CHECK(fcgi_end_request_peek(h, 7, &id, &st) == -1, "end_request_peek: padded");
    fcgi_header_encode(h, FCGI_END_REQUEST, 1, 16, 0);
    CHECK(fcgi_end_request_peek(h, 6, &id, &st) == -1, "end_request_peek: content 16");
    CHECK(fcgi_end_request_peek(h, 5, &id, &st) == 0, "end_request_peek: content length half");
}

/* ---------------------------------------------------------------- streams */

/* Encodes len bytes, then parses the result back and verifies framing and content. */
static int stream_roundtrip(size_t len, int terminate)
{
    uint8_t *data = malloc(len ? len : 1);
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(i * 7 + 3);
    size_t size = fcgi_stream_size(len, terminate);
    uint8_t *out = malloc(size ? size : 1);
    int ok = fcgi_stream_encode(out, FCGI_STDOUT, 42, data, len, terminate) == size;
    size_t expect_records = (len + FCGI_MAX_CONTENT - 1) / FCGI_MAX_CONTENT + (terminate ? 1 : 0);
    ok = ok && size == len + 8 * expect_records;

    size_t off = 0, got = 0, records = 0;
    struct fcgi_record rec;
    while (ok && off < size) {
        ssize_t r = fcgi_record_parse(out + off, size - off, &rec);
        if (r <= 0) {
            ok = 0;
            break;
        }
        ok = ok && rec.type == FCGI_STDOUT && rec.request_id == 42;
        ok = ok && (size_t)r == FCGI_HEADER_LEN + (size_t)rec.content_len; /* no padding */
        ok = ok && got + rec.content_len <= len &&
             memcmp(rec.content, data + got, rec.content_len) == 0;
        /* Only the terminator may be empty, and only the last data record may be short. */
        int last = off + (size_t)r == size;
        if (rec.content_len == 0) ok = ok && terminate && last;
        if (rec.content_len < FCGI_MAX_CONTENT && rec.content_len > 0)
            ok = ok && got + rec.content_len == len;
        got += rec.content_len;
        off += (size_t)r;
        records++;
    }
    ok = ok && off == size && got == len && records == expect_records;
    free(out);
    free(data);
    return ok;
}

static void test_stream(void)
{
    CHECK(fcgi_stream_size(0, 0) == 0, "stream: size 0 no terminate");
    CHECK(fcgi_stream_size(0, 1) == 8, "stream: size 0 terminate");
    CHECK(fcgi_stream_size(1, 0) == 9, "stream: size 1");
    CHECK(fcgi_stream_size(65535, 0) == 65543, "stream: size 65535 is one record");
    CHECK(fcgi_stream_size(65536, 0) == 65552, "stream: size 65536 is two records");
    CHECK(fcgi_stream_size(65536, 1) == 65560, "stream: size 65536 terminate");
    CHECK(fcgi_stream_size(SIZE_MAX, 1) == SIZE_MAX, "stream: size saturates");
    CHECK(fcgi_stream_size(SIZE_MAX - 100, 0) == SIZE_MAX, "stream: size saturates near max");

    uint8_t t[8];
    memset(t, 0x55, sizeof t);
    CHECK(fcgi_stream_encode(t, FCGI_STDIN, 7, NULL, 0, 1) == 8 &&
              memcmp(t, "\x01\x05\x00\x07\x00\x00\x00\x00", 8) == 0,
          "stream: len 0 with terminate is just the empty record");
    CHECK(fcgi_stream_encode(t, FCGI_STDIN, 7, NULL, 0, 0) == 0, "stream: len 0 writes nothing");

    size_t lens[] = {1, 127, 128, 65534, 65535, 65536, 131069, 131070, 131071, 200000};
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++)
        for (int term = 0; term <= 1; term++)
            CHECKF(stream_roundtrip(lens[i], term), "stream: round trip %zu bytes terminate=%d",
                   lens[i], term);
}

/* ---------------------------------------------------------------- GET_VALUES */

/* Parses a GET_VALUES_RESULT and checks it holds exactly the expected pairs, in order. */
static int gv_expect(const uint8_t *out, size_t n, const char *const *pairs, size_t npairs)
{
    struct fcgi_record rec;
    if (fcgi_record_parse(out, n, &rec) != (ssize_t)n) return 0;
    if (rec.type != FCGI_GET_VALUES_RESULT || rec.request_id != 0 || out[6] != 0) return 0;
    if (n != FCGI_HEADER_LEN + (size_t)rec.content_len) return 0;
    const uint8_t *pos = rec.content, *end = rec.content + rec.content_len, *nm, *v;
    uint32_t nl, vl;
    for (size_t i = 0; i < npairs; i++) {
        if (fcgi_nv_next(&pos, end, &nm, &nl, &v, &vl) != 1) return 0;
        const char *en = pairs[2 * i], *ev = pairs[2 * i + 1];
        if (nl != strlen(en) || memcmp(nm, en, nl) != 0) return 0;
        if (vl != strlen(ev) || memcmp(v, ev, vl) != 0) return 0;
    }
    return fcgi_nv_next(&pos, end, &nm, &nl, &v, &vl) == 0;
}

static size_t gv_query(uint8_t *q, size_t cap, const char *const *names, size_t count)
{
    size_t off = 0;
    for (size_t i = 0; i < count; i++)
        off += fcgi_nv_encode(q + off, cap - off, names[i], strlen(names[i]), "", 0);
    return off;
}

static void test_get_values(void)
{
    uint8_t q[512], out[512];
    const char *all[] = {"FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS"};
    size_t ql = gv_query(q, sizeof q, all, 3);
    uint8_t *qb = dup_exact(q, ql);
    size_t n = fcgi_get_values_result(out, sizeof out, qb, ql, 10, 50);
    const char *exp_all[] = {"FCGI_MAX_CONNS", "10", "FCGI_MAX_REQS", "50", "FCGI_MPXS_CONNS", "0"};
    CHECK(n > 0 && gv_expect(out, n, exp_all, 3), "get_values: all three answered");

    /* The exact size fits; one less does not. */
    CHECK(fcgi_get_values_result(out, n, qb, ql, 10, 50) == n, "get_values: exact cap");
    CHECK(fcgi_get_values_result(out, n - 1, qb, ql, 10, 50) == 0, "get_values: cap one short");
    CHECK(fcgi_get_values_result(out, 7, qb, ql, 10, 50) == 0, "get_values: cap below header");
    CHECK(fcgi_get_values_result(out, 0, qb, ql, 10, 50) == 0, "get_values: cap 0");
    free(qb);

    const char *mixed[] = {"FOO",           "FCGI_MPXS_CONNS", "FCGI_MAX_CONN", "FCGI_MAX_CONNSX",
                           "fcgi_max_reqs", "FCGI_MAX_REQS"};
    ql = gv_query(q, sizeof q, mixed, 6);
    n = fcgi_get_values_result(out, sizeof out, q, ql, 1, 4294967295u);
    const char *exp_mixed[] = {"FCGI_MPXS_CONNS", "0", "FCGI_MAX_REQS", "4294967295"};
    CHECK(n > 0 && gv_expect(out, n, exp_mixed, 2),
          "get_values: unknown and near-miss names ignored, order kept, UINT_MAX value");

    const char *unknown[] = {"X_UNKNOWN"};
    ql = gv_query(q, sizeof q, unknown, 1);
    n = fcgi_get_values_result(out, sizeof out, q, ql, 1, 1);
    CHECK(n == 8 && gv_expect(out, n, NULL, 0), "get_values: only unknown gives empty result");

    n = fcgi_get_values_result(out, sizeof out, NULL, 0, 1, 1);
    CHECK(n == 8 && gv_expect(out, n, NULL, 0), "get_values: empty query gives empty result");

    const char *dup[] = {"FCGI_MAX_CONNS", "FCGI_MAX_CONNS", "FCGI_MAX_CONNS"};
    ql = gv_query(q, sizeof q, dup, 3);
    n = fcgi_get_values_result(out, sizeof out, q, ql, 0, 0);
    const char *exp_dup[] = {"FCGI_MAX_CONNS", "0"};
    CHECK(n > 0 && gv_expect(out, n, exp_dup, 1), "get_values: repeated name answered once");

    /* A value in the query is ignored rather than echoed. */
    ql = fcgi_nv_encode(q, sizeof q, "FCGI_MAX_REQS", 13, "999", 3);
    n = fcgi_get_values_result(out, sizeof out, q, ql, 7, 8);
    const char *exp_v[] = {"FCGI_MAX_REQS", "8"};
    CHECK(n > 0 && gv_expect(out, n, exp_v, 1), "get_values: query value ignored");

    /* Name given with a 4-byte length. */
    uint8_t q4[64] = {0x80, 0, 0, 15, 0};
    memcpy(q4 + 5, "FCGI_MPXS_CONNS", 15);
    n = fcgi_get_values_result(out, sizeof out, q4, 20, 7, 8);
    const char *exp_4[] = {"FCGI_MPXS_CONNS", "0"};
    CHECK(n > 0 && gv_expect(out, n, exp_4, 1), "get_values: 4-byte name length accepted");

    /* Malformed: a valid pair followed by a truncated one, and a lone truncated one. */
    ql = gv_query(q, sizeof q, all, 1);
    q[ql++] = 20;
    q[ql++] = 0;
    qb = dup_exact(q, ql);
    CHECK(fcgi_get_values_result(out, sizeof out, qb, ql, 1, 1) == 0,
          "get_values: truncated pair after a good one is malformed");
    free(qb);
    uint8_t bad[] = {0x80, 0, 0};
    qb = dup_exact(bad, sizeof bad);
    CHECK(fcgi_get_values_result(out, sizeof out, qb, sizeof bad, 1, 1) == 0,
          "get_values: truncated length is malformed");
    free(qb);
}

/* ---------------------------------------------------------------- relay scanner */

#define OLD_ID 1
#define NEW_ID 0xBEEF

struct relay_case {
    uint8_t *in;       /* stream as the worker sends it (OLD_ID) */
    uint8_t *expect;   /* same stream after rewriting the response's records */
    size_t len;        /* whole buffer, including bytes after END_REQUEST */
    size_t end_off;    /* offset just past END_REQUEST's padding */
    uint64_t stdout_n; /* STDOUT content bytes in the response */
    uint32_t status;
};

/* A worker response: STDOUT with and without padding, STDERR, an empty STDOUT terminator and a
 * padded END_REQUEST (its appStatus zeroed on the way, whatever chunk holds its bytes); then the
 * start of the next response, which must stay untouched. */
static struct relay_case relay_case_small(void)
{
    struct sbuf a = {0}, b = {0};
    struct relay_case c = {0};
    for (int pass = 0; pass < 2; pass++) {
        struct sbuf *s = pass ? &b : &a;
        uint16_t id = pass ? NEW_ID : OLD_ID;
        sb_record(s, FCGI_STDOUT, id, "Status: 200\r\n\r\n", 15, 1);
        sb_record(s, FCGI_STDERR, id, "warn", 4, 4);
        sb_record(s, FCGI_STDOUT, id, "hello", 5, 0);
        sb_record(s, FCGI_STDOUT, id, "", 0, 3);
        sb_record(s, FCGI_STDOUT, id, "", 0, 0);
        sb_end(s, id, pass ? 0 : 0x01020304, 5); /* clients see appStatus 0, as php-fpm's */
        c.end_off = s->len;
        sb_record(s, FCGI_STDOUT, OLD_ID, "next", 4, 0);
    }
    c.in = a.p;
    c.expect = b.p;
    c.len = a.len;
    c.stdout_n = 20;
    c.status = 0x01020304;
    return c;
}

/* A large response: 200000 bytes of STDOUT in full-size and odd records with varying padding. */
static struct relay_case relay_case_big(void)
{
    struct sbuf a = {0}, b = {0};
    struct relay_case c = {0};
    static uint8_t chunk[65535];
    memset(chunk, 'x', sizeof chunk);
    uint16_t sizes[] = {65535, 1, 65535, 127, 128, 65535, 3139};
    uint8_t pads[] = {0, 7, 255, 1, 0, 3, 4};
    for (int pass = 0; pass < 2; pass++) {
        struct sbuf *s = pass ? &b : &a;
        uint16_t id = pass ? NEW_ID : OLD_ID;
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            sb_record(s, FCGI_STDOUT, id, chunk, sizes[i], pads[i]);
            if (i == 2) sb_record(s, FCGI_STDERR, id, chunk, 1000, 0);
        }
        sb_record(s, FCGI_STDOUT, id, "", 0, 0);
        sb_end(s, id, pass ? 0 : 255, 0);
        c.end_off = s->len;
    }
    c.in = a.p;
    c.expect = b.p;
    c.len = a.len;
    c.stdout_n = 200000;
    c.status = 255;
    return c;
}

/* Feeds c->in split at the given cut offsets. Checks that each call's consumed bytes are final
 * when it returns and that the scan stops exactly after END_REQUEST. */
static int relay_run(const struct relay_case *c, const size_t *cuts, size_t ncuts)
{
    uint8_t *buf = malloc(c->len);
    memcpy(buf, c->in, c->len);
    struct fcgi_relay r;
    fcgi_relay_init(&r);
    size_t start = 0, total = 0;
    int ok = 1, stopped = 0;
    for (size_t k = 0; k <= ncuts && !stopped; k++) {
        size_t stop = k < ncuts ? cuts[k] : c->len;
        if (stop > c->len) stop = c->len;
        if (stop < start) stop = start;
        size_t n = stop - start;
        /* Exact-size chunk so a read outside it is caught. */
        uint8_t *chunk = dup_exact(buf + start, n);
        ssize_t got = fcgi_relay_scan(&r, chunk, n, NEW_ID);
        if (got < 0 || (size_t)got > n) {
            free(chunk);
            ok = 0;
            break;
        }
        if (memcmp(chunk, c->expect + start, (size_t)got) != 0) ok = 0;
        if (memcmp(chunk + got, buf + start + got, n - (size_t)got) != 0) ok = 0;
        free(chunk);
        total += (size_t)got;
        if ((size_t)got < n || r.ended) stopped = 1;
        if (!r.ended && (size_t)got != n) ok = 0;
        start = stop;
    }
    ok = ok && r.ended && total == c->end_off && r.stdout_bytes == c->stdout_n &&
         r.app_status == c->status;
    free(buf);
    return ok;
}

static void relay_free(struct relay_case *c)
{
    free(c->in);
    free(c->expect);
}

static void test_relay_basic(void)
{
    struct relay_case c = relay_case_small();
    CHECK(relay_run(&c, NULL, 0), "relay: whole buffer in one chunk");

    struct fcgi_relay r;
    fcgi_relay_init(&r);
    uint8_t *buf = dup_exact(c.in, c.len);
    CHECK(fcgi_relay_scan(&r, buf, 0, NEW_ID) == 0 && r.hdr_have == 0, "relay: empty chunk");
    ssize_t got = fcgi_relay_scan(&r, buf, c.len, NEW_ID);
    CHECK(got == (ssize_t)c.end_off, "relay: returns offset past END_REQUEST padding");
    CHECK(r.ended == 1 && r.app_status == 0x01020304, "relay: ended and app_status big-endian");
    CHECK(r.stdout_bytes == 20, "relay: STDOUT content counted, padding and STDERR not");
    CHECK(memcmp(buf + c.end_off, c.in + c.end_off, c.len - c.end_off) == 0,
          "relay: bytes after END_REQUEST untouched");
    CHECK(fcgi_relay_scan(&r, buf + c.end_off, c.len - c.end_off, NEW_ID) == 0,
          "relay: scan after ended consumes nothing");

    /* Keep-conn: re-init and scan the next response from the same buffer. */
    struct sbuf s = {0};
    sb_record(&s, FCGI_STDOUT, 9, "abc", 3, 0);
    sb_end(&s, 9, 7, 0);
    size_t first = s.len;
    sb_record(&s, FCGI_STDOUT, 9, "defgh", 5, 2);
    sb_end(&s, 9, 8, 0);
    fcgi_relay_init(&r);
    got = fcgi_relay_scan(&r, s.p, s.len, 3);
    CHECK(got == (ssize_t)first && r.app_status == 7 && r.stdout_bytes == 3,
          "relay: first of two responses");
    fcgi_relay_init(&r);
    ssize_t got2 = fcgi_relay_scan(&r, s.p + first, s.len - first, 4);
    CHECK(got2 == (ssize_t)(s.len - first) && r.app_status == 8 && r.stdout_bytes == 5,
          "relay: second response after re-init");
    CHECK(s.p[2] == 0 && s.p[3] == 3 && s.p[first + 2] == 0 && s.p[first + 3] == 4,
          "relay: each response got its own id");
    free(s.p);
    free(buf);
    relay_free(&c);
}

static void test_relay_split(void)
{
    struct relay_case c = relay_case_small();
    int ok = 1;
    for (size_t i = 0; i <= c.len; i++) {
        size_t cut = i;
        if (!relay_run(&c, &cut, 1)) {
            ok = 0;
            CHECKF(0, "relay: split at offset %zu", i);
        }
    }
    CHECK(ok, "relay: split into two chunks at every offset");

    ok = 1;
    for (size_t i = 0; i <= c.len && ok; i++)
        for (size_t j = i; j <= c.len && ok; j++) {
            size_t cuts[2] = {i, j};
            if (!relay_run(&c, cuts, 2)) {
                ok = 0;
                CHECKF(0, "relay: split at offsets %zu,%zu", i, j);
            }
        }
    CHECK(ok, "relay: split into three chunks at every pair of offsets");

    size_t *cuts = malloc(c.len * sizeof *cuts);
    for (size_t i = 0; i < c.len; i++)
        cuts[i] = i + 1;
    CHECK(relay_run(&c, cuts, c.len), "relay: one byte at a time");
    free(cuts);
    relay_free(&c);

    c = relay_case_big();
    CHECK(relay_run(&c, NULL, 0), "relay: 200000-byte response in one chunk");
    ok = 1;
    /* Every offset around each record boundary, where header and padding splits happen. */
    size_t off = 0;
    while (off < c.len && ok) {
        struct fcgi_record rec;
        ssize_t rl = fcgi_record_parse(c.in + off, c.len - off, &rec);
        if (rl <= 0) break;
        for (size_t d = 0; d < 20 && ok; d++) {
            size_t cut = off + (size_t)rl + d >= 10 ? off + (size_t)rl + d - 10 : 0;
            if (cut > c.len) continue;
            if (!relay_run(&c, &cut, 1)) {
                ok = 0;
                CHECKF(0, "relay: big split at %zu", cut);
            }
        }
        off += (size_t)rl;
    }
    CHECK(ok, "relay: big response split around every record boundary");

    /* Random chunkings, reproducible. */
    srand(12345);
    ok = 1;
    size_t rc[64];
    for (int iter = 0; iter < 300 && ok; iter++) {
        size_t n = 1 + (size_t)rand() % 63, pos = 0;
        int small = iter % 2;
        for (size_t k = 0; k < n; k++) {
            pos += small ? (size_t)rand() % 17 : (size_t)rand() % 20000;
            rc[k] = pos;
        }
        if (!relay_run(&c, rc, n)) {
            ok = 0;
            CHECKF(0, "relay: random chunking iteration %d", iter);
        }
    }
    CHECK(ok, "relay: 300 random chunkings of the big response");
    relay_free(&c);
}

static void test_relay_edges(void)
{
    struct fcgi_relay r;
    uint8_t buf[64];

    /* END_REQUEST cut inside its padding: not ended until the padding is complete. */
    struct sbuf s = {0};
    sb_end(&s, 1, 42, 6);
    fcgi_relay_init(&r);
    ssize_t a = fcgi_relay_scan(&r, s.p, 19, NEW_ID);
    CHECK(a == 19 && !r.ended, "relay: END_REQUEST with padding incomplete not ended");
    ssize_t b = fcgi_relay_scan(&r, s.p + 19, s.len - 19, NEW_ID);
    CHECK(b == (ssize_t)s.len - 19 && r.ended && r.app_status == 42,
          "relay: END_REQUEST ends after last padding byte");
    CHECK(s.p[2] == (NEW_ID >> 8) && s.p[3] == (NEW_ID & 0xff), "relay: END_REQUEST id rewritten");
    free(s.p);

    /* END_REQUEST cut inside the 8-byte body. */
    s = (struct sbuf){0};
    sb_end(&s, 1, 0xA0B0C0D0, 0);
    fcgi_relay_init(&r);
    a = fcgi_relay_scan(&r, s.p, 11, NEW_ID);
    b = fcgi_relay_scan(&r, s.p + 11, 5, NEW_ID);
    CHECK(a == 11 && b == 5 && r.ended && r.app_status == 0xA0B0C0D0,
          "relay: END_REQUEST body split");
    free(s.p);

    /* Header split between byte 2 and 3 of the id. */
    fcgi_header_encode(buf, FCGI_STDOUT, 0x0102, 1, 0);
    buf[8] = 'z';
    fcgi_relay_init(&r);
    a = fcgi_relay_scan(&r, buf, 3, 0xAABB);
    CHECK(a == 3 && buf[2] == 0xAA, "relay: id high byte rewritten in first chunk");
    a = fcgi_relay_scan(&r, buf + 3, 6, 0xAABB);
    CHECK(a == 6 && buf[3] == 0xBB && r.stdout_bytes == 1 && r.hdr_have == 0,
          "relay: id low byte rewritten in next chunk");

    /* Bad version: at the start, and in a later record. */
    buf[0] = 2;
    fcgi_relay_init(&r);
    CHECK(fcgi_relay_scan(&r, buf, 1, NEW_ID) == -1, "relay: bad version from first byte");
    s = (struct sbuf){0};
    sb_record(&s, FCGI_STDOUT, 1, "ok", 2, 0);
    sb_record(&s, FCGI_STDOUT, 1, "ok", 2, 0);
    s.p[10] = 0;
    fcgi_relay_init(&r);
    CHECK(fcgi_relay_scan(&r, s.p, s.len, NEW_ID) == -1, "relay: bad version in second record");
    fcgi_relay_init(&r);
    CHECK(fcgi_relay_scan(&r, s.p, 10, NEW_ID) == 10 &&
              fcgi_relay_scan(&r, s.p + 10, s.len - 10, NEW_ID) == -1,
          "relay: bad version at chunk start");
    free(s.p);

    /* END_REQUEST whose content is not 8 bytes cannot carry app_status. */
    uint8_t body[16] = {0};
    for (uint16_t cl = 0; cl < 16; cl++) {
        if (cl == 8) continue;
        s = (struct sbuf){0};
        sb_record(&s, FCGI_END_REQUEST, 1, body, cl, 0);
        fcgi_relay_init(&r);
        CHECKF(fcgi_relay_scan(&r, s.p, s.len, NEW_ID) == -1, "relay: END_REQUEST content %u",
               (unsigned)cl);
        free(s.p);
    }

    /* Unknown record types and management records pass through and get the id too. */
    s = (struct sbuf){0};
    sb_record(&s, 200, 0, "??", 2, 1);
    sb_record(&s, FCGI_GET_VALUES_RESULT, 0, "", 0, 0);
    sb_end(&s, 0, 0, 0);
    fcgi_relay_init(&r);
    CHECK(fcgi_relay_scan(&r, s.p, s.len, NEW_ID) == (ssize_t)s.len && r.ended &&
              s.p[2] == (NEW_ID >> 8) && s.p[14] == (NEW_ID & 0xff) && r.stdout_bytes == 0,
          "relay: other record types pass with rewritten ids");
    free(s.p);

    /* Large STDOUT count across many records does not saturate. */
    s = (struct sbuf){0};
    static uint8_t big[65535];
    for (int i = 0; i < 40; i++)
        sb_record(&s, FCGI_STDOUT, 1, big, 65535, 255);
    fcgi_relay_init(&r);
    CHECK(fcgi_relay_scan(&r, s.p, s.len, NEW_ID) == (ssize_t)s.len &&
              r.stdout_bytes == 40ull * 65535 && !r.ended,
          "relay: 40 max records counted without END");
    free(s.p);
}

/* ---------------------------------------------------------------- nginx-like request */

static void test_request_stream(void)
{
    /* What nginx sends: BEGIN_REQUEST(KEEP_CONN), PARAMS, empty PARAMS, STDIN, empty STDIN. */
    struct sbuf s = {0};
    uint8_t br[16];
    fcgi_begin_request_encode(br, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
    sb_put(&s, br, 16);
    uint8_t params[1024];
    size_t pl = 0;
    char uri[200];
    memset(uri, 'u', sizeof uri);
    pl += fcgi_nv_encode(params + pl, sizeof params - pl, "REQUEST_METHOD", 14, "POST", 4);
    pl += fcgi_nv_encode(params + pl, sizeof params - pl, "REQUEST_URI", 11, uri, sizeof uri);
    pl += fcgi_nv_encode(params + pl, sizeof params - pl, "CONTENT_LENGTH", 14, "3", 1);
    sb_record(&s, FCGI_PARAMS, 1, params, (uint16_t)pl, (uint8_t)((8 - pl % 8) % 8));
    sb_record(&s, FCGI_PARAMS, 1, "", 0, 0);
    sb_record(&s, FCGI_STDIN, 1, "a=1", 3, 5);
    sb_record(&s, FCGI_STDIN, 1, "", 0, 0);

    size_t off = 0;
    int types[8], n = 0, pairs = 0, ok = 1;
    while (off < s.len && n < 8) {
        struct fcgi_record rec;
        ssize_t r = fcgi_record_parse(s.p + off, s.len - off, &rec);
        if (r <= 0) {
            ok = 0;
            break;
        }
        types[n++] = rec.type;
        if (rec.type == FCGI_PARAMS) {
            const uint8_t *pos = rec.content, *nm, *v;
            uint32_t nl, vl;
            int rc;
            while ((rc = fcgi_nv_next(&pos, rec.content + rec.content_len, &nm, &nl, &v, &vl)) == 1)
                pairs++;
            if (rc < 0) ok = 0;
        }
        off += (size_t)r;
    }
    CHECK(ok && off == s.len && n == 5, "request: nginx-like stream parses into 5 records");
    CHECK(types[0] == FCGI_BEGIN_REQUEST && types[1] == FCGI_PARAMS && types[2] == FCGI_PARAMS &&
              types[3] == FCGI_STDIN && types[4] == FCGI_STDIN,
          "request: record types in order");
    CHECK(pairs == 3, "request: three params incl. a 4-byte value length");
    free(s.p);
}

/* The pieces reported while scanning the small case at every split point and with a tiny
 * piece array: per type, the content bytes in order, nothing from padding or after END_REQUEST. */
static void test_relay_pieces(void)
{
    struct relay_case c = relay_case_small();
    int ok_all = 1, ok_stops = 1;
    for (size_t cut = 0; cut <= c.len; cut++) {
        for (unsigned max = 1; max <= 4; max += 3) {
            uint8_t *buf = dup_exact(c.in, c.len);
            struct fcgi_relay r;
            fcgi_relay_init(&r);
            char out[64] = "", err[16] = "";
            size_t on = 0, en = 0, pos = 0, lim = cut;
            int rounds = 0;
            while (!r.ended && rounds++ < 100) {
                if (pos >= lim) {
                    if (lim == c.len) break;
                    lim = c.len;
                }
                struct fcgi_piece pc[4];
                unsigned n = 9;
                ssize_t got = fcgi_relay_scan_pieces(&r, buf + pos, lim - pos, NEW_ID, pc, max, &n);
                if (got < 0 || n > max) {
                    ok_all = 0;
                    break;
                }
                if (got == 0 && n == 0 && !r.ended) ok_stops = 0;
                for (unsigned i = 0; i < n; i++) {
                    int is_out = pc[i].type == FCGI_STDOUT;
                    size_t *len = is_out ? &on : &en;
                    char *dst = is_out ? out : err;
                    size_t cap = is_out ? sizeof(out) : sizeof(err);
                    if (*len + pc[i].len >= cap) {
                        ok_all = 0;
                        break;
                    }
                    memcpy(dst + *len, pc[i].p, pc[i].len);
                    *len += pc[i].len;
                }
                pos += (size_t)got;
            }
            out[on] = 0;
            err[en] = 0;
            if (!r.ended || pos != c.end_off || strcmp(out, "Status: 200\r\n\r\nhello") != 0 ||
                strcmp(err, "warn") != 0)
                ok_all = 0;
            free(buf);
        }
    }
    CHECK(ok_all, "relay pieces: STDOUT and STDERR content in order at every split, 1 or 4 slots");
    CHECK(ok_stops, "relay pieces: a call with input left always makes progress");
    relay_free(&c);
}

int main(void)
{
    test_record_parse();
    test_nv();
    test_nv_encode();
    test_fixed_records();
    test_end_request_peek();
    test_stream();
    test_get_values();
    test_relay_basic();
    test_relay_split();
    test_relay_edges();
    test_relay_pieces();
    test_request_stream();
    return CHECK_DONE();
}
