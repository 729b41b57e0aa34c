#!/usr/bin/env python3
"""http1: no body is forwarded after a 204, a 304 or a response to HEAD, even when the
upstream (wrongly) sends bytes after it or announces a Content-Length; canaryd does not wait
for such a body. On the same client connection, the next response must start right after
the bodiless one (any stray byte would break the next status line)."""
import time

from canaryd_e2e import (Canaryd, Upstreams, check, expect_eq, expect_upstream, fail, mesh_config,
                        route_to, run, slow_factor, step, virtual_service)

VS = f"""
- name: default
  route: {route_to("v1")}
"""

CASES = [
    ("GET", "/status/204", 204, None),
    ("GET", "/raw/204body", 204, None),
    ("GET", "/status/304", 304, None),
    ("GET", "/raw/304cl", 304, None),
    ("GET", "/raw/304body", 304, None),
    ("HEAD", "/", 200, "3"),
    ("HEAD", "/big/1000", 200, "1000"),
    ("HEAD", "/raw/headbody", 200, "17"),
    ("HEAD", "/chunked/3", 200, None),
]


def main():
    with Upstreams("v1") as ups:
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy:
            for method, path, status, cl in CASES:
                step(f"{method} {path} -> {status} without a body, then GET on the same connection")
                with proxy.conn(timeout=5 * slow_factor()) as c:
                    t0 = time.monotonic()
                    r = c.request(method, path)
                    took = time.monotonic() - t0
                    expect_eq(r.status, status, f"{method} {path} status")
                    check(took < 2.5 * slow_factor(),
                          f"{method} {path}: answer took {took:.2f}s (waiting for a body?)")
                    if cl is not None:
                        expect_eq(r.header("content-length"), cl,
                                  f"{method} {path}: Content-Length passed through")
                    try:
                        nxt = c.request("GET", "/next")
                    except Exception as e:  # noqa: BLE001
                        fail(f"after {method} {path}: the next response is broken ({e}); "
                             "were bytes after a bodiless response relayed?")
                    expect_upstream(nxt, "v1", f"GET after {method} {path}")


run(main)
