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
#include "log.h"
#include "master.h"
#include "version.h"

#define DEFAULT_CONFIG "/etc/phpmgr/phpmgr.ini"
#define FPM_DEFAULT_CONFIG "/etc/php/8.2/fpm/php-fpm.conf"
#define MAX_DEFINES 128

struct cli {
    const char *command; /* NULL: php-fpm compatible mode */
    const char *config;
    const char *prefix;
    const char *pid_override;
    int foreground, force_daemon, force_stderr, allow_root, test, version, help;
    struct phpw_engine_opts engine;
    const char *defines[MAX_DEFINES];
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: phpmgr start [-c FILE] [-F] [-R] [-O] [-p PREFIX] [--php-ini FILE] [-n] "
            "[-d KEY=VALUE]\n"
            "       phpmgr stop|reload|restart|status [-c FILE]\n"
            "       phpmgr test -c FILE\n"
            "       phpmgr version\n"
            "php-fpm compatible: phpmgr [-y FILE] [-c PHP_INI] [-n] [-d KEY=VALUE] [-p PREFIX]\n"
            "       [-g PID_FILE] [-R] [-F|-D] [-O] [-t] [-v] [-h]\n"
            "  -c FILE   with a command: the phpmgr/php-fpm config (-y is an alias);\n"
            "            without one (php-fpm mode): the php.ini file or directory\n"
            "  -F        stay in the foreground     -D  daemonize\n"
            "  -R        allow workers to run as root\n"
            "  -O        log to stderr\n"
            "  -t        test the configuration and exit\n");
}

static int parse_args(int argc, char **argv, struct cli *c)
{
    memset(c, 0, sizeof(*c));
    c->engine.defines = c->defines;
    int first = 1;
    if (argc > 1 && argv[1][0] != '-') {
        c->command = argv[1];
        first = 2;
    }
    static const struct option longopts[] = {
        {"fpm-config", required_argument, NULL, 'y'},
        {"php-ini", required_argument, NULL, 'i'},
        {"prefix", required_argument, NULL, 'p'},
        {"pid", required_argument, NULL, 'g'},
        {"nodaemonize", no_argument, NULL, 'F'},
        {"daemonize", no_argument, NULL, 'D'},
        {"force-stderr", no_argument, NULL, 'O'},
        {"allow-to-run-as-root", no_argument, NULL, 'R'},
        {"test", no_argument, NULL, 't'},
        {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"no-php-ini", no_argument, NULL, 'n'},
        {"define", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    optind = first;
    int opt;
    while ((opt = getopt_long(argc, argv, "y:c:i:p:g:d:nFDORtvh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'y': c->config = optarg; break;
        case 'c':
            if (c->command)
                c->config = optarg;
            else
                c->engine.php_ini_path = optarg;
            break;
        case 'i': c->engine.php_ini_path = optarg; break;
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
        case 'F': c->foreground = 1; break;
        case 'D': c->force_daemon = 1; break;
        case 'O': c->force_stderr = 1; break;
        case 'R': c->allow_root = 1; break;
        case 't': c->test++; break;
        case 'v': c->version = 1; break;
        case 'h': c->help = 1; break;
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "phpmgr: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return -1;
    }
    if (c->config == NULL) {
        const char *env = getenv("PHPMGR_CONFIG");
        c->config = env ? env : c->command ? DEFAULT_CONFIG : FPM_DEFAULT_CONFIG;
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
    if (c->pid_override) {
        free(cfg->global.pid_file);
        cfg->global.pid_file = strdup(c->pid_override);
    }
    return 0;
}

static int cmd_version(void)
{
    struct phpw_engine_opts quiet = {.no_php_ini = 1};
    char err[256];
    printf("phpmgr %s\n", PHPMGR_VERSION_STRING);
    if (phpw_engine_start(&quiet, err, sizeof(err)) == 0) {
        printf("PHP %s (fpm-fcgi)\n", phpw_php_version());
        phpw_engine_stop();
    }
    return 0;
}

static int cmd_test(const struct cli *c)
{
    struct config cfg;
    if (load(c, &cfg) < 0) return 78;
    for (size_t i = 0; i < cfg.n_warnings; i++) log_warning("%s", cfg.warnings[i]);
    log_notice("configuration file %s test is successful", c->config);
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

static int cmd_start(const struct cli *c)
{
    struct config cfg;
    if (load(c, &cfg) < 0) return 78;
    struct master_opts o;
    memset(&o, 0, sizeof(o));
    o.daemonize = c->foreground ? 0 : c->force_daemon ? 1 : cfg.global.daemonize;
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
    if (c.help) {
        usage(stdout);
        return 0;
    }
    if (c.command == NULL) {
        if (c.version) return cmd_version();
        if (c.test) return cmd_test(&c);
        return cmd_start(&c);
    }
    if (strcmp(c.command, "start") == 0) return cmd_start(&c);
    if (strcmp(c.command, "stop") == 0) return signal_master(&c, SIGQUIT, 1);
    if (strcmp(c.command, "reload") == 0) return signal_master(&c, SIGUSR1, 0);
    if (strcmp(c.command, "restart") == 0) {
        int rc = signal_master(&c, SIGQUIT, 1);
        if (rc != 0 && rc != 1) return rc;
        return cmd_start(&c);
    }
    if (strcmp(c.command, "status") == 0) return cmd_status(&c);
    if (strcmp(c.command, "test") == 0) return cmd_test(&c);
    if (strcmp(c.command, "version") == 0) return cmd_version();
    fprintf(stderr, "phpmgr: unknown command '%s'\n", c.command);
    usage(stderr);
    return 64;
}
