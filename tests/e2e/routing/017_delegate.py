#!/usr/bin/env python3
"""routing: VirtualService delegation. A root VirtualService hands /api to a delegate
VirtualService (no hosts) of another namespace; the delegate splits by header and path,
and its routes take the place of the root's route: each delegate match is ANDed with the
root's /api, so the delegate's header route does not catch requests outside /api, and
the root's timeout and request headers apply where the delegate's routes set none.
Requests land on the right real upstream; the access log names the spliced routes
ROOT-DELEGATE, as Istio names them, and -t lists them. A missing delegate stops the
load with its file:line:col."""
import os
import subprocess
import tempfile

from canaryd_e2e import (Canaryd, Upstreams, canaryd_bin, check, expect_eq, mesh_config, run,
                         run_cases, step)

DEST = "mobile-api.default.svc.cluster.local"
ROOT = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: mobile-api}
spec:
  hosts: [mobile-api]
  http:
  - name: api
    match: [{uri: {prefix: /api}}]
    delegate: {name: api-routes, namespace: team}
    headers: {request: {set: {x-via-root: "yes"}}}
  - name: web
    route: [{destination: {host: mobile-api, subset: v1}}]
"""
DELEGATE = f"""apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: api-routes, namespace: team}}
spec:
  http:
  - name: beta
    match: [{{headers: {{x-beta: {{exact: "1"}}}}}}]
    route: [{{destination: {{host: {DEST}, subset: v2}}}}]
  - name: next
    match: [{{uri: {{prefix: /api/v2/}}}}]
    route: [{{destination: {{host: {DEST}, subset: v2}}}}]
  - name: stable
    route: [{{destination: {{host: {DEST}, subset: v1}}}}]
"""


def main():
    with Upstreams("v1", "v2") as ups:
        config = "---\n".join([mesh_config(ups), ROOT, DELEGATE])
        with Canaryd(config) as proxy:
            step("requests under /api follow the delegate's routes")
            cases = [
                ("delegate header route, inside /api", {"path": "/api/x",
                                                        "headers": [("x-beta", "1")]}, "v2"),
                ("delegate path route", {"path": "/api/v2/orders"}, "v2"),
                ("delegate catch-all, inside /api", {"path": "/api/x"}, "v1"),
                ("the header alone outside /api: the root's next route",
                 {"path": "/web", "headers": [("x-beta", "1")]}, "v1"),
                ("a /api/v2/ path outside /api cannot exist; /v2/ goes to web",
                 {"path": "/v2/orders"}, "v1"),
            ]
            run_cases(proxy, cases)
            lines = proxy.wait_access_log(len(cases))
            routes = [(l.get("path"), l.get("route")) for l in lines]
            expect_eq([r for _, r in routes[:len(cases)]],
                      ["api-beta", "api-next", "api-stable", "web", "web"],
                      f"access-log route names ({routes})")
            step("the root route's request headers reach the upstream of a spliced route")
            ups["v2"].clear()
            resp = proxy.request(path="/api/v2/hdr")
            expect_eq(resp.status, 200, "status")
            seen = [q for q in ups["v2"].snapshot() if q.path == "/api/v2/hdr"]
            check(len(seen) == 1 and seen[0].header("x-via-root") == "yes",
                  f"x-via-root set by the root route: {[q.headers for q in seen]}")
            ups["v1"].clear()
            proxy.request(path="/web/hdr")
            seen = [q for q in ups["v1"].snapshot() if q.path == "/web/hdr"]
            check(len(seen) == 1 and seen[0].header("x-via-root") is None,
                  "the root's other route does not set x-via-root")

        step("-t lists the spliced routes; a missing delegate is an error with its place")
        with tempfile.TemporaryDirectory() as d:
            good = os.path.join(d, "good.yaml")
            with open(good, "w") as f:
                f.write(config)
            r = subprocess.run([canaryd_bin(), "-t", "-c", good], capture_output=True, text=True,
                               timeout=20)
            expect_eq(r.returncode, 0, f"-t exit status: {r.stderr}")
            check("delegated=api-beta<-team/api-routes,api-next<-team/api-routes,"
                  "api-stable<-team/api-routes" in r.stdout, r.stdout)
            check("VirtualService team/api-routes: delegate routes=3 used-by=default/mobile-api"
                  in r.stdout, r.stdout)
            bad = os.path.join(d, "bad.yaml")
            with open(bad, "w") as f:
                f.write("---\n".join([mesh_config(ups), ROOT]))
            r = subprocess.run([canaryd_bin(), "-t", "-c", bad], capture_output=True, text=True,
                               timeout=20)
            expect_eq(r.returncode, 1, "-t exit status without the delegate")
            want = "spec.http[0].delegate: delegate VirtualService team/api-routes is not defined"
            line = [x for x in r.stderr.splitlines() if want in x]
            check(line and line[0].startswith(bad + ":"), r.stderr)


run(main)
