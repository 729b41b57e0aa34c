#!/usr/bin/env python3
"""policy: Envoy semantics of retryOn `5xx` and `gateway-error`: "an upstream reset
counts as a 5xx" (Envoy's RetryStateImpl: both policies retry a reset and a connect
failure; the x-envoy-retry-on docs: 5xx "includes connect-failure and refused-stream").
So with `retryOn: 5xx` (or gateway-error) and no explicit reset / connect-failure:
  - a GET that an endpoint resets is retried on the other endpoint -> 200;
  - a connect failure (closed port) is retried on the other endpoint -> 200."""
from canaryd_e2e import Canaryd, Upstream, fail, run, step
from policy_helpers import closed_port, load, policy_config, vs


def routes(on):
    return f"""
- name: reset
  match: [{{uri: {{prefix: /reset/}}}}]
  retries: {{attempts: 2, retryOn: {on}}}
  route: [{{destination: {{host: mobile-api, subset: v1}}}}]
- name: refused
  retries: {{attempts: 2, retryOn: {on}}}
  route: [{{destination: {{host: mobile-api, subset: v2}}}}]
"""


def main():
    dead = closed_port()
    failures = []
    with Upstream("bad", mode="reset") as bad, Upstream("good") as good, \
            Upstream("good2") as good2:
        for on in ("5xx", "gateway-error"):
            cfg = policy_config({"v1": [bad, good], "v2": [dead, good2]}, vs(routes(on)))
            with Canaryd(cfg, workers=1) as proxy:
                for what, prefix, name in (("reset", "/reset/", "good"),
                                           ("connect failure", "/refused/", "good2")):
                    res = load(proxy.port, [{"path": f"{prefix}{i}"} for i in range(10)],
                               conns=1)
                    codes = [r.status for r in res]
                    ok = all(r.status == 200 and r.upstream == name for r in res)
                    print(f"  {'ok  ' if ok else 'FAIL'} retryOn {on}, {what}: {codes}",
                          flush=True)
                    if not ok:
                        failures.append(f"retryOn {on}: a {what} must be retried on the "
                                        f"other endpoint (Envoy counts it as a 5xx): expected "
                                        f"10 x 200 from {name!r}, got {codes}")
    if failures:
        fail("\n  ".join(failures))
    step("resets and connect failures retried under 5xx and gateway-error")


run(main)
