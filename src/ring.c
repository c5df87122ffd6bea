#include "ring.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <string.h>

#include "log.h"

_Static_assert(RING_CQE_MORE == IORING_CQE_F_MORE, "ring.h mirrors IORING_CQE_F_MORE");

static struct io_uring ring;
static int ring_ready;
static int multishot_accept;
/* Timeout specs must outlive the submission; one per op is enough since each timer op is single. */
static struct __kernel_timespec tick_ts;

int ring_init(unsigned entries)
{
    /* One thread submits and reaps: let the kernel run completion work only when we wait
     * (DEFER_TASKRUN, 6.1+) instead of interrupting us with it; older kernels get the plain ring. */
    static const unsigned flag_sets[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    struct io_uring_params p;
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]) && rc < 0; i++) {
        memset(&p, 0, sizeof(p));
        p.flags = flag_sets[i];
        rc = io_uring_queue_init_params(entries, &ring, &p);
        if (rc < 0 && rc != -EINVAL) break;
    }
    if (rc < 0) {
        log_alert("io_uring_queue_init(%u) failed: %s", entries, strerror(-rc));
        return rc;
    }
    ring_ready = 1;
    /* Multishot accept arrived in 5.19; the probe cannot tell flags apart, so go by features that
     * arrived in the same release window. */
    multishot_accept = (p.features & IORING_FEAT_CQE_SKIP) != 0;
    return 0;
}

void ring_exit(void)
{
    if (ring_ready) io_uring_queue_exit(&ring);
    ring_ready = 0;
}

int ring_has_multishot_accept(void)
{
    return multishot_accept;
}

/* An SQE, submitting the queue first when it is full: never fails once the ring is up. */
static struct io_uring_sqe *get_sqe(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    while (sqe == NULL) {
        int rc = io_uring_submit(&ring);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
            log_error("io_uring_submit: %s", strerror(-rc));
        sqe = io_uring_get_sqe(&ring);
    }
    return sqe;
}

void ring_accept(struct op *op, int fd, int multishot)
{
    struct io_uring_sqe *sqe = get_sqe();
    if (multishot)
        io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    else
        io_uring_prep_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    io_uring_sqe_set_data(sqe, op);
}

void ring_recv(struct op *op, int fd, void *buf, size_t len)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_recv(sqe, fd, buf, len, 0);
    io_uring_sqe_set_data(sqe, op);
}

void ring_send(struct op *op, int fd, const void *buf, size_t len)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL);
    io_uring_sqe_set_data(sqe, op);
}

void ring_sendmsg(struct op *op, int fd, const struct msghdr *msg)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_sendmsg(sqe, fd, msg, MSG_NOSIGNAL);
    io_uring_sqe_set_data(sqe, op);
}

void ring_read(struct op *op, int fd, void *buf, size_t len, uint64_t offset)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_read(sqe, fd, buf, (unsigned)len, offset);
    io_uring_sqe_set_data(sqe, op);
}

void ring_splice(struct op *op, int fd_in, int64_t off_in, int fd_out, size_t len)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_splice(sqe, fd_in, off_in, fd_out, -1, (unsigned)len, SPLICE_F_MOVE);
    io_uring_sqe_set_data(sqe, op);
}

void ring_poll(struct op *op, int fd, unsigned events)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_poll_add(sqe, fd, events);
    io_uring_sqe_set_data(sqe, op);
}

void ring_close(int fd)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_close(sqe, fd);
    io_uring_sqe_set_data(sqe, NULL);
}

void ring_submit(void)
{
    int rc;
    do
        rc = io_uring_submit(&ring);
    while (rc == -EINTR);
    if (rc < 0) log_error("io_uring_submit: %s", strerror(-rc));
}

void ring_timeout(struct op *op, unsigned ms)
{
    struct io_uring_sqe *sqe = get_sqe();
    tick_ts.tv_sec = ms / 1000;
    tick_ts.tv_nsec = (long long)(ms % 1000) * 1000000;
    io_uring_prep_timeout(sqe, &tick_ts, 0, 0);
    io_uring_sqe_set_data(sqe, op);
}

int ring_wait(void (*fn)(const struct completion *c))
{
    int rc = io_uring_submit_and_wait(&ring, 1);
    if (rc < 0 && rc != -EINTR && rc != -ETIME) return rc;
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe)
    {
        struct completion c = {(struct op *)io_uring_cqe_get_data(cqe), cqe->res, cqe->flags};
        seen++;
        if (c.op != NULL) fn(&c);
    }
    io_uring_cq_advance(&ring, seen);
    return 0;
}
