/* Unit tests for -tt's dump (src/config_dump.c) and config_given(): php-fpm's spellings of what
 * phpmgr stores differently, and phpmgr's own keys after php-fpm's, only when set. The dump of
 * whole files is compared with php-fpm8.2 -tt in tests/integration/test_cli.py. */
#include "config.h"
#include "config_dump.h"
#include "log.h"

#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];
static char dump[65536];

/* Load text as dir/main.conf and dump it (log lines with no timestamp) into dump. */
static int dump_of(const char *text, int force_daemon)
{
    char path[128], out[128], err[1024];
    snprintf(path, sizeof(path), "%s/main.conf", dir);
    snprintf(out, sizeof(out), "%s/dump.log", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    fclose(f);
    struct config c;
    if (config_load(path, NULL, &c, err, sizeof(err)) < 0) {
        printf("    %s\n", err);
        return -1;
    }
    unlink(out);
    log_set_bare(1);
    if (log_open(out) < 0) return -1;
    config_dump(&c, force_daemon);
    log_open(NULL);
    config_free(&c);
    f = fopen(out, "r");
    if (!f) return -1;
    size_t n = fread(dump, 1, sizeof(dump) - 1, f);
    dump[n] = '\0';
    fclose(f);
    return 0;
}

static int has(const char *line)
{
    char want[512];
    snprintf(want, sizeof(want), "NOTICE: %s\n", line);
    if (strstr(dump, want)) return 1;
    printf("    missing: %s\n", want);
    return 0;
}

#define POOL "[www]\nlisten = 127.0.0.1:9000\npm = static\npm.max_children = 2\n"

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/phpmgr-test-dump.XXXXXX");
    if (!mkdtemp(dir)) return 2;

    int rc = dump_of(POOL, -1);
    CHECK(rc == 0 && has("[global]") && has("\tlog_level = unknown value") &&
              has("\tsystemd_interval = 10s") && has("\tlisten.backlog = -1") &&
              has("\tlisten.mode = undefined") && has("\tping.response = undefined") &&
              has("\taccess.format = undefined") && has("\trlimit_core = 0") &&
              has("\tsecurity.limit_extensions = .php .phar") && has(" ") &&
              !strstr(dump, "http.") && !strstr(dump, "queue.max"),
          "defaults: php-fpm's spellings, no phpmgr key");

    rc = dump_of(
        "[global]\nlog_level = warn\nrlimit_core = unlimited\nsyslog.facility = LOCAL7\n"
        "emergency_restart_interval = 2m\nprocess.priority = 3\nevents.mechanism = POLL\n" POOL
        "listen.mode = 660\nlisten.allowed_clients = 127.0.0.1 ,::1\n"
        "security.limit_extensions = .php  .php8\nping.path = /ping\n"
        "access.log = /tmp/a.log\npm.process_idle_timeout = 2m\n"
        "request_terminate_timeout = 1500ms\nenv[A] = $PATH\nenv[B] = $pool\n"
        "access.suppress_path[] = /a\naccess.suppress_path[] = /b\n"
        "php_admin_flag[log_errors] = yes\nphp_value[x] = 1\nphp_flag[y] = off\n"
        "php_value[x] = 2\n",
        1);
    CHECK(rc == 0 && has("\tlog_level = WARNING") && has("\trlimit_core = -1") &&
              has("\tsyslog.facility = 184") && has("\temergency_restart_interval = 120s") &&
              has("\tprocess.priority = 3") && has("\tevents.mechanism = poll") &&
              has("\tdaemonize = yes"),
          "global: levels, rlimit unlimited, facility number, seconds, -D");
    CHECK(rc == 0 && has("\tlisten.mode = 660") &&
              has("\tlisten.allowed_clients = 127.0.0.1 ,::1") &&
              has("\tsecurity.limit_extensions = .php  .php8") && has("\tping.response = pong") &&
              has("\taccess.format = %R - %u %t \"%m %r\" %s") &&
              has("\tpm.process_idle_timeout = 120") && has("\trequest_terminate_timeout = 1s"),
          "pool: values as given, php-fpm's defaults with ping.path and access.log");
    const char *b = strstr(dump, "[] = /b"), *a = strstr(dump, "[] = /a");
    const char *eb = strstr(dump, "env[B] = www"), *ea = strstr(dump, "env[A] = $PATH");
    const char *x2 = strstr(dump, "php_value[x] = 2"), *y = strstr(dump, "php_value[y] = 0"),
               *x1 = strstr(dump, "php_value[x] = 1"),
               *adm = strstr(dump, "php_admin_value[log_errors] = 1");
    CHECK(a && b && b < a && ea && eb && eb < ea && x2 && y && x1 && adm && x2 < y && y < x1 &&
              x1 < adm,
          "pool: lists last line first, env as written, flags as 1/0, admin values last");

    rc = dump_of(POOL "queue.max = 8\nhttp.listen = 127.0.0.1:8080\nhttp.listen = 127.0.0.1:8081\n"
                      "http.max_body_size = 2m\nhttp.keepalive_timeout = 1500ms\n"
                      "worker.leak_check = on\ntimer.job[t] = 1000 x.php\n",
                 -1);
    const char *last = strstr(dump, "\tsecurity.limit_extensions");
    const char *q = strstr(dump, "\tqueue.max = 8\n");
    CHECK(rc == 0 && has("\thttp.listen = 127.0.0.1:8080") &&
              has("\thttp.listen = 127.0.0.1:8081") && has("\thttp.max_body_size = 2M") &&
              has("\thttp.keepalive_timeout = 1500ms") && has("\tworker.leak_check = yes") &&
              has("\ttimer.job[t] = 1000 x.php") && q && last && last < q &&
              !strstr(dump, "http.header_timeout"),
          "phpmgr keys: after php-fpm's, only those set");

    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) return 2;
    return CHECK_DONE();
}
