#!/usr/bin/env python3
"""http1: a WebSocket upgrade is tunnelled. The upstream gets the Upgrade and
Connection: upgrade headers, the client gets 101 with the upstream's Sec-WebSocket-Accept,
then bytes flow both ways (small and 256 KiB) until the client closes; canaryd keeps
serving afterwards."""
import base64
import hashlib
import os

from canaryd_e2e import (WS_GUID, Canaryd, Upstreams, check, expect_eq, expect_upstream,
                        header_values, mesh_config, route_to, run, step, virtual_service)

VS = f"""
- name: default
  route: {route_to("v1")}
"""


def main():
    with Upstreams("v1") as ups:
        up = ups["v1"]
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy:
            key = base64.b64encode(os.urandom(16)).decode()
            accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
            with proxy.conn() as c:
                step("Upgrade: websocket -> 101")
                c.send_request("GET", "/ws/chat", headers=[
                    ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                    ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")])
                r = c.read_head()
                expect_eq(r.status, 101, "upgrade status")
                expect_eq((r.header("upgrade") or "").lower(), "websocket", "Upgrade header")
                check(r.has_token("connection", "upgrade"), f"Connection header: {r.headers}")
                expect_eq(r.header("sec-websocket-accept"), accept, "Sec-WebSocket-Accept")
                q = up.heads[-1]
                expect_eq((q.header("upgrade") or "").lower(), "websocket",
                          "Upgrade at the upstream")
                check("upgrade" in [t.lower() for t in header_values(q.headers_all("connection"))],
                      f"Connection: upgrade not forwarded: {q.headers}")
                expect_eq(q.header("sec-websocket-key"), key, "Sec-WebSocket-Key at the upstream")

                step("bytes both ways")
                frame = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"  # masked "Hello"
                c.send(frame)
                got = b""
                while len(got) < len(frame):
                    data = c.read_available(2)
                    check(data, f"echo stalled after {len(got)} of {len(frame)} bytes")
                    got += data
                expect_eq(got, frame, "echoed frame")
                blob = os.urandom(256 * 1024)
                c.send(blob)
                got = b""
                while len(got) < len(blob):
                    data = c.read_available(2)
                    check(data, f"echo stalled after {len(got)} of {len(blob)} bytes")
                    got += data
                check(got == blob, f"256 KiB echo differs ({len(got)} bytes back)")
            step("canaryd still serves")
            expect_upstream(proxy.request("GET", "/after"), "v1", "GET after the tunnel")


run(main)
