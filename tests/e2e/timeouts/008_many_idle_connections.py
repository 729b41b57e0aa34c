#!/usr/bin/env python3
"""timeouts/limits: 1,000 idle client connections (950 that never sent a byte, 50 idle after
one request) do not stop service: a new request is answered promptly, readiness stays 200,
and the idle keep-alive connections still work afterwards."""
import socket
import time

from canaryd_e2e import (Canaryd, Upstreams, check, expect_eq, expect_upstream, mesh_config,
                        raise_nofile, route_to, run, slow_factor, step, virtual_service)

VS = f"""
- name: default
  route: {route_to("v1")}
"""
N = 1000


def main():
    f = slow_factor()
    soft = raise_nofile(N + 500)
    check(soft >= N + 100, f"cannot raise RLIMIT_NOFILE to {N + 500} (got {soft})")
    with Upstreams("v1") as ups:
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy:
            socks = []
            kept = []
            try:
                step(f"open {N} client connections")
                t0 = time.monotonic()
                for i in range(N - 50):
                    socks.append(socket.create_connection(("127.0.0.1", proxy.port),
                                                          timeout=5 * f))
                for i in range(50):
                    c = proxy.conn()
                    kept.append(c)
                    expect_upstream(c.request("GET", f"/k/{i}"), "v1", f"keep-alive request {i}")
                step(f"  opened in {time.monotonic() - t0:.2f}s; canaryd has {proxy.nfds()} fds")
                check(proxy.nfds() >= N, f"canaryd holds {proxy.nfds()} fds for {N} clients")

                step("a new request is answered promptly")
                t0 = time.monotonic()
                expect_upstream(proxy.request("GET", "/fresh", timeout=5 * f), "v1",
                                "request with 1,000 idle connections open")
                took = time.monotonic() - t0
                check(took < 2.0 * f, f"the request took {took:.2f}s")
                status, _ = proxy.admin_get("/internal/platform/readiness")
                expect_eq(status, 200, "readiness")

                step("the idle keep-alive connections still work")
                for i, c in enumerate(kept):
                    expect_upstream(c.request("GET", f"/again/{i}"), "v1", f"again {i}")
            finally:
                for s in socks:
                    s.close()
                for c in kept:
                    c.close()


run(main)
