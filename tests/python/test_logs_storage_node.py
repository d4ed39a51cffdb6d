"""The storage node's own JSON logs through the agent: `level` as a label, the request id (and
the trace id, where the node writes one) as Loki structured metadata, the line's own time."""

from __future__ import annotations

import uuid

from harness.logs import Agent, TestLoki, agent_config, rfc3339_to_ns, toml_str
from harness.procs import wait_until


def field(rec: dict, name: str):
    for scope in (rec, rec.get("fields") or {}, rec.get("span") or {}):
        if name in scope:
            return scope[name]
    return None


def test_storage_node_json_logs_level_label_and_request_metadata(tmp_path, node_factory):
    node = node_factory()
    s3 = node.client()
    bucket = f"logs-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k1", Body=b"hello")
    s3.get_object(Bucket=bucket, Key="k1")["Body"].read()
    try:
        s3.get_object(Bucket=bucket, Key="missing")
    except s3.exceptions.NoSuchKey:
        pass
    wait_until(lambda: sum(1 for r in node.log_records() if field(r, "request_id")) >= 4, 10,
               what="request log lines")
    records = node.log_records()

    loki = TestLoki(tmp_path / "loki", "--reject-out-of-order")
    extra = f"""
[sources.files]
include = [{toml_str(node.log_path)}]
labels = {{ service = "storage-node" }}
parse = {{ format = "json", timestamp_field = "timestamp" }}
[sources.files.tail]
discover_interval_ms = 200
poll_interval_ms = 50
"""
    token = tmp_path / "loki-token"
    token.write_text("s3cr3t-token\n")
    # The JSON fallback, a tenant and a bearer token from a file, on this pipeline.
    cfg = agent_config(loki.push_url, extra, encoding="json", tenant_id="team-storage",
                       bearer_token_file=str(token))
    agent = Agent(tmp_path / "agent", cfg).start()
    try:
        wait_until(lambda: loki.stats()["accepted_entries"] >= len(records), 20, what="every node log line")
        entries = loki.entries()
        by_line = {e["line"]: e for e in entries}
        raw_lines = [l for l in node.log_path.read_text().splitlines() if l.strip()]
        with_request = with_trace = 0
        for line, rec in zip(raw_lines, records):
            e = by_line[line]
            assert e["labels"]["job"] == "files"
            assert e["labels"]["service"] == "storage-node"
            assert e["labels"]["filename"] == str(node.log_path)
            assert e["labels"]["level"] == str(rec["level"]).lower()
            assert e["ts"] == rfc3339_to_ns(rec["timestamp"]), "the line's own time"

            rid = field(rec, "request_id")
            if rid:
                with_request += 1
                assert e["metadata"].get("request_id") == rid
            tid = field(rec, "trace_id")
            if tid:
                with_trace += 1
                assert e["metadata"].get("trace_id") == tid
            else:
                assert "trace_id" not in e["metadata"]
            assert "request_id" not in e["labels"] and "trace_id" not in e["labels"]
        assert with_request >= 4
        assert with_trace >= 4, "the node writes a trace id on every request line"
        stats = loki.stats()
        assert stats["json_requests"] > 0 and stats["protobuf_requests"] == 0
        assert set(stats["tenants"]) == {"team-storage"}
        assert set(stats["authorization"]) == {"Bearer s3cr3t-token"}
        assert agent.metric("nodewatch_agent_log_malformed_total", source="files") == 0
    finally:
        agent.stop()
        loki.stop()
