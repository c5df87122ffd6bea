/* php-fpm's fpm_conf_dump(), over phpmgr's config: the same lines in the same order with php-fpm's
 * spellings. Where php-fpm prints a value as the file gave it (listen.mode, allowed_clients,
 * security.limit_extensions, env[] values, pm.status_listen) the value comes from config_given();
 * where it prints what it parsed, from the parsed field, converted back to php-fpm's units and
 * defaults (seconds, 0 for an unset rlimit, 64 for an unset priority, ...). */
#include "config_dump.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "log.h"

#define LINE(...) log_notice(__VA_ARGS__)

static const char *yes_no(int b)
{
    return b ? "yes" : "no";
}

/* php-fpm's STR2STR: a string key prints as stored, "undefined" when unset. phpmgr keeps an empty
 * value as unset where php-fpm keeps "": given tells them apart. */
static const char *str(const char *field, const char *given)
{
    if (field) return field;
    return given ? given : "undefined";
}

static const char *given_or(const char *given, const char *dflt)
{
    return given ? given : dflt;
}

/* php-fpm stores syslog.facility as LOG_* and prints the number. */
static int facility_number(const char *name)
{
    static const struct {
        const char *name;
        int value;
    } f[] = {{"auth", LOG_AUTH},     {"authpriv", LOG_AUTHPRIV}, {"cron", LOG_CRON},
             {"daemon", LOG_DAEMON}, {"ftp", LOG_FTP},           {"kern", LOG_KERN},
             {"lpr", LOG_LPR},       {"mail", LOG_MAIL},         {"news", LOG_NEWS},
             {"syslog", LOG_SYSLOG}, {"user", LOG_USER},         {"uucp", LOG_UUCP},
             {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1},     {"local2", LOG_LOCAL2},
             {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4},     {"local5", LOG_LOCAL5},
             {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7}};
    for (size_t i = 0; name && i < sizeof(f) / sizeof(f[0]); i++)
        if (strcasecmp(name, f[i].name) == 0) return f[i].value;
    return LOG_DAEMON;
}

/* php-fpm's zlog_get_level_name() of a level it only has when log_level was set. */
static const char *level_name(const struct config *cfg)
{
    static const char *const names[] = {"DEBUG", "NOTICE", "WARNING", "ERROR", "ALERT"};
    if (!config_given(cfg, NULL, "log_level")) return "unknown value";
    unsigned l = (unsigned)cfg->global.log_level;
    return l < sizeof(names) / sizeof(names[0]) ? names[l] : "unknown value";
}

/* php-fpm's fpm_systemd_conf(): WATCHDOG_USEC (half of it) wins over systemd_interval when over a
 * second; unset means 10 s. */
static int systemd_interval_s(const struct global_config *g)
{
    const char *w = getenv("WATCHDOG_USEC");
    long interval_ms = w ? atol(w) / 2000L : 0;
    if (interval_ms > 1000) return (int)(interval_ms / 1000);
    if (g->systemd_interval_ms < 0) return 10;
    return g->systemd_interval_ms / 1000;
}

/* php-fpm keeps rlimits as given, 0 when unset and -1 for unlimited; phpmgr: -1 and -2. */
static int rlimit(int v)
{
    return v == -1 ? 0 : v == -2 ? -1 : v;
}

static void priority(int v)
{
    if (v == 64)
        LINE("\tprocess.priority = undefined");
    else
        LINE("\tprocess.priority = %d", v);
}

static void dump_global(const struct config *cfg, int force_daemon)
{
    const struct global_config *g = &cfg->global;
    LINE("[global]");
    LINE("\tpid = %s", str(g->pid_file, config_given(cfg, NULL, "pid")));
    LINE("\terror_log = %s", str(g->error_log, config_given(cfg, NULL, "error_log")));
    LINE("\tsyslog.ident = %s", str(g->syslog_ident, NULL));
    LINE("\tsyslog.facility = %d", facility_number(g->syslog_facility));
    LINE("\tlog_buffering = %s", yes_no(g->log_buffering));
    LINE("\tlog_level = %s", level_name(cfg));
    LINE("\tlog_limit = %d", g->log_limit);
    LINE("\temergency_restart_interval = %ds", g->emergency_restart_interval_ms / 1000);
    LINE("\temergency_restart_threshold = %d", g->emergency_restart_threshold);
    LINE("\tprocess_control_timeout = %ds", g->process_control_timeout_ms / 1000);
    LINE("\tprocess.max = %d", g->process_max);
    priority(g->process_priority);
    LINE("\tdaemonize = %s", yes_no(force_daemon >= 0 ? force_daemon : g->daemonize));
    LINE("\trlimit_files = %d", rlimit(g->rlimit_files));
    LINE("\trlimit_core = %d", rlimit(g->rlimit_core));
    char mech[16] = "epoll";
    if (g->events_mechanism) {
        size_t i = 0;
        for (; g->events_mechanism[i] && i < sizeof(mech) - 1; i++)
            mech[i] = (char)(g->events_mechanism[i] | 0x20); /* epoll, poll or select */
        mech[i] = '\0';
    }
    LINE("\tevents.mechanism = %s", mech);
    LINE("\tsystemd_interval = %ds", systemd_interval_s(g));
    if (g->php_ini) LINE("\tphp_ini = %s", g->php_ini);
    LINE(" ");
}

/* ---- phpmgr's own pool keys: printed after php-fpm's, only when a file set them ---- */

enum kind { K_STR, K_LIST, K_GIVEN, K_BOOL, K_INT, K_TIME, K_SIZE, K_MODE };

struct extra {
    const char *name;
    enum kind kind;
    size_t off;
};

#define PO(f) offsetof(struct pool_config, f)
static const struct extra extras[] = {
    {"http.listen", K_LIST, PO(http_listen)},
    {"http.document_root", K_STR, PO(http_document_root)},
    {"http.index", K_STR, PO(http_index)},
    {"http.server_name", K_STR, PO(http_server_name)},
    {"http.static", K_BOOL, PO(http_static)},
    {"http.max_body_size", K_SIZE, PO(http_max_body_size)},
    {"http.max_header_size", K_SIZE, PO(http_max_header_size)},
    {"http.keepalive_timeout", K_TIME, PO(http_keepalive_timeout_ms)},
    {"http.header_timeout", K_TIME, PO(http_header_timeout_ms)},
    {"http.body_timeout", K_TIME, PO(http_body_timeout_ms)},
    {"http.send_timeout", K_TIME, PO(http_send_timeout_ms)},
    {"http.trusted_proxies", K_GIVEN, 0},
    {"fastcgi.max_body_size", K_SIZE, PO(fcgi_max_body_size)},
    {"fastcgi.send_timeout", K_TIME, PO(fcgi_send_timeout_ms)},
    {"request.read_timeout", K_TIME, PO(request_read_timeout_ms)},
    {"request.max_temp_file_size", K_SIZE, PO(response_temp_max)},
    {"request.body_buffer_size", K_SIZE, PO(body_buffer_size)},
    {"request.body_temp_dir", K_STR, PO(body_temp_dir)},
    {"worker.mode", K_MODE, PO(worker_mode)},
    {"worker.bootstrap", K_STR, PO(worker_bootstrap)},
    {"worker.max_requests", K_INT, PO(worker_max_requests)},
    {"worker.memory_limit", K_SIZE, PO(worker_memory_limit)},
    {"worker.leak_check", K_BOOL, PO(worker_leak_check)},
    {"task.workers", K_INT, PO(task_workers)},
    {"task.handler", K_STR, PO(task_handler)},
    {"heartbeat.check_interval", K_TIME, PO(heartbeat_check_interval_ms)},
    {"heartbeat.idle_time", K_TIME, PO(heartbeat_idle_time_ms)},
    {"queue.max", K_INT, PO(queue_max)},
};

static void size_value(char *buf, size_t n, long long v)
{
    if (v > 0 && v % (1LL << 30) == 0)
        snprintf(buf, n, "%lldG", v >> 30);
    else if (v > 0 && v % (1LL << 20) == 0)
        snprintf(buf, n, "%lldM", v >> 20);
    else if (v > 0 && v % (1LL << 10) == 0)
        snprintf(buf, n, "%lldK", v >> 10);
    else
        snprintf(buf, n, "%lld", v);
}

static void dump_extra(const struct config *cfg, const struct pool_config *p, const struct extra *e)
{
    const char *given = config_given(cfg, p, e->name);
    if (!given) return;
    const void *f = (const char *)p + e->off;
    char buf[64];
    const char *v = buf;
    switch (e->kind) {
    case K_STR:
        v = str(*(char *const *)f, given);
        break;
    case K_LIST:
        for (char *const *l = *(char **const *)f; l && *l; l++)
            LINE("\t%s = %s", e->name, *l);
        return;
    case K_GIVEN:
        v = given;
        break;
    case K_BOOL:
        v = yes_no(*(const int *)f);
        break;
    case K_INT:
        snprintf(buf, sizeof(buf), "%d", *(const int *)f);
        break;
    case K_TIME: {
        int ms = *(const int *)f;
        if (ms % 1000 == 0)
            snprintf(buf, sizeof(buf), "%ds", ms / 1000);
        else
            snprintf(buf, sizeof(buf), "%dms", ms);
        break;
    }
    case K_SIZE:
        size_value(buf, sizeof(buf), *(const long long *)f);
        break;
    case K_MODE:
        v = *(const enum worker_mode *)f == WORKER_RESIDENT ? "resident" : "classic";
        break;
    }
    LINE("\t%s = %s", e->name, v);
}

static const char *pm_name(enum pm_mode pm)
{
    return pm == PM_STATIC ? "static" : pm == PM_DYNAMIC ? "dynamic" : "ondemand";
}

static void dump_pool(const struct config *cfg, const struct pool_config *p)
{
#define GIVEN(key) config_given(cfg, p, key)
    LINE("[%s]", p->name);
    LINE("\tprefix = %s", str(p->prefix, GIVEN("prefix")));
    LINE("\tuser = %s", str(p->user, GIVEN("user")));
    LINE("\tgroup = %s", str(p->group, GIVEN("group")));
    LINE("\tlisten = %s", str(p->listen, GIVEN("listen")));
    LINE("\tlisten.backlog = %d", p->listen_backlog);
    LINE("\tlisten.acl_users = %s", str(p->listen_acl_users, GIVEN("listen.acl_users")));
    LINE("\tlisten.acl_groups = %s", str(p->listen_acl_groups, GIVEN("listen.acl_groups")));
    LINE("\tlisten.owner = %s", str(p->listen_owner, GIVEN("listen.owner")));
    LINE("\tlisten.group = %s", str(p->listen_group, GIVEN("listen.group")));
    LINE("\tlisten.mode = %s", given_or(GIVEN("listen.mode"), "undefined"));
    LINE("\tlisten.allowed_clients = %s", given_or(GIVEN("listen.allowed_clients"), "undefined"));
    priority(p->process_priority);
    LINE("\tprocess.dumpable = %s", yes_no(p->process_dumpable));
    LINE("\tpm = %s", pm_name(p->pm));
    LINE("\tpm.max_children = %d", p->max_children);
    LINE("\tpm.start_servers = %d", p->start_servers);
    LINE("\tpm.min_spare_servers = %d", p->min_spare_servers);
    LINE("\tpm.max_spare_servers = %d", p->max_spare_servers);
    LINE("\tpm.max_spawn_rate = %d", p->max_spawn_rate);
    LINE("\tpm.process_idle_timeout = %d", p->process_idle_timeout_ms / 1000);
    LINE("\tpm.max_requests = %d", p->max_requests);
    /* php-fpm's status listener pool sets the status path to "/" when none is given */
    const char *status_listen = GIVEN("pm.status_listen");
    const char *status_path = str(p->status_path, GIVEN("pm.status_path"));
    if (status_listen && !p->status_path && !GIVEN("pm.status_path")) status_path = "/";
    LINE("\tpm.status_path = %s", status_path);
    LINE("\tpm.status_listen = %s", given_or(status_listen, "undefined"));
    LINE("\tping.path = %s", str(p->ping_path, GIVEN("ping.path")));
    /* php-fpm drops ping.response without a ping.path, and defaults it to "pong" with one */
    LINE("\tping.response = %s",
         p->ping_path ? given_or(GIVEN("ping.response"), "pong") : "undefined");
    LINE("\taccess.log = %s", str(p->access_log, GIVEN("access.log")));
    /* php-fpm's default access.format comes with an access.log only */
    LINE("\taccess.format = %s", GIVEN("access.format") ? GIVEN("access.format")
                                 : p->access_log        ? p->access_format
                                                        : "undefined");
    /* php-fpm prepends each line to its list: last line first */
    size_t n = 0;
    while (p->access_suppress_paths && p->access_suppress_paths[n])
        n++;
    while (n > 0)
        LINE("\taccess.suppress_path[] = %s", p->access_suppress_paths[--n]);
    LINE("\tslowlog = %s", str(p->slowlog, GIVEN("slowlog")));
    LINE("\trequest_slowlog_timeout = %ds", p->request_slowlog_timeout_ms / 1000);
    LINE("\trequest_slowlog_trace_depth = %d", p->request_slowlog_trace_depth);
    LINE("\trequest_terminate_timeout = %ds", p->request_terminate_timeout_ms / 1000);
    LINE("\trequest_terminate_timeout_track_finished = %s",
         yes_no(p->request_terminate_timeout_track_finished));
    LINE("\trlimit_files = %d", rlimit(p->rlimit_files));
    LINE("\trlimit_core = %d", rlimit(p->rlimit_core));
    LINE("\tchroot = %s", str(p->chroot, GIVEN("chroot")));
    LINE("\tchdir = %s", str(p->chdir, GIVEN("chdir")));
    LINE("\tcatch_workers_output = %s", yes_no(p->catch_workers_output));
    LINE("\tdecorate_workers_output = %s", yes_no(p->decorate_workers_output));
    LINE("\tclear_env = %s", yes_no(p->clear_env));
    LINE("\tsecurity.limit_extensions = %s",
         given_or(GIVEN("security.limit_extensions"), ".php .phar"));
    /* config keeps env[] and php_*[] in php-fpm's list order already */
    for (size_t i = 0; i < p->n_env; i++)
        LINE("\tenv[%s] = %s", p->env[i].name, p->env[i].given);
    for (int admin = 0; admin < 2; admin++)
        for (size_t i = 0; i < p->n_php_ini; i++)
            if (p->php_ini[i].admin == admin)
                LINE("\tphp_%svalue[%s] = %s", admin ? "admin_" : "", p->php_ini[i].name,
                     p->php_ini[i].value);
    for (size_t i = 0; i < sizeof(extras) / sizeof(extras[0]); i++)
        dump_extra(cfg, p, &extras[i]);
    for (size_t i = 0; i < p->n_timers; i++)
        LINE("\ttimer.job[%s] = %s", p->timers[i].name, p->timers[i].value);
    LINE(" ");
#undef GIVEN
}

void config_dump(const struct config *cfg, int force_daemon)
{
    dump_global(cfg, force_daemon);
    for (size_t i = 0; i < cfg->n_pools; i++)
        dump_pool(cfg, &cfg->pools[i]);
}
