#!/bin/bash
# Installs what phpmgr needs to build and test, only when something is missing (idempotent).
set -eu
BUILD_PKGS="libphp8.2-embed php8.2-dev libfcgi-dev liburing-dev libinih-dev gcc make clang"
TEST_PKGS="nginx php8.2-fpm php8.2-cli curl python3 wrk php-laravel-framework php8.2-mbstring php8.2-xml"
missing=""
for p in $BUILD_PKGS $TEST_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "deps.sh: missing packages:$missing (run as root to install them)" >&2
        exit 1
    fi
    echo "deps.sh: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # policy-rc.d keeps the packaged nginx/php-fpm services from starting: tests start their own.
    apt-get install -y -q --no-install-recommends $missing
fi
