#include "request.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fcgi.h"
#include "fdio.h"
#include "log.h"

/* Requests are recycled with their buffers, so steady traffic allocates nothing. */
#define REQUEST_KEEP 256
static struct request *free_requests;
static unsigned free_count;

/* An unlinked file in the spool directory: O_TMPFILE where the file system has it, else a
 * named file removed at once. */
int body_spool_tmpfile(const struct body_spool *sp)
{
    int fd = openat(sp->dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR)) return fd;
    char name[64];
    for (int tries = 0; tries < 16; tries++) {
        static unsigned counter;
        snprintf(name, sizeof(name), ".phpmgr-body-%d-%u", (int)getpid(), counter++);
        fd = openat(sp->dir_fd, name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
        if (fd >= 0) {
            if (unlinkat(sp->dir_fd, name, 0) < 0) {
                int e = errno;
                close(fd);
                errno = e;
                return -1;
            }
            return fd;
        }
        if (errno != EEXIST) return -1;
    }
    return -1;
}

int body_spool_open(struct body_spool *sp, const char *pool, const char *dir, size_t mem_max)
{
    if (dir == NULL || *dir == 0) dir = getenv("TMPDIR");
    if (dir == NULL || *dir == 0) dir = "/tmp";
    sp->dir = dir;
    sp->mem_max = mem_max;
    sp->dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (sp->dir_fd < 0) {
        log_alert("[pool %s] request.body_temp_dir \"%s\": %s", pool, dir, strerror(errno));
        return -1;
    }
    int fd = body_spool_tmpfile(sp);
    if (fd < 0) {
        log_alert("[pool %s] request.body_temp_dir \"%s\": cannot create a temp file: %s", pool,
                  dir, strerror(errno));
        close(sp->dir_fd);
        sp->dir_fd = -1;
        return -1;
    }
    close(fd);
    return 0;
}

void body_spool_close(struct body_spool *sp)
{
    if (sp->dir_fd < 0) return;
    close(sp->dir_fd);
    sp->dir_fd = -1;
}

struct request *request_new(struct conn *c, uint16_t client_id, uint8_t keep_conn,
                            const struct body_spool *spool)
{
    struct request *r = free_requests;
    if (r != NULL) {
        free_requests = r->next;
        free_count--;
    } else {
        r = calloc(1, sizeof(*r));
        if (r == NULL) {
            log_error("out of memory allocating a request");
            return NULL;
        }
    }
    uint8_t *params = r->params, *body = r->body;
    size_t pcap = r->params_cap, bcap = r->body_cap;
    memset(r, 0, sizeof(*r));
    r->params = params;
    r->params_cap = pcap;
    r->body = body;
    r->body_cap = bcap;
    r->client_id = client_id;
    r->keep_conn = keep_conn;
    r->body_fd = -1;
    r->spool = spool;
    r->conn = c;
    r->holders = REQ_HELD_BY_CONN;
    return r;
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 4096;
    while (n < need) n *= 2;
    uint8_t *p = realloc(*buf, n);
    if (p == NULL) return -1;
    *buf = p;
    *cap = n;
    return 0;
}

int request_add_params(struct request *r, const uint8_t *data, size_t len, size_t limit)
{
    if (r->params_len + len > limit) return -1;
    if (grow(&r->params, &r->params_cap, r->params_len + len) < 0) return -1;
    memcpy(r->params + r->params_len, data, len);
    r->params_len += len;
    return 0;
}

/* The body outgrew memory: from now on body[] stages what goes to a temp file. */
static int spool_start(struct request *r)
{
    int fd = body_spool_tmpfile(r->spool);
    if (fd < 0) {
        log_error("creating a temp file for a request body in %s failed: %s", r->spool->dir,
                  strerror(errno));
        return -1;
    }
    r->body_fd = fd;
    return 0;
}

/* Write what is staged. Writes are synchronous: they land in the page cache (as nginx's
 * client_body_temp writes do), one per REQUEST_BODY_CHUNK rather than one per record. */
static int spool_flush(struct request *r)
{
    struct iovec iov = {r->body, r->body_mem_len};
    if (r->body_mem_len > 0 && fdio_writev_all(r->body_fd, &iov, 1) < 0) {
        log_error("writing a request body to a temp file in %s failed: %s", r->spool->dir,
                  strerror(errno));
        return -1;
    }
    r->body_mem_len = 0;
    return 0;
}

int request_add_stdin(struct request *r, const uint8_t *data, size_t len)
{
    size_t rec = FCGI_HEADER_LEN + len;
    if (r->body_fd < 0 && r->spool != NULL && len > 0 && r->body_len + rec > r->spool->mem_max &&
        spool_start(r) < 0)
        return -1;
    if (r->body_fd >= 0 && r->body_mem_len + rec > REQUEST_BODY_CHUNK && spool_flush(r) < 0)
        return -1;
    if (grow(&r->body, &r->body_cap, r->body_mem_len + rec) < 0) {
        log_error("out of memory buffering a request body");
        return -1;
    }
    uint8_t *at = r->body + r->body_mem_len;
    fcgi_header_encode(at, FCGI_STDIN, request_worker_id(r), (uint16_t)len, 0);
    if (len > 0) memcpy(at + FCGI_HEADER_LEN, data, len);
    r->body_mem_len += rec;
    r->body_len += rec;
    r->body_content_len += len;
    /* The terminator: the whole body is in the file before a worker sees any of it. */
    if (r->body_fd >= 0 && len == 0) return spool_flush(r);
    return 0;
}

int request_param(const struct request *r, const char *name, const uint8_t **value)
{
    const uint8_t *pos = r->params, *end = r->params + r->params_len, *n, *v;
    uint32_t nl, vl;
    size_t want = strlen(name);
    while (fcgi_nv_next(&pos, end, &n, &nl, &v, &vl) == 1) {
        if (nl == want && memcmp(n, name, want) == 0) {
            *value = v;
            return (int)vl;
        }
    }
    return -1;
}

static void request_free(struct request *r)
{
    buf_queue_clear(&r->relayed);
    if (r->body_fd >= 0) {
        close(r->body_fd);
        r->body_fd = -1;
    }
    /* Big bodies are not worth keeping around. */
    if (free_count >= REQUEST_KEEP || r->body_cap > 2 * REQUEST_BODY_CHUNK ||
        r->params_cap > (1u << 16)) {
        free(r->params);
        free(r->body);
        free(r);
        return;
    }
    r->next = free_requests;
    free_requests = r;
    free_count++;
}

void request_hold(struct request *r, unsigned holder)
{
    r->holders |= (uint8_t)holder;
}

void request_release(struct request *r, unsigned holder)
{
    r->holders &= (uint8_t)~holder;
    if (holder & REQ_HELD_BY_CONN) r->conn = NULL;
    if (holder & REQ_HELD_BY_POOL) r->worker = NULL;
    if (r->holders == 0) request_free(r);
}
