/* Resident mode: the pool's bootstrap runs once per worker, as one long PHP request, and serves
 * requests through phpmgr_handle_request(). Each call closes the bootstrap's own "level" (its
 * output and SAPI state), takes the next request from the master, opens a request level for it
 * (output layer, SAPI state, fresh superglobals and php://input), runs the handler, and closes it
 * again, which completes the response. What php_request_startup()/shutdown() do to the engine as a
 * whole (the executor, the compiler, class and function tables) is done once, at the bootstrap's
 * start and end: that is what keeps the framework in memory. */
#include "phpw.h"
#include "phpw_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/log.h"
#include "SAPI.h"
#include "php_main.h"
#include "php_output.h"
#include "php_variables.h"
#include "zend_exceptions.h"

bool phpw_resident;

static const struct phpw_worker_opts *resident_opts;
static long served;       /* requests this worker handled */
static bool must_leave;   /* the master closed the channel, or the worker decided to leave */
static bool session_down; /* ext/session's request state is shut down (between requests) */

/* ---- leak check: the memory PHP keeps between requests, sampled after each one ---- */

#define LEAK_WINDOW 64        /* requests per window; the window's lowest sample is kept */
#define LEAK_WINDOWS 5        /* windows whose lowest samples must rise one after another */
#define LEAK_MIN_GROWTH 16384 /* bytes of growth across them before it is worth a warning */

static struct {
    size_t window_min;
    int in_window;
    int windows_done;
    size_t mins[LEAK_WINDOWS];
    int n_mins;
} leak;

static void leak_sample(size_t kept)
{
    if (leak.in_window == 0 || kept < leak.window_min) leak.window_min = kept;
    if (++leak.in_window < LEAK_WINDOW) return;
    leak.in_window = 0;
    /* The first window is the warm-up: caches and lazily loaded classes fill it. */
    if (leak.windows_done++ == 0) return;
    if (leak.n_mins == LEAK_WINDOWS) {
        memmove(leak.mins, leak.mins + 1, sizeof(leak.mins[0]) * (LEAK_WINDOWS - 1));
        leak.n_mins--;
    }
    leak.mins[leak.n_mins++] = leak.window_min;
    if (leak.n_mins < LEAK_WINDOWS) return;
    for (int i = 1; i < LEAK_WINDOWS; i++)
        if (leak.mins[i] <= leak.mins[i - 1]) return;
    size_t growth = leak.mins[LEAK_WINDOWS - 1] - leak.mins[0];
    if (growth < LEAK_MIN_GROWTH) return;
    phpw_log(LOG_LVL_WARNING,
             "[pool %s] child %d: memory kept between requests grew from %zu to %zu bytes over "
             "the last %d requests (worker.leak_check): the application leaks %zu bytes per "
             "request on average",
             resident_opts->pool, (int)getpid(), leak.mins[0], leak.mins[LEAK_WINDOWS - 1],
             LEAK_WINDOW * (LEAK_WINDOWS - 1), growth / (size_t)(LEAK_WINDOW * (LEAK_WINDOWS - 1)));
    leak.n_mins = 0; /* warn again only after as many windows more */
}

/* ---- ini: what a handler changes with ini_set(), set_time_limit(), error_reporting() ... ----
 * php-fpm starts every request from php.ini and the pool's values; here the PHP request never
 * ends, so each handler's changes are undone after it. The baseline is the set of entries the
 * bootstrap had modified (ignore_user_abort(true), its own ini_set()) with their values: the
 * entries themselves are persistent, the values are held by a reference. */

struct ini_saved {
    zend_ini_entry *entry;
    zend_string *value;
};

static struct ini_saved *ini_base;
static uint32_t ini_base_len, ini_base_cap;
static bool ini_base_valid; /* false until taken, and again after the bootstrap changed ini */
static bool ini_stuck_logged;

static void ini_base_release(void)
{
    for (uint32_t i = 0; i < ini_base_len; i++)
        if (ini_base[i].value) zend_string_release(ini_base[i].value);
    ini_base_len = 0;
    ini_base_valid = false;
}

static bool ini_base_unchanged(void)
{
    HashTable *mod = EG(modified_ini_directives);
    uint32_t n = mod ? zend_hash_num_elements(mod) : 0;
    if (n != ini_base_len) return false;
    /* Every baseline entry still modified and as many modified entries: the same set. */
    for (uint32_t i = 0; i < ini_base_len; i++)
        if (!ini_base[i].entry->modified || ini_base[i].entry->value != ini_base[i].value)
            return false;
    return true;
}

/* Before a handler: the bootstrap's settings are what every request starts from. */
static void ini_base_take(void)
{
    if (ini_base_valid && ini_base_unchanged()) return;
    ini_base_release();
    HashTable *mod = EG(modified_ini_directives);
    uint32_t n = mod ? zend_hash_num_elements(mod) : 0;
    if (n > ini_base_cap) {
        struct ini_saved *grown = realloc(ini_base, n * sizeof(*grown));
        if (grown == NULL) {
            phpw_log(LOG_LVL_ERROR, "[pool %s] child %d: out of memory for the ini baseline",
                     resident_opts->pool, (int)getpid());
            return; /* not valid: retried before the next handler, nothing restored meanwhile */
        }
        ini_base = grown;
        ini_base_cap = n;
    }
    if (mod) {
        zend_ini_entry *e;
        ZEND_HASH_MAP_FOREACH_PTR(mod, e)
        {
            ini_base[ini_base_len].entry = e;
            ini_base[ini_base_len].value = e->value ? zend_string_copy(e->value) : NULL;
            ini_base_len++;
        }
        ZEND_HASH_FOREACH_END();
    }
    ini_base_valid = true;
}

static bool in_ini_base(const zend_ini_entry *e)
{
    for (uint32_t i = 0; i < ini_base_len; i++)
        if (ini_base[i].entry == e) return true;
    return false;
}

/* After a handler: entries it modified go back to php.ini's value, entries the bootstrap had
 * set go back to the bootstrap's. */
static void ini_restore_handler_changes(void)
{
    if (!ini_base_valid || ini_base_unchanged()) return;
    HashTable *mod = EG(modified_ini_directives);
    if (mod) {
        /* zend_restore_ini_entry() deletes from the table: collect the names first. */
        uint32_t n = zend_hash_num_elements(mod), k = 0;
        zend_string **names = emalloc(sizeof(*names) * (n ? n : 1));
        zend_ini_entry *e;
        ZEND_HASH_MAP_FOREACH_PTR(mod, e)
        {
            if (!in_ini_base(e)) names[k++] = zend_string_copy(e->name);
        }
        ZEND_HASH_FOREACH_END();
        for (uint32_t i = 0; i < k; i++) {
            zend_restore_ini_entry(names[i], ZEND_INI_STAGE_RUNTIME);
            zend_string_release(names[i]);
        }
        efree(names);
    }
    for (uint32_t i = 0; i < ini_base_len; i++) {
        zend_ini_entry *e = ini_base[i].entry;
        if (e->modified && e->value == ini_base[i].value) continue;
        if (ini_base[i].value != NULL)
            zend_alter_ini_entry_ex(e->name, ini_base[i].value, ZEND_INI_SYSTEM,
                                    ZEND_INI_STAGE_RUNTIME, 1);
        if ((e->value != ini_base[i].value || !e->modified) && !ini_stuck_logged) {
            ini_stuck_logged = true; /* once per worker: it would repeat after every request */
            phpw_log(LOG_LVL_WARNING,
                     "[pool %s] child %d: a request changed ini setting %s and it could not be "
                     "put back to the bootstrap's value: later requests of this worker see it",
                     resident_opts->pool, (int)getpid(), ZSTR_VAL(e->name));
        }
    }
    if (!ini_base_unchanged()) ini_base_valid = false; /* retaken before the next handler */
}

/* ---- levels: the bootstrap's, and each request's ---- */

/* The bootstrap's SG(request_info): no method, no body, no script (its path is not a request's). */
static void set_bootstrap_request_info(struct phpw_req *rq)
{
    phpw_params_reset(&rq->params);
    rq->in_bootstrap = true;
    rq->ended = true; /* log lines go to the error log only: no FastCGI stderr is open */
    rq->body_fd = -2;
    SG(request_info).request_method = NULL;
    SG(request_info).query_string = NULL;
    SG(request_info).request_uri = NULL;
    SG(request_info).content_type = NULL;
    SG(request_info).content_length = 0;
    SG(request_info).path_translated = NULL;
    SG(request_info).cookie_data = NULL;
}

static void module_request_shutdown(const char *name)
{
    zend_module_entry *m = zend_hash_str_find_ptr(&module_registry, name, strlen(name));
    if (m != NULL && m->request_shutdown_func != NULL) {
        zend_try
        {
            m->request_shutdown_func(m->type, m->module_number);
        }
        zend_end_try();
    }
}

static void module_request_startup(const char *name)
{
    zend_module_entry *m = zend_hash_str_find_ptr(&module_registry, name, strlen(name));
    if (m != NULL && m->request_startup_func != NULL) {
        zend_try
        {
            m->request_startup_func(m->type, m->module_number);
        }
        zend_end_try();
    }
}

/* Open a level: what php_request_startup() does for output and SAPI state. */
static void level_enter(bool request)
{
    zend_try
    {
        php_output_activate();
        PG(header_is_being_sent) = 0;
        PG(connection_status) = PHP_CONNECTION_NORMAL;
        sapi_activate(); /* reads a form POST body; $_POST is built from it below */
        SG(sapi_started) = 1;
        if (!request) {
            SG(request_info).no_headers = 1;
        } else {
            if (PG(expose_php))
                sapi_add_header(SAPI_PHP_VERSION_HEADER, sizeof(SAPI_PHP_VERSION_HEADER) - 1, 1);
            if (PG(output_handler) && PG(output_handler)[0]) {
                zval oh;
                ZVAL_STRING(&oh, PG(output_handler));
                php_output_start_user(&oh, 0, PHP_OUTPUT_HANDLER_STDFLAGS);
                zval_ptr_dtor(&oh);
            } else if (PG(output_buffering)) {
                php_output_start_user(NULL, PG(output_buffering) > 1 ? PG(output_buffering) : 0,
                                      PHP_OUTPUT_HANDLER_STDFLAGS);
            } else if (PG(implicit_flush)) {
                php_output_set_implicit_flush(1);
            }
        }
    }
    zend_end_try();
}

/* Run fn, catching a bailout out of it (a user output handler's fatal error). One zend_try per
 * function: gcc cannot prove several in one frame safe across longjmp. */
static void guarded(void (*fn)(void))
{
    zend_try
    {
        fn();
    }
    zend_end_try();
}

static void output_end_all(void)
{
    php_output_end_all();
}

/* Close a level: flush and drop output buffers, send headers, free the SAPI's request state.
 * For a request this completes the response (the SAPI's deactivate hook ends it). */
static void level_leave(void)
{
    guarded(output_end_all);
    if (!session_down) {
        /* Writes and closes the request's session before the response ends, as php-fpm does. */
        module_request_shutdown("session");
        session_down = true;
    }
    /* ext/filter's copies of the raw input (filter_input()): the next sapi_activate() forgets
     * them without freeing them. */
    module_request_shutdown("filter");
    guarded(php_output_deactivate);
    if (SG(request_info).request_body) {
        /* php://input's temp stream: sapi_deactivate() forgets it, the request shutdown that
         * would close it never comes. */
        php_stream_close(SG(request_info).request_body);
        SG(request_info).request_body = NULL;
    }
    guarded(sapi_deactivate_module);
    sapi_deactivate_destroy(); /* also deletes uploaded files nobody moved */
}

/* Fresh $_GET $_POST $_COOKIE $_SERVER $_ENV $_REQUEST $_FILES for the request just read. The
 * handler's code was compiled long ago, so JIT auto globals would never be armed again: each one
 * is built now.
 */
static void reset_superglobals(void)
{
    static const char *const names[] = {"_GET", "_POST",    "_COOKIE", "_SERVER",
                                        "_ENV", "_REQUEST", "_FILES"};
    /* The POST parse fills $_FILES for uploads. $_SERVER and $_ENV are built from each other when
     * one exists (variables_order with E, php-fpm's way): neither may be the last request's. */
    static const int stale[] = {TRACK_VARS_FILES, TRACK_VARS_SERVER, TRACK_VARS_ENV};
    for (size_t i = 0; i < sizeof(stale) / sizeof(stale[0]); i++) {
        zval_ptr_dtor(&PG(http_globals)[stale[i]]);
        ZVAL_UNDEF(&PG(http_globals)[stale[i]]);
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        zend_auto_global *ag = zend_hash_str_find_ptr(CG(auto_globals), names[i], strlen(names[i]));
        if (ag != NULL && ag->auto_global_callback != NULL) {
            ag->armed = ag->auto_global_callback(ag->name);
        }
    }
}

/* An exception the handler did not catch: exit() ends the response normally; anything else
 * goes to set_exception_handler()'s handler, or is logged as "Uncaught ..." with its trace and
 * answered 500 (display_errors off), as php-fpm would. The worker goes on. */
static void handle_exception(void)
{
    if (zend_is_unwind_exit(EG(exception)) || zend_is_graceful_exit(EG(exception))) {
        zend_clear_exception();
        return;
    }
    if (Z_TYPE(EG(user_exception_handler)) != IS_UNDEF) {
        zend_user_exception_handler();
    }
    if (EG(exception)) zend_exception_error(EG(exception), E_ERROR);
}

PHP_FUNCTION(phpmgr_handle_request)
{
    zend_fcall_info fci;
    zend_fcall_info_cache fcc;
    ZEND_PARSE_PARAMETERS_START(1, 1)
    Z_PARAM_FUNC(fci, fcc)
    ZEND_PARSE_PARAMETERS_END();

    struct phpw_req *rq = &phpw_req;
    if (!phpw_resident) {
        zend_throw_error(NULL, "%s() works only in a resident worker (worker.mode = resident)",
                         get_active_function_name());
        RETURN_THROWS();
    }
    if (!rq->in_bootstrap) {
        zend_throw_error(NULL, "%s() cannot be called while a request is being handled",
                         get_active_function_name());
        RETURN_THROWS();
    }
    if (must_leave) RETURN_FALSE;

    /* Waiting is not executing: max_execution_time counts the handler only. */
    zend_unset_timeout();
    level_leave();
    if (phpw_accept(rq) < 0 || phpw_request_begin(rq) < 0) {
        /* The master closed the channel (stop, reload, the worker retired): leave. */
        must_leave = true;
        set_bootstrap_request_info(rq);
        level_enter(false);
        RETURN_FALSE;
    }
    rq->in_bootstrap = false;
    /* No script is looked up for a resident request: a missing SCRIPT_FILENAME is no 404. */
    SG(sapi_headers).http_response_code = 200;
    level_enter(true);
    reset_superglobals();
    if (session_down) {
        module_request_startup("session"); /* after $_COOKIE: session.auto_start reads it */
        session_down = false;
    }

    ini_base_take();

    zval retval;
    fci.retval = &retval;
    volatile bool bailed_out = false;
    EG(exit_status) = 0;
    zend_set_timeout(EG(timeout_seconds), 0);
    zend_try
    {
        if (zend_call_function(&fci, &fcc) == SUCCESS) zval_ptr_dtor(&retval);
    }
    zend_catch
    {
        bailed_out = true;
    }
    zend_end_try();
    zend_unset_timeout();
    served++;

    if (EG(exception) && EG(exit_status) == 255 && zend_is_unwind_exit(EG(exception))) {
        /* PHP unwinds out of "Allowed memory size exhausted" (and exit(255)) instead of bailing
         * out, but every object was marked destructed first: the app's state is gone. Leave as
         * after a bailout, so shutdown functions still write into this response. */
        zend_clear_exception();
        bailed_out = true;
    }
    if (bailed_out) {
        /* A fatal error, a timeout or an aborted client: the engine's stack was abandoned
         * mid-call and cannot be trusted. The response is completed by the bootstrap's request
         * shutdown (phpw_resident_run), and the worker is replaced. */
        rq->leaving = true;
        must_leave = true;
        zend_bailout();
    }
    if (EG(exception)) handle_exception();

    if (resident_opts->max_requests > 0 && served >= resident_opts->max_requests)
        rq->leaving = true;
    size_t held = zend_memory_usage(false);
    bool over_memory =
        resident_opts->memory_limit > 0 && (long long)held > resident_opts->memory_limit;
    if (over_memory) rq->leaving = true;
    if (rq->leaving) must_leave = true;

    phpw_request_finish_script(rq);
    level_leave(); /* the response's END_REQUEST leaves from the SAPI's deactivate hook */
    ini_restore_handler_changes(); /* after the response: it is complete without them */
    if (rq->finished_early &&
        phpw_write_idle_record(rq, rq->leaving ? PHPW_APP_STATUS_LEAVING : 0) < 0)
        must_leave = true;
    if (over_memory) /* after the response: a worker's line, not the request's stderr */
        phpw_log(LOG_LVL_NOTICE,
                 "[pool %s] child %d: PHP holds %zu bytes after a request, over "
                 "worker.memory_limit (%lld): the worker is replaced",
                 resident_opts->pool, (int)getpid(), held, resident_opts->memory_limit);

    set_bootstrap_request_info(rq);
    level_enter(false);
    if (resident_opts->leak_check) {
        /* Garbage in cycles is not a leak: collect it first, or the root buffer's growth until
         * the next automatic collection looks like one. */
        zend_gc_collect_cycles();
        leak_sample(zend_memory_usage(false));
    }
    RETURN_BOOL(!must_leave);
}

int phpw_resident_run(const struct phpw_worker_opts *opts)
{
    struct phpw_req *rq = &phpw_req;
    phpw_resident = true;
    resident_opts = opts;
    SG(server_context) = rq;
    set_bootstrap_request_info(rq);

    volatile int status = 0;
    zend_first_try
    {
        if (php_request_startup() == FAILURE) {
            phpw_log(LOG_LVL_ERROR, "[pool %s] PHP request startup failed for the bootstrap",
                     opts->pool);
            SG(server_context) = NULL;
            status = 1;
        } else {
            SG(request_info).no_headers = 1;
            zend_file_handle fh;
            zend_stream_init_filename(&fh, opts->bootstrap);
            /* A fatal error in a handler lands here too, through php_execute_script's own
             * zend_try: the request it was running is completed below. */
            php_execute_script(&fh);
            zend_destroy_file_handle(&fh);
            ini_base_release(); /* its values live in this request's memory */
            if (EG(exit_status) != 0 && !must_leave) status = 1; /* not a planned leave */
            if (served == 0 && !must_leave && rq->in_bootstrap)
                phpw_log(LOG_LVL_WARNING,
                         "[pool %s] the bootstrap %s returned without serving a request: it "
                         "must call phpmgr_handle_request() in a loop",
                         opts->pool, opts->bootstrap);
            if (!must_leave && rq->in_bootstrap) {
                /* It returned by itself (a FrankenPHP worker script after its own request
                 * count): the master does not know, and may have sent the next request
                 * already. Tell it, and hand back unrun what it sends until it closes the
                 * channel (sapi/phpw.h), before the shutdown below. The master logs it. */
                must_leave = true; /* a shutdown function's phpmgr_handle_request() is false */
                phpw_leave_unasked(rq);
            }
            if (!rq->in_bootstrap) phpw_request_finish_script(rq);
            if (session_down) {
                module_request_startup("session"); /* its shutdown must find it started */
                session_down = false;
            }
            php_request_shutdown(NULL);
            if (!rq->in_bootstrap && rq->finished_early)
                phpw_write_idle_record(rq, PHPW_APP_STATUS_LEAVING);
        }
    }
    zend_catch
    {
        status = 1;
    }
    zend_end_try();
    SG(server_context) = NULL;
    return status;
}
