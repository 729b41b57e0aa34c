#!/usr/bin/env python3
"""admin: access log switch and flushing. --access-log off (or CANARYD_ACCESS_LOG=off)
prints no access-log line (the flag beats the environment); and on SIGTERM nothing is
lost: N requests answered, SIGTERM right after the last answer, exactly N lines, each
for a distinct request."""
import json
import time

from canaryd_e2e import Upstreams, check, expect_eq, expect_upstream, mesh_config, run, step
from ops_helpers import OpsCanaryd, weighted_vs

N = 300


def send(proxy, n, tag):
    conns = [proxy.conn(), proxy.conn()]
    try:
        for i in range(n):
            expect_upstream(conns[i % 2].request("GET", f"/{tag}/{i}"), "v1", f"{tag} request {i}")
    finally:
        for c in conns:
            c.close()


def stdout_objs(proxy):
    out = []
    for line in proxy.stdout_text().splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def main():
    with Upstreams("v1", "v2") as ups:
        cfg = mesh_config(ups, weighted_vs(100, 0))
        for what, args, env, want in (
                ("--access-log off", ["--access-log", "off"], {}, False),
                ("CANARYD_ACCESS_LOG=off", [], {"CANARYD_ACCESS_LOG": "off"}, False),
                ("CANARYD_ACCESS_LOG=off with --access-log on", ["--access-log", "on"],
                 {"CANARYD_ACCESS_LOG": "off"}, True)):
            step(f"{what}: 20 requests -> {'20' if want else 'no'} access-log lines")
            with OpsCanaryd(cfg, extra_args=args, env=env) as proxy:
                send(proxy, 20, "sw")
                time.sleep(0.3)
                lines = proxy.access_log_lines()
                expect_eq(len(lines), 20 if want else 0, f"{what}: access-log lines")
                check(proxy.process_log_lines(), f"{what}: no process log lines at all")

        step(f"{N} requests on 2 keep-alive connections (2 workers), SIGTERM right after the last")
        with OpsCanaryd(cfg, workers=2) as proxy:
            send(proxy, N, "flush")
            proxy.sigterm()
            rc = proxy.wait_exit(10)
            expect_eq(rc, 0, "exit status")
            objs = stdout_objs(proxy)
            paths = [o.get("path") for o in objs if "status" in o]
            expect_eq(len(paths), N, "access-log lines after SIGTERM")
            expect_eq(len(set(paths)), N, "distinct request paths in the access log")
            expect_eq(set(paths), {f"/flush/{i}" for i in range(N)}, "the logged paths")


run(main)
