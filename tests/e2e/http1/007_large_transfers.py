#!/usr/bin/env python3
"""http1: a 64 MiB download and a 64 MiB upload stream through canaryd intact (length and
sha256) while canaryd's RSS grows by less than 16 MiB, sampled every 50 ms during the
transfer. The receiving side reads at 32 MiB/s, slower than the sender, so a proxy without
backpressure (or one that buffers whole bodies) would grow by tens of MiB."""
import hashlib
import json
import os
import socket
import threading
import time

from canaryd_e2e import (Canaryd, Upstreams, check, expect_eq, is_sanitized, mesh_config,
                        pattern_chunks, pattern_sha256, route_to, run, slow_factor, step,
                        virtual_service)

SIZE = 64 << 20
RATE = 32 << 20  # bytes per second at the slow reader
LIMIT_KIB = 16 << 10

VS = f"""
- name: default
  route: {route_to("v1")}
"""


class RssSampler:
    def __init__(self, proxy):
        self.proxy = proxy
        self.max = 0
        self.samples = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.max = max(self.max, self.proxy.rss_kib())
                self.samples += 1
            except OSError:
                return
            self._stop.wait(0.05)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *a):
        self._stop.set()
        self._t.join()
        return False


def read_body_slowly(c, n, rate):
    """Reads n body bytes from HttpConn c at about `rate` bytes/s; returns (len, sha256)."""
    h = hashlib.sha256()
    got = 0
    if c.buf:
        first = bytes(c.buf[:n])
        del c.buf[:len(first)]
        h.update(first)
        got += len(first)
    start = time.monotonic()
    while got < n:
        data = c.sock.recv(min(262144, n - got))
        if not data:
            break
        h.update(data)
        got += len(data)
        ahead = got / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
    return got, h.hexdigest()


def main():
    env = {}
    if is_sanitized():
        # ASan keeps freed memory in a 256 MiB quarantine by default, which shows up as RSS
        # growth that is not canaryd's buffering; keep it small for this measurement.
        env["ASAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS", ""),
                                                     "quarantine_size_mb=4",
                                                     "thread_local_quarantine_size_kb=64"]))
    want_sha = pattern_sha256(SIZE)
    with Upstreams("v1") as ups:
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg, env=env) as proxy:
            tmo = 10 * slow_factor()
            step("warm-up: 4 MiB each way")
            with proxy.conn(timeout=tmo) as c:
                r = c.request("GET", "/big/4194304")
                expect_eq(len(r.body), 4 << 20, "warm-up download length")
                r = c.request("POST", "/upload", body=b"w" * (4 << 20))
                expect_eq(json.loads(r.body)["len"], 4 << 20, "warm-up upload length")

            base = proxy.rss_kib()
            step(f"64 MiB download read at 32 MiB/s (RSS before: {base} KiB)")
            with proxy.conn(timeout=tmo) as c, RssSampler(proxy) as s:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
                t0 = time.monotonic()
                c.send_request("GET", f"/big/{SIZE}")
                r = c.read_head()
                expect_eq(r.status, 200, "download status")
                expect_eq(r.header("content-length"), str(SIZE), "download Content-Length")
                n, sha = read_body_slowly(c, SIZE, RATE)
                took = time.monotonic() - t0
            grow = s.max - base
            step(f"  {n} bytes in {took:.1f}s; RSS max {s.max} KiB (+{grow} KiB, "
                 f"{s.samples} samples)")
            expect_eq(n, SIZE, "downloaded length")
            expect_eq(sha, want_sha, "downloaded sha256")
            check(grow < LIMIT_KIB, f"RSS grew by {grow} KiB during the download "
                  f"(limit {LIMIT_KIB} KiB): the body is being buffered")

            base = proxy.rss_kib()
            step(f"64 MiB upload, upstream reads at 32 MiB/s (RSS before: {base} KiB)")
            with proxy.conn(timeout=tmo) as c, RssSampler(proxy) as s:
                t0 = time.monotonic()
                c.send_request("POST", f"/upload?rate={RATE}",
                               headers=[("Content-Length", str(SIZE))])
                for piece in pattern_chunks(SIZE):
                    c.send(piece)
                r = c.read_response("POST")
                took = time.monotonic() - t0
            grow = s.max - base
            step(f"  {SIZE} bytes in {took:.1f}s; RSS max {s.max} KiB (+{grow} KiB, "
                 f"{s.samples} samples)")
            expect_eq(r.status, 200, "upload status")
            got = json.loads(r.body)
            expect_eq(got["len"], SIZE, "uploaded length at the upstream")
            expect_eq(got["sha256"], want_sha, "uploaded sha256 at the upstream")
            check(grow < LIMIT_KIB, f"RSS grew by {grow} KiB during the upload "
                  f"(limit {LIMIT_KIB} KiB): the body is being buffered")


run(main)
