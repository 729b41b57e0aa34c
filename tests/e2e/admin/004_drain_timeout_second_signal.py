#!/usr/bin/env python3
"""admin: the drain is bounded. (1) --drain-timeout 1 with a request stuck for 5 s
(/slow/5000): canaryd exits 0 about 1 s after SIGTERM. (2) --drain-timeout 10 with a
request stuck for 5 s: a second SIGTERM exits at once (not killed by a signal)."""
import threading
import time

from canaryd_e2e import Upstreams, check, expect_eq, mesh_config, run, slow_factor, step
from ops_helpers import OpsCanaryd, wait_until, weighted_vs


def stuck_request(proxy, res):
    try:
        res["resp"] = proxy.request(path="/slow/5000", timeout=10)
    except Exception as e:  # noqa: BLE001
        res["err"] = repr(e)


def start_stuck(proxy, ups):
    res = {}
    n = len(ups["v1"].heads)
    t = threading.Thread(target=stuck_request, args=(proxy, res), daemon=True)
    t.start()
    check(wait_until(lambda: len(ups["v1"].heads) > n, 3), "the stuck request did not reach v1")
    return t, res


def main():
    with Upstreams("v1", "v2") as ups:
        cfg = mesh_config(ups, weighted_vs(100, 0))

        step("--drain-timeout 1, a request stuck for 5 s, SIGTERM: exit 0 after ~1 s")
        with OpsCanaryd(cfg, drain_timeout=1) as proxy:
            t, res = start_stuck(proxy, ups)
            t0 = time.monotonic()
            proxy.sigterm()
            rc = proxy.wait_exit(1 + 4 * slow_factor())
            took = time.monotonic() - t0
            check(rc is not None, f"still running {took:.1f}s after SIGTERM with --drain-timeout 1")
            print(f"  exited with {rc} after {took:.2f}s", flush=True)
            expect_eq(rc, 0, "exit status after the drain timeout")
            check(0.8 <= took <= 1 + 0.8 * slow_factor(),
                  f"exit {took:.2f}s after SIGTERM, expected about 1 s (--drain-timeout 1)")
            t.join(6)
            print(f"  the stuck client saw: {res.get('err') or res.get('resp')}", flush=True)

        step("--drain-timeout 10, a request stuck for 5 s, SIGTERM then a second SIGTERM: exit at once")
        # any exit status is acceptable for the immediate exit (expect_rc=None)
        with OpsCanaryd(cfg, drain_timeout=10, expect_rc=None) as proxy:
            t, res = start_stuck(proxy, ups)
            proxy.sigterm()
            check(wait_until(lambda: proxy.admin_get("/internal/platform/readiness")[0] == 503, 1),
                  "readiness not 503 after the first SIGTERM")
            time.sleep(0.3)
            check(proxy.alive(), "canaryd exited on the first SIGTERM although a request was in flight")
            t0 = time.monotonic()
            proxy.sigterm()
            rc = proxy.wait_exit(3 * slow_factor())
            took = time.monotonic() - t0
            check(rc is not None, f"still running {took:.1f}s after the second SIGTERM")
            print(f"  exited with {rc} {took * 1000:.0f} ms after the second SIGTERM", flush=True)
            check(rc >= 0, f"killed by signal {-rc} on the second SIGTERM (expected an exit)")
            check(took <= 0.5 * slow_factor(), f"exit took {took:.2f}s after the second SIGTERM")
            t.join(6)


run(main)
