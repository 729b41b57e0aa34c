#!/usr/bin/env python3
"""timeouts: a route `timeout: 0.5s` answers 504 after about 0.5 s when the upstream takes
2 s; a faster answer passes; the timed-out upstream connection is never reused (the late
answer must not be delivered to a later request)."""
import time

from canaryd_e2e import (Canaryd, Upstreams, check, expect_eq, expect_status, mesh_config, run,
                        slow_factor, step, virtual_service)

VS = """
- name: slow
  match: [{uri: {prefix: /slow/}}]
  timeout: 0.5s
  route: [{destination: {host: mobile-api, subset: v1}}]
- name: default
  route: [{destination: {host: mobile-api, subset: v1}}]
"""


def main():
    f = slow_factor()
    with Upstreams("v1") as ups:
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy:
            step("/slow/100 under the 0.5 s timeout -> 200")
            r = proxy.request("GET", "/slow/100")
            expect_eq((r.status, r.header("x-target")), (200, "/slow/100"), "fast enough")

            step("/slow/2000 with a 0.5 s route timeout -> 504 after ~0.5 s")
            c = proxy.conn(timeout=5 * f)
            t0 = time.monotonic()
            r = c.request("GET", "/slow/2000")
            took = time.monotonic() - t0
            step(f"  {r.status} after {took:.2f}s")
            expect_status(r, 504, "route timeout")
            check(0.4 <= took <= 0.5 + 2.0 * f, f"504 came after {took:.2f}s, expected ~0.5s")

            step("next requests get their own answers, before and after the late one")
            if r.has_token("connection", "close"):
                c.close()
                c = proxy.conn()
            for path, pause in (("/after-1", 0), ("/after-2", 2.0)):
                time.sleep(pause)
                r = c.request("GET", path)
                expect_eq((r.status, r.header("x-target")), (200, path),
                          f"GET {path} (status, answered request)")
            c.close()


run(main)
