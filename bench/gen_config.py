#!/usr/bin/env python3
"""Writes a large canaryd configuration for load/compile benchmarks.

Usage: gen_config.py [N_VS [ROUTES_PER_VS]] > config.yaml   (default 1000 x 10)

One ServiceEntry + DestinationRule (subsets v1/v2) for host mobile-api, then
N_VS VirtualServices (host vs-<i>), each with ROUTES_PER_VS routes matching a
distinct header regex x-user: "user-[0-9]+-<i>-<j>", the last route of each a
95/5 weighted split.
"""
import sys

BASE = """apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: mobile-api}
spec:
  hosts: [mobile-api]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {http: 9001}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {http: 9002}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: mobile-api}
spec:
  host: mobile-api
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"""


def virtual_service(i, nroutes):
    out = ["---", "apiVersion: networking.istio.io/v1", "kind: VirtualService",
           "metadata: {name: vs-%d}" % i, "spec:", "  hosts: [vs-%d]" % i, "  http:"]
    for j in range(nroutes - 1):
        subset = "v2" if j % 2 else "v1"
        out.append("  - name: r%d" % j)
        out.append('    match: [{headers: {x-user: {regex: "user-[0-9]+-%d-%d"}}}]' % (i, j))
        out.append("    route: [{destination: {host: mobile-api, subset: %s}}]" % subset)
    out.append("  - name: split")
    out.append("    route:")
    out.append("    - {destination: {host: mobile-api, subset: v1}, weight: 95}")
    out.append("    - {destination: {host: mobile-api, subset: v2}, weight: 5}")
    return "\n".join(out) + "\n"


def main():
    nvs = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    nroutes = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    w = sys.stdout.write
    w(BASE)
    for i in range(nvs):
        w(virtual_service(i, max(nroutes, 1)))


if __name__ == "__main__":
    main()
