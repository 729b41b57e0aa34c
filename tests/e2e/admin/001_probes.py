#!/usr/bin/env python3
"""admin: the probes. GET /internal/platform/liveness answers 200 "ok"; GET
/internal/platform/readiness answers 200 while serving (also with requests in flight and
after a reload); an unknown admin path is 404; the probes are not routed as traffic (no
access-log line, no upstream request)."""
import http.client
import threading

from canaryd_e2e import Upstreams, check, expect_eq, expect_upstream, mesh_config, run, step
from ops_helpers import OpsCanaryd, wait_until, weighted_vs


def get(proxy, path):
    c = http.client.HTTPConnection("127.0.0.1", proxy.admin_port, timeout=3)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read(), dict((k.lower(), v) for k, v in r.getheaders())
    finally:
        c.close()


def main():
    with Upstreams("v1", "v2") as ups:
        with OpsCanaryd(mesh_config(ups, weighted_vs(100, 0))) as proxy:
            step("liveness: 200 ok")
            st, body, hdrs = get(proxy, "/internal/platform/liveness")
            expect_eq(st, 200, "liveness status")
            expect_eq(body.strip(), b"ok", "liveness body (stripped)")
            step("readiness: 200 while serving")
            st, body, _ = get(proxy, "/internal/platform/readiness")
            expect_eq(st, 200, "readiness status")
            print(f"  readiness body: {body[:60]!r}")

            step("probes answer at once while a slow request is in flight")
            res = {}
            t = threading.Thread(target=lambda: res.setdefault("r", proxy.request(path="/slow/1000")),
                                 daemon=True)
            t.start()
            check(wait_until(lambda: len(ups["v1"].heads) >= 1, 3), "slow request did not reach v1")
            for path in ("/internal/platform/liveness", "/internal/platform/readiness"):
                st, body, _ = get(proxy, path)
                expect_eq(st, 200, f"{path} with a request in flight")
            t.join(5)
            expect_upstream(res.get("r"), "v1", "the slow request")

            step("readiness stays 200 after a reload")
            gen = proxy.generation()
            proxy.write_config(mesh_config(ups, weighted_vs(0, 100)))
            proxy.reload()
            check(wait_until(lambda: proxy.generation() == gen + 1, 5), "reload not applied")
            expect_eq(get(proxy, "/internal/platform/readiness")[0], 200, "readiness after reload")
            expect_eq(get(proxy, "/internal/platform/liveness")[0], 200, "liveness after reload")

            step("unknown admin path: 404")
            expect_eq(get(proxy, "/internal/platform/nope")[0], 404, "unknown admin path status")

            step("probes are not proxied traffic: no upstream request, no access-log line")
            n_up = len(ups["v1"].heads) + len(ups["v2"].heads)
            n_log = len(proxy.wait_access_log(1))
            for _ in range(5):
                get(proxy, "/internal/platform/readiness")
                get(proxy, "/internal/platform/liveness")
            expect_eq(len(ups["v1"].heads) + len(ups["v2"].heads), n_up, "upstream requests after probes")
            expect_eq(len(proxy.access_log_lines()), n_log, "access-log lines after probes")


run(main)
