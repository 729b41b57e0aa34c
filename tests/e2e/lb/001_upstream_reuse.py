#!/usr/bin/env python3
"""lb: upstream connections are pooled and reused. 500 sequential requests on one client
keep-alive connection reach the upstream over at most 5 connections; 50 requests on 50
separate client connections (each with Connection: close, a hop-by-hop header that must
not close the upstream side) also reuse pooled upstream connections."""
from canaryd_e2e import (Canaryd, Upstreams, check, expect_eq, expect_upstream, mesh_config,
                        route_to, run, step, virtual_service)

VS = f"""
- name: default
  route: {route_to("v1")}
"""


def main():
    with Upstreams("v1") as ups:
        up = ups["v1"]
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy:
            step("500 sequential requests on one client connection")
            with proxy.conn() as c:
                for i in range(500):
                    expect_upstream(c.request("GET", f"/k/{i}"), "v1", f"request {i}")
            expect_eq(up.count(), 500, "requests at the upstream")
            step(f"  the upstream accepted {up.accepted} connection(s)")
            check(up.accepted <= 5, f"500 keep-alive requests used {up.accepted} upstream "
                  "connections (expected <= 5: connections are not reused)")

            up.clear()
            step("50 requests on 50 client connections with Connection: close")
            for i in range(50):
                r = proxy.request("GET", f"/s/{i}", headers=[("Connection", "close")])
                expect_upstream(r, "v1", f"short request {i}")
            step(f"  the upstream accepted {up.accepted} connection(s)")
            check(up.accepted <= 5, f"50 requests over short client connections used "
                  f"{up.accepted} upstream connections (expected <= 5)")
            closes = [q for q in up.snapshot()
                      if "close" in (q.header("connection") or "").lower()]
            expect_eq(len(closes), 0, "upstream requests carrying the client's Connection: close")


run(main)
