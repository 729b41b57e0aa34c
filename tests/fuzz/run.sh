#!/usr/bin/env bash
# Runs each libFuzzer target for a bounded time on its seed corpus in
# tests/fuzz/corpus/<target>/ (new inputs go to a scratch copy, not the tree).
set -u
secs=${1:-20}
fail=0
for f in build/fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    name=$(basename "$f")
    work=$(mktemp -d)
    [ -d "tests/fuzz/corpus/$name" ] && cp -r "tests/fuzz/corpus/$name/." "$work/"
    dict=()
    [ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
    if "$f" "${dict[@]}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="build/fuzz/$name-" "$work" >"build/fuzz/$name.log" 2>&1; then
        echo "fuzz: $name: ok ($(grep -c . "build/fuzz/$name.log") log lines, ${secs}s)"
    else
        tail -n 30 "build/fuzz/$name.log"
        echo "fuzz: $name: FAILED (artifact in build/fuzz/)"
        fail=$((fail + 1))
    fi
    rm -rf "$work"
done
[ $fail -eq 0 ]
