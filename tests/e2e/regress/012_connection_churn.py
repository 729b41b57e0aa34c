#!/usr/bin/env python3
"""regress (guard, passes today): 10,000 client connections in 5 waves of 2,000 open at
once, each wave dropped together (half with a TCP RST): a third sent half a head, a third
a complete request to a slow path, a third nothing. Afterwards canaryd's descriptors come
back to where they were once pooled upstream connections idle out (idleTimeout 1s): no
leaked socket, upstream connection or timer, the active
connection gauge is 0, it still answers, and a slowloris client (one byte every 100 ms)
gets 408 after --header-timeout."""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from canaryd_e2e import (Canaryd, Upstream, expect_upstream, fail, mesh_config,  # noqa: E402
                         raise_nofile, route_to, run, slow_factor, step, virtual_service)

WAVES, PER_WAVE = 5, 2000


def main():
    if raise_nofile(PER_WAVE + 500) < PER_WAVE + 200:
        fail("setup: cannot raise RLIMIT_NOFILE for the client side")
    with Upstream("v1") as up:
        args = ["--idle-timeout", "1", "--header-timeout", "1"]
        # Pooled idle upstream connections are closed after 1 s, so that every descriptor
        # still open afterwards is a leak.
        cfg = mesh_config({"v1": up}, virtual_service("mobile-api", ["mobile-api"],
                                                      f"- route: {route_to('v1')}"),
                          traffic_policy="connectionPool: {http: {idleTimeout: 1s}}")
        with Canaryd(cfg, workers=2, extra_args=args) as proxy:
            expect_upstream(proxy.request(), "v1", "warm-up")
            base = proxy.nfds()
            step(f"{WAVES} waves of {PER_WAVE} connections, opened then dropped")
            for wave in range(WAVES):
                socks = []
                for i in range(PER_WAVE):
                    s = socket.socket()
                    s.connect(("127.0.0.1", proxy.port))
                    socks.append(s)
                    if i % 3 == 0:
                        s.send(b"GET / HTTP/1.1\r\nHost: mob")
                    elif i % 3 == 1:
                        s.send(b"GET /slow/50 HTTP/1.1\r\nHost: mobile-api\r\n\r\n")
                for i, s in enumerate(socks):
                    if i % 2:
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    s.close()
            step("descriptors and the connection gauge return to the baseline")
            deadline = time.monotonic() + 6 * slow_factor()
            while time.monotonic() < deadline and proxy.nfds() > base + 2:
                print(f"  descriptors: {proxy.nfds()} (baseline {base})", flush=True)
                time.sleep(1.0)
            if proxy.nfds() > base + 2:
                fail(f"descriptors: {base} before, {proxy.nfds()} after the churn")
            active = proxy.metrics().get("canaryd_downstream_connections_active")
            if active != 0:
                fail(f"active connection gauge after the churn: {active!r}")
            expect_upstream(proxy.request(), "v1", "GET after the churn")
            step("slowloris: a head trickling in one byte per 100 ms gets 408")
            s = socket.create_connection(("127.0.0.1", proxy.port))
            s.settimeout(5)
            start = time.monotonic()
            try:
                for ch in b"GET / HTTP/1.1\r\nHost: mobile-api\r\nX-A: " + b"b" * 60:
                    s.send(bytes([ch]))
                    time.sleep(0.1)
            except OSError:
                pass
            try:
                data = s.recv(200)
            except OSError as e:
                data = repr(e).encode()
            s.close()
            if not data.startswith(b"HTTP/1.1 408"):
                fail(f"slowloris: expected 408, got {data[:80]!r} after "
                     f"{time.monotonic() - start:.1f}s")


run(main)
