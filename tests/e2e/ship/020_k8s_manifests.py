#!/usr/bin/env python3
"""conf/k8s/ hangs together: every name one manifest uses refers to something another
manifest defines, the Deployment is set up the way canaryd needs (config directory,
--watch, probes on the admin port, drain shorter than the grace period, non-root,
read-only root fs), and the ConfigMap's routing files pass `canaryd -t`.

Reads the YAML with tests/e2e/ship/miniyaml.py (standard library only).
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import miniyaml  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
K8S = os.path.join(ROOT, "conf", "k8s")
PROBES = {"readinessProbe": "/internal/platform/readiness",
          "livenessProbe": "/internal/platform/liveness"}

problems = []


def check(cond, msg):
    if cond:
        print("ok:", msg)
    else:
        print("FAIL:", msg)
        problems.append(msg)
    return cond


def get(obj, *path, default=None):
    for p in path:
        if isinstance(obj, dict) and p in obj:
            obj = obj[p]
        elif isinstance(obj, list) and isinstance(p, int) and p < len(obj):
            obj = obj[p]
        else:
            return default
    return obj


def selects(selector, labels):
    """A matchLabels-style selector (dict) selects labels (dict)."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def load():
    objs = {}
    files = sorted(glob.glob(os.path.join(K8S, "*.yaml")))
    if not files:
        print("FAIL: no manifests in", K8S)
        sys.exit(1)
    for path in files:
        try:
            docs = miniyaml.load_file(path)
        except miniyaml.YamlError as e:
            print(f"FAIL: {os.path.relpath(path, ROOT)}: {e}")
            sys.exit(1)
        for d in docs:
            kind, name = d.get("kind"), get(d, "metadata", "name")
            check(kind and name and d.get("apiVersion"),
                  f"{os.path.basename(path)}: {kind}/{name} has apiVersion, kind and name")
            check((kind, name) not in objs, f"{kind}/{name} is defined once")
            d["_file"] = os.path.basename(path)
            objs[(kind, name)] = d
    return objs


def of_kind(objs, kind):
    return [o for (k, _), o in sorted(objs.items()) if k == kind]


def container_ports(dep):
    ports = {}
    for c in get(dep, "spec", "template", "spec", "containers", default=[]):
        for p in c.get("ports", []):
            ports[p.get("name")] = p.get("containerPort")
    return ports


def resolve_target(dep, target):
    """A Service targetPort / probe port (name or number) -> the container port or None."""
    ports = container_ports(dep)
    if isinstance(target, str):
        return ports.get(target)
    return target if target in ports.values() else None


def flag_value(args, *names):
    for i, a in enumerate(args):
        for n in names:
            if a == n and i + 1 < len(args):
                return args[i + 1]
            if a.startswith(n + "="):
                return a[len(n) + 1:]
    return None


def check_identity(c, pod_labels):
    """CANARYD_NAMESPACE and CANARYD_LABELS come from the pod itself (downward API)."""
    env = {e["name"]: e for e in c.get("env", [])}
    ns = get(env, "CANARYD_NAMESPACE", "valueFrom", "fieldRef", "fieldPath")
    check(ns == "metadata.namespace", f"CANARYD_NAMESPACE from metadata.namespace (got {ns})")
    value = get(env, "CANARYD_LABELS", "value", default="")
    pairs = [p.split("=", 1) for p in value.split(",") if p]
    check(pairs and all(len(p) == 2 for p in pairs), f"CANARYD_LABELS is K=V,... ({value!r})")
    for key, ref in (p for p in pairs if len(p) == 2):
        var = ref[2:-1] if ref.startswith("$(") and ref.endswith(")") else None
        path = get(env, var, "valueFrom", "fieldRef", "fieldPath") if var else None
        check(path == f"metadata.labels['{key}']" and key in pod_labels,
              f"CANARYD_LABELS {key} is the pod's own label (via {var}: {path})")


def check_canaryd_deployment(objs):
    dep = objs.get(("Deployment", "canaryd"))
    if not check(dep is not None, "deployment.yaml defines Deployment canaryd"):
        return None
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    labels = get(spec, "template", "metadata", "labels", default={})
    check(selects(get(spec, "selector", "matchLabels"), labels),
          "the Deployment's selector matches its pod labels")
    check(spec.get("replicas") == 2, "2 replicas")
    cs = [c for c in pod["containers"] if c.get("name") == "canaryd"]
    if not check(len(cs) == 1, "one container named canaryd"):
        return dep
    c = cs[0]
    args = [str(a) for a in c.get("args", [])]
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    check_identity(c, labels)
    conf = flag_value(args, "-c", "--config")
    check(conf == "/etc/canaryd", f"args -c /etc/canaryd (got {args})")
    check("--watch" in args or env.get("CANARYD_WATCH") == "1",
          "--watch, so ConfigMap updates are reloaded")
    ports = container_ports(dep)
    check(ports.get("http") == 8080 and ports.get("admin") == 9901,
          f"container ports http 8080 and admin 9901 (got {ports})")
    listen = flag_value(args, "-l", "--listen") or env.get("CANARYD_LISTEN") or "0.0.0.0:8080"
    admin = flag_value(args, "-a", "--admin") or env.get("CANARYD_ADMIN") or "0.0.0.0:9901"
    check(listen.rsplit(":", 1)[1] == str(ports.get("http")),
          f"canaryd listens ({listen}) on the http container port")
    check(admin.rsplit(":", 1)[1] == str(ports.get("admin")) and
          not admin.startswith("127."), f"the admin listener ({admin}) is the admin port,"
          " reachable by the kubelet")

    for probe, path in PROBES.items():
        hg = get(c, probe, "httpGet", default={})
        check(hg.get("path") == path, f"{probe} GET {path} (got {hg.get('path')})")
        check(resolve_target(dep, hg.get("port")) == 9901,
              f"{probe} port {hg.get('port')!r} is the admin container port")

    mounts = c.get("volumeMounts", [])
    m = [v for v in mounts if v.get("mountPath") == conf]
    if check(len(m) == 1, f"a volume is mounted at the -c path {conf}"):
        m = m[0]
        check("subPath" not in m and "subPathExpr" not in m,
              "the config volume is mounted as a directory (no subPath: updates would"
              " never reach the pod)")
        vols = {v["name"]: v for v in pod.get("volumes", [])}
        vol = vols.get(m["name"])
        cm = get(vol, "configMap", "name")
        check(cm is not None, f"volume {m['name']} is a configMap volume")
        check(("ConfigMap", cm) in objs, f"ConfigMap {cm} used by the volume is defined")
        check(not get(vol, "configMap", "items"),
              "the volume takes every key of the ConfigMap (no items list)")

    grace = pod.get("terminationGracePeriodSeconds", 30)
    drain = flag_value(args, "--drain-timeout") or env.get("CANARYD_DRAIN_TIMEOUT") or "25"
    delay = flag_value(args, "--shutdown-delay") or env.get("CANARYD_SHUTDOWN_DELAY") or "0"
    pre = get(c, "lifecycle", "preStop", default={})
    pre_sleep = 0
    cmd = get(pre, "exec", "command", default=[])
    if len(cmd) == 2 and cmd[0] == "sleep":
        pre_sleep = float(cmd[1])
    elif get(pre, "sleep", "seconds") is not None:
        pre_sleep = float(pre["sleep"]["seconds"])
    check(pre_sleep == 5, f"preStop sleeps 5 s (got {pre})")
    total = pre_sleep + float(drain) + float(delay)
    check(grace > total, f"terminationGracePeriodSeconds {grace} > preStop {pre_sleep:g}"
          f" + shutdown delay {delay} + drain timeout {drain} = {total:g}")

    res = c.get("resources", {})
    check(get(res, "requests", "cpu") and get(res, "requests", "memory") and
          get(res, "limits", "memory"), "resources: cpu/memory requests and a memory limit")
    psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
    check(psc.get("runAsNonRoot") is True or csc.get("runAsNonRoot") is True,
          "runAsNonRoot")
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    check(uid not in (0, None), f"a non-zero runAsUser (got {uid})")
    check(csc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem")
    check(csc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation: false")
    return dep


def check_services(objs):
    """Every Service selects a Deployment's pods and its targetPorts exist there."""
    deps = of_kind(objs, "Deployment")
    svc_dep = {}
    for svc in of_kind(objs, "Service"):
        name = svc["metadata"]["name"]
        sel = get(svc, "spec", "selector", default={})
        matched = [d for d in deps
                   if selects(sel, get(d, "spec", "template", "metadata", "labels", default={}))]
        if not check(len(matched) == 1, f"Service {name} selects the pods of exactly one"
                     f" Deployment (got {[d['metadata']['name'] for d in matched]})"):
            continue
        dep = matched[0]
        svc_dep[name] = dep
        for p in get(svc, "spec", "ports", default=[]):
            tp = p.get("targetPort", p.get("port"))
            check(resolve_target(dep, tp) is not None,
                  f"Service {name} port {p.get('name')}: targetPort {tp!r} is a container"
                  f" port of Deployment {dep['metadata']['name']}")
    return svc_dep


def check_monitoring(objs, dep):
    sms = of_kind(objs, "ServiceMonitor")
    if not check(len(sms) >= 1, "servicemonitor.yaml defines a ServiceMonitor"):
        return
    for sm in sms:
        check(sm["apiVersion"] == "monitoring.coreos.com/v1", "ServiceMonitor apiVersion"
              " monitoring.coreos.com/v1")
        sel = get(sm, "spec", "selector", "matchLabels", default={})
        svcs = [s for s in of_kind(objs, "Service")
                if selects(sel, get(s, "metadata", "labels", default={}))]
        if not check(len(svcs) >= 1, f"ServiceMonitor {sm['metadata']['name']} selects a"
                     f" Service (matchLabels {sel})"):
            continue
        names = {p.get("name") for s in svcs for p in get(s, "spec", "ports", default=[])}
        for ep in get(sm, "spec", "endpoints", default=[]):
            check(ep.get("port") in names, f"ServiceMonitor endpoint port {ep.get('port')!r}"
                  f" is a port name of the selected Service (has {sorted(names)})")
            check(ep.get("path", "/metrics") == "/metrics", "ServiceMonitor path /metrics")
        for s in svcs:
            for p in get(s, "spec", "ports", default=[]):
                if p.get("name") in [e.get("port") for e in sm["spec"]["endpoints"]]:
                    check(resolve_target(dep, p.get("targetPort")) == 9901,
                          f"the scraped port {p.get('name')} reaches canaryd's admin port")


def check_pdb_hpa(objs, dep):
    pod_labels = get(dep, "spec", "template", "metadata", "labels", default={})
    pdbs = of_kind(objs, "PodDisruptionBudget")
    if check(len(pdbs) == 1, "pdb.yaml defines a PodDisruptionBudget"):
        pdb = pdbs[0]
        check(pdb["apiVersion"] == "policy/v1", "PDB apiVersion policy/v1")
        check(selects(get(pdb, "spec", "selector", "matchLabels"), pod_labels),
              "the PDB selects canaryd's pods")
        check(get(pdb, "spec", "minAvailable") == 1, "PDB minAvailable 1")
    hpas = of_kind(objs, "HorizontalPodAutoscaler")
    if check(len(hpas) == 1, "hpa.yaml defines a HorizontalPodAutoscaler"):
        hpa = hpas[0]
        check(hpa["apiVersion"] == "autoscaling/v2", "HPA apiVersion autoscaling/v2")
        ref = get(hpa, "spec", "scaleTargetRef", default={})
        check(ref.get("kind") == "Deployment" and ("Deployment", ref.get("name")) in objs
              and ref.get("name") == "canaryd", f"the HPA scales Deployment canaryd ({ref})")
        lo = get(hpa, "spec", "minReplicas", default=1)
        check(lo >= 2 and lo <= get(hpa, "spec", "maxReplicas", default=0),
              "HPA minReplicas >= 2 (the PDB's minAvailable 1 leaves room to evict one)")
        cpu = [m for m in get(hpa, "spec", "metrics", default=[])
               if get(m, "resource", "name") == "cpu"]
        check(len(cpu) == 1, "the HPA scales on CPU")
        c = get(dep, "spec", "template", "spec", "containers", 0, default={})
        check(get(c, "resources", "requests", "cpu") is not None,
              "canaryd has a CPU request (CPU utilization is relative to it)")


def routing_docs(objs):
    """The ConfigMap mounted by canaryd: {file name: text} and its parsed objects."""
    cms = of_kind(objs, "ConfigMap")
    if not check(len(cms) == 1, "configmap.yaml defines one ConfigMap"):
        return {}, []
    data = cms[0].get("data", {})
    check(2 <= len(data) <= 3, f"the ConfigMap has two or three keys (got {list(data)})")
    docs = []
    for key, text in data.items():
        check(key.endswith((".yaml", ".yml")) and not key.startswith("."),
              f"ConfigMap key {key} is a *.yaml name canaryd loads")
        try:
            docs += miniyaml.load_all(text)
        except miniyaml.YamlError as e:
            check(False, f"ConfigMap key {key} is YAML: {e}")
    return data, docs


def check_routing(objs, docs, svc_dep):
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d.get("kind"), []).append(d)
    ses = [s for s in by_kind.get("ServiceEntry", []) if s["metadata"]["name"] == "mobile-api"]
    if not check(len(ses) == 1, "the ConfigMap has ServiceEntry mobile-api"):
        return
    se = ses[0]["spec"]
    check(se.get("resolution") == "DNS", "ServiceEntry resolution DNS")
    se_ports = {p["name"]: p["number"] for p in se.get("ports", [])}
    versions = {}
    for ep in se.get("endpoints", []):
        host = ep.get("address")
        version = get(ep, "labels", "version")
        versions[version] = host
        port = next(iter(get(ep, "ports", default={}).values()), None) or \
            next(iter(se_ports.values()), None)
        svc = objs.get(("Service", host))
        if not check(svc is not None, f"endpoint {host} is a Service in example-app.yaml"):
            continue
        sports = get(svc, "spec", "ports", default=[])
        sp = [p for p in sports if p.get("port") == port]
        check(len(sp) == 1, f"Service {host} has port {port}, the endpoint's port")
        dep = svc_dep.get(host)
        if dep is None:
            continue
        if sp:
            check(resolve_target(dep, sp[0].get("targetPort", port)) == port,
                  f"Service {host} port {port} reaches container port {port}")
        pod_labels = get(dep, "spec", "template", "metadata", "labels", default={})
        check(pod_labels.get("version") == version, f"the pods behind {host} are labelled"
              f" version {version} like the endpoint")
        args = " ".join(get(dep, "spec", "template", "spec", "containers", 0, "args",
                            default=[]))
        check(f"-text={version}" in args, f"the example app behind {host} answers {version}")
    check(set(versions) == {"v1", "v2"}, f"endpoints for v1 and v2 (got {versions})")
    check(versions.get("v1") == "mobile-api-v1" and versions.get("v2") == "mobile-api-v2",
          "endpoints mobile-api-v1 / mobile-api-v2")

    drs = [d for d in by_kind.get("DestinationRule", []) if d["spec"].get("host") == "mobile-api"]
    subsets = {}
    if check(len(drs) == 1, "a DestinationRule for host mobile-api"):
        subsets = {s["name"]: s.get("labels", {}) for s in drs[0]["spec"].get("subsets", [])}
        check(subsets == {"v1": {"version": "v1"}, "v2": {"version": "v2"}},
              f"subsets v1/v2 select version v1/v2 (got {subsets})")
    vss = by_kind.get("VirtualService", [])
    if not check(len(vss) >= 1, "the ConfigMap has a VirtualService"):
        return
    routes = [r for vs in vss for r in vs["spec"].get("http", [])]
    cookie = [r for r in routes if any(get(m, "headers", "cookie", "regex")
                                        for m in r.get("match", []))]
    if check(len(cookie) == 1, "one route matches the Cookie header with a regex"):
        rx = [get(m, "headers", "cookie", "regex") for m in cookie[0]["match"]][0]
        check("\\s*" in rx, f"the cookie regex allows the space after ';' ({rx})")
        dests = cookie[0].get("route", [])
        check([get(d, "destination", "subset") for d in dests] == ["v2"],
              "the cookie route sends to subset v2")
        check(routes.index(cookie[0]) < len(routes) - 1, "the cookie route comes before the split")
    split = [r for r in routes if len(r.get("route", [])) == 2 and not r.get("match")]
    if check(len(split) == 1, "one route splits between two destinations"):
        w = {get(d, "destination", "subset"): d.get("weight") for d in split[0]["route"]}
        check(w == {"v1": 95, "v2": 5}, f"the split is v1 95 / v2 5 (got {w})")
    for r in routes:
        for d in r.get("route", []):
            check(get(d, "destination", "host") == "mobile-api" and
                  get(d, "destination", "subset") in subsets,
                  f"route {r.get('name')}: destination {get(d, 'destination')} exists")
    hosts = [h for vs in vss for h in vs["spec"].get("hosts", [])]
    check(("Service", "mobile-api") in objs and "mobile-api" in hosts,
          "the VirtualService host mobile-api is the name of canaryd's Service")


def canaryd_t(data):
    binary = os.environ.get("CANARYD") or os.path.join(ROOT, "build", "canaryd")
    if not os.access(binary, os.X_OK):
        print(f"note: skipping `canaryd -t` of the ConfigMap: no binary at {binary}")
        return
    tmp = tempfile.mkdtemp(prefix="canaryd-k8s-")
    try:
        # The same layout as a ConfigMap volume: files are symlinks into ..data/.
        real = os.path.join(tmp, "..2026_01_01_00_00_00.000000000")
        os.mkdir(real)
        for key, text in data.items():
            with open(os.path.join(real, key), "w") as f:
                f.write(text)
        os.symlink(os.path.basename(real), os.path.join(tmp, "..data"))
        for key in data:
            os.symlink(os.path.join("..data", key), os.path.join(tmp, key))
        try:
            r = subprocess.run([binary, "-t", "-c", tmp], capture_output=True, text=True,
                               timeout=20)
        except subprocess.TimeoutExpired:
            check(False, "canaryd -t -c DIR finished within 20 s")
            return
        out = (r.stdout + r.stderr).strip()
        if r.returncode == 2 or r.returncode < 0:
            # 2 = bad usage: this build does not know -t yet (or crashed): not a
            # verdict on the manifests.
            print(f"note: skipping `canaryd -t`: it is not functional in this build"
                  f" (exit {r.returncode}): {out[-300:]}")
            return
        print(out[-2000:])
        check(r.returncode == 0, f"canaryd -t -c <ConfigMap as a mounted directory> exits 0"
              f" (got {r.returncode})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    objs = load()
    dep = check_canaryd_deployment(objs)
    svc_dep = check_services(objs)
    if dep is not None:
        check(svc_dep.get("mobile-api") is dep, "Service mobile-api fronts canaryd")
        check_monitoring(objs, dep)
        check_pdb_hpa(objs, dep)
    for name in ("mobile-api-v1", "mobile-api-v2"):
        check(("Deployment", name) in objs and ("Service", name) in objs,
              f"example-app.yaml defines Deployment and Service {name}")
    data, docs = routing_docs(objs)
    check_routing(objs, docs, svc_dep)
    if data:
        canaryd_t(data)
    if problems:
        print(f"FAIL: {len(problems)} problem(s) in conf/k8s")
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
