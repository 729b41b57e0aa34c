#!/usr/bin/env python3
"""policy: maxConnections is a cluster-wide limit, and with several workers it must not
starve a worker. canaryd -w 2, maxConnections 1, http1MaxPendingRequests 10, a fast
upstream: 16 sequential requests, each on a fresh client connection (the kernel spreads
them over both workers). Nothing is in flight between them, so each must get its 200 at
once; a request must not wait in one worker's queue because the other worker keeps its
single allowed connection idle in its pool (Envoy lets a worker whose pool has no
connection open one, precisely to avoid this deadlock)."""
import time

from canaryd_e2e import Canaryd, Upstream, fail, run, slow_factor, step
from policy_helpers import ms, policy_config, vs

ROUTES = """
- name: main
  route: [{destination: {host: mobile-api, subset: v1}}]
"""


def main():
    with Upstream("v1") as up:
        cfg = policy_config({"v1": up}, vs(ROUTES), traffic_policy=(
            "connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 10}}"))
        with Canaryd(cfg, workers=2) as proxy:
            bad = []
            answers = []
            for i in range(16):
                t0 = time.monotonic()
                try:
                    st = proxy.request("GET", f"/w/{i}", timeout=2.0 * slow_factor()).status
                except Exception as e:  # noqa: BLE001 - reported below
                    st = type(e).__name__
                el = time.monotonic() - t0
                answers.append(f"{st} {ms(el)}")
                if st != 200 or el > 1.0 * slow_factor():
                    bad.append(f"request {i}: {st} after {ms(el)}")
                    if len(bad) >= 3:
                        break
            step("answers: " + ", ".join(answers))
            if bad:
                fail("2 workers, maxConnections 1, nothing in flight: expected every "
                     "request answered 200 at once, got " + "; ".join(bad)
                     + " (waiting behind the other worker's idle pooled connection)")


run(main)
