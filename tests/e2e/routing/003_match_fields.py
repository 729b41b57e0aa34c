#!/usr/bin/env python3
"""routing: every HTTPMatchRequest field, each route sending to its own upstream: uri
exact/prefix/regex (full match, query ignored), ignoreUriCase, method, authority
exact/prefix/regex, headers exact/prefix/regex (names case-insensitive, values not),
queryParams exact/regex, withoutHeaders, scheme (plain listener = http) and port (the
listener's port)."""
from canaryd_e2e import (Canaryd, Upstreams, fail, mesh_config, run, run_cases, step,
                        virtual_service)

ROUTES = ["scheme-https", "uri-exact", "uri-prefix", "uri-regex", "ignore-case", "method",
          "authority-exact", "authority-prefix", "authority-regex", "header-exact",
          "header-prefix", "header-regex", "query-exact", "query-regex", "without",
          "scheme-http", "port-other", "port-listen", "default"]


def vs(listen_port, other_port):
    def r(name):
        return f"route: [{{destination: {{host: mobile-api, subset: {name}}}}}]"
    return f"""
- name: scheme-https
  match: [{{scheme: {{exact: https}}}}]
  {r("scheme-https")}
- name: uri-exact
  match: [{{uri: {{exact: /exact}}}}]
  {r("uri-exact")}
- name: uri-prefix
  match: [{{uri: {{prefix: /prefix/}}}}]
  {r("uri-prefix")}
- name: uri-regex
  match: [{{uri: {{regex: "/items/[0-9]+"}}}}]
  {r("uri-regex")}
- name: ignore-case
  match: [{{uri: {{exact: /Login}}, ignoreUriCase: true}}]
  {r("ignore-case")}
- name: method
  match: [{{method: {{exact: DELETE}}}}]
  {r("method")}
- name: authority-exact
  match: [{{authority: {{exact: auth.example.com}}}}]
  {r("authority-exact")}
- name: authority-prefix
  match: [{{authority: {{prefix: pre.}}}}]
  {r("authority-prefix")}
- name: authority-regex
  match: [{{authority: {{regex: "r[0-9]+\\\\.example\\\\.com"}}}}]
  {r("authority-regex")}
- name: header-exact
  match: [{{headers: {{x-env: {{exact: prod}}}}}}]
  {r("header-exact")}
- name: header-prefix
  match: [{{headers: {{User-Agent: {{prefix: MobileApp/2.}}}}}}]
  {r("header-prefix")}
- name: header-regex
  match: [{{headers: {{x-user-id: {{regex: "[0-9]*[02468]"}}}}}}]
  {r("header-regex")}
- name: query-exact
  match: [{{queryParams: {{canary: {{exact: "1"}}}}}}]
  {r("query-exact")}
- name: query-regex
  match: [{{queryParams: {{group: {{regex: "beta-[a-z]+"}}}}}}]
  {r("query-regex")}
- name: without
  match: [{{uri: {{prefix: /without}}, withoutHeaders: {{x-internal: {{exact: "1"}}}}}}]
  {r("without")}
- name: scheme-http
  match: [{{uri: {{prefix: /scheme}}, scheme: {{exact: http}}}}]
  {r("scheme-http")}
- name: port-other
  match: [{{uri: {{prefix: /port}}, port: {other_port}}}]
  {r("port-other")}
- name: port-listen
  match: [{{uri: {{prefix: /port}}, port: {listen_port}}}]
  {r("port-listen")}
- name: default
  {r("default")}
"""


def main():
    with Upstreams(*ROUTES) as ups:
        hosts = ["mobile-api", "auth.example.com", "pre.example.com", "r42.example.com",
                 "r4x.example.com"]

        def cfg(port):
            other = port + 1 if port < 65535 else port - 1
            return mesh_config(ups, virtual_service("mobile-api", hosts, vs(port, other)))

        with Canaryd(cfg) as proxy:
            lp = proxy.port
            step(f"listening on {lp}")
            H = lambda *h: list(h)  # noqa: E731
            run_cases(proxy, [
                ("uri exact", {"path": "/exact"}, "uri-exact"),
                ("uri exact ignores the query", {"path": "/exact?x=1"}, "uri-exact"),
                ("uri exact is not a prefix", {"path": "/exact/"}, "default"),
                ("uri exact is case-sensitive", {"path": "/EXACT"}, "default"),
                ("uri prefix", {"path": "/prefix/a/b"}, "uri-prefix"),
                ("uri prefix is a string prefix", {"path": "/prefix"}, "default"),
                ("uri regex", {"path": "/items/42"}, "uri-regex"),
                ("uri regex with query", {"path": "/items/42?sort=asc"}, "uri-regex"),
                ("uri regex must match the whole path", {"path": "/items/42/x"}, "default"),
                ("uri regex must match from the start", {"path": "/v1/items/42"}, "default"),
                ("ignoreUriCase exact (lower)", {"path": "/login"}, "ignore-case"),
                ("ignoreUriCase exact (upper)", {"path": "/LOGIN"}, "ignore-case"),
                ("method DELETE", {"method": "DELETE", "path": "/thing"}, "method"),
                ("method is case-sensitive", {"method": "delete", "path": "/thing"}, "default"),
                ("authority exact", {"host": "auth.example.com"}, "authority-exact"),
                ("authority prefix", {"host": "pre.example.com"}, "authority-prefix"),
                ("authority regex", {"host": "r42.example.com"}, "authority-regex"),
                ("authority regex no match", {"host": "r4x.example.com"}, "default"),
                ("header exact", {"headers": H(("x-env", "prod"))}, "header-exact"),
                ("header name case-insensitive", {"headers": H(("X-ENV", "prod"))},
                 "header-exact"),
                ("header value case-sensitive", {"headers": H(("x-env", "Prod"))}, "default"),
                ("header prefix", {"headers": H(("User-Agent", "MobileApp/2.3 (iOS)"))},
                 "header-prefix"),
                ("header prefix no match", {"headers": H(("User-Agent", "MobileApp/1.9"))},
                 "default"),
                ("header regex", {"headers": H(("x-user-id", "1234"))}, "header-regex"),
                ("header regex full match", {"headers": H(("x-user-id", "1235"))}, "default"),
                ("header regex full match (suffix)", {"headers": H(("x-user-id", "12a4"))},
                 "default"),
                ("query exact", {"path": "/q?canary=1"}, "query-exact"),
                ("query exact among others", {"path": "/q?a=b&canary=1&c"}, "query-exact"),
                ("query exact no match", {"path": "/q?canary=10"}, "default"),
                ("query regex", {"path": "/q?group=beta-abc"}, "query-regex"),
                ("query regex full match", {"path": "/q?group=beta-abc1"}, "default"),
                ("withoutHeaders, header absent", {"path": "/without"}, "without"),
                ("withoutHeaders, other value", {"path": "/without",
                                                 "headers": H(("x-internal", "2"))}, "without"),
                ("withoutHeaders, excluded value", {"path": "/without",
                                                    "headers": H(("x-internal", "1"))},
                 "default"),
                ("scheme http on a plain listener", {"path": "/scheme"}, "scheme-http"),
                ("port of the listener", {"path": "/port", "host": f"mobile-api:{lp}"},
                 "port-listen"),
            ])
            for name in ("scheme-https", "port-other"):
                if ups[name].count():
                    fail(f"route {name} must never match; it got {ups[name].snapshot()}")


run(main)
