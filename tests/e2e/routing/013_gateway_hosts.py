#!/usr/bin/env python3
"""routing: a Gateway server's hosts filter which VirtualServices (and which of their
hosts) its listener serves, as Istio does. Two Gateways on two ports: "public" serves
shop.example.com and *.shop.example.com, so the storefront's "*.example.com" is served
only as those names there (other names of it get 404); "internal" has two servers on one
port (one listener, the union of their hosts): "./shop.internal" (VirtualServices of the
Gateway's namespace) and "ops/admin.internal" (only VirtualServices of namespace ops: a
VirtualService of another namespace naming admin.internal is not served there, and does
not conflict). A host the Gateway does not serve gets 404 on its port even though the
VirtualService names it, and `canaryd -t` warns about it. The example
tests/corpus/gateway-hosts.yaml passes `canaryd -t`."""
from canaryd_e2e import (Canaryd, Upstreams, check, free_port, mesh_config, run, run_cases,
                         step)
from gateway_helpers import OnPort, check_config, corpus, gateway, to, vs_doc

SUBSETS = ["store", "internal", "admin", "sneaky"]


def config(ups, pub, intl):
    docs = [
        gateway("public", [{"port": pub, "hosts": ["shop.example.com", "*.shop.example.com"]}]),
        gateway("internal", [{"port": intl, "hosts": ["./shop.internal"], "name": "http-shop"},
                             {"port": intl, "hosts": ["ops/admin.internal"],
                              "name": "http-admin"}]),
        vs_doc("store", ["*.example.com"], ["public"], to("store")),
        vs_doc("store-internal", ["shop.internal", "shop.example.com"], ["internal"],
               to("internal")),
        vs_doc("admin", ["admin.internal"], ["default/internal"], to("admin"), namespace="ops"),
        vs_doc("sneaky", ["admin.internal"], ["internal"], to("sneaky")),
    ]
    return mesh_config(ups, *[]) + "---\n" + "---\n".join(docs)


def main():
    step("tests/corpus/gateway-hosts.yaml passes canaryd -t")
    rc, out = check_config(path=corpus("gateway-hosts.yaml"))
    check(rc == 0, f"canaryd -t rejected tests/corpus/gateway-hosts.yaml:\n{out}")

    with Upstreams(*SUBSETS) as ups:
        pub, intl = free_port(), free_port()
        while intl == pub:
            intl = free_port()
        cfg = config(ups, pub, intl)

        step("canaryd -t warns about the hosts a bound Gateway does not serve")
        rc, out = check_config(cfg)
        check(rc == 0, f"canaryd -t rejected the config:\n{out}")
        for want in ('no server of Gateway default/internal serves host(s) "shop.example.com"',
                     'no server of Gateway default/internal serves host(s) "admin.internal"'):
            check(want in out, f"canaryd -t output lacks the warning {want!r}:\n{out}")

        with Canaryd(cfg) as proxy:
            step(f"public Gateway on :{pub}")
            run_cases(OnPort(pub), [
                ("server host shop.example.com, VS host *.example.com",
                 {"host": "shop.example.com"}, "store"),
                ("server host *.shop.example.com", {"host": "www.shop.example.com"}, "store"),
                ("deeper under *.shop.example.com, with a port",
                 {"host": "a.b.shop.example.com:443"}, "store"),
                ("VS host *.example.com outside the server's hosts",
                 {"host": "www.example.com"}, 404),
                ("a host only the internal Gateway serves", {"host": "shop.internal"}, 404),
                ("admin host on the public port", {"host": "admin.internal"}, 404),
            ])
            step(f"internal Gateway on :{intl} (two servers, one listener)")
            run_cases(OnPort(intl), [
                ("./shop.internal: a VS of the Gateway's namespace", {"host": "shop.internal"},
                 "internal"),
                ("ops/admin.internal: the VS of namespace ops, not the other one",
                 {"host": "admin.internal"}, "admin"),
                ("a VS host the internal Gateway does not serve",
                 {"host": "shop.example.com"}, 404),
                ("a public host on the internal port", {"host": "www.shop.example.com"}, 404),
            ])
            check(ups["sneaky"].count() == 0,
                  f"the VS of namespace default got {ups['sneaky'].count()} requests for "
                  f"admin.internal, which only namespace ops may serve")
            check(proxy.alive(), "canaryd died")


run(main)
