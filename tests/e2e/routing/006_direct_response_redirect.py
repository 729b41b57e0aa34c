#!/usr/bin/env python3
"""routing: directResponse and redirect are answered by canaryd itself (status, body,
Location as Envoy builds it: scheme://authority/path), never reach an upstream, and keep the
client connection usable."""
from canaryd_e2e import (Canaryd, Upstreams, check, expect_eq, expect_upstream,
                        mesh_config, run, step, virtual_service)

VS = """
- name: gone
  match: [{uri: {exact: /gone}}]
  directResponse: {status: 410, body: {string: "gone for good\\n"}}
- name: teapot
  match: [{uri: {exact: /teapot}}]
  directResponse: {status: 418}
- name: moved
  match: [{uri: {prefix: /old}}]
  redirect: {uri: /new}
- name: moved-307
  match: [{uri: {exact: /tmp}}]
  redirect: {uri: /elsewhere, redirectCode: 307}
- name: other-host
  match: [{uri: {prefix: /away}}]
  redirect: {authority: other.example.com}
- name: to-https
  match: [{uri: {exact: /secure}}]
  redirect: {scheme: https, redirectCode: 308}
- name: default
  route: [{destination: {host: mobile-api, subset: v1}}]
"""


def main():
    with Upstreams("v1") as ups:
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy, proxy.conn() as c:
            step("directResponse with a body")
            r = c.request("GET", "/gone")
            expect_eq(r.status, 410, "GET /gone status")
            expect_eq(r.body, b"gone for good\n", "GET /gone body")
            expect_eq(r.header("content-length"), "14", "GET /gone Content-Length")

            step("directResponse without a body")
            r = c.request("GET", "/teapot")
            expect_eq(r.status, 418, "GET /teapot status")
            expect_eq(r.body, b"", "GET /teapot body")

            step("HEAD of a directResponse has no body")
            r = c.request("HEAD", "/gone")
            expect_eq(r.status, 410, "HEAD /gone status")

            cases = [
                ("/old/page", 301, "http://mobile-api/new"),
                ("/tmp", 307, "http://mobile-api/elsewhere"),
                ("/away/x?q=1", 301, "http://other.example.com/away/x?q=1"),
                ("/secure", 308, "https://mobile-api/secure"),
            ]
            for path, code, loc in cases:
                step(f"redirect GET {path} -> {code} {loc}")
                r = c.request("GET", path)
                expect_eq(r.status, code, f"GET {path} status")
                expect_eq(r.header("location"), loc, f"GET {path} Location")

            expect_eq(ups["v1"].count(), 0, "requests that reached the upstream")
            step("the same connection still proxies")
            expect_upstream(c.request("GET", "/"), "v1", "GET / after the direct answers")
            check(ups["v1"].count() == 1, "the upstream saw the last request")


run(main)
