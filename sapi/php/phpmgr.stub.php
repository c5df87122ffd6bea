<?php

/**
 * phpmgr's PHP API, for IDEs and static analysers (this file is never loaded). The functions exist
 * in every phpmgr worker; phpmgr_handle_request() works only in a resident one
 * (worker.mode = resident). php-fpm's own functions (fastcgi_finish_request(),
 * apache_request_headers(), getallheaders(), fpm_get_status()) are there too, as in php-fpm.
 *
 * @generate-function-entries none: the C side is sapi/functions.c and sapi/resident.c
 */

/**
 * Wait for the next request, make it the current one, run $handler, and complete its response.
 *
 * Before $handler runs, $_SERVER $_GET $_POST $_COOKIE $_FILES $_REQUEST (and $_ENV) hold the new
 * request, php://input reads its body, and headers, status, output buffers and uploaded files
 * start empty, as at the start of a php-fpm request. ext/session is closed and written after each
 * request. fastcgi_finish_request() inside $handler ends the response early.
 *
 * exit() inside $handler ends that response normally and the worker goes on. An uncaught
 * exception goes to set_exception_handler()'s handler, or is logged with its trace and answered
 * 500 (display_errors off); the worker goes on. A fatal error (including "Allowed memory size
 * exhausted") answers 500 and the worker is replaced; so is a worker whose client went away
 * while $handler ran, unless the bootstrap called ignore_user_abort(true).
 *
 * Not reset between requests: ini_set() values, static and global variables, registered
 * shutdown functions (they run when the worker ends). PHP_VALUE / PHP_ADMIN_VALUE params and
 * .user.ini files are not applied in resident workers.
 *
 * @param callable(): mixed $handler called with no arguments; its return value is ignored
 * @return bool false when the worker must leave: phpmgr stops or reloads, worker.max_requests
 *              or worker.memory_limit was reached, or the request ended in a fatal error.
 *              The bootstrap should then return.
 * @throws Error outside a resident worker, or when called from inside $handler
 */
function phpmgr_handle_request(callable $handler): bool {}

/**
 * FrankenPHP's name for phpmgr_handle_request(): FrankenPHP worker scripts (Laravel Octane's
 * bin/frankenphp-worker.php, Symfony Runtime's runner) run unchanged. Resident workers also set
 * $_SERVER['FRANKENPHP_WORKER'] = '1'.
 */
function frankenphp_handle_request(callable $handler): bool {}

/**
 * The worker's slot in its pool, from 0 to pm.max_children - 1. A replacement worker takes the
 * slot of the one it replaces.
 */
function phpmgr_worker_id(): int {}

/**
 * How many requests this worker process has accepted, the current one included.
 */
function phpmgr_request_count(): int {}
