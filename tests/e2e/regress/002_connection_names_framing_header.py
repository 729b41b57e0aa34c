#!/usr/bin/env python3
"""regress: a Connection header that names Content-Length must not strip the framing
canaryd used. Request smuggling otherwise:

  POST /upload HTTP/1.1
  Host: mobile-api
  Content-Length: 49
  Connection: keep-alive, Content-Length

  GET /admin/secret HTTP/1.1
  Host: mobile-api

canaryd frames the request with Content-Length 49 (its body is the GET), but drops
`content-length` from the forwarded head because Connection lists it as hop-by-hop, and
re-adds framing only for chunked bodies. The upstream sees a POST without a body followed
by a second request, GET /admin/secret, that no route of canaryd ever saw (here a
directResponse 403 route guards /admin; it is bypassed, and the smuggled request carries
no X-Forwarded-For / X-Request-Id).

Expected: either 400, or the upstream receives exactly one request (/upload) whose body is
the 49 bytes, framed by a Content-Length. Never a request for /admin/secret.

The same on the response side: an upstream response with `Connection: content-length`
reached the client with no Content-Length and no Transfer-Encoding on a keep-alive
connection, so the client cannot find its end (the next response is glued to the body).
Expected: the client gets a framed response (Content-Length or chunked, or a close)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from canaryd_e2e import Canaryd, Upstream, fail, route_to, run, step  # noqa: E402
from regress_helpers import (exchange, read_head, single_route_config,  # noqa: E402
                             statuses)

ROUTES = f"""
- name: deny-admin
  match: [{{uri: {{prefix: /admin}}}}]
  directResponse: {{status: 403, body: {{string: "forbidden"}}}}
- name: rest
  route: {route_to("v1")}
"""

SMUGGLED = b"GET /admin/secret HTTP/1.1\r\nHost: mobile-api\r\n\r\n"


def resp_handler(upstream, conn, idx):
    buf = b""
    while True:
        head, buf = read_head(conn, buf)
        if head is None:
            return
        upstream.record(head)
        if head.startswith(b"GET /conn-cl "):
            conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: content-length\r\n"
                         b"Content-Length: 5\r\n\r\nhello")
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")


def main():
    with Upstream("v1") as up:
        with Canaryd(single_route_config(up, ROUTES)) as proxy:
            step("control: GET /admin/secret is denied by canaryd (403)")
            data, _ = exchange(proxy.port, SMUGGLED)
            if statuses(data) != [403]:
                fail(f"control: expected 403, got {data[:120]!r}")
            for conn_hdr in (b"keep-alive, Content-Length", b"content-length",
                             b"Content-Length, close"):
                up.clear()
                step(f"POST with Content-Length and `Connection: {conn_hdr.decode()}`")
                req = (b"POST /upload HTTP/1.1\r\nHost: mobile-api\r\nContent-Length: %d\r\n"
                       b"Connection: %s\r\n\r\n" % (len(SMUGGLED), conn_hdr)) + SMUGGLED
                data, how = exchange(proxy.port, req, wait=1.0)
                up.wait_requests(1, timeout=0.5)
                targets = [h.target for h in up.heads]
                if "/admin/secret" in targets:
                    fail(f"request smuggling: the upstream received {targets!r} for one POST "
                         f"(Connection: {conn_hdr!r}); the hidden GET /admin/secret bypassed "
                         f"the 403 route")
                st = statuses(data)
                if st == [400]:
                    continue
                if st != [200] or targets != ["/upload"]:
                    fail(f"expected 400, or one 200 for /upload; got statuses {st} "
                         f"({how}), upstream targets {targets!r}")
                got = up.snapshot()[0]
                if got.body_len != len(SMUGGLED):
                    fail(f"the upstream received a {got.body_len}-byte body, expected "
                         f"{len(SMUGGLED)} (head {got.headers!r})")

    with Upstream("v1", handler=resp_handler) as raw_up:
        with Canaryd(single_route_config(raw_up)) as proxy:
            step("upstream answers with `Connection: content-length`: the client still gets "
                 "a framed response, then the next pipelined one")
            data, how = exchange(proxy.port,
                                 b"GET /conn-cl HTTP/1.1\r\nHost: mobile-api\r\n\r\n"
                                 b"GET /next HTTP/1.1\r\nHost: mobile-api\r\n\r\n", wait=1.0)
            head, _, rest = data.partition(b"\r\n\r\n")
            lower = head.lower()
            framed = (b"content-length: 5" in lower or b"transfer-encoding: chunked" in lower
                      or b"connection: close" in lower)
            if not framed:
                fail(f"response forwarded without framing on a keep-alive connection: "
                     f"{data[:200]!r} ({how})")


run(main)
