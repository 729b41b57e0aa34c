#!/usr/bin/env python3
"""regress: running out of file descriptors pauses accepting for 100 ms; a SIGTERM (drain)
during that pause must not touch the freed listener, and canaryd exits cleanly.

Setup: canaryd runs with RLIMIT_NOFILE 48, clients open connections each with a slow
request in flight until accept() fails with EMFILE (canaryd logs "pausing accepts"), then
SIGTERM while those requests are still running.

Bug found: lsn_pause() (worker.c) schedules on_lsn_resume with event_base_once(..., l);
the drain (worker_drain -> lsn_close_all -> lsn_free) frees the listener but never cancels
that timer, so 100 ms later on_lsn_resume writes l->is_paused and event_add()s l->ev in
freed memory: AddressSanitizer heap-use-after-free in on_lsn_resume. The same happens when
a reload removes a Gateway listener (lsn_del) while it is paused. Needs the ASan build to
be seen reliably."""
import functools
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import canaryd_e2e  # noqa: E402
from canaryd_e2e import (Canaryd, Upstream, check, fail, run,  # noqa: E402
                         sanitizer_report, step)
from regress_helpers import single_route_config  # noqa: E402

NOFILE = 48


def _limit_fds():
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


def main():
    socks = []
    real_popen = subprocess.Popen
    with Upstream("v1") as up:
        canaryd_e2e.subprocess.Popen = functools.partial(real_popen, preexec_fn=_limit_fds)
        try:
            proxy = Canaryd(single_route_config(up), workers=1, drain_timeout=4)
            proxy.__enter__()
        finally:
            canaryd_e2e.subprocess.Popen = real_popen
        try:
            step(f"canaryd limited to {NOFILE} descriptors; open connections with slow "
                 f"requests until accepts fail")
            for _ in range(40):
                s = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
                socks.append(s)
                s.sendall(b"GET /slow/2500 HTTP/1.1\r\nHost: mobile-api\r\n\r\n")
                time.sleep(0.02)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and "pausing accepts" not in proxy.stderr_text():
                time.sleep(0.05)
            check("pausing accepts" in proxy.stderr_text(),
                  "setup: canaryd never ran out of descriptors (no 'pausing accepts' log)")
            step("SIGTERM while accepts are paused and requests are in flight")
            os.kill(proxy.pid, signal.SIGTERM)
            try:
                rc = proxy.proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                rc = None
            report = sanitizer_report(proxy.stderr_text() + "\n" + proxy.stdout_text())
            if report or rc != 0:
                proxy.print_logs()
                fail(f"canaryd after SIGTERM during an accept pause: exit status {rc}"
                     + (f"; sanitizer report:\n{report}" if report else ""))
            shutil.rmtree(proxy.dir, ignore_errors=True)
        finally:
            for s in socks:
                s.close()
            proxy._kill()


run(main)
