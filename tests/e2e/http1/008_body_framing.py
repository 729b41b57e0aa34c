#!/usr/bin/env python3
"""http1: bodies in every framing pass intact. A chunked request body (chunks of 1 B to
70 KB, with a chunk extension and a trailer, an empty one) reaches the upstream intact; an
upstream chunked response reaches the client intact; a close-delimited upstream body and an
HTTP/1.0 upstream answer reach the client intact; the client connection stays in sync."""
import json

from canaryd_e2e import (Canaryd, Upstreams, check, chunk_encode, chunked_response_body,
                        expect_eq, expect_upstream, mesh_config, route_to, run, step,
                        virtual_service)

VS = f"""
- name: default
  route: {route_to("v1")}
"""


def upload_chunked(c, up, pieces, what, trailers=(), ext=None):
    body = b"".join(pieces)
    before = up.count()
    c.send_request("POST", "/upload", headers=[("Transfer-Encoding", "chunked")])
    c.send(chunk_encode(pieces, trailers, ext))
    r = c.read_response("POST")
    expect_eq(r.status, 200, f"{what}: status")
    got = json.loads(r.body)
    expect_eq(got["len"], len(body), f"{what}: body length at the upstream")
    q = up.snapshot()[before]
    expect_eq(q.body, body[:1 << 20], f"{what}: body bytes at the upstream")
    return q


def main():
    with Upstreams("v1") as ups:
        up = ups["v1"]
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy, proxy.conn() as c:
            step("chunked request body: chunks of 1, 10, 1000 and 70000 bytes")
            pieces = [b"a", b"0123456789", bytes(range(256)) * 4, b"z" * 70000]
            upload_chunked(c, up, pieces, "chunked request")
            step("chunked request with a chunk extension and a trailer")
            upload_chunked(c, up, [b"hello ", b"world"], "chunk-ext + trailer", ext="name=val",
                           trailers=[("X-Checksum", "abc")])
            step("empty chunked request body")
            upload_chunked(c, up, [], "empty chunked body")
            step("Content-Length request body")
            r = c.request("POST", "/upload", body=b"x" * 300000)
            expect_eq(json.loads(r.body)["len"], 300000, "CL body length at the upstream")

            step("chunked response of 50 chunks")
            r = c.request("GET", "/chunked/50")
            expect_eq(r.status, 200, "chunked response status")
            expect_eq(r.body, chunked_response_body(50), "chunked response body")
            step("a chunked response then a plain one on the same connection")
            expect_upstream(c.request("GET", "/after-chunked"), "v1", "request after chunked")

        with Canaryd(cfg) as proxy:
            step("close-delimited upstream body (no Content-Length, no chunked)")
            with proxy.conn() as c:
                r = c.request("GET", "/raw/closedelim")
                expect_eq(r.status, 200, "close-delimited status")
                want = b"".join(b"until-close line %04d\n" % i for i in range(200))
                expect_eq(r.body, want, "close-delimited body")
                check(r.header("content-length") in (None, str(len(want))),
                      f"close-delimited: wrong Content-Length {r.header('content-length')}")
            step("HTTP/1.0 upstream answer")
            with proxy.conn() as c:
                r = c.request("GET", "/raw/http10")
                expect_eq((r.status, r.body), (200, b"ok\n"), "HTTP/1.0 upstream answer")


run(main)
