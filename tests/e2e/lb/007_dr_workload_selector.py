#!/usr/bin/env python3
"""lb: DestinationRule workloadSelector, decided against canaryd's own labels.

Two rules for mobile-api: "plain" (ROUND_ROBIN) and "for-edge" with
`workloadSelector: {matchLabels: {app: edge}}` (consistentHash on x-user), both with
subset v1 over two endpoints. Started with `--labels app=edge`, canaryd is the workload the
selector names: "for-edge" applies and wins over "plain", as Istio gives a selecting rule
precedence, so each user sticks to one endpoint. Started without those labels, "for-edge"
is left out and "plain" alternates between the endpoints. `-t` warns about the rule it
leaves out in each case.
"""
from canaryd_e2e import (Canaryd, Upstream, check, closing, destination_rule, expect_eq,
                         route_to, run, service_entry, step, virtual_service)

HOST = "mobile-api"


def config(ups):
    eps = [("127.0.0.1", u.port, {"version": "v1"}) for u in ups]
    selected = destination_rule("for-edge", HOST, [("v1", {"version": "v1"})],
                                "loadBalancer: {consistentHash: {httpHeaderName: x-user}}")
    selected = selected.replace(f"  host: {HOST}\n",
                                f"  host: {HOST}\n  workloadSelector:\n"
                                f"    matchLabels: {{app: edge}}\n")
    return {
        "se.yaml": service_entry(HOST, [HOST], eps),
        "dr-plain.yaml": destination_rule("plain", HOST, [("v1", {"version": "v1"})],
                                          "loadBalancer: {simple: ROUND_ROBIN}"),
        "dr-edge.yaml": selected,
        "vs.yaml": virtual_service(HOST, [HOST], f"- route: {route_to('v1')}"),
    }


def endpoints_of(proxy, user, n):
    got = []
    for _ in range(n):
        with proxy.conn() as c:
            r = c.request("GET", "/", headers=[("x-user", user)])
            expect_eq(r.status, 200, f"status for {user}")
            got.append(r.header("x-upstream"))
    return got


def main():
    ups = [Upstream("e1"), Upstream("e2")]
    with closing(*ups):
        cfg = config(ups)
        with Canaryd(cfg, workers=1, extra_args=["--labels", "app=edge,tier=public"]) as proxy:
            step("--labels app=edge: the selecting rule (consistentHash) applies")
            for user in ("alice", "bob", "carol", "dave"):
                got = endpoints_of(proxy, user, 6)
                check(len(set(got)) == 1, f"{user} moved between endpoints: {got}")
            check("DestinationRule default/plain is not used for host" in (proxy.stdout_text() + proxy.stderr_text()),
                  "canaryd must warn that the rule without selector yields")
        with Canaryd(cfg, workers=1) as proxy:
            step("no labels: the selecting rule is left out, ROUND_ROBIN alternates")
            got = endpoints_of(proxy, "alice", 6)
            expect_eq(sorted(set(got)), ["e1", "e2"], "endpoints one user reaches")
            check("default/for-edge is not used: its workloadSelector does not select canaryd"
                  in (proxy.stdout_text() + proxy.stderr_text()), "canaryd must warn that the selecting rule is left out")


run(main)
