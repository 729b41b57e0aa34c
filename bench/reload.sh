#!/usr/bin/env bash
# Reload benchmark: errors seen by clients while the routing config is reloaded
# under load, for canaryd, nginx and HAProxy side by side; then how long canaryd
# takes to build and swap in a 10,000-route configuration.
#
# Part 1: wrk (the bench/wrk_mix.lua mix) at RELOAD_CONNS connections for
# RELOAD_DURATION seconds while the config is rewritten with alternating weights
# (95/5 <-> 90/10) and reloaded RELOAD_HZ times a second:
#   canaryd  rewrite the file (rename into place) + kill -HUP
#   nginx    rewrite nginx.conf + nginx -s reload
#   HAProxy  master-worker (-W -S, stats socket with expose-fd listeners), rewrite
#            the file + SIGUSR2 to the master
# Errors = wrk socket errors (connect, read, write, timeout) + non-2xx/3xx answers.
#
# Part 2: bench/gen_config.py 1000 10 (1,000 VirtualServices x 10 routes): canaryd
# start-up time, reload time from canaryd's own "reload" log line when it logs a
# duration, SIGHUP-to-new-generation time seen on /metrics, and `canaryd -t` time.
#
# Settings: RELOAD_SYSTEMS ("canaryd nginx haproxy"), RELOAD_DURATION (20),
# RELOAD_HZ (10), RELOAD_CONNS (64), RELOAD_WORKERS (1), RELOAD_BIG ("1000 10";
# "off" skips part 2), CANARYD (build/canaryd), BENCH_RESULTS (output directory).
set -u
. "$(dirname "$0")/lib.sh"

SYSTEMS=${RELOAD_SYSTEMS:-canaryd nginx haproxy}
DURATION=${RELOAD_DURATION:-20}
HZ=${RELOAD_HZ:-10}
CONNS=${RELOAD_CONNS:-64}
WORKERS=${RELOAD_WORKERS:-1}
BIG=${RELOAD_BIG:-1000 10}
CANARYD=${CANARYD:-$ROOT/build/canaryd}
OUT=${BENCH_RESULTS:-$BENCH_DIR/results/reload-$(date +%Y%m%d-%H%M%S)}

need_canaryd=0
case " $SYSTEMS " in *" canaryd "*) need_canaryd=1 ;; esac
[ "$BIG" != off ] && need_canaryd=1
if [ $need_canaryd = 1 ]; then
    [ -x "$CANARYD" ] || die "no canaryd binary at $CANARYD (run make, or set RELOAD_SYSTEMS=\"nginx haproxy\" RELOAD_BIG=off)"
    CANARYD=$(realpath "$CANARYD")
fi
for v in DURATION HZ CONNS WORKERS; do
    [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "RELOAD_$v must be a positive whole number"
done
[ "$DURATION" -ge 3 ] || die "RELOAD_DURATION must be at least 3 seconds"

bench_init
mkdir -p "$OUT" || die "cannot create $OUT"
read -r U1 U2 <<<"$(free_ports 2)"
start_upstream v1 "$U1" v1
start_upstream v2 "$U2" v2
export HAPROXY_MASTER=1   # start_proxy: HAProxy in master-worker mode
failed=0

now_ns() { date +%s%N; }
# Microseconds since the epoch, without forking (bash 5).
now_us() { NOW_US=${EPOCHREALTIME//[.,]/}; }

# reload_once SYSTEM W1 W2: rewrite SYSTEM's config with the split W1/W2, reload.
reload_once() {
    local sys=$1 w1=$2 w2=$3
    case $sys in
    canaryd)
        canaryd_conf "$PROXY_DIR/canaryd.yaml" "$w1" "$w2"
        kill -HUP "$PROXY_PID" ;;
    nginx)
        nginx_conf "$PROXY_DIR" "$PROXY_PORT" "$WORKERS" "$w1" "$w2"
        nginx -p "$PROXY_DIR" -c "$PROXY_DIR/nginx.conf" -e "$PROXY_DIR/error.log" -s reload \
            2>>"$PROXY_DIR/reload.log" ;;
    haproxy)
        haproxy_conf "$PROXY_DIR/haproxy.cfg" "$PROXY_PORT" "$WORKERS" "$w1" "$w2" \
            "$PROXY_DIR/admin.sock"
        kill -USR2 "$PROXY_PID" ;;
    esac
}

# metric NAME_WITH_LABELS: a value from canaryd's /metrics (empty if absent).
metric() {
    curl -s -m 2 "http://127.0.0.1:$ADMIN_PORT/metrics" |
        awk -v m="$1" 'index($0, m " ") == 1 { print $NF; exit }'
}

printf 'system\treloads\trequests\tconnect\tread\twrite\ttimeout\tnon2xx\terrors\trouting\tnote\n' >"$OUT/reload.tsv"

for sys in $SYSTEMS; do
    if ! start_proxy "$sys" "$WORKERS" 95 5; then
        failed=1
        continue
    fi
    log "$sys: wrk -c$CONNS for ${DURATION}s, reloading ${HZ}x a second"
    run_wrk "$CONNS" "$DURATION" "$OUT/$sys.wrk" &
    wrk_pid=$!
    PIDS+=("$wrk_pid")
    sleep 0.5                       # let wrk open its connections first
    # The reloading loop runs in a subshell at a higher priority (when allowed) so it
    # keeps its schedule on 2 busy cores; its count comes back in a file.
    (
        renice -n -10 -p "$BASHPID" >/dev/null 2>&1
        n=0
        interval_us=$((1000000 / HZ))
        now_us
        start=$NOW_US
        end=$((start + (DURATION - 2) * 1000000))    # stop 1.5 s before wrk does
        while kill -0 "$wrk_pid" 2>/dev/null; do
            now_us
            [ "$NOW_US" -ge "$end" ] && break
            if [ $((n % 2)) -eq 0 ]; then reload_once "$sys" 90 10; else reload_once "$sys" 95 5; fi
            n=$((n + 1))
            next=$((start + n * interval_us))
            now_us
            if [ "$next" -gt "$NOW_US" ]; then
                d=$((next - NOW_US))
                printf -v d '%d.%06d' $((d / 1000000)) $((d % 1000000))
                sleep "$d"
            fi
        done
        echo "$n" >"$PROXY_DIR/reloads"
    )
    n=$(cat "$PROXY_DIR/reloads" 2>/dev/null || echo 0)
    wait "$wrk_pid"
    forget_pid "$wrk_pid"
    note=
    if [ "$sys" = canaryd ]; then
        sleep 0.3
        note="generation $(metric canaryd_config_generation),"
        note="$note reloads ok $(metric 'canaryd_config_reloads_total{result="success"}')"
        note="$note failed $(metric 'canaryd_config_reloads_total{result="failure"}')"
    fi
    routing=$(check_routing "$PROXY_PORT")
    [ "$routing" = ok ] || failed=1
    stop_proxy "$sys"
    cp "$PROXY_DIR"/*.log "$OUT/" 2>/dev/null
    req=$(wrk_field "$OUT/$sys.wrk" requests)
    if [ -z "$req" ]; then
        log "$sys: wrk produced no result:"
        tail -n 5 "$OUT/$sys.wrk" >&2
        failed=1
        continue
    fi
    vals=()
    tot=0
    for f in connect read write timeout status; do
        v=$(wrk_field "$OUT/$sys.wrk" $f)
        vals+=("$v")
        tot=$((tot + v))
    done
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sys" "$n" "$req" "${vals[@]}" "$tot" \
        "$routing" "$note" >>"$OUT/reload.tsv"
done

echo "Reloading ${HZ}x a second under wrk -c$CONNS for ${DURATION}s (workers $WORKERS):"
column -t -s $'\t' "$OUT/reload.tsv" | tee "$OUT/reload.txt"

# ---- part 2: a 10,000-route configuration ----------------------------------------
big_config() {
    local nvs=$1 nroutes=$2 gen=$BENCH_DIR/gen_config.py
    if [ ! -f "$gen" ]; then
        echo "10,000 routes: skipped, $gen is not there"
        return
    fi
    local cfg=$TMP/big.yaml
    python3 "$gen" "$nvs" "$nroutes" >"$cfg" 2>"$TMP/gen.err" || {
        echo "10,000 routes: gen_config.py failed: $(tail -n 1 "$TMP/gen.err")"
        failed=1
        return
    }
    local t0 t1
    echo
    echo "Config of $nvs VirtualServices x $nroutes routes ($(wc -c <"$cfg") bytes):"
    t0=$(now_ns)
    "$CANARYD" -t -c "$cfg" >"$OUT/big-t.log" 2>&1
    local rc=$?
    t1=$(now_ns)
    printf '  canaryd -t (parse + validate + compile, whole process): %d ms, exit %d\n' \
        $(((t1 - t0) / 1000000)) "$rc"
    [ $rc -eq 0 ] || { failed=1; tail -n 3 "$OUT/big-t.log"; return; }

    read -r PROXY_PORT ADMIN_PORT <<<"$(free_ports 2)"
    t0=$(now_ns)
    "$CANARYD" -c "$cfg" -l "127.0.0.1:$PROXY_PORT" -a "127.0.0.1:$ADMIN_PORT" -w 1 \
        --access-log off >"$OUT/big.log" 2>&1 &
    PROXY_PID=$!
    PIDS+=("$PROXY_PID")
    if ! wait_http "http://127.0.0.1:$ADMIN_PORT/internal/platform/readiness" 60; then
        echo "  canaryd did not become ready with it:"; tail -n 3 "$OUT/big.log"
        failed=1; stop_pid "$PROXY_PID"; return
    fi
    t1=$(now_ns)
    printf '  start-up to ready: %d ms\n' $(((t1 - t0) / 1000000))
    local gen0 gen lines
    gen0=$(metric canaryd_config_generation)
    lines=$(wc -l <"$OUT/big.log")
    t0=$(now_ns)
    kill -HUP "$PROXY_PID"
    for _ in $(seq 600); do
        gen=$(metric canaryd_config_generation)
        [ -n "$gen" ] && [ "$gen" != "$gen0" ] && break
        sleep 0.01
    done
    t1=$(now_ns)
    if [ -n "$gen" ] && [ "$gen" != "$gen0" ]; then
        printf '  SIGHUP to new generation on /metrics (polled every 10 ms): %d ms\n' \
            $(((t1 - t0) / 1000000))
    else
        echo "  SIGHUP: no new generation on /metrics within 6 s"
    fi
    sleep 0.2
    # canaryd's own account: the JSON process-log line about the reload, if it
    # carries a duration.
    tail -n +"$((lines + 1))" "$OUT/big.log" | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    if not isinstance(ev, dict) or "reload" not in json.dumps(ev).lower():
        continue
    for k, v in ev.items():
        kl = k.lower()
        if isinstance(v, (int, float)) and ("duration" in kl or "elapsed" in kl or
                                            kl.endswith(("_ms", "_us", "_seconds", "_s"))):
            print("  reload as logged by canaryd: %s=%s" % (k, v))
            sys.exit(0)
print("  (canaryd logged no reload line with a duration; see the figures above)")
'
    stop_pid "$PROXY_PID"
}
if [ "$BIG" != off ]; then
    big_config $BIG >"$OUT/big.txt"
    cat "$OUT/big.txt"
fi

[ $failed -eq 0 ] || { log "something failed (see $OUT)"; exit 1; }
