/* The SAPI module ("fpm-fcgi", so OPcache enables itself and applications see php-fpm) and the
 * "cgi-fcgi" PHP module php-fpm registers (its ini entries and functions), plus engine startup
 * in the master before any fork. */
#include "phpw.h"
#include "phpw_int.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "SAPI.h"
#include "build-defs.h"
#include "ext/standard/info.h"
#include "php_ini.h"
#include "php_ini_builder.h"
#include "php_main.h"
#include "php_variables.h"
#include "zend_ini.h"
#include "zend.h"
#include "zend_extensions.h"

struct phpw_cgi_globals phpw_cgi;
bool phpw_in_worker;

static bool engine_started;
static char exe_path[PATH_MAX];

/* ---- the "cgi-fcgi" module: php-fpm's ini entries, PHPMGR_VERSION, functions ---- */

/* Same names, defaults and change levels as php-fpm's PHP_INI_BEGIN block, so php.ini files
 * written for php-fpm mean the same here. */
PHP_INI_BEGIN()
STD_PHP_INI_BOOLEAN("cgi.rfc2616_headers", "0", PHP_INI_ALL, OnUpdateBool, rfc2616_headers,
                    struct phpw_cgi_globals, phpw_cgi)
STD_PHP_INI_BOOLEAN("cgi.nph", "0", PHP_INI_ALL, OnUpdateBool, nph, struct phpw_cgi_globals,
                    phpw_cgi)
STD_PHP_INI_BOOLEAN("cgi.force_redirect", "1", PHP_INI_SYSTEM, OnUpdateBool, force_redirect,
                    struct phpw_cgi_globals, phpw_cgi)
STD_PHP_INI_ENTRY("cgi.redirect_status_env", NULL, PHP_INI_SYSTEM, OnUpdateString,
                  redirect_status_env, struct phpw_cgi_globals, phpw_cgi)
STD_PHP_INI_BOOLEAN("cgi.fix_pathinfo", "1", PHP_INI_SYSTEM, OnUpdateBool, fix_pathinfo,
                    struct phpw_cgi_globals, phpw_cgi)
STD_PHP_INI_BOOLEAN("cgi.discard_path", "0", PHP_INI_SYSTEM, OnUpdateBool, discard_path,
                    struct phpw_cgi_globals, phpw_cgi)
STD_PHP_INI_BOOLEAN("fastcgi.logging", "1", PHP_INI_SYSTEM, OnUpdateBool, fcgi_logging,
                    struct phpw_cgi_globals, phpw_cgi)
STD_PHP_INI_ENTRY("fastcgi.error_header", NULL, PHP_INI_SYSTEM, OnUpdateString, error_header,
                  struct phpw_cgi_globals, phpw_cgi)
STD_PHP_INI_ENTRY("fpm.config", NULL, PHP_INI_SYSTEM, OnUpdateString, fpm_config,
                  struct phpw_cgi_globals, phpw_cgi)
PHP_INI_END()

static void user_config_cache_entry_dtor(zval *el)
{
    struct phpw_user_config *entry = Z_PTR_P(el);
    zend_hash_destroy(entry->user_config);
    free(entry->user_config);
    free(entry);
}

static PHP_MINIT_FUNCTION(phpmgr)
{
    (void)type;
    phpw_cgi.rfc2616_headers = 0;
    phpw_cgi.nph = 0;
    phpw_cgi.force_redirect = 1;
    phpw_cgi.redirect_status_env = NULL;
    phpw_cgi.fix_pathinfo = 1;
    phpw_cgi.discard_path = 0;
    phpw_cgi.fcgi_logging = 1;
    phpw_cgi.error_header = NULL;
    phpw_cgi.fpm_config = NULL;
    zend_hash_init(&phpw_cgi.user_config_cache, 0, NULL, user_config_cache_entry_dtor, 1);
    REGISTER_INI_ENTRIES();
    REGISTER_STRING_CONSTANT("PHPMGR_VERSION", PHPMGR_VERSION_STRING, CONST_CS | CONST_PERSISTENT);
    return SUCCESS;
}

static PHP_MSHUTDOWN_FUNCTION(phpmgr)
{
    (void)type;
    zend_hash_destroy(&phpw_cgi.user_config_cache);
    UNREGISTER_INI_ENTRIES();
    return SUCCESS;
}

static PHP_MINFO_FUNCTION(phpmgr)
{
    (void)zend_module;
    php_info_print_table_start();
    php_info_print_table_row(2, "php-fpm", "active");
    php_info_print_table_row(2, "phpmgr", PHPMGR_VERSION_STRING);
    php_info_print_table_end();
    DISPLAY_INI_ENTRIES();
}

/* Named "cgi-fcgi" like php-fpm's module, so extension_loaded('cgi-fcgi') answers the same. */
static zend_module_entry phpw_module_entry = {
    STANDARD_MODULE_HEADER,
    "cgi-fcgi",
    phpw_functions,
    PHP_MINIT(phpmgr),
    PHP_MSHUTDOWN(phpmgr),
    NULL,
    NULL,
    PHP_MINFO(phpmgr),
    PHPMGR_VERSION_STRING,
    STANDARD_MODULE_PROPERTIES,
};

/* php-fpm is built without pcntl; Debian's libphp (embed) has it built in. An app must find the
 * same functions as under php-fpm, and a worker forking PHP processes behind the master's back is
 * not something php-fpm allows: drop the module before modules start. */
static int register_builtin_extensions_like_fpm(void)
{
    if (php_register_internal_extensions() == FAILURE) return FAILURE;
    zend_module_entry *m = zend_hash_str_find_ptr(&module_registry, "pcntl", sizeof("pcntl") - 1);
    if (m != NULL) {
        if (m->functions) zend_unregister_functions(m->functions, -1, NULL);
        zend_hash_str_del(&module_registry, "pcntl", sizeof("pcntl") - 1);
    }
    return SUCCESS;
}

static int phpw_sapi_startup(sapi_module_struct *module)
{
    php_register_internal_extensions_func = register_builtin_extensions_like_fpm;
    return php_module_startup(module, &phpw_module_entry);
}

sapi_module_struct phpw_sapi_module = {
    "fpm-fcgi",                   /* name: a contract, see DESIGN.md */
    "FPM/FastCGI (phpmgr)",       /* pretty name */
    phpw_sapi_startup,            /* startup */
    php_module_shutdown_wrapper,  /* shutdown */
    phpw_sapi_activate,           /* activate */
    phpw_sapi_deactivate,         /* deactivate */
    phpw_sapi_ub_write,           /* unbuffered write */
    phpw_sapi_flush,              /* flush */
    NULL,                         /* get uid */
    phpw_sapi_getenv,             /* getenv */
    php_error,                    /* error handler */
    NULL,                         /* header handler */
    phpw_sapi_send_headers,       /* send headers handler */
    NULL,                         /* send header handler */
    phpw_sapi_read_post,          /* read POST data */
    phpw_sapi_read_cookies,       /* read Cookies */
    phpw_sapi_register_variables, /* register server variables */
    phpw_sapi_log_message,        /* log message */
    phpw_sapi_get_request_time,   /* get request time */
    NULL,                         /* child terminate */
    STANDARD_SAPI_MODULE_PROPERTIES,
};

int phpw_engine_start(const struct phpw_engine_opts *opts, char *err, size_t errlen)
{
    if (engine_started) {
        snprintf(err, errlen, "the PHP engine is already started");
        return -1;
    }

    zend_signal_startup();
    sapi_startup(&phpw_sapi_module);

    /* As php-fpm: never read a php.ini from the current directory. */
    phpw_sapi_module.php_ini_ignore_cwd = 1;
    phpw_sapi_module.php_ini_ignore = opts && opts->no_php_ini ? 1 : 0;
    phpw_sapi_module.php_ini_path_override = NULL;
    if (opts && opts->php_ini_path) {
        phpw_sapi_module.php_ini_path_override = strdup(opts->php_ini_path);
        if (phpw_sapi_module.php_ini_path_override == NULL) {
            snprintf(err, errlen, "cannot start PHP: out of memory");
            sapi_shutdown();
            return -1;
        }
    }

    /* -d KEY=VALUE, parsed by PHP's own builder exactly as php-fpm's -d. */
    phpw_sapi_module.ini_entries = NULL;
    if (opts && opts->n_defines > 0) {
        struct php_ini_builder b;
        php_ini_builder_init(&b);
        for (size_t i = 0; i < opts->n_defines; i++) {
            php_ini_builder_define(&b, opts->defines[i]);
            if (b.value == NULL) {
                snprintf(err, errlen, "cannot start PHP: out of memory");
                free(phpw_sapi_module.php_ini_path_override);
                phpw_sapi_module.php_ini_path_override = NULL;
                sapi_shutdown();
                return -1;
            }
        }
        phpw_sapi_module.ini_entries = php_ini_builder_finish(&b);
    }

    /* php-fpm passes argv[0]: PHP_BINARY and the php.ini search path use it. */
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof(exe_path) - 1);
    if (n > 0) {
        exe_path[n] = '\0';
        phpw_sapi_module.executable_location = exe_path;
    }
    phpw_sapi_module.additional_functions = NULL;

    if (phpw_sapi_module.startup(&phpw_sapi_module) == FAILURE) {
        snprintf(err, errlen,
                 "cannot start PHP (php_module_startup failed; check php.ini%s%s and -d values)",
                 opts && opts->php_ini_path ? " " : "",
                 opts && opts->php_ini_path ? opts->php_ini_path : "");
        free(phpw_sapi_module.ini_entries);
        phpw_sapi_module.ini_entries = NULL;
        free(phpw_sapi_module.php_ini_path_override);
        phpw_sapi_module.php_ini_path_override = NULL;
        sapi_shutdown();
        return -1;
    }
    engine_started = true;
    return 0;
}

void phpw_engine_stop(void)
{
    if (!engine_started) return;
    engine_started = false;
    SG(server_context) = NULL;
    php_module_shutdown();
    sapi_shutdown();
    free(phpw_sapi_module.ini_entries);
    phpw_sapi_module.ini_entries = NULL;
    free(phpw_sapi_module.php_ini_path_override);
    phpw_sapi_module.php_ini_path_override = NULL;
}

void phpw_worker_exit(int code)
{
    /* php_module_shutdown() in a worker only frees memory the process shares copy-on-write with
     * the master (each page written is copied and its stale TLB entries flushed) and unloads
     * extensions (munmap): measured ~70 ms of a retiring worker's life under load, for nothing
     * anyone sees once the process is gone. What others can see is still done: persistent
     * resources (pconnect database sessions) close with their own goodbye, as in zend_shutdown(),
     * and stdio is flushed. OPcache's shared memory stays consistent: a request's locks are
     * released when it ends, and the lock file's fcntl locks go with the process. */
    if (engine_started && zend_hash_num_elements(&EG(persistent_list)) > 0)
        zend_hash_graceful_reverse_destroy(&EG(persistent_list));
    fflush(NULL);
    _exit(code);
}

const char *phpw_php_version(void)
{
    /* the library's version, which may differ from the headers' PHP_VERSION */
    const char *v = engine_started ? zend_get_module_version("standard") : NULL;
    return v ? v : PHP_VERSION;
}

const char *phpw_zend_version(void)
{
    return get_zend_version();
}

const char *phpw_build_prefix(void)
{
    return PHP_PREFIX;
}

const char *phpw_build_localstatedir(void)
{
    return PHP_LOCALSTATEDIR;
}

static int module_name_cmp(Bucket *f, Bucket *s)
{
    return strcasecmp(((zend_module_entry *)Z_PTR(f->val))->name,
                      ((zend_module_entry *)Z_PTR(s->val))->name);
}

static int extension_name_cmp(const zend_llist_element **f, const zend_llist_element **s)
{
    return strcmp(((zend_extension *)(*f)->data)->name, ((zend_extension *)(*s)->data)->name);
}

static void print_extension_name(void *ext)
{
    printf("%s\n", ((zend_extension *)ext)->name);
}

/* php-fpm's print_modules() and print_extensions() */
int phpw_print_modules(void)
{
    HashTable sorted;
    zend_module_entry *module;
    zend_hash_init(&sorted, 50, NULL, NULL, 1);
    zend_hash_copy(&sorted, &module_registry, NULL);
    zend_hash_sort(&sorted, module_name_cmp, 0);
    printf("[PHP Modules]\n");
    ZEND_HASH_MAP_FOREACH_PTR(&sorted, module)
    {
        printf("%s\n", module->name);
    }
    ZEND_HASH_FOREACH_END();
    zend_hash_destroy(&sorted);
    printf("\n[Zend Modules]\n");
    zend_llist exts;
    zend_llist_copy(&exts, &zend_extensions);
    exts.dtor = NULL;
    zend_llist_sort(&exts, extension_name_cmp);
    zend_llist_apply(&exts, print_extension_name);
    zend_llist_destroy(&exts);
    printf("\n");
    return 0;
}

int phpw_print_info(void)
{
    sapi_module.phpinfo_as_text = 1; /* sapi_startup() took a copy of phpw_sapi_module */
    if (php_request_startup() == FAILURE) return -1;
    SG(headers_sent) = 1;
    SG(request_info).no_headers = 1;
    php_print_info(PHP_INFO_ALL);
    php_request_shutdown(NULL);
    return 0;
}
