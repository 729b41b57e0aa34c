#!/usr/bin/env python3
"""policy: request mirroring (Istio mirror / mirrorPercentage / mirrors[]). The mirror
upstream receives a copy of each request with Host "<host>-shadow" (inserted before a
port), the same method, path and query and the same body, and `connection: close`; the
primary gets the original Host; the client always gets the primary's answer (the
mirror's is discarded). mirrorPercentage 0 mirrors nothing, 50 about half; mirrors[]
copies to every destination. (Bodies above 64 KiB: 010_mirror_body_limit.py.)"""
import time

from canaryd_e2e import Canaryd, Upstream, check, expect_eq, fail, run, step
from policy_helpers import binomial_bounds, load, policy_config, sequential, vs

ROUTES = """
- name: m
  match: [{uri: {prefix: /m/}}]
  route: [{destination: {host: mobile-api, subset: v1}}]
  mirror: {host: mobile-api, subset: shadow}
  mirrorPercentage: {value: 100}
- name: m0
  match: [{uri: {prefix: /m0/}}]
  route: [{destination: {host: mobile-api, subset: v1}}]
  mirror: {host: mobile-api, subset: shadow}
  mirrorPercentage: {value: 0}
- name: m50
  match: [{uri: {prefix: /m50/}}]
  route: [{destination: {host: mobile-api, subset: v1}}]
  mirror: {host: mobile-api, subset: shadow}
  mirrorPercentage: {value: 50}
- name: multi
  match: [{uri: {prefix: /multi/}}]
  route: [{destination: {host: mobile-api, subset: v1}}]
  mirrors:
  - destination: {host: mobile-api, subset: shadow}
  - destination: {host: mobile-api, subset: shadow2}
    percentage: {value: 100}
"""


def at(up, path):
    return [r for r in up.snapshot() if r.target == path]


def wait_for(up, path, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = at(up, path)
        if got:
            return got
        time.sleep(0.02)
    return []


def main():
    with Upstream("v1") as prim, Upstream("shadow", mode="status:500") as sh, \
            Upstream("shadow2") as sh2:
        cfg = policy_config({"v1": prim, "shadow": sh, "shadow2": sh2}, vs(ROUTES))
        with Canaryd(cfg, workers=1) as proxy:
            step("POST /m/1?q=1 with a small body")
            body = b"hello mirror \x00\xff body"
            r = sequential(proxy.port, [{"method": "POST", "path": "/m/1?q=1", "body": body,
                                         "headers": [("X-Trace", "t1")]}])[0]
            check(r.status == 200 and r.upstream == "v1" and r.body == b"v1\n",
                  f"client: expected the primary's 200 (the mirror answers 500, discarded), "
                  f"got {r.status} {r.upstream} {r.body!r}")
            copies = wait_for(sh, "/m/1?q=1")
            expect_eq(len(copies), 1, "copies the mirror received")
            c = copies[0]
            expect_eq(c.method, "POST", "mirror copy: method")
            expect_eq(c.header("host"), "mobile-api-shadow", "mirror copy: Host")
            expect_eq(c.body, body, "mirror copy: body")
            expect_eq(c.header("x-trace"), "t1", "mirror copy: X-Trace header")
            check("close" in (c.header("connection") or "").lower(),
                  f"mirror copy: expected connection: close, got {c.header('connection')!r}")
            p = at(prim, "/m/1?q=1")
            expect_eq(len(p), 1, "primary: requests")
            expect_eq(p[0].header("host"), "mobile-api", "primary: Host")
            expect_eq(p[0].body, body, "primary: body")
            step("copy: POST /m/1?q=1, Host mobile-api-shadow, same body, connection: close")

            step("Host with a port: mobile-api:8080 -> mobile-api-shadow:8080")
            sequential(proxy.port, [{"path": "/m/2", "host": "mobile-api:8080"}])
            copies = wait_for(sh, "/m/2")
            check(copies and copies[0].header("host") == "mobile-api-shadow:8080",
                  f"mirror copy Host: expected 'mobile-api-shadow:8080', got "
                  f"{[x.header('host') for x in copies]}")

            step("a 32 KiB body is mirrored whole")
            mid = bytes(range(256)) * 128
            sequential(proxy.port, [{"method": "PUT", "path": "/m/32k", "body": mid}])
            copies = wait_for(sh, "/m/32k")
            check(copies and copies[0].body == mid,
                  f"32 KiB body: mirror got {[x.body_len for x in copies]} bytes, expected "
                  f"{len(mid)} identical bytes")

            step("mirrorPercentage 0: 100 requests, no copy")
            sh.clear()
            load(proxy.port, [{"path": f"/m0/{i}"} for i in range(100)], conns=2)
            time.sleep(0.3)
            expect_eq(len(sh.heads), 0, "copies with mirrorPercentage 0")

            step("mirrorPercentage 50: 600 requests")
            sh.clear()
            n = 600
            res = load(proxy.port, [{"path": f"/m50/{i}"} for i in range(n)], conns=2)
            check(all(r.status == 200 for r in res), "m50: every client request must get 200")
            time.sleep(0.5)
            got = len({h.target for h in sh.heads})
            lo, hi = binomial_bounds(n, 0.5)
            step(f"copies: {got} of {n} (accepted {lo:.0f}..{hi:.0f})")
            if not lo <= got <= hi:
                fail(f"mirrorPercentage 50: {got} copies of {n} requests, outside "
                     f"{lo:.0f}..{hi:.0f}")

            step("mirrors[]: each request copied to both shadow destinations")
            sh.clear()
            sh2.clear()
            load(proxy.port, [{"path": f"/multi/{i}"} for i in range(20)], conns=1)
            sh.wait_requests(20)
            sh2.wait_requests(20)
            expect_eq(sorted(r.target for r in sh.snapshot()),
                      sorted(f"/multi/{i}" for i in range(20)), "copies at shadow")
            expect_eq(sorted(r.target for r in sh2.snapshot()),
                      sorted(f"/multi/{i}" for i in range(20)), "copies at shadow2")


run(main)
