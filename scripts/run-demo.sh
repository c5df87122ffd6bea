#!/bin/bash
# `make run`: phpmgr serving examples/ directly on http://127.0.0.1:8080 (FastCGI stays on
# 127.0.0.1:9000 for nginx fastcgi_pass, see etc/nginx-fastcgi.conf). Ctrl-C stops it.
#
# Started as root, the workers run as www-data (user/group, as Debian's php-fpm pool), never as
# root; phpmgr itself keeps root only for the master. Not as root, no user switch can happen and
# the workers run as the caller.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
demo="$root/build/demo"
mkdir -p "$demo"
docroot="$root/examples"
run_user=www-data
identity=""
root_flag=""
tmp_docroot=""

if [ "$(id -u)" -eq 0 ]; then
    if getent passwd "$run_user" >/dev/null && getent group "$run_user" >/dev/null; then
        identity="user = $run_user
group = $run_user"
        # A checkout under /root (0700) cannot be read by www-data: serve a world-readable copy
        # then, made fresh each run (mktemp: no other user can have prepared the path).
        if ! runuser -u "$run_user" -- test -r "$docroot/index.php" -a -x "$docroot"; then
            tmp_docroot=$(mktemp -d "${TMPDIR:-/tmp}/phpmgr-demo.XXXXXX")
            cp -R "$docroot/." "$tmp_docroot/"
            chmod -R a+rX "$tmp_docroot"
            echo "phpmgr demo: $run_user cannot read $docroot; serving a copy in $tmp_docroot" \
                "(edits to examples/ need a restart)"
            docroot="$tmp_docroot"
        fi
    else
        echo "phpmgr demo: no user/group '$run_user' here; the workers run as root (-R)" >&2
        root_flag="-R"
    fi
fi

# The workers start in the docroot: the caller's directory may be closed to www-data.
cat >"$demo/phpmgr.ini" <<INI
[global]
pid = $demo/phpmgr.pid
error_log = $demo/phpmgr.log
daemonize = no

[www]
$identity
listen = 127.0.0.1:9000
http.listen = 127.0.0.1:8080
http.document_root = $docroot
http.index = index.php
chdir = $docroot
pm = static
pm.max_children = 4
pm.max_requests = 1000
INI
rm -f "$demo/phpmgr.log"
"$root/build/phpmgr" start -F $root_flag -c "$demo/phpmgr.ini" &
phpmgr_pid=$!
cleanup() {
    kill -TERM "$phpmgr_pid" 2>/dev/null || true
    wait "$phpmgr_pid" 2>/dev/null || true
    if [ -n "$tmp_docroot" ]; then rm -rf "$tmp_docroot"; fi
}
trap cleanup EXIT INT TERM
for _ in $(seq 1 100); do
    grep -q "ready to handle connections" "$demo/phpmgr.log" 2>/dev/null && break
    kill -0 "$phpmgr_pid" 2>/dev/null || { cat "$demo/phpmgr.log"; exit 1; }
    sleep 0.1
done
echo "phpmgr demo: http://127.0.0.1:8080/  (FastCGI on 127.0.0.1:9000; log: $demo/phpmgr.log; Ctrl-C stops)"
wait "$phpmgr_pid"
