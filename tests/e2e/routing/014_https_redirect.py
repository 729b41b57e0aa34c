#!/usr/bin/env python3
"""routing: a Gateway server with tls.httpsRedirect answers every request with 301 to
https://<Host as sent><path>?<query>, as Envoy's require_tls does for Istio: any method,
any host the server names (also hosts no VirtualService serves, for hosts ["*"]), on a
kept-alive connection; nothing reaches an upstream. A
redirect server naming only some hosts answers 404 for the others. The plain server
of the same Gateway on another port routes as usual. The access log says "redirect".
A server tls with TLS termination settings is refused by `canaryd -t` with a message
naming what is missing; tests/corpus/https-redirect.yaml passes `canaryd -t`."""
from canaryd_e2e import (Canaryd, HttpConn, Upstreams, check, expect_eq, expect_upstream,
                         free_port, mesh_config, run, step)
from gateway_helpers import check_config, corpus, gateway, to, vs_doc


def config(ups, redir, plain, narrow):
    docs = [
        gateway("web", [{"port": redir, "hosts": ["*"], "tls": "{httpsRedirect: true}"},
                        {"port": plain, "hosts": ["www.example.com"],
                         "tls": "{httpsRedirect: false}"}]),
        gateway("api", [{"port": narrow, "hosts": ["api.example.com"],
                         "tls": "{httpsRedirect: true}"}]),
        vs_doc("web", ["www.example.com"], ["web"], to("v1")),
    ]
    return mesh_config(ups) + "---\n" + "---\n".join(docs)


def expect_redirect(resp, location, what):
    check(resp.status == 301, f"{what}: expected 301, got {resp.status} {resp.body[:80]!r}")
    expect_eq(resp.header("location"), location, f"{what}: Location")


def main():
    step("tests/corpus/https-redirect.yaml passes canaryd -t")
    rc, out = check_config(path=corpus("https-redirect.yaml"))
    check(rc == 0, f"canaryd -t rejected tests/corpus/https-redirect.yaml:\n{out}")

    step("TLS termination settings are refused, naming what is missing")
    rc, out = check_config(gateway("tls", [{"port": 8443, "hosts": ["*"],
                                            "tls": "{mode: SIMPLE, credentialName: web-cert}"}]))
    check(rc == 1, f"canaryd -t accepted tls.mode SIMPLE (exit {rc}):\n{out}")
    for field in ("spec.servers[0].tls.mode: SIMPLE", "spec.servers[0].tls.credentialName"):
        want = (f"{field}: TLS termination needs the TLS support (not yet available); "
                f"terminate TLS in front of canaryd")
        check(want in out, f"canaryd -t output lacks {want!r}:\n{out}")

    with Upstreams("v1") as ups:
        redir, plain, narrow = free_port(), free_port(), free_port()
        while len({redir, plain, narrow}) < 3:
            plain, narrow = free_port(), free_port()
        with Canaryd(config(ups, redir, plain, narrow)) as proxy:
            step(f"redirect server :{redir} (hosts *)")
            with HttpConn(redir) as c:
                r = c.request("GET", "/a/b?x=1&y=%20z", host="www.example.com")
                expect_redirect(r, "https://www.example.com/a/b?x=1&y=%20z", "GET with a query")
                check(not r.has_token("connection", "close"), "the redirect closed the connection")
                r = c.request("GET", "/", host="WWW.Example.com:8080")
                expect_redirect(r, "https://WWW.Example.com:8080/", "Host with a port, as sent")
                r = c.request("HEAD", "/h?q", host="www.example.com")
                expect_redirect(r, "https://www.example.com/h?q", "HEAD")
                expect_eq(r.body, b"", "HEAD redirect body")
                r = c.request("GET", "/x", host="no-virtual-service.test")
                expect_redirect(r, "https://no-virtual-service.test/x",
                                "a host no VirtualService serves")
                r = c.request("OPTIONS", "*", host="www.example.com")
                expect_redirect(r, "https://www.example.com/", "OPTIONS * (asterisk form)")
            with HttpConn(redir) as c:
                r = c.request("POST", "/form", host="www.example.com", body=b"a=1&b=2")
                expect_redirect(r, "https://www.example.com/form", "POST with a body")
            check(ups["v1"].count() == 0,
                  f"the upstream got {ups['v1'].count()} requests from the redirect port")

            step(f"redirect server :{narrow} naming api.example.com only")
            with HttpConn(narrow) as c:
                r = c.request("GET", "/v1/items?page=2", host="api.example.com")
                expect_redirect(r, "https://api.example.com/v1/items?page=2",
                                "a host of the server, no VirtualService")
                r = c.request("GET", "/", host="www.example.com")
                expect_eq(r.status, 404, "a host the redirect server does not name")

            step(f"plain server :{plain} of the same Gateway routes")
            with HttpConn(plain) as c:
                expect_upstream(c.request("GET", "/a?x=1", host="www.example.com"), "v1",
                                "www.example.com on the plain port")
                expect_eq(c.request("GET", "/", host="other.test").status, 404,
                          "a host the plain server does not serve")

            step("the access log says redirect")
            lines = [ln for ln in proxy.wait_access_log(9) if ln.get("status") == 301]
            check(len(lines) >= 6, f"expected 6 redirects in the access log, got {len(lines)}")
            check(all(ln.get("flags") == "redirect" for ln in lines),
                  f"redirect access-log lines without flags=redirect: {lines[:2]}")
            served = [ln.get("virtual_service") for ln in lines
                      if ln.get("authority") == "www.example.com"]
            check(served and all(v == "web" for v in served),
                  f"redirects of www.example.com should name VirtualService web: {served}")


run(main)
