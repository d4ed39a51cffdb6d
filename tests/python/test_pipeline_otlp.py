"""The agent's pipeline receivers, end to end: the real OpenTelemetry Python SDK exporting
OTLP/HTTP to `node-agent --otlp-listen`, Pushgateway pushes with curl, hostile input, and
`promtool check metrics` on what the agent serves."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from harness.procs import Server, free_ports, release_binary, wait_until

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource

PROMTOOL = os.environ.get("PROMTOOL", shutil.which("promtool") or "/usr/bin/promtool")
CURL = shutil.which("curl") or "/usr/bin/curl"

BASE_CONFIG = """
[sources.host]
enabled = false
[sources.smartctl]
enabled = false
[sources.storage_node]
enabled = false
[sources.otlp]
max_datapoints_per_request = 10000
[pipeline]
max_series = 50000
max_label_value_bytes = 1024
max_body_bytes = 8388608
"""


class Agent:
    def __init__(self, tmp: Path, extra_config: str = ""):
        self.port, self.otlp_port = free_ports(2)
        cfg = tmp / "agent.toml"
        cfg.write_text(BASE_CONFIG + extra_config)
        self.server = Server(
            name="node-agent",
            cmd=[str(release_binary("node-agent", "NODE_AGENT_BIN")), "run", "--config", str(cfg),
                 "--listen", f"127.0.0.1:{self.port}", "--otlp-listen", f"127.0.0.1:{self.otlp_port}",
                 "--data-dir", str(tmp / "data"), "--log-level", "warn"],
            log_path=tmp / "agent.log",
            ready_url=f"http://127.0.0.1:{self.port}/healthz",
        )

    @property
    def push_base(self) -> str:
        return f"http://127.0.0.1:{self.otlp_port}"

    def metrics_text(self) -> str:
        r = requests.get(f"http://127.0.0.1:{self.port}/metrics", timeout=10)
        assert r.status_code == 200
        return r.text

    def samples(self) -> dict:
        out = {}
        for fam in text_string_to_metric_families(self.metrics_text()):
            for s in fam.samples:
                out[(s.name, frozenset(s.labels.items()))] = s.value
        return out

    def value(self, name: str, **labels) -> float | None:
        return self.samples().get((name, frozenset(labels.items())))

    def find(self, name: str, **subset) -> list[tuple[dict, float]]:
        """Samples of `name` whose labels include `subset`."""
        return [(dict(k[1]), v) for k, v in self.samples().items()
                if k[0] == name and all(dict(k[1]).get(a) == b for a, b in subset.items())]


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    a = Agent(tmp_path_factory.mktemp("agent"))
    a.server.start()
    yield a
    a.server.stop()


def promtool_ok(text: str) -> None:
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"promtool: {r.stdout}{r.stderr}"


def provider(agent: Agent, resource: dict, delta: bool = False, gzip_on: bool = False):
    temporality = None
    if delta:
        temporality = {Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA,
                       UpDownCounter: AggregationTemporality.CUMULATIVE}
    exporter = OTLPMetricExporter(
        endpoint=f"{agent.push_base}/v1/metrics", timeout=10, preferred_temporality=temporality,
        compression=Compression.Gzip if gzip_on else Compression.NoCompression)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    views = [
        View(instrument_name="etl.duration",
             aggregation=ExplicitBucketHistogramAggregation(boundaries=[0.1, 1.0, 10.0])),
        View(instrument_name="etl.payload.size", aggregation=ExponentialBucketHistogramAggregation()),
    ]
    return MeterProvider(resource=Resource.create(resource), metric_readers=[reader], views=views)


def test_python_sdk_cumulative_export(agent):
    mp = provider(agent, {"service.name": "etl", "service.namespace": "billing",
                          "service.instance.id": "w1", "deployment.environment": "test"}, gzip_on=True)
    meter = mp.get_meter("pipeline-test", "0.1")
    records = meter.create_counter("etl.records", unit="{records}", description="Records processed.")
    queue = meter.create_up_down_counter("etl.queue.depth", unit="{items}")
    temp = meter.create_gauge("etl.temperature", unit="Cel")
    duration = meter.create_histogram("etl.duration", unit="s")
    size = meter.create_histogram("etl.payload.size", unit="By")
    attrs = {"stage": "load"}
    records.add(5, attrs)
    records.add(7, attrs)
    queue.add(10)
    queue.add(-3)
    temp.set(21.5)
    for v in (0.05, 0.5, 5.0, 50.0):
        duration.record(v, attrs)
    for v in (1, 2, 4):
        size.record(v)
    assert mp.force_flush(10_000)
    mp.shutdown()

    base = {"job": "billing/etl", "instance": "w1", "otel_scope_name": "pipeline-test",
            "otel_scope_version": "0.1"}
    assert agent.value("etl_records_total", **base, stage="load") == 12
    assert agent.value("etl_queue_depth", **base) == 7
    assert agent.value("etl_temperature_celsius", **base) == 21.5
    buckets = {float(lbl["le"]): v for lbl, v in agent.find("etl_duration_seconds_bucket", **base, stage="load")}
    assert buckets == {0.1: 1, 1.0: 2, 10.0: 3, float("inf"): 4}
    assert agent.value("etl_duration_seconds_count", **base, stage="load") == 4
    assert agent.value("etl_duration_seconds_sum", **base, stage="load") == pytest.approx(55.55)
    # Exponential buckets become explicit ones with exact power-of-two bounds.
    exp = {float(lbl["le"]): v for lbl, v in agent.find("etl_payload_size_bytes_bucket", **base)}
    assert exp[1.0] == 1 and exp[2.0] == 2 and exp[4.0] == 3 and exp[float("inf")] == 3
    cums = [exp[k] for k in sorted(exp)]
    assert cums == sorted(cums)
    assert agent.value("etl_payload_size_bytes_count", **base) == 3
    assert agent.value("etl_payload_size_bytes_sum", **base) == 7
    (ti_labels, ti_value), = agent.find("target_info", job="billing/etl", instance="w1")
    assert ti_value == 1
    assert ti_labels["deployment_environment"] == "test"
    assert ti_labels["telemetry_sdk_language"] == "python"
    fresh = agent.value("nodewatch_pipeline_last_push_timestamp_seconds", job="billing/etl")
    assert fresh is not None and abs(fresh - time.time()) < 60
    assert agent.value("nodewatch_agent_otlp_datapoints_received_total") >= 5
    assert agent.value("nodewatch_agent_otlp_requests_total", code="200") >= 1
    promtool_ok(agent.metrics_text())


def test_python_sdk_delta_export_becomes_cumulative(agent):
    mp = provider(agent, {"service.name": "etl-delta", "service.instance.id": "d1"}, delta=True)
    meter = mp.get_meter("pipeline-delta")
    records = meter.create_counter("etl.rows")
    duration = meter.create_histogram("etl.duration", unit="s")
    size = meter.create_histogram("etl.payload.size", unit="By")
    records.add(3)
    duration.record(0.5)
    size.record(1)
    assert mp.force_flush(10_000)
    records.add(4)
    duration.record(5.0)
    size.record(4)
    assert mp.force_flush(10_000)
    mp.shutdown()
    base = {"job": "etl-delta", "instance": "d1", "otel_scope_name": "pipeline-delta"}
    assert agent.value("etl_rows_total", **base) == 7
    buckets = {float(lbl["le"]): v for lbl, v in agent.find("etl_duration_seconds_bucket", **base)}
    assert buckets == {0.1: 0, 1.0: 1, 10.0: 2, float("inf"): 2}
    assert agent.value("etl_duration_seconds_sum", **base) == 5.5
    exp = {float(lbl["le"]): v for lbl, v in agent.find("etl_payload_size_bytes_bucket", **base)}
    assert exp[1.0] == 1 and exp[4.0] == 2 and exp[float("inf")] == 2
    assert agent.value("etl_payload_size_bytes_count", **base) == 2
    promtool_ok(agent.metrics_text())


def curl(method: str, url: str, body: str | None = None) -> int:
    cmd = [CURL, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", method, url]
    if body is not None:
        cmd += ["--data-binary", "@-", "-H", "Content-Type: text/plain"]
    r = subprocess.run(cmd, input=body, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return int(r.stdout)


def test_pushgateway_put_post_delete_with_curl(agent):
    url = f"{agent.push_base}/metrics/job/nightly/instance/db1"
    now = int(time.time())
    body = (
        "# TYPE pipeline_runs_total counter\n"
        'pipeline_runs_total{status="success"} 1\n'
        "# TYPE pipeline_records_processed_total counter\n"
        "pipeline_records_processed_total 100\n"
        "# TYPE pipeline_last_success_timestamp_seconds gauge\n"
        f"pipeline_last_success_timestamp_seconds {now}\n"
        "# TYPE pipeline_run_duration_seconds gauge\n"
        "pipeline_run_duration_seconds 12.5\n"
    )
    g = {"job": "nightly", "instance": "db1"}
    assert curl("PUT", url, body) == 200
    assert agent.value("pipeline_runs_total", **g, status="success") == 1
    assert agent.value("pipeline_records_processed_total", **g) == 100
    assert agent.value("pipeline_last_success_timestamp_seconds", **g) == now
    assert agent.value("pipeline_run_duration_seconds", **g) == 12.5
    pushed_at = agent.value("push_time_seconds", **g)
    assert pushed_at is not None and abs(pushed_at - time.time()) < 60
    assert agent.value("push_failure_time_seconds", **g) == 0
    fresh = agent.value("nodewatch_pipeline_last_push_timestamp_seconds", job="nightly")
    assert fresh is not None and abs(fresh - time.time()) < 60

    # POST replaces only the families it carries.
    assert curl("POST", url, "# TYPE pipeline_records_processed_total counter\npipeline_records_processed_total 250\n") == 200
    assert agent.value("pipeline_records_processed_total", **g) == 250
    assert agent.value("pipeline_run_duration_seconds", **g) == 12.5

    # A bad push is refused and stamps push_failure_time_seconds; the data stays.
    assert curl("PUT", url, "pipeline_runs_total{ 1\n") == 400
    assert agent.value("push_failure_time_seconds", **g) > 0
    assert agent.value("pipeline_records_processed_total", **g) == 250

    # PUT replaces the whole group.
    assert curl("PUT", url, "pipeline_run_duration_seconds 3\n") == 200
    assert agent.value("pipeline_records_processed_total", **g) is None
    assert agent.value("pipeline_run_duration_seconds", **g) == 3

    # Base64 label values carry slashes.
    b64 = f"{agent.push_base}/metrics/job/nightly/path@base64/L3Zhci9sb2c"
    assert curl("PUT", b64, "pipeline_run_duration_seconds 4\n") == 200
    assert agent.value("pipeline_run_duration_seconds", job="nightly", path="/var/log") == 4

    assert curl("DELETE", url) == 202
    assert agent.value("pipeline_run_duration_seconds", **g) is None
    assert agent.value("push_time_seconds", **g) is None
    assert agent.value("pipeline_run_duration_seconds", job="nightly", path="/var/log") == 4
    promtool_ok(agent.metrics_text())


def test_pushgateway_groups_expire(tmp_path):
    a = Agent(tmp_path, "[sources.pushgateway]\nexpire_secs = 2\n")
    a.server.start()
    try:
        assert curl("PUT", f"{a.push_base}/metrics/job/short", "pipeline_records_processed_total 5\n") == 200
        assert a.value("pipeline_records_processed_total", job="short") == 5
        wait_until(lambda: a.value("pipeline_records_processed_total", job="short") is None, 15,
                   what="the pushed group to expire")
        wait_until(lambda: (a.value("nodewatch_agent_pipeline_expired_series_total") or 0) >= 1, 10,
                   what="the expiry to be counted")
        # Freshness outlives the expired group, so "no push for too long" can still alert.
        assert a.value("nodewatch_pipeline_last_push_timestamp_seconds", job="short") is not None
    finally:
        a.server.stop()


def otlp_post(agent, body: bytes, ctype: str, encoding: str | None = None) -> requests.Response:
    headers = {"Content-Type": ctype}
    if encoding:
        headers["Content-Encoding"] = encoding
    return requests.post(f"{agent.push_base}/v1/metrics", data=body, headers=headers, timeout=30)


def gauge_request(n_points: int, attr_value=lambda i: f"v{i}", name="bomb.series") -> dict:
    return {"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "hostile"}}]},
        "scopeMetrics": [{"metrics": [{
            "name": name,
            "gauge": {"dataPoints": [
                {"asDouble": 1.0, "timeUnixNano": "1",
                 "attributes": [{"key": "id", "value": {"stringValue": attr_value(i)}}]}
                for i in range(n_points)
            ]},
        }]}],
    }]}


def test_hostile_otlp_bodies_get_errors_and_counters(agent):
    def code(c):
        return agent.value("nodewatch_agent_otlp_requests_total", code=c) or 0

    before = {c: code(c) for c in ("400", "413", "415")}
    good = metrics_service_pb2.ExportMetricsServiceRequest()
    good.ParseFromString(json_to_proto(gauge_request(50)))
    raw = good.SerializeToString()
    r = otlp_post(agent, raw[: len(raw) // 2], "application/x-protobuf")
    assert r.status_code == 400
    r = otlp_post(agent, raw, "text/plain")
    assert r.status_code == 415
    bomb = gzip.compress(b" " * (64 * 1024 * 1024))
    assert len(bomb) < 1024 * 1024
    r = otlp_post(agent, bomb, "application/json", "gzip")
    assert r.status_code == 413
    deep = '{"resourceMetrics":[{"resource":{"attributes":[{"key":"k","value":' + \
        '{"kvlistValue":{"values":[{"key":"k","value":' * 10_000
    r = otlp_post(agent, deep.encode(), "application/json")
    assert r.status_code == 400
    assert code("400") - before["400"] == 2
    assert code("413") - before["413"] == 1
    assert code("415") - before["415"] == 1

    # Huge attribute values: the points are rejected and reported in partial_success.
    r = otlp_post(agent, json.dumps(gauge_request(3, lambda i: "x" * 100_000, "huge.attr")).encode(),
                  "application/json")
    assert r.status_code == 200
    assert int(r.json()["partialSuccess"]["rejectedDataPoints"]) == 3
    assert agent.value("nodewatch_agent_pipeline_series_dropped_total",
                       source="otlp", reason="label_value_too_long") == 3
    assert agent.find("huge_attr") == []
    assert agent.server.is_running()


def json_to_proto(req: dict) -> bytes:
    from google.protobuf import json_format
    msg = metrics_service_pb2.ExportMetricsServiceRequest()
    json_format.ParseDict(req, msg)
    return msg.SerializeToString()


def bomb_proto(n: int) -> bytes:
    msg = metrics_service_pb2.ExportMetricsServiceRequest()
    rm = msg.resource_metrics.add()
    kv = rm.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "hostile"
    m = rm.scope_metrics.add().metrics.add()
    m.name = "bomb.series"
    for i in range(n):
        p = m.gauge.data_points.add()
        p.as_double, p.time_unix_nano = 1.0, 1
        a = p.attributes.add()
        a.key, a.value.string_value = "id", f"v{i}"
    return msg.SerializeToString()


def test_label_bombs_are_refused_and_counted(agent):
    def component(name, cid):
        return agent.value(f"nodewatch_agent_component_{name}_total",
                           component_kind="source", component_id=cid) or 0

    before = {(n, c): component(n, c) for n in ("received", "sent", "dropped", "errors")
              for c in ("otlp", "pushgateway")}

    def delta(name, cid):
        return component(name, cid) - before[(name, cid)]

    # OTLP: 100k distinct attribute values in one request; the per-request bound keeps 10k.
    body = bomb_proto(100_000)
    r = otlp_post(agent, gzip.compress(body), "application/x-protobuf", "gzip")
    assert r.status_code == 200
    resp = metrics_service_pb2.ExportMetricsServiceResponse()
    resp.ParseFromString(r.content)
    assert resp.partial_success.rejected_data_points == 90_000
    assert agent.value("nodewatch_agent_pipeline_series_dropped_total", source="otlp", reason="push_limit") == 90_000
    assert len(agent.find("bomb_series", job="hostile")) == 10_000
    # The same in the source's component counters: 100k in, 10k stored, 90k dropped.
    assert (delta("received", "otlp"), delta("sent", "otlp"), delta("dropped", "otlp")) == \
        (100_000, 10_000, 90_000)

    # Pushgateway: 100k distinct label values, and a series with too many labels.
    lines = "".join(f'bomb{{id="{i}"}} 1\n' for i in range(100_000))
    assert curl("PUT", f"{agent.push_base}/metrics/job/bomb", lines) == 400
    many = ",".join(f'l{i}="v"' for i in range(100))
    assert curl("PUT", f"{agent.push_base}/metrics/job/bomb", f"wide{{{many}}} 1\n") == 400
    assert agent.value("nodewatch_agent_pipeline_series_dropped_total", source="pushgateway", reason="push_limit") == 1
    assert agent.value("nodewatch_agent_pipeline_series_dropped_total", source="pushgateway", reason="too_many_labels") == 1
    assert agent.find("bomb", job="bomb") == []
    # Two refused pushes: nothing stored, both answered with an error.
    assert delta("sent", "pushgateway") == 0 and delta("errors", "pushgateway") == 2
    assert delta("dropped", "pushgateway") >= 2
    assert agent.server.is_running()
    promtool_ok(agent.metrics_text())
