"""Helpers for the Gateway tests of tests/e2e/routing (013-015): Gateway YAML with
namespaces, several servers and tls, a proxy-like object that sends run_cases() to one
listener port, and `canaryd -t` runs."""
import json
import os
import subprocess
import tempfile

from canaryd_e2e import REPO, HttpConn, canaryd_bin


def gateway(name, servers, namespace=None):
    """servers: list of dicts {port, hosts, name?, tls?} (tls: YAML flow text)."""
    lines = ["apiVersion: networking.istio.io/v1", "kind: Gateway", "metadata:",
             f"  name: {name}"]
    if namespace:
        lines.append(f"  namespace: {namespace}")
    lines += ["spec:", "  servers:"]
    for i, s in enumerate(servers):
        pname = s.get("name", f"http-{i}")
        lines.append(f"  - port: {{number: {s['port']}, name: {pname}, protocol: HTTP}}")
        lines.append(f"    hosts: [{', '.join(json.dumps(h) for h in s['hosts'])}]")
        lines.append("    bind: 127.0.0.1")
        if s.get("tls"):
            lines.append(f"    tls: {s['tls']}")
    return "\n".join(lines) + "\n"


def vs_doc(name, hosts, gateways, http, namespace=None):
    """A VirtualService; http is the YAML of spec.http at indent 2 (items '  - ...')."""
    lines = ["apiVersion: networking.istio.io/v1", "kind: VirtualService", "metadata:",
             f"  name: {name}"]
    if namespace:
        lines.append(f"  namespace: {namespace}")
    lines += ["spec:", f"  hosts: [{', '.join(json.dumps(h) for h in hosts)}]"]
    if gateways:
        lines.append(f"  gateways: [{', '.join(gateways)}]")
    lines.append("  http:")
    return "\n".join(lines) + "\n" + http.rstrip("\n") + "\n"


def to(subset, name=None):
    """One route to a subset of mobile-api (default namespace), at indent 2."""
    return (f"  - name: {name or subset}\n"
            f"    route: [{{destination: {{host: mobile-api.default.svc.cluster.local, "
            f"subset: {subset}}}}}]\n")


class OnPort:
    """Stands for the proxy in run_cases(): its connections go to one listener port."""

    def __init__(self, port):
        self.port = port

    def conn(self, timeout=5.0):
        return HttpConn(self.port, timeout=timeout)


def check_config(text=None, path=None):
    """Runs `canaryd -t -c` on YAML text (or a file); returns (exit status, output)."""
    tmp = None
    if path is None:
        fd, tmp = tempfile.mkstemp(suffix=".yaml", prefix="canaryd-t-")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        path = tmp
    try:
        p = subprocess.run([canaryd_bin(), "-t", "-c", path], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
        return p.returncode, p.stdout.decode("utf-8", "replace")
    finally:
        if tmp:
            os.unlink(tmp)


def corpus(name):
    return os.path.join(REPO, "tests", "corpus", name)
