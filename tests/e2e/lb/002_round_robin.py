#!/usr/bin/env python3
"""lb: ROUND_ROBIN (the default, and when named in the DestinationRule) over the two
endpoints of one subset alternates strictly on sequential requests (one worker)."""
from canaryd_e2e import (Canaryd, Upstream, check, fail, mesh_config, route_to, run, step,
                        virtual_service)

VS = f"""
- name: default
  route: {route_to("v1")}
"""


def alternates(proxy, n):
    seq = []
    with proxy.conn() as c:
        for i in range(n):
            r = c.request("GET", f"/rr/{i}")
            if r.status != 200:
                fail(f"request {i}: status {r.status}")
            seq.append(r.header("x-upstream"))
    return seq


def main():
    with Upstream("a") as a, Upstream("b") as b:
        for policy in (None, "loadBalancer: {simple: ROUND_ROBIN}"):
            cfg = mesh_config({"v1": [a, b]}, virtual_service("mobile-api", ["mobile-api"], VS),
                              traffic_policy=policy)
            with Canaryd(cfg, workers=1) as proxy:
                seq = alternates(proxy, 20)
                step(f"policy {policy or 'default'}: {' '.join(seq)}")
                check(set(seq) == {"a", "b"}, f"both endpoints must be used: {seq}")
                bad = [i for i in range(1, len(seq)) if seq[i] == seq[i - 1]]
                check(not bad, f"round robin did not alternate at requests {bad}: {seq}")


run(main)
