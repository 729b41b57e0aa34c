"""Helpers for the traffic-policy e2e tests (tests/e2e/policy/): retries, fault
injection, mirroring, outlier detection, connection-pool limits, sticky canary.

Builds on canaryd_e2e (which it does not change):

  ScriptUpstream(name, mode=None)
                  an Upstream whose behaviour for *every* path can be switched at run
                  time (so two endpoints of one subset can answer the same request
                  differently): mode None (the normal Upstream paths), "reset" (read the
                  request, close without answering), "status:NNN", "slow:MS",
                  "flaky:N:NNN" (the first N requests answer NNN, then 200). It also
                  tracks how many requests it is serving at once (.max_active), and
                  answers GET /__stats with JSON counters whatever the mode.
  ProcessUpstream(name, mode)
                  the same in a child process (killed by PID on close), for upstreams
                  holding hundreds of threads (a slow mirror); .stats().
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
import os
import re
import signal
import socket
import sys
import threading
import time

import canaryd_e2e
from canaryd_e2e import (DEFAULT_HOST, ConnectionClosed, HttpConn, TestFailure, Upstream,
                         _indent, service_entry, slow_factor, virtual_service)

# ----------------------------------------------------------------- upstream


class ScriptUpstream(Upstream):
    """An Upstream whose answer to any path is set by .mode (see the module doc)."""

    def __init__(self, name, mode=None, **kw):
        self.mode = mode
        self._served = 0  # requests answered under a "flaky" mode
        self.active = 0
        self.max_active = 0
        super().__init__(name, **kw)

    def set_mode(self, mode):
        with self.lock:
            self.mode = mode
            self._served = 0

    def clear(self):
        super().clear()
        with self.lock:
            self.max_active = self.active

    def _handle(self, conn, rd, req):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            mode = self.mode
        try:
            if mode is None and req.path != "/__stats":
                return super()._handle(conn, rd, req)
            return self._scripted(conn, rd, req, mode)
        finally:
            with self.lock:
                self.active -= 1

    def _scripted(self, conn, rd, req, mode):
        if req.path == "/__stats":
            self._read_body(rd, req)
            with self.lock:
                stats = {"heads": len(self.heads) - 1, "requests": len(self.requests),
                         "max_active": self.max_active}
            return self._send(conn, 200, req, json.dumps(stats).encode(), keep=False)
        self._read_body(rd, req)
        req.complete = True
        with self.lock:
            self.requests.append(req)
            self._served += 1
            served = self._served
        keep = not self._wants_close(req)
        body = (self.name + "\n").encode()
        kind, _, arg = mode.partition(":")
        if kind == "reset":
            return False
        if kind == "status":
            return self._send(conn, int(arg), req, body, keep=keep)
        if kind == "slow":
            time.sleep(int(arg) / 1000.0)
            return self._send(conn, 200, req, body, keep=keep)
        if kind == "flaky":
            n, _, status = arg.partition(":")
            if served <= int(n):
                return self._send(conn, int(status), req, body, keep=keep)
            return self._send(conn, 200, req, body, keep=keep)
        raise ValueError(f"unknown ScriptUpstream mode {mode!r}")


class ProcessUpstream:
    """A ScriptUpstream in a child python process (so that hundreds of its threads, e.g.
    a slow mirror's, cannot steal this process's GIL from the client and the other
    upstreams). .port; .stats() -> {"heads", "requests", "max_active"} (GET /__stats,
    which answers at once whatever the mode); close() kills the child by PID."""

    def __init__(self, name, mode):
        import subprocess
        import sys

        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve", name, mode or ""],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=dict(os.environ))
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.close()
            raise TestFailure(f"ProcessUpstream {name}: child did not start ({line!r})")
        self.port = int(line)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
        return False

    def stats(self):
        c = HttpConn(self.port, timeout=5.0)
        try:
            resp = c.request("GET", "/__stats")
        finally:
            c.close()
        return json.loads(resp.body)

    def close(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass


def _serve_main(name, mode):
    up = ScriptUpstream(name, mode=mode or None)
    print(up.port, flush=True)
    try:
        sys.stdin.read()  # until the parent closes the pipe or kills us
    finally:
        up.close()


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

_SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metric_samples(proxy):
    """[(name, {labels}, value)] from GET /metrics."""
    status, body = proxy.admin_get("/metrics")
    if status != 200:
        raise TestFailure(f"GET /metrics: status {status}")
    out = []
    for line in body.decode("utf-8", "replace").splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        if not m:
            continue
        labels = dict(_LABEL_RE.findall(m.group(3) or ""))
        try:
            out.append((m.group(1), labels, float(m.group(4))))
        except ValueError:
            pass
    return out


def metric_value(proxy, name, labels=None):
    """Sum of the samples of `name` whose labels include `labels` (0 when none)."""
    labels = labels or {}
    return sum(v for n, lab, v in metric_samples(proxy)
               if n == name and all(lab.get(k) == val for k, val in labels.items()))


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


if __name__ == "__main__" and len(sys.argv) >= 3 and sys.argv[1] == "--serve":
    _serve_main(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "")
