#!/usr/bin/env python3
"""regress (guard, passes today): write back-pressure and client aborts.

- 10 clients ask for 8 MB each and never read: canaryd's memory stays bounded (it stops
  reading the upstream), and with --idle-timeout 1 each is closed after no progress;
  descriptors come back.
- 5 clients read 100 KB of a 5 MB response and close: the half-read upstream connection
  is never reused (the next request gets its own, complete answer).
- a client that closes in the middle of a 1 MB upload: the upstream never sees a complete
  request and canaryd lets go of both connections.
- a WebSocket tunnel whose client sends 8 MB without reading the echo: memory bounded."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from canaryd_e2e import (Canaryd, Upstream, chunked_response_body, expect_eq, fail,  # noqa: E402
                         mesh_config, route_to, run, slow_factor, step, virtual_service)


def main():
    with Upstream("v1") as up:
        cfg = mesh_config({"v1": up}, virtual_service("mobile-api", ["mobile-api"],
                                                      f"- route: {route_to('v1')}"),
                          traffic_policy="connectionPool: {http: {idleTimeout: 1s}}")
        # A small ASan quarantine, so that RSS shows what canaryd keeps, not freed blocks.
        asan = (os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=4").lstrip(":")
        with Canaryd(cfg, extra_args=["--idle-timeout", "1"],
                     env={"ASAN_OPTIONS": asan}) as proxy:
            proxy.request()
            base, rss0 = proxy.nfds(), proxy.rss_kib()
            step("10 clients that never read 8 MB responses")
            socks = []
            for _ in range(10):
                s = socket.create_connection(("127.0.0.1", proxy.port))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.sendall(b"GET /big/8000000 HTTP/1.1\r\nHost: mobile-api\r\n\r\n")
                socks.append(s)
            time.sleep(1.0)
            grown = proxy.rss_kib() - rss0
            print(f"  RSS grew by {grown} KiB", flush=True)
            if grown > 24 * 1024:
                fail(f"RSS grew by {grown} KiB for 10 stalled 8 MB responses (unbounded?)")
            deadline = time.monotonic() + 8 * slow_factor()
            while time.monotonic() < deadline and proxy.nfds() > base + 1:
                time.sleep(0.2)
            for s in socks:
                s.close()
            if proxy.nfds() > base + 1:
                fail(f"stalled readers not closed after --idle-timeout: {proxy.nfds()} "
                     f"descriptors, {base} before")
            step("clients that close mid-response do not poison the pool")
            for i in range(5):
                s = socket.create_connection(("127.0.0.1", proxy.port))
                s.sendall(b"GET /big/5000000 HTTP/1.1\r\nHost: mobile-api\r\n\r\n")
                got = 0
                while got < 100000:
                    got += len(s.recv(65536))
                s.close()
                r = proxy.request(path="/chunked/3")
                expect_eq((r.status, r.body), (200, chunked_response_body(3)),
                          f"request after abort {i + 1}")
            step("client closes in the middle of an upload")
            up.clear()
            s = socket.create_connection(("127.0.0.1", proxy.port))
            s.sendall(b"POST /upload HTTP/1.1\r\nHost: mobile-api\r\nContent-Length: 1000000"
                      b"\r\n\r\n" + b"x" * 50000)
            time.sleep(0.2)
            s.close()
            time.sleep(0.5)
            expect_eq(up.count(), 0, "complete requests the upstream saw")
            step("WebSocket client sending 8 MB without reading")
            s = socket.create_connection(("127.0.0.1", proxy.port))
            s.sendall(b"GET /ws HTTP/1.1\r\nHost: mobile-api\r\nConnection: Upgrade\r\n"
                      b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            s.settimeout(3)
            head = s.recv(4096)
            if not head.startswith(b"HTTP/1.1 101"):
                fail(f"no 101: {head[:80]!r}")
            s.setblocking(False)
            sent, start, chunk = 0, time.monotonic(), b"z" * 65536
            while time.monotonic() - start < 2 and sent < 8 << 20:
                try:
                    sent += s.send(chunk)
                except BlockingIOError:
                    time.sleep(0.01)
            grown = proxy.rss_kib() - rss0
            s.close()
            print(f"  sent {sent} bytes, RSS grew by {grown} KiB", flush=True)
            if grown > 24 * 1024:
                fail(f"RSS grew by {grown} KiB while a tunnel client did not read")
            expect_eq(proxy.request().status, 200, "GET afterwards")


run(main)
