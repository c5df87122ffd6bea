#!/bin/bash
# `make run`: phpmgr serving examples/ directly on http://127.0.0.1:8080 (FastCGI stays on
# 127.0.0.1:9000 for nginx fastcgi_pass, see etc/nginx-fastcgi.conf). Ctrl-C stops it.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
demo="$root/build/demo"
mkdir -p "$demo"
cat >"$demo/phpmgr.ini" <<INI
[global]
pid = $demo/phpmgr.pid
error_log = $demo/phpmgr.log
daemonize = no

[www]
listen = 127.0.0.1:9000
http.listen = 127.0.0.1:8080
http.document_root = $root/examples
http.index = index.php
pm = static
pm.max_children = 4
pm.max_requests = 1000
INI
user_flag=""
[ "$(id -u)" -eq 0 ] && user_flag="-R"
rm -f "$demo/phpmgr.log"
"$root/build/phpmgr" start -F $user_flag -c "$demo/phpmgr.ini" &
phpmgr_pid=$!
trap 'kill -TERM "$phpmgr_pid" 2>/dev/null || true; wait "$phpmgr_pid" 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 100); do
    grep -q "ready to handle connections" "$demo/phpmgr.log" 2>/dev/null && break
    kill -0 "$phpmgr_pid" 2>/dev/null || { cat "$demo/phpmgr.log"; exit 1; }
    sleep 0.1
done
echo "phpmgr demo: http://127.0.0.1:8080/  (FastCGI on 127.0.0.1:9000; log: $demo/phpmgr.log; Ctrl-C stops)"
wait "$phpmgr_pid"
