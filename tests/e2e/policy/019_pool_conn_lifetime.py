#!/usr/bin/env python3
"""policy: connectionPool connection lifetime.
  http.maxRequestsPerConnection 2: 10 sequential requests reach the upstream over 5
  connections (2 requests each);
  http.idleTimeout 0.3s: an upstream connection idle for 0.8 s is closed by canaryd (the
  upstream sees EOF) and the next request opens a new one; a pause of 0.05 s keeps it;
  without connectionPool, 10 sequential requests share one upstream connection."""
import time

from canaryd_e2e import Canaryd, Upstream, check, expect_eq, run, step
from policy_helpers import policy_config, sequential, vs

ROUTES = """
- name: main
  route: [{destination: {host: mobile-api, subset: v1}}]
"""


def conns_used(up):
    return sorted({r.conn_id for r in up.snapshot()})


def main():
    with Upstream("v1") as up:
        cfg = policy_config({"v1": up}, vs(ROUTES))
        with Canaryd(cfg, workers=1) as proxy:
            res = sequential(proxy.port, [{"path": f"/a/{i}"} for i in range(10)])
            check(all(r.status == 200 for r in res), "no pool settings: expected 200s")
            expect_eq(len(conns_used(up)), 1, "no pool settings: upstream connections used by "
                                               "10 sequential requests")

        up.clear()
        cfg = policy_config({"v1": up}, vs(ROUTES),
                            traffic_policy="connectionPool: {http: {maxRequestsPerConnection: 2}}")
        with Canaryd(cfg, workers=1) as proxy:
            res = sequential(proxy.port, [{"path": f"/b/{i}"} for i in range(10)])
            check(all(r.status == 200 for r in res), "maxRequestsPerConnection 2: expected 200s")
            per = {}
            for r in up.snapshot():
                per[r.conn_id] = per.get(r.conn_id, 0) + 1
            step(f"maxRequestsPerConnection 2: requests per upstream connection {per}")
            expect_eq(sorted(per.values()), [2] * 5, "maxRequestsPerConnection 2: requests per "
                                                     "upstream connection")

        up.clear()
        cfg = policy_config({"v1": up}, vs(ROUTES),
                            traffic_policy="connectionPool: {http: {idleTimeout: 0.3s}}")
        with Canaryd(cfg, workers=1) as proxy:
            sequential(proxy.port, [{"path": "/c/0"}])
            time.sleep(0.05)
            sequential(proxy.port, [{"path": "/c/1"}])
            expect_eq(len(conns_used(up)), 1, "idleTimeout 0.3s, 50 ms pause: connections used")
            time.sleep(0.8)
            still_open = up.open_conns()
            step(f"after 0.8 s idle: {still_open} upstream connections still open")
            expect_eq(still_open, 0, "idleTimeout 0.3s: upstream connections open after 0.8 s idle")
            sequential(proxy.port, [{"path": "/c/2"}])
            expect_eq(len(conns_used(up)), 2, "idleTimeout 0.3s: connections used after the "
                                               "idle period")


run(main)
