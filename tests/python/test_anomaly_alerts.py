"""Anomaly alerts end to end: a real storage node (with --fault-injection), the release
node-agent scraping it, and a real Alertmanager (Debian's) receiving the alerts.

Steady S3 traffic runs in a bounded background loop; a disk delay injected through
`POST /admin/fault` raises `StorageNodeLatencyAnomaly` in Alertmanager, and clearing it resolves
the alert. A second test keeps Alertmanager down while the alert fires and checks that it arrives
once Alertmanager is up.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest
import requests

from harness.alertmanager import Alertmanager
from harness.components import component_counters
from harness.procs import Server, free_ports, release_binary, wait_until

ALERT = "StorageNodeLatencyAnomaly"
NODE = "anomaly-test-node"
RUNBOOKS = "https://runbooks.example.test/docs/runbooks"
GRAFANA = "http://grafana.example.test:3000"
TRAFFIC_MAX_S = 150.0  # the traffic loop never outlives this


def agent_binary() -> Path:
    path = release_binary("node-agent", "NODE_AGENT_BIN")
    if not path.is_file():
        pytest.fail(f"node-agent not built at {path}: cargo build --release -p agent", pytrace=False)
    return path


class Traffic:
    """Small PUTs in a loop on a thread, until stopped or TRAFFIC_MAX_S passes."""

    def __init__(self, node):
        self.s3 = node.client()
        self.bucket = f"anom-{uuid.uuid4().hex[:12]}"
        self.s3.create_bucket(Bucket=self.bucket)
        self.stop_event = threading.Event()
        self.count = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        deadline = time.monotonic() + TRAFFIC_MAX_S
        i = 0
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            self.s3.put_object(Bucket=self.bucket, Key=f"k{i % 50}", Body=b"x" * 1024)
            i += 1
            self.count = i
            time.sleep(0.02)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join(timeout=70)


def set_fault(node, delay_ms: int) -> None:
    r = requests.post(f"{node.admin_url}/admin/fault", json={"disk_delay_ms": delay_ms}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json() == {"disk_delay_ms": delay_ms}


def start_agent(root: Path, node, am_url: str) -> tuple[Server, str]:
    (port,) = free_ports(1)
    cfg = root / "agent.toml"
    # The detector logs each scored sample (debug), so a failed run's agent.log holds the series
    # to replay through `node-agent detect --config agent.toml`.
    cfg.write_text(f"""
data_dir = "{root / 'state'}"
log_level = "info,agent::transforms::detect::engine=debug"
[api]
listen = "127.0.0.1:{port}"
[pipeline]
listen = "127.0.0.1:0"
[sources.host]
enabled = false
[sources.smartctl]
enabled = false
[sources.storage_node]
urls = ["{node.admin_url}"]
interval_secs = 1
timeout_ms = 900
[sinks.alertmanager]
urls = ["{am_url}"]
resend_interval_secs = 2
max_backoff_ms = 1000
runbook_base_url = "{RUNBOOKS}"
grafana_url = "{GRAFANA}"
[transforms.detect]
node = "{NODE}"
poll_ms = 200
[transforms.detect.policy]
startup_grace_secs = 0
# One of one, the shipped default: with a minute of history the scorer adapts to a 300-fold jump
# within seconds, and with 1.5 s PUTs some 1 s scrapes have no completed PUT at all, so a 2-of-3
# window is missed about one run in three.
min_samples = 1
of_samples = 1
resolve_samples = 3
[[transforms.detect.watch]]
metric = "storage_node_op_latency_seconds"
stat = "p99"
labels = {{ op = "put", outcome = "success" }}
alert = "{ALERT}"
severity = "warning"
component = "storage-node"
# The calibrated scorer with its windows shrunk to this test's 1 s scrape and one minute of
# history (the defaults are hours and days).
detector = {{ kind = "auto", direction = "up", scorer = {{ warmup_secs = 8, short_secs = 3, long_secs = 600, level_secs = 30 }} }}
""")
    url = f"http://127.0.0.1:{port}"
    server = Server(
        name="node-agent",
        cmd=[str(agent_binary()), "run", "--config", str(cfg)],
        log_path=root / "agent.log",
        ready_url=f"{url}/healthz",
    ).start()
    return server, url


def am_alerts(am: Alertmanager) -> list[dict]:
    return [a for a in am.alerts() if a["labels"].get("alertname") == ALERT]


def metric_value(text: str, name: str, **labels) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def scored_series(log_path: Path) -> str:
    """The samples the detector scored (its debug lines in the agent's JSON log), as
    `timestamp,value,score` lines: a missed alert's evidence, to replay through `node-agent detect`."""
    rows = []
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            f = json.loads(line).get("fields", {})
        except ValueError:
            continue
        if f.get("message") == "scored":
            rows.append(f"{f.get('ts')},{f.get('value')},{f.get('score')}")
    return "\n".join(rows[-120:])


def wait_fired(am: Alertmanager, agent: Server) -> list[dict]:
    """The alert in Alertmanager within 40 s of the fault; on a miss, the scored series is shown."""
    try:
        return wait_until(lambda: am_alerts(am), 40, interval_s=0.5, what=f"{ALERT} in Alertmanager")
    except AssertionError as e:
        raise AssertionError(f"{e}\nscored samples (ts,value,score):\n{scored_series(agent.log_path)}") from None


BASELINE_SAMPLES = 12  # scored samples of steady traffic before the fault: past the 8 s warm-up


def wait_warm(agent_url: str) -> None:
    """Until the watched series has been scored on `BASELINE_SAMPLES` samples past its first:
    counted (detect's received samples), not slept, so that missed scrapes on a loaded machine do
    not shorten the baseline the detector sees. Bounded: 30 s for the first, 30 s for the rest."""
    def scored() -> float | None:
        text = requests.get(f"{agent_url}/metrics", timeout=5).text
        v = metric_value(text, "nodewatch_anomaly_score", metric="storage_node_op_latency_seconds_p99", op="put")
        if v is None or metric_value(text, "nodewatch_agent_anomaly_series") != 1.0:
            return None
        return component_counters(text, "transform", "detect")["received"]
    first = wait_until(scored, 30, what="the latency series to be scored")
    wait_until(lambda: (scored() or 0) >= first + BASELINE_SAMPLES, 30,
               what=f"{BASELINE_SAMPLES} scored samples of baseline")


@pytest.fixture
def am(tmp_path):
    a = Alertmanager(tmp_path / "am").start()
    yield a
    a.stop()


def test_disk_delay_fires_latency_anomaly_in_alertmanager_and_resolves(node_factory, am, tmp_path):
    node = node_factory(extra_args=["--fault-injection"])
    agent, agent_url = start_agent(tmp_path, node, am.url)
    try:
        with Traffic(node) as traffic:
            wait_warm(agent_url)
            assert am_alerts(am) == [], "no alert on a steady node"
            set_fault(node, 1500)
            alerts = wait_fired(am, agent)
            a = alerts[0]
            labels = a["labels"]
            assert labels["severity"] == "warning"
            assert labels["node"] == NODE
            assert labels["op"] == "put"
            assert labels["node_id"] == node.node_id
            assert labels["metric"] == "storage_node_op_latency_seconds_p99"
            ann = a["annotations"]
            assert NODE in ann["summary"]
            assert "expected band" in ann["description"]
            assert ann["runbook_url"] == f"{RUNBOOKS}/{ALERT}.md"
            link = urllib.parse.urlparse(ann["grafana_url"])
            assert f"{link.scheme}://{link.netloc}" == GRAFANA and link.path == "/explore"
            panes = json.loads(urllib.parse.parse_qs(link.query)["panes"][0])
            expr = panes["a"]["queries"][0]["expr"]
            assert f'node="{NODE}"' in expr and 'component="storage-node"' in expr
            assert int(panes["a"]["range"]["from"]) < int(panes["a"]["range"]["to"])
            # The agent's own API lists it, in the Prometheus shape.
            body = requests.get(f"{agent_url}/api/v1/alerts", timeout=5).json()
            assert body["status"] == "success"
            mine = [x for x in body["data"]["alerts"] if x["labels"]["alertname"] == ALERT]
            assert mine and mine[0]["state"] == "firing" and mine[0]["activeAt"].endswith("Z")
            float(mine[0]["value"])

            set_fault(node, 0)
            wait_until(lambda: am_alerts(am) == [], 60, interval_s=0.5, what=f"{ALERT} to resolve")
            assert traffic.count > 50
        # One /metrics text renders the delivery families and the component counters one after
        # the other, so a resolve re-sent in between makes them differ by that POST: the checks
        # must hold together on one scrape within a few seconds (the last failure is reported).
        def counters_agree() -> bool:
            metrics = requests.get(f"{agent_url}/metrics", timeout=5).text
            sent = metric_value(metrics, "nodewatch_agent_alerts_sent_total", alertmanager=am.url)
            assert sent >= 2
            assert metric_value(metrics, "nodewatch_agent_alerts_active") == 0.0
            assert_component_counters(metrics, sent)
            return True

        wait_until(counters_agree, 10, interval_s=0.5, what="the alert counters to agree on one scrape")
    finally:
        agent.stop()


def assert_component_counters(metrics: str, alerts_sent: float) -> None:
    """The component counters of the three parts this test ran agree with their own series."""
    # The Alertmanager sink (alerts): each alert of a successful POST is received and sent.
    am = component_counters(metrics, "sink", "alertmanager")
    assert am["sent"] == alerts_sent, am
    assert am["received"] == am["sent"] + am["dropped"] and am["dropped"] == 0, am
    assert am["errors"] == (metric_value(metrics, "nodewatch_agent_alerts_send_failures_total") or 0), am
    # detect (samples of watched series): every sample of the one watched series is scored.
    det = component_counters(metrics, "transform", "detect")
    assert det["received"] >= 10 and det["sent"] == det["received"], det  # one per 1 s scrape
    assert det["dropped"] == 0 and det["errors"] == 0, det
    # The storage_node source (series per collection): all kept under max_series; a failed or
    # timed-out collection is an error, as in the collector's own counter.
    src = component_counters(metrics, "source", "storage_node")
    assert src["sent"] > 0 and src["received"] == src["sent"] + src["dropped"], src
    assert src["dropped"] == 0, src
    assert src["errors"] == metric_value(metrics, "nodewatch_agent_collector_errors_total", collector="storage_node"), src


def test_alert_arrives_once_alertmanager_is_back(node_factory, tmp_path):
    node = node_factory(extra_args=["--fault-injection"])
    port, cluster = free_ports(2)
    am = Alertmanager(tmp_path / "am", port=port, cluster_port=cluster)
    agent, agent_url = start_agent(tmp_path, node, am.url)
    try:
        with Traffic(node):
            wait_warm(agent_url)
            set_fault(node, 1500)

            def firing_in_agent():
                body = requests.get(f"{agent_url}/api/v1/alerts", timeout=5).json()
                return [x for x in body["data"]["alerts"] if x["labels"]["alertname"] == ALERT]
            wait_until(firing_in_agent, 40, interval_s=0.5, what="the alert to fire in the agent")

            def failures():
                text = requests.get(f"{agent_url}/metrics", timeout=5).text
                return (metric_value(text, "nodewatch_agent_alerts_send_failures_total", alertmanager=am.url) or 0) >= 2
            wait_until(failures, 20, what="failed sends while Alertmanager is down")

            am.start()
            try:
                alerts = wait_until(lambda: am_alerts(am), 30, interval_s=0.5, what=f"{ALERT} after Alertmanager is back")
                assert alerts[0]["labels"]["node"] == NODE
            finally:
                set_fault(node, 0)
                am.stop()
    finally:
        agent.stop()


def test_fault_route_does_not_exist_without_the_flag(node_factory):
    node = node_factory()
    r = requests.post(f"{node.admin_url}/admin/fault", json={"disk_delay_ms": 100}, timeout=10)
    assert r.status_code in (404, 405), r.status_code
    s3 = node.client()
    s3.create_bucket(Bucket="nofault")
    s3.put_object(Bucket="nofault", Key="k", Body=b"x")
    assert s3.get_object(Bucket="nofault", Key="k")["Body"].read() == b"x"


def test_fault_route_rejects_bad_bodies(node_factory):
    node = node_factory(extra_args=["--fault-injection"])
    for body in (b"nope", b'{"disk_delay_ms": -1}', b'{"disk_delay_ms": 999999}', b'{"other": 1}'):
        r = requests.post(f"{node.admin_url}/admin/fault", data=body, timeout=10)
        assert r.status_code == 400, (body, r.status_code, r.text)
    assert requests.get(f"{node.admin_url}/admin/fault", timeout=10).status_code == 405
