#!/usr/bin/env python3
"""http1: 1xx interim responses. An upstream's unsolicited 100 Continue or 103 Early Hints
before the final 200 does not confuse framing (the client gets the final 200 intact, with or
without the interim relayed, and the connection stays usable); a client's
`Expect: 100-continue` gets a 100 Continue before it sends the body, then the final answer
for the full body."""
import json

from canaryd_e2e import (Canaryd, ResponseTimeout, Upstreams, check, expect_eq, expect_upstream,
                        fail, mesh_config, pattern_chunks, pattern_sha256, route_to, run,
                        slow_factor, step, virtual_service)

VS = f"""
- name: default
  route: {route_to("v1")}
"""


def main():
    with Upstreams("v1") as ups:
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy:
            for name in ("continue", "earlyhints"):
                step(f"upstream sends an interim response first (/raw/{name})")
                with proxy.conn() as c:
                    r = c.request("GET", f"/raw/{name}")
                    expect_eq((r.status, r.body), (200, b"ok\n"), f"/raw/{name} final response")
                    step(f"  interim responses relayed: {[i.status for i in r.interim]}")
                    expect_upstream(c.request("GET", "/next"), "v1",
                                    f"next request after /raw/{name} on the same connection")

            step("client Expect: 100-continue waits for 100 before sending the body")
            n = 100000
            with proxy.conn(timeout=3 * slow_factor()) as c:
                c.send_request("POST", "/upload", headers=[("Expect", "100-continue"),
                                                           ("Content-Length", str(n))])
                try:
                    interim = c.read_response(interim=True)
                except ResponseTimeout:
                    fail("no 100 Continue within 3 s after a head with Expect: 100-continue")
                expect_eq(interim.status, 100, "status of the first response")
                for piece in pattern_chunks(n, 16384):
                    c.send(piece)
                r = c.read_response("POST")
                expect_eq(r.status, 200, "final status")
                got = json.loads(r.body)
                expect_eq((got["len"], got["sha256"]), (n, pattern_sha256(n)),
                          "body received by the upstream (length, sha256)")
                check(not r.interim, f"a second interim response arrived: {r.interim}")
                step("the connection stays usable")
                expect_upstream(c.request("GET", "/next"), "v1", "request after the upload")


run(main)
