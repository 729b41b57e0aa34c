"""Helpers for the hostile-client / hostile-upstream regression tests in tests/e2e/regress/.

Builds on canaryd_e2e (which it does not change):

  RawUpstream(handler)   a loopback TCP server whose every accepted connection runs
                         handler(upstream, conn, index) in its own thread; for upstreams that
                         misbehave in ways the scripted Upstream cannot (split heads, bytes
                         after the response, resets). .heads collects what read_head() saw
                         when the handler stores them there. Closed by close() / `with`.
  read_head(conn, buf)   reads one HTTP head from a socket; returns (head, rest) or
                         (None, buf) on EOF.
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
import threading
import time

from canaryd_e2e import mesh_config, route_to, virtual_service


class RawUpstream:
    def __init__(self, handler):
        self.handler = handler
        self.heads = []
        self.accepted = 0
        self.lock = threading.Lock()
        self._conns = []
        self._threads = []
        self._stop = threading.Event()
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(512)
        self.lsock.settimeout(0.1)
        self.port = self.lsock.getsockname()[1]
        self._t = threading.Thread(target=self._accept_loop, daemon=True)
        self._t.start()

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                idx = self.accepted
                self._conns.append(conn)
            t = threading.Thread(target=self._run, args=(conn, idx), daemon=True)
            with self.lock:
                self._threads.append(t)
            t.start()

    def _run(self, conn, idx):
        try:
            self.handler(self, conn, idx)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def record(self, head):
        with self.lock:
            self.heads.append(head)

    def targets(self):
        with self.lock:
            return [h.split(b" ")[1].decode("latin-1") for h in self.heads]

    def close(self):
        self._stop.set()
        self._t.join(2)
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self._conns)
            threads = list(self._threads)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in threads:
            t.join(1)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
        return False


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
