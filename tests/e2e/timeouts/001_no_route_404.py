#!/usr/bin/env python3
"""timeouts/errors: 404 from canaryd when no VirtualService matches the Host or no route of
the matching one matches; the client connection stays usable; nothing reaches an upstream;
the access log records the 404s."""
from canaryd_e2e import (Canaryd, Upstreams, check, expect_eq, expect_status, expect_upstream,
                        mesh_config, run, step, virtual_service)

VS = """
- name: api
  match: [{uri: {prefix: /api/}}]
  route: [{destination: {host: mobile-api, subset: v1}}]
"""


def main():
    with Upstreams("v1") as ups:
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy:
            c = proxy.conn()
            step("unknown Host -> 404")
            expect_status(c.request("GET", "/api/x", host="unknown.example.com"), 404,
                          "unknown host")
            step("known Host, no route matches -> 404")
            expect_status(c.request("GET", "/other"), 404, "no route")
            step("POST with a body to no route -> 404; then either the connection stays in "
                 "sync or the answer said Connection: close and it closes")
            r = c.request("POST", "/other", body=b"x" * 5000)
            expect_status(r, 404, "POST no route")
            if r.has_token("connection", "close"):
                closed, extra = c.wait_closed(2)
                check(closed and not extra, "Connection: close but the connection stayed open")
                c.close()
                c = proxy.conn()
            expect_eq(ups["v1"].count(), 0, "requests that reached the upstream")
            step("the connection still routes")
            expect_upstream(c.request("GET", "/api/x"), "v1", "matching request")
            c.close()
            lines = proxy.wait_access_log(4)
            statuses = [int(line.get("status", 0)) for line in lines]
            check(statuses.count(404) >= 3, f"access log: expected three 404 lines, got "
                  f"statuses {statuses}")


run(main)
