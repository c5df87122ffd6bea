/* Configuration: a superset of php-fpm.conf, read with inih.
 *
 * config_load() parses the main file and every include= glob (relative to the including file),
 * applies php-fpm's defaults, expands $pool, validates every value and fails with a message naming
 * file:line:key. Keys that later features will act on are parsed and validated now; for those the
 * loader records a warning (config.warnings) that the caller logs. */
#ifndef PHPMGR_CONFIG_H
#define PHPMGR_CONFIG_H

#include <stddef.h>
#include <sys/types.h>

#include "log.h"

enum pm_mode { PM_STATIC, PM_DYNAMIC, PM_ONDEMAND };
enum worker_mode { WORKER_CLASSIC, WORKER_RESIDENT };

/* One php_value[] / php_flag[] / php_admin_value[] / php_admin_flag[] entry. Flags are stored
 * normalised to "1" / "0" as php-fpm does. */
struct php_ini_entry {
    char *name;
    char *value;
    int admin; /* php_admin_*: set at PHP_INI_SYSTEM level, not changeable by ini_set() */
};

struct env_entry {
    char *name;
    char *value; /* value after $VAR expansion as php-fpm does ("$HOSTNAME" -> getenv) */
    char *given; /* value as written ($pool expanded, "$HOSTNAME" kept): what -tt prints */
};

struct timer_job {
    char *name;
    char *value; /* raw "interval_ms handler" string; parsed by the timer module later */
};

struct pool_config {
    char *name;
    const char *file; /* file and line of the [name] section header, for messages */
    int line;

    /* listening */
    char *listen; /* required: "/path.sock", "host:port", "[::1]:port", "port" */
    char *listen_owner;
    char *listen_group;
    int listen_mode;        /* octal, default 0660 (php-fpm's) */
    int listen_backlog;     /* default -1, the system's maximum (php-fpm's on Linux) */
    char **allowed_clients; /* NULL-terminated list of addresses, NULL when unset (any) */
    char *listen_acl_users;
    char *listen_acl_groups;
    int listen_setfib; /* FreeBSD only; -1 when unset */

    /* process */
    char *user;  /* as written: a name or a numeric uid */
    char *group; /* as written: a name or a numeric gid */
    /* user and group resolved at load, as php-fpm does: only when phpmgr runs as root (otherwise
     * they are ignored with a warning), so a typo fails `phpmgr test` instead of every worker. */
    int set_identity; /* 1: the worker switches to gid (and to uid when non-zero) */
    uid_t uid;        /* 0 when user is unset: the worker keeps the master's */
    gid_t gid;        /* group's, else the user's primary group */
    char *user_name;  /* for initgroups() and $USER; NULL when unknown (a uid with no entry) */
    char *home;       /* $HOME for the workers; NULL when unknown */
    char *chdir;
    int clear_env;               /* default 1 */
    int catch_workers_output;    /* default 0 */
    int decorate_workers_output; /* default 1 */
    char *prefix; /* pool prefix: relative paths of this pool are made absolute under it */
    char *chroot; /* absolute, an existing directory */
    int process_dumpable;
    char *apparmor_hat;
    /* env[] and php_*[] are stored in the order php-fpm applies them, so applying them in array
     * order gives php-fpm's result: env last line first; php_value/php_flag last line first, then
     * php_admin_value/php_admin_flag last line first (php-fpm prepends each line to a list, so when
     * a name is set twice the first line wins). */
    struct env_entry *env;
    size_t n_env;
    struct php_ini_entry *php_ini;
    size_t n_php_ini;
    char **limit_extensions; /* NULL-terminated, default { ".php", ".phar" }; empty (first element
                                NULL) when security.limit_extensions is empty: any extension */
    int process_priority;    /* 64 when unset */
    int rlimit_files;        /* -1 when unset */
    int rlimit_core;         /* -1 unset, -2 "unlimited" */

    /* process manager */
    enum pm_mode pm;
    int max_children;
    int start_servers;
    int min_spare_servers;
    int max_spare_servers;
    int max_spawn_rate;          /* default 32 */
    int max_requests;            /* 0 = unlimited */
    int process_idle_timeout_ms; /* default 10 s */

    /* timeouts and logs, all times in milliseconds (php-fpm accepts s, m, h, d suffixes) */
    int request_terminate_timeout_ms; /* 0 = off */
    int request_terminate_timeout_track_finished;
    int request_slowlog_timeout_ms;
    int request_slowlog_trace_depth; /* default 20 */
    char *slowlog;
    char *access_log;
    char *access_format;          /* default "%R - %u %t \"%m %r\" %s" */
    char **access_suppress_paths; /* NULL-terminated, NULL when unset */
    char *status_path;
    char *status_listen;
    char *ping_path;
    char *ping_response; /* default "pong" */

    /* phpmgr's own keys */
    char **http_listen; /* NULL-terminated, NULL when unset */
    char *http_document_root;
    char *http_index;
    char *http_server_name;         /* SERVER_NAME (nginx's server_name); default empty */
    int http_static;                /* default 1 */
    long long http_max_body_size;   /* bytes, default 8 MiB; sizes accept k/K, m/M, g/G */
    long long http_max_header_size; /* bytes, default 16 KiB */
    int http_keepalive_timeout_ms;  /* default 75 s */
    int http_header_timeout_ms;     /* default 60 s */
    int http_body_timeout_ms;       /* default 60 s */
    int http_send_timeout_ms;       /* a client that takes nothing for this long is closed; 60 s */
    char **http_trusted_proxies;    /* NULL-terminated CIDRs, NULL when unset */
    /* Request bodies (either ingress) past this many bytes go to an unlinked file in
     * body_temp_dir (default: $TMPDIR or /tmp) instead of master memory; default 64 KiB. */
    long long body_buffer_size;
    char *body_temp_dir;
    /* FastCGI ingress: a STDIN body past this gets 413; default 4 GiB, 0 = unlimited. */
    long long fcgi_max_body_size;
    int fcgi_send_timeout_ms; /* as http_send_timeout_ms for FastCGI clients; 60 s, 0 = off */
    /* nginx's fastcgi_read_timeout: the longest wait for a worker's first or next output; past
     * it the client gets 504 and the request is abandoned. 60 s, 0 = off. */
    int request_read_timeout_ms;
    /* nginx's fastcgi_max_temp_file_size: past the in-memory backlog, a response to a slow
     * client goes to an unlinked temp file in body_temp_dir, up to this many bytes per response
     * (then the worker is held). Default 1 GiB; 0 = never: held once the backlog is full. */
    long long response_temp_max;
    enum worker_mode worker_mode;  /* default classic */
    char *worker_bootstrap;        /* resident: the script run once per worker */
    int worker_max_requests;       /* resident: requests before the worker leaves; 0 = no limit */
    long long worker_memory_limit; /* resident: leave once PHP holds more after a request; 0 off */
    int worker_leak_check;         /* resident: warn when kept memory grows request after request */
    int task_workers;              /* default 0 */
    char *task_handler;
    struct timer_job *timers;
    size_t n_timers;
    int heartbeat_check_interval_ms; /* 0 = off */
    int heartbeat_idle_time_ms;
    int queue_max; /* default 1024 pending requests per pool */

    char **given; /* per key: the value last given, NULL when unset (see config_given()) */
};

struct global_config {
    char *pid_file;
    char *error_log;          /* NULL: stderr when in foreground */
    enum log_level log_level; /* default notice */
    int log_limit;            /* default 1024 */
    int log_buffering;        /* default 1 */
    int process_priority;     /* 64 when unset */
    int daemonize;            /* default 1 */
    int emergency_restart_threshold;
    int emergency_restart_interval_ms;
    int process_control_timeout_ms;
    int process_max;
    int rlimit_files;      /* -1 when unset */
    int rlimit_core;       /* -1 unset, -2 "unlimited" */
    char *syslog_facility; /* default "daemon" */
    char *syslog_ident;    /* default "php-fpm" */
    char *events_mechanism;
    int systemd_interval_ms; /* -1 unset (10 s), 0 off */
    char *php_ini;           /* phpmgr's php_ini = PATH (php.ini to load), NULL: the default */
    char **given;            /* per key: the value last given, NULL when unset */
};

struct config {
    char *path;   /* the main file */
    char *prefix; /* -p PREFIX, or NULL */
    struct global_config global;
    struct pool_config *pools;
    size_t n_pools;
    char **warnings; /* NULL-terminated; "file:line: key: not acted on yet" and the like */
    size_t n_warnings;
    /* NULL-terminated: php-fpm's own NOTICE lines about the configuration, in its words
     * ("[pool www] pm.start_servers is not set. It's been set to 2.") */
    char **notices;
    size_t n_notices;
    char **files; /* NULL-terminated: every file read, the main file first, then includes */
    size_t n_files;
};

/* Load and validate. On failure returns -1 with a one-line message in err ("FILE:LINE: KEY: why")
 * and *out left empty; on success 0 and *out owns all memory until config_free() (warnings and
 * files are then never NULL). Relative paths are resolved as php-fpm resolves them: pid and
 * error_log under prefix (-p), else PHP's compiled-in PHP_LOCALSTATEDIR (/var); unix listen
 * sockets, slowlog, access.log, chdir, chroot and the php.ini path values php-fpm expands
 * (error_log, extension_dir, ...) under the pool's prefix =, else prefix, else PHP_PREFIX (/usr).
 * Relative include globs are taken under prefix when given, else from the including file's
 * directory; phpmgr's own path keys (http.listen sockets, worker.bootstrap) under the pool's
 * prefix or prefix when there is one, else as written. prefix may be NULL.
 * As root, each pool's user and group are resolved, and listen.owner and listen.group must
 * exist, as php-fpm checks them; those failures are php-fpm's own message, with no file:line.
 * Not thread-safe (getenv, glob's error callback). */
int config_load(const char *path, const char *prefix, struct config *out, char *err, size_t errlen);
void config_free(struct config *cfg);

/* The value key was last given in the files for pool (NULL: [global]), after PHP's INI scanning
 * and $pool expansion, before any other processing; NULL when no file set it. Array keys
 * (env[], php_value[], ...) are not covered. */
const char *config_given(const struct config *cfg, const struct pool_config *pool, const char *key);

/* The scalar keys of [global] (pool 0) or of a pool section (pool 1), for code that compares two
 * configurations field by field (reload.c): the i-th key's name, the type of its field and where
 * it is in struct global_config / struct pool_config. 0, or -1 past the last key. Array keys
 * (env[], php_value[], ...) are not among them. */
enum config_field_type {
    CONFIG_FIELD_STR,  /* char *, NULL when unset */
    CONFIG_FIELD_INT,  /* int (enums too) */
    CONFIG_FIELD_LL,   /* long long */
    CONFIG_FIELD_LIST, /* char **, NULL-terminated, or NULL */
};
struct config_field {
    const char *name;
    enum config_field_type type;
    size_t offset;
};
int config_field_at(int pool, size_t i, struct config_field *out);

/* Parse php-fpm's times ("30", "30s", "5m", "1h", "2d"; also "250ms") into ms. -1 on bad input. */
long long config_parse_time_ms(const char *value);
/* Parse sizes ("8M", "16k", "1G", "123") into bytes. -1 on bad input. */
long long config_parse_size(const char *value);

#endif
