#!/usr/bin/env python3
"""admin: SIGTERM with --shutdown-delay 1. Readiness turns 503 at once, but for that
second new connections are still accepted and served (Kubernetes removes the endpoint
with a lag); after it, new connections are refused and the process exits 0."""
import errno
import socket
import time

from canaryd_e2e import Upstreams, check, expect_eq, expect_upstream, mesh_config, run, slow_factor, step
from ops_helpers import OpsCanaryd, wait_until, weighted_vs


def refused(port):
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect(("127.0.0.1", port))
        return False
    except OSError as e:
        return e.errno == errno.ECONNREFUSED
    finally:
        s.close()


def main():
    with Upstreams("v1", "v2") as ups:
        cfg = mesh_config(ups, weighted_vs(100, 0))
        with OpsCanaryd(cfg, drain_timeout=5, extra_args=["--shutdown-delay", "1"]) as proxy:
            expect_upstream(proxy.request(path="/before"), "v1", "before SIGTERM")
            step("SIGTERM; readiness must be 503 at once")
            t0 = time.monotonic()
            proxy.sigterm()
            check(wait_until(lambda: proxy.admin_get("/internal/platform/readiness")[0] == 503,
                             0.5, interval=0.01),
                  "readiness not 503 within 0.5s of SIGTERM")
            print(f"  readiness 503 after {(time.monotonic() - t0) * 1000:.0f} ms", flush=True)

            step("during the 1 s shutdown delay new connections are still accepted and served")
            served = []
            for at in (0.15, 0.4, 0.65):
                wait = t0 + at - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if time.monotonic() - t0 > 0.85:
                    break  # too late to be sure we are inside the delay (slow machine)
                r = proxy.request(path=f"/during/{at}", timeout=5)
                expect_upstream(r, "v1", f"new connection {at:.2f}s after SIGTERM")
                served.append(round(time.monotonic() - t0, 2))
            check(served, "no request could be sent inside the shutdown delay")
            print(f"  served new connections at {served} s after SIGTERM", flush=True)

            step("after the delay new connections are refused")
            check(wait_until(lambda: refused(proxy.port), 1.5, interval=0.02),
                  f"new connections still accepted {time.monotonic() - t0:.2f}s after SIGTERM "
                  f"with --shutdown-delay 1")
            t_ref = time.monotonic() - t0
            print(f"  refused from {t_ref:.2f}s after SIGTERM", flush=True)
            check(t_ref >= 0.9, f"refused already {t_ref:.2f}s after SIGTERM (delay is 1 s)")

            rc = proxy.wait_exit(5)
            took = time.monotonic() - t0
            check(rc is not None, f"still running {took:.1f}s after SIGTERM")
            print(f"  exited with {rc} after {took:.2f}s", flush=True)
            expect_eq(rc, 0, "exit status")
            check(took < 1 + 1.5 * slow_factor(), f"exit took {took:.2f}s with nothing in flight")


run(main)
