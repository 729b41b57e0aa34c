#!/usr/bin/env python3
"""regress: a response head that does not fit the client's output (the upstream's own
headers close to the 64 KiB limit, plus large headers the route adds) is answered 503
internal_error, complete and readable: none of the head that did not fit reaches the
client, the access log names the reason, and the next request, on a route without those
headers, is answered as usual."""
from canaryd_e2e import (Canaryd, Upstream, check, expect_eq, mesh_config, run, step,
                         virtual_service)

BIG = "b" * 15000
ADDS = "".join(f"x-added-{i}: {BIG}, " for i in range(10)).rstrip(", ")
VS = f"""
- match: [{{uri: {{prefix: /big}}}}]
  headers:
    response:
      add: {{{ADDS}}}
  route: [{{destination: {{host: mobile-api, subset: v1}}}}]
- route: [{{destination: {{host: mobile-api, subset: v1}}}}]
"""
# 60 KiB of the upstream's own headers: under the parser's limit on their own.
UP_HEADERS = [(f"x-up-{i}", "u" * 1000) for i in range(60)]


def main():
    with Upstream("v1", response_headers=UP_HEADERS) as v1:
        cfg = mesh_config({"v1": v1}, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy:
            step("a head of 60 KiB from the upstream plus 150 KiB added by the route")
            with proxy.conn() as c:
                r = c.request("GET", "/big")
                expect_eq(r.status, 503, "status of the head that does not fit")
                check(r.header("x-up-0") is None and r.header("x-added-0") is None,
                      f"no header of the head that did not fit: {list(r.headers)[:5]}")
                expect_eq(r.body, b"internal_error\n", "body")
            step("the next request, on a route without the added headers")
            with proxy.conn() as c:
                r = c.request("GET", "/small")
                expect_eq(r.status, 200, "status")
                expect_eq(r.header("x-up-59"), "u" * 1000, "the upstream's last header")
            lines = [a for a in proxy.wait_access_log(2) if a.get("path") == "/big"]
            expect_eq(len(lines), 1, "access log lines for /big")
            expect_eq(lines[0].get("status"), 503, "logged status")
            expect_eq(lines[0].get("flags"), "internal_error", "logged flags")


if __name__ == "__main__":
    run(main)
