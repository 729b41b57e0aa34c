"""Helpers for the hostile-client / hostile-upstream regression tests in tests/e2e/regress/.

Builds on canaryd_e2e, whose Upstream(name, handler=fn) runs fn(upstream, conn, index)
for every accepted connection, for upstreams that misbehave in ways its modes cannot
(split heads, bytes after the response, resets); fn records heads with upstream.record().

  read_head(conn, buf)   reads one HTTP head from a socket (for such a handler); returns
                         (head, rest) or (None, buf) on EOF.
  exchange(port, data, wait, shut_wr, piece)
                         sends raw bytes to canaryd on a new connection (optionally one
                         `piece` bytes at a time, optionally shutdown(SHUT_WR) afterwards)
                         and returns (bytes received within `wait` s, how it ended:
                         "eof", "reset" or "timeout").
  statuses(data)         the status codes of every response head in a byte stream.
  single_route_config(port_or_upstream, http_yaml=None, extra_vs=())
                         mesh_config for one subset v1 and a VirtualService for mobile-api.
"""

import os
import re
import socket
import time

from canaryd_e2e import mesh_config, route_to, virtual_service


def read_head(conn, buf=b""):
    while b"\r\n\r\n" not in buf:
        data = conn.recv(65536)
        if not data:
            return None, buf
        buf += data
    i = buf.index(b"\r\n\r\n") + 4
    return buf[:i], buf[i:]


def exchange(port, data, wait=1.0, shut_wr=False, piece=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=wait)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    out = b""
    how = "timeout"
    try:
        if piece:
            for i in range(0, len(data), piece):
                s.sendall(data[i:i + piece])
                time.sleep(0.0005)
        else:
            s.sendall(data)
        if shut_wr:
            s.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                d = s.recv(262144)
            except socket.timeout:
                break
            if not d:
                how = "eof"
                break
            out += d
    except (ConnectionResetError, BrokenPipeError):
        how = "reset"
    finally:
        s.close()
    return out, how


_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3}) ")


def statuses(data):
    return [int(m.group(1)) for m in _STATUS.finditer(data)]


def single_route_config(up, http_yaml=None, extra_vs=()):
    port = up if isinstance(up, int) else up.port
    http_yaml = http_yaml or f"- route: {route_to('v1')}"
    return mesh_config({"v1": port}, virtual_service("mobile-api", ["mobile-api"], http_yaml),
                       *extra_vs)


HERE = os.path.dirname(os.path.abspath(__file__))
