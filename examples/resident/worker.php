<?php
// Resident bootstrap (worker.bootstrap): build the router once, then serve requests with it
// until phpmgr says the worker must leave (reload, stop, worker.max_requests, memory).
require __DIR__ . '/router.php';

ignore_user_abort(true); // a client that leaves must not end the worker's loop
$router = make_router();
while (phpmgr_handle_request(fn () => $router->dispatch())) {
    // between requests: nothing to reset, the router keeps no request state
}
