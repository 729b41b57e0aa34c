#!/usr/bin/env python3
"""routing: the other kinds a directory of mesh config holds.

A directory with a Sidecar and an AuthorizationPolicy (security.istio.io/v1) next to the
routes: `canaryd -t` exits 1 with the refusal (canaryd does not enforce the policy: loading
it would let in requests Istio denies), and the daemon refuses to start on it. With the
Sidecar only: `-t` exits 0 with the Sidecar warning, and canaryd serves the routes."""
import os
import shutil
import subprocess
import tempfile

from canaryd_e2e import (Canaryd, Upstreams, canaryd_bin, check, expect_eq, expect_upstream,
                        mesh_config, route_to, run, step, virtual_service)

SIDECAR = """apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: default}
spec:
  egress:
  - hosts: ["./*", "istio-system/*"]
"""

AUTHZ = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-untrusted, namespace: default}
spec:
  action: DENY
  rules:
  - from: [{source: {notNamespaces: [trusted]}}]
"""

REFUSAL = ("kind: AuthorizationPolicy is not enforced by canaryd: loading it would let in "
           "requests that Istio denies; enforce it in front of canaryd or remove it from "
           "canaryd's config")
WARNING = ("warning: kind: Sidecar has no effect on a proxy that clients address directly")


def run_t(files):
    tmp = tempfile.mkdtemp(prefix="canaryd-e2e-t-")
    try:
        for name, text in files.items():
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)
        r = subprocess.run([canaryd_bin(), "-t", "-c", tmp], capture_output=True, text=True,
                           timeout=20)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = r.stdout + r.stderr
    print(out)
    return r.returncode, out


def main():
    with Upstreams("v1") as ups:
        routes = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"],
                                                  f"- route: {route_to('v1')}"))
        files = {"10-routes.yaml": routes, "20-sidecar.yaml": SIDECAR, "30-authz.yaml": AUTHZ}
        step("Sidecar + AuthorizationPolicy: -t exits 1 with the refusal")
        rc, out = run_t(files)
        expect_eq(rc, 1, "canaryd -t exit status")
        check(REFUSAL in out, f"the output names the refusal: {REFUSAL!r}")
        check("unknown apiVersion" not in out, "security.istio.io/v1 is a known apiVersion")
        step("the daemon does not start on it")
        tmp = tempfile.mkdtemp(prefix="canaryd-e2e-d-")
        try:
            for name, text in files.items():
                with open(os.path.join(tmp, name), "w") as f:
                    f.write(text)
            r = subprocess.run([canaryd_bin(), "-c", tmp, "-l", "127.0.0.1:0", "-a",
                                "127.0.0.1:0"], capture_output=True, text=True, timeout=20)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        check(r.returncode != 0, f"canaryd exits non-zero (got {r.returncode})")
        check(REFUSAL in r.stdout + r.stderr, "canaryd names the refusal at start-up")
        del files["30-authz.yaml"]
        step("Sidecar only: -t exits 0 with the warning")
        rc, out = run_t(files)
        expect_eq(rc, 0, "canaryd -t exit status")
        check(WARNING in out, f"the output has the warning: {WARNING!r}")
        step("and canaryd serves the routes")
        with Canaryd(files) as proxy:
            expect_upstream(proxy.request("GET", "/"), "v1", "GET / next to a Sidecar")


run(main)
