#!/usr/bin/env python3
"""routing: match entries are OR'ed and the fields inside one entry AND'ed; the first
matching route wins (a later, more specific route never sees the request); no match -> 404;
the Istio semantics of the routing vectors (tests/data/routing.yaml): full-match regexes,
(?i), presence matches ({} and regex "*"), withoutHeaders satisfied by a missing header, the
first value of a repeated query parameter, and `exact: ""` for a parameter present without
a value."""
from canaryd_e2e import Canaryd, Upstreams, fail, mesh_config, run, run_cases, step, virtual_service

ROUTES = ["beta", "first", "second", "ali", "ichannel", "has-canary", "has-debug",
          "not-internal", "qcanary", "qflag", "default"]


def r(name):
    return f"route: [{{destination: {{host: mobile-api, subset: {name}}}}}]"


# Host "logic" exercises AND/OR and ordering and has no catch-all (404 when nothing matches);
# host "mobile-api" holds the vector cases with a default route at the end.
VS_LOGIC = f"""
- name: beta
  match:
  - {{method: {{exact: POST}}, headers: {{x-beta: {{exact: "yes"}}}}}}
  - {{uri: {{prefix: /beta/}}}}
  {r("beta")}
- name: first
  match: [{{uri: {{prefix: /a}}}}]
  {r("first")}
- name: second
  match: [{{uri: {{prefix: /a/b}}}}]
  {r("second")}
"""

VS_VECTORS = f"""
- name: ali
  match: [{{headers: {{x-user: {{regex: "ali"}}}}}}]
  {r("ali")}
- name: ichannel
  match: [{{headers: {{x-channel: {{regex: "(?i)beta"}}}}}}]
  {r("ichannel")}
- name: has-canary
  match: [{{headers: {{x-canary: {{}}}}}}]
  {r("has-canary")}
- name: has-debug
  match: [{{headers: {{x-debug: {{regex: "*"}}}}}}]
  {r("has-debug")}
- name: not-internal
  match: [{{uri: {{prefix: /ni}}, withoutHeaders: {{x-internal: {{exact: "1"}}}}}}]
  {r("not-internal")}
- name: qcanary
  match: [{{queryParams: {{canary: {{exact: "1"}}}}}}]
  {r("qcanary")}
- name: qflag
  match: [{{queryParams: {{debug: {{exact: ""}}}}}}]
  {r("qflag")}
- name: default
  {r("default")}
"""


def main():
    with Upstreams(*ROUTES) as ups:
        cfg = mesh_config(ups, virtual_service("logic", ["logic"], VS_LOGIC),
                          virtual_service("mobile-api", ["mobile-api"], VS_VECTORS))
        with Canaryd(cfg) as proxy:
            L = "logic"
            step("AND inside a match entry, OR between entries, first match wins, 404")
            run_cases(proxy, [
                ("POST and x-beta: yes (both fields)", {"method": "POST", "host": L,
                                                       "headers": [("x-beta", "yes")]}, "beta"),
                ("GET and x-beta: yes (one field only)", {"host": L,
                                                         "headers": [("x-beta", "yes")]}, 404),
                ("POST without x-beta (one field only)", {"method": "POST", "host": L,
                                                         "body": b"x"}, 404),
                ("second entry alone", {"path": "/beta/page", "host": L}, "beta"),
                ("first matching route wins", {"path": "/a/b/c", "host": L}, "first"),
                ("nothing matches", {"path": "/z", "host": L}, 404),
            ])
            if ups["second"].count():
                fail(f"route 'second' (after a broader prefix) got {ups['second'].snapshot()}")
            step("vector semantics (tests/data/routing.yaml)")
            run_cases(proxy, [
                ("regex must match the whole value", {"headers": [("x-user", "alice")]},
                 "default"),
                ("regex whole value", {"headers": [("x-user", "ali")]}, "ali"),
                ("(?i) regex", {"headers": [("x-channel", "BeTa")]}, "ichannel"),
                ("(?i) regex still full match", {"headers": [("x-channel", "betas")]},
                 "default"),
                ("presence {}", {"headers": [("x-canary", "anything")]}, "has-canary"),
                ("presence {} with an empty value", {"headers": [("x-canary", "")]},
                 "has-canary"),
                ("presence regex '*'", {"headers": [("x-debug", "1")]}, "has-debug"),
                ("no header", {}, "default"),
                ("withoutHeaders: header missing", {"path": "/ni"}, "not-internal"),
                ("withoutHeaders: other value", {"path": "/ni",
                                                 "headers": [("x-internal", "2")]},
                 "not-internal"),
                ("withoutHeaders: excluded value", {"path": "/ni",
                                                    "headers": [("x-internal", "1")]},
                 "default"),
                ("query exact", {"path": "/?canary=1"}, "qcanary"),
                ("query: first value counts", {"path": "/?x=0&canary=1&canary=2"}, "qcanary"),
                ("query: first value counts (no match)", {"path": "/?canary=2&canary=1"},
                 "default"),
                ("query exact '' = present without a value", {"path": "/?debug"}, "qflag"),
            ])


run(main)
