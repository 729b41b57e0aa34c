#!/usr/bin/env python3
"""regress: a response with `Content-Length: 0` (an empty 200, a 201/202 without a body,
a 302 with an empty body: very common) completes the exchange. The next request on the
same keep-alive connection, and a pipelined one, are answered, and the request is logged.

Bug found: the response head is relayed, but the stream only ends when body bytes arrive
(relay_resp_body loops while up->in has bytes; resp_done is set up front only for
H1_FRAME_NONE), and none ever do: the stream hangs until the upstream closes, the next
request on the connection is never answered and no access-log line is written."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from canaryd_e2e import Canaryd, Upstream, fail, run, slow_factor, step  # noqa: E402
from regress_helpers import (exchange, read_head,  # noqa: E402
                             single_route_config, statuses)


def handler(upstream, conn, idx):
    buf = b""
    while True:
        head, buf = read_head(conn, buf)
        if head is None:
            return
        upstream.record(head)
        if head.startswith(b"POST "):
            conn.sendall(b"HTTP/1.1 201 Created\r\nLocation: /x/1\r\nContent-Length: 0\r\n\r\n")
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")


def main():
    with Upstream("v1", handler=handler) as up:
        with Canaryd(single_route_config(up)) as proxy:
            step("three requests on one keep-alive connection, each answered 200/201 with "
                 "an empty body")
            with proxy.conn(timeout=2.0 * slow_factor()) as c:
                for i, (method, body) in enumerate((("GET", None), ("POST", b"{}"),
                                                    ("GET", None))):
                    try:
                        r = c.request(method, f"/empty/{i}", body=body)
                    except Exception as e:  # noqa: BLE001 - any failure is the finding
                        fail(f"request {i + 1} ({method}) on the keep-alive connection got no "
                             f"response: {e}")
                    want = 201 if method == "POST" else 200
                    if r.status != want or r.body != b"":
                        fail(f"request {i + 1}: expected {want} with an empty body, got {r!r}")
            step("two pipelined GETs: both answered")
            data, how = exchange(proxy.port,
                                 b"GET /p/1 HTTP/1.1\r\nHost: mobile-api\r\n\r\n"
                                 b"GET /p/2 HTTP/1.1\r\nHost: mobile-api\r\n"
                                 b"Connection: close\r\n\r\n", wait=2.0 * slow_factor())
            if statuses(data) != [200, 200] or how != "eof":
                fail(f"pipelined: expected two 200s then close, got {statuses(data)} ({how})")
            step("every exchange is in the access log")
            deadline = time.monotonic() + 2 * slow_factor()
            while time.monotonic() < deadline and len(proxy.access_log_lines()) < 5:
                time.sleep(0.05)
            n = len(proxy.access_log_lines())
            if n < 5:
                fail(f"expected 5 access-log lines, found {n}")


run(main)
