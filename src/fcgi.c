/* FastCGI 1.0 wire format. Every length read from the wire is checked against what remains in the
 * caller's buffer before any pointer is formed from it, so hostile lengths cannot overflow. */
#include "fcgi.h"

#include <string.h>

/* Largest length a name-value pair can carry: the 4-byte form has 31 usable bits. */
#define NV_LEN_MAX 0x7fffffffu

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

ssize_t fcgi_record_parse(const uint8_t *buf, size_t len, struct fcgi_record *rec)
{
    if (len == 0) return 0;
    /* Reject on the first byte: a peer speaking something else (say, HTTP) fails at once instead of
     * waiting for a full header that may never come. */
    if (buf[0] != FCGI_VERSION_1) return -1;
    if (len < FCGI_HEADER_LEN) return 0;
    size_t content_len = get16(buf + 4);
    size_t total = FCGI_HEADER_LEN + content_len + buf[6];
    if (len < total) return 0;
    if (rec) {
        rec->type = buf[1];
        rec->request_id = get16(buf + 2);
        rec->content = buf + FCGI_HEADER_LEN;
        rec->content_len = (uint16_t)content_len;
    }
    return (ssize_t)total;
}

/* Reads one pair length at *p (1 or 4 bytes) with at most avail bytes available. */
static int nv_len(const uint8_t **p, size_t *avail, uint32_t *out)
{
    if (*avail < 1) return -1;
    if (!(**p & 0x80)) {
        *out = **p;
        *p += 1;
        *avail -= 1;
        return 0;
    }
    if (*avail < 4) return -1;
    *out = get32(*p) & NV_LEN_MAX;
    *p += 4;
    *avail -= 4;
    return 0;
}

int fcgi_nv_next(const uint8_t **pos, const uint8_t *end, const uint8_t **name, uint32_t *name_len,
                 const uint8_t **value, uint32_t *value_len)
{
    const uint8_t *p = *pos;
    if (p == end) return 0;
    if (p > end) return -1;
    size_t avail = (size_t)(end - p);
    uint32_t nl, vl;
    if (nv_len(&p, &avail, &nl) < 0 || nv_len(&p, &avail, &vl) < 0) return -1;
    /* Compare lengths with what remains (never p + len, which could wrap). */
    if (nl > avail || vl > avail - nl) return -1;
    *name = p;
    *name_len = nl;
    *value = p + nl;
    *value_len = vl;
    *pos = p + nl + vl;
    return 1;
}

static size_t nv_len_size(size_t n)
{
    return n < 128 ? 1 : 4;
}

static uint8_t *nv_len_put(uint8_t *p, size_t n)
{
    if (n < 128) {
        *p = (uint8_t)n;
        return p + 1;
    }
    put32(p, (uint32_t)n | 0x80000000u);
    return p + 4;
}

/* Returns 0 (never a valid pair size, which is at least 2) when a length exceeds 31 bits and so
 * cannot be expressed on the wire. */
size_t fcgi_nv_encode(uint8_t *out, size_t cap, const char *name, size_t name_len,
                      const char *value, size_t value_len)
{
    if (name_len > NV_LEN_MAX || value_len > NV_LEN_MAX) return 0;
    size_t hdr = nv_len_size(name_len) + nv_len_size(value_len);
    /* Sum in steps so a 32-bit size_t cannot wrap. */
    if (name_len > SIZE_MAX - hdr || value_len > SIZE_MAX - hdr - name_len) return 0;
    size_t need = hdr + name_len + value_len;
    if (need > cap) return need;
    uint8_t *p = nv_len_put(out, name_len);
    p = nv_len_put(p, value_len);
    if (name_len) memcpy(p, name, name_len);
    if (value_len) memcpy(p + name_len, value, value_len);
    return need;
}

void fcgi_header_encode(uint8_t out[FCGI_HEADER_LEN], uint8_t type, uint16_t request_id,
                        uint16_t content_len, uint8_t padding_len)
{
    out[0] = FCGI_VERSION_1;
    out[1] = type;
    put16(out + 2, request_id);
    put16(out + 4, content_len);
    out[6] = padding_len;
    out[7] = 0;
}

void fcgi_begin_request_encode(uint8_t out[16], uint16_t request_id, uint16_t role, uint8_t flags)
{
    fcgi_header_encode(out, FCGI_BEGIN_REQUEST, request_id, 8, 0);
    put16(out + 8, role);
    out[10] = flags;
    memset(out + 11, 0, 5);
}

void fcgi_end_request_encode(uint8_t out[16], uint16_t request_id, uint32_t app_status,
                             uint8_t protocol_status)
{
    fcgi_header_encode(out, FCGI_END_REQUEST, request_id, 8, 0);
    put32(out + 8, app_status);
    out[12] = protocol_status;
    memset(out + 13, 0, 3);
}

/* Saturates at SIZE_MAX so an absurd len yields an allocation that fails rather than a wrapped,
 * too-small size. */
size_t fcgi_stream_size(size_t len, int terminate)
{
    size_t records = len / FCGI_MAX_CONTENT + (len % FCGI_MAX_CONTENT != 0) + (terminate != 0);
    if (records > (SIZE_MAX - len) / FCGI_HEADER_LEN) return SIZE_MAX;
    return len + records * FCGI_HEADER_LEN;
}

size_t fcgi_stream_encode(uint8_t *out, uint8_t type, uint16_t request_id, const uint8_t *data,
                          size_t len, int terminate)
{
    uint8_t *p = out;
    while (len > 0) {
        uint16_t n = len > FCGI_MAX_CONTENT ? FCGI_MAX_CONTENT : (uint16_t)len;
        fcgi_header_encode(p, type, request_id, n, 0);
        memcpy(p + FCGI_HEADER_LEN, data, n);
        p += FCGI_HEADER_LEN + n;
        data += n;
        len -= n;
    }
    if (terminate) {
        fcgi_header_encode(p, type, request_id, 0, 0);
        p += FCGI_HEADER_LEN;
    }
    return (size_t)(p - out);
}

/* Decimal digits of v into buf (no terminator); returns the count. */
static size_t fmt_uint(char buf[20], unsigned v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

size_t fcgi_get_values_result(uint8_t *out, size_t cap, const uint8_t *content, size_t content_len,
                              unsigned max_conns, unsigned max_reqs)
{
    static const char *const names[] = {"FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS"};
    char vals[3][20];
    size_t val_lens[3];
    val_lens[0] = fmt_uint(vals[0], max_conns);
    val_lens[1] = fmt_uint(vals[1], max_reqs);
    val_lens[2] = fmt_uint(vals[2], 0);

    if (cap < FCGI_HEADER_LEN) return 0;
    /* A NULL content with length 0 is an empty query (and NULL + 0 is undefined in C). */
    const uint8_t *pos = content, *end = content_len ? content + content_len : content;
    size_t used = 0;
    unsigned answered = 0; /* bit per known name: a repeated query is answered once */
    const uint8_t *name, *value;
    uint32_t nl, vl;
    int rc;
    /* Values in the query are meant to be empty; any given are ignored. */
    while ((rc = fcgi_nv_next(&pos, end, &name, &nl, &value, &vl)) == 1) {
        for (unsigned i = 0; i < 3; i++) {
            size_t want = strlen(names[i]);
            if (nl != want || memcmp(name, names[i], want) != 0 || (answered & 1u << i)) continue;
            answered |= 1u << i;
            size_t room = cap - FCGI_HEADER_LEN - used;
            size_t n = fcgi_nv_encode(out + FCGI_HEADER_LEN + used, room, names[i], want, vals[i],
                                      val_lens[i]);
            if (n > room) return 0;
            used += n;
        }
    }
    if (rc < 0 || used > FCGI_MAX_CONTENT) return 0;
    fcgi_header_encode(out, FCGI_GET_VALUES_RESULT, 0, (uint16_t)used, 0);
    return FCGI_HEADER_LEN + used;
}

int fcgi_end_request_peek(const uint8_t *buf, size_t len, uint16_t *request_id,
                          uint32_t *app_status)
{
    static const uint8_t head[] = {FCGI_VERSION_1, FCGI_END_REQUEST};
    static const uint8_t lens[] = {0, 8, 0}; /* content length, padding length */
    if (len > 0 && memcmp(buf, head, len < 2 ? len : 2) != 0) return -1;
    if (len > 4 && memcmp(buf + 4, lens, len < 7 ? len - 4 : 3) != 0) return -1;
    if (len < 16) return 0;
    *request_id = get16(buf + 2);
    *app_status = get32(buf + 8);
    return 1;
}

void fcgi_relay_init(struct fcgi_relay *r)
{
    memset(r, 0, sizeof *r);
}

ssize_t fcgi_relay_scan(struct fcgi_relay *r, uint8_t *buf, size_t len, uint16_t new_id)
{
    unsigned n = 0;
    return fcgi_relay_scan_pieces(r, buf, len, new_id, NULL, 0, &n);
}

ssize_t fcgi_relay_scan_pieces(struct fcgi_relay *r, uint8_t *buf, size_t len, uint16_t new_id,
                               struct fcgi_piece *pieces, unsigned max_pieces, unsigned *n_pieces)
{
    *n_pieces = 0;
    /* Anything after a completed END_REQUEST belongs to the next response. */
    if (r->ended) return 0;
    size_t i = 0;
    while (i < len) {
        if (pieces != NULL && *n_pieces == max_pieces) return (ssize_t)i;
        if (r->hdr_have < FCGI_HEADER_LEN) {
            /* Byte by byte, so the id bytes are rewritten in whichever call holds them: the caller
             * forwards each chunk as soon as this returns. */
            unsigned k = r->hdr_have;
            if (k == 0 && buf[i] != FCGI_VERSION_1) return -1;
            if (k == 2) buf[i] = (uint8_t)(new_id >> 8);
            if (k == 3) buf[i] = (uint8_t)new_id;
            r->hdr[k] = buf[i];
            r->hdr_have = k + 1;
            i++;
            if (r->hdr_have < FCGI_HEADER_LEN) continue;
            r->cur_type = r->hdr[1];
            r->body_left = (size_t)get16(r->hdr + 4) + r->hdr[6];
            r->end_have = 0;
            /* app_status lives in the 8-byte body; any other size is not an END_REQUEST we can
             * read. */
            if (r->cur_type == FCGI_END_REQUEST && get16(r->hdr + 4) != 8) return -1;
        } else {
            size_t n = len - i < r->body_left ? len - i : r->body_left;
            size_t pad = r->hdr[6];
            size_t content_left = r->body_left > pad ? r->body_left - pad : 0;
            size_t content_n = n < content_left ? n : content_left;
            if (pieces != NULL && content_n > 0 &&
                (r->cur_type == FCGI_STDOUT || r->cur_type == FCGI_STDERR)) {
                struct fcgi_piece *pc = &pieces[(*n_pieces)++];
                pc->type = r->cur_type;
                pc->p = buf + i;
                pc->len = (uint32_t)content_n;
            }
            if (r->cur_type == FCGI_STDOUT) {
                r->stdout_bytes += content_n;
            } else if (r->cur_type == FCGI_END_REQUEST) {
                /* content_len is 8, so content bytes map straight onto end_body. The client
                 * gets appStatus 0, as php-fpm always sends: the worker's value (and the
                 * finished-early marker of sapi/phpw.h) is for the master, and its bytes may
                 * be split across chunks already forwarded one by one. */
                memcpy(r->end_body + r->end_have, buf + i, content_n);
                for (size_t k = 0; k < content_n && r->end_have + k < 4; k++) buf[i + k] = 0;
                r->end_have += (unsigned)content_n;
            }
            r->body_left -= n;
            i += n;
        }
        if (r->body_left == 0) {
            r->hdr_have = 0;
            if (r->cur_type == FCGI_END_REQUEST) {
                r->ended = 1;
                r->app_status = get32(r->end_body);
                return (ssize_t)i;
            }
        }
    }
    return (ssize_t)len;
}
