#!/usr/bin/env bash
# make test: build, unit + end-to-end tests, the same under ASan+UBSan, then a
# bounded fuzz run of every libFuzzer target. Prints "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
passed=0
failed=0
step() {
    local name=$1; shift
    echo "== $name"
    if "$@"; then passed=$((passed + 1)); echo "== $name: ok"
    else failed=$((failed + 1)); echo "== $name: FAILED"; fi
}
step "build" make --no-print-directory -j2 build/canaryd
step "format (clang-format)" make --no-print-directory fmt-check
step "unit+e2e" make --no-print-directory -j2 check
step "unit+e2e under ASan+UBSan" make --no-print-directory -j2 check-asan
step "headers compile alone" make --no-print-directory headers
step "fuzz" make --no-print-directory -j2 fuzz-run FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
