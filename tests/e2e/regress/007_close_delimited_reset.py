#!/usr/bin/env python3
"""regress: a close-delimited upstream response (no Content-Length, no chunked) ends cleanly
only on a FIN. When the upstream connection is reset (RST, e.g. the upstream process
crashed mid-body), the body is truncated (RFC 9112 8: a response ended by a reset is
incomplete), so the client must see a broken response: no terminating 0-chunk, the
connection aborted, as canaryd already does for a chunked or Content-Length body cut short.

Bug found: on_up_read treats every n <= 0 (EOF and read errors such as ECONNRESET alike)
as the end of a close-delimited body (`if (st->resp_head_done && st->resp_framing ==
H1_FRAME_CLOSE) { st->resp_done = true; ...}`), so an HTTP/1.1 client gets the body
re-framed as chunked with a proper last chunk, i.e. a truncated body that looks complete."""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from canaryd_e2e import Canaryd, Upstream, fail, run, step  # noqa: E402
from regress_helpers import exchange, read_head, single_route_config  # noqa: E402

BODY = b"x" * 1000


def handler(upstream, conn, idx):
    head, _ = read_head(conn)
    if head is None:
        return
    upstream.record(head)
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Raw: closedelim\r\n\r\n" + BODY)
    time.sleep(0.1)
    if head.startswith(b"GET /rst "):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def main():
    with Upstream("v1", handler=handler) as up:
        with Canaryd(single_route_config(up)) as proxy:
            step("control: close-delimited body ended by FIN -> complete chunked response")
            data, how = exchange(proxy.port, b"GET /fin HTTP/1.1\r\nHost: mobile-api\r\n\r\n",
                                 wait=1.5)
            if not data.endswith(b"\r\n0\r\n\r\n"):
                fail(f"control: expected a complete chunked response, got ...{data[-40:]!r}"
                     f" ({how})")
            step("close-delimited body ended by RST -> the client must not see a complete "
                 "response")
            data, how = exchange(proxy.port, b"GET /rst HTTP/1.1\r\nHost: mobile-api\r\n"
                                 b"\r\n", wait=1.5)
            if data.endswith(b"\r\n0\r\n\r\n"):
                fail("an upstream reset in a close-delimited body was relayed as a complete "
                     f"chunked response (last chunk sent, connection {how}); the client "
                     "cannot tell the body was truncated")


run(main)
