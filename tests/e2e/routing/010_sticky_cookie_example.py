#!/usr/bin/env python3
"""routing: the Flagger-style sticky canary of conf/sticky-cookie.yaml. The canary
destination sets `canary=v2` on its responses; a client that sends the cookie back
stays on v2 on every request, whatever the 90/10 draw; clients without it split."""
import os
import re

from canaryd_e2e import Canaryd, Upstreams, check, expect_eq, run, step

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "..", "conf", "sticky-cookie.yaml")


def main():
    with Upstreams("v1", "v2") as ups:
        cfg = open(EXAMPLE).read()
        cfg = cfg.replace("http: 9001", f"http: {ups['v1'].port}")
        cfg = cfg.replace("http: 9002", f"http: {ups['v2'].port}")
        with Canaryd(cfg) as proxy:
            step("without the cookie: the 90/10 split, and v2 answers carry Set-Cookie")
            got, cookie = {}, None
            with proxy.conn() as c:
                for _ in range(400):
                    r = c.request("GET", "/")
                    who = r.header("x-upstream")
                    got[who] = got.get(who, 0) + 1
                    sc = r.header("set-cookie")
                    if who == "v2":
                        check(sc is not None and sc.startswith("canary=v2"),
                              f"a v2 answer must set the canary cookie, got {sc!r}")
                        cookie = sc.split(";")[0]
                    else:
                        check(sc is None, f"a v1 answer must not set a cookie, got {sc!r}")
            step(f"split without cookie: {got}")
            check(set(got) == {"v1", "v2"} and 10 <= got["v2"] <= 90,
                  f"expected roughly 40 of 400 on v2, got {got}")
            step(f"with {cookie!r} (after another cookie, as browsers send it): always v2")
            with proxy.conn() as c:
                for _ in range(200):
                    r = c.request("GET", "/", headers=[("cookie", f"session=abc; {cookie}")])
                    expect_eq(r.header("x-upstream"), "v2", "sticky request")
                    check(re.search(r"canary=v2", r.header("set-cookie") or "") is None,
                          "the sticky route itself sets no cookie")


run(main)
