#!/usr/bin/env python3
"""reload: Gateway listeners follow reloads. A Gateway with servers on ports A and B is
changed by SIGHUP to ports A and C: C starts accepting (and routes), B stops (connection
refused), A keeps the very same listening socket (same socket inode in /proc/net/tcp)
and a keep-alive connection accepted on A before the reload keeps working after it.
/config lists the listeners. A second reload back to A+B reopens B."""
import errno
import socket

from canaryd_e2e import (HttpConn, Upstreams, check, expect_eq, expect_upstream, free_port, mesh_config,
                         run, step, virtual_service)
from ops_helpers import OpsCanaryd, gateway, wait_until

VS_HTTP = """
- name: all
  route: [{destination: {host: mobile-api, subset: v1}}]
"""


def listen_inodes(port):
    """Socket inodes of the IPv4/IPv6 sockets listening on `port` (state 0A)."""
    out = set()
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(f) as fh:
                next(fh)
                for line in fh:
                    parts = line.split()
                    lport = int(parts[1].rsplit(":", 1)[1], 16)
                    if lport == port and parts[3] == "0A":
                        out.add(parts[9])
        except OSError:
            pass
    return out


def refused(port):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
        return False
    except OSError as e:
        return e.errno == errno.ECONNREFUSED
    finally:
        s.close()


def serves(port):
    try:
        with HttpConn(port, timeout=3) as c:
            r = c.request("GET", f"/on/{port}")
            return r.status == 200 and r.header("x-upstream") == "v1"
    except Exception:  # noqa: BLE001 - refused, reset, timeout, bad answer: not serving
        return False


def config(ups, ports):
    gw = gateway("edge", [(p, ["*"], "127.0.0.1") for p in ports])
    vs = virtual_service("mobile-api", ["mobile-api"], VS_HTTP, gateways=["edge"])
    return mesh_config(ups, vs) + "---\n" + gw


def main():
    with Upstreams("v1") as ups:
        a, b, c = free_port(), free_port(), free_port()
        while len({a, b, c}) < 3:
            b, c = free_port(), free_port()
        with OpsCanaryd(config(ups, [a, b])) as proxy:
            step(f"Gateway ports A={a} B={b}: both serve")
            check(serves(a), f"port A {a} does not serve at start")
            check(serves(b), f"port B {b} does not serve at start")
            check(refused(c), f"port C {c} accepts before it is configured")
            inodes_a = listen_inodes(a)
            check(inodes_a, f"no listening socket for port A {a} in /proc/net/tcp")
            ka = HttpConn(a, timeout=5)
            expect_upstream(ka.request("GET", "/ka/0"), "v1", "keep-alive request on A before reload")
            gen0 = proxy.generation()

            step(f"SIGHUP with ports A={a} C={c}")
            proxy.write_config(config(ups, [a, c]))
            proxy.reload()
            check(wait_until(lambda: proxy.generation() == gen0 + 1, 5),
                  f"generation did not reach {gen0 + 1}: {proxy.generation()}")
            check(wait_until(lambda: serves(c), 3), f"new port C {c} does not serve after the reload")
            check(wait_until(lambda: refused(b), 3), f"removed port B {b} still accepts connections")
            check(serves(a), f"kept port A {a} does not serve after the reload")
            expect_eq(listen_inodes(a), inodes_a, f"listening socket inodes of kept port A {a}")

            step("the keep-alive connection accepted on A before the reload keeps working")
            for i in range(1, 6):
                r = ka.request("GET", f"/ka/{i}")
                expect_upstream(r, "v1", f"keep-alive request {i} on A after reload")
                check(not r.has_token("connection", "close"),
                      f"keep-alive request {i} on A after the reload got Connection: close")
            ka.close()

            cfg = proxy.admin_json("/config")
            addrs = [l.get("address") for l in cfg.get("listeners", [])]
            print(f"  /config listeners: {addrs}")
            check(any(f":{c}" in str(x) for x in addrs) and not any(f":{b}" in str(x) for x in addrs),
                  f"/config listeners should list C {c} and not B {b}: {addrs}")

            step("SIGHUP back to A+B: B reopens, C closes, A still the same socket")
            proxy.write_config(config(ups, [a, b]))
            proxy.reload()
            check(wait_until(lambda: proxy.generation() == gen0 + 2, 5), "second reload not applied")
            check(wait_until(lambda: serves(b), 3), f"port B {b} does not serve after re-adding it")
            check(wait_until(lambda: refused(c), 3), f"removed port C {c} still accepts connections")
            expect_eq(listen_inodes(a), inodes_a, f"listening socket inodes of port A {a} after 2 reloads")


run(main)
