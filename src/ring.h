/* The master's one io_uring, wrapped: every submission carries a struct op embedded in its owner
 * (connection, worker, listener...), so a completion finds its owner with container_of and its
 * handler through op->kind. The owner keeps a count of its ops in flight and is freed only when
 * that count is zero. */
#ifndef PHPMGR_RING_H
#define PHPMGR_RING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

enum op_kind {
    OP_ACCEPT = 1,
    OP_CONN_RECV,
    OP_CONN_SEND,
    OP_WORKER_RECV,
    OP_WORKER_SEND,
    OP_SIGNAL,
    OP_TICK,
    OP_WORKER_OUTPUT,
};

struct op {
    uint8_t kind;
};

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* Returns 0, or -errno with a log line. */
int ring_init(unsigned entries);
/* Close the ring (master at exit, and every child right after fork). */
void ring_exit(void);
/* 1 when the kernel accepts multishot accept on this ring. */
int ring_has_multishot_accept(void);

/* Accepted sockets are non-blocking: ring ops on them still wait for readiness, and a splice to
 * one (run by a kernel worker thread) returns instead of holding that thread. */
void ring_accept(struct op *op, int fd, int multishot);
void ring_recv(struct op *op, int fd, void *buf, size_t len);
void ring_send(struct op *op, int fd, const void *buf, size_t len);
void ring_sendmsg(struct op *op, int fd, const struct msghdr *msg);
/* offset RING_OFF_CURRENT reads at the file position (pipes). */
#define RING_OFF_CURRENT ((uint64_t)-1)
void ring_read(struct op *op, int fd, void *buf, size_t len, uint64_t offset);
/* Move len bytes from fd_in (at off_in, or -1 for a pipe) to fd_out; one side must be a pipe. */
void ring_splice(struct op *op, int fd_in, int64_t off_in, int fd_out, size_t len);
/* One-shot: completes with the ready events (POLLIN, POLLOUT...) of fd. */
void ring_poll(struct op *op, int fd, unsigned events);
/* Close fd with the next submission; its completion is ignored. A child forked before that
 * submission would inherit fd: call ring_submit() before fork(). */
void ring_close(int fd);
/* Submit what is queued now, without waiting. */
void ring_submit(void);
/* A one-shot timer firing after ms milliseconds. */
void ring_timeout(struct op *op, unsigned ms);

/* Set in completion flags while a multishot op stays armed (IORING_CQE_F_MORE). */
#define RING_CQE_MORE (1U << 1)

/* A completion as the handlers see it. */
struct completion {
    struct op *op;
    int res;
    unsigned flags; /* IORING_CQE_F_MORE and friends */
};

/* Submit what is queued, wait for at least one completion, hand each to fn. Returns 0 or -errno
 * (EINTR is not an error). */
int ring_wait(void (*fn)(const struct completion *c));

#endif
