#!/usr/bin/env python3
"""policy: the deprecated outlierDetection.consecutiveErrors, applied as Istio applies
it: consecutiveErrors N ejects after N consecutive gateway errors (502, 503, 504 and
connect failures) and switches the consecutive-5xx ejection off. Two endpoints, round
robin, baseEjectionTime 30s, maxEjectionPercent 100.
1. consecutiveErrors 3, `bad` answers 500: 10 consecutive 500s do not eject it (with
   the default consecutive5xxErrors 5 it would be out after 5).
2. `bad` answers 503: ejected after its 3rd consecutive 503; then only `good` answers.
3. canaryd warns that consecutiveErrors is deprecated and says what it applies.
4. consecutiveErrors 3 with consecutive5xxErrors 2 (explicit, Istio keeps it): 500s
   eject after 2."""
import time

from canaryd_e2e import Canaryd, Upstream, check, expect_eq, fail, run, step
from policy_helpers import policy_config, sequential, vs

ROUTES = """
- name: main
  route: [{destination: {host: mobile-api, subset: v1}}]
"""


def od(**kw):
    base = {"interval": "1s", "baseEjectionTime": "30s", "maxEjectionPercent": 100}
    base.update(kw)
    return "outlierDetection: {" + ", ".join(f"{k}: {v}" for k, v in base.items()) + "}"


def one(proxy):
    return sequential(proxy.port, [{"path": "/ce"}])[0]


def until_ejected(proxy, bad, fails, limit=20):
    start = bad.count()
    for _ in range(limit):
        one(proxy)
        if bad.count() - start >= fails:
            return
    fail(f"the failing endpoint got fewer than {fails} of {limit} requests")


def only_good(proxy, bad, n, what):
    c0 = bad.count()
    for i in range(n):
        r = one(proxy)
        if r.upstream != "good" or r.status != 200:
            fail(f"{what}: expected 'good' to answer every request once 'bad' is ejected, "
                 f"request {i} got {r.status} from {r.upstream!r}")
    expect_eq(bad.count() - c0, 0, f"{what}: requests the ejected endpoint got")


def main():
    with Upstream("bad", mode="status:500") as bad, Upstream("good") as good:
        cfg = policy_config({"v1": [bad, good]}, vs(ROUTES),
                            traffic_policy=od(consecutiveErrors=3))
        with Canaryd(cfg, workers=1) as proxy:
            step("1. 500s do not eject under consecutiveErrors")
            res = sequential(proxy.port, [{"path": "/ce"} for _ in range(20)])
            expect_eq(bad.count(), 10, "requests 'bad' got of 20 round-robin while answering "
                                       "500 (10 consecutive 500s, not ejected)")
            check(sum(r.status == 500 for r in res) == 10, "its 500s reach the client")

            step("2. 503s eject after 3")
            bad.set_mode("status:503")
            until_ejected(proxy, bad, 3)
            only_good(proxy, bad, 20, "after 3 consecutive 503s")

            step("3. the deprecation warning names what canaryd applies")
            time.sleep(0.1)
            text = proxy.stdout_text() + proxy.stderr_text()
            check("consecutiveErrors is deprecated" in text and "gateway errors" in text,
                  "expected a warning about consecutiveErrors in canaryd's log")

    step("4. consecutive5xxErrors written next to consecutiveErrors is kept")
    with Upstream("bad", mode="status:500") as bad, Upstream("good") as good:
        cfg = policy_config({"v1": [bad, good]}, vs(ROUTES),
                            traffic_policy=od(consecutiveErrors=3, consecutive5xxErrors=2))
        with Canaryd(cfg, workers=1) as proxy:
            until_ejected(proxy, bad, 2)
            only_good(proxy, bad, 20, "after 2 consecutive 500s")


run(main)
