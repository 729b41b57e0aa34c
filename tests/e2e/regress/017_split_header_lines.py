#!/usr/bin/env python3
"""regress: header lists split over several lines are forwarded as they were framed.

- Transfer-Encoding on two lines (`gzip` then `chunked`) frames a request as chunked; the
  upstream must get the same list, `gzip, chunked`, with the chunked body, not the first
  line alone (which would tell it to read until close, or to read no body, so that the
  chunk data became a smuggled request).
- The same for a response: the client must get `gzip, chunked` and the connection stays
  usable for the next request.
- A second Connection line names a header as hop-by-hop just as the first does: it is
  not forwarded.
"""
import re
import socket

from canaryd_e2e import (Canaryd, Upstream, check, expect_eq, mesh_config, route_to, run,
                         step, virtual_service)


HEAD_RE = re.compile(rb"(?m)^[A-Z]+ [^ \r\n]+ HTTP/1\.1\r\n(?:[^\r\n]+\r\n)*\r\n")


def replying(reply):
    """An Upstream handler: records the bytes of each connection and answers `reply` once
    per complete request head seen (the blank line that ends a chunked body is no head: a
    second answer to it would wait on the pooled connection and answer the next request
    before the upstream saw it)."""

    def handler(up, c, idx):
        c.settimeout(2.0)
        data = bytearray()
        answered = 0
        while True:
            d = c.recv(65536)
            if not d:
                break
            data += d
            up.record_bytes(d, idx)
            while len(HEAD_RE.findall(data)) > answered:
                c.sendall(reply)
                answered += 1

    return handler


def exchange(port, data, until, timeout=3.0):
    """Sends data, reads until `until` bytes are seen or the peer closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while until not in out:
            d = s.recv(65536)
            if not d:
                break
            out += d
        return out
    finally:
        s.close()


def config(up):
    return mesh_config({"v1": up.port}, virtual_service("mobile-api", ["mobile-api"],
                                                        f"- route: {route_to('v1')}"))


OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
BODY = b"5\r\nhello\r\n0\r\n\r\n"


def main():
    up = Upstream("v1", handler=replying(OK))
    try:
        with Canaryd(config(up)) as proxy:
            step("request: Transfer-Encoding gzip + chunked on two lines")
            out = exchange(proxy.port, b"POST / HTTP/1.1\r\nHost: mobile-api\r\n"
                           b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
                           + BODY, b"ok")
            check(out.startswith(b"HTTP/1.1 200"), f"client: expected 200, got {out[:80]!r}")
            got = up.received().lower()
            check(b"transfer-encoding: gzip, chunked\r\n" in got,
                  f"upstream must get the combined list 'gzip, chunked'; got {got!r}")
            check(got.count(b"transfer-encoding:") == 1,
                  f"upstream must get one Transfer-Encoding line; got {got!r}")
            check(got.endswith(BODY), f"upstream must get the chunked body; got {got!r}")
            step("request: a second Connection line names X-Secret")
            exchange(proxy.port, b"GET /c HTTP/1.1\r\nHost: mobile-api\r\n"
                     b"Connection: keep-alive\r\nConnection: x-secret\r\nX-Secret: 1\r\n"
                     b"X-Kept: 1\r\n\r\n", b"ok")
            got = up.received().lower()
            check(b"x-kept: 1" in got, f"X-Kept must be forwarded; got {got!r}")
            check(b"x-secret" not in got, f"X-Secret is hop-by-hop; got {got!r}")
    finally:
        up.close()

    up = Upstream("v1", handler=replying(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
                                         b"Transfer-Encoding: chunked\r\n\r\n" + BODY))
    try:
        with Canaryd(config(up)) as proxy:
            step("response: Transfer-Encoding gzip + chunked on two lines, then a second "
                 "request on the same connection")
            s = socket.create_connection(("127.0.0.1", proxy.port), timeout=3)
            try:
                req = b"GET / HTTP/1.1\r\nHost: mobile-api\r\n\r\n"
                s.sendall(req + req)
                out = b""
                while out.count(b"0\r\n\r\n") < 2:
                    d = s.recv(65536)
                    if not d:
                        break
                    out += d
            finally:
                s.close()
            heads = [h for h in out.split(b"\r\n\r\n") if h.startswith(b"HTTP/1.1")]
            expect_eq(len(heads), 2, f"responses on one connection (got {out!r})")
            for h in heads:
                check(b"transfer-encoding: gzip, chunked" in h.lower(),
                      f"client must get 'gzip, chunked'; got {h!r}")
    finally:
        up.close()


run(main)
