"""Every metric name that rules/ and dashboards/ use is produced by the code.

A name counts as produced when it, or its family name (without `_bucket`, `_sum`, `_count`, and
then without `_total`), appears as a string literal in the non-test sources of `agent/src` or
`storage-node/src`, or when it is one of the few conventional names a data pipeline pushes (the
metric-name contract's documented list). This stops a rename from silently emptying a panel.
"""

from __future__ import annotations

import re

from harness import promql

REPO = promql.REPO_ROOT
SOURCE_DIRS = [REPO / "agent" / "src", REPO / "storage-node" / "src"]

# Pushed by pipelines, not by our code (documented in the metric-name contract). Keep it tiny.
PIPELINE_PUSHED = {
    "pipeline_runs_total",
    "pipeline_records_processed_total",
    "pipeline_last_success_timestamp_seconds",
    "pipeline_run_duration_seconds",
}
# Series Prometheus makes itself.
PROMETHEUS_OWN = {"up", "ALERTS"}

def source_literals() -> set[str]:
    """Every double-quoted string literal in the non-test Rust sources."""
    out: set[str] = set()
    for d in SOURCE_DIRS:
        for f in d.rglob("*.rs"):
            if f.name == "tests.rs" or "tests" in f.relative_to(d).parts[:-1] or f.name == "test_support.rs":
                continue
            out.update(re.findall(r'"((?:[^"\\]|\\.)*)"', f.read_text()))
    return out


def family_names(name: str) -> list[str]:
    out = [name]
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            out.append(name.removesuffix(suffix))
    out += [n.removesuffix("_total") for n in list(out) if n.endswith("_total")]
    return out


def used_names() -> dict[str, list[str]]:
    """Metric name -> where it is used, over every rule and dashboard query."""
    recorded = promql.recorded_names()
    out: dict[str, list[str]] = {}
    for q in promql.rule_queries() + promql.dashboard_queries():
        for s in promql.query_selectors(q):
            if s.name not in recorded and s.name not in PROMETHEUS_OWN:
                out.setdefault(s.name, []).append(q.where)
    return out


# The ceph source builds its names at run time from the daemons' counter schema, as ceph-mgr's
# prometheus module does; its tests (agent/src/sources/ceph/tests.rs) check that they equal the
# names in this real mgr scrape, so a name found here is produced by the code.
CEPH_NAMES_FILE = REPO / "agent" / "tests" / "data" / "ceph" / "mgr_prometheus_metrics.txt"


def ceph_names() -> set[str]:
    return {m.group(1) for m in re.finditer(r"^(ceph_[a-zA-Z0-9_:]+)[ {]", CEPH_NAMES_FILE.read_text(), re.M)}


def is_produced(name: str, literals: set[str]) -> bool:
    if name.startswith("ceph_"):
        return name in ceph_names()
    return any(n in literals for n in family_names(name))


def test_every_metric_used_by_rules_and_dashboards_is_produced():
    literals = source_literals()
    used = used_names()
    assert len(used) >= 100, sorted(used)
    missing = {
        n: where for n, where in used.items()
        if not is_produced(n, literals) and n not in PIPELINE_PUSHED
    }
    assert not missing, "metric names the code does not produce:\n" + "\n".join(
        f"  {n}  (used in {where[0]}{' and more' if len(where) > 1 else ''})" for n, where in sorted(missing.items()))


def test_the_check_catches_a_renamed_metric():
    literals = source_literals()
    assert is_produced("storage_node_op_latency_seconds_bucket", literals)
    assert is_produced("storage_node_read_bytes_total", literals)
    assert is_produced("smartctl_device_attribute", literals)
    assert is_produced("nodewatch_agent_collector_success", literals)
    assert not is_produced("storage_node_op_latency_secs_bucket", literals)
    assert not is_produced("storage_node_read_bytes", literals)  # a gauge of that name does not exist


def test_recording_rules_only_use_produced_or_recorded_names():
    """Recorded names used by dashboards and alerts are defined by some rule."""
    recorded = promql.recorded_names()
    used_recorded = {s.name for q in promql.rule_queries() + promql.dashboard_queries()
                     for s in promql.query_selectors(q) if ":" in s.name}
    assert used_recorded <= recorded, sorted(used_recorded - recorded)
