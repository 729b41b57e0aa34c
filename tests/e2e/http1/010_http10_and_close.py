#!/usr/bin/env python3
"""http1: an HTTP/1.0 request gets a valid, non-chunked response and the connection closes;
HTTP/1.0 with `Connection: keep-alive` keeps it open for the next request; an HTTP/1.1
`Connection: close` is honoured (the response says close, the connection closes); curl
--http1.0 works end to end."""
import subprocess

from canaryd_e2e import (Canaryd, Upstreams, check, chunked_response_body, expect_eq,
                        expect_upstream, fail, mesh_config, route_to, run, step,
                        virtual_service)

VS = f"""
- name: default
  route: {route_to("v1")}
"""


def main():
    with Upstreams("v1") as ups:
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy:
            step("HTTP/1.0 GET: valid response, then close")
            with proxy.conn() as c:
                r = c.request("GET", "/", version="HTTP/1.0")
                check(r.version in ("HTTP/1.0", "HTTP/1.1"), f"response version {r.version}")
                expect_upstream(r, "v1", "HTTP/1.0 GET")
                closed, extra = c.wait_closed(2)
                check(closed and not extra, f"HTTP/1.0 connection not closed (extra {extra!r})")

            step("HTTP/1.0 GET of a chunked upstream response: de-chunked for the 1.0 client")
            with proxy.conn() as c:
                r = c.request("GET", "/chunked/4", version="HTTP/1.0")
                expect_eq(r.status, 200, "status")
                check(not r.chunked, "a chunked response was sent to an HTTP/1.0 client")
                expect_eq(r.body, chunked_response_body(4), "body")
                closed, _ = c.wait_closed(2)
                check(closed, "HTTP/1.0 connection not closed")

            step("HTTP/1.0 with Connection: keep-alive stays open")
            with proxy.conn() as c:
                r = c.request("GET", "/ka1", headers=[("Connection", "keep-alive")],
                              version="HTTP/1.0")
                expect_upstream(r, "v1", "HTTP/1.0 keep-alive request 1")
                check(r.has_token("connection", "keep-alive"),
                      f"no Connection: keep-alive in the answer: {r.headers}")
                check(r.header("content-length") is not None,
                      "a kept-alive HTTP/1.0 answer needs a Content-Length")
                r = c.request("GET", "/ka2", headers=[("Connection", "keep-alive")],
                              version="HTTP/1.0")
                expect_upstream(r, "v1", "HTTP/1.0 keep-alive request 2")

            step("HTTP/1.1 Connection: close is honoured")
            with proxy.conn() as c:
                r = c.request("GET", "/", headers=[("Connection", "close")])
                expect_upstream(r, "v1", "Connection: close request")
                check(r.has_token("connection", "close"),
                      f"the answer does not say Connection: close: {r.headers}")
                closed, extra = c.wait_closed(2)
                check(closed and not extra, "the connection stayed open after Connection: close")

            step("curl --http1.0")
            out = subprocess.run(["curl", "-sS", "--http1.0", "--max-time", "10", "-H",
                                  "Host: mobile-api", "-o", "-", "-w", "|%{http_code}",
                                  f"http://127.0.0.1:{proxy.port}/curl"],
                                 capture_output=True, text=True, timeout=20)
            if out.returncode != 0:
                fail(f"curl failed ({out.returncode}): {out.stderr}")
            expect_eq(out.stdout, "v1\n|200", "curl output")


run(main)
