#!/usr/bin/env python3
"""admin: GET /metrics. After 30 requests routed to v1 (route "default") and 20 to v2 (a
header route "canary"), one 404 (unknown host) and one 502 (a subset whose endpoint
refuses connections): canaryd_requests_total has exactly those counts with the right
labels; the duration histogram is cumulative with +Inf == _count == the request count;
every family has # HELP and # TYPE, no sample is duplicated; build info, process
metrics (with plausible values), active downstream connections and the config
generation are exported."""
import http.client
import time

from canaryd_e2e import (Metrics, Upstreams, check, expect_eq, expect_upstream, free_port,
                         mesh_config, parse_metrics, run, step, virtual_service)
from ops_helpers import OpsCanaryd, wait_until

VS = """
- name: canary
  match: [{headers: {x-canary: {exact: "1"}}}]
  route: [{destination: {host: mobile-api, subset: v2}}]
- name: broken
  match: [{headers: {x-broken: {exact: "1"}}}]
  route: [{destination: {host: mobile-api, subset: dead}}]
- name: default
  route: [{destination: {host: mobile-api, subset: v1}}]
"""

REQ = "canaryd_requests_total"
HIST = "canaryd_request_duration_seconds"


def scrape(proxy):
    c = http.client.HTTPConnection("127.0.0.1", proxy.admin_port, timeout=3)
    try:
        c.request("GET", "/metrics")
        r = c.getresponse()
        body = r.read().decode("utf-8", "replace")
        return r.status, r.getheader("content-type"), body
    finally:
        c.close()


def main():
    with Upstreams("v1", "v2") as ups:
        dead = free_port()
        cfg = mesh_config({"v1": ups["v1"], "v2": ups["v2"], "dead": dead},
                          virtual_service("mobile-api", ["mobile-api"], VS))
        with OpsCanaryd(cfg, workers=2) as proxy:
            step("30 requests to v1, 20 to v2 (keep-alive), one 404, one 502")
            with proxy.conn() as c:
                for i in range(30):
                    expect_upstream(c.request("GET", f"/v1/{i}"), "v1", f"v1 request {i}")
                for i in range(20):
                    expect_upstream(c.request("GET", f"/v2/{i}", headers=[("x-canary", "1")]),
                                    "v2", f"v2 request {i}")
            r = proxy.request(path="/nothing", host="unknown.example")
            expect_eq(r.status, 404, "request for an unknown host")
            r = proxy.request(path="/dead", headers=[("x-broken", "1")])
            expect_eq(r.status, 502, "request to a subset whose endpoint refuses")

            st, ctype, text = scrape(proxy)
            expect_eq(st, 200, "/metrics status")
            check(ctype and ctype.startswith("text/plain"), f"/metrics Content-Type {ctype!r}")
            m = Metrics(text)
            check(not m.errors, f"/metrics lines that do not parse: {m.errors[:5]}")

            step("canaryd_requests_total per route/subset/code")
            lab = dict(virtual_service="mobile-api", destination="mobile-api")
            expect_eq(m.get(REQ, route="default", subset="v1", code="200", **lab), 30.0,
                      f'{REQ}{{route="default",subset="v1",code="200"}}')
            expect_eq(m.get(REQ, route="canary", subset="v2", code="200", **lab), 20.0,
                      f'{REQ}{{route="canary",subset="v2",code="200"}}')
            expect_eq(m.get(REQ, route="broken", subset="dead", code="502", **lab), 1.0,
                      f'{REQ}{{route="broken",subset="dead",code="502"}}')
            n404 = sum(v for _, v in m.find(REQ, code="404"))
            expect_eq(n404, 1.0, f'sum of {REQ}{{code="404"}}')
            total = sum(v for _, v in m.find(REQ))
            expect_eq(total, 52.0, f"sum of all {REQ}")
            for ls, _ in m.find(REQ):
                expect_eq(sorted(ls), sorted(["virtual_service", "route", "destination",
                                              "subset", "code"]), f"label names of {REQ}")
            cf = m.get("canaryd_upstream_connect_failures_total", destination="mobile-api", subset="dead")
            check(cf is not None and cf >= 1,
                  f'canaryd_upstream_connect_failures_total{{subset="dead"}}: expected >= 1, got {cf}')

            step("duration histogram: cumulative buckets, +Inf == _count, counts match")
            series = {}
            for name, ls, v in m.samples:
                if name == HIST + "_bucket":
                    key = tuple(sorted((k, x) for k, x in ls.items() if k != "le"))
                    series.setdefault(key, []).append((ls["le"], v))
            check(series, f"no {HIST}_bucket samples")
            for key, buckets in series.items():
                labels = dict(key)
                check("code" not in labels, f"{HIST} must not have a code label: {labels}")
                les = [float(le) if le != "+Inf" else float("inf") for le, _ in buckets]
                check(les == sorted(les) and len(set(les)) == len(les),
                      f"{HIST} {labels}: le values not strictly increasing: {[b[0] for b in buckets]}")
                vals = [v for _, v in buckets]
                check(all(a <= b for a, b in zip(vals, vals[1:])),
                      f"{HIST} {labels}: buckets not cumulative: {buckets}")
                check(buckets[-1][0] == "+Inf", f"{HIST} {labels}: last bucket is not +Inf")
                count = m.get(HIST + "_count", **labels)
                ssum = m.get(HIST + "_sum", **labels)
                expect_eq(buckets[-1][1], count, f"{HIST} {labels}: +Inf bucket vs _count")
                check(ssum is not None and ssum >= 0, f"{HIST} {labels}: _sum {ssum}")
            expect_eq(m.get(HIST + "_count", route="default", subset="v1", **lab), 30.0,
                      f'{HIST}_count{{route="default",subset="v1"}}')
            expect_eq(m.get(HIST + "_count", route="canary", subset="v2", **lab), 20.0,
                      f'{HIST}_count{{route="canary",subset="v2"}}')

            step("every family has # HELP and # TYPE; counters end in _total; no duplicate samples")
            for fam, info in m.families.items():
                check("help" in info and info["help"].strip(), f"family {fam} has no # HELP text")
                check(info.get("type") in ("counter", "gauge", "histogram", "summary", "untyped"),
                      f"family {fam}: # TYPE {info.get('type')!r}")
                if info.get("type") == "counter":
                    check(fam.endswith("_total"), f"counter {fam} does not end in _total")
                check(fam.startswith(("canaryd_", "process_")), f"family {fam}: unexpected prefix")
            seen = set()
            for name, ls, _ in m.samples:
                key = (name, tuple(sorted(ls.items())))
                check(key not in seen, f"duplicate sample {name}{ls}")
                seen.add(key)
                check(m.family_of(name) in m.families and "type" in m.families[m.family_of(name)],
                      f"sample {name} has no # TYPE line for its family")

            step("build info, config generation, process metrics, active connections")
            bi = m.find("canaryd_build_info")
            check(len(bi) == 1 and bi[0][1] == 1.0 and bi[0][0].get("version"),
                  f"canaryd_build_info: expected one sample = 1 with a version label, got {bi}")
            expect_eq(m.get("canaryd_config_generation"), float(proxy.generation()),
                      "canaryd_config_generation vs /config generation")
            rss = m.get("process_resident_memory_bytes")
            real_rss = proxy.rss_kib() * 1024
            check(rss is not None and real_rss / 3 <= rss <= real_rss * 3,
                  f"process_resident_memory_bytes {rss} vs VmRSS {real_rss}")
            fds = m.get("process_open_fds")
            real_fds = proxy.nfds()
            check(fds is not None and abs(fds - real_fds) <= 5,
                  f"process_open_fds {fds} vs /proc/PID/fd count {real_fds}")

            conns = [proxy.conn() for _ in range(3)]
            try:
                for i, c in enumerate(conns):
                    expect_upstream(c.request("GET", f"/open/{i}"), "v1", f"open connection {i}")
                act = parse_metrics(scrape(proxy)[2]).get("canaryd_downstream_connections_active")
                expect_eq(act, 3.0, "canaryd_downstream_connections_active with 3 open connections")
            finally:
                for c in conns:
                    c.close()
            check(wait_until(lambda: parse_metrics(scrape(proxy)[2]).get(
                "canaryd_downstream_connections_active") == 0.0, 3),
                "canaryd_downstream_connections_active did not return to 0 after the clients closed")
            for fam in ("canaryd_config_reloads_total", "canaryd_config_last_reload_success_timestamp_seconds"):
                check(fam in m.families and m.families[fam]["samples"], f"{fam} missing")
            ts = m.get("canaryd_config_last_reload_success_timestamp_seconds")
            check(ts is not None and abs(ts - time.time()) < 60,
                  f"canaryd_config_last_reload_success_timestamp_seconds {ts} vs now {time.time():.0f}")
            start = m.get("process_start_time_seconds")
            check(start is not None and abs(start - proxy.spawn_time) <= 10,
                  f"process_start_time_seconds {start} vs the time canaryd was started "
                  f"{proxy.spawn_time:.2f} (off by {None if start is None else round(start - proxy.spawn_time, 1)} s)")


run(main)
