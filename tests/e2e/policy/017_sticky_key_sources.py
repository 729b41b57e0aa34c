#!/usr/bin/env python3
"""policy: the other split-key sources, 50/50 weights (so a random pick would flip often):
  header:X-User  - 300 keys, each sent 3 times (header name in another case, on other
                   connections): always the same subset; both subsets used;
  query:uid      - the same with ?uid=KEY (other query parameters around it);
  source-ip      - 60 client source addresses 127.0.0.x, 3 connections each: always the
                   same subset per address; both subsets used.
Requests without the key (no header / no uid) still reach both subsets."""
from canaryd_e2e import Canaryd, Upstream, check, fail, run, step
from policy_helpers import SourceConn, load, policy_config, vs

ROUTES = """
- name: split
  route:
  - destination: {host: mobile-api, subset: v1}
    weight: 50
  - destination: {host: mobile-api, subset: v2}
    weight: 50
"""


def stable(label, keys, answers):
    """answers: list per key of the upstream names it got."""
    flips = [(k, a) for k, a in zip(keys, answers) if len(set(a)) != 1]
    used = {x for a in answers for x in a}
    step(f"{label}: {len(keys) - len(flips)}/{len(keys)} keys stable; subsets used {sorted(used)}")
    if flips:
        fail(f"{label}: {len(flips)} keys got different subsets, e.g. {flips[:3]}")
    check(used == {"v1", "v2"}, f"{label}: expected keys on both subsets (50/50), got {used}")


def main():
    with Upstream("v1") as v1, Upstream("v2") as v2:
        for src, spec_of in (
                ("header:X-User", lambda k, n: {"path": f"/h/{n}",
                                                "headers": [(("X-User", "x-user", "X-USER")[n],
                                                             k)]}),
                ("query:uid", lambda k, n: {"path": (f"/q?uid={k}", f"/q?a=1&uid={k}",
                                                     f"/q?uid={k}&z=9")[n]})):
            cfg = policy_config({"v1": v1, "v2": v2},
                                vs(ROUTES, annotations={"canaryd.io/split-key": src}))
            with Canaryd(cfg, workers=2) as proxy:
                keys = [f"key-{i}" for i in range(300)]
                runs = [load(proxy.port, [spec_of(k, n) for k in keys], conns=3)
                        for n in range(3)]
                for rr in runs:
                    bad = [r for r in rr if r.status != 200]
                    check(not bad, f"{src}: expected 200, got {bad[:3]}")
                stable(src, keys, [[rr[i].upstream for rr in runs] for i in range(len(keys))])
                res = load(proxy.port, [{"path": "/nokey"} for _ in range(200)], conns=1)
                used = {r.upstream for r in res}
                check(used == {"v1", "v2"}, f"{src}: requests without the key must split at "
                                            f"random, all 200 went to {used}")

        cfg = policy_config({"v1": v1, "v2": v2},
                            vs(ROUTES, annotations={"canaryd.io/split-key": "source-ip"}))
        with Canaryd(cfg, workers=2) as proxy:
            addrs = [f"127.0.0.{i}" for i in range(2, 62)]
            answers = []
            for a in addrs:
                got = []
                for n in range(3):
                    with SourceConn(proxy.port, a) as c:
                        r = c.request("GET", f"/ip/{n}")
                        check(r.status == 200, f"source-ip {a}: status {r.status}")
                        got.append(r.header("x-upstream"))
                answers.append(got)
            stable("source-ip", addrs, answers)


run(main)
