#!/usr/bin/env python3
"""timeouts: --idle-timeout 1. A keep-alive connection idle after its response is closed by
canaryd after about 1 s; one that sends a request every 0.6 s stays open past 2 s."""
import time

from canaryd_e2e import (Canaryd, Upstreams, check, expect_upstream, mesh_config, route_to, run,
                        slow_factor, step, virtual_service)

VS = f"""
- name: default
  route: {route_to("v1")}
"""


def main():
    f = slow_factor()
    with Upstreams("v1") as ups:
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg, extra_args=["--idle-timeout", "1"]) as proxy:
            step("requests every 0.6 s keep the connection open for 2.4 s")
            with proxy.conn() as c:
                for i in range(5):
                    if i:
                        time.sleep(0.6)
                    expect_upstream(c.request("GET", f"/busy/{i}"), "v1", f"request {i}")

            step("an idle keep-alive connection is closed after ~1 s")
            with proxy.conn() as c:
                expect_upstream(c.request("GET", "/idle"), "v1", "request before idling")
                t0 = time.monotonic()
                closed, extra = c.wait_closed(6 * f)
                took = time.monotonic() - t0
                step(f"  closed={closed} after {took:.2f}s")
                check(closed, f"the idle connection was still open after {took:.1f}s")
                check(not extra, f"bytes sent on an idle connection: {extra[:100]!r}")
                check(0.8 <= took <= 1.0 + 2.0 * f,
                      f"closed after {took:.2f}s; expected about 1 s (--idle-timeout 1)")


run(main)
