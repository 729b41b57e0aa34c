#!/usr/bin/env python3
"""lb: pooled upstream connections that the upstream has closed are never used for a new
request. After an answer with `Connection: close`, and after an upstream that closes its
idle keep-alive connection 50 ms after answering (its own idle timeout), the next request
gets a 200 over a fresh connection (not a 502 from writing into a dead one)."""
import time

from canaryd_e2e import (Canaryd, Upstreams, check, expect_upstream, mesh_config, route_to, run,
                        step, virtual_service)

VS = f"""
- name: default
  route: {route_to("v1")}
"""


def main():
    with Upstreams("v1") as ups:
        up = ups["v1"]
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy, proxy.conn() as c:
            for i in range(3):
                step(f"round {i}: upstream answers with Connection: close, then a new request")
                expect_upstream(c.request("GET", "/close"), "v1", f"round {i}: /close")
                expect_upstream(c.request("GET", f"/after-close/{i}"), "v1",
                                f"round {i}: request after the upstream's Connection: close")
                step(f"round {i}: upstream closes its idle connection 50 ms after answering")
                expect_upstream(c.request("GET", "/drop-after"), "v1", f"round {i}: /drop-after")
                time.sleep(0.3)
                expect_upstream(c.request("GET", f"/after-drop/{i}"), "v1",
                                f"round {i}: request after the upstream closed the idle "
                                "connection")
            check(up.count() == 12, f"the upstream saw {up.count()} requests, expected 12 "
                  "(no retries needed, none lost)")


run(main)
