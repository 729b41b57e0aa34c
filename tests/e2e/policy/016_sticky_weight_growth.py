#!/usr/bin/env python3
"""policy: sticky canary while the canary grows. `canaryd.io/split-key: cookie:user`,
canary (v2) listed last; its weight goes 5 -> 10 -> 25 -> 50 -> 100 (stable 95 -> ... ->
0), with a SIGHUP reload between steps. Over 2,000 keys: at every step the canary's share
is plausible for its weight, and every key that was on the canary stays on it (only
stable users move over); at 100 everybody is on the canary."""
import hashlib

from canaryd_e2e import Canaryd, Upstream, check, fail, run, step
from policy_helpers import binomial_bounds, load, policy_config, reload_and_wait, vs

ANN = {"canaryd.io/split-key": "cookie:user"}
NKEYS = 2000
STEPS = (5, 10, 25, 50, 100)


def routes(canary):
    return f"""
- name: split
  route:
  - destination: {{host: mobile-api, subset: v1}}
    weight: {100 - canary}
  - destination: {{host: mobile-api, subset: v2}}
    weight: {canary}
"""


def main():
    keys = [f"{hashlib.sha256(b'%d' % i).hexdigest()[:16]}" for i in range(NKEYS)]
    with Upstream("v1") as v1, Upstream("v2") as v2:
        def cfg(w):
            return policy_config({"v1": v1, "v2": v2}, vs(routes(w), annotations=ANN))

        with Canaryd(cfg(STEPS[0]), workers=2) as proxy:
            prev = set()
            for n, w in enumerate(STEPS):
                if n > 0:
                    reload_and_wait(proxy, cfg(w))
                res = load(proxy.port, [{"path": f"/g/{i}", "headers": [("Cookie", f"user={k}")]}
                                        for i, k in enumerate(keys)], conns=4)
                bad = [r for r in res if r.status != 200 or r.upstream not in ("v1", "v2")]
                check(not bad, f"canary {w}%: expected 200 from v1 or v2, got {bad[:3]}")
                on = {k for k, r in zip(keys, res) if r.upstream == "v2"}
                lost = prev - on
                lo, hi = binomial_bounds(NKEYS, w / 100.0)
                step(f"canary weight {w:3d}: {len(on):4d} of {NKEYS} keys on v2 "
                     f"(accepted {max(lo, 0):.0f}..{min(hi, NKEYS):.0f}); "
                     f"{len(lost)} of the previous {len(prev)} canary keys moved back")
                if lost:
                    fail(f"canary weight {w}: {len(lost)} of the {len(prev)} keys that were on "
                         f"the canary at the previous step went back to v1, e.g. "
                         f"{sorted(lost)[:5]}")
                check(lo <= len(on) <= hi, f"canary weight {w}: {len(on)} of {NKEYS} keys on "
                                           f"v2, outside {lo:.0f}..{hi:.0f}")
                prev = on
            check(len(prev) == NKEYS, "at weight 100 every key must be on the canary")


run(main)
