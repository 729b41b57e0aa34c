#!/usr/bin/env python3
"""routing: VirtualService host selection. Exact host, then the longest wildcard, then "*";
the Host header's port and letter case are ignored; a short name (mobile-api) also
matches its Kubernetes forms NAME.NS, NAME.NS.svc, NAME.NS.svc.cluster.local (NS is the
VirtualService's namespace, "default" here; Istio resolves short names there); a host no
VirtualService names gets 404, until a "*" VirtualService catches it."""
from canaryd_e2e import Canaryd, Upstreams, mesh_config, run, run_cases, step, virtual_service

ROUTES = ["exact", "wild", "longer-wild", "svc", "catchall"]


def vs(name, host):
    return virtual_service(name, [host], f"""
- name: {name}
  route: [{{destination: {{host: mobile-api, subset: {name}}}}}]
""")


def main():
    with Upstreams(*ROUTES) as ups:
        base = [vs("exact", "api.example.com"), vs("wild", "*.example.com"),
                vs("longer-wild", "*.api.example.com"), vs("svc", "mobile-api")]
        common = [
            ("exact host", {"host": "api.example.com"}, "exact"),
            ("exact host, other case and a port", {"host": "API.Example.com:8080"}, "exact"),
            ("wildcard", {"host": "www.example.com"}, "wild"),
            ("wildcard, upper case", {"host": "WWW.EXAMPLE.COM"}, "wild"),
            ("wildcard, deeper", {"host": "a.b.example.com"}, "wild"),
            ("longest wildcard wins", {"host": "x.api.example.com"}, "longer-wild"),
            ("short name", {"host": "mobile-api"}, "svc"),
            ("short name, other case and a port", {"host": "Mobile-API:80"}, "svc"),
            ("short name .NS", {"host": "mobile-api.default"}, "svc"),
            ("short name .NS.svc", {"host": "mobile-api.default.svc"}, "svc"),
            ("short name .NS.svc.cluster.local",
             {"host": "mobile-api.default.svc.cluster.local"}, "svc"),
            ("short name .NS.svc.cluster.local with a port",
             {"host": "mobile-api.default.svc.cluster.local:8080"}, "svc"),
            ("a non-Kubernetes name under a wildcard", {"host": "mobile-api.example.com"},
             "wild"),
        ]
        step("without a '*' VirtualService")
        with Canaryd(mesh_config(ups, *base)) as proxy:
            run_cases(proxy, common + [
                ("a wildcard does not match its bare suffix", {"host": "example.com"}, 404),
                ("unknown host", {"host": "other.internal"}, 404),
                ("short name with a wrong suffix", {"host": "mobile-api.default.svc.other"},
                 404),
            ])
        step("with a '*' VirtualService")
        with Canaryd(mesh_config(ups, *(base + [vs("catchall", "*")]))) as proxy:
            run_cases(proxy, common + [
                ("bare suffix goes to '*'", {"host": "example.com"}, "catchall"),
                ("unknown host goes to '*'", {"host": "other.internal"}, "catchall"),
                ("IP literal with port goes to '*'", {"host": f"127.0.0.1:{proxy.port}"},
                 "catchall"),
            ])


run(main)
