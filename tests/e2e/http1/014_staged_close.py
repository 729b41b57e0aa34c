#!/usr/bin/env python3
"""http1: staged close (RFC 9112 9.6). When canaryd answers early and closes while the
client is still sending (414 for a 16 KiB request line, 431 for a huge header section,
400 for a bad head followed by its body, 408 for a head that trickles past
--header-timeout, 404 for an unroutable request whose body is still coming), it writes
the answer, half-closes, and reads and drops what the client still sends, so the client
reads the whole answer and a clean end of stream instead of a connection reset that
would destroy it. Without this, the kernel answers the bytes arriving after close() with
a reset and the client's recv() fails with ECONNRESET before it sees the answer.

Lingering is bounded: a client that never stops sending is closed within 2 s, one that
goes quiet without closing within 1 s, and 1 MiB of dropped input ends it; every
lingering connection counts in canaryd_downstream_connections_active until it is really
closed. A head interrupted by SIGTERM is still answered, with the same staged close, and
lingering connections hold a drain up for no longer than their bound. Everything runs
twice: with io_uring write batching (when the kernel has it) and with
CANARYD_IO_URING=off."""
import os
import socket
import time

from canaryd_e2e import (Canaryd, Upstream, check, expect_eq, fail, mesh_config, route_to,
                         run, sanitizer_report, slow_factor, step, virtual_service)

H = b"Host: mobile-api\r\n"
HEADER_TIMEOUT = 1.0


def config(up):
    return mesh_config({"v1": up}, virtual_service("mobile-api", ["mobile-api"],
                                                   f"- route: {route_to('v1')}\n"))


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5 * slow_factor())
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def send_pieces(s, data, piece, pause):
    """Sends data piece by piece, like a client that does not look at the answer until
    it has sent everything. A reset while sending is what staged close prevents."""
    for i in range(0, len(data), piece):
        try:
            s.sendall(data[i:i + piece])
        except (ConnectionResetError, BrokenPipeError) as e:
            return f"{type(e).__name__} after sending {i} of {len(data)} bytes"
        time.sleep(pause)
    return ""


def read_to_end(s, wait=3.0):
    """Reads until EOF; returns (data, how): "eof", "reset" or "timeout"."""
    data = b""
    deadline = time.monotonic() + wait * slow_factor()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, "timeout"
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return data, "timeout"
        except ConnectionResetError:
            return data, "reset"
        if not chunk:
            return data, "eof"
        data += chunk


def parse_answer(data):
    """(status, body) of one Content-Length response making up all of data, or None."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"HTTP/1.1 "):
        return None
    lines = head.split(b"\r\n")
    cl = [ln.split(b":", 1)[1].strip() for ln in lines[1:] if ln.lower().startswith(
        b"content-length:")]
    if len(cl) != 1 or int(cl[0]) != len(body):
        return None
    return int(lines[0].split(b" ")[1]), body


def staged(port, what, status, data, piece, pause, then=b""):
    """Sends data (and then `then`), reads the answer: it must be exactly one complete
    `status` response, then EOF, with no reset on either side."""
    s = connect(port)
    try:
        err = send_pieces(s, data, piece, pause)
        if not err and then:
            err = send_pieces(s, then, piece, pause)
        got, how = read_to_end(s)
    finally:
        s.close()
    ans = parse_answer(got)
    if err or how != "eof" or ans is None or ans[0] != status:
        return (f"{what}: expected a complete {status} then EOF; got {how}"
                f"{' (' + err + ')' if err else ''} after {len(got)} bytes {got[:90]!r}")
    print(f"  ok   {what}: {status} {ans[1].strip().decode('latin-1')!r}, then EOF",
          flush=True)
    return ""


def trickle_past_timeout(port):
    """A head that is never finished: one byte every 50 ms until well after
    --header-timeout, then the client reads."""
    s = connect(port)
    try:
        err = send_pieces(s, b"GET /slow HTTP/1.1\r\n" + H + b"X-Trickle: ", 4096, 0)
        end = time.monotonic() + HEADER_TIMEOUT + 0.6
        while not err and time.monotonic() < end:
            err = send_pieces(s, b"a", 1, 0.05)
        got, how = read_to_end(s)
    finally:
        s.close()
    ans = parse_answer(got)
    if err or how != "eof" or ans is None or ans[0] != 408:
        return (f"header timeout while sending: expected a complete 408 then EOF; got {how}"
                f"{' (' + err + ')' if err else ''} after {len(got)} bytes {got[:90]!r}")
    print("  ok   header timeout while the client still sends: 408, then EOF", flush=True)
    return ""


def active(proxy):
    n = proxy.metrics().get("canaryd_downstream_connections_active")
    if n is None:
        fail("no canaryd_downstream_connections_active in /metrics")
    return n


def wait_active(proxy, want, timeout):
    deadline = time.monotonic() + timeout * slow_factor()
    while True:
        n = active(proxy)
        if n == want or time.monotonic() > deadline:
            return n
        time.sleep(0.05)


def early_answers(proxy):
    step("early answers while the client still sends: complete answer, then EOF")
    big_line = b"GET /" + b"a" * 16384 + b" HTTP/1.1\r\n" + H + b"\r\n"
    big_head = b"GET / HTTP/1.1\r\n" + H + b"".join(
        b"X-Fill-%05d: %s\r\n" % (i, b"b" * 1000) for i in range(96)) + b"\r\n"
    bad_head = b"POST /upload HTTP/1.1\r\n" + H + b"Bad Name: x\r\nContent-Length: 262144\r\n\r\n"
    no_route = (b"POST /upload HTTP/1.1\r\nHost: nowhere.example\r\n"
                b"Content-Length: 262144\r\n\r\n")
    failures = [
        staged(proxy.port, "16 KiB request line in 1 KiB pieces", 414, big_line, 1024, 0.005),
        staged(proxy.port, "96 KiB header section in 2 KiB pieces", 431, big_head, 2048, 0.002),
        staged(proxy.port, "bad head, then a 256 KiB body", 400, bad_head, 65536, 0,
               then=b"c" * 262144),
        staged(proxy.port, "no route, 256 KiB body still coming", 404, no_route, 65536, 0,
               then=b"d" * 262144),
        trickle_past_timeout(proxy.port),
    ]
    failures = [f for f in failures if f]
    if failures:
        fail(f"{len(failures)} early answers lost:\n  " + "\n  ".join(failures))


def bounds(proxy):
    step("lingering is bounded: too much input, an endless sender, a silent client")
    big_line = b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n"
    s = connect(proxy.port)
    try:
        s.sendall(big_line)
        err = send_pieces(s, b"e" * (2 << 20), 65536, 0)
        how = read_to_end(s, 1.0)[1] if not err else "reset"
        check(how != "timeout", "2 MiB flood after a 414: the connection stayed open")
        step(f"  flood: {err or 'all sent, then ' + how}")
    finally:
        s.close()
    s = connect(proxy.port)
    try:
        t0 = time.monotonic()
        s.sendall(big_line)
        closed = None
        while closed is None and time.monotonic() - t0 < 5 * slow_factor():
            try:
                s.sendall(b"f" * 512)
            except (ConnectionResetError, BrokenPipeError):
                closed = time.monotonic() - t0
            time.sleep(0.05)
        check(closed is not None, "a client that never stops sending was not closed in 5 s")
        check(1.5 <= closed <= 3.0 * slow_factor(),
              f"endless sender closed after {closed:.1f}s (bound: 2 s of lingering)")
        step(f"  endless sender closed after {closed:.1f}s")
    finally:
        s.close()
    s = connect(proxy.port)
    try:
        t0 = time.monotonic()
        s.sendall(big_line)
        got, how = read_to_end(s, 2.0)
        check(how == "eof" and got.startswith(b"HTTP/1.1 414 "),
              f"silent client: expected the 414 and EOF, got {how} {got[:60]!r}")
        n = wait_active(proxy, 0.0, 3.0)
        took = time.monotonic() - t0
        expect_eq(n, 0.0, "connections active once a silent client's lingering ended")
        check(0.7 <= took <= 2.0 * slow_factor(),
              f"a silent client was closed after {took:.1f}s (bound: 1 s without input)")
        step(f"  silent client closed after {took:.1f}s")
    finally:
        s.close()


def counted_while_lingering(proxy):
    step("a lingering connection is still counted in canaryd_downstream_connections_active")
    s = connect(proxy.port)
    try:
        s.sendall(b"GET / HTTP/2.0\r\n" + H + b"\r\n")
        s.settimeout(2 * slow_factor())
        got = s.recv(65536)
        check(got.startswith(b"HTTP/1.1 505 "), f"expected 505 first, got {got[:60]!r}")
        expect_eq(active(proxy), 1.0, "connections active while the 505 lingers")
        expect_eq(s.recv(65536), b"", "end of stream after the 505 (half-close)")
        s.sendall(b"still talking\r\n")  # the connection still reads: no reset
        expect_eq(active(proxy), 1.0, "connections active after the half-close")
    finally:
        s.close()
    expect_eq(wait_active(proxy, 0.0, 2.0), 0.0, "connections active once the client closed")


def drain(up, env):
    step("SIGTERM while a head is arriving: answered with a staged close; the drain waits "
         "no longer than the lingering bound")
    with Canaryd(config(up), env=env, drain_timeout=20) as proxy:
        s = connect(proxy.port)
        held = connect(proxy.port)
        try:
            s.sendall(b"GET /" + b"a" * 4096)
            held.sendall(b"GET /" + b"a" * 4096)
            time.sleep(0.2)
            t0 = time.monotonic()
            proxy.proc.send_signal(15)
            time.sleep(0.2)
            err = send_pieces(s, b"a" * 12288 + b" HTTP/1.1\r\n" + H + b"\r\n", 1024, 0.005)
            got, how = read_to_end(s)
            ans = parse_answer(got)
            check(not err and how == "eof" and ans is not None and ans[0] == 414,
                  f"during the drain: expected a complete 414 then EOF, got {how} {err} "
                  f"{got[:80]!r}")
            # `held` finishes its line too, then neither reads nor closes: it lingers.
            held.sendall(b"a" * 8192)
            rc = proxy.proc.wait(timeout=10 * slow_factor())
            took = time.monotonic() - t0
            proxy.proc = None  # stopped here: the report is checked below instead
            expect_eq(rc, 0, "exit status after the drain")
            report = sanitizer_report(proxy.stderr_text() + "\n" + proxy.stdout_text())
            check(not report, f"sanitizer report:\n{report}")
            check(took < 6 * slow_factor(),
                  f"the drain took {took:.1f}s with one lingering connection (bound ~2 s)")
            step(f"  drained in {took:.1f}s")
        finally:
            s.close()
            held.close()


def main():
    with Upstream("v1") as up:
        modes = [("io_uring (default)", {}), ("CANARYD_IO_URING=off", {"CANARYD_IO_URING": "off"})]
        if os.environ.get("E2E_CANARYD_ENV"):
            modes = modes[:1]  # the environment given to the whole run decides
        for name, env in modes:
            step(f"mode: {name}")
            with Canaryd(config(up), env=env,
                         extra_args=["--header-timeout", str(HEADER_TIMEOUT)]) as proxy:
                early_answers(proxy)
                counted_while_lingering(proxy)
                bounds(proxy)
                expect_eq(up.count(), 0, "requests that reached the upstream")
            drain(up, env)


run(main)
