#!/usr/bin/env bash
# ship: every Istio example under conf/ (and the bench template) passes `canaryd -t`.
# The Flagger and Argo templates are not Istio objects and are checked elsewhere.
set -u
root=$(cd "$(dirname "$0")/../../.." && pwd)
fail=0
for f in "$root"/conf/*.yaml "$root"/bench/canaryd.yaml; do
    case $(basename "$f") in flagger-*|argo-*) continue ;; esac
    if out=$("$CANARYD" -t -c "$f" 2>&1); then
        echo "ok: ${f#$root/}"
    else
        echo "$out" | tail -n 20
        echo "FAIL: ${f#$root/} does not pass canaryd -t"
        fail=1
    fi
done
exit $fail
