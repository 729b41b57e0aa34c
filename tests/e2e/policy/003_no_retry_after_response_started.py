#!/usr/bin/env python3
"""policy: a retry never happens once response bytes went to the client. The upstream
answers /half with a head (Content-Length 1000), 10 body bytes, then closes: with
`retries {attempts: 3, retryOn: reset,5xx,gateway-error}` the client still sees the head
and an aborted body (connection closed short of 1000 bytes), and the upstreams saw the
request exactly once."""
from canaryd_e2e import Canaryd, Upstream, check, expect_eq, fail, run, step
from policy_helpers import policy_config, vs

ROUTES = """
- name: main
  retries: {attempts: 3, retryOn: "reset,connect-failure,5xx,gateway-error"}
  route: [{destination: {host: mobile-api, subset: v1}}]
"""


def main():
    with Upstream("a") as a, Upstream("b") as b:
        cfg = policy_config({"v1": [a, b]}, vs(ROUTES))
        with Canaryd(cfg, workers=1) as proxy:
            for i in range(4):
                a.clear()
                b.clear()
                with proxy.conn() as c:
                    c.send_request("GET", "/half")
                    head = c.read_head()
                    expect_eq(head.status, 200, f"try {i}: status of the relayed head")
                    expect_eq(head.header("content-length"), "1000",
                              f"try {i}: Content-Length relayed")
                    body = bytearray(c.buf)
                    c.buf.clear()
                    closed, extra = c.wait_closed(5.0)
                    body += extra
                    check(closed, f"try {i}: expected the connection closed after the "
                                  f"upstream aborted, it stayed open with {len(body)} bytes")
                    if len(body) >= 1000:
                        fail(f"try {i}: expected an aborted body (< 1000 bytes), got "
                             f"{len(body)} bytes")
                    if b"HTTP/1.1" in body:
                        fail(f"try {i}: a second response was appended after the aborted "
                             f"body (a retry after the response started): {bytes(body)[:200]!r}")
                total = len(a.heads) + len(b.heads)
                expect_eq(total, 1, f"try {i}: requests the upstreams saw (no retry once "
                                    f"the response started)")
                step(f"try {i}: head 200, body cut at {len(body)} bytes, 1 upstream request")
            log = proxy.wait_access_log(4)
            flags = [line.get("flags") for line in log]
            step(f"access-log flags: {flags}")


run(main)
