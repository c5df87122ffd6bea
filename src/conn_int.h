/* Inside a client connection: the state every protocol shares (socket, input buffer, send
 * queue, the open request) and the hooks by which conn.c hands a protocol its events. Only
 * conn.c, fcgi_conn.c and http_conn.c include this. */
#ifndef PHPMGR_CONN_INT_H
#define PHPMGR_CONN_INT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "conn.h"
#include "ring.h"

struct conn;
struct request;

struct conn_proto {
    const char *name;
    /* New bytes are in c->in[in_off..in_len): consume what forms complete units, advancing in_off
     * (the caller compacts). Stop while conn_can_parse(c) is false. */
    void (*on_input)(struct conn *c);
    /* The client sent FIN (it may only have half-closed): c->read_closed is set. Requests it sent
     * before are still parsed and answered in turn afterwards (see run_input in conn.c). May be
     * NULL. */
    void (*on_eof)(struct conn *c);
    /* Worker output (FastCGI records, ids already the client's) for c's open request. */
    void (*on_worker_data)(struct conn *c, struct buf *b);
    /* The request's worker is done with it (END_REQUEST, or it failed with status). */
    void (*on_request_done)(struct conn *c, struct request *r);
    void (*on_request_failed)(struct conn *c, struct request *r, int status);
    /* The file given to conn_send_file() is all sent. May be NULL. */
    void (*on_file_sent)(struct conn *c);
    /* Graceful stop: a request still arriving gets its refusal (503) now, as the pool takes no
     * new request; the caller then closes after the output. May be NULL. */
    void (*on_stop)(struct conn *c);
    /* Periodic check: timeouts. May be NULL. */
    void (*on_tick)(struct conn *c, uint64_t now_ms);
    /* Free protocol state. May be NULL. */
    void (*on_free)(struct conn *c);
};

struct conn {
    struct op op_recv;
    struct op op_send;
    struct conn *prev, *next; /* every open connection */
    struct conn *next_dead;
    const struct conn_proto *proto;
    void *proto_state;
    struct pool *pool;
    int fd;
    int send_timeout_ms;  /* 0: none */
    unsigned inflight;    /* ops submitted and not completed */
    uint8_t recv_posted;  /* a recv is in flight */
    uint8_t input_held;   /* the protocol waits (a response is pending): bytes are still read,
                             so a client that leaves is seen, but not parsed */
    uint8_t in_input;     /* inside proto->on_input */
    uint8_t out_blocked;  /* output went past CONN_OUT_HIGH: no reading, no parsing until it is
                             below CONN_OUT_LOW, whoever produced it */
    uint8_t read_closed;  /* the client sent FIN */
    uint8_t sending;      /* a send (or a splice) is in flight */
    uint8_t send_kind;    /* SEND_QUEUE, SEND_FILL (file -> pipe), SEND_PIPE (pipe -> fd), SEND_POLL */
    uint8_t send_active;  /* a response is on its way: send_progress_ms counts */
    uint8_t closing;      /* close once no request is open and all output is sent */
    uint8_t linger;       /* ... then shut the write side and drain input for a while */
    uint8_t lingering;    /* draining before the close */
    uint8_t dead;         /* shut down; freed when nothing is in flight */
    uint8_t on_dead_list;
    uint8_t *in;
    size_t in_len, in_cap;
    size_t in_off; /* bytes of in already consumed by the protocol */
    size_t in_max; /* the input buffer never grows past this */
    struct buf_queue out;
    /* A file sent after the queue, spliced through a pipe (no copy): a static file
     * (conn_send_file), or the spill file holding a worker's response past CONN_OUT_HIGH. */
    int file_fd;
    uint64_t file_off, file_left;
    uint64_t spill_end;   /* bytes written to the spill file */
    uint8_t spilling;     /* file_fd is the spill file: new output is appended to it */
    uint8_t spill_failed; /* no temp file could be made: backpressure holds the worker */
    struct conn_pipe *pipe;
    size_t pipe_bytes; /* in the pipe, not yet on the socket */
    struct request *req; /* the one request this connection has open (REQ_HELD_BY_CONN) */
    uint64_t last_active_ms;
    uint64_t send_progress_ms; /* when the client last took bytes (or sending began) */
    uint64_t linger_until_ms;
};

/* For the protocols. */
void conn_kill(struct conn *c);
void conn_queue(struct conn *c, const void *data, size_t len);
void conn_queue_buf(struct conn *c, struct buf *b);
/* Send len bytes of fd from off once what is queued is out; c owns fd from now on (closed when
 * sent or when c dies). Nothing may be queued until proto->on_file_sent. */
void conn_send_file(struct conn *c, int fd, uint64_t off, uint64_t len);
/* 1 while the protocol may parse input: not held, not blocked by output, not closing. */
static inline int conn_can_parse(const struct conn *c)
{
    return !c->dead && !c->input_held && !c->out_blocked && !c->closing;
}
/* Parse buffered input again after input_held (deferred when called from inside on_input). */
void conn_resume_input(struct conn *c);
/* A response is complete as far as the protocol is concerned: let go of r (may be NULL: an answer
 * made here), then take the next request, or close once the output is sent unless keep. */
void conn_finish_request(struct conn *c, struct request *r, int keep);
/* Close once no request is open and all output is sent; with linger, first shut the write side
 * and read (and drop) what the client still sends for a while, so it reads our answer instead
 * of a reset (nginx's lingering_close). */
void conn_close_after_output(struct conn *c, int linger);
/* Submit c->req to the pool. */
void conn_submit(struct conn *c);

extern const struct conn_proto fcgi_conn_proto;
extern const struct conn_proto http_conn_proto;

#endif
