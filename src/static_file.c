#include "static_file.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cgi_response.h"
#include "version.h"

struct mime {
    const char *ext;
    const char *type;
};

static const struct mime mime_types[] = {
    {"html", "text/html"},         {"htm", "text/html"},
    {"css", "text/css"},           {"js", "application/javascript"},
    {"json", "application/json"},  {"txt", "text/plain"},
    {"xml", "text/xml"},           {"svg", "image/svg+xml"},
    {"png", "image/png"},          {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},        {"gif", "image/gif"},
    {"webp", "image/webp"},        {"ico", "image/x-icon"},
    {"woff", "font/woff"},         {"woff2", "font/woff2"},
    {"pdf", "application/pdf"},    {"zip", "application/zip"},
    {"wasm", "application/wasm"},  {"mp4", "video/mp4"},
    {"map", "application/json"},   {"csv", "text/csv"},
};

static const char *mime_for(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot == NULL || (slash && dot < slash)) return "application/octet-stream";
    for (size_t i = 0; i < sizeof(mime_types) / sizeof(mime_types[0]); i++)
        if (strcasecmp(dot + 1, mime_types[i].ext) == 0) return mime_types[i].type;
    return "application/octet-stream";
}

/* Open the routed file beneath the root: no symlink out of it, and O_NONBLOCK so a FIFO there
 * cannot stall the master (it is then refused as not a regular file). */
static int open_beneath(const struct static_request *sr)
{
    const char *abs = sr->filename;
    size_t rl = strlen(sr->root);
    if (strncmp(abs, sr->root, rl) != 0 || (abs[rl] != '/' && abs[rl] != 0)) return -1;
    const char *rel = abs + rl;
    while (*rel == '/') rel++;
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, sr->root_fd, rel, &how, sizeof(how));
}

/* If-None-Match: a list of entity tags (weak comparison, RFC 9110 13.1.2), or "*". */
static int etag_listed(const uint8_t *v, size_t len, const char *etag)
{
    size_t el = strlen(etag);
    size_t i = 0;
    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        if (i < len && v[i] == '*') return 1;
        if (i + 2 <= len && v[i] == 'W' && v[i + 1] == '/') i += 2;
        size_t start = i;
        if (i < len && v[i] == '"') {
            i++;
            while (i < len && v[i] != '"') i++;
            if (i < len) i++;
        }
        if (i - start == el && memcmp(v + start, etag, el) == 0) return 1;
        while (i < len && v[i] != ',') i++;
    }
    return 0;
}

/* A single "bytes=" range: 1 with [*first, *last] inside the file, 0 to ignore the header (bad
 * syntax or several ranges: the whole file is sent, as RFC 9110 allows), -1 unsatisfiable. */
static int parse_range(const uint8_t *v, size_t len, uint64_t size, uint64_t *first,
                       uint64_t *last)
{
    if (len < 7 || strncasecmp((const char *)v, "bytes=", 6) != 0) return 0;
    size_t i = 6;
    uint64_t a = 0, b = 0;
    int has_a = 0, has_b = 0;
    while (i < len && v[i] >= '0' && v[i] <= '9') {
        if (a > (UINT64_MAX - 9) / 10) return 0;
        a = a * 10 + (uint64_t)(v[i++] - '0');
        has_a = 1;
    }
    if (i >= len || v[i++] != '-') return 0;
    while (i < len && v[i] >= '0' && v[i] <= '9') {
        if (b > (UINT64_MAX - 9) / 10) return 0;
        b = b * 10 + (uint64_t)(v[i++] - '0');
        has_b = 1;
    }
    if (i != len || (!has_a && !has_b)) return 0; /* trailing bytes or a list: ignored */
    if (!has_a) { /* suffix: the last b bytes */
        if (b == 0 || size == 0) return -1;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return 1;
    }
    if (has_b && b < a) return 0;
    if (a >= size) return -1;
    *first = a;
    *last = has_b && b < size ? b : size - 1;
    return 1;
}

void static_file_answer(const struct static_request *sr, struct static_answer *out)
{
    const struct http_request *req = sr->req;
    const uint8_t *head = sr->head;
    out->head_len = 0;
    out->fd = -1;
    out->off = out->len = 0;
    int fd = open_beneath(sr);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        if (fd >= 0) close(fd);
        out->status = 404;
        return;
    }
    char etag[64], lm[CGI_DATE_LEN + 1];
    snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)sb.st_mtime,
             (unsigned long long)sb.st_size);
    cgi_response_date(lm, sb.st_mtime);
    int not_modified = 0;
    int h = http_header_find(req, head, "If-None-Match", 13);
    if (h >= 0) {
        const struct http_span *v = &req->headers[h].value;
        not_modified = etag_listed(head + v->off, v->len, etag);
    } else if ((h = http_header_find(req, head, "If-Modified-Since", 17)) >= 0) {
        const struct http_span *v = &req->headers[h].value;
        not_modified = v->len == CGI_DATE_LEN && memcmp(head + v->off, lm, CGI_DATE_LEN) == 0;
    }
    const char *conn = sr->keep_alive ? "keep-alive" : "close";
    int n;
    if (not_modified) {
        close(fd);
        out->status = 304;
        n = snprintf(out->head, sizeof(out->head),
                     "HTTP/1.1 304 Not Modified\r\nServer: phpmgr/" PHPMGR_VERSION_STRING
                     "\r\nDate: %s\r\nLast-Modified: %s\r\nETag: %s\r\nConnection: %s\r\n\r\n",
                     sr->date, lm, etag, conn);
        out->head_len = n > 0 && (size_t)n < sizeof(out->head) ? (size_t)n : 0;
        return;
    }
    uint64_t size = (uint64_t)sb.st_size, first = 0, last = size ? size - 1 : 0;
    int ranged = 0;
    h = http_header_find(req, head, "Range", 5);
    if (h >= 0 && req->method == HTTP_GET) {
        const struct http_span *v = &req->headers[h].value;
        ranged = parse_range(head + v->off, v->len, size, &first, &last);
        int ir = http_header_find(req, head, "If-Range", 8);
        if (ir >= 0) { /* a stale validator means: send the whole new file */
            const struct http_span *iv = &req->headers[ir].value;
            int fresh = (iv->len == strlen(etag) && memcmp(head + iv->off, etag, iv->len) == 0) ||
                        (iv->len == CGI_DATE_LEN && memcmp(head + iv->off, lm, CGI_DATE_LEN) == 0);
            if (!fresh) ranged = 0;
        }
        if (ranged == 0) { /* the whole file after all */
            first = 0;
            last = size ? size - 1 : 0;
        }
    }
    if (ranged < 0) {
        close(fd);
        out->status = 416;
        n = snprintf(out->head, sizeof(out->head),
                     "HTTP/1.1 416 Range Not Satisfiable\r\nServer: phpmgr/" PHPMGR_VERSION_STRING
                     "\r\nDate: %s\r\nContent-Range: bytes */%llu\r\nContent-Length: 0\r\n"
                     "Connection: %s\r\n\r\n",
                     sr->date, (unsigned long long)size, conn);
        out->head_len = n > 0 && (size_t)n < sizeof(out->head) ? (size_t)n : 0;
        return;
    }
    char range_hdr[96] = "";
    if (ranged)
        snprintf(range_hdr, sizeof(range_hdr), "Content-Range: bytes %llu-%llu/%llu\r\n",
                 (unsigned long long)first, (unsigned long long)last, (unsigned long long)size);
    uint64_t body = size == 0 ? 0 : last - first + 1;
    out->status = ranged ? 206 : 200;
    n = snprintf(out->head, sizeof(out->head),
                 "HTTP/1.1 %s\r\nServer: phpmgr/" PHPMGR_VERSION_STRING "\r\nDate: %s\r\n"
                 "Content-Type: %s\r\nContent-Length: %llu\r\n%sLast-Modified: %s\r\n"
                 "Connection: %s\r\nETag: %s\r\nAccept-Ranges: bytes\r\n\r\n",
                 ranged ? "206 Partial Content" : "200 OK", sr->date, mime_for(sr->filename),
                 (unsigned long long)body, range_hdr, lm, conn, etag);
    out->head_len = n > 0 && (size_t)n < sizeof(out->head) ? (size_t)n : 0;
    if (http_is_head(req) || body == 0 || out->head_len == 0) {
        close(fd);
        if (out->head_len == 0) out->status = 404;
        return;
    }
    out->fd = fd;
    out->off = first;
    out->len = body;
}
