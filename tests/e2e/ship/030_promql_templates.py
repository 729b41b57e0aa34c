#!/usr/bin/env python3
"""The PromQL in conf/flagger-metric-template.yaml and conf/argo-analysis-template.yaml
computes what it claims on canaryd's real /metrics.

The queries are taken out of both files, their template variables filled in, and
evaluated by a small PromQL evaluator (below) over two scrapes of canaryd's /metrics
taken around a known set of requests: subset v1 gets 100 fast 200s; subset v2 gets
28 answers delayed 150 ms and 12 fast 500s. So the success rate must be exactly 1 for
v1 and 28/40 = 0.7 for v2, and v2's p99 must fall in the histogram bucket of the
delayed answers. The evaluator itself is first checked on a hand-written exposition
whose answers are worked out by hand.

The evaluator covers the constructs the templates use: number literals, + - * /,
parentheses, instant and range selectors with = != =~ !~ matchers, rate(), sum with
or without `by (...)`, histogram_quantile() with Prometheus' linear interpolation.
rate() over [W] is approximated by (second scrape - first scrape) / seconds between the
scrapes, which is what Prometheus' rate is over a window holding exactly those two
samples, less its extrapolation to the window's edges, which cancels out of every ratio
and quantile the templates compute.
"""
import math
import os
import re
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import miniyaml  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

# ------------------------------------------------------------------ exposition format

def parse_exposition(text):
    """Prometheus text format -> {frozenset of (label, value) incl. __name__: float}
    (canaryd_e2e.parse_metrics: fails the test on a line that breaks the format)."""
    import canaryd_e2e as e2e

    return e2e.parse_metrics(text).series()


# ------------------------------------------------------------------------- PromQL

def _unescape(v):
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)


class PromQLError(ValueError):
    pass


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<id>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>=~|!~|!=|[-+*/(){}\[\],=])
""", re.X)
_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")


def _tokens(q):
    pos, out = 0, []
    while pos < len(q):
        if q[pos] == "[":            # a range: read it raw up to ']'
            end = q.find("]", pos)
            if end < 0:
                raise PromQLError("unterminated range")
            out.append(("range", q[pos + 1:end].strip()))
            pos = end + 1
            continue
        m = _TOKEN.match(q, pos)
        if not m:
            raise PromQLError(f"unexpected {q[pos:pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup
        if kind != "ws":
            out.append((kind, m.group(kind)))
    out.append(("eof", None))
    return out


def _key_without(key, *names):
    return frozenset((k, v) for k, v in key if k not in names)


class Evaluator:
    """Evaluates a PromQL expression over two scrapes taken `elapsed` seconds apart.
    Instant vectors are {frozenset of (label, value): float}; scalars are floats."""

    def __init__(self, first, second, elapsed):
        self.first, self.second, self.elapsed = first, second, float(elapsed)

    def eval(self, query):
        self.toks = _tokens(query)
        self.i = 0
        v = self._expr()
        if self._peek()[0] != "eof":
            raise PromQLError(f"unexpected {self._peek()[1]!r}")
        return v

    # -- token helpers
    def _peek(self):
        return self.toks[self.i]

    def _next(self):
        t = self.toks[self.i]
        self.i += 1
        return t

    def _expect(self, value):
        t = self._next()
        if t[1] != value:
            raise PromQLError(f"expected {value!r}, got {t[1]!r}")
        return t

    # -- grammar
    def _expr(self):
        v = self._term()
        while self._peek() in (("op", "+"), ("op", "-")):
            op = self._next()[1]
            v = self._binop(op, v, self._term())
        return v

    def _term(self):
        v = self._unary()
        while self._peek() in (("op", "*"), ("op", "/")):
            op = self._next()[1]
            v = self._binop(op, v, self._unary())
        return v

    def _unary(self):
        if self._peek() == ("op", "-"):
            self._next()
            return self._binop("*", -1.0, self._unary())
        if self._peek() == ("op", "+"):
            self._next()
        return self._primary()

    def _primary(self):
        kind, val = self._next()
        if kind == "num":
            return float(val)
        if kind == "op" and val == "(":
            v = self._expr()
            self._expect(")")
            return v
        if kind != "id":
            raise PromQLError(f"unexpected {val!r}")
        if val == "sum":
            return self._sum()
        if val == "rate":
            self._expect("(")
            name, matchers, rng = self._selector(self._next())
            self._expect(")")
            if rng is None:
                raise PromQLError("rate() needs a range selector")
            return self._rate(name, matchers)
        if val == "histogram_quantile":
            self._expect("(")
            q = self._expr()
            self._expect(",")
            v = self._expr()
            self._expect(")")
            if not isinstance(q, float) or not isinstance(v, dict):
                raise PromQLError("histogram_quantile(scalar, vector)")
            return self._histogram_quantile(q, v)
        if val in ("by", "without", "and", "or", "unless", "offset", "bool", "on",
                   "ignoring", "group_left", "group_right"):
            raise PromQLError(f"{val!r} is not supported by this evaluator")
        if self._peek() == ("op", "("):
            raise PromQLError(f"function {val}() is not supported by this evaluator")
        name, matchers, rng = self._selector((kind, val))
        if rng is not None:
            raise PromQLError("a range vector outside rate()")
        return {k: v for k, v in self.second.items() if self._matches(k, name, matchers)}

    def _labels(self):
        self._expect("(")
        names = []
        while self._peek() != ("op", ")"):
            kind, val = self._next()
            if kind != "id":
                raise PromQLError(f"label name expected, got {val!r}")
            names.append(val)
            if self._peek() == ("op", ","):
                self._next()
        self._expect(")")
        return names

    def _sum(self):
        by = None
        if self._peek() == ("id", "by"):
            self._next()
            by = self._labels()
        elif self._peek() == ("id", "without"):
            raise PromQLError("sum without() is not supported by this evaluator")
        self._expect("(")
        v = self._expr()
        self._expect(")")
        if self._peek() == ("id", "by"):
            if by is not None:
                raise PromQLError("two by clauses")
            self._next()
            by = self._labels()
        if not isinstance(v, dict):
            raise PromQLError("sum() of a scalar")
        out = {}
        for k, x in v.items():
            g = frozenset((a, b) for a, b in k if by and a in by)
            out[g] = out.get(g, 0.0) + x
        return out

    def _selector(self, tok):
        kind, name = tok
        matchers = []
        if kind == "op" and name == "{":
            name = None
        elif kind != "id":
            raise PromQLError(f"metric name expected, got {name!r}")
        elif self._peek() == ("op", "{"):
            self._next()
        else:
            name, tok = name, None
        if tok is not None:
            while self._peek() != ("op", "}"):
                k, label = self._next()
                if k != "id":
                    raise PromQLError(f"label name expected, got {label!r}")
                op = self._next()[1]
                if op not in ("=", "!=", "=~", "!~"):
                    raise PromQLError(f"matcher operator expected, got {op!r}")
                k, s = self._next()
                if k != "str":
                    raise PromQLError(f"string expected after {label}{op}")
                value = _unescape(s[1:-1])
                if op in ("=~", "!~"):
                    try:
                        value = re.compile(value)
                    except re.error as e:
                        raise PromQLError(f"bad regex {value!r}: {e}")
                matchers.append((label, op, value))
                if self._peek() == ("op", ","):
                    self._next()
            self._expect("}")
        rng = None
        if self._peek()[0] == "range":
            rng = self._next()[1]
            if not _DURATION.match(rng):
                raise PromQLError(f"bad range duration [{rng}] (unfilled template variable?)")
        if name is None and not matchers:
            raise PromQLError("empty selector")
        return name, matchers, rng

    @staticmethod
    def _matches(key, name, matchers):
        labels = dict(key)
        if name is not None and labels.get("__name__") != name:
            return False
        for label, op, value in matchers:
            have = labels.get(label, "")
            if op == "=" and have != value:
                return False
            if op == "!=" and have == value:
                return False
            if op == "=~" and not value.fullmatch(have):
                return False
            if op == "!~" and value.fullmatch(have):
                return False
        return True

    def _rate(self, name, matchers):
        out = {}
        for k, v2 in self.second.items():
            if not self._matches(k, name, matchers):
                continue
            if k not in self.first:
                continue          # one sample in the window: Prometheus gives no rate
            v1 = self.first[k]
            inc = v2 - v1 if v2 >= v1 else v2      # a counter reset starts again at 0
            out[_key_without(k, "__name__")] = inc / self.elapsed
        return out

    @staticmethod
    def _div(a, b):
        if b == 0:
            return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a)
        return a / b

    def _binop(self, op, a, b):
        f = {"+": lambda x, y: x + y, "-": lambda x, y: x - y,
             "*": lambda x, y: x * y, "/": self._div}[op]
        if isinstance(a, float) and isinstance(b, float):
            return f(a, b)
        if isinstance(b, float):
            return {_key_without(k, "__name__"): f(x, b) for k, x in a.items()}
        if isinstance(a, float):
            return {_key_without(k, "__name__"): f(a, x) for k, x in b.items()}
        # vector op vector: one-to-one on all labels but the metric name
        rb = {}
        for k, x in b.items():
            kk = _key_without(k, "__name__")
            if kk in rb:
                raise PromQLError("many-to-one matching on the right-hand side")
            rb[kk] = x
        out = {}
        for k, x in a.items():
            kk = _key_without(k, "__name__")
            if kk in out:
                raise PromQLError("many-to-one matching on the left-hand side")
            if kk in rb:
                out[kk] = f(x, rb[kk])
        return out

    @staticmethod
    def _histogram_quantile(q, v):
        groups = {}
        for k, x in v.items():
            labels = dict(k)
            if "le" not in labels:
                continue
            groups.setdefault(_key_without(k, "le", "__name__"), []).append(
                (float(labels["le"]), x))
        return {g: bucket_quantile(q, b) for g, b in groups.items()}


def bucket_quantile(q, buckets):
    """Prometheus' quantile over classic histogram buckets [(upper bound, cumulative
    count)]: find the bucket holding rank q * total, interpolate linearly inside it
    (from 0 for the first bucket); a rank in the +Inf bucket gives the highest finite
    bound."""
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    merged = {}
    for le, c in buckets:
        merged[le] = merged.get(le, 0.0) + c
    b = sorted(merged.items())
    if len(b) < 2 or b[-1][0] != math.inf:
        return math.nan
    fixed, top = [], 0.0            # counts must not decrease (scrapes race)
    for le, c in b:
        top = max(top, c)
        fixed.append((le, top))
    b = fixed
    total = b[-1][1]
    if total == 0 or math.isnan(total):
        return math.nan
    rank = q * total
    i = next(n for n, (_, c) in enumerate(b) if c >= rank)
    if i == len(b) - 1:
        return b[-2][0]
    if i == 0 and b[0][0] <= 0:
        return b[0][0]
    start, end, count = 0.0, b[i][0], b[i][1]
    if i > 0:
        start = b[i - 1][0]
        count -= b[i - 1][1]
        rank -= b[i - 1][1]
    return start + (end - start) * (rank / count)


def scalar_of(v):
    """A query result as Flagger/Argo read it: the one sample's value."""
    if isinstance(v, float):
        return v
    if len(v) != 1:
        raise PromQLError(f"expected one series, got {len(v)}: {sorted(map(dict, v))}")
    return next(iter(v.values()))


# ------------------------------------------------------------------------ templates

def templates():
    """[(source, metric name, query with {{ }} variables, successCondition or None)]."""
    out = []
    for d in miniyaml.load_file(os.path.join(ROOT, "conf", "flagger-metric-template.yaml")):
        assert d["apiVersion"] == "flagger.app/v1beta1" and d["kind"] == "MetricTemplate", d
        assert d["spec"]["provider"]["type"] == "prometheus"
        out.append(("flagger", d["metadata"]["name"], d["spec"]["query"], None))
    argo_args = {}
    for d in miniyaml.load_file(os.path.join(ROOT, "conf", "argo-analysis-template.yaml")):
        assert d["apiVersion"] == "argoproj.io/v1alpha1" and d["kind"] == "AnalysisTemplate"
        for a in d["spec"].get("args", []):
            argo_args[a["name"]] = a.get("value")
        for m in d["spec"]["metrics"]:
            out.append(("argo", m["name"], m["provider"]["prometheus"]["query"],
                        m.get("successCondition")))
    return out, argo_args


def fill(source, query, destination, subset, argo_args):
    if source == "flagger":
        values = {"target": destination, "variables.subset": subset, "interval": "1m",
                  "namespace": "default", "name": destination, "service": destination}
        pat = re.compile(r"\{\{\s*([a-zA-Z_.]+)\s*\}\}")
    else:
        values = {f"args.{k}": v for k, v in argo_args.items() if v is not None}
        values.update({"args.destination": destination, "args.subset": subset})
        pat = re.compile(r"\{\{\s*(args\.[a-zA-Z0-9_-]+)\s*\}\}")

    def sub(m):
        if m.group(1) not in values:
            raise PromQLError(f"{source}: unknown template variable {m.group(0)}")
        return str(values[m.group(1)])
    q = pat.sub(sub, query)
    if "{{" in q:
        raise PromQLError(f"{source}: template variable left in {q!r}")
    return q


def condition_holds(cond, value):
    """Argo successCondition of the form `result[0] OP NUMBER`."""
    m = re.fullmatch(r"\s*result\[0\]\s*(>=|<=|>|<|==)\s*([0-9.eE+-]+)\s*", cond)
    if not m:
        raise PromQLError(f"successCondition {cond!r}: only 'result[0] OP NUMBER' is checked")
    x = float(m.group(2))
    return {">=": value >= x, "<=": value <= x, ">": value > x, "<": value < x,
            "==": value == x}[m.group(1)]


def kind_of(name):
    if "success" in name:
        return "success"
    if "p99" in name or "latency" in name or "duration" in name:
        return "p99"
    raise PromQLError(f"template {name}: cannot tell whether it is success rate or p99")


# --------------------------------------------------------------- hand-written sample

SAMPLE_1 = """
# TYPE canaryd_requests_total counter
canaryd_requests_total{virtual_service="vs",route="r",destination="app",subset="v1",code="200"} 100
canaryd_requests_total{virtual_service="vs",route="r",destination="app",subset="v2",code="200"} 10
canaryd_requests_total{virtual_service="vs",route="r",destination="app",subset="v2",code="503"} 2
canaryd_requests_total{virtual_service="vs",route="r",destination="other",subset="v2",code="500"} 7
# TYPE canaryd_request_duration_seconds histogram
canaryd_request_duration_seconds_bucket{virtual_service="vs",route="r",destination="app",subset="v2",le="0.1"} 5
canaryd_request_duration_seconds_bucket{virtual_service="vs",route="r",destination="app",subset="v2",le="0.5"} 10
canaryd_request_duration_seconds_bucket{virtual_service="vs",route="r",destination="app",subset="v2",le="1"} 12
canaryd_request_duration_seconds_bucket{virtual_service="vs",route="r",destination="app",subset="v2",le="+Inf"} 12
canaryd_request_duration_seconds_bucket{virtual_service="vs",route="r2",destination="app",subset="v2",le="0.1"} 0
canaryd_request_duration_seconds_bucket{virtual_service="vs",route="r2",destination="app",subset="v2",le="0.5"} 0
canaryd_request_duration_seconds_bucket{virtual_service="vs",route="r2",destination="app",subset="v2",le="1"} 0
canaryd_request_duration_seconds_bucket{virtual_service="vs",route="r2",destination="app",subset="v2",le="+Inf"} 0
"""
# 60 s later: v1 +300 (all 200); v2 +80 200s, +20 503s (success 0.8); the other
# destination's 500s must not count. v2 latency, over both routes of v2: +100 in
# total, 50 <= 0.1 s, 40 in (0.1, 0.5], 10 in (0.5, 1] -> rank 99 lies in (0.5, 1]:
# 0.5 + 0.5 * (99 - 90) / 10 = 0.95. For the median: rank 50 lies at the top of
# the first bucket -> 0.1.
SAMPLE_2 = """
canaryd_requests_total{virtual_service="vs",route="r",destination="app",subset="v1",code="200"} 400
canaryd_requests_total{virtual_service="vs",route="r",destination="app",subset="v2",code="200"} 90
canaryd_requests_total{virtual_service="vs",route="r",destination="app",subset="v2",code="503"} 22
canaryd_requests_total{virtual_service="vs",route="r",destination="other",subset="v2",code="500"} 70
canaryd_request_duration_seconds_bucket{virtual_service="vs",route="r",destination="app",subset="v2",le="0.1"} 45
canaryd_request_duration_seconds_bucket{virtual_service="vs",route="r",destination="app",subset="v2",le="0.5"} 80
canaryd_request_duration_seconds_bucket{virtual_service="vs",route="r",destination="app",subset="v2",le="1"} 90
canaryd_request_duration_seconds_bucket{virtual_service="vs",route="r",destination="app",subset="v2",le="+Inf"} 90
canaryd_request_duration_seconds_bucket{virtual_service="vs",route="r2",destination="app",subset="v2",le="0.1"} 10
canaryd_request_duration_seconds_bucket{virtual_service="vs",route="r2",destination="app",subset="v2",le="0.5"} 20
canaryd_request_duration_seconds_bucket{virtual_service="vs",route="r2",destination="app",subset="v2",le="1"} 22
canaryd_request_duration_seconds_bucket{virtual_service="vs",route="r2",destination="app",subset="v2",le="+Inf"} 22
"""


def close(a, b, eps=1e-9):
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= eps * max(1.0, abs(b))


def check_evaluator():
    """The evaluator on SAMPLE_1/SAMPLE_2, then the templates on the same sample."""
    ev = Evaluator(parse_exposition(SAMPLE_1), parse_exposition(SAMPLE_2), 60)
    sel = 'canaryd_requests_total{destination="app",subset="v2"%s}[1m]'
    cases = [
        ("1 + 2 * 3 - 4 / 2", 5.0),
        ("-(2 - 3) * 2", 2.0),
        ("sum(rate(%s))" % (sel % ""), 100 / 60),
        ("sum(rate(%s)) / sum(rate(%s))" % (sel % ',code!~"5.."', sel % ""), 0.8),
        ("1 - sum(rate(%s)) / sum(rate(%s))" % (sel % ',code=~"5.."', sel % ""), 0.8),
        ('sum(rate(canaryd_requests_total{code="200"}[5m]))', 380 / 60),
        ('sum(rate(canaryd_requests_total{destination!="app"}[5m]))', 63 / 60),
        ('sum(rate(canaryd_requests_total{subset=~"v.", code!="200"}[5m]))', 83 / 60),
        ('histogram_quantile(0.99, sum by (le) (rate(canaryd_request_duration_seconds_bucket'
         '{destination="app",subset="v2"}[1m])))', 0.95),
        ('histogram_quantile(0.5, sum(rate(canaryd_request_duration_seconds_bucket'
         '{destination="app",subset="v2"}[1m])) by (le))', 0.1),
        ('histogram_quantile(0.995, sum by (le) (rate(canaryd_request_duration_seconds_bucket'
         '{destination="app",subset="v2"}[1m])))', 0.975),
        ('histogram_quantile(1, sum by (le) (rate(canaryd_request_duration_seconds_bucket'
         '{destination="app",subset="v2"}[1m])))', 1.0),
        ('histogram_quantile(0.99, sum by (le) (rate(canaryd_request_duration_seconds_bucket'
         '{destination="nowhere"}[1m])))', None),
    ]
    for q, want in cases:
        got = ev.eval(q)
        if want is None:
            assert got == {}, f"{q}: expected no series, got {got}"
        else:
            got = scalar_of(got)
            assert close(got, want), f"{q}: expected {want}, got {got}"
    # Per route: r alone has 78 new, 40 <= 0.1 s, 30 in (0.1, 0.5], 8 in (0.5, 1]: its
    # median (rank 39) is in the first bucket; r2 has 22 new, 10 / 10 / 2: rank 11 is
    # in (0.1, 0.5]: 0.1 + 0.4 * (11 - 10) / 10.
    got = ev.eval('histogram_quantile(0.5, sum by (le, route) (rate('
                  'canaryd_request_duration_seconds_bucket{subset="v2"}[1m])))')
    by_route = {dict(k)["route"]: v for k, v in got.items()}
    assert close(by_route["r"], 0.1 * 39 / 40), by_route
    assert close(by_route["r2"], 0.1 + 0.4 * 1 / 10), by_route
    # Rank in the +Inf bucket -> the highest finite bound; no observations -> NaN.
    assert bucket_quantile(0.99, [(0.1, 1), (1, 1), (math.inf, 5)]) == 1.0
    assert math.isnan(bucket_quantile(0.5, [(0.1, 0), (math.inf, 0)]))
    for bad in ("sum(rate(x[{{ interval }}]))", "avg(x)", "x or y", "rate(x)"):
        try:
            ev.eval(bad)
        except PromQLError:
            continue
        raise AssertionError(f"{bad!r} should be refused")

    tpls, argo_args = templates()
    assert {s for s, *_ in tpls} == {"flagger", "argo"}, tpls
    for source, name, query, cond in tpls:
        kind = kind_of(name)
        got = scalar_of(ev.eval(fill(source, query, "app", "v2", argo_args)))
        want = 0.8 if kind == "success" else 0.95
        assert close(got, want), f"{source} {name} on the sample: expected {want}, got {got}"
        v1 = ev.eval(fill(source, query, "app", "v1", argo_args))
        if kind == "success":
            assert close(scalar_of(v1), 1.0), f"{source} {name} for v1: {v1}"
        if cond:
            # The sample's v2 fails both conditions (success 0.8, p99 0.95 s).
            assert not condition_holds(cond, got), f"{source} {name}: {cond} on {got}"
        print(f"ok: {source} {name}: {got:.4g} on the hand-written sample")
    print("ok: the PromQL evaluator agrees with the hand-worked answers")
    return tpls, argo_args


# ------------------------------------------------------------------ live canaryd

def check_live(tpls, argo_args):
    try:
        import canaryd_e2e as e2e
    except ImportError:
        print("skip: tests/e2e/lib/canaryd_e2e.py is not there")
        sys.exit(77)
    e2e.canaryd_bin()                       # raises Skip when there is no binary
    vs = e2e.virtual_service("mobile-api", ["*"], """
- name: to-v2
  match:
  - headers:
      x-subset: {exact: v2}
  route: [{destination: {host: mobile-api, subset: v2}}]
- name: default
  route: [{destination: {host: mobile-api, subset: v1}}]
""")
    slow_ms = 150
    with e2e.Upstreams("v1", "v2") as ups:
        cfg = e2e.mesh_config({"v1": ups["v1"], "v2": ups["v2"]}, vs)
        with e2e.Canaryd(cfg, workers=2, extra_args=["--access-log", "off"]) as cd:
            def scrape():
                status, body = cd.admin_get("/metrics")
                e2e.expect_eq(status, 200, "GET /metrics")
                return parse_exposition(body.decode())

            lat = {"v1": [], "v2": []}
            lock = threading.Lock()
            errors = []

            def send(n, path, subset):
                hdrs = [("x-subset", "v2")] if subset == "v2" else []
                try:
                    with cd.conn(timeout=10) as c:
                        for _ in range(n):
                            t0 = time.monotonic()
                            r = c.request("GET", path, headers=hdrs)
                            dt = time.monotonic() - t0
                            with lock:
                                lat[subset].append(dt)
                            want = 500 if "/status/500" in path else 200
                            if r.status != want:
                                errors.append(f"{path} ({subset}): {r.status}, expected {want}")
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(f"{path} ({subset}): {e!r}")

            def parallel(jobs):
                ts = [threading.Thread(target=send, args=j) for j in jobs]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join(60)

            # Every series the queries read exists before the first scrape, as in a
            # running system (a series born between two scrapes has no rate).
            e2e.step("warm-up: one request of each kind")
            parallel([(1, "/", "v1"), (1, f"/slow/{slow_ms}", "v2"), (1, "/status/500", "v2")])
            e2e.check(not errors, f"warm-up requests: {errors}")
            time.sleep(0.2)
            s1, t1 = scrape(), time.monotonic()
            lat = {"v1": [], "v2": []}

            e2e.step(f"100 requests to v1; to v2 28 delayed {slow_ms} ms and 12 answered 500")
            parallel([(25, "/", "v1")] * 4 + [(4, f"/slow/{slow_ms}", "v2")] * 7 +
                     [(6, "/status/500", "v2")] * 2)
            e2e.check(not errors, f"requests: {errors[:5]}")
            # The counters are updated when a response ends; give them a moment.
            want_total = 140 + 3
            for _ in range(50):
                s2 = scrape()
                total = sum(v for k, v in s2.items()
                            if dict(k)["__name__"] == "canaryd_requests_total")
                if total >= want_total:
                    break
                time.sleep(0.05)
            e2e.expect_eq(total, want_total, "canaryd_requests_total summed over series")
            t2 = time.monotonic()
            ev = Evaluator(s1, s2, t2 - t1)

            buckets = sorted({float(dict(k)["le"]) for k in s2 if
                              dict(k)["__name__"] == "canaryd_request_duration_seconds_bucket"})
            e2e.check(buckets and buckets[-1] == math.inf,
                      f"canaryd_request_duration_seconds has buckets up to +Inf: {buckets}")

            def bounds(lo_value, hi_value):
                """The bucket bounds around [lo_value, hi_value]."""
                lo = max([b for b in buckets if b < lo_value], default=0.0)
                hi = min([b for b in buckets if b >= hi_value], default=math.inf)
                return lo, hi

            for source, name, query, cond in tpls:
                kind = kind_of(name)
                for subset in ("v1", "v2"):
                    q = fill(source, query, "mobile-api", subset, argo_args)
                    got = scalar_of(ev.eval(q))
                    if kind == "success":
                        want = 1.0 if subset == "v1" else 28 / 40
                        e2e.check(close(got, want), f"{source} {name} {subset}: expected"
                                  f" {want}, got {got}\nquery: {q}")
                        e2e.step(f"{source} {name} {subset} = {got:.4f} (truth {want:.4f})")
                    else:
                        if subset == "v1":
                            lo, hi = 0.0, bounds(0, max(lat["v1"]))[1]
                        else:
                            # rank 39.6 of 40 is one of the delayed answers, which took
                            # at least slow_ms inside canaryd and at most what the
                            # client saw.
                            lo, hi = bounds(slow_ms / 1000.0, max(lat["v2"]))
                        e2e.check(lo <= got <= hi, f"{source} {name} {subset}: p99 {got}"
                                  f" outside the buckets of the true p99 [{lo}, {hi}]\n"
                                  f"query: {q}")
                        e2e.step(f"{source} {name} {subset} = {got * 1000:.1f} ms"
                                 f" (true p99 in bucket [{lo}, {hi}] s)")
                    if cond:
                        holds = condition_holds(cond, got)
                        if kind == "success":
                            e2e.expect_eq(holds, subset == "v1",
                                          f"{source} {name} {subset}: {cond} with {got}")
                        elif subset == "v2":
                            e2e.expect_eq(holds, got <= 0.5,
                                          f"{source} {name} {subset}: {cond} with {got}")


def main():
    try:
        tpls, argo_args = check_evaluator()
    except (AssertionError, PromQLError, KeyError, miniyaml.YamlError) as e:
        print(f"FAIL: {e}")
        sys.exit(1)
    try:
        import canaryd_e2e as e2e
    except ImportError:
        print("skip: the live half needs tests/e2e/lib/canaryd_e2e.py")
        sys.exit(77)
    e2e.run(lambda: check_live(tpls, argo_args))


if __name__ == "__main__":
    main()
