#!/usr/bin/env python3
"""policy: a dead or slow mirror never affects the primary. One canaryd, three routes to
the same primary: /plain/ (no mirror), /viadead/ (mirror to a closed port), /viaslow/
(mirror to an upstream that takes 2 s on every path). 300 requests per route, interleaved on one keep-alive
connection; the p50 and p99 client latency of each route are printed, and the mirrored
routes' p99 must stay within 50 ms of the plain route's (every answer a 200 from the
primary). The dead mirror's copies are counted as mirror_dropped. (The slow mirror runs
in its own process: its hundreds of sleeping threads must not slow the test's client.)"""
from canaryd_e2e import Canaryd, Upstream, check, fail, run, slow_factor, step
from policy_helpers import (closed_port, metric_value, ms, percentile, policy_config,
                            sequential, vs)

ROUTES = """
- name: plain
  match: [{uri: {prefix: /plain/}}]
  route: [{destination: {host: mobile-api, subset: v1}}]
- name: dead
  match: [{uri: {prefix: /viadead/}}]
  route: [{destination: {host: mobile-api, subset: v1}}]
  mirror: {host: mobile-api, subset: deadm}
  mirrorPercentage: {value: 100}
- name: slow
  match: [{uri: {prefix: /viaslow/}}]
  route: [{destination: {host: mobile-api, subset: v1}}]
  mirror: {host: mobile-api, subset: slowm}
"""

N = 300
BOUND = 0.050


def main():
    dead = closed_port()
    with Upstream("v1") as prim, Upstream("slowm", mode="slow:2000", process=True) as slowm:
        cfg = policy_config({"v1": prim, "deadm": dead, "slowm": slowm}, vs(ROUTES))
        with Canaryd(cfg, workers=1) as proxy:
            sequential(proxy.port, [{"path": f"/plain/warm{i}"} for i in range(20)])
            specs = []
            for i in range(N):
                for k in ("plain", "viadead", "viaslow"):
                    specs.append({"path": f"/{k}/{i}"})
            res = sequential(proxy.port, specs)
            bad = [r for r in res if r.status != 200 or r.upstream != "v1"]
            check(not bad, f"expected every request answered 200 by the primary, got "
                           f"{len(bad)} others, e.g. {bad[:3]}")
            lat = {k: [r.elapsed for r in res if r.spec["path"].startswith(f"/{p}/")]
                   for k, p in (("plain", "plain"), ("dead", "viadead"), ("slow", "viaslow"))}
            fig = {k: (percentile(v, 50), percentile(v, 99), max(v)) for k, v in lat.items()}
            for k, (p50, p99, mx) in fig.items():
                step(f"{k:5s} mirror: p50 {ms(p50)}  p99 {ms(p99)}  max {ms(mx)}  (n={N})")
            dropped = metric_value(proxy, "canaryd_errors_total", {"reason": "mirror_dropped"})
            copies = slowm.stats()["heads"]
            step(f"mirror_dropped: {dropped:g}; slow mirror received {copies} copies")
            failures = []
            for k in ("dead", "slow"):
                diff = fig[k][1] - fig["plain"][1]
                if diff > BOUND * slow_factor():
                    failures.append(f"{k} mirror: primary p99 {ms(fig[k][1])} vs "
                                    f"{ms(fig['plain'][1])} without a mirror (+{ms(diff)}, "
                                    f"bound {ms(BOUND * slow_factor())})")
            if failures:
                fail("a bad mirror slowed the primary down: " + "; ".join(failures))
            check(dropped >= N * 0.9, f"dead mirror: expected about {N} copies counted as "
                                      f"mirror_dropped, got {dropped:g}")
            check(copies > 0, "the slow mirror received no copy")


run(main)
