#!/usr/bin/env python3
"""regress (guard, passes today): one route with retries (3 attempts, perTryTimeout 0.3 s,
5xx/connect-failure/reset) and a 100% mirror, where the primary subset has a dead endpoint
next to a live one and the mirror subset has a dead endpoint next to a live one. Six
clients send a random mix of GET/PUT/POST (bodies of 0, 10 and 70,000 bytes) to paths that
answer 200, 503, reset, RST, slow, half a body, chunked, big; a fifth of them abort half-way
through sending, others reset right after the first response bytes. canaryd must answer
every complete request with 200/502/503/504 (never hang past its timeouts), stay clean
under ASan, and still serve normally afterwards."""
import os
import random
import socket
import struct
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from canaryd_e2e import (Canaryd, Upstream, build_request, expect_upstream, fail,  # noqa: E402
                         free_port, mesh_config, run, step, virtual_service)

ROUTES = """
- name: chaos
  retries: {attempts: 3, perTryTimeout: 0.3s, retryOn: "5xx,connect-failure,reset,gateway-error"}
  route: [{destination: {host: mobile-api, subset: v1}}]
  mirror: {host: mobile-api, subset: shadow}
  mirrorPercentage: {value: 100}
"""
PATHS = ["/", "/status/503", "/reset", "/rst", "/slow/400", "/half", "/chunked/3", "/upload",
         "/raw/halfchunked", "/big/200000"]


def client(port, seed, results, lock):
    rng = random.Random(seed)
    for _ in range(40):
        path, method = rng.choice(PATHS), rng.choice(["GET", "PUT", "POST"])
        body = None if method == "GET" else b"x" * rng.choice([0, 10, 70000])
        req = build_request(method, path, body=body)
        s = socket.create_connection(("127.0.0.1", port))
        s.settimeout(5)
        try:
            if rng.random() < 0.2:
                s.sendall(req[:len(req) // 2])
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                continue
            s.sendall(req)
            first = s.recv(16)
            key = first[9:12].decode("latin-1") if first.startswith(b"HTTP/1.1 ") else repr(first)
            if rng.random() < 0.3:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except socket.timeout:
            key = "timeout"
        except OSError as e:
            key = type(e).__name__
        finally:
            s.close()
        with lock:
            results[key] = results.get(key, 0) + 1


def main():
    dead, dead_mirror = free_port(), free_port()
    with Upstream("v1") as live, Upstream("shadow") as shadow:
        cfg = mesh_config({"v1": [dead, live], "shadow": [dead_mirror, shadow]},
                          virtual_service("mobile-api", ["mobile-api"], ROUTES))
        with Canaryd(cfg, workers=2) as proxy:
            step("6 clients x 40 random requests, aborts included")
            results, lock = {}, threading.Lock()
            threads = [threading.Thread(target=client, args=(proxy.port, k, results, lock))
                       for k in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            print(f"  first bytes seen: {results}", flush=True)
            bad = {k: v for k, v in results.items() if k not in ("200", "502", "503", "504")}
            if bad:
                fail(f"unexpected outcomes (should be 200/502/503/504): {bad}")
            step("a plain GET afterwards")
            expect_upstream(proxy.request(path="/"), "v1", "GET / after the chaos")


run(main)
