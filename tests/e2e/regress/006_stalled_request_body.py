#!/usr/bin/env python3
"""regress: a client that sends a request head and then stops sending its body (slow-body,
"R.U.D.Y." attack) must not hold a stream and an upstream connection forever. With
--idle-timeout 1 (the no-progress limit canaryd already applies to a client that stops
reading its response), the connection is ended (408, or closed) within a few seconds, and
the upstream connection is let go.

Bug found: while a stream runs and s->out is empty, sess_update_events() deletes the
session timer (session.c, the `if (s->st != NULL ...)` branch: armed only when
s->out.len > 0), and nothing else bounds the wait for body bytes (no route timeout by
default, as in Istio). A Content-Length or chunked body that stops arriving pins the client
connection, the stream and an upstream connection indefinitely: a handful of clients can
exhaust an upstream's connections (and maxConnections queues everyone else behind them)."""
import os
import select
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from canaryd_e2e import Canaryd, Upstream, fail, run, slow_factor, step  # noqa: E402
from regress_helpers import single_route_config  # noqa: E402

CASES = [
    ("Content-Length 100, 2 bytes sent",
     b"POST /upload HTTP/1.1\r\nHost: mobile-api\r\nContent-Length: 100\r\n\r\nab"),
    ("chunked, stopped inside the first chunk",
     b"POST /upload HTTP/1.1\r\nHost: mobile-api\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"),
]


def main():
    limit = 3.0 + 1.0 * slow_factor()
    with Upstream("v1") as up:
        with Canaryd(single_route_config(up), extra_args=["--idle-timeout", "1"]) as proxy:
            step("each case on its own connection, then silence (idle timeout 1 s)")
            socks = []
            try:
                for what, raw in CASES:
                    s = socket.create_connection(("127.0.0.1", proxy.port))
                    s.sendall(raw)
                    socks.append((what, s))
                start = time.monotonic()
                ended = {}
                while len(ended) < len(socks) and time.monotonic() - start < limit:
                    live = [s for w, s in socks if w not in ended]
                    ready, _, _ = select.select(live, [], [], 0.1)
                    for w, s in socks:
                        if s in ready:
                            try:
                                data = s.recv(65536)
                            except ConnectionResetError:
                                data = b"<reset>"
                            ended[w] = (time.monotonic() - start, data[:60])
            finally:
                for _, s in socks:
                    s.close()
            failures = []
            for what, _ in CASES:
                if what in ended:
                    print(f"  {what}: ended after {ended[what][0]:.1f}s: {ended[what][1]!r}")
                else:
                    failures.append(f"{what}: still open after {limit:.0f}s of no progress "
                                    f"(--idle-timeout 1)")
            if failures:
                fail("stalled request bodies are never timed out:\n  " + "\n  ".join(failures))


run(main)
