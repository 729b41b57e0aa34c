#!/usr/bin/env python3
"""http1: what the upstream receives. X-Forwarded-For gets the client address appended,
X-Forwarded-Proto is http, X-Request-Id is kept when present and otherwise a fresh UUIDv4;
hop-by-hop headers (Connection, Keep-Alive, TE, Trailer, Upgrade without an upgrade,
Proxy-Connection and the headers Connection names) are removed in both directions; Host
is passed as sent."""
import re

from canaryd_e2e import (Canaryd, Upstreams, check, expect_eq, expect_upstream, header_values,
                        mesh_config, route_to, run, step, virtual_service)

VS = f"""
- name: default
  route: {route_to("v1")}
"""

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", re.I)


def last(up):
    return up.snapshot()[-1]


def main():
    with Upstreams("v1") as ups:
        up = ups["v1"]
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy, proxy.conn() as c:
            step("X-Forwarded-For set, X-Forwarded-Proto http, a new UUIDv4 X-Request-Id")
            expect_upstream(c.request("GET", "/a"), "v1", "GET /a")
            q = last(up)
            expect_eq(header_values(q.headers_all("x-forwarded-for")), ["127.0.0.1"],
                      "X-Forwarded-For")
            expect_eq(q.headers_all("x-forwarded-proto"), ["http"], "X-Forwarded-Proto")
            ids = q.headers_all("x-request-id")
            check(len(ids) == 1 and UUID4.match(ids[0]), f"X-Request-Id {ids} is not a UUIDv4")
            expect_upstream(c.request("GET", "/b"), "v1", "GET /b")
            id2 = last(up).headers_all("x-request-id")
            check(len(id2) == 1 and UUID4.match(id2[0]) and id2 != ids,
                  f"second X-Request-Id {id2} must be a different UUIDv4 (first {ids})")

            step("X-Forwarded-For appended, X-Request-Id kept")
            expect_upstream(c.request("GET", "/c", headers=[
                ("X-Forwarded-For", "203.0.113.7"), ("X-Request-Id", "my-trace-42")]), "v1",
                "GET /c")
            q = last(up)
            expect_eq(header_values(q.headers_all("x-forwarded-for")),
                      ["203.0.113.7", "127.0.0.1"], "X-Forwarded-For appended")
            expect_eq(q.headers_all("x-request-id"), ["my-trace-42"], "X-Request-Id kept")
            expect_eq(q.headers_all("x-forwarded-proto"), ["http"],
                      "X-Forwarded-Proto (one value)")

            step("hop-by-hop request headers removed, Host as sent")
            expect_upstream(c.request("GET", "/d", host="Mobile-API:8080", headers=[
                ("Connection", "keep-alive, X-Custom-Hop"), ("Keep-Alive", "timeout=5"),
                ("TE", "gzip"), ("Trailer", "X-Trailing"), ("Upgrade", "h2c"),
                ("Proxy-Connection", "keep-alive"), ("X-Custom-Hop", "secret"),
                ("X-Keep", "yes")]), "v1", "GET /d")
            q = last(up)
            names = q.header_names()
            for h in ("keep-alive", "te", "trailer", "upgrade", "proxy-connection",
                      "x-custom-hop"):
                check(h not in names, f"hop-by-hop header {h!r} reached the upstream: "
                      f"{q.headers}")
            conn_tokens = [t.lower() for t in header_values(q.headers_all("connection"))]
            check(set(conn_tokens) <= {"keep-alive", "close"},
                  f"the client's Connection tokens reached the upstream: {conn_tokens}")
            expect_eq(q.headers_all("x-keep"), ["yes"], "end-to-end header X-Keep")
            expect_eq(q.headers_all("host"), ["Mobile-API:8080"], "Host as sent")

            step("hop-by-hop response headers removed")
            r = c.request("GET", "/raw/hop")
            expect_eq((r.status, r.body), (200, b"ok\n"), "/raw/hop answer")
            names = [k.lower() for k, _ in r.headers]
            check("x-resp-hop" not in names, f"X-Resp-Hop (named in Connection) reached the "
                  f"client: {r.headers}")
            check("proxy-connection" not in names, f"Proxy-Connection reached the client: "
                  f"{r.headers}")
            check("timeout=99" not in r.headers_all("keep-alive"),
                  f"the upstream's Keep-Alive reached the client: {r.headers}")
            conn_tokens = [t.lower() for t in header_values(r.headers_all("connection"))]
            check(set(conn_tokens) <= {"keep-alive", "close"},
                  f"the upstream's Connection tokens reached the client: {conn_tokens}")
            expect_eq(r.headers_all("x-kept"), ["yes"], "end-to-end response header X-Kept")


run(main)
