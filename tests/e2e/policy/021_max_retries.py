#!/usr/bin/env python3
"""policy: DestinationRule connectionPool.http.maxRetries, the number of retries in
flight at once for a destination, across workers (Envoy's max_retries circuit breaker).
The only endpoint answers 503 after 300 ms; the route retries 5xx twice.
1. maxRetries 1, 6 requests at once over 2 workers: their first tries fail together;
   one of them may retry (at most 1 retry in flight at the upstream at any time), the
   others get their 503 without a retry, each counted in
   canaryd_retry_overflow_total{destination, subset}.
2. Without maxRetries (Istio's default: unlimited), the same 6 requests all retry twice:
   18 retries, up to 6 in flight at once, and no overflow.
3. A closed port with retryOn connect-failure and maxRetries 1: requests one after the
   other never overlap, so every one is retried (no overflow)."""
from canaryd_e2e import Canaryd, Upstream, check, expect_eq, run, step
from policy_helpers import (closed_port, concurrent_requests, metric_value, policy_config,
                            reload_and_wait, sequential, vs)

ROUTES = """
- name: main
  retries: {attempts: 2, retryOn: 5xx}
  route: [{destination: {host: mobile-api, subset: v1}}]
"""
NREQ = 6
DELAY_S = 0.3


def take_spans(up):
    """When each request recorded since the last call arrived and was answered, sorted."""
    return sorted((r.t_start, r.t_end) for r in up.take_requests())


def max_overlap(spans):
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans],
                    key=lambda e: (e[0], e[1]))
    cur = peak = 0
    for _, d in events:
        cur += d
        peak = max(peak, cur)
    return peak


def wave(proxy, up):
    """NREQ requests at once; returns (statuses, first-try spans, retry spans)."""
    res = concurrent_requests(proxy.port, [{"path": f"/r/{i}"} for i in range(NREQ)])
    spans = take_spans(up)
    # The first tries all arrive within a few ms of each other, long before any
    # retry (which needs a first try to fail, DELAY_S later).
    first, retries = spans[:NREQ], spans[NREQ:]
    check(all(a < first[0][0] + DELAY_S / 2 for a, _ in first),
          f"the {NREQ} first tries did not arrive together: {first}")
    return [r.status for r in res], first, retries


def overflow(proxy):
    return metric_value(proxy, "canaryd_retry_overflow_total",
                        {"destination": "mobile-api", "subset": "v1"})


def main():
    with Upstream("v1", mode=f"slow:{int(DELAY_S * 1000)}:503") as up:
        def cfg(pool):
            return policy_config({"v1": up}, vs(ROUTES), traffic_policy=pool)

        with Canaryd(cfg("connectionPool: {http: {maxRetries: 1}}"), workers=2) as proxy:
            step("1. maxRetries 1: at most one retry in flight")
            statuses, first, retries = wave(proxy, up)
            peak = max_overlap(retries)
            ovf = overflow(proxy)
            step(f"   statuses {statuses}; {len(retries)} retries reached the upstream, "
                 f"at most {peak} at once; overflow counter {ovf:g}")
            check(statuses == [503] * NREQ, f"every request ends with the upstream's 503, "
                                            f"got {statuses}")
            check(peak <= 1, f"maxRetries 1: {peak} retries were in flight at once")
            check(1 <= len(retries) <= 4, f"one request (or two, if one failed late) may "
                                          f"retry twice: got {len(retries)} retries")
            check(ovf >= NREQ - 2, f"the other requests' retries overflow: expected at least "
                                   f"{NREQ - 2}, counted {ovf:g}")
            expect_eq(ovf + len(retries) / 2, float(NREQ), "requests that overflowed plus "
                                                           "requests that retried twice")

            step("2. no maxRetries (unlimited): every request retries")
            reload_and_wait(proxy, cfg(None))
            statuses, first, retries = wave(proxy, up)
            peak = max_overlap(retries)
            step(f"   {len(retries)} retries, at most {peak} at once; overflow counter "
                 f"{overflow(proxy):g}")
            expect_eq(len(retries), 2 * NREQ, "retries without a retry budget")
            check(peak >= 3, f"unlimited retries of {NREQ} requests failing together should "
                             f"overlap, at most {peak} did")
            expect_eq(overflow(proxy), ovf, "overflow counter (unchanged)")

    step("3. connect failures retried one request at a time do not overflow")
    dead = closed_port()
    with Upstream("good") as good:
        routes = """
- name: main
  retries: {attempts: 1, retryOn: connect-failure}
  route: [{destination: {host: mobile-api, subset: v1}}]
"""
        cfg = policy_config({"v1": [dead, good]}, vs(routes),
                            traffic_policy="connectionPool: {http: {maxRetries: 1}}")
        with Canaryd(cfg, workers=1) as proxy:
            res = sequential(proxy.port, [{"path": f"/c/{i}"} for i in range(20)])
            check(all(r.status == 200 for r in res),
                  f"each refused connect is retried on the good endpoint: "
                  f"{[r.status for r in res]}")
            expect_eq(overflow(proxy), 0.0, "overflow counter")


run(main)
