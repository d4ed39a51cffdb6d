"""rules/: promtool check and unit tests, coverage of every alert by a firing and a quiet test case,
the metadata every alert must carry, runbooks, and the generated SLO rules being up to date."""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness import promql

REPO = promql.REPO_ROOT
RULES = REPO / "rules"
RUNBOOK_BASE_URL = "https://github.com/nodewatch/nodewatch/blob/main/docs/runbooks/"
SEVERITIES = {"page", "ticket", "info"}
GEN_SLO = REPO / "scripts" / "gen-slo-rules.py"

# Alerts without `for`, reviewed one by one: each fires on an event (a counter that grew, a value
# that the hardware only ever sets once) rather than on a level that can flap.
NO_FOR_REVIEWED = {
    "StorageNodeChecksumErrors",  # increase() of a counter: every error is news
    "StorageNodeScrubErrors",  # increase() of a counter
    "ReplicationWriteQuorumFailures",  # increase() of a counter; clients already saw errors
    "DiskSmartHealthFailed",  # the drive's own verdict; it does not flip back
    "DiskBadSectorsIncreasing",  # growth over a day
    "DiskNvmeCriticalWarning",  # latched by the controller
    "DiskNvmeMediaErrors",  # growth over a day
    "GpuXidErrors",  # max_over_time of the last XID: already smoothed over 5m
    "GpuUncorrectableMemoryErrors",  # counter growth
    "GpuRowRemapFailure",  # latched by the GPU
    "NodewatchAgentDroppingData",  # increase() of drop counters: data already lost
}


def promtool() -> str:
    path = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if not path:
        pytest.fail("promtool not installed: apt-get install prometheus (scripts/test.sh does)", pytrace=False)
    return path


def alert_rules() -> list[tuple[Path, dict]]:
    return [(f, r) for f, r in promql.rules() if "alert" in r]


def test_promtool_check_rules():
    files = [str(f) for f in promql.rule_files()]
    assert len(files) >= 8, files
    r = subprocess.run([promtool(), "check", "rules", *files], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("SUCCESS") == len(files), r.stdout


def test_promtool_unit_tests_pass():
    tests = sorted(str(p) for p in (RULES / "tests").glob("*.yml"))
    assert tests
    r = subprocess.run([promtool(), "test", "rules", *tests], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def alerts_under_test() -> tuple[set[str], set[str]]:
    """(alerts with a firing case, alerts with a quiet case) over rules/tests/*.yml."""
    firing, quiet = set(), set()
    for p in sorted((RULES / "tests").glob("*.yml")):
        for t in yaml.safe_load(p.read_text())["tests"]:
            for a in t.get("alert_rule_test") or []:
                (firing if a.get("exp_alerts") else quiet).add(a["alertname"])
    return firing, quiet


def test_every_alert_has_a_firing_and_a_quiet_test():
    alerts = promql.alert_names()
    firing, quiet = alerts_under_test()
    assert len(alerts) >= 45, sorted(alerts)
    assert not alerts - firing, f"alerts without a test case where they fire: {sorted(alerts - firing)}"
    assert not alerts - quiet, f"alerts without a test case where they stay quiet: {sorted(alerts - quiet)}"
    assert not (firing | quiet) - alerts, f"tests name alerts that do not exist: {sorted((firing | quiet) - alerts)}"


def test_coverage_check_notices_an_untested_alert(tmp_path):
    """The counting above is not vacuous: an alert with no test is reported."""
    firing, quiet = alerts_under_test()
    alerts = promql.alert_names() | {"SomeNewAlert"}
    assert alerts - firing == {"SomeNewAlert"}
    assert alerts - quiet == {"SomeNewAlert"}


@pytest.mark.parametrize("path,rule", alert_rules(), ids=lambda x: x["alert"] if isinstance(x, dict) else x.name)
def test_alert_metadata(path, rule):
    name = rule["alert"]
    assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", name), name
    assert rule.get("labels", {}).get("severity") in SEVERITIES, f"{name}: severity must be one of {SEVERITIES}"
    ann = rule.get("annotations", {})
    assert ann.get("summary"), f"{name}: no summary"
    desc = ann.get("description", "")
    assert "$value" in desc, f"{name}: the description must show the value"
    assert "$labels." in desc, f"{name}: the description must show the labels"
    url = ann.get("runbook_url", "")
    assert url.startswith(RUNBOOK_BASE_URL), f"{name}: runbook_url must start with {RUNBOOK_BASE_URL}"
    assert url == f"{RUNBOOK_BASE_URL}{name}.md", f"{name}: runbook_url should name {name}.md"
    runbook = REPO / "docs" / "runbooks" / url.removeprefix(RUNBOOK_BASE_URL)
    assert runbook.is_file(), f"{name}: {runbook} does not exist"
    text = runbook.read_text()
    for section in ("## What it means", "## Checks", "## Logs (LogQL)", "## Remedies"):
        assert section in text, f"{runbook}: missing {section!r}"
    assert re.search(r"```logql\n\{[a-z_]+=", text), f"{runbook}: no LogQL query"
    if "for" not in rule:
        assert name in NO_FOR_REVIEWED, f"{name}: add a `for` (or review it into NO_FOR_REVIEWED)"


def test_no_orphan_runbooks_for_our_alerts():
    """Every runbook we own names an alert that exists (the anomaly helper owns the agent's own
    alert names; those pages are not checked here)."""
    agent_alerts = {"StorageNodeLatencyAnomaly", "ReplicationLagAnomaly", "DiskSmartDegrading", "GpuAnomaly",
                    "PipelineThroughputAnomaly", "HostDiskAnomaly", "CephOSDLatencyAnomaly",
                    "LogPatternNew", "LogPatternSurge", "LogPatternDisappeared"}
    pages = {p.stem for p in (REPO / "docs" / "runbooks").glob("*.md")} - agent_alerts - {"README"}
    assert not pages - promql.alert_names(), f"runbooks without an alert: {sorted(pages - promql.alert_names())}"


def test_alert_names_do_not_clash_with_the_agents_own():
    clash = promql.alert_names() & {"StorageNodeLatencyAnomaly", "ReplicationLagAnomaly", "DiskSmartDegrading",
                                     "GpuAnomaly", "PipelineThroughputAnomaly", "HostDiskAnomaly",
                                     "CephOSDLatencyAnomaly",
                                     "LogPatternNew", "LogPatternSurge", "LogPatternDisappeared"}
    assert not clash, clash


# -- SLO rules ---------------------------------------------------------------------------------


def run_gen(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(GEN_SLO), *args], capture_output=True, text=True, timeout=60)


def test_generated_slo_rules_are_up_to_date(tmp_path):
    r = run_gen("--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    fresh = sorted(p.name for p in tmp_path.glob("*.yml"))
    checked_in = sorted(p.name for p in (RULES / "generated").glob("*.yml"))
    assert fresh == checked_in, "rules/generated is stale: run python3 scripts/gen-slo-rules.py"
    _, mismatch, errors = filecmp.cmpfiles(tmp_path, RULES / "generated", fresh, shallow=False)
    assert not mismatch and not errors, f"stale generated rules {mismatch}: run python3 scripts/gen-slo-rules.py"


def test_generated_slo_rules_have_every_window_and_burn_alert():
    spec = yaml.safe_load((RULES / "slo" / "slos.yaml").read_text())
    recs = {(r["labels"]["slo"], r["record"]) for _, r in promql.rules() if "record" in r and "slo" in r.get("labels", {})}
    burn = {(r["labels"]["slo"], r["labels"]["severity"], r["labels"]["long_window"], r["labels"]["short_window"],
             r["labels"]["burn_rate"]) for _, r in alert_rules() if "slo" in r.get("labels", {})}
    for s in spec["slos"]:
        n = s["name"]
        for w in ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"]:
            assert (n, f"slo:sli_error:ratio_rate{w}") in recs, (n, w)
        assert (n, "slo:objective:ratio") in recs and (n, "slo:error_budget_remaining:ratio") in recs
        assert {b[1:] for b in burn if b[0] == n} == {
            ("page", "1h", "5m", "14.4"), ("page", "6h", "30m", "6"),
            ("ticket", "1d", "2h", "3"), ("ticket", "3d", "6h", "1"),
        }, n


def test_slo_generator_removes_files_of_deleted_slos(tmp_path):
    (tmp_path / "slo-gone.yml").write_text("groups: []\n")
    assert run_gen("--out", str(tmp_path)).returncode == 0
    assert not (tmp_path / "slo-gone.yml").exists()


@pytest.mark.parametrize("mutate,message", [
    (lambda s: s["slos"][0].update(objective=1.5), "objective"),
    (lambda s: s["slos"][0]["sli"].update(type="magic"), "sli.type"),
    (lambda s: s["slos"][0]["sli"].update(good="x"), "exactly one of"),
    (lambda s: s["slos"][0].update(colour="blue"), "unknown keys"),
    (lambda s: s["slos"][1]["sli"].update(threshold_seconds=0.25), "quoted bucket bound"),
    (lambda s: s["slos"].append(dict(s["slos"][0])), "defined twice"),
])
def test_slo_generator_rejects_a_bad_spec(tmp_path, mutate, message):
    spec = yaml.safe_load((RULES / "slo" / "slos.yaml").read_text())
    mutate(spec)
    bad = tmp_path / "slos.yaml"
    bad.write_text(yaml.safe_dump(spec))
    r = run_gen("--spec", str(bad), "--out", str(tmp_path / "out"))
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr, r.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.yml"))
