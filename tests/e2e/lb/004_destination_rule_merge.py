#!/usr/bin/env python3
"""lb: two DestinationRules for one host, in two files, are merged as Istio merges them.
Each file defines one subset (v1, v2) with two endpoints; a VirtualService splits 50/50
between them and both subsets answer. Rules are merged in Istio's order (creation time,
then name): the first rule's top-level trafficPolicy (consistentHash on x-user) applies
to both subsets, so one user always reaches the same endpoint of each; the second rule's
trafficPolicy (ROUND_ROBIN, which would alternate) is ignored, and `canaryd -t` warns
about it with its file and line. A rule with workloadSelector (which Istio never merges,
and applies only to the proxies whose labels match) is left out by `canaryd -t` with a
warning when canaryd's --labels do not match it, and replaces the other rules when they
do (routing by it: lb/007_dr_workload_selector.py)."""
import os
import subprocess

from canaryd_e2e import (Canaryd, Upstream, canaryd_bin, check, closing, destination_rule,
                        fail, run, service_entry, step, virtual_service)

HOST = "mobile-api"

VS = """
- name: split
  route:
  - {destination: {host: mobile-api, subset: v1}, weight: 50}
  - {destination: {host: mobile-api, subset: v2}, weight: 50}
"""


def config(ups):
    eps = [("127.0.0.1", u.port, {"version": v}) for v, u in ups]
    return {
        "service-entry.yaml": service_entry(HOST, [HOST], eps),
        # "mobile-api-a" sorts first: its trafficPolicy is the one used.
        "dr-v1.yaml": destination_rule("mobile-api-a", HOST, [("v1", {"version": "v1"})],
                                       "loadBalancer: {consistentHash: {httpHeaderName: x-user}}"),
        "dr-v2.yaml": destination_rule("mobile-api-b", HOST, [("v2", {"version": "v2"})],
                                       "loadBalancer: {simple: ROUND_ROBIN}"),
        "virtual-service.yaml": virtual_service(HOST, [HOST], VS),
    }


def check_syntax(proxy):
    r = subprocess.run([canaryd_bin(), "-t", "-c", proxy.config_path], capture_output=True,
                       text=True, timeout=20)
    out = r.stdout + r.stderr
    check(r.returncode == 0, f"canaryd -t accepts the two rules (rc {r.returncode}):\n{out}")
    want = "dr-v2.yaml:8:5: warning: spec.trafficPolicy: this trafficPolicy is ignored"
    check(want in out, f"-t warns about the ignored trafficPolicy ({want!r}):\n{out}")
    check("DestinationRule default/mobile-api-a at " in out and "dr-v1.yaml:8:5" in out, f"the warning names the rule used:\n{out}")
    step("-t: the second rule's trafficPolicy is reported as ignored, with its location")
    with open(os.path.join(proxy.config_path, "dr-selected.yaml"), "w") as f:
        f.write("apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                "metadata: {name: mobile-api-c}\nspec:\n  host: mobile-api\n"
                "  workloadSelector: {matchLabels: {app: edge}}\n")
    r = subprocess.run([canaryd_bin(), "-t", "-c", proxy.config_path], capture_output=True,
                       text=True, timeout=20)
    mine = subprocess.run([canaryd_bin(), "-t", "--labels", "app=edge", "-c",
                           proxy.config_path], capture_output=True, text=True, timeout=20)
    os.unlink(os.path.join(proxy.config_path, "dr-selected.yaml"))
    out = r.stdout + r.stderr
    want = ("dr-selected.yaml:6:21: warning: spec.workloadSelector: DestinationRule "
            "default/mobile-api-c is not used: its workloadSelector does not select canaryd")
    check(r.returncode == 0 and want in out, f"-t leaves the rule out ({want!r}):\n{out}")
    step("-t: a rule whose workloadSelector does not select canaryd is left out, with a warning")
    out = mine.stdout + mine.stderr
    want = "DestinationRule default/mobile-api-a is not used for host \"mobile-api\""
    check(mine.returncode == 1 and want in out and 'subset "v1" is not defined' in out,
          f"-t --labels app=edge: the selecting rule (no subsets) replaces the others:\n{out}")
    step("-t --labels app=edge: the rule that selects canaryd replaces the others")


def main():
    names = ["a1", "a2", "b1", "b2"]
    ups = [Upstream(n) for n in names]
    with closing(*ups):
        subsets = [("v1", ups[0]), ("v1", ups[1]), ("v2", ups[2]), ("v2", ups[3])]
        with Canaryd(config(subsets), workers=2) as proxy:
            check_syntax(proxy)
            seen = {}
            for user in ("alice", "bob", "carol"):
                with proxy.conn() as c:
                    for i in range(40):
                        r = c.request("GET", f"/m/{i}", headers=[("x-user", user)])
                        if r.status != 200:
                            fail(f"{user} request {i}: status {r.status}")
                        seen.setdefault((user, r.header("x-upstream")[0]), set()).add(
                            r.header("x-upstream"))
            step(f"endpoints per (user, subset): {sorted((k, sorted(v)) for k, v in seen.items())}")
            used = set().union(*seen.values())
            check(used & {"a1", "a2"} and used & {"b1", "b2"},
                  f"both subsets (one from each rule) must answer: {sorted(used)}")
            for (user, group), eps in seen.items():
                check(len(eps) == 1, f"{user} on subset {'v1' if group == 'a' else 'v2'} must "
                      f"stick to one endpoint (the first rule's consistentHash), got {sorted(eps)}")


run(main)
