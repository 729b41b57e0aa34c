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
# The routing vectors are read from tests/data/routing.yaml only. When the vector
# file they were copied from sits beside the repository (../shared/vectors), a
# difference is reported here as a warning, not a failure: copy it over to test the
# new vectors.
vectors_copy_check() {
    local shared=../shared/vectors/routing.yaml copy=tests/data/routing.yaml
    [ -f "$shared" ] || return 0
    if ! cmp -s "$shared" "$copy"; then
        echo "== warning: $copy differs from $(realpath "$shared")" \
            "($(diff "$shared" "$copy" | grep -c '^[<>]') lines); the unit tests use $copy"
    fi
}
vectors_copy_check
step "build" make --no-print-directory -j2 build/canaryd
step "format (clang-format)" make --no-print-directory fmt-check
step "unit+e2e" make --no-print-directory -j2 check
step "unit+e2e under ASan+UBSan" make --no-print-directory -j2 check-asan
step "headers compile alone" make --no-print-directory headers
step "layers" bash tests/layers.sh
step "fuzz" make --no-print-directory -j2 fuzz-run FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
