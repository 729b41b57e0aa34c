#!/usr/bin/env bash
# Cost of canaryd's traffic-policy features on the request path.
#
# The same upstream (nginx `return 200` from Debian's nginx-light; a small python
# server when nginx cannot be had) behind canaryd with six configurations of one
# 90/10 route over two subsets of that upstream:
#   a  plain        the route alone (the reference)
#   b  retries      + retries {attempts: 2, perTryTimeout: 2s, retryOn: 5xx,reset,connect-failure}
#   c  fault0       + fault {delay 1s at 0%, abort 503 at 0%}
#   d  outlier      + DestinationRule outlierDetection
#   e  pool         + connectionPool limits far above what the load reaches
#   f  splitkey     + annotation canaryd.io/split-key: cookie:user
# wrk -t2 -c64 -dD --latency (every request carries `Cookie: user=...`), R interleaved
# rounds (each round measures every variant once, in a rotated order, on a fresh canaryd
# after a short warm-up); the table gives the median req/s and p99 of each variant and
# its cost relative to (a) (target: under 5%).
#
#   bash bench/policy_cost.sh                      # 5 s x 3 rounds, about 2 minutes
#   POLICY_DURATION=2 POLICY_ROUNDS=3 bash bench/policy_cost.sh   # a quick look
#
# variables: CANARYD (build/canaryd), POLICY_DURATION (5), POLICY_ROUNDS (3),
# POLICY_CONNS (64), POLICY_THREADS (2), POLICY_WORKERS (1, canaryd -w),
# POLICY_WARMUP (1 s), POLICY_VARIANTS ("plain retries fault0 outlier pool splitkey"),
# POLICY_OUT (a file to copy the table to).
# Loopback only; every process started here is killed by PID on exit.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BIN=${CANARYD:-$ROOT/build/canaryd}
DUR=${POLICY_DURATION:-5}
ROUNDS=${POLICY_ROUNDS:-3}
CONNS=${POLICY_CONNS:-64}
THREADS=${POLICY_THREADS:-2}
WORKERS=${POLICY_WORKERS:-1}
WARMUP=${POLICY_WARMUP:-1}
read -r -a VARIANTS <<<"${POLICY_VARIANTS:-plain retries fault0 outlier pool splitkey}"
PIDS=()
TMP=

say() { printf 'policy_cost: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

cleanup() {
    trap - EXIT INT TERM
    local pid i
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do
        for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    [ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget_pid() {
    local keep=() p
    for p in "${PIDS[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
    PIDS=("${keep[@]}")
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() { # URL [tries]
    local i
    for i in $(seq "${2:-100}"); do
        curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

install_tools() {
    export PATH="$PATH:/usr/sbin:/sbin"
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v curl >/dev/null || missing+=(curl)
    command -v nginx >/dev/null || missing+=(nginx-light)
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=
    [ "$(id -u)" != 0 ] && command -v sudo >/dev/null && sudo=sudo
    say "installing ${missing[*]} from Debian's archive"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null 2>&1 || say "apt-get install ${missing[*]} failed"
    command -v wrk >/dev/null || die "wrk is needed"
    command -v curl >/dev/null || die "curl is needed"
}

UP_PORT=
UP_KIND=
start_upstream() {
    UP_PORT=$(free_port)
    if command -v nginx >/dev/null; then
        mkdir -p "$TMP/nginx/logs"
        cat >"$TMP/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$UP_PORT;
        location / { return 200 "ok\n"; }
    }
}
EOF
        nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx/logs/out" 2>&1 &
        PIDS+=($!)
        UP_KIND="nginx (return 200)"
    else
        cat >"$TMP/upstream.py" <<'EOF'
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")
    def log_message(self, *a):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
        python3 "$TMP/upstream.py" "$UP_PORT" &
        PIDS+=($!)
        UP_KIND="python http.server (nginx unavailable)"
    fi
    wait_http "http://127.0.0.1:$UP_PORT/" || die "the upstream did not start"
}

# write_config VARIANT FILE
write_config() {
    local v=$1 f=$2 route_extra="" dr_policy="" ann=""
    case $v in
    plain) ;;
    retries) route_extra='  retries: {attempts: 2, perTryTimeout: 2s, retryOn: "5xx,reset,connect-failure"}' ;;
    fault0) route_extra='  fault:
      delay: {fixedDelay: 1s, percentage: {value: 0}}
      abort: {httpStatus: 503, percentage: {value: 0}}' ;;
    outlier) dr_policy='  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 50}' ;;
    pool) dr_policy='  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 100000, connectTimeout: 1s}
      http: {http1MaxPendingRequests: 100000, maxRequestsPerConnection: 0, idleTimeout: 60s}' ;;
    splitkey) ann='  annotations:
    canaryd.io/split-key: "cookie:user"' ;;
    *) die "unknown variant $v" ;;
    esac
    cat >"$f" <<EOF
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: mobile-api
spec:
  hosts: [mobile-api]
  ports:
  - {number: 80, name: http, protocol: HTTP}
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {http: $UP_PORT}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {http: $UP_PORT}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: mobile-api
spec:
  host: mobile-api
$dr_policy
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: mobile-api
$ann
spec:
  hosts: [mobile-api]
  http:
  - name: main
$(printf '%s\n' "$route_extra" | sed 's/^  /    /')
    route:
    - destination: {host: mobile-api, subset: v1}
      weight: 90
    - destination: {host: mobile-api, subset: v2}
      weight: 10
EOF
    "$BIN" -t -c "$f" >"$f.check" 2>&1 || { cat "$f.check" >&2; die "config $v is invalid"; }
}

CD_PID=
CD_PORT=
start_canaryd() { # VARIANT
    CD_PORT=$(free_port)
    local admin
    admin=$(free_port)
    "$BIN" -c "$TMP/conf-$1.yaml" -l "127.0.0.1:$CD_PORT" -a "127.0.0.1:$admin" \
        -w "$WORKERS" --access-log off --log-level warn --drain-timeout 2 \
        >"$TMP/canaryd-$1.log" 2>&1 &
    CD_PID=$!
    PIDS+=("$CD_PID")
    wait_http "http://127.0.0.1:$admin/internal/platform/readiness" ||
        { cat "$TMP/canaryd-$1.log" >&2; die "canaryd ($1) not ready"; }
}

stop_canaryd() {
    local i
    kill -TERM "$CD_PID" 2>/dev/null
    for i in $(seq 100); do kill -0 "$CD_PID" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$CD_PID" 2>/dev/null
    wait "$CD_PID" 2>/dev/null
    forget_pid "$CD_PID"
}

# to_ms "1.23ms" -> 1.23
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n = n / 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n = n * 1000
        printf "%.3f", n }'
}

cpu_ticks() { # PID -> utime + stime in clock ticks
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# measure VARIANT ROUND -> appends "variant round rps p99_ms errors cpu_us_per_req" to $TMP/raw
measure() {
    local v=$1 r=$2 out rps p99 non2xx sockerr reqs c0 c1
    start_canaryd "$v"
    local url="http://127.0.0.1:$CD_PORT/"
    wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" -H "Host: mobile-api" \
        -H "Cookie: user=bench-user-42" "$url" >/dev/null 2>&1
    c0=$(cpu_ticks "$CD_PID")
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --timeout 5s --latency -H "Host: mobile-api" \
        -H "Cookie: user=bench-user-42" "$url" 2>&1)
    c1=$(cpu_ticks "$CD_PID")
    reqs=$(printf '%s\n' "$out" | awk '/requests in/ {print $1}')
    rps=$(printf '%s\n' "$out" | awk '/^Requests\/sec:/ {print $2}')
    p99=$(printf '%s\n' "$out" | awk '$1 == "99%" {print $2}')
    non2xx=$(printf '%s\n' "$out" | awk '/Non-2xx or 3xx responses:/ {print $NF}')
    sockerr=$(printf '%s\n' "$out" | awk '/Socket errors:/ {
        s = 0; for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) s += $i + 0; print s }')
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: mobile-api' "$url")
    [ "$code" = 200 ] || say "warning: $v: a check request got $code"
    stop_canaryd
    if [ -z "$rps" ] || [ -z "$p99" ]; then
        printf '%s\n' "$out" >&2
        die "no wrk figures for $v"
    fi
    local cpu
    cpu=$(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="${reqs:-0}" \
        'BEGIN { printf "%.2f", (n > 0 ? t / hz * 1e6 / n : 0) }')
    echo "$v $r $rps $(to_ms "$p99") $(( ${non2xx:-0} + ${sockerr:-0} )) $cpu" >>"$TMP/raw"
    say "round $r $v: $rps req/s, p99 $p99, canaryd CPU $cpu us/req, errors $(( ${non2xx:-0} + ${sockerr:-0} ))"
}

main() {
    [ -x "$BIN" ] || die "no canaryd binary at $BIN (make first)"
    install_tools
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/canaryd-policy-bench.XXXXXX")
    chmod 755 "$TMP"
    ulimit -n 65536 2>/dev/null || true
    start_upstream
    local v r i n=${#VARIANTS[@]}
    for v in "${VARIANTS[@]}"; do write_config "$v" "$TMP/conf-$v.yaml"; done
    say "upstream: $UP_KIND on 127.0.0.1:$UP_PORT; canaryd -w $WORKERS; wrk -t$THREADS -c$CONNS -d${DUR}s, $ROUNDS rounds"
    : >"$TMP/raw"
    for r in $(seq "$ROUNDS"); do
        for i in $(seq 0 $((n - 1))); do
            measure "${VARIANTS[$(( (i + r - 1) % n ))]}" "$r"
        done
    done
    python3 - "$TMP/raw" "${VARIANTS[@]}" <<'EOF' | tee "${POLICY_OUT:-/dev/null}"
import statistics, sys
raw, variants = sys.argv[1], sys.argv[2:]
rows = {}
for line in open(raw):
    v, r, rps, p99, err, cpu = line.split()
    rows.setdefault(v, []).append((float(rps), float(p99), int(err), float(cpu)))
label = {"plain": "(a) plain route", "retries": "(b) retries", "fault0": "(c) fault 0%",
         "outlier": "(d) outlierDetection", "pool": "(e) connectionPool (not reached)",
         "splitkey": "(f) split-key annotation"}
base = rows[variants[0]]
med = lambda xs, k: statistics.median(x[k] for x in xs)
b_rps, b_p99, b_cpu = med(base, 0), med(base, 1), med(base, 3)
b_best, b_mincpu = max(x[0] for x in base), min(x[3] for x in base)


def pct(v, ref, higher_is_cost=True):
    if not ref:
        return 0.0
    return ((v - ref) if higher_is_cost else (ref - v)) / ref * 100


print(f"{'variant':34s} {'req/s':>7s} {'p99 ms':>7s} {'us/req':>7s} {'req/s':>8s} {'p99':>8s} "
      f"{'CPU/req':>8s} {'err':>4s}  {'verdict':8s} {'best req/s':>10s} {'min us/req':>10s}")
print(f"{'':34s} {'median':>7s} {'median':>7s} {'median':>7s} {'cost':>8s} {'cost':>8s} "
      f"{'cost':>8s} {'':>4s}  {'(medians)':8s} {'(cost)':>10s} {'(cost)':>10s}")
for v in variants:
    xs = rows[v]
    rps, p99, cpu = med(xs, 0), med(xs, 1), med(xs, 3)
    err = sum(x[2] for x in xs)
    c_rps, c_p99, c_cpu = pct(rps, b_rps, False), pct(p99, b_p99), pct(cpu, b_cpu)
    best, mincpu = max(x[0] for x in xs), min(x[3] for x in xs)
    verdict = "ref" if v == variants[0] else (
        "ok" if c_rps < 5 and c_p99 < 5 and c_cpu < 5 else "over 5%")
    print(f"{label.get(v, v):34s} {rps:7.0f} {p99:7.2f} {cpu:7.2f} {c_rps:+7.1f}% {c_p99:+7.1f}% "
          f"{c_cpu:+7.1f}% {err:4d}  {verdict:8s} {pct(best, b_best, False):+9.1f}% "
          f"{pct(mincpu, b_mincpu):+9.1f}%")
print("cost: relative to (a); req/s lower by, p99 higher by, canaryd CPU time per request "
      "higher by (negative: cheaper than (a)).")
print("medians over the rounds; 'best'/'min' columns compare the least disturbed round of "
      "each variant (useful on a shared machine).")
print("raw req/s per round: " + "; ".join(
    f"{v} " + " ".join(f"{x[0]:.0f}" for x in rows[v]) for v in variants))
EOF
}

main "$@"
