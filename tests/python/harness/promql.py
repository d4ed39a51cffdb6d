"""Reads the PromQL in rules/ and dashboards/: every expression, the metric selectors in each, and
the dashboards' template variables. Used by the rule, metric-name and live-query tests."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
RULES_DIR = REPO_ROOT / "rules"
DASHBOARDS_DIR = REPO_ROOT / "dashboards"

# Words that look like metric names in PromQL but are not.
KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
    "offset", "inf", "nan", "atan2", "start", "end",
    # aggregation operators, which may be followed by `by (...)` instead of `(`
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
    "quantile",
}
# After these, a parenthesised list holds label names, not expressions.
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}

_TOKEN = re.compile(
    r"""(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
      |(?P<comment>\#[^\n]*)
      |(?P<num>(?:0x[0-9a-fA-F]+|[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)(?:[smhdwy]|ms)?(?:[0-9]+(?:[smhdwy]|ms))*)
      |(?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
      |(?P<lbrace>\{)
      |(?P<lbrack>\[)
      |(?P<lparen>\()
      |(?P<other>.)""",
    re.X | re.S,
)


@dataclass(frozen=True)
class Selector:
    """A vector selector: a metric name and its matchers text (without braces)."""

    name: str
    matchers: str

    def promql(self) -> str:
        return f"{self.name}{{{self.matchers}}}" if self.matchers else self.name


def _skip_balanced(s: str, i: int, open_ch: str, close_ch: str) -> int:
    """Index just past the bracket matching the one at s[i] (string literals respected)."""
    depth, n = 0, len(s)
    while i < n:
        c = s[i]
        if c in "\"'`":
            j = i + 1
            while j < n and s[j] != c:
                j += 2 if s[j] == "\\" and c != "`" else 1
            i = j + 1
            continue
        if c == open_ch:
            depth += 1
        elif c == close_ch:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError(f"unbalanced {open_ch!r} in {s!r}")


def selectors(expr: str) -> list[Selector]:
    """The vector selectors in a PromQL expression, in order (a name-less `{__name__=...}` selector
    is reported with its `__name__` regex as the name)."""
    out: list[Selector] = []
    i, n = 0, len(expr)
    while i < n:
        m = _TOKEN.match(expr, i)
        kind, text = m.lastgroup, m.group()
        if kind == "ident":
            j = m.end()
            while j < n and expr[j] in " \t\n":
                j += 1
            nxt = expr[j] if j < n else ""
            if text in LABEL_LIST_KEYWORDS:
                # `by (a, b)`, `on ()`, `group_left (x)`: label names, not selectors
                i = _skip_balanced(expr, j, "(", ")") if nxt == "(" else m.end()
            elif nxt == "(" or text.lower() in KEYWORDS:
                i = m.end()
            elif nxt == "{":
                end = _skip_balanced(expr, j, "{", "}")
                out.append(Selector(text, expr[j + 1 : end - 1].strip()))
                i = end
            else:
                out.append(Selector(text, ""))
                i = m.end()
        elif kind == "lbrace":
            end = _skip_balanced(expr, i, "{", "}")
            inner = expr[i + 1 : end - 1].strip()
            nm = re.search(r'__name__\s*=~?\s*"([^"]*)"', inner)
            out.append(Selector(nm.group(1) if nm else "", inner))
            i = end
        elif kind == "lbrack":
            i = _skip_balanced(expr, i, "[", "]")
        else:
            i = m.end()
    return out


# -- rules -----------------------------------------------------------------------------------


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml")) + sorted((RULES_DIR / "generated").glob("*.yml"))


def rules() -> list[tuple[Path, dict]]:
    """(file, rule) for every recording and alerting rule."""
    out = []
    for f in rule_files():
        for g in yaml.safe_load(f.read_text())["groups"]:
            for r in g["rules"]:
                out.append((f, r))
    return out


def alert_names() -> set[str]:
    return {r["alert"] for _, r in rules() if "alert" in r}


def recorded_names() -> set[str]:
    return {r["record"] for _, r in rules() if "record" in r}


# -- dashboards ------------------------------------------------------------------------------


def dashboards() -> list[tuple[Path, dict]]:
    return [(p, json.loads(p.read_text())) for p in sorted(DASHBOARDS_DIR.glob("*.json"))]


def all_panels(d: dict) -> list[dict]:
    out = []
    for p in d.get("panels", []):
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def is_prometheus(ds: dict | None) -> bool:
    return bool(ds) and ds.get("type") == "prometheus"


@dataclass(frozen=True)
class Query:
    where: str  # "rules/x.yml: AlertName" or "dashboards/x.json: panel title [A]"
    expr: str
    kind: str  # "alert", "record", "panel" or "variable"


def rule_queries() -> list[Query]:
    out = []
    for f, r in rules():
        kind = "alert" if "alert" in r else "record"
        out.append(Query(f"{f.relative_to(REPO_ROOT)}: {r.get('alert') or r.get('record')}", r["expr"], kind))
    return out


def dashboard_queries() -> list[Query]:
    """Every PromQL query in the dashboards: panel targets and query variables."""
    out = []
    for f, d in dashboards():
        rel = f.relative_to(REPO_ROOT)
        for p in all_panels(d):
            for t in p.get("targets", []):
                ds = t.get("datasource") or p.get("datasource")
                if is_prometheus(ds):
                    out.append(Query(f"{rel}: {p.get('title')} [{t.get('refId')}]", t["expr"], "panel"))
        for v in d.get("templating", {}).get("list", []):
            if v.get("type") == "query" and is_prometheus(v.get("datasource")):
                q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
                out.append(Query(f"{rel}: variable ${v['name']}", q, "variable"))
    return out


_LABEL_VALUES = re.compile(r"^\s*label_values\((?:(?P<sel>.*),\s*)?(?P<label>[a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$", re.S)


def label_values_parts(q: str) -> tuple[str | None, str]:
    """(series selector or None, label) of a Grafana `label_values(...)` variable query."""
    m = _LABEL_VALUES.match(q)
    if not m:
        raise ValueError(f"not a label_values() query: {q!r}")
    return (m.group("sel"), m.group("label"))


def query_selectors(q: Query) -> list[Selector]:
    """The selectors of a query; for a `label_values(selector, label)` variable, of its selector.
    Selectors whose name is a template variable (`{__name__=~"$metric"}`) are left out."""
    expr = q.expr
    if q.kind == "variable":
        sel, _ = label_values_parts(expr)
        if sel is None:
            return []
        expr = sel
    return [s for s in selectors(expr) if s.name and "$" not in s.name]


def substitute(expr: str, variables: dict[str, str], interval: str = "1m", rate_interval: str = "1m",
               range_: str = "1h") -> str:
    """Fills Grafana's built-in and template variables the way Grafana would for a query."""
    builtins = {
        "__rate_interval": rate_interval, "__interval": interval, "__range": range_, "__auto": interval,
        "__interval_ms": "60000", "__range_s": "3600", "__range_ms": "3600000",
    }
    allv = {**builtins, **variables}

    def repl(m: re.Match) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in allv:
            raise KeyError(f"unknown variable ${name} in {expr!r}")
        return allv[name]

    return re.sub(r"\$\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?\}|\[\[([a-zA-Z_][a-zA-Z0-9_]*)\]\]|\$([a-zA-Z_][a-zA-Z0-9_]*)", repl, expr)
