/* php_value / php_admin_value and friends, the way php-fpm applies them (fpm_php.c), except that
 * the per-request PHP_VALUE / PHP_ADMIN_VALUE are undone at the end of the request instead of
 * staying in the worker for every later request. */
#include "phpw_int.h"

#include <stdlib.h>
#include <string.h>

#include "../src/log.h"
#include "ext/standard/dl.h"
#include "php_ini.h"
#include "zend_ini.h"
#include "zend_ini_scanner.h"

/* php-fpm's fpm_php_zend_ini_alter_master(): replace the master value, so it holds for every
 * request of this worker. An unknown directive fails; a value on_modify refuses is ignored. */
static int alter_master(const char *name, const char *value, int mode)
{
    zend_ini_entry *e = zend_hash_str_find_ptr(EG(ini_directives), name, strlen(name));
    if (e == NULL) return FAILURE;
    zend_string *dup = zend_string_init(value, strlen(value), 1);
    if (!e->on_modify || e->on_modify(e, dup, e->mh_arg1, e->mh_arg2, e->mh_arg3,
                                      ZEND_INI_STAGE_ACTIVATE) == SUCCESS) {
        e->value = dup;
        /* user values keep their level so a .user.ini may still change them */
        if (mode == ZEND_INI_SYSTEM) e->modifiable = ZEND_INI_SYSTEM;
    } else {
        zend_string_release_ex(dup, 1);
    }
    return SUCCESS;
}

/* Call disable(name, len) for each name of a " ,"-separated list (php-fpm's fpm_php_disable). */
static void disable_each(char *list, zend_result (*disable)(const char *, size_t))
{
    char *s = NULL;
    for (char *e = list; *e; e++) {
        if (*e == ' ' || *e == ',') {
            if (s) {
                *e = '\0';
                disable(s, (size_t)(e - s));
                s = NULL;
            }
        } else if (!s) {
            s = e;
        }
    }
    if (s) disable(s, strlen(s));
}

int phpw_ini_apply_master(const char *name, const char *value, int admin)
{
    if (strcmp(name, "extension") == 0 && *value) {
        zval zv;
        ZVAL_UNDEF(&zv);
        /* a module loaded for the worker's life: its strings must be persistent */
        zend_interned_strings_switch_storage(0);
        php_dl(value, MODULE_PERSISTENT, &zv, 1);
        zend_interned_strings_switch_storage(1);
        return Z_TYPE(zv) == IS_TRUE ? 2 : 0;
    }

    if (alter_master(name, value, admin ? ZEND_INI_SYSTEM : ZEND_INI_USER) == FAILURE) return -1;

    if (strcmp(name, "disable_functions") == 0 && *value) {
        zend_disable_functions(value);
    } else if (strcmp(name, "disable_classes") == 0 && *value) {
        char *v = strdup(value);
        if (v == NULL) return -1;
        PG(disable_classes) = v; /* kept: PHP reads it for error messages */
        char *work = strdup(value);
        if (work == NULL) return -1;
        disable_each(work, zend_disable_class);
        free(work);
    }
    return 1;
}

/* One "name = value" line of PHP_VALUE / PHP_ADMIN_VALUE (php-fpm's fastcgi_ini_parser). */
static void request_ini_cb(zval *arg1, zval *arg2, zval *arg3, int callback_type, void *arg)
{
    (void)arg3;
    int mode = *(int *)arg;
    if (!arg1) return;
    if (callback_type != ZEND_INI_PARSER_ENTRY) {
        phpw_log(LOG_LVL_ERROR,
                 "Passing INI directive through FastCGI: only classic entries are allowed");
        return;
    }
    if (Z_TYPE_P(arg1) != IS_STRING || Z_STRLEN_P(arg1) == 0) {
        phpw_log(LOG_LVL_ERROR, "Passing INI directive through FastCGI: empty key");
        return;
    }
    const char *key = Z_STRVAL_P(arg1);
    if (!arg2 || Z_TYPE_P(arg2) != IS_STRING) {
        phpw_log(LOG_LVL_ERROR, "Passing INI directive through FastCGI: empty value for key '%s'",
                 key);
        return;
    }
    /* php-fpm applies these to the worker for good (a loaded extension, removed functions); a
     * request must not change later requests, so they are refused here. */
    if (strcmp(key, "extension") == 0 || strcmp(key, "disable_functions") == 0 ||
        strcmp(key, "disable_classes") == 0) {
        phpw_log(LOG_LVL_ERROR,
                 "Passing INI directive through FastCGI: '%s' cannot be set for one request "
                 "(use php_admin_value in the pool)",
                 key);
        return;
    }
    /* Like php-fpm, any directive may be set this way, whatever its level (force_change);
     * admin values become PHP_INI_SYSTEM for this request. zend_deactivate() restores both the
     * value and the level when the request ends. */
    if (zend_alter_ini_entry_ex(Z_STR_P(arg1), Z_STR_P(arg2),
                                mode == ZEND_INI_SYSTEM ? ZEND_INI_SYSTEM : ZEND_INI_USER,
                                ZEND_INI_STAGE_ACTIVATE, 1) == FAILURE) {
        /* php-fpm only fails on an unknown directive; a refused value is silently kept out */
        if (zend_hash_find_ptr(EG(ini_directives), Z_STR_P(arg1)) == NULL) {
            phpw_log(LOG_LVL_ERROR, "Passing INI directive through FastCGI: unable to set '%s'",
                     key);
        }
    }
}

void phpw_ini_apply_request(const char *ini, int admin)
{
    int mode = admin ? ZEND_INI_SYSTEM : ZEND_INI_USER;
    size_t len = strlen(ini);
    char *tmp = emalloc(len + 2); /* the ini scanner wants a final newline */
    memcpy(tmp, ini, len);
    tmp[len] = '\n';
    tmp[len + 1] = '\0';
    zend_parse_ini_string(tmp, 1, ZEND_INI_SCANNER_NORMAL, request_ini_cb, &mode);
    efree(tmp);
}
