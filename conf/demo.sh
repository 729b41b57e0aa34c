#!/usr/bin/env bash
# make run: start canaryd in the foreground with conf/demo.yaml (a 90/10 canary
# split between two built-in stand-in versions, plus a cookie rule) and say how to
# try it. Ctrl-C stops it (a graceful drain, like SIGTERM).
#   usage: conf/demo.sh [path/to/canaryd]
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../build/canaryd}
config=$here/demo.yaml
[ -x "$bin" ] || { echo "demo: no canaryd binary at $bin (run make first)" >&2; exit 1; }

busy=
if command -v ss >/dev/null; then
    for port in 8080 9001 9002 9901; do
        [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ] && busy="$busy $port"
    done
fi
if [ -n "$busy" ]; then
    echo "demo: these ports are already in use:$busy" >&2
    echo "demo: the demo needs 8080 (main), 9001 and 9002 (the two versions) and 9901 (admin)" >&2
    exit 1
fi

cat <<'MSG'
canaryd demo: conf/demo.yaml
  :8080  the service users call: 90% to v1, 10% to v2; cookie canary=always -> v2
  :9001  stand-in for version v1 (answers "v1"), :9002 for v2
  :9901  admin: probes and Prometheus metrics

In another terminal:
  for i in $(seq 20); do curl -s localhost:8080/; done          # mostly v1, some v2
  curl -s --cookie canary=always localhost:8080/                 # always v2
  curl -s --cookie 'session=1; canary=always' localhost:8080/    # v2 too
  curl -s localhost:9901/metrics | grep canaryd_requests_total
  kill -HUP <pid>   after editing conf/demo.yaml (e.g. weights 50/50): reload in place

Each request is logged below as one JSON line (see "subset"). Ctrl-C to stop.

MSG
exec "$bin" -c "$config" -a 127.0.0.1:9901
