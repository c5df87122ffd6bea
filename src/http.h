/* HTTP/1.1 request codec (RFC 9110, RFC 9112): the request head parser and the chunked body
 * decoder. Pure functions over caller-owned memory: nothing here allocates, does I/O, or reads
 * outside [buf, buf + len).
 *
 * Strict by design. Anything that could make two parsers disagree about where a request ends
 * (request smuggling) or what it says is an error carrying the status to answer with; after any
 * error the caller answers that status and closes the connection. Never a guess:
 *   - lines end in CRLF only; a bare LF or a CR not followed by LF is 400;
 *   - obs-fold, whitespace before the colon, an empty or non-token field name: 400;
 *   - control bytes (NUL, CR, LF, DEL, ...; HTAB is allowed) in a field value: 400;
 *   - a second Content-Length or Transfer-Encoding line, a Content-Length that is not all digits
 *     (so "5, 5", "+5", "0x5", "" are 400) or exceeds INT64_MAX: 400;
 *   - Transfer-Encoding with Content-Length, or in an HTTP/1.0 request: 400;
 *   - Transfer-Encoding other than exactly one "chunked" (case-insensitive): 501;
 *   - HTTP/1.1 without Host, two Host lines, a Host that is not uri-host [":" port]: 400;
 *   - versions other than HTTP/1.0 and HTTP/1.1 (HTTP/0.9, 1.2, 2.0, the h2 preface): 505,
 *     a request line without a version (HTTP/0.9 form) or a malformed version: 400;
 *   - CONNECT: 501; authority-form for any other method: 400; "*" except with OPTIONS: 400;
 *   - request line longer than max_request_line: 414; head larger than max_header_size or more
 *     header lines than the caller's array holds: 431; Content-Length above max_body: 413;
 *   - an Expect other than "100-continue" on HTTP/1.1: 417.
 * Unknown methods (any token) are accepted and passed on, as nginx does for FastCGI. */
#ifndef PHPMGR_HTTP_H
#define PHPMGR_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Defaults for struct http_limits (a zero field means its default). */
#define HTTP_DEFAULT_MAX_REQUEST_LINE 8192
#define HTTP_DEFAULT_MAX_HEADER_SIZE 32768
/* Bounds of the chunked decoder: one chunk-size line with its extensions, and the whole trailer
 * section (which is parsed and discarded). */
#define HTTP_CHUNK_LINE_MAX 4096
#define HTTP_TRAILER_MAX 8192

enum http_method {
    HTTP_OTHER = 0, /* any other token: see method_name */
    HTTP_GET,
    HTTP_HEAD,
    HTTP_POST,
    HTTP_PUT,
    HTTP_DELETE,
    HTTP_PATCH,
    HTTP_OPTIONS,
    HTTP_TRACE,
    HTTP_CONNECT, /* never returned: CONNECT is answered 501 */
};

enum http_target_form {
    HTTP_FORM_ORIGIN,   /* "/path?query" */
    HTTP_FORM_ABSOLUTE, /* "http://authority/path?query" (http or https) */
    HTTP_FORM_ASTERISK, /* "*" (OPTIONS only) */
};

enum http_body_kind {
    HTTP_BODY_NONE,    /* no body */
    HTTP_BODY_LENGTH,  /* content_length bytes follow the head */
    HTTP_BODY_CHUNKED, /* decode with struct http_chunked */
};

/* Bytes of the request buffer, as offsets from buf: the caller may move or grow the buffer between
 * calls as long as the bytes already received stay where they were relative to buf. */
struct http_span {
    uint32_t off, len;
};

/* One header line: value has leading and trailing whitespace (SP, HTAB) removed. */
struct http_header {
    struct http_span name, value;
};

struct http_limits {
    uint32_t max_request_line; /* bytes, CRLF excluded; above: 414 */
    uint32_t max_header_size;  /* the whole head, request line to the empty line; above: 431 */
    uint64_t max_body;         /* Content-Length (or decoded chunked size) above: 413; 0 = none */
};

struct http_request {
    /* Set by http_request_init. */
    struct http_header *headers; /* the caller's array */
    uint16_t headers_cap;        /* a header line past this many: 431 */
    struct http_limits limits;

    /* Results, valid once http_request_parse returned > 0 (spans are offsets into buf). */
    uint8_t method;          /* enum http_method */
    uint8_t version_minor;   /* 0 or 1 (HTTP/1.x) */
    uint8_t form;            /* enum http_target_form */
    uint8_t body;            /* enum http_body_kind */
    uint8_t keep_alive;      /* the client lets the connection serve another request */
    uint8_t expect_continue; /* HTTP/1.1 "Expect: 100-continue" and a body is announced */
    uint16_t nheaders;
    int16_t host;               /* index of the Host line, or -1 */
    int16_t content_type;       /* index of the first Content-Type line, or -1 */
    int16_t content_length_hdr; /* index of the Content-Length line, or -1 */
    int16_t transfer_encoding;  /* index of the Transfer-Encoding line, or -1 */
    uint64_t content_length;    /* body == HTTP_BODY_LENGTH */
    struct http_span method_name;
    struct http_span target;    /* the request-target exactly as sent */
    struct http_span authority; /* absolute-form only: "host[:port]" from the target */
    struct http_span uri;       /* path and query: the target, or its part after the authority; may
                                 * be empty for "http://host" (meaning "/") */
    struct http_span path;      /* uri up to '?' (still percent-encoded) */
    struct http_span query;     /* after the first '?'; empty when there is none */
    uint32_t head_len; /* bytes of the head including leading empty lines and the final CRLF */

    /* Set when http_request_parse returned -1: the status to answer (400, 413, 414, 417, 431,
     * 501, 505) and a static description for the log. */
    uint16_t status;
    const char *error;

    /* Parser state. */
    uint32_t pos;        /* start of the first line not parsed yet */
    uint32_t scanned;    /* bytes after pos already searched for LF */
    uint32_t head_start; /* first byte of the request line (after leading empty lines) */
    uint8_t stage;
    uint8_t empty_lines;
    uint8_t flags;
};

/* Prepare r for a new request. headers (cap entries, cap <= INT16_MAX) receives the header lines;
 * limits may be NULL for the defaults. Cheap: call it once per request on a connection. */
void http_request_init(struct http_request *r, struct http_header *headers, uint16_t cap,
                       const struct http_limits *limits);

/* Parse the head of one request from buf, which holds every byte received for this request so far
 * (the request's first byte at buf[0]). Call again with more bytes after 0. Returns the head's
 * length when it is complete (the body or the next pipelined request starts there), 0 when more
 * bytes are needed, -1 on error (r->status, r->error). Each byte is examined a bounded number of
 * times however the input is split, and nothing past the limits is ever scanned. */
ssize_t http_request_parse(struct http_request *r, const uint8_t *buf, size_t len);

/* Index of the first header line named name (case-insensitive), or -1. */
int http_header_find(const struct http_request *r, const uint8_t *buf, const char *name,
                     size_t name_len);

/* Whether the request's method is HEAD (its response carries no body). */
static inline int http_is_head(const struct http_request *r)
{
    return r->method == HTTP_HEAD;
}

/* Chunked body decoder (RFC 9112 section 7.1): incremental over arbitrary splits. Chunk sizes are
 * hex with an overflow check; chunk extensions are checked against the grammar and bounded
 * (HTTP_CHUNK_LINE_MAX); trailer fields are checked like header fields, bounded
 * (HTTP_TRAILER_MAX) and discarded. Only CRLF ends a line. */
struct http_chunked {
    uint64_t remaining; /* data bytes still to come in the current chunk */
    uint64_t total;     /* body bytes decoded so far */
    uint64_t max_body;  /* 0 = no limit */
    uint32_t line_len;  /* bytes of the current chunk-size line */
    uint32_t trailer_len;
    uint16_t status; /* 400, 413 or 431 after an error */
    const char *error;
    uint8_t state;
};

void http_chunked_init(struct http_chunked *c, uint64_t max_body);

/* Decode in[0, len) into out, which has room for len bytes and may be in itself (decoding in
 * place). Stores the number of body bytes written in *out_len and returns the number of input
 * bytes consumed: len, or fewer once the body's end is reached (the next request starts there);
 * -1 on error (c->status: 400 malformed, 413 the body exceeds max_body, 431 trailers too large). */
ssize_t http_chunked_decode(struct http_chunked *c, const uint8_t *in, size_t len, uint8_t *out,
                            size_t *out_len);

/* Whether the last chunk and the trailer section have been consumed. */
int http_chunked_done(const struct http_chunked *c);

#endif
