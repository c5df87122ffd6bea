/* Fixed-size byte chunks from a free list: a worker's output is received into one, then the chunk
 * itself moves to the client's send queue, so relaying costs no copy and no malloc per request. */
#ifndef PHPMGR_BUF_H
#define PHPMGR_BUF_H

#include <stddef.h>
#include <stdint.h>

#define BUF_CAP (32 * 1024 - 64)

struct buf {
    struct buf *next;
    uint32_t off; /* first byte not yet sent */
    uint32_t len; /* bytes held */
    uint8_t data[BUF_CAP];
};

/* A chunk with off = len = 0, or NULL when memory is exhausted (logged). */
struct buf *buf_get(void);
void buf_put(struct buf *b);
/* Free every chunk in a singly linked list. */
void buf_put_list(struct buf *head);

/* A FIFO of chunks (a connection's send queue). */
struct buf_queue {
    struct buf *head;
    struct buf *tail;
    size_t bytes; /* unsent bytes queued */
};

void buf_queue_push(struct buf_queue *q, struct buf *b);
/* Append bytes, filling the tail chunk first; returns 0 or -1 when out of memory. */
int buf_queue_append(struct buf_queue *q, const void *data, size_t len);
void buf_queue_clear(struct buf_queue *q);
/* Take the head chunk off the queue (NULL when empty). */
struct buf *buf_queue_pop(struct buf_queue *q);

#endif
