#!/usr/bin/env python3
"""regress: a client that sends its complete request(s) and then half-closes
(shutdown(SHUT_WR), as `printf ... | nc -N`, many scripts and some load balancers' health
checkers do) still gets the response(s), then the connection is closed.

Bug found: once a stream runs, a read of EOF on the client socket is taken as "the client
went away" (stream.c, stream_on_down_read: n <= 0 -> stream_abort + sess_close): the
request already sent upstream is dropped and the client only sees EOF. The same for
pipelined requests, for HTTP/1.0, and for a request whose body was complete."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from canaryd_e2e import Canaryd, Upstream, fail, run, slow_factor, step  # noqa: E402
from regress_helpers import exchange, single_route_config, statuses  # noqa: E402

H = b"Host: mobile-api\r\n"
CASES = [
    ("GET, then SHUT_WR", b"GET /slow/200 HTTP/1.1\r\n" + H + b"\r\n", [200]),
    ("HTTP/1.0 GET, then SHUT_WR", b"GET /slow/200 HTTP/1.0\r\n" + H + b"\r\n", [200]),
    ("POST with a complete body, then SHUT_WR",
     b"POST /upload HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n\r\nhello", [200]),
    ("two pipelined GETs, then SHUT_WR",
     b"GET /slow/100 HTTP/1.1\r\n" + H + b"\r\nGET /b HTTP/1.1\r\n" + H + b"\r\n", [200, 200]),
]


def main():
    with Upstream("v1") as up:
        with Canaryd(single_route_config(up)) as proxy:
            failures = []
            for what, raw, want in CASES:
                step(what)
                data, how = exchange(proxy.port, raw, wait=2.0 * slow_factor(), shut_wr=True)
                got = statuses(data)
                if got != want:
                    failures.append(f"{what}: expected {want}, got {got} then {how} "
                                    f"({data[:80]!r})")
            if failures:
                fail("responses lost after a half-close:\n  " + "\n  ".join(failures))


run(main)
