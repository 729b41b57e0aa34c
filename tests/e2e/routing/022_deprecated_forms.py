#!/usr/bin/env python3
"""routing: Istio's deprecated forms that real files still use are acted on.

- `fault.abort.percent` / `fault.delay.percent` (integers): 100 aborts (delays) every
  request, 0 none; when `percentage` is also given it wins, as in Istio.
- `mirrorPercent` (and `mirror_percent`): 100 mirrors every request, 0 none.
- `websocketUpgrade: true` is accepted, with a warning from -t that says canaryd always
  tunnels upgrades.
- One `canaryd -t` run over two files reports the unknown field of the first and the
  undefined subset of the second, each with file:line:col.
"""
import os
import subprocess
import tempfile
import time

from canaryd_e2e import Canaryd, Upstream, canaryd_bin, check, expect_eq, run, step
from policy_helpers import load, policy_config, vs

ROUTES = """
- name: abort-all
  match: [{uri: {prefix: /abort100/}}]
  fault: {abort: {httpStatus: 418, percent: 100}}
  route: [{destination: {host: mobile-api, subset: v1}}]
- name: abort-none
  match: [{uri: {prefix: /abort0/}}]
  fault: {abort: {httpStatus: 418, percent: 0}}
  route: [{destination: {host: mobile-api, subset: v1}}]
- name: newer-wins
  match: [{uri: {prefix: /both/}}]
  fault: {abort: {httpStatus: 418, percent: 100, percentage: {value: 0}}}
  route: [{destination: {host: mobile-api, subset: v1}}]
- name: delay-all
  match: [{uri: {prefix: /delay/}}]
  fault: {delay: {fixedDelay: 300ms, percent: 100}}
  route: [{destination: {host: mobile-api, subset: v1}}]
- name: mirror-all
  match: [{uri: {prefix: /m100/}}]
  mirror: {host: mobile-api, subset: shadow}
  mirrorPercent: 100
  route: [{destination: {host: mobile-api, subset: v1}}]
- name: mirror-none
  match: [{uri: {prefix: /m0/}}]
  mirror: {host: mobile-api, subset: shadow}
  mirror_percent: 0
  route: [{destination: {host: mobile-api, subset: v1}}]
- name: ws
  websocketUpgrade: true
  route: [{destination: {host: mobile-api, subset: v1}}]
"""


def copies(up, prefix):
    return [h for h in up.heads if h.target.startswith(prefix)]


def check_t_output(cfg):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "vs.yaml")
        with open(path, "w") as f:
            f.write(cfg)
        out = subprocess.run([canaryd_bin(), "-t", "-c", path], capture_output=True, text=True,
                             timeout=20)
    text = out.stdout + out.stderr
    expect_eq(out.returncode, 0, f"-t exit status (output: {text})")
    check("websocketUpgrade: canaryd always tunnels an Upgrade" in text,
          f"-t must warn about websocketUpgrade; got:\n{text}")


def check_all_errors_in_one_run():
    step("-t over two files reports both files' errors")
    bad_field = """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsetz: []
"""
    bad_ref = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: ratings, subset: v9}
"""
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "a-dr.yaml"), "w") as f:
            f.write(bad_field)
        with open(os.path.join(d, "b-vs.yaml"), "w") as f:
            f.write(bad_ref)
        out = subprocess.run([canaryd_bin(), "-t", "-c", d], capture_output=True, text=True,
                             timeout=20)
    text = out.stdout + out.stderr
    expect_eq(out.returncode, 1, "-t exit status for an invalid config")
    check("a-dr.yaml:6:3: error: spec.subsetz: unknown field" in text,
          f"missing the first file's error; got:\n{text}")
    check("b-vs.yaml:8:44: error: spec.http[0].route[0].destination.subset: subset \"v9\""
          in text, f"missing the second file's error; got:\n{text}")


def main():
    with Upstream("v1") as prim, Upstream("shadow") as sh:
        cfg = policy_config({"v1": prim, "shadow": sh}, vs(ROUTES))
        check_t_output(cfg)
        with Canaryd(cfg, workers=1) as proxy:
            step("fault abort percent 100 / 0 / with percentage 0")
            res = load(proxy.port, [{"path": f"/abort100/{i}"} for i in range(50)], conns=2)
            expect_eq(sorted({r.status for r in res}), [418], "statuses with percent: 100")
            res = load(proxy.port, [{"path": f"/abort0/{i}"} for i in range(50)], conns=2)
            expect_eq(sorted({r.status for r in res}), [200], "statuses with percent: 0")
            res = load(proxy.port, [{"path": f"/both/{i}"} for i in range(50)], conns=2)
            expect_eq(sorted({r.status for r in res}), [200],
                      "statuses with percent: 100 and percentage 0 (the newer form wins)")
            step("fault delay percent 100")
            t0 = time.monotonic()
            res = load(proxy.port, [{"path": "/delay/1"}], conns=1)
            took = time.monotonic() - t0
            expect_eq(res[0].status, 200, "delayed request status")
            check(took >= 0.29, f"delay percent 100: the request took {took:.3f}s, "
                                f"expected the 300ms delay")
            step("mirrorPercent 100 and mirror_percent 0")
            sh.clear()
            load(proxy.port, [{"path": f"/m100/{i}"} for i in range(40)], conns=2)
            load(proxy.port, [{"path": f"/m0/{i}"} for i in range(40)], conns=2)
            deadline = time.monotonic() + 3
            while len(copies(sh, "/m100/")) < 40 and time.monotonic() < deadline:
                time.sleep(0.05)
            expect_eq(len(copies(sh, "/m100/")), 40, "copies with mirrorPercent: 100")
            expect_eq(len(copies(sh, "/m0/")), 0, "copies with mirror_percent: 0")
    check_all_errors_in_one_run()


if __name__ == "__main__":
    run(main)
