#!/usr/bin/env python3
"""policy: total tries = 1 + attempts, across several refusing endpoints. Subset v1 has
three closed ports and one live endpoint (round robin):
  - no `retries` block (default: 2 retries on connect failure = 3 tries): a request whose
    first three picks are the closed ports gets 502 (flag upstream_connect_failure),
    the others 200;
  - `retries {attempts: 3, retryOn: connect-failure}` (4 tries): every request reaches
    the live endpoint (200), since each retry picks an endpoint not tried yet.
Every 502 must be a connect failure (nothing was ever sent upstream)."""
from canaryd_e2e import Canaryd, Upstream, check, fail, run, step
from policy_helpers import closed_port, load, policy_config, vs


def routes(retries):
    r = f"\n  retries: {retries}" if retries else ""
    return f"""
- name: main{r}
  route: [{{destination: {{host: mobile-api, subset: v1}}}}]
"""


def main():
    dead = [closed_port() for _ in range(3)]
    failures = []
    with Upstream("live") as live:
        for label, retries, want_502 in (
                ("default (3 tries)", None, True),
                ("attempts 3 (4 tries)", "{attempts: 3, retryOn: connect-failure}", False)):
            cfg = policy_config({"v1": dead + [live]}, vs(routes(retries)))
            with Canaryd(cfg, workers=1) as proxy:
                res = load(proxy.port, [{"path": f"/d3/{i}"} for i in range(12)], conns=1)
                codes = [r.status for r in res]
                log = proxy.wait_access_log(12)
                flags = sorted({line.get("flags") for line in log if line.get("status") == 502})
                step(f"{label}: {codes}; flags of the 502s: {flags}")
                check(set(codes) <= {200, 502}, f"{label}: unexpected statuses {codes}")
                wrong_flag = [f for f in flags if f != "upstream_connect_failure"]
                if wrong_flag:
                    failures.append(f"{label}: a 502 after refused connections only must be "
                                    f"logged as upstream_connect_failure, got flags {flags}")
                if want_502 and 502 not in codes:
                    failures.append(f"{label}: a request meeting the 3 closed ports first "
                                    f"must get 502, got {codes}")
                if not want_502 and 502 in codes:
                    failures.append(f"{label}: every request must reach the live endpoint "
                                    f"(200), got {codes}")
    if failures:
        fail("\n  ".join(failures))


run(main)
