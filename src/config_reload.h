/* The configuration half of a reload (SIGUSR1): re-read the file the master started from and
 * apply what new workers and the running master can take without new listeners. */
#ifndef PHPMGR_CONFIG_RELOAD_H
#define PHPMGR_CONFIG_RELOAD_H

#include "config.h"

struct pool;

/* Load live->path again (with live->prefix) and validate it as `phpmgr start` would (as root
 * without allow_root, no pool may run as root). When it fails, nothing changes: logged as
 * "reload failed: FILE:LINE: KEY: why; keeping the current configuration", returns -1, and the
 * caller replaces no worker. Otherwise the values of the keys that can change under a running
 * master are moved into live, in place (the master owns live; pools[i] reads &live->pools[i],
 * whose address does not change, and only values nobody keeps a pointer to are replaced), the
 * pools are told (pool_reconfigured), what changed is logged, and so is every change that needs
 * `phpmgr restart` (listeners, pools added or removed, pm.max_children, ...), which is kept as
 * it was. Returns 0: the caller goes on to replace the workers. pools[i] belongs to
 * live->pools[i]. */
int config_reload(struct config *live, struct pool *const *pools, int allow_root);

#endif
