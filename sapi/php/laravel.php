<?php

/*
 * phpmgr's resident bootstrap for Laravel (pool keys: worker.mode = resident,
 * worker.bootstrap = this file, env[PHPMGR_APP] = the application's root).
 *
 * Boots the application and its HTTP kernel once per worker, then serves requests in a loop
 * through phpmgr_handle_request(). Between requests it puts back everything a request may have
 * changed, so each request sees the application as php-fpm would show it to a fresh process:
 * the container (instances, bindings, callbacks), configuration, session, queued cookies, auth
 * guards, locale, URL generator, view factory state, array caches, log context, the route's
 * controller, plus the app's own cleaners and providers from config/phpmgr.php:
 *
 *   'cleaners'           => [Class::class, ...]  objects with handle($app), clean($app) or
 *                                                 __invoke($app), called after every request
 *   'register_providers' => [Provider::class, ...] registered again before every request
 *   'warm'               => [service, ...]         resolved once at boot and kept (default below)
 *   'flush'              => [service, ...]         forgotten after every request even if warm
 *   'flush_controllers'  => true                   a new controller instance per request
 *
 * PHP settings: phpmgr's core puts back every ini entry a request changed (ini_set(),
 * set_time_limit(), error_reporting(), ...) to its value after boot; this file puts back the
 * default timezone, which is not an ini entry.
 *
 * Events dispatched through the app's dispatcher: phpmgr.received_request ($request, $app),
 * phpmgr.generated_response ($request, $response, $app), and the same under LaravelS's names
 * laravels.received_request / laravels.generated_response.
 *
 * Works with a Composer app (vendor/autoload.php) and with Debian's php-laravel-framework
 * (/usr/share/php/Illuminate/autoload.php plus the app's PSR-4 map from composer.json, or
 * App\ => app/ when there is none).
 */

namespace Phpmgr\Laravel;

use Closure;
use Throwable;

final class Worker
{
    /** Services resolved at boot and kept across requests (Octane's defaults). */
    const DEFAULT_WARM = [
        'auth', 'cache', 'cache.store', 'config', 'cookie', 'db', 'db.factory', 'db.transactions',
        'encrypter', 'files', 'hash', 'log', 'router', 'routes', 'session', 'session.store',
        'translator', 'url', 'view',
    ];

    /** Container and application state put back after every request (php-fpm would start empty). */
    const CONTAINER_PROPS = [
        'resolved', 'bindings', 'methodBindings', 'instances', 'scopedInstances', 'aliases',
        'abstractAliases', 'extenders', 'tags', 'contextual', 'reboundCallbacks',
        'globalBeforeResolvingCallbacks', 'globalResolvingCallbacks', 'globalAfterResolvingCallbacks',
        'beforeResolvingCallbacks', 'resolvingCallbacks', 'afterResolvingCallbacks',
        'bootingCallbacks', 'bootedCallbacks', 'terminatingCallbacks', 'serviceProviders',
        'loadedProviders', 'deferredServices',
    ];

    private $root;
    private $app;
    private $kernel;
    private $options = [];
    private $cleaners = [];
    private $snapshot = [];      // container properties after boot
    private $objectState = [];   // [object, [prop => value]] of warm services
    private $configItems = [];
    private $locale;
    private $fallbackLocale;
    private $dirty = false;      // a request ran and its cleanup has not
    private $maintenanceFile;
    private $timezone;           // date_default_timezone_get() after boot

    public function __construct($root)
    {
        $this->root = $root;
    }

    public static function log($message)
    {
        error_log('phpmgr-laravel: '.$message);
    }

    /** The application root: env PHPMGR_APP, $_SERVER['PHPMGR_APP'], APP_BASE_PATH, else cwd. */
    public static function findRoot()
    {
        foreach ([getenv('PHPMGR_APP'), $_SERVER['PHPMGR_APP'] ?? null, $_ENV['PHPMGR_APP'] ?? null,
                  getenv('APP_BASE_PATH'), getcwd()] as $dir) {
            if (is_string($dir) && $dir !== '') {
                $dir = rtrim($dir, '/');
                // Pointed at public/ (a document root): the app is its parent.
                if (! is_file($dir.'/bootstrap/app.php') && is_file(dirname($dir).'/bootstrap/app.php')) {
                    $dir = dirname($dir);
                }

                return $dir;
            }
        }

        return '.';
    }

    public function autoload()
    {
        if (is_file($this->root.'/vendor/autoload.php')) {
            require_once $this->root.'/vendor/autoload.php';

            return;
        }
        $illuminate = getenv('PHPMGR_ILLUMINATE_AUTOLOAD') ?: '/usr/share/php/Illuminate/autoload.php';
        if (! is_file($illuminate)) {
            throw new \RuntimeException("no {$this->root}/vendor/autoload.php and no $illuminate "
                .'(composer install, or apt-get install php-laravel-framework)');
        }
        require_once $illuminate;

        // A distribution's framework package cannot know the app's classes: map them ourselves,
        // from composer.json's autoload sections when it has them.
        $psr4 = ['App\\' => ['app/']];
        $files = [];
        $composer = $this->root.'/composer.json';
        if (is_file($composer)) {
            $json = json_decode((string) file_get_contents($composer), true);
            if (is_array($json)) {
                foreach (['autoload', 'autoload-dev'] as $section) {
                    foreach ((array) ($json[$section]['psr-4'] ?? []) as $prefix => $dirs) {
                        $psr4[$prefix] = array_merge($section === 'autoload' && $prefix === 'App\\' ? [] : ($psr4[$prefix] ?? []), (array) $dirs);
                    }
                }
                $files = (array) ($json['autoload']['files'] ?? []);
            }
        }
        uksort($psr4, function ($a, $b) {
            return strlen($b) - strlen($a); // longest prefix first
        });
        $root = $this->root;
        spl_autoload_register(static function ($class) use ($psr4, $root) {
            foreach ($psr4 as $prefix => $dirs) {
                if ($prefix !== '' && strncmp($class, $prefix, strlen($prefix)) !== 0) {
                    continue;
                }
                $rel = str_replace('\\', '/', substr($class, strlen($prefix))).'.php';
                foreach ($dirs as $dir) {
                    $file = $root.'/'.rtrim($dir, '/').'/'.$rel;
                    if (is_file($file)) {
                        require $file;

                        return;
                    }
                }
            }
        });
        foreach ($files as $file) {
            require_once $this->root.'/'.$file;
        }
    }

    public function boot()
    {
        if (! is_file($this->root.'/bootstrap/app.php')) {
            throw new \RuntimeException("{$this->root} is not a Laravel application (no bootstrap/app.php); "
                .'set env[PHPMGR_APP] in the pool');
        }
        if (! defined('LARAVEL_START')) {
            define('LARAVEL_START', microtime(true));
        }
        // php-fpm runs public/index.php with public/ as the working directory.
        if (is_dir($this->root.'/public')) {
            chdir($this->root.'/public');
        }
        $this->autoload();

        $this->app = $app = require $this->root.'/bootstrap/app.php';
        $this->kernel = $app->make(\Illuminate\Contracts\Http\Kernel::class);

        // The kernel's own bootstrappers, with a request bound before the providers register
        // (as Octane does): providers and warm services may ask for one at boot.
        $bootstrappers = (function () {
            return $this->bootstrappers();
        })->call($this->kernel);
        $setRequest = \Illuminate\Foundation\Bootstrap\SetRequestForConsole::class;
        $at = array_search(\Illuminate\Foundation\Bootstrap\RegisterProviders::class, $bootstrappers, true);
        if ($at !== false && class_exists($setRequest)) {
            array_splice($bootstrappers, $at, 0, [$setRequest]);
        }
        $app->bootstrapWith($bootstrappers);
        // Deferred providers now, not inside some request, so every request sees the same container.
        $app->loadDeferredProviders();

        $config = $app['config'];
        $this->options = (array) $config->get('phpmgr', []);
        foreach ((array) ($this->options['warm'] ?? self::DEFAULT_WARM) as $service) {
            if (is_string($service) && $app->bound($service)) {
                try {
                    $app->make($service);
                } catch (Throwable $e) {
                    self::log("warming '$service' failed: ".$e->getMessage());
                }
            }
        }
        foreach ((array) ($this->options['cleaners'] ?? []) as $class) {
            if (! class_exists($class)) {
                throw new \RuntimeException("config/phpmgr.php cleaner $class does not exist");
            }
            $this->cleaners[] = $app->make($class);
        }

        $this->locale = $config->get('app.locale');
        $this->fallbackLocale = $config->get('app.fallback_locale');
        $this->configItems = $config->all();
        $this->snapshot = self::getProps($app, self::CONTAINER_PROPS);
        $this->snapshotObjects();
        $this->maintenanceFile = $this->root.'/storage/framework/maintenance.php';
        $this->timezone = date_default_timezone_get();
    }

    /** State of warm services that a request can change and php-fpm would start without. */
    private function snapshotObjects()
    {
        $app = $this->app;
        $keep = [
            'events' => ['listeners', 'wildcards', 'wildcardsCache'],
            'url' => ['forcedRoot', 'forceScheme', 'rootNamespace', 'formatHostUsing', 'formatPathUsing',
                      'assetRoot', 'defaultParameters'],
            'view' => ['shared', 'composers'],
            'router' => ['binders', 'patterns'],
        ];
        foreach ($keep as $service => $props) {
            if (isset($this->snapshot['instances'][$service])) {
                $obj = $this->snapshot['instances'][$service];
                $this->objectState[] = [$obj, self::getProps($obj, $props)];
            }
        }
    }

    public static function getProps($obj, array $names)
    {
        return (function () use ($names) {
            $out = [];
            foreach ($names as $n) {
                if (property_exists($this, $n)) {
                    $out[$n] = $this->$n;
                }
            }

            return $out;
        })->call($obj);
    }

    public static function setProps($obj, array $values)
    {
        (function () use ($values) {
            foreach ($values as $n => $v) {
                $this->$n = $v;
            }
        })->call($obj);
    }

    private function dispatch($event, array $payload)
    {
        $events = $this->app['events'];
        // Most apps listen to neither: dispatching to nobody still costs a wildcard match.
        foreach (['phpmgr.', 'laravels.'] as $prefix) {
            if ($events->hasListeners($prefix.$event)) {
                $events->dispatch($prefix.$event, $payload);
            }
        }
    }

    /** One request: called by phpmgr_handle_request() with the superglobals installed. */
    public function handle()
    {
        if ($this->dirty) {
            // The previous request left without its cleanup (exit() in a route).
            $this->cleanup();
        }
        $this->dirty = true;
        $app = $this->app;

        // public/index.php's maintenance check, per request as under php-fpm.
        if (is_file($this->maintenanceFile)) {
            require $this->maintenanceFile;
        }

        $request = \Illuminate\Http\Request::capture();
        $app->instance('request', $request);
        foreach ((array) ($this->options['register_providers'] ?? []) as $provider) {
            $app->register($provider, true);
        }
        $this->dispatch('received_request', [$request, $app]);

        $response = $this->kernel->handle($request);
        $this->dispatch('generated_response', [$request, $response, $app]);
        $response->send();
        $this->kernel->terminate($request, $response);
    }

    /** Put the application back as it was after boot. Safe to call twice. */
    public function cleanup()
    {
        $this->dirty = false;
        $app = $this->app;
        $errors = [];

        foreach ($this->cleaners as $cleaner) {
            try {
                if (method_exists($cleaner, 'handle')) {
                    $cleaner->handle($app);
                } elseif (method_exists($cleaner, 'clean')) {
                    $cleaner->clean($app);
                } else {
                    $cleaner($app);
                }
            } catch (Throwable $e) {
                $errors[] = get_class($cleaner).': '.$e->getMessage();
            }
        }

        // The controller instance Laravel caches on the route (php-fpm builds one per request).
        if (($this->options['flush_controllers'] ?? true) && $app->resolved('router')) {
            $route = $app['router']->current();
            if ($route && method_exists($route, 'flushController')) {
                $route->flushController();
            }
        }

        $instances = $this->snapshot['instances'];

        // Session: the warm store must not carry one user's attributes to the next request.
        if (isset($instances['session'])) {
            try {
                foreach ((function () {
                    return $this->drivers;
                })->call($instances['session']) as $store) {
                    // A request that never started the session left nothing in it; a new id
                    // costs random bytes, and StartSession sets the next request's id anyway.
                    if ($store->isStarted() || $store->all() !== []) {
                        $store->flush();
                        $store->regenerate();
                    }
                }
            } catch (Throwable $e) {
                $errors[] = 'session: '.$e->getMessage();
            }
        }
        if (isset($instances['cookie']) && method_exists($instances['cookie'], 'flushQueuedCookies')) {
            $instances['cookie']->flushQueuedCookies();
        }
        if (isset($instances['auth']) && method_exists($instances['auth'], 'forgetGuards')) {
            $instances['auth']->forgetGuards();
        }
        if (isset($instances['db'])) {
            foreach ($instances['db']->getConnections() as $connection) {
                try {
                    if ($connection->transactionLevel() > 0) {
                        $errors[] = 'database connection '.$connection->getName().' was left inside a '
                            .'transaction: rolled back';
                        $connection->rollBack(0);
                    }
                    $connection->flushQueryLog();
                    if (method_exists($connection, 'forgetRecordModificationState')) {
                        $connection->forgetRecordModificationState();
                    }
                } catch (Throwable $e) {
                    $errors[] = 'database: '.$e->getMessage();
                }
            }
        }
        if (isset($instances['cache'])) {
            // Array stores live as long as the process: php-fpm would start them empty.
            foreach ((function () {
                return $this->stores;
            })->call($instances['cache']) as $repo) {
                if (method_exists($repo, 'getStore') && $repo->getStore() instanceof \Illuminate\Cache\ArrayStore) {
                    $repo->getStore()->flush();
                }
            }
        }
        if (isset($instances['log'])) {
            $log = $instances['log'];
            if (method_exists($log, 'flushSharedContext')) {
                $log->flushSharedContext();
            }
            foreach ((function () {
                return $this->channels;
            })->call($log) as $channel) {
                if (method_exists($channel, 'withoutContext')) {
                    $channel->withoutContext();
                }
                $monolog = method_exists($channel, 'getLogger') ? $channel->getLogger() : $channel;
                if ($monolog instanceof \Monolog\ResettableInterface) {
                    $monolog->reset();
                }
            }
        }
        if (isset($instances['view']) && method_exists($instances['view'], 'flushState')) {
            $instances['view']->flushState();
        }

        // Configuration, then the locale from it (setLocale also moves Carbon's).
        self::setProps($instances['config'], ['items' => $this->configItems]);
        if (isset($instances['translator'])) {
            $translator = $instances['translator'];
            if ($translator->getLocale() !== $this->locale) {
                $app->setLocale($this->locale);
            }
            $translator->setFallback($this->fallbackLocale);
        }

        foreach ($this->objectState as [$obj, $props]) {
            self::setProps($obj, $props);
        }

        // The container as after boot: what a request resolved, bound or registered goes
        // (request-scoped singletons, rebinding callbacks, providers registered again).
        if (method_exists($app, 'forgetScopedInstances')) {
            $app->forgetScopedInstances();
        }
        self::setProps($app, $this->snapshot);
        \Illuminate\Support\Facades\Facade::clearResolvedInstances();
        if (method_exists(\Illuminate\Support\Str::class, 'flushCache')) {
            \Illuminate\Support\Str::flushCache();
        }

        $this->restoreTimezone();

        foreach ($errors as $error) {
            self::log('cleanup: '.$error);
        }
    }

    /** The default timezone (date_default_timezone_set()) as after boot: not an ini entry. */
    private function restoreTimezone()
    {
        if (date_default_timezone_get() !== $this->timezone) {
            date_default_timezone_set($this->timezone);
        }
    }
}

if (! function_exists('phpmgr_handle_request')) {
    error_log('phpmgr-laravel: '.__FILE__.' is a phpmgr resident bootstrap: run it with '
        .'worker.mode = resident and worker.bootstrap = '.__FILE__);
    exit(1);
}

// A client that leaves must not abort the worker's long-running script half way through a
// request (with the default, PHP bails out on the next write); the response is simply dropped.
// Set by the bootstrap, outside any request: it is part of what every request starts from.
ignore_user_abort(true);

try {
    $phpmgrWorker = new Worker(Worker::findRoot());
    $phpmgrWorker->boot();
} catch (Throwable $e) {
    Worker::log('boot failed: '.get_class($e).': '.$e->getMessage().' at '.$e->getFile().':'.$e->getLine());
    exit(1);
}

$phpmgrHandler = function () use ($phpmgrWorker) {
    $phpmgrWorker->handle();
};
while (phpmgr_handle_request($phpmgrHandler)) {
    $phpmgrWorker->cleanup();
}
