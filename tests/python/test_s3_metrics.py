"""The node's Prometheus metrics and /admin/status, checked against what the
test itself did. Counts are diffs between two scrapes around our own calls."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import time
import uuid
from collections import defaultdict

import pytest
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

PROMTOOL = os.environ.get("PROMTOOL", shutil.which("promtool") or "/usr/bin/promtool")
OPS = ("get", "put", "delete", "list", "head", "multipart")
OUTCOMES = ("success", "client_error", "server_error")

EXPECTED_FAMILIES = {
    # name as the parser reports it -> type
    "storage_node_op_latency_seconds": "histogram",
    "storage_node_commit_latency_seconds": "histogram",
    "storage_node_apply_latency_seconds": "histogram",
    "storage_node_ops_in_flight": "gauge",
    "storage_node_slow_ops": "gauge",
    "storage_node_objects": "gauge",
    "storage_node_stored_bytes": "gauge",
    "storage_node_capacity_bytes": "gauge",
    "storage_node_free_bytes": "gauge",
}
EXPECTED_COUNTERS = [
    "storage_node_slow_ops_total",
    "storage_node_read_bytes_total",
    "storage_node_written_bytes_total",
    "storage_node_checksum_errors_total",
    "storage_node_scrub_errors_total",
    "storage_node_request_errors_total",
]
STATUS_FIELDS = ("node_id", "version", "uptime_seconds", "objects", "stored_bytes",
                 "capacity_bytes", "free_bytes", "ops_in_flight", "slow_ops", "last_scrub")


class Scrape:
    """Samples of one /metrics scrape, looked up by name and labels."""

    def __init__(self, text: str):
        self.text = text
        # A list, not a dict by name: the parser strips `_total` from counter
        # family names, so the counter storage_node_slow_ops_total and the gauge
        # storage_node_slow_ops both come back named "storage_node_slow_ops".
        self.family_list = list(text_string_to_metric_families(text))
        self.samples = defaultdict(list)
        for fam in self.family_list:
            for s in fam.samples:
                self.samples[s.name].append(s)

    def value(self, name: str, **labels) -> float:
        """Sum of the samples of `name` whose labels include `labels`; 0 when none."""
        return sum(
            s.value for s in self.samples.get(name, [])
            if all(s.labels.get(k) == v for k, v in labels.items())
        )

    def has_sample(self, name: str) -> bool:
        return bool(self.samples.get(name))

    def family(self, name: str, typ: str | None = None):
        for fam in self.family_list:
            if fam.name == name and (typ is None or fam.type == typ):
                return fam
        return None

    def family_of_sample(self, name: str):
        for fam in self.family_list:
            if any(s.name == name for s in fam.samples):
                return fam
        return None


@pytest.fixture(scope="module")
def mnode(node_factory):
    return node_factory(node_id="metrics-node-1")


@pytest.fixture(scope="module")
def s3(mnode):
    return mnode.client()


def scrape(node) -> Scrape:
    return Scrape(node.metrics_text())


def op_count(sc: Scrape, op: str, outcome: str = "success") -> float:
    return sc.value("storage_node_op_latency_seconds_count", op=op, outcome=outcome)


def scrape_until(node, done, timeout_s=3.0) -> Scrape:
    """Scrapes until done(scrape) or the deadline; returns the last scrape.

    The node records an op when the response body has been fully sent, which
    can land a moment after the client has read the last byte, so the scrape
    right after a call may not show it yet. Callers still assert exact values
    on what this returns; waiting never makes a wrong count right."""
    deadline = time.monotonic() + timeout_s
    sc = scrape(node)
    while not done(sc) and time.monotonic() < deadline:
        time.sleep(0.05)
        sc = scrape(node)
    return sc


@pytest.fixture(scope="module")
def workload(mnode, s3):
    """Runs a known workload once; returns (before, after, facts)."""
    bucket = f"m-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    sizes = [1000, 2000, 3000, 4000, 5000, 6000, 70_000]
    keys = [f"obj-{i}" for i in range(len(sizes))]
    bodies = {k: os.urandom(n) for k, n in zip(keys, sizes)}

    before = scrape(mnode)
    for k in keys:  # 7 PUT
        s3.put_object(Bucket=bucket, Key=k, Body=bodies[k])
    read = 0
    for k in keys[:5]:  # 5 GET
        read += len(s3.get_object(Bucket=bucket, Key=k)["Body"].read())
    for k in keys[:4]:  # 4 HEAD
        s3.head_object(Bucket=bucket, Key=k)
    for k in keys[:3]:  # 3 DELETE
        s3.delete_object(Bucket=bucket, Key=k)
    for _ in range(2):  # 2 LIST
        s3.list_objects_v2(Bucket=bucket)
    for _ in range(2):  # 2 GET that fail with NoSuchKey
        with pytest.raises(ClientError):
            s3.get_object(Bucket=bucket, Key="does-not-exist")
    counts = {"put": 7, "get": 5, "head": 4, "delete": 3, "list": 2}

    def settled(sc):
        return (
            all(op_count(sc, op) - op_count(before, op) >= n for op, n in counts.items())
            and op_count(sc, "get", "client_error") - op_count(before, "get", "client_error") >= 2
            and sc.value("storage_node_ops_in_flight") == 0
        )

    after = scrape_until(mnode, settled)

    remaining = keys[3:]
    facts = dict(
        bucket=bucket,
        counts=counts,
        written=sum(sizes),
        read=read,
        remaining_objects=len(remaining),
        remaining_bytes=sum(len(bodies[k]) for k in remaining),
        keys=keys,
    )
    return before, after, facts


def test_op_counts_match_workload(workload):
    before, after, facts = workload
    for op, n in facts["counts"].items():
        got = op_count(after, op) - op_count(before, op)
        assert got == n, f"op={op}: {got} success observations, expected {n}"
    failed = op_count(after, "get", "client_error") - op_count(before, "get", "client_error")
    assert failed == 2
    for op in facts["counts"]:
        assert op_count(after, op, "server_error") == op_count(before, op, "server_error")


def test_op_latency_histogram_shape(workload):
    _, after, _ = workload
    fam = after.family("storage_node_op_latency_seconds")
    assert fam is not None and fam.type == "histogram"
    series = defaultdict(dict)
    for s in fam.samples:
        assert s.labels.get("op") in OPS, s
        assert s.labels.get("outcome") in OUTCOMES, s
        if s.name.endswith("_bucket"):
            key = (s.labels["op"], s.labels["outcome"])
            series[key][float(s.labels["le"])] = s.value
    assert series, "no op latency series at all"
    for key, buckets in series.items():
        finite = sorted(b for b in buckets if not math.isinf(b))
        assert finite[0] == pytest.approx(0.0001), (key, finite)
        assert finite[-1] == pytest.approx(10.0), (key, finite)
        assert math.inf in buckets, key
        counts = [buckets[b] for b in sorted(buckets)]
        assert counts == sorted(counts), f"{key}: buckets not cumulative: {counts}"
        total = after.value("storage_node_op_latency_seconds_count", op=key[0], outcome=key[1])
        assert buckets[math.inf] == total, key
        assert after.value("storage_node_op_latency_seconds_sum", op=key[0], outcome=key[1]) >= 0


def test_all_contract_metrics_exist(workload):
    _, after, _ = workload
    for name, typ in EXPECTED_FAMILIES.items():
        fam = after.family(name, typ)
        assert fam is not None, f"{name} missing or not a {typ}"
        assert fam.samples, f"{name} has no samples"
    for name in EXPECTED_COUNTERS:
        fam = after.family_of_sample(name)
        if name == "storage_node_request_errors_total":
            # Labelled by code; a series appears once an error happened (we caused two).
            assert fam is not None, f"{name} missing after two NoSuchKey errors"
        else:
            assert fam is not None, f"{name} missing"
        assert fam.type == "counter", (name, fam.type)
    for name in ("storage_node_commit_latency_seconds", "storage_node_apply_latency_seconds"):
        assert after.value(f"{name}_count") > 0, f"{name} observed nothing after 7 PUTs"
    info = after.samples.get("storage_node_build_info")
    assert info and len(info) == 1 and info[0].value == 1
    assert info[0].labels.get("version")


def test_byte_and_error_counters(workload):
    before, after, facts = workload

    def grew(name, **labels):
        return after.value(name, **labels) - before.value(name, **labels)

    assert grew("storage_node_written_bytes_total") >= facts["written"]
    assert grew("storage_node_read_bytes_total") >= facts["read"]
    assert grew("storage_node_request_errors_total") >= 2
    codes = {s.labels.get("code") for s in after.samples["storage_node_request_errors_total"]}
    assert codes & {"NoSuchKey", "404"}, codes
    assert grew("storage_node_checksum_errors_total") == 0
    assert grew("storage_node_scrub_errors_total") == 0


def test_gauges_and_admin_status(mnode, workload):
    _, after, facts = workload
    assert after.value("storage_node_objects") == facts["remaining_objects"]
    assert after.value("storage_node_stored_bytes") >= facts["remaining_bytes"]
    cap = after.value("storage_node_capacity_bytes")
    free = after.value("storage_node_free_bytes")
    assert cap > 0 and 0 <= free <= cap
    assert after.value("storage_node_ops_in_flight") == 0

    st = mnode.status()
    missing = [f for f in STATUS_FIELDS if f not in st]
    assert not missing, (missing, st)
    assert st["node_id"] == "metrics-node-1"
    assert st["objects"] == facts["remaining_objects"]
    assert st["stored_bytes"] >= facts["remaining_bytes"]
    assert st["capacity_bytes"] > 0 and 0 <= st["free_bytes"] <= st["capacity_bytes"]
    assert st["uptime_seconds"] >= 0
    assert st["ops_in_flight"] == 0
    assert st["slow_ops"] >= 0
    version = after.samples["storage_node_build_info"][0].labels["version"]
    assert st["version"] == version


def test_no_label_carries_a_key_or_bucket(workload):
    _, after, facts = workload
    needles = [facts["bucket"], *facts["keys"], "does-not-exist"]
    for samples in after.samples.values():
        for s in samples:
            for v in s.labels.values():
                assert not any(n in v for n in needles), (s.name, s.labels)


def test_promtool_check_metrics(mnode, workload):
    text = mnode.metrics_text()
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, f"promtool: {r.stdout}{r.stderr}"


def test_metrics_content_type(mnode):
    r = mnode.admin_get("/metrics")
    assert r.headers.get("Content-Type", "").startswith("text/plain"), r.headers


def test_slow_ops_are_counted(node_factory):
    slow = node_factory(extra_args=["--slow-op-threshold-ms", "1"])
    s3 = slow.client()
    bucket = f"slow-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    before = scrape(slow)
    # 16 MiB with an fsync cannot finish within a millisecond.
    s3.put_object(Bucket=bucket, Key="big", Body=os.urandom(16 * 1024 * 1024))
    after = scrape_until(slow, lambda sc: sc.value("storage_node_slow_ops_total") > before.value(
        "storage_node_slow_ops_total"))
    assert after.value("storage_node_slow_ops_total") - before.value("storage_node_slow_ops_total") >= 1
