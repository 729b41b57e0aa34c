#!/usr/bin/env python3
"""routing/DNS: a ServiceEntry with resolution: DNS follows its name's A records, re-resolved
on their TTL, and keeps the last good addresses when the DNS server fails.

A small DNS server on 127.0.0.1 (UDP, this file) answers A queries for api.canary.test with
TTL 5 (the lower bound canaryd applies). canaryd runs in its own mount namespace where
/etc/resolv.conf names that server (unshare -m; skipped where that is not allowed). Two
upstreams listen on the same port at 127.0.0.1 (v1) and 127.0.0.2 (v2): changing the answer
moves traffic from one to the other without a reload."""
import os
import socket
import struct
import subprocess
import tempfile
import threading
import time

from canaryd_e2e import (Canaryd, Skip, Upstream, destination_rule, expect_upstream, fail,
                        run, service_entry, slow_factor, step, virtual_service)

NAME = "api.canary.test"
TTL = 5


class DnsServer:
    """Answers A queries for NAME with self.address (TTL TTL), AAAA with no record, other
    names with NXDOMAIN; with self.servfail set, answers everything SERVFAIL. Records the
    time of every A query."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.address = "127.0.0.1"
        self.servfail = False
        self.a_queries = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            reply = self._answer(data)
            if reply is not None:
                self.sock.sendto(reply, peer)

    def _answer(self, q):
        if len(q) < 12:
            return None
        qid, _flags, qd = struct.unpack("!HHH", q[:6])
        if qd != 1:
            return None
        i, labels = 12, []
        while i < len(q) and q[i] != 0:
            n = q[i]
            labels.append(q[i + 1:i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        if i + 5 > len(q):
            return None
        qtype = struct.unpack("!H", q[i + 1:i + 3])[0]
        question = q[12:i + 5]
        name = ".".join(labels).lower()
        rcode, answers = 0, b""
        if self.servfail:
            rcode = 2
        elif name != NAME:
            rcode = 3
        elif qtype == 1:
            self.a_queries.append(time.monotonic())
            answers = (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, TTL, 4)
                       + socket.inet_aton(self.address))
        flags = 0x8180 | rcode  # response, recursion desired + available
        head = struct.pack("!HHHHHH", qid, flags, 1, 1 if answers else 0, 0, 0)
        return head + question + answers

    def close(self):
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


def namespace_wrapper(resolv):
    """argv prefix running canaryd with `resolv` mounted over /etc/resolv.conf."""
    script = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'
    probe = subprocess.run(["unshare", "-m", "sh", "-c", script, resolv, "true"],
                           capture_output=True, timeout=10)
    if probe.returncode != 0:
        raise Skip("cannot make a mount namespace here (unshare -m): "
                   + probe.stderr.decode(errors="replace").strip())
    return ["unshare", "-m", "sh", "-c", script, resolv]


def config(port):
    se = service_entry("api", ["api.example.internal"], [(NAME, port, {"version": "any"})],
                       resolution="DNS")
    dr = destination_rule("api", "api.example.internal", [("any", {"version": "any"})])
    vs = virtual_service("api", ["api.example.internal"],
                         "- route: [{destination: {host: api.example.internal}}]\n")
    return "---\n".join([se, dr, vs])


def wait_for(proxy, name, within):
    deadline = time.monotonic() + within
    seen = []
    while time.monotonic() < deadline:
        r = proxy.request("GET", "/", host="api.example.internal")
        seen.append(r.header("x-upstream") if r.status == 200 else r.status)
        if r.status == 200 and r.header("x-upstream") == name:
            return seen
        time.sleep(0.2)
    fail(f"traffic never reached {name} within {within:.0f}s: answers {seen[-10:]}")


def main():
    v1 = Upstream("v1")
    try:
        v2 = Upstream("v2", port=v1.port, host="127.0.0.2")
    except OSError as e:
        v1.close()
        raise Skip(f"cannot listen on 127.0.0.2: {e}")
    dns = DnsServer()
    tmp = tempfile.mkdtemp(prefix="canaryd-dns-")
    resolv = os.path.join(tmp, "resolv.conf")
    with open(resolv, "w") as f:
        f.write(f"nameserver 127.0.0.1:{dns.port}\noptions timeout:1 attempts:1\n")
    try:
        with Canaryd(config(v1.port), wrapper=namespace_wrapper(resolv)) as proxy:
            step(f"{NAME} -> 127.0.0.1: requests reach v1")
            wait_for(proxy, "v1", 10 * slow_factor())
            for _ in range(5):
                expect_upstream(proxy.request("GET", "/", host="api.example.internal"),
                                "v1", "while the name points at v1")

            step(f"{NAME} -> 127.0.0.2: traffic follows within the TTL ({TTL} s), no reload")
            changed = time.monotonic()
            dns.address = "127.0.0.2"
            seen = wait_for(proxy, "v2", (TTL + 5) * slow_factor())
            took = time.monotonic() - changed
            step(f"  moved after {took:.1f}s ({len(seen)} requests)")
            if took > TTL + 3:
                fail(f"took {took:.1f}s to follow a {TTL} s TTL")

            step("re-resolution is paced by the TTL (not faster, not the old fixed 30 s)")
            n0 = len(dns.a_queries)
            time.sleep(3 * TTL + 1)
            rounds = len(dns.a_queries) - n0
            gaps = [b - a for a, b in zip(dns.a_queries, dns.a_queries[1:])]
            step(f"  {rounds} A queries in {3 * TTL + 1}s; gaps "
                 + ", ".join(f"{g:.1f}" for g in gaps[-4:]))
            if not 2 <= rounds <= 4:
                fail(f"expected about 3 A queries in {3 * TTL + 1}s with TTL {TTL}, "
                     f"got {rounds}")
            if min(gaps) < TTL - 1:
                fail(f"re-resolved {min(gaps):.1f}s after an answer with TTL {TTL}")

            step("DNS server fails (SERVFAIL): the last addresses keep serving")
            dns.servfail = True
            end = time.monotonic() + 2 * TTL + 2
            while time.monotonic() < end:
                expect_upstream(proxy.request("GET", "/", host="api.example.internal"),
                                "v2", "during the DNS failure")
                time.sleep(0.5)
            warned = [e for e in proxy.process_log_lines()
                      if "resolution failed" in e.get("msg", "")]
            if not warned:
                fail("no log line about the failed resolution")
            step(f"  logged: {warned[0]['msg']}")
            if len(warned) != 1:
                fail(f"the failure was logged {len(warned)} times, expected once")
    finally:
        dns.close()
        v1.close()
        v2.close()
        os.unlink(resolv)
        os.rmdir(tmp)


run(main)
