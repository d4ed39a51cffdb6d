"""dashboards/: generated JSON up to date, Grafana's schema (@grafana/schema with TypeScript), and
the conventions the boards share: datasource variables, units, thresholds, links, layout."""

from __future__ import annotations

import filecmp
import json
import re
import shutil
import subprocess
import sys

import pytest

from harness import promql

REPO = promql.REPO_ROOT
TYPECHECK_DIR = REPO / "tests" / "dashboards"
NO_UNIT_PANELS = {"row", "alertlist", "logs", "text"}
EXPECTED = {"fleet-overview", "storage-node", "replication", "disks", "gpu", "pipelines", "agent", "slo", "logs",
            "anomalies"}
BOARDS = promql.dashboards()


def node() -> str:
    path = shutil.which("node")
    if not path:
        pytest.fail("node not installed: apt-get install nodejs npm (scripts/test.sh does)", pytrace=False)
    if not (TYPECHECK_DIR / "node_modules" / "@grafana" / "schema").is_dir():
        pytest.fail("run `npm ci` in tests/dashboards (scripts/test.sh does)", pytrace=False)
    return path


def typecheck(folder) -> subprocess.CompletedProcess:
    return subprocess.run([node(), str(TYPECHECK_DIR / "typecheck.mjs"), str(folder)], capture_output=True, text=True,
                          timeout=180, cwd=TYPECHECK_DIR)


def test_the_whole_set_exists():
    assert {p.stem for p, _ in BOARDS} == EXPECTED


def test_generated_dashboards_are_up_to_date(tmp_path):
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "gen-dashboards.py"), "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in tmp_path.glob("*.json"))
    assert names == sorted(p.name for p, _ in BOARDS), "dashboards/ is stale: run python3 scripts/gen-dashboards.py"
    _, mismatch, errors = filecmp.cmpfiles(tmp_path, REPO / "dashboards", names, shallow=False)
    assert not mismatch and not errors, f"stale dashboards {mismatch}: run python3 scripts/gen-dashboards.py"


def test_dashboards_type_check_against_grafana_schema():
    r = typecheck(REPO / "dashboards")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{len(EXPECTED)} dashboards type-check" in r.stdout, r.stdout


@pytest.mark.parametrize("break_it", [
    lambda d: d["panels"][1]["fieldConfig"]["defaults"]["thresholds"].update(mode="absolut"),
    lambda d: d.update(schemaVersion="39"),
    lambda d: d["panels"][1].update(gridPosition={"x": 0}),
    lambda d: d["templating"]["list"][0].update(type="datasources"),
], ids=["enum value", "type of a field", "unknown panel key", "variable type"])
def test_schema_check_rejects_a_broken_dashboard(tmp_path, break_it):
    d = json.loads((REPO / "dashboards" / "slo.json").read_text())
    break_it(d)
    (tmp_path / "broken.json").write_text(json.dumps(d))
    r = typecheck(tmp_path)
    assert r.returncode != 0, r.stdout
    assert "error TS" in r.stdout + r.stderr


def walk(x, path=""):
    if isinstance(x, dict):
        for k, v in x.items():
            yield path + "/" + k, k, v
            yield from walk(v, path + "/" + k)
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from walk(v, f"{path}/{i}")


@pytest.mark.parametrize("path,d", BOARDS, ids=[p.stem for p, _ in BOARDS])
def test_dashboard_conventions(path, d):
    assert d["schemaVersion"] >= 39
    assert d["uid"].startswith("nodewatch-") and "nodewatch" in d["tags"]
    variables = {v["name"]: v for v in d["templating"]["list"]}
    ds = variables.get("datasource")
    assert ds and ds["type"] == "datasource" and ds["query"] == "prometheus", "needs a Prometheus datasource variable"
    # Never a hard-coded datasource UID: every reference is a template variable (or Grafana's own).
    for where, key, value in walk(d):
        if key == "datasource" and isinstance(value, dict) and "uid" in value:
            assert value["uid"].startswith("${") or value["uid"] == "-- Grafana --", f"{where}: hard-coded uid {value['uid']!r}"
    uses_loki = any(isinstance(v, dict) and v.get("type") == "loki" for _, k, v in walk(d) if k == "datasource")
    if uses_loki:
        assert variables.get("loki", {}).get("query") == "loki", "a board that queries Loki needs a `loki` variable"
    ids = [p["id"] for p in promql.all_panels(d)]
    assert len(ids) == len(set(ids))
    for p in promql.all_panels(d):
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        if p["type"] in NO_UNIT_PANELS:
            continue
        defaults = p["fieldConfig"]["defaults"]
        assert defaults.get("unit"), f"{p['title']}: no unit"
        steps = defaults.get("thresholds", {}).get("steps", [])
        assert steps and steps[0]["value"] is None, f"{p['title']}: thresholds must start at -inf"
        assert p["targets"], f"{p['title']}: no query"
        assert p.get("description") is not None
    # no two panels overlap
    cells = set()
    for p in promql.all_panels(d):
        g = p["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps another panel"
                cells.add((x, y))
    # every referenced template variable is defined
    builtins = {"__rate_interval", "__interval", "__range", "__auto", "__url_time_range", "__field", "datasource", "loki"}
    for _, key, value in walk(d):
        if key in ("expr", "query", "url") and isinstance(value, str):
            for m in re.finditer(r"\$\{?([a-zA-Z_][a-zA-Z0-9_]*)", value):
                assert m.group(1) in variables or m.group(1) in builtins, f"undefined variable ${m.group(1)} in {value!r}"


def test_boards_link_to_each_other_and_to_the_logs_by_node_and_time():
    for path, d in BOARDS:
        assert any(l["type"] == "dashboards" and "nodewatch" in l["tags"] for l in d["links"]), path.name
    linked = {path.stem for path, d in BOARDS
              for p in promql.all_panels(d)
              for l in p.get("fieldConfig", {}).get("defaults", {}).get("links", [])
              if "/d/nodewatch-logs/" in l["url"] and "var-node=" in l["url"] and "${__url_time_range}" in l["url"]}
    assert {"fleet-overview", "storage-node", "replication"} <= linked, linked
    logs = dict((p.stem, d) for p, d in BOARDS)["logs"]
    assert "node" in {v["name"] for v in logs["templating"]["list"]}
    assert any(p["type"] == "logs" for p in logs["panels"])
