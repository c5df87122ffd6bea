#!/bin/bash
# Runs every test program and counts their PASS:/FAIL: lines. A program that exits non-zero
# without reporting a failure counts as one failure, so a crash never passes silently.
# Ends with the line "N passed, M failed".
# ASAN_SUITES="test_master.py ..." picks the integration suites also run against build/asan/phpmgr
# (empty: none); PHPMGR_ASAN_OPTIONS / PHPMGR_UBSAN_OPTIONS replace the sanitizer options given to them.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export PHPMGR_BIN=${PHPMGR_BIN:-$PWD/$BUILD/phpmgr}
PY=/usr/bin/python3
passed=0
failed=0
logdir=$(mktemp -d /tmp/phpmgr-tests.XXXXXX)

run_one() { # name, command...
    local name=$1 out rc p f t0
    shift
    out="$logdir/$(echo "$name" | tr "/" "_").log"
    echo "== $name"
    t0=$SECONDS
    timeout -k 10 "${TEST_TIMEOUT:-900}" "$@" >"$out" 2>&1
    rc=$?
    p=$(grep -c '^PASS: ' "$out")
    f=$(grep -c '^FAIL: ' "$out")
    grep -E '^(FAIL|SKIP): ' "$out"
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL: $name exited with status $rc"
        tail -n 20 "$out" | sed 's/^/    /'
        f=1
    fi
    echo "   $p passed, $f failed ($((SECONDS - t0))s)"
    passed=$((passed + p))
    failed=$((failed + f))
}

for t in "$BUILD"/tests/test_* build/asan/tests/test_*; do
    [ -x "$t" ] && run_one "$t" "$t"
done
for t in tests/integration/test_*.py; do
    [ -f "$t" ] && run_one "$t" "$PY" "$t"
done
for t in tests/integration/test_*.sh; do
    [ -f "$t" ] && run_one "$t" bash "$t"
done
# Every suite that drives phpmgr runs again against the ASan/UBSan build (make asan), reported as
# asan:SUITE. The harness (PHPMGR_ASAN=1) starts phpmgr with -n: PHP loads no shared extension
# (ASan aborts PHP's RTLD_DEEPBIND dlopen of one), so cases that need one SKIP (test_laravel.py
# skips whole: Laravel needs mbstring, ctype, tokenizer ...); php.ini's core settings (Debian's
# production values: display_errors=Off, variables_order=GPCS ...) are given back as -d flags
# (harness.php_args), so the php-fpm comparisons hold. Each phpmgr process, workers included,
# logs sanitizer reports to a file the harness scans when the server ends: a report is a FAIL.
# Leaks are checked at the master's exit (its normal exit is clean); workers leave with _exit, so
# PHP's own allocations are not reported.
ASAN_BIN=$PWD/build/asan/phpmgr
ASAN_SUITES=${ASAN_SUITES-test_master.py test_http.py test_hardening.py test_resident.py \
test_supervision.py test_slowlog.py test_cli.py test_differential.py test_http_differential.py \
test_laravel.py test_status.py test_reload.py}
for s in $ASAN_SUITES; do
    t=tests/integration/$s
    [ -f "$t" ] || continue
    if [ ! -x "$ASAN_BIN" ]; then
        echo "== asan:$t"
        echo "FAIL: asan:$t: $ASAN_BIN is not built (make asan)"
        failed=$((failed + 1))
        continue
    fi
    run_one "asan:$t" env PHPMGR_ASAN=1 PHPMGR_BIN="$ASAN_BIN" \
        ASAN_OPTIONS="${PHPMGR_ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}" \
        UBSAN_OPTIONS="${PHPMGR_UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" "$PY" "$t"
done
if [ -n "${RUN_FUZZ:-1}" ] && [ "${RUN_FUZZ:-1}" != 0 ]; then
    fz="$logdir/fuzz.log"
    echo "== make fuzz (FUZZ_SECONDS=${FUZZ_SECONDS:-20})"
    if make --no-print-directory fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-20}" >"$fz" 2>&1; then
        echo "PASS: fuzz targets ran without a crash"
        passed=$((passed + 1))
    else
        echo "FAIL: fuzz (see below)"
        tail -n 30 "$fz" | sed 's/^/    /'
        failed=$((failed + 1))
    fi
fi
echo "logs: $logdir"
echo "wall time: ${SECONDS}s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
