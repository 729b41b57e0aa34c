#!/usr/bin/env python3
"""policy: DestinationRule connectionPool. With maxConnections 1 and
http1MaxPendingRequests 1, 10 concurrent requests to a 0.5 s upstream: the upstream never
serves two at once, one request waits in the queue and gets its 200 later, the others get
503 at once with access-log flag "overflow" (counted in
canaryd_errors_total{reason="overflow"}); no request gets anything else.
A subset-level trafficPolicy overrides the host-level one (both directions).
maxConnections 2 with room in the queue: 6 concurrent requests all get 200, at most 2 at
the upstream at once (about three rounds of 0.5 s). (Several workers: 014.)"""
import time

from canaryd_e2e import Canaryd, Upstream, check, expect_eq, run, step
from policy_helpers import concurrent_requests, flags_of, metric_value, ms, policy_config, vs

ROUTES = """
- name: main
  route: [{destination: {host: mobile-api, subset: v1}}]
"""
TIGHT = "connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}"
ROOMY = "connectionPool: {tcp: {maxConnections: 100}, http: {http1MaxPendingRequests: 100}}"


def burst(proxy, n, path="/pool"):
    return concurrent_requests(proxy.port, [{"path": f"{path}/{i}"} for i in range(n)])


def check_overflow(label, proxy, up, res):
    codes = sorted(r.status for r in res)
    ok200 = [r for r in res if r.status == 200 and r.upstream == "v1"]
    over = [r for r in res if r.status == 503]
    other = [r for r in res if r not in ok200 and r not in over]
    step(f"{label}: statuses {codes}; upstream max concurrency {up.max_active}")
    check(not other, f"{label}: expected only 200 or 503, got {other}")
    check(len(over) >= 1, f"{label}: expected some 503 (overflow) of 10 concurrent requests "
                          f"with maxConnections 1 / http1MaxPendingRequests 1, got {codes}")
    check(len(ok200) >= 2, f"{label}: expected at least 2 x 200 (one served, one queued), "
                           f"got {codes}")
    check(up.max_active <= 1, f"{label}: the upstream served {up.max_active} requests at "
                              f"once (maxConnections 1)")
    slow503 = [r for r in over if r.elapsed > 0.3]
    check(not slow503, f"{label}: an overflow must be answered at once, "
                       f"{[ms(r.elapsed) for r in slow503]}")
    log = proxy.wait_access_log(len(res))
    lines = [line for line in log if line.get("status") == 503]
    noflag = [line for line in lines if "overflow" not in flags_of(line)]
    expect_eq(len(lines), len(over), f"{label}: 503 lines in the access log")
    check(not noflag, f"{label}: 503 access-log lines without flag overflow: {noflag[:2]}")
    m = metric_value(proxy, "canaryd_errors_total", {"reason": "overflow"})
    expect_eq(m, float(len(over)), f"{label}: canaryd_errors_total{{reason=\"overflow\"}}")


def main():
    with Upstream("v1", mode="slow:500") as up:
        step("host-level maxConnections 1, http1MaxPendingRequests 1")
        cfg = policy_config({"v1": up}, vs(ROUTES), traffic_policy=TIGHT)
        with Canaryd(cfg, workers=1) as proxy:
            check_overflow("host-level limits", proxy, up, burst(proxy, 10))

        step("subset v1 tight, host level roomy: the subset's limits apply")
        up.clear()
        cfg = policy_config({"v1": up}, vs(ROUTES), traffic_policy=ROOMY,
                            subset_policies={"v1": TIGHT})
        with Canaryd(cfg, workers=1) as proxy:
            check_overflow("subset-level limits", proxy, up, burst(proxy, 10))

        step("host level tight, subset v1 roomy: no overflow")
        up.clear()
        cfg = policy_config({"v1": up}, vs(ROUTES), traffic_policy=TIGHT,
                            subset_policies={"v1": ROOMY})
        with Canaryd(cfg, workers=1) as proxy:
            res = burst(proxy, 10)
            codes = sorted(r.status for r in res)
            step(f"statuses {codes}; upstream max concurrency {up.max_active}")
            expect_eq(codes, [200] * 10, "subset-level roomy limits override: statuses")
            check(up.max_active >= 5, f"expected the requests served in parallel, the "
                                      f"upstream saw at most {up.max_active} at once")

        step("maxConnections 2, room in the queue: 6 concurrent all served, 2 at a time")
        up.clear()
        cfg = policy_config({"v1": up}, vs(ROUTES), traffic_policy=(
            "connectionPool: {tcp: {maxConnections: 2}, http: {http1MaxPendingRequests: 10}}"))
        with Canaryd(cfg, workers=1) as proxy:
            t0 = time.monotonic()
            res = burst(proxy, 6)
            wall = time.monotonic() - t0
            codes = sorted(r.status for r in res)
            step(f"statuses {codes} in {ms(wall)}; upstream max concurrency {up.max_active}")
            expect_eq(codes, [200] * 6, "queued requests: statuses")
            check(up.max_active <= 2, f"maxConnections 2: the upstream served "
                                      f"{up.max_active} at once")
            check(wall >= 1.4, f"6 requests of 0.5 s, 2 at a time: expected >= 1.5 s, "
                               f"took {ms(wall)}")


run(main)
