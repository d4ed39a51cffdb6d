"""Log-pattern anomalies end to end: the agent tails a file into the test Loki, mines templates
(`[transforms.log_patterns]`) and alerts a real Alertmanager. Steady traffic fires nothing, a new
error pattern after the learning period fires exactly one alert with two example lines, a surge of
a known template fires, every shipped line carries its template id as structured metadata, and
after a kill -9 nothing counts as new twice."""

from __future__ import annotations

import re
import threading
import time

import pytest

from harness.alertmanager import Alertmanager
from harness.components import component_counters
from harness.logs import Agent, TestLoki, agent_config, toml_str
from harness.procs import wait_until

ID = re.compile(r"^[0-9a-f]{16}$")


def config(loki: TestLoki, am: Alertmanager, log, learning_secs: int) -> str:
    extra = f"""
[sources.files]
include = [{toml_str(log)}]
[sources.files.tail]
discover_interval_ms = 200
poll_interval_ms = 50
[sinks.alertmanager]
urls = ["{am.url}"]
resend_interval_secs = 1
[transforms.detect]
enabled = false
[transforms.log_patterns]
enabled = true
[transforms.log_patterns.alerts]
learning_secs = {learning_secs}
interval_secs = 1
warmup_intervals = 8
surge_min_rate = 20.0
"""
    return agent_config(loki.push_url, extra, batch_wait_ms=100)


class Writer:
    """Appends steady traffic (three templates, about 30 lines/s) to a file until stopped."""

    def __init__(self, path):
        self.path = path
        self.stop_ev = threading.Event()
        self.n = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        with open(self.path, "a", buffering=1) as f:
            while not self.stop_ev.is_set():
                i = self.n
                f.write(f'level=info msg="request served" path=/api/items/{i} took={i % 37}ms\n')
                f.write(f"level=info msg=\"cache hit\" key=k{i * 7}\n")
                if i % 3 == 0:
                    f.write(f'level=warn msg="slow request" took={100 + i % 50}ms peer=10.0.0.{i % 250}\n')
                self.n += 1
                time.sleep(0.08)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        self.thread.join(5)


def pattern_alerts(am: Alertmanager, name: str | None = None) -> list[dict]:
    return [a for a in am.alerts() if a["labels"].get("alertname", "").startswith("LogPattern")
            and (name is None or a["labels"]["alertname"] == name)]


@pytest.fixture
def am(tmp_path):
    a = Alertmanager(tmp_path / "am").start()
    yield a
    a.stop()


def test_new_error_pattern_and_surge_alert_steady_traffic_does_not(tmp_path, am):
    loki = TestLoki(tmp_path / "loki")
    log = tmp_path / "app.log"
    log.write_text("")
    agent = Agent(tmp_path / "agent", config(loki, am, log, learning_secs=3)).start()
    try:
        with Writer(log) as w:
            # Learning, then steady traffic well past the scorers' warm-up: nothing fires.
            wait_until(lambda: agent.metric("nodewatch_agent_log_patterns_scored_templates") >= 3, 20,
                       what="the three steady templates to be scored")
            time.sleep(14)
            assert pattern_alerts(am) == []
            assert agent.metric("nodewatch_agent_log_patterns_alerts_total") == 0

            # A new error pattern after the learning period: one alert, both examples attached.
            with open(log, "a") as f:
                f.write("level=error msg=\"replica lost\" shard=17 peer=10.1.2.3:9000\n")
                f.flush()
                time.sleep(0.5)
                f.write("level=error msg=\"replica lost\" shard=42 peer=10.1.2.4:9000\n")
            wait_until(lambda: any(a["annotations"].get("example_2") for a in pattern_alerts(am, "LogPatternNew")),
                       20, what="the new-pattern alert with two examples in Alertmanager")
            (alert,) = pattern_alerts(am, "LogPatternNew")
            ann, labels = alert["annotations"], alert["labels"]
            assert labels["filename"] == str(log)
            assert ID.match(labels["pattern"])
            assert ann["example_1"] == 'level=error msg="replica lost" shard=17 peer=10.1.2.3:9000'
            assert ann["example_2"] == 'level=error msg="replica lost" shard=42 peer=10.1.2.4:9000'
            assert ann["template"] == 'level=error msg="replica lost" shard=<*> peer=<*>'
            # `pattern` is a LogQL keyword: the query renames the metadata before filtering.
            assert ann["logql"] == (f'{{filename="{log}"}} | label_format pattern_id="{{{{.pattern}}}}" '
                                    f'| pattern_id="{labels["pattern"]}"')
            assert "/explore?" in ann["grafana_url"] and ann["runbook_url"].endswith("/LogPatternNew.md")
            assert str(log) in ann["stream"]

            # A surge of a known template: "cache hit" from ~12/s to ~400/s.
            with open(log, "a") as f:
                for k in range(8):
                    f.write("".join(f"level=info msg=\"cache hit\" key=s{k}_{j}\n" for j in range(400)))
                    f.flush()
                    time.sleep(1)
            wait_until(lambda: pattern_alerts(am, "LogPatternSurge"), 20, what="the surge alert")
            (surge,) = pattern_alerts(am, "LogPatternSurge")
            assert surge["annotations"]["template"].startswith('level=info msg="cache hit"')
            # Still exactly one new-pattern alert, and the steady templates never surged.
            assert len(pattern_alerts(am, "LogPatternNew")) == 1
            assert agent.metric("nodewatch_agent_log_patterns_alerts_total", kind="new") == 1
            assert agent.metric("nodewatch_agent_log_patterns_alerts_total", kind="surge") == 1
            written = w.n

        # Every shipped line carries its template id; the lines themselves are unchanged.
        wait_until(lambda: loki.stats()["accepted_entries"] >= written * 2, 20, what="the lines in Loki")
        entries = loki.entries()
        lines = set(log.read_text().splitlines())
        by_template: dict[str, set] = {}
        for e in entries:
            assert e["line"] in lines
            pid = e["metadata"].get("pattern")
            assert pid and ID.match(pid), e
            kind = e["line"].split(" msg=")[1].split('"')[1]
            by_template.setdefault(kind, set()).add(pid)
        assert {k: len(v) for k, v in by_template.items()} == {
            "request served": 1, "cache hit": 1, "slow request": 1, "replica lost": 1}
        text = agent.metrics_text()
        assert f'nodewatch_agent_log_pattern_lines_total{{group="{log}",pattern=' in text
        assert agent.metric("nodewatch_agent_log_patterns_templates", group=str(log)) == 4
    finally:
        agent.stop()
        loki.stop()


def test_templates_survive_kill9_and_nothing_counts_new_twice(tmp_path, am):
    loki = TestLoki(tmp_path / "loki")
    log = tmp_path / "app.log"
    log.write_text("")
    agent = Agent(tmp_path / "agent", config(loki, am, log, learning_secs=0)).start()
    try:
        # Loki refuses everything: no position moves, so a kill -9 re-reads every line.
        loki.fail(500)
        with open(log, "a") as f:
            for i, what in enumerate(["disk full", "replica lost", "checksum mismatch", "quorum timeout",
                                      "peer unreachable"]):
                f.write(f'level=error msg="{what}" code={i} at=/x/{i}\n')
                f.write(f'level=error msg="{what}" code={i + 10} at=/y/{i}\n')
        wait_until(lambda: agent.metric("nodewatch_agent_log_patterns_alerts_total", kind="new") == 5, 20,
                   what="five new-pattern alerts")
        assert agent.metric("nodewatch_agent_log_patterns_new_total", group=str(log)) == 5
        templates = tmp_path / "agent" / "data" / "log_patterns" / "templates.json"
        assert templates.exists()
        agent.kill9()
        loki.ok()
        agent.start()
        wait_until(lambda: loki.stats()["accepted_entries"] >= 10, 20, what="the re-read lines in Loki")
        # The re-read lines matched the saved templates: nothing new, no alert raised again.
        time.sleep(2)
        assert agent.metric("nodewatch_agent_log_patterns_new_total", group=str(log)) == 5
        assert agent.metric("nodewatch_agent_log_patterns_alerts_total", kind="new") == 0
        assert agent.metric("nodewatch_agent_log_patterns_templates", group=str(log)) == 5
        pids = {e["metadata"]["pattern"] for e in loki.entries()}
        assert len(pids) == 5
        # The component counters since the restart (lines): the files source read the ten lines
        # again and log_patterns passed each of them on.
        text = agent.metrics_text()
        for kind, cid in (("source", "files"), ("transform", "log_patterns")):
            c = component_counters(text, kind, cid)
            assert c["received"] == c["sent"] == 10 and c["dropped"] == c["errors"] == 0, (cid, c)
    finally:
        agent.stop()
        loki.stop()
