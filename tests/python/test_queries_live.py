"""Every PromQL expression in rules/ and dashboards/ against a live stack.

Two real storage nodes, the release `node-agent` scraping them (and its host collectors, and
smartctl replaying real captured outputs from agent/tests/data/smartctl), and a real Prometheus
scraping the agent (job `nodewatch-agent`) and the nodes (job `storage-node`) with every rule file
loaded. After some S3 traffic, each query must parse and run (`/api/v1/query` answers success),
and each query that is meant to have data must return data:

  - a dashboard query, with its template variables filled with the values Prometheus really has
    (all of them, as Grafana's multi-value "All" would), must return at least one series;
  - a dashboard variable's `label_values()` must find values;
  - in a rule, each metric selector must match series, and a recording rule must produce series.

What cannot have data in this stack yet is listed in NO_DATA_YET, with the reason.
"""

from __future__ import annotations

import json
import os
import threading
import re
import stat
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
import yaml

from harness import promql
from harness.procs import Server, free_ports, release_binary, wait_until
from harness.alertmanager import Alertmanager
from harness.logs import TestLoki
from harness.prometheus import Prometheus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from replication_cluster import make_cluster

REPO = promql.REPO_ROOT
SMART_DATA = REPO / "agent" / "tests" / "data" / "smartctl"
# Real captures (from /work/shared/fixtures, MIT/Apache) replayed by the fake smartctl:
# an ATA disk with reallocated sectors, an NVMe drive with a critical warning, a SCSI disk with
# grown defects.
SMART_DEVICES = {
    "/dev/sda": ("sat", "ata-hdd-seagate-st3500418as-realloc304.json"),
    "/dev/nvme0": ("nvme", "nvme-samsung-mzwll3t2hajq-FAILED-critical-warning.json"),
    "/dev/sdc": ("scsi", "scsi-seagate-st373453lc-grown-defects-260.json"),
}

# -------------------------------------------------------------------------------------------
# NO_DATA_YET: metric families (prefixes) and recorded series that cannot have data in this
# stack yet, each with its reason. A query that uses one of them is still run (it must parse
# and evaluate) but may return nothing. The lead shrinks this list as branches merge.
# -------------------------------------------------------------------------------------------
NO_DATA_YET = {
    "DCGM_FI_DEV_": "no GPU on this machine (the NVML source reports nodewatch_gpu_devices 0)",
    "nodewatch_gpu_pod_": "no GPU on this machine",
    "nodewatch_gpu_present": "no GPU on this machine",
    "nodewatch_gpu_mig_": "no GPU on this machine",
    "ceph_": "no Ceph daemon here (the ceph source is off by default)",
    "nodewatch_agent_ceph_": "no Ceph daemon here",
    "nodewatch_ceph_": "no Ceph daemon here (tests/python/test_ceph_cluster.py has real ones)",
}
# Variables that have no values in this stack.
NO_VALUES_VARIABLES = {"cluster": "the local stack sets no `cluster` label (Kubernetes deployments do)"}
# Variables whose values come from a family in NO_DATA_YET become ".*" (match anything).
RATE_INTERVAL = "1m"


def no_data_yet(name: str) -> bool:
    return any(name.startswith(p) for p in NO_DATA_YET)


# -- the stack ---------------------------------------------------------------------------------


FAKE_SMARTCTL = """#!{python}
# Replays real smartctl captures: `smartctl -j -x [-n standby] [-d TYPE] -- DEVICE`.
import json, sys
captures = {captures!r}
device = sys.argv[-1]
if device not in captures:
    print(json.dumps({{"smartctl": {{"exit_status": 2, "messages": [{{"string": "no such device", "severity": "error"}}]}}}}))
    sys.exit(2)
text = open(captures[device]).read()
sys.stdout.write(text)
sys.exit(json.loads(text)["smartctl"].get("exit_status", 0))
"""


def write_fake_smartctl(root: Path) -> Path:
    path = root / "smartctl"
    captures = {dev: str(SMART_DATA / f) for dev, (_, f) in SMART_DEVICES.items()}
    path.write_text(FAKE_SMARTCTL.format(python=sys.executable, captures=captures))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def agent_config(root: Path, port: int, nodes, smartctl: Path, pipeline_port: int, loki_url: str,
                 remote_write_url: str, alertmanager_url: str, garbage_log: Path) -> Path:
    devices = "".join(f'\n[[sources.smartctl.devices]]\nname = "{d}"\ndevice_type = "{t}"\n'
                      for d, (t, _) in SMART_DEVICES.items())
    urls = ", ".join(f'"{n.admin_url}"' for n in nodes)
    cfg = root / "agent.toml"
    cfg.write_text(f"""
data_dir = "{root / 'agent-data'}"
[api]
listen = "127.0.0.1:{port}"
[sources.host]
interval_secs = 1
timeout_ms = 1000
[sources.storage_node]
urls = [{urls}]
interval_secs = 1
timeout_ms = 1000
[sources.smartctl]
enabled = true
smartctl_path = "{smartctl}"
interval_secs = 1
timeout_ms = 1000
device_timeout_ms = 1000
[pipeline]
listen = "127.0.0.1:{pipeline_port}"
[sources.files]
include = [{", ".join(f'"{p}"' for p in [n.log_path for n in nodes] + [garbage_log])}]
[sinks.prometheus_remote_write]
url = "{remote_write_url}"
[sinks.alertmanager]
urls = ["{alertmanager_url}"]
[transforms.log_patterns]
enabled = true
[[sinks.loki.endpoints]]
url = "{loki_url}"
{devices}""")
    return cfg


def rule_copies(root: Path) -> list[str]:
    """The rule files, with group intervals removed so every group runs at the test's 1s."""
    out = []
    (root / "rules").mkdir()
    for f in promql.rule_files():
        doc = yaml.safe_load(f.read_text())
        for g in doc["groups"]:
            g.pop("interval", None)
        dst = root / "rules" / f"{f.parent.name}-{f.name}"
        dst.write_text(yaml.safe_dump(doc, sort_keys=False))
        out.append(str(dst))
    return out


class RemoteWriteSink:
    """A remote_write receiver that accepts everything (204), so that the agent's remote_write
    telemetry has data without feeding the Prometheus under test twice."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/write"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# What a data pipeline pushes (the conventional names in ARCHITECTURE.md), Pushgateway-style.
PIPELINE_PUSH = """# TYPE pipeline_runs_total counter
pipeline_runs_total{{status="success"}} {ok}
pipeline_runs_total{{status="failure"}} 1
# TYPE pipeline_records_processed_total counter
pipeline_records_processed_total {records}
# TYPE pipeline_last_success_timestamp_seconds gauge
pipeline_last_success_timestamp_seconds {now}
# TYPE pipeline_run_duration_seconds gauge
pipeline_run_duration_seconds 42.5
"""

# One OTLP/JSON gauge, so the OTLP receiver's own counters move too.
OTLP_PUSH = {"resourceMetrics": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "live-etl"}},
                                {"key": "service.instance.id", "value": {"stringValue": "live-1"}}]},
    "scopeMetrics": [{"metrics": [{"name": "queue_depth", "gauge": {"dataPoints": [{"asInt": "7"}]}}]}],
}]}


def push_pipelines(pipeline_url: str, round_: int) -> None:
    body = PIPELINE_PUSH.format(ok=10 + round_, records=1000 * (round_ + 1), now=time.time())
    r = requests.put(f"{pipeline_url}/metrics/job/live-etl", data=body, timeout=10)
    assert r.status_code in (200, 202), r.text
    point = OTLP_PUSH["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["gauge"]["dataPoints"][0]
    point["timeUnixNano"] = str(time.time_ns())
    r = requests.post(f"{pipeline_url}/v1/metrics", json=OTLP_PUSH, timeout=10)
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("live")
    # Two peered nodes, so that replication and recovery series exist.
    nodes = make_cluster(root / "nodes", n=2, extra={i: ["--scrub-interval-secs", "1"] for i in (0, 1)})
    for n in nodes:
        n.start()
    # Loki refuses lines over 64 KiB, as a Loki with a small max_line_size would: the agent's
    # rejected-lines counter has data. The garbage file gives the malformed-lines counter data.
    loki = TestLoki(root / "loki", "--max-line-bytes", str(64 * 1024))
    garbage_log = root / "garbage.log"
    garbage_log.write_bytes(b"a fine line\n\xff\xfe not UTF-8\n" + b"x" * (100 * 1024) + b"\nlast\n")
    am = Alertmanager(root / "alertmanager").start()
    rw_sink = RemoteWriteSink()
    agent_port, pipeline_port = free_ports(2)
    pipeline_url = f"http://127.0.0.1:{pipeline_port}"
    cfg = agent_config(root, agent_port, nodes, write_fake_smartctl(root), pipeline_port, loki.push_url,
                       rw_sink.url, am.url, garbage_log)
    agent_bin = release_binary("node-agent", "NODE_AGENT_BIN")
    assert agent_bin.is_file(), f"{agent_bin} missing: cargo build --release -p agent"
    agent = Server(
        name="node-agent", cmd=[str(agent_bin), "run", "--config", str(cfg)], log_path=root / "agent.log",
        ready_url=f"http://127.0.0.1:{agent_port}/healthz",
        env={**os.environ, "RUST_BACKTRACE": "1"},
    ).start()
    targets = ", ".join(f'"127.0.0.1:{n.admin_port}"' for n in nodes)
    config = f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: {json.dumps(rule_copies(root))}
scrape_configs:
  - job_name: nodewatch-agent
    honor_labels: true
    static_configs: [{{targets: ["127.0.0.1:{agent_port}"]}}]
  - job_name: storage-node
    static_configs: [{{targets: [{targets}]}}]
"""
    prom = Prometheus(root / "prometheus", config).start()
    try:
        prom.wait_targets_up(timeout_s=30)
        push_pipelines(pipeline_url, 0)
        drive_traffic(nodes)
        time.sleep(3)  # a few scrapes between the bursts, so that rates see an increase
        push_pipelines(pipeline_url, 1)
        drive_traffic(nodes)
        for expr in (
            "storage_node:op_latency_seconds:p99_rate5m",
            'slo:sli_error:ratio_rate5m{slo="storage-latency"}',
            "storage_node_request_errors_total",
            "smartctl_device_smart_status",
            "smartctl_scsi_grown_defect_list",
            "storage_node_scrub_last_completed_timestamp_seconds > 0",
            'rate(storage_node_op_latency_seconds_count{job="nodewatch-agent"}[1m]) > 0',
            "rate(pipeline_records_processed_total[1m]) > 0",
            "nodewatch_agent_log_lines_sent_total > 0",
            "nodewatch_agent_remote_write_samples_sent_total > 0",
            "storage_node_replication_shipped_entries_total > 0",
            "nodewatch_anomaly_score",
            "nodewatch_agent_log_lines_rejected_total > 0",
            "nodewatch_agent_log_malformed_total > 0",
            "nodewatch_agent_alerts_sent_total",
        ):
            wait_until(lambda: prom.query(expr), 45, interval_s=0.5, what=f"data for {expr}")
        yield prom
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- agent log ---\n{agent.log_tail()}\n--- prometheus log ---\n"
                             f"{prom.server.log_tail() if prom.server else ''}") from None
    finally:
        prom.stop()
        agent.stop()
        loki.stop()
        am.stop()
        rw_sink.close()
        for n in nodes:
            n.stop()


def drive_traffic(nodes) -> None:
    for n in nodes:
        s3 = n.client()
        bucket = f"live-{uuid.uuid4().hex[:12]}"
        s3.create_bucket(Bucket=bucket)
        for i in range(15):
            s3.put_object(Bucket=bucket, Key=f"k{i}", Body=os.urandom(2048 * (i + 1)))
        for i in range(15):
            assert len(s3.get_object(Bucket=bucket, Key=f"k{i}")["Body"].read()) == 2048 * (i + 1)
        s3.head_object(Bucket=bucket, Key="k0")
        s3.list_objects_v2(Bucket=bucket)
        for i in range(3):
            with pytest.raises(Exception):
                s3.get_object(Bucket=bucket, Key=f"missing-{i}")  # NoSuchKey: a counted S3 error
        s3.delete_object(Bucket=bucket, Key="k0")


# -- the checks ---------------------------------------------------------------------------------


def escape_value(v: str) -> str:
    """A label value as a regex inside a PromQL double-quoted string, as Grafana formats it."""
    return re.escape(v).replace("\\", "\\\\")


def label_values(prom: Prometheus, selector: str | None, label: str) -> list[str]:
    params = {"match[]": selector} if selector else {}
    r = requests.get(f"{prom.url}/api/v1/label/{label}/values", params=params, timeout=30)
    body = r.json()
    assert body["status"] == "success", f"label_values({selector}, {label}): {body}"
    return body["data"]


def resolve_variables(prom: Prometheus, d: dict) -> dict[str, str]:
    """Values for a dashboard's variables, in order: every value Prometheus has, as a regex
    alternation (Grafana's multi-value format), or `.*` (the boards' `All` value) when none."""
    values: dict[str, str] = {}
    for v in d["templating"]["list"]:
        if v["type"] == "datasource":
            values[v["name"]] = v["query"]
        elif v["type"] == "query" and promql.is_prometheus(v.get("datasource")):
            sel, label = promql.label_values_parts(v["query"]["query"])
            found = label_values(prom, promql.substitute(sel, values) if sel else None, label)
            values[v["name"]] = "(" + "|".join(escape_value(x) for x in found) + ")" if found else ".*"
        else:
            values[v["name"]] = ".*"
    return values


def run_query(prom: Prometheus, expr: str) -> tuple[bool, str, list]:
    r = requests.get(f"{prom.url}/api/v1/query", params={"query": expr}, timeout=30)
    body = r.json()
    if body.get("status") != "success":
        return False, f"{body.get('errorType')}: {body.get('error')}", []
    return True, "", body["data"]["result"]


def test_every_dashboard_query_runs_and_has_data(stack):
    prom = stack
    problems, checked, with_data = [], 0, 0
    for path, d in promql.dashboards():
        values = resolve_variables(prom, d)
        rel = path.relative_to(REPO)
        for v in d["templating"]["list"]:
            if v["type"] != "query" or not promql.is_prometheus(v.get("datasource")):
                continue
            sel, label = promql.label_values_parts(v["query"]["query"])
            names = [s.name for s in promql.selectors(sel)] if sel else []
            checked += 1
            if values[v["name"]] != ".*":
                with_data += 1
            elif v["name"] not in NO_VALUES_VARIABLES and not any(no_data_yet(n) for n in names):
                problems.append(f"{rel}: variable ${v['name']} has no values ({v['query']['query']})")
        for q in promql.dashboard_queries():
            if not q.where.startswith(str(rel)) or q.kind != "panel":
                continue
            expr = promql.substitute(q.expr, values, rate_interval=RATE_INTERVAL)
            ok, err, result = run_query(prom, expr)
            checked += 1
            if not ok:
                problems.append(f"{q.where}: does not run: {err}\n    {expr}")
            elif result:
                with_data += 1
            elif not any(no_data_yet(s.name) for s in promql.query_selectors(q)):
                problems.append(f"{q.where}: no data\n    {expr}")
    print(f"\n{checked} dashboard queries checked against the live stack, {with_data} returned data")
    assert checked >= 150
    assert not problems, "\n".join(problems)


def test_every_rule_expression_runs_and_its_metrics_have_data(stack):
    prom = stack
    problems, checked, selectors_checked = [], 0, 0
    # Recorded series computed from NO_DATA_YET inputs have no data either: (name, labels).
    pending_records: list[tuple[str, dict]] = []

    def pending(sel: promql.Selector) -> bool:
        # The detector's output about a family that has no data here (`metric="..."`).
        about = re.search(r'metric="([^"]+)"', str(sel.matchers))
        return no_data_yet(sel.name) or bool(about and no_data_yet(about.group(1))) or any(
            sel.name == name and all(f'{k}="{v}"' in sel.matchers for k, v in labels.items())
            for name, labels in pending_records)

    for f, rule in promql.rules():
        name = rule.get("alert") or rule.get("record")
        where = f"{f.relative_to(REPO)}: {name}"
        ok, err, _ = run_query(prom, rule["expr"])
        checked += 1
        if not ok:
            problems.append(f"{where}: does not run: {err}")
            continue
        sels = promql.selectors(rule["expr"])
        if "record" in rule and any(pending(s) for s in sels):
            pending_records.append((rule["record"], rule.get("labels") or {}))
            continue
        for s in sels:
            if pending(s):
                continue
            selectors_checked += 1
            ok, err, result = run_query(prom, f"count({s.promql()})")
            if not ok or not result:
                problems.append(f"{where}: selector {s.promql()} matches nothing {err}")
        if "record" in rule:
            labels = ", ".join(f'{k}="{v}"' for k, v in (rule.get("labels") or {}).items())
            ok, err, result = run_query(prom, f"count({rule['record']}{{{labels}}})")
            if not ok or not result:
                problems.append(f"{where}: recording rule produced no series {err}")
    print(f"\n{checked} rule expressions run against the live stack; {selectors_checked} selectors had data")
    assert checked >= 90
    assert not problems, "\n".join(problems)


def test_a_renamed_metric_would_be_caught(stack):
    """The check is not vacuous: a panel with a misspelt metric returns no data."""
    ok, _, result = run_query(stack, 'sum(rate(storage_node_op_latency_secs_count[1m]))')
    assert ok and not result
    ok, _, result = run_query(stack, 'sum(rate(storage_node_op_latency_seconds_count[1m]))')
    assert ok and result
    ok, err, _ = run_query(stack, 'sum(rate(storage_node_op_latency_seconds_count[1m])')
    assert not ok and "parse error" in err
