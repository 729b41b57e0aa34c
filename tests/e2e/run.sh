#!/usr/bin/env bash
# Runs every end-to-end test under tests/e2e/<area>/ (NNN_name.py or .sh) against
# the canaryd binary given, each bounded in time. A test exits 0 to pass, 77 to
# skip (with a reason on stdout).
set -u
bin=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
export CANARYD="$bin" PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$here/lib"
pass=0 fail=0 skip=0
for t in $(ls "$here"/*/[0-9]*_*.{py,sh} 2>/dev/null | sort); do
    name=${t#$here/}
    start=$(date +%s)
    case $t in *.py) cmd=(python3 "$t") ;; *) cmd=(bash "$t") ;; esac
    out=$(timeout -k 5 "${E2E_TIMEOUT:-180}" "${cmd[@]}" 2>&1); rc=$?
    secs=$(( $(date +%s) - start ))
    if [ $rc -eq 0 ]; then pass=$((pass + 1)); echo "e2e: $name: ok (${secs}s)"
    elif [ $rc -eq 77 ]; then skip=$((skip + 1)); echo "e2e: $name: skipped: $(echo "$out" | tail -n 1)"
    else fail=$((fail + 1)); echo "$out" | tail -n 40; echo "e2e: $name: FAILED (rc=$rc, ${secs}s)"; fi
done
echo "e2e: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
