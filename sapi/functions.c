/* The PHP functions php-fpm provides (fpm_main.stub.php), with the same signatures, and phpmgr's
 * own (sapi/php/phpmgr.stub.php). */
#include "phpw.h"
#include "phpw_int.h"

#include "SAPI.h"
#include "php_main.h"
#include "php_output.h"
#include "ext/standard/head.h"

/* Flush output and headers, end the client's response (see the protocol in phpw.h), and let the
 * script run on; anything it prints later is discarded. */
static PHP_FUNCTION(fastcgi_finish_request)
{
    ZEND_PARSE_PARAMETERS_NONE();

    struct phpw_req *rq = phpw_current();
    if (rq == NULL || rq->in_bootstrap) RETURN_FALSE;
    /* php-fpm answers a second call with true while its client connection stays open (nginx
     * fastcgi_keep_conn), false once it closed it; the master says which by the request id. */
    if (rq->ended) RETURN_BOOL(rq->fcgx.requestId == PHPW_REQUEST_ID_KEEP_CONN);

    php_output_end_all();
    php_header();
    phpw_end_response(rq, PHPW_APP_STATUS_FINISHED);
    rq->finished_early = true;
    RETURN_TRUE;
}

static void add_request_header(const char *name, size_t name_len, char *value, size_t value_len,
                               zval *arr)
{
    /* PHP's own HTTP_FOO_BAR -> Foo-Bar conversion, the one php-fpm uses */
    sapi_add_request_header(name, (unsigned int)name_len, value, (unsigned int)value_len, arr);
}

/* The request headers from the HTTP_* params (and CONTENT_TYPE / CONTENT_LENGTH), in php-fpm's
 * order. */
static PHP_FUNCTION(apache_request_headers)
{
    ZEND_PARSE_PARAMETERS_NONE();

    array_init(return_value);
    struct phpw_req *rq = phpw_current();
    if (rq == NULL) return;
    for (size_t i = rq->params.n; i-- > 0;) {
        struct phpw_param *e = &rq->params.v[i];
        if (e->value == NULL) continue;
        add_request_header(e->name, e->name_len, e->value, strlen(e->value), return_value);
    }
}

/* php-fpm's array, from the scoreboard the master keeps (sapi/status.c). */
static PHP_FUNCTION(fpm_get_status)
{
    ZEND_PARSE_PARAMETERS_NONE();
    if (phpw_status_export(return_value) < 0) RETURN_FALSE;
}

/* The worker's slot in its pool, from 0: stable across the worker's replacements. */
static PHP_FUNCTION(phpmgr_worker_id)
{
    ZEND_PARSE_PARAMETERS_NONE();
    RETURN_LONG(phpw_worker_id);
}

/* Requests this worker process accepted so far, the current one included. */
static PHP_FUNCTION(phpmgr_request_count)
{
    ZEND_PARSE_PARAMETERS_NONE();
    RETURN_LONG(phpw_request_count());
}

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_phpmgr_handle_request, 0, 1, _IS_BOOL, 0)
ZEND_ARG_TYPE_INFO(0, handler, IS_CALLABLE, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_phpmgr_int, 0, 0, IS_LONG, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_fastcgi_finish_request, 0, 0, _IS_BOOL, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_apache_request_headers, 0, 0, IS_ARRAY, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_MASK_EX(arginfo_fpm_get_status, 0, 0, MAY_BE_ARRAY | MAY_BE_FALSE)
ZEND_END_ARG_INFO()

/* clang-format off */
const zend_function_entry phpw_functions[] = {
    PHP_FE(fastcgi_finish_request, arginfo_fastcgi_finish_request)
    PHP_FE(apache_request_headers, arginfo_apache_request_headers)
    PHP_FALIAS(getallheaders, apache_request_headers, arginfo_apache_request_headers)
    PHP_FE(fpm_get_status, arginfo_fpm_get_status)
    PHP_FE(phpmgr_handle_request, arginfo_phpmgr_handle_request)
    PHP_FALIAS(frankenphp_handle_request, phpmgr_handle_request, arginfo_phpmgr_handle_request)
    PHP_FE(phpmgr_worker_id, arginfo_phpmgr_int)
    PHP_FE(phpmgr_request_count, arginfo_phpmgr_int)
    PHP_FE_END
};
/* clang-format on */
