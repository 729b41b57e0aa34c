#!/usr/bin/env python3
"""policy: DestinationRule outlierDetection (Envoy semantics).
1. consecutive5xxErrors 3, baseEjectionTime 1s, maxEjectionPercent 10, two endpoints, one
   answering 500: after its 3rd consecutive 500 it is ejected (at least one endpoint may
   always be ejected, whatever maxEjectionPercent says) and every request goes to the
   healthy one; once healthy again it comes back after about 1 s (between the ejection
   time and ejection time + interval).
2. Ejected a second time: baseEjectionTime x 2 = 2 s out.
3. consecutiveGatewayErrors 2 (consecutive5xxErrors 0): 500s do not eject, 503s do.
4. Connect failures count: a closed-port endpoint is ejected after 3 refused connects
   (the connect-failure counter stops growing) while clients get 200 (retried).
5. minHealthPercent 60: ejecting 1 of 2 would leave 50% healthy, so the pool is in panic
   mode and the failing endpoint keeps getting traffic."""
import time

from canaryd_e2e import Canaryd, Upstream, check, expect_eq, fail, run, step
from policy_helpers import closed_port, metric_value, policy_config, sequential, vs

ROUTES = """
- name: main
  route: [{destination: {host: mobile-api, subset: v1}}]
"""


def od(**kw):
    base = {"consecutive5xxErrors": 3, "interval": "1s", "baseEjectionTime": "1s",
            "maxEjectionPercent": 10}
    base.update(kw)
    return "outlierDetection: {" + ", ".join(f"{k}: {v}" for k, v in base.items()) + "}"


def one(proxy, path="/od"):
    return sequential(proxy.port, [{"path": path}])[0]


def until_ejected(proxy, bad, fails, limit=20):
    """Requests until `bad` answered `fails` of them; returns (time of the last one,
    the answers)."""
    seen = []
    start = bad.count()
    for _ in range(limit):
        r = one(proxy)
        seen.append((r.status, r.upstream))
        if bad.count() - start >= fails:
            return time.monotonic(), seen
    fail(f"the failing endpoint got fewer than {fails} of {limit} requests: {seen}")


def only_good(proxy, bad, secs, what):
    """Requests for `secs` seconds; fails if `bad` gets any."""
    c0 = bad.count()
    end = time.monotonic() + secs
    n = 0
    while time.monotonic() < end:
        r = one(proxy)
        n += 1
        if r.upstream != "good" or r.status != 200:
            fail(f"{what}: expected every request to go to 'good' while 'bad' is ejected, "
                 f"request {n} got {r.status} from {r.upstream!r}")
        time.sleep(0.01)
    expect_eq(bad.count() - c0, 0, f"{what}: requests the ejected endpoint got")
    return n


def wait_back(proxy, bad, t_eject, limit):
    while time.monotonic() - t_eject < limit:
        c0 = bad.count()
        one(proxy)
        one(proxy)
        if bad.count() > c0:
            return time.monotonic() - t_eject
        time.sleep(0.02)
    return None


def main():
    with Upstream("bad", mode="status:500") as bad, Upstream("good") as good:
        cfg = policy_config({"v1": [bad, good]}, vs(ROUTES), traffic_policy=od())
        with Canaryd(cfg, workers=1) as proxy:
            step("1. bad answers 500: ejected after 3 consecutive 500s")
            t_ej, seen = until_ejected(proxy, bad, 3)
            step(f"   answers until the ejection: {seen}")
            n = only_good(proxy, bad, 0.6, "first 0.6 s after the ejection")
            step(f"   {n} requests in the next 0.6 s, all to 'good'")
            bad.set_mode(None)
            back = wait_back(proxy, bad, t_ej, 4.0)
            step(f"   bad healthy again: back in rotation {back and f'{back:.2f}'} s after "
                 f"the ejection")
            check(back is not None, "the ejected endpoint never came back (baseEjectionTime 1s)")
            check(0.9 <= back <= 2.3, f"baseEjectionTime 1s, interval 1s: expected the "
                                      f"endpoint back 1-2 s after its ejection, got {back:.2f} s")

            step("2. second ejection lasts 2 x baseEjectionTime")
            bad.set_mode("status:500")
            t_ej, seen = until_ejected(proxy, bad, 3)
            only_good(proxy, bad, 1.5, "second ejection, first 1.5 s")
            bad.set_mode(None)
            back = wait_back(proxy, bad, t_ej, 5.0)
            step(f"   back after {back and f'{back:.2f}'} s")
            check(back is not None and 1.9 <= back <= 3.3,
                  f"second ejection: expected the endpoint out 2 s (2 x baseEjectionTime), "
                  f"back after {back} s")

    step("3. consecutiveGatewayErrors 2: 500s do not eject, 503s do")
    with Upstream("bad", mode="status:500") as bad, Upstream("good") as good:
        cfg = policy_config({"v1": [bad, good]}, vs(ROUTES),
                            traffic_policy=od(consecutive5xxErrors=0,
                                              consecutiveGatewayErrors=2))
        with Canaryd(cfg, workers=1) as proxy:
            res = sequential(proxy.port, [{"path": "/gw"} for _ in range(12)])
            expect_eq(bad.count(), 6, "500 is not a gateway error: requests 'bad' still got "
                                      "of 12 round-robin")
            bad.set_mode("status:503")
            until_ejected(proxy, bad, 2)
            only_good(proxy, bad, 0.5, "after 2 consecutive 503s")

    step("4. connect failures count as errors: a closed port is ejected after 3")
    dead = closed_port()
    with Upstream("good") as good:
        cfg = policy_config({"v1": [dead, good]}, vs(ROUTES), traffic_policy=od())
        with Canaryd(cfg, workers=1) as proxy:
            res = sequential(proxy.port, [{"path": "/cf"} for _ in range(30)])
            check(all(r.status == 200 for r in res),
                  f"connect failures are retried: expected 30 x 200, got "
                  f"{[r.status for r in res]}")
            cf = metric_value(proxy, "canaryd_upstream_connect_failures_total")
            step(f"   connect failures after 30 requests: {cf:g}")
            expect_eq(cf, 3.0, "connect failures counted before the closed port was ejected "
                               "(consecutive5xxErrors 3), over 30 requests within 1 s")

    step("5. minHealthPercent 60: panic mode, the failing endpoint keeps traffic")
    with Upstream("bad", mode="status:500") as bad, Upstream("good") as good:
        cfg = policy_config({"v1": [bad, good]}, vs(ROUTES),
                            traffic_policy=od(minHealthPercent=60))
        with Canaryd(cfg, workers=1) as proxy:
            res = sequential(proxy.port, [{"path": "/panic"} for _ in range(20)])
            expect_eq(bad.count(), 10, "panic mode: requests the failing endpoint got of 20 "
                                       "round-robin")


run(main)
