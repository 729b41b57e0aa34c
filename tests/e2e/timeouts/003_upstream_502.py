#!/usr/bin/env python3
"""timeouts/errors: 502 when the upstream refuses the connection (closed port), closes
without answering, or resets (RST) before answering; canaryd keeps serving."""
from canaryd_e2e import (Canaryd, Upstreams, expect_status, free_port,
                        mesh_config, run, run_cases, step, virtual_service)

VS = """
- name: closed
  match: [{uri: {prefix: /closed}}]
  route: [{destination: {host: mobile-api, subset: dead}}]
- name: default
  route: [{destination: {host: mobile-api, subset: v1}}]
"""


def main():
    dead = free_port()  # nothing listens there: connect() is refused
    with Upstreams("v1") as ups:
        cfg = mesh_config({"v1": ups["v1"], "dead": dead},
                          virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy:
            step("connection refused -> 502")
            expect_status(proxy.request("GET", "/closed"), 502, "closed port")
            step("upstream closes without answering -> 502")
            expect_status(proxy.request("GET", "/reset"), 502, "upstream FIN before a response")
            step("upstream resets before answering -> 502")
            expect_status(proxy.request("GET", "/rst"), 502, "upstream RST before a response")
            step("the same on one keep-alive connection (reopened only if canaryd says "
                 "Connection: close), then good requests")
            run_cases(proxy, [("closed port", {"path": "/closed"}, 502),
                              ("good request", {"path": "/ok1"}, "v1"),
                              ("FIN", {"path": "/reset"}, 502),
                              ("RST", {"path": "/rst"}, 502),
                              ("good request", {"path": "/ok2"}, "v1")])


run(main)
