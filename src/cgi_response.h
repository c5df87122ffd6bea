/* A worker's CGI response (the header block "Status: 404 Not Found\r\nContent-type: ...\r\n\r\n",
 * then the body, as it arrives in FastCGI STDOUT records) turned into an HTTP/1.1 response: the
 * status line, Server and Date, the worker's headers, Content-Length when the length is known and
 * chunked framing otherwise, Connection: keep-alive or close, and no body for HEAD, 204 and 304.
 * Pure functions over caller-owned memory: no allocation, no I/O, no reads outside the given
 * buffers.
 *
 * The head matches what nginx sends for the same worker output behind fastcgi_pass (checked
 * against nginx 1.22): status line, Server, Date, Content-Type, Content-Length or
 * Transfer-Encoding, Connection, then the worker's other headers in their order and spelling.
 * A worker's own Server or Date replaces ours (in its position); Status, Connection, Keep-Alive,
 * Transfer-Encoding and (unless kept) X-Accel-* are dropped; a worker's Content-Length is
 * honoured: the body is cut there, and a short body closes the connection.
 *
 * Use: cgi_response_init with a header buffer; cgi_response_feed each STDOUT chunk until it
 * reports the header block complete (bytes after it are body); cgi_response_head; then
 * cgi_response_body for each body chunk (send the returned prefix, then the bytes it allows);
 * finally cgi_response_end at END_REQUEST. If the worker's output ends before the header block,
 * or is malformed, answer 502 (cgi_response_simple). */
#ifndef PHPMGR_CGI_RESPONSE_H
#define PHPMGR_CGI_RESPONSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define CGI_DATE_LEN 29        /* "Sun, 06 Nov 1994 08:49:37 GMT" */
#define CGI_BODY_PREFIX_MAX 20 /* "\r\n" + 16 hex digits + "\r\n" */
#define CGI_END_MAX 7          /* "\r\n0\r\n\r\n" */
#define CGI_RESPONSE_100_CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"

enum cgi_body_mode {
    CGI_BODY_NONE,    /* HEAD, 204, 304: body bytes are discarded */
    CGI_BODY_LENGTH,  /* Content-Length: at most that many bytes are sent */
    CGI_BODY_CHUNKED, /* Transfer-Encoding: chunked */
    CGI_BODY_CLOSE,   /* HTTP/1.0 client, length unknown: the body ends when the connection does */
};

struct cgi_response {
    /* Header block as received (caller's buffer). */
    uint8_t *hdr;
    uint32_t hdr_cap, hdr_len;
    uint8_t line_len;   /* bytes of the line being received (counted up to 2) */
    uint8_t line_first; /* its first byte */
    uint8_t state;

    /* Parsed from the header block. */
    uint16_t status;     /* 200, or 302 with Location and no Status, or the Status value */
    uint32_t reason_off; /* reason phrase from Status (in hdr), reason_len 0 when none */
    uint32_t reason_len;
    int32_t content_type; /* offset in hdr of the (last) Content-Type value, or -1 */
    uint32_t content_type_len;
    int64_t content_length; /* the worker's Content-Length, or -1 */
    uint8_t has_status; /* the worker sent Status (its reason phrase is used as is, even empty) */
    uint8_t has_date, has_server;

    /* Framing, set by cgi_response_head. */
    uint8_t mode;       /* enum cgi_body_mode */
    uint8_t keep_alive; /* the connection may serve another request after this response */
    uint8_t chunk_open; /* a chunk's data was sent and its CRLF is still owed */
    uint8_t keep_x_accel;
    uint64_t limit; /* CGI_BODY_LENGTH: bytes to send */
    uint64_t sent;  /* body bytes let through so far */

    const char *error; /* why feed failed (static string, for the log) */
};

struct cgi_response_opts {
    const char *date;     /* CGI_DATE_LEN characters (cgi_response_date, cached per second) */
    const char *server;   /* Server header value; NULL: "phpmgr/" PHPMGR_VERSION_STRING */
    int64_t body_len;     /* the whole body's length when the caller already holds all of it
                           * (it saw END_REQUEST), else -1 */
    uint8_t http_minor;   /* the request's HTTP/1.x minor version: chunked needs 1 */
    uint8_t head;         /* HEAD request: no body, headers as for GET */
    uint8_t keep_alive;   /* the request allows it and the server wants to keep the connection */
    uint8_t keep_x_accel; /* pass X-Accel-* through (a proxy in front acts on them) */
};

/* Start a response; hdr (cap bytes, cap <= 2^31) holds the header block while it arrives. A block
 * larger than cap is an error (502). */
void cgi_response_init(struct cgi_response *r, uint8_t *hdr, size_t cap);

/* Feed STDOUT bytes. Returns how many of them belong to the header block: len while it is still
 * incomplete (0 once it is complete: everything after it is body), fewer when the block ends
 * inside data (data + return value is the first body byte), -1 when the block is malformed or too
 * large (r->error). Lines may end in LF or CRLF, as CGI allows. */
ssize_t cgi_response_feed(struct cgi_response *r, const uint8_t *data, size_t len);

/* Whether the header block is complete and valid (cgi_response_head may be called). */
int cgi_response_ready(const struct cgi_response *r);

/* Write the HTTP/1.1 response head into out. Returns its length; when that exceeds cap nothing
 * useful is written (call again with a larger buffer). Decides the body framing and keep-alive. */
size_t cgi_response_head(struct cgi_response *r, const struct cgi_response_opts *o, uint8_t *out,
                         size_t cap);

/* Frame the next len body bytes from the worker: writes into pre what to send before them and
 * returns its length (0..CGI_BODY_PREFIX_MAX); *send is how many of the len bytes to send next
 * (fewer than len past a Content-Length, 0 for a body-less response). */
size_t cgi_response_body(struct cgi_response *r, size_t len, uint8_t pre[CGI_BODY_PREFIX_MAX],
                         size_t *send);

/* The worker's output ended (END_REQUEST): writes what completes the body into out and returns its
 * length (0..CGI_END_MAX). r->keep_alive then says whether the connection may be reused (not after
 * a body shorter than its Content-Length, nor a close-delimited one). A response cut short by a
 * worker crash must not be ended: close the connection instead. */
size_t cgi_response_end(struct cgi_response *r, uint8_t out[CGI_END_MAX]);

/* A complete response generated here (errors, 100-less refusals): status line, Server, Date,
 * Content-Type: text/html and a small HTML body naming the status (none for HEAD, 204, 304), and
 * Connection. Returns its length; nothing useful is written when that exceeds cap. */
size_t cgi_response_simple(uint8_t *out, size_t cap, int status, const char *date, int keep_alive,
                           int head);

/* Standard reason phrase for status (RFC 9110), or "" when there is none. */
const char *cgi_response_reason(int status);

/* IMF-fixdate of t (RFC 9110 section 5.6.7), NUL-terminated: out has CGI_DATE_LEN + 1 bytes. */
void cgi_response_date(char out[CGI_DATE_LEN + 1], time_t t);

#endif
