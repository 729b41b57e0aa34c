#!/usr/bin/env python3
"""routing: WorkloadEntries selected by a ServiceEntry's workloadSelector.

Three WorkloadEntries of app ratings on 127.0.0.1 (v1; v2 with its own port; v2 without
a port, reached on the ServiceEntry's targetPort), one of another app and one of app
ratings in another namespace (neither may ever be reached). A DestinationRule makes
subsets by version, a VirtualService sends `x-version: v2` to v2 and splits the rest
50/50. Requests reach exactly the selected upstreams of the right version; the split
over 200 requests gives each side at least 60 (a false alarm less than once in 10^8)."""
from canaryd_e2e import Canaryd, Upstreams, check, fail, run, step


def we(name, ns, port, labels):
    ports = f"ports: {{http: {port}}}, " if port else ""
    return f"""apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: {name}, namespace: {ns}}}
spec: {{address: 127.0.0.1, {ports}labels: {labels}}}
"""


def config(ups):
    docs = [
        we("ratings-v1", "default", ups["v1"].port, "{app: ratings, version: v1}"),
        we("ratings-v2", "default", ups["v2"].port, "{app: ratings, version: v2}"),
        we("ratings-v2b", "default", None, "{app: ratings, version: v2}"),
        we("reviews-v1", "default", ups["other-app"].port, "{app: reviews, version: v1}"),
        we("ratings-prod", "prod", ups["other-ns"].port, "{app: ratings, version: v1}"),
        f"""apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: ratings}}
spec:
  hosts: [ratings.vm.internal]
  ports: [{{number: 80, name: http, protocol: HTTP, targetPort: {ups['v2b'].port}}}]
  resolution: STATIC
  workloadSelector: {{labels: {{app: ratings}}}}
""",
        """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec:
  host: ratings.vm.internal
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
""",
        """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings.vm.internal]
  http:
  - match: [{headers: {x-version: {exact: v2}}}]
    route: [{destination: {host: ratings.vm.internal, subset: v2}}]
  - route:
    - {destination: {host: ratings.vm.internal, subset: v1}, weight: 50}
    - {destination: {host: ratings.vm.internal, subset: v2}, weight: 50}
""",
    ]
    return "---\n".join(docs)


def count(proxy, n, headers=()):
    got = {}
    with proxy.conn() as c:
        for _ in range(n):
            r = c.request("GET", "/", host="ratings.vm.internal", headers=headers)
            if r.status != 200:
                fail(f"expected 200, got {r.status} {r.body[:100]!r}")
            who = r.header("x-upstream")
            got[who] = got.get(who, 0) + 1
    return got


def main():
    names = ("v1", "v2", "v2b", "other-app", "other-ns")
    with Upstreams(*names) as ups:
        with Canaryd(config(ups)) as proxy:
            step("x-version: v2 -> the two v2 WorkloadEntries (own port, then targetPort)")
            got = count(proxy, 40, headers=[("x-version", "v2")])
            print(f"  {got}")
            check(set(got) == {"v2", "v2b"}, f"v2 requests reach v2 and v2b only: {got}")
            check(min(got.values()) >= 10, f"round robin over both v2 endpoints: {got}")
            step("no header -> 50/50 between v1 and v2")
            got = count(proxy, 200)
            print(f"  {got}")
            check(set(got) <= {"v1", "v2", "v2b"}, f"only selected WorkloadEntries: {got}")
            v1, v2 = got.get("v1", 0), got.get("v2", 0) + got.get("v2b", 0)
            check(v1 >= 60 and v2 >= 60, f"about half each: v1 {v1}, v2 {v2}")
            for n in ("other-app", "other-ns"):
                check(ups[n].count() == 0, f"the {n} WorkloadEntry is never selected")


run(main)
