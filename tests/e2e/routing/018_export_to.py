#!/usr/bin/env python3
"""routing: exportTo with Istio's meaning, seen from canaryd's namespace (--namespace):
a VirtualService exported to "*", to canaryd's namespace by name, or to "." from
canaryd's own namespace is served; one exported elsewhere is not (its hosts get 404, and
another VirtualService may claim them). A DestinationRule not exported to canaryd's
namespace is not applied, so routes naming its subsets fail to load exactly as if it did
not exist. Every hidden object is named by a warning."""
import os
import subprocess
import tempfile

from canaryd_e2e import (Canaryd, Upstreams, canaryd_bin, check, expect_eq, mesh_config, run,
                         run_cases, step)

DEST = "mobile-api.default.svc.cluster.local"


def vs(name, ns, host, export, subset):
    return f"""apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {ns}}}
spec:
  hosts: [{host}]
  exportTo: {export}
  http:
  - name: {name}
    route: [{{destination: {{host: {DEST}, subset: {subset}}}}}]
"""


def config(ups, dr_export=None):
    base = mesh_config(ups)
    if dr_export:
        base = base.replace("spec:\n  host: mobile-api\n",
                            f"spec:\n  host: mobile-api\n  exportTo: {dr_export}\n")
        check(f"exportTo: {dr_export}" in base, "the DestinationRule got its exportTo")
    return "---\n".join([
        base,
        vs("public", "shop", "public.example.com", '["*"]', "v1"),
        vs("private", "shop", "private.example.com", '["."]', "v2"),
        vs("to-edge", "team", "team.example.com", "[edge, team]", "v2"),
        vs("elsewhere", "team", "elsewhere.example.com", "[shop]", "v2"),
        # Claims the host of the hidden "private" without a conflict.
        vs("edge-private", "edge", "private.example.com", '["."]', "v1"),
    ])


def main():
    with Upstreams("v1", "v2") as ups:
        step("--namespace edge")
        with Canaryd(config(ups), extra_args=["--namespace", "edge"]) as proxy:
            run_cases(proxy, [
                ('exportTo "*"', {"host": "public.example.com"}, "v1"),
                ("exportTo names canaryd's namespace", {"host": "team.example.com"}, "v2"),
                ('"." in canaryd\'s own namespace; the hidden VS of shop does not claim it',
                 {"host": "private.example.com"}, "v1"),
                ("exported to another namespace only", {"host": "elsewhere.example.com"}, 404),
            ])
        step("--namespace shop: the other side of the same objects")
        with Canaryd(config(ups), env={"CANARYD_NAMESPACE": "shop"}) as proxy:
            run_cases(proxy, [
                ('"." of shop', {"host": "private.example.com"}, "v2"),
                ("exported to shop", {"host": "elsewhere.example.com"}, "v2"),
                ("exported to edge and team only", {"host": "team.example.com"}, 404),
            ])

        step("-t: hidden objects are named; a hidden DestinationRule is as a missing one")
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(config(ups, dr_export="[.]"))
        try:
            r = subprocess.run([canaryd_bin(), "-t", "-c", f.name, "--namespace", "edge"],
                               capture_output=True, text=True, timeout=20)
            expect_eq(r.returncode, 1, "-t exit status with the DestinationRule hidden")
            check('DestinationRule default/mobile-api is not exported to namespace "edge"'
                  in r.stderr, r.stderr)
            check(f'subset "v1" of host "{DEST}" is not defined: no DestinationRule for this'
                  in r.stderr, r.stderr)
            r = subprocess.run([canaryd_bin(), "-t", "-c", f.name, "--namespace", "default"],
                               capture_output=True, text=True, timeout=20)
            out = r.stdout + r.stderr
            expect_eq(r.returncode, 0, f"-t exit status in namespace default: {out}")
            check("VirtualService shop/private: not exported to namespace default, not used"
                  in r.stdout, r.stdout)
            check('VirtualService shop/private is not exported to namespace "default"'
                  in r.stderr, r.stderr)
        finally:
            os.unlink(f.name)


run(main)
