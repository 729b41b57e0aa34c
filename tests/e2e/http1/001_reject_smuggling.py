#!/usr/bin/env python3
"""http1: request framing that is ambiguous for request smuggling gets 400 and a closed
connection and never reaches the upstream: Content-Length with Transfer-Encoding, differing
or malformed Content-Length, a Transfer-Encoding whose final coding is not chunked, and bad
chunk sizes / chunk framing (a transfer coding canaryd does not know is 501 instead). Each carries a smuggled second request that must never be
seen or answered."""
from canaryd_e2e import (Canaryd, Upstreams, check_rejections, expect_eq, expect_upstream,
                        fail, mesh_config, route_to, run, step, virtual_service)

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: mobile-api\r\n\r\n"


def req(headers, body):
    return (b"POST /target HTTP/1.1\r\nHost: mobile-api\r\n" + headers.encode() + b"\r\n"
            + body + SMUGGLED)


HEAD_CASES = [
    ("CL + TE", req("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n")),
    ("TE + CL", req("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n")),
    ("CL + TE with CL 0", req("Content-Length: 0\r\nTransfer-Encoding: chunked\r\n",
                              b"0\r\n\r\n")),
    ("two differing Content-Length lines", req("Content-Length: 5\r\nContent-Length: 6\r\n",
                                              b"hello!")),
    ("differing Content-Length list", req("Content-Length: 5, 6\r\n", b"hello!")),
    ("Content-Length not a number", req("Content-Length: abc\r\n", b"hello")),
    ("negative Content-Length", req("Content-Length: -5\r\n", b"hello")),
    ("Content-Length with a sign", req("Content-Length: +5\r\n", b"hello")),
    ("hex Content-Length", req("Content-Length: 0x5\r\n", b"hello")),
    ("empty Content-Length", req("Content-Length: \r\n", b"")),
    ("overflowing Content-Length", req("Content-Length: 99999999999999999999999\r\n", b"x")),
    ("Transfer-Encoding: gzip", req("Transfer-Encoding: gzip\r\n", b"0\r\n\r\n")),
    ("Transfer-Encoding: chunked, gzip", req("Transfer-Encoding: chunked, gzip\r\n",
                                             b"0\r\n\r\n")),
]

# RFC 9112 6.1: a transfer coding the server does not know is 501 Not Implemented; it is
# closed and never forwarded all the same.
UNKNOWN_CODING_CASES = [
    ("Transfer-Encoding: identity", req("Transfer-Encoding: identity\r\n", b"0\r\n\r\n")),
    ("Transfer-Encoding: foo, chunked", req("Transfer-Encoding: foo, chunked\r\n",
                                            b"0\r\n\r\n")),
]

BODY_CASES = [
    ("chunk size not hex", req("Transfer-Encoding: chunked\r\n", b"zz\r\nhello\r\n0\r\n\r\n")),
    ("negative chunk size", req("Transfer-Encoding: chunked\r\n", b"-5\r\nhello\r\n0\r\n\r\n")),
    ("chunk size with 0x", req("Transfer-Encoding: chunked\r\n", b"0x5\r\nhello\r\n0\r\n\r\n")),
    ("overflowing chunk size", req("Transfer-Encoding: chunked\r\n",
                                   b"1ffffffffffffffff\r\nhello\r\n0\r\n\r\n")),
    ("empty chunk size", req("Transfer-Encoding: chunked\r\n", b"\r\nhello\r\n0\r\n\r\n")),
    ("chunk data longer than its size", req("Transfer-Encoding: chunked\r\n",
                                            b"3\r\nhello\r\n0\r\n\r\n")),
]

VS = f"""
- name: default
  route: {route_to("v1")}
"""


def main():
    with Upstreams("v1") as ups:
        up = ups["v1"]
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy:
            step("a valid POST passes (control)")
            expect_upstream(proxy.request("POST", "/ok", body=b"hello"), "v1", "valid POST")
            up.clear()
            step("ambiguous framing in the head: 400, closed, upstream never sees a head")
            check_rejections(proxy, [(w, raw, 400) for w, raw in HEAD_CASES]
                             + [(w, raw, 501) for w, raw in UNKNOWN_CODING_CASES])
            expect_eq([q.target for q in up.heads], [], "request heads that reached the upstream")
            step("bad chunked framing in the body: 400, closed, no complete request upstream")
            check_rejections(proxy, [(w, raw, 400) for w, raw in BODY_CASES])
            done = [q.target for q in up.snapshot()]
            expect_eq(done, [], "complete requests that reached the upstream")
            smuggled = [q.target for q in up.heads if q.target == "/smuggled"]
            if smuggled:
                fail(f"the smuggled request reached the upstream {len(smuggled)} times")
            step("canaryd still serves")
            expect_upstream(proxy.request("GET", "/after"), "v1", "GET after the bad inputs")


run(main)
