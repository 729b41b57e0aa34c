#!/usr/bin/env python3
"""reload: SIGHUP with an invalid config (a typo field `weigth`) keeps the old routing
serving, logs a JSON error line on stderr naming file:line:column and the field path,
counts canaryd_config_reloads_total{result="failure"}, shows last_reload_error in
/config and leaves the generation alone; fixing the file and sending SIGHUP again works."""
import json
import os
import re

from canaryd_e2e import Upstreams, check, expect_eq, expect_upstream, mesh_config, run, step
from ops_helpers import OpsCanaryd, reload_events, wait_until, weighted_vs


def stderr_json(proxy):
    out = []
    for line in proxy.stderr_text().splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def main():
    with Upstreams("v1", "v2") as ups:
        good = mesh_config(ups, weighted_vs(100, 0))
        fixed = mesh_config(ups, weighted_vs(0, 100))
        bad = fixed.replace("weight: 100", "weigth: 100")
        check(bad != fixed, "harness: typo not introduced")
        # where the typo is: 1-based line and column of `weigth`
        bad_lines = bad.splitlines()
        typo_line = next(i for i, l in enumerate(bad_lines) if "weigth" in l) + 1
        typo_col = bad_lines[typo_line - 1].index("weigth") + 1

        with OpsCanaryd(good) as proxy:
            expect_upstream(proxy.request(path="/before"), "v1", "before the bad reload")
            gen0 = proxy.generation()
            m0 = proxy.metrics()
            fail0 = m0.value("canaryd_config_reloads_total", result="failure")
            ok0 = m0.value("canaryd_config_reloads_total", result="success")
            n_err0 = len(stderr_json(proxy))
            ka = proxy.conn()
            expect_upstream(ka.request("GET", "/ka0"), "v1", "keep-alive request before")

            step(f"write a config with `weigth` (line {typo_line}, column {typo_col}) and SIGHUP")
            proxy.write_config(bad)
            proxy.reload()
            got = wait_until(lambda: proxy.metrics().value(
                "canaryd_config_reloads_total", result="failure") == fail0 + 1, 5)
            m1 = proxy.metrics()
            check(got, 'canaryd_config_reloads_total{result="failure"}: expected '
                       f'{fail0 + 1}, got {m1.get("canaryd_config_reloads_total", result="failure")}')
            expect_eq(m1.value("canaryd_config_reloads_total", result="success"), ok0,
                      'canaryd_config_reloads_total{result="success"} after a failed reload')
            expect_eq(m1.get("canaryd_config_generation"), float(gen0),
                      "canaryd_config_generation after a failed reload")

            step("the old routing keeps serving (keep-alive and fresh connections)")
            for i in range(10):
                expect_upstream(ka.request("GET", f"/ka/{i}"), "v1", f"keep-alive request {i} after bad reload")
                expect_upstream(proxy.request(path=f"/fresh/{i}"), "v1", f"fresh request {i} after bad reload")
            code, body = proxy.admin_get("/internal/platform/readiness")
            expect_eq(code, 200, "readiness after a failed reload")

            step("stderr has a JSON error line with file:line:col and the field path")
            base = os.path.basename(proxy.config_path)
            lines = [o for o in stderr_json(proxy)[n_err0:] if o.get("level") == "error"]
            texts = [json.dumps(o) for o in lines]
            check(lines, f"no JSON line with level error on stderr after the bad reload; "
                         f"stderr tail:\n{proxy.stderr_text()[-1500:]}")
            loc = re.compile(re.escape(base) + r":(\d+):(\d+)")
            with_loc = [t for t in texts if loc.search(t)]
            check(with_loc, f"no error line names {base}:LINE:COL; error lines: {texts}")
            ln, col = map(int, loc.search(with_loc[0]).groups())
            expect_eq(ln, typo_line, "line number in the error")
            expect_eq(col, typo_col, "column number in the error")
            check(any("weigth" in t for t in with_loc),
                  f"the error does not name the field `weigth`: {with_loc}")
            check(any(re.search(r"spec\.http\[0\]\.route\[1\]\.weigth", t) for t in with_loc),
                  f"the error does not give the field path spec.http[0].route[1].weigth: {with_loc}")
            fails = reload_events(proxy, "failed")
            check(fails, "no reload event with result failed on stderr")

            step("/config shows last_reload_error and the old generation")
            cfg = proxy.admin_json("/config")
            expect_eq(cfg.get("generation"), gen0, "/config generation after a failed reload")
            err = cfg.get("last_reload_error")
            check(isinstance(err, str) and loc.search(err) and "weigth" in err,
                  f"/config last_reload_error: expected the error with {base}:{typo_line}:"
                  f"{typo_col}, got {err!r}")

            step("fix the file, SIGHUP again: v2 now, generation +1, success +1")
            proxy.write_config(fixed)
            proxy.reload()
            got = wait_until(lambda: proxy.generation() == gen0 + 1, 5)
            check(got, f"generation after fixing: expected {gen0 + 1}, got {proxy.generation()}")
            for i in range(5):
                expect_upstream(ka.request("GET", f"/ka2/{i}"), "v2", f"keep-alive request {i} after fix")
                expect_upstream(proxy.request(path=f"/fixed/{i}"), "v2", f"fresh request {i} after fix")
            m2 = proxy.metrics()
            expect_eq(m2.value("canaryd_config_reloads_total", result="success"), ok0 + 1,
                      'canaryd_config_reloads_total{result="success"} after the fix')
            expect_eq(m2.value("canaryd_config_reloads_total", result="failure"), fail0 + 1,
                      'canaryd_config_reloads_total{result="failure"} after the fix')
            cfg = proxy.admin_json("/config")
            print(f"  last_reload_error after the fix: {cfg.get('last_reload_error')!r}")
            ka.close()


run(main)
