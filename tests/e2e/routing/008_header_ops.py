#!/usr/bin/env python3
"""routing: `headers` request/response set/add/remove, at route level and at destination
level (per picked destination of a 1/1 split). Checked on what the upstream receives and
on what the client receives. `set` replaces, `add` appends to what is there, `remove`
deletes (names case-insensitive)."""
from canaryd_e2e import (Canaryd, Upstream, check, expect_eq, fail, header_values,
                        mesh_config, run, step, virtual_service)

VS = """
- name: ops
  headers:
    request:
      set: {x-set: route-set, x-overwrite: new}
      add: {x-add: route-add}
      remove: [x-remove-me, X-Remove-Too]
    response:
      set: {x-resp-set: rs}
      add: {x-resp-add: ra}
      remove: [x-upstream-secret]
  route:
  - destination: {host: mobile-api, subset: v1}
    weight: 1
    headers:
      request: {set: {x-dest: d1}}
      response: {set: {x-dest-resp: dr1}}
  - destination: {host: mobile-api, subset: v2}
    weight: 1
    headers:
      request: {set: {x-dest: d2}}
      response: {set: {x-dest-resp: dr2}}
"""

UP_HEADERS = [("x-upstream-secret", "s3cret"), ("x-resp-set", "from-upstream"),
              ("x-resp-add", "from-upstream")]


def main():
    with Upstream("v1", response_headers=UP_HEADERS) as v1, \
            Upstream("v2", response_headers=UP_HEADERS) as v2:
        ups = {"v1": v1, "v2": v2}
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy, proxy.conn() as c:
            seen = set()
            for i in range(20):
                r = c.request("GET", f"/h/{i}", headers=[
                    ("X-Overwrite", "old"), ("x-add", "client"), ("x-remove-me", "1"),
                    ("x-remove-too", "2"), ("x-keep", "kept")])
                sub = r.header("x-upstream")
                if r.status != 200 or sub not in ups:
                    fail(f"request {i}: expected 200 from v1 or v2, got {r.status} {sub!r}")
                seen.add(sub)
                got = [q for q in ups[sub].snapshot() if q.path == f"/h/{i}"]
                check(len(got) == 1, f"request {i}: upstream {sub} has {len(got)} records")
                q = got[0]
                if i == 0:
                    step(f"request side at the upstream: {q.headers}")
                    step(f"response side at the client: {r.headers}")
                w = f"request {i} -> {sub}"
                expect_eq(q.headers_all("x-set"), ["route-set"], f"{w}: x-set (route set)")
                expect_eq(q.headers_all("x-overwrite"), ["new"],
                          f"{w}: x-overwrite (route set replaces the client's)")
                expect_eq(sorted(header_values(q.headers_all("x-add"))), ["client", "route-add"],
                          f"{w}: x-add (route add appends)")
                expect_eq(q.headers_all("x-remove-me"), [], f"{w}: x-remove-me (route remove)")
                expect_eq(q.headers_all("x-remove-too"), [],
                          f"{w}: x-remove-too (remove is case-insensitive)")
                expect_eq(q.headers_all("x-keep"), ["kept"], f"{w}: x-keep untouched")
                expect_eq(q.headers_all("x-dest"), ["d1" if sub == "v1" else "d2"],
                          f"{w}: x-dest (destination-level set of the picked destination)")
                expect_eq(r.headers_all("x-resp-set"), ["rs"],
                          f"{w}: client x-resp-set (route response set)")
                expect_eq(sorted(header_values(r.headers_all("x-resp-add"))),
                          ["from-upstream", "ra"], f"{w}: client x-resp-add (response add)")
                expect_eq(r.headers_all("x-upstream-secret"), [],
                          f"{w}: client x-upstream-secret (response remove)")
                expect_eq(r.headers_all("x-dest-resp"), ["dr1" if sub == "v1" else "dr2"],
                          f"{w}: client x-dest-resp (destination-level response set)")
            check(seen == {"v1", "v2"}, f"a 1/1 split over 20 requests reached only {seen}")


run(main)
