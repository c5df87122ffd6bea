/* FastCGI wire format: record parsing, name-value pairs, record encoding, and the relay scanner
 * that rewrites request ids in a worker's output stream. Pure functions over caller-owned buffers:
 * nothing here allocates, and no function reads outside [buf, buf + len). */
#ifndef PHPMGR_FCGI_H
#define PHPMGR_FCGI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FCGI_VERSION_1 1
#define FCGI_HEADER_LEN 8
#define FCGI_MAX_CONTENT 65535
#define FCGI_MAX_RECORD (FCGI_HEADER_LEN + FCGI_MAX_CONTENT + 255)

enum fcgi_type {
    FCGI_BEGIN_REQUEST = 1,
    FCGI_ABORT_REQUEST = 2,
    FCGI_END_REQUEST = 3,
    FCGI_PARAMS = 4,
    FCGI_STDIN = 5,
    FCGI_STDOUT = 6,
    FCGI_STDERR = 7,
    FCGI_DATA = 8,
    FCGI_GET_VALUES = 9,
    FCGI_GET_VALUES_RESULT = 10,
    FCGI_UNKNOWN_TYPE = 11,
};

enum fcgi_role { FCGI_RESPONDER = 1, FCGI_AUTHORIZER = 2, FCGI_FILTER = 3 };
#define FCGI_KEEP_CONN 1

enum fcgi_protocol_status {
    FCGI_REQUEST_COMPLETE = 0,
    FCGI_CANT_MPX_CONN = 1,
    FCGI_OVERLOADED = 2,
    FCGI_UNKNOWN_ROLE = 3,
};

/* One complete record found at the start of a buffer. content points into that buffer. */
struct fcgi_record {
    uint8_t type;
    uint16_t request_id;
    const uint8_t *content;
    uint16_t content_len;
};

/* Parse one record at buf. Returns the bytes it occupies (header + content + padding) when the
 * whole record is in [buf, buf+len), 0 when more bytes are needed, -1 when the header is invalid
 * (version != 1). */
ssize_t fcgi_record_parse(const uint8_t *buf, size_t len, struct fcgi_record *rec);

/* Iterate name-value pairs in [*pos, end). On success stores name/value pointers and lengths,
 * advances *pos and returns 1; returns 0 at end; -1 when a length runs past end. */
int fcgi_nv_next(const uint8_t **pos, const uint8_t *end, const uint8_t **name, uint32_t *name_len,
                 const uint8_t **value, uint32_t *value_len);

/* Encode one name-value pair into out (cap bytes). Returns the encoded size; when that exceeds cap
 * nothing is written (call with cap 0 to measure). */
size_t fcgi_nv_encode(uint8_t *out, size_t cap, const char *name, size_t name_len, const char *value,
                      size_t value_len);

/* Write an 8-byte record header. */
void fcgi_header_encode(uint8_t out[FCGI_HEADER_LEN], uint8_t type, uint16_t request_id,
                        uint16_t content_len, uint8_t padding_len);

/* BEGIN_REQUEST record (16 bytes). */
void fcgi_begin_request_encode(uint8_t out[16], uint16_t request_id, uint16_t role, uint8_t flags);

/* END_REQUEST record (16 bytes). */
void fcgi_end_request_encode(uint8_t out[16], uint16_t request_id, uint32_t app_status,
                             uint8_t protocol_status);

/* Bytes needed to frame len bytes of stream data as records of at most FCGI_MAX_CONTENT, without
 * padding. With terminate, one empty record is added to close the stream. */
size_t fcgi_stream_size(size_t len, int terminate);

/* Frame data as stream records of the given type into out (fcgi_stream_size() bytes). Returns
 * bytes written. */
size_t fcgi_stream_encode(uint8_t *out, uint8_t type, uint16_t request_id, const uint8_t *data,
                          size_t len, int terminate);

/* Answer an FCGI_GET_VALUES record: for each requested name among FCGI_MAX_CONNS, FCGI_MAX_REQS
 * and FCGI_MPXS_CONNS, write the value (max_conns, max_reqs, "0"). Writes a complete
 * GET_VALUES_RESULT record into out (cap bytes) and returns its size, or 0 if it does not fit or
 * the request is malformed. */
size_t fcgi_get_values_result(uint8_t *out, size_t cap, const uint8_t *content, size_t content_len,
                              unsigned max_conns, unsigned max_reqs);

/* Whether buf starts with an END_REQUEST record of the plain 16-byte form (content 8, no
 * padding), as a worker writes one outside a response (sapi/phpw.h): 1 with its request id and
 * appStatus, 0 when the len bytes cannot tell yet, -1 when it is anything else. */
int fcgi_end_request_peek(const uint8_t *buf, size_t len, uint16_t *request_id,
                          uint32_t *app_status);

/* Relay scanner: follows the record boundaries of a byte stream that arrives in arbitrary chunks
 * (a worker's output), rewrites every record's request id to new_id in place, counts STDOUT
 * content bytes and stops right after an END_REQUEST record. */
struct fcgi_relay {
    uint8_t hdr[FCGI_HEADER_LEN]; /* header bytes seen so far of the current record */
    unsigned hdr_have;            /* 0..8 */
    size_t body_left;             /* content + padding bytes of the current record still to come */
    uint8_t cur_type;
    uint8_t end_body[8];          /* END_REQUEST body collected across chunks */
    unsigned end_have;
    uint64_t stdout_bytes;        /* STDOUT content bytes seen (excluding the empty terminator) */
    int ended;                    /* an END_REQUEST record has been completely seen */
    uint32_t app_status;          /* from END_REQUEST */
};

void fcgi_relay_init(struct fcgi_relay *r);

/* Scan len bytes (modified in place: request ids become new_id, END_REQUEST's appStatus 0;
 * the original is in app_status). Returns the number of bytes
 * consumed: len, or less when an END_REQUEST completes inside the chunk (the caller gets the
 * offset just past it; bytes after it are not part of this response). -1 on a malformed header. */
ssize_t fcgi_relay_scan(struct fcgi_relay *r, uint8_t *buf, size_t len, uint16_t new_id);

/* Content of one STDOUT or STDERR record, or the part of it in the scanned chunk. */
struct fcgi_piece {
    uint8_t type;
    const uint8_t *p;
    uint32_t len;
};

/* fcgi_relay_scan that also reports the STDOUT/STDERR content it passes, in order, into
 * pieces[0..*n_pieces): the one FastCGI stream parser for every reader of a worker's output. It
 * stops early (returning the bytes consumed) once max_pieces are filled. */
ssize_t fcgi_relay_scan_pieces(struct fcgi_relay *r, uint8_t *buf, size_t len, uint16_t new_id,
                               struct fcgi_piece *pieces, unsigned max_pieces, unsigned *n_pieces);

#endif
