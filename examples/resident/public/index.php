<?php
// The same application run classic (a fresh router per request), for comparison.
require __DIR__ . '/../router.php';
make_router()->dispatch();
