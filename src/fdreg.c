#include "fdreg.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static unsigned char *owned;
static size_t owned_cap;

int fdreg_add(int fd)
{
    if (fd < 0) return 0;
    if ((size_t)fd >= owned_cap) {
        size_t n = owned_cap ? owned_cap : 1024;
        while (n <= (size_t)fd) n *= 2;
        unsigned char *p = realloc(owned, n);
        if (p == NULL) {
            log_error("out of memory recording fd %d", fd);
            return -1;
        }
        memset(p + owned_cap, 0, n - owned_cap);
        owned = p;
        owned_cap = n;
    }
    owned[fd] = 1;
    return 0;
}

void fdreg_del(int fd)
{
    if (fd >= 0 && (size_t)fd < owned_cap) owned[fd] = 0;
}

void fdreg_close_all_in_child(int keep)
{
    for (size_t fd = 0; fd < owned_cap; fd++)
        if (owned[fd] && (int)fd != keep) close((int)fd);
}
