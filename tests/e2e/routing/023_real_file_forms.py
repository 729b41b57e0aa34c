#!/usr/bin/env python3
"""routing: forms found in public Istio and Flagger files load and route.

- `trafficPolicy.tls: {mode: DISABLE}` (Flagger writes it for every canary) is plain text,
  which is what canaryd does: accepted, and the route works.
- A ServiceEntry may declare an HTTPS port beside its HTTP one; routing to the HTTP port
  works, and only a destination on the HTTPS port is refused (with the reason).
- A header regex with a lookahead loads (canaryd's PCRE2 matches it) with a warning that
  Istio, which validates regexes as RE2, refuses it; requests route by it.
"""
import os
import subprocess
import tempfile

from canaryd_e2e import (Canaryd, Upstream, canaryd_bin, check, closing, expect_eq, get,
                         run, step)


def config(v1, v2, https_route=False):
    extra = ("  - route: [{destination: {host: shop.example.com, port: {number: 443}}}]\n"
             if https_route else "")
    return f"""apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: shop}}
spec:
  hosts: [shop.example.com]
  ports:
  - {{number: 443, name: https, protocol: HTTPS}}
  - {{number: 80, name: http, protocol: HTTP}}
  resolution: STATIC
  endpoints:
  - {{address: 127.0.0.1, ports: {{http: {v1.port}, https: {v1.port}}}, labels: {{version: v1}}}}
  - {{address: 127.0.0.1, ports: {{http: {v2.port}, https: {v2.port}}}, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: shop}}
spec:
  host: shop.example.com
  trafficPolicy:
    tls: {{mode: DISABLE}}
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: shop}}
spec:
  hosts: [shop.example.com]
  http:
  - match:
    - headers:
        user-agent: {{regex: "^(?!.*Chrome)(?=.*Safari).*$"}}
    route: [{{destination: {{host: shop.example.com, subset: v2, port: {{number: 80}}}}}}]
  - route: [{{destination: {{host: shop.example.com, subset: v1, port: {{number: 80}}}}}}]
{extra}"""


def t(cfg):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "shop.yaml")
        with open(path, "w") as f:
            f.write(cfg)
        out = subprocess.run([canaryd_bin(), "-t", "-c", path], capture_output=True, text=True,
                             timeout=20)
    return out.returncode, out.stdout + out.stderr


def main():
    v1, v2 = Upstream("v1"), Upstream("v2")
    with closing(v1, v2):
        step("-t: tls DISABLE and an unused HTTPS port load; the lookahead regex warns")
        rc, text = t(config(v1, v2))
        expect_eq(rc, 0, f"-t exit status (output: {text})")
        check("uses a negative lookahead, which RE2 does not support: Istio refuses it" in text,
              f"-t must warn about the RE2-incompatible regex:\n{text}")
        step("-t: a destination on the HTTPS port is refused with the reason")
        rc, text = t(config(v1, v2, https_route=True))
        expect_eq(rc, 1, f"-t exit status with a route to port 443 (output: {text})")
        check("port 443 (HTTPS) of ServiceEntry default/shop: TLS to upstreams needs the TLS "
              "support" in text, f"the refusal must name the port and the reason:\n{text}")
        with Canaryd(config(v1, v2)) as proxy:
            step("Safari (not Chrome) goes to v2, Chrome and others to v1")
            cases = [("Mozilla/5.0 (Macintosh) Version/17.0 Safari/605.1.15", "v2"),
                     ("Mozilla/5.0 (X11) Chrome/120.0 Safari/537.36", "v1"),
                     ("curl/8.0", "v1")]
            for ua, want in cases:
                r = get(proxy.port, "/", host="shop.example.com", headers=[("User-Agent", ua)])
                expect_eq(r.status, 200, f"status for {ua!r}")
                expect_eq(r.header("x-upstream"), want, f"version for {ua!r}")


run(main)
