"""The agent's per-component counters,
`nodewatch_agent_component_{received,sent,dropped,errors}_total{component_kind,component_id}`, read
from one `/metrics` text so that the four values are of the same moment."""

from __future__ import annotations

import re

COUNTERS = ("received", "sent", "dropped", "errors")
_SAMPLE = re.compile(r"^nodewatch_agent_component_(received|sent|dropped|errors)_total\{([^}]*)\}\s+(\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def component_counters(metrics_text: str, kind: str, cid: str) -> dict[str, float]:
    """The four counters of one component; fails when any of them is missing (a component that
    never registered its counters)."""
    out: dict[str, float] = {}
    for line in metrics_text.splitlines():
        m = _SAMPLE.match(line)
        if not m:
            continue
        labels = dict(_LABEL.findall(m.group(2)))
        if labels.get("component_kind") == kind and labels.get("component_id") == cid:
            out[m.group(1)] = float(m.group(3))
    missing = [c for c in COUNTERS if c not in out]
    assert not missing, f"component {kind}/{cid} has no {missing} counters on /metrics"
    return out


def metric_in(metrics_text: str, name: str, **labels) -> float | None:
    """The first sample of `name` whose labels include `labels`, in one `/metrics` text."""
    for line in metrics_text.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(_LABEL.findall(m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return None
