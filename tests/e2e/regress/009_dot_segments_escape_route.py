#!/usr/bin/env python3
"""regress: dot-segments in the path must not let a request escape a uri-matched route.
A VirtualService denies /admin (directResponse 403) and sends the rest to v1. The paths
`/public/../admin/x` and `/./admin/x` are /admin/x for every server that resolves them
(RFC 3986 5.2.4; nginx, Go's ServeMux, most frameworks), and Istio normalizes paths
before routing by default (meshConfig pathNormalization BASE: Envoy normalize_path), so
an Istio user expects the deny route to apply: 403 (or a 400 reject), never a forward.

Bug found: route matching (route.c entry_holds -> match_test on req->path) runs on the raw
path, and the raw path is forwarded: both requests reach the upstream, which resolves them
to /admin/x. Any uri prefix/exact rule (deny, or pin-to-version) can be side-stepped."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from canaryd_e2e import Canaryd, Upstream, fail, route_to, run, step  # noqa: E402
from regress_helpers import exchange, single_route_config, statuses  # noqa: E402

ROUTES = f"""
- name: deny-admin
  match: [{{uri: {{prefix: /admin}}}}]
  directResponse: {{status: 403, body: {{string: "forbidden"}}}}
- name: rest
  route: {route_to("v1")}
"""


def main():
    with Upstream("v1") as up:
        with Canaryd(single_route_config(up, ROUTES)) as proxy:
            step("control: /admin/x -> 403, /public/x -> 200")
            data, _ = exchange(proxy.port, b"GET /admin/x HTTP/1.1\r\nHost: mobile-api\r\n\r\n")
            if statuses(data) != [403]:
                fail(f"control /admin/x: expected 403, got {statuses(data)}")
            failures = []
            for path in (b"/public/../admin/x", b"/./admin/x", b"/public/./../admin/x"):
                step(f"GET {path.decode()}")
                up.clear()
                data, _ = exchange(proxy.port, b"GET " + path +
                                   b" HTTP/1.1\r\nHost: mobile-api\r\n\r\n")
                st = statuses(data)
                if st not in ([403], [400]) or up.heads:
                    failures.append(f"{path.decode()}: got {st}, upstream received "
                                    f"{[h.target for h in up.heads]!r}")
            if failures:
                fail("dot-segment paths escaped the /admin deny route:\n  "
                     + "\n  ".join(failures))


run(main)
