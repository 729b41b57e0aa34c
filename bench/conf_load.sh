#!/usr/bin/env bash
# Measures configuration load + compile: generates N_VS x ROUTES_PER_VS
# (default 1000 x 10 = 10,000 routes, 9,000 distinct header regexes) with
# bench/gen_config.py, then runs `canaryd -t -c FILE` when build/canaryd exists
# and bench/conf_load.c (conf_build + summary, built against
# build/libcanaryd.a) RUNS times each, printing wall time and max RSS.
# Target: under 1 s and 64 MiB for 10,000 routes. Usage:
#   bench/conf_load.sh [N_VS] [ROUTES_PER_VS] [RUNS]
set -eu
cd "$(dirname "$0")/.."
nvs=${1:-1000}
nroutes=${2:-10}
runs=${3:-3}
B=${B:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 bench/gen_config.py "$nvs" "$nroutes" > "$tmp/config.yaml"
echo "config: $nvs VirtualServices x $nroutes routes, $(wc -c < "$tmp/config.yaml") bytes"
make --no-print-directory -s B="$B" "$B/libcanaryd.a" >/dev/null
cc -O2 -std=c11 -D_GNU_SOURCE -pthread -Iinclude $(pkg-config --cflags libevent yaml-0.1 libpcre2-8) \
    -o "$tmp/conf_load" bench/conf_load.c "$B/libcanaryd.a" \
    $(pkg-config --libs libevent yaml-0.1 libpcre2-8) -pthread -lm

# Runs "$@" and prints "<wall s> <max RSS KiB>" (GNU time when present).
measure() {
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f '%e %M' -o "$tmp/time" "$@" >/dev/null 2>"$tmp/err" || {
            cat "$tmp/err"; return 1; }
        cat "$tmp/time"
    else
        python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.monotonic()
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
if r.returncode != 0:
    sys.stderr.write(r.stderr.decode()); sys.exit(1)
print("%.2f %d" % (time.monotonic() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
PY
    fi
}

report() {
    local name=$1; shift
    for i in $(seq "$runs"); do
        read -r wall rss < <(measure "$@")
        printf '%-16s run %d: wall %6.2f s  max RSS %6.1f MiB\n' "$name" "$i" "$wall" \
            "$(echo "$rss / 1024" | bc -l)"
    done
}

report conf_load "$tmp/conf_load" -q "$tmp/config.yaml"
"$tmp/conf_load" -q "$tmp/config.yaml" 2>&1 | tail -n 1
if [ -x "$B/canaryd" ]; then
    report "canaryd -t" "$B/canaryd" -t -c "$tmp/config.yaml"
fi
