/* Configuration reload: load the file again, compare it key by key with the live configuration,
 * move in what can change under a running master, and say what cannot.
 *
 * Ownership: the master owns the live struct config for its whole life (main.c frees it at exit).
 * Pools, listeners, HTTP sites and connections hold pointers into it: to a pool_config (never
 * moved: only its fields are replaced) and to some of its strings (pool name, listen addresses,
 * http.* values, error_log, pid). A reload replaces only the fields listed as applied below, whose
 * values nobody keeps: they are read through the pool's pool_config when used, or copied (ints),
 * or handed to a worker at fork; php_value[] is the one list a pool keeps pointers into
 * (pool->ini), and it is rebuilt here before the old strings are freed. The values moved out of
 * live go to the freshly loaded config, which is freed at the end. Every other key keeps its
 * value until `phpmgr restart`, and a change to it is logged as needing one: new keys are in that
 * class until they are listed here. */
#include "config_reload.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../sapi/phpw.h"
#include "log.h"
#include "pool.h"

/* Pool keys whose new value new workers take (read when a worker is set up or started), or the
 * master from now on (read where used). */
static const char *const pool_applied[] = {
    "prefix", /* only how the file's relative paths were resolved */
    "chdir",
    "clear_env",
    "catch_workers_output",
    "decorate_workers_output",
    "security.limit_extensions",
    "pm.max_requests",
    "pm.process_idle_timeout",
    "request_terminate_timeout",
    "request.read_timeout",
    "fastcgi.max_body_size",
    "fastcgi.send_timeout",
    "request.max_temp_file_size",
    "worker.mode",
    "worker.bootstrap",
    "worker.max_requests",
    "worker.memory_limit",
    "worker.leak_check",
    "heartbeat.check_interval",
    "heartbeat.idle_time",
    "queue.max"};
/* pm's live sizing (pm.c reads them every second), applied when pm and pm.max_children stay: the
 * worker slots are allocated for pm.max_children at start (the io_uring operations in flight
 * point into them, so they cannot be reallocated), and pm.start_servers only acts at start. */
static const char *const pool_sizing[] = {"pm.min_spare_servers", "pm.max_spare_servers",
                                          "pm.max_spawn_rate"};
static const char *const global_applied[] = {"log_level", "process_control_timeout"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static int listed(const char *const *list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0) return 1;
    return 0;
}

/* ---- what changed, for the log ---- */

struct changes {
    char text[2048];
    size_t len;
    unsigned n;
    const char *section; /* the section of the last key noted */
};

static void note(struct changes *c, const char *section, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void note(struct changes *c, const char *section, const char *fmt, ...)
{
    char key[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(key, sizeof(key), fmt, ap);
    va_end(ap);
    size_t room = sizeof(c->text) - c->len;
    int w;
    if (c->n == 0 || c->section == NULL || section == NULL || strcmp(c->section, section) != 0)
        w = section ? snprintf(c->text + c->len, room, "%s[%s] %s", c->n ? "; " : "", section, key)
                    : snprintf(c->text + c->len, room, "%s%s", c->n ? "; " : "", key);
    else
        w = snprintf(c->text + c->len, room, ", %s", key);
    if (w > 0) c->len += (size_t)w < room ? (size_t)w : room - 1;
    c->section = section;
    c->n++;
}

/* ---- fields ---- */

#define AT(type, base, f) ((type *)((char *)(base) + (f)->offset))

static int list_equal(char **a, char **b)
{
    if (a == NULL || b == NULL) return a == b;
    for (; *a && *b; a++, b++)
        if (strcmp(*a, *b) != 0) return 0;
    return *a == NULL && *b == NULL;
}

static int field_equal(const struct config_field *f, void *a, void *b)
{
    switch (f->type) {
    case CONFIG_FIELD_STR: {
        const char *x = *AT(char *, a, f), *y = *AT(char *, b, f);
        return x == NULL || y == NULL ? x == y : strcmp(x, y) == 0;
    }
    case CONFIG_FIELD_INT:
        return *AT(int, a, f) == *AT(int, b, f);
    case CONFIG_FIELD_LL:
        return *AT(long long, a, f) == *AT(long long, b, f);
    case CONFIG_FIELD_LIST:
        return list_equal(*AT(char **, a, f), *AT(char **, b, f));
    }
    return 0;
}

/* live takes next's value; next gets live's old one (freed with next). */
static void field_take(const struct config_field *f, void *live, void *next)
{
    switch (f->type) {
    case CONFIG_FIELD_STR: {
        char *t = *AT(char *, live, f);
        *AT(char *, live, f) = *AT(char *, next, f);
        *AT(char *, next, f) = t;
        break;
    }
    case CONFIG_FIELD_LIST: {
        char **t = *AT(char **, live, f);
        *AT(char **, live, f) = *AT(char **, next, f);
        *AT(char **, next, f) = t;
        break;
    }
    case CONFIG_FIELD_INT:
        *AT(int, live, f) = *AT(int, next, f);
        break;
    case CONFIG_FIELD_LL:
        *AT(long long, live, f) = *AT(long long, next, f);
        break;
    }
}

/* ---- the arrays ---- */

/* The value a php_*[] name ends up with: entries apply in array order, the last one wins. */
static const struct php_ini_entry *ini_final(const struct pool_config *p, const char *name)
{
    const struct php_ini_entry *e = NULL;
    for (size_t i = 0; i < p->n_php_ini; i++)
        if (strcmp(p->php_ini[i].name, name) == 0) e = &p->php_ini[i];
    return e;
}

static int ini_entry_equal(const struct php_ini_entry *a, const struct php_ini_entry *b)
{
    if (a == NULL || b == NULL) return a == b;
    return a->admin == b->admin && strcmp(a->value, b->value) == 0;
}

static int ini_same(const struct pool_config *a, const struct pool_config *b)
{
    if (a->n_php_ini != b->n_php_ini) return 0;
    for (size_t i = 0; i < a->n_php_ini; i++)
        if (strcmp(a->php_ini[i].name, b->php_ini[i].name) != 0 ||
            !ini_entry_equal(&a->php_ini[i], &b->php_ini[i]))
            return 0;
    return 1;
}

static void note_ini(struct changes *c, const struct pool_config *live,
                     const struct pool_config *next)
{
    const struct pool_config *sides[2] = {live, next};
    for (int s = 0; s < 2; s++)
        for (size_t i = 0; i < sides[s]->n_php_ini; i++) {
            const struct php_ini_entry *e = &sides[s]->php_ini[i];
            if (ini_final(sides[s], e->name) != e) continue;          /* not its last line */
            if (s == 1 && ini_final(live, e->name) != NULL) continue; /* noted from live */
            const struct php_ini_entry *x = ini_final(live, e->name);
            const struct php_ini_entry *y = ini_final(next, e->name);
            if (!ini_entry_equal(x, y))
                note(c, live->name, "%s[%s]", (y ? y : x)->admin ? "php_admin_value" : "php_value",
                     e->name);
        }
}

static const struct env_entry *env_find(const struct pool_config *p, const char *name)
{
    for (size_t i = 0; i < p->n_env; i++)
        if (strcmp(p->env[i].name, name) == 0) return &p->env[i];
    return NULL;
}

static int env_same(const struct pool_config *a, const struct pool_config *b)
{
    if (a->n_env != b->n_env) return 0;
    for (size_t i = 0; i < a->n_env; i++)
        if (strcmp(a->env[i].name, b->env[i].name) != 0 ||
            strcmp(a->env[i].value, b->env[i].value) != 0)
            return 0;
    return 1;
}

static void note_env(struct changes *c, const struct pool_config *live,
                     const struct pool_config *next)
{
    for (size_t i = 0; i < live->n_env; i++) {
        const struct env_entry *y = env_find(next, live->env[i].name);
        if (y == NULL || strcmp(y->value, live->env[i].value) != 0)
            note(c, live->name, "env[%s]", live->env[i].name);
    }
    for (size_t i = 0; i < next->n_env; i++)
        if (env_find(live, next->env[i].name) == NULL)
            note(c, live->name, "env[%s]", next->env[i].name);
}

static int timers_same(const struct pool_config *a, const struct pool_config *b)
{
    if (a->n_timers != b->n_timers) return 0;
    for (size_t i = 0; i < a->n_timers; i++)
        if (strcmp(a->timers[i].name, b->timers[i].name) != 0 ||
            strcmp(a->timers[i].value, b->timers[i].value) != 0)
            return 0;
    return 1;
}

/* ---- the whole ---- */

static struct pool_config *find_pool(struct config *c, const char *name)
{
    for (size_t i = 0; i < c->n_pools; i++)
        if (strcasecmp(c->pools[i].name, name) == 0) return &c->pools[i];
    return NULL;
}

/* As master.c's check at start: as root without -R, no pool may run as root. */
static int check_root(const struct config *c, int allow_root, char *err, size_t errlen)
{
    if (getuid() != 0 || allow_root) return 0;
    for (size_t i = 0; i < c->n_pools; i++) {
        const struct pool_config *pc = &c->pools[i];
        if (pc->user == NULL || !pc->set_identity || pc->uid == 0 || pc->gid == 0) {
            snprintf(err, errlen, "[pool %s] please specify user and group other than root",
                     pc->name);
            return -1;
        }
    }
    return 0;
}

/* Per live pool, what the reload does to it. */
struct pool_plan {
    struct pool_config *next; /* the same pool in the new file, or NULL (removed) */
    int sizing_ok;            /* pm and pm.max_children unchanged: the sizing keys apply */
    int changed;              /* some applied value differs */
    int ini_changed;
    struct phpw_ini *ini; /* the rebuilt php_value[] list, when ini_changed */
};

static void plan_pool(struct pool_config *live, struct pool_plan *pp, struct changes *applied,
                      struct changes *restart)
{
    struct pool_config *next = pp->next;
    pp->sizing_ok = live->pm == next->pm && live->max_children == next->max_children;
    struct config_field f;
    for (size_t i = 0; config_field_at(1, i, &f) == 0; i++) {
        if (field_equal(&f, live, next)) continue;
        int apply = listed(pool_applied, N_OF(pool_applied), f.name) ||
                    (pp->sizing_ok && listed(pool_sizing, N_OF(pool_sizing), f.name));
        note(apply ? applied : restart, live->name, "%s", f.name);
        if (apply) pp->changed = 1;
    }
    if (!ini_same(live, next)) {
        pp->ini_changed = pp->changed = 1;
        note_ini(applied, live, next);
    }
    if (!env_same(live, next)) {
        pp->changed = 1;
        note_env(applied, live, next);
    }
    if (!timers_same(live, next)) note(restart, live->name, "timer.job[]");
    if (!list_equal(live->access_suppress_paths, next->access_suppress_paths))
        note(restart, live->name, "access.suppress_path[]");
}

static void apply_pool(struct pool_config *live, struct pool_plan *pp)
{
    struct pool_config *next = pp->next;
    struct config_field f;
    for (size_t i = 0; config_field_at(1, i, &f) == 0; i++) {
        if (field_equal(&f, live, next)) continue;
        if (listed(pool_applied, N_OF(pool_applied), f.name) ||
            (pp->sizing_ok && listed(pool_sizing, N_OF(pool_sizing), f.name)))
            field_take(&f, live, next);
    }
    if (pp->ini_changed) {
        struct php_ini_entry *t = live->php_ini;
        size_t n = live->n_php_ini;
        live->php_ini = next->php_ini;
        live->n_php_ini = next->n_php_ini;
        next->php_ini = t;
        next->n_php_ini = n;
    }
    if (!env_same(live, next)) {
        struct env_entry *t = live->env;
        size_t n = live->n_env;
        live->env = next->env;
        live->n_env = next->n_env;
        next->env = t;
        next->n_env = n;
    }
}

/* pool.c's php_value[] list for next's entries: its strings move into live with the array. */
static struct phpw_ini *build_ini(const struct pool_config *next)
{
    struct phpw_ini *ini = calloc(next->n_php_ini + 1, sizeof(*ini));
    if (ini == NULL) return NULL;
    for (size_t i = 0; i < next->n_php_ini; i++) {
        ini[i].name = next->php_ini[i].name;
        ini[i].value = next->php_ini[i].value;
        ini[i].admin = next->php_ini[i].admin;
    }
    return ini;
}

int config_reload(struct config *live, struct pool *const *pools, int allow_root)
{
    char err[1024];
    struct config next;
    if (config_load(live->path, live->prefix, &next, err, sizeof(err)) < 0) {
        log_error("reload failed: %s; keeping the current configuration", err);
        return -1;
    }
    if (check_root(&next, allow_root, err, sizeof(err)) < 0) {
        log_error("reload failed: %s: %s; keeping the current configuration", next.path, err);
        config_free(&next);
        return -1;
    }

    struct changes applied = {.len = 0}, restart = {.len = 0};
    int global_changed = 0;
    struct config_field f;
    for (size_t i = 0; config_field_at(0, i, &f) == 0; i++) {
        if (field_equal(&f, &live->global, &next.global)) continue;
        /* pid from -g when the file names none: as at start, the file's silence keeps it */
        if (strcmp(f.name, "pid") == 0 && config_given(&next, NULL, "pid") == NULL) continue;
        int apply = listed(global_applied, N_OF(global_applied), f.name);
        note(apply ? &applied : &restart, "global", "%s", f.name);
        global_changed |= apply;
    }

    struct pool_plan *plan = calloc(live->n_pools ? live->n_pools : 1, sizeof(*plan));
    if (plan == NULL) {
        log_error("reload failed: out of memory; keeping the current configuration");
        config_free(&next);
        return -1;
    }
    for (size_t i = 0; i < live->n_pools; i++) {
        plan[i].next = find_pool(&next, live->pools[i].name);
        if (plan[i].next == NULL) {
            note(&restart, NULL, "pool [%s] removed", live->pools[i].name);
            continue;
        }
        plan_pool(&live->pools[i], &plan[i], &applied, &restart);
    }
    for (size_t i = 0; i < next.n_pools; i++)
        if (find_pool(live, next.pools[i].name) == NULL)
            note(&restart, NULL, "pool [%s] added", next.pools[i].name);

    /* What can fail comes first: nothing is changed unless all of it can be. */
    for (size_t i = 0; i < live->n_pools; i++) {
        if (!plan[i].ini_changed) continue;
        plan[i].ini = build_ini(plan[i].next);
        if (plan[i].ini == NULL) {
            log_error("reload failed: out of memory; keeping the current configuration");
            for (size_t j = 0; j < i; j++)
                free(plan[j].ini);
            free(plan);
            config_free(&next);
            return -1;
        }
    }

    for (size_t i = 0; config_field_at(0, i, &f) == 0; i++)
        if (!field_equal(&f, &live->global, &next.global) &&
            listed(global_applied, N_OF(global_applied), f.name))
            field_take(&f, &live->global, &next.global);
    if (global_changed) log_set_level(live->global.log_level);
    for (size_t i = 0; i < live->n_pools; i++)
        if (plan[i].changed) apply_pool(&live->pools[i], &plan[i]);
    /* Seeds hold the old configuration whatever changed (a global log_level too): let them go
     * in every pool once anything was applied. */
    for (size_t i = 0; i < live->n_pools; i++)
        if (plan[i].changed || global_changed) pool_reconfigured(pools[i], plan[i].ini);

    if (applied.n)
        log_notice("configuration reloaded from %s: applied to new workers: %s", live->path,
                   applied.text);
    else
        log_notice("configuration reloaded from %s: %s", live->path,
                   restart.n ? "nothing to apply" : "no change");
    if (restart.n)
        log_warning("configuration changes that need `phpmgr restart` (not applied, the current "
                    "values stay): %s",
                    restart.text);
    free(plan);
    config_free(&next);
    return 0;
}
