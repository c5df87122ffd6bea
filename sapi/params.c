/* The FastCGI params of the current request, indexed once so that the dozens of lookups a request
 * makes (php-fpm's path logic, getenv(), cookies) are hash probes instead of libfcgi's linear
 * FCGX_GetParam(). Nothing here allocates in the steady state: the entry array and the arena for
 * rewritten values are kept across requests. */
#include "phpw_int.h"

#include <stdlib.h>
#include <string.h>

struct phpw_arena_block {
    struct phpw_arena_block *next;
    size_t used, cap;
    char data[];
};

#define ARENA_BLOCK 4096

static uint32_t hash_name(const char *s, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a: names are short, this is cheap and spreads well */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static char *arena_dup(struct phpw_params *p, const char *s, size_t len)
{
    struct phpw_arena_block *b = p->arena;
    if (b == NULL || b->cap - b->used < len + 1) {
        /* A new block in front; older blocks stay put, so earlier copies remain valid. */
        size_t cap = len + 1 > ARENA_BLOCK ? len + 1 : ARENA_BLOCK;
        b = malloc(sizeof(*b) + cap);
        if (b == NULL) return NULL;
        b->next = p->arena;
        b->used = 0;
        b->cap = cap;
        p->arena = b;
    }
    char *d = b->data + b->used;
    memcpy(d, s, len);
    d[len] = '\0';
    b->used += len + 1;
    return d;
}

void phpw_params_reset(struct phpw_params *p)
{
    p->n = 0;
    memset(p->bucket, 0xff, sizeof(p->bucket)); /* all -1 */
    /* Keep one block for the next request; extra ones were a one-off. */
    struct phpw_arena_block *b = p->arena;
    if (b != NULL) {
        struct phpw_arena_block *rest = b->next;
        while (rest != NULL) {
            struct phpw_arena_block *next = rest->next;
            free(rest);
            rest = next;
        }
        b->next = NULL;
        b->used = 0;
    }
}

void phpw_params_free(struct phpw_params *p)
{
    phpw_params_reset(p);
    free(p->arena);
    p->arena = NULL;
    free(p->v);
    p->v = NULL;
    p->cap = 0;
}

static struct phpw_param *find(const struct phpw_params *p, const char *name, size_t len,
                               uint32_t h)
{
    for (int32_t i = p->bucket[h & (PHPW_PARAM_BUCKETS - 1)]; i >= 0; i = p->v[i].next) {
        struct phpw_param *e = &p->v[i];
        if (e->hash == h && e->name_len == len && e->value != NULL &&
            memcmp(e->name, name, len) == 0)
            return e;
    }
    return NULL;
}

static struct phpw_param *append(struct phpw_params *p, char *name, size_t name_len, uint32_t h)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct phpw_param *v = realloc(p->v, cap * sizeof(*v));
        if (v == NULL) return NULL;
        p->v = v;
        p->cap = cap;
    }
    struct phpw_param *e = &p->v[p->n];
    e->name = name;
    e->name_len = (uint32_t)name_len;
    e->hash = h;
    int32_t *head = &p->bucket[h & (PHPW_PARAM_BUCKETS - 1)];
    e->next = *head;
    *head = (int32_t)p->n;
    p->n++;
    return e;
}

int phpw_params_load(struct phpw_params *p, char **envp)
{
    phpw_params_reset(p);
    if (envp == NULL) return 0;
    for (char **ep = envp; *ep != NULL; ep++) {
        char *name = *ep;
        char *eq = strchr(name, '=');
        if (eq == NULL) continue; /* libfcgi always writes NAME=VALUE */
        *eq = '\0';
        size_t name_len = (size_t)(eq - name);
        char *value = eq + 1;
        uint32_t h = hash_name(name, name_len);
        struct phpw_param *e = find(p, name, name_len, h);
        if (e == NULL) {
            /* A repeated name keeps its first place and takes the last value, as in php-fpm. */
            e = append(p, name, name_len, h);
            if (e == NULL) return -1;
        }
        e->value = value;
        e->value_len = (uint32_t)strlen(value);
    }
    return 0;
}

char *phpw_param_get(const struct phpw_params *p, const char *name, size_t name_len)
{
    struct phpw_param *e = find(p, name, name_len, hash_name(name, name_len));
    return e ? e->value : NULL;
}

char *phpw_param_put(struct phpw_params *p, const char *name, const char *value)
{
    size_t name_len = strlen(name);
    uint32_t h = hash_name(name, name_len);
    struct phpw_param *e = find(p, name, name_len, h);
    if (value == NULL) {
        if (e != NULL) {
            e->value = NULL; /* deleted: skipped by lookups and by $_SERVER */
            e->value_len = 0;
        }
        return NULL;
    }
    size_t len = strlen(value);
    char *copy = arena_dup(p, value, len);
    if (copy == NULL) return NULL;
    if (e == NULL) {
        /* A new name comes first in php-fpm's iteration order, like any newer entry. */
        e = append(p, (char *)name, name_len, h);
        if (e == NULL) return NULL;
    }
    e->value = copy;
    e->value_len = (uint32_t)len;
    return copy;
}
