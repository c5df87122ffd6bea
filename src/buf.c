#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Chunks kept for reuse; past this many, freed, so a burst does not pin memory forever. */
#define BUF_KEEP 256

static struct buf *free_list;
static unsigned free_count;

struct buf *buf_get(void)
{
    struct buf *b = free_list;
    if (b != NULL) {
        free_list = b->next;
        free_count--;
    } else {
        b = malloc(sizeof(*b));
        if (b == NULL) {
            log_error("out of memory allocating a %zu-byte buffer", sizeof(*b));
            return NULL;
        }
    }
    b->next = NULL;
    b->off = b->len = 0;
    return b;
}

void buf_put(struct buf *b)
{
    if (b == NULL) return;
    if (free_count >= BUF_KEEP) {
        free(b);
        return;
    }
    b->next = free_list;
    free_list = b;
    free_count++;
}

void buf_put_list(struct buf *head)
{
    while (head != NULL) {
        struct buf *next = head->next;
        buf_put(head);
        head = next;
    }
}

void buf_queue_push(struct buf_queue *q, struct buf *b)
{
    b->next = NULL;
    if (q->tail != NULL)
        q->tail->next = b;
    else
        q->head = b;
    q->tail = b;
    q->bytes += b->len - b->off;
}

int buf_queue_append(struct buf_queue *q, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        struct buf *t = q->tail;
        if (t == NULL || t->len == BUF_CAP) {
            t = buf_get();
            if (t == NULL) return -1;
            buf_queue_push(q, t);
        }
        size_t n = BUF_CAP - t->len;
        if (n > len) n = len;
        memcpy(t->data + t->len, p, n);
        t->len += (uint32_t)n;
        q->bytes += n;
        p += n;
        len -= n;
    }
    return 0;
}

void buf_queue_clear(struct buf_queue *q)
{
    buf_put_list(q->head);
    q->head = q->tail = NULL;
    q->bytes = 0;
}

struct buf *buf_queue_pop(struct buf_queue *q)
{
    struct buf *b = q->head;
    if (b == NULL) return NULL;
    q->head = b->next;
    if (q->head == NULL) q->tail = NULL;
    q->bytes -= b->len - b->off;
    b->next = NULL;
    return b;
}
