<?php
$name = trim((string)($_POST['name'] ?? ''));
echo $name === '' ? "Nobody said hello.\n" : 'Hello, ' . htmlspecialchars($name) . "!\n";
