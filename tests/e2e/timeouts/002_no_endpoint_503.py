#!/usr/bin/env python3
"""timeouts/errors: 503 when the destination has no endpoint: a DNS ServiceEntry whose only
endpoint name (nonexistent.invalid) does not resolve. The first requests may wait for the
resolver (or get 502/504); once resolution has failed the answer is 503. (A DestinationRule
subset whose labels select no endpoint of a STATIC ServiceEntry is rejected at load by
canaryd, so it cannot be used to make an empty subset.)"""
import time

from canaryd_e2e import (Canaryd, Upstreams, describe, expect_upstream, fail,
                        mesh_config, run, service_entry, slow_factor, step, virtual_service)

VS = """
- name: ghost
  match: [{uri: {prefix: /ghost}}]
  route: [{destination: {host: ghost.example.internal}}]
- name: default
  route: [{destination: {host: mobile-api, subset: v1}}]
"""


def main():
    with Upstreams("v1") as ups:
        ghost = service_entry("ghost", ["ghost.example.internal"],
                              [("nonexistent.invalid", 8080, {})], resolution="DNS")
        cfg = mesh_config(ups,
                          virtual_service("mobile-api", ["mobile-api"], VS)) + "---\n" + ghost
        with Canaryd(cfg) as proxy:
            step("DNS endpoint that does not resolve -> 503")
            deadline = time.monotonic() + 15 * slow_factor()
            seen = []
            while True:
                r = proxy.request("GET", "/ghost", timeout=15 * slow_factor())
                seen.append(r.status)
                if r.status == 503:
                    break
                if time.monotonic() > deadline:
                    fail(f"/ghost never answered 503 within 15 s: statuses {seen}, last "
                         f"{describe(r)}")
                if r.status not in (502, 504):
                    fail(f"/ghost: expected 503, got {describe(r)}")
                time.sleep(0.5)
            step(f"  statuses until 503: {seen}")
            expect_upstream(proxy.request("GET", "/"), "v1", "default route still works")


run(main)
