"""Helpers for the operations e2e tests (tests/e2e/reload/, tests/e2e/admin/).

Builds on canaryd_e2e (which it does not change):

  OpsCanaryd(config, configmap=False, ...)
                   a Canaryd whose test may itself SIGTERM the process (sigterm(),
                   wait_exit()) and still gets the exit status and sanitizer checks at
                   the end; with configmap=True the config dict is laid out exactly as
                   the kubelet mounts a ConfigMap (..TIMESTAMP/ dir, ..data symlink,
                   visible symlinks) and write_config() swaps it atomically.
  ConfigMapDir     that kubelet layout on its own (create, atomic swap).
  reload_events()  the "reload" process-log events canaryd printed.
  wait_until()     poll a condition with a deadline (scaled for sanitizer builds).
  gateway()        Gateway YAML.
"""

import datetime
import json
import os
import signal
import subprocess
import time

from canaryd_e2e import Canaryd, TestFailure, sanitizer_report, slow_factor

# ------------------------------------------------------------------ polling


def wait_until(cond, timeout, interval=0.02):
    """Calls cond() until it returns a true value or `timeout` (times slow_factor())
    seconds pass; returns the last value."""
    deadline = time.monotonic() + timeout * slow_factor()
    while True:
        v = cond()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


# ------------------------------------------------------------- ConfigMap layout

_stamp_seq = [0]


def _timestamp_dir_name():
    """A kubelet-style name: ..2026_11_25_00_00_00.123456789 (unique per call)."""
    _stamp_seq[0] += 1
    now = datetime.datetime.now(datetime.timezone.utc)
    return "..%s.%d%03d" % (now.strftime("%Y_%m_%d_%H_%M_%S"), os.getpid(), _stamp_seq[0])


class ConfigMapDir:
    """A directory laid out like a kubelet ConfigMap volume (AtomicWriter):

        dir/..2026_11_25_00_00_00.1/routes.yaml      the real files
        dir/..data -> ..2026_11_25_00_00_00.1        the current version
        dir/routes.yaml -> ..data/routes.yaml        the visible names

    swap(files) writes a new timestamped dir, points a temporary symlink ..data_tmp at
    it, rename()s ..data_tmp over ..data (atomic), fixes the visible symlinks and removes
    the old timestamped dir: the same steps as the kubelet.
    """

    def __init__(self, path, files, first_name=None):
        self.path = path
        os.makedirs(path, exist_ok=True)
        self.current = None
        self.names = set()
        self._install(files, first_name)

    def _write_version(self, files, name=None):
        name = name or _timestamp_dir_name()
        vdir = os.path.join(self.path, name)
        os.mkdir(vdir)
        for fname, text in files.items():
            with open(os.path.join(vdir, fname), "w") as f:
                f.write(text)
        return name

    def _install(self, files, first_name=None):
        name = self._write_version(files, first_name)
        os.symlink(name, os.path.join(self.path, "..data"))
        for fname in files:
            os.symlink(os.path.join("..data", fname), os.path.join(self.path, fname))
        self.current = name
        self.names = set(files)

    def swap(self, files):
        old = self.current
        name = self._write_version(files)
        tmp = os.path.join(self.path, "..data_tmp")
        os.symlink(name, tmp)
        os.rename(tmp, os.path.join(self.path, "..data"))
        # visible symlinks: add new names, remove names no longer present
        for fname in files:
            link = os.path.join(self.path, fname)
            if not os.path.islink(link):
                os.symlink(os.path.join("..data", fname), link)
        for fname in self.names - set(files):
            try:
                os.unlink(os.path.join(self.path, fname))
            except FileNotFoundError:
                pass
        self.names = set(files)
        self.current = name
        if old:
            vdir = os.path.join(self.path, old)
            for fname in os.listdir(vdir):
                os.unlink(os.path.join(vdir, fname))
            os.rmdir(vdir)

    def real_file(self, fname):
        return os.path.join(self.path, self.current, fname)


# ------------------------------------------------------------------ the proxy


class OpsCanaryd(Canaryd):
    """Canaryd for operations tests.

    - sigterm()/wait_exit(): the test drains the process itself; at the end the exit
      status must be `expect_rc` (0; None: any exit, but not death by a signal) and no
      sanitizer report may appear.
    - configmap=True (config must be a dict): the kubelet ConfigMap layout; write_config()
      performs an atomic ..data swap; .cm is the ConfigMapDir.
    - own_dir=True (config text): the file is written alone in its own directory
      (by default canaryd_e2e puts it next to the stdout/stderr log files).
    - spawn_time: time.time() just before the process was started (the last attempt).
    """

    def __init__(self, config, configmap=False, expect_rc=0, own_dir=False, **kw):
        super().__init__(config, **kw)
        self.configmap = configmap
        self.own_dir = own_dir
        self.expect_rc = expect_rc
        self.terminated = False
        self.exit_rc = None
        self.cm = None
        self.spawn_time = None

    def _write_config(self):
        if not self.configmap and self.own_dir and not isinstance(self.config, dict):
            # a single file alone in its directory (the logs stay next to it otherwise)
            cdir = os.path.join(self.dir, "etc")
            os.mkdir(cdir)
            self.config_path = os.path.join(cdir, "canaryd.yaml")
            with open(self.config_path, "w") as f:
                f.write(self.config)
            return None
        if not self.configmap:
            return super()._write_config()
        if not isinstance(self.config, dict):
            raise TestFailure("configmap=True needs a dict of files")
        cdir = os.path.join(self.dir, "configmap")
        self.cm = ConfigMapDir(cdir, self.config,
                               first_name="..2026_11_25_00_00_00.1")
        self.config_path = cdir

    def write_config(self, config):
        if not self.configmap:
            return super().write_config(config)
        self.config = config
        self.cm.swap(config)

    def _wait_ready(self):
        self.spawn_time = time.time()  # Popen has just returned
        return super()._wait_ready()

    def sigterm(self):
        self.terminated = True
        os.kill(self.pid, signal.SIGTERM)

    def wait_exit(self, timeout):
        """Waits for the process to exit; returns its status or None on timeout."""
        try:
            self.exit_rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.exit_rc

    def stop(self):
        if self.proc is None:
            return []
        if not self.terminated:
            return super().stop()
        problems = []
        rc = self.proc.poll()
        if rc is None:
            try:
                rc = self.proc.wait(timeout=self.drain_timeout + 5 * slow_factor())
            except subprocess.TimeoutExpired:
                self._kill()
                problems.append("did not exit after the test's SIGTERM; killed")
                rc = None
        if rc is not None and (rc < 0 or (self.expect_rc is not None and rc != self.expect_rc)):
            how = f"died from signal {-rc}" if rc < 0 else f"exited with status {rc}"
            want = "an exit" if self.expect_rc is None else f"status {self.expect_rc}"
            problems.append(f"after SIGTERM the process {how} (expected {want})")
        report = sanitizer_report(self.stderr_text() + "\n" + self.stdout_text())
        if report:
            problems.append("sanitizer report:\n" + report)
        self.proc = None
        return problems

    # -- admin helpers
    def admin_json(self, path):
        status, body = self.admin_get(path)
        if status != 200:
            raise TestFailure(f"GET {path} on the admin port: expected 200, got {status} "
                              f"{body[:200]!r}")
        try:
            return json.loads(body)
        except ValueError as e:
            raise TestFailure(f"GET {path}: not JSON ({e}): {body[:300]!r}")

    def generation(self):
        return self.admin_json("/config").get("generation")


def reload_events(proxy, result=None):
    """The process-log lines with event == "reload" (optionally only a given result)."""
    evs = [o for o in proxy.process_log_lines() if o.get("event") == "reload"]
    if result is not None:
        evs = [o for o in evs if o.get("result") == result]
    return evs


# ------------------------------------------------------------------ config YAML


def gateway(name, servers):
    """servers: list of (port number, hosts list, bind address or None)."""
    lines = ["apiVersion: networking.istio.io/v1", "kind: Gateway",
             f"metadata:\n  name: {name}", "spec:", "  servers:"]
    for i, (port, hosts, bind) in enumerate(servers):
        lines.append(f"  - port: {{number: {port}, name: http-{i}, protocol: HTTP}}")
        lines.append(f"    hosts: [{', '.join(json.dumps(h) for h in hosts)}]")
        if bind:
            lines.append(f"    bind: {bind}")
    return "\n".join(lines) + "\n"


def weighted_vs(w1, w2, name="mobile-api", host="mobile-api", gateways=None, route="split"):
    """A VirtualService splitting `host` between subsets v1 and v2 by weight."""
    from canaryd_e2e import virtual_service

    http = (f"- name: {route}\n"
            f"  route:\n"
            f"  - destination: {{host: mobile-api, subset: v1}}\n"
            f"    weight: {w1}\n"
            f"  - destination: {{host: mobile-api, subset: v2}}\n"
            f"    weight: {w2}\n")
    return virtual_service(name, [host], http, gateways=gateways)


class Soft:
    """Collects independent checks so one failure does not hide the others; finish()
    fails with all of them."""

    def __init__(self):
        self.failures = []

    def check(self, cond, msg):
        if not cond:
            print(f"  FAIL {msg}", flush=True)
            self.failures.append(msg)
        return bool(cond)

    def eq(self, got, expected, what):
        return self.check(got == expected, f"{what}: expected {expected!r}, got {got!r}")

    def finish(self):
        if self.failures:
            raise TestFailure(f"{len(self.failures)} check(s) failed:\n  "
                              + "\n  ".join(self.failures))
