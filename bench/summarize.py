#!/usr/bin/env python3
"""Turns bench/run.sh's raw.tsv into the results table (medians over rounds).

usage: summarize.py RAW_TSV    (CLK_TCK in the environment, default 100)
"""
import csv
import os
import statistics
import sys

NAMES = {"canaryd": "canaryd", "canaryd-base": "canaryd (base)", "nginx": "nginx",
         "haproxy": "HAProxy", "direct": "direct (ceiling)", "relay": "relay (floor)"}
ORDER = ["direct", "relay", "canaryd", "canaryd-base", "nginx", "haproxy"]


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    clk = int(os.environ.get("CLK_TCK", "100"))
    groups = {}
    for r in rows:
        req = int(r["requests"])
        dur = int(r["duration_us"])
        if req <= 0 or dur <= 0:
            continue
        m = {
            "rps": req * 1e6 / dur,
            "p50": int(r["p50_us"]) / 1000.0,
            "p99": int(r["p99_us"]) / 1000.0,
            "rss": int(r["rss_kib"]) / 1024.0,
            "cpu": int(r["cpu_ticks"]) * 1e6 / clk / req,
            "errors": int(r["errors"]),
            "routing": r["routing"],
        }
        groups.setdefault((r["system"], r["workers"], int(r["conns"])), []).append(m)
    return groups


def median(ms, key):
    return statistics.median(m[key] for m in ms)


def main():
    groups = load(sys.argv[1])
    if not groups:
        print("no measurements")
        return 1
    keys = sorted(groups, key=lambda k: (k[1] if k[0] != "direct" else "",
                                         k[2], ORDER.index(k[0]) if k[0] in ORDER else 9))
    med = {k: {f: median(groups[k], f) for f in ("rps", "p50", "p99", "rss", "cpu")}
           for k in keys}
    hdr = ("system", "workers", "conns", "req/s", "p50 ms", "p99 ms", "RSS MiB",
           "CPU us/req", "errors", "routing", "rounds")
    lines = [hdr]
    for k in keys:
        m = med[k]
        bad = sorted({g["routing"] for g in groups[k] if g["routing"] not in ("ok", "n/a")})
        lines.append((NAMES.get(k[0], k[0]), "-" if k[0] == "direct" else k[1], str(k[2]),
                      f"{m['rps'] / 1000:.1f}k", f"{m['p50']:.2f}", f"{m['p99']:.2f}",
                      f"{m['rss']:.1f}", f"{m['cpu']:.1f}",
                      str(sum(g["errors"] for g in groups[k])),
                      "WRONG: " + ",".join(bad) if bad else groups[k][0]["routing"],
                      str(len(groups[k]))))
    table(lines)

    # Ratios over each peer, same workers and connections: canaryd's, and the
    # relay's (the most any proxy could reach here).
    for who in ("canaryd", "relay"):
        rl = [(f"{who} vs", "workers", "conns", "req/s", "p99", "CPU us/req", "RSS")]
        for k in keys:
            if k[0] != who:
                continue
            for peer in ("canaryd-base", "nginx", "haproxy"):
                pk = (peer, k[1], k[2])
                if pk not in med:
                    continue
                a, b = med[k], med[pk]
                rl.append((NAMES[peer], k[1], str(k[2])) + tuple(
                    f"{a[f] / b[f]:.2f}x" if b[f] else "-" for f in ("rps", "p99", "cpu", "rss")))
        if len(rl) > 1:
            print()
            print(f"{who} / peer (req/s: higher is better; p99, CPU, RSS: lower is better)")
            table(rl)
    return 0


def table(lines):
    widths = [max(len(str(l[i])) for l in lines) for i in range(len(lines[0]))]
    for n, l in enumerate(lines):
        print("  ".join(str(c).rjust(w) if i > 0 else str(c).ljust(w)
                        for i, (c, w) in enumerate(zip(l, widths))).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    sys.exit(main())
