#!/usr/bin/env python3
"""admin: GET /config. For a config directory (10-mesh.yaml, 20-vs.yaml, plus a
.hidden.yaml and a notes.txt that must be skipped) it answers JSON with generation,
loaded_at (Unix time of the load), the source files with their sha256 (equal to
hashlib.sha256 of each file) and the objects loaded by kind; after a reload that adds
30-more.yml and changes 20-vs.yaml, all of it follows. The same for a ConfigMap layout
(visible symlinks into ..data/)."""
import hashlib
import http.client
import json
import os
import time

from canaryd_e2e import (Upstreams, check, destination_rule, expect_eq, run, service_entry,
                         step, virtual_service)
from ops_helpers import OpsCanaryd, wait_until

ROUTE = "- name: r\n  route: [{destination: {host: mobile-api, subset: v1}}]\n"


def files(ups, n_vs_file2, extra=False):
    mesh = (service_entry("mobile-api", ["mobile-api"],
                          [("127.0.0.1", ups["v1"].port, {"version": "v1"})])
            + "---\n" + destination_rule("mobile-api", "mobile-api", [("v1", {"version": "v1"})]))
    vss = "---\n".join(virtual_service(f"vs-{i}", [f"h{i}.example"], ROUTE)
                       for i in range(n_vs_file2))
    out = {"10-mesh.yaml": mesh, "20-vs.yaml": vss,
           ".hidden.yaml": "this: [is not: valid yaml\n", "notes.txt": "not config\n"}
    if extra:
        out["30-more.yml"] = virtual_service("vs-more", ["more.example"], ROUTE)
    return out


def get_config(proxy):
    c = http.client.HTTPConnection("127.0.0.1", proxy.admin_port, timeout=3)
    try:
        c.request("GET", "/config")
        r = c.getresponse()
        body = r.read()
        expect_eq(r.status, 200, "/config status")
        ctype = r.getheader("content-type") or ""
        check(ctype.startswith("application/json"), f"/config Content-Type {ctype!r}")
    finally:
        c.close()
    return json.loads(body)


def check_dump(proxy, cfg, want_files, n_vs, gen, what):
    expect_eq(cfg.get("generation"), gen, f"{what}: generation")
    la = cfg.get("loaded_at")
    check(isinstance(la, (int, float)) and abs(la - time.time()) < 30,
          f"{what}: loaded_at {la!r} is not the Unix time of the load (now {time.time():.0f})")
    srcs = cfg.get("sources")
    check(isinstance(srcs, list), f"{what}: sources is not a list: {srcs!r}")
    names = sorted(os.path.basename(s.get("path", "")) for s in srcs)
    expect_eq(names, sorted(want_files), f"{what}: source file names")
    for s in srcs:
        path = s["path"]
        if not os.path.isabs(path):
            path = os.path.join(os.path.dirname(proxy.config_path), path)
        with open(path, "rb") as f:
            want = hashlib.sha256(f.read()).hexdigest()
        expect_eq(s.get("sha256"), want, f"{what}: sha256 of {s['path']}")
    objs = cfg.get("objects") or {}
    for kind, n in (("ServiceEntry", 1), ("DestinationRule", 1), ("VirtualService", n_vs),
                    ("Gateway", 0)):
        expect_eq(objs.get(kind), n, f"{what}: objects.{kind}")
    return la


def main():
    with Upstreams("v1") as ups:
        for layout in ("directory", "configmap"):
            step(f"{layout}: 10-mesh.yaml (SE+DR), 20-vs.yaml (2 VS), .hidden.yaml, notes.txt")
            with OpsCanaryd(files(ups, 2), configmap=(layout == "configmap")) as proxy:
                gen0 = proxy.generation()
                la0 = check_dump(proxy, get_config(proxy), ["10-mesh.yaml", "20-vs.yaml"], 2,
                                 gen0, f"{layout} at start")
                r = proxy.request(path="/", host="h1.example")
                expect_eq(r.status, 200, f"{layout}: request to h1.example")

                step(f"{layout}: reload with 3 VS in 20-vs.yaml and a new 30-more.yml")
                time.sleep(0.05)
                proxy.write_config(files(ups, 3, extra=True))
                proxy.reload()
                check(wait_until(lambda: proxy.generation() == gen0 + 1, 5), "reload not applied")
                la1 = check_dump(proxy, get_config(proxy),
                                 ["10-mesh.yaml", "20-vs.yaml", "30-more.yml"], 4, gen0 + 1,
                                 f"{layout} after reload")
                check(la1 > la0, f"{layout}: loaded_at did not advance: {la0} -> {la1}")
                expect_eq(proxy.request(path="/", host="more.example").status, 200,
                          f"{layout}: request to more.example after reload")


run(main)
