#!/usr/bin/env python3
"""policy: retryOn by status. Total tries = 1 + attempts; a retried status is replayed
only for idempotent methods (a PUT carries its body again, a POST is never replayed).
  retryOn "503", attempts 2, upstream answers 503, 503, 200  -> client 200, 3 tries
  the same with attempts 1                                     -> client 503, 2 tries
  the same for a POST                                          -> client 503, 1 try
  the same for a PUT with a body                               -> 200, 3 identical bodies
  retryOn 5xx, upstream 500, 500, 200                          -> 200, 3 tries
  retryOn gateway-error, upstream 500 then 200                 -> 500, 1 try (not a gateway error)
  retryOn gateway-error, upstream 502, 504, 200                -> 200, 3 tries
  retryOn retriable-4xx, upstream 409 then 200                 -> 200, 2 tries
  retryOn "503", upstream 500 then 200                         -> 500, 1 try"""
from canaryd_e2e import Canaryd, Upstream, fail, run, step
from policy_helpers import policy_config, sequential, vs


def route(prefix, retries):
    return f"""
- name: {prefix}
  match: [{{uri: {{prefix: /{prefix}/}}}}]
  retries: {retries}
  route: [{{destination: {{host: mobile-api, subset: v1}}}}]
"""


ROUTES = "".join([
    route("r503a2", '{attempts: 2, retryOn: "503"}'),
    route("r503a1", '{attempts: 1, retryOn: "503"}'),
    route("r5xx", "{attempts: 2, retryOn: 5xx}"),
    route("rgw", "{attempts: 2, retryOn: gateway-error}"),
    route("r409", "{attempts: 2, retryOn: retriable-4xx}"),
])

# (what, mode, method, path, body, expected status, expected tries)
CASES = [
    ("503 twice then 200, attempts 2", "flaky:2:503", "GET", "/r503a2/x", None, 200, 3),
    ("503 twice then 200, attempts 1", "flaky:2:503", "GET", "/r503a1/x", None, 503, 2),
    ("POST, 503 twice then 200", "flaky:2:503", "POST", "/r503a2/p", b"post-body", 503, 1),
    ("PUT with a body, 503 twice", "flaky:2:503", "PUT", "/r503a2/u", b"put-body-" * 100, 200, 3),
    ("DELETE, 503 twice", "flaky:2:503", "DELETE", "/r503a2/d", None, 200, 3),
    ("5xx: 500 twice then 200", "flaky:2:500", "GET", "/r5xx/x", None, 200, 3),
    ("gateway-error: 500 (not a gateway error)", "flaky:1:500", "GET", "/rgw/x", None, 500, 1),
    ("gateway-error: 502 twice then 200", "flaky:2:502", "GET", "/rgw/y", None, 200, 3),
    ("retriable-4xx: 409 then 200", "flaky:1:409", "GET", "/r409/x", None, 200, 2),
    ("retriable-4xx: 404 is not retried", "flaky:1:404", "GET", "/r409/y", None, 404, 1),
    ("'503': 500 is not retried", "flaky:1:500", "GET", "/r503a2/z", None, 500, 1),
]


def main():
    with Upstream("v1") as up:
        cfg = policy_config({"v1": up}, vs(ROUTES))
        with Canaryd(cfg, workers=1) as proxy:
            failures = []
            for what, mode, method, path, body, want, tries in CASES:
                up.set_mode(mode)
                up.clear()
                r = sequential(proxy.port, [{"method": method, "path": path, "body": body}])[0]
                got_tries = up.count()
                bodies = {q.body for q in up.snapshot()}
                ok = r.status == want and got_tries == tries
                if body is not None and bodies != {body}:
                    ok = False
                print(f"  {'ok  ' if ok else 'FAIL'} {what}: {method} {path} -> {r.status} "
                      f"after {got_tries} tries ({r.elapsed * 1000:.0f} ms)", flush=True)
                if not ok:
                    failures.append(f"{what} ({method} {path}): expected {want} after {tries} "
                                    f"tries, got {r.status} {r.error or ''} after {got_tries}"
                                    + (f"; bodies seen {[len(b) for b in bodies]}"
                                       if body is not None else ""))
            if failures:
                fail(f"{len(failures)} of {len(CASES)} cases wrong:\n  " + "\n  ".join(failures))
            step("every case as expected")


run(main)
