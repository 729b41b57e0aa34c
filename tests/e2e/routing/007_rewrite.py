#!/usr/bin/env python3
"""routing: rewrite.uri replaces the matched prefix (or the whole path after an exact match)
and keeps the query; rewrite.authority replaces Host; without a rewrite the upstream gets
the path and Host as sent. Checked on what the upstream receives."""
from canaryd_e2e import (Canaryd, Upstreams, expect_eq, expect_upstream, mesh_config, run,
                        step, virtual_service)

VS = """
- name: api
  match: [{uri: {prefix: /api/}}]
  rewrite: {uri: /v2/}
  route: [{destination: {host: mobile-api, subset: v2}}]
- name: exact
  match: [{uri: {exact: /old-login}}]
  rewrite: {uri: /login}
  route: [{destination: {host: mobile-api, subset: v1}}]
- name: authority
  match: [{uri: {prefix: /auth}}]
  rewrite: {authority: backend.internal}
  route: [{destination: {host: mobile-api, subset: v1}}]
- name: both
  match: [{uri: {prefix: /both/}}]
  rewrite: {uri: /, authority: "backend.internal:8080"}
  route: [{destination: {host: mobile-api, subset: v1}}]
- name: default
  route: [{destination: {host: mobile-api, subset: v1}}]
"""


def main():
    with Upstreams("v1", "v2") as ups:
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        cases = [
            ("/api/users?x=1", "v2", "/v2/users?x=1", "mobile-api"),
            ("/old-login?next=/", "v1", "/login?next=/", "mobile-api"),
            ("/auth/x?y=2", "v1", "/auth/x?y=2", "backend.internal"),
            ("/both/a/b", "v1", "/a/b", "backend.internal:8080"),
            ("/plain/path?z=%20", "v1", "/plain/path?z=%20", "mobile-api"),
        ]
        with Canaryd(cfg) as proxy, proxy.conn() as c:
            for path, sub, target, host in cases:
                step(f"GET {path} -> {sub} receives {target} with Host {host}")
                before = ups[sub].count()
                expect_upstream(c.request("GET", path), sub, f"GET {path}")
                got = ups[sub].snapshot()[before]
                expect_eq(got.target, target, f"GET {path}: target at the upstream")
                expect_eq(got.headers_all("host"), [host], f"GET {path}: Host at the upstream")


run(main)
