#!/usr/bin/env python3
"""http1: five pipelined requests sent in one write (a slow one first, a POST with a body,
one routed to another subset, a chunked response) are answered in order, each by the
right upstream, on the one connection."""
import json

from canaryd_e2e import (Canaryd, Upstreams, build_request, chunked_response_body, expect_eq,
                        mesh_config, run, step, virtual_service)

VS = """
- name: canary
  match: [{headers: {x-canary: {exact: "1"}}}]
  route: [{destination: {host: mobile-api, subset: v2}}]
- name: default
  route: [{destination: {host: mobile-api, subset: v1}}]
"""


def main():
    with Upstreams("v1", "v2") as ups:
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy, proxy.conn() as c:
            reqs = [("GET", "/slow/300", [], None, "v1"),
                    ("POST", "/upload", [], b"hello pipelined body", "v1"),
                    ("GET", "/p3", [("x-canary", "1")], None, "v2"),
                    ("GET", "/chunked/4", [], None, "v1"),
                    ("GET", "/p5", [], None, "v1")]
            step("5 requests in one send")
            c.send(b"".join(build_request(m, p, headers=h, body=b) for m, p, h, b, _ in reqs))
            for i, (m, p, h, b, sub) in enumerate(reqs):
                r = c.read_response(m)
                what = f"response {i + 1} ({m} {p})"
                expect_eq(r.status, 200, f"{what}: status")
                expect_eq(r.header("x-target"), p, f"{what}: answers request")
                expect_eq(r.header("x-upstream"), sub, f"{what}: upstream")
                if p == "/upload":
                    expect_eq(json.loads(r.body)["len"], len(b), f"{what}: body length")
                elif p.startswith("/chunked"):
                    expect_eq(r.body, chunked_response_body(4), f"{what}: body")
                else:
                    expect_eq(r.body, f"{sub}\n".encode(), f"{what}: body")
            step("a sixth request on the same connection")
            r = c.request("GET", "/p6")
            expect_eq((r.status, r.header("x-target")), (200, "/p6"), "response 6")


run(main)
