#!/usr/bin/env python3
"""timeouts/errors: a client that goes away mid-exchange (while the upstream is still
thinking, in the middle of a large download, in the middle of an upload, or with a
pipelined request pending) does not hurt canaryd: it keeps serving, and a later request
never receives the abandoned request's answer (the upstream connection is not reused
while that answer is pending)."""
import socket
import struct
import time

from canaryd_e2e import (Canaryd, Upstreams, build_request, check, expect_eq, mesh_config,
                        route_to, run, step, virtual_service)

VS = f"""
- name: default
  route: {route_to("v1")}
"""


def abort(sock, rst):
    if rst:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def main():
    with Upstreams("v1") as ups:
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy:
            for rst in (False, True):
                how = "RST" if rst else "FIN"
                step(f"client closes ({how}) while the upstream takes 300 ms")
                c = proxy.conn()
                c.send(build_request("GET", "/slow/300"))
                time.sleep(0.05)
                abort(c.sock, rst)

                step(f"client closes ({how}) after 1 KiB of a 16 MiB download")
                c = proxy.conn()
                c.send(build_request("GET", f"/big/{16 << 20}"))
                got = b""
                while len(got) < 1024:
                    got += c.sock.recv(1024)
                abort(c.sock, rst)

                step(f"client closes ({how}) after 64 KiB of a 1 MiB upload")
                c = proxy.conn()
                c.send(build_request("POST", "/upload", headers=[("Content-Length",
                                                                  str(1 << 20))]))
                c.send(b"u" * 65536)
                time.sleep(0.05)
                abort(c.sock, rst)

                step(f"client closes ({how}) with a second pipelined request pending")
                c = proxy.conn()
                c.send(build_request("GET", "/slow/200") + build_request("GET", "/p2"))
                time.sleep(0.05)
                abort(c.sock, rst)

            step("later requests get their own answers")
            with proxy.conn() as c:
                for i in range(6):
                    r = c.request("GET", f"/later/{i}")
                    expect_eq((r.status, r.header("x-target")), (200, f"/later/{i}"),
                              f"later request {i} (status, answered request)")
                    time.sleep(0.1)
            check(proxy.alive(), "canaryd died")


run(main)
