#!/usr/bin/env python3
"""routing: match[].gateways. One VirtualService bound to two Gateways (on two ports) and
to "mesh" (canaryd's --listen listener): a match entry naming gateways holds only for
requests that arrived through one of them, so requests on the other Gateway's listener
skip that route and fall through to the next; an entry without gateways holds on every
listener the VirtualService is bound to (its own gateways apply); "mesh" names --listen.
Names resolve as Istio resolves them (short, ns/name, ./name). `canaryd -t` refuses a
match naming an undefined Gateway and warns about one the VirtualService is not bound
to, since that entry can never hold."""
from canaryd_e2e import Canaryd, Upstreams, check, free_port, mesh_config, run, run_cases, step
from gateway_helpers import OnPort, check_config, gateway, vs_doc

SUBSETS = ["v1", "beta", "canary", "mesh"]

HTTP = """
  - name: beta-on-b
    match: [{gateways: [gw-b], uri: {prefix: /beta}}]
    route: [{destination: {host: mobile-api, subset: beta}}]
  - name: mesh-only
    match: [{gateways: [mesh]}]
    route: [{destination: {host: mobile-api, subset: mesh}}]
  - name: canary
    match:
    - {gateways: [default/gw-a], headers: {x-canary: {exact: "1"}}}
    - {gateways: [./gw-b], headers: {x-canary: {exact: "b"}}}
    - uri: {prefix: /everywhere}
    route: [{destination: {host: mobile-api, subset: canary}}]
  - name: rest
    route: [{destination: {host: mobile-api, subset: v1}}]
"""


def config(ups, a, b):
    docs = [gateway("gw-a", [{"port": a, "hosts": ["*"]}]),
            gateway("gw-b", [{"port": b, "hosts": ["*"]}]),
            vs_doc("mobile-api", ["mobile-api"], ["gw-a", "gw-b", "mesh"], HTTP)]
    return mesh_config(ups) + "---\n" + "---\n".join(docs)


def main():
    step("canaryd -t: an undefined Gateway is an error, an unbound one a warning")
    bad = [gateway("gw-a", [{"port": 18081, "hosts": ["*"]}]),
           gateway("gw-b", [{"port": 18082, "hosts": ["*"]}]),
           vs_doc("vs", ["mobile-api"], ["gw-a"],
                  "  - match: [{gateways: [gw-c]}]\n    route: [{destination: {host: x}}]\n")]
    rc, out = check_config("---\n".join(bad))
    check(rc == 1 and 'spec.http[0].match[0].gateways[0]: Gateway "gw-c" is not defined' in out,
          f"canaryd -t should refuse the undefined Gateway gw-c (exit {rc}):\n{out}")
    bad[2] = vs_doc("vs", ["mobile-api"], ["gw-a"],
                    "  - match: [{gateways: [gw-b]}]\n    route: [{destination: {host: x}}]\n")
    rc, out = check_config("---\n".join(bad))
    check(rc == 0 and "this match entry never holds on Gateway default/gw-b" in out,
          f"canaryd -t should warn about the unbound Gateway gw-b (exit {rc}):\n{out}")

    with Upstreams(*SUBSETS) as ups:
        a, b = free_port(), free_port()
        while a == b:
            b = free_port()
        with Canaryd(config(ups, a, b)) as proxy:
            step(f"gw-a on :{a}")
            run_cases(OnPort(a), [
                ("a route limited to gw-b is skipped", {"path": "/beta/x"}, "v1"),
                ("gw-a's entry of a route", {"headers": [("x-canary", "1")]}, "canary"),
                ("gw-b's entry of the same route", {"headers": [("x-canary", "b")]}, "v1"),
                ("an entry without gateways", {"path": "/everywhere"}, "canary"),
                ("the rest", {"path": "/"}, "v1"),
            ])
            step(f"gw-b on :{b}")
            run_cases(OnPort(b), [
                ("the route limited to gw-b", {"path": "/beta/x"}, "beta"),
                ("gw-a's entry is skipped", {"headers": [("x-canary", "1")]}, "v1"),
                ("gw-b's entry", {"headers": [("x-canary", "b")]}, "canary"),
                ("an entry without gateways", {"path": "/everywhere"}, "canary"),
                ("the rest", {"path": "/"}, "v1"),
            ])
            step(f"mesh: --listen :{proxy.port}")
            run_cases(proxy, [
                ("a route limited to gw-b is skipped", {"path": "/beta/x"}, "mesh"),
                ("the route limited to mesh", {"path": "/"}, "mesh"),
            ])


run(main)
