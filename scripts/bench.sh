#!/bin/bash
# `make bench`: phpmgr side by side with php-fpm, in one run, behind the same nginx.
#
#   scripts/bench.sh            the full benchmark (prints the tables; see docs/BENCHMARKS.md)
#   scripts/bench.sh profile    profile the phpmgr master under a hello-world load (top symbols)
#
# Environment:
#   BENCH_QUICK=1          only 32 connections, 3 s runs (1 s warm-ups)
#   BENCH_WORKERS=N        PHP workers on each side (pm = static), default 4
#   BENCH_DURATION=S       seconds per measured run (default 10, quick 3)
#   BENCH_WARMUP=S         seconds per warm-up run (default 3, quick 1)
#   BENCH_CONNS="1 32 256" connection counts (quick: 32)
#   BENCH_ROWS="hello template 64k upload resident laravel-json laravel-session laravel-memory"
#                          resident: phpmgr in resident mode (tests/fixtures/bench/resident.php, a
#                          hello-world bootstrap) vs php-fpm's hello.php; laravel-json (GET /json, no
#                          session), laravel-session (GET /session, file sessions, returning clients):
#                          tests/fixtures/laravel served by scripts/phpmgr-laravel vs nginx->php-fpm
#                          (one app copy, try_files to public/index.php); laravel-memory: each worker's
#                          RSS and PHP memory before and after BENCH_MEM_REQUESTS requests
#   BENCH_MEM_REQUESTS=N   laravel-memory: requests between the two samples (default 10000, quick 2000),
#                          at BENCH_MEM_CONNS connections (default 32)
#   BENCH_MAX_REQUESTS=N   the worker-recycling paths: one more phpmgr and php-fpm, each with
#                          pm.max_requests = N (default 500; 0: none), measured on BENCH_MR_ROWS
#                          (default hello) at BENCH_MR_CONNS connections (default 32, else the first
#                          of BENCH_CONNS), next to the same paths without it
#   BENCH_ONLY=regex       measure only the runs whose "SIDE ROW cCONNS" matches, e.g.
#                          BENCH_ONLY='^(mgr|mgr_http)(_mr)? hello c32$' (sides: fpm mgr mgr_proxy
#                          mgr_http fpm_unix mgr_unix fpm_mr mgr_mr mgr_http_mr; row noop is the CPU table;
#                          row resident: fpm rmgr rmgr_http; rows laravel-*: lfpm lmgr lmgr_http, and
#                          laravel-memory is "lfpm|lmgr laravel-memory cBENCH_MEM_CONNS")
#   BENCH_FPM_UNIX=0       skip the reference paths nginx->php-fpm and nginx->phpmgr over unix sockets
#   BENCH_KEEPALIVE=N      nginx upstream keepalive (idle connections cached per nginx worker), default 8;
#                          0: no upstream keepalive and fastcgi_keep_conn off (a new connection per request)
#   BENCH_WRK_TIMEOUT=S    wrk --timeout (default 2): a request outstanding longer counts as "timeout"
#   BENCH_WRK_THREADS=N    wrk threads (default 1; never more than the connection count)
#   BENCH_OUT=FILE         also write the report to FILE
#   BENCH_KEEP_TMP=1       keep the temporary directory (configs, logs, every wrk output)
#   BENCH_PROFILER=auto|perf|callgrind  profile mode only (auto: perf if `perf stat -e instructions`
#                          works, else callgrind); BENCH_PROFILE_SECONDS (default 10, callgrind 20)
#   PHPMGR=path            the phpmgr binary (default build/phpmgr)
#
# Must run as root on Debian 12 (it installs wrk, nginx, php8.2-fpm, curl, python3 if missing;
# linux-perf / valgrind for `profile`). Everything listens on 127.0.0.1 only, every wait is
# bounded, and everything started here is stopped by pid on exit.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HELPERS="$ROOT/scripts/bench"
FIXTURES="$ROOT/tests/fixtures/bench"
MODE=${1:-run}
PHPMGR=${PHPMGR:-$ROOT/build/phpmgr}
PHP_FPM=/usr/sbin/php-fpm8.2
WORKERS=${BENCH_WORKERS:-4}
QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
    DURATION=${BENCH_DURATION:-3}; WARMUP=${BENCH_WARMUP:-1}; CONNS=${BENCH_CONNS:-32}
else
    DURATION=${BENCH_DURATION:-10}; WARMUP=${BENCH_WARMUP:-3}; CONNS=${BENCH_CONNS:-"1 32 256"}
fi
ROWS=${BENCH_ROWS:-"hello template 64k upload resident laravel-json laravel-session laravel-memory"}
MEM_REQUESTS=${BENCH_MEM_REQUESTS:-$([ "$QUICK" = 1 ] && echo 2000 || echo 10000)}
MEM_CONNS=${BENCH_MEM_CONNS:-32}
LARAVEL_FIX=$ROOT/tests/fixtures/laravel
MAX_REQUESTS=${BENCH_MAX_REQUESTS:-500}
MR_ROWS=${BENCH_MR_ROWS:-hello}
if [ -n "${BENCH_MR_CONNS:-}" ]; then MR_CONNS=$BENCH_MR_CONNS
elif grep -qw 32 <<<"$CONNS"; then MR_CONNS=32
else MR_CONNS=${CONNS%% *}; fi
ONLY=${BENCH_ONLY:-}
KEEPALIVE=${BENCH_KEEPALIVE:-8}
FPM_UNIX=${BENCH_FPM_UNIX:-1}
WRK_THREADS=${BENCH_WRK_THREADS:-1}
WRK_TIMEOUT=${BENCH_WRK_TIMEOUT:-2}
if [ "$KEEPALIVE" -gt 0 ]; then
    UPSTREAM_KA="keepalive $KEEPALIVE; keepalive_requests 1000000;"
    KEEP_CONN=on
else
    UPSTREAM_KA=""
    KEEP_CONN=off
fi
NGINX_WORKERS=1          # the same nginx (one worker process) fronts both sides
UPLOAD_BYTES=1048576
READY_LINE="ready to handle connections"

log() { printf 'bench: %s\n' "$*" >&2; }
warn() { printf 'bench: WARNING: %s\n' "$*" >&2; WARNINGS+=("$*"); }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }
WARNINGS=()

case "$MODE" in
run | profile) ;;
-h | --help | help) sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
*) die "unknown mode '$MODE' (expected: run, profile)" ;;
esac

# ------------------------------------------------------------------------------------------------
# dependencies (Debian 12, root)

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and runs PHP workers as root with -R)"
ensure_pkgs() {
    local missing="" p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    log "installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -q >&2 || die "apt-get update failed"
    # shellcheck disable=SC2086
    timeout 1200 apt-get install -y -q --no-install-recommends $missing >&2 || die "apt-get install$missing failed"
}
ensure_pkgs wrk nginx php8.2-fpm curl python3 procps
[ -x "$PHP_FPM" ] || die "$PHP_FPM not found after installing php8.2-fpm"
command -v wrk >/dev/null || die "wrk not found"
command -v nginx >/dev/null || die "nginx not found"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
[ "$NOFILE" = unlimited ] && NOFILE=65536

# ------------------------------------------------------------------------------------------------
# temporary directory, processes we start, cleanup

TMP=$(mktemp -d /tmp/phpmgr-bench.XXXXXX) || die "mktemp failed"
chmod 755 "$TMP"
mkdir -p "$TMP/wrk" "$TMP/nginx"
RECORDS="$TMP/records.tsv"
: >"$RECORDS"
# Run a private copy: others may rebuild build/phpmgr while the benchmark runs.
PHPMGR_SRC=$PHPMGR
if [ -x "$PHPMGR" ]; then
    cp "$PHPMGR" "$TMP/phpmgr.bin" && PHPMGR="$TMP/phpmgr.bin"
fi
STARTED=()       # pids we started (masters, nginx, wrk, perf), stopped in reverse order
declare -A KNOWN_CHILDREN=()   # worker pids seen, killed at exit if a master left them behind

stop_pid() { # pid [signal]: signal, wait up to 10 s, then SIGKILL
    local pid=$1 sig=${2:-TERM} i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -"$sig" "$pid" 2>/dev/null
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        # a child of this shell that exited is a zombie until reaped
        [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
        log "pid $pid did not stop on SIG$sig within 10 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    return 0
}
cleanup() {
    local rc=$? i pid
    trap - EXIT INT TERM
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do stop_pid "${STARTED[i]}"; done
    for pid in "${!KNOWN_CHILDREN[@]}"; do
        # only if it is still the process we saw (same start time)
        if [ "$(cut -d' ' -f22 "/proc/$pid/stat" 2>/dev/null)" = "${KNOWN_CHILDREN[$pid]}" ]; then
            log "worker $pid outlived its master: SIGKILL"
            kill -KILL "$pid" 2>/dev/null
        fi
    done
    if [ "${BENCH_KEEP_TMP:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
        log "kept $TMP (configs, logs, wrk outputs)"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

started() { STARTED+=("$1"); }
forget() { # remove a pid from STARTED once stopped
    local keep=() p
    for p in "${STARTED[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
    STARTED=("${keep[@]}")
}
remember_children() { # master pid: note its children (with start times) for the exit sweep
    local c
    for c in $(python3 "$HELPERS/procstat.py" children "$1"); do
        KNOWN_CHILDREN[$c]=$(cut -d' ' -f22 "/proc/$c/stat" 2>/dev/null || echo 0)
    done
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port_accepts() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# wait_ready NAME PID PORT SECONDS [LOGFILE]: the log has the ready line (when given) and the
# port accepts; fails early when the process exits.
wait_ready() {
    local name=$1 pid=$2 port=$3 secs=$4 logf=${5:-} end=$((SECONDS + $4))
    while [ $SECONDS -lt $end ]; do
        if ! kill -0 "$pid" 2>/dev/null || [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ]; then
            log "$name (pid $pid) exited during start-up"
            return 1
        fi
        if { [ -z "$logf" ] || grep -q "$READY_LINE" "$logf" 2>/dev/null; } && port_accepts "$port"; then
            return 0
        fi
        sleep 0.1
    done
    log "$name not ready within ${secs} s"
    return 1
}

# wait_ready_unix NAME PID SOCKET SECONDS LOGFILE: the ready line, then the socket file exists.
wait_ready_unix() {
    local end=$((SECONDS + $4))
    while [ $SECONDS -lt $end ]; do
        kill -0 "$2" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$2/stat" 2>/dev/null)" != Z ] ||
            { log "$1 (pid $2) exited during start-up"; return 1; }
        grep -q "$READY_LINE" "$5" 2>/dev/null && [ -S "$3" ] && return 0
        sleep 0.1
    done
    log "$1 not ready within $4 s"
    return 1
}

# ------------------------------------------------------------------------------------------------
# configurations

# The pool section, identical for both sides apart from the port (and, for the recycling
# paths, pm.max_requests).
pool_section() { # port [extra pool lines]
    cat <<INI
[bench]
listen = $(case $1 in /*) echo "$1" ;; *) echo "127.0.0.1:$1" ;; esac)
pm = static
pm.max_children = $WORKERS
${2:-}
INI
}

write_fpm_conf() { # name listen [extra pool lines]
    cat >"$TMP/$1.conf" <<INI
[global]
pid = $TMP/$1.pid
error_log = $TMP/$1.log
daemonize = no

$(pool_section "$2" "${3:-}")
INI
}

write_phpmgr_conf() { # name listen [http_port [extra pool lines]]: writes $TMP/NAME.ini
    {
        cat <<INI
[global]
pid = $TMP/$1.pid
error_log = $TMP/$1.log
daemonize = no

$(pool_section "$2" "${4:-}")
INI
        if [ -n "${3:-}" ]; then
            printf 'http.listen = 127.0.0.1:%s\nhttp.document_root = %s\n' "$3" "$FIXTURES"
        fi
    } >"$TMP/$1.ini"
}

# HTTP ingress: phpmgr is asked to validate a config with http.listen; it is "supported" when the
# test passes without saying the key is not acted on yet.
detect_http() {
    HTTP_NA=""
    if [ ! -x "$PHPMGR" ]; then HTTP_NA="n/a ($PHPMGR not built)"; return; fi
    write_phpmgr_conf http-probe "$(free_port)" "$(free_port)"
    local out rc
    out=$(timeout 20 "$PHPMGR" test -R -c "$TMP/http-probe.ini" 2>&1); rc=$?
    if [ $rc -ne 0 ] || grep -qi "not acted on yet" <<<"$out"; then
        HTTP_NA="n/a (HTTP ingress not built yet)"
        log "phpmgr test -c (http.listen): rc=$rc: $(grep -i -m1 'http' <<<"$out" || head -n1 <<<"$out")"
    fi
}

# One fastcgi_pass site: upstream NAME at ADDR, served by nginx on 127.0.0.1:PORT.
fcgi_site() { # name addr port
    cat <<SITE
    upstream $1 { server $2; $UPSTREAM_KA }
    server {
        listen 127.0.0.1:$3;
        root $FIXTURES;
        location ~ \.php\$ {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
            fastcgi_keep_conn $KEEP_CONN;
            fastcgi_pass $1;
        }
    }
SITE
}

# A Laravel site as tests/integration/test_laravel.py (and Laravel's docs) configure it: try_files
# to the front controller; the same block for php-fpm and for phpmgr-laravel's FastCGI listener.
laravel_site() { # name addr port
    cat <<SITE
    upstream $1 { server $2; $UPSTREAM_KA }
    server {
        listen 127.0.0.1:$3;
        root $LAPP/public;
        index index.php;
        location / {
            try_files \$uri \$uri/ /index.php?\$query_string;
        }
        location ~ \.php\$ {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
            fastcgi_keep_conn $KEEP_CONN;
            fastcgi_pass $1;
        }
    }
SITE
}

write_nginx_conf() {
    local http_block="" unix_block=""
    [ -n "${MGRU_PID:-}" ] && unix_block="$(fcgi_site phpmgr_unix "unix:$TMP/phpmgr.sock" "$PORT_NGX_MGRU")"
    [ "$FPM_UNIX" = 1 ] &&
        unix_block="$unix_block
$(fcgi_site php_fpm_unix "unix:$TMP/php-fpm.sock" "$PORT_NGX_FPMU")"
    [ -n "${FPM_MR_PID:-}" ] && unix_block="$unix_block
$(fcgi_site php_fpm_mr "127.0.0.1:$PORT_FPM_MR" "$PORT_NGX_FPM_MR")"
    [ -n "${MGR_MR_PID:-}" ] && unix_block="$unix_block
$(fcgi_site phpmgr_mr "127.0.0.1:$PORT_MGR_MR" "$PORT_NGX_MGR_MR")"
    [ -n "${RMGR_PID:-}" ] && unix_block="$unix_block
$(fcgi_site phpmgr_resident "127.0.0.1:$PORT_RMGR" "$PORT_NGX_RMGR")"
    [ -n "${LFPM_PID:-}" ] && unix_block="$unix_block
$(laravel_site php_fpm_laravel "127.0.0.1:$PORT_LFPM" "$PORT_NGX_LFPM")"
    [ -n "${LMGR_PID:-}" ] && unix_block="$unix_block
$(laravel_site phpmgr_laravel "127.0.0.1:$PORT_LMGR" "$PORT_NGX_LMGR")"
    if [ -z "$HTTP_NA" ]; then
        http_block="
    upstream phpmgr_http { server 127.0.0.1:$PORT_MGR_HTTP; $UPSTREAM_KA }
    server {
        listen 127.0.0.1:$PORT_NGX_PROXY;
        location / {
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host \$host;
            proxy_pass http://phpmgr_http;
        }
    }"
    fi
    cat >"$TMP/nginx/nginx.conf" <<NGX
# generated by scripts/bench.sh
user root;
worker_processes $NGINX_WORKERS;
worker_rlimit_nofile $NOFILE;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections $((NOFILE / 2 > 8192 ? 8192 : NOFILE / 2)); }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/body;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    proxy_temp_path $TMP/nginx/proxy;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    keepalive_requests 1000000;      # wrk's connections stay open for the whole run
    client_max_body_size 8m;
    client_body_buffer_size 2m;      # the 1 MiB upload stays in memory (no temp file)
    fastcgi_buffer_size 16k;
    fastcgi_buffers 16 16k;          # the 64 KiB response stays in memory
    proxy_buffer_size 16k;
    proxy_buffers 16 16k;

$(fcgi_site php_fpm "127.0.0.1:$PORT_FPM" "$PORT_NGX_FPM")
$(fcgi_site phpmgr_fcgi "127.0.0.1:$PORT_MGR" "$PORT_NGX_MGR")
$unix_block$http_block
}
NGX
}

# ------------------------------------------------------------------------------------------------
# servers

FPM_PID=""; FPMU_PID=""; MGR_PID=""; MGRU_PID=""; NGX_PID=""; FPM_MR_PID=""; MGR_MR_PID=""
RMGR_PID=""; LFPM_PID=""; LMGR_PID=""; LAPP=""
# start_fpm NAME LISTEN [extra pool lines]: sets LAST_PID
start_fpm() {
    local name=$1 listen=$2 pid
    write_fpm_conf "$name" "$listen" "${3:-}"
    "$PHP_FPM" -F -R -y "$TMP/$name.conf" >"$TMP/$name.out" 2>&1 </dev/null &
    pid=$!; started "$pid"
    if [[ $listen == /* ]]; then
        wait_ready_unix "$name" "$pid" "$listen" 30 "$TMP/$name.log" || {
            tail -n 20 "$TMP/$name.log" "$TMP/$name.out" >&2 2>/dev/null; die "$name did not start"; }
    elif ! wait_ready "$name" "$pid" "$listen" 30 "$TMP/$name.log"; then
        tail -n 20 "$TMP/$name.log" "$TMP/$name.out" >&2 2>/dev/null
        die "$name did not start"
    fi
    remember_children "$pid"
    LAST_PID=$pid
}

# start_phpmgr [wrapper...]: returns non-zero (and logs why) when phpmgr does not come up.
start_phpmgr() {
    MGR_PID=""
    if [ ! -x "$PHPMGR" ]; then
        MGR_NA="n/a ($PHPMGR not built)"
        return 1
    fi
    write_phpmgr_conf phpmgr "$PORT_MGR" "${PORT_MGR_HTTP_IF:-}"
    "$@" "$PHPMGR" start -F -R -c "$TMP/phpmgr.ini" >"$TMP/phpmgr.out" 2>&1 </dev/null &
    MGR_PID=$!; started "$MGR_PID"
    if ! wait_ready phpmgr "$MGR_PID" "$PORT_MGR" "${MGR_START_SECS:-30}" "$TMP/phpmgr.log"; then
        log "phpmgr did not start; its log and output:"
        tail -n 20 "$TMP/phpmgr.log" "$TMP/phpmgr.out" >&2 2>/dev/null
        stop_pid "$MGR_PID"; forget "$MGR_PID"; MGR_PID=""
        MGR_NA="n/a (phpmgr did not start: see its log above)"
        return 1
    fi
    remember_children "$MGR_PID"
    return 0
}

# The reference instance over a unix socket (only for the fastcgi_pass comparison); sets MGRU_PID.
start_phpmgr_unix() {
    MGRU_PID=""
    write_phpmgr_conf phpmgr-unix "$TMP/phpmgr.sock"
    "$PHPMGR" start -F -R -c "$TMP/phpmgr-unix.ini" >"$TMP/phpmgr-unix.out" 2>&1 </dev/null &
    MGRU_PID=$!; started "$MGRU_PID"
    if ! wait_ready_unix phpmgr-unix "$MGRU_PID" "$TMP/phpmgr.sock" 30 "$TMP/phpmgr-unix.log"; then
        tail -n 20 "$TMP/phpmgr-unix.log" "$TMP/phpmgr-unix.out" >&2 2>/dev/null
        stop_pid "$MGRU_PID"; forget "$MGRU_PID"; MGRU_PID=""
        warn "phpmgr over a unix socket did not start: no phpmgr reference column"
        return 1
    fi
    remember_children "$MGRU_PID"
}

# The recycling instance: the same pool with pm.max_requests = MAX_REQUESTS, FastCGI and (when
# built) HTTP; sets MGR_MR_PID.
start_phpmgr_mr() {
    MGR_MR_PID=""
    write_phpmgr_conf phpmgr-mr "$PORT_MGR_MR" "${PORT_MGR_MR_HTTP_IF:-}" "pm.max_requests = $MAX_REQUESTS"
    "$PHPMGR" start -F -R -c "$TMP/phpmgr-mr.ini" >"$TMP/phpmgr-mr.out" 2>&1 </dev/null &
    MGR_MR_PID=$!; started "$MGR_MR_PID"
    if ! wait_ready phpmgr-mr "$MGR_MR_PID" "$PORT_MGR_MR" 30 "$TMP/phpmgr-mr.log"; then
        tail -n 20 "$TMP/phpmgr-mr.log" "$TMP/phpmgr-mr.out" >&2 2>/dev/null
        stop_pid "$MGR_MR_PID"; forget "$MGR_MR_PID"; MGR_MR_PID=""
        warn "phpmgr with pm.max_requests = $MAX_REQUESTS did not start: no recycling rows for phpmgr"
        return 1
    fi
    remember_children "$MGR_MR_PID"
}

# ------------------------------------------------------------------------------------------------
# resident mode (rows resident and laravel-*)

# The resident hello-world instance: the bench pool with worker.mode = resident and
# tests/fixtures/bench/resident.php as the bootstrap, FastCGI and (when built) HTTP; sets RMGR_PID.
start_rmgr() {
    RMGR_PID=""
    write_phpmgr_conf phpmgr-resident "$PORT_RMGR" "${PORT_RMGR_HTTP_IF:-}" "worker.mode = resident
worker.bootstrap = $FIXTURES/resident.php"
    "$PHPMGR" start -F -R -c "$TMP/phpmgr-resident.ini" >"$TMP/phpmgr-resident.out" 2>&1 </dev/null &
    RMGR_PID=$!; started "$RMGR_PID"
    if ! wait_ready phpmgr-resident "$RMGR_PID" "$PORT_RMGR" 30 "$TMP/phpmgr-resident.log"; then
        tail -n 20 "$TMP/phpmgr-resident.log" "$TMP/phpmgr-resident.out" >&2 2>/dev/null
        stop_pid "$RMGR_PID"; forget "$RMGR_PID"; RMGR_PID=""
        warn "phpmgr in resident mode did not start: no resident row"
        printf 'na\trmgr\t%s\nna\trmgr_http\t%s\n' "n/a (did not start)" "n/a (did not start)" >>"$RECORDS"
        return 1
    fi
    remember_children "$RMGR_PID"
}

# The Laravel fixture copied as tests/integration/test_laravel.py does: storage/ and
# bootstrap/cache/ writable by www-data, who runs the workers on both sides; sets LAPP.
make_laravel_app() {
    LAPP=$TMP/laravel
    cp -a "$LARAVEL_FIX" "$LAPP" || return 1
    mkdir -p "$LAPP/storage/framework/sessions" "$LAPP/storage/framework/views" \
        "$LAPP/storage/framework/cache" "$LAPP/storage/logs" "$LAPP/bootstrap/cache" &&
        chown -R www-data:www-data "$LAPP/storage" "$LAPP/bootstrap/cache" &&
        find "$LAPP/storage" "$LAPP/bootstrap/cache" -type d -exec chmod 775 {} + &&
        find "$LAPP/storage" "$LAPP/bootstrap/cache" -type f -exec chmod 664 {} +
}

# Both Laravel sides on one app copy: php-fpm (a pool like the bench one, user www-data) behind
# nginx's try_files site, and `scripts/phpmgr-laravel start` in the foreground (it writes
# storage/phpmgr/phpmgr.ini and becomes the phpmgr master: its pid is ours) with the same number of
# workers, its FastCGI listener behind the same nginx site and its HTTP listener for wrk directly.
start_laravel() {
    local why="" s
    if [ ! -f /usr/share/php/Illuminate/autoload.php ]; then
        why="n/a (Debian's php-laravel-framework is not installed: scripts/deps.sh)"
    elif ! command -v php >/dev/null; then
        why="n/a (php-cli is missing: phpmgr-laravel is a PHP script)"
    elif ! getent passwd www-data >/dev/null; then
        why="n/a (no www-data user to run the workers)"
    elif ! make_laravel_app; then
        why="n/a (could not copy $LARAVEL_FIX)"
    fi
    if [ -n "$why" ]; then
        for s in lfpm lmgr lmgr_http; do printf 'na\t%s\t%s\n' "$s" "$why" >>"$RECORDS"; done
        warn "Laravel rows: $why"
        return 1
    fi
    start_fpm php-fpm-laravel "$PORT_LFPM" "user = www-data
group = www-data"
    LFPM_PID=$LAST_PID
    if [ ! -x "$PHPMGR" ] || [ -n "$HTTP_NA" ]; then
        why=${MGR_NA:-${HTTP_NA:+n/a (phpmgr-laravel needs the HTTP ingress)}}
        printf 'na\tlmgr\t%s\nna\tlmgr_http\t%s\n' "$why" "$why" >>"$RECORDS"
        return 1
    fi
    local logf=$LAPP/storage/phpmgr/error.log
    # PHPMGR_* settings of the caller's environment would change the pool: not these runs'
    env -u PHPMGR_USER -u PHPMGR_GROUP -u PHPMGR_MAX_REQUESTS -u PHPMGR_MEMORY_LIMIT -u PHPMGR_LEAK_CHECK \
        -u PHPMGR_ACCESS_LOG PHPMGR="$PHPMGR" php "$ROOT/scripts/phpmgr-laravel" start --app="$LAPP" \
        --http="127.0.0.1:$PORT_LMGR_HTTP" --fastcgi="127.0.0.1:$PORT_LMGR" --workers="$WORKERS" \
        >"$TMP/phpmgr-laravel.out" 2>&1 </dev/null &
    LMGR_PID=$!; started "$LMGR_PID"
    if ! wait_ready phpmgr-laravel "$LMGR_PID" "$PORT_LMGR_HTTP" 60 "$logf"; then
        tail -n 20 "$logf" "$TMP/phpmgr-laravel.out" >&2 2>/dev/null
        stop_pid "$LMGR_PID"; forget "$LMGR_PID"; LMGR_PID=""
        warn "phpmgr-laravel did not start: no phpmgr Laravel column"
        printf 'na\tlmgr\t%s\nna\tlmgr_http\t%s\n' "n/a (did not start)" "n/a (did not start)" >>"$RECORDS"
        return 1
    fi
    remember_children "$LMGR_PID"
}

# make_sessions N: N Laravel file sessions (one GET /session each, with no cookie), their
# "fixture_session=..." Cookie values in $TMP/cookies.txt for session.lua and laravel_mem.lua. Both
# sides serve the same app copy (same storage/ and APP_KEY), so the same sessions are valid on both.
make_sessions() {
    local n=$1 side=lfpm i
    # through php-fpm (lmgr_http if it is absent), so phpmgr's workers are still fresh for laravel-memory
    grep -qw lfpm <<<"$LARAVEL_SIDES" || side=lmgr_http
    for i in $(seq 1 "$n"); do
        curl -s -m 10 -o /dev/null -c - "$(url_for "$side" laravel-session)" |
            awk '$6 == "fixture_session" {print $6 "=" $7}'
    done >"$TMP/cookies.txt"
    [ "$(wc -l <"$TMP/cookies.txt")" -eq "$n" ] ||
        warn "made $(wc -l <"$TMP/cookies.txt") Laravel sessions out of $n (via $side)"
    [ -s "$TMP/cookies.txt" ]
}

# check_res_side SIDE ROW: 200 and the expected answer. resident: hello.php's exact body;
# laravel-json: the route's JSON with this request's tag (its request-scoped singleton too);
# laravel-session: one cookie, two requests, the session's counter goes up by one.
# Returns 1 when something is wrong, 2 when the side does not answer at all.
check_res_side() {
    local side=$1 row=$2 f="$TMP/check-$1-$2" code a b
    case $row in
    resident)
        code=$(curl -s -m 10 -o "$f" -w '%{http_code}' "$(url_for "$side" "$row")")
        [ "$code" = 200 ] && cmp -s "$f" "$TMP/expect-hello" && return 0
        warn "$side: $row answered HTTP $code: $(head -c 200 "$f" 2>/dev/null | tr '\n' ' ') (expected hello.php's body)"
        ;;
    laravel-json)
        code=$(curl -s -m 20 -o "$f" -w '%{http_code}' "$(url_for "$side" "$row")?tag=check-$side")
        [ "$code" = 200 ] && grep -qF "{\"tag\":\"check-$side\",\"singleton\":\"check-$side\",\"path\":\"json\"" "$f" &&
            return 0
        warn "$side: GET /json answered HTTP $code: $(head -c 200 "$f" 2>/dev/null | tr '\n' ' ')"
        ;;
    laravel-session)
        local cookie
        cookie=$(head -n1 "$TMP/cookies.txt")
        code=$(curl -s -m 20 -o "$f" -w '%{http_code}' -H "Cookie: $cookie" "$(url_for "$side" "$row")")
        a=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["count"])' "$f" 2>/dev/null)
        curl -s -m 20 -o "$f" -H "Cookie: $cookie" "$(url_for "$side" "$row")"
        b=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["count"])' "$f" 2>/dev/null)
        [ "$code" = 200 ] && [ -n "$a" ] && [ "$b" = $((a + 1)) ] && return 0
        warn "$side: GET /session twice with one session cookie: HTTP $code, count '$a' then '$b' (expected n, n+1)"
        ;;
    esac
    [ "${code:-000}" = 000 ] && return 2
    return 1
}

# mem_workers SIDE PHASE: every worker of a Laravel side: PHP's memory from the fixture's /stats
# route (phpstats.py reaches each worker), then VmRSS / Pss / private pages from /proc, workers idle.
mem_workers() {
    local side=$1 phase=$2 master kids
    master=$(master_of "$side")
    kids=$(python3 "$HELPERS/procstat.py" children "$master" | tr '\n' ' ')
    python3 "$HELPERS/phpstats.py" "$(url_for "$side" stats)" "$WORKERS" "$(tr ' ' ',' <<<"$kids")" |
        awk -v s="$side" -v p="$phase" '{printf "pmem\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s, p, $1, $2, $3, $4, $5}' >>"$RECORDS"
    sleep 0.5
    # shellcheck disable=SC2086
    [ -n "$kids" ] && python3 "$HELPERS/procstat.py" mem $kids | awk -v s="$side" -v p="$phase" \
        '{printf "mem\t%s\t%s\tworker\t%s\t%s\t%s\t%s\n", s, p, $1, $2, $3, $4}' >>"$RECORDS"
    return 0
}

# mem_load SIDE N OUT: N requests of laravel_mem.lua (/json and /session alternately) at MEM_CONNS
# connections through nginx, as the throughput rows go.
mem_load() {
    local side=$1 n=$2 out=$3 wpid
    rm -f "$out.done"
    BENCH_COOKIE_FILE="$TMP/cookies.txt" BENCH_REQUESTS=$n BENCH_DONE_FILE="$out.done" timeout 630 \
        wrk -t1 -c"$MEM_CONNS" -d600s --timeout "${WRK_TIMEOUT}s" -s "$HELPERS/laravel_mem.lua" \
        "$(url_for "$side" laravel-memory)" >"$out" 2>&1 </dev/null &
    wpid=$!; started "$wpid"
    # the script stops sending after N answers, but wrk itself waits for -d unless interrupted
    # (SIGINT: it prints its results at once; timeout passes the signal on)
    while kill -0 "$wpid" 2>/dev/null && [ ! -e "$out.done" ]; do sleep 0.2; done
    [ -e "$out.done" ] && kill -INT "$wpid" 2>/dev/null
    timeout 30 tail --pid="$wpid" -f /dev/null
    stop_pid "$wpid"; forget "$wpid"
}

# laravel-memory: each Laravel side's workers right after start-up (and the checks), after the first
# MEM_REQUESTS/10 requests (warm: what the framework loads lazily is in), and after MEM_REQUESTS in
# all; run before the throughput rows. php-fpm's workers for reference.
laravel_memory() {
    local s out warm=$((MEM_REQUESTS / 10))
    for s in lfpm lmgr; do
        wanted "$s" laravel-memory "$MEM_CONNS" || continue
        grep -qw "$s" <<<"$LARAVEL_SIDES" || continue
        out="$TMP/wrk/$s-laravel-memory"
        log "  $(printf '%-9s' "$s") laravel-memory: $MEM_REQUESTS requests (/json and /session) at $MEM_CONNS connections"
        mem_workers "$s" before
        mem_load "$s" "$warm" "$out-1.txt"
        mem_workers "$s" warm
        mem_load "$s" $((MEM_REQUESTS - warm)) "$out-2.txt"
        printf 'memrun\t%s\t%s\t%s\n' "$s" "$out-1.txt" "$warm" "$s" "$out-2.txt" $((MEM_REQUESTS - warm)) >>"$RECORDS"
        sleep 1
        mem_workers "$s" after
    done
}

start_nginx() {
    write_nginx_conf
    nginx -t -q -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" 2>"$TMP/nginx/test.out" ||
        { cat "$TMP/nginx/test.out" >&2; die "nginx -t failed"; }
    nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g 'daemon off;' >"$TMP/nginx/out" 2>&1 </dev/null &
    NGX_PID=$!; started "$NGX_PID"
    wait_ready nginx "$NGX_PID" "$PORT_NGX_FPM" 20 || { cat "$TMP/nginx/error.log" >&2; die "nginx did not start"; }
    wait_ready nginx "$NGX_PID" "$PORT_NGX_MGR" 5 || die "nginx did not start"
}

# ------------------------------------------------------------------------------------------------
# measuring

url_for() { # side row -> URL
    local script=$2.php
    case $2 in # the resident rows' paths
    resident) script=hello.php ;;
    laravel-json) script=json ;;
    laravel-session) script=session ;;
    laravel-memory) script="" ;;
    stats) script=stats ;;
    esac
    case $1 in
    fpm) echo "http://127.0.0.1:$PORT_NGX_FPM/$script" ;;
    fpm_unix) echo "http://127.0.0.1:$PORT_NGX_FPMU/$script" ;;
    mgr_unix) echo "http://127.0.0.1:$PORT_NGX_MGRU/$script" ;;
    mgr) echo "http://127.0.0.1:$PORT_NGX_MGR/$script" ;;
    mgr_proxy) echo "http://127.0.0.1:$PORT_NGX_PROXY/$script" ;;
    mgr_http) echo "http://127.0.0.1:$PORT_MGR_HTTP/$script" ;;
    fpm_mr) echo "http://127.0.0.1:$PORT_NGX_FPM_MR/$script" ;;
    mgr_mr) echo "http://127.0.0.1:$PORT_NGX_MGR_MR/$script" ;;
    mgr_http_mr) echo "http://127.0.0.1:$PORT_MGR_MR_HTTP/$script" ;;
    rmgr) echo "http://127.0.0.1:$PORT_NGX_RMGR/$script" ;;
    rmgr_http) echo "http://127.0.0.1:$PORT_RMGR_HTTP/$script" ;;
    lfpm) echo "http://127.0.0.1:$PORT_NGX_LFPM/$script" ;;
    lmgr) echo "http://127.0.0.1:$PORT_NGX_LMGR/$script" ;;
    lmgr_http) echo "http://127.0.0.1:$PORT_LMGR_HTTP/$script" ;;
    esac
}
master_of() {
    case $1 in fpm) echo "$FPM_PID" ;; fpm_unix) echo "$FPMU_PID" ;; mgr_unix) echo "${MGRU_PID:-}" ;;
    fpm_mr) echo "$FPM_MR_PID" ;; mgr_mr | mgr_http_mr) echo "$MGR_MR_PID" ;;
    rmgr | rmgr_http) echo "$RMGR_PID" ;; lfpm) echo "$LFPM_PID" ;; lmgr | lmgr_http) echo "$LMGR_PID" ;;
    *) echo "$MGR_PID" ;; esac
}
# The paths measured on a row: the classic rows on every path, the resident rows on theirs
# (resident: php-fpm's hello.php against the resident bootstrap).
sides_for_row() {
    case $1 in
    resident) echo "fpm $RES_SIDES" ;;
    laravel-json | laravel-session) echo "$LARAVEL_SIDES" ;;
    laravel-memory) ;; # not a throughput row: laravel_memory
    *) echo "$ALL_SIDES" ;;
    esac
}
# row_wanted ROW "SIDES": ROW is in BENCH_ROWS and one of its runs on SIDES is wanted
row_wanted() {
    local c s
    grep -qw -- "$1" <<<"$ROWS" || return 1
    if [ "$1" = laravel-memory ]; then
        for s in $2; do wanted "$s" "$1" "$MEM_CONNS" && return 0; done
        return 1
    fi
    for c in $CONNS; do for s in $2; do wanted "$s" "$1" "$c" && return 0; done; done
    return 1
}
# wanted SIDE ROW CONNS: whether that run is measured (recycling sides only on their rows; BENCH_ONLY)
wanted() {
    case $1 in *_mr) grep -qw -- "$2" <<<"$MR_ROWS" && grep -qw -- "$3" <<<"$MR_CONNS" || return 1 ;; esac
    [ -z "$ONLY" ] || grep -qE -- "$ONLY" <<<"$1 $2 c$3"
}

# wrk_run SIDE ROW CONNS SECONDS OUTFILE
wrk_run() {
    local side=$1 row=$2 conns=$3 secs=$4 out=$5 t=$WRK_THREADS lua=()
    [ "$t" -gt "$conns" ] && t=$conns
    [ "$row" = upload ] && lua=(-s "$HELPERS/upload.lua")
    [ "$row" = laravel-session ] && lua=(-s "$HELPERS/session.lua")
    BENCH_BODY_FILE="$TMP/body.bin" BENCH_COOKIE_FILE="$TMP/cookies.txt" timeout $((secs + 30)) \
        wrk -t"$t" -c"$conns" -d"${secs}s" --timeout "${WRK_TIMEOUT}s" --latency "${lua[@]}" "$(url_for "$side" "$row")" \
        >"$out" 2>&1
    local rc=$?
    [ $rc -ne 0 ] && echo "bench: wrk exited with status $rc" >>"$out"
    return 0
}

backend_of() { # side -> "tcp PORT" | "unix PATH": where the PHP server listens for that path
    case $1 in
    fpm) echo "tcp $PORT_FPM" ;;
    fpm_unix) echo "unix $TMP/php-fpm.sock" ;;
    mgr_unix) echo "unix $TMP/phpmgr.sock" ;;
    mgr) echo "tcp $PORT_MGR" ;;
    fpm_mr) echo "tcp $PORT_FPM_MR" ;;
    mgr_mr) echo "tcp $PORT_MGR_MR" ;;
    mgr_http_mr) echo "tcp $PORT_MGR_MR_HTTP" ;;
    rmgr) echo "tcp $PORT_RMGR" ;;
    rmgr_http) echo "tcp $PORT_RMGR_HTTP" ;;
    lfpm) echo "tcp $PORT_LFPM" ;;
    lmgr) echo "tcp $PORT_LMGR" ;;
    lmgr_http) echo "tcp $PORT_LMGR_HTTP" ;;
    *) echo "tcp $PORT_MGR_HTTP" ;;
    esac
}
accept_queue() { # "tcp PORT" | "unix PATH" -> connections waiting in the listen socket's accept queue
    local kind=$1 where=$2
    if [ "$kind" = tcp ]; then
        ss -ltnH "( sport = :$where )" 2>/dev/null | awk '{print $2; exit}'
    else
        ss -lxH 2>/dev/null | awk -v p="$where" '{for (i = 1; i <= NF; i++) if ($i == p) {print $3; exit}}'
    fi
}
# queue_sampler SIDE SECONDS OUTFILE: the accept queue at 1/4, 1/2 and 3/4 of the run; prints the max
queue_sampler() {
    local be max=0 q
    be=$(backend_of "$1")
    for _ in 1 2 3; do
        sleep "$(awk -v d="$2" 'BEGIN {print d / 4}')"
        # shellcheck disable=SC2086
        q=$(accept_queue $be)
        [ -n "$q" ] && [ "$q" -gt "$max" ] && max=$q
    done
    echo "$max" >"$3"
}

cpu_sample() { # pid -> "ticks ns"
    python3 "$HELPERS/procstat.py" cpu "$1" 2>/dev/null || echo "- -"
}

CLK_TCK=$(getconf CLK_TCK)
# measure SIDE ROW CONNS: a warm-up run, then the measured run with the master's CPU around it.
measure() {
    local side=$1 row=$2 conns=$3 base="$TMP/wrk/$1-$2-c$3" master
    master=$(master_of "$side")
    wrk_run "$side" "$row" "$conns" "$WARMUP" "$base.warmup"
    printf 'run\t%s\t%s\t%s\twarmup\t%s\t-\t-\t%s\n' "$side" "$row" "$conns" "$base.warmup" "$CLK_TCK" >>"$RECORDS"
    local t0 n0 t1 n1 qpid q
    queue_sampler "$side" "$DURATION" "$base.queue" &
    qpid=$!
    read -r t0 n0 <<<"$(cpu_sample "$master")"
    wrk_run "$side" "$row" "$conns" "$DURATION" "$base.txt"
    read -r t1 n1 <<<"$(cpu_sample "$master")"
    wait "$qpid" 2>/dev/null
    q=$(cat "$base.queue" 2>/dev/null || echo -)
    local dt=- dn=-
    [ "$t0" != - ] && [ "$t1" != - ] && dt=$((t1 - t0))
    [ "$n0" != - ] && [ "$n1" != - ] && [ "$n0" -ge 0 ] && dn=$((n1 - n0))
    printf 'run\t%s\t%s\t%s\tmeasured\t%s\t%s\t%s\t%s\t%s\n' "$side" "$row" "$conns" "$base.txt" "$dt" "$dn" "$CLK_TCK" "${q:--}" >>"$RECORDS"
    log "  $(printf '%-9s %-8s c=%-3s' "$side" "$row" "$conns") $(python3 "$HELPERS/report.py" parse "$base.txt" |
        awk -v q="$q" '{printf "%8.0f req/s  p50 %.3f ms  p99 %.3f ms  in flight %.1f  accept queue %s  non-2xx %s  socket errors %s", $1, $3, $4, $7, q, $5, $6}')"
}

mem_sample() { # side phase
    local side=$1 phase=$2 master kids
    master=$(master_of "$side")
    [ -n "$master" ] || return 0
    kids=$(python3 "$HELPERS/procstat.py" children "$master" | tr '\n' ' ')
    python3 "$HELPERS/procstat.py" mem "$master" | awk -v s="$side" -v p="$phase" \
        '{printf "mem\t%s\t%s\tmaster\t%s\t%s\t%s\t%s\n", s, p, $1, $2, $3, $4}' >>"$RECORDS"
    # shellcheck disable=SC2086
    [ -n "$kids" ] && python3 "$HELPERS/procstat.py" mem $kids | awk -v s="$side" -v p="$phase" \
        '{printf "mem\t%s\t%s\tworker\t%s\t%s\t%s\t%s\n", s, p, $1, $2, $3, $4}' >>"$RECORDS"
    local n
    n=$(wc -w <<<"$kids")
    [ "$n" -eq "$WORKERS" ] || warn "$side: $n children of the master (expected $WORKERS workers) at $phase"
}

# check SIDE: every fixture answers 200 with the expected body; prints the SAPI/OPcache line.
# Returns 1 when something is wrong, 2 when the side does not answer at all.
check_side() {
    local side=$1 ok=1 body code
    body=$(curl -s -m 10 -o - -w '\n%{http_code}' "$(url_for "$side" check)")
    code=${body##*$'\n'}; body=${body%$'\n'*}
    log "$side: check.php -> $code $body"
    if [ "$code" != 200 ]; then warn "$side: check.php answered HTTP $code (000: no response within 10 s)"; ok=0
    elif ! grep -q '"opcache":true' <<<"$body"; then warn "$side: OPcache is NOT enabled: $body"; fi
    local row want got
    for row in hello template 64k upload noop; do
        if [ "$ok" = 0 ] && [ "$code" = 000 ] && [ "$row" = hello ]; then
            code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$(url_for "$side" hello)")
            [ "$code" = 000 ] && { warn "$side: hello.php did not answer within 10 s either"; return 2; }
        fi
        if [ "$row" = upload ]; then
            got=$(curl -s -m 20 -o "$TMP/check-$side-$row" -w '%{http_code}' -H 'Content-Type: application/octet-stream' \
                --data-binary "@$TMP/body.bin" "$(url_for "$side" "$row")")
        else
            got=$(curl -s -m 20 -o "$TMP/check-$side-$row" -w '%{http_code}' "$(url_for "$side" "$row")")
        fi
        want=$(sha256sum <"$TMP/expect-$row" | cut -c1-64)
        if [ "$got" != 200 ]; then
            warn "$side: $row.php answered HTTP $got: $(head -c 200 "$TMP/check-$side-$row" | tr '\n' ' ')"; ok=0
        elif [ "$(sha256sum <"$TMP/check-$side-$row" | cut -c1-64)" != "$want" ]; then
            warn "$side: $row.php body differs from the expected one ($(wc -c <"$TMP/check-$side-$row") bytes, $TMP/check-$side-$row)"; ok=0
        fi
    done
    return $((1 - ok))
}

# The expected bodies, made with php-cli from the same fixtures.
make_expected() {
    head -c $UPLOAD_BYTES /dev/urandom >"$TMP/body.bin"
    local row
    for row in hello template 64k noop; do
        (cd "$FIXTURES" && SCRIPT_NAME="/$row.php" php -d output_buffering=0 -r '$_SERVER["SCRIPT_NAME"]=getenv("SCRIPT_NAME"); include "'"$row"'.php";') >"$TMP/expect-$row"
    done
    python3 -c 'import sys,zlib; d=open(sys.argv[1],"rb").read(); print("%d %08x" % (len(d), zlib.crc32(d)))' \
        "$TMP/body.bin" >"$TMP/expect-upload"
}

check_php_ini() {
    local a=/etc/php/8.2/fpm/php.ini b=/etc/php/8.2/embed/php.ini
    if ! cmp -s "$a" "$b"; then
        warn "$a and $b differ: the two sides do not run with the same php.ini ($(diff "$a" "$b" | grep -c '^[<>]') lines differ)"
    fi
    if ! diff -r "$(dirname "$a")/conf.d" "$(dirname "$b")/conf.d" >/dev/null 2>&1; then
        warn "/etc/php/8.2/fpm/conf.d and /etc/php/8.2/embed/conf.d differ (extensions/settings)"
    fi
}

machine() {
    echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) CPUs online)"
    echo "- kernel: $(uname -r); $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "- memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo); load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- $(nginx -v 2>&1 | sed 's/^nginx version: //'), $("$PHP_FPM" -v | head -n1 | cut -d'(' -f1 | sed 's/ *$//'), $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2)"
    if [ -x "$PHPMGR" ]; then
        local rev dirty=""
        rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
        [ -n "$(git -C "$ROOT" status --porcelain -- src sapi 2>/dev/null)" ] && dirty=", src/ or sapi/ with uncommitted changes"
        echo "- phpmgr: $("$PHPMGR" version 2>/dev/null | head -n1), $PHPMGR_SRC built $(date -u -r "$PHPMGR_SRC" '+%Y-%m-%d %H:%M UTC'), tree at $rev$dirty"
    fi
}

settings() {
    echo "- $WORKERS PHP workers per side (pm = static), OPcache on both (JIT off, Debian's default); same php.ini content"
    if [ "$KEEPALIVE" -gt 0 ]; then
        echo "- nginx $(nginx -v 2>&1 | cut -d/ -f2): worker_processes $NGINX_WORKERS, access_log off, upstream keepalive $KEEPALIVE + fastcgi_keep_conn on (both sides)"
    else
        echo "- nginx $(nginx -v 2>&1 | cut -d/ -f2): worker_processes $NGINX_WORKERS, access_log off, NO upstream keepalive, fastcgi_keep_conn off (both sides)"
    fi
    echo "- wrk: $WRK_THREADS thread(s), --timeout ${WRK_TIMEOUT}s, connections: $CONNS; $DURATION s measured runs, each after a ${WARMUP} s warm-up on the same row"
    [ "$MR" = 1 ] && echo "- recycling paths (*_mr): the same pools with pm.max_requests = $MAX_REQUESTS, rows $MR_ROWS at $MR_CONNS connections"
    [ -n "$RES_SIDES" ] && echo "- resident row: phpmgr with worker.mode = resident, bootstrap tests/fixtures/bench/resident.php (hello.php's answer), $WORKERS workers, against php-fpm's hello.php (the fpm pool above)"
    if [ -n "$LARAVEL_SIDES" ]; then
        echo "- laravel-* rows: one copy of tests/fixtures/laravel (Debian's php-laravel-framework, APP_ENV=production, APP_DEBUG=false); php-fpm: a $WORKERS-worker pm = static pool (user www-data) behind nginx's try_files site; phpmgr: \`scripts/phpmgr-laravel start --workers=$WORKERS\` (its generated storage/phpmgr/phpmgr.ini: resident workers, user www-data), FastCGI behind the same nginx site and HTTP direct"
        echo "- laravel-session: returning clients: $(wc -l <"$TMP/cookies.txt" 2>/dev/null || echo 0) file sessions made before the runs, each request sends the next one's cookie (scripts/bench/session.lua), the same cookies on every path"
        grep -qw laravel-memory <<<"$ROWS" && echo "- laravel-memory: $MEM_REQUESTS requests (/json and /session alternately, scripts/bench/laravel_mem.lua) at $MEM_CONNS connections through nginx, each side in turn, before the throughput runs"
    fi
    [ -n "$ONLY" ] && echo "- BENCH_ONLY='$ONLY': only the matching runs were measured"
    return 0
}

# ------------------------------------------------------------------------------------------------
# profile mode

profile() {
    ensure_pkgs linux-perf valgrind
    [ -x "$PHPMGR" ] || die "$PHPMGR is not built (make all)"
    local tool=${BENCH_PROFILER:-auto}
    if [ "$tool" = auto ]; then
        if perf stat -e instructions true 2>&1 | grep -q "not supported"; then
            log "perf: hardware counters are not supported here (perf stat -e instructions): using callgrind"
            tool=callgrind
        elif ! perf stat -e instructions true >/dev/null 2>&1; then
            log "perf does not work here: using callgrind"
            tool=callgrind
        else
            tool=perf
        fi
    fi
    local secs=${BENCH_PROFILE_SECONDS:-$([ "$tool" = callgrind ] && echo 20 || echo 10)}
    PORT_FPM=$(free_port); PORT_MGR=$(free_port); PORT_NGX_FPM=$(free_port); PORT_NGX_MGR=$(free_port)
    HTTP_NA="n/a (not used by profile)"; FPM_UNIX=0
    make_expected
    if [ "$tool" = callgrind ]; then
        MGR_START_SECS=180 start_phpmgr valgrind --tool=callgrind --callgrind-out-file="$TMP/callgrind.out.%p" \
            || die "phpmgr did not start under valgrind"
    else
        start_phpmgr || die "phpmgr did not start"
    fi
    start_nginx
    log "phpmgr master pid $MGR_PID, workers: $(python3 "$HELPERS/procstat.py" children "$MGR_PID" | tr '\n' ' ')"
    wrk_run mgr hello 32 3 "$TMP/wrk/profile-warmup.txt"
    log "warm-up: $(python3 "$HELPERS/report.py" parse "$TMP/wrk/profile-warmup.txt" | awk '{printf "%.0f req/s, %s requests, non-2xx %s, socket errors %s", $1, $2, $5, $6}')"
    if [ "$tool" = perf ]; then
        local ev=()
        perf stat -e cycles true 2>&1 | grep -q "not supported" && ev=(-e cpu-clock)
        log "perf record ${ev[*]} -g on pid $MGR_PID for $secs s under hello.php, 32 connections"
        perf record "${ev[@]}" -g -o "$TMP/perf.data" -p "$MGR_PID" -- sleep "$secs" >"$TMP/perf.out" 2>&1 &
        local perf_pid=$!; started "$perf_pid"
        wrk_run mgr hello 32 "$secs" "$TMP/wrk/profile.txt"
        timeout 30 tail --pid="$perf_pid" -f /dev/null; stop_pid "$perf_pid" INT; forget "$perf_pid"
        echo "## load: $(python3 "$HELPERS/report.py" parse "$TMP/wrk/profile.txt" | awk '{printf "%.0f req/s, %s requests, non-2xx %s, socket errors %s", $1, $2, $5, $6}')"
        echo "## phpmgr master: top symbols by self time (perf report --no-children; ${ev[*]:-cycles})"
        timeout 120 perf report -i "$TMP/perf.data" --stdio --no-children --sort dso,symbol --percent-limit 0.5 -g none 2>/dev/null |
            grep -v -e '^#' -e '^$' | head -n 25
        echo "## phpmgr master: where the time goes, inclusive (perf report --children; [k] kernel, [.] user)"
        timeout 120 perf report -i "$TMP/perf.data" --stdio --children --sort symbol --percent-limit 4 -g none 2>/dev/null |
            grep -v -e '^#' -e '^$' -e '\] 0x' | head -n 40
    else
        command -v callgrind_control >/dev/null || die "callgrind_control missing (valgrind package)"
        log "callgrind: zeroing the master's counters (start-up excluded), then $secs s of hello.php at 32 connections"
        timeout 60 callgrind_control -z "$MGR_PID" >"$TMP/callgrind-z.out" 2>&1 ||
            log "callgrind_control -z failed ($(head -n1 "$TMP/callgrind-z.out")): the profile includes start-up"
        wrk_run mgr hello 32 "$secs" "$TMP/wrk/profile.txt"
        timeout 60 callgrind_control -d "$MGR_PID" >"$TMP/callgrind-d.out" 2>&1
        local dumped
        dumped=$(ls -t "$TMP"/callgrind.out."$MGR_PID"* 2>/dev/null | head -n1)
        if [ -z "$dumped" ]; then
            log "no dump from callgrind_control -d: stopping the master to get its profile"
            stop_pid "$MGR_PID"; forget "$MGR_PID"
            dumped=$(ls -t "$TMP"/callgrind.out."$MGR_PID"* 2>/dev/null | head -n1)
        fi
        [ -n "$dumped" ] || die "no callgrind output for pid $MGR_PID"
        local reqs total
        reqs=$(python3 "$HELPERS/report.py" parse "$TMP/wrk/profile.txt" | awk '{print $2}')
        total=$(awk '/^summary:/ {print $2}' "$dumped")
        echo "## load (PHP workers run under valgrind too, so the rate is low): $(python3 "$HELPERS/report.py" parse "$TMP/wrk/profile.txt" | awk '{printf "%.0f req/s, %s requests, non-2xx %s, socket errors %s", $1, $2, $5, $6}')"
        echo "## phpmgr master, user space only (callgrind counts instructions; kernel time in io_uring_enter"
        echo "## and socket work is not visible to it): $total instructions, $(awk -v t="$total" -v r="$reqs" 'BEGIN {if (r > 0) printf "%.0f", t / r; else print "?"}') per request"
        echo "## top functions, self cost (callgrind_annotate $dumped):"
        timeout 120 callgrind_annotate --auto=no --threshold=100 --inclusive=no "$dumped" 2>/dev/null |
            sed -n '/file:function/,$p' | grep -v -e '^-*$' -e 'file:function' -e '(100.0%)' | head -n 25
        echo "## top functions, inclusive:"
        timeout 120 callgrind_annotate --auto=no --threshold=100 --inclusive=yes "$dumped" 2>/dev/null |
            sed -n '/file:function/,$p' | grep -v -e '^-*$' -e 'file:function' -e '(100.0%)' | grep -v '^ *[0-9,]* ([0-9.]*%)  /' | head -n 20
    fi
    echo "## phpmgr log warnings/errors:"
    grep -E 'WARNING|ERROR|ALERT' "$TMP/phpmgr.log" | tail -n 20 || echo "none"
}

if [ "$MODE" = profile ]; then
    profile
    exit 0
fi

# ------------------------------------------------------------------------------------------------
# the benchmark

log "temporary directory $TMP"
check_php_ini
PORT_FPM=$(free_port); PORT_MGR=$(free_port); PORT_NGX_FPM=$(free_port); PORT_NGX_MGR=$(free_port)
PORT_MGR_HTTP=$(free_port); PORT_NGX_PROXY=$(free_port); PORT_NGX_FPMU=$(free_port); PORT_NGX_MGRU=$(free_port)
PORT_FPM_MR=$(free_port); PORT_MGR_MR=$(free_port); PORT_MGR_MR_HTTP=$(free_port)
PORT_NGX_FPM_MR=$(free_port); PORT_NGX_MGR_MR=$(free_port)
PORT_RMGR=$(free_port); PORT_RMGR_HTTP=$(free_port); PORT_NGX_RMGR=$(free_port)
PORT_LFPM=$(free_port); PORT_LMGR=$(free_port); PORT_LMGR_HTTP=$(free_port)
PORT_NGX_LFPM=$(free_port); PORT_NGX_LMGR=$(free_port)
MGR_NA=""
detect_http
[ -z "$HTTP_NA" ] && { PORT_MGR_HTTP_IF=$PORT_MGR_HTTP; PORT_MGR_MR_HTTP_IF=$PORT_MGR_MR_HTTP; PORT_RMGR_HTTP_IF=$PORT_RMGR_HTTP; }
make_expected
# The recycling paths run only when one of their runs is wanted.
MR=0
if [ "$MAX_REQUESTS" -gt 0 ]; then
    for row in $ROWS; do for c in $CONNS; do for s in fpm_mr mgr_mr mgr_http_mr; do
        wanted "$s" "$row" "$c" && MR=1
    done; done; done
fi

start_fpm php-fpm "$PORT_FPM"; FPM_PID=$LAST_PID
[ "$FPM_UNIX" = 1 ] && { start_fpm php-fpm-unix "$TMP/php-fpm.sock"; FPMU_PID=$LAST_PID; }
start_phpmgr || true
[ "$FPM_UNIX" = 1 ] && [ -n "$MGR_PID" ] && { start_phpmgr_unix || true; }
if [ "$MR" = 1 ]; then
    start_fpm php-fpm-mr "$PORT_FPM_MR" "pm.max_requests = $MAX_REQUESTS"; FPM_MR_PID=$LAST_PID
    [ -n "$MGR_PID" ] && { start_phpmgr_mr || true; }
    printf 'param\tmax_requests\t%s\n' "$MAX_REQUESTS" >>"$RECORDS"
fi
# resident mode: its own servers, only when one of their runs is wanted
RES_SIDES=""; LARAVEL_SIDES=""
if row_wanted resident "rmgr rmgr_http"; then
    if [ ! -x "$PHPMGR" ]; then
        printf 'na\trmgr\tn/a (%s not built)\nna\trmgr_http\tn/a (%s not built)\n' "$PHPMGR" "$PHPMGR" >>"$RECORDS"
    elif start_rmgr; then
        RES_SIDES="rmgr"
        if [ -z "$HTTP_NA" ]; then RES_SIDES="rmgr rmgr_http"
        else printf 'na\trmgr_http\t%s\n' "$HTTP_NA" >>"$RECORDS"; fi
    fi
fi
if row_wanted laravel-json "lfpm lmgr lmgr_http" || row_wanted laravel-session "lfpm lmgr lmgr_http" ||
    row_wanted laravel-memory "lfpm lmgr"; then
    start_laravel
    [ -n "$LFPM_PID" ] && LARAVEL_SIDES="lfpm"
    [ -n "$LMGR_PID" ] && LARAVEL_SIDES="$LARAVEL_SIDES lmgr lmgr_http"
    printf 'param\tmem_requests\t%s\nparam\tmem_conns\t%s\n' "$MEM_REQUESTS" "$MEM_CONNS" >>"$RECORDS"
fi
start_nginx
SIDES="fpm"
if [ -n "$MGR_PID" ]; then
    SIDES="fpm mgr"
    [ -z "$HTTP_NA" ] && SIDES="fpm mgr mgr_proxy mgr_http"
else
    printf 'na\tmgr\t%s\n' "$MGR_NA" >>"$RECORDS"
fi
ALL_SIDES=$SIDES
[ "$FPM_UNIX" = 1 ] && ALL_SIDES="$SIDES fpm_unix"
[ -n "${MGRU_PID:-}" ] && ALL_SIDES="$ALL_SIDES mgr_unix"
# each recycling path right after the same path without recycling, so the two runs are adjacent
[ -n "$FPM_MR_PID" ] && ALL_SIDES=$(sed 's/\<fpm\>/fpm fpm_mr/' <<<"$ALL_SIDES")
[ -n "$MGR_MR_PID" ] && ALL_SIDES=$(sed 's/\<mgr\>/mgr mgr_mr/' <<<"$ALL_SIDES")
[ -n "$MGR_MR_PID" ] && ALL_SIDES=$(sed 's/\<mgr_http\>/mgr_http mgr_http_mr/' <<<"$ALL_SIDES")
[ -n "$HTTP_NA" ] && printf 'na\tmgr_proxy\t%s\nna\tmgr_http\t%s\n' "$HTTP_NA" "$HTTP_NA" >>"$RECORDS"
log "php-fpm master $FPM_PID, phpmgr master ${MGR_PID:-none}, nginx $NGX_PID; sides: $ALL_SIDES"
[ -n "$RES_SIDES$LARAVEL_SIDES" ] && log "resident: phpmgr resident ${RMGR_PID:-none}, php-fpm Laravel ${LFPM_PID:-none}, phpmgr-laravel ${LMGR_PID:-none}; sides: fpm $RES_SIDES $LARAVEL_SIDES"

for s in $ALL_SIDES; do
    check_side "$s"
    case $? in
    0) ;;
    2)
        [ "$s" = fpm ] && die "nginx->php-fpm does not answer"
        reason="n/a (no response: check.php and hello.php timed out through this path)"
        printf 'na\t%s\t%s\n' "$s" "$reason" >>"$RECORDS"
        warn "$s: skipped: $reason"
        ALL_SIDES=$(tr ' ' '\n' <<<"$ALL_SIDES" | grep -vx "$s" | tr '\n' ' ')
        SIDES=$(tr ' ' '\n' <<<"$SIDES" | grep -vx "$s" | tr '\n' ' ')
        ;;
    *) warn "$s: the response check failed (numbers for it may be meaningless)" ;;
    esac
done
# the resident rows' paths
for row in resident laravel-json laravel-session; do
    for s in $(sides_for_row "$row"); do
        [ "$row" = resident ] && [ "$s" = fpm ] && continue # checked above
        row_wanted "$row" "$s" || continue
        check_res_side "$s" "$row"
        case $? in
        0) log "$s: $row answers as expected" ;;
        2)
            reason="n/a (no response to the check request)"
            printf 'na\t%s\t%s\n' "$s" "$reason" >>"$RECORDS"
            warn "$s: skipped: $reason"
            RES_SIDES=$(tr ' ' '\n' <<<"$RES_SIDES" | grep -vx "$s" | tr '\n' ' ')
            LARAVEL_SIDES=$(tr ' ' '\n' <<<"$LARAVEL_SIDES" | grep -vx "$s" | tr '\n' ' ')
            ;;
        *) warn "$s: the $row check failed (numbers for it may be meaningless)" ;;
        esac
    done
    # the sessions the session rows use, once the Laravel paths answer
    if [ "$row" = laravel-json ] && [ -n "$LARAVEL_SIDES" ]; then
        n_sessions=8
        for c in $CONNS $MEM_CONNS; do [ "$c" -gt "$n_sessions" ] && n_sessions=$c; done
        make_sessions "$n_sessions" || { warn "no Laravel session could be made: no laravel-session row"; ROWS=$(sed 's/\<laravel-session\>//; s/\<laravel-memory\>//' <<<"$ROWS"); }
    fi
done
sleep 1
for s in fpm mgr; do [ -n "$(master_of "$s")" ] && mem_sample "$s" fresh; done
RMGR_WORKERS_BEFORE=""; LMGR_WORKERS_BEFORE=""
[ -n "$RMGR_PID" ] && RMGR_WORKERS_BEFORE=$(python3 "$HELPERS/procstat.py" children "$RMGR_PID" | tr '\n' ' ')
[ -n "$LMGR_PID" ] && LMGR_WORKERS_BEFORE=$(python3 "$HELPERS/procstat.py" children "$LMGR_PID" | tr '\n' ' ')
[ -n "$MGR_PID" ] && MGR_WORKERS_BEFORE=$(python3 "$HELPERS/procstat.py" children "$MGR_PID" | tr '\n' ' ')
FPM_WORKERS_BEFORE=$(python3 "$HELPERS/procstat.py" children "$FPM_PID" | tr '\n' ' ')

MACHINE=$(machine)
n_runs=0
for row in $ROWS; do for c in $CONNS; do for s in $(sides_for_row "$row"); do
    wanted "$s" "$row" "$c" && n_runs=$((n_runs + 1))
done; done; done
for s in $SIDES; do wanted "$s" noop 32 && n_runs=$((n_runs + 1)); done
log "$n_runs runs, ~$((n_runs * (DURATION + WARMUP + 1) / 60 + 1)) min"

grep -qw laravel-memory <<<"$ROWS" && [ -n "$LARAVEL_SIDES" ] && laravel_memory

# Rows interleave the sides (alternating which goes first), so a slow patch of a shared machine
# hits both sides rather than one.
i=0
for row in $ROWS; do
    for c in $CONNS; do
        order=$(sides_for_row "$row")
        [ -z "$order" ] && continue
        [ $((i % 2)) = 1 ] && order=$(tr ' ' '\n' <<<"$order" | tac | tr '\n' ' ')
        for s in $order; do wanted "$s" "$row" "$c" && measure "$s" "$row" "$c"; done
        i=$((i + 1))
    done
done
# the front end's CPU per request: a no-op script, 32 connections
for s in $SIDES; do wanted "$s" noop 32 && measure "$s" noop 32; done

sleep 2
for s in fpm mgr; do [ -n "$(master_of "$s")" ] && mem_sample "$s" after-load; done
if [ -n "$MGR_PID" ]; then
    after=$(python3 "$HELPERS/procstat.py" children "$MGR_PID" | tr '\n' ' ')
    [ "$after" = "$MGR_WORKERS_BEFORE" ] || warn "phpmgr's workers changed during the run (respawned?): before [$MGR_WORKERS_BEFORE] after [$after]"
fi
after=$(python3 "$HELPERS/procstat.py" children "$FPM_PID" | tr '\n' ' ')
[ "$after" = "$FPM_WORKERS_BEFORE" ] || warn "php-fpm's workers changed during the run: before [$FPM_WORKERS_BEFORE] after [$after]"
if [ -n "$RMGR_PID" ]; then
    after=$(python3 "$HELPERS/procstat.py" children "$RMGR_PID" | tr '\n' ' ')
    [ "$after" = "$RMGR_WORKERS_BEFORE" ] || warn "phpmgr resident's workers changed during the run (respawned: the bootstrap ran again): before [$RMGR_WORKERS_BEFORE] after [$after]"
fi
if [ -n "$LMGR_PID" ]; then
    after=$(python3 "$HELPERS/procstat.py" children "$LMGR_PID" | tr '\n' ' ')
    [ "$after" = "$LMGR_WORKERS_BEFORE" ] || warn "phpmgr-laravel's workers changed during the run (respawned: Laravel booted again): before [$LMGR_WORKERS_BEFORE] after [$after]"
fi

{
    echo "## phpmgr vs php-fpm — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "$MACHINE"
    echo "- load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
    settings
    echo
    python3 "$HELPERS/report.py" table "$RECORDS"
    echo
    echo "### Server logs (warnings and errors during the run)"
    echo
    for f in "$TMP/php-fpm.log" "$TMP/php-fpm-unix.log" "$TMP/php-fpm-mr.log" "$TMP/phpmgr.log" "$TMP/phpmgr-unix.log" \
        "$TMP/phpmgr-mr.log" "$TMP/phpmgr-resident.log" "$TMP/php-fpm-laravel.log" \
        ${LAPP:+"$LAPP/storage/phpmgr/error.log" "$LAPP/storage/logs/laravel.log"} "$TMP/nginx/error.log"; do
        [ -f "$f" ] || continue
        n=$(grep -cE 'WARNING|ERROR|ALERT|\[error\]|\[crit\]|\[alert\]' "$f")
        echo "- ${f#"$TMP"/}: $n warning/error lines"
        grep -E 'WARNING|ERROR|ALERT|\[error\]|\[crit\]|\[alert\]' "$f" | sort | uniq -c | sort -rn | head -n 8 | sed 's/^/      /'
    done
    if [ ${#WARNINGS[@]} -gt 0 ]; then
        echo
        echo "### bench.sh warnings"
        echo
        for w in "${WARNINGS[@]}"; do echo "- $w"; done
    fi
} >"$TMP/report.md"
cat "$TMP/report.md"
if [ -n "${BENCH_OUT:-}" ]; then cp "$TMP/report.md" "$BENCH_OUT" && log "report written to $BENCH_OUT"; fi
