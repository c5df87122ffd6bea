#include "stat_cache.h"

#include <string.h>
#include <sys/stat.h>

#include "http_params.h"

/* Direct-mapped by a hash of the path: a collision just evicts. Paths longer than an entry's
 * room are not cached. */
#define SLOTS 512
#define PATH_ROOM 200

struct slot {
    uint64_t expires_ms;
    uint16_t len;
    uint8_t kind;
    char path[PATH_ROOM];
};

static struct slot slots[SLOTS];

static uint32_t hash(const char *p, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)p[i]) * 16777619u;
    return h;
}

static int kind_now(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) < 0) return HTTP_FILE_NONE;
    return S_ISREG(sb.st_mode)   ? HTTP_FILE_REGULAR
           : S_ISDIR(sb.st_mode) ? HTTP_FILE_DIR
                                 : HTTP_FILE_OTHER;
}

int stat_cache_kind(const char *path, size_t len, uint64_t now_ms)
{
    if (len > PATH_ROOM) return kind_now(path);
    struct slot *s = &slots[hash(path, len) % SLOTS];
    if (s->len == len && now_ms < s->expires_ms && memcmp(s->path, path, len) == 0)
        return s->kind;
    int kind = kind_now(path);
    s->len = (uint16_t)len;
    s->kind = (uint8_t)kind;
    s->expires_ms = now_ms + STAT_CACHE_TTL_MS;
    memcpy(s->path, path, len);
    return kind;
}
