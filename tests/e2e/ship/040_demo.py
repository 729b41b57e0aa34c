#!/usr/bin/env python3
"""The `make run` demo (conf/demo.yaml) does what conf/demo.sh tells people to try:
about 90/10 between v1 and v2 over 2,000 requests, and the cookie canary=always
sends to v2 wherever it sits in the Cookie header.

The demo's fixed ports (8080, 9001, 9002) are replaced by free ones in a temporary
copy, and the main Gateway is bound to 127.0.0.1.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

import canaryd_e2e as e2e  # noqa: E402  (tests/e2e/lib, on PYTHONPATH via run.sh)

N = 2000


def demo_config():
    with open(os.path.join(ROOT, "conf", "demo.yaml")) as f:
        text = f.read()
    for port in ("8080", "9001", "9002"):
        e2e.check(re.search(r"\b%s\b" % port, text), f"conf/demo.yaml uses port {port}")
    ports = {}
    while len(set(ports.values())) < 3:
        ports = {p: str(e2e.free_port()) for p in ("8080", "9001", "9002")}
    text = re.sub(r"\b(8080|9001|9002)\b", lambda m: ports[m.group(1)], text)
    # Loopback only: bind the main server too (the stand-ins already are).
    text, n = re.subn(r"(\n( +)name: http-main\n +protocol: HTTP\n)",
                      lambda m: m.group(1) + " " * (len(m.group(2)) - 2) + "bind: 127.0.0.1\n",
                      text)
    e2e.check(n == 1, "found the main Gateway's server in conf/demo.yaml")
    return text, int(ports["8080"]), int(ports["9001"]), int(ports["9002"])


def count(port, n, cookie=None):
    got = {}
    headers = [("Cookie", cookie)] if cookie else []
    c = e2e.HttpConn(port, timeout=10)
    try:
        for _ in range(n):
            try:
                r = c.request("GET", "/", host="localhost", headers=headers)
            except e2e.ConnectionClosed:
                got["closed without a response"] = got.get("closed without a response", 0) + 1
                c.close()
                c = e2e.HttpConn(port, timeout=10)
                continue
            key = r.body.decode("latin-1").strip() if r.status == 200 else f"status {r.status}"
            got[key] = got.get(key, 0) + 1
    finally:
        c.close()
    return got


def main():
    config, port, p1, p2 = demo_config()
    with e2e.Canaryd(config, workers=2, extra_args=["--access-log", "off"]) as cd:
        for name, p in (("v1", p1), ("v2", p2)):
            got = count(p, 3)
            e2e.expect_eq(got, {name: 3}, f"the stand-in {name} (a directResponse on its own"
                          f" Gateway, :{p}) answers {name}")
        e2e.step("the stand-ins answer v1 and v2")
        e2e.step(f"{N} requests without the cookie on :{port}")
        got = count(port, N)
        e2e.check(set(got) <= {"v1", "v2"}, f"only v1 and v2 answered: {got}")
        v2 = got.get("v2", 0)
        # 10% of 2,000 is 200, one standard deviation about 13: allow +-60.
        e2e.check(140 <= v2 <= 260, f"about 10% of {N} to v2 (140..260), got {got}")
        e2e.step(f"split: {got}")

        for cookie in ("canary=always", "session=1; canary=always",
                       "session=1; canary=always; theme=dark", "canary=always;theme=dark"):
            got = count(port, 50, cookie)
            e2e.expect_eq(got, {"v2": 50}, f"Cookie: {cookie} -> v2 every time")
        e2e.step("cookie canary=always -> v2 in every position")

        for cookie in ("canary=never", "canary=alwaysx", "xcanary=always"):
            got = count(port, 100, cookie)
            e2e.check(got.get("v1", 0) >= 70, f"Cookie: {cookie} is not the tester cookie:"
                      f" mostly v1 expected, got {got}")
        e2e.step("other cookies go through the split")

        e2e.check(cd.metrics().find("canaryd_requests_total", route="testers", subset="v2"),
                  "the tester route's requests show up in canaryd_requests_total")

    with open(os.path.join(ROOT, "conf", "demo.sh")) as f:
        sh = f.read()
    e2e.check("demo.yaml" in sh and "--cookie canary=always" in sh and "9901/metrics" in sh,
              "conf/demo.sh starts conf/demo.yaml and shows the curl commands")


if __name__ == "__main__":
    e2e.run(main)
