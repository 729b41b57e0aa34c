#!/usr/bin/env python3
"""regress: an absolute-form request-target without a path (`GET http://mobile-api
HTTP/1.1`, `GET http://mobile-api?a=b HTTP/1.1`) means path "/" (RFC 9112 3.2.2). The
upstream must receive `GET /` (`GET /?a=b`), routing must see "/" (an exact "/" deny
route applies), and canaryd must not crash.

Bug found: h1.c points msg->path at a static "/" (root_path) for these targets, and
stream.c's rebase() then "moves" that pointer as if it were inside the client's input
buffer, so the path becomes a wild pointer: the release build dies with SIGSEGV on the
first such request; the ASan build forwards a garbage byte as the path (routing matched
against it too, so the deny route was bypassed)."""
import sys
import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from canaryd_e2e import (Canaryd, Upstream, expect_eq, fail, route_to, run, step,  # noqa: E402
                         virtual_service)
from regress_helpers import exchange, single_route_config, statuses  # noqa: E402

ROUTES = f"""
- name: deny-root
  match: [{{uri: {{exact: /}}}}]
  directResponse: {{status: 403, body: {{string: "root is forbidden"}}}}
- name: rest
  route: {route_to("v1")}
"""


def main():
    with Upstream("v1") as up:
        cfg = single_route_config(up, ROUTES, extra_vs=[
            virtual_service("open", ["open.example"], f"- route: {route_to('v1')}")])
        with Canaryd(cfg) as proxy:
            step("control: GET /?a=b hits the exact '/' deny route (403)")
            data, _ = exchange(proxy.port, b"GET /?a=b HTTP/1.1\r\nHost: mobile-api\r\n\r\n")
            expect_eq(statuses(data), [403], "GET /?a=b")
            for target in (b"http://mobile-api", b"http://mobile-api?a=b",
                           b"http://mobile-api:80"):
                step(f"GET {target.decode()} is GET / for routing: 403, never forwarded")
                data, how = exchange(proxy.port, b"GET " + target +
                                     b" HTTP/1.1\r\nHost: mobile-api\r\n\r\n")
                if proxy.proc.poll() is not None:
                    fail(f"canaryd died (status {proxy.proc.returncode}) on GET {target!r}")
                if statuses(data) != [403]:
                    fail(f"GET {target!r}: expected 403 from the '/' deny route, got "
                         f"{data[:200]!r} ({how}); upstream saw targets "
                         f"{[h.target for h in up.heads]!r}")
            step("GET http://open.example?q=1 (a VirtualService that forwards): upstream "
                 "receives GET /?q=1")
            up.clear()
            data, how = exchange(proxy.port, b"GET http://open.example?q=1 HTTP/1.1\r\n"
                                 b"Host: mobile-api\r\n\r\n")
            if proxy.proc.poll() is not None:
                fail("canaryd died on GET http://open.example?q=1")
            expect_eq(statuses(data), [200], "GET http://open.example?q=1")
            expect_eq([h.target for h in up.heads], ["/?q=1"], "target the upstream received")


run(main)
