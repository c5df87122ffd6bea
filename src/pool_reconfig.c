/* A pool's part of a configuration reload (config_reload.c): what the pool built from its
 * pool_config at creation and must build again when the values behind it change. */
#include <stdlib.h>
#include <unistd.h>

#include "pool_int.h"

void pool_reconfigured(struct pool *p, struct phpw_ini *ini)
{
    if (ini != NULL) {
        free(p->ini);
        p->ini = ini;
    }
    /* A seed (worker_proc.c) was set up, environment, directory and all, with the configuration
     * of its time, and holds a copy of it: let it go; the master forks the next worker instead,
     * and that one's seeds are of the new configuration. Its channel's EOF ends it. */
    for (int i = 0; i < p->n_workers; i++) {
        struct worker *w = &p->workers[i];
        if (w->seed_fd < 0) continue;
        close(w->seed_fd);
        w->seed_fd = -1;
    }
}
