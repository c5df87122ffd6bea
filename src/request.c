#include "request.h"

#include <stdlib.h>
#include <string.h>

#include "fcgi.h"
#include "log.h"

/* Requests are recycled with their buffers, so steady traffic allocates nothing. */
#define REQUEST_KEEP 256
static struct request *free_requests;
static unsigned free_count;

struct request *request_new(uint16_t client_id, uint8_t keep_conn)
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

int request_add_stdin(struct request *r, const uint8_t *data, size_t len)
{
    if (grow(&r->body, &r->body_cap, r->body_len + FCGI_HEADER_LEN + len) < 0) return -1;
    fcgi_header_encode(r->body + r->body_len, FCGI_STDIN, request_worker_id(r), (uint16_t)len, 0);
    memcpy(r->body + r->body_len + FCGI_HEADER_LEN, data, len);
    r->body_len += FCGI_HEADER_LEN + len;
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
    /* Big bodies are not worth keeping around. */
    if (free_count >= REQUEST_KEEP || r->body_cap > (1u << 20) || r->params_cap > (1u << 16)) {
        free(r->params);
        free(r->body);
        free(r);
        return;
    }
    r->next = free_requests;
    free_requests = r;
    free_count++;
}

void request_release_conn(struct request *r)
{
    r->conn = NULL;
    if (!r->in_pool) request_free(r);
}

void request_release_pool(struct request *r)
{
    r->in_pool = 0;
    r->worker = NULL;
    if (r->conn == NULL) request_free(r);
}
