<?php
// A tiny router kept in memory by a resident worker (worker.php) and also runnable classic
// (public/index.php): the same answers either way.

final class Router
{
    /** @var array<string, callable> */
    private array $routes = [];
    public int $booted_at;

    public function __construct()
    {
        $this->booted_at = hrtime(true);
    }

    public function get(string $path, callable $action): void
    {
        $this->routes["GET $path"] = $action;
    }

    public function post(string $path, callable $action): void
    {
        $this->routes["POST $path"] = $action;
    }

    public function dispatch(): void
    {
        $path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH) ?: '/';
        $action = $this->routes[($_SERVER['REQUEST_METHOD'] ?? 'GET') . " $path"] ?? null;
        if ($action === null) {
            http_response_code(404);
            header('Content-Type: text/plain');
            echo "no route for $path\n";
            return;
        }
        $action();
    }
}

function json_out(mixed $v): void
{
    header('Content-Type: application/json');
    echo json_encode($v, JSON_UNESCAPED_SLASHES), "\n";
}

function make_router(): Router
{
    // An error page for fatal errors, as frameworks print one: in a resident worker it runs
    // when the worker ends, which after a fatal error is within the failed request. (An
    // uncaught exception does not end a resident worker: it is left to the log.)
    register_shutdown_function(function () {
        $e = error_get_last();
        if ($e !== null && in_array($e['type'], [E_ERROR, E_USER_ERROR], true)
            && !str_starts_with($e['message'], 'Uncaught')) {
            echo "error page: {$e['message']}\n";
        }
    });
    $r = new Router();
    $r->get('/', function () {
        header('Content-Type: text/plain');
        echo "hello from the router\n";
    });
    $r->get('/echo', fn () => json_out([
        'get' => $_GET,
        'cookie' => $_COOKIE,
        'request' => $_REQUEST,
        'method' => $_SERVER['REQUEST_METHOD'],
        'uri' => $_SERVER['REQUEST_URI'],
        'header' => $_SERVER['HTTP_X_ECHO'] ?? null,
    ]));
    $r->post('/echo', fn () => json_out([
        'post' => $_POST,
        'input' => file_get_contents('php://input'),
        'files' => array_map(fn ($f) => [
            'name' => $f['name'], 'size' => $f['size'],
            'sha1' => is_uploaded_file($f['tmp_name']) ? sha1_file($f['tmp_name']) : null,
        ], $_FILES),
        'tmp' => array_values(array_map(fn ($f) => $f['tmp_name'], $_FILES)),
    ]));
    $r->get('/status', function () {
        http_response_code(201);
        header('X-Route: status');
        setcookie('flavour', 'oat');
        echo "created\n";
    });
    $r->get('/worker', fn () => json_out([
        'pid' => getmypid(),
        'resident' => (bool) ($_SERVER['FRANKENPHP_WORKER'] ?? false),
        'worker_id' => phpmgr_worker_id(),
        'count' => phpmgr_request_count(),
    ]));
    $r->get('/exit', function () {
        echo "before exit\n";
        exit();
    });
    $r->get('/throw', function () {
        throw new RuntimeException('thrown by the /throw route');
    });
    $r->get('/fatal', function () {
        echo "about to run out of memory\n";
        $too_big = str_repeat('x', PHP_INT_MAX >> 1); // "Allowed memory size ... exhausted"
    });
    $r->get('/user-error', function () {
        echo "about to fail\n";
        trigger_error('a fatal user error', E_USER_ERROR);
    });
    $r->get('/undefined', function () {
        undefined_function_called_here(); // an Error: uncaught, it is an exception, not a fatal
    });
    $r->get('/finish', function () {
        echo "finished early\n";
        fastcgi_finish_request();
        echo "never sent\n";
        usleep(100000);
    });
    $r->get('/leak', function () {
        static $kept = [];
        $kept[] = str_repeat('x', 1024);
        echo count($kept), "\n";
    });
    $r->get('/grow', function () {
        static $kept = [];
        $kept[] = str_repeat('y', 1024 * (int) ($_GET['kb'] ?? 1));
        echo count($kept), "\n";
    });
    $r->get('/slow', function () {
        usleep(1000 * (int) ($_GET['ms'] ?? 300));
        echo "slept\n";
    });
    $r->get('/session', function () {
        session_start();
        $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
        if (isset($_GET['v'])) $_SESSION['v'] = $_GET['v'];
        json_out(['n' => $_SESSION['n'], 'v' => $_SESSION['v'] ?? null]);
    });
    $r->get('/headers', function () {
        header('X-Only-Here: 1');
        echo "ok\n";
    });
    // ini_set() and friends last for one request, as under php-fpm: ?change=1 changes some.
    $r->get('/ini', function () {
        $now = [
            'precision' => ini_get('precision'),
            'max_execution_time' => ini_get('max_execution_time'),
            'error_reporting' => error_reporting(),
            'ignore_user_abort' => ini_get('ignore_user_abort'),
            'default_charset' => ini_get('default_charset'),
        ];
        if (isset($_GET['change'])) {
            ini_set('precision', '5');
            set_time_limit(7);
            error_reporting(E_ALL & ~E_NOTICE);
            ignore_user_abort(false);
            ini_set('default_charset', 'ISO-8859-1');
            ini_set('highlight.comment', '#123456'); // not changed by anyone before
        }
        json_out($now);
    });
    $r->get('/buffered', function () {
        ob_start();
        echo "inner buffer left open\n";
    });
    return $r;
}
