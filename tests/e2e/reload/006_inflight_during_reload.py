#!/usr/bin/env python3
"""reload: requests in flight finish on the snapshot they started with. A 24 MiB download
read slowly by the client (about 2.5 s) and a /slow/1500 request are in flight while
the config is reloaded five times (weights flipped to v2 and back); both complete intact
(status 200, from v1, every byte right), and new requests follow the new config."""
import hashlib
import threading
import time

from canaryd_e2e import (Upstreams, check, expect_eq, expect_upstream, mesh_config,
                         pattern_sha256, run, step)
from ops_helpers import OpsCanaryd, wait_until, weighted_vs

SIZE = 24 * 1024 * 1024
READ_SECS = 2.5


def slow_download(proxy, result):
    try:
        with proxy.conn(timeout=15) as c:
            c.send_request("GET", f"/big/{SIZE}")
            head = c.read_head()
            result["status"] = head.status
            result["upstream"] = head.header("x-upstream")
            result["length"] = head.header("content-length")
            h = hashlib.sha256()
            got = len(c.buf)
            h.update(bytes(c.buf))
            c.buf.clear()
            t0 = time.monotonic()
            while got < SIZE:
                data = c.sock.recv(min(65536, SIZE - got))
                if not data:
                    break
                h.update(data)
                got += len(data)
                ahead = got / SIZE * READ_SECS - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
            result["got"] = got
            result["sha256"] = h.hexdigest()
    except Exception as e:  # noqa: BLE001 - reported by the main thread
        result["error"] = repr(e)


def slow_request(proxy, result):
    try:
        with proxy.conn(timeout=15) as c:
            r = c.request("GET", "/slow/1500")
            result["status"] = r.status
            result["upstream"] = r.header("x-upstream")
            result["body"] = r.body
    except Exception as e:  # noqa: BLE001
        result["error"] = repr(e)


def main():
    with Upstreams("v1", "v2") as ups:
        c1 = mesh_config(ups, weighted_vs(100, 0))
        c2 = mesh_config(ups, weighted_vs(0, 100))
        with OpsCanaryd(c1, workers=2) as proxy:
            gen0 = proxy.generation()
            big, slow = {}, {}
            tb = threading.Thread(target=slow_download, args=(proxy, big), daemon=True)
            ts = threading.Thread(target=slow_request, args=(proxy, slow), daemon=True)
            step(f"start a {SIZE >> 20} MiB download read over ~{READ_SECS}s and a /slow/1500 request")
            tb.start()
            ts.start()
            check(wait_until(lambda: len(ups["v1"].heads) >= 2, 3),
                  "the in-flight requests did not reach v1")
            time.sleep(0.2)
            step("five reloads while they are in flight (v2, v1, v2, v1, v2)")
            for k in range(1, 6):
                proxy.write_config(c2 if k % 2 else c1)
                proxy.reload()
                check(wait_until(lambda: proxy.generation() == gen0 + k, 5),
                      f"reload {k} not applied")
                if k == 1:
                    check(tb.is_alive() and ts.is_alive(),
                          "harness: the requests were no longer in flight at the first reload")
                time.sleep(0.2)
            step("new requests follow the last config (v2) while the old ones are still running")
            expect_upstream(proxy.request(path="/new"), "v2", "new request after the reloads")
            tb.join(20)
            ts.join(10)
            check(not tb.is_alive() and not ts.is_alive(), "the in-flight requests did not finish")

            step("the download completed intact, from v1")
            check("error" not in big, f"download failed: {big.get('error')} (got {big.get('got')} bytes)")
            expect_eq(big.get("status"), 200, "download status")
            expect_eq(big.get("upstream"), "v1", "download x-upstream")
            expect_eq(big.get("got"), SIZE, "download bytes received")
            expect_eq(big.get("sha256"), pattern_sha256(SIZE), "download sha256")
            step("the /slow/1500 request completed with 200 from v1")
            check("error" not in slow, f"/slow/1500 failed: {slow.get('error')}")
            expect_eq((slow.get("status"), slow.get("upstream"), slow.get("body")),
                      (200, "v1", b"v1\n"), "/slow/1500 answer")


run(main)
