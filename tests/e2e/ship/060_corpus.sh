#!/usr/bin/env bash
# ship: the realistic multi-object configs under tests/corpus/ load with `canaryd -t`
# (a file, or a directory of files, each one config); those under tests/corpus/refused/
# are refused, with the message their "# expect:" line names.
set -u
root=$(cd "$(dirname "$0")/../../.." && pwd)
fail=0
n=0
for f in "$root"/tests/corpus/*; do
    [ "$(basename "$f")" = refused ] && continue
    n=$((n + 1))
    if out=$("$CANARYD" -t -c "$f" 2>&1); then
        echo "ok: ${f#$root/}"
    else
        echo "$out" | tail -n 20
        echo "FAIL: ${f#$root/} does not pass canaryd -t"
        fail=1
    fi
done
for f in "$root"/tests/corpus/refused/*.yaml; do
    n=$((n + 1))
    want=$(sed -n 's/^# expect: //p' "$f" | head -n 1)
    out=$("$CANARYD" -t -c "$f" 2>&1)
    rc=$?
    if [ $rc -eq 1 ] && [ -n "$want" ] && grep -qF -- "$want" <<<"$out"; then
        echo "ok: ${f#$root/} refused"
    else
        echo "$out" | tail -n 20
        echo "FAIL: ${f#$root/}: expected exit 1 with \"$want\" (got exit $rc)"
        fail=1
    fi
done
[ $n -gt 5 ] || { echo "FAIL: only $n corpus configs"; fail=1; }
exit $fail
