"""remote_write from the release node-agent to a real Prometheus: an outage with a kill -9 of the
agent in the middle loses no sample; a 4xx is counted and never retried."""

from __future__ import annotations

import hashlib
import http.server
import threading
import time

import pytest

from harness.agent import Agent
from harness.components import component_counters, metric_in
from harness.prometheus import Prometheus
from harness.procs import wait_until

INTERVAL_S = 1.0
OUTAGE_BEFORE_KILL_S = 10.0
OUTAGE_AFTER_KILL_S = 10.0


def agent_config(url: str) -> str:
    return f"""
[sources.host]
interval_secs = 1
timeout_ms = 900
[sources.smartctl]
enabled = false
[sources.storage_node]
enabled = false
[sinks.prometheus_remote_write]
url = "{url}"
batch_send_deadline_ms = 200
min_backoff_ms = 50
max_backoff_ms = 1000
timeout_ms = 5000
[sinks.prometheus_remote_write.external_labels]
cluster = "e2e"
"""


def raw_samples(prom: Prometheus, expr: str, window_s: int) -> list[tuple[float, float]]:
    res = prom.query(f"{expr}[{window_s}s]")
    assert len(res) == 1, res
    return [(float(t), float(v)) for t, v in res[0]["values"]]


def test_outage_and_agent_kill9_lose_no_sample(tmp_path):
    prom = Prometheus(root=tmp_path / "prom", config_yaml="global:\n  scrape_interval: 15s\n").start()
    agent = Agent(root=tmp_path / "agent", config_toml=agent_config(f"{prom.url}/api/v1/write"))
    try:
        agent.start()
        t_start = time.time()
        series = 'node_time_seconds{cluster="e2e"}'
        wait_until(lambda: len(raw_samples(prom, series, 60)) >= 3, 30, what="first remote-written samples")

        prom.stop()
        t_down = time.time()
        time.sleep(OUTAGE_BEFORE_KILL_S)
        # The agent keeps collecting into its WAL; it has retried by now.
        assert agent.value("nodewatch_agent_remote_write_pending_samples") > 0
        assert agent.value("nodewatch_agent_remote_write_samples_retried_total") > 0
        assert agent.value("nodewatch_agent_collector_errors_total", 'collector="host"') == 0
        t_kill = time.time()
        agent.kill9()
        agent.start()  # same port, same data directory: the WAL is recovered
        t_agent_back = time.time()
        time.sleep(OUTAGE_AFTER_KILL_S)
        prom.start()  # same port and data directory
        t_up = time.time()

        # Everything is delivered: the WAL drains and samples newer than the outage arrive.
        wait_until(lambda: agent.value("nodewatch_agent_remote_write_pending_samples") == 0
                   and agent.value("nodewatch_agent_remote_write_highest_sent_timestamp_seconds") > t_up,
                   45, what="the WAL to drain after the outage")
        assert agent.value("nodewatch_agent_remote_write_samples_dropped_total") == 0
        assert agent.value("nodewatch_agent_collector_errors_total", 'collector="host"') == 0
        assert agent.value("nodewatch_agent_remote_write_wal_segments") >= 1
        # The sink's component counters (samples; since the restart): what was delivered is
        # sent, each failed attempt during the outage an error, nothing dropped.
        text = agent.metrics_text()
        sink = component_counters(text, "sink", "prometheus_remote_write")
        assert sink["sent"] == metric_in(text, "nodewatch_agent_remote_write_samples_sent_total") > 0, sink
        assert sink["errors"] > 0 and sink["dropped"] == 0, sink
        # The host source (series per collection): every collection stored, none failed.
        host = component_counters(text, "source", "host")
        assert host["sent"] > 0 and host["received"] == host["sent"] + host["dropped"], host
        assert host["errors"] == 0, host

        # Sources collect on their own schedules: wait for this series' first collection after
        # Prometheus came back too.
        wait_until(lambda: raw_samples(prom, series, int(time.time() - t_start) + 5)[-1][0] > t_up,
                   30, what="a node_time_seconds sample newer than the outage")
        window = int(time.time() - t_start) + 5
        samples = raw_samples(prom, series, window)
        ts = [t for t, _ in samples]
        assert ts == sorted(ts) and len(set(ts)) == len(ts)
        gaps = [(a, b) for a, b in zip(ts, ts[1:]) if b - a > 1.5 * INTERVAL_S]
        # At most one gap, the time the agent was dead (kill -9 to its first collection); the
        # last collection before the kill and the first after the restart are both there.
        assert len(gaps) <= 1, f"gaps: {gaps}"
        for before, after in gaps:
            assert before <= t_kill <= after, (before, after, t_kill)
        assert any(t_kill - 1.5 * INTERVAL_S <= t <= t_kill for t in ts), "last sample before the kill"
        assert any(t_kill <= t <= t_agent_back + 3 * INTERVAL_S for t in ts), "first sample after the restart"
        # Samples cover the whole outage on both sides of the kill, one per collection.
        assert ts[0] < t_down - 2 and ts[-1] > t_up
        during_outage = [t for t in ts if t_down <= t <= t_up]
        expected = (OUTAGE_BEFORE_KILL_S + OUTAGE_AFTER_KILL_S) / INTERVAL_S
        dead_s = sum(b - a for a, b in gaps)
        assert len(during_outage) >= expected - 3 - dead_s, (len(during_outage), expected)
        # The value is the wall clock at collection: it agrees with the timestamp.
        assert all(abs(v - t) < 2.0 for t, v in samples)
    finally:
        agent.stop()
        prom.stop()


class _Refuser(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes] = []
    headers_seen: list[dict] = []
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802 - http.server's name
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        with self.lock:
            type(self).bodies.append(body)
            type(self).headers_seen.append({k.lower(): v for k, v in self.headers.items()})
        msg = b"out of order sample"
        self.send_response(400)
        self.send_header("Content-Length", str(len(msg)))
        self.end_headers()
        self.wfile.write(msg)

    def log_message(self, *args):
        pass


@pytest.fixture
def refuser():
    _Refuser.bodies, _Refuser.headers_seen = [], []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refuser)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/api/v1/write"
    srv.shutdown()
    srv.server_close()


def test_a_400_is_counted_and_not_retried(tmp_path, refuser):
    agent = Agent(root=tmp_path / "agent", config_toml=agent_config(refuser)).start()
    try:
        wait_until(lambda: (agent.value("nodewatch_agent_remote_write_samples_failed_total") or 0) > 0,
                   30, what="refused samples to be counted")
        time.sleep(2)  # time for retries, if there were any
        assert agent.value("nodewatch_agent_remote_write_samples_retried_total") == 0
        assert agent.value("nodewatch_agent_remote_write_samples_sent_total") == 0
        assert agent.value("nodewatch_agent_remote_write_samples_dropped_total") == 0
        # In the sink's component counters a refused sample is dropped (not an error: no retry).
        text = agent.metrics_text()
        sink = component_counters(text, "sink", "prometheus_remote_write")
        assert sink["dropped"] == metric_in(text, "nodewatch_agent_remote_write_samples_failed_total") > 0, sink
        assert sink["sent"] == 0 and sink["errors"] == 0 and sink["received"] >= sink["dropped"], sink
        with _Refuser.lock:
            digests = [hashlib.sha256(b).hexdigest() for b in _Refuser.bodies]
            headers = list(_Refuser.headers_seen)
        assert len(digests) >= 2
        assert len(set(digests)) == len(digests), "a refused request was sent again"
        for h in headers:
            assert h.get("content-encoding") == "snappy"
            assert h.get("content-type") == "application/x-protobuf"
            assert h.get("x-prometheus-remote-write-version") == "0.1.0"
        # Refused samples are not kept: the WAL does not grow without bound.
        wait_until(lambda: agent.value("nodewatch_agent_remote_write_pending_samples") is not None,
                   5, what="pending gauge")
        assert "refused a batch" in agent.log_tail()
    finally:
        agent.stop()
