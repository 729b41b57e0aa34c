# shellcheck shell=bash disable=SC2034
# Shared helpers for bench/run.sh and bench/reload.sh (sourced, not run).
#
# Everything runs on 127.0.0.1 with ports the kernel hands out, inside one
# temporary directory; every process started here is recorded and killed by PID
# on exit (bench_cleanup, installed as the EXIT trap by bench_init).

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
PIDS=()          # every background process we started, killed on exit
TMP=

log() { printf '%s\n' "bench: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Installs nginx, HAProxy and wrk (and the small tools used here) from Debian's
# archive when they are missing; uses sudo when not root.
bench_install_deps() {
    local missing=() cmd pkg
    for cmd in nginx:nginx-light haproxy:haproxy wrk:wrk curl:curl python3:python3; do
        pkg=${cmd#*:}
        cmd=${cmd%%:*}
        command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    local sudo=
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || die "need root or sudo to install ${missing[*]}"
        sudo=sudo
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq || true
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
        die "apt-get install ${missing[*]} failed"
}

bench_init() {
    export PATH="$PATH:/usr/sbin:/sbin"
    bench_install_deps
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/canaryd-bench.XXXXXX")
    chmod 755 "$TMP"    # nginx workers may run as another user
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
    # wrk at 512 connections plus the proxies' upstream connections need fds.
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    CLK_TCK=$(getconf CLK_TCK)
}

# Kills every process we started (by PID), then removes the temporary directory.
bench_cleanup() {
    local pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        stop_wait "$pid"
    done
    [ -n "$TMP" ] && [ -d "$TMP" ] && rm -rf "$TMP"
}

# Waits up to 5 s for PID to exit after SIGTERM, then SIGKILLs it.
stop_wait() {
    local pid=$1 i
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        # nginx/HAProxy workers are the only children; kill them by PID too.
        local kids
        kids=$(proc_tree "$pid")
        kill -KILL $kids 2>/dev/null
    fi
    wait "$pid" 2>/dev/null || true
}

# stop_pid PID: SIGTERM, wait, forget it.
stop_pid() {
    kill -TERM "$1" 2>/dev/null
    stop_wait "$1"
    forget_pid "$1"
}

# forget_pid PID: drop PID from the list the exit trap kills.
forget_pid() {
    local p keep=()
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# free_ports N: prints N distinct free TCP ports on 127.0.0.1 (bound to port 0
# together, so they differ, then released).
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# wait_http URL [SECONDS]: waits until URL answers 200.
wait_http() {
    local url=$1 limit=${2:-10} i
    for i in $(seq $((limit * 10))); do
        [ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' "$url")" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}

# proc_tree PID: PID and all its descendants.
proc_tree() {
    local pid=$1 kids k
    echo "$pid"
    kids=$(cat /proc/"$pid"/task/*/children 2>/dev/null)
    for k in $kids; do proc_tree "$k"; done
}

# cpu_ticks PID...: user+system CPU clock ticks of the processes (all threads).
cpu_ticks() {
    local total=0 pid stat f
    for pid in "$@"; do
        stat=$(cat /proc/"$pid"/stat 2>/dev/null) || continue
        read -r -a f <<<"${stat##*) }"        # fields 3.. (comm may hold spaces)
        total=$((total + f[11] + f[12]))      # utime (field 14) + stime (field 15)
    done
    echo "$total"
}

# rss_kib PID...: sum of VmRSS in KiB.
rss_kib() {
    local total=0 pid v
    for pid in "$@"; do
        v=$(awk '/^VmRSS:/ {print $2}' /proc/"$pid"/status 2>/dev/null)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# rss_sampler ROOTPID OUTFILE: every 0.5 s writes the peak RSS (KiB) of ROOTPID's
# process tree seen so far to OUTFILE. Run it in the background; kill it by PID.
rss_sampler() {
    local root=$1 out=$2 peak=0 now
    while kill -0 "$root" 2>/dev/null; do
        # shellcheck disable=SC2046 # one PID per word
        now=$(rss_kib $(proc_tree "$root"))
        [ "$now" -gt "$peak" ] && peak=$now && echo "$peak" >"$out"
        sleep 0.5
    done
}

# ---- upstreams ------------------------------------------------------------------

# start_upstream NAME PORT BODY: an nginx with one worker answering 200 BODY.
start_upstream() {
    local name=$1 port=$2 body=$3 dir=$TMP/$1
    mkdir -p "$dir/tmp"
    cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    default_type text/plain;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server {
        listen 127.0.0.1:$port backlog=4096;
        location / { return 200 "$body\n"; }
    }
}
EOF
    nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/stdout.log" 2>&1 &
    PIDS+=($!)
    wait_http "http://127.0.0.1:$port/" 10 || die "upstream $name did not start (see $dir/error.log)"
}

# ---- proxy configurations -------------------------------------------------------

# nginx_conf DIR PORT WORKERS W1 W2: the PEERS.md configuration (split W1/W2).
nginx_conf() {
    local dir=$1 port=$2 workers=$3 w1=$4 w2=$5
    mkdir -p "$dir/tmp"
    cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes $workers;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    upstream v1 { server 127.0.0.1:$U1; keepalive 512; keepalive_requests 1000000; }
    upstream v2 { server 127.0.0.1:$U2; keepalive 512; keepalive_requests 1000000; }
    split_clients "\${request_id}" \$split { $w1% v1; * v2; }
    map \$http_cookie \$target {
        "~^(.*?;)?(email=[^;]*@example.com)(;.*)?\$" v2;
        default \$split;
    }
    server {
        listen 127.0.0.1:$port backlog=4096;
        location / {
            proxy_pass http://\$target;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
}

# haproxy_conf FILE PORT THREADS W1 W2 [SOCKET]: the PEERS.md configuration; with
# SOCKET, a stats socket that hands the listeners over on reload (master-worker).
haproxy_conf() {
    local file=$1 port=$2 threads=$3 w1=$4 w2=$5 sock=${6:-}
    {
        echo "global"
        echo "    nbthread $threads"
        echo "    maxconn 9000"
        if [ -n "$sock" ]; then
            echo "    stats socket $sock mode 600 level admin expose-fd listeners"
            echo "    hard-stop-after 30s"
        fi
        cat <<EOF
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:$port
    acl canary_cookie req.fhdr(cookie) -m reg '^(.*?;)?(email=[^;]*@example.com)(;.*)?\$'
    use_backend be_v2 if canary_cookie
    default_backend be_split
backend be_split
    balance roundrobin
    server v1 127.0.0.1:$U1 weight $w1
    server v2 127.0.0.1:$U2 weight $w2
backend be_v2
    server v2 127.0.0.1:$U2
EOF
    } >"$file.tmp"
    mv "$file.tmp" "$file"
}

# canaryd_conf FILE W1 W2: bench/canaryd.yaml with our upstream ports and weights.
# Written to a temporary name and renamed, so a reload never reads half a file.
canaryd_conf() {
    local file=$1 w1=$2 w2=$3
    awk -v u1="$U1" -v u2="$U2" -v w1="$w1" -v w2="$w2" '
        /^[ \t]*http: 18081[ \t]*$/ { sub(/18081/, u1) }
        /^[ \t]*http: 18082[ \t]*$/ { sub(/18082/, u2) }
        /^[ \t]*weight: 95[ \t]*$/  { sub(/95/, w1) }
        /^[ \t]*weight: 5[ \t]*$/   { sub(/5/, w2) }
        { print }' "$BENCH_DIR/canaryd.yaml" >"$file.tmp"
    mv "$file.tmp" "$file"
}

# ---- proxies --------------------------------------------------------------------

# start_proxy SYSTEM WORKERS [W1 W2]: starts SYSTEM (canaryd, canaryd-base (the
# binary $CANARYD_BASE, for a before/after comparison in one interleaved run),
# nginx, haproxy, relay or direct) on a free port; sets PROXY_PID, PROXY_PORT, PROXY_DIR (and
# ADMIN_PORT for canaryd). For direct, the "proxy" is the v1 upstream itself (not
# started again, not stopped by stop_proxy). relay is bench/relay.c, a byte relay
# to v1 with no HTTP logic: the floor of any proxy's cost on this machine.
# Returns non-zero if it did not come up.
start_proxy() {
    local sys=$1 workers=$2 w1=${3:-95} w2=${4:-5} ports
    PROXY_DIR=$TMP/$sys-w$workers-$RANDOM
    mkdir -p "$PROXY_DIR"
    read -r PROXY_PORT ADMIN_PORT <<<"$(free_ports 2)"
    case $sys in
    direct)
        PROXY_PORT=$U1
        PROXY_PID=$(cat "$TMP/v1/nginx.pid")
        return 0 ;;
    nginx)
        nginx_conf "$PROXY_DIR" "$PROXY_PORT" "$workers" "$w1" "$w2"
        nginx -p "$PROXY_DIR" -c "$PROXY_DIR/nginx.conf" -e "$PROXY_DIR/error.log" \
            >"$PROXY_DIR/stdout.log" 2>&1 &
        PROXY_PID=$! ;;
    relay)
        if [ ! -x "$TMP/relay" ]; then
            ${CC:-cc} -O2 -pthread -o "$TMP/relay" "$BENCH_DIR/relay.c" ||
                die "cannot build bench/relay.c"
        fi
        "$TMP/relay" "$PROXY_PORT" "$U1" "$workers" >"$PROXY_DIR/stdout.log" 2>&1 &
        PROXY_PID=$! ;;
    haproxy)
        if [ "${HAPROXY_MASTER:-0}" = 1 ]; then
            haproxy_conf "$PROXY_DIR/haproxy.cfg" "$PROXY_PORT" "$workers" "$w1" "$w2" \
                "$PROXY_DIR/admin.sock"
            haproxy -W -S "$PROXY_DIR/master.sock" -f "$PROXY_DIR/haproxy.cfg" \
                >"$PROXY_DIR/stdout.log" 2>&1 &
        else
            haproxy_conf "$PROXY_DIR/haproxy.cfg" "$PROXY_PORT" "$workers" "$w1" "$w2"
            haproxy -f "$PROXY_DIR/haproxy.cfg" >"$PROXY_DIR/stdout.log" 2>&1 &
        fi
        PROXY_PID=$! ;;
    canaryd|canaryd-base)
        local bin=$CANARYD
        [ "$sys" = canaryd-base ] && bin=$CANARYD_BASE
        canaryd_conf "$PROXY_DIR/canaryd.yaml" "$w1" "$w2"
        "$bin" -c "$PROXY_DIR/canaryd.yaml" -l "127.0.0.1:$PROXY_PORT" \
            -a "127.0.0.1:$ADMIN_PORT" -w "$workers" --access-log off \
            --drain-timeout 5 >"$PROXY_DIR/stdout.log" 2>&1 &
        PROXY_PID=$!
        PIDS+=("$PROXY_PID")
        if ! wait_http "http://127.0.0.1:$ADMIN_PORT/internal/platform/readiness" 15; then
            log "canaryd did not become ready; its log:"
            tail -n 20 "$PROXY_DIR/stdout.log" >&2
            stop_pid "$PROXY_PID"
            return 1
        fi ;;
    *) die "unknown system '$sys' (canaryd, canaryd-base, nginx, haproxy, relay, direct)" ;;
    esac
    case $sys in canaryd | canaryd-base) ;; *) PIDS+=("$PROXY_PID") ;; esac
    if ! wait_http "http://127.0.0.1:$PROXY_PORT/" 15; then
        log "$sys did not answer 200 on :$PROXY_PORT; its logs:"
        tail -n 20 "$PROXY_DIR"/*.log >&2
        stop_pid "$PROXY_PID"
        return 1
    fi
}

stop_proxy() {
    [ "$1" = direct ] && return 0
    stop_pid "$PROXY_PID"
}

# run_wrk CONNS SECONDS OUTFILE: wrk -t$BENCH_THREADS with the request mix against
# the proxy; the WRKRESULT line ends up in OUTFILE. Bounded by timeout.
run_wrk() {
    local conns=$1 secs=$2 out=$3 threads=${BENCH_THREADS:-2}
    [ "$threads" -gt "$conns" ] && threads=$conns
    WRK_COOKIE_PERCENT=${BENCH_COOKIE_PERCENT:-10} \
        timeout -k 5 $((secs + 30)) wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 5s \
        -s "$BENCH_DIR/wrk_mix.lua" "http://127.0.0.1:$PROXY_PORT/" >"$out" 2>&1
}

# wrk_field OUTFILE NAME: one value of the WRKRESULT line.
wrk_field() {
    sed -n "s/.*WRKRESULT.* $2=\([0-9]*\).*/\1/p" "$1" | head -n 1
}

# check_routing PORT: prints "ok" when requests with the canary cookie all reach v2
# and requests without it are answered 200 by v1 or v2, mostly v1; else what broke.
check_routing() {
    local url=http://127.0.0.1:$1/ out n200 nv1 nv2 urls=() i
    for i in $(seq 40); do urls+=("$url"); done
    out=$(curl -s -m 10 -w '=%{http_code}\n' -H 'Cookie: email=joe@example.com' "${urls[@]:0:8}")
    nv2=$(grep -c '^v2$' <<<"$out")
    if [ "$nv2" != 8 ]; then echo "cookie->v2 $nv2/8"; return; fi
    out=$(curl -s -m 10 -w '=%{http_code}\n' "${urls[@]}")
    n200=$(grep -c '^=200$' <<<"$out")
    nv1=$(grep -c '^v1$' <<<"$out")
    nv2=$(grep -c '^v2$' <<<"$out")
    if [ "$n200" != 40 ] || [ $((nv1 + nv2)) != 40 ]; then echo "no-cookie 200s=$n200"; return; fi
    if [ "$nv1" -lt 30 ]; then echo "no-cookie v1=$nv1/40"; return; fi
    echo ok
}
