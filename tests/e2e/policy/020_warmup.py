#!/usr/bin/env python3
"""policy: DestinationRule loadBalancer slow start (warmup).
Subset v1 starts with endpoints a and b, ROUND_ROBIN with warmup {duration: 4s}:
1. Endpoints present at start-up are not warmed: a and b share exactly 50/50.
2. A reload adds endpoint c to v1. During the first second after the SIGHUP, c's
   weight is at most max(10%, 1 s / 4 s) = 25% of a full one, so its share is at most
   0.25 / 2.25 = 11% (equal share: 33%); it still gets some traffic (at least the
   10% minimum weight: 4.8%). After the window (4.5 s on) it gets its full third.
3. Another reload that keeps c does not warm it again: its full share at once.
4. The older warmupDurationSecs under LEAST_REQUEST: a reload adds d, which again
   gets clearly less than its equal share during its first second.
Shares are counted over hundreds of requests and compared with generous bounds."""
import time

from canaryd_e2e import Canaryd, Upstream, check, run, step
from policy_helpers import policy_config, reload_and_wait, sequential, vs

ROUTES = """
- name: main
  route: [{destination: {host: mobile-api, subset: v1}}]
"""
WINDOW_S = 4.0


def tp(lb):
    return f"loadBalancer: {lb}"


def burst(proxy, until=None, n=None):
    """Requests one after the other until time `until` (monotonic) or n of them;
    returns the upstream names."""
    got = []
    while (until is not None and time.monotonic() < until) or (n is not None and len(got) < n):
        r = sequential(proxy.port, [{"path": "/w"} for _ in range(20)])
        for x in r:
            check(x.status == 200, f"expected 200, got {x}")
            got.append(x.upstream)
    return got


def share(names, who):
    return names.count(who) / max(1, len(names))


def main():
    with Upstream("a") as a, Upstream("b") as b, Upstream("c") as c, \
            Upstream("d") as d:
        def cfg(ups, lb="{simple: ROUND_ROBIN, warmup: {duration: 4s}}", route=ROUTES):
            return policy_config({"v1": ups}, vs(route), traffic_policy=tp(lb))

        with Canaryd(cfg([a, b]), workers=1) as proxy:
            step("1. endpoints present at start-up are not warmed")
            names = burst(proxy, n=400)
            check(names.count("a") == names.count("b") == len(names) // 2,
                  f"start-up endpoints: expected an exact 50/50 round robin, got "
                  f"a={names.count('a')} b={names.count('b')}")
            step(f"   a={names.count('a')} b={names.count('b')}")

            step("2. a reload adds c: less than its equal share in its first second")
            t0 = time.monotonic()  # c's window starts after this (when canaryd reloads)
            reload_and_wait(proxy, cfg([a, b, c]))
            first = burst(proxy, until=t0 + 1.0)
            sc = share(first, "c")
            step(f"   first second: {len(first)} requests, c got {first.count('c')} "
                 f"({100 * sc:.1f}%; equal share 33.3%, ramp bound 11.1%)")
            check(len(first) >= 50, f"too few requests in the first second ({len(first)}) "
                                    f"to measure a share")
            check(sc < 0.20, f"c is warming up (at most 25% of a full weight in its first "
                             f"second): expected its share below 20%, got {100 * sc:.1f}%")
            check(first.count("c") > 0, "c must get some traffic while warming (minimum "
                                        "weight 10%)")
            time.sleep(max(0.0, t0 + WINDOW_S + 0.5 - time.monotonic()))
            after = burst(proxy, n=600)
            sa = share(after, "c")
            step(f"   after the window: c got {after.count('c')} of {len(after)} "
                 f"({100 * sa:.1f}%)")
            check(0.30 <= sa <= 0.37, f"after its 4 s window c must take its full third, "
                                      f"got {100 * sa:.1f}%")

            step("3. a reload that keeps c does not warm it again")
            renamed = ROUTES.replace("name: main", "name: main2")
            reload_and_wait(proxy, cfg([a, b, c], route=renamed))
            again = burst(proxy, n=300)
            step(f"   c got {again.count('c')} of {len(again)}")
            check(0.30 <= share(again, "c") <= 0.37,
                  f"c was kept by the reload: expected its full third at once, got "
                  f"{100 * share(again, 'c'):.1f}%")

            step("4. warmupDurationSecs with LEAST_REQUEST: a reload adds d")
            lr = "{simple: LEAST_REQUEST, warmupDurationSecs: 4s}"
            t1 = time.monotonic()
            reload_and_wait(proxy, cfg([a, b, c, d], lb=lr))
            first = burst(proxy, until=t1 + 1.0)
            sd = share(first, "d")
            step(f"   first second: d got {first.count('d')} of {len(first)} "
                 f"({100 * sd:.1f}%; equal share 25%, ramp bound 7.7%)")
            check(len(first) >= 50, f"too few requests in the first second ({len(first)})")
            check(sd < 0.15, f"d is warming up: expected its share below 15%, got "
                             f"{100 * sd:.1f}%")
            time.sleep(max(0.0, t1 + WINDOW_S + 0.5 - time.monotonic()))
            after = burst(proxy, n=800)
            step(f"   after the window: d got {after.count('d')} of {len(after)}")
            check(0.17 <= share(after, "d") <= 0.33,
                  f"after its window d must take about a quarter (random draws between idle "
                  f"endpoints), got {100 * share(after, 'd'):.1f}%")


run(main)
