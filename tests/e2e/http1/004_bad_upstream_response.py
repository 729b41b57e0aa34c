#!/usr/bin/env python3
"""http1: a malformed upstream response is answered with 502 and never relayed: a bad
status line, non-HTTP bytes, Content-Length with Transfer-Encoding, two differing
Content-Length values, a malformed Content-Length, a header section over 64 KiB. The client
connection stays usable or is closed cleanly; canaryd keeps serving."""
from canaryd_e2e import (Canaryd, ConnectionClosed, Upstreams, describe, expect_upstream, fail,
                        mesh_config, route_to, run, step, virtual_service)

VS = f"""
- name: default
  route: {route_to("v1")}
"""

CASES = [("bad status line", "badstatus"), ("not HTTP at all", "garbage"),
         ("Content-Length + Transfer-Encoding", "clte"),
         ("two differing Content-Length", "twocl"), ("malformed Content-Length", "badcl"),
         ("header section over 64 KiB", "bighdr")]


def main():
    with Upstreams("v1") as ups:
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy:
            failures = []
            for what, name in CASES:
                with proxy.conn() as c:
                    try:
                        r = c.request("GET", f"/raw/{name}")
                    except ConnectionClosed as e:
                        failures.append(f"{what}: no response ({e}); expected 502")
                        continue
                    ok = r.status == 502
                    print(f"  {'ok  ' if ok else 'FAIL'} {what}: {describe(r)}", flush=True)
                    if not ok:
                        failures.append(f"{what}: expected 502, got {describe(r)}")
                        continue
                    if b"hello" in r.body or b"aaaa" in r.body:
                        failures.append(f"{what}: the 502 body carries upstream bytes")
                    if not r.has_token("connection", "close"):
                        # the client connection may stay open: it must still work
                        try:
                            expect_upstream(c.request("GET", "/next"), "v1",
                                            f"{what}: next request on the same connection")
                        except Exception as e:  # noqa: BLE001
                            failures.append(str(e))
            if failures:
                fail("\n  ".join(failures))
            step("canaryd still serves on a new connection")
            expect_upstream(proxy.request("GET", "/after"), "v1", "GET after bad responses")


run(main)
