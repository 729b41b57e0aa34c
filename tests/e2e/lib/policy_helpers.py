"""Helpers for the traffic-policy e2e tests (tests/e2e/policy/): retries, fault
injection, mirroring, outlier detection, connection-pool limits, sticky canary.

Builds on canaryd_e2e (whose Upstream, with its modes, is the upstream of these tests):

  SourceConn(port, "127.0.0.7")
                  an HttpConn from a chosen loopback source address (source-ip keys).
  closed_port()   a loopback port nothing listens on.
  policy_config(subsets, *virtual_services, traffic_policy=None, subset_policies=None,
                extra_docs=())
                  ServiceEntry + DestinationRule (host and per-subset trafficPolicy)
                  + VirtualServices, all for mobile-api.
  load(port, specs, conns)
                  sends many requests over `conns` keep-alive connections in parallel
                  threads and returns one Result per spec (status, upstream, elapsed);
                  sequential(port, specs), concurrent_requests(port, specs).
  metric_value(proxy, name, labels), generation(proxy), reload_and_wait(proxy, config),
  flags_of(access-log line)
  percentile(values, p), binomial_bounds(n, p, sigmas)
"""

import concurrent.futures
import json
import math
import re
import socket
import threading
import time

import canaryd_e2e
from canaryd_e2e import (DEFAULT_HOST, ConnectionClosed, HttpConn, TestFailure, _indent,
                         service_entry, slow_factor, virtual_service)

# ----------------------------------------------------------------- upstream


def closed_port():
    """A loopback port nothing listens on (bound then closed: refused at once)."""
    return canaryd_e2e.free_port()


# ------------------------------------------------------------------- config


def _port_of(u):
    return u.port if hasattr(u, "port") else int(u)


def dest_rule(name, host, subsets, traffic_policy=None, subset_policies=None):
    """subsets: list of subset names (labels {version: NAME}); subset_policies:
    {subset name: trafficPolicy YAML text}."""
    subset_policies = subset_policies or {}
    lines = ["apiVersion: networking.istio.io/v1", "kind: DestinationRule",
             f"metadata:\n  name: {name}", "spec:", f"  host: {host}"]
    if traffic_policy:
        lines.append("  trafficPolicy:")
        lines.append(_indent(traffic_policy, 4))
    lines.append("  subsets:")
    for s in subsets:
        lines.append(f"  - name: {s}\n    labels: {{version: {s}}}")
        if s in subset_policies:
            lines.append("    trafficPolicy:")
            lines.append(_indent(subset_policies[s], 6))
    return "\n".join(lines) + "\n"


def policy_config(subsets, *virtual_services, traffic_policy=None, subset_policies=None,
                  extra_docs=(), host=DEFAULT_HOST):
    """subsets: {subset name: Upstream | port | list of them}; every endpoint is
    127.0.0.1 labelled {version: <subset>}."""
    endpoints = []
    for sname, ups in subsets.items():
        if not isinstance(ups, (list, tuple)):
            ups = [ups]
        for u in ups:
            endpoints.append(("127.0.0.1", _port_of(u), {"version": sname}))
    docs = [service_entry(host, [host], endpoints),
            dest_rule(host, host, list(subsets), traffic_policy, subset_policies)]
    docs += list(virtual_services) + list(extra_docs)
    return "---\n".join(docs)


def vs(http, name="mobile-api", hosts=(DEFAULT_HOST,), annotations=None):
    return virtual_service(name, list(hosts), http, annotations=annotations)


# ------------------------------------------------------------------- client


class Result:
    __slots__ = ("spec", "status", "upstream", "body", "elapsed", "error", "headers")

    def __init__(self, spec):
        self.spec = spec
        self.status = None
        self.upstream = None
        self.body = b""
        self.elapsed = None
        self.error = None
        self.headers = []

    def __repr__(self):
        return (f"<Result {self.spec.get('path', '/')} -> {self.status} "
                f"{self.upstream} {self.error or ''}>")


class SourceConn(HttpConn):
    """An HttpConn from a chosen loopback source address (e.g. 127.0.0.7)."""

    def __init__(self, port, source, timeout=5.0, host="127.0.0.1"):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()


def _one(conn_holder, port, spec, timeout):
    r = Result(spec)
    t0 = time.monotonic()
    try:
        if conn_holder[0] is None:
            conn_holder[0] = HttpConn(port, timeout=timeout)
        c = conn_holder[0]
        resp = c.request(spec.get("method", "GET"), spec.get("path", "/"),
                         host=spec.get("host", DEFAULT_HOST), headers=spec.get("headers", ()),
                         body=spec.get("body"))
        r.status = resp.status
        r.upstream = resp.header("x-upstream")
        r.body = resp.body
        r.headers = resp.headers
        if resp.has_token("connection", "close"):
            c.close()
            conn_holder[0] = None
    except (ConnectionClosed, TestFailure, OSError) as e:
        r.error = f"{type(e).__name__}: {e}"
        if conn_holder[0] is not None:
            conn_holder[0].close()
        conn_holder[0] = None
    r.elapsed = time.monotonic() - t0
    return r


def load(port, specs, conns=4, timeout=10.0):
    """Sends every request of specs (dicts: method, path, host, headers, body) over
    `conns` keep-alive connections (one thread each, a new connection when canaryd
    closes one); returns the Results in the order of specs."""
    results = [None] * len(specs)
    conns = max(1, min(conns, len(specs)))

    def worker(k):
        holder = [None]
        try:
            for i in range(k, len(specs), conns):
                results[i] = _one(holder, port, specs[i], timeout)
        finally:
            if holder[0] is not None:
                holder[0].close()

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def concurrent_requests(port, specs, timeout=10.0):
    """Every spec on its own new connection, all at once; Results in order."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(specs))) as ex:
        futs = [ex.submit(_one, [None], port, s, timeout) for s in specs]
        out = [f.result() for f in futs]
    return out


def sequential(port, specs, timeout=10.0):
    """The specs one after the other on one keep-alive connection."""
    return load(port, specs, conns=1, timeout=timeout)


# ------------------------------------------------------------------- figures


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, int(math.ceil(p / 100.0 * len(v))) - 1))
    return v[k]


def binomial_bounds(n, p, sigmas=4.5):
    """[lo, hi] counts of successes in n Bernoulli(p) draws within `sigmas` SDs."""
    mean = n * p
    sd = math.sqrt(n * p * (1 - p))
    return mean - sigmas * sd, mean + sigmas * sd


def ms(x):
    return f"{x * 1000:.1f} ms"


# ------------------------------------------------------------------- admin

def metric_value(proxy, name, labels=None):
    """Sum of the samples of `name` whose labels include `labels` (0 when none)."""
    return proxy.metrics().sum(name, **(labels or {}))


def generation(proxy):
    status, body = proxy.admin_get("/config")
    if status != 200:
        raise TestFailure(f"GET /config: status {status}")
    return int(json.loads(body)["generation"])


def reload_and_wait(proxy, config, timeout=5.0):
    """Writes config, sends SIGHUP, waits until /config's generation went up."""
    g0 = generation(proxy)
    proxy.write_config(config)
    proxy.reload()
    deadline = time.monotonic() + timeout * slow_factor()
    while time.monotonic() < deadline:
        if generation(proxy) > g0:
            return
        time.sleep(0.02)
    raise TestFailure(f"SIGHUP: /config generation still {generation(proxy)} "
                      f"(was {g0}) after {timeout * slow_factor():.0f}s; the new config "
                      f"was not loaded")


def flags_of(line):
    """The access-log flags of one line as a set of strings."""
    f = line.get("flags")
    if f is None:
        return set()
    if isinstance(f, list):
        return set(f)
    return {t for t in re.split(r"[,\s]+", str(f)) if t}
