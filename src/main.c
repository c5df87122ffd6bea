/* Command line: phpmgr's own commands (start, stop, reload, restart, status, test, version) and,
 * when invoked with no command, php-fpm's flags, so units and scripts written for php-fpm work. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "config_dump.h"
#include "log.h"
#include "master.h"
#include "version.h"

#define DEFAULT_CONFIG "/etc/phpmgr/phpmgr.ini"
#define FPM_DEFAULT_CONFIG "/etc/php/8.2/fpm/php-fpm.conf"
#define MAX_DEFINES 128

struct cli {
    const char *argv0;
    const char *command; /* NULL: php-fpm compatible mode */
    const char *config;
    const char *prefix;
    const char *pid_override;
    int force_daemon; /* -D: 1, -F: 0 (the last one given wins, as in php-fpm), else -1 */
    int force_stderr, allow_root, test, version, help;
    int fpm_usage; /* php-fpm mode: print php-fpm's usage; 1 for -h (exit 0), 2 on a bad option */
    char php_only; /* php-fpm mode: -m or -i, PHP's module list or phpinfo() */
    struct phpw_engine_opts engine;
    const char *defines[MAX_DEFINES];
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: phpmgr start [-c FILE] [-F] [-R] [-O] [-p PREFIX] [--php-ini FILE] [-n] "
            "[-d KEY=VALUE]\n"
            "       phpmgr stop|reload|restart|status [-c FILE]\n"
            "       phpmgr test [-t] -c FILE\n"
            "       phpmgr version|help\n"
            "php-fpm compatible: phpmgr [-y FILE] [-c PHP_INI] [-n] [-d KEY=VALUE] [-p PREFIX]\n"
            "       [-g PID_FILE] [-R] [-F|-D] [-O] [-t[t]] [-v] [-m] [-i] [-h]\n"
            "  -c FILE   with a command: the phpmgr/php-fpm config (-y is an alias);\n"
            "            without one (php-fpm mode): the php.ini file or directory\n"
            "  -F        stay in the foreground     -D  daemonize\n"
            "  -R        allow workers to run as root\n"
            "  -O        log to stderr\n"
            "  -t        test the configuration and exit (twice, or with test: also print it)\n"
            "(phpmgr -h prints php-fpm's own usage)\n");
}

/* php-fpm's php_cgi_usage(), with this program's name: on stdout, as php-fpm prints it. */
static void fpm_usage(const char *argv0)
{
    const char *slash = strrchr(argv0, '/');
    printf("Usage: %s [-n] [-e] [-h] [-i] [-m] [-v] [-t] [-p <prefix>] [-g <pid>] [-c <file>] [-d "
           "foo[=bar]] [-y <file>] [-D] [-F [-O]]\n"
           "  -c <path>|<file> Look for php.ini file in this directory\n"
           "  -n               No php.ini file will be used\n"
           "  -d foo[=bar]     Define INI entry foo with value 'bar'\n"
           "  -e               Generate extended information for debugger/profiler\n"
           "  -h               This help\n"
           "  -i               PHP information\n"
           "  -m               Show compiled in modules\n"
           "  -v               Version number\n"
           "  -p, --prefix <dir>\n"
           "                   Specify alternative prefix path to FastCGI process manager "
           "(default: %s).\n"
           "  -g, --pid <file>\n"
           "                   Specify the PID file location.\n"
           "  -y, --fpm-config <file>\n"
           "                   Specify alternative path to FastCGI process manager config file.\n"
           "  -t, --test       Test FPM configuration and exit\n"
           "  -D, --daemonize  force to run in background, and ignore daemonize option from config "
           "file\n"
           "  -F, --nodaemonize\n"
           "                   force to stay in foreground, and ignore daemonize option from "
           "config file\n"
           "  -O, --force-stderr\n"
           "                   force output to stderr in nodaemonize even if stderr is not a TTY\n"
           "  -R, --allow-to-run-as-root\n"
           "                   Allow pool to run as root (disabled by default)\n",
           slash ? slash + 1 : argv0, phpw_build_prefix());
}

#define OPT_PHP_INI 256

static int parse_args(int argc, char **argv, struct cli *c)
{
    memset(c, 0, sizeof(*c));
    c->argv0 = argv[0] ? argv[0] : "phpmgr";
    c->engine.defines = c->defines;
    c->force_daemon = -1;
    int first = 1;
    if (argc > 1 && argv[1][0] != '-') {
        c->command = argv[1];
        first = 2;
    }
    /* php-fpm's long options; --php-ini is -c in both modes' php.ini sense */
    static const struct option longopts[] = {
        {"fpm-config", required_argument, NULL, 'y'},
        {"php-ini", required_argument, NULL, OPT_PHP_INI},
        {"prefix", required_argument, NULL, 'p'},
        {"pid", required_argument, NULL, 'g'},
        {"nodaemonize", no_argument, NULL, 'F'},
        {"daemonize", no_argument, NULL, 'D'},
        {"force-stderr", no_argument, NULL, 'O'},
        {"allow-to-run-as-root", no_argument, NULL, 'R'},
        {"test", no_argument, NULL, 't'},
        {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"usage", no_argument, NULL, 'h'},
        {"no-php-ini", no_argument, NULL, 'n'},
        {"define", required_argument, NULL, 'd'},
        {"profile-info", no_argument, NULL, 'e'},
        {"modules", no_argument, NULL, 'm'},
        {"info", no_argument, NULL, 'i'},
        {NULL, 0, NULL, 0},
    };
    int fpm = c->command == NULL;
    /* php-fpm mode: options act in order, as php-fpm's: -v, -h, -m, -i and a bad option end the
     * parsing there, and getopt prints nothing (php-fpm prints only its usage) */
    opterr = !fpm;
    optind = first;
    int opt;
    while ((opt = getopt_long(argc, argv, "y:c:p:g:d:nFDORtvhemi", longopts, NULL)) != -1) {
        switch (opt) {
        case 'y': c->config = optarg; break;
        case 'c':
            if (c->command)
                c->config = optarg;
            else
                c->engine.php_ini_path = optarg;
            break;
        case OPT_PHP_INI:
            c->engine.php_ini_path = optarg;
            break;
        case 'p': c->prefix = optarg; break;
        case 'g': c->pid_override = optarg; break;
        case 'n': c->engine.no_php_ini = 1; break;
        case 'd':
            if (c->engine.n_defines >= MAX_DEFINES) {
                fprintf(stderr, "phpmgr: too many -d options\n");
                return -1;
            }
            c->defines[c->engine.n_defines++] = optarg;
            break;
        case 'F':
            c->force_daemon = 0;
            break;
        case 'D': c->force_daemon = 1; break;
        case 'O': c->force_stderr = 1; break;
        case 'R': c->allow_root = 1; break;
        case 't': c->test++; break;
        case 'e': /* php-fpm: extended info for debuggers; nothing to do here */
            break;
        case 'v':
            c->version = 1;
            if (fpm) return 0;
            break;
        case 'h':
            c->help = 1;
            if (fpm) {
                c->fpm_usage = 1;
                return 0;
            }
            break;
        case 'm':
        case 'i':
            if (fpm) {
                c->php_only = (char)opt;
                return 0;
            }
            usage(stderr);
            return -1;
        default:
            if (fpm) { /* php-fpm: -? is help; anything else its usage, exit 64 */
                c->fpm_usage = optopt == '?' ? 1 : 2;
                return 0;
            }
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        if (fpm) { /* php-fpm takes no other argument */
            c->fpm_usage = 2;
            return 0;
        }
        fprintf(stderr, "phpmgr: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return -1;
    }
    if (c->command && strcmp(c->command, "test") == 0) c->test++;
    if (c->config == NULL) {
        /* php-fpm: PREFIX/etc/php-fpm.conf with -p, else its compiled-in path */
        static char under_prefix[4096];
        const char *env = getenv("PHPMGR_CONFIG");
        if (env)
            c->config = env;
        else if (c->command)
            c->config = DEFAULT_CONFIG;
        else if (c->prefix && *c->prefix &&
                 snprintf(under_prefix, sizeof(under_prefix), "%s/etc/php-fpm.conf", c->prefix) <
                     (int)sizeof(under_prefix))
            c->config = under_prefix;
        else
            c->config = FPM_DEFAULT_CONFIG;
    }
    return 0;
}

static int load(const struct cli *c, struct config *cfg)
{
    char err[1024];
    if (config_load(c->config, c->prefix, cfg, err, sizeof(err)) < 0) {
        log_error("%s", err);
        log_error("FPM initialization failed");
        return -1;
    }
    /* php-fpm: -g is the pid file unless the configuration names one; relative, it goes under
     * the prefix, else PHP's compiled-in /var */
    if (c->pid_override && *c->pid_override && !config_given(cfg, NULL, "pid")) {
        const char *dir = c->prefix && *c->prefix ? c->prefix : phpw_build_localstatedir();
        char *pid = NULL;
        if (c->pid_override[0] == '/')
            pid = strdup(c->pid_override);
        else if (asprintf(&pid, "%s/%s", dir, c->pid_override) < 0)
            pid = NULL;
        if (pid == NULL) {
            log_error("out of memory");
            config_free(cfg);
            return -1;
        }
        free(cfg->global.pid_file);
        cfg->global.pid_file = pid;
    }
    return 0;
}

/* php-fpm refuses, as root and without -R, a pool with no user, before any other pool check. */
static int check_user_defined(const struct cli *c, const struct config *cfg)
{
    if (geteuid() != 0 || c->allow_root) return 0;
    for (size_t i = 0; i < cfg->n_pools; i++) {
        if (cfg->pools[i].user) continue;
        log_alert("[pool %s] user has not been defined", cfg->pools[i].name);
        log_error("failed to post process the configuration");
        log_error("FPM initialization failed");
        return -1;
    }
    return 0;
}

/* php-fpm -v: its banner, PHP's engine lines (OPcache's when php.ini loads it), then phpmgr's. */
static int cmd_version(const struct cli *c)
{
    char err[256];
    if (phpw_engine_start(&c->engine, err, sizeof(err)) < 0) {
        printf("phpmgr %s\n", PHPMGR_VERSION_STRING);
        fprintf(stderr, "phpmgr: %s\n", err);
        return 70; /* php-fpm's FPM_EXIT_SOFTWARE */
    }
    printf("PHP %s (fpm-fcgi) (built: %s %s)\nCopyright (c) The PHP Group\n%sphpmgr %s\n",
           phpw_php_version(), __DATE__, __TIME__, phpw_zend_version(), PHPMGR_VERSION_STRING);
    fflush(stdout);
    phpw_engine_stop();
    return 0;
}

/* php-fpm -m and -i: PHP's module list, phpinfo() as text. */
static int cmd_php_only(const struct cli *c)
{
    char err[256];
    if (phpw_engine_start(&c->engine, err, sizeof(err)) < 0) {
        fprintf(stderr, "phpmgr: %s\n", err);
        return 70;
    }
    int rc = c->php_only == 'm' ? phpw_print_modules() : phpw_print_info();
    fflush(stdout);
    phpw_engine_stop();
    return rc < 0 ? 70 : 0;
}

/* -t: php-fpm's checks and lines; -tt (or test -t) also prints the configuration as php-fpm's
 * -tt does. Lines below the config's log_level are not printed, as php-fpm's are not. */
static int cmd_test(const struct cli *c)
{
    struct config cfg;
    if (load(c, &cfg) < 0) return 78;
    log_set_level(cfg.global.log_level);
    if (check_user_defined(c, &cfg) < 0) {
        config_free(&cfg);
        return 78;
    }
    /* php-fpm's order: what reading the files found, then its post-processing notices */
    for (size_t i = 0; i < cfg.n_warnings; i++)
        log_warning("%s", cfg.warnings[i]);
    for (size_t i = 0; i < cfg.n_notices; i++)
        log_notice("%s", cfg.notices[i]);
    if (c->test > 1) config_dump(&cfg, c->force_daemon);
    log_notice("configuration file %s test is successful\n", c->config);
    config_free(&cfg);
    return 0;
}

/* The pid of a running master from the pid file, or -1. */
static pid_t running_pid(const struct config *cfg)
{
    if (cfg->global.pid_file == NULL) return -1;
    FILE *f = fopen(cfg->global.pid_file, "r");
    if (f == NULL) return -1;
    long pid = -1;
    if (fscanf(f, "%ld", &pid) != 1) pid = -1;
    fclose(f);
    if (pid <= 0 || (kill((pid_t)pid, 0) < 0 && errno == ESRCH)) return -1;
    return (pid_t)pid;
}

static int signal_master(const struct cli *c, int sig, int wait_exit)
{
    struct config cfg;
    if (load(c, &cfg) < 0) return 78;
    pid_t pid = running_pid(&cfg);
    if (pid < 0) {
        fprintf(stderr, "phpmgr: not running (no live pid in %s)\n",
                cfg.global.pid_file ? cfg.global.pid_file : "(no pid file configured)");
        config_free(&cfg);
        return 1;
    }
    if (kill(pid, sig) < 0) {
        fprintf(stderr, "phpmgr: kill(%d): %s\n", (int)pid, strerror(errno));
        config_free(&cfg);
        return 1;
    }
    int rc = 0;
    if (wait_exit) {
        /* Graceful stop: wait for the master to go, bounded. */
        int limit_ms = (cfg.global.process_control_timeout_ms > 0
                            ? cfg.global.process_control_timeout_ms
                            : 60000) + 5000;
        struct timespec ts = {0, 50 * 1000000};
        int waited = 0;
        while (kill(pid, 0) == 0 && waited < limit_ms) {
            nanosleep(&ts, NULL);
            waited += 50;
        }
        if (kill(pid, 0) == 0) {
            fprintf(stderr, "phpmgr: pid %d still running after %d ms\n", (int)pid, limit_ms);
            rc = 1;
        }
    }
    config_free(&cfg);
    return rc;
}

/* phpmgr reload: a file that does not load is said here and nothing is sent, so the master keeps
 * its configuration and workers (it would refuse the file too, and log why). */
static int cmd_reload(const struct cli *c)
{
    struct config cfg;
    char err[1024];
    if (config_load(c->config, c->prefix, &cfg, err, sizeof(err)) < 0) {
        log_error("reload failed: %s; keeping the current configuration (nothing was sent to the "
                  "master)",
                  err);
        return 78;
    }
    config_free(&cfg);
    return signal_master(c, SIGUSR1, 0);
}

static int cmd_start(const struct cli *c)
{
    struct config cfg;
    if (load(c, &cfg) < 0) return 78;
    if (check_user_defined(c, &cfg) < 0) {
        config_free(&cfg);
        return 78;
    }
    struct master_opts o;
    memset(&o, 0, sizeof(o));
    o.daemonize = c->force_daemon >= 0 ? c->force_daemon : cfg.global.daemonize;
    o.force_stderr = c->force_stderr;
    o.allow_root = c->allow_root;
    o.engine = c->engine;
    if (o.engine.php_ini_path == NULL) o.engine.php_ini_path = cfg.global.php_ini;
    int rc = master_run(&cfg, &o);
    config_free(&cfg);
    return rc;
}

static int cmd_status(const struct cli *c)
{
    struct config cfg;
    if (load(c, &cfg) < 0) return 78;
    pid_t pid = running_pid(&cfg);
    if (pid > 0)
        printf("phpmgr is running, pid %d\n", (int)pid);
    else
        printf("phpmgr is not running\n");
    config_free(&cfg);
    return pid > 0 ? 0 : 3;
}

int main(int argc, char **argv)
{
    struct cli c;
    if (parse_args(argc, argv, &c) < 0) return 64;
    if (c.command == NULL) {
        if (c.fpm_usage) {
            fpm_usage(c.argv0);
            return c.fpm_usage == 1 ? 0 : 64;
        }
        if (c.php_only) return cmd_php_only(&c);
        if (c.version) return cmd_version(&c);
        if (c.test) return cmd_test(&c);
        return cmd_start(&c);
    }
    if (c.help || strcmp(c.command, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(c.command, "start") == 0) return cmd_start(&c);
    if (strcmp(c.command, "stop") == 0) return signal_master(&c, SIGQUIT, 1);
    if (strcmp(c.command, "reload") == 0) return cmd_reload(&c);
    if (strcmp(c.command, "restart") == 0) {
        int rc = signal_master(&c, SIGQUIT, 1);
        if (rc != 0 && rc != 1) return rc;
        return cmd_start(&c);
    }
    if (strcmp(c.command, "status") == 0) return cmd_status(&c);
    if (strcmp(c.command, "test") == 0) return cmd_test(&c);
    if (strcmp(c.command, "version") == 0) return cmd_version(&c);
    fprintf(stderr, "phpmgr: unknown command '%s'\n", c.command);
    usage(stderr);
    return 64;
}
