#!/usr/bin/env bash
# Runs every end-to-end test under tests/e2e/<area>/ (NNN_name.py or .sh) against
# the canaryd binary given, each bounded in time, E2E_JOBS at a time (default 3:
# most tests wait on timers and sockets, not on the CPU). A test exits 0 to
# pass, 77 to skip (with a reason on stdout). E2E_FILTER selects tests by regex.
set -u
bin=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
export CANARYD="$bin" PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$here/lib"
jobs=${E2E_JOBS:-3}
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

run_one() {
    local t=$1 here=$2 results=$3
    local name=${t#$here/}
    local key=${name//\//_}
    local start=$(date +%s) cmd rc
    case $t in *.py) cmd=(python3 "$t") ;; *) cmd=(bash "$t") ;; esac
    timeout -k 5 "${E2E_TIMEOUT:-180}" "${cmd[@]}" >"$results/$key.out" 2>&1
    rc=$?
    local secs=$(( $(date +%s) - start ))
    if [ $rc -eq 0 ]; then echo "e2e: $name: ok (${secs}s)"; echo pass >"$results/$key.rc"
    elif [ $rc -eq 77 ]; then echo "e2e: $name: skipped: $(tail -n 1 "$results/$key.out")"; echo skip >"$results/$key.rc"
    else tail -n 40 "$results/$key.out"; echo "e2e: $name: FAILED (rc=$rc, ${secs}s)"; echo fail >"$results/$key.rc"; fi
}
export -f run_one

ls "$here"/*/[0-9]*_*.{py,sh} 2>/dev/null | sort | grep -E "${E2E_FILTER:-.}" |
    xargs -r -P "$jobs" -I{} bash -c 'run_one "$@"' _ {} "$here" "$results"

pass=$(cat "$results"/*.rc 2>/dev/null | grep -c '^pass$')
fail=$(cat "$results"/*.rc 2>/dev/null | grep -c '^fail$')
skip=$(cat "$results"/*.rc 2>/dev/null | grep -c '^skip$')
echo "e2e: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
