#!/usr/bin/env python3
"""routing: match[].sourceLabels and sourceNamespace are decided against canaryd's own
workload labels (--labels / CANARYD_LABELS) and namespace (--namespace /
CANARYD_NAMESPACE), as an Istio ingress gateway with those labels would: an entry naming
another workload never holds, and a route whose every entry is for another workload is
no catch-all (the routes after it still match). A reload decides again with the same
labels. -t warns about every entry that never holds; a malformed --labels is a usage
error (exit 2)."""
import subprocess

from canaryd_e2e import (Canaryd, Upstreams, canaryd_bin, check, expect_eq, mesh_config, run,
                         run_cases, step, virtual_service)
from ops_helpers import wait_until

HTTP = """
- name: for-edge
  match: [{sourceLabels: {app: edge, version: v3}, uri: {prefix: /edge}}]
  route: [{destination: {host: mobile-api, subset: edge}}]
- name: for-other-workload
  match: [{sourceLabels: {app: other}}]
  route: [{destination: {host: mobile-api, subset: other}}]
- name: for-edge-ns
  match: [{sourceNamespace: edge-ns, uri: {prefix: /ns}}]
  route: [{destination: {host: mobile-api, subset: ns}}]
- name: for-other-ns
  match: [{sourceNamespace: other-ns}]
  route: [{destination: {host: mobile-api, subset: other}}]
- name: rest
  route: [{destination: {host: mobile-api, subset: rest}}]
"""


def config(ups, http=HTTP):
    return mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], http))


def generation(proxy):
    import json
    status, body = proxy.admin_get("/config")
    return json.loads(body)["generation"] if status == 200 else None


def main():
    with Upstreams("edge", "other", "ns", "rest") as ups:
        step("--labels app=edge,version=v3 --namespace edge-ns")
        args = ["--labels", "app=edge,version=v3", "--namespace", "edge-ns"]
        cases = [
            ("sourceLabels all among canaryd's", {"path": "/edge/a"}, "edge"),
            ("sourceNamespace is canaryd's", {"path": "/ns/a"}, "ns"),
            ("entries for other workloads never hold, the rest still matches",
             {"path": "/x"}, "rest"),
        ]
        with Canaryd(config(ups), extra_args=args) as proxy:
            run_cases(proxy, cases)
            step("a reload decides again with the same labels")
            gen0 = generation(proxy)
            proxy.write_config(config(ups, HTTP.replace("/edge", "/edge2")))
            proxy.reload()
            check(wait_until(lambda: generation(proxy) == gen0 + 1, 5), "reload applied")
            run_cases(proxy, [("sourceLabels after reload", {"path": "/edge2/a"}, "edge"),
                              ("old prefix now falls through", {"path": "/edge/a"}, "rest")])

        step("CANARYD_LABELS=app=other CANARYD_NAMESPACE=other-ns (environment)")
        env = {"CANARYD_LABELS": "app=other", "CANARYD_NAMESPACE": "other-ns"}
        with Canaryd(config(ups), env=env) as proxy:
            run_cases(proxy, [
                ("app=edge is not canaryd's now; app=other catches all",
                 {"path": "/edge/a"}, "other"),
                ("everything else too", {"path": "/ns/a"}, "other"),
            ])

        step("no --labels, no --namespace: namespace \"default\", no labels")
        with Canaryd(config(ups)) as proxy:
            run_cases(proxy, [("/edge", {"path": "/edge/a"}, "rest"),
                              ("/ns", {"path": "/ns/a"}, "rest")])

        step("-t names every entry that never holds")
        import os
        import tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(config(ups))
        try:
            r = subprocess.run([canaryd_bin(), "-t", "-c", f.name] + args,
                               capture_output=True, text=True, timeout=20)
            expect_eq(r.returncode, 0, "-t exit status")
            check("spec.http[1].match[0].sourceLabels.app: canaryd's labels (--labels) do not "
                  "include app=other: this match entry never holds" in r.stderr, r.stderr)
            check("spec.http[3].match[0].sourceNamespace: canaryd's namespace is \"edge-ns\" "
                  "(--namespace), not \"other-ns\"" in r.stderr, r.stderr)
            step("a malformed --labels is a usage error")
            r = subprocess.run([canaryd_bin(), "-t", "-c", f.name, "--labels", "app"],
                               capture_output=True, text=True, timeout=20)
            expect_eq(r.returncode, 2, "--labels app: exit status")
            check("expected KEY=VALUE" in r.stderr, r.stderr)
            r = subprocess.run([canaryd_bin(), "-t", "-c", f.name, "--namespace", "Edge"],
                               capture_output=True, text=True, timeout=20)
            expect_eq(r.returncode, 2, "--namespace Edge: exit status")
        finally:
            os.unlink(f.name)


run(main)
