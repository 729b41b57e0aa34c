#!/usr/bin/env bash
# Runs every cmocka unit test binary given; prints one summary line per binary
# and fails when any failed.
set -u
b=$1; shift
fail=0
for t in "$@"; do
    if out=$(timeout 300 "$t" 2>&1); then
        echo "unit: $(basename "$t"): ok"
    else
        echo "$out" | tail -n 40
        echo "unit: $(basename "$t"): FAILED"
        fail=$((fail + 1))
    fi
done
echo "$((${#@} - fail)) passed, $fail failed" > "$b/unit.summary"
[ $fail -eq 0 ]
