#!/usr/bin/env bash
# The deploy files work together, checked without a cluster:
#  - Kubernetes: the config volume, built here as the kubelet would project
#    it (one ConfigMap per folder, reference/ kept), passes `check-config`
#    with the pod's environment -- the command of the init container; every
#    reference file is projected; the metrics endpoint listens on the port
#    the probes and the Prometheus annotation use, on every interface;
#  - the image: listens where EXPOSE and its HEALTHCHECK look;
#  - compose: creates every topic the config names, the changelog compacted,
#    before the service starts; publishes the metrics port;
#  - systemd: the unit runs the binary where the install rules put it.
set -euo pipefail
BIN=$1 SRC=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
/usr/bin/python3 - "$BIN" "$SRC" "$T" <<'PYEOF'
import os, re, shutil, subprocess, sys, yaml
bin_, src, tmp = sys.argv[1:]
fails = []
def check(ok, what):
    if not ok: fails.append(what)

# --- Kubernetes
docs = list(yaml.safe_load_all(open(f"{src}/deploy/k8s/customsflow.yaml")))
sts = next(d for d in docs if d["kind"] in ("StatefulSet", "Deployment"))
pod = sts["spec"]["template"]["spec"]
main = pod["containers"][0]
init = pod.get("initContainers", [])
check(any(c["args"][:1] == ["check-config"] for c in init), "no check-config init container")
env = {e["name"]: e.get("value") for e in main["env"]}
listen = env.get("CUSTOMSFLOW_METRICS_LISTEN") or ""
check(re.fullmatch(r"(0\.0\.0\.0)?:\d+", listen), f"k8s: metrics listen {listen!r} not on every interface")
lport = int(listen.rsplit(":", 1)[1]) if ":" in listen else -1
ports = {p["name"]: p["containerPort"] for p in main["ports"]}
for probe in ("livenessProbe", "readinessProbe"):
    p = main[probe]["httpGet"]["port"]
    check(ports.get(p, p) == lport, f"k8s: {probe} on {p}, metrics listen on {lport}")
ann = sts["spec"]["template"]["metadata"].get("annotations", {})
check(int(ann.get("prometheus.io/port", -1)) == lport, "k8s: prometheus.io/port")
# the projected config volume, as the kubelet builds it
folders = {"customsflow-config": [f"{src}/deploy/examples/customsflow.yaml",
                                  f"{src}/deploy/examples/rules.yaml"],
           "customsflow-reference": [f"{src}/deploy/examples/reference/{f}"
                                     for f in os.listdir(f"{src}/deploy/examples/reference")]}
vol = next(v for v in pod["volumes"] if v["name"] == "config")
mount = next(m["mountPath"] for m in main["volumeMounts"] if m["name"] == "config")
root = tmp + mount
os.makedirs(root)
for s in vol["projected"]["sources"]:
    cm = s["configMap"]
    files = {os.path.basename(f): f for f in folders[cm["name"]]}
    items = cm.get("items") or [{"key": k, "path": k} for k in files]
    check(set(i["key"] for i in items) == set(files),
          f"k8s: {cm['name']} projects {sorted(i['key'] for i in items)}, the folder has {sorted(files)}")
    for i in items:
        if i["key"] not in files: continue
        os.makedirs(os.path.dirname(f"{root}/{i['path']}"), exist_ok=True)
        shutil.copy(files[i["key"]], f"{root}/{i['path']}")
penv = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOMSFLOW_")}
penv.update({k: v for k, v in env.items() if v is not None})
for c in init:
    r = subprocess.run([bin_] + [a.replace(mount, root) for a in c["args"]], env=penv,
                       capture_output=True, text=True)
    check(r.returncode == 0, f"k8s: init container {c['args']} fails: {r.stderr.strip()[:300]}")

# --- the image
df = open(f"{src}/deploy/Dockerfile").read()
m = re.search(r"ENV CUSTOMSFLOW_METRICS_LISTEN=(\S+)", df)
check(m and re.fullmatch(r"(0\.0\.0\.0)?:9464", m.group(1)), "Dockerfile: metrics not on every interface")
check("EXPOSE 9464" in df and "/dev/tcp/127.0.0.1/9464" in df and "/healthz" in df,
      "Dockerfile: EXPOSE/HEALTHCHECK do not look where it listens")

# --- compose
dc = yaml.safe_load(open(f"{src}/deploy/docker-compose.yml"))["services"]
init_cmd = " ".join(dc["kafka-init"]["command"])
for t in ("customs.declarations", "customs.flags", "customs.stats", "customs.dlq", "customsflow.changelog"):
    check(f"--topic {t} " in init_cmd, f"compose: topic {t} not created")
check(re.search(r"--topic customsflow.changelog [^\n]*cleanup.policy=compact", init_cmd),
      "compose: changelog not compacted")
cf = dc["customsflow"]
check(cf["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully",
      "compose: customsflow does not wait for the topics")
check(cf["environment"].get("CUSTOMSFLOW_METRICS_LISTEN") == ":9464" and "9464:9464" in cf["ports"],
      "compose: metrics not reachable through the port mapping")

# --- systemd
unit = open(f"{src}/deploy/systemd/customsflow.service").read()
check(re.search(r"^ExecStart=/usr/bin/customsflow run ", unit, re.M), "unit: ExecStart is not /usr/bin/customsflow")

for f in fails: print("FAIL:", f, file=sys.stderr)
sys.exit(1 if fails else 0)
PYEOF
echo "deploy: ok"
