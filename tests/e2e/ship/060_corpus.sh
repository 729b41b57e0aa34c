#!/usr/bin/env bash
# ship: the realistic multi-object configs under tests/corpus/ load with `canaryd -t`
# (a file, or a directory of files, each one config); those under tests/corpus/refused/
# are refused, with the message their "# expect:" line names. A file's "# canaryd-args:"
# line gives the flags it is checked with (canaryd's --namespace and --labels, say).
set -u
root=$(cd "$(dirname "$0")/../../.." && pwd)
fail=0
n=0
for f in "$root"/tests/corpus/*; do
    [ "$(basename "$f")" = refused ] && continue
    n=$((n + 1))
    args=
    [ -f "$f" ] && args=$(sed -n 's/^# canaryd-args://p' "$f" | head -n 1)
    # shellcheck disable=SC2086
    if out=$("$CANARYD" -t -c "$f" $args 2>&1); then
        echo "ok: ${f#$root/}$args"
    else
        echo "$out" | tail -n 20
        echo "FAIL: ${f#$root/} does not pass canaryd -t$args"
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
