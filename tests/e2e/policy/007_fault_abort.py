#!/usr/bin/env python3
"""policy: fault abort. `fault.abort {httpStatus: 418, percentage: {value: 50}}` over
2,000 requests aborts a binomially plausible share (within 4.5 standard deviations of
1,000); each abort is canaryd's own answer 418 with the body "fault filter abort" and the
access-log flag fault_abort and never reaches the upstream; the others are proxied
normally (200 from the upstream, no flag). percentage 100 aborts all, 0 none, 10 about a
tenth."""
from canaryd_e2e import Canaryd, Upstream, check, expect_eq, fail, run, step
from policy_helpers import binomial_bounds, flags_of, load, policy_config, vs


def route(prefix, status, pct):
    return f"""
- name: {prefix}
  match: [{{uri: {{prefix: /{prefix}/}}}}]
  fault: {{abort: {{httpStatus: {status}, percentage: {{value: {pct}}}}}}}
  route: [{{destination: {{host: mobile-api, subset: v1}}}}]
"""


ROUTES = (route("half", 418, 50) + route("all", 503, 100) + route("none", 500, 0)
          + route("tenth", 429, 10.0))


def run_share(proxy, up, prefix, n, p, status):
    up.clear()
    res = load(proxy.port, [{"path": f"/{prefix}/{i}"} for i in range(n)], conns=4)
    aborted = [r for r in res if r.status == status]
    passed = [r for r in res if r.status == 200 and r.upstream == "v1"]
    other = [r for r in res if r not in aborted and r not in passed]
    check(not other, f"/{prefix}: expected only {status} (abort) or 200 (proxied), got "
                     f"{other[:5]}")
    lo, hi = binomial_bounds(n, p)
    step(f"/{prefix}: {len(aborted)} of {n} aborted with {status} (expected {n * p:.0f}, "
         f"accepted {max(lo, 0):.0f}..{min(hi, n):.0f}); upstream saw {up.count()}")
    if not lo <= len(aborted) <= hi:
        fail(f"/{prefix} ({p * 100:g}%): {len(aborted)} of {n} aborted, outside the binomial "
             f"tolerance {lo:.0f}..{hi:.0f}")
    expect_eq(up.count(), len(passed), f"/{prefix}: requests the upstream saw (aborted ones "
                                       f"must not reach it)")
    bad_body = [r.body for r in aborted if r.body.strip() != b"fault filter abort"]
    check(not bad_body, f"/{prefix}: abort body: expected 'fault filter abort', got "
                        f"{bad_body[:3]}")
    return res


def main():
    with Upstream("v1") as up:
        cfg = policy_config({"v1": up}, vs(ROUTES))
        with Canaryd(cfg, workers=1) as proxy:
            run_share(proxy, up, "half", 2000, 0.5, 418)
            run_share(proxy, up, "all", 200, 1.0, 503)
            run_share(proxy, up, "none", 200, 0.0, 500)
            run_share(proxy, up, "tenth", 2000, 0.1, 429)
            total = 2000 + 200 + 200 + 2000
            log = proxy.wait_access_log(total)
            expect_eq(len(log), total, "access-log lines")
            wrong = []
            for line in log:
                aborted = line.get("status") in (418, 503, 429)
                has = "fault_abort" in flags_of(line)
                if aborted != has:
                    wrong.append(line)
            check(not wrong, f"{len(wrong)} access-log lines where the fault_abort flag does "
                             f"not match an abort, e.g. {wrong[:2]}")
            step("every aborted request logged with flag fault_abort, no other one")


run(main)
