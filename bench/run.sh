#!/usr/bin/env bash
# make bench: canaryd, nginx and HAProxy doing the same canary job on loopback,
# driven by wrk, side by side. See bench/README.md for how to read the table.
#
# Settings (environment variables; `make bench BENCH_DURATION=3` works too):
#   BENCH_SYSTEMS      systems to measure          "canaryd nginx haproxy" (+ "relay", "direct")
#   BENCH_WORKERS      proxy workers/threads       "1 2"
#   BENCH_CONNECTIONS  wrk connections             "64 512"
#   BENCH_DURATION     seconds per measurement     10
#   BENCH_WARMUP       warm-up seconds per start   2
#   BENCH_ROUNDS       interleaved rounds          3
#   BENCH_THREADS      wrk threads                 2
#   BENCH_COOKIE_PERCENT  requests with the cookie 10
#   CANARYD            the binary                  build/canaryd
#   CANARYD_BASE       the binary "canaryd-base" runs (a before/after comparison)
#   BENCH_RESULTS      output directory            bench/results/<date>-<time>
set -u
. "$(dirname "$0")/lib.sh"

SYSTEMS=${BENCH_SYSTEMS:-canaryd nginx haproxy}
WORKERS=${BENCH_WORKERS:-1 2}
CONNS=${BENCH_CONNECTIONS:-64 512}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
ROUNDS=${BENCH_ROUNDS:-3}
CANARYD=${CANARYD:-$ROOT/build/canaryd}
OUT=${BENCH_RESULTS:-$BENCH_DIR/results/$(date +%Y%m%d-%H%M%S)}

case " $SYSTEMS " in
*" canaryd "*)
    [ -x "$CANARYD" ] || die "no canaryd binary at $CANARYD (run make, or set BENCH_SYSTEMS=\"nginx haproxy\")"
    CANARYD=$(realpath "$CANARYD") ;;
esac
case " $SYSTEMS " in
*" canaryd-base "*)
    [ -x "${CANARYD_BASE:-}" ] || die "canaryd-base needs CANARYD_BASE, the binary to compare with"
    CANARYD_BASE=$(realpath "$CANARYD_BASE") ;;
esac
for v in DURATION WARMUP ROUNDS; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "BENCH_$v must be a whole number"
done

bench_init
mkdir -p "$OUT" || die "cannot create $OUT"
[ "$(dirname "$OUT")" = "$BENCH_DIR/results" ] && ln -sfn "$(basename "$OUT")" "$BENCH_DIR/results/latest"

read -r U1 U2 <<<"$(free_ports 2)"
start_upstream v1 "$U1" v1
start_upstream v2 "$U2" v2

nsys=$(wc -w <<<"$SYSTEMS")
nmeas=$((ROUNDS * $(wc -w <<<"$WORKERS") * nsys * $(wc -w <<<"$CONNS")))
log "upstreams v1 :$U1, v2 :$U2; $nmeas measurements of ${DURATION}s; results in $OUT"
{
    echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) CPUs"
    echo "# systems=$SYSTEMS workers=$WORKERS connections=$CONNS duration=${DURATION}s rounds=$ROUNDS"
    echo "# nginx: $(nginx -v 2>&1 | sed 's/.*: //'); haproxy: $(haproxy -v | head -n1 | awk '{print $3}');" \
        "wrk: $(wrk --version 2>&1 | head -n1 | awk '{print $2}')"
    case " $SYSTEMS " in *" canaryd "*) echo "# canaryd: $("$CANARYD" -v 2>&1 | head -n1)" ;; esac
} >"$OUT/info.txt"
printf 'round\tsystem\tworkers\tconns\trequests\tduration_us\tp50_us\tp99_us\trss_kib\tcpu_ticks\terrors\trouting\n' \
    >"$OUT/raw.tsv"

failed=0

# measure SYSTEM WORKERS CONNS ROUND: one wrk run against the running proxy.
measure() {
    local sys=$1 w=$2 c=$3 r=$4 tag=$1-w$2-c$3-r$4 sampler t0 t1 pids req dur errs
    pids=$(proc_tree "$PROXY_PID")
    rm -f "$OUT/$tag.rss"
    rss_sampler "$PROXY_PID" "$OUT/$tag.rss" &
    sampler=$!
    t0=$(cpu_ticks $pids)
    run_wrk "$c" "$DURATION" "$OUT/$tag.wrk"
    t1=$(cpu_ticks $pids)
    kill "$sampler" 2>/dev/null
    wait "$sampler" 2>/dev/null
    req=$(wrk_field "$OUT/$tag.wrk" requests)
    if [ -z "$req" ] || [ "$req" = 0 ]; then
        log "$tag: wrk produced no result:"
        tail -n 5 "$OUT/$tag.wrk" >&2
        failed=1
        return
    fi
    dur=$(wrk_field "$OUT/$tag.wrk" duration_us)
    errs=0
    for f in connect read write status timeout; do
        errs=$((errs + $(wrk_field "$OUT/$tag.wrk" $f)))
    done
    local routing=n/a
    # direct and relay send everything to v1: they have no routing to check.
    case $sys in direct | relay) ;; *) routing=$(check_routing "$PROXY_PORT") ;; esac
    [ "$routing" = ok ] || [ "$routing" = n/a ] || failed=1
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$sys" "$w" "$c" "$req" "$dur" \
        "$(wrk_field "$OUT/$tag.wrk" p50_us)" "$(wrk_field "$OUT/$tag.wrk" p99_us)" \
        "$(cat "$OUT/$tag.rss" 2>/dev/null || echo 0)" "$((t1 - t0))" "$errs" "$routing" \
        >>"$OUT/raw.tsv"
    log "$(printf '%-8s w%s c%-4s round %s: %6d req/s, routing %s' "$sys" "$w" "$c" "$r" \
        $((req * 1000000 / dur)) "$routing")"
}

for r in $(seq "$ROUNDS"); do
    # Rotate the order each round so no system always runs first or last.
    read -r -a sys_arr <<<"$SYSTEMS"
    off=$(((r - 1) % nsys))
    order="${sys_arr[*]:off} ${sys_arr[*]:0:off}"
    first_w=$(echo $WORKERS | cut -d' ' -f1)
    for w in $WORKERS; do
        for sys in $order; do
            # "direct" (wrk straight to the v1 upstream) has no workers setting.
            [ "$sys" = direct ] && [ "$w" != "$first_w" ] && continue
            if ! start_proxy "$sys" "$w"; then
                failed=1
                continue
            fi
            for f in "$PROXY_DIR"/nginx.conf "$PROXY_DIR"/haproxy.cfg "$PROXY_DIR"/canaryd.yaml; do
                [ -f "$f" ] && cp "$f" "$OUT/$sys-w$w.$(basename "$f")"
            done
            [ "$WARMUP" -gt 0 ] && run_wrk "$(echo $CONNS | cut -d' ' -f1)" "$WARMUP" "$PROXY_DIR/warmup.wrk"
            for c in $CONNS; do
                measure "$sys" "$w" "$c" "$r"
            done
            stop_proxy "$sys"
            [ -s "$PROXY_DIR/stdout.log" ] && cp "$PROXY_DIR/stdout.log" "$OUT/$sys-w$w-r$r.log"
        done
    done
done

CLK_TCK=$CLK_TCK python3 "$BENCH_DIR/summarize.py" "$OUT/raw.tsv" | tee "$OUT/summary.txt"
[ $failed -eq 0 ] || { log "some measurements failed or routed wrongly (see $OUT)"; exit 1; }
