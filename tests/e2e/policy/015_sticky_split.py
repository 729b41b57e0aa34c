#!/usr/bin/env python3
"""policy: sticky canary. VirtualService annotation `canaryd.io/split-key: cookie:user`
with weights v1 90 / v2 10: the weighted subset pick is a stable hash of the cookie.
  - 5,000 distinct keys on replica A split 90/10 within +-1.5 points;
  - 1,000 of them again on replica A (other connections, 2 workers), on replica B (a
    second process with the same config), after a restart of A and after a SIGHUP reload
    of A (config re-written with an extra, unrelated VirtualService): every key gets the
    subset it got first, also when the cookie sits among others (`a=1; user=K; b=2`);
  - requests without the cookie (or with only other cookies) still split at random:
    1,000 of them on one connection reach both subsets, about 10% v2."""
import hashlib

from canaryd_e2e import Canaryd, Upstream, check, fail, run, step, virtual_service
from policy_helpers import binomial_bounds, load, policy_config, reload_and_wait, vs

ANN = {"canaryd.io/split-key": "cookie:user"}
ROUTES = """
- name: split
  route:
  - destination: {host: mobile-api, subset: v1}
    weight: 90
  - destination: {host: mobile-api, subset: v2}
    weight: 10
"""
OTHER_VS = virtual_service("unrelated", ["unrelated.example"], """
- name: other
  directResponse: {status: 204}
""")

NKEYS = 5000
NREPEAT = 1000


def key(i):
    return f"{hashlib.sha1(b'%d' % i).hexdigest()[:12]}-{i}"


def cookie_spec(k, i, variant=0):
    if variant % 2:
        c = f"a=1; user={k}; b=2"
    else:
        c = f"user={k}"
    return {"path": f"/s/{i}", "headers": [("Cookie", c)]}


def subsets_of(proxy, keys, what, variant=0, conns=4):
    res = load(proxy.port, [cookie_spec(k, i, variant + i) for i, k in enumerate(keys)],
               conns=conns)
    bad = [r for r in res if r.status != 200 or r.upstream not in ("v1", "v2")]
    if bad:
        fail(f"{what}: expected 200 from v1 or v2, got {len(bad)} others, e.g. {bad[:3]}")
    return {k: r.upstream for k, r in zip(keys, res)}


def compare(first, again, what):
    moved = [k for k, s in again.items() if first[k] != s]
    step(f"{what}: {len(again) - len(moved)}/{len(again)} keys kept their subset")
    if moved:
        fail(f"{what}: {len(moved)} of {len(again)} keys changed subset, e.g. "
             + ", ".join(f"user={k}: {first[k]} -> {again[k]}" for k in moved[:5]))


def main():
    keys = [key(i) for i in range(NKEYS)]
    sample = keys[::NKEYS // NREPEAT]
    with Upstream("v1") as v1, Upstream("v2") as v2:
        cfg = policy_config({"v1": v1, "v2": v2}, vs(ROUTES, annotations=ANN))
        with Canaryd(cfg, workers=2) as b:
            with Canaryd(cfg, workers=2) as a:
                first = subsets_of(a, keys, "replica A, 5000 keys")
                canary = sum(1 for s in first.values() if s == "v2")
                share = 100.0 * canary / NKEYS
                step(f"5000 distinct keys: {canary} on v2 = {share:.2f}% (expected 10 +- 1.5)")
                check(abs(share - 10.0) <= 1.5,
                      f"90/10 split over {NKEYS} keys: expected 8.5-11.5% on v2, got {share:.2f}%")

                compare(first, subsets_of(a, sample, "A again", variant=1, conns=3),
                        "replica A, same keys again (other connections, cookie among others)")
                compare(first, subsets_of(b, sample, "replica B"), "replica B (other process)")

                step("no cookie / other cookies only: random split")
                specs = [{"path": f"/n/{i}"} if i % 2 else
                         {"path": f"/n/{i}", "headers": [("Cookie", f"session={i}; x=y")]}
                         for i in range(1000)]
                res = load(a.port, specs, conns=1)
                check(all(r.status == 200 for r in res), "no-cookie requests: expected 200")
                n2 = sum(1 for r in res if r.upstream == "v2")
                lo, hi = binomial_bounds(1000, 0.1)
                step(f"without the cookie: {n2} of 1000 on v2 (accepted {lo:.0f}..{hi:.0f})")
                check(lo <= n2 <= hi, f"requests without the split-key cookie must split at "
                                      f"random 90/10: {n2} of 1000 went to v2 "
                                      f"(expected {lo:.0f}..{hi:.0f})")

            step("replica A restarted")
            with Canaryd(cfg, workers=2) as a2:
                compare(first, subsets_of(a2, sample, "A restarted"), "after a restart")
                cfg2 = policy_config({"v1": v1, "v2": v2}, vs(ROUTES, annotations=ANN),
                                     extra_docs=[OTHER_VS])
                reload_and_wait(a2, cfg2)
                compare(first, subsets_of(a2, sample, "A reloaded", variant=1),
                        "after a SIGHUP reload")


run(main)
