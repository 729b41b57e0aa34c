#!/usr/bin/env bash
# ship: every example under tests/corpus/ passes `canaryd -t`, with the flags its
# "# canaryd-args:" line gives (canaryd's --namespace and --labels, for instance).
set -u
root=$(cd "$(dirname "$0")/../../.." && pwd)
fail=0
n=0
for f in "$root"/tests/corpus/*.yaml; do
    [ -e "$f" ] || continue
    n=$((n + 1))
    args=$(sed -n 's/^# canaryd-args://p' "$f" | head -n 1)
    # shellcheck disable=SC2086
    if out=$("$CANARYD" -t -c "$f" $args 2>&1); then
        echo "ok: ${f#$root/} $args"
    else
        echo "$out" | tail -n 20
        echo "FAIL: ${f#$root/} does not pass canaryd -t $args"
        fail=1
    fi
done
[ "$n" -gt 0 ] || { echo "FAIL: no examples in tests/corpus"; exit 1; }
exit $fail
