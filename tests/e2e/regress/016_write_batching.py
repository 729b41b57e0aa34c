#!/usr/bin/env python3
"""regress: output written in batches at the end of each loop pass (batch.c, conn_sendq_flush in conn.c)
behaves like a write done at once, at its edges:
  1. a client that half-closes right after its request still gets the answer queued in
     the same pass;
  2. 200 pipelined requests whose answers fill the output past the high-water mark are
     all answered (no stall, no 408);
  3. a request whose forwarded head and body come to exactly 64 KiB (the queueing limit)
     on a pooled connection still has the rest of its body read;
  4. a client that never reads while the upstream streams tiny chunks does not make the
     worker spin: canaryd stays idle and keeps serving others."""
import os
import socket
import threading
import time

from canaryd_e2e import (Canaryd, Upstream, Upstreams, fail, mesh_config, run, step,
                         virtual_service)
from regress_helpers import read_head

VS = "- route: [{destination: {host: mobile-api, subset: v1}}]\n"


# ---- 1. half-close

def half_close():
    lost, n = 0, 200
    with Upstream("v1", handler=Upstream.HAND_OVER) as srv, \
            Canaryd(mesh_config({"v1": srv},
                                virtual_service("mobile-api", ["mobile-api"], VS))) as proxy:
        up = None
        for _ in range(n):
            c = socket.create_connection(("127.0.0.1", proxy.port))
            c.sendall(b"GET /x HTTP/1.1\r\nHost: mobile-api\r\n\r\n")
            if up is None:
                up = srv.next_conn()
                up.settimeout(5)
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += up.recv(65536)
            # The response and the client's FIN arrive back to back.
            up.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            c.shutdown(socket.SHUT_WR)
            c.settimeout(3)
            data = b""
            try:
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    data += d
            except OSError:
                pass
            if not data.startswith(b"HTTP/1.1 200"):
                lost += 1
            c.close()
        if up is not None:
            up.close()
    step(f"  {lost} of {n} answers lost after a half-close")
    if lost:
        fail(f"{lost} of {n} answers lost when the client half-closed after its request")


# ---- 2. pipelined answers past the high-water mark

def pipelined_burst():
    body = "x" * 1000
    vs = ("- name: direct\n  match: [{uri: {prefix: /d}}]\n"
          f"  directResponse: {{status: 200, body: {{string: \"{body}\"}}}}\n" + VS)
    with Upstreams("v1") as ups:
        cfg = mesh_config(ups, virtual_service("mobile-api", ["mobile-api"], vs))
        with Canaryd(cfg) as proxy:
            s = socket.create_connection(("127.0.0.1", proxy.port))
            n = 200
            s.sendall(b"GET /d HTTP/1.1\r\nHost: mobile-api\r\n\r\n" * n)
            s.settimeout(8)
            data = b""
            try:
                while data.count(b"HTTP/1.1 ") < n:
                    d = s.recv(1 << 20)
                    if not d:
                        break
                    data += d
            except socket.timeout:
                pass
            s.close()
            got = data.count(b"HTTP/1.1 200")
            step(f"  {got} of {n} pipelined answers")
            if got != n:
                fail(f"pipelined answers stalled: {got} of {n} "
                     f"({data.count(b'HTTP/1.1 408')} x 408)")

# ---- 3. exactly 64 KiB queued towards the upstream

def body_handler(bodies, release):
    """An Upstream handler: reads each request with its Content-Length body, records the
    head (up.heads) and the body length by path (bodies), answers "ok"; /block waits until
    `release` is set."""

    def handler(up, c, idx):
        buf = b""
        while True:
            head, buf = read_head(c, buf)
            if head is None:
                return
            up.record(head, idx)
            cl = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    cl = int(line.split(b":")[1])
            while len(buf) < cl:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            path = head.split(b" ")[1]
            bodies[path] = cl
            buf = buf[cl:]
            if path == b"/block":
                release.wait(10)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    return handler


def read_ok(c, timeout=5):
    c.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\nok" not in data:
            d = c.recv(65536)
            if not d:
                break
            data += d
    except socket.timeout:
        return None
    return data


def queued_at_limit():
    bodies, release = {}, threading.Event()
    tp = "connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 10}}"
    with Upstream("v1", handler=body_handler(bodies, release)) as srv, \
            Canaryd(mesh_config({"v1": srv}, virtual_service("mobile-api", ["mobile-api"], VS),
                                traffic_policy=tp)) as proxy:
        # The forwarded head of a POST with a 5-digit Content-Length, to size the body.
        c = socket.create_connection(("127.0.0.1", proxy.port))
        c.sendall(b"POST /x HTTP/1.1\r\nHost: mobile-api\r\nContent-Length: 10000\r\n\r\n"
                  + b"a" * 10000)
        read_ok(c)
        c.close()
        first = len(srv.heads[-1].raw_head) if srv.heads else 0
        if first == 0:
            fail("the calibration POST never reached the upstream")
        body_now = 65536 - first
        # The only connection is busy with /block, so the POST waits in the pending queue
        # holding body_now bytes; it is dispatched on the pooled connection with head +
        # body = 64 KiB exactly, and the last 100 bytes come after.
        a = socket.create_connection(("127.0.0.1", proxy.port))
        a.sendall(b"GET /block HTTP/1.1\r\nHost: mobile-api\r\n\r\n")
        time.sleep(0.3)
        b = socket.create_connection(("127.0.0.1", proxy.port))
        b.sendall(b"POST /x HTTP/1.1\r\nHost: mobile-api\r\nContent-Length: %d\r\n\r\n"
                  % (body_now + 100) + b"b" * body_now)
        time.sleep(0.3)
        release.set()
        read_ok(a)
        time.sleep(0.3)
        b.sendall(b"c" * 100)
        r = read_ok(b, 5)
        step(f"  POST: {'answered' if r else 'no answer in 5 s'}; the upstream read "
             f"{bodies.get(b'/x')} of {body_now + 100} body bytes")
        a.close()
        b.close()
        if not r:
            fail("the rest of a request body was never read after a 64 KiB queued write")


# ---- 4. a client that never reads

def cpu_ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def trickle_handler(stop):
    """An Upstream handler: reads a head, then streams one-byte chunks until `stop`."""

    def handler(up, c, idx):
        head, _ = read_head(c)
        if head is not None:
            trickle(c, stop)

    return handler


def trickle(c, stop):
    c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    piece = b"1\r\nX\r\n" * 20000
    c.settimeout(0.5)
    while not stop.is_set():
        try:
            c.send(piece)
        except socket.timeout:
            pass
        except OSError:
            break


def reader_that_never_reads():
    stop = threading.Event()
    with Upstream("v1", handler=trickle_handler(stop)) as up, \
            Canaryd(mesh_config({"v1": up}, virtual_service("mobile-api", ["mobile-api"], VS)),
                    drain_timeout=1) as proxy:
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.connect(("127.0.0.1", proxy.port))
        c.sendall(b"GET /x HTTP/1.0\r\nHost: mobile-api\r\n\r\n")
        time.sleep(3)
        t0 = cpu_ticks(proxy.pid)
        time.sleep(2)
        cpu = (cpu_ticks(proxy.pid) - t0) / os.sysconf("SC_CLK_TCK")
        step(f"  canaryd CPU over 2 s with a client that does not read: {cpu:.2f} s")
        d = socket.create_connection(("127.0.0.1", proxy.port), timeout=3)
        d.sendall(b"GET /nothing HTTP/1.1\r\nHost: no-such-host\r\n\r\n")
        try:
            answer = d.recv(100)
        except socket.timeout:
            answer = b""
        d.close()
        stop.set()
        c.close()
        if cpu > 1.0:
            fail(f"the worker spun ({cpu:.2f} s of CPU in 2 s) on a client that does not read")
        if not answer.startswith(b"HTTP/1.1 404"):
            fail(f"another client was not served meanwhile: {answer[:40]!r}")


def main():
    step("1. half-close right after the request")
    half_close()
    step("2. 200 pipelined requests, answers past the high-water mark")
    pipelined_burst()
    step("3. 64 KiB exactly queued towards a pooled upstream connection")
    queued_at_limit()
    step("4. a client that never reads, an upstream that trickles")
    reader_that_never_reads()


run(main)
