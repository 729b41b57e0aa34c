#!/usr/bin/env python3
"""policy: perTryTimeout 0.2s is treated like a 504: with one endpoint taking 1 s and
one fast, `retries {attempts: 2, perTryTimeout: 0.2s, retryOn: gateway-error}` gives
every GET a 200 from the fast endpoint within about 0.2 s + backoff. When every endpoint
is slow (attempts 1), the client gets 504 after two tries of 0.2 s each, not after 1 s."""
from canaryd_e2e import Canaryd, Upstream, check, expect_eq, fail, run, slow_factor, step
from policy_helpers import ms, policy_config, sequential, vs

ROUTES = """
- name: allslow
  match: [{uri: {prefix: /allslow/}}]
  retries: {attempts: 1, perTryTimeout: 0.2s, retryOn: gateway-error}
  route: [{destination: {host: mobile-api, subset: v2}}]
- name: main
  retries: {attempts: 2, perTryTimeout: 0.2s, retryOn: gateway-error}
  route: [{destination: {host: mobile-api, subset: v1}}]
"""


def main():
    with Upstream("slow", mode="slow:1000") as slow, Upstream("fast") as fast, \
            Upstream("slow2", mode="slow:1000") as slow2:
        cfg = policy_config({"v1": [slow, fast], "v2": slow2}, vs(ROUTES))
        with Canaryd(cfg, workers=1) as proxy:
            res = sequential(proxy.port, [{"path": f"/x/{i}"} for i in range(8)])
            times = [r.elapsed for r in res]
            step("v1 (slow + fast): " + ", ".join(f"{r.status} {r.upstream} {ms(r.elapsed)}"
                                                 for r in res))
            wrong = [r for r in res if r.status != 200 or r.upstream != "fast"]
            check(not wrong, f"expected 200 from 'fast' for every request, got {wrong}")
            check(slow.count() > 0, "no request tried the slow endpoint first")
            limit = 0.2 + 0.3 * slow_factor()
            if max(times) > limit:
                fail(f"a request retried after the 0.2 s per-try timeout took "
                     f"{ms(max(times))} (expected < {ms(limit)}; the slow endpoint takes 1 s)")
            step(f"slow endpoint tried first {slow.count()} times; slowest answer "
                 f"{ms(max(times))}")

            r = sequential(proxy.port, [{"path": "/allslow/1"}])[0]
            step(f"v2 (only slow): {r.status} after {ms(r.elapsed)}, {slow2.count()} tries")
            expect_eq(r.status, 504, "every try timed out: status")
            check(0.35 <= r.elapsed <= 0.4 + 0.4 * slow_factor(),
                  f"two tries of 0.2 s each: expected 504 after about 0.4 s, got it after "
                  f"{ms(r.elapsed)}")
            expect_eq(len(slow2.heads), 2, "tries the slow endpoint saw (1 + attempts 1)")
            log = proxy.wait_access_log(9)
            last = [line for line in log if line.get("path") == "/allslow/1"]
            check(last and last[-1].get("flags") == "upstream_timeout",
                  f"access log of the 504: expected flags upstream_timeout, got {last}")


run(main)
