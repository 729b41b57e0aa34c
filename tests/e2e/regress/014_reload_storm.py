#!/usr/bin/env python3
"""regress (guard, passes today): 60 SIGHUPs 50 ms apart, cycling a config routing to v1, one
routing to v2 and an invalid one (unknown field), while 4 keep-alive clients run GETs of
plain, slow, 300 KB and chunked responses. Every request gets a 200 (from v1 or v2, never
an error, reset or truncated body), the invalid configs are counted as failures, the
last valid config wins, and canaryd stays clean under ASan."""
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from canaryd_e2e import (Canaryd, Upstreams, chunked_response_body, fail, mesh_config,  # noqa: E402
                         pattern_sha256, route_to, run, step, virtual_service)
import hashlib  # noqa: E402


def cfg(subset):
    return lambda ups: mesh_config(ups, virtual_service("mobile-api", ["mobile-api"],
                                                        f"- route: {route_to(subset)}"))


def main():
    with Upstreams("v1", "v2") as ups:
        good1, good2 = cfg("v1")(ups), cfg("v2")(ups)
        bad = good1.replace("subset: v1}", "subset: v1, weigth: 3}")
        if bad == good1:
            fail("setup: could not build the invalid config")
        with Canaryd(good1, workers=2) as proxy:
            stop = threading.Event()
            outcomes, lock = {}, threading.Lock()
            big_sha = pattern_sha256(300000)

            def load():
                paths = ["/", "/slow/100", "/big/300000", "/chunked/5"]
                while not stop.is_set():
                    try:
                        with proxy.conn(timeout=5) as c:
                            for i in range(20):
                                path = paths[i % 4]
                                r = c.request("GET", path)
                                ok = r.status == 200
                                if path.startswith("/big"):
                                    ok = ok and hashlib.sha256(r.body).hexdigest() == big_sha
                                if path.startswith("/chunked"):
                                    ok = ok and r.body == chunked_response_body(5)
                                key = "ok" if ok else f"{path}:{r.status}:{len(r.body)}"
                                with lock:
                                    outcomes[key] = outcomes.get(key, 0) + 1
                    except Exception as e:  # noqa: BLE001 - counted and reported
                        with lock:
                            outcomes[type(e).__name__] = outcomes.get(type(e).__name__, 0) + 1

            step("60 SIGHUPs (valid v1, valid v2, invalid) under load")
            threads = [threading.Thread(target=load) for _ in range(4)]
            for t in threads:
                t.start()
            try:
                for i in range(60):
                    proxy.write_config([good1, good2, bad][i % 3])
                    os.kill(proxy.pid, signal.SIGHUP)
                    time.sleep(0.05)
                proxy.write_config(good2)
                os.kill(proxy.pid, signal.SIGHUP)
                time.sleep(1.0)
            finally:
                stop.set()
                for t in threads:
                    t.join(10)
            print(f"  outcomes: {outcomes}", flush=True)
            if set(outcomes) != {"ok"}:
                fail(f"requests failed during the reload storm: {outcomes}")
            fails = proxy.metrics().get("canaryd_config_reloads_total", result="failure")
            if fails is None or int(fails) < 1:
                fail(f"invalid reloads not counted: {fails!r}")
            step("the last valid config (v2) is active")
            r = proxy.request()
            if r.header("x-upstream") != "v2":
                fail(f"after the storm: expected v2, got {r.status} {r.header('x-upstream')}")


run(main)
