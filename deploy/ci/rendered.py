#!/usr/bin/env python3
"""Checks on `helm template` output, for deploy/ci-checks.sh.

  rendered.py extract MANIFEST WORKDIR
      Writes WORKDIR/mcmux.conf: the ConfigMap's mcmux.conf with every file path (ca-file,
      cert-file, key-file, unix-socket) moved under WORKDIR/root, so that `mcmux validate` can
      check real files there; WORKDIR/files.tsv: "kind<TAB>path" of the PEM files to create
      (kind: ca, cert, key, encrypted-key) and directories to make (dir); WORKDIR/env: variables
      the container gets from Secrets (MCMUX_TLS_KEY_PASSWORD), with made-up values.

  rendered.py scrape SCRAPE_FILE
      Every metric that the dashboard and the alerts may use is in a /metrics scrape.

  rendered.py check MANIFEST WORKDIR VALIDATE_OUTPUT EXPECT
      Cross-checks the manifest against the effective settings that `mcmux validate` printed
      (VALIDATE_OUTPUT). EXPECT: native, classic, daemonset, or none (no pods rendered).
      Writes WORKDIR/rules.yaml (the PrometheusRule's groups) when there is one.

Needs PyYAML (Debian: python3-yaml). Exit 0 when all is well, 1 with one line per problem.
"""
import json
import re
import sys

import yaml

CONF_KEY = "mcmux.conf"
CONF_DIR = "/etc/mcmux"
WORKLOADS = {"Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job", "Pod"}
# The metric names mcmux exports; dashboards and alerts may use nothing else.
METRICS = {
    "mcmux_client_connections",
    "mcmux_client_connections_opened_total",
    "mcmux_client_connections_closed_total",
    "mcmux_requests_total",
    "mcmux_request_duration_seconds",
    "mcmux_upstream_connections",
    "mcmux_tls_handshakes_total",
    "mcmux_tls_handshake_duration_seconds",
    "mcmux_bytes_total",
    "mcmux_pending_requests",
    "mcmux_node_up",
    "mcmux_certificate_expiry_seconds",
    "mcmux_reloads_total",
}
HISTOGRAMS = {"mcmux_request_duration_seconds", "mcmux_tls_handshake_duration_seconds"}
PATH_KEYS = ("ca-file", "cert-file", "key-file", "unix-socket")

problems = []


def problem(msg):
    problems.append(msg)


def load(manifest):
    with open(manifest) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def config_maps(docs):
    return [d for d in docs if d.get("kind") == "ConfigMap" and CONF_KEY in (d.get("data") or {})]


def pod_specs(docs):
    """(workload name, pod template metadata, pod spec) for every workload."""
    out = []
    for d in docs:
        if d.get("kind") not in WORKLOADS:
            continue
        if d["kind"] == "Pod":
            out.append((d["metadata"]["name"], d.get("metadata", {}), d["spec"]))
        else:
            t = d["spec"]["template"]
            out.append((d["metadata"]["name"], t.get("metadata", {}), t["spec"]))
    return out


def mcmux_containers(spec, cm_name):
    """Containers that mount the mcmux ConfigMap at /etc/mcmux, with 'init' or 'main'."""
    cm_volumes = {
        v["name"] for v in spec.get("volumes") or [] if (v.get("configMap") or {}).get("name") == cm_name
    }
    found = []
    for where, key in (("init", "initContainers"), ("main", "containers")):
        for c in spec.get(key) or []:
            for m in c.get("volumeMounts") or []:
                if m["name"] in cm_volumes and m["mountPath"] == CONF_DIR:
                    found.append((where, c))
    return found


def conf_paths(conf):
    """{key: path} for the file settings written as absolute paths in mcmux.conf."""
    paths = {}
    for line in conf.splitlines():
        m = re.match(r'\s*(%s)\s*=\s*"(/[^"]*)"' % "|".join(PATH_KEYS), line)
        if m:
            paths[m.group(1)] = m.group(2)
    return paths


def extract(manifest, workdir):
    docs = load(manifest)
    cms = config_maps(docs)
    if len(cms) != 1:
        sys.exit("rendered.py: expected one ConfigMap with %s, found %d" % (CONF_KEY, len(cms)))
    conf = cms[0]["data"][CONF_KEY]
    root = workdir + "/root"
    paths = conf_paths(conf)
    for path in paths.values():
        conf = conf.replace('"%s"' % path, '"%s%s"' % (root, path))
    with open(workdir + "/mcmux.conf", "w") as f:
        f.write(conf)
    env = {}
    for _, _, spec in pod_specs(docs):
        for _, c in mcmux_containers(spec, cms[0]["metadata"]["name"]):
            for e in c.get("env") or []:
                if e["name"] == "MCMUX_TLS_KEY_PASSWORD" and "valueFrom" in e:
                    env[e["name"]] = "ci-key-password"
    with open(workdir + "/env", "w") as f:
        for k, v in env.items():
            f.write("%s=%s\n" % (k, v))
    with open(workdir + "/files.tsv", "w") as f:
        kinds = {"ca-file": "ca", "cert-file": "cert", "key-file": "key"}
        for key, path in paths.items():
            if key == "unix-socket":
                f.write("dir\t%s%s\n" % (root, path.rsplit("/", 1)[0]))
            else:
                kind = kinds[key]
                if kind == "key" and env:
                    kind = "encrypted-key"
                f.write("%s\t%s%s\n" % (kind, root, path))


def effective(validate_output):
    """The 'mcmux.x.y = value' lines that `mcmux validate` prints, values unquoted."""
    settings = {}
    with open(validate_output) as f:
        for line in f:
            m = re.match(r"(mcmux\.[a-z0-9.-]+) = (.*?)(\s+#.*)?$", line.rstrip("\n"))
            if m:
                v = m.group(2)
                if v.startswith('"') and v.endswith('"'):
                    v = json.loads(v)
                settings[m.group(1)] = v
    return settings


def host_port(address):
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def mib(size):
    m = re.fullmatch(r"(\d+)\s*(MiB|m|M)", size)
    return int(m.group(1)) if m else None


def probe_port(probe, container):
    port = probe["httpGet"]["port"]
    if isinstance(port, str):
        for p in container.get("ports") or []:
            if p.get("name") == port:
                return p["containerPort"]
        return None
    return port


def check_container(wl, where, c, spec, meta, cm, s, expect, secret_files):
    name = "%s/%s" % (wl, c["name"])
    _, listen_port = host_port(s["mcmux.listen"])
    admin_host, admin_port = host_port(s["mcmux.admin.listen"])
    if admin_host in ("127.0.0.1", "localhost", "::1"):
        problem("%s: admin listens on %s: the kubelet probes the pod IP" % (name, admin_host))
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
    if ports.get("mcmux") != listen_port:
        problem("%s: container port 'mcmux' is %s, mcmux.listen port is %d" % (name, ports.get("mcmux"), listen_port))
    if ports.get("mcmux-admin") != admin_port:
        problem("%s: container port 'mcmux-admin' is %s, admin port is %d" % (name, ports.get("mcmux-admin"), admin_port))
    want_paths = {"startupProbe": ("/readyz", "/healthz"), "readinessProbe": ("/readyz",), "livenessProbe": ("/healthz",)}
    for probe, paths in want_paths.items():
        p = c.get(probe)
        if not p:
            problem("%s: no %s" % (name, probe))
            continue
        if probe_port(p, c) != admin_port:
            problem("%s: %s port %s is not the admin port %d" % (name, probe, p["httpGet"]["port"], admin_port))
        if p["httpGet"]["path"] not in paths:
            problem("%s: %s path %s, expected one of %s" % (name, probe, p["httpGet"]["path"], paths))
    if expect == "native":
        if where != "init" or c.get("restartPolicy") != "Always":
            problem("%s: expected a native sidecar (initContainers, restartPolicy: Always)" % name)
        if c["startupProbe"]["httpGet"]["path"] != "/readyz":
            problem("%s: a native sidecar's startup probe should gate the app on /readyz" % name)
    elif expect in ("classic", "daemonset"):
        if where != "main" or "restartPolicy" in c:
            problem("%s: expected a regular container" % name)
    sc = c.get("securityContext") or {}
    for key, want in (("runAsNonRoot", True), ("readOnlyRootFilesystem", True), ("allowPrivilegeEscalation", False)):
        if sc.get(key) is not want:
            problem("%s: securityContext.%s is not %s" % (name, key, want))
    if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
        problem("%s: capabilities do not drop ALL" % name)
    if (sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problem("%s: seccompProfile is not RuntimeDefault" % name)
    args = c.get("args") or []
    if "--config" not in args or args[args.index("--config") + 1] != CONF_DIR + "/" + CONF_KEY:
        problem("%s: args do not pass --config %s/%s" % (name, CONF_DIR, CONF_KEY))
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts") or []}
    for m in mounts.values():
        if m["name"] not in volumes:
            problem("%s: mounts volume %s that the pod does not have" % (name, m["name"]))
    tmp = mounts.get("/tmp")
    if not tmp or "emptyDir" not in volumes.get(tmp["name"], {}):
        problem("%s: /tmp is not an emptyDir (read-only root filesystem)" % name)
    # Every file path in the config must be a file that a Secret volume mount provides.
    for key, path in secret_files.items():
        d, _, f = path.rpartition("/")
        m = mounts.get(d)
        vol = volumes.get(m["name"]) if m else None
        if not vol or "secret" not in vol:
            problem("%s: %s %s is not inside a Secret volume mount" % (name, key, path))
            continue
        items = [i["path"] for i in vol["secret"].get("items") or []]
        if items and f not in items:
            problem("%s: %s %s: the Secret volume projects only %s" % (name, key, path, items))
    if "mcmux.unix-socket" in s and s["mcmux.unix-socket"]:
        sock_dir = s["mcmux.unix-socket"].rpartition("/")[0]
        if not any(sock_dir.endswith(mp) for mp in mounts):
            problem("%s: the Unix socket's directory is not a volume mount" % name)
    env = {e["name"]: e.get("value") for e in c.get("env") or []}
    jto = env.get("JAVA_TOOL_OPTIONS") or ""
    m = re.search(r"-XX:MaxDirectMemorySize=(\d+)m", jto)
    budget = mib(s["mcmux.limits.global-buffer-budget"])
    if not m or budget is None or budget >= int(m.group(1)):
        problem("%s: global-buffer-budget %s is not below -XX:MaxDirectMemorySize (%s)" % (name, s["mcmux.limits.global-buffer-budget"], jto))
    if "TieredStopAtLevel" in jto:
        problem("%s: JAVA_TOOL_OPTIONS caps the JIT (TieredStopAtLevel)" % name)
    if "-Dio.netty.native.workdir=/tmp/" not in jto:
        problem("%s: io.netty.native.workdir is not under the /tmp emptyDir" % name)
    ann = meta.get("annotations") or {}
    if "checksum/mcmux-config" not in ann:
        problem("%s: pod has no checksum/mcmux-config annotation" % wl)
    if "prometheus.io/port" in ann and str(ann["prometheus.io/port"]) != str(admin_port):
        problem("%s: prometheus.io/port %s is not the admin port" % (wl, ann["prometheus.io/port"]))
    return set(ports)


def metric_names(expr):
    return set(re.findall(r"\b(mcmux_[a-z_]+)", expr))


def check_metrics(where, names):
    for n in sorted(names):
        base = re.sub(r"_(bucket|count|sum)$", "", n)
        if n not in METRICS and not (base in HISTOGRAMS and base != n):
            problem("%s uses unknown metric %s" % (where, n))


def check(manifest, workdir, validate_output, expect):
    docs = load(manifest)
    cm = config_maps(docs)[0]
    s = effective(validate_output)
    for key in ("mcmux.listen", "mcmux.admin.listen", "mcmux.unsafe-listen", "mcmux.limits.global-buffer-budget"):
        if key not in s:
            problem("validate printed no %s" % key)
    if problems:
        return
    listen_host, listen_port = host_port(s["mcmux.listen"])
    original = conf_paths(cm["data"][CONF_KEY])
    secret_files = {k: v for k, v in original.items() if k != "unix-socket"}
    if "unix-socket" in original:
        # The chart states the socket's mode; validate must read back the same one.
        m = re.search(r'^\s*unix-socket-mode\s*=\s*"([0-7]{3,4})"', cm["data"][CONF_KEY], re.M)
        got = s.get("mcmux.unix-socket-mode", "")
        if not m:
            problem("mcmux.conf sets unix-socket but no unix-socket-mode")
        elif not re.fullmatch(r"[0-7]{3,4}", got) or int(got, 8) != int(m.group(1), 8):
            problem("validate reports mcmux.unix-socket-mode = %s, rendered %s" % (got, m.group(1)))
        else:
            print("checked: unix-socket-mode %s rendered and read back by validate" % m.group(1))
    # validate saw the paths moved under WORKDIR/root: they must be exactly those.
    for key, path in secret_files.items():
        if s.get("mcmux.tls." + key) != workdir + "/root" + path:
            problem("validate reports mcmux.tls.%s = %s, expected %s" % (key, s.get("mcmux.tls." + key), path))
    if expect == "daemonset":
        if listen_host != "0.0.0.0" or s["mcmux.unsafe-listen"] != "true":
            problem("daemonset: mcmux must listen on 0.0.0.0 with unsafe-listen = true")
    elif listen_host != "127.0.0.1" or s["mcmux.unsafe-listen"] != "false":
        problem("sidecar: mcmux must listen on 127.0.0.1 with unsafe-listen = false")

    port_names = set()
    containers = 0
    for wl, meta, spec in pod_specs(docs):
        for where, c in mcmux_containers(spec, cm["metadata"]["name"]):
            containers += 1
            port_names |= check_container(wl, where, c, spec, meta, cm, s, expect, secret_files)
    if expect != "none" and containers == 0:
        problem("no container mounts the mcmux ConfigMap at %s" % CONF_DIR)

    for d in docs:
        kind = d.get("kind")
        if kind == "Service":
            spec = d["spec"]
            if expect == "daemonset" and spec.get("internalTrafficPolicy") != "Local":
                problem("Service %s: internalTrafficPolicy is not Local" % d["metadata"]["name"])
            for p in spec.get("ports") or []:
                if p.get("targetPort") not in ("mcmux", listen_port):
                    problem("Service %s: targetPort %s is not mcmux's listener" % (d["metadata"]["name"], p.get("targetPort")))
        elif kind == "PodMonitor":
            for ep in d["spec"]["podMetricsEndpoints"]:
                wanted = port_names or {"mcmux-admin"}
                if ep.get("port") not in wanted:
                    problem("PodMonitor: port %s is not one of the container's ports %s" % (ep.get("port"), sorted(wanted)))
        elif kind == "PrometheusRule":
            exprs = [r["expr"] for g in d["spec"]["groups"] for r in g["rules"]]
            check_metrics("PrometheusRule", set().union(*map(metric_names, exprs)))
            with open(workdir + "/rules.yaml", "w") as f:
                yaml.safe_dump({"groups": d["spec"]["groups"]}, f, sort_keys=False)
        elif kind == "ConfigMap" and any(k.endswith(".json") for k in d.get("data") or {}):
            for k, v in d["data"].items():
                dash = json.loads(v)
                exprs = []

                def walk(panels):
                    for p in panels:
                        exprs.extend(t.get("expr", "") for t in p.get("targets") or [])
                        walk(p.get("panels") or [])

                walk(dash.get("panels") or [])
                if not exprs:
                    problem("dashboard %s has no queries" % k)
                check_metrics("dashboard " + k, set().union(*map(metric_names, exprs)))
                for e in exprs:
                    if "_bucket" in e and "histogram_quantile" not in e:
                        problem("dashboard %s: bucket series outside histogram_quantile: %s" % (k, e))
    print("checked: %d mcmux container(s), listen %s, admin %s" % (containers, s["mcmux.listen"], s["mcmux.admin.listen"]))


def scrape(path):
    with open(path, errors="replace") as f:
        present = {m.group(1) for m in re.finditer(r"^([a-z_]+)[{ ]", f.read(), re.M)}
    for name in sorted(METRICS):
        wanted = name + "_bucket" if name in HISTOGRAMS else name
        if wanted not in present:
            problem("/metrics has no %s" % wanted)
    print("checked: /metrics exports all %d metric families the dashboard and alerts use" % len(METRICS))


def main(argv):
    if len(argv) == 2 and argv[0] == "scrape":
        scrape(argv[1])
    elif len(argv) == 3 and argv[0] == "extract":
        extract(argv[1], argv[2])
    elif len(argv) == 5 and argv[0] == "check":
        check(argv[1], argv[2], argv[3], argv[4])
    else:
        sys.exit(__doc__)
    for p in problems:
        print("problem: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
