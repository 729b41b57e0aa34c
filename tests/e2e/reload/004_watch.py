#!/usr/bin/env python3
"""reload: --watch. (a) A Kubernetes ConfigMap volume exactly as the kubelet writes it
(..TIMESTAMP/routes.yaml, ..data -> ..TIMESTAMP, routes.yaml -> ..data/routes.yaml),
updated by the kubelet's atomic ..data_tmp -> ..data rename: routing follows each swap
within a few seconds with exactly one reload per swap; a swap with identical content
does not reload. (b) A plain file (alone in its directory) edited in place, then replaced
by rename (an editor's atomic save): routing follows both."""
import os
import time

from canaryd_e2e import Upstreams, check, expect_eq, mesh_config, run, slow_factor, step
from ops_helpers import OpsCanaryd, reload_events, wait_until, weighted_vs

SETTLE = 1.2  # seconds to wait for extra (unwanted) reloads after a change took effect


def routed_to(proxy, name):
    try:
        r = proxy.request(path="/probe", timeout=2)
    except Exception:  # noqa: BLE001 - a failed probe just means "not yet"
        return False
    return r.status == 200 and r.header("x-upstream") == name


def wait_routed(proxy, name, what):
    t0 = time.monotonic()
    ok = wait_until(lambda: routed_to(proxy, name), 5, interval=0.05)
    secs = time.monotonic() - t0
    check(ok, f"{what}: routing did not switch to {name} within {5 * slow_factor():.0f}s "
              f"(reload events: {reload_events(proxy)[-3:]})")
    # the switch must be complete: every following request goes there too
    for i in range(10):
        r = proxy.request(path=f"/after/{i}")
        check(r.status == 200 and r.header("x-upstream") == name,
              f"{what}: request {i} after the switch went to {r.header('x-upstream')!r} "
              f"(status {r.status}), expected {name}")
    print(f"  {what}: routing switched to {name} after {secs:.2f}s", flush=True)


def configmap_part(ups):
    cfgs = {w: {"routes.yaml": mesh_config(ups, weighted_vs(*w))} for w in ((100, 0), (0, 100))}
    with OpsCanaryd(cfgs[(100, 0)], configmap=True, extra_args=["--watch"]) as proxy:
        cm = proxy.cm
        step(f"ConfigMap layout in {cm.path}: {sorted(os.listdir(cm.path))}")
        check(os.readlink(os.path.join(cm.path, "..data")) == "..2026_11_25_00_00_00.1",
              "harness: ..data symlink")
        check(routed_to(proxy, "v1"), "before any swap: expected v1")
        base_ok = len(reload_events(proxy, "ok"))
        gen = proxy.generation()
        order = [(0, 100), (100, 0), (0, 100)]
        for k, w in enumerate(order, 1):
            want = "v2" if w == (0, 100) else "v1"
            step(f"swap {k}: atomic ..data swap to weights {w[0]}/{w[1]}")
            proxy.write_config(cfgs[w])
            wait_routed(proxy, want, f"swap {k}")
            time.sleep(SETTLE)
            expect_eq(len(reload_events(proxy, "ok")), base_ok + k,
                      f"reload events with result ok after swap {k} (exactly one per swap)")
            expect_eq(proxy.generation(), gen + k, f"/config generation after swap {k}")
        check(not reload_events(proxy, "failed"),
              f"failed reloads during swaps: {reload_events(proxy, 'failed')}")
        step("a swap whose content is identical does not reload")
        n_all = len(reload_events(proxy))
        proxy.write_config(cfgs[order[-1]])
        time.sleep(SETTLE)
        expect_eq(len(reload_events(proxy)), n_all,
                  "reload events after a swap with identical content")
        expect_eq(proxy.generation(), gen + len(order), "generation after an identical swap")
        check(routed_to(proxy, "v2"), "after the identical swap: expected v2 still")
        step("the identical swap removed the old version directory, and a real change still works")
        proxy.write_config(cfgs[(100, 0)])
        wait_routed(proxy, "v1", "swap after the identical one")


def plain_file_part(ups):
    v1 = mesh_config(ups, weighted_vs(100, 0))
    v2 = mesh_config(ups, weighted_vs(0, 100))
    with OpsCanaryd(v1, own_dir=True, extra_args=["--watch"]) as proxy:
        path = proxy.config_path
        check(os.listdir(os.path.dirname(path)) == ["canaryd.yaml"], "harness: config dir")
        check(routed_to(proxy, "v1"), "plain file: expected v1 at start")
        ok0 = len(reload_events(proxy, "ok"))
        step(f"plain file {os.path.basename(path)} rewritten in place (same inode)")
        ino = os.stat(path).st_ino
        with open(path, "r+") as f:
            f.seek(0)
            f.write(v2)
            f.truncate()
        check(os.stat(path).st_ino == ino, "harness: inode changed")
        wait_routed(proxy, "v2", "in-place edit")
        time.sleep(SETTLE)
        n = len(reload_events(proxy, "ok")) - ok0
        check(n >= 1, "in-place edit: no reload event with result ok")
        print(f"  in-place edit: {n} reload(s) with result ok", flush=True)
        step("the same file replaced by rename (editor's atomic save): the watch survives")
        tmp = path + ".swp-new"
        with open(tmp, "w") as f:
            f.write(v1)
        os.rename(tmp, path)
        wait_routed(proxy, "v1", "rename over the file")
        step("and once more in place after the rename (the watch follows the new inode)")
        with open(path, "w") as f:
            f.write(v2)
        wait_routed(proxy, "v2", "in-place edit after the rename")
        check(not reload_events(proxy, "failed"),
              f"failed reloads while editing: {reload_events(proxy, 'failed')}")


def main():
    with Upstreams("v1", "v2") as ups:
        configmap_part(ups)
        plain_file_part(ups)


run(main)
