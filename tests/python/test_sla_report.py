"""`node-agent sla-report` against a real Prometheus holding known data.

Four days of samples (one a minute, two nodes) are written as OpenMetrics, turned into TSDB blocks
with `promtool tsdb create-blocks-from openmetrics` in the test Prometheus's data directory, and
the report's numbers are compared, to 4 decimal places, with the same figures computed here from
the generator. Prometheus runs with `--query.lookback-delta=59s`: backfilled series carry no
staleness markers, and a lookback shorter than the sample interval makes a series end where its
samples end, as a resolved alert's series does in a live Prometheus.

The HTML report is opened in headless Chromium, and the DOM it builds must hold the charts.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.procs import REPO_ROOT, release_binary
from harness.prometheus import Prometheus

DAY = 86_400
FROM = 1_767_225_600  # 2026-01-01T00:00:00Z
DAYS = 4
TO = FROM + DAYS * DAY
MINUTES = DAYS * 1440
NODES = ["node-a", "node-b"]
BUCKETS = ["0.1", "0.25", "1", "+Inf"]
SPEC = """\
version: 1
slos:
  - name: storage-availability
    description: S3 requests that do not end in a server error.
    alert: StorageAvailabilityBudgetBurn
    objective: 0.999
    window: 30d
    sli:
      type: ratio
      total: storage_node_op_latency_seconds_count
      bad: storage_node_op_latency_seconds_count{outcome="server_error"}
  - name: storage-latency
    description: Successful GET and PUT within 250 ms.
    alert: StorageLatencyBudgetBurn
    objective: 0.99
    window: 30d
    sli:
      type: latency
      histogram: storage_node_op_latency_seconds
      matchers: op=~"get|put", outcome="success"
      threshold_seconds: "0.25"
  - name: replication-freshness
    description: Replication lag under 60 s.
    alert: ReplicationFreshnessBudgetBurn
    objective: 0.99
    window: 30d
    sli:
      type: threshold
      metric: storage_node_replication_lag_seconds
      below: 60
"""


# -- the known data -------------------------------------------------------------------------------

def success_buckets(node: str, m: int) -> list[int]:
    """Per-minute increments of the success histogram: [<=0.1, (0.1,0.25], (0.25,1], >1]."""
    day, minute_of_day = divmod(m, 1440)
    fast = 60 + (m % 7) + (3 if node == "node-b" else 0)
    mid = 3
    slow = 1 if m % 10 == 0 else 0
    if node == "node-b" and day == 2 and 600 <= minute_of_day < 720:
        slow += 10  # a slow disk for two hours
    very_slow = 1 if m % 50 == 0 else 0
    return [fast, mid, slow, very_slow]


def errors(node: str, m: int) -> int:
    day, minute_of_day = divmod(m, 1440)
    if node == "node-b" and day == 1 and 600 <= minute_of_day < 660:
        return 5  # an hour of 5xx
    return 1 if (m + (13 if node == "node-b" else 0)) % 97 == 0 else 0


def lag(node: str, m: int) -> float:
    day, minute_of_day = divmod(m, 1440)
    if node == "node-b" and day == 1 and 720 <= minute_of_day < 810:
        return 120.0
    if node == "node-a" and day == 3 and 60 <= minute_of_day < 90:
        return 61.5
    return 2.0 + (m % 5)


def alert_firing(m: int) -> bool:
    day, minute_of_day = divmod(m, 1440)
    return (day == 1 and 605 <= minute_of_day < 670) or (day == 3 and 100 <= minute_of_day < 102)


def openmetrics() -> str:
    lines = ["# TYPE storage_node_op_latency_seconds histogram",
             "# TYPE storage_node_replication_lag_seconds gauge",
             "# TYPE ALERTS gauge"]
    cum = {(n, o): [1000, 1000, 1000, 1000] for n in NODES for o in ("success", "server_error")}
    sums = {k: 50.0 for k in cum}
    for m in range(MINUTES + 1):
        ts = FROM + 60 * m
        for n in NODES:
            if m > 0:
                inc = success_buckets(n, m)
                for i in range(4):
                    cum[(n, "success")][i] += sum(inc[: i + 1])
                sums[(n, "success")] += 0.05 * sum(inc)
                e = errors(n, m)
                for i in range(4):
                    cum[(n, "server_error")][i] += e
                sums[(n, "server_error")] += 0.01 * e
            for o in ("success", "server_error"):
                base = f'node_id="{n}",op="get",outcome="{o}"'
                for le, v in zip(BUCKETS, cum[(n, o)]):
                    lines.append(f'storage_node_op_latency_seconds_bucket{{{base},le="{le}"}} {v} {ts}')
                lines.append(f"storage_node_op_latency_seconds_count{{{base}}} {cum[(n, o)][3]} {ts}")
                lines.append(f"storage_node_op_latency_seconds_sum{{{base}}} {sums[(n, o)]:.3f} {ts}")
            peer = "node-b" if n == "node-a" else "node-a"
            lines.append(f'storage_node_replication_lag_seconds{{node_id="{n}",peer="{peer}"}} {lag(n, m)} {ts}')
        if alert_firing(m):
            lines.append(f'ALERTS{{alertname="StorageAvailabilityBudgetBurn",alertstate="firing",'
                         f'severity="page",slo="storage-availability"}} 1 {ts}')
    # promtool wants each series' samples together and in time order within its input.
    by_series: dict[str, list[str]] = {}
    for ln in lines[3:]:
        by_series.setdefault(ln.rsplit(" ", 2)[0], []).append(ln)
    return "\n".join(lines[:3] + [ln for s in by_series.values() for ln in s] + ["# EOF", ""])


# -- the expected figures ---------------------------------------------------------------------

def minutes(day: int | None = None) -> range:
    """Increments counted by increase() over a day: minutes (start, end]."""
    if day is None:
        return range(1, MINUTES + 1)
    return range(day * 1440 + 1, (day + 1) * 1440 + 1)


def availability(node: str | None, day: int | None = None) -> tuple[float, float]:
    nodes = [node] if node else NODES
    total = sum(sum(success_buckets(n, m)) + errors(n, m) for n in nodes for m in minutes(day))
    bad = sum(errors(n, m) for n in nodes for m in minutes(day))
    return total - bad, total


def latency_sli(node: str | None, day: int | None = None) -> tuple[float, float]:
    nodes = [node] if node else NODES
    good = sum(sum(success_buckets(n, m)[:2]) for n in nodes for m in minutes(day))
    total = sum(sum(success_buckets(n, m)) for n in nodes for m in minutes(day))
    return good, total


def freshness(node: str | None, day: int | None = None) -> tuple[float, float]:
    nodes = [node] if node else NODES
    pts = range(MINUTES) if day is None else range(day * 1440, (day + 1) * 1440)
    good = sum(1 for n in nodes for m in pts if lag(n, m) < 60)
    return good, len(nodes) * len(pts)


def quantile(q: float, node: str | None) -> float:
    """Prometheus' histogram_quantile over the period's bucket increases."""
    nodes = [node] if node else NODES
    counts = [0, 0, 0, 0]
    for n in nodes:
        for m in minutes():
            inc = success_buckets(n, m)
            for i in range(4):
                counts[i] += sum(inc[: i + 1])
    bounds = [0.1, 0.25, 1.0, math.inf]
    rank = q * counts[-1]
    i = next(i for i, c in enumerate(counts) if c >= rank)
    if bounds[i] == math.inf:
        return bounds[-2]
    lo, c_lo = (0.0, 0) if i == 0 else (bounds[i - 1], counts[i - 1])
    return lo + (bounds[i] - lo) * (rank - c_lo) / (counts[i] - c_lo)


# -- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def prom(tmp_path_factory):
    root = tmp_path_factory.mktemp("prom")
    om = root / "data.om"
    om.write_text(openmetrics())
    (root / "data").mkdir()
    r = subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=24h",
                        str(om), str(root / "data")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    p = Prometheus(root=root, config_yaml="global:\n  scrape_interval: 1m\nscrape_configs: []\n",
                   extra_args=("--query.lookback-delta=59s", "--storage.tsdb.retention.time=100y"))
    p.start()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory) -> Path:
    f = tmp_path_factory.mktemp("spec") / "slos.yaml"
    f.write_text(SPEC)
    return f


def report(prom, spec_file, fmt: str, *extra: str) -> subprocess.CompletedProcess:
    agent = release_binary("node-agent", "NODE_AGENT_BIN")
    return subprocess.run([str(agent), "sla-report", "--prometheus", prom.url, "--slo", str(spec_file),
                           "--from", "2026-01-01", "--to", "2026-01-05", "--format", fmt, *extra],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def json_report(prom, spec_file) -> dict:
    r = report(prom, spec_file, "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def slo(doc: dict, name: str) -> dict:
    return next(s for s in doc["slos"] if s["name"] == name)


def r4(x: float) -> float:
    return round(x, 4)


def check(att: dict, good_total: tuple[float, float], objective: float):
    good, total = good_total
    assert att["total"] == pytest.approx(total, abs=1e-6)
    assert att["good"] == pytest.approx(good, abs=1e-6)
    assert r4(att["sli"]) == r4(good / total)
    assert r4(att["budget_consumed"]) == r4((1 - good / total) / (1 - objective))
    assert att["met"] == (good / total >= objective)


# -- tests ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,fn,objective", [
    ("storage-availability", availability, 0.999),
    ("storage-latency", latency_sli, 0.99),
    ("replication-freshness", freshness, 0.99),
])
def test_sli_and_budget_per_slo_node_and_day(json_report, name, fn, objective):
    s = slo(json_report, name)
    check(s["overall"], fn(None), objective)
    assert [n["node"] for n in s["nodes"]] == NODES
    for n in s["nodes"]:
        check(n, fn(n["node"]), objective)
    assert [d["day"] for d in s["daily"]] == ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"]
    for i, d in enumerate(s["daily"]):
        check(d, fn(None, i), objective)
    expected_worst = sorted(range(DAYS), key=lambda i: (fn(None, i)[0] / fn(None, i)[1], i))[:3]
    assert [d["start"] for d in s["worst_days"]] == [FROM + i * DAY for i in expected_worst]


def test_the_known_bad_stretches_show(json_report):
    """The data's incidents land where they were put: sanity of the generator itself."""
    av = slo(json_report, "storage-availability")
    assert av["worst_days"][0]["day"] == "2026-01-02" and av["worst_days"][0]["met"] is False
    assert av["overall"]["met"] is True  # a bad day, but the period is within budget
    lat = slo(json_report, "storage-latency")
    assert lat["worst_days"][0]["day"] == "2026-01-03"
    by_node = {n["node"]: n for n in lat["nodes"]}
    assert by_node["node-b"]["sli"] < by_node["node-a"]["sli"]


def test_incidents_come_from_alerts(json_report):
    av = slo(json_report, "storage-availability")
    assert [(i["start"], i["end"], i["severity"]) for i in av["incidents"]] == [
        (FROM + DAY + 605 * 60, FROM + DAY + 670 * 60, "page"),
        (FROM + 3 * DAY + 100 * 60, FROM + 3 * DAY + 102 * 60, "page"),
    ]
    assert av["incidents"][0]["duration_seconds"] == 65 * 60
    assert av["incidents"][0]["start_text"] == "2026-01-02 10:05:00Z"
    assert slo(json_report, "storage-latency")["incidents"] == []


def test_latency_percentiles(json_report):
    lat = slo(json_report, "storage-latency")["latency"]
    assert [row["node"] for row in lat] == ["all"] + NODES
    for row in lat:
        node = None if row["node"] == "all" else row["node"]
        for key, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
            assert r4(row[key]) == r4(quantile(q, node)), (row, key)


def test_replication_lag_compliance(json_report):
    lag_rows = {r["node"]: r for r in slo(json_report, "replication-freshness")["lag"]}
    assert set(lag_rows) == set(NODES)
    for n in NODES:
        good, total = freshness(n)
        assert r4(lag_rows[n]["compliance"]) == r4(good / total)
        assert lag_rows[n]["max_seconds"] == max(lag(n, m) for m in range(MINUTES))
        assert lag_rows[n]["threshold_seconds"] == 60


def test_markdown_and_csv_carry_the_same_numbers(prom, spec_file, json_report):
    md = report(prom, spec_file, "md")
    assert md.returncode == 0, md.stderr
    av = slo(json_report, "storage-availability")
    assert f"{av['overall']['sli'] * 100:.4f}%" in md.stdout
    assert "## replication-freshness" in md.stdout and "**Worst days**" in md.stdout
    assert "2026-01-02 10:05:00Z" in md.stdout
    c = report(prom, spec_file, "csv")
    assert c.returncode == 0, c.stderr
    rows = list(csv.DictReader(io.StringIO(c.stdout)))
    assert len(rows) == 3 * (1 + len(NODES))
    row = next(r for r in rows if r["slo"] == "storage-latency" and r["node"] == "node-b")
    good, total = latency_sli("node-b")
    assert r4(float(row["sli"])) == r4(good / total)


def test_html_renders_in_chromium_with_its_charts(prom, spec_file, tmp_path):
    chromium = shutil.which("chromium")
    assert chromium, "chromium not installed: apt-get install chromium (scripts/test.sh does)"
    out = tmp_path / "report.html"
    r = report(prom, spec_file, "html", "--output", str(out))
    assert r.returncode == 0, r.stderr
    html = out.read_text()
    # Self-contained: no script, stylesheet link, image or font fetched from anywhere.
    assert "<script" not in html and "<link" not in html and not re.search(r"(src|href)=\"[a-z]+:", html)
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--disable-component-update", "--disable-sync", "--no-first-run",
                          f"--user-data-dir={tmp_path / 'chrome'}", "--dump-dom", out.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    d = dom.stdout
    # Per SLO: a budget bar, a daily SLI chart with its line and objective, an incident timeline.
    assert d.count('<svg class="chart sli"') == 3
    assert d.count('<svg class="chart budget"') == 3
    assert d.count('<svg class="chart incidents"') == 3
    assert d.count('class="sli-line"') == 3 and d.count('class="objective"') == 3
    assert d.count('<rect class="incident"') == 2
    assert "SLA report 2026-01-01 00:00:00Z to 2026-01-05 00:00:00Z" in d
    shot = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--no-first-run", f"--user-data-dir={tmp_path / 'chrome2'}", "--window-size=800,1400",
                           f"--screenshot={tmp_path / 'report.png'}", out.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert shot.returncode == 0 and (tmp_path / "report.png").stat().st_size > 10_000


def test_bad_input_is_a_clear_error(prom, spec_file, tmp_path):
    r = report(prom, spec_file, "pdf")
    assert r.returncode == 1 and "unknown format" in r.stderr
    agent = release_binary("node-agent", "NODE_AGENT_BIN")
    bad = tmp_path / "bad.yaml"
    bad.write_text(SPEC.replace("objective: 0.99\n", "objective: 99\n", 1))
    r = subprocess.run([str(agent), "sla-report", "--prometheus", prom.url, "--slo", str(bad), "--from", "2026-01-01",
                        "--to", "2026-01-02"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "objective 99 not in (0, 1)" in r.stderr
    r = subprocess.run([str(agent), "sla-report", "--prometheus", "http://127.0.0.1:1", "--slo", str(spec_file),
                        "--from", "2026-01-01", "--to", "2026-01-02"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "query" in r.stderr
