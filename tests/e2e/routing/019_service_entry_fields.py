#!/usr/bin/env python3
"""routing: ServiceEntry fields as Istio reads them.

- resolution left out (Istio's default NONE) with endpoints: routed to the endpoints, as
  with STATIC (with a warning: Istio's own validation refuses endpoints with NONE);
- resolution NONE without endpoints: the host itself is resolved (localhost, from
  /etc/hosts) and reached on the port number;
- ports[].targetPort: the port of an endpoint that gives none of its own for that port
  name; an endpoint's own port still wins;
- port protocol `http` / `Http` (any case), `location`, endpoint `locality`;
- `canaryd -t` exits 0 and warns about `addresses` (VIPs), naming the field."""
import os
import shutil
import subprocess
import tempfile

from canaryd_e2e import (Canaryd, Skip, Upstreams, canaryd_bin, check, expect_upstream, run,
                        run_cases, step)


def config(ups):
    return f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: implicit-none}}
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  addresses: [240.240.0.7]
  ports: [{{number: 80, name: http, protocol: http}}]
  endpoints:
  - {{address: 127.0.0.1, ports: {{http: {ups['none'].port}}}, locality: us-east1/us-east1-b}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: by-host}}
spec:
  hosts: [localhost]
  ports: [{{number: {ups['host'].port}, name: http, protocol: Http}}]
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: target}}
spec:
  hosts: [target.example.com]
  location: MESH_INTERNAL
  ports: [{{number: 80, name: http, protocol: HTTP, targetPort: {ups['target'].port}}}]
  resolution: STATIC
  endpoints:
  - {{address: 127.0.0.1, labels: {{version: plain}}}}
  - {{address: 127.0.0.1, ports: {{http: {ups['own'].port}}}, labels: {{version: own}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: target}}
spec:
  host: target.example.com
  subsets:
  - {{name: plain, labels: {{version: plain}}}}
  - {{name: own, labels: {{version: own}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: implicit-none}}
spec:
  hosts: [api.example.com]
  http: [{{route: [{{destination: {{host: api.example.com}}}}]}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: by-host}}
spec:
  hosts: [by-host.example.com]
  http: [{{route: [{{destination: {{host: localhost, port: {{number: {ups['host'].port}}}}}}}]}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: target}}
spec:
  hosts: [target.example.com]
  http:
  - match: [{{headers: {{x-own: {{exact: "1"}}}}}}]
    route: [{{destination: {{host: target.example.com, subset: own}}}}]
  - route: [{{destination: {{host: target.example.com, subset: plain}}}}]
"""


def check_t(text):
    tmp = tempfile.mkdtemp(prefix="canaryd-e2e-t-")
    try:
        path = os.path.join(tmp, "se.yaml")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([canaryd_bin(), "-t", "-c", path], capture_output=True, text=True,
                           timeout=20)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = r.stdout + r.stderr
    print(out)
    check(r.returncode == 0, f"canaryd -t exits 0 (got {r.returncode})")
    for want in ["warning: spec.addresses: VIPs mean nothing to a proxy that clients address "
                 "directly; canaryd routes by Host",
                 "resolution NONE (the default) with endpoints",
                 "ServiceEntry default/implicit-none: hosts=api.example.com ports=80 "
                 "resolution=NONE endpoints=1 location=MESH_EXTERNAL (routed alike) "
                 "localities=us-east1/us-east1-b",
                 "resolution=NONE endpoints=1 (the hosts, by DNS)",
                 "ServiceEntry default/target: hosts=target.example.com ports=80->"]:
        check(want in out, f"canaryd -t output has {want!r}")


def main():
    if not os.path.exists("/etc/hosts") or "localhost" not in open("/etc/hosts").read():
        raise Skip("no localhost in /etc/hosts")
    with Upstreams("none", "host", "target", "own") as ups:
        cfg = config(ups)
        step("canaryd -t: accepted, addresses warned about, fields in the summary")
        check_t(cfg)
        with Canaryd(cfg) as proxy:
            step("requests reach the endpoints each field names")
            run_cases(proxy, [
                ("resolution omitted, endpoints: routed to them", {"host": "api.example.com"},
                 "none"),
                ("resolution NONE, no endpoints: the host resolved, on the port number",
                 {"host": "by-host.example.com"}, "host"),
                ("targetPort for an endpoint without its own port",
                 {"host": "target.example.com"}, "target"),
                ("an endpoint's own port before targetPort",
                 {"host": "target.example.com", "headers": [("x-own", "1")]}, "own"),
            ])
            r = proxy.request("GET", "/", host="target.example.com")
            expect_upstream(r, "target", "targetPort, again on a new connection")


run(main)
