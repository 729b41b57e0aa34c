#!/usr/bin/env python3
"""http1: with io_uring off (CANARYD_IO_URING=off, or a kernel or seccomp profile that
refuses it, as Docker's default one does), canaryd writes with one send() per write and
behaves the same. Checks the start-up log names the mode, then runs the transfer, framing,
pipelining, WebSocket and split tests again in that mode."""
import os
import subprocess
import sys

from canaryd_e2e import Canaryd, Upstreams, expect_upstream, fail, mesh_config, run, step, \
    virtual_service

HERE = os.path.dirname(os.path.abspath(__file__))
AGAIN = ["http1/007_large_transfers.py", "http1/008_body_framing.py",
         "http1/009_pipelining.py", "http1/011_websocket.py", "routing/001_weighted_split.py"]


def mode_line(proxy):
    lines = [e.get("msg", "") for e in proxy.process_log_lines()]
    return next((m for m in lines if m.startswith("worker: ")), None)


def main():
    with Upstreams("v1") as ups:
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"],
                                               "- route: [{destination: {host: mobile-api, "
                                               "subset: v1}}]\n"))
        step("default: the log says which way writes go")
        with Canaryd(cfg) as proxy:
            expect_upstream(proxy.request("GET", "/"), "v1", "default mode")
            line = mode_line(proxy)
            step(f"  {line}")
            if line is None or not ("io_uring" in line):
                fail(f"no start-up line about the write mode: {line!r}")
        step("CANARYD_IO_URING=off: one send() per write")
        with Canaryd(cfg, env={"CANARYD_IO_URING": "off"}) as proxy:
            for _ in range(20):
                expect_upstream(proxy.request("GET", "/"), "v1", "io_uring off")
            line = mode_line(proxy)
            if line is None or "turned off by CANARYD_IO_URING" not in line:
                fail(f"expected the start-up line to say io_uring is off, got {line!r}")
    env = dict(os.environ)
    env["E2E_CANARYD_ENV"] = (env.get("E2E_CANARYD_ENV", "") + " CANARYD_IO_URING=off").strip()
    base = os.path.dirname(HERE)
    for t in AGAIN:
        step(f"again without io_uring: {t}")
        p = subprocess.run([sys.executable, os.path.join(base, t)], env=env,
                           capture_output=True, text=True, timeout=170)
        if p.returncode == 77:
            step(f"  skipped: {p.stdout.strip().splitlines()[-1:]}")
            continue
        if p.returncode != 0:
            sys.stdout.write(p.stdout[-3000:] + p.stderr[-2000:])
            fail(f"{t} failed with io_uring off (exit {p.returncode})")


run(main)
