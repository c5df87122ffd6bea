#include "worker_output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define OUTPUT_LINE_MAX 4096

struct output_reader {
    struct op op;
    struct output_reader *prev, *next; /* every open reader, freed at exit if still reading */
    int fd;
    pid_t pid;
    int is_stderr;
    int decorate;
    size_t limit; /* log_limit: longer lines are cut and marked */
    char pool[64];
    size_t len;
    char line[OUTPUT_LINE_MAX];
    char chunk[4096];
};

int worker_output_pipe(int *child_fd)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        log_error("pipe() for catch_workers_output failed: %s", strerror(errno));
        return -1;
    }
    *child_fd = p[1];
    return p[0];
}

static void emit(struct output_reader *r, const char *s, size_t n, int cut)
{
    if (n > r->limit) {
        n = r->limit;
        cut = 1;
    }
    if (!r->decorate) {
        log_msg(LOG_LVL_WARNING, "%.*s%s", (int)n, s, cut ? "..." : "");
        return;
    }
    log_msg(LOG_LVL_WARNING, "[pool %s] child %d said into %s: \"%.*s\"%s", r->pool, (int)r->pid,
            r->is_stderr ? "stderr" : "stdout", (int)n, s, cut ? "..." : "");
}

static struct output_reader *readers;

static void reader_free(struct output_reader *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        readers = r->next;
    if (r->next) r->next->prev = r->prev;
    close(r->fd);
    free(r);
}

void worker_output_free_all(void)
{
    while (readers != NULL) reader_free(readers);
}

void worker_output_close(int fd)
{
    close(fd);
}

void worker_output_watch(int fd, const char *pool, pid_t pid, int is_stderr, int decorate,
                         int line_limit)
{
    struct output_reader *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        log_error("[pool %s] out of memory watching child %d's output", pool, (int)pid);
        worker_output_close(fd);
        return;
    }
    r->op.kind = OP_WORKER_OUTPUT;
    r->fd = fd;
    r->pid = pid;
    r->is_stderr = is_stderr;
    r->decorate = decorate;
    r->limit = line_limit > 0 && line_limit < OUTPUT_LINE_MAX ? (size_t)line_limit : 1024;
    size_t pl = strlen(pool);
    if (pl >= sizeof(r->pool)) pl = sizeof(r->pool) - 1;
    memcpy(r->pool, pool, pl);
    r->next = readers;
    if (readers) readers->prev = r;
    readers = r;
    ring_read(&r->op, fd, r->chunk, sizeof(r->chunk), RING_OFF_CURRENT);
}

void worker_output_complete(const struct completion *c)
{
    struct output_reader *r = container_of(c->op, struct output_reader, op);
    if (c->res <= 0) {
        if (r->len > 0) emit(r, r->line, r->len, 0);
        reader_free(r);
        return;
    }
    for (int i = 0; i < c->res; i++) {
        char ch = r->chunk[i];
        if (ch == '\n') {
            emit(r, r->line, r->len, 0);
            r->len = 0;
        } else if (r->len == sizeof(r->line)) {
            emit(r, r->line, r->len, 1);
            r->len = 0;
            r->line[r->len++] = ch;
        } else {
            r->line[r->len++] = ch;
        }
    }
    ring_read(&r->op, r->fd, r->chunk, sizeof(r->chunk), RING_OFF_CURRENT);
}
