"""Loki stores part of a push and answers 400 for the rest: the agent counts what was stored as
sent and the rest as rejected, with Loki's reason, from Loki's own answer text (the test Loki
writes its 400 bodies exactly as Loki 2.9/3.x does: `tests/src/loki/answer.rs`)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from harness.components import component_counters
from harness.logs import Agent, TestLoki, agent_config, toml_str
from harness.procs import wait_until


def test_five_of_ten_too_old_lines_count_five_sent_and_five_rejected(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    now = datetime.now(timezone.utc)
    lines = []
    for i in range(10):
        # Every other line is 30 days old: past Loki's reject_old_samples_max_age of 7 days.
        ts = now - timedelta(days=30) if i % 2 else now - timedelta(seconds=10 - i)
        lines.append(json.dumps({"ts": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "msg": f"line {i}"}))
    # One write, so that the ten lines go out in one push.
    (logs / "app.log").write_text("\n".join(lines) + "\n")

    loki = TestLoki(tmp_path / "loki", "--reject-old-samples-max-age-secs", str(7 * 86400))
    extra = f"""
[sources.files]
include = [{toml_str(logs / "*.log")}]
parse = {{ format = "json", timestamp_field = "ts" }}
[sources.files.tail]
discover_interval_ms = 200
poll_interval_ms = 50
"""
    agent = Agent(tmp_path / "agent", agent_config(loki.push_url, extra, batch_wait_ms=500)).start()
    try:
        wait_until(lambda: loki.stats()["accepted_entries"] + loki.stats()["rejected_entries"] >= 10,
                   20, what="ten lines at Loki")
        stats = loki.stats()
        assert stats["accepted_entries"] == 5 and stats["rejected_entries"] == 5, stats
        assert stats["bad_requests"] >= 1, stats
        assert sorted(e["line"] for e in loki.entries()) == sorted(lines[0::2])

        def counted():
            return agent.metric("nodewatch_agent_log_lines_sent_total") + \
                agent.metric("nodewatch_agent_log_lines_rejected_total") >= 10
        wait_until(counted, 20, what="the agent to count the push")
        assert agent.metric("nodewatch_agent_log_lines_sent_total") == 5, agent.metrics_text()
        assert agent.metric("nodewatch_agent_log_lines_rejected_total") == 5
        assert agent.metric("nodewatch_agent_log_lines_rejected_total",
                            reason="greater_than_max_sample_age") == 5
        assert agent.metric("nodewatch_agent_log_lines_rejected_total", reason="http_400") == 0
        # The same split in the sink's component counters.
        sink = {"component_kind": "sink", "component_id": "loki"}
        assert agent.metric("nodewatch_agent_component_sent_total", **sink) == 5
        assert agent.metric("nodewatch_agent_component_dropped_total", **sink) == 5
        # parse_json (lines): the ten JSON lines in and out, none malformed.
        pj = component_counters(agent.metrics_text(), "transform", "parse_json")
        assert pj == {"received": 10, "sent": 10, "dropped": 0, "errors": 0}, pj
        # A refusal is not retried.
        assert agent.metric("nodewatch_agent_log_lines_retried_total") == 0
    finally:
        agent.stop()
        loki.stop()
