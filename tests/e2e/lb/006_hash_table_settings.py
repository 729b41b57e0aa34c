#!/usr/bin/env python3
"""lb: consistentHash with Istio's ring settings, and localityLbSetting.

`ringHash: {minimumRingSize: ...}`, `maglev: {tableSize: ...}`, the older
`minimumRingSize` and `loadBalancer.localityLbSetting` are accepted with a warning that
says what canaryd does instead; `canaryd -t` prints those warnings and exits 0. Routing
keeps Istio's meaning of consistentHash: over three endpoints of one subset, each of 120
header values lands on one endpoint every time, and the values spread over all three.
"""
import os
import subprocess
import tempfile

from canaryd_e2e import (Canaryd, Upstream, canaryd_bin, check, closing, expect_eq,
                         mesh_config, route_to, run, step, virtual_service, HttpConn)

POLICY = """
loadBalancer:
  consistentHash:
    httpHeaderName: x-user
    ringHash: {minimumRingSize: 1024}
  localityLbSetting:
    enabled: true
"""


def config(ups):
    return mesh_config({"v1": ups}, virtual_service(
        "mobile-api", ["mobile-api"], f"- route: {route_to('v1')}"), traffic_policy=POLICY)


def check_warnings(cfg):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "c.yaml")
        with open(path, "w") as f:
            f.write(cfg)
        out = subprocess.run([canaryd_bin(), "-t", "-c", path], capture_output=True, text=True,
                             timeout=20)
    text = out.stdout + out.stderr
    expect_eq(out.returncode, 0, f"-t exit status (output: {text})")
    for want in ("consistentHash.ringHash: canaryd hashes with rendezvous hashing",
                 "loadBalancer.localityLbSetting: canaryd serves every endpoint of a subset"):
        check(want in text, f"-t must warn {want!r}; got:\n{text}")


def main():
    e1, e2, e3 = Upstream("e1"), Upstream("e2"), Upstream("e3")
    with closing(e1, e2, e3):
        cfg = config([e1, e2, e3])
        step("-t accepts the ring settings with warnings")
        check_warnings(cfg)
        with Canaryd(cfg, workers=2) as proxy:
            step("120 keys, 3 requests each on separate connections")
            seen = {}
            for n in range(3):
                for i in range(120):
                    with HttpConn(proxy.port) as c:
                        r = c.request("GET", f"/k/{i}", headers=[("X-User", f"user-{i}")])
                    expect_eq(r.status, 200, f"status for user-{i}")
                    seen.setdefault(i, set()).add(r.header("x-upstream"))
            flips = {k: v for k, v in seen.items() if len(v) != 1}
            check(not flips, f"keys that moved between endpoints: {list(flips.items())[:3]}")
            used = {next(iter(v)) for v in seen.values()}
            expect_eq(sorted(used), ["e1", "e2", "e3"], "endpoints the keys spread over")


run(main)
