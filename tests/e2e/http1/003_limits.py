#!/usr/bin/env python3
"""http1: a request line over 8 KiB gets 414, a header section over 64 KiB gets 431 (one
huge header or many ordinary ones), each with the connection closed and nothing sent
upstream; a 4 KiB target and a 16 KiB header just under the limits pass intact."""
from canaryd_e2e import (Canaryd, Upstreams, check_rejections, expect_eq, expect_upstream,
                        mesh_config, route_to, run, step, virtual_service)

VS = f"""
- name: default
  route: {route_to("v1")}
"""


def main():
    with Upstreams("v1") as ups:
        up = ups["v1"]
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy:
            step("a 4 KiB target and a 16 KiB header pass intact")
            target = "/long/" + "a" * 4096
            big = "b" * 16384
            expect_upstream(proxy.request("GET", target, headers=[("X-Big", big)]), "v1",
                            "4 KiB target + 16 KiB header")
            q = up.snapshot()[-1]
            expect_eq(q.target, target, "target at the upstream")
            expect_eq(q.header("x-big"), big, "X-Big at the upstream")
            up.clear()

            step("over the limits")
            many = b"".join(b"X-H%03d: %s\r\n" % (i, b"v" * 1000) for i in range(70))
            check_rejections(proxy, [
                ("request line of 10 KiB", b"GET /" + b"u" * 10240
                 + b" HTTP/1.1\r\nHost: mobile-api\r\n\r\n", 414),
                ("request line of 100 KiB", b"GET /" + b"u" * 102400
                 + b" HTTP/1.1\r\nHost: mobile-api\r\n\r\n", 414),
                ("one 70 KB header", b"GET / HTTP/1.1\r\nHost: mobile-api\r\nX-Big: "
                 + b"h" * 70000 + b"\r\n\r\n", 431),
                ("70 headers of 1 KB", b"GET / HTTP/1.1\r\nHost: mobile-api\r\n" + many
                 + b"\r\n", 431),
            ])
            expect_eq([q.target[:20] for q in up.heads], [],
                      "request heads that reached the upstream")
            step("canaryd still serves")
            expect_upstream(proxy.request("GET", "/after"), "v1", "GET after the limits")


run(main)
