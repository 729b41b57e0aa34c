#!/usr/bin/env bash
# Installs the Debian packages canaryd's build, tests, demo and benchmarks need,
# when they are missing. Safe to run again: it does nothing when all are there.
set -eu
pkgs=(build-essential pkg-config libevent-dev libyaml-dev libpcre2-dev libcmocka-dev
      clang clang-format libfuzzer-14-dev libclang-rt-14-dev curl python3 procps iproute2)
[ "${CANARYD_BENCH_DEPS:-0}" = 1 ] && pkgs+=(nginx-light haproxy wrk)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
sudo=
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "deps: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq || true
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
