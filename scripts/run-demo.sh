#!/bin/bash
# `make run`: phpmgr on FastCGI 127.0.0.1:9000 with nginx on http://127.0.0.1:8080 in front,
# serving examples/. Ctrl-C stops both.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
demo="$root/build/demo"
mkdir -p "$demo/tmp"
cat >"$demo/phpmgr.ini" <<INI
[global]
pid = $demo/phpmgr.pid
error_log = $demo/phpmgr.log
daemonize = no

[www]
listen = 127.0.0.1:9000
pm = static
pm.max_children = 4
pm.max_requests = 1000
INI
cat >"$demo/nginx.conf" <<NGX
worker_processes 1;
pid $demo/nginx.pid;
error_log $demo/nginx-error.log;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    access_log $demo/nginx-access.log;
    client_body_temp_path $demo/tmp/body;
    fastcgi_temp_path $demo/tmp/fastcgi;
    proxy_temp_path $demo/tmp/proxy;
    uwsgi_temp_path $demo/tmp/uwsgi;
    scgi_temp_path $demo/tmp/scgi;
    upstream phpmgr { server 127.0.0.1:9000; keepalive 16; }
    server {
        listen 127.0.0.1:8080;
        root $root/examples;
        index index.php;
        location / { try_files \$uri \$uri/ /index.php?\$query_string; }
        location ~ [^/]\.php(/|\$) {
            fastcgi_split_path_info ^(.+?\.php)(/.*)\$;
            try_files \$fastcgi_script_name =404;
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
            fastcgi_param PATH_INFO \$fastcgi_path_info;
            fastcgi_keep_conn on;
            fastcgi_pass phpmgr;
        }
    }
}
NGX
user_flag=""
[ "$(id -u)" -eq 0 ] && user_flag="-R"
"$root/build/phpmgr" start -F $user_flag -c "$demo/phpmgr.ini" &
phpmgr_pid=$!
nginx_pid=""
cleanup() {
    [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
    kill -TERM "$phpmgr_pid" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM
for _ in $(seq 1 100); do
    grep -q "ready to handle connections" "$demo/phpmgr.log" 2>/dev/null && break
    kill -0 "$phpmgr_pid" 2>/dev/null || { cat "$demo/phpmgr.log"; exit 1; }
    sleep 0.1
done
nginx -p "$demo" -c "$demo/nginx.conf" -g 'daemon off;' &
nginx_pid=$!
echo "phpmgr demo: http://127.0.0.1:8080/  (FastCGI on 127.0.0.1:9000; logs in $demo; Ctrl-C stops)"
wait "$phpmgr_pid"
