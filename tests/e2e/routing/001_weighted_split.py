#!/usr/bin/env python3
"""routing: weighted subset split. 95/5 measured over 4,000 requests and 3/1 over 400,
both within 4.5 binomial standard deviations of the expected count (a false alarm about
once in 150,000 runs); a lone destination takes everything; a 0 weight is never picked."""
import math

from canaryd_e2e import (Canaryd, Upstreams, check, expect_eq, fail, mesh_config, run, step,
                        virtual_service)

VS = """
- name: split31
  match: [{uri: {prefix: /split31}}]
  route:
  - {destination: {host: mobile-api, subset: v1}, weight: 3}
  - {destination: {host: mobile-api, subset: v2}, weight: 1}
- name: lone
  match: [{uri: {prefix: /lone}}]
  route: [{destination: {host: mobile-api, subset: v2}, weight: 5}]
- name: zero
  match: [{uri: {prefix: /zero}}]
  route:
  - {destination: {host: mobile-api, subset: v1}, weight: 100}
  - {destination: {host: mobile-api, subset: v2}, weight: 0}
- name: canary
  route:
  - {destination: {host: mobile-api, subset: v1}, weight: 95}
  - {destination: {host: mobile-api, subset: v2}, weight: 5}
"""


def count(proxy, path, n):
    got = {}
    with proxy.conn() as c:
        for _ in range(n):
            r = c.request("GET", path)
            if r.status != 200:
                fail(f"GET {path}: expected 200, got {r.status} {r.body[:100]!r}")
            who = r.header("x-upstream")
            got[who] = got.get(who, 0) + 1
    return got


def within(what, got, n, p):
    mean = n * p
    sd = math.sqrt(n * p * (1 - p))
    lo, hi = mean - 4.5 * sd, mean + 4.5 * sd
    step(f"{what}: v2 got {got} of {n} (expected {mean:.0f}, sd {sd:.1f}, "
         f"accepted [{lo:.0f}, {hi:.0f}])")
    check(lo <= got <= hi, f"{what}: v2 received {got} of {n} requests; expected "
          f"{mean:.0f} +- 4.5 sd = [{lo:.0f}, {hi:.0f}]")


def main():
    with Upstreams("v1", "v2") as ups:
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg, workers=2) as proxy:
            n = 4000
            got = count(proxy, "/", n)
            check(set(got) <= {"v1", "v2"}, f"unexpected upstreams {got}")
            within("95/5 split", got.get("v2", 0), n, 0.05)
            expect_eq(ups["v1"].count() + ups["v2"].count(), n,
                      "requests received by the upstreams")

            got = count(proxy, "/split31", 400)
            within("3/1 split", got.get("v2", 0), 400, 0.25)

            step("a lone destination (weight 5) takes all 50 requests")
            expect_eq(count(proxy, "/lone", 50), {"v2": 50}, "lone destination")
            step("weight 0 is never picked in 200 requests")
            expect_eq(count(proxy, "/zero", 200), {"v1": 200}, "100/0 split")


run(main)
