#!/usr/bin/env python3
"""routing: routing is per request, not per connection. One client keep-alive connection
sends requests that land on v1 or v2 by a header, in an irregular order; every answer comes
from the right subset and the connection is never closed."""
from canaryd_e2e import (Canaryd, Upstreams, check, expect_upstream, mesh_config, run, step,
                        virtual_service)

VS = """
- name: canary
  match: [{headers: {x-canary: {exact: "1"}}}]
  route: [{destination: {host: mobile-api, subset: v2}}]
- name: default
  route: [{destination: {host: mobile-api, subset: v1}}]
"""

PATTERN = "1 0 0 1 1 1 0 1 0 0 0 1 0 1 1 0 0 0 0 1 1 0 1 0".split()


def main():
    with Upstreams("v1", "v2") as ups:
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy, proxy.conn() as c:
            step(f"{len(PATTERN)} requests on one connection, x-canary pattern {''.join(PATTERN)}")
            for i, bit in enumerate(PATTERN):
                headers = [("x-canary", "1")] if bit == "1" else [("x-canary", "0")]
                r = c.request("GET", f"/r/{i}", headers=headers)
                expect_upstream(r, "v2" if bit == "1" else "v1", f"request {i} (x-canary: {bit})")
                check(not r.has_token("connection", "close"),
                      f"request {i}: canaryd asked to close the connection")
            n2 = PATTERN.count("1")
            check(ups["v2"].count() == n2 and ups["v1"].count() == len(PATTERN) - n2,
                  f"upstream counts v1={ups['v1'].count()} v2={ups['v2'].count()}")
            step("then a plain request on the same connection goes to v1")
            expect_upstream(c.request("GET", "/last"), "v1", "last request")


run(main)
