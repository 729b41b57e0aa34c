#!/usr/bin/env python3
"""admin: the JSON access log. Every stdout line is valid UTF-8 JSON with the SPEC keys;
the values are right for a proxied POST, a request with a client X-Request-Id, a slow
request, a 404 (flags no_route) and a 502; request_id is the X-Request-Id the upstream
received; `client` is always the client's address:port; bytes_out means the same thing
whoever answered. Escaping: a path with `"` and `\\`, an X-Request-Id with a TAB, quotes,
backslashes and bytes 0x80-0xFF (invalid UTF-8), and a path and a Host with bytes
0x80-0xFF (rejected with 400) all still give lines that parse with json.loads."""
import json
import re

from canaryd_e2e import (Upstreams, check, expect_eq, free_port, mesh_config, run, step,
                         virtual_service)
from ops_helpers import OpsCanaryd, Soft

VS = """
- name: broken
  match: [{headers: {x-broken: {exact: "1"}}}]
  route: [{destination: {host: mobile-api, subset: dead}}]
- name: default
  route: [{destination: {host: mobile-api, subset: v1}}]
"""

KEYS = ["time", "request_id", "client", "method", "authority", "path", "protocol", "status",
        "bytes_in", "bytes_out", "duration_ms", "upstream_ms", "virtual_service", "route",
        "destination", "subset", "upstream", "flags"]
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def loose_match(sent, logged):
    """sent: str (latin-1 decoded bytes). True when `logged` is `sent` with every run of
    bytes >= 0x80 either kept as latin-1 characters or replaced by U+FFFD (one or more)."""
    if not isinstance(logged, str):
        return False
    pat = ""
    for run_ in re.findall(r"[\x00-\x7f]+|[\x80-\xff]+", sent):
        if ord(run_[0]) < 0x80:
            pat += re.escape(run_)
        else:
            pat += "(?:" + re.escape(run_) + "|\ufffd+)"
    return re.fullmatch(pat, logged) is not None


class Sent:
    """One request sent on its own connection, with what the wire carried."""

    def __init__(self, proxy, raw, what):
        self.what = what
        self.raw = raw
        with proxy.conn() as c:
            self.client = "%s:%d" % c.sock.getsockname()
            c.send(raw)
            self.resp = c.read_response()
        self.wire_out = len(self.resp.raw_head) + len(self.resp.body)


def main():
    with Upstreams("v1", "v2") as ups:
        dead = free_port()
        cfg = mesh_config({"v1": ups["v1"], "v2": ups["v2"], "dead": dead},
                          virtual_service("mobile-api", ["mobile-api"], VS))
        with OpsCanaryd(cfg) as proxy:
            step("send: POST with body, GET with own X-Request-Id, /slow/200, 404, 502, "
                 "odd paths and ids, bytes 0x80-0xFF in path and Host")
            body = b"x" * 100
            s = {}
            s["post"] = Sent(proxy, b"POST /echo?x=1 HTTP/1.1\r\nHost: mobile-api\r\n"
                             b"Content-Length: 100\r\n\r\n" + body, "proxied POST")
            s["rid"] = Sent(proxy, b"GET /echo/rid HTTP/1.1\r\nHost: mobile-api\r\n"
                            b"X-Request-Id: my-id-123\r\n\r\n", "client X-Request-Id")
            s["slow"] = Sent(proxy, b"GET /slow/200 HTTP/1.1\r\nHost: mobile-api\r\n\r\n", "slow")
            s["404"] = Sent(proxy, b"GET /nothing HTTP/1.1\r\nHost: unknown.example\r\n\r\n", "404")
            s["502"] = Sent(proxy, b"GET /dead HTTP/1.1\r\nHost: mobile-api\r\nx-broken: 1\r\n\r\n", "502")
            s["quote"] = Sent(proxy, b'GET /echo/a"b\\c HTTP/1.1\r\nHost: mobile-api\r\n\r\n',
                              'path with " and \\')
            odd_id = b'id\t"q"\\b\xe9\xff\x80end'
            s["oddid"] = Sent(proxy, b"GET /echo/oddid HTTP/1.1\r\nHost: mobile-api\r\n"
                              b"X-Request-Id: " + odd_id + b"\r\n\r\n", "X-Request-Id with TAB, quotes, 0x80-0xFF")
            s["hipath"] = Sent(proxy, b"GET /caf\xe9/\xff\xfe?q=\x80 HTTP/1.1\r\nHost: mobile-api\r\n\r\n",
                               "path with bytes 0x80-0xFF")
            s["hihost"] = Sent(proxy, b"GET /x HTTP/1.1\r\nHost: m\xe9bile-\xff\r\n\r\n",
                               "Host with bytes 0x80-0xFF")
            for k, x in s.items():
                print(f"  {x.what}: {x.resp.status}", flush=True)
            expect_eq(s["post"].resp.status, 200, "POST status")
            expect_eq(s["404"].resp.status, 404, "unknown host status")
            expect_eq(s["502"].resp.status, 502, "refusing endpoint status")

            step("every stdout line is valid UTF-8 and parses as JSON with the SPEC keys")
            proxy.wait_access_log(len(s))
            with open(proxy.stdout_path, "rb") as f:
                raw = f.read()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                check(False, f"stdout is not valid UTF-8: {e}: {raw[max(0, e.start - 80):e.end + 20]!r}")
            objs = []
            for n, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    o = json.loads(line)
                except ValueError as e:
                    check(False, f"stdout line {n} is not JSON ({e}): {line[:300]!r}")
                check(isinstance(o, dict), f"stdout line {n} is not a JSON object: {line[:200]!r}")
                objs.append(o)
            expect_eq(len(objs), len(s), "access-log lines on stdout")
            for o in objs:
                missing = [k for k in KEYS if k not in o]
                check(not missing, f"access-log line lacks {missing}: {o}")
                check(isinstance(o["status"], int), f"status not an integer: {o}")
                for k in ("bytes_in", "bytes_out"):
                    check(isinstance(o[k], int) and o[k] >= 0, f"{k} not a non-negative integer: {o}")
                check(isinstance(o["duration_ms"], (int, float)) and o["duration_ms"] >= 0,
                      f"duration_ms: {o}")
                check(o["upstream_ms"] is None or isinstance(o["upstream_ms"], (int, float)),
                      f"upstream_ms: {o}")
                check(isinstance(o["time"], str) and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", o["time"]),
                      f"time not RFC 3339: {o['time']!r}")

            # one worker, one request at a time: the lines are in the order sent
            order = list(s)
            by_key = dict(zip(order, objs))
            bad_client = [(s[k].what, by_key[k]["client"], s[k].client) for k in order
                          if by_key[k]["client"] != s[k].client]

            def line(key):
                o = by_key[key]
                if o.get("client") == s[key].client or o.get("client") == "127.0.0.1":
                    return o
                check(False, f"{s[key].what}: line {order.index(key) + 1} is not this request's: {o}")

            step("the proxied POST: every field")
            post = line("post")
            up_req = [r for r in ups["v1"].snapshot() if r.target == "/echo?x=1"]
            check(len(up_req) == 1, "v1 did not get the POST exactly once")
            exp = {"method": "POST", "authority": "mobile-api", "path": "/echo?x=1",
                   "protocol": "HTTP/1.1", "status": 200, "virtual_service": "mobile-api",
                   "route": "default", "destination": "mobile-api", "subset": "v1",
                   "upstream": f"127.0.0.1:{ups['v1'].port}",
                   "request_id": up_req[0].header("x-request-id")}
            for k, v in exp.items():
                expect_eq(post[k], v, f"POST line field {k}")
            check(UUID4.match(post["request_id"] or ""), f"generated request_id not a UUIDv4: {post['request_id']!r}")
            check(post["flags"] in ("", None, []), f"POST flags: {post['flags']!r}")
            check(post["bytes_in"] in (100, len(s["post"].raw)),
                  f"POST bytes_in {post['bytes_in']}: expected the body (100) or the whole request ({len(s['post'].raw)})")
            p_body, p_wire = len(s["post"].resp.body), s["post"].wire_out
            check(post["bytes_out"] in (p_body, p_wire),
                  f"POST bytes_out {post['bytes_out']}: expected the body ({p_body}) or the whole response ({p_wire})")
            out_means_body = post["bytes_out"] == p_body
            check(post["upstream_ms"] is not None and 0 <= post["upstream_ms"] <= post["duration_ms"],
                  f"POST upstream_ms {post['upstream_ms']} vs duration_ms {post['duration_ms']}")

            step("client X-Request-Id is kept and logged")
            rid = line("rid")
            expect_eq(rid["request_id"], "my-id-123", "request_id of a request with X-Request-Id")
            got_up = [r.header("x-request-id") for r in ups["v1"].snapshot() if r.target == "/echo/rid"]
            expect_eq(got_up, ["my-id-123"], "X-Request-Id the upstream received")

            step("slow request: duration_ms and upstream_ms >= 200")
            slow = line("slow")
            check(slow["duration_ms"] >= 200 and slow["upstream_ms"] is not None and slow["upstream_ms"] >= 200,
                  f"/slow/200: duration_ms {slow['duration_ms']} upstream_ms {slow['upstream_ms']}")

            step("404: flags no_route, no upstream")
            l404 = line("404")
            expect_eq((l404["status"], l404["flags"], l404["upstream"], l404["authority"], l404["path"]),
                      (404, "no_route", None, "unknown.example", "/nothing"),
                      "404 line (status, flags, upstream, authority, path)")
            check(l404["upstream_ms"] is None, f"404 upstream_ms: {l404['upstream_ms']!r}")
            check(UUID4.match(l404["request_id"] or ""), f"404 request_id: {l404['request_id']!r}")

            step("502: flags say why, the subset and route are known")
            l502 = line("502")
            expect_eq((l502["status"], l502["route"], l502["subset"], l502["destination"]),
                      (502, "broken", "dead", "mobile-api"), "502 line (status, route, subset, destination)")
            check(isinstance(l502["flags"], str) and l502["flags"],
                  f"502 line: flags should say why canaryd answered itself, got {l502['flags']!r}")
            print(f"  502 flags: {l502['flags']!r}, upstream: {l502['upstream']!r}", flush=True)

            step('path with " and \\ round-trips')
            q = line("quote")
            expect_eq(q["path"], '/echo/a"b\\c', 'path with " and \\')

            step("X-Request-Id with TAB, quotes, backslash and invalid UTF-8: escaped, "
                 "equal to what the upstream received")
            oi = line("oddid")
            up_ids = [r.header("x-request-id") for r in ups["v1"].snapshot() if r.target == "/echo/oddid"]
            check(len(up_ids) == 1 and up_ids[0], f"upstream X-Request-Id for /echo/oddid: {up_ids}")
            print(f"  upstream received {up_ids[0]!r}; log has {oi['request_id']!r}", flush=True)
            check(loose_match(up_ids[0], oi["request_id"]),
                  f"request_id {oi['request_id']!r} does not match the X-Request-Id the upstream "
                  f"received {up_ids[0]!r}")
            raw_line = [ln for ln in text.splitlines() if '"/echo/oddid"' in ln]
            check(raw_line and "\\t" in raw_line[0] and '\\"q\\"' in raw_line[0],
                  f"TAB and quotes not escaped in the raw line: {raw_line[:1]}")

            step("path and Host with bytes 0x80-0xFF: the lines parse; the bytes appear as "
                 "U+FFFD or escaped (or the field is null)")
            for key, field, sent in (("hipath", "path", "/caf\xe9/\xff\xfe?q=\x80"),
                                     ("hihost", "authority", "m\xe9bile-\xff")):
                o = line(key)
                expect_eq(o["status"], s[key].resp.status, f"{s[key].what}: logged status")
                val = o[field]
                check(val is None or loose_match(sent, val),
                      f"{s[key].what}: {field} logged as {val!r}")
                print(f"  {s[key].what}: status {o['status']}, {field} {val!r}, flags {o['flags']!r}", flush=True)

            soft = Soft()
            step("client is the client's address:port on every line")
            soft.check(not bad_client, "client field wrong (request, logged, expected): "
                                  + "; ".join(f"{w}: {g!r} != {e!r}" for w, g, e in bad_client))

            step("bytes_out means the same thing for canaryd's own answers")
            for key in ("404", "502", "hipath"):
                o = line(key)
                want = len(s[key].resp.body) if out_means_body else s[key].wire_out
                soft.eq(o["bytes_out"], want,
                          f"{s[key].what}: bytes_out (proxied lines count "
                          f"{'the body only' if out_means_body else 'head and body'}; this response: "
                          f"body {len(s[key].resp.body)}, head+body {s[key].wire_out})")
            soft.finish()


run(main)
