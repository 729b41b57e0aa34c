#!/usr/bin/env python3
"""http1: malformed request heads get 400 and a closed connection and never reach the
upstream: obs-fold, bare CR, NUL and other control characters in a header value or name,
whitespace before the colon or inside a name, a line without a colon, a missing or
duplicated Host on HTTP/1.1, an invalid method token, a malformed HTTP version."""
from canaryd_e2e import (Canaryd, Upstreams, check_rejections, expect_eq, expect_upstream,
                        mesh_config, route_to, run, step, virtual_service)


def head(extra, line=b"GET /target HTTP/1.1", host=True):
    h = line + b"\r\n" + (b"Host: mobile-api\r\n" if host else b"")
    return h + extra + b"\r\n"


CASES = [
    ("obs-fold (space)", head(b"X-Foo: a\r\n b\r\n")),
    ("obs-fold (tab)", head(b"X-Foo: a\r\n\tb\r\n")),
    ("obs-fold on the first header", b"GET / HTTP/1.1\r\n Host: mobile-api\r\n\r\n"),
    ("bare CR inside a value", head(b"X-Foo: a\rb\r\n")),
    ("bare CR as a line end", head(b"X-Foo: a\rX-Bar: b\r\n")),
    ("NUL in a value", head(b"X-Foo: a\x00b\r\n")),
    ("SOH in a value", head(b"X-Foo: a\x01b\r\n")),
    ("ESC in a value", head(b"X-Foo: a\x1bb\r\n")),
    ("DEL in a value", head(b"X-Foo: a\x7fb\r\n")),
    ("control character in a name", head(b"X-F\x01oo: a\r\n")),
    ("NUL in the target", b"GET /a\x00b HTTP/1.1\r\nHost: mobile-api\r\n\r\n"),
    ("space before the colon", head(b"X-Foo : a\r\n")),
    ("tab before the colon", head(b"X-Foo\t: a\r\n")),
    ("space inside a name", head(b"X Foo: a\r\n")),
    ("empty name", head(b": a\r\n")),
    ("line without a colon", head(b"X-Foo a\r\n")),
    ("missing Host on HTTP/1.1", head(b"", host=False)),
    ("two Host headers", head(b"Host: other.example.com\r\n")),
    ("invalid method token '@'", head(b"", line=b"G@T /target HTTP/1.1")),
    ("invalid method token '('", head(b"", line=b"GE(T /target HTTP/1.1")),
    ("empty method", head(b"", line=b" /target HTTP/1.1")),
    ("version HTTP/1.x", head(b"", line=b"GET /target HTTP/1.x")),
    ("version HTTX/1.1", head(b"", line=b"GET /target HTTX/1.1")),
    ("version http/1.1 (lower case)", head(b"", line=b"GET /target http/1.1")),
    ("version HTTP/11", head(b"", line=b"GET /target HTTP/11")),
    ("no version (HTTP/0.9 style)", head(b"", line=b"GET /target")),
]

VS = f"""
- name: default
  route: {route_to("v1")}
"""


def main():
    with Upstreams("v1") as ups:
        up = ups["v1"]
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy:
            step("a valid request passes (control)")
            expect_upstream(proxy.request("GET", "/ok", headers=[("X-Foo", "a b\tc")]), "v1",
                            "valid GET with a space and a tab inside a value")
            up.clear()
            step("malformed heads: 400 and close")
            check_rejections(proxy, [(w, raw, 400) for w, raw in CASES])
            expect_eq([q.target for q in up.heads], [], "request heads that reached the upstream")
            step("canaryd still serves")
            expect_upstream(proxy.request("GET", "/after"), "v1", "GET after the bad inputs")


run(main)
