#!/usr/bin/env python3
"""lb: trafficPolicy.portLevelSettings. A ServiceEntry with two ports (80 and 81) and two
endpoints, each endpoint serving both ports on upstreams of its own; a DestinationRule with
host-level ROUND_ROBIN and, for port 81 only, consistentHash on the x-user header. A
VirtualService sends /alt/ to port 81 and the rest to port 80. On port 80 sequential
requests alternate between the endpoints (whatever x-user says); on port 81 every request
of one user reaches one endpoint, and different users are spread over both."""
from canaryd_e2e import Canaryd, Upstream, check, closing, fail, run, step, virtual_service

HOST = "mobile-api"

VS = """
- name: alt
  match: [{uri: {prefix: /alt/}}]
  route: [{destination: {host: mobile-api, port: {number: 81}}}]
- name: main
  route: [{destination: {host: mobile-api, port: {number: 80}}}]
"""


def config(a80, a81, b80, b81):
    se = f"""apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: mobile-api}}
spec:
  hosts: [mobile-api]
  ports:
  - {{number: 80, name: http, protocol: HTTP}}
  - {{number: 81, name: http-alt, protocol: HTTP}}
  resolution: STATIC
  endpoints:
  - {{address: 127.0.0.1, ports: {{http: {a80.port}, http-alt: {a81.port}}}}}
  - {{address: 127.0.0.1, ports: {{http: {b80.port}, http-alt: {b81.port}}}}}
"""
    dr = """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: mobile-api}
spec:
  host: mobile-api
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    portLevelSettings:
    - port: {number: 81}
      loadBalancer: {consistentHash: {httpHeaderName: x-user}}
"""
    return "---\n".join([se, dr, virtual_service(HOST, [HOST], VS)])


def get(c, path, user):
    r = c.request("GET", path, headers=[("x-user", user)])
    if r.status != 200:
        fail(f"{path} as {user}: status {r.status}")
    return r.header("x-upstream")


def main():
    ups = [Upstream(n) for n in ("a80", "a81", "b80", "b81")]
    with closing(*ups), Canaryd(config(*ups), workers=1) as proxy:
        with proxy.conn() as c:
            seq = [get(c, f"/main/{i}", "alice") for i in range(20)]
        step(f"port 80 (ROUND_ROBIN): {' '.join(seq)}")
        check(set(seq) == {"a80", "b80"}, f"port 80 must use both endpoints: {seq}")
        bad = [i for i in range(1, len(seq)) if seq[i] == seq[i - 1]]
        check(not bad, f"port 80 must alternate (round robin), repeated at {bad}: {seq}")

        by_user = {}
        with proxy.conn() as c:
            for u in range(20):
                user = f"user-{u}"
                by_user[user] = {get(c, f"/alt/{i}", user) for i in range(8)}
        step(f"port 81 (consistentHash x-user): {sorted((u, sorted(e)) for u, e in by_user.items())}")
        for user, eps in by_user.items():
            check(eps <= {"a81", "b81"}, f"{user}: port 81 goes to the port-81 upstreams: {eps}")
            check(len(eps) == 1, f"{user} must stick to one endpoint on port 81: {sorted(eps)}")
        used = set().union(*by_user.values())
        check(used == {"a81", "b81"}, f"20 users must be spread over both endpoints: {used}")


run(main)
