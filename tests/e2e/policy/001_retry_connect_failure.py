#!/usr/bin/env python3
"""policy: a connect failure (one endpoint of the subset is a closed port) is retried on
the other endpoint, both by default (no `retries`: 2 retries on connect failure) and with
`retries {attempts: 2, retryOn: connect-failure}`; every client request gets 200 from
the live endpoint, also a POST (nothing reached the upstream, so it is safe to resend).
With retryOn limited to retriable-4xx (409), a connect failure is not retried: the
requests that pick the dead endpoint get 502."""
from canaryd_e2e import Canaryd, Upstream, check, expect_eq, fail, run, step
from policy_helpers import closed_port, load, policy_config, vs

N = 40


def routes(retries):
    r = f"\n  retries: {retries}" if retries else ""
    return f"""
- name: main{r}
  route: [{{destination: {{host: mobile-api, subset: v1}}}}]
"""


def main():
    dead = closed_port()
    with Upstream("live") as live:
        for label, retries in (("default (no retries block)", None),
                               ("retries attempts 2, connect-failure",
                                "{attempts: 2, retryOn: connect-failure}")):
            live.clear()
            cfg = policy_config({"v1": [dead, live]}, vs(routes(retries)))
            with Canaryd(cfg, workers=1) as proxy:
                specs = [{"path": f"/cf/{i}"} for i in range(N)]
                specs += [{"method": "POST", "path": f"/cf-post/{i}", "body": b"p%d" % i}
                          for i in range(10)]
                res = load(proxy.port, specs, conns=2)
                bad = [r for r in res if r.status != 200 or r.upstream != "live"]
                step(f"{label}: {len(specs) - len(bad)}/{len(specs)} answered 200 by 'live'")
                check(not bad, f"{label}: expected every request retried onto the live "
                               f"endpoint (200 from 'live'), got {bad[:5]}")
                expect_eq(live.count(), len(specs), f"{label}: requests the live endpoint saw")
                log = proxy.wait_access_log(len(specs))
                st = sorted({line.get("status") for line in log})
                expect_eq(st, [200], f"{label}: statuses in the access log")

        step("retryOn retriable-4xx only: a connect failure is not retried (502)")
        cfg = policy_config({"v1": [dead, live]},
                            vs(routes("{attempts: 2, retryOn: retriable-4xx}")))
        with Canaryd(cfg, workers=1) as proxy:
            res = load(proxy.port, [{"path": f"/n/{i}"} for i in range(20)], conns=1)
            codes = [r.status for r in res]
            step(f"statuses: {codes}")
            if 502 not in codes:
                fail(f"with retryOn: retriable-4xx a refused connection must not be retried: expected "
                     f"some 502 over 20 round-robin requests, got {codes}")
            check(set(codes) <= {200, 502}, f"unexpected statuses {codes}")


run(main)
