#!/usr/bin/env python3
"""timeouts: --header-timeout 1. A slowloris client sending its head one byte per 200 ms
gets 408 and a closed connection after about 1 s; a client that completes its head in
0.45 s (three pieces) is served."""
import select
import time

from canaryd_e2e import (Canaryd, ConnectionClosed, Upstreams, check, expect_eq,
                        expect_upstream, fail, mesh_config, route_to, run, slow_factor, step,
                        virtual_service)

VS = f"""
- name: default
  route: {route_to("v1")}
"""


def main():
    f = slow_factor()
    with Upstreams("v1") as ups:
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg, extra_args=["--header-timeout", "1"]) as proxy:
            step("a head completed in 0.45 s is served")
            with proxy.conn() as c:
                for piece in (b"GET /ok HTTP/1.1\r\n", b"Host: mobile-api\r\n", b"X-A: b\r\n"):
                    c.send(piece)
                    time.sleep(0.15)
                c.send(b"\r\n")
                expect_upstream(c.read_response(), "v1", "slow but timely head")

            step("slowloris: one byte every 200 ms")
            data = b"GET /slow HTTP/1.1\r\nHost: mobile-api\r\nX-Slow: " + b"a" * 200
            with proxy.conn(timeout=5 * f) as c:
                t0 = time.monotonic()
                sent = 0
                while sent < len(data) and time.monotonic() - t0 < 6 * f:
                    readable, _, _ = select.select([c.sock], [], [], 0)
                    if readable:
                        break
                    try:
                        c.send(data[sent:sent + 1])
                    except (BrokenPipeError, ConnectionResetError):
                        break
                    sent += 1
                    time.sleep(0.2)
                try:
                    r = c.read_response()
                except ConnectionClosed as e:
                    fail(f"connection closed without a 408 after {time.monotonic() - t0:.2f}s "
                         f"({sent} bytes sent): {e}")
                took = time.monotonic() - t0
                step(f"  {r.status} after {took:.2f}s and {sent} bytes")
                expect_eq(r.status, 408, "slowloris status")
                check(0.8 <= took <= 1.0 + 2.0 * f,
                      f"408 after {took:.2f}s; expected about 1 s (--header-timeout 1)")
                closed, extra = c.wait_closed(2 * f)
                check(closed and not extra, "connection not closed after the 408")
            check(ups["v1"].count() == 1 and not [q for q in ups["v1"].heads
                                                  if q.target == "/slow"],
                  "the slowloris request reached the upstream")


run(main)
