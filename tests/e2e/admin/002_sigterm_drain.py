#!/usr/bin/env python3
"""admin: SIGTERM drain with --shutdown-delay 0. With a /slow/1500 request in flight, an
idle keep-alive connection and a keep-alive connection with a /slow/800 request in flight:
readiness turns 503 at once, new connections are refused once the drain started, the
idle keep-alive connection is closed, the busy one's response carries `Connection: close`
(and then it closes), the /slow/1500 request completes with 200, and the process exits 0
soon after the last request finished, well within --drain-timeout."""
import errno
import socket
import threading
import time

from canaryd_e2e import (Upstreams, check, expect_eq, expect_upstream, mesh_config, run,
                         slow_factor, step)
from ops_helpers import OpsCanaryd, wait_until, weighted_vs

DRAIN = 10


def connect_result(port):
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect(("127.0.0.1", port))
        return "connected"
    except OSError as e:
        return "refused" if e.errno == errno.ECONNREFUSED else f"error {e}"
    finally:
        s.close()


def main():
    with Upstreams("v1", "v2") as ups:
        cfg = mesh_config(ups, weighted_vs(100, 0))
        with OpsCanaryd(cfg, workers=2, drain_timeout=DRAIN,
                        extra_args=["--shutdown-delay", "0"]) as proxy:
            res = {}

            def slow():
                try:
                    res["slow"] = proxy.request(path="/slow/1500", timeout=10)
                except Exception as e:  # noqa: BLE001
                    res["slow_err"] = repr(e)

            step("open an idle keep-alive connection and a busy one")
            idle = proxy.conn(timeout=5)
            expect_upstream(idle.request("GET", "/idle/0"), "v1", "idle connection's first request")
            busy = proxy.conn(timeout=10)
            expect_upstream(busy.request("GET", "/busy/0"), "v1", "busy connection's first request")
            n0 = len(ups["v1"].heads)
            t = threading.Thread(target=slow, daemon=True)
            t.start()
            busy.send_request("GET", "/slow/800")
            check(wait_until(lambda: len(ups["v1"].heads) >= n0 + 2, 3),
                  "the slow requests did not reach v1")

            step("SIGTERM")
            t_term = time.monotonic()
            proxy.sigterm()
            t503 = None
            deadline = time.monotonic() + 0.5 * slow_factor()
            while time.monotonic() < deadline:
                try:
                    st, _ = proxy.admin_get("/internal/platform/readiness", timeout=1)
                except OSError as e:
                    st = f"error {e}"
                if st == 503:
                    t503 = time.monotonic() - t_term
                    break
                time.sleep(0.01)
            check(t503 is not None, f"readiness not 503 within {0.5 * slow_factor():.1f}s of "
                                    f"SIGTERM (last: {st})")
            print(f"  readiness 503 after {t503 * 1000:.0f} ms", flush=True)
            st, _ = proxy.admin_get("/internal/platform/liveness", timeout=1)
            expect_eq(st, 200, "liveness while draining")

            step("new connections are refused once the drain started (shutdown delay 0)")
            check(wait_until(lambda: connect_result(proxy.port) == "refused", 0.5, interval=0.01),
                  f"a new connection still got {connect_result(proxy.port)!r} "
                  f"{time.monotonic() - t_term:.2f}s after SIGTERM")

            step("the idle keep-alive connection is closed by canaryd")
            closed, extra = idle.wait_closed(2 * slow_factor())
            check(closed, "the idle keep-alive connection was not closed during the drain")
            expect_eq(extra, b"", "bytes sent on the idle connection before closing")

            step("the busy keep-alive connection's response carries Connection: close")
            r = busy.read_response()
            expect_upstream(r, "v1", "the in-flight /slow/800 on the keep-alive connection")
            check(r.has_token("connection", "close"),
                  f"response during the drain lacks Connection: close: {r.headers}")
            closed, extra = busy.wait_closed(2 * slow_factor())
            check(closed and not extra, f"busy connection after Connection: close: "
                                        f"closed={closed} extra={extra[:80]!r}")

            step("the /slow/1500 request completes with 200")
            t.join(10)
            check("slow_err" not in res, f"/slow/1500 failed during the drain: {res.get('slow_err')}")
            expect_upstream(res.get("slow"), "v1", "/slow/1500 during the drain")

            step("the process exits 0 soon after, within the drain timeout")
            rc = proxy.wait_exit(DRAIN + 2)
            took = time.monotonic() - t_term
            check(rc is not None, f"still running {took:.1f}s after SIGTERM "
                                  f"(--drain-timeout {DRAIN})")
            print(f"  exited with {rc} {took:.2f}s after SIGTERM", flush=True)
            expect_eq(rc, 0, "exit status after the drain")
            check(took < 1.5 + 1.5 * slow_factor(),
                  f"exit took {took:.2f}s although the last request ended at ~1.5s")
            idle.close()
            busy.close()


run(main)
