#!/usr/bin/env python3
"""regress (guard, passes today): upstreams that misbehave never corrupt what a client sees.

- 5000 `100 Continue` (and 3000 `103 Early Hints`) before the final response: the client
  gets the final 200 and its body; nothing crashes or stalls.
- a response head sent one byte per send: relayed intact.
- more bytes than Content-Length (a whole fake response glued on, or sent 200 ms later
  while the connection sits idle in the pool): the extra bytes never reach any client and
  the next request gets its own answer.
- chunked response with extensions and trailers: relayed to HTTP/1.1, de-chunked (and the
  connection closed) for HTTP/1.0.
- upstream closes right after the first of three pipelined requests: all three answered.
- WebSocket upgrade answered 200 instead of 101: a normal response, no tunnel; bytes sent
  after the head are parsed as HTTP (400), never relayed raw.
- 101 to a request that did not ask to upgrade: 502."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from canaryd_e2e import Canaryd, Upstream, expect_eq, fail, run, step  # noqa: E402
from regress_helpers import (exchange, read_head,  # noqa: E402
                             single_route_config, statuses)

CLOSE = b"Connection: close\r\n"
OK3 = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"


def handler(upstream, conn, idx):
    buf = b""
    while True:
        head, buf = read_head(conn, buf)
        if head is None:
            return
        upstream.record(head)
        path = head.split(b" ")[1]
        if path == b"/flood100":
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n" * 5000 +
                         b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal")
        elif path == b"/flood103":
            conn.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n" * 3000
                         + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal")
        elif path == b"/split":
            resp = (b"HTTP/1.1 200 OK\r\nX-A: " + b"a" * 200 +
                    b"\r\nContent-Length: 5\r\n\r\nsplit")
            for b in resp:
                conn.sendall(bytes([b]))
        elif path == b"/extra":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
                         b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL")
        elif path == b"/extra-late":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            time.sleep(0.2)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL")
        elif path == b"/trailers":
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"5;ext=1\r\nhello\r\n0\r\nX-T: yes\r\n\r\n")
        elif path == b"/close-now":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            return
        elif path == b"/101":
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\n\r\n")
            return
        else:
            conn.sendall(OK3)


def get(path, extra=b"", version=b"1.1"):
    return b"GET " + path + b" HTTP/" + version + b"\r\nHost: mobile-api\r\n" + extra + b"\r\n"


def main():
    with Upstream("v1", handler=handler) as up:
        with Canaryd(single_route_config(up)) as proxy:
            failures = []

            def expect(what, got, want):
                print(f"  {'ok  ' if got == want else 'FAIL'} {what}", flush=True)
                if got != want:
                    failures.append(f"{what}: expected {want!r}, got {got!r}")

            step("1xx floods, split head")
            for path in (b"/flood100", b"/flood103"):
                data, _ = exchange(proxy.port, get(path, CLOSE), wait=3.0)
                expect(f"{path.decode()}: final response", data[-9:], b"\r\n\r\nfinal")
            data, _ = exchange(proxy.port, get(b"/split", CLOSE), wait=3.0)
            expect("head split into 1-byte sends", (statuses(data), data[-5:]), ([200], b"split"))
            step("bytes past Content-Length")
            data, _ = exchange(proxy.port, get(b"/extra") + get(b"/next", CLOSE), wait=1.0)
            expect("glued fake response not relayed", (statuses(data), b"EVIL" in data),
                   ([200, 200], False))
            with proxy.conn(timeout=3) as c:
                r1 = c.request("GET", "/extra-late")
                time.sleep(0.4)
                r2 = c.request("GET", "/after-late")
                expect("late bytes on an idle pooled connection",
                       (r1.body, r2.body), (b"hello", b"ok\n"))
            step("chunked with trailers")
            data, _ = exchange(proxy.port, get(b"/trailers", CLOSE), wait=1.0)
            expect("HTTP/1.1: chunked relayed", data.endswith(b"0\r\nX-T: yes\r\n\r\n"), True)
            data, how = exchange(proxy.port, get(b"/trailers", version=b"1.0"), wait=1.0)
            expect("HTTP/1.0: de-chunked, closed", (data.endswith(b"\r\n\r\nhello"), how),
                   (True, "eof"))
            step("upstream closes while the client pipelines")
            data, _ = exchange(proxy.port, get(b"/close-now") + get(b"/a") + get(b"/b", CLOSE),
                               wait=1.5)
            expect("three pipelined answered", statuses(data), [200, 200, 200])
            step("upgrade answered 200; 101 without upgrade")
            ws = get(b"/ws", b"Connection: Upgrade\r\nUpgrade: websocket\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 13\r\n") + b"\x81\x85abcdGET /x HTTP/1.1\r\n\r\n"
            data, how = exchange(proxy.port, ws, wait=1.0)
            expect("200 then the frame bytes parsed as HTTP", (statuses(data), how),
                   ([200, 400], "eof"))
            before = len(up.heads)
            data, _ = exchange(proxy.port, get(b"/101", CLOSE), wait=1.0)
            expect("unsolicited 101 -> 502", statuses(data), [502])
            expect_eq(len(up.heads), before + 1, "upstream heads for the 101 case")
            if failures:
                fail(f"{len(failures)} hostile-upstream cases wrong:\n  " + "\n  ".join(failures))


run(main)
