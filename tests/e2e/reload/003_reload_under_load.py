#!/usr/bin/env python3
"""reload: reloads under load. Four client threads on keep-alive connections send
requests non-stop while the config is reloaded 30 times (SIGHUP, weights alternating
100/0 and 0/100, each file replaced atomically): zero failed requests, zero non-2xx,
every answer from v1 or v2, no keep-alive connection closed by canaryd, and each
reload took effect (generation +30, 30 successes, both subsets served)."""
import os
import threading
import time

from canaryd_e2e import (ConnectionClosed, TestFailure, Upstreams, check, expect_eq,
                         mesh_config, run, slow_factor, step)
from ops_helpers import OpsCanaryd, wait_until, weighted_vs

THREADS = 4
RELOADS = 30
MIN_REQUESTS = 2000


def atomic_write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def main():
    with Upstreams("v1", "v2") as ups:
        cfgs = [mesh_config(ups, weighted_vs(100, 0)), mesh_config(ups, weighted_vs(0, 100))]
        with OpsCanaryd(cfgs[0], workers=2) as proxy:
            stop = threading.Event()
            lock = threading.Lock()
            stats = {"ok": 0, "non2xx": [], "failed": [], "bad_upstream": [], "closed": 0,
                     "v1": 0, "v2": 0}

            def client(tid):
                conn = None
                i = 0
                while not stop.is_set():
                    i += 1
                    try:
                        if conn is None:
                            conn = proxy.conn(timeout=10)
                        r = conn.request("GET", f"/t{tid}/{i}")
                    except (ConnectionClosed, TestFailure, OSError) as e:
                        with lock:
                            stats["failed"].append(f"thread {tid} request {i}: {e}")
                        if conn:
                            conn.close()
                        conn = None
                        continue
                    up = r.header("x-upstream")
                    with lock:
                        if not 200 <= r.status < 300:
                            stats["non2xx"].append(f"thread {tid} request {i}: {r.status} {r.body[:80]!r}")
                        elif up not in ("v1", "v2") or r.body != (up + "\n").encode():
                            stats["bad_upstream"].append(f"thread {tid} request {i}: x-upstream={up!r} body={r.body[:80]!r}")
                        else:
                            stats["ok"] += 1
                            stats[up] += 1
                    if r.has_token("connection", "close"):
                        with lock:
                            stats["closed"] += 1
                        conn.close()
                        conn = None
                if conn:
                    conn.close()

            threads = [threading.Thread(target=client, args=(t,), daemon=True) for t in range(THREADS)]
            gen0 = proxy.generation()
            succ0 = proxy.metrics().value("canaryd_config_reloads_total", result="success")
            step(f"{THREADS} keep-alive client threads start; {RELOADS} SIGHUPs with alternating weights")
            t0 = time.monotonic()
            for t in threads:
                t.start()
            slow_reloads = []
            try:
                time.sleep(0.2)
                for k in range(1, RELOADS + 1):
                    atomic_write(proxy.config_path, cfgs[k % 2])
                    proxy.reload()
                    if not wait_until(lambda: proxy.generation() >= gen0 + k, 5, interval=0.01):
                        slow_reloads.append(k)
                    time.sleep(0.03)
                # keep the load on until enough requests went through (bounded)
                deadline = time.monotonic() + 8 * slow_factor()
                while time.monotonic() < deadline:
                    with lock:
                        done = stats["ok"] + len(stats["non2xx"]) + len(stats["failed"])
                    if done >= MIN_REQUESTS:
                        break
                    time.sleep(0.05)
            finally:
                stop.set()
                for t in threads:
                    t.join(15)
            secs = time.monotonic() - t0
            total = stats["ok"] + len(stats["non2xx"]) + len(stats["failed"]) + len(stats["bad_upstream"])
            print(f"  {total} requests in {secs:.1f}s: ok={stats['ok']} v1={stats['v1']} "
                  f"v2={stats['v2']} non2xx={len(stats['non2xx'])} failed={len(stats['failed'])} "
                  f"bad_upstream={len(stats['bad_upstream'])} closed_by_canaryd={stats['closed']}",
                  flush=True)

            step("zero failed, zero non-2xx, every answer from v1 or v2")
            check(not stats["failed"], f"{len(stats['failed'])} failed requests, e.g. {stats['failed'][:5]}")
            check(not stats["non2xx"], f"{len(stats['non2xx'])} non-2xx answers, e.g. {stats['non2xx'][:5]}")
            check(not stats["bad_upstream"], f"{len(stats['bad_upstream'])} answers not from v1/v2, e.g. {stats['bad_upstream'][:5]}")
            check(total >= MIN_REQUESTS, f"only {total} requests went through (wanted {MIN_REQUESTS})")
            expect_eq(stats["closed"], 0, "keep-alive connections closed by canaryd (Connection: close) during reloads")

            step("every reload took effect: generation +30, 30 successes, both subsets served")
            check(not slow_reloads, f"reloads {slow_reloads} did not raise the generation within 5s")
            expect_eq(proxy.generation(), gen0 + RELOADS, "/config generation after 30 reloads")
            expect_eq(proxy.metrics().value("canaryd_config_reloads_total", result="success"),
                      succ0 + RELOADS, 'canaryd_config_reloads_total{result="success"}')
            check(stats["v1"] > 0 and stats["v2"] > 0,
                  f"both subsets should have served: v1={stats['v1']} v2={stats['v2']}")
            expect_eq(ups["v1"].count() + ups["v2"].count(), stats["ok"],
                      "requests the upstreams received vs answers the clients got")


run(main)
