#!/usr/bin/env python3
"""reload: SIGHUP with a valid new config switches routing (weights 100/0 -> 0/100), the
/config generation goes up by one and canaryd_config_reloads_total{result="success"} by
one; a "reload" process-log line with result ok is printed."""
from canaryd_e2e import Upstreams, check, expect_eq, expect_upstream, mesh_config, run, step
from ops_helpers import OpsCanaryd, reload_events, wait_until, weighted_vs


def main():
    with Upstreams("v1", "v2") as ups:
        before = mesh_config(ups, weighted_vs(100, 0))
        after = mesh_config(ups, weighted_vs(0, 100))
        with OpsCanaryd(before) as proxy:
            step("weights 100/0: 20 requests all go to v1 (one keep-alive connection, kept)")
            ka = proxy.conn()
            for i in range(20):
                expect_upstream(ka.request("GET", f"/a/{i}"), "v1", f"request {i} before reload")
            gen0 = proxy.generation()
            m0 = proxy.metrics()
            ok0 = m0.get("canaryd_config_reloads_total", result="success")
            check(ok0 is not None, "canaryd_config_reloads_total{result=\"success\"} missing")
            ok_events0 = len(reload_events(proxy, "ok"))

            step("rewrite the file to weights 0/100 and send SIGHUP")
            proxy.write_config(after)
            proxy.reload()
            got = wait_until(lambda: proxy.generation() == gen0 + 1, 5)
            check(got, f"/config generation: expected {gen0 + 1} after SIGHUP, got "
                       f"{proxy.generation()}")

            step("30 requests now all go to v2 (the old keep-alive connection, fresh ones)")
            with ka:
                for i in range(10):
                    expect_upstream(ka.request("GET", f"/k/{i}"), "v2",
                                    f"request {i} after reload on the pre-reload connection")
            with proxy.conn() as c:
                for i in range(10):
                    expect_upstream(c.request("GET", f"/b/{i}"), "v2", f"request {i} after reload")
            for i in range(10):
                expect_upstream(proxy.request(path=f"/c/{i}"), "v2", f"fresh request {i} after reload")

            step("metrics: reloads success +1, generation gauge follows, no failure")
            m1 = proxy.metrics()
            expect_eq(m1.get("canaryd_config_reloads_total", result="success"), ok0 + 1,
                      'canaryd_config_reloads_total{result="success"}')
            expect_eq(m1.value("canaryd_config_reloads_total", result="failure"),
                      m0.value("canaryd_config_reloads_total", result="failure"),
                      'canaryd_config_reloads_total{result="failure"}')
            expect_eq(m1.get("canaryd_config_generation"), float(gen0 + 1),
                      "canaryd_config_generation")
            ts0 = m0.get("canaryd_config_last_reload_success_timestamp_seconds")
            ts1 = m1.get("canaryd_config_last_reload_success_timestamp_seconds")
            check(ts0 is not None and ts1 is not None and ts1 >= ts0,
                  f"canaryd_config_last_reload_success_timestamp_seconds: {ts0} then {ts1}")

            step("stderr: one more reload event with result ok and the new generation")
            evs = reload_events(proxy, "ok")
            expect_eq(len(evs), ok_events0 + 1, "reload events with result ok")
            expect_eq(evs[-1].get("generation"), gen0 + 1, "generation in the last reload event")


run(main)
