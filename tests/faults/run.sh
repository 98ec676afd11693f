#!/usr/bin/env bash
# Fault-injection tests: what ticweek does when it is killed, when its
# database goes away, fills up or turns read-only. One summary line per test;
# exit status 1 if any test failed (a skipped test is not a failure).
#
#   tests/faults/run.sh                       SQLite: tests 1, 2, 5
#   tests/faults/run.sh --pg URL              PostgreSQL (URL names an existing database;
#                                             each test works in a fresh schema): tests 1-4
#   options:
#     --bin PATH            ticweek binary (default target/debug/ticweek, built if absent)
#     --pg-restart CMD      how to restart the PostgreSQL server for the real-restart
#                           variant of test 3 (also FAULTS_PG_RESTART); by default a
#                           Debian cluster or a pg_ctl server on this machine is
#                           detected from `SHOW data_directory`, else that variant is skipped
#     --import-trials N     kills in test 1 (default 10)
#     --import-rows N       certificates in test 1's import (default 50000)
#     --only LIST           comma-separated subset: import,writes,outage,outage-real,down-at-start,disk
#
# Tests: 1 import   kill -9 during a large `ticweek import`: all rows or none, intact database
#        2 writes   kill -9 during concurrent writes: no acknowledged write lost
#        3 outage   (PostgreSQL) PostgreSQL restarted under load, through a TCP proxy
#                   and for real: 503 (never 500, never a hang), 200 within 5 s, no leaked connections
#        4 down-at-start (PostgreSQL) PostgreSQL down when ticweek starts: up, 503, then ready
#        5 disk     (SQLite) read-only database and full disk: writes 503, reads 200, recovery
# Every server listens on 127.0.0.1 on a random free port; every test runs
# under a time limit; everything a test starts is stopped when it ends.
# Server logs are kept in target/faults/<backend>/ for a post-mortem.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

pg_url="" bin="" only=""
pg_restart="${FAULTS_PG_RESTART:-}"
import_trials=10 import_rows=50000
while [ $# -gt 0 ]; do
    case "$1" in
        --pg) pg_url="$2"; shift 2 ;;
        --bin) bin="$2"; shift 2 ;;
        --pg-restart) pg_restart="$2"; shift 2 ;;
        --import-trials) import_trials="$2"; shift 2 ;;
        --import-rows) import_rows="$2"; shift 2 ;;
        --only) only="$2"; shift 2 ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
backend=$([ -n "$pg_url" ] && echo postgres || echo sqlite)
t_start=$(date +%s)

python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || { echo "python3 >= 3.10 is needed" >&2; exit 2; }
if [ -z "$bin" ]; then
    bin="${CARGO_TARGET_DIR:-$root/target}/debug/ticweek"
    if [ ! -x "$bin" ]; then
        echo "==> cargo build (no $bin yet)" >&2
        cargo build --quiet
    fi
fi
[ -x "$bin" ] || { echo "no executable ticweek at $bin" >&2; exit 2; }
bin=$(realpath "$bin")
if [ -n "$pg_url" ]; then
    command -v psql >/dev/null || { echo "psql is needed for --pg" >&2; exit 2; }
    psql -X -q -At "$pg_url" -c 'SELECT 1' >/dev/null \
        || { echo "cannot connect to $pg_url" >&2; exit 2; }
fi

work=$(mktemp -d /tmp/ticweek-faults.XXXXXX)
logs="${CARGO_TARGET_DIR:-$root/target}/faults/$backend"
rm -rf "$logs" && mkdir -p "$logs"

# The Python helpers clean up after themselves; this is for when one of them
# was SIGKILLed by its time limit: what they started, mounted, made immutable
# or created is listed in $work.
cleanup() {
    local pid f
    if [ -f "$work/pids" ]; then
        while read -r pid; do
            # Only our own ticweek processes, never a recycled pid.
            [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$bin" ] && kill -9 "$pid" 2>/dev/null || true
        done <"$work/pids"
    fi
    if [ -f "$work/immutable" ]; then
        while read -r f; do chattr -i "$f" 2>/dev/null || true; done <"$work/immutable"
    fi
    if [ -f "$work/mounts" ]; then
        while read -r f; do mountpoint -q "$f" && { umount "$f" 2>/dev/null || umount -l "$f"; }; done <"$work/mounts"
    fi
    if [ -n "$pg_url" ] && [ -f "$work/schemas" ]; then
        while read -r f; do
            psql -X -q "$pg_url" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$f'" \
                -c "DROP SCHEMA IF EXISTS $f CASCADE" >/dev/null 2>&1 || true
        done <"$work/schemas"
    fi
    rm -rf "$work"
}
trap cleanup EXIT

export FAULTS_BIN="$bin" FAULTS_WORK="$work" FAULTS_PG="$pg_url" FAULTS_LOGS="$logs" FAULTS_PG_RESTART="$pg_restart"
export PYTHONDONTWRITEBYTECODE=1

results=() failed=0
# run_test NAME TIME_LIMIT SCRIPT [ARGS...]: the script's PASS/FAIL/SKIP lines
# become results; a non-zero exit or a time-out without a verdict is a failure.
run_test() {
    local name=$1 limit=$2 script=$3 out rc t0 line verdict=0
    shift 3
    if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then return 0; fi
    echo "==> $name (time limit ${limit} s)" >&2
    t0=$(date +%s)
    set +e
    out=$(timeout --kill-after=10 "$limit" python3 "tests/faults/$script" "$@" 2> >(sed -u "s/^/    [$name] /" >&2))
    rc=$?
    set -e
    while IFS= read -r line; do
        case "$line" in
            PASS\ *) results+=("ok    ${line#PASS }"); verdict=1 ;;
            SKIP\ *) results+=("skip  ${line#SKIP }"); verdict=1 ;;
            FAIL\ *) results+=("FAIL  ${line#FAIL }"); verdict=1; failed=1 ;;
        esac
    done <<<"$out"
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        results+=("FAIL  $name: no verdict within its time limit of $limit s"); failed=1
    elif [ "$rc" != 0 ] && [ "$verdict" = 0 ]; then
        results+=("FAIL  $name: exited with status $rc without a verdict"); failed=1
    elif [ "$rc" != 0 ]; then
        failed=1
    fi
    echo "    [$name] $(( $(date +%s) - t0 )) s" >&2
}

run_test import 900 import_kill.py --trials "$import_trials" --rows "$import_rows"
run_test writes 240 write_kill.py
if [ -n "$pg_url" ]; then
    run_test outage 120 pg_outage.py --mode proxy
    run_test outage-real 180 pg_outage.py --mode real
    run_test down-at-start 120 pg_down_at_start.py
else
    run_test disk 240 sqlite_disk.py
fi

echo
where=$([ -n "$pg_url" ] && echo " on $pg_url" | sed -E 's#(//[^:/@]*):[^@/]*@#\1:***@#' || true)
echo "fault tests on $backend$where with $bin: $(( $(date +%s) - t_start )) s"
printf '  %s\n' "${results[@]}"
[ -n "$pg_url" ] || echo "  (tests 3 and 4 are PostgreSQL only)"
[ -z "$pg_url" ] || echo "  (test 5, read-only database and full disk, is SQLite only)"
echo "  server logs: $logs"
exit "$failed"
