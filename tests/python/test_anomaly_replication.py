"""A replication-lag anomaly end to end: two peered storage nodes, the release node-agent scraping
the first, and a real Alertmanager. Killing the peer makes the lag grow; the agent's rate detector
predicts the threshold crossing and `ReplicationLagAnomaly` reaches Alertmanager with the peer's
labels; restarting the peer brings the lag back to 0 and the alert resolves.
"""

from __future__ import annotations

import time

import pytest
import requests

from harness.alertmanager import Alertmanager
from harness.agent import Agent
from harness.procs import wait_until
from replication_cluster import make_cluster

ALERT = "ReplicationLagAnomaly"
NODE = "lag-test-node"


@pytest.fixture
def am(tmp_path):
    a = Alertmanager(tmp_path / "am").start()
    yield a
    a.stop()


@pytest.fixture
def pair(tmp_path):
    nodes = make_cluster(tmp_path / "cluster", n=2)
    for n in nodes:
        n.start()
    yield nodes
    for n in nodes:
        n.stop()


def start_agent(root, node, am_url: str) -> Agent:
    # The watch is the default one for replication lag (a rate detector that predicts when the
    # threshold is crossed), with a threshold and horizon scaled to a test that lasts seconds.
    return Agent(root / "agent", config_toml=f"""
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
[transforms.detect]
node = "{NODE}"
poll_ms = 200
[transforms.detect.policy]
startup_grace_secs = 0
min_samples = 3
of_samples = 3
resolve_samples = 3
[[transforms.detect.watch]]
metric = "storage_node_replication_lag_seconds"
stat = "value"
alert = "{ALERT}"
severity = "warning"
component = "storage-node"
detector = {{ kind = "rate", direction = "up", warmup_samples = 3, threshold = 20.0, horizon_secs = 60 }}
""").start()


def lag_alerts(am: Alertmanager) -> list[dict]:
    return [a for a in am.alerts() if a["labels"].get("alertname") == ALERT]


def test_a_killed_peer_raises_a_replication_lag_alert_that_resolves_after_restart(pair, am, tmp_path):
    a, b = pair
    a.s3.create_bucket(Bucket="lag")
    agent = start_agent(tmp_path, a, am.url)
    try:
        # A steady, caught-up link first: the detector warms up on a lag of 0 and stays quiet.
        a.s3.put_object(Bucket="lag", Key="before", Body=b"x")
        wait_until(lambda: a.metric("storage_node_replication_pending_entries", peer=b.node_id) == 0, 30,
                   what="the peer to catch up")
        time.sleep(6)
        assert lag_alerts(am) == [], "no alert while the peer is caught up"

        b.kill9()
        for i in range(5):
            a.s3.put_object(Bucket="lag", Key=f"while-down-{i}", Body=b"y" * 100)
        alerts = wait_until(lambda: lag_alerts(am), 60, interval_s=0.5, what=f"{ALERT} in Alertmanager")
        labels = alerts[0]["labels"]
        assert labels["peer"] == b.node_id
        assert labels["node_id"] == a.node_id
        assert labels["node"] == NODE
        assert labels["severity"] == "warning"
        assert labels["metric"] == "storage_node_replication_lag_seconds"
        assert a.metric("storage_node_replication_lag_seconds", peer=b.node_id) > 0

        b.start()
        wait_until(lambda: a.metric("storage_node_replication_lag_seconds", peer=b.node_id) == 0, 60,
                   what="the lag to return to 0")
        wait_until(lambda: lag_alerts(am) == [], 60, interval_s=0.5, what=f"{ALERT} to resolve")
        active = requests.get(f"{agent.url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
        assert [x for x in active if x["labels"]["alertname"] == ALERT] == []
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- agent log ---\n{agent.log_tail()}") from None
    finally:
        agent.stop()
