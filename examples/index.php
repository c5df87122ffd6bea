<?php
// The demo app `make run` serves: shows the request as PHP sees it through phpmgr.
header('Content-Type: text/html; charset=UTF-8');
$visits = (int)($_COOKIE['visits'] ?? 0) + 1;
setcookie('visits', (string)$visits);
?>
<!doctype html>
<title>phpmgr demo</title>
<h1>Hello from phpmgr</h1>
<p>SAPI: <?= htmlspecialchars(php_sapi_name()) ?>, PHP <?= PHP_VERSION ?>,
phpmgr <?= defined('PHPMGR_VERSION') ? PHPMGR_VERSION : '?' ?>, worker pid <?= getmypid() ?>.</p>
<p>OPcache enabled: <?= function_exists('opcache_get_status') && (opcache_get_status(false)['opcache_enabled'] ?? false) ? 'yes' : 'no' ?>.
Visits from this browser: <?= $visits ?>.</p>
<form method="post" action="/form.php"><input name="name" placeholder="your name"> <button>Send</button></form>
