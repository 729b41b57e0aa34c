"""canaryd end-to-end test helpers (python3 standard library only).

Everything an e2e test under tests/e2e/<area>/NNN_<behaviour>.py needs to drive the
real canaryd binary on loopback:

  Canaryd(config)        start build/canaryd (env CANARYD) on free ports with a config,
                         wait for readiness, stop it with SIGTERM, and fail the test when
                         it crashed, was killed by a signal, exited non-zero, or printed a
                         sanitizer report (AddressSanitizer, LeakSanitizer, UBSan).
  Upstream(name, ...)    the one fake upstream: an HTTP/1.1 server on 127.0.0.1:0 (thread
                         per connection, keep-alive) that records every request head and
                         body it receives and the connections it accepts; its answers are
                         chosen by path or by a mode (status, delay, reset, flaky), or a
                         raw per-connection handler, or the test speaks on the connection
                         itself (HAND_OVER); optionally in a child process.
  Upstreams(*names)      several Upstreams by name, closed together.
  HttpConn(port)         a raw client: send bytes, read responses (Content-Length, chunked,
                         until-close, 1xx, HEAD/204/304), pipelining, close detection.
  parse_metrics(text)    the one Prometheus text-format parser (Metrics: families with
                         HELP and TYPE, samples, label escapes); fails on a bad line.
                         Canaryd.metrics() scrapes and parses the admin /metrics.
  mesh_config(...)       Istio YAML: ServiceEntry + DestinationRule for mobile-api with one
                         subset per key, plus the VirtualServices a test gives.
  run(main)              run a test function: exit 0 pass, 1 fail, 77 skip.

A test prints what it checks (step()) and fails with a message saying what was expected
and what was seen (check(), expect_eq()).
"""

import base64
import hashlib
import json
import os
import queue
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import traceback
import http.client

DEFAULT_HOST = "mobile-api"
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))

# --------------------------------------------------------------------------- scaffolding


class TestFailure(AssertionError):
    """A check failed; the message says what was expected and what was seen."""


class Skip(Exception):
    """The test cannot run here (exit 77)."""


class ConnectionClosed(Exception):
    """The peer closed (or reset) the connection before a complete response."""

    def __init__(self, msg, partial=b"", reset=False):
        super().__init__(msg)
        self.partial = bytes(partial)
        self.reset = reset


class ResponseTimeout(TestFailure):
    """No (complete) response within the client's timeout."""


def step(msg):
    print(f"- {msg}", flush=True)


def fail(msg):
    raise TestFailure(msg)


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def expect_eq(got, expected, what):
    if got != expected:
        raise TestFailure(f"{what}: expected {expected!r}, got {got!r}")


def run(main):
    """Runs main() and exits 0 (pass), 1 (fail) or 77 (skip)."""
    try:
        main()
    except Skip as e:
        print(f"skip: {e}", flush=True)
        sys.exit(77)
    except TestFailure as e:
        print(f"FAIL: {e}", flush=True)
        sys.exit(1)
    except (ConnectionClosed, OSError) as e:
        tb = traceback.extract_tb(e.__traceback__)
        where = next((f"{os.path.basename(f.filename)}:{f.lineno}: {f.line}"
                      for f in reversed(tb) if "canaryd_e2e" not in f.filename), "?")
        print(f"FAIL: {type(e).__name__}: {e} (at {where})", flush=True)
        sys.exit(1)
    except BaseException as e:  # noqa: B902 - any crash of the test is a failure
        traceback.print_exc()
        print(f"FAIL: the test raised {type(e).__name__}: {e}", flush=True)
        sys.exit(1)
    print("PASS", flush=True)
    sys.exit(0)


def canaryd_bin():
    path = os.environ.get("CANARYD") or os.path.join(REPO, "build", "canaryd")
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise Skip(f"no canaryd binary at {path}")
    return path


_sanitized = None


def is_sanitized():
    """True when the binary under test is built with ASan/UBSan (slower, more memory)."""
    global _sanitized
    if _sanitized is None:
        try:
            with open(canaryd_bin(), "rb") as f:
                data = f.read()
            _sanitized = b"__asan_init" in data or b"__ubsan_handle" in data
        except (OSError, Skip):
            _sanitized = False
    return _sanitized


def slow_factor():
    """Multiplier for time limits: sanitized builds run 2-3x slower."""
    return 3.0 if is_sanitized() else 1.0


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def raise_nofile(n):
    """Raises this process's RLIMIT_NOFILE soft limit to at least n (within the hard limit)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n if hard == resource.RLIM_INFINITY else min(n, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft


# ---------------------------------------------------------------------- body patterns

_BLOCK = bytes(range(256)) * 256  # 64 KiB


def pattern_chunks(n, piece=256 * 1024):
    """Yields n deterministic bytes in pieces of at most `piece` bytes."""
    block = _BLOCK * (piece // len(_BLOCK)) if piece >= len(_BLOCK) else _BLOCK[:piece]
    left = n
    while left > 0:
        k = min(left, len(block))
        yield block if k == len(block) else block[:k]
        left -= k


def pattern_sha256(n):
    h = hashlib.sha256()
    for c in pattern_chunks(n):
        h.update(c)
    return h.hexdigest()


# ------------------------------------------------------------------------ the proxy

SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "WARNING: ThreadSanitizer",
)


def sanitizer_report(text):
    """Returns the sanitizer report found in text (a few lines around it), or ''."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if any(m in line for m in SANITIZER_MARKERS):
            return "\n".join(lines[max(0, i - 2): i + 40])
    return ""


class Canaryd:
    """Runs the canaryd binary on loopback with a given config.

    config: YAML text (written to one file), a dict {file name: YAML text} (written to a
    directory passed with -c), or a function of the listen port returning either (for
    configs that name the port; called again if the port must be changed). Use as a
    context manager; .port is the data-plane port, .admin_port the admin port. On exit:
    SIGTERM, wait, and fail the test when the process had died, exited non-zero, had to be
    killed, or printed a sanitizer report.
    """

    def __init__(self, config, workers=1, extra_args=(), env=None, drain_timeout=2,
                 ready_timeout=5.0, port=None, wrapper=()):
        self.config = config
        self.wrapper = list(wrapper)  # argv prefix that ends by exec'ing canaryd (same PID)
        self.fixed_port = port
        self.workers = workers
        self.extra_args = list(extra_args)
        self.env_extra = dict(env or {})
        # E2E_CANARYD_ENV="K=V ..." adds environment to every canaryd a test starts
        # (e.g. a whole test run again with CANARYD_IO_URING=off).
        for kv in os.environ.get("E2E_CANARYD_ENV", "").split():
            k, _, v = kv.partition("=")
            self.env_extra.setdefault(k, v)
        self.drain_timeout = drain_timeout
        self.ready_timeout = ready_timeout * slow_factor()
        self.proc = None
        self.dir = None
        self.port = None
        self.admin_port = None
        self.pid = None
        self.config_path = None

    # -- life cycle
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self._cleanup_after_failed_start()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        problems = self.stop()
        failed = bool(problems) or exc_type is not None
        if failed:
            self.print_logs()
            print(f"(canaryd files kept in {self.dir})", flush=True)
        elif self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        if problems:
            msg = "canaryd: " + "; ".join(problems)
            if exc_type is not None and exc_type not in (Skip,):
                msg += f" (and the test itself failed: {exc_type.__name__}: {exc})"
            raise TestFailure(msg)
        return False

    def _write_config(self):
        if callable(self.config):
            self.config_fn = self.config
            self.config = self.config(self.port)
        if isinstance(self.config, dict):
            cdir = os.path.join(self.dir, "conf")
            os.mkdir(cdir)
            for name, text in self.config.items():
                with open(os.path.join(cdir, name), "w") as f:
                    f.write(text)
            self.config_path = cdir
        else:
            self.config_path = os.path.join(self.dir, "canaryd.yaml")
            with open(self.config_path, "w") as f:
                f.write(self.config)

    def write_config(self, config):
        """Replaces the config on disk (same layout as at start); call reload() after."""
        if isinstance(self.config, dict):
            for name in os.listdir(self.config_path):
                os.unlink(os.path.join(self.config_path, name))
        self.config = config
        if isinstance(config, dict):
            for name, text in config.items():
                with open(os.path.join(self.config_path, name), "w") as f:
                    f.write(text)
        else:
            with open(self.config_path, "w") as f:
                f.write(config)

    def start(self):
        binary = canaryd_bin()
        self.dir = tempfile.mkdtemp(prefix="canaryd-e2e-")
        self.config_fn = None
        env = {k: v for k, v in os.environ.items() if not k.startswith("CANARYD")}
        env.update(self.env_extra)
        last = ""
        for attempt in range(3):
            self.port, self.admin_port = self.fixed_port or free_port(), free_port()
            while self.admin_port == self.port:
                self.admin_port = free_port()
            if attempt == 0:
                self._write_config()
            elif self.config_fn is not None:
                if os.path.isdir(self.config_path):
                    shutil.rmtree(self.config_path, ignore_errors=True)
                self.config = self.config_fn
                self._write_config()
            args = [binary, "-c", self.config_path, "-l", f"127.0.0.1:{self.port}",
                    "-a", f"127.0.0.1:{self.admin_port}", "-w", str(self.workers),
                    "--drain-timeout", str(self.drain_timeout)] + self.extra_args
            args = self.wrapper + args
            self.args = args
            self.stdout_path = os.path.join(self.dir, f"stdout.{attempt}.log")
            self.stderr_path = os.path.join(self.dir, f"stderr.{attempt}.log")
            with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
                self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=err, env=env, close_fds=True)
            self.pid = self.proc.pid
            if self._wait_ready():
                return
            rc = self.proc.poll()
            last = self.stderr_text()[-2000:] + self.stdout_text()[-1000:]
            if rc == 3:  # could not bind: another process took the port; try others
                continue
            if rc is None:
                self._kill()
                fail(f"canaryd not ready within {self.ready_timeout:.0f}s "
                     f"(GET /internal/platform/readiness on 127.0.0.1:{self.admin_port});"
                     f" args {' '.join(args)}; output:\n{last}")
            fail(f"canaryd exited with status {rc} at start-up; args {' '.join(args)};"
                 f" output:\n{last}")
        fail(f"canaryd could not bind after 3 attempts (exit 3); output:\n{last}")

    def _wait_ready(self):
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                status, _ = self.admin_get("/internal/platform/readiness", timeout=1.0)
                if status == 200:
                    return True
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        return False

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def _cleanup_after_failed_start(self):
        self._kill()

    def stop(self):
        """Stops canaryd; returns a list of problems (empty when all was well)."""
        if self.proc is None:
            return []
        problems = []
        rc = self.proc.poll()
        if rc is not None:
            how = f"died from signal {-rc}" if rc < 0 else f"exited with status {rc}"
            problems.append(f"the process {how} during the test")
        else:
            self.proc.send_signal(signal.SIGTERM)
            limit = self.drain_timeout + 5 * slow_factor()
            try:
                rc = self.proc.wait(timeout=limit)
                if rc < 0:
                    problems.append(f"killed by signal {-rc} after SIGTERM")
                elif rc != 0:
                    problems.append(f"exit status {rc} after SIGTERM (expected 0)")
            except subprocess.TimeoutExpired:
                self._kill()
                problems.append(f"did not exit within {limit:.0f}s of SIGTERM "
                                f"(--drain-timeout {self.drain_timeout}); killed")
        report = sanitizer_report(self.stderr_text() + "\n" + self.stdout_text())
        if report:
            problems.append("sanitizer report:\n" + report)
        self.proc = None
        return problems

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def reload(self):
        """Sends SIGHUP (reload)."""
        os.kill(self.pid, signal.SIGHUP)

    # -- output
    def stdout_text(self):
        try:
            with open(self.stdout_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, AttributeError):
            return ""

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, AttributeError):
            return ""

    def print_logs(self, n=25):
        err = self.stderr_text().splitlines()
        out = self.stdout_text().splitlines()
        if err:
            print(f"--- canaryd stderr (last {min(n, len(err))} of {len(err)} lines)")
            print("\n".join(err[-n:]))
        if out:
            print(f"--- canaryd stdout (last {min(n, len(out))} of {len(out)} lines)")
            print("\n".join(out[-n:]))
        sys.stdout.flush()

    @staticmethod
    def _json_lines(text):
        objs = []
        for line in text.splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                objs.append(obj)
        return objs

    def access_log_lines(self):
        """Parsed access-log lines (JSON objects with a status and no level) from stdout."""
        return [o for o in self._json_lines(self.stdout_text())
                if "status" in o and "level" not in o]

    def process_log_lines(self):
        """Parsed process-log lines (JSON objects with a level) from stdout and stderr."""
        return [o for o in self._json_lines(self.stdout_text() + "\n" + self.stderr_text())
                if "level" in o]

    def wait_access_log(self, n, timeout=3.0):
        """Waits until at least n access-log lines were written; returns them."""
        deadline = time.monotonic() + timeout * slow_factor()
        while True:
            lines = self.access_log_lines()
            if len(lines) >= n or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    # -- introspection
    def rss_kib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise TestFailure("no VmRSS in /proc/PID/status")

    def nfds(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def admin_get(self, path, timeout=2.0):
        c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=timeout)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def metrics(self):
        """GET /metrics on the admin port, parsed (parse_metrics: fails on a bad line)."""
        status, body = self.admin_get("/metrics")
        if status != 200:
            raise TestFailure(f"GET /metrics: expected 200, got {status}")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise TestFailure(f"GET /metrics: not UTF-8 ({e})")
        return parse_metrics(text)

    # -- clients
    def conn(self, timeout=5.0):
        return HttpConn(self.port, timeout=timeout)

    def request(self, method="GET", path="/", host=DEFAULT_HOST, headers=(), body=None,
                timeout=5.0):
        """One request on a fresh connection; returns the Response."""
        with self.conn(timeout=timeout) as c:
            return c.request(method, path, host=host, headers=headers, body=body)


# -------------------------------------------------------------------------- metrics

METRIC_TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
_M_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_M_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_M_VALUE = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|Inf)|NaN")
_M_TIMESTAMP = re.compile(r"-?\d+")
_M_COMMENT = re.compile(r"#[ \t]+(HELP|TYPE)[ \t]+([^ \t]*)(?:[ \t]+(.*))?$")
_M_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}


class _MetricsError(Exception):
    pass


def _m_unescape(text, escapes):
    """text with its backslash escapes (a dict: character after the backslash -> what
    it stands for) resolved; any other escape is an error."""
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text) or text[i + 1] not in escapes:
                raise _MetricsError(f"bad escape {text[i:i + 2]!r}")
            out.append(escapes[text[i + 1]])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _m_skip_blanks(line, pos):
    while pos < len(line) and line[pos] in " \t":
        pos += 1
    return pos


def _m_labels(line, pos):
    """Parses the label set after a '{' at line[pos - 1]; returns (labels, position after
    the '}')."""
    labels = {}
    while True:
        pos = _m_skip_blanks(line, pos)
        if line[pos:pos + 1] == "}":
            return labels, pos + 1
        m = _M_LABEL.match(line, pos)
        if not m:
            raise _MetricsError(f"label name expected at column {pos + 1}")
        name = m.group()
        pos = _m_skip_blanks(line, m.end())
        if line[pos:pos + 1] != "=":
            raise _MetricsError(f"'=' expected after label {name}")
        pos = _m_skip_blanks(line, pos + 1)
        if line[pos:pos + 1] != '"':
            raise _MetricsError(f"quoted value expected for label {name}")
        value = []
        pos += 1
        while True:
            if pos >= len(line):
                raise _MetricsError(f"label {name}: value not terminated")
            c = line[pos]
            if c == '"':
                break
            if c == "\\":
                value.append(line[pos:pos + 2])
                pos += 2
                continue
            value.append(c)
            pos += 1
        if name in labels:
            raise _MetricsError(f"label {name} given twice")
        labels[name] = _m_unescape("".join(value), {"\\": "\\", '"': '"', "n": "\n"})
        pos = _m_skip_blanks(line, pos + 1)
        if line[pos:pos + 1] == ",":
            pos += 1
        elif line[pos:pos + 1] != "}":
            raise _MetricsError(f"',' or '}}' expected after label {name}")


def _m_float(token):
    if not _M_VALUE.fullmatch(token):
        raise _MetricsError(f"bad value {token!r}")
    return float(token)


class Metrics:
    """One scrape in the Prometheus text exposition format (0.0.4), the one parser of
    the tests: # HELP (text with \\\\ and \\n escapes) and # TYPE lines, samples with
    label sets (values with \\\\, \\" and \\n escapes, a trailing comma allowed),
    values (floats, +Inf, -Inf, NaN) and optional timestamps.

    .families {name: {"help", "type", "samples"}} (a histogram's _bucket/_sum/_count and
    a summary's _sum/_count samples belong to the family of their # TYPE), .samples
    [(sample name, labels dict, float)] in order, .errors: every line that breaks the
    format ("line N: what: text"), a series given twice, a # HELP or # TYPE given twice
    or a # TYPE after its family's samples, an unknown type, a histogram bucket without
    a numeric le label, a summary sample without a quantile label, and a family whose
    samples are not all together. parse_metrics() fails on any of them.
    """

    def __init__(self, text):
        self.text = text
        self.families = {}
        self.samples = []
        self.errors = []
        self._series = {}
        last_family = None
        closed = set()  # families whose samples have ended
        for n, raw in enumerate(text.split("\n"), 1):
            line = raw.strip(" \t")
            if not line:
                continue
            try:
                if line.startswith("#"):
                    self._comment(line)
                    continue
                name, labels, value = self._sample(line)
            except _MetricsError as e:
                self.errors.append(f"line {n}: {e}: {raw[:200]!r}")
                continue
            fam = self.family_of(name)
            if fam != last_family:
                if fam in closed:
                    self.errors.append(f"line {n}: the samples of {fam} are not together: "
                                       f"{raw[:200]!r}")
                if last_family is not None:
                    closed.add(last_family)
                last_family = fam
            key = (name, frozenset(labels.items()))
            if key in self._series:
                self.errors.append(f"line {n}: series given twice: {raw[:200]!r}")
            self._series[key] = value
            self.samples.append((name, labels, value))
            self._family(fam)["samples"].append((name, labels, value))

    def _family(self, name):
        return self.families.setdefault(name, {"samples": []})

    def _comment(self, line):
        m = _M_COMMENT.match(line)
        if not m:
            return  # a plain comment
        kind, name, rest = m.group(1), m.group(2), m.group(3) or ""
        if not _M_NAME.fullmatch(name):
            raise _MetricsError(f"# {kind}: bad metric name {name!r}")
        fam = self._family(name)
        if kind == "HELP":
            if "help" in fam:
                raise _MetricsError(f"second # HELP for {name}")
            fam["help"] = _m_unescape(rest, {"\\": "\\", "n": "\n"})
            return
        if "type" in fam:
            raise _MetricsError(f"second # TYPE for {name}")
        if fam["samples"]:
            raise _MetricsError(f"# TYPE for {name} after its samples")
        if rest.strip(" \t") not in METRIC_TYPES:
            raise _MetricsError(f"# TYPE {name}: unknown type {rest!r}")
        fam["type"] = rest.strip(" \t")

    def _sample(self, line):
        m = _M_NAME.match(line)
        if not m:
            raise _MetricsError("metric name expected")
        name, pos = m.group(), m.end()
        labels = {}
        if line[pos:pos + 1] == "{":
            labels, pos = _m_labels(line, pos + 1)
        rest = line[pos:]
        if rest[:1] not in (" ", "\t"):
            raise _MetricsError("blank and value expected after the name and labels")
        words = rest.split()
        if len(words) not in (1, 2):
            raise _MetricsError("one value and at most a timestamp expected")
        value = _m_float(words[0])
        if len(words) == 2 and not _M_TIMESTAMP.fullmatch(words[1]):
            raise _MetricsError(f"bad timestamp {words[1]!r}")
        fam_type = self.families.get(self.family_of(name), {}).get("type")
        if fam_type == "histogram" and name.endswith("_bucket"):
            if "le" not in labels:
                raise _MetricsError("histogram bucket without an le label")
            _m_float(labels["le"])
        if fam_type == "summary" and name == self.family_of(name) and "quantile" not in labels:
            raise _MetricsError("summary sample without a quantile label")
        return name, labels, value

    def family_of(self, sample_name):
        for kind, suffixes in _M_SUFFIXES.items():
            for suffix in suffixes:
                if sample_name.endswith(suffix):
                    base = sample_name[: -len(suffix)]
                    if self.families.get(base, {}).get("type") == kind:
                        return base
        return sample_name

    def find(self, name, **labels):
        """[(labels, value)] of the samples `name` whose labels include `labels`."""
        return [(ls, v) for n, ls, v in self.samples
                if n == name and all(ls.get(k) == str(val) for k, val in labels.items())]

    def get(self, name, **labels):
        """Value of the sample `name` whose labels include `labels` (exactly one), or
        None when there is none; raises when several match."""
        found = self.find(name, **labels)
        if len(found) > 1:
            raise TestFailure(f"metrics: {len(found)} samples {name}{labels}")
        return found[0][1] if found else None

    def value(self, name, default=0.0, **labels):
        v = self.get(name, **labels)
        return default if v is None else v

    def sum(self, name, **labels):
        """Sum of the samples `name` whose labels include `labels` (0 when none)."""
        return sum(v for _, v in self.find(name, **labels))

    def series(self):
        """{frozenset of (label, value) pairs with ("__name__", sample name): value}."""
        return {frozenset(ls | {("__name__", n)}): v for (n, ls), v in self._series.items()}


def parse_metrics(text):
    """Metrics(text); fails the test when any line breaks the exposition format."""
    m = Metrics(text)
    if m.errors:
        raise TestFailure(f"/metrics: {len(m.errors)} problem(s) in the exposition format:\n  "
                          + "\n  ".join(m.errors[:10]))
    return m


# ----------------------------------------------------------------------- raw client


class Response:
    def __init__(self, version, status, reason, headers, raw_head):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value) as received
        self.raw_head = raw_head
        self.body = b""
        self.chunked = False
        self.trailers = []
        self.interim = []  # 1xx responses seen before this one

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def headers_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def has_token(self, name, token):
        """True when header `name` (all lines) holds `token` in its comma list."""
        for v in self.headers_all(name):
            if token.lower() in [t.strip().lower() for t in v.split(",")]:
                return True
        return False

    @property
    def text(self):
        return self.body.decode("latin-1")

    def __repr__(self):
        return f"<Response {self.status} {self.reason!r} {len(self.body)} bytes>"


def build_request(method="GET", path="/", host=DEFAULT_HOST, headers=(), body=None,
                  version="HTTP/1.1"):
    """Request bytes. host=None omits Host; headers is a list of pairs or a dict. A body
    gets a Content-Length unless headers already frame it."""
    if isinstance(headers, dict):
        headers = list(headers.items())
    lines = [f"{method} {path} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    names = set()
    for k, v in headers:
        lines.append(f"{k}: {v}")
        names.add(k.lower())
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if body is not None:
        data += body if isinstance(body, bytes) else body.encode("latin-1")
    return data


def chunk_encode(pieces, trailers=(), ext=None):
    out = b""
    for p in pieces:
        size = f"{len(p):x}" + (f";{ext}" if ext else "")
        out += size.encode() + b"\r\n" + p + b"\r\n"
    out += b"0\r\n"
    for k, v in trailers:
        out += f"{k}: {v}\r\n".encode()
    return out + b"\r\n"


_STATUS_RE = re.compile(rb"^HTTP/(\d)\.(\d) (\d{3})(?: (.*))?$")


class HttpConn:
    """A client connection speaking raw HTTP/1.x."""

    def __init__(self, port, timeout=5.0, host="127.0.0.1"):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def send_request(self, method="GET", path="/", host=DEFAULT_HOST, headers=(), body=None,
                     version="HTTP/1.1"):
        self.send(build_request(method, path, host, headers, body, version))

    def request(self, method="GET", path="/", host=DEFAULT_HOST, headers=(), body=None,
                version="HTTP/1.1"):
        self.send_request(method, path, host, headers, body, version)
        return self.read_response(method)

    # -- reading
    def _fill(self, what):
        try:
            data = self.sock.recv(262144)
        except socket.timeout:
            raise ResponseTimeout(f"no {what} within {self.timeout}s "
                                  f"({len(self.buf)} bytes buffered: {bytes(self.buf[:200])!r})")
        except ConnectionResetError:
            raise ConnectionClosed(f"connection reset while reading {what}", self.buf, True)
        if not data:
            raise ConnectionClosed(f"connection closed while reading {what}", self.buf)
        self.buf += data

    def _read_line(self, what, limit=1 << 20):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            if len(self.buf) > limit:
                raise TestFailure(f"{what}: line longer than {limit} bytes")
            self._fill(what)

    def _read_exact(self, n, what):
        while len(self.buf) < n:
            self._fill(what)
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_head(self):
        """Reads a status line and headers; returns a Response without a body."""
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                break
            if len(self.buf) > 1 << 20:
                raise TestFailure("response head longer than 1 MiB")
            self._fill("response head")
        raw = bytes(self.buf[:i + 4])
        del self.buf[:i + 4]
        lines = raw[:-4].split(b"\r\n")
        m = _STATUS_RE.match(lines[0])
        if not m:
            raise TestFailure(f"malformed status line {lines[0][:200]!r}")
        headers = []
        for line in lines[1:]:
            k, sep, v = line.partition(b":")
            if not sep or not k or k != k.strip():
                raise TestFailure(f"malformed response header line {line[:200]!r}")
            headers.append((k.decode("latin-1"), v.strip().decode("latin-1")))
        version = f"HTTP/{m.group(1).decode()}.{m.group(2).decode()}"
        return Response(version, int(m.group(3)), (m.group(4) or b"").decode("latin-1"),
                        headers, raw)

    def read_response(self, method="GET", interim=False):
        """Reads one complete response. 1xx interim responses (other than 101) are
        collected in .interim unless interim=True, which returns the first one."""
        seen = []
        while True:
            resp = self.read_head()
            if 100 <= resp.status < 200 and resp.status != 101:
                if interim:
                    return resp
                seen.append(resp)
                continue
            break
        resp.interim = seen
        self._read_body(resp, method)
        return resp

    def _read_body(self, resp, method):
        if method == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200:
            return
        te = ",".join(resp.headers_all("transfer-encoding"))
        cls = resp.headers_all("content-length")
        if te:
            codings = [t.strip().lower() for t in te.split(",") if t.strip()]
            if not codings or codings[-1] != "chunked":
                raise TestFailure(f"response Transfer-Encoding {te!r} is not chunked")
            if cls:
                raise TestFailure("response has both Content-Length and Transfer-Encoding")
            resp.chunked = True
            body = bytearray()
            while True:
                line = self._read_line("chunk size")
                size_s = line.split(b";")[0].strip()
                if not re.fullmatch(rb"[0-9a-fA-F]+", size_s):
                    raise TestFailure(f"bad chunk size line {line[:100]!r}")
                size = int(size_s, 16)
                if size == 0:
                    break
                body += self._read_exact(size, "chunk data")
                if self._read_exact(2, "chunk CRLF") != b"\r\n":
                    raise TestFailure("chunk data not followed by CRLF")
            while True:
                line = self._read_line("trailer")
                if not line:
                    break
                k, _, v = line.partition(b":")
                resp.trailers.append((k.decode("latin-1"), v.strip().decode("latin-1")))
            resp.body = bytes(body)
        elif cls:
            if len(set(v.strip() for v in cls)) != 1 or not cls[0].strip().isdigit():
                raise TestFailure(f"bad response Content-Length {cls!r}")
            resp.body = self._read_exact(int(cls[0]), "response body")
        else:
            body = bytearray(self.buf)
            self.buf.clear()
            while True:
                try:
                    data = self.sock.recv(262144)
                except socket.timeout:
                    raise ResponseTimeout(f"close-delimited body not closed within "
                                          f"{self.timeout}s ({len(body)} bytes so far)")
                except ConnectionResetError:
                    raise ConnectionClosed("connection reset in a close-delimited body",
                                           body, True)
                if not data:
                    break
                body += data
            resp.body = bytes(body)

    def read_available(self, wait=0.2):
        """Returns whatever arrives within `wait` seconds (b'' if nothing); no EOF check."""
        self.sock.settimeout(wait)
        data = bytes(self.buf)
        self.buf.clear()
        try:
            chunk = self.sock.recv(262144)
            data += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        finally:
            self.sock.settimeout(self.timeout)
        return data

    def wait_closed(self, timeout=2.0):
        """Waits for the peer to close. Returns (closed, extra_bytes): closed is True on
        EOF or reset within timeout; extra_bytes is anything that arrived before."""
        deadline = time.monotonic() + timeout
        extra = bytes(self.buf)
        self.buf.clear()
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False, extra
                self.sock.settimeout(left)
                try:
                    data = self.sock.recv(65536)
                except socket.timeout:
                    return False, extra
                except (ConnectionResetError, BrokenPipeError):
                    return True, extra
                if not data:
                    return True, extra
                extra += data
        finally:
            try:
                self.sock.settimeout(self.timeout)
            except OSError:
                pass


def get(port, path="/", host=DEFAULT_HOST, headers=(), timeout=5.0):
    with HttpConn(port, timeout=timeout) as c:
        return c.request("GET", path, host=host, headers=headers)


# --------------------------------------------------------------------- the upstream


class Req:
    """One request as an Upstream received it."""

    def __init__(self, method, target, version, headers, conn_id):
        self.method = method
        self.target = target
        self.path, _, self.query = target.partition("?")
        self.version = version
        self.headers = headers
        self.conn_id = conn_id
        self.body = b""  # the first MiB
        self.body_len = 0
        self.body_sha256 = hashlib.sha256(b"").hexdigest()
        self.chunked = False
        self.trailers = []
        self.complete = False
        self.raw_head = b""  # the head bytes as received, through CRLFCRLF
        self.t_start = time.monotonic()  # when the head was read
        self.t_end = None  # when the answer was sent (None: not answered)

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def headers_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def header_names(self):
        return [k.lower() for k, _ in self.headers]

    def to_dict(self):
        return {"method": self.method, "target": self.target, "version": self.version,
                "headers": self.headers, "body_len": self.body_len,
                "body_sha256": self.body_sha256, "chunked": self.chunked,
                "trailers": self.trailers, "conn_id": self.conn_id}

    def __repr__(self):
        return f"<Req {self.method} {self.target} conn={self.conn_id}>"


class _Eof(Exception):
    pass


class _Bad(Exception):
    pass


class _Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def fill(self):
        data = self.sock.recv(262144)
        if not data:
            raise _Eof()
        self.buf += data

    def read_head(self, limit=1 << 20):
        """Returns the head bytes through CRLFCRLF, or None on EOF before any byte."""
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                head = bytes(self.buf[:i + 4])
                del self.buf[:i + 4]
                return head
            if len(self.buf) > limit:
                raise _Bad("request head too large")
            try:
                self.fill()
            except _Eof:
                if not self.buf:
                    return None
                raise

    def read_line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            if len(self.buf) > 65536:
                raise _Bad("line too long")
            self.fill()

    def read_some(self, n):
        if not self.buf:
            self.fill()
        k = min(n, len(self.buf))
        data = bytes(self.buf[:k])
        del self.buf[:k]
        return data


# Canned raw responses for /raw/<name>: (bytes, keep the connection open afterwards).
RAW_RESPONSES = {
    "badstatus": (b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok", False),
    "garbage": (b"this is not http\r\n\r\n", False),
    "clte": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"0\r\n\r\n", False),
    "twocl": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
              False),
    "badcl": (b"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello", False),
    "bighdr": (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70000 + b"\r\nContent-Length: 2\r\n\r\nok",
               False),
    "continue": (b"HTTP/1.1 100 Continue\r\n\r\n"
                 b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n", True),
    "earlyhints": (b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
                   b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n", True),
    # A 204 followed by bytes that are not a response: they must never reach a client.
    "204body": (b"HTTP/1.1 204 No Content\r\nX-Raw: 204body\r\n\r\nGARBAGE-AFTER-204", True),
    # A 304 announcing the representation's length (allowed) with no body (correct).
    "304cl": (b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 100\r\n\r\n", True),
    # A 304 with a Content-Length and then (wrongly) a body.
    "304body": (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 17\r\n\r\nGARBAGE-AFTER-304", True),
    # A HEAD answer that (wrongly) carries the body.
    "headbody": (b"HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\nGARBAGE-AFTERHEAD", True),
    "closedelim": (b"HTTP/1.1 200 OK\r\nX-Raw: closedelim\r\n\r\n"
                   + b"".join(b"until-close line %04d\n" % i for i in range(200)), False),
    "hop": (b"HTTP/1.1 200 OK\r\nConnection: X-Resp-Hop\r\nX-Resp-Hop: secret\r\n"
            b"Keep-Alive: timeout=99\r\nProxy-Connection: keep-alive\r\n"
            b"X-Kept: yes\r\nContent-Length: 3\r\n\r\nok\n", True),
    "http10": (b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n", False),
    # Headers with Content-Length 1000, 10 bytes of body, then close.
    "half": (b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789", False),
    # A chunked body cut after the first chunk.
    "halfchunked": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"5\r\nhello\r\n", False),
}

_REASONS = {100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created",
            204: "No Content", 301: "Moved Permanently", 302: "Found", 304: "Not Modified",
            400: "Bad Request", 404: "Not Found", 418: "I'm a teapot",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def chunked_response_body(n):
    return b"".join(b"chunk-%d\n" % i for i in range(n))


class Upstream:
    """The fake upstream of every e2e test: a server on 127.0.0.1 (loopback only), one
    thread per connection, stopped by close() or `with` (connections shut down, threads
    joined, a child process killed by PID).

    Upstream(name, mode=None, response_headers=(), status=200, port=0, host="127.0.0.1",
             handler=None, process=False)

    Identity: every HTTP answer carries `x-upstream: NAME` and `x-target: TARGET` plus
    response_headers; the plain answer is `status` with body "NAME\\n".

    What it answers (HTTP/1.1, keep-alive), chosen by .mode (set_mode() switches it at
    run time, so two endpoints of one subset can answer the same request differently):
      None (by path):
        /                  `status`, body "NAME\\n" (any other path too)
        /echo...           200, JSON of the request as received
        /status/NNN        status NNN (no body for 204/304)
        /slow/MS           sleep MS ms, then `status`
        /chunked/N         chunked response of N chunks ("chunk-0\\n"...)
        /big/BYTES         Content-Length body of BYTES pattern bytes (pattern_sha256)
        /upload[?rate=B]   consumes the body (any framing, optionally at B bytes/s) and
                           answers JSON {"len", "sha256", "chunked"}
        /reset             close without answering; /rst: the same with a TCP RST
        /half              Content-Length 1000, 10 bytes, close
        /raw/NAME          send RAW_RESPONSES[NAME]
        /ws                101 to an Upgrade: websocket, then echo raw bytes until EOF
        /close             200 with Connection: close, then close
        /drop-after        200 (keep-alive), then close the connection 50 ms later
        A request with Expect: 100-continue gets `100 Continue` before its body is read.
      "reset"              every path: read the request, close without answering
      "status:NNN"         every path: status NNN
      "slow:MS[:NNN]"      every path: sleep MS ms, then 200 (or NNN)
      "flaky:N:NNN"        every path: the first N requests (since set_mode) NNN, then 200
      GET /__stats         whatever the mode: JSON stats() at once, then close.

    Recording: .heads (every request head, a Req), .requests (requests whose body was
    read completely; Req.t_start when the head was read, Req.t_end when the answer was
    sent), .accepted (connections), .errors (malformed input), .active / .max_active
    (requests being served at once). count(), snapshot(), take_requests(),
    wait_requests(n), open_conns(), stats(), clear().

    handler=fn: no HTTP; every accepted connection runs fn(upstream, conn, index) in its
    own thread (the connection is closed when fn returns), for upstreams that misbehave
    in ways the modes cannot (split heads, bytes after the response, resets); fn may
    record(head_bytes, index) into .heads and record_bytes(data, index) for received().
    handler=Upstream.HAND_OVER: every accepted connection is handed to the test, which
    takes it with next_conn() and speaks on it itself.

    process=True: the server runs in a child python process (so that hundreds of its
    threads, e.g. a slow mirror's, cannot take this process's GIL from the client and the
    other upstreams); only .port, stats() and close() are available.
    """

    HAND_OVER = "hand-over"

    def __init__(self, name, *, mode=None, response_headers=(), status=200, port=0,
                 host="127.0.0.1", handler=None, process=False):
        self.name = name
        self.mode = mode
        self.response_headers = list(response_headers)
        self.default_status = status
        self.handler = handler
        self.proc = None
        self.lock = threading.Lock()
        self.requests = []
        self.heads = []
        self.errors = []
        self.accepted = 0
        self.active = 0
        self.max_active = 0
        self._served = 0  # requests answered under a "flaky" mode
        self._conns = set()
        self._threads = []
        self._handed = queue.Queue()
        self._raw = {}  # conn_id -> bytes recorded by a handler
        self._stop = threading.Event()
        self._accept_thread = None
        if process:
            if handler is not None or port or response_headers or status != 200:
                raise ValueError("process=True takes a name and a mode only")
            self._start_child()
            return
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, port))
        self.lsock.listen(1024)
        self.lsock.settimeout(0.1)
        self.port = self.lsock.getsockname()[1]
        t = threading.Thread(target=self._accept_loop, name=f"up-{name}", daemon=True)
        t.start()
        self._accept_thread = t

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
        return False

    def __repr__(self):
        return f"<Upstream {self.name} :{self.port}>"

    def close(self):
        if self.proc is not None:
            self._stop_child()
            return
        self._stop.set()
        if self._accept_thread is not None:
            self._accept_thread.join(2)
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self._conns)
            threads = list(self._threads)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in threads:
            t.join(2)

    # -- what the test reads
    def _local(self, what):
        if self.proc is not None:
            raise TestFailure(f"Upstream {self.name}: {what} is not available for an "
                              f"upstream in a child process (use stats())")

    def set_mode(self, mode):
        self._local("set_mode()")
        with self.lock:
            self.mode = mode
            self._served = 0

    def clear(self):
        self._local("clear()")
        with self.lock:
            self.requests.clear()
            self.heads.clear()
            self.errors.clear()
            self.accepted = 0
            self.max_active = self.active

    def count(self):
        self._local("count()")
        with self.lock:
            return len(self.requests)

    def snapshot(self):
        self._local("snapshot()")
        with self.lock:
            return list(self.requests)

    def take_requests(self):
        """The requests recorded since the last take (or clear()), forgetting them."""
        self._local("take_requests()")
        with self.lock:
            got, self.requests = self.requests, []
        return got

    def wait_requests(self, n, timeout=3.0):
        deadline = time.monotonic() + timeout * slow_factor()
        while time.monotonic() < deadline:
            if self.count() >= n:
                break
            time.sleep(0.02)
        return self.snapshot()

    def open_conns(self):
        """How many accepted connections are open now."""
        self._local("open_conns()")
        with self.lock:
            return len(self._conns)

    def stats(self):
        """{"heads", "requests", "max_active"}; from the child for process=True."""
        if self.proc is not None:
            c = HttpConn(self.port, timeout=5.0)
            try:
                resp = c.request("GET", "/__stats")
            finally:
                c.close()
            return json.loads(resp.body)
        with self.lock:
            return self._stats_locked(0)

    def _stats_locked(self, own_heads):
        return {"heads": len(self.heads) - own_heads, "requests": len(self.requests),
                "max_active": self.max_active}

    def targets(self):
        """The target of every head recorded, in order."""
        with self.lock:
            return [h.target for h in self.heads]

    def record(self, head, conn_id=0):
        """For a handler: records the raw request head bytes (through CRLFCRLF) in .heads
        as a Req (.raw_head; method, target and headers when they parse)."""
        try:
            req = self._parse_head(head, conn_id)
        except _Bad as e:
            words = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ") + ["", ""]
            req = Req(words[0], words[1], words[2], [], conn_id)
            req.raw_head = head
            with self.lock:
                self.errors.append(str(e))
        with self.lock:
            self.heads.append(req)

    def record_bytes(self, data, conn_id=0):
        """For a handler: records bytes received on connection conn_id (see received())."""
        with self.lock:
            self._raw.setdefault(conn_id, bytearray()).extend(data)

    def received(self):
        """Every byte recorded with record_bytes(), connection after connection."""
        with self.lock:
            return b"".join(bytes(self._raw[k]) for k in sorted(self._raw))

    def next_conn(self, timeout=5.0):
        """handler=HAND_OVER: the next accepted connection (a blocking socket). It stays
        open until the test closes it or close() shuts it down."""
        try:
            return self._handed.get(timeout=timeout * slow_factor())
        except queue.Empty:
            raise TestFailure(f"Upstream {self.name}: no connection accepted within "
                              f"{timeout * slow_factor():.0f}s")

    # -- child process
    def _start_child(self):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve", self.name,
             self.mode or ""], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=dict(os.environ))
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self._stop_child()
            raise TestFailure(f"Upstream {self.name}: the child process did not start "
                              f"({line!r})")
        self.port = int(line)

    def _stop_child(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass

    # -- server loop
    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(None)
            if self.handler is None:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.accepted += 1
                conn_id = self.accepted
                self._conns.add(conn)
                t = threading.Thread(target=self._run, args=(conn, conn_id), daemon=True)
                self._threads.append(t)
            t.start()

    def _run(self, conn, conn_id):
        try:
            if self.handler == Upstream.HAND_OVER:
                self._handed.put(conn)
                self._stop.wait()
            elif self.handler is not None:
                self.handler(self, conn, conn_id)
            else:
                self._serve(conn, conn_id)
        except OSError:
            pass
        finally:
            with self.lock:
                self._conns.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    def _serve(self, conn, conn_id):
        rd = _Reader(conn)
        try:
            while not self._stop.is_set():
                head = rd.read_head()
                if head is None:
                    return
                req = self._parse_head(head, conn_id)
                with self.lock:
                    self.heads.append(req)
                if not self._handle(conn, rd, req):
                    return
        except _Bad as e:
            with self.lock:
                self.errors.append(str(e))
            try:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n")
            except OSError:
                pass
        except _Eof:
            pass

    def _parse_head(self, head, conn_id):
        lines = head[:-4].split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            raise _Bad(f"bad request line {lines[0][:200]!r}")
        headers = []
        for line in lines[1:]:
            k, sep, v = line.partition(b":")
            if not sep or not k or k != k.strip() or line[:1] in (b" ", b"\t"):
                raise _Bad(f"bad header line {line[:200]!r}")
            headers.append((k.decode("latin-1"), v.strip(b" \t").decode("latin-1")))
        req = Req(parts[0].decode("latin-1"), parts[1].decode("latin-1"),
                  parts[2].decode("latin-1"), headers, conn_id)
        req.raw_head = head
        return req

    def _read_body(self, rd, req, rate=None):
        h = hashlib.sha256()
        keep = bytearray()
        total = 0
        start = time.monotonic()

        def sink(data):
            nonlocal total
            h.update(data)
            if len(keep) < (1 << 20):
                keep.extend(data[:(1 << 20) - len(keep)])
            total += len(data)
            if rate:
                ahead = total / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)

        te = ",".join(req.headers_all("transfer-encoding")).strip()
        cls = req.headers_all("content-length")
        if te:
            if te.split(",")[-1].strip().lower() != "chunked" or cls:
                raise _Bad(f"bad request framing TE={te!r} CL={cls!r}")
            req.chunked = True
            while True:
                line = rd.read_line()
                size_s = line.split(b";")[0].strip()
                if not re.fullmatch(rb"[0-9a-fA-F]{1,15}", size_s):
                    raise _Bad(f"bad chunk size {line[:100]!r}")
                size = int(size_s, 16)
                if size == 0:
                    break
                while size:
                    data = rd.read_some(min(size, 262144))
                    size -= len(data)
                    sink(data)
                while len(rd.buf) < 2:
                    rd.fill()
                if bytes(rd.buf[:2]) != b"\r\n":
                    raise _Bad("chunk not followed by CRLF")
                del rd.buf[:2]
            while True:
                line = rd.read_line()
                if not line:
                    break
                k, _, v = line.partition(b":")
                req.trailers.append((k.decode("latin-1"), v.strip().decode("latin-1")))
        elif cls:
            if len(set(cls)) != 1 or not cls[0].isdigit():
                raise _Bad(f"bad Content-Length {cls!r}")
            left = int(cls[0])
            while left:
                data = rd.read_some(min(left, 262144))
                left -= len(data)
                sink(data)
        req.body = bytes(keep)
        req.body_len = total
        req.body_sha256 = h.hexdigest()

    def _head(self, status, req, headers=(), length=None, keep=True):
        reason = _REASONS.get(status, "Status")
        lines = [f"HTTP/1.1 {status} {reason}", f"x-upstream: {self.name}",
                 f"x-target: {req.target}"]
        lines += [f"{k}: {v}" for k, v in self.response_headers]
        lines += [f"{k}: {v}" for k, v in headers]
        if length is not None:
            lines.append(f"Content-Length: {length}")
        if not keep:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _send(self, conn, status, req, body=b"", headers=(), keep=True):
        no_body = status in (204, 304) or 100 <= status < 200
        head = self._head(status, req, headers, None if no_body else len(body), keep)
        req.t_end = time.monotonic()
        if req.method == "HEAD" or no_body:
            conn.sendall(head)
        else:
            conn.sendall(head + body)
        return keep

    def _wants_close(self, req):
        conn_hdr = ",".join(req.headers_all("connection")).lower()
        tokens = [t.strip() for t in conn_hdr.split(",")]
        if "close" in tokens:
            return True
        return req.version == "HTTP/1.0" and "keep-alive" not in tokens

    def _handle(self, conn, rd, req):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            mode = self.mode
        try:
            if req.path == "/__stats":
                return self._answer_stats(conn, rd, req)
            if mode is None:
                return self._by_path(conn, rd, req)
            return self._by_mode(conn, rd, req, mode)
        finally:
            with self.lock:
                self.active -= 1

    def _answer_stats(self, conn, rd, req):
        self._read_body(rd, req)
        with self.lock:
            stats = self._stats_locked(1)
        return self._send(conn, 200, req, json.dumps(stats).encode(), keep=False)

    def _by_mode(self, conn, rd, req, mode):
        self._read_body(rd, req)
        req.complete = True
        with self.lock:
            self.requests.append(req)
            self._served += 1
            served = self._served
        keep = not self._wants_close(req)
        body = (self.name + "\n").encode()
        kind, _, arg = mode.partition(":")
        if kind == "reset":
            return False
        if kind == "status":
            return self._send(conn, int(arg), req, body, keep=keep)
        if kind == "slow":
            delay, _, status = arg.partition(":")
            time.sleep(int(delay) / 1000.0)
            return self._send(conn, int(status or 200), req, body, keep=keep)
        if kind == "flaky":
            n, _, status = arg.partition(":")
            if served <= int(n):
                return self._send(conn, int(status), req, body, keep=keep)
            return self._send(conn, 200, req, body, keep=keep)
        raise ValueError(f"unknown Upstream mode {mode!r}")

    def _by_path(self, conn, rd, req):
        path = req.path
        if (req.header("expect") or "").lower() == "100-continue":
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        rate = None
        if path.startswith("/upload"):
            m = re.search(r"(?:^|&)rate=(\d+)", req.query)
            rate = int(m.group(1)) if m else None
        self._read_body(rd, req, rate)
        req.complete = True
        with self.lock:
            self.requests.append(req)
        keep = not self._wants_close(req)
        name_body = (self.name + "\n").encode()

        if path.startswith("/status/"):
            return self._send(conn, int(path.split("/")[2]), req, name_body, keep=keep)
        if path.startswith("/slow/"):
            time.sleep(int(path.split("/")[2]) / 1000.0)
            return self._send(conn, self.default_status, req, name_body, keep=keep)
        if path.startswith("/chunked"):
            parts = path.split("/")
            n = int(parts[2]) if len(parts) > 2 and parts[2] else 5
            conn.sendall(self._head(200, req, [("Transfer-Encoding", "chunked")], None, keep))
            if req.method != "HEAD":
                for i in range(n):
                    piece = b"chunk-%d\n" % i
                    conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                conn.sendall(b"0\r\n\r\n")
            return keep
        if path.startswith("/big/"):
            n = int(path.split("/")[2])
            conn.sendall(self._head(200, req, [], n, keep))
            if req.method != "HEAD":
                for piece in pattern_chunks(n):
                    conn.sendall(piece)
            return keep
        if path.startswith("/upload"):
            body = json.dumps({"len": req.body_len, "sha256": req.body_sha256,
                               "chunked": req.chunked}).encode()
            return self._send(conn, 200, req, body, [("Content-Type", "application/json")],
                              keep)
        if path == "/reset":
            return False
        if path == "/rst":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if path == "/half":
            conn.sendall(RAW_RESPONSES["half"][0])
            time.sleep(0.05)
            return False
        if path.startswith("/raw/"):
            data, raw_keep = RAW_RESPONSES[path[5:]]
            conn.sendall(data)
            if not raw_keep:
                time.sleep(0.05)
            return raw_keep and keep
        if path.startswith("/ws"):
            return self._websocket(conn, rd, req)
        if path == "/close":
            return self._send(conn, 200, req, name_body, keep=False)
        if path == "/drop-after":
            # Answer as keep-alive, then close the idle connection shortly after, the way a
            # server's own keep-alive timeout does.
            self._send(conn, 200, req, name_body, keep=True)
            time.sleep(0.05)
            return False
        if path.startswith("/echo"):
            body = json.dumps(req.to_dict()).encode()
            return self._send(conn, 200, req, body, [("Content-Type", "application/json")],
                              keep)
        return self._send(conn, self.default_status, req, name_body, keep=keep)

    def _websocket(self, conn, rd, req):
        if (req.header("upgrade") or "").lower() != "websocket":
            return self._send(conn, 426, req, b"upgrade required\n", keep=False)
        key = req.header("sec-websocket-key") or ""
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\nx-upstream: {self.name}\r\n\r\n")
                     .encode())
        if rd.buf:
            conn.sendall(bytes(rd.buf))
            rd.buf.clear()
        while True:
            data = conn.recv(65536)
            if not data:
                return False
            conn.sendall(data)


# ------------------------------------------------------------------------ config


def _indent(text, n):
    return textwrap.indent(textwrap.dedent(text).strip("\n"), " " * n)


def service_entry(name, hosts, endpoints, resolution="STATIC", port=80):
    """endpoints: list of (address, port, labels dict)."""
    lines = ["apiVersion: networking.istio.io/v1", "kind: ServiceEntry",
             f"metadata:\n  name: {name}", "spec:",
             f"  hosts: [{', '.join(hosts)}]",
             f"  ports:\n  - {{number: {port}, name: http, protocol: HTTP}}",
             f"  resolution: {resolution}", "  endpoints:"]
    for addr, eport, labels in endpoints:
        lines.append(f"  - address: {addr}")
        lines.append(f"    ports: {{http: {eport}}}")
        if labels:
            lab = ", ".join(f"{k}: {v}" for k, v in labels.items())
            lines.append(f"    labels: {{{lab}}}")
    return "\n".join(lines) + "\n"


def destination_rule(name, host, subsets, traffic_policy=None):
    """subsets: list of (subset name, labels dict)."""
    lines = ["apiVersion: networking.istio.io/v1", "kind: DestinationRule",
             f"metadata:\n  name: {name}", "spec:", f"  host: {host}"]
    if traffic_policy:
        lines.append("  trafficPolicy:")
        lines.append(_indent(traffic_policy, 4))
    lines.append("  subsets:")
    for sname, labels in subsets:
        lab = ", ".join(f"{k}: {v}" for k, v in labels.items())
        lines.append(f"  - name: {sname}\n    labels: {{{lab}}}")
    return "\n".join(lines) + "\n"


def virtual_service(name, hosts, http, annotations=None, gateways=None):
    """http: YAML text of the spec.http list (items starting with '- '), any indent."""
    lines = ["apiVersion: networking.istio.io/v1", "kind: VirtualService",
             f"metadata:\n  name: {name}"]
    if annotations:
        lines.append("  annotations:")
        for k, v in annotations.items():
            lines.append(f"    {k}: {json.dumps(v)}")
    lines += ["spec:", f"  hosts: [{', '.join(json.dumps(h) for h in hosts)}]"]
    if gateways:
        lines.append(f"  gateways: [{', '.join(gateways)}]")
    lines.append("  http:")
    lines.append(_indent(http, 2))
    return "\n".join(lines) + "\n"


def mesh_config(subsets, *virtual_services, host=DEFAULT_HOST, traffic_policy=None):
    """ServiceEntry + DestinationRule for `host` and the VirtualServices given.

    subsets: {subset name: Upstream | port number | list of them | []}. Every endpoint is
    127.0.0.1 with labels {version: <subset name>}; a subset with [] has no endpoint.
    """
    endpoints = []
    for sname, ups in subsets.items():
        if not isinstance(ups, (list, tuple)):
            ups = [ups]
        for u in ups:
            port = u.port if isinstance(u, Upstream) else int(u)
            endpoints.append(("127.0.0.1", port, {"version": sname}))
    docs = [service_entry(host, [host], endpoints),
            destination_rule(host, host, [(s, {"version": s}) for s in subsets],
                             traffic_policy)]
    docs += list(virtual_services)
    return "---\n".join(docs)


def route_to(subset, host=DEFAULT_HOST):
    """YAML flow text of a route list sending everything to one subset."""
    return f"[{{destination: {{host: {host}, subset: {subset}}}}}]"


def closing(*objs):
    """Context manager closing several Upstreams/HttpConns at exit, in reverse order."""
    import contextlib

    stack = contextlib.ExitStack()
    for o in objs:
        stack.enter_context(o)
    return stack


class Upstreams(dict):
    """{name: Upstream(name)} for several names; a context manager closing them all."""

    def __init__(self, *names, **kw):
        super().__init__((n, Upstream(n, **kw)) for n in names)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        for u in self.values():
            u.close()
        return False

    def total(self):
        return sum(u.count() for u in self.values())


def describe(resp):
    return (f"{resp.status} from x-upstream={resp.header('x-upstream')!r} "
            f"body={resp.body[:120]!r}")


def expect_upstream(resp, name, what):
    """resp must be a 200 answered by Upstream `name`."""
    if (resp.status != 200 or resp.header("x-upstream") != name
            or resp.body != (name + "\n").encode()):
        fail(f"{what}: expected 200 from upstream {name!r}, got {describe(resp)}")


def expect_status(resp, status, what):
    if resp.status != status:
        fail(f"{what}: expected status {status}, got {describe(resp)}")


def header_values(values):
    """All comma-separated elements of a header's lines, stripped."""
    out = []
    for v in values:
        out += [t.strip() for t in v.split(",") if t.strip()]
    return out


def run_cases(proxy, cases, keepalive=True):
    """Sends each case and checks where it went; reports every mismatch at the end.

    cases: list of (description, request kwargs for HttpConn.request, expected), where
    expected is an upstream name (a 200 from that Upstream) or an int status. One
    keep-alive connection is used (a new one if canaryd closed it) unless keepalive=False.
    """
    failures = []
    conn = None
    for what, kw, expected in cases:
        kw = dict(kw)
        shown = (f"{kw.get('method', 'GET')} {kw.get('path', '/')} "
                 f"host={kw.get('host', DEFAULT_HOST)!r}")
        if kw.get("headers"):
            shown += f" headers={list(kw['headers'])!r}"
        try:
            if conn is None:
                conn = proxy.conn()
            resp = conn.request(**kw)
            if not keepalive or resp.has_token("connection", "close"):
                conn.close()
                conn = None
        except (ConnectionClosed, TestFailure, OSError) as e:
            failures.append(f"{what} [{shown}]: no response: {e}")
            if conn:
                conn.close()
            conn = None
            continue
        if isinstance(expected, int):
            ok = resp.status == expected
            want = f"status {expected}"
        else:
            ok = (resp.status == 200 and resp.header("x-upstream") == expected
                  and resp.body == (expected + "\n").encode())
            want = f"200 from {expected!r}"
        print(f"  {'ok  ' if ok else 'FAIL'} {what}: {shown} -> {resp.status} "
              f"{resp.header('x-upstream') or ''}", flush=True)
        if not ok:
            failures.append(f"{what} [{shown}]: expected {want}, got {describe(resp)}")
    if conn:
        conn.close()
    if failures:
        fail(f"{len(failures)} of {len(cases)} cases wrong:\n  " + "\n  ".join(failures))


def send_expect_rejection(proxy, raw, status, what, close_timeout=2.0):
    """Sends raw bytes on a new connection; expects one response with `status`, then the
    connection closed with nothing more sent. Returns '' when so, else what went wrong."""
    with proxy.conn() as c:
        try:
            c.send(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # canaryd may answer and close before it read everything
        try:
            r = c.read_response()
        except ConnectionClosed as e:
            return f"{what}: no response, {e} (expected {status})"
        except TestFailure as e:
            return f"{what}: {e} (expected {status})"
        if r.status != status:
            return f"{what}: expected {status}, got {describe(r)}"
        closed, extra = c.wait_closed(close_timeout * slow_factor())
        if extra:
            return f"{what}: {status} then unexpected bytes {extra[:120]!r}"
        if not closed:
            return f"{what}: {status} but the connection was not closed"
        return ""


def check_rejections(proxy, cases):
    """cases: list of (what, raw bytes, status); prints each; fails listing all misses."""
    failures = []
    for what, raw, st in cases:
        err = send_expect_rejection(proxy, raw, st, what)
        print(f"  {'ok  ' if not err else 'FAIL'} {what} -> {st}"
              + (f": {err}" if err else ""), flush=True)
        if err:
            failures.append(err)
    if failures:
        fail(f"{len(failures)} of {len(cases)} inputs not rejected as expected:\n  "
             + "\n  ".join(failures))


def _serve_child(name, mode):
    """The child of Upstream(process=True): prints its port, serves until the parent
    closes its stdin or kills it."""
    up = Upstream(name, mode=mode or None)
    print(up.port, flush=True)
    try:
        sys.stdin.read()
    finally:
        up.close()


if __name__ == "__main__" and len(sys.argv) >= 3 and sys.argv[1] == "--serve":
    _serve_child(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "")
