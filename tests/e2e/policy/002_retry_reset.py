#!/usr/bin/env python3
"""policy: with `retries {retryOn: reset}` an upstream that reads the request and closes
without answering is retried on the other endpoint for idempotent requests (GET, and a
PUT whose body is kept for the replay: the retry carries the same body), but a POST is
never replayed: the upstream records show it once and the client gets 502. A PUT body
larger than 64 KiB is not kept, so that PUT is not replayed either."""
import hashlib

from canaryd_e2e import Canaryd, Upstream, check, expect_eq, fail, run, step
from policy_helpers import load, policy_config, vs

ROUTES = """
- name: main
  retries: {attempts: 2, retryOn: "reset,connect-failure,5xx,gateway-error"}
  route: [{destination: {host: mobile-api, subset: v1}}]
"""


def seen(ups, path):
    return [(u.name, r) for u in ups for r in u.snapshot() if r.target == path]


def main():
    with Upstream("bad", mode="reset") as bad, Upstream("good") as good:
        cfg = policy_config({"v1": [bad, good]}, vs(ROUTES))
        with Canaryd(cfg, workers=1) as proxy:
            step("20 GETs, round robin over a resetting and a good endpoint")
            res = load(proxy.port, [{"path": f"/get/{i}"} for i in range(20)], conns=1)
            wrong = [r for r in res if r.status != 200 or r.upstream != "good"]
            check(not wrong, f"GET: expected every request retried to 200 from 'good', "
                             f"got {wrong[:5]}")
            check(bad.count() > 0, "the resetting endpoint never got a request (the test "
                                   "did not exercise a retry)")
            step(f"GET: all 200 from 'good'; 'bad' reset {bad.count()} of them first")

            step("10 PUTs with a 1 KiB body: the retry carries the same body")
            bodies = [hashlib.sha256(b"%d" % i).hexdigest().encode() * 16 for i in range(10)]
            res = load(proxy.port, [{"method": "PUT", "path": f"/put/{i}", "body": bodies[i]}
                                    for i in range(10)], conns=1)
            wrong = [r for r in res if r.status != 200 or r.upstream != "good"]
            check(not wrong, f"PUT: expected 200 from 'good' for every request, got {wrong[:5]}")
            for i in range(10):
                for name, req in seen((bad, good), f"/put/{i}"):
                    if req.body != bodies[i]:
                        fail(f"PUT /put/{i}: {name} received a body of {req.body_len} bytes "
                             f"different from the {len(bodies[i])} bytes sent")
            replayed = sum(1 for i in range(10) if len(seen((bad, good), f"/put/{i}")) == 2)
            check(replayed > 0, "no PUT went to the resetting endpoint first")
            step(f"PUT: {replayed} replayed with an identical body")

            step("10 POSTs: never replayed; those that hit 'bad' get 502")
            res = load(proxy.port, [{"method": "POST", "path": f"/post/{i}", "body": b"x" * 100}
                                    for i in range(10)], conns=1)
            got502 = 0
            for i, r in enumerate(res):
                s = seen((bad, good), f"/post/{i}")
                names = [n for n, _ in s]
                if len(s) != 1:
                    fail(f"POST /post/{i}: expected the upstreams to see it exactly once, "
                         f"they saw it {len(s)} times ({names}); client got {r.status}")
                if names == ["bad"]:
                    got502 += 1
                    if r.status != 502:
                        fail(f"POST /post/{i} reset by the upstream: expected 502, got "
                             f"{r.status} {r.error or ''}")
                elif r.status != 200:
                    fail(f"POST /post/{i} answered by 'good': expected 200, got {r.status}")
            check(got502 > 0, "no POST went to the resetting endpoint")
            step(f"POST: {got502} got 502 after one try each, the rest 200")

            step("PUT with a 100 KiB body (above the 64 KiB replay buffer): not replayed")
            big = b"B" * (100 * 1024)
            res = load(proxy.port, [{"method": "PUT", "path": f"/bigput/{i}", "body": big}
                                    for i in range(4)], conns=1)
            for i, r in enumerate(res):
                s = seen((bad, good), f"/bigput/{i}")
                names = [n for n, _ in s]
                expect_eq(len(s), 1, f"PUT /bigput/{i} (100 KiB): times the upstreams saw it "
                                      f"({names})")
                want = 502 if names == ["bad"] else 200
                expect_eq(r.status, want, f"PUT /bigput/{i} (100 KiB) seen by {names}: status")


run(main)
