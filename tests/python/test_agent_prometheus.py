"""A real Prometheus scrapes the release node-agent; the agent scrapes a real storage node."""

from __future__ import annotations

import uuid

import pytest

from harness.agent import Agent
from harness.components import component_counters
from harness.prometheus import Prometheus
from harness.procs import wait_until

HOST_ONLY = """
[sources.host]
interval_secs = 1
timeout_ms = 900
[sources.smartctl]
enabled = false
[sources.storage_node]
enabled = false
"""


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    a = Agent(root=tmp_path_factory.mktemp("agent"), config_toml=HOST_ONLY).start()
    yield a
    a.stop()


@pytest.fixture(scope="module")
def prom(tmp_path_factory, agent):
    cfg = f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: nodewatch-agent
    static_configs:
      - targets: ["127.0.0.1:{agent.port}"]
"""
    p = Prometheus(root=tmp_path_factory.mktemp("prom"), config_yaml=cfg).start()
    yield p
    p.stop()


def test_prometheus_scrapes_the_agent(prom, agent):
    targets = prom.wait_targets_up(timeout_s=30)
    assert [t["labels"]["job"] for t in targets] == ["nodewatch-agent"]
    wait_until(lambda: prom.scalar('up{job="nodewatch-agent"}') == 1.0, 30, what="up == 1")
    # A host metric with node_exporter's name and labels.
    cpus = wait_until(
        lambda: prom.query('node_cpu_seconds_total{job="nodewatch-agent",mode="idle"}'),
        30, what="node_cpu_seconds_total in Prometheus",
    )
    assert all("cpu" in s["metric"] for s in cpus)
    assert all(float(s["value"][1]) > 0 for s in cpus)
    # The agent's own telemetry.
    ok = wait_until(
        lambda: prom.scalar('nodewatch_agent_collector_success{job="nodewatch-agent",collector="host"}'),
        30, what="the host collector's success in Prometheus",
    )
    assert ok == 1.0
    # Prometheus found nothing wrong with the exposition.
    assert prom.scalar('scrape_samples_scraped{job="nodewatch-agent"}') > 100
    assert prom.scalar('scrape_series_added{job="nodewatch-agent"}') is not None
    assert prom.targets()[0]["lastError"] == ""
    # The exporter's component counters (series per scrape, as of the scrapes before this one):
    # Prometheus' scrapes wrote every series offered, none was a duplicate.
    exp = component_counters(agent.metrics_text(), "sink", "prometheus_exporter")
    assert exp["sent"] > 100 and exp["received"] == exp["sent"] + exp["dropped"], exp
    assert exp["dropped"] == 0 and exp["errors"] == 0, exp


def test_storage_node_series_are_relabelled_and_expire_when_the_node_stops(node_factory, tmp_path_factory):
    node = node_factory()
    a = Agent(
        root=tmp_path_factory.mktemp("agent-sn"),
        config_toml="""
[sources.host]
enabled = false
[sources.smartctl]
enabled = false
[sources.storage_node]
interval_secs = 1
timeout_ms = 900
""",
        args=["--storage-node", node.admin_url],
    ).start()
    try:
        s3 = node.client()
        bucket = f"b-{uuid.uuid4().hex[:12]}"
        s3.create_bucket(Bucket=bucket)
        for i in range(3):
            s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x" * 1000)

        def put_count():
            vals = [
                v for labels, v in a.samples("storage_node_op_latency_seconds_count")
                if 'op="put' in labels.lower() and f'node_id="{node.node_id}"' in labels
            ]
            return sum(vals) >= 3 and vals

        wait_until(put_count, 20, what="the agent re-exposing the node's PUT latency count")
        assert a.value("nodewatch_agent_storage_node_up", node.admin_url) == 1.0
        # Every storage_node_* series carries the node's identity.
        text = a.metrics_text()
        sn_lines = [l for l in text.splitlines() if l.startswith("storage_node_")]
        assert len(sn_lines) > 20
        assert all(f'node_id="{node.node_id}"' in l and "node_name=" in l for l in sn_lines)
        # The node's own objects gauge, as the agent sees it, matches the node.
        assert a.value("storage_node_objects", f'node_id="{node.node_id}"') == 3.0
        assert a.value("storage_node_stored_bytes", f'node_id="{node.node_id}"') == 3000.0

        node.stop()
        wait_until(lambda: a.value("nodewatch_agent_storage_node_up", node.admin_url) == 0.0,
                   20, what="storage_node_up == 0 after the node stopped")
        # Its series are not served frozen: they expire (2 intervals + timeout).
        wait_until(lambda: not any(l.startswith("storage_node_") for l in a.metrics_text().splitlines()),
                   20, what="the stopped node's series to expire")
    finally:
        a.stop()
