/* libFuzzer target for src/fcgi.c. The whole input is parsed as a FastCGI record stream (PARAMS
 * content through fcgi_nv_next, GET_VALUES content through fcgi_get_values_result), as raw pair
 * data, and framed with fcgi_stream_encode and parsed back; the input minus
 * its first byte is fed to the relay scanner in one chunk and in two chunks split at a position
 * taken from the first byte, and both results are checked against each other and against a model
 * built on fcgi_record_parse. Any violated invariant traps. */
#include "fcgi.h"

#include <stdlib.h>
#include <string.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) __builtin_trap();                                                             \
    } while (0)

#define NEW_ID 0xA55A

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void check_pairs(const uint8_t *content, size_t len)
{
    const uint8_t *pos = content, *end = content + len;
    const uint8_t *name, *value, *prev = pos;
    uint32_t nl, vl;
    int rc;
    while ((rc = fcgi_nv_next(&pos, end, &name, &nl, &value, &vl)) == 1) {
        /* Each pair takes at least its two length bytes, so the loop always ends. */
        REQUIRE(pos >= prev + 2);
        prev = pos;
        REQUIRE(name >= content && name <= end);
        REQUIRE(nl <= (size_t)(end - name));
        REQUIRE(value == name + nl);
        REQUIRE(vl <= (size_t)(end - value));
        REQUIRE(pos == value + vl);
        /* Re-encode canonically and decode again: same name and value. */
        uint8_t tmp[8 + 4096];
        if (nl + vl > 4096) continue;
        size_t n = fcgi_nv_encode(tmp, sizeof tmp, (const char *)name, nl, (const char *)value, vl);
        REQUIRE(n >= 2 && n <= sizeof tmp);
        const uint8_t *p2 = tmp, *n2, *v2;
        uint32_t nl2, vl2;
        REQUIRE(fcgi_nv_next(&p2, tmp + n, &n2, &nl2, &v2, &vl2) == 1);
        REQUIRE(p2 == tmp + n && nl2 == nl && vl2 == vl);
        REQUIRE(memcmp(n2, name, nl) == 0 && memcmp(v2, value, vl) == 0);
    }
    REQUIRE(rc == 0 || rc == -1);
    REQUIRE(pos >= content && pos <= end);
}

static void check_get_values(const struct fcgi_record *rec)
{
    uint8_t out[256];
    size_t n = fcgi_get_values_result(out, sizeof out, rec->content, rec->content_len, 123, 4567);
    if (n == 0) return;
    REQUIRE(n <= sizeof out);
    struct fcgi_record res;
    REQUIRE(fcgi_record_parse(out, n, &res) == (ssize_t)n);
    REQUIRE(res.type == FCGI_GET_VALUES_RESULT && res.request_id == 0 && out[6] == 0);
    const uint8_t *pos = res.content, *end = res.content + res.content_len, *name, *value;
    uint32_t nl, vl;
    int rc, pairs = 0;
    while ((rc = fcgi_nv_next(&pos, end, &name, &nl, &value, &vl)) == 1) {
        pairs++;
        int known =
            (nl == 14 && memcmp(name, "FCGI_MAX_CONNS", 14) == 0 && vl == 3 &&
             memcmp(value, "123", 3) == 0) ||
            (nl == 13 && memcmp(name, "FCGI_MAX_REQS", 13) == 0 && vl == 4 &&
             memcmp(value, "4567", 4) == 0) ||
            (nl == 15 && memcmp(name, "FCGI_MPXS_CONNS", 15) == 0 && vl == 1 && value[0] == '0');
        REQUIRE(known);
    }
    REQUIRE(rc == 0 && pairs <= 3);
}

static void parse_stream(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        struct fcgi_record rec;
        ssize_t r = fcgi_record_parse(data + off, size - off, &rec);
        size_t left = size - off;
        if (r < 0) {
            REQUIRE(r == -1 && data[off] != FCGI_VERSION_1);
            return;
        }
        if (r == 0) {
            REQUIRE(data[off] == FCGI_VERSION_1);
            REQUIRE(left < FCGI_HEADER_LEN ||
                    left < FCGI_HEADER_LEN + (size_t)be16(data + off + 4) + data[off + 6]);
            return;
        }
        REQUIRE((size_t)r <= left && r >= FCGI_HEADER_LEN);
        REQUIRE((size_t)r == FCGI_HEADER_LEN + (size_t)rec.content_len + data[off + 6]);
        REQUIRE(rec.content == data + off + FCGI_HEADER_LEN);
        REQUIRE(rec.type == data[off + 1] && rec.request_id == be16(data + off + 2));
        if (rec.type == FCGI_PARAMS) check_pairs(rec.content, rec.content_len);
        if (rec.type == FCGI_GET_VALUES) check_get_values(&rec);
        off += (size_t)r;
    }
}

/* What the relay should report for in[0..n), derived from fcgi_record_parse. */
struct model {
    ssize_t ret;
    int ended;
    uint32_t status;
    uint64_t stdout_bytes;
};

static struct model relay_model(const uint8_t *in, size_t n)
{
    struct model m = {0};
    size_t off = 0;
    while (off < n) {
        struct fcgi_record rec;
        ssize_t r = fcgi_record_parse(in + off, n - off, &rec);
        if (r < 0) {
            m.ret = -1;
            return m;
        }
        if (r == 0) {
            /* The relay judges END_REQUEST's length as soon as its header is complete. */
            if (n - off >= FCGI_HEADER_LEN && in[off + 1] == FCGI_END_REQUEST &&
                be16(in + off + 4) != 8) {
                m.ret = -1;
                return m;
            }
            if (n - off >= FCGI_HEADER_LEN && in[off + 1] == FCGI_STDOUT) {
                size_t have = n - off - FCGI_HEADER_LEN, cl = be16(in + off + 4);
                m.stdout_bytes += have < cl ? have : cl;
            }
            break;
        }
        if (rec.type == FCGI_STDOUT) m.stdout_bytes += rec.content_len;
        off += (size_t)r;
        if (rec.type == FCGI_END_REQUEST) {
            if (rec.content_len != 8) {
                m.ret = -1;
                return m;
            }
            m.ended = 1;
            m.status = be32(rec.content);
            m.ret = (ssize_t)off;
            return m;
        }
    }
    m.ret = (ssize_t)n;
    return m;
}

static void check_relay(const uint8_t *in, size_t n, size_t split)
{
    uint8_t *whole = malloc(n ? n : 1), *parts = malloc(n ? n : 1);
    if (!whole || !parts) abort();
    if (n) {
        memcpy(whole, in, n);
        memcpy(parts, in, n);
    }
    struct model m = relay_model(in, n);

    struct fcgi_relay a;
    fcgi_relay_init(&a);
    ssize_t ra = fcgi_relay_scan(&a, whole, n, NEW_ID);
    REQUIRE(ra == m.ret);
    if (ra >= 0) {
        REQUIRE((size_t)ra <= n);
        REQUIRE(a.ended == m.ended && a.stdout_bytes == m.stdout_bytes);
        REQUIRE(a.stdout_bytes <= (size_t)ra);
        if (a.ended) REQUIRE(a.app_status == m.status && ra >= 16);
        if (!a.ended) REQUIRE((size_t)ra == n);
        /* Bytes past the response are untouched; inside it only request ids and END_REQUEST's
         * appStatus changed. */
        REQUIRE(memcmp(whole + ra, in + ra, n - (size_t)ra) == 0);
        size_t off = 0;
        while (off < (size_t)ra) {
            REQUIRE(whole[off] == FCGI_VERSION_1);
            if (off + 2 < (size_t)ra) REQUIRE(whole[off + 2] == (NEW_ID >> 8));
            if (off + 3 < (size_t)ra) REQUIRE(whole[off + 3] == (NEW_ID & 0xff));
            size_t hl = (size_t)ra - off < FCGI_HEADER_LEN ? (size_t)ra - off : FCGI_HEADER_LEN;
            for (size_t k = 0; k < hl; k++)
                if (k != 2 && k != 3) REQUIRE(whole[off + k] == in[off + k]);
            if (hl < FCGI_HEADER_LEN) break;
            size_t rl = FCGI_HEADER_LEN + (size_t)be16(in + off + 4) + in[off + 6];
            size_t body_end = off + rl < (size_t)ra ? off + rl : (size_t)ra;
            size_t from = off + 8;
            if (in[off + 1] == FCGI_END_REQUEST) {
                /* appStatus (the first 4 body bytes) reaches the client as 0 */
                for (; from < off + 12 && from < body_end; from++) REQUIRE(whole[from] == 0);
            }
            REQUIRE(memcmp(whole + from, in + from, body_end - from) == 0);
            off += rl;
        }
    }

    /* Same stream in two chunks: identical outcome and identical bytes. */
    struct fcgi_relay b;
    fcgi_relay_init(&b);
    ssize_t r1 = fcgi_relay_scan(&b, parts, split, NEW_ID);
    REQUIRE(r1 >= -1 && r1 <= (ssize_t)split);
    ssize_t total;
    if (r1 < 0) {
        total = -1;
    } else if ((size_t)r1 < split || b.ended) {
        total = r1;
        /* Once ended, further chunks are refused without being touched. */
        REQUIRE(b.ended);
        REQUIRE(fcgi_relay_scan(&b, parts + split, n - split, NEW_ID) == 0);
    } else {
        ssize_t r2 = fcgi_relay_scan(&b, parts + split, n - split, NEW_ID);
        REQUIRE(r2 >= -1 && r2 <= (ssize_t)(n - split));
        total = r2 < 0 ? -1 : r1 + r2;
    }
    REQUIRE(total == ra);
    if (ra >= 0) {
        REQUIRE(b.ended == a.ended && b.app_status == a.app_status);
        REQUIRE(b.stdout_bytes == a.stdout_bytes && b.hdr_have == a.hdr_have);
        REQUIRE(b.body_left == a.body_left);
        REQUIRE(memcmp(parts, whole, n) == 0);
    }
    free(whole);
    free(parts);
}

static void check_stream_encode(const uint8_t *data, size_t size)
{
    int terminate = size & 1;
    size_t need = fcgi_stream_size(size, terminate);
    uint8_t *out = malloc(need ? need : 1);
    if (!out) abort();
    REQUIRE(fcgi_stream_encode(out, FCGI_STDIN, 7, data, size, terminate) == need);
    size_t off = 0, got = 0;
    while (off < need) {
        struct fcgi_record rec;
        ssize_t r = fcgi_record_parse(out + off, need - off, &rec);
        REQUIRE(r >= FCGI_HEADER_LEN && (size_t)r == FCGI_HEADER_LEN + (size_t)rec.content_len);
        REQUIRE(rec.type == FCGI_STDIN && rec.request_id == 7);
        REQUIRE(got + rec.content_len <= size);
        REQUIRE(memcmp(rec.content, data + got, rec.content_len) == 0);
        got += rec.content_len;
        off += (size_t)r;
    }
    REQUIRE(got == size);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exact-size copy so ASan sees any read past the end (libFuzzer's buffer is exact too, but
     * this keeps the target honest if run by another driver). */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) abort();
    if (size) memcpy(buf, data, size);

    parse_stream(buf, size);
    /* Also the raw input as pair data, so lengths run right up to the end of the allocation. */
    check_pairs(buf, size);
    if (size > 0) {
        size_t n = size - 1;
        size_t split = (size_t)buf[0] * (n + 1) / 256;
        check_relay(buf + 1, n, split);
    } else {
        check_relay(buf, 0, 0);
    }
    check_stream_encode(buf, size);
    free(buf);
    return 0;
}
