#!/usr/bin/env python3
"""regress: a request whose Content-Length is a list of equal values (`Content-Length: 5, 5`)
or repeated on two lines with the same value is either rejected (400) or forwarded with a
single `Content-Length: 5` (RFC 9110 8.6: a recipient MAY reject it or MUST replace the
duplicates with a single valid value *before forwarding*).

Bug found: canaryd accepts both forms (h1.c field_content_length) but forwards the header
lines exactly as received (stream_build_head copies every non-hop-by-hop header). An
upstream that reads "5, 5" as invalid and ignores it (treating the message as bodyless)
would parse the 5 body bytes as the start of the next request: a framing disagreement of
the kind request smuggling is built on. Seen today: the upstream gets `content-length:
5, 5` (the strict test upstream answers 400) and two `content-length` lines."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from canaryd_e2e import Canaryd, Upstream, fail, run, step  # noqa: E402
from regress_helpers import exchange, single_route_config, statuses  # noqa: E402

CASES = [
    ("Content-Length: 5, 5", b"Content-Length: 5, 5\r\n"),
    ("two Content-Length: 5 lines", b"Content-Length: 5\r\nContent-Length: 5\r\n"),
]


def main():
    with Upstream("v1") as up:
        with Canaryd(single_route_config(up)) as proxy:
            failures = []
            for what, hdrs in CASES:
                step(what)
                up.clear()
                data, how = exchange(proxy.port, b"POST /upload HTTP/1.1\r\nHost: mobile-api"
                                     b"\r\n" + hdrs + b"Connection: close\r\n\r\nhello",
                                     wait=1.0)
                st = statuses(data)
                if st == [400] and not up.heads:
                    continue  # rejected: fine
                cls = [v for h in up.heads for v in h.headers_all("content-length")]
                if cls != ["5"]:
                    failures.append(f"{what}: the upstream received Content-Length lines "
                                    f"{cls!r} (client got {st})")
            if failures:
                fail("duplicate Content-Length forwarded as received:\n  "
                     + "\n  ".join(failures))


run(main)
