#!/usr/bin/env python3
"""regress (guard, passes today): obfuscated framing is rejected with 400 before anything
hidden in it reaches the upstream, and the legitimate variants still work.

Rejected (400, closed, no smuggled request upstream): `Transfer-Encoding : chunked`,
`xchunked` (501: an unknown coding, RFC 9112 6.1), `chunked;q=1`, a VT after chunked, two TE lines, `chunked, chunked`, TE in
HTTP/1.0, `Content-Length: 1 0`, 17-digit and >= 2^63 chunk sizes, bare LF in a chunk line /
after chunk data / in the last chunk, obs-fold in a trailer, a bare-LF head, a CR inside a
header value that would hide a Content-Length.
Accepted: `Transfer-Encoding:<TAB>chunked`, `CHUNKED`, `gzip, chunked`, chunk extensions.
A pipelined mix (Content-Length body, GET, chunked body with a trailer, GET + close) sent
whole and then one byte per send reaches the upstream as exactly those four requests,
with the right bodies, answered in order."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from canaryd_e2e import Canaryd, Upstream, expect_eq, fail, run, step  # noqa: E402
from regress_helpers import exchange, single_route_config, statuses  # noqa: E402

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: mobile-api\r\n\r\n"


def post(hdrs, body, version=b"1.1"):
    return (b"POST /t HTTP/" + version + b"\r\nHost: mobile-api\r\n" + hdrs + b"\r\n" + body
            + SMUGGLED)


TE = b"Transfer-Encoding: chunked\r\n"
REJECT = [
    ("TE with space before colon", post(b"Transfer-Encoding : chunked\r\n", b"0\r\n\r\n")),
    ("TE xchunked", post(b"Transfer-Encoding: xchunked\r\n", b"0\r\n\r\n"), 501),
    ("TE chunked;q=1", post(b"Transfer-Encoding: chunked;q=1\r\n", b"0\r\n\r\n")),
    ("TE chunked + VT", post(b"Transfer-Encoding: chunked\x0b\r\n", b"0\r\n\r\n")),
    ("two TE lines", post(TE + TE, b"0\r\n\r\n")),
    ("TE chunked, chunked", post(b"Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n")),
    ("TE in HTTP/1.0", post(TE, b"0\r\n\r\n", b"1.0")),
    ("Content-Length: 1 0", post(b"Content-Length: 1 0\r\n", b"helloworld")),
    ("17-digit chunk size", post(TE, b"00000000000000005\r\nhello\r\n0\r\n\r\n")),
    ("chunk size 2^63", post(TE, b"8000000000000000\r\nhello\r\n0\r\n\r\n")),
    ("bare LF after chunk extension", post(TE, b"5;a\nhello\r\n0\r\n\r\n")),
    ("bare LF after chunk size", post(TE, b"5\nhello\r\n0\r\n\r\n")),
    ("bare LF after chunk data", post(TE, b"5\r\nhello\n0\r\n\r\n")),
    ("bare LF last chunk", post(TE, b"5\r\nhello\r\n0\n\n")),
    ("obs-fold in a trailer", post(TE, b"5\r\nhello\r\n0\r\nX: a\r\n b\r\n\r\n")),
    ("bare-LF head", b"POST /t HTTP/1.1\nHost: mobile-api\nContent-Length: 0\n\n" + SMUGGLED),
    ("CR hiding a Content-Length", post(b"X-A: a\rContent-Length: 3\r\n", b"")),
]
ACCEPT = [
    ("TE:<TAB>chunked", post(b"Transfer-Encoding:\tchunked\r\n", b"5\r\nhello\r\n0\r\n\r\n")),
    ("TE CHUNKED", post(b"Transfer-Encoding: CHUNKED\r\n", b"5\r\nhello\r\n0\r\n\r\n")),
    ("TE gzip, chunked", post(b"Transfer-Encoding: gzip, chunked\r\n",
                              b"5\r\nhello\r\n0\r\n\r\n")),
    ("chunk extensions", post(TE, b"5;a=b;c=\"d e\"\r\nhello\r\n0\r\n\r\n")),
]
PIPELINE = (b"POST /upload HTTP/1.1\r\nHost: mobile-api\r\nContent-Length: 5\r\n\r\nhello"
            b"GET /a HTTP/1.1\r\nHost: mobile-api\r\n\r\n"
            b"POST /upload HTTP/1.1\r\nHost: mobile-api\r\n" + TE + b"\r\n"
            b"3\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Trailer: 1\r\n\r\n"
            b"GET /b HTTP/1.1\r\nHost: mobile-api\r\nConnection: close\r\n\r\n")


def main():
    with Upstream("v1") as up:
        with Canaryd(single_route_config(up)) as proxy:
            step("obfuscated framing: 400, and the hidden request never reaches the upstream")
            failures = []
            for what, raw, *want in REJECT:
                up.clear()
                data, how = exchange(proxy.port, raw, wait=1.0)
                smuggled = [h.target for h in up.heads if h.target == "/smuggled"]
                if statuses(data) != (want or [400]) or how == "timeout" or smuggled or up.count():
                    failures.append(f"{what}: {statuses(data)} then {how}; upstream heads "
                                    f"{[h.target for h in up.heads]!r}")
            step("legitimate variants: the POST and the pipelined GET are both answered")
            for what, raw in ACCEPT:
                up.clear()
                data, _ = exchange(proxy.port, raw, wait=0.5)
                got = [(r.target, r.body_len) for r in up.wait_requests(2, timeout=0.5)]
                if statuses(data) != [200, 200] or got != [("/t", 5), ("/smuggled", 0)]:
                    failures.append(f"{what}: {statuses(data)}; upstream got {got!r}")
            if failures:
                fail(f"{len(failures)} framing cases wrong:\n  " + "\n  ".join(failures))
            for piece in (None, 1):
                step("pipelined mix of bodies" + (" one byte per send" if piece else ""))
                up.clear()
                data, how = exchange(proxy.port, PIPELINE, wait=3.0, piece=piece)
                expect_eq((statuses(data), how), ([200, 200, 200, 200], "eof"), "responses")
                expect_eq([(r.method, r.target, r.body_len) for r in up.snapshot()],
                          [("POST", "/upload", 5), ("GET", "/a", 0), ("POST", "/upload", 7),
                           ("GET", "/b", 0)], "requests the upstream received")


run(main)
