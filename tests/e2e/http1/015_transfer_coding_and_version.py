#!/usr/bin/env python3
"""http1: a request transfer coding canaryd does not know is answered 501 Not Implemented
(RFC 9112 6.1) and a request line with an HTTP major version other than 1 is answered 505
HTTP Version Not Supported (RFC 9110 15.6.6), the HTTP/2 connection preface included
(canaryd serves HTTP/1 only on this port); each closes the connection with a staged close
and nothing reaches the upstream, not even a request pipelined behind it.

Decided per RFC 9112 6.1 / 6.3: chunked must be the final coding. A known coding that is
not followed by chunked (`gzip`, `chunked, gzip`) leaves the body length unknown: 400. A
coding name canaryd does not know (`xchunked`, `identity`, `br`, `foo, chunked`): 501.
`gzip, chunked` is forwarded. HTTP/1.2 (a 1.x minor canaryd does not speak) stays 400."""
import socket
import time

from canaryd_e2e import (Canaryd, Upstream, check, check_rejections, expect_eq,
                         expect_upstream, fail, mesh_config, route_to, run, slow_factor, step,
                         virtual_service)

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: mobile-api\r\n\r\n"


def post(te, body=b"5\r\nhello\r\n0\r\n\r\n"):
    return (b"POST /upload HTTP/1.1\r\nHost: mobile-api\r\nTransfer-Encoding: " + te
            + b"\r\n\r\n" + body + SMUGGLED)


def line(version, target=b"/"):
    return b"GET " + target + b" " + version + b"\r\nHost: mobile-api\r\n\r\n" + SMUGGLED


CODINGS = [
    ("TE xchunked", post(b"xchunked"), 501),
    ("TE identity", post(b"identity"), 501),
    ("TE br", post(b"br"), 501),
    ("TE foo, chunked", post(b"foo, chunked"), 501),
    ("TE gzip, foo, chunked", post(b"gzip, foo, chunked"), 501),
    ("TE gzip (known, not chunked last)", post(b"gzip"), 400),
    ("TE chunked, gzip", post(b"chunked, gzip"), 400),
    ("TE chunked, xchunked", post(b"chunked, xchunked"), 400),
    ("TE xchunked with Content-Length", post(b"xchunked\r\nContent-Length: 5"), 400),
]
VERSIONS = [
    ("HTTP/2.0", line(b"HTTP/2.0"), 505),
    ("HTTP/3.0", line(b"HTTP/3.0"), 505),
    ("HTTP/0.9 with a version", line(b"HTTP/0.9"), 505),
    ("HTTP/2.0 with absolute-form", line(b"HTTP/2.0", b"http://mobile-api/x"), 505),
    ("HTTP/1.2", line(b"HTTP/1.2"), 400),
    ("HTTP/2 (no minor)", line(b"HTTP/2"), 400),
]
# The HTTP/2 client preface, then an empty SETTINGS frame, as h2 prior-knowledge clients send.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def preface(proxy):
    """The preface gets a complete 505 and a clean end of stream, even while the client
    goes on sending frames after it."""
    s = socket.create_connection(("127.0.0.1", proxy.port), timeout=3 * slow_factor())
    try:
        s.sendall(PREFACE)
        time.sleep(0.1)
        for _ in range(5):  # more frames after the answer: dropped, no reset
            s.sendall(b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + b"12345678")  # PING
            time.sleep(0.02)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                fail(f"HTTP/2 preface: connection reset after {data[:80]!r}")
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 505 HTTP Version Not Supported\r\n"),
          f"HTTP/2 preface: expected 505, got {data[:120]!r}")
    check(b"connection: close" in head.lower(), "the 505 does not say connection: close")
    expect_eq(body, b"HTTP major version other than 1\n", "505 body")


def main():
    with Upstream("v1") as up:
        cfg = mesh_config({"v1": up}, virtual_service("mobile-api", ["mobile-api"],
                                                      f"- route: {route_to('v1')}\n"))
        with Canaryd(cfg) as proxy:
            step("gzip, chunked is forwarded (control)")
            with proxy.conn() as c:
                c.send(post(b"gzip, chunked")[:-len(SMUGGLED)])
                r = c.read_response()
                check(r.status == 200 and r.header("x-upstream") == "v1" and b'"len": 5' in r.body,
                      f"gzip, chunked: expected the 5-byte body at v1, got {r.status} {r.body!r}")
            up.clear()
            step("transfer codings: unknown -> 501, chunked not last -> 400; closed")
            check_rejections(proxy, CODINGS)
            step("HTTP versions: another major -> 505; a malformed one or 1.2 -> 400; closed")
            check_rejections(proxy, VERSIONS)
            step("the HTTP/2 connection preface: 505, staged close")
            preface(proxy)
            step("nothing reached the upstream")
            expect_eq([q.target for q in up.heads], [], "request heads at the upstream")
            step("the 501 and 505 are counted and logged")
            lines = proxy.wait_access_log(len(CODINGS) + len(VERSIONS) + 2)
            got = sorted(e["status"] for e in lines if e.get("status") in (501, 505))
            want = sorted([st for _, _, st in CODINGS + VERSIONS if st in (501, 505)] + [505])
            expect_eq(got, want, "501/505 lines in the access log")
            metrics = proxy.metrics()
            for code in (501, 505):
                check(any(ls.get("code") == str(code) for _, ls, _ in metrics.samples),
                      f"no code=\"{code}\" sample in /metrics")
            step("canaryd still serves")
            expect_upstream(proxy.request("GET", "/after"), "v1", "GET after the rejections")


run(main)
