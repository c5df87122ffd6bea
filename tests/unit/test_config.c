/* Unit tests for the configuration loader (src/config.c). Most cases write their files into a
 * fresh mkdtemp directory; tests/fixtures/config/ holds a small php-fpm style tree. */
#include "config.h"

#include "check.h"

#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];
static char err[1024];

/* Write dir/name (creating dir/subdir if name has one). */
static void put(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')); p++) { /* mkdir -p */
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
}

static char *path_of(const char *name)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return path;
}

/* Load text written as dir/main.conf. */
static int load(struct config *c, const char *text)
{
    put("main.conf", text);
    return config_load(path_of("main.conf"), NULL, c, err, sizeof(err));
}

/* Loading text must fail with exactly "DIR/main.conf:" followed by want_tail. */
static int fails_with(const char *text, const char *want_tail)
{
    struct config c;
    if (load(&c, text) == 0) {
        config_free(&c);
        printf("    (loaded, expected: %s)\n", want_tail);
        return 0;
    }
    char want[1024];
    snprintf(want, sizeof(want), "%s/main.conf:%s", dir, want_tail);
    if (strcmp(err, want) != 0) {
        printf("    got:  %s\n    want: %s\n", err, want);
        return 0;
    }
    return 1;
}

/* Loading text must fail with exactly this message (php-fpm's own, no FILE:LINE); a final '*'
 * matches any rest. */
static int fails_exactly(const char *text, const char *want)
{
    struct config c;
    if (load(&c, text) == 0) {
        config_free(&c);
        printf("    (loaded, expected: %s)\n", want);
        return 0;
    }
    size_t n = strlen(want);
    if (n && want[n - 1] == '*' ? strncmp(err, want, n - 1) != 0 : strcmp(err, want) != 0) {
        printf("    got:  %s\n    want: %s\n", err, want);
        return 0;
    }
    return 1;
}

/* Loading text must fail with a message containing part. */
static int fails_containing(const char *text, const char *part)
{
    struct config c;
    if (load(&c, text) == 0) {
        config_free(&c);
        printf("    (loaded, expected an error containing: %s)\n", part);
        return 0;
    }
    if (!strstr(err, part)) {
        printf("    got: %s\n    want a part: %s\n", err, part);
        return 0;
    }
    return 1;
}

static const char *php_ini(const struct pool_config *p, const char *name, int admin)
{
    for (size_t i = 0; i < p->n_php_ini; i++)
        if (strcmp(p->php_ini[i].name, name) == 0 && p->php_ini[i].admin == admin)
            return p->php_ini[i].value;
    return NULL;
}

static const char *env_of(const struct pool_config *p, const char *name)
{
    for (size_t i = 0; i < p->n_env; i++)
        if (strcmp(p->env[i].name, name) == 0) return p->env[i].value;
    return NULL;
}

static int has_warning(const struct config *c, const char *text)
{
    for (size_t i = 0; c->warnings[i]; i++)
        if (strcmp(c->warnings[i], text) == 0) return 1;
    return 0;
}

static int warned_about(const struct config *c, const char *key)
{
    char part[128];
    snprintf(part, sizeof(part), ": %s: ", key);
    for (size_t i = 0; c->warnings[i]; i++)
        if (strstr(c->warnings[i], part)) return 1;
    return 0;
}

static int streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static const char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static const char *fmt(const char *f, ...)
{
    static char buf[4][512];
    static int n;
    char *b = buf[n++ % 4];
    va_list ap;
    va_start(ap, f);
    vsnprintf(b, sizeof(buf[0]), f, ap);
    va_end(ap);
    return b;
}

#define MINIMAL "[www]\nlisten = 9000\npm = static\npm.max_children = 2\n"

static void test_parsers(void)
{
    CHECK(config_parse_time_ms("30") == 30000, "time: bare number is seconds");
    CHECK(config_parse_time_ms("30s") == 30000, "time: 30s");
    CHECK(config_parse_time_ms("5m") == 300000, "time: 5m");
    CHECK(config_parse_time_ms("1h") == 3600000, "time: 1h");
    CHECK(config_parse_time_ms("2d") == 172800000LL, "time: 2d");
    CHECK(config_parse_time_ms("0") == 0, "time: 0");
    CHECK(config_parse_time_ms("250ms") == 250, "time: 250ms (phpmgr addition)");
    CHECK(config_parse_time_ms("") == -1 && config_parse_time_ms(NULL) == -1, "time: empty");
    CHECK(config_parse_time_ms("-5") == -1, "time: negative refused");
    CHECK(config_parse_time_ms("5x") == -1 && config_parse_time_ms("s") == -1 &&
              config_parse_time_ms("5 s") == -1 && config_parse_time_ms("1.5s") == -1,
          "time: bad suffix or form refused");
    CHECK(config_parse_time_ms("99999999999999999999") == -1, "time: overflow refused");
    CHECK(config_parse_time_ms("9999999999999999d") == -1, "time: overflow by unit refused");

    CHECK(config_parse_size("123") == 123, "size: bytes");
    CHECK(config_parse_size("16k") == 16384 && config_parse_size("16K") == 16384, "size: 16k");
    CHECK(config_parse_size("8M") == 8388608 && config_parse_size("8m") == 8388608, "size: 8M");
    CHECK(config_parse_size("1G") == 1073741824LL, "size: 1G");
    CHECK(config_parse_size("") == -1 && config_parse_size(NULL) == -1 &&
              config_parse_size("-1") == -1 && config_parse_size("1T") == -1 &&
              config_parse_size("1MB") == -1 && config_parse_size("M") == -1,
          "size: bad input refused");
    CHECK(config_parse_size("99999999999999999G") == -1, "size: overflow refused");
}

static void test_defaults(void)
{
    struct config c;
    int rc = load(&c, MINIMAL);
    CHECK(rc == 0, "defaults: minimal pool loads");
    if (rc) {
        printf("    %s\n", err);
        return;
    }
    struct global_config *g = &c.global;
    CHECK(streq(c.path, path_of("main.conf")) && c.prefix == NULL, "defaults: path, no prefix");
    CHECK(!g->pid_file && !g->error_log && g->log_level == LOG_LVL_NOTICE && g->log_limit == 1024 &&
              g->log_buffering == 1 && g->daemonize == 1,
          "defaults: global pid, error_log, log_level, log_limit, daemonize");
    CHECK(g->emergency_restart_threshold == 0 && g->emergency_restart_interval_ms == 0 &&
              g->process_control_timeout_ms == 0 && g->process_max == 0 &&
              g->process_priority == 64 && g->rlimit_files == -1 && g->rlimit_core == -1 &&
              streq(g->syslog_facility, "daemon") && streq(g->syslog_ident, "php-fpm") &&
              !g->events_mechanism && g->systemd_interval_ms == -1 && !g->php_ini,
          "defaults: other global values are php-fpm's");
    CHECK(c.n_pools == 1, "defaults: one pool");
    struct pool_config *p = &c.pools[0];
    CHECK(streq(p->name, "www") && streq(p->file, path_of("main.conf")) && p->line == 1,
          "defaults: pool name and section location");
    CHECK(streq(p->listen, "9000") && !p->listen_owner && !p->listen_group &&
              p->listen_mode == 0660 && p->listen_backlog == -1 && !p->allowed_clients &&
              !p->listen_acl_users && !p->listen_acl_groups && p->listen_setfib == -1,
          "defaults: listen.*");
    CHECK(!p->user && !p->group && !p->chdir && !p->chroot && !p->prefix && p->clear_env == 1 &&
              p->catch_workers_output == 0 && p->decorate_workers_output == 1 && p->n_env == 0 &&
              p->n_php_ini == 0 && p->process_priority == 64 && p->process_dumpable == 0 &&
              p->rlimit_files == -1 && p->rlimit_core == -1 && !p->apparmor_hat,
          "defaults: process keys");
    CHECK(p->limit_extensions && streq(p->limit_extensions[0], ".php") &&
              streq(p->limit_extensions[1], ".phar") && !p->limit_extensions[2],
          "defaults: security.limit_extensions = .php .phar");
    CHECK(p->pm == PM_STATIC && p->max_children == 2 && p->start_servers == 0 &&
              p->max_spawn_rate == 32 && p->max_requests == 0 &&
              p->process_idle_timeout_ms == 10000,
          "defaults: pm.*");
    CHECK(p->request_terminate_timeout_ms == 0 &&
              p->request_terminate_timeout_track_finished == 0 &&
              p->request_slowlog_timeout_ms == 0 && p->request_slowlog_trace_depth == 20 &&
              !p->slowlog && !p->access_log && streq(p->access_format, "%R - %u %t \"%m %r\" %s") &&
              !p->access_suppress_paths && !p->status_path && !p->status_listen && !p->ping_path &&
              streq(p->ping_response, "pong"),
          "defaults: timeouts, logs, status, ping");
    CHECK(!p->http_listen && !p->http_document_root && !p->http_index && p->http_static == 1 &&
              p->http_max_body_size == 8 * 1024 * 1024 && p->http_max_header_size == 16 * 1024 &&
              p->http_keepalive_timeout_ms == 75000 && p->http_header_timeout_ms == 60000 &&
              p->http_body_timeout_ms == 60000 && p->http_send_timeout_ms == 60000 &&
              !p->http_trusted_proxies && p->worker_mode == WORKER_CLASSIC &&
              !p->worker_bootstrap && p->task_workers == 0 && !p->task_handler &&
              p->n_timers == 0 && p->heartbeat_check_interval_ms == 0 &&
              p->heartbeat_idle_time_ms == 0 && p->queue_max == 1024 &&
              p->body_buffer_size == 64 * 1024 && !p->body_temp_dir,
          "defaults: phpmgr keys");
    CHECK(p->fcgi_max_body_size == 4LL << 30 && p->fcgi_send_timeout_ms == 60000 &&
              p->request_read_timeout_ms == 60000 && p->response_temp_max == 1LL << 30,
          "defaults: fastcgi.max_body_size 4g, fastcgi.send_timeout 60s, request.read_timeout "
          "60s, request.max_temp_file_size 1g");
    CHECK(!p->set_identity && p->uid == 0 && p->gid == 0 &&
              (geteuid() != 0 || (!p->user_name && !p->home)),
          "defaults: no user, no identity switch");
    CHECK(c.warnings && c.n_warnings == 0 && !c.warnings[0], "defaults: no warnings");
    CHECK(c.n_files == 1 && streq(c.files[0], path_of("main.conf")) && !c.files[1],
          "defaults: files lists the main file");
    config_free(&c);
    CHECK(c.pools == NULL && c.n_pools == 0, "config_free clears the struct");
    config_free(&c); /* twice is harmless */
}

static void test_types(void)
{
    struct config c;
    char text[4096];
    put("app/boot.php", "<?php\n"); /* the bootstrap must be readable */
    snprintf(text, sizeof(text),
             "[global]\n"
             "log_level = WARN\n"
             "daemonize = off\n"
             "rlimit_core = unlimited\n"
             "[www]\n"
             "listen = /run/www.sock\n"
             "listen.mode = 0600\n"
             "listen.backlog = -1\n"
             "listen.allowed_clients = 127.0.0.1,::1 , 10.1.2.3\n"
             "pm = static\n"
             "pm.max_children = 12\n"
             "pm.max_requests = 1000\n"
             "request_terminate_timeout = 5m\n"
             "clear_env = no\n"
             "catch_workers_output = yes\n"
             "decorate_workers_output = FALSE\n"
             "process.dumpable = \"on\"\n"
             "rlimit_core = 0\n"
             "security.limit_extensions = .php  .php7\t.inc\n"
             "http.listen = 127.0.0.1:8080\n"
             "http.listen = [::1]:8080\n"
             "http.max_body_size = 64M\n"
             "http.max_header_size = 32k\n"
             "request.body_buffer_size = 1M\n"
             "request.body_temp_dir = /var/tmp\n"
             "http.keepalive_timeout = 250ms\n"
             "http.trusted_proxies = 10.0.0.0/8, fd00::/8,192.168.1.1\n"
             "http.static = 0\n"
             "worker.mode = resident\n"
             "worker.bootstrap = %s/app/boot.php\n"
             "task.workers = 2\n"
             "task.handler = /srv/app/task.php\n"
             "timer.job[gc] = 60000 /srv/app/gc.php\n"
             "heartbeat.check_interval = 1m\n"
             "fastcgi.max_body_size = 0\n"
             "fastcgi.send_timeout = 30s\n"
             "request.read_timeout = 2m\n"
             "request.max_temp_file_size = 256M\n"
             "queue.max = 0\n",
             dir);
    int rc = load(&c, text);
    CHECK(rc == 0, "types: every value type loads");
    if (rc) {
        printf("    %s\n", err);
        return;
    }
    struct pool_config *p = &c.pools[0];
    CHECK(c.global.log_level == LOG_LVL_WARNING, "types: log_level 'warn' alias, any case");
    CHECK(c.global.daemonize == 0, "types: boolean off");
    CHECK(c.global.rlimit_core == -2 && p->rlimit_core == 0, "types: rlimit_core unlimited / 0");
    CHECK(p->listen_mode == 0600 && p->listen_backlog == -1, "types: octal mode, backlog -1");
    CHECK(p->allowed_clients && streq(p->allowed_clients[0], "127.0.0.1") &&
              streq(p->allowed_clients[1], "::1") && streq(p->allowed_clients[2], "10.1.2.3") &&
              !p->allowed_clients[3],
          "types: listen.allowed_clients comma list, blanks trimmed");
    CHECK(p->max_children == 12 && p->max_requests == 1000, "types: integers");
    CHECK(p->request_terminate_timeout_ms == 300000, "types: time 5m");
    CHECK(p->clear_env == 0 && p->catch_workers_output == 1 && p->decorate_workers_output == 0 &&
              p->process_dumpable == 1,
          "types: booleans no / yes / FALSE / quoted on");
    CHECK(p->limit_extensions && streq(p->limit_extensions[0], ".php") &&
              streq(p->limit_extensions[1], ".php7") && streq(p->limit_extensions[2], ".inc") &&
              !p->limit_extensions[3],
          "types: security.limit_extensions space list");
    CHECK(p->http_listen && streq(p->http_listen[0], "127.0.0.1:8080") &&
              streq(p->http_listen[1], "[::1]:8080") && !p->http_listen[2],
          "types: http.listen twice adds two");
    CHECK(p->http_max_body_size == 64LL << 20 && p->http_max_header_size == 32 << 10 &&
              p->body_buffer_size == 1LL << 20 && streq(p->body_temp_dir, "/var/tmp"),
          "types: sizes, request.body_*");
    CHECK(p->http_keepalive_timeout_ms == 250 && p->heartbeat_check_interval_ms == 60000,
          "types: ms and minute times");
    CHECK(p->fcgi_max_body_size == 0 && p->fcgi_send_timeout_ms == 30000 &&
              p->request_read_timeout_ms == 120000 && p->response_temp_max == 256LL << 20,
          "types: fastcgi.max_body_size, fastcgi.send_timeout, request.read_timeout, "
          "request.max_temp_file_size");
    CHECK(p->http_trusted_proxies && streq(p->http_trusted_proxies[0], "10.0.0.0/8") &&
              streq(p->http_trusted_proxies[1], "fd00::/8") &&
              streq(p->http_trusted_proxies[2], "192.168.1.1") && !p->http_trusted_proxies[3],
          "types: http.trusted_proxies CIDR list");
    CHECK(p->http_static == 0 && p->worker_mode == WORKER_RESIDENT &&
              streq(p->worker_bootstrap, path_of("app/boot.php")) && p->task_workers == 2 &&
              streq(p->task_handler, "/srv/app/task.php") && p->queue_max == 0,
          "types: worker, task, queue keys");
    CHECK(p->n_timers == 1 && streq(p->timers[0].name, "gc") &&
              streq(p->timers[0].value, "60000 /srv/app/gc.php"),
          "types: timer.job[NAME]");
    config_free(&c);

    rc = load(&c, "[www]\nlisten = 9000\npm = static\npm.max_children = 1\n"
                  "security.limit_extensions =\nlisten.allowed_clients =\n");
    CHECK(rc == 0 && c.pools[0].limit_extensions && !c.pools[0].limit_extensions[0] &&
              !c.pools[0].allowed_clients,
          "types: empty limit_extensions = any extension; empty allowed_clients = any client");
    if (rc == 0) config_free(&c);
}

static void test_quotes_and_comments(void)
{
    struct config c;
    setenv("PHPMGR_TEST_VAR", "from-env", 1);
    unsetenv("PHPMGR_TEST_UNSET");
    int rc = load(&c, "[www]\n"
                      "listen = 9000 ; a comment after a value\n"
                      "pm = static;a comment without a blank before it\n"
                      "pm.max_children = \"3\"\n"
                      "access.format = \"%R - %u %t \\\"%m %r%Q%q\\\" %s ; not a comment\"\n"
                      "ping.response = 'single ; quoted \\n raw'\n"
                      "php_value[a] = abc \"def\" ghi\n"
                      "php_value[b] = \"  keep inner blanks  \"\n"
                      "php_value[c] = x${PHPMGR_TEST_VAR}y\n"
                      "php_value[d] = \"in quotes ${PHPMGR_TEST_VAR}\"\n"
                      "php_value[e] = ${PHPMGR_TEST_UNSET:-fallback}\n"
                      "php_value[f] = \"C:\\dir\\\"\n"
                      "php_value[g] = \"back\\\\slash \\$ dollar \\n kept\"\n"
                      "php_value[h] = a;b\n"
                      "php_value[i] = yes\n"
                      "php_value[j] = Off\n"
                      "php_value[k] = \"yes\"\n"
                      "php_value[l] = E_ALL\n"
                      "php_value[m] = E_ALL & ~E_NOTICE & ~E_DEPRECATED\n"
                      "php_value[n] = (E_ERROR | E_WARNING) ^ E_WARNING\n"
                      "php_value[o] = \"E_ALL & ~E_NOTICE\"\n"
                      "php_value[p] = !0\n"
                      "php_value[q] = E_ALLX\n"
                      "php_value[r] = $HOME is literal\n"
                      "php_value[ s ] = spaced key\n"
                      "php_value[\"t\"] = quoted key\n"
                      "php_value[u] = none\n"
                      "php_value[v] = \"\"\n");
    CHECK(rc == 0, "quotes: file loads");
    if (rc) {
        printf("    %s\n", err);
        return;
    }
    struct pool_config *p = &c.pools[0];
    CHECK(streq(p->listen, "9000") && p->pm == PM_STATIC,
          "comments: ';' ends a value, blank or not");
    CHECK(p->max_children == 3, "quotes: quoted number");
    CHECK(streq(p->access_format, "%R - %u %t \"%m %r%Q%q\" %s ; not a comment"),
          "quotes: \\\" escapes and ';' inside double quotes");
    CHECK(streq(p->ping_response, "single ; quoted \\n raw"), "quotes: single quotes are raw");
    CHECK(streq(php_ini(p, "a", 0), "abcdefghi"),
          "quotes: PHP drops blanks around a double-quoted part");
    CHECK(streq(php_ini(p, "b", 0), "  keep inner blanks  "), "quotes: inner blanks kept");
    CHECK(streq(php_ini(p, "c", 0), "xfrom-envy"), "quotes: ${VAR} unquoted");
    CHECK(streq(php_ini(p, "d", 0), "in quotes from-env"), "quotes: ${VAR} inside quotes");
    CHECK(streq(php_ini(p, "e", 0), "fallback"), "quotes: ${VAR:-fallback}");
    CHECK(streq(php_ini(p, "f", 0), "C:\\dir\\"), "quotes: \"C:\\dir\\\" keeps the backslash");
    CHECK(streq(php_ini(p, "g", 0), "back\\slash $ dollar \\n kept"),
          "quotes: \\\\ and \\$ unescaped, other escapes kept");
    CHECK(streq(php_ini(p, "h", 0), "a"), "comments: a;b is a");
    CHECK(streq(php_ini(p, "i", 0), "1") && streq(php_ini(p, "j", 0), "") &&
              streq(php_ini(p, "u", 0), ""),
          "keywords: yes -> 1, Off -> \"\", none -> \"\" (PHP INI scanner)");
    CHECK(streq(php_ini(p, "k", 0), "yes"), "keywords: quoted \"yes\" stays");
    CHECK(streq(php_ini(p, "l", 0), "32767"), "constants: E_ALL");
    CHECK(streq(php_ini(p, "m", 0), "24567"), "constants: E_ALL & ~E_NOTICE & ~E_DEPRECATED");
    CHECK(streq(php_ini(p, "n", 0), "1"), "constants: parentheses, | and ^");
    CHECK(streq(php_ini(p, "o", 0), "E_ALL & ~E_NOTICE"), "constants: not inside quotes");
    CHECK(streq(php_ini(p, "p", 0), "1"), "constants: ! operator");
    CHECK(streq(php_ini(p, "q", 0), "E_ALLX"), "constants: only whole names");
    CHECK(streq(php_ini(p, "r", 0), "$HOME is literal"), "quotes: $VAR without braces is literal");
    CHECK(streq(php_ini(p, "s", 0), "spaced key") && streq(php_ini(p, "t", 0), "quoted key"),
          "quotes: array keys trimmed and unquoted");
    CHECK(streq(php_ini(p, "v", 0), ""), "quotes: empty quoted string");
    config_free(&c);

    CHECK(fails_with(MINIMAL "php_value[x] = \"open\n",
                     "5: php_value[x]: unterminated double-quoted string"),
          "quotes: unterminated double quote is an error");
    CHECK(fails_with(MINIMAL "php_value[x] = it's\n",
                     "5: php_value[x]: unterminated single-quoted string"),
          "quotes: lone apostrophe is an error (as in PHP)");
    CHECK(fails_containing(MINIMAL "php_value[x] = a & \n", "php_value[x]: not a valid expression"),
          "constants: dangling operator is an error");
    CHECK(fails_containing(MINIMAL "php_value[x] = ${NOCLOSE\n", "bad ${VARIABLE}"),
          "quotes: unclosed ${ is an error");
}

static void test_syntax(void)
{
    struct config c;
    /* BOM, CRLF, indentation (inih would read it as a continuation), '#' comments, a section
     * header with a comment, and a line longer than inih's 200-byte buffer */
    char longline[2048];
    char fns[1500] = "";
    for (int i = 0; i < 60; i++) {
        char f[32];
        snprintf(f, sizeof(f), "%sfunc%02d", i ? "," : "", i);
        strcat(fns, f);
    }
    snprintf(longline, sizeof(longline),
             "\xef\xbb\xbf[www] ; the pool\r\n"
             "  listen = 9000\r\n"
             "    pm = static\n"
             "# a hash comment\n"
             "\tpm.max_children = 2\n"
             "php_admin_value[disable_functions] = \"%s ; inside\" ; outside\n"
             "user = www-data\n",
             fns);
    int rc = load(&c, longline);
    CHECK(rc == 0, "syntax: BOM, CRLF, indentation, # comments load");
    if (rc) {
        printf("    %s\n", err);
        return;
    }
    struct pool_config *p = &c.pools[0];
    CHECK(streq(p->name, "www") && streq(p->listen, "9000") && p->pm == PM_STATIC &&
              p->max_children == 2 && streq(p->user, "www-data"),
          "syntax: indented lines are keys, not continuations");
    char want[1600];
    snprintf(want, sizeof(want), "%s ; inside", fns);
    CHECK(streq(php_ini(p, "disable_functions", 1), want),
          "syntax: a line longer than inih's buffer keeps its whole value");
    config_free(&c);

    CHECK(fails_with("[www\nlisten = 9000\n",
                     "1: [www: missing ']' at the end of the section header"),
          "syntax: unterminated section header");
    CHECK(fails_with("[www] junk\n", "1: [www] junk: unexpected text after the section header"),
          "syntax: text after a section header");
    CHECK(fails_with("[]\n", "1: []: empty section name"), "syntax: empty section name");
    CHECK(fails_with(MINIMAL "just some words\n",
                     "5: just some words: expected 'key = value' or '[section]'"),
          "syntax: a line without '='");
    CHECK(fails_with(MINIMAL "= value\n", "5: =: missing key before '='"), "syntax: missing key");
    CHECK(fails_with(MINIMAL "a:b = c\n", "5: a:b: ':' is not allowed in a key"),
          "syntax: ':' in a key (inih would split there)");
    CHECK(fails_with(MINIMAL "x = a\001b\n", "5: line: control character (byte 0x01) in the file"),
          "syntax: control characters refused");
    CHECK(fails_with(MINIMAL "php_value[x = 1\n", "5: php_value[x: missing ']' after the key"),
          "syntax: unterminated array key");
}

static void test_unknown_keys(void)
{
    CHECK(fails_with("[global]\npid = /run/x.pid\n\n[www]\nlisten = 9000\npm = static\n"
                     "pm.max_children = 4\n; comment\n\n\n\npm.max_chidren = 5\n",
                     "12: pm.max_chidren: unknown key"),
          "unknown key: exact message and line number");
    CHECK(fails_with("[global]\nlisten = 9000\n",
                     "2: listen: not a [global] key: it belongs in a pool section"),
          "unknown key: pool key in [global]");
    CHECK(fails_with(MINIMAL "daemonize = no\n",
                     "5: daemonize: not a pool key: it belongs in [global]"),
          "unknown key: global key in a pool");
    CHECK(fails_with("pid = /x.pid\nbogus = 1\n" MINIMAL, "2: bogus: unknown key"),
          "unknown key: before any section (global, as in php-fpm)");
    CHECK(fails_with(MINIMAL "php_values[x] = 1\n", "5: php_values[x]: unknown key"),
          "unknown key: unknown array");
    CHECK(fails_with("[global]\nenv[X] = 1\n", "2: env[X]: arrays are not allowed in [global]"),
          "arrays: refused in [global]");

    /* inside an included file: the message names that file and its line */
    put("inc.d/pool.conf", "[www]\nlisten = 9000\npm = static\n\nbogus.key = 1\n");
    struct config c;
    int rc = load(&c, "[global]\ninclude = inc.d/*.conf\n");
    CHECK(rc == -1 && streq(err, fmt("%s/inc.d/pool.conf:5: bogus.key: unknown key", dir)),
          "unknown key: inside an included file names that file");
    if (rc == 0) config_free(&c);
    unlink(path_of("inc.d/pool.conf"));
}

static void test_bad_values(void)
{
#define BAD(line, msg, name) CHECK(fails_with(MINIMAL line "\n", "5: " msg), name)
    BAD("pm.max_requests = ten", "pm.max_requests: 'ten' is not a valid number",
        "bad: non-numeric");
    BAD("pm.max_requests = -1", "pm.max_requests: must not be negative", "bad: negative");
    BAD("pm.max_requests = 99999999999",
        "pm.max_requests: 99999999999 is out of range (0..2147483647)", "bad: int overflow");
    BAD("pm.max_requests = 123456789012345678901234567890",
        "pm.max_requests: '123456789012345678901234567890' is not a valid number",
        "bad: huge number");
    BAD("pm.max_requests = 1.5", "pm.max_requests: '1.5' is not a valid number", "bad: decimal");
    BAD("pm.max_requests =", "pm.max_requests: '' is not a valid number", "bad: empty number");
    BAD("process.priority = 21", "process.priority: 21 is out of range (-19..20)", "bad: priority");
    BAD("request_terminate_timeout = 10x",
        "request_terminate_timeout: '10x' is not a valid time (a number with s, m, h or d)",
        "bad: time suffix");
    BAD("request_terminate_timeout = 30d", "request_terminate_timeout: '30d' is too long",
        "bad: time too long for an int of ms");
    BAD("http.max_body_size = 10T",
        "http.max_body_size: '10T' is not a valid size (a number with k, M or G)",
        "bad: size suffix");
    BAD("request.body_buffer_size = lots",
        "request.body_buffer_size: 'lots' is not a valid size (a number with k, M or G)",
        "bad: request.body_buffer_size");
    BAD("clear_env = maybe",
        "clear_env: 'maybe' is not a boolean (yes/no, on/off, true/false, 1/0)", "bad: boolean");
    BAD("php_flag[display_errors] = sometimes",
        "php_flag[display_errors]: 'sometimes' is not a boolean (on/off, yes/no, true/false, 1/0)",
        "bad: php_flag value");
    BAD("pm = adaptive", "pm: 'adaptive' is not static, dynamic or ondemand", "bad: pm");
    BAD("listen.mode = 0999", "listen.mode: '0999' is not an octal mode such as 0660", "bad: mode");
    BAD("listen.allowed_clients = 127.0.0.1, example.com",
        "listen.allowed_clients: 'example.com' is not an IPv4 or IPv6 address",
        "bad: allowed client");
    BAD("http.trusted_proxies = 10.0.0.0/33",
        "http.trusted_proxies: '10.0.0.0/33' is not an address or CIDR (10.0.0.0/8, fd00::/8)",
        "bad: CIDR prefix too long");
    BAD("http.trusted_proxies = fd00::/-1",
        "http.trusted_proxies: 'fd00::/-1' is not an address or CIDR (10.0.0.0/8, fd00::/8)",
        "bad: CIDR negative prefix");
    BAD("worker.mode = threaded", "worker.mode: 'threaded' is not classic or resident",
        "bad: worker.mode");
    BAD("rlimit_core = lots", "rlimit_core: 'lots' must be 'unlimited' or a number >= 0",
        "bad: rlimit_core");
    BAD("pm.status_path = status", "pm.status_path: 'status' must start with a '/'",
        "bad: status path");
    BAD("ping.path = /pi ng", "ping.path: '/pi ng' may only contain letters, digits and /-_.~",
        "bad: ping path chars");
    BAD("ping.response =", "ping.response: must not be empty", "bad: empty ping.response");
    BAD("env[X] =", "env[X]: empty value", "bad: empty env value (php-fpm)");
    BAD("php_value[] = 1", "php_value[]: a name is required: php_value[NAME]",
        "bad: array without key");
    BAD("access.suppress_path[x] = /ping",
        "access.suppress_path[x]: takes no key: write access.suppress_path[] = /path",
        "bad: suppress_path with a key");
    BAD("access.suppress_path[] = ping", "access.suppress_path[]: 'ping' must start with '/'",
        "bad: suppress_path without /");
    BAD("timer.job[a] =", "timer.job[a]: empty value", "bad: empty timer");
#undef BAD
    CHECK(fails_with("[global]\nlog_level = loud\n" MINIMAL,
                     "2: log_level: 'loud' is not one of alert, error, warning, notice, debug"),
          "bad: log_level");
    CHECK(fails_with("[global]\nlog_limit = 100\n" MINIMAL,
                     "2: log_limit: 100 is out of range (512..2147483647)"),
          "bad: log_limit below php-fpm's minimum");
    CHECK(fails_with("[global]\nsyslog.facility = bogus\n" MINIMAL,
                     "2: syslog.facility: 'bogus' is not a syslog facility (daemon, user, "
                     "local0..local7, ...)"),
          "bad: syslog.facility");
    CHECK(fails_with(
              "[global]\nevents.mechanism = kqueue\n" MINIMAL,
              "2: events.mechanism: 'kqueue' is not available on Linux (epoll, poll or select)"),
          "bad: events.mechanism");
    CHECK(fails_with(MINIMAL "timer.job[a] = 1 x\ntimer.job[a] = 2 y\n",
                     "6: timer.job[a]: timer 'a' is already defined"),
          "bad: duplicate timer name");
}

static void test_listen(void)
{
    static const char *const good[] = {"9000",          "127.0.0.1:9000",  "[::1]:9000",
                                       "::1:9000",      "*:9000",          "localhost:9000",
                                       "0.0.0.0:65535", "/run/php/x.sock", "php.sock"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct config c;
        int rc = load(&c, fmt("[www]\nlisten = %s\npm = static\npm.max_children = 1\n", good[i]));
        /* a relative unix socket goes under PHP's compiled-in prefix, as in php-fpm */
        const char *want = strcmp(good[i], "php.sock") == 0 ? "/usr/php.sock" : good[i];
        CHECK(rc == 0 && streq(c.pools[0].listen, want), fmt("listen: '%s' accepted", good[i]));
        if (rc == 0) config_free(&c);
    }
    static const char *const bad[][2] = {
        {"0", "port must be 1..65535"},
        {"70000", "port must be 1..65535"},
        {"127.0.0.1:", "port must be 1..65535"},
        {"127.0.0.1:http", "port must be 1..65535"},
        {":9000", "missing host before ':' (use *:port for every address)"},
        {"[::1]", "port must be 1..65535"},
        {"[::g]:9000", "bad [IPv6] address"},
        {"1:2:3:9000", "bad IPv6 address"},
        {"bad host:9000", "bad host name"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(fails_with(fmt("[www]\nlisten = %s\n", bad[i][0]),
                         fmt("2: listen: '%s': %s", bad[i][0], bad[i][1])),
              fmt("listen: '%s' refused", bad[i][0]));
    char longpath[200];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    CHECK(fails_with(fmt("[www]\nlisten = %s\n", longpath),
                     fmt("2: listen: '%s': unix socket path too long", longpath)),
          "listen: unix path longer than sun_path refused");
}

static void test_pools(void)
{
    struct config c;
    int rc = load(&c, "[global]\n"
                      "[www]\n"
                      "listen = 9000\n"
                      "pm = static\n"
                      "pm.max_children = 2\n"
                      "[api]\n"
                      "listen = 9001\n"
                      "pm = static\n"
                      "pm.max_children = 3\n"
                      "[WWW]\n" /* php-fpm re-opens a pool, case-insensitively */
                      "pm.max_children = 7\n"
                      "listen = 9002\n");
    CHECK(rc == 0 && c.n_pools == 2, "pools: two pools, a re-opened section merges");
    if (rc == 0) config_free(&c);
    /* the official Docker image's pattern: a later file overrides an earlier one's pool */
    put("zz.d/www.conf", "[www]\nlisten = 127.0.0.1:9000\npm = dynamic\npm.max_children = 5\n"
                         "pm.min_spare_servers = 1\npm.max_spare_servers = 3\n");
    put("zz.d/zz-docker.conf", "[global]\ndaemonize = no\n[www]\nlisten = 9000\npm = static\n");
    rc = load(&c, "include = zz.d/*.conf\n");
    CHECK(rc == 0 && c.n_pools == 1 && streq(c.pools[0].listen, "9000") &&
              c.pools[0].pm == PM_STATIC && c.global.daemonize == 0 && c.n_warnings == 0,
          "pools: a later file overrides a pool (no stale pm warning)");
    if (rc == 0) config_free(&c);
    rc = load(&c, "[global]\n"
                  "[www]\n"
                  "listen = 9000\n"
                  "pm = static\n"
                  "pm.max_children = 2\n"
                  "[api]\n"
                  "listen = 9001\n"
                  "pm = static\n"
                  "pm.max_children = 3\n"
                  "[WWW]\n"
                  "pm.max_children = 7\n"
                  "listen = 9002\n");
    if (rc == 0) {
        CHECK(streq(c.pools[0].name, "www") && c.pools[0].max_children == 7 &&
                  streq(c.pools[0].listen, "9002") && c.pools[0].line == 2,
              "pools: the later value wins, the first header stays the pool's location");
        CHECK(streq(c.pools[1].name, "api") && c.pools[1].max_children == 3 && c.pools[1].line == 6,
              "pools: second pool");
        config_free(&c);
    }
    CHECK(fails_with(
              "[global]\npid = /x.pid\n",
              " [pool]: no pool defined: at least one pool section (such as [www]) is required"),
          "pools: at least one pool");
    CHECK(fails_with("[www]\nlisten = 9000\npm = static\npm.max_children = 1\n"
                     "[api]\nlisten = 9000\npm = static\npm.max_children = 1\n",
                     "6: listen: [pool api] address '9000' is already used by pool 'www'"),
          "pools: two pools on one address refused");
    CHECK(fails_with(MINIMAL "http.listen = 9000\n",
                     "5: http.listen: [pool www] address '9000' is used twice in this pool"),
          "pools: http.listen and listen on one address refused");
    CHECK(
        fails_with("[www]\npm = static\npm.max_children = 2\n",
                   "1: listen: [pool www] no listen address has been defined (listen is required)"),
        "pools: missing listen names the pool's section line");
    CHECK(fails_with(
              "[www]\nlisten = 9000\npm.max_children = 2\n",
              "1: pm: [pool www] the process manager is missing (static, dynamic or ondemand)"),
          "pools: missing pm (mandatory in php-fpm)");
    CHECK(fails_with("[www]\nlisten = 9000\npm = static\n",
                     "1: pm.max_children: [pool www] pm.max_children must be a positive value"),
          "pools: missing pm.max_children");
    CHECK(fails_with("[www]\nlisten = 9000\npm = static\npm.max_children = 0\n",
                     "4: pm.max_children: [pool www] pm.max_children must be a positive value"),
          "pools: pm.max_children = 0");
    CHECK(fails_with(
              "[www]\nlisten = 9000\npm = static\npm.max_children = 1\nworker.mode = resident\n",
              "5: worker.mode: [pool www] worker.mode = resident needs worker.bootstrap"),
          "pools: resident needs a bootstrap");
    CHECK(fails_with("[www]\nlisten = 9000\npm = static\npm.max_children = 1\n"
                     "worker.mode = resident\nworker.bootstrap = /nonexistent/boot.php\n",
                     "6: worker.bootstrap: [pool www] cannot read '/nonexistent/boot.php': No "
                     "such file or directory"),
          "pools: an unreadable bootstrap fails at load, naming the key");
    CHECK(fails_with("[www]\nlisten = 9000\npm = static\npm.max_children = 1\ntask.workers = 1\n",
                     "5: task.workers: [pool www] task.workers > 0 needs task.handler"),
          "pools: task workers need a handler");
}

static void test_pm_dynamic(void)
{
#define DYN "[www]\nlisten = 9000\npm = dynamic\npm.max_children = 10\n"
    struct config c;
    int rc = load(&c, DYN "pm.min_spare_servers = 2\npm.max_spare_servers = 7\n");
    CHECK(rc == 0 && c.pools[0].pm == PM_DYNAMIC && c.pools[0].start_servers == 4,
          "dynamic: default start_servers = min + (max - min) / 2");
    if (rc == 0) {
        CHECK(c.n_warnings == 0, "dynamic: acted on, no warning");
        config_free(&c);
    }
    rc = load(&c, DYN "pm.start_servers = 5\npm.min_spare_servers = 5\npm.max_spare_servers = 5\n");
    CHECK(rc == 0 && c.pools[0].start_servers == 5, "dynamic: start = min = max accepted");
    if (rc == 0) config_free(&c);

    CHECK(
        fails_with(
            DYN,
            "1: pm.min_spare_servers: [pool www] pm.min_spare_servers(0) must be a positive value"),
        "dynamic: min_spare_servers required");
    CHECK(
        fails_with(
            DYN "pm.min_spare_servers = 1\n",
            "1: pm.max_spare_servers: [pool www] pm.max_spare_servers(0) must be a positive value"),
        "dynamic: max_spare_servers required");
    CHECK(fails_with(DYN "pm.min_spare_servers = 1\npm.max_spare_servers = 11\n",
                     "6: pm.max_spare_servers: [pool www] pm.min_spare_servers(1) and "
                     "pm.max_spare_servers(11) cannot be greater than pm.max_children(10)"),
          "dynamic: spare above max_children");
    CHECK(fails_with(DYN "pm.min_spare_servers = 5\npm.max_spare_servers = 3\n",
                     "6: pm.max_spare_servers: [pool www] pm.max_spare_servers(3) must not be less "
                     "than pm.min_spare_servers(5)"),
          "dynamic: max_spare below min_spare");
    CHECK(fails_with(DYN
                     "pm.min_spare_servers = 2\npm.max_spare_servers = 4\npm.start_servers = 5\n",
                     "7: pm.start_servers: [pool www] pm.start_servers(5) must not be less than "
                     "pm.min_spare_servers(2) and not greater than pm.max_spare_servers(4)"),
          "dynamic: start_servers outside [min, max]");
    CHECK(fails_with(DYN
                     "pm.min_spare_servers = 1\npm.max_spare_servers = 2\npm.max_spawn_rate = 0\n",
                     "7: pm.max_spawn_rate: [pool www] pm.max_spawn_rate must be a positive value"),
          "dynamic: max_spawn_rate");
    CHECK(fails_with("[www]\nlisten = 9000\npm = ondemand\npm.max_children = "
                     "3\npm.process_idle_timeout = 0\n",
                     "5: pm.process_idle_timeout: [pool www] pm.process_idle_timeout(0s) must be "
                     "greater than 0s"),
          "ondemand: idle timeout must be > 0");
    rc = load(&c, "[www]\nlisten = 9000\npm = ondemand\npm.max_children = "
                  "3\npm.process_idle_timeout = 30s\n");
    CHECK(rc == 0 && c.pools[0].pm == PM_ONDEMAND && c.pools[0].process_idle_timeout_ms == 30000 &&
              !warned_about(&c, "pm"),
          "ondemand: accepted, no warning");
    if (rc == 0) config_free(&c);
#undef DYN
}

static void test_includes(void)
{
    struct config c;
    put("conf.d/b.conf", "[b]\nlisten = 9002\npm = static\npm.max_children = 1\n");
    put("conf.d/a.conf", "[a]\nlisten = 9001\npm = static\npm.max_children = 1\n"
                         "include = ../more/*.ini\n");
    put("conf.d/skip.txt", "this is not read\n");
    mkdir(path_of("conf.d/sub.conf"), 0755); /* a directory matching the glob is skipped */
    put("more/x.ini", "[x]\nlisten = 9003\npm = static\npm.max_children = 1\n");
    int rc = load(&c, "[global]\ninclude=conf.d/*.conf\n"
                      "[z]\nlisten = 9000\npm = static\npm.max_children = 1\n");
    CHECK(rc == 0 && c.n_pools == 4, "include: glob relative to the including file, nested");
    if (rc == 0) {
        CHECK(streq(c.pools[0].name, "a") && streq(c.pools[1].name, "x") &&
                  streq(c.pools[2].name, "b") && streq(c.pools[3].name, "z"),
              "include: files read in glob order, at the include line");
        CHECK(streq(c.pools[1].file, path_of("conf.d/../more/x.ini")) && c.pools[1].line == 1,
              "include: pools remember their file");
        CHECK(c.n_files == 4 && streq(c.files[0], path_of("main.conf")) &&
                  streq(c.files[1], path_of("conf.d/a.conf")),
              "include: files lists every file read");
        config_free(&c);
    }

    /* an included file without a section continues the includer's section (php-fpm) */
    put("frag.inc", "pm.max_children = 9\n");
    rc = load(&c, "[www]\nlisten = 9000\npm = static\ninclude = frag.inc\n");
    CHECK(rc == 0 && c.pools[0].max_children == 9,
          "include: a fragment continues the current section");
    if (rc == 0) config_free(&c);

    rc = load(&c, MINIMAL "include = conf.d/*.nothing\n");
    CHECK(rc == 0 &&
              has_warning(&c, fmt("%s/main.conf:5: include: nothing matches '%s/conf.d/*.nothing'",
                                  dir, dir)),
          "include: no match is a warning, as in php-fpm");
    if (rc == 0) config_free(&c);
    CHECK(fails_with(MINIMAL "include = nodir/*.conf\n",
                     fmt("5: include: '%s/nodir/*.conf': cannot read '%s/nodir': No such file or "
                         "directory",
                         dir, dir)),
          "include: a missing directory is an error, as in php-fpm (GLOB_ERR)");

    rc = load(&c, fmt("include = %s/conf.d/b.conf\n", dir));
    CHECK(rc == 0 && c.n_pools == 1 && streq(c.pools[0].name, "b"), "include: absolute path");
    if (rc == 0) config_free(&c);

    put("loop.conf", "include = loop.conf\n");
    rc = load(&c, MINIMAL "include = loop.conf\n");
    CHECK(rc == -1 && streq(err, fmt("%s/loop.conf:1: include: '%s/loop.conf': more than 5 nested "
                                     "files (an include loop?)",
                                     dir, dir)),
          "include: a loop stops after 5 levels");
    if (rc == 0) config_free(&c);

    put("unreadable.conf", MINIMAL);
    chmod(path_of("unreadable.conf"), 0);
    if (access(path_of("unreadable.conf"), R_OK) != 0) {
        rc = load(&c, "include = unreadable.conf\n");
        CHECK(rc == -1 &&
                  streq(err, fmt("%s/main.conf:1: include: cannot open '%s/unreadable.conf': "
                                 "Permission denied",
                                 dir, dir)),
              "include: unreadable file is an error naming the include line");
        if (rc == 0) config_free(&c);
    } else {
        printf("SKIP: include of an unreadable file (running as root)\n");
    }
    chmod(path_of("unreadable.conf"), 0644);

    rc = config_load(path_of("does-not-exist.conf"), NULL, &c, err, sizeof(err));
    CHECK(rc == -1 &&
              streq(err, fmt("%s/does-not-exist.conf: open: No such file or directory", dir)),
          "include: missing main file");

    /* with a prefix, relative include patterns are taken under it (php-fpm's rule) */
    put("pfx/etc/pools/p.conf", "[p]\nlisten = 9005\npm = static\npm.max_children = 1\n");
    put("main.conf", "include = etc/pools/*.conf\n");
    char main_path[512];
    snprintf(main_path, sizeof(main_path), "%s", path_of("main.conf"));
    rc = config_load(main_path, path_of("pfx"), &c, err, sizeof(err));
    CHECK(rc == 0 && c.n_pools == 1 && streq(c.pools[0].name, "p"),
          "include: relative to the prefix");
    if (rc == 0) config_free(&c);
}

static void test_pool_expansion_and_env(void)
{
    struct config c;
    setenv("PHPMGR_TEST_HOST", "box1", 1);
    unsetenv("PHPMGR_TEST_NONE");
    int rc = load(&c, "[site1]\n"
                      "listen = /run/php/$pool.sock\n"
                      "pm = static\n"
                      "pm.max_children = 1\n"
                      "access.log = /var/log/$pool-$pool.log\n"
                      "php_value[session.name] = SESS_$pool\n"
                      "env[HOSTNAME] = $PHPMGR_TEST_HOST\n"
                      "env[NONE] = $PHPMGR_TEST_NONE\n"
                      "env[POOL] = $pool\n"
                      "env[PATH] = /usr/bin:/bin\n"
                      "env[PATH] = /first/wins/in/php-fpm\n");
    CHECK(rc == 0, "$pool: loads");
    if (rc) {
        printf("    %s\n", err);
        return;
    }
    struct pool_config *p = &c.pools[0];
    CHECK(streq(p->listen, "/run/php/site1.sock"), "$pool: in listen");
    CHECK(streq(p->access_log, "/var/log/site1-site1.log"), "$pool: every occurrence");
    CHECK(streq(php_ini(p, "session.name", 0), "SESS_site1"), "$pool: in php_value");
    CHECK(streq(env_of(p, "HOSTNAME"), "box1"), "env: $VAR from the environment");
    CHECK(streq(env_of(p, "NONE"), ""), "env: unset $VAR is empty");
    CHECK(streq(env_of(p, "POOL"), "site1"), "env: $pool expands before $VAR");
    CHECK(p->n_env == 5 && streq(p->env[0].name, "PATH") &&
              streq(p->env[0].value, "/first/wins/in/php-fpm") &&
              streq(p->env[1].value, "/usr/bin:/bin") && streq(p->env[4].name, "HOSTNAME"),
          "env: stored in php-fpm's application order (last line first)");
    config_free(&c);
    CHECK(fails_with("[global]\npid = /run/$pool.pid\n",
                     "2: pid: $pool can only be used in a pool section"),
          "$pool: refused in [global]");
}

static void test_php_arrays(void)
{
    struct config c;
    int rc = load(&c, MINIMAL "php_value[memory_limit] = 64M\n"
                              "php_admin_value[memory_limit] = 128M\n"
                              "php_flag[display_errors] = on\n"
                              "php_admin_flag[log_errors] = off\n"
                              "php_flag[short_open_tag] = 0\n"
                              "php_flag[html_errors] = \"TRUE\"\n"
                              "php_value[include_path] = \".:/usr/share/php\"\n"
                              "php_admin_value[open_basedir] = /srv:/tmp\n");
    CHECK(rc == 0, "php_*: loads");
    if (rc) {
        printf("    %s\n", err);
        return;
    }
    struct pool_config *p = &c.pools[0];
    CHECK(p->n_php_ini == 8, "php_*: all entries kept");
    CHECK(streq(php_ini(p, "memory_limit", 0), "64M") &&
              streq(php_ini(p, "memory_limit", 1), "128M"),
          "php_*: php_value and php_admin_value kept apart");
    CHECK(streq(php_ini(p, "display_errors", 0), "1") && streq(php_ini(p, "log_errors", 1), "0") &&
              streq(php_ini(p, "short_open_tag", 0), "0") &&
              streq(php_ini(p, "html_errors", 0), "1"),
          "php_*: flags normalized to 1/0");
    CHECK(streq(php_ini(p, "include_path", 0), ".:/usr/share/php") &&
              streq(php_ini(p, "open_basedir", 1), "/srv:/tmp"),
          "php_*: values");
    /* php-fpm's order: php_value/php_flag last line first, then the admin ones likewise */
    CHECK(streq(p->php_ini[0].name, "include_path") && !p->php_ini[0].admin &&
              streq(p->php_ini[4].name, "memory_limit") && !p->php_ini[4].admin &&
              streq(p->php_ini[5].name, "open_basedir") && p->php_ini[5].admin &&
              streq(p->php_ini[7].name, "memory_limit") && p->php_ini[7].admin,
          "php_*: stored in php-fpm's application order");
    CHECK(c.n_warnings == 0, "php_*: acted on, no warnings");
    config_free(&c);
}

static void test_warnings(void)
{
    struct config c;
    int rc = load(&c, "[global]\n"
                      "pid = /run/x.pid\n"
                      "log_limit = 4096\n"
                      "process_control_timeout = 10s\n"
                      "log_buffering = yes\n"
                      "emergency_restart_threshold = 10\n"
                      "emergency_restart_interval = 0\n"
                      "[www]\n"
                      "listen = 9000\n"
                      "pm = static\n"
                      "pm.max_children = 2\n"
                      "slowlog = /var/log/slow.log\n"
                      "request_slowlog_timeout = 5s\n"
                      "pm.status_path = /status\n"
                      "ping.path = /ping\n"
                      "chroot =\n"
                      "heartbeat.check_interval = 5s\n"
                      "http.index = index.php\n"
                      "queue.max = 10\n"
                      "catch_workers_output = yes\n"
                      "request_terminate_timeout = 60s\n"
                      "worker.mode = classic\n");
    CHECK(rc == 0, "warnings: loads");
    if (rc) {
        printf("    %s\n", err);
        return;
    }
    CHECK(has_warning(&c, fmt("%s/main.conf:6: emergency_restart_threshold: parsed but not acted "
                              "on yet",
                              dir)),
          "warnings: exact format FILE:LINE: KEY: parsed but not acted on yet");
    CHECK(warned_about(&c, "emergency_restart_threshold") &&
              !warned_about(&c, "heartbeat.check_interval") && !warned_about(&c, "http.index"),
          "warnings: keys not acted on yet warn");
    CHECK(!warned_about(&c, "pid") && !warned_about(&c, "queue.max") &&
              !warned_about(&c, "log_limit") && !warned_about(&c, "process_control_timeout") &&
              !warned_about(&c, "catch_workers_output") &&
              !warned_about(&c, "request_terminate_timeout") && !warned_about(&c, "pm") &&
              !warned_about(&c, "slowlog") && !warned_about(&c, "request_slowlog_timeout") &&
              !warned_about(&c, "pm.status_path") && !warned_about(&c, "ping.path"),
          "warnings: keys acted on do not warn");
    CHECK(!warned_about(&c, "log_buffering") && !warned_about(&c, "emergency_restart_interval") &&
              !warned_about(&c, "chroot") && !warned_about(&c, "worker.mode"),
          "warnings: a value equal to the default does not warn");
    CHECK(c.n_warnings == 1 && c.warnings[1] == NULL, "warnings: count and NULL end");
    config_free(&c);

    /* every key below is acted on: none may claim otherwise */
    rc = load(&c, MINIMAL "http.listen = 127.0.0.1:8080\n"
                          "http.document_root = /tmp\n"
                          "http.server_name = example.org\n"
                          "http.static = no\n"
                          "http.max_body_size = 1M\n"
                          "http.max_header_size = 8k\n"
                          "http.keepalive_timeout = 5s\n"
                          "http.header_timeout = 5s\n"
                          "http.body_timeout = 5s\n"
                          "http.send_timeout = 5s\n"
                          "http.trusted_proxies = 10.0.0.0/8\n"
                          "request.body_buffer_size = 1M\n"
                          "request.body_temp_dir = /tmp\n"
                          "fastcgi.max_body_size = 1G\n"
                          "fastcgi.send_timeout = 5s\n"
                          "request.read_timeout = 5s\n"
                          "request.max_temp_file_size = 0\n"
                          "heartbeat.check_interval = 5s\n"
                          "heartbeat.idle_time = 20s\n"
                          "pm.max_requests = 10\n");
    CHECK(rc == 0 && c.n_warnings == 0,
          "warnings: http.*, request.*, fastcgi.*, heartbeat.* keys are acted on: no warning");
    if (rc == 0) {
        for (size_t i = 0; c.warnings[i]; i++)
            printf("    unexpected: %s\n", c.warnings[i]);
        config_free(&c);
    } else {
        printf("    %s\n", err);
    }

    rc = load(&c, "[global]\nerror_log = syslog\n" MINIMAL);
    CHECK(rc == 0 && streq(c.global.error_log, "syslog") && warned_about(&c, "error_log"),
          "warnings: error_log = syslog is kept and warned about");
    if (rc == 0) config_free(&c);
}

static void test_pool_checks(void)
{
    struct config c;
    CHECK(fails_with(MINIMAL "request_slowlog_timeout = 5\n",
                     "5: request_slowlog_timeout: [pool www] 'slowlog' must be specified for use "
                     "with 'request_slowlog_timeout'"),
          "checks: slowlog timeout needs slowlog");
    CHECK(fails_with(MINIMAL "slowlog = /tmp/s.log\nrequest_slowlog_timeout = 50\n"
                             "request_terminate_timeout = 10\n",
                     "6: request_slowlog_timeout: [pool www] 'request_slowlog_timeout' can't be "
                     "greater than 'request_terminate_timeout'"),
          "checks: slowlog timeout above terminate timeout");
    CHECK(fails_with(MINIMAL "request_slowlog_trace_depth = 5\n",
                     "5: request_slowlog_trace_depth: [pool www] 'slowlog' must be specified for "
                     "use with 'request_slowlog_trace_depth'"),
          "checks: trace depth needs slowlog");
    CHECK(fails_with(MINIMAL "pm.status_path = /\n",
                     "5: pm.status_path: [pool www] the status path '/' is not long enough"),
          "checks: status path length");
    CHECK(fails_with(
              MINIMAL "chdir = /nonexistent/dir\n",
              "5: chdir: [pool www] the chdir path '/nonexistent/dir' does not exist or is not "
              "a directory"),
          "checks: chdir must exist");
    CHECK(fails_with(MINIMAL "chdir = no-such-dir-phpmgr\n",
                     "5: chdir: [pool www] the chdir path '/usr/no-such-dir-phpmgr' does not "
                     "exist or is not a directory"),
          "checks: relative chdir without a prefix: under PHP_PREFIX, as php-fpm");
    int crc = load(&c, MINIMAL "chdir = bin\n");
    CHECK(crc == 0 && streq(c.pools[0].chdir, "/usr/bin"), "checks: chdir = bin is /usr/bin");
    if (crc == 0) config_free(&c);
    CHECK(
        fails_with(MINIMAL "chroot = /nonexistent/root\n",
                   "5: chroot: [pool www] the chroot path '/nonexistent/root' does not exist or is "
                   "not a directory"),
        "checks: chroot must exist");
    CHECK(fails_with(MINIMAL "chroot = $prefix/no-such-dir-phpmgr\n",
                     "5: chroot: [pool www] the chroot path '/usr//no-such-dir-phpmgr' does not "
                     "exist or is not a directory"),
          "checks: $prefix in chroot without a prefix is PHP_PREFIX, as php-fpm");
    CHECK(fails_with(MINIMAL "chroot = x$prefix\n",
                     "5: chroot: [pool www] '$prefix' must be at the beginning of the value"),
          "checks: $prefix only at the start of chroot");
    CHECK(fails_with(
              MINIMAL "prefix = /nonexistent/prefix\n",
              "5: prefix: [pool www] the prefix '/nonexistent/prefix' does not exist or is not "
              "a directory"),
          "checks: pool prefix must exist");
}

static void test_prefix(void)
{
    struct config c;
    mkdir(path_of("pfx"), 0755);
    mkdir(path_of("pfx/www"), 0755);
    mkdir(path_of("pfx/www/root"), 0755);
    mkdir(path_of("pfx/var"), 0755);
    put("main.conf", "[global]\n"
                     "pid = run/phpmgr.pid\n"
                     "error_log = log/phpmgr.log\n"
                     "[www]\n"
                     "listen = run/www.sock\n"
                     "pm = static\n"
                     "pm.max_children = 1\n"
                     "slowlog = log/$pool.slow\n"
                     "access.log = /abs/access.log\n"
                     "chdir = var\n"
                     "php_admin_value[error_log] = log/php.log\n"
                     "php_value[memory_limit] = 64M\n"
                     "[api]\n"
                     "prefix = www\n"
                     "listen = api.sock\n"
                     "pm = static\n"
                     "pm.max_children = 1\n"
                     "access.log = log/api.log\n"
                     "chroot = $prefix/root\n");
    const char *pfx = path_of("pfx");
    char prefix[512];
    snprintf(prefix, sizeof(prefix), "%s", pfx);
    int rc = config_load(path_of("main.conf"), prefix, &c, err, sizeof(err));
    CHECK(rc == 0, "prefix: loads");
    if (rc) {
        printf("    %s\n", err);
        return;
    }
    CHECK(streq(c.prefix, prefix), "prefix: kept");
    CHECK(streq(c.global.pid_file, fmt("%s/run/phpmgr.pid", prefix)) &&
              streq(c.global.error_log, fmt("%s/log/phpmgr.log", prefix)),
          "prefix: pid and error_log");
    struct pool_config *w = &c.pools[0], *a = &c.pools[1];
    CHECK(streq(w->listen, fmt("%s/run/www.sock", prefix)), "prefix: unix listen socket");
    CHECK(streq(w->slowlog, fmt("%s/log/www.slow", prefix)), "prefix: slowlog");
    CHECK(streq(w->access_log, "/abs/access.log"), "prefix: absolute paths untouched");
    CHECK(streq(w->chdir, fmt("%s/var", prefix)), "prefix: chdir");
    CHECK(streq(php_ini(w, "error_log", 1), fmt("%s/log/php.log", prefix)) &&
              streq(php_ini(w, "memory_limit", 0), "64M"),
          "prefix: path php.ini values (php-fpm's list) only");
    CHECK(streq(a->prefix, fmt("%s/www", prefix)), "prefix: pool prefix under the global one");
    CHECK(streq(a->listen, fmt("%s/www/api.sock", prefix)) &&
              streq(a->access_log, fmt("%s/www/log/api.log", prefix)),
          "prefix: pool prefix wins for the pool's paths");
    CHECK(streq(a->chroot, fmt("%s/www//root", prefix)),
          "prefix: $prefix in chroot (php-fpm's //)");
    config_free(&c);

    char main_path[512];
    snprintf(main_path, sizeof(main_path), "%s", path_of("main.conf"));
    rc = config_load(main_path, path_of("no-such-prefix"), &c, err, sizeof(err));
    CHECK(rc == -1 && strstr(err, "prefix: ") && strstr(err, "does not exist"),
          "prefix: must be a directory");
}

static void test_fixtures(void)
{
    const char *main = "tests/fixtures/config/main.conf";
    if (access(main, R_OK) != 0) {
        printf("SKIP: %s not found (run from the repository root)\n", main);
        return;
    }
    struct config c;
    int rc = config_load(main, NULL, &c, err, sizeof(err));
    CHECK(rc == 0, "fixtures: main.conf with conf.d/*.conf loads");
    if (rc) {
        printf("    %s\n", err);
        return;
    }
    CHECK(c.n_files == 3 && c.n_pools == 2, "fixtures: two files included, two pools");
    struct pool_config *w = &c.pools[0], *a = &c.pools[1];
    CHECK(c.global.log_level == LOG_LVL_WARNING && c.global.daemonize == 0 &&
              streq(c.global.pid_file, "/var/run/phpmgr.pid") &&
              streq(c.global.error_log, "/var/log/phpmgr.log"),
          "fixtures: globals (relative pid and error_log under PHP's /var without a prefix)");
    CHECK(streq(w->name, "www") && w->max_children == 8 && w->max_requests == 500 &&
              streq(w->access_log, "/usr/log/www.access.log"),
          "fixtures: www, with pm.max_children overridden by a later file");
    CHECK(streq(w->access_format, "%R - %u %t \"%m %r%Q%q\" %s ; %{milli}d"),
          "fixtures: access.format with escapes and ';'");
    CHECK(streq(php_ini(w, "error_reporting", 1), "22527") &&
              streq(php_ini(w, "display_errors", 0), "0") &&
              streq(php_ini(w, "session.save_path", 0), "/var/lib/php/sessions/www"),
          "fixtures: php_* values, E_* expression, $pool");
    CHECK(streq(a->name, "api") && streq(a->listen, "/usr/run/api.sock") &&
              a->listen_mode == 0600 && a->pm == PM_DYNAMIC && a->start_servers == 4 &&
              a->queue_max == 64,
          "fixtures: api pool");
    config_free(&c);

    if (access("etc/phpmgr.ini", R_OK) == 0) {
        rc = config_load("etc/phpmgr.ini", NULL, &c, err, sizeof(err));
        CHECK(rc == 0 && c.n_pools == 1 && streq(c.pools[0].name, "www") &&
                  streq(c.pools[0].listen, "127.0.0.1:9000") && c.pools[0].pm == PM_STATIC &&
                  c.pools[0].max_children == 4 && c.n_warnings == 0,
              "fixtures: etc/phpmgr.ini example loads without warnings");
        if (rc == 0)
            config_free(&c);
        else
            printf("    %s\n", err);
    }
}

static void test_debian(void)
{
    const char *conf = "/etc/php/8.2/fpm/php-fpm.conf";
    if (access(conf, R_OK) != 0) {
        printf("SKIP: %s is absent\n", conf);
        return;
    }
    struct config c;
    int rc = config_load(conf, NULL, &c, err, sizeof(err));
    CHECK(rc == 0, "debian: unmodified php-fpm.conf (with pool.d/*.conf) loads");
    if (rc) {
        printf("    %s\n", err);
        return;
    }
    CHECK(streq(c.global.pid_file, "/run/php/php8.2-fpm.pid") &&
              streq(c.global.error_log, "/var/log/php8.2-fpm.log"),
          "debian: pid and error_log");
    struct pool_config *p = NULL;
    for (size_t i = 0; i < c.n_pools; i++)
        if (strcmp(c.pools[i].name, "www") == 0) p = &c.pools[i];
    CHECK(p && streq(p->listen, "/run/php/php8.2-fpm.sock") && streq(p->user, "www-data") &&
              streq(p->listen_owner, "www-data") && p->pm == PM_DYNAMIC && p->max_children == 5 &&
              p->start_servers == 2 && p->min_spare_servers == 1 && p->max_spare_servers == 3,
          "debian: the www pool");
    config_free(&c);
}

/* user and group are resolved at load as php-fpm does: as root, a bad name fails with php-fpm's
 * own message; not as root, both are ignored with a warning. */
static void test_identity(void)
{
    struct config c;
    /* php-fpm logs these as system errors: ": strerror(errno) (errno)" follows */
    CHECK(fails_exactly(MINIMAL "listen.owner = no-such-user-phpmgr\n",
                        "[pool www] cannot get uid for user 'no-such-user-phpmgr': *") &&
              fails_exactly(MINIMAL "listen.group = no-such-group-phpmgr\n",
                            "[pool www] cannot get gid for group 'no-such-group-phpmgr': *"),
          "identity: listen.owner and listen.group must exist (checked whoever runs phpmgr)");
    int lrc = load(&c, MINIMAL "listen.owner = 4242\nlisten.group = 4343\n");
    CHECK(lrc == 0, "identity: numeric listen.owner and listen.group accepted");
    if (lrc == 0) config_free(&c);
    if (geteuid() != 0) {
        int rc = load(&c, MINIMAL "user = no-such-user-phpmgr\ngroup = no-such-group-phpmgr\n");
        CHECK(rc == 0 && !c.pools[0].set_identity && warned_about(&c, "user") &&
                  warned_about(&c, "group"),
              "identity: not root: user and group are ignored with a warning");
        if (rc == 0) config_free(&c);
        printf("SKIP: identity checks as root (not running as root)\n");
        return;
    }
    CHECK(fails_exactly(MINIMAL "user = no-such-user-phpmgr\n",
                        "[pool www] cannot get uid for user 'no-such-user-phpmgr'"),
          "identity: a nonexistent user fails with php-fpm's message");
    CHECK(fails_exactly(MINIMAL "user = root\ngroup = no-such-group-phpmgr\n",
                        "[pool www] cannot get gid for group 'no-such-group-phpmgr'"),
          "identity: a nonexistent group fails with php-fpm's message");

    int rc = load(&c, MINIMAL "user = 4242\ngroup = 4343\n");
    struct pool_config *p = rc == 0 ? &c.pools[0] : NULL;
    CHECK(p && p->set_identity && p->uid == 4242 && p->gid == 4343 && streq(p->user, "4242"),
          "identity: numeric uid and gid accepted (no passwd entry needed)");
    if (rc == 0)
        config_free(&c);
    else
        printf("    %s\n", err);

    struct passwd *pw = getpwnam("nobody");
    if (!pw) {
        printf("SKIP: identity by name (no user 'nobody')\n");
        return;
    }
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    char home[256];
    snprintf(home, sizeof(home), "%s", pw->pw_dir);
    rc = load(&c, MINIMAL "user = nobody\n");
    p = rc == 0 ? &c.pools[0] : NULL;
    CHECK(p && p->set_identity && p->uid == uid && p->gid == gid && streq(p->user_name, "nobody") &&
              streq(p->home, home),
          "identity: a user name gives uid, the primary group, name and home");
    if (rc == 0)
        config_free(&c);
    else
        printf("    %s\n", err);

    rc = load(&c, fmt(MINIMAL "user = %u\n", (unsigned)uid));
    p = rc == 0 ? &c.pools[0] : NULL;
    CHECK(p && p->uid == uid && p->gid == gid && streq(p->user_name, "nobody"),
          "identity: a numeric uid with an entry gets its group and name");
    if (rc == 0) config_free(&c);

    struct group *gr = getgrgid(0);
    if (gr) {
        char gname[64];
        snprintf(gname, sizeof(gname), "%s", gr->gr_name);
        rc = load(&c, fmt(MINIMAL "user = nobody\ngroup = %s\n", gname));
        CHECK(rc == 0 && c.pools[0].uid == uid && c.pools[0].gid == 0,
              "identity: group by name overrides the user's primary group");
        if (rc == 0) config_free(&c);
    }
}

static void cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("    (could not remove %s)\n", dir);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/phpmgr-test-config.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    test_parsers();
    test_defaults();
    test_types();
    test_quotes_and_comments();
    test_syntax();
    test_unknown_keys();
    test_bad_values();
    test_listen();
    test_pools();
    test_pm_dynamic();
    test_includes();
    test_pool_expansion_and_env();
    test_php_arrays();
    test_warnings();
    test_pool_checks();
    test_prefix();
    test_identity();
    test_fixtures();
    test_debian();
    cleanup();
    return CHECK_DONE();
}
