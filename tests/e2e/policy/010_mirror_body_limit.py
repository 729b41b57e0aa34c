#!/usr/bin/env python3
"""policy: a mirrored copy carries the request body up to 64 KiB. A POST with a 100 KiB
body reaches the primary whole (200), while its copy is dropped (the mirror never
receives a complete 100 KiB request) and counted in
canaryd_errors_total{reason="mirror_dropped"}; a 60 KiB body is still mirrored whole.
(Envoy does the same: a body above the buffer limit cancels the shadow.)"""
import time

from canaryd_e2e import Canaryd, Upstream, check, expect_eq, run, step
from policy_helpers import metric_value, policy_config, sequential, vs

ROUTES = """
- name: m
  route: [{destination: {host: mobile-api, subset: v1}}]
  mirror: {host: mobile-api, subset: shadow}
"""


def at(up, path):
    return [r for r in up.snapshot() if r.target == path]


def main():
    with Upstream("v1") as prim, Upstream("shadow") as sh:
        cfg = policy_config({"v1": prim, "shadow": sh}, vs(ROUTES))
        with Canaryd(cfg, workers=1) as proxy:
            step("60 KiB body: mirrored whole")
            mid = b"M" * (60 * 1024)
            r = sequential(proxy.port, [{"method": "POST", "path": "/m/60k", "body": mid}])[0]
            expect_eq(r.status, 200, "60 KiB POST: status")
            sh.wait_requests(1)
            copies = at(sh, "/m/60k")
            check(copies and copies[0].body == mid,
                  f"60 KiB: the mirror got {[x.body_len for x in copies]} bytes, expected "
                  f"{len(mid)}")

            step("100 KiB body: primary gets it all; the copy is dropped and counted")
            d0 = metric_value(proxy, "canaryd_errors_total", {"reason": "mirror_dropped"})
            big = b"Z" * (100 * 1024)
            r = sequential(proxy.port, [{"method": "POST", "path": "/m/big", "body": big}])[0]
            expect_eq(r.status, 200, "100 KiB POST: status")
            p = at(prim, "/m/big")
            check(p and p[0].body_len == len(big),
                  f"primary: expected the whole 100 KiB body, got {[x.body_len for x in p]}")
            time.sleep(0.3)
            whole = [x for x in at(sh, "/m/big") if x.body_len == len(big)]
            d1 = metric_value(proxy, "canaryd_errors_total", {"reason": "mirror_dropped"})
            step(f"mirror got {len(whole)} complete 100 KiB copies; mirror_dropped "
                 f"{d0:g} -> {d1:g}")
            check(not whole and d1 >= d0 + 1,
                  f"a 100 KiB body (above the 64 KiB mirror limit): expected no complete copy "
                  f"at the mirror and mirror_dropped +1, got {len(whole)} complete copies "
                  f"and mirror_dropped {d0:g} -> {d1:g}")


run(main)
