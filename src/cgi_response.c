/* CGI response to HTTP/1.1 response: see cgi_response.h. */
#include "cgi_response.h"

#include "version.h"

#include <string.h>

#define SERVER_DEFAULT "phpmgr/" PHPMGR_VERSION_STRING

enum { S_COLLECT, S_READY, S_ERROR };

/* token characters (RFC 9110 section 5.6.2) as a bitmap: bit c of the 256 */
static const uint64_t tchar_bits[4] = {0x03ff6cfa00000000ULL, 0x57ffffffc7fffffeULL, 0, 0};

static int is_tchar(uint8_t c)
{
    return (int)(tchar_bits[c >> 6] >> (c & 63) & 1);
}

/* field-value octets: HTAB, SP, VCHAR, obs-text */
static int is_vchar(uint8_t c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int is_ws(uint8_t c)
{
    return c == ' ' || c == '\t';
}

/* End of the field-value bytes from p, at most e: eight bytes at a time while a word holds no byte
 * below 0x20 and no DEL (exact as booleans with the borrow tricks), bytewise around the rest. */
static uint32_t scan_value(const uint8_t *h, uint32_t p, uint32_t e)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    for (;;) {
        while (e - p >= 8) {
            uint64_t x, y;
            memcpy(&x, h + p, 8);
            y = x ^ (ones * 0x7f);
            if (((x - ones * 0x20) & ~x & highs) | ((y - ones) & ~y & highs)) break;
            p += 8;
        }
        uint32_t stop = e - p < 8 ? e : p + 8;
        while (p < stop && is_vchar(h[p]))
            p++;
        if (p < stop || p == e) return p;
    }
}

/* Case-insensitive compare of a header name (token characters) with a lowercase literal: for
 * token characters, (c | 0x20) is a given lowercase letter or '-' only when c is that character
 * in either case. */
static int name_eq(const uint8_t *p, size_t n, const char *lower, size_t ln)
{
    if (n != ln) return 0;
    for (size_t i = 0; i < n; i++)
        if ((p[i] | 0x20) != (uint8_t)lower[i]) return 0;
    return 1;
}

#define name_is(p, n, lit) name_eq(p, n, lit, sizeof(lit) - 1)

void cgi_response_init(struct cgi_response *r, uint8_t *hdr, size_t cap)
{
    memset(r, 0, sizeof *r);
    r->hdr = hdr;
    r->hdr_cap = cap > (1u << 31) ? (1u << 31) : (uint32_t)cap;
    r->content_type = -1;
    r->content_length = -1;
    r->state = S_COLLECT;
}

int cgi_response_ready(const struct cgi_response *r)
{
    return r->state == S_READY;
}

/* One header line of the collected block, from *pos: name, value (OWS trimmed). Returns 1 for a
 * line, 0 at the empty line that ends the block, -1 for a malformed line. A line without a colon
 * is a name with an empty value (nginx passes such a line on as "Name: "). */
static int next_line(const struct cgi_response *r, uint32_t *pos, uint32_t *name, uint32_t *nlen,
                     uint32_t *val, uint32_t *vlen)
{
    const uint8_t *h = r->hdr;
    uint32_t s = *pos;
    const uint8_t *lf = memchr(h + s, '\n', r->hdr_len - s);
    if (!lf) return -1; /* cannot happen for a complete block */
    uint32_t e = (uint32_t)(lf - h);
    *pos = e + 1;
    if (e > s && h[e - 1] == '\r') e--;
    if (e == s) return 0;
    uint32_t p = s;
    while (p < e && is_tchar(h[p]))
        p++;
    if (p == s) return -1;
    *name = s;
    *nlen = p - s;
    if (p == e) {
        *val = e;
        *vlen = 0;
        return 1;
    }
    if (h[p] != ':') return -1;
    p++;
    while (p < e && is_ws(h[p]))
        p++;
    uint32_t v = p;
    p = scan_value(h, p, e);
    if (p != e) return -1;
    while (p > v && is_ws(h[p - 1]))
        p--;
    *val = v;
    *vlen = p - v;
    return 1;
}

/* next_line for a block already validated by parse_block: no character checks. */
static int next_line_fast(const struct cgi_response *r, uint32_t *pos, uint32_t *name,
                          uint32_t *nlen, uint32_t *val, uint32_t *vlen)
{
    const uint8_t *h = r->hdr;
    uint32_t s = *pos;
    const uint8_t *lf = memchr(h + s, '\n', r->hdr_len - s);
    if (!lf) return 0;
    uint32_t e = (uint32_t)(lf - h);
    *pos = e + 1;
    if (e > s && h[e - 1] == '\r') e--;
    if (e == s) return 0;
    const uint8_t *colon = memchr(h + s, ':', e - s);
    *name = s;
    if (!colon) {
        *nlen = e - s;
        *val = e;
        *vlen = 0;
        return 1;
    }
    uint32_t p = (uint32_t)(colon - h);
    *nlen = p - s;
    p++;
    while (p < e && is_ws(h[p]))
        p++;
    while (e > p && is_ws(h[e - 1]))
        e--;
    *val = p;
    *vlen = e - p;
    return 1;
}

static ssize_t feed_fail(struct cgi_response *r, const char *why)
{
    r->state = S_ERROR;
    r->error = why;
    return -1;
}

static int block_fail(struct cgi_response *r, const char *why)
{
    feed_fail(r, why);
    return -1;
}

/* The whole block is in hdr: validate it and pick out what decides the response. */
static int parse_block(struct cgi_response *r)
{
    uint32_t pos = 0, n, nl, v, vl;
    int rc, has_location = 0;
    while ((rc = next_line(r, &pos, &n, &nl, &v, &vl)) == 1) {
        const uint8_t *name = r->hdr + n, *val = r->hdr + v;
        if (name_is(name, nl, "status")) {
            if (vl < 3 || val[0] < '1' || val[0] > '5' || val[1] < '0' || val[1] > '9' ||
                val[2] < '0' || val[2] > '9' || (vl > 3 && val[3] != ' '))
                return block_fail(r, "invalid Status header");
            r->status = (uint16_t)((val[0] - '0') * 100 + (val[1] - '0') * 10 + (val[2] - '0'));
            if (r->status < 200) return block_fail(r, "informational Status");
            r->has_status = 1;
            r->reason_off = vl > 3 ? v + 4 : v + vl;
            r->reason_len = vl > 3 ? vl - 4 : 0;
        } else if (name_is(name, nl, "content-type")) {
            r->content_type = (int32_t)v;
            r->content_type_len = vl;
        } else if (name_is(name, nl, "content-length")) {
            if (r->content_length >= 0) return block_fail(r, "duplicate Content-Length");
            if (vl == 0) return block_fail(r, "invalid Content-Length");
            int64_t cl = 0;
            for (uint32_t i = 0; i < vl; i++) {
                if (val[i] < '0' || val[i] > '9' || cl > (INT64_MAX - (val[i] - '0')) / 10)
                    return block_fail(r, "invalid Content-Length");
                cl = cl * 10 + (val[i] - '0');
            }
            r->content_length = cl;
        } else if (name_is(name, nl, "date")) {
            r->has_date = 1;
        } else if (name_is(name, nl, "server")) {
            r->has_server = 1;
        } else if (name_is(name, nl, "location")) {
            has_location = 1;
        }
    }
    if (rc < 0) return block_fail(r, "malformed header line");
    if (!r->has_status) r->status = has_location ? 302 : 200;
    r->state = S_READY;
    return 0;
}

ssize_t cgi_response_feed(struct cgi_response *r, const uint8_t *data, size_t len)
{
    if (r->state == S_ERROR) return -1;
    if (r->state == S_READY) return 0;
    /* Find the empty line that ends the block: each LF ends a line; the line is empty when it
     * held nothing or a lone CR (line_len and line_first carry a line across chunks). */
    size_t i = 0, used = len;
    int done = 0;
    while (i < len) {
        const uint8_t *lf = memchr(data + i, '\n', len - i);
        if (!lf) {
            if (r->line_len == 0) r->line_first = data[i];
            r->line_len += r->line_len < 2 ? (uint8_t)(len - i < 2 ? len - i : 2) : 0;
            break;
        }
        size_t j = (size_t)(lf - data);
        size_t total = r->line_len + (j - i);
        uint8_t first = r->line_len ? r->line_first : (j > i ? data[i] : 0);
        r->line_len = 0;
        i = j + 1;
        if (total == 0 || (total == 1 && first == '\r')) {
            used = i;
            done = 1;
            break;
        }
    }
    if (used > (size_t)(r->hdr_cap - r->hdr_len)) return feed_fail(r, "header block too large");
    memcpy(r->hdr + r->hdr_len, data, used);
    r->hdr_len += (uint32_t)used;
    if (done && parse_block(r) < 0) return -1;
    return (ssize_t)used;
}

/* ---------------------------------------------------------------------------------------------
 * output */

struct out {
    uint8_t *p;
    size_t cap, len;
};

static void put(struct out *w, const void *s, size_t n)
{
    if (w->len <= w->cap && n <= w->cap - w->len) memcpy(w->p + w->len, s, n);
    w->len += n;
}

#define puts_(w, lit) put(w, lit, sizeof(lit) - 1)

static void put_u64(struct out *w, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[sizeof tmp - ++n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(w, tmp + sizeof tmp - n, n);
}

static void put_status_line(struct out *w, int status, const uint8_t *reason, size_t reason_len)
{
    char code[13] = "HTTP/1.1 000 ";
    code[9] = (char)('0' + status / 100 % 10);
    code[10] = (char)('0' + status / 10 % 10);
    code[11] = (char)('0' + status % 10);
    put(w, code, sizeof code);
    put(w, reason, reason_len);
    put(w, "\r\n", 2);
}

/* Headers nginx's fastcgi module does not pass to the client (its hop-by-hop handling and the
 * default fastcgi_hide_header list), plus the ones written here in fixed positions. */
static int dropped(const struct cgi_response *r, const uint8_t *name, size_t n)
{
    switch (n) {
    case 6:
        if (name_is(name, n, "status")) return 1;
        break;
    case 10:
        if (name_is(name, n, "connection") || name_is(name, n, "keep-alive")) return 1;
        break;
    case 12:
        if (name_is(name, n, "content-type")) return 1;
        break;
    case 14:
        if (name_is(name, n, "content-length")) return 1;
        break;
    case 17:
        if (name_is(name, n, "transfer-encoding")) return 1;
        break;
    }
    if (!r->keep_x_accel && n > 8 && name_is(name, 8, "x-accel-"))
        return name_is(name, n, "x-accel-expires") || name_is(name, n, "x-accel-redirect") ||
               name_is(name, n, "x-accel-limit-rate") || name_is(name, n, "x-accel-buffering") ||
               name_is(name, n, "x-accel-charset");
    return 0;
}

size_t cgi_response_head(struct cgi_response *r, const struct cgi_response_opts *o, uint8_t *out,
                         size_t cap)
{
    struct out w = {out, cap, 0};
    if (r->state != S_READY) return 0;
    r->keep_x_accel = o->keep_x_accel;

    if (r->has_status) {
        put_status_line(&w, r->status, r->hdr + r->reason_off, r->reason_len);
    } else {
        const char *reason = cgi_response_reason(r->status);
        put_status_line(&w, r->status, (const uint8_t *)reason, strlen(reason));
    }
    if (!r->has_server) {
        if (o->server) {
            puts_(&w, "Server: ");
            put(&w, o->server, strlen(o->server));
            put(&w, "\r\n", 2);
        } else {
            puts_(&w, "Server: " SERVER_DEFAULT "\r\n");
        }
    }
    if (!r->has_date) {
        puts_(&w, "Date: ");
        put(&w, o->date, CGI_DATE_LEN);
        put(&w, "\r\n", 2);
    }
    if (r->content_type >= 0) {
        puts_(&w, "Content-Type: ");
        put(&w, r->hdr + r->content_type, r->content_type_len);
        put(&w, "\r\n", 2);
    }

    /* Framing. A HEAD response reports the worker's Content-Length only: the body the caller holds
     * for HEAD is empty and says nothing about the GET body's length. */
    int64_t known = r->content_length >= 0 ? r->content_length : o->body_len;
    r->keep_alive = o->keep_alive ? 1 : 0;
    r->sent = 0;
    r->chunk_open = 0;
    if (r->status == 204 || r->status == 304) {
        r->mode = CGI_BODY_NONE;
    } else if (o->head) {
        r->mode = CGI_BODY_NONE;
        if (r->content_length >= 0) {
            puts_(&w, "Content-Length: ");
            put_u64(&w, (uint64_t)r->content_length);
            put(&w, "\r\n", 2);
        }
    } else if (known >= 0) {
        r->mode = CGI_BODY_LENGTH;
        r->limit = (uint64_t)known;
        puts_(&w, "Content-Length: ");
        put_u64(&w, (uint64_t)known);
        put(&w, "\r\n", 2);
    } else if (o->http_minor >= 1) {
        r->mode = CGI_BODY_CHUNKED;
        puts_(&w, "Transfer-Encoding: chunked\r\n");
    } else {
        r->mode = CGI_BODY_CLOSE;
        r->keep_alive = 0;
    }
    if (r->keep_alive)
        puts_(&w, "Connection: keep-alive\r\n");
    else
        puts_(&w, "Connection: close\r\n");

    uint32_t pos = 0, n, nl, v, vl;
    while (next_line_fast(r, &pos, &n, &nl, &v, &vl) == 1) {
        if (dropped(r, r->hdr + n, nl)) continue;
        put(&w, r->hdr + n, nl);
        put(&w, ": ", 2);
        put(&w, r->hdr + v, vl);
        put(&w, "\r\n", 2);
    }
    put(&w, "\r\n", 2);
    return w.len;
}

size_t cgi_response_body(struct cgi_response *r, size_t len, uint8_t pre[CGI_BODY_PREFIX_MAX],
                         size_t *send)
{
    size_t n = 0;
    *send = 0;
    switch (r->mode) {
    case CGI_BODY_NONE:
        return 0;
    case CGI_BODY_LENGTH: {
        uint64_t room = r->limit - r->sent;
        *send = len < room ? len : (size_t)room;
        r->sent += *send;
        return 0;
    }
    case CGI_BODY_CLOSE:
        *send = len;
        r->sent += len;
        return 0;
    case CGI_BODY_CHUNKED:
        if (len == 0) return 0; /* an empty chunk would end the body */
        if (r->chunk_open) {
            pre[n++] = '\r';
            pre[n++] = '\n';
        }
        static const char hex[] = "0123456789abcdef";
        int shift = 60;
        while (shift > 0 && ((uint64_t)len >> shift) == 0)
            shift -= 4;
        for (; shift >= 0; shift -= 4)
            pre[n++] = (uint8_t)hex[((uint64_t)len >> shift) & 15];
        pre[n++] = '\r';
        pre[n++] = '\n';
        r->chunk_open = 1;
        *send = len;
        r->sent += len;
        return n;
    }
    return 0;
}

size_t cgi_response_end(struct cgi_response *r, uint8_t out[CGI_END_MAX])
{
    size_t n = 0;
    switch (r->mode) {
    case CGI_BODY_CHUNKED:
        if (r->chunk_open) {
            out[n++] = '\r';
            out[n++] = '\n';
        }
        memcpy(out + n, "0\r\n\r\n", 5);
        n += 5;
        r->chunk_open = 0;
        break;
    case CGI_BODY_LENGTH:
        if (r->sent < r->limit) r->keep_alive = 0; /* the client must see the body end short */
        break;
    case CGI_BODY_CLOSE:
        r->keep_alive = 0;
        break;
    }
    return n;
}

const char *cgi_response_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 203:
        return "Non-Authoritative Information";
    case 204:
        return "No Content";
    case 205:
        return "Reset Content";
    case 206:
        return "Partial Content";
    case 300:
        return "Multiple Choices";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 305:
        return "Use Proxy";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 407:
        return "Proxy Authentication Required";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Content";
    case 426:
        return "Upgrade Required";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    }
    return "";
}

size_t cgi_response_simple(uint8_t *out, size_t cap, int status, const char *date, int keep_alive,
                           int head)
{
    struct out w = {out, cap, 0};
    if (status < 100 || status > 999) status = 500;
    const char *reason = cgi_response_reason(status);
    size_t rl = strlen(reason);
    put_status_line(&w, status, (const uint8_t *)reason, rl);
    puts_(&w, "Server: " SERVER_DEFAULT "\r\nDate: ");
    put(&w, date, CGI_DATE_LEN);
    put(&w, "\r\n", 2);
    int bodyless = status < 200 || status == 204 || status == 304;
    /* <html>..<title>404 Not Found</title>..<h1>404 Not Found</h1>.. as nginx's error pages */
    static const char b1[] = "<html>\r\n<head><title>",
                      b2[] = "</title></head>\r\n<body>\r\n"
                             "<center><h1>",
                      b3[] = "</h1></center>\r\n<hr><center>" SERVER_DEFAULT
                             "</center>\r\n</body>\r\n</html>\r\n";
    char code[4] = {(char)('0' + status / 100), (char)('0' + status / 10 % 10),
                    (char)('0' + status % 10), ' '};
    size_t title = 3 + (rl ? 1 + rl : 0);
    size_t body_len = sizeof b1 - 1 + title + sizeof b2 - 1 + title + sizeof b3 - 1;
    if (!bodyless) {
        puts_(&w, "Content-Type: text/html\r\nContent-Length: ");
        put_u64(&w, body_len);
        put(&w, "\r\n", 2);
    }
    if (keep_alive)
        puts_(&w, "Connection: keep-alive\r\n\r\n");
    else
        puts_(&w, "Connection: close\r\n\r\n");
    if (!bodyless && !head) {
        put(&w, b1, sizeof b1 - 1);
        put(&w, code, rl ? 4 : 3);
        put(&w, reason, rl);
        put(&w, b2, sizeof b2 - 1);
        put(&w, code, rl ? 4 : 3);
        put(&w, reason, rl);
        put(&w, b3, sizeof b3 - 1);
    }
    return w.len;
}

void cgi_response_date(char out[CGI_DATE_LEN + 1], time_t t)
{
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
        memcpy(out, "Thu, 01 Jan 1970 00:00:00 GMT", CGI_DATE_LEN + 1);
        return;
    }
    int y = tm.tm_year + 1900;
    char *p = out;
    memcpy(p, days + 3 * tm.tm_wday, 3);
    p += 3;
    *p++ = ',';
    *p++ = ' ';
    *p++ = (char)('0' + tm.tm_mday / 10);
    *p++ = (char)('0' + tm.tm_mday % 10);
    *p++ = ' ';
    memcpy(p, months + 3 * tm.tm_mon, 3);
    p += 3;
    *p++ = ' ';
    *p++ = (char)('0' + y / 1000);
    *p++ = (char)('0' + y / 100 % 10);
    *p++ = (char)('0' + y / 10 % 10);
    *p++ = (char)('0' + y % 10);
    *p++ = ' ';
    *p++ = (char)('0' + tm.tm_hour / 10);
    *p++ = (char)('0' + tm.tm_hour % 10);
    *p++ = ':';
    *p++ = (char)('0' + tm.tm_min / 10);
    *p++ = (char)('0' + tm.tm_min % 10);
    *p++ = ':';
    *p++ = (char)('0' + tm.tm_sec / 10);
    *p++ = (char)('0' + tm.tm_sec % 10);
    memcpy(p, " GMT", 5);
}
