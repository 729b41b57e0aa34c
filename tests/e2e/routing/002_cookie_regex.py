#!/usr/bin/env python3
"""routing: the seed's cookie regex `^(.*?;)?(email=[^;]*@example.com)(;.*)?$` routes a tester
to v2 when the email cookie is first or follows ';' without a space, and misses it after
"; " (falls to the default route, v1, exactly as Istio does); the robust regex
`^(.*?;\\s*)?(email=[^;]*@example\\.com)(;.*)?$` finds it anywhere; several Cookie lines are
joined with "; " before matching."""
from canaryd_e2e import Canaryd, Upstreams, mesh_config, run, run_cases, step, virtual_service

VS = r"""
- name: testers-seed
  match:
  - uri: {prefix: /seed}
    headers:
      cookie: {regex: "^(.*?;)?(email=[^;]*@example.com)(;.*)?$"}
  route: [{destination: {host: mobile-api, subset: v2}}]
- name: testers-robust
  match:
  - uri: {prefix: /robust}
    headers:
      cookie: {regex: "^(.*?;\\s*)?(email=[^;]*@example\\.com)(;.*)?$"}
  route: [{destination: {host: mobile-api, subset: v2}}]
- name: both-lines
  match: [{uri: {prefix: /joined}, headers: {cookie: {regex: "^a=1; b=2$"}}}]
  route: [{destination: {host: mobile-api, subset: v2}}]
- name: default
  route: [{destination: {host: mobile-api, subset: v1}}]
"""


def ck(path, *cookies):
    return {"path": path, "headers": [("Cookie", c) for c in cookies]}


def main():
    with Upstreams("v1", "v2") as ups:
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy:
            step("seed regex (Istio idiom)")
            run_cases(proxy, [
                ("email cookie alone", ck("/seed", "email=joe@example.com"), "v2"),
                ("email cookie first", ck("/seed", "email=joe@example.com; theme=dark"), "v2"),
                ("after ';' without space", ck("/seed", "session=1;email=joe@example.com"), "v2"),
                ("after '; ' is missed (Istio trap)",
                 ck("/seed", "session=1; email=joe@example.com"), "v1"),
                ("after '; ' with more cookies is missed",
                 ck("/seed", "session=1; email=joe@example.com; theme=dark"), "v1"),
                ("other domain", ck("/seed", "email=joe@example.org"), "v1"),
                ("unescaped dot matches any char", ck("/seed", "email=joe@exampleXcom"), "v2"),
                ("no cookie", ck("/seed"), "v1"),
            ])
            step("robust regex")
            run_cases(proxy, [
                ("after '; '", ck("/robust", "session=1; email=joe@example.com"), "v2"),
                ("after '; ' with more cookies",
                 ck("/robust", "session=1; email=joe@example.com; theme=dark"), "v2"),
                ("first", ck("/robust", "email=joe@example.com; theme=dark"), "v2"),
                ("escaped dot", ck("/robust", "email=joe@exampleXcom"), "v1"),
                ("no cookie", ck("/robust"), "v1"),
            ])
            step("two Cookie lines are matched as 'a=1; b=2'")
            run_cases(proxy, [
                ("two lines", ck("/joined", "a=1", "b=2"), "v2"),
                ("one line", ck("/joined", "a=1; b=2"), "v2"),
                ("only the first", ck("/joined", "a=1"), "v1"),
            ])


run(main)
