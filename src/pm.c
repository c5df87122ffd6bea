/* The process manager's policy: how many workers a pool runs, decided as php-fpm's pm styles do.
 * static keeps pm.max_children. dynamic starts pm.start_servers and, once a second, retires the
 * oldest idle worker while more than pm.max_spare_servers are idle, or spawns up to the spawn
 * rate (1, doubling each second it is still short, up to pm.max_spawn_rate) while fewer than
 * pm.min_spare_servers are. ondemand starts none, spawns one when a request finds no idle
 * worker, and retires the oldest idle worker once a second when it has been idle longer than
 * pm.process_idle_timeout. Spawning here only plans a slot's start; pool_spawn_due() forks it
 * between completion batches. */
#include <stdint.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "pool_int.h"

#define PM_MAINTENANCE_MS 1000 /* php-fpm's FPM_IDLE_SERVER_MAINTENANCE_HEARTBEAT */

int pm_initial_workers(const struct pool *p)
{
    switch (p->cfg->pm) {
    case PM_DYNAMIC:
        return p->cfg->start_servers;
    case PM_ONDEMAND:
        return 0;
    default:
        return p->n_workers;
    }
}

/* Slots with a process, or with one about to start. */
static int running(const struct pool *p)
{
    int n = 0;
    for (int i = 0; i < p->n_workers; i++)
        if (p->workers[i].state != W_EMPTY || p->workers[i].respawn_at_ms != 0) n++;
    return n;
}

/* Plan up to n starts in unused slots; the number planned. */
static int plan_spawns(struct pool *p, int n, uint64_t now)
{
    int planned = 0;
    for (int i = 0; i < p->n_workers && planned < n; i++) {
        struct worker *w = &p->workers[i];
        if (w->state != W_EMPTY || w->respawn_at_ms != 0) continue;
        w->respawn_at_ms = now;
        planned++;
    }
    if (planned > 0) p->respawn_due = 1;
    return planned;
}

static void warn_max_children(struct pool *p, const char *key)
{
    if (p->warned_max_children) return;
    p->warned_max_children = 1;
    p->max_children_reached++;
    log_warning("[pool %s] server reached %s setting (%d), consider raising it", p->cfg->name, key,
                p->cfg->max_children);
}

/* The idle worker started first (php-fpm's choice), or NULL. */
static struct worker *oldest_idle(struct pool *p)
{
    struct worker *oldest = NULL;
    for (struct worker *w = p->idle; w != NULL; w = w->next_idle)
        if (oldest == NULL || w->spawned_ms < oldest->spawned_ms) oldest = w;
    return oldest;
}

static void retire_idle(struct pool *p, struct worker *w)
{
    idle_remove(p, w);
    w->idle_kill = 1;
    worker_retire(w);
}

static int idle_count(const struct pool *p)
{
    int n = 0;
    for (const struct worker *w = p->idle; w != NULL; w = w->next_idle)
        n++;
    return n;
}

void pm_maintain(struct pool *p, uint64_t now)
{
    const struct pool_config *cfg = p->cfg;
    if (cfg->pm == PM_STATIC || p->stopping) return;
    if (now - p->maintained_ms < PM_MAINTENANCE_MS) return;
    p->maintained_ms = now;
    int idle = idle_count(p);
    struct worker *oldest = oldest_idle(p);

    if (cfg->pm == PM_ONDEMAND) {
        if (oldest != NULL && now - oldest->idle_since_ms > (uint64_t)cfg->process_idle_timeout_ms)
            retire_idle(p, oldest);
        return;
    }

    if (idle > cfg->max_spare_servers && oldest != NULL) {
        retire_idle(p, oldest);
        p->idle_spawn_rate = 1;
        return;
    }
    if (idle >= cfg->min_spare_servers) {
        p->idle_spawn_rate = 1;
        return;
    }
    int total = running(p);
    int to_fork = cfg->min_spare_servers - idle;
    if (to_fork > p->idle_spawn_rate) to_fork = p->idle_spawn_rate;
    if (to_fork > cfg->max_children - total) to_fork = cfg->max_children - total;
    if (to_fork <= 0) {
        warn_max_children(p, "pm.max_children");
        p->idle_spawn_rate = 1;
        return;
    }
    if (p->idle_spawn_rate >= 8)
        log_warning("[pool %s] seems busy (you may need to increase pm.start_servers, or "
                    "pm.min/max_spare_servers), spawning %d children, there are %d idle, and %d "
                    "total children",
                    cfg->name, p->idle_spawn_rate, idle, total);
    p->warned_max_children = 0;
    plan_spawns(p, to_fork, now);
    log_debug("[pool %s] %d child(ren) have been created dynamically", cfg->name, to_fork);
    if (p->idle_spawn_rate < cfg->max_spawn_rate) p->idle_spawn_rate *= 2;
}

void pm_request_queued(struct pool *p)
{
    if (p->cfg->pm != PM_ONDEMAND || p->stopping) return;
    /* One start per waiting request, less those already starting. */
    int starting = 0;
    for (int i = 0; i < p->n_workers; i++) {
        const struct worker *w = &p->workers[i];
        if (w->state == W_EMPTY && w->respawn_at_ms != 0) starting++;
    }
    if ((unsigned)starting >= p->queue_len) return;
    if (running(p) >= p->cfg->max_children) {
        warn_max_children(p, "max_children");
        return;
    }
    p->warned_max_children = 0;
    if (plan_spawns(p, 1, clock_ms()) > 0)
        log_debug("[pool %s] got accept without idle child available .... I forked", p->cfg->name);
}
