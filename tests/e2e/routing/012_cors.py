#!/usr/bin/env python3
"""routing: http[].corsPolicy with the meaning of Envoy's CORS filter (as Istio configures
it). A preflight (OPTIONS + Origin + Access-Control-Request-Method) from an allowed origin
(exact, prefix or full-match regex) is answered by canaryd (200, no body, the origin echoed,
allow-methods/-headers joined with ",", max-age in seconds, allow-credentials) and never
reaches the upstream. A denied origin gets no Access-Control-Allow-Origin: its preflight is
forwarded (unmatchedPreflights FORWARD, the default) or answered locally (IGNORE). Other
requests of an allowed origin are forwarded and their response gets allow-origin,
expose-headers and allow-credentials, replacing the upstream's own. No Vary is added.
Redirect routes skip the policy (with a warning). A bad regex in allowOrigins is a config
error with file:line:col."""
import os
import subprocess
import tempfile
import time

from canaryd_e2e import (REPO, Canaryd, Upstream, canaryd_bin, check, expect_eq, mesh_config,
                         run, slow_factor, step, virtual_service)

VS = r"""
- name: strict
  match: [{uri: {prefix: /strict}}]
  corsPolicy:
    allowOrigins:
    - exact: https://www.shop.example
    - prefix: https://preview-
    - regex: 'https://[a-z0-9-]+\.partners\.example'
    allowMethods: [GET, POST, PUT]
    allowHeaders: [authorization, content-type]
    exposeHeaders: [x-request-id, x-api-version]
    maxAge: 1h30m
    allowCredentials: true
    unmatchedPreflights: IGNORE
  route: [{destination: {host: mobile-api, subset: v1}}]
- name: star
  match: [{uri: {prefix: /star}}]
  corsPolicy:
    allowOrigin: ["*"]
    allowHeaders: ["*"]
  route: [{destination: {host: mobile-api, subset: v1}}]
- name: own
  match: [{uri: {prefix: /own}}]
  corsPolicy:
    allowOrigins: [{exact: https://a.example}]
  headers:
    response:
      add: {access-control-allow-origin: https://route.example}
  route: [{destination: {host: mobile-api, subset: v2}}]
- name: faulty
  match: [{uri: {prefix: /faulty}}]
  corsPolicy:
    allowOrigins: [{exact: https://a.example}]
    allowCredentials: true
  fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
  route: [{destination: {host: mobile-api, subset: v1}}]
- name: moved
  match: [{uri: {prefix: /moved}}]
  corsPolicy:
    allowOrigins: [{exact: https://a.example}]
  redirect: {uri: /elsewhere}
- name: default
  corsPolicy:
    allowOrigins: [{exact: https://app.example}]
    allowMethods: [GET]
  route: [{destination: {host: mobile-api, subset: v1}}]
"""

BAD_REGEX = r"""
- name: bad
  corsPolicy:
    allowOrigins:
    - exact: https://ok.example
    - regex: 'https://(unclosed\.example'
  route: [{destination: {host: mobile-api, subset: v1}}]
"""

PREFLIGHT = [("Access-Control-Request-Method", "PUT"),
             ("Access-Control-Request-Headers", "authorization, x-trace")]


def cors_headers(r):
    return sorted((k.lower(), v) for k, v in r.headers if k.lower().startswith("access-control-"))


def options_seen(up):
    return [h for h in up.heads if h.method == "OPTIONS"]


def preflight(c, path, origin, extra=PREFLIGHT):
    return c.request("OPTIONS", path, headers=[("Origin", origin)] + list(extra))


def check_answered(r, what):
    expect_eq(r.status, 200, f"{what}: status")
    expect_eq(r.body, b"", f"{what}: body")
    expect_eq(r.header("content-length"), "0", f"{what}: content-length")
    expect_eq(r.header("x-upstream"), None, f"{what}: answered by canaryd, not an upstream")
    expect_eq(r.headers_all("vary"), [], f"{what}: no Vary (Envoy adds none)")


def strict_preflights(c, v1):
    full = [("access-control-allow-credentials", "true"),
            ("access-control-allow-headers", "authorization,content-type"),
            ("access-control-allow-methods", "GET,POST,PUT"),
            ("access-control-max-age", "5400")]
    for kind, origin in [("exact", "https://www.shop.example"),
                         ("prefix", "https://preview-42.shop.example"),
                         ("regex", "https://acme-eu.partners.example")]:
        step(f"preflight from an allowed origin ({kind}): {origin}")
        r = preflight(c, "/strict/items", origin)
        check_answered(r, f"{kind} preflight")
        expect_eq(cors_headers(r), sorted(full + [("access-control-allow-origin", origin)]),
                  f"{kind} preflight CORS headers")
    step("IGNORE: a denied preflight (the regex must match the whole origin) is answered "
         "without Access-Control-Allow-Origin")
    r = preflight(c, "/strict/items", "https://acme.partners.example.evil.test")
    check_answered(r, "denied preflight under IGNORE")
    expect_eq(cors_headers(r), full, "denied preflight under IGNORE: no allow-origin")
    expect_eq(options_seen(v1), [], "no preflight reached the upstream")


def strict_requests(c, v1):
    step("a GET from an allowed origin is forwarded; allow-origin/expose/credentials added")
    r = c.request("GET", "/strict/items", headers=[("Origin", "https://www.shop.example")])
    expect_eq((r.status, r.header("x-upstream")), (200, "v1"), "allowed GET forwarded")
    expect_eq(cors_headers(r), [("access-control-allow-credentials", "true"),
                                ("access-control-allow-origin", "https://www.shop.example"),
                                ("access-control-expose-headers", "x-request-id,x-api-version")],
              "allowed GET CORS headers")
    expect_eq(r.headers_all("vary"), [], "allowed GET: no Vary")
    step("a GET from a denied origin, and one without Origin: no CORS headers")
    for hdrs in ([("Origin", "https://evil.test")], []):
        r = c.request("GET", "/strict/items", headers=hdrs)
        expect_eq((r.status, r.header("x-upstream")), (200, "v1"), f"GET {hdrs} forwarded")
        expect_eq(cors_headers(r), [], f"GET {hdrs}: no CORS headers")
    step("OPTIONS without Access-Control-Request-Method is not a preflight: forwarded")
    n = len(options_seen(v1))
    r = c.request("OPTIONS", "/strict/items", headers=[("Origin", "https://www.shop.example")])
    expect_eq((r.status, r.header("x-upstream")), (200, "v1"), "plain OPTIONS forwarded")
    expect_eq(r.header("access-control-allow-origin"), "https://www.shop.example",
              "plain OPTIONS: allow-origin on the upstream's response")
    expect_eq(r.header("access-control-allow-methods"), None, "plain OPTIONS: no allow-methods")
    expect_eq(len(options_seen(v1)), n + 1, "the upstream saw the plain OPTIONS")


def forward_and_star(c, v1):
    step("FORWARD (default): a denied preflight goes to the upstream, without CORS headers")
    n = len(options_seen(v1))
    r = preflight(c, "/api", "https://evil.test")
    expect_eq((r.status, r.header("x-upstream")), (200, "v1"), "denied preflight forwarded")
    expect_eq(cors_headers(r), [], "forwarded denied preflight: no CORS headers")
    expect_eq(len(options_seen(v1)), n + 1, "the upstream saw the denied preflight")
    r = preflight(c, "/api", "https://app.example")
    check_answered(r, "allowed preflight on the default route")
    expect_eq(cors_headers(r), [("access-control-allow-methods", "GET"),
                                ("access-control-allow-origin", "https://app.example")],
              "default route preflight: no credentials, headers or max-age when not set")
    step("allowOrigin [\"*\"] allows any origin and echoes it; allowHeaders [\"*\"] echoes "
         "Access-Control-Request-Headers")
    r = preflight(c, "/star", "https://anything.test")
    check_answered(r, "star preflight")
    expect_eq(cors_headers(r), [("access-control-allow-headers", "authorization, x-trace"),
                                ("access-control-allow-origin", "https://anything.test")],
              "star preflight CORS headers")
    expect_eq(len(options_seen(v1)), n + 1, "allowed preflights did not reach the upstream")


def own_fault_redirect(c, v2):
    step("for an allowed origin, allow-origin replaces the upstream's and the route's; "
         "otherwise both stay")
    r = c.request("GET", "/own", headers=[("Origin", "https://a.example")])
    expect_eq(r.header("x-upstream"), "v2", "GET /own forwarded")
    expect_eq(r.headers_all("access-control-allow-origin"), ["https://a.example"],
              "allowed: one allow-origin, the echoed origin")
    expect_eq(r.headers_all("access-control-expose-headers"), ["x-from-upstream"],
              "no exposeHeaders in the policy: the upstream's expose-headers kept")
    r = c.request("GET", "/own", headers=[("Origin", "https://b.example")])
    expect_eq(r.headers_all("access-control-allow-origin"),
              ["https://upstream.example", "https://route.example"],
              "denied: the upstream's allow-origin and the route's add untouched")
    step("canaryd's own answer (a fault abort) on a CORS route carries the CORS headers")
    r = c.request("GET", "/faulty", headers=[("Origin", "https://a.example")])
    expect_eq(r.status, 503, "fault abort status")
    expect_eq(cors_headers(r), [("access-control-allow-credentials", "true"),
                                ("access-control-allow-origin", "https://a.example")],
              "fault abort CORS headers")
    r = preflight(c, "/faulty", "https://a.example")
    check_answered(r, "preflight before the fault filter")
    step("a redirect route skips the CORS policy (as Envoy's filter does)")
    r = preflight(c, "/moved", "https://a.example")
    expect_eq(r.status, 301, "preflight of a redirect route is redirected")
    expect_eq(cors_headers(r), [], "redirect: no CORS headers")


def t_check(cfg_text):
    d = tempfile.mkdtemp(prefix="canaryd-cors-")
    path = os.path.join(d, "cors.yaml")
    with open(path, "w") as f:
        f.write(cfg_text)
    r = subprocess.run([canaryd_bin(), "-t", "-c", path], capture_output=True, text=True,
                       timeout=20)
    os.unlink(path)
    os.rmdir(d)
    return r.returncode, r.stdout + r.stderr


def config_checks(ups):
    step("the example tests/corpus/cors.yaml passes canaryd -t without warnings")
    r = subprocess.run([canaryd_bin(), "-t", "-c", os.path.join(REPO, "tests", "corpus",
                                                                 "cors.yaml")],
                       capture_output=True, text=True, timeout=20)
    expect_eq(r.returncode, 0, f"-t of tests/corpus/cors.yaml ({(r.stdout + r.stderr)[-300:]})")
    check("configuration ok (0 warnings)" in r.stdout + r.stderr,
          f"tests/corpus/cors.yaml: no warnings: {(r.stdout + r.stderr)[-300:]}")
    step("canaryd -t warns that corsPolicy on a redirect route has no effect")
    rc, out = t_check(mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS)))
    expect_eq(rc, 0, f"-t of the test config exits 0 ({out.strip()[-300:]})")
    check("warning: spec.http[4]: corsPolicy has no effect on a redirect" in out,
          f"-t warns about the redirect route: {out.strip()[-500:]}")
    step("a bad regex in allowOrigins is an error with file:line:col and the field path")
    cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], BAD_REGEX))
    rc, out = t_check(cfg)
    lines = cfg.split("\n")
    line = next(i for i, t in enumerate(lines, 1) if "(unclosed" in t)
    col = lines[line - 1].index("'https") + 1
    expect_eq(rc, 1, "-t of a bad allowOrigins regex exits 1")
    want = f"cors.yaml:{line}:{col}: error: spec.http[0].corsPolicy.allowOrigins[1].regex: invalid regex"
    check(want in out, f"-t names the regex: want {want!r} in {out.strip()[-500:]!r}")


def main():
    own = [("access-control-allow-origin", "https://upstream.example"),
           ("access-control-expose-headers", "x-from-upstream")]
    with Upstream("v1") as v1, Upstream("v2", response_headers=own) as v2:
        ups = {"v1": v1, "v2": v2}
        config_checks(ups)
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], VS))
        with Canaryd(cfg) as proxy, proxy.conn() as c:
            strict_preflights(c, v1)
            strict_requests(c, v1)
            forward_and_star(c, v1)
            own_fault_redirect(c, v2)
            step("the connection stayed usable across every answer")
            r = c.request("GET", "/api")
            expect_eq((r.status, r.header("x-upstream")), (200, "v1"), "last GET")
            step("the access log names canaryd's preflight answers")
            flags = []
            deadline = time.monotonic() + 3 * slow_factor()
            while "cors_preflight" not in flags and time.monotonic() < deadline:
                time.sleep(0.05)
                flags = [e.get("flags") for e in proxy.access_log_lines()]
            check("cors_preflight" in flags, f"access log flags a preflight answer: {flags}")


run(main)
