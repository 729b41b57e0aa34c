#!/usr/bin/env python3
"""reload: --watch on a config file whose directory also holds a file that is written
continuously (an application log next to the config, a busy /etc): unrelated events in
the directory must not postpone the reload forever; an edit of the config file is picked
up within a few seconds."""
import os
import threading
import time

from canaryd_e2e import Upstreams, check, mesh_config, run, step
from ops_helpers import OpsCanaryd, wait_until, weighted_vs


def routed_to(proxy, name):
    try:
        r = proxy.request(path="/probe", timeout=2)
    except Exception:  # noqa: BLE001 - a failed probe just means "not yet"
        return False
    return r.status == 200 and r.header("x-upstream") == name


def check_busy_dir(ups):
    v1 = mesh_config(ups, weighted_vs(100, 0))
    v2 = mesh_config(ups, weighted_vs(0, 100))
    with OpsCanaryd(v1, own_dir=True, extra_args=["--watch"]) as proxy:
        path = proxy.config_path
        sibling = os.path.join(os.path.dirname(path), "app.log")
        stop = threading.Event()

        def scribble():
            with open(sibling, "a") as f:
                while not stop.is_set():
                    f.write("a log line\n")
                    f.flush()
                    time.sleep(0.1)

        t = threading.Thread(target=scribble, daemon=True)
        t.start()
        try:
            time.sleep(0.3)
            step("config edited while app.log in the same directory gets a line every 100 ms")
            with open(path, "w") as f:
                f.write(v2)
            t0 = time.monotonic()
            if not wait_until(lambda: routed_to(proxy, "v2"), 5, interval=0.05):
                stop.set()
                t.join(2)
                t1 = time.monotonic()
                later = wait_until(lambda: routed_to(proxy, "v2"), 3, interval=0.05)
                why = (f"it switched {time.monotonic() - t1:.1f}s after app.log stopped "
                       f"changing: the unrelated writes kept postponing the reload"
                       if later else "it did not switch even after app.log stopped changing")
                check(False, f"config edit next to a busy file: routing did not switch to "
                             f"v2 within {time.monotonic() - t0 - (time.monotonic() - t1):.0f}s "
                             f"while app.log was written every 100 ms; {why}")
            print(f"  switched to v2 after {time.monotonic() - t0:.2f}s", flush=True)
            for i in range(5):
                check(routed_to(proxy, "v2"), f"request {i} after the switch not from v2")
        finally:
            stop.set()
            t.join(2)


def main():
    with Upstreams("v1", "v2") as ups:
        check_busy_dir(ups)


run(main)
