#!/usr/bin/env python3
"""Writes the Grafana dashboards in dashboards/*.json.

    python3 scripts/gen-dashboards.py [--out dashboards]

The dashboards are built here rather than edited as JSON so that every panel gets the same
datasource reference (the `$datasource` / `$loki` template variables, never a hard-coded UID),
a unit, thresholds, a grid position and the same links: a row of links to the other Nodewatch
boards, and on every panel that shows a node a data link to the Logs board for that node and time
range. A test regenerates into a temporary folder and fails when the checked-in JSON is stale.

Series conventions (see rules/): storage-node series are read through the node agent, which adds
`node_id` and `node_name`; host, SMART and GPU series carry the agent's `instance`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SCHEMA_VERSION = 39
TAG = "nodewatch"
PROM = {"type": "prometheus", "uid": "${datasource}"}
LOKI = {"type": "loki", "uid": "${loki}"}
LOGS_UID = "nodewatch-logs"

# -- building blocks -------------------------------------------------------------------------


def thresholds(*steps: tuple[float | None, str]) -> dict:
    """Absolute threshold steps; the first step's value is None (minus infinity)."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


OK = thresholds((None, "green"))


def logs_link(node_expr: str = "${__field.labels.node_id}") -> dict:
    return {
        "title": "Logs of this node",
        "url": f"/d/{LOGS_UID}/nodewatch-logs?var-node={node_expr}&${{__url_time_range}}",
        "targetBlank": False,
    }


def target(expr: str, legend: str = "", ref: str = "A", instant: bool = False, fmt: str | None = None) -> dict:
    t = {"datasource": PROM, "refId": ref, "expr": expr, "legendFormat": legend or "__auto", "range": not instant,
         "instant": instant}
    if fmt:
        t["format"] = fmt
    return t


def panel(kind: str, title: str, targets: list[dict], unit: str, desc: str = "", th: dict = OK,
          w: int = 12, h: int = 8, links: bool = False, custom: dict | None = None, options: dict | None = None,
          overrides: list | None = None, minv: float | None = None, maxv: float | None = None,
          datasource: dict = PROM) -> dict:
    defaults: dict = {"unit": unit, "thresholds": th, "color": {"mode": "palette-classic" if kind == "timeseries" else "thresholds"}}
    if custom:
        defaults["custom"] = custom
    if minv is not None:
        defaults["min"] = minv
    if maxv is not None:
        defaults["max"] = maxv
    if links:
        defaults["links"] = [logs_link()]
    p = {
        "type": kind,
        "title": title,
        "description": desc,
        "datasource": datasource,
        "targets": [dict(t, refId=chr(ord("A") + i)) for i, t in enumerate(targets)],
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options or {},
        "gridPos": {"h": h, "w": w, "x": 0, "y": 0},
    }
    return p


def ts(title, targets, unit, desc="", th=OK, **kw):
    kw.setdefault("options", {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]},
                              "tooltip": {"mode": "multi", "sort": "desc"}})
    kw.setdefault("custom", {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
                             "thresholdsStyle": {"mode": "off" if th is OK else "dashed"}})
    return panel("timeseries", title, targets, unit, desc, th, **kw)


def stat(title, targets, unit, desc="", th=OK, w=6, h=4, **kw):
    kw.setdefault("options", {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                              "colorMode": "background", "graphMode": "area", "textMode": "auto"})
    return panel("stat", title, targets, unit, desc, th, w=w, h=h, **kw)


def table(title, targets, unit, desc="", th=OK, **kw):
    kw.setdefault("options", {"showHeader": True, "cellHeight": "sm"})
    kw.setdefault("custom", {"cellOptions": {"type": "color-background"}, "align": "auto"})
    return panel("table", title, targets, unit, desc, th, **kw)


def heatmap(title, expr, desc=""):
    return panel(
        "heatmap", title, [target(expr, "{{le}}", fmt="heatmap")], "s", desc,
        options={"calculate": False, "yAxis": {"unit": "s"}, "cellGap": 1, "color": {"mode": "scheme", "scheme": "Oranges"},
                 "tooltip": {"mode": "single", "yHistogram": True}},
    )


def ds_var() -> dict:
    return {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
            "hide": 0, "refresh": 1, "regex": "", "options": [], "includeAll": False, "multi": False}


def loki_var() -> dict:
    return {"name": "loki", "label": "Loki", "type": "datasource", "query": "loki",
            "hide": 0, "refresh": 1, "regex": "", "options": [], "includeAll": False, "multi": False}


def query_var(name: str, label: str, query: str, multi: bool = True) -> dict:
    """A Prometheus label_values() variable; 'All' means the regex .* (also matching no label)."""
    return {"name": name, "label": label, "type": "query", "datasource": PROM,
            "query": {"query": query, "refId": f"{name}-query"},
            "hide": 0, "refresh": 2, "regex": "", "sort": 1, "options": [],
            "includeAll": True, "allValue": ".*", "multi": multi}


CLUSTER = query_var("cluster", "Cluster", 'label_values(up{job=~"storage-node|nodewatch-agent"}, cluster)')
NODE = query_var("node", "Node", 'label_values(storage_node_build_info{cluster=~"$cluster"}, node_id)')
INSTANCE = query_var("instance", "Agent", 'label_values(nodewatch_agent_collector_success{cluster=~"$cluster"}, instance)')


def dashboard(uid: str, title: str, desc: str, variables: list[dict], panels: list[dict], time_from: str = "now-6h") -> dict:
    lay_out(panels)
    for i, p in enumerate(panels, 1):
        p["id"] = i
    return {
        "uid": uid,
        "title": title,
        "description": desc,
        "tags": [TAG],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "30s",
        "time": {"from": time_from, "to": "now"},
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "links": [{"title": "Nodewatch", "type": "dashboards", "tags": [TAG], "asDropdown": True, "icon": "external link",
                   "includeVars": False, "keepTime": True, "targetBlank": False, "tooltip": "Other Nodewatch boards", "url": ""}],
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"}]},
        "templating": {"list": variables},
        "panels": panels,
    }


def row(title: str) -> dict:
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "gridPos": {"h": 1, "w": 24, "x": 0, "y": 0}}


def lay_out(panels: list[dict]) -> None:
    """Places panels left to right in rows of 24 columns."""
    x = y = row_h = 0
    for p in panels:
        g = p["gridPos"]
        if x + g["w"] > 24 or p["type"] == "row":
            x, y, row_h = 0, y + row_h, 0
        g["x"], g["y"] = x, y
        x += g["w"]
        row_h = max(row_h, g["h"])
        if p["type"] == "row":
            x, y, row_h = 0, y + g["h"], 0


# -- the boards ------------------------------------------------------------------------------

SN = 'cluster=~"$cluster", node_id=~"$node"'
OSD = 'ceph_daemon=~"$osd"'
AG = 'cluster=~"$cluster", instance=~"$instance"'


def fleet() -> dict:
    return dashboard(
        "nodewatch-fleet", "Nodewatch / Fleet overview",
        "Every node's health at a glance, the firing alerts, SLO status and error budget.",
        [ds_var(), CLUSTER, NODE],
        [
            stat("Storage nodes up", [target('sum(nodewatch_agent_storage_node_up{cluster=~"$cluster"})', instant=True)], "none",
                 "Storage nodes the agents can scrape.", thresholds((None, "red"), (1, "green"))),
            stat("Storage nodes down", [target('count(nodewatch_agent_storage_node_up{cluster=~"$cluster"} == 0) or vector(0)', instant=True)],
                 "none", "", thresholds((None, "green"), (1, "red"))),
            stat("Agents up", [target('sum(up{job="nodewatch-agent", cluster=~"$cluster"})', instant=True)], "none", "",
                 thresholds((None, "red"), (1, "green"))),
            stat("Firing alerts", [target('count(ALERTS{alertstate="firing", cluster=~"$cluster"}) or vector(0)', instant=True)], "none",
                 "", thresholds((None, "green"), (1, "orange"), (5, "red"))),
            table("Node health", [
                target(f'max by (node_id, node_name) (storage_node_build_info{{{SN}}})', instant=True, fmt="table"),
                target(f'max by (node_id) (storage_node:used:ratio{{{SN}}})', instant=True, fmt="table"),
                target(f'max by (node_id) (storage_node:op_latency_seconds:p99_rate5m{{{SN}}})', instant=True, fmt="table"),
                target(f'max by (node_id) (storage_node_slow_ops{{{SN}}})', instant=True, fmt="table"),
                target(f'sum by (node_id) (increase(storage_node_checksum_errors_total{{{SN}}}[1d]))', instant=True, fmt="table"),
            ], "none", "One row per storage node: capacity used, p99 latency, slow ops, checksum errors in the last day.",
                w=24, h=8, links=True,
                overrides=[
                    {"matcher": {"id": "byName", "options": "Value #B"}, "properties": [
                        {"id": "displayName", "value": "Used"}, {"id": "unit", "value": "percentunit"},
                        {"id": "thresholds", "value": thresholds((None, "green"), (0.85, "orange"), (0.95, "red"))}]},
                    {"matcher": {"id": "byName", "options": "Value #C"}, "properties": [
                        {"id": "displayName", "value": "p99 latency"}, {"id": "unit", "value": "s"},
                        {"id": "thresholds", "value": thresholds((None, "green"), (0.25, "orange"), (1, "red"))}]},
                    {"matcher": {"id": "byName", "options": "Value #D"}, "properties": [
                        {"id": "displayName", "value": "Slow ops"}, {"id": "unit", "value": "none"},
                        {"id": "thresholds", "value": thresholds((None, "green"), (1, "red"))}]},
                    {"matcher": {"id": "byName", "options": "Value #E"}, "properties": [
                        {"id": "displayName", "value": "Checksum errors (1d)"}, {"id": "unit", "value": "none"},
                        {"id": "thresholds", "value": thresholds((None, "green"), (1, "red"))}]},
                ],
                options={"showHeader": True, "cellHeight": "sm"}),
            panel("alertlist", "Firing alerts", [], "none", "Alerts from Prometheus' rules, newest first.", w=12, h=10,
                  options={"showOptions": "current", "maxItems": 50, "sortOrder": 3, "dashboardAlerts": False,
                           "alertName": "", "dashboardTitle": "", "tags": [],
                           "stateFilter": {"firing": True, "pending": True, "noData": False, "normal": False, "error": True}}),
            table("SLO status", [
                target("1 - slo:sli_error:ratio_rate30d", instant=True, fmt="table"),
                target("slo:objective:ratio", instant=True, fmt="table"),
                target("slo:error_budget_remaining:ratio", instant=True, fmt="table"),
            ], "percentunit", "SLI over 30 days against the objective, and the error budget left.", w=12, h=10,
                th=thresholds((None, "red"), (0, "orange"), (0.25, "green")),
                overrides=[{"matcher": {"id": "byName", "options": "Value #C"},
                            "properties": [{"id": "displayName", "value": "Budget left"}]}],
                options={"showHeader": True, "cellHeight": "sm"}),
            ts("Ops per second by node", [target(f'sum by (node_id) (rate(storage_node_op_latency_seconds_count{{{SN}}}[$__rate_interval]))', "{{node_id}}")],
               "ops", links=True),
            ts("p99 op latency by node", [target(f'max by (node_id) (storage_node:op_latency_seconds:p99_rate5m{{{SN}}})', "{{node_id}}")],
               "s", th=thresholds((None, "green"), (1, "red")), links=True),
        ],
    )


def storage_node() -> dict:
    lat = f'storage_node_op_latency_seconds_bucket{{{SN}, op=~"$op"}}'
    return dashboard(
        "nodewatch-storage-node", "Nodewatch / Storage node",
        "One storage node like a Ceph OSD: op latency, ops/s, throughput, in-flight and slow ops, "
        "commit and apply latency, errors by code, capacity and its forecast.",
        [ds_var(), CLUSTER, NODE, query_var("op", "Op", 'label_values(storage_node_op_latency_seconds_count{node_id=~"$node"}, op)'),
         query_var("osd", "Ceph OSD", 'label_values(ceph_osd_op_w, ceph_daemon)')],
        [
            row("Latency"),
            heatmap("Op latency (heatmap)", f"sum by (le) (increase({lat}[$__rate_interval]))",
                    "Time from request arrival to the end of the response body."),
            ts("Op latency percentiles", [
                target(f"histogram_quantile(0.5, sum by (le, op) (rate({lat}[$__rate_interval])))", "p50 {{op}}"),
                target(f"histogram_quantile(0.9, sum by (le, op) (rate({lat}[$__rate_interval])))", "p90 {{op}}"),
                target(f"histogram_quantile(0.99, sum by (le, op) (rate({lat}[$__rate_interval])))", "p99 {{op}}"),
            ], "s", th=thresholds((None, "green"), (1, "red")), links=True),
            ts("p99 latency against the anomaly band", [
                target(f'storage_node:op_latency_seconds:p99_rate5m{{{SN}, op=~"$op"}}', "p99 {{node_id}} {{op}}"),
                target(f'nodewatch_anomaly_baseline{{metric=~"storage_node_op_latency.*", {SN}}}', "expected {{node_id}}"),
                target(f'nodewatch_anomaly_upper{{metric=~"storage_node_op_latency.*", {SN}}}', "upper {{node_id}}"),
                target(f'nodewatch_anomaly_lower{{metric=~"storage_node_op_latency.*", {SN}}}', "lower {{node_id}}"),
            ], "s", "The agent's expected band for op latency, with the measured p99.", links=True),
            ts("Commit and apply latency (p99)", [
                target(f"histogram_quantile(0.99, sum by (le) (rate(storage_node_commit_latency_seconds_bucket{{{SN}}}[$__rate_interval])))", "commit"),
                target(f"histogram_quantile(0.99, sum by (le) (rate(storage_node_apply_latency_seconds_bucket{{{SN}}}[$__rate_interval])))", "apply"),
            ], "s", "Commit: fsync of file and directory. Apply: write and rename.", thresholds((None, "green"), (0.5, "red"))),
            row("Load"),
            ts("Ops per second", [target(f'sum by (op, outcome) (rate(storage_node_op_latency_seconds_count{{{SN}, op=~"$op"}}[$__rate_interval]))', "{{op}} {{outcome}}")],
               "ops", links=True),
            ts("Throughput", [
                target(f"sum(rate(storage_node_read_bytes_total{{{SN}}}[$__rate_interval]))", "read"),
                target(f"sum(rate(storage_node_written_bytes_total{{{SN}}}[$__rate_interval]))", "written"),
            ], "Bps"),
            ts("In-flight and slow ops", [
                target(f"sum by (node_id) (storage_node_ops_in_flight{{{SN}}})", "in flight {{node_id}}"),
                target(f"sum by (node_id) (storage_node_slow_ops{{{SN}}})", "slow {{node_id}}"),
            ], "none", "Slow: in flight longer than the slow-op threshold.", thresholds((None, "green"), (1, "red")), links=True),
            ts("Errors by S3 code", [
                target(f"sum by (code) (rate(storage_node_request_errors_total{{{SN}}}[$__rate_interval]))", "{{code}}"),
                target(f'sum(rate(storage_node_op_latency_seconds_count{{{SN}, outcome="server_error"}}[$__rate_interval]))', "5xx (all)"),
            ], "reqps", links=True),
            row("Capacity and integrity"),
            stat("Used", [target(f"max(storage_node:used:ratio{{{SN}}})", instant=True)], "percentunit", "",
                 thresholds((None, "green"), (0.85, "orange"), (0.95, "red")), minv=0, maxv=1),
            stat("Objects", [target(f"sum(storage_node_objects{{{SN}}})", instant=True)], "short"),
            stat("Checksum errors (total)", [target(f"sum(storage_node_checksum_errors_total{{{SN}}})", instant=True)], "none", "",
                 thresholds((None, "green"), (1, "red"))),
            stat("Scrub progress", [target(f"min(storage_node_scrub_progress_ratio{{{SN}}})", instant=True)], "percentunit", "",
                 minv=0, maxv=1),
            ts("Free space and 24h forecast", [
                target(f"sum by (node_id) (storage_node_free_bytes{{{SN}}})", "free {{node_id}}"),
                target(f"sum by (node_id) (predict_linear(storage_node_free_bytes{{{SN}}}[6h], 86400))", "forecast in 24h {{node_id}}"),
                target(f"sum by (node_id) (storage_node_capacity_bytes{{{SN}}})", "capacity {{node_id}}"),
            ], "bytes", th=thresholds((None, "red"), (0, "green")), links=True),
            ts("Scrub", [
                target(f"sum(rate(storage_node_scrub_bytes_total{{{SN}}}[$__rate_interval]))", "scrubbed"),
                target(f"sum(increase(storage_node_scrub_errors_total{{{SN}}}[$__rate_interval]))", "errors"),
            ], "Bps", overrides=[{"matcher": {"id": "byName", "options": "errors"}, "properties": [{"id": "unit", "value": "none"}]}]),
            stat("Last full scrub", [target(f"time() - max(storage_node_scrub_last_completed_timestamp_seconds{{{SN}}} > 0)", instant=True)],
                 "s", "Time since the last completed scrub pass.", thresholds((None, "green"), (7 * 86400, "orange"))),
            row("Ceph OSDs (the agent's ceph source and the mgr prometheus module)"),
            # Ceph series carry `ceph_daemon` (and job/instance), never `cluster` or `node_id`:
            # these panels filter on the OSD only.
            ts("Ceph OSD op latency", [
                target(f'sum by (ceph_daemon) (rate(ceph_osd_op_r_latency_sum{{{OSD}}}[$__rate_interval])) / sum by (ceph_daemon) (rate(ceph_osd_op_r_latency_count{{{OSD}}}[$__rate_interval]))', "read {{ceph_daemon}}"),
                target(f'sum by (ceph_daemon) (rate(ceph_osd_op_w_latency_sum{{{OSD}}}[$__rate_interval])) / sum by (ceph_daemon) (rate(ceph_osd_op_w_latency_count{{{OSD}}}[$__rate_interval]))', "write {{ceph_daemon}}"),
            ], "s", "Mean client op latency (queue time included) of real Ceph OSDs, to compare with the storage node's.",
               thresholds((None, "green"), (0.5, "red"))),
            ts("Ceph OSD slow ops", [
                target(f'max by (ceph_daemon) (ceph_daemon_health_metrics{{type="SLOW_OPS", {OSD}}})', "slow {{ceph_daemon}}"),
                target(f'max by (ceph_daemon) (nodewatch_ceph_ops_in_flight{{{OSD}}})', "in flight {{ceph_daemon}}"),
            ], "none", "Ops in flight, and those older than osd_op_complaint_time (Ceph's SLOW_OPS).",
               thresholds((None, "green"), (1, "red"))),
            ts("Ceph OSD oldest op in flight", [
                target(f'max by (ceph_daemon) (nodewatch_ceph_oldest_op_age_seconds{{{OSD}}})', "{{ceph_daemon}}"),
                target(f'max by (ceph_daemon) (nodewatch_ceph_op_complaint_time_seconds{{{OSD}}})', "complaint time {{ceph_daemon}}"),
            ], "s", "Age of the oldest op in flight; above the complaint time it is a slow op.",
               thresholds((None, "green"), (30, "red"))),
            ts("Ceph admin sockets", [
                target(f'min by (instance, ceph_daemon) (nodewatch_agent_ceph_asok_up{{{OSD}}})', "up {{ceph_daemon}} ({{instance}})"),
                target(f'time() - max by (instance, ceph_daemon) (nodewatch_agent_ceph_asok_last_success_timestamp_seconds{{{OSD}}})', "seconds since last answer {{ceph_daemon}}"),
            ], "none", "1 when the agent's last read of the daemon's admin socket succeeded, and the time since its last answer.",
               thresholds((None, "red"), (1, "green"))),
        ],
    )


def replication() -> dict:
    R = f'{SN}, peer=~"$peer"'
    return dashboard(
        "nodewatch-replication", "Nodewatch / Replication",
        "Lag per peer, backlog, throughput and recovery progress.",
        [ds_var(), CLUSTER, NODE, query_var("peer", "Peer", 'label_values(storage_node_replication_lag_seconds{node_id=~"$node"}, peer)')],
        [
            ts("Lag per peer", [target(f"max by (node_id, peer) (storage_node_replication_lag_seconds{{{R}}})", "{{node_id}} → {{peer}}")],
               "s", th=thresholds((None, "green"), (60, "red")), links=True),
            ts("Peer reachable", [target(f"max by (node_id, peer) (storage_node_replication_peer_up{{{R}}})", "{{node_id}} → {{peer}}")],
               "bool_yes_no", th=thresholds((None, "red"), (1, "green")), minv=0, maxv=1),
            ts("Backlog entries", [target(f"sum by (node_id, peer) (storage_node_replication_pending_entries{{{R}}})", "{{node_id}} → {{peer}}")], "short"),
            ts("Backlog bytes", [target(f"sum by (node_id, peer) (storage_node_replication_pending_bytes{{{R}}})", "{{node_id}} → {{peer}}")], "bytes"),
            ts("Shipped", [target(f"sum by (node_id, peer) (rate(storage_node_replication_shipped_bytes_total{{{R}}}[$__rate_interval]))", "{{node_id}} → {{peer}}")], "Bps"),
            ts("Shipped entries", [target(f"sum by (node_id, peer) (rate(storage_node_replication_shipped_entries_total{{{R}}}[$__rate_interval]))", "{{node_id}} → {{peer}}")], "ops"),
            ts("Errors by reason", [target(f"sum by (peer, reason) (rate(storage_node_replication_errors_total{{{R}}}[$__rate_interval]))", "{{peer}} {{reason}}")],
               "ops", th=thresholds((None, "green"), (0.1, "red")), links=True),
            ts("Backlog full and drops", [
                target(f"max by (node_id, peer) (storage_node_replication_backlog_full{{{R}}})", "full {{node_id}} → {{peer}}"),
                target(f"sum by (node_id, peer) (increase(storage_node_replication_backlog_dropped_entries_total{{{R}}}[$__rate_interval]))", "dropped {{node_id}} → {{peer}}"),
                target(f"sum by (node_id) (increase(storage_node_write_quorum_failures_total{{{SN}}}[$__rate_interval]))", "quorum failures {{node_id}}"),
            ], "none", th=thresholds((None, "green"), (1, "red"))),
            ts("Recovery progress", [
                target(f"sum by (node_id, peer) (storage_node_recovery_objects_remaining{{{R}}})", "remaining {{node_id}} ← {{peer}}"),
                target(f"sum by (node_id, peer) (storage_node_recovery_active{{{R}}})", "active {{node_id}} ← {{peer}}"),
            ], "short"),
            ts("Recovery throughput", [
                target(f"sum by (node_id) (rate(storage_node_recovery_objects_total{{{R}}}[$__rate_interval]))", "objects {{node_id}}"),
                target(f"sum by (node_id) (rate(storage_node_recovery_bytes_total{{{R}}}[$__rate_interval]))", "bytes {{node_id}}"),
            ], "ops", overrides=[{"matcher": {"id": "byRegexp", "options": "bytes.*"}, "properties": [{"id": "unit", "value": "Bps"}]}]),
        ],
    )


def disks() -> dict:
    D = f'{AG}, device=~"$device"'
    attr = lambda name: f'smartctl_device_attribute{{{D}, attribute_name="{name}", attribute_value_type="raw"}}'
    return dashboard(
        "nodewatch-disks", "Nodewatch / Disks",
        "SMART health per device, the attributes that predict failure, NVMe wear and temperature.",
        [ds_var(), CLUSTER, INSTANCE, query_var("device", "Device", 'label_values(smartctl_device{instance=~"$instance"}, device)')],
        [
            table("SMART health", [
                target(f"max by (instance, device, model_name, serial_number, firmware_version) (smartctl_device{{{D}}})", instant=True, fmt="table"),
                target(f"max by (instance, device) (smartctl_device_smart_status{{{D}}})", instant=True, fmt="table"),
                target(f'max by (instance, device) (smartctl_device_temperature{{{D}, temperature_type="current"}})', instant=True, fmt="table"),
                target(f"max by (instance, device) (smartctl_device_power_on_seconds{{{D}}})", instant=True, fmt="table"),
                target(f"max by (instance, device) (smartctl_device_stale{{{D}}})", instant=True, fmt="table"),
            ], "none", "One row per device: SMART status (1 = passed), temperature, power-on time, stale values.", w=24, h=8,
                overrides=[
                    {"matcher": {"id": "byName", "options": "Value #B"}, "properties": [
                        {"id": "displayName", "value": "SMART passed"},
                        {"id": "thresholds", "value": thresholds((None, "red"), (1, "green"))}]},
                    {"matcher": {"id": "byName", "options": "Value #C"}, "properties": [
                        {"id": "displayName", "value": "Temperature"}, {"id": "unit", "value": "celsius"},
                        {"id": "thresholds", "value": thresholds((None, "green"), (50, "orange"), (60, "red"))}]},
                    {"matcher": {"id": "byName", "options": "Value #D"}, "properties": [
                        {"id": "displayName", "value": "Power on"}, {"id": "unit", "value": "s"}]},
                    {"matcher": {"id": "byName", "options": "Value #E"}, "properties": [
                        {"id": "displayName", "value": "Stale"},
                        {"id": "thresholds", "value": thresholds((None, "green"), (1, "orange"))}]},
                ], options={"showHeader": True, "cellHeight": "sm"}),
            ts("Reallocated, pending and uncorrectable sectors", [
                target(attr("Reallocated_Sector_Ct"), "reallocated {{instance}} {{device}}"),
                target(attr("Current_Pending_Sector"), "pending {{instance}} {{device}}"),
                target(attr("Offline_Uncorrectable"), "offline uncorrectable {{instance}} {{device}}"),
            ], "none", "ATA raw values; any growth predicts failure.", thresholds((None, "green"), (1, "orange"))),
            ts("NVMe media errors and critical warning", [
                target(f"smartctl_device_media_errors{{{D}}}", "media errors {{instance}} {{device}}"),
                target(f"smartctl_device_critical_warning{{{D}}}", "critical warning {{instance}} {{device}}"),
            ], "none", th=thresholds((None, "green"), (1, "red"))),
            ts("NVMe wear (percentage used)", [target(f"smartctl_device_percentage_used{{{D}}}", "{{instance}} {{device}}")],
               "percent", th=thresholds((None, "green"), (80, "orange"), (100, "red")), minv=0),
            ts("NVMe available spare", [
                target(f"smartctl_device_available_spare{{{D}}}", "spare {{instance}} {{device}}"),
                target(f"smartctl_device_available_spare_threshold{{{D}}}", "threshold {{instance}} {{device}}"),
            ], "percent", minv=0, maxv=100),
            ts("Temperature", [target(f'smartctl_device_temperature{{{D}, temperature_type="current"}}', "{{instance}} {{device}}")],
               "celsius", th=thresholds((None, "green"), (50, "orange"), (60, "red"))),
            ts("Disk busy (host)", [target(f"rate(node_disk_io_time_seconds_total{{{AG}}}[$__rate_interval])", "{{instance}} {{device}}")],
               "percentunit", "node_exporter's I/O time: the share of time the device was busy.", thresholds((None, "green"), (0.9, "red")),
               minv=0, maxv=1),
        ],
    )


def gpu() -> dict:
    G = f'{AG}, gpu=~"$gpu"'
    return dashboard(
        "nodewatch-gpu", "Nodewatch / GPU",
        "GPU utilisation, memory, power, temperature, clocks, XID and ECC errors, and GPU use per pod (dcgm-exporter names).",
        [ds_var(), CLUSTER, INSTANCE, query_var("gpu", "GPU", 'label_values(DCGM_FI_DEV_GPU_UTIL{instance=~"$instance"}, gpu)')],
        [
            stat("GPUs", [target(f"sum(nodewatch_gpu_devices{{{AG}}})", instant=True)], "none"),
            stat("XID errors (1h)", [target(f"count(max_over_time(DCGM_FI_DEV_XID_ERRORS{{{G}}}[1h]) > 0) or vector(0)", instant=True)],
                 "none", "", thresholds((None, "green"), (1, "red"))),
            stat("Uncorrectable ECC (total)", [target(f"sum(DCGM_FI_DEV_ECC_DBE_VOL_TOTAL{{{G}}})", instant=True)], "none", "",
                 thresholds((None, "green"), (1, "red"))),
            stat("Row remap failures", [target(f"sum(DCGM_FI_DEV_ROW_REMAP_FAILURE{{{G}}})", instant=True)], "none", "",
                 thresholds((None, "green"), (1, "red"))),
            ts("Utilisation", [
                target(f"DCGM_FI_DEV_GPU_UTIL{{{G}}}", "gpu {{instance}} {{gpu}}"),
                target(f"DCGM_FI_DEV_MEM_COPY_UTIL{{{G}}}", "memory copy {{instance}} {{gpu}}"),
            ], "percent", minv=0, maxv=100),
            ts("Framebuffer memory", [
                target(f"DCGM_FI_DEV_FB_USED{{{G}}}", "used {{instance}} {{gpu}}"),
                target(f"DCGM_FI_DEV_FB_FREE{{{G}}}", "free {{instance}} {{gpu}}"),
            ], "decmbytes", "dcgm-exporter reports framebuffer memory in MiB."),
            ts("Power", [target(f"DCGM_FI_DEV_POWER_USAGE{{{G}}}", "{{instance}} {{gpu}}")], "watt"),
            ts("Temperature", [
                target(f"DCGM_FI_DEV_GPU_TEMP{{{G}}}", "gpu {{instance}} {{gpu}}"),
                target(f"DCGM_FI_DEV_MEMORY_TEMP{{{G}}}", "memory {{instance}} {{gpu}}"),
            ], "celsius", th=thresholds((None, "green"), (80, "orange"), (90, "red"))),
            ts("Clocks", [
                target(f"DCGM_FI_DEV_SM_CLOCK{{{G}}}", "SM {{instance}} {{gpu}}"),
                target(f"DCGM_FI_DEV_MEM_CLOCK{{{G}}}", "memory {{instance}} {{gpu}}"),
            ], "MHz"),
            ts("Throttle reasons (bit mask)", [target(f"DCGM_FI_DEV_CLOCK_THROTTLE_REASONS{{{G}}}", "{{instance}} {{gpu}}")], "none",
               "0x4 SW power cap, 0x8 HW slowdown, 0x20 SW thermal, 0x40 HW thermal, 0x80 HW power brake."),
            ts("Memory errors", [
                target(f"increase(DCGM_FI_DEV_ECC_SBE_VOL_TOTAL{{{G}}}[$__rate_interval])", "ECC single-bit {{instance}} {{gpu}}"),
                target(f"increase(DCGM_FI_DEV_ECC_DBE_VOL_TOTAL{{{G}}}[$__rate_interval])", "ECC double-bit {{instance}} {{gpu}}"),
                target(f"DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS{{{G}}}", "uncorrectable remapped rows {{instance}} {{gpu}}"),
                target(f"DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS{{{G}}}", "correctable remapped rows {{instance}} {{gpu}}"),
            ], "none", th=thresholds((None, "green"), (1, "red"))),
            ts("XID and PCIe replays", [
                target(f"DCGM_FI_DEV_XID_ERRORS{{{G}}}", "last XID {{instance}} {{gpu}}"),
                target(f"rate(DCGM_FI_DEV_PCIE_REPLAY_COUNTER{{{G}}}[$__rate_interval])", "PCIe replays/s {{instance}} {{gpu}}"),
            ], "none"),
            ts("GPU memory per pod", [target(f"sum by (namespace, pod) (nodewatch_gpu_pod_memory_used_bytes{{{G}}})", "{{namespace}}/{{pod}}")], "bytes"),
            ts("GPU utilisation per pod", [target(f"sum by (namespace, pod) (nodewatch_gpu_pod_utilization_ratio{{{G}}})", "{{namespace}}/{{pod}}")],
               "percentunit", minv=0),
        ],
    )


def pipelines() -> dict:
    J = 'cluster=~"$cluster", job=~"$pipeline"'
    return dashboard(
        "nodewatch-pipelines", "Nodewatch / Pipelines",
        "Freshness, throughput, duration and failures of the data pipelines that push to the agents.",
        [ds_var(), CLUSTER, query_var("pipeline", "Pipeline", 'label_values(pipeline_runs_total{cluster=~"$cluster"}, job)')],
        [
            table("Freshness", [target(f"time() - max by (job) (pipeline_last_success_timestamp_seconds{{{J}}})", instant=True, fmt="table")],
                  "s", "Time since each pipeline's last successful run.", thresholds((None, "green"), (3600, "orange"), (7200, "red")), w=12),
            ts("Runs by status", [target(f"sum by (job, status) (increase(pipeline_runs_total{{{J}}}[$__rate_interval]))", "{{job}} {{status}}")], "none"),
            ts("Records processed", [target(f"sum by (job) (rate(pipeline_records_processed_total{{{J}}}[$__rate_interval]))", "{{job}}")], "rps"),
            ts("Run duration", [target(f"max by (job) (pipeline_run_duration_seconds{{{J}}})", "{{job}}")], "s"),
            ts("Failure ratio (1h)", [target(f'sum by (job) (increase(pipeline_runs_total{{{J}, status="failure"}}[1h])) / sum by (job) (increase(pipeline_runs_total{{{J}}}[1h]))', "{{job}}")],
               "percentunit", th=thresholds((None, "green"), (0.2, "red")), minv=0, maxv=1),
            ts("Push health", [
                target(f"time() - max by (job) (push_time_seconds{{{J}}})", "since last push {{job}}"),
                target(f"time() - max by (job) (nodewatch_pipeline_last_push_timestamp_seconds{{{J}}})", "since last push (agent) {{job}}"),
            ], "s"),
            ts("Agent push endpoints", [
                target('sum by (instance, code) (rate(nodewatch_agent_otlp_requests_total{cluster=~"$cluster"}[$__rate_interval]))', "OTLP {{instance}} {{code}}"),
                target('sum by (instance) (rate(nodewatch_agent_otlp_datapoints_received_total{cluster=~"$cluster"}[$__rate_interval]))', "OTLP points/s {{instance}}"),
                target('sum by (instance) (nodewatch_agent_pipeline_series{cluster=~"$cluster"})', "pushed series {{instance}}"),
                target('sum by (instance) (increase(nodewatch_agent_pipeline_expired_series_total{cluster=~"$cluster"}[$__rate_interval]))', "expired {{instance}}"),
            ], "short"),
        ],
    )


def agent() -> dict:
    return dashboard(
        "nodewatch-agent", "Nodewatch / Agent self-monitoring",
        "The node agent itself: collectors, the log and remote_write pipelines, and anything dropped.",
        [ds_var(), CLUSTER, INSTANCE],
        [
            row("Collectors"),
            table("Collector status", [target(f"nodewatch_agent_collector_success{{{AG}}}", instant=True, fmt="table")], "bool_yes_no",
                  "Whether each collector's last run succeeded.", thresholds((None, "red"), (1, "green")), w=8),
            ts("Collector duration", [target(f"nodewatch_agent_collector_duration_seconds{{{AG}}}", "{{instance}} {{collector}}")], "s", w=8),
            ts("Collector errors and timeouts", [
                target(f"sum by (instance, collector) (increase(nodewatch_agent_collector_errors_total{{{AG}}}[$__rate_interval]))", "errors {{instance}} {{collector}}"),
                target(f"sum by (instance, collector) (increase(nodewatch_agent_collector_timeouts_total{{{AG}}}[$__rate_interval]))", "timeouts {{instance}} {{collector}}"),
            ], "none", th=thresholds((None, "green"), (1, "orange")), w=8),
            ts("Series per source", [target(f"nodewatch_agent_series{{{AG}}}", "{{instance}} {{source}}")], "short"),
            ts("Storage nodes reachable", [target(f"nodewatch_agent_storage_node_up{{{AG}}}", "{{instance}} {{url}}")], "bool_yes_no",
               th=thresholds((None, "red"), (1, "green")), minv=0, maxv=1),
            row("Drops"),
            ts("Dropped", [
                target(f"sum by (instance, source) (increase(nodewatch_agent_series_dropped_total{{{AG}}}[$__rate_interval]))", "series {{instance}} {{source}}"),
                target(f"sum by (instance, component, reason) (increase(nodewatch_agent_log_lines_dropped_total{{{AG}}}[$__rate_interval]))", "log lines {{instance}} {{component}} {{reason}}"),
                target(f"sum by (instance, url) (increase(nodewatch_agent_remote_write_samples_dropped_total{{{AG}}}[$__rate_interval]))", "samples {{instance}} {{url}}"),
            ], "none", "Anything here is data lost at a bound.", thresholds((None, "green"), (1, "red")), w=24),
            row("Logs"),
            ts("Log lines read and sent", [
                target(f"sum by (instance, source) (rate(nodewatch_agent_log_lines_read_total{{{AG}}}[$__rate_interval]))", "read {{instance}} {{source}}"),
                target(f"sum by (instance, sink) (rate(nodewatch_agent_log_lines_sent_total{{{AG}}}[$__rate_interval]))", "sent {{instance}} {{sink}}"),
                target(f"sum by (instance, sink) (rate(nodewatch_agent_log_lines_retried_total{{{AG}}}[$__rate_interval]))", "retried {{instance}} {{sink}}"),
                target(f"sum by (instance, sink, reason) (rate(nodewatch_agent_log_lines_rejected_total{{{AG}}}[$__rate_interval]))", "rejected {{instance}} {{sink}} {{reason}}"),
            ], "short"),
            ts("Log bytes and malformed lines", [
                target(f"sum by (instance, source) (rate(nodewatch_agent_log_bytes_read_total{{{AG}}}[$__rate_interval]))", "read {{instance}} {{source}}"),
                target(f"sum by (instance, sink) (rate(nodewatch_agent_log_bytes_sent_total{{{AG}}}[$__rate_interval]))", "sent {{instance}} {{sink}}"),
                target(f"sum by (instance, source, reason) (rate(nodewatch_agent_log_malformed_total{{{AG}}}[$__rate_interval]))", "malformed/s {{instance}} {{source}} {{reason}}"),
            ], "Bps", overrides=[{"matcher": {"id": "byRegexp", "options": "malformed.*"}, "properties": [{"id": "unit", "value": "short"}]}]),
            ts("Loki push latency (p99) and batch size (p50)", [
                target(f"histogram_quantile(0.99, sum by (le, instance, sink) (rate(nodewatch_agent_loki_push_duration_seconds_bucket{{{AG}}}[$__rate_interval])))", "push p99 {{instance}} {{sink}}"),
                target(f"histogram_quantile(0.5, sum by (le, instance, sink) (rate(nodewatch_agent_loki_batch_bytes_bucket{{{AG}}}[$__rate_interval])))", "batch p50 {{instance}} {{sink}}"),
            ], "s", overrides=[{"matcher": {"id": "byRegexp", "options": "batch.*"}, "properties": [{"id": "unit", "value": "bytes"}]}]),
            ts("Log buffer and files behind", [
                target(f"nodewatch_agent_log_buffer_bytes{{{AG}}} / nodewatch_agent_log_buffer_limit_bytes{{{AG}}}", "buffer {{instance}} {{sink}}"),
                target(f"sum by (instance, source) (nodewatch_agent_log_file_bytes_behind{{{AG}}})", "behind {{instance}} {{source}}"),
            ], "percentunit", th=thresholds((None, "green"), (0.8, "red")),
               overrides=[{"matcher": {"id": "byRegexp", "options": "behind.*"}, "properties": [{"id": "unit", "value": "bytes"}]}]),
            row("Log patterns"),
            ts("New log templates", [
                target(f"sum by (instance, group) (increase(nodewatch_agent_log_patterns_new_total{{{AG}}}[$__rate_interval]))", "{{instance}} {{group}}"),
            ], "short", "Templates the log_patterns miner created, per stream group. A burst after the learning period is a change in what the workloads log.",
               thresholds((None, "green"), (10, "orange")), w=8),
            ts("Lines per template (busiest) and the rest", [
                target(f"sum by (instance, group, pattern) (rate(nodewatch_agent_log_pattern_lines_total{{{AG}}}[$__rate_interval]))", "{{group}} {{pattern}}"),
                target(f"sum by (instance, group) (rate(nodewatch_agent_log_patterns_group_lines_total{{{AG}}}[$__rate_interval])) - sum by (instance, group) (rate(nodewatch_agent_log_pattern_lines_total{{{AG}}}[$__rate_interval]))", "{{group}} other"),
            ], "short", "Lines per second of the top_k templates; other = the group's lines outside them.", w=16),
            table("Busiest log templates", [
                target(f"topk(20, rate(nodewatch_agent_log_pattern_lines_total{{{AG}}}[5m]) * on (instance, group, pattern) group_left (template) nodewatch_agent_log_pattern_info{{{AG}}})", instant=True, fmt="table"),
            ], "short", "A template's lines in Loki: | label_format pattern_id=\"{{.pattern}}\" | pattern_id=\"<pattern>\" (pattern is a LogQL keyword, so | pattern=\"...\" does not parse).", w=24, h=8),
            ts("Templates and miner memory", [
                target(f"nodewatch_agent_log_patterns_templates_total{{{AG}}} / nodewatch_agent_log_patterns_templates_limit{{{AG}}}", "templates {{instance}}"),
                target(f"nodewatch_agent_log_patterns_memory_bytes{{{AG}}} / nodewatch_agent_log_patterns_memory_limit_bytes{{{AG}}}", "memory {{instance}}"),
            ], "percentunit", "Share of max_templates and max_memory_bytes in use; at the bound the least recently seen templates are evicted.",
               thresholds((None, "green"), (0.9, "orange")), maxv=1, w=12),
            ts("Log-pattern alerts, evictions, failed saves", [
                target(f"sum by (instance, kind) (increase(nodewatch_agent_log_patterns_alerts_total{{{AG}}}[$__rate_interval]))", "alerts {{instance}} {{kind}}"),
                target(f"sum by (instance) (increase(nodewatch_agent_log_patterns_evicted_total{{{AG}}}[$__rate_interval]))", "evicted {{instance}}"),
                target(f"sum by (instance) (increase(nodewatch_agent_log_patterns_persist_failures_total{{{AG}}}[$__rate_interval]))", "failed saves {{instance}}"),
            ], "short", th=thresholds((None, "green"), (1, "orange")), w=12),
            row("remote_write"),
            ts("Samples", [
                target(f"sum by (instance, url) (rate(nodewatch_agent_remote_write_samples_sent_total{{{AG}}}[$__rate_interval]))", "sent {{instance}} {{url}}"),
                target(f"sum by (instance, url) (rate(nodewatch_agent_remote_write_samples_retried_total{{{AG}}}[$__rate_interval]))", "retried {{instance}} {{url}}"),
                target(f"sum by (instance, url) (rate(nodewatch_agent_remote_write_samples_failed_total{{{AG}}}[$__rate_interval]))", "failed {{instance}} {{url}}"),
            ], "short"),
            ts("Backlog", [
                target(f"nodewatch_agent_remote_write_pending_samples{{{AG}}}", "pending samples {{instance}} {{url}}"),
                target(f"nodewatch_agent_remote_write_wal_bytes{{{AG}}}", "WAL bytes {{instance}} {{url}}"),
                target(f"nodewatch_agent_remote_write_wal_segments{{{AG}}}", "WAL segments {{instance}} {{url}}"),
                target(f"nodewatch_agent_remote_write_shards{{{AG}}}", "shards {{instance}} {{url}}"),
            ], "short", overrides=[{"matcher": {"id": "byRegexp", "options": "WAL bytes.*"}, "properties": [{"id": "unit", "value": "bytes"}]}]),
            ts("Delivery delay", [
                target(f"time() - nodewatch_agent_remote_write_highest_sent_timestamp_seconds{{{AG}}}", "newest sample sent {{instance}} {{url}}"),
                target(f"time() - nodewatch_agent_remote_write_last_send_timestamp_seconds{{{AG}}}", "last send {{instance}} {{url}}"),
            ], "s", th=thresholds((None, "green"), (300, "red"))),
            ts("Alerts posted by the agent", [
                target(f"sum by (instance, alertmanager) (rate(nodewatch_agent_alerts_sent_total{{{AG}}}[$__rate_interval]))", "sent {{instance}} {{alertmanager}}"),
                target(f"sum by (instance, alertmanager) (rate(nodewatch_agent_alerts_send_failures_total{{{AG}}}[$__rate_interval]))", "failed {{instance}} {{alertmanager}}"),
                target(f"nodewatch_agent_alerts_active{{{AG}}}", "active {{instance}}"),
            ], "short"),
            ts("Agent process", [
                target(f'rate(process_cpu_seconds_total{{job="nodewatch-agent", {AG}}}[$__rate_interval])', "CPU {{instance}}"),
                target(f'process_resident_memory_bytes{{job="nodewatch-agent", {AG}}}', "RSS {{instance}}"),
            ], "percentunit", overrides=[{"matcher": {"id": "byRegexp", "options": "RSS.*"}, "properties": [{"id": "unit", "value": "bytes"}]}]),
        ],
    )


def slo() -> dict:
    S = 'slo=~"$slo"'
    return dashboard(
        "nodewatch-slo", "Nodewatch / SLOs",
        "Each SLO from rules/slo/slos.yaml: the SLI against its objective, burn rates per window, the error budget left.",
        [ds_var(), query_var("slo", "SLO", "label_values(slo:objective:ratio, slo)")],
        [
            table("Status", [
                target(f"1 - slo:sli_error:ratio_rate30d{{{S}}}", instant=True, fmt="table"),
                target(f"slo:objective:ratio{{{S}}}", instant=True, fmt="table"),
                target(f"slo:error_budget_remaining:ratio{{{S}}}", instant=True, fmt="table"),
            ], "percentunit", "SLI over 30 days, objective and budget left.", thresholds((None, "red"), (0, "orange"), (0.25, "green")),
                w=24, h=6, overrides=[
                    {"matcher": {"id": "byName", "options": "Value #A"}, "properties": [{"id": "displayName", "value": "SLI (30d)"}, {"id": "decimals", "value": 3}]},
                    {"matcher": {"id": "byName", "options": "Value #B"}, "properties": [{"id": "displayName", "value": "Objective"}]},
                    {"matcher": {"id": "byName", "options": "Value #C"}, "properties": [{"id": "displayName", "value": "Budget left"}]},
                ], options={"showHeader": True, "cellHeight": "sm"}),
            ts("SLI against objective", [
                target(f"1 - slo:sli_error:ratio_rate1h{{{S}}}", "SLI 1h {{slo}}"),
                target(f"1 - slo:sli_error:ratio_rate1d{{{S}}}", "SLI 1d {{slo}}"),
                target(f"slo:objective:ratio{{{S}}}", "objective {{slo}}"),
            ], "percentunit", maxv=1),
            ts("Error budget remaining", [target(f"slo:error_budget_remaining:ratio{{{S}}}", "{{slo}}")], "percentunit",
               th=thresholds((None, "red"), (0, "orange"), (0.25, "green")), maxv=1),
            ts("Burn rate, page windows", [
                target(f"slo:sli_error:ratio_rate1h{{{S}}} / on (slo) (1 - slo:objective:ratio{{{S}}})", "1h {{slo}}"),
                target(f"slo:sli_error:ratio_rate5m{{{S}}} / on (slo) (1 - slo:objective:ratio{{{S}}})", "5m {{slo}}"),
                target(f"slo:sli_error:ratio_rate6h{{{S}}} / on (slo) (1 - slo:objective:ratio{{{S}}})", "6h {{slo}}"),
                target(f"slo:sli_error:ratio_rate30m{{{S}}} / on (slo) (1 - slo:objective:ratio{{{S}}})", "30m {{slo}}"),
            ], "x", "Page at 14.4 (1h and 5m) and at 6 (6h and 30m).", thresholds((None, "green"), (6, "orange"), (14.4, "red"))),
            ts("Burn rate, ticket windows", [
                target(f"slo:sli_error:ratio_rate1d{{{S}}} / on (slo) (1 - slo:objective:ratio{{{S}}})", "1d {{slo}}"),
                target(f"slo:sli_error:ratio_rate2h{{{S}}} / on (slo) (1 - slo:objective:ratio{{{S}}})", "2h {{slo}}"),
                target(f"slo:sli_error:ratio_rate3d{{{S}}} / on (slo) (1 - slo:objective:ratio{{{S}}})", "3d {{slo}}"),
                target(f"slo:sli_error:ratio_rate6h{{{S}}} / on (slo) (1 - slo:objective:ratio{{{S}}})", "6h {{slo}}"),
            ], "x", "Ticket at 3 (1d and 2h) and at 1 (3d and 6h).", thresholds((None, "green"), (1, "orange"), (3, "red"))),
        ],
        time_from="now-7d",
    )


def logs() -> dict:
    sel = '{job=~"$job", node=~"$node"}'
    return dashboard(
        LOGS_UID, "Nodewatch / Logs",
        "Logs shipped to Loki by the agents: error rate by level and the log lines of a node. "
        "The other boards link here with the node and the time range.",
        [ds_var(), loki_var(),
         {"name": "node", "label": "Node", "type": "query", "datasource": LOKI, "query": {"label": "node", "refId": "node-query", "stream": "", "type": 1},
          "hide": 0, "refresh": 2, "regex": "", "sort": 1, "options": [],
          "includeAll": True, "allValue": ".*", "multi": True},
         {"name": "job", "label": "Job", "type": "custom", "query": "storage-node,node-agent", "hide": 0,
          "options": [], "includeAll": True, "allValue": ".+", "multi": True},
         {"name": "search", "label": "Search", "type": "textbox", "query": "", "hide": 0, "options": []}],
        [
            panel("timeseries", "Log lines per second by level",
                  [{"datasource": LOKI, "refId": "A", "expr": f'sum by (level) (rate({sel} | json | __error__="" [$__auto]))', "legendFormat": "{{level}}", "queryType": "range"}],
                  "short", datasource=LOKI, w=12,
                  custom={"drawStyle": "bars", "stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 80, "lineWidth": 1, "showPoints": "never"},
                  overrides=[{"matcher": {"id": "byName", "options": "ERROR"}, "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}}]},
                             {"matcher": {"id": "byName", "options": "WARN"}, "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": "orange"}}]}]),
            panel("timeseries", "Errors per second by node",
                  [{"datasource": LOKI, "refId": "A", "expr": f'sum by (node) (rate({sel} | json | level=~"ERROR|error" [$__auto]))', "legendFormat": "{{node}}", "queryType": "range"}],
                  "short", datasource=LOKI, w=12, th=thresholds((None, "green"), (1, "red")), links=False),
            panel("timeseries", "Server errors (HTTP 5xx) in request logs",
                  [{"datasource": LOKI, "refId": "A", "expr": f'sum by (node) (rate({{job="storage-node", node=~"$node"}} | json | status >= 500 [$__auto]))', "legendFormat": "{{node}}", "queryType": "range"}],
                  "short", datasource=LOKI, w=24, th=thresholds((None, "green"), (0.1, "red"))),
            panel("logs", "Log lines", [{"datasource": LOKI, "refId": "A", "expr": f'{sel} |~ "$search"', "queryType": "range"}], "none",
                  datasource=LOKI, w=24, h=16,
                  options={"showTime": True, "wrapLogMessage": True, "sortOrder": "Descending", "enableLogDetails": True,
                           "dedupStrategy": "none", "prettifyLogMessage": False, "showLabels": False, "showCommonLabels": False}),
        ],
        time_from="now-1h",
    )


def anomalies() -> dict:
    A = f'{AG}, metric=~"$metric"'
    return dashboard(
        "nodewatch-anomalies", "Nodewatch / Anomalies",
        "The agent's anomaly detectors: each watched series with its expected band (baseline, upper and lower) overlaid, and its score.",
        [ds_var(), CLUSTER, INSTANCE, query_var("metric", "Metric", 'label_values(nodewatch_anomaly_score{instance=~"$instance"}, metric)')],
        [
            ts("Value against expected band", [
                target(f"nodewatch_anomaly_upper{{{A}}}", "upper {{instance}} {{metric}}"),
                target(f"nodewatch_anomaly_lower{{{A}}}", "lower {{instance}} {{metric}}"),
                target(f"nodewatch_anomaly_baseline{{{A}}}", "expected {{instance}} {{metric}}"),
                target(f'{{__name__=~"$metric", {AG}}}', "value {{instance}} {{__name__}}"),
            ], "short", "The band is filled between upper and lower; the value is the watched series as the agent exposes it.",
                w=24, h=10, overrides=[
                    {"matcher": {"id": "byRegexp", "options": "upper.*"}, "properties": [
                        {"id": "custom.fillBelowTo", "value": "lower"}, {"id": "custom.lineWidth", "value": 0},
                        {"id": "color", "value": {"mode": "fixed", "fixedColor": "green"}}]},
                    {"matcher": {"id": "byRegexp", "options": "lower.*"}, "properties": [
                        {"id": "custom.lineWidth", "value": 0}, {"id": "color", "value": {"mode": "fixed", "fixedColor": "green"}}]},
                    {"matcher": {"id": "byRegexp", "options": "expected.*"}, "properties": [
                        {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}]},
                ]),
            ts("Anomaly score", [target(f"nodewatch_anomaly_score{{{A}}}", "{{instance}} {{metric}}")], "short"),
            ts("Anomalous (0/1)", [target(f"nodewatch_anomaly{{{A}}}", "{{instance}} {{metric}}")], "bool_yes_no",
               th=thresholds((None, "green"), (1, "red")), minv=0, maxv=1),
            ts("Series anomalous per metric", [target(f'sum by (metric) (nodewatch_anomaly{{{A}}})', "{{metric}}")], "none",
               th=thresholds((None, "green"), (3, "red"))),
            ts("Alerts the agent holds active", [target(f"nodewatch_agent_alerts_active{{{AG}}}", "{{instance}}")], "none"),
        ],
    )


BOARDS = {
    "fleet-overview": fleet,
    "storage-node": storage_node,
    "replication": replication,
    "disks": disks,
    "gpu": gpu,
    "pipelines": pipelines,
    "agent": agent,
    "slo": slo,
    "logs": logs,
    "anomalies": anomalies,
}


def generate(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in BOARDS.items():
        p = out / f"{name}.json"
        p.write_text(json.dumps(build(), indent=2, ensure_ascii=False) + "\n")
        written.append(p)
    for old in out.glob("*.json"):
        if old not in written:
            old.unlink()
    return written


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "dashboards")
    args = ap.parse_args()
    for p in generate(args.out):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
