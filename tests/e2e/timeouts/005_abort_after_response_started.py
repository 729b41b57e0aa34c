#!/usr/bin/env python3
"""timeouts/errors: when the upstream fails after the response has started (Content-Length
1000 but only 10 bytes then close; a chunked body cut before its last chunk), the client
connection is aborted so the client sees a truncated body: never a complete-looking
response. (A clean 502 is acceptable only if canaryd had not started the response.)"""
from canaryd_e2e import (Canaryd, ConnectionClosed, Upstreams, describe, expect_upstream, fail,
                        mesh_config, route_to, run, slow_factor, step, virtual_service)

VS = f"""
- name: default
  route: {route_to("v1")}
"""


def expect_truncated(proxy, path, what):
    with proxy.conn(timeout=5 * slow_factor()) as c:
        try:
            r = c.request("GET", path)
        except ConnectionClosed as e:
            how = "reset" if e.reset else "closed"
            step(f"  {what}: connection {how} after {len(e.partial)} buffered bytes: "
                 f"the client sees a truncated response")
            return
        if r.status == 502:
            step(f"  {what}: clean 502 (response had not started)")
            return
        fail(f"{what}: the client got a complete-looking response {describe(r)}")


def main():
    with Upstreams("v1") as ups:
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy:
            step("Content-Length 1000, 10 bytes sent, upstream closes")
            expect_truncated(proxy, "/half", "/half")
            step("chunked body cut after the first chunk")
            expect_truncated(proxy, "/raw/halfchunked", "/raw/halfchunked")
            step("canaryd still serves")
            expect_upstream(proxy.request("GET", "/after"), "v1", "GET after the aborts")


run(main)
