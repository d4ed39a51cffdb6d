"""Pod logs: a fake /var/log/pods tree built from the real fixtures in agent/tests/data/logs
(CRI with partial lines, docker json-file with its corrupted line), multiline stack traces,
and malformed input that must be counted, never crash the agent."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.components import component_counters
from harness.logs import Agent, TestLoki, agent_config, rfc3339_to_ns, toml_str
from harness.procs import REPO_ROOT, wait_until

DATA = REPO_ROOT / "agent" / "tests" / "data" / "logs"
CRI = DATA / "cri-java-stacktrace-hdfs.derived.log"
DOCKER = DATA / "docker-json-file-packetbeat-build-corrupted-line7.log"
NODE = "test-node"
CRI_POD = "default_hdfs-client-0_6b1c0f7e-0d3c-4a47-9f33-8a2b1f9e2c10"
DOCKER_POD = "ci_packetbeat-build-1_0f7e6b1c-9f33-4a47-0d3c-2c108a2b1f9e"


def cri_records() -> list[tuple[str, str, str]]:
    """(timestamp, stream, message) of each fixture line."""
    out = []
    for line in CRI.read_text().splitlines():
        ts, stream, tag, msg = line.split(" ", 3)
        assert tag == "F"
        out.append((ts, stream, msg))
    return out


def write_cri_with_partials(path: Path) -> list[dict]:
    """Writes the fixture with every third message split into P, P, F fragments and a stdout line
    between the fragments; returns the entries Loki must end up with."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines, expected = [], []
    for i, (ts, stream, msg) in enumerate(cri_records()):
        if i % 3 == 1 and len(msg) > 10:
            a, b = len(msg) // 3, 2 * len(msg) // 3
            lines.append(f"{ts} {stream} P {msg[:a]}")
            lines.append(f"{ts} stdout F interleaved stdout {i}")
            lines.append(f"{ts} {stream} P {msg[a:b]}")
            lines.append(f"{ts} {stream} F {msg[b:]}")
            expected.append({"stream": "stdout", "line": f"interleaved stdout {i}", "ts": ts})
        else:
            lines.append(f"{ts} {stream} F {msg}")
        expected.append({"stream": stream, "line": msg, "ts": ts})
    path.write_text("\n".join(lines) + "\n")
    return expected


def pods_config(loki: TestLoki, root: Path, extra: str = "", **endpoint) -> str:
    return agent_config(loki.push_url, f"""
[sources.kubernetes_pods]
enabled = true
root = {toml_str(root)}
node_name = "{NODE}"
{extra}
[sources.kubernetes_pods.tail]
discover_interval_ms = 200
poll_interval_ms = 50
eof_flush_ms = 300
""", **endpoint)


@pytest.fixture
def loki(tmp_path):
    l = TestLoki(tmp_path / "loki", "--reject-out-of-order")
    yield l
    l.stop()


def test_pod_logs_labels_and_joined_partial_lines_exact(tmp_path, loki):
    root = tmp_path / "pods"
    expected = write_cri_with_partials(root / CRI_POD / "client" / "0.log")
    (root / DOCKER_POD / "build").mkdir(parents=True)
    (root / DOCKER_POD / "build" / "0.log").write_bytes(DOCKER.read_bytes())
    docker_lines = DOCKER.read_text().splitlines()
    agent = Agent(tmp_path / "agent", pods_config(loki, root)).start()
    try:
        total = len(expected) + len(docker_lines)
        wait_until(lambda: loki.stats()["accepted_entries"] >= total, 20, what=f"{total} entries")
        entries = loki.entries()
        assert loki.stats()["rejected_entries"] == 0

        cri = [e for e in entries if e["labels"].get("pod") == "hdfs-client-0"]
        for e in cri:
            stream = e["labels"]["stream"]
            assert e["labels"] == {"namespace": "default", "pod": "hdfs-client-0", "container": "client",
                                   "node_name": NODE, "stream": stream}
        got = sorted((e["labels"]["stream"], e["ts"], e["line"]) for e in cri)
        want = sorted((x["stream"], rfc3339_to_ns(x["ts"]), x["line"]) for x in expected)
        assert got == want

        dock = [e for e in entries if e["labels"].get("pod") == "packetbeat-build-1"]
        assert len(dock) == len(docker_lines)
        parsed = [e for e in dock if "stream" in e["labels"]]
        raw = [e for e in dock if "stream" not in e["labels"]]
        assert [e["line"] for e in raw] == [docker_lines[6]], "the corrupted line is sent unchanged"
        want_docker = [json.loads(l) for i, l in enumerate(docker_lines) if i != 6]
        assert sorted(e["line"] for e in parsed) == sorted(d["log"].rstrip("\n") for d in want_docker)
        assert {e["labels"]["namespace"] for e in parsed} == {"ci"}
        assert agent.metric("nodewatch_agent_log_malformed_total", source="kubernetes_pods", reason="cri_timestamp") == 1
        # The component counters (lines): the source read every line of both files; parse_cri
        # took each container line and handed on the joined entries Loki got; the corrupted
        # docker line is its one error (it went on as plain text).
        text = agent.metrics_text()
        file_lines = len((root / CRI_POD / "client" / "0.log").read_text().splitlines()) + len(docker_lines)
        src = component_counters(text, "source", "kubernetes_pods")
        assert src == {"received": file_lines, "sent": file_lines, "dropped": 0, "errors": 0}, src
        pc = component_counters(text, "transform", "parse_cri")
        assert pc == {"received": file_lines, "sent": total, "dropped": 0, "errors": 1}, pc
    finally:
        agent.stop()


def test_multiline_stack_trace_arrives_as_one_entry(tmp_path, loki):
    root = tmp_path / "pods"
    f = root / CRI_POD / "client" / "0.log"
    f.parent.mkdir(parents=True)
    f.write_bytes(CRI.read_bytes())
    extra = '[sources.kubernetes_pods.multiline]\nstart_pattern = "^[A-Za-z]+: "\ntimeout_ms = 300\n'
    agent = Agent(tmp_path / "agent", pods_config(loki, root, extra)).start()
    try:
        wait_until(lambda: loki.stats()["accepted_entries"] >= 1, 20, what="the stack trace")
        entries = loki.entries()
        assert len(entries) == 1, [e["line"][:80] for e in entries]
        msgs = [m for _, _, m in cri_records()]
        assert entries[0]["line"] == "\n".join(msgs)
        assert entries[0]["ts"] == rfc3339_to_ns(cri_records()[0][0])
        assert entries[0]["labels"]["stream"] == "stderr"
        # multiline (lines): every line of the trace in, one event out.
        ml = component_counters(agent.metrics_text(), "transform", "multiline")
        assert ml == {"received": len(msgs), "sent": 1, "dropped": 0, "errors": 0}, ml
    finally:
        agent.stop()


def test_malformed_input_is_counted_and_never_fatal(tmp_path, loki):
    files = tmp_path / "files"
    files.mkdir()
    big = b"B" * (10 * 1024 * 1024)
    (files / "bad.log").write_bytes(
        b"before\n" + bytes(range(256)).replace(b"\n", b"") + b"\n" + b"caf\xc3\x28 invalid utf8 \xff\n" + big + b"\nafter\n"
    )
    root = tmp_path / "pods"
    pod = root / CRI_POD / "client" / "0.log"
    pod.parent.mkdir(parents=True)
    pod.write_text("not-a-time stderr F hello\n" + CRI.read_text().splitlines()[0] + "\n")
    extra = f"""
[sources.files]
include = [{toml_str(files / "*.log")}]
[sources.files.tail]
discover_interval_ms = 200
poll_interval_ms = 50
"""
    agent = Agent(tmp_path / "agent", pods_config(loki, root) + extra).start()
    try:
        wait_until(lambda: loki.stats()["accepted_entries"] >= 7, 30, what="all seven lines")
        lines = [e["line"] for e in loki.entries()]
        assert "before" in lines and "after" in lines
        cut = [l for l in lines if l.startswith("BBBB")]
        assert len(cut) == 1 and len(cut[0]) == 256 * 1024, "a 10 MiB line is cut at max_line_bytes"
        assert any(l.startswith("caf\ufffd(") for l in lines)
        assert "not-a-time stderr F hello" in lines
        m = lambda src, reason: agent.metric("nodewatch_agent_log_malformed_total", source=src, reason=reason)
        assert m("files", "binary") == 1
        assert m("files", "invalid_utf8") == 2  # the binary line is not UTF-8 either
        assert m("files", "line_too_long") == 1
        assert m("kubernetes_pods", "cri_timestamp") == 1
        assert agent.server.is_running()
    finally:
        agent.stop()


@pytest.mark.timeout(120)
def test_pod_logs_spill_to_disk_while_loki_is_down_and_kubelet_deletes_rotated_files(tmp_path):
    """Loki answers 500 while the kubelet rotates and deletes pod logs and the agent is killed
    with -9: the spill buffer holds what was read, so every line still arrives."""
    import threading
    import time

    loki = TestLoki(tmp_path / "loki")
    root = tmp_path / "pods"
    cdir = root / CRI_POD / "client"
    cdir.mkdir(parents=True)
    agent = Agent(tmp_path / "agent", pods_config(loki, root)).start()
    total, per_gen = 30_000, 3_000
    done = threading.Event()

    def kubelet():
        f = cdir / "0.log"
        out = open(f, "a")
        gen = 0
        for seq in range(total):
            out.write(f"2026-01-01T00:00:00.{seq:09d}Z stdout F seq={seq:07d}\n")
            if seq % 200 == 199:
                out.flush()
                time.sleep(0.02)
            if seq % per_gen == per_gen - 1:
                out.close()
                gen += 1
                os.rename(f, cdir / f"0.log.2026010100000{gen}")
                stale = cdir / f"0.log.2026010100000{gen - 2}"
                if stale.exists():
                    os.remove(stale)  # the kubelet keeps few rotated files
                out = open(f, "a")
        out.close()
        done.set()

    try:
        loki.fail(500, seconds=12)
        t = threading.Thread(target=kubelet, daemon=True)
        t.start()
        time.sleep(3)
        agent.kill9()
        agent.start()
        assert done.wait(60)
        assert agent.metric("nodewatch_agent_log_buffer_limit_bytes", sink="loki_spill") == 256 * 1024 * 1024
        try:
            wait_until(lambda: len({r["line"] for r in loki.records()}) >= total, 30, interval_s=1, what="every pod line")
        except AssertionError:
            pass
        seen = {r["line"] for r in loki.records()}
        missing = {f"seq={s:07d}" for s in range(total)} - seen
        assert not missing, f"{len(missing)} pod lines lost, e.g. {sorted(missing)[:5]}"
        assert loki.stats()["failed_requests"] > 0
    finally:
        agent.stop()
        loki.stop()


class FakePodApi:
    """A stand-in for the Kubernetes API server on 127.0.0.1 (no kube-apiserver can run here),
    answering GET /api/v1/namespaces/<ns>/pods/<name> with a real-format Pod object."""

    def __init__(self, pods: dict[str, dict]):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[tuple[str, str]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                api.requests.append((self.path, self.headers.get("Authorization", "")))
                pod = pods.get(self.path)
                body = json.dumps(pod if pod else {"kind": "Status", "code": 404}).encode()
                self.send_response(200 if pod else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_pod_labels_from_the_kubernetes_api_are_added_to_the_streams(tmp_path, loki):
    root = tmp_path / "pods"
    uid = CRI_POD.rsplit("_", 1)[1]
    api = FakePodApi({
        "/api/v1/namespaces/default/pods/hdfs-client-0": {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "hdfs-client-0", "namespace": "default", "uid": uid,
                         "labels": {"app": "hdfs", "app.kubernetes.io/component": "client",
                                    "pod-template-hash": "5d78c9869d"}},
        },
    })
    token = tmp_path / "token"
    token.write_text("test-token\n")
    expected = write_cri_with_partials(root / CRI_POD / "client" / "0.log")
    # The docker pod is unknown to the API (404): its lines still ship, with the path's labels.
    (root / DOCKER_POD / "build").mkdir(parents=True)
    (root / DOCKER_POD / "build" / "0.log").write_bytes(DOCKER.read_bytes())
    extra = f"""
[sources.kubernetes_pods.api]
enabled = true
url = "{api.url}"
token_file = {toml_str(token)}
labels = ["app", "app.kubernetes.io/component"]
"""
    agent = Agent(tmp_path / "agent", pods_config(loki, root, extra)).start()
    try:
        wait_until(lambda: loki.stats()["accepted_entries"] >= len(expected), 20, what="the CRI entries")
        cri = [e for e in loki.entries() if e["labels"].get("pod") == "hdfs-client-0"]
        assert len(cri) == len(expected)
        for e in cri:
            assert e["labels"]["app"] == "hdfs"
            assert e["labels"]["app_kubernetes_io_component"] == "client"
            assert "pod_template_hash" not in e["labels"], "only the labels asked for"
        dock = [e for e in loki.entries() if e["labels"].get("pod") == "packetbeat-build-1"]
        assert dock and all("app" not in e["labels"] for e in dock)
        assert all(auth == "Bearer test-token" for _, auth in api.requests), api.requests
        assert agent.metric("nodewatch_agent_log_pod_api_errors_total", reason="not_found") == 1
    finally:
        agent.stop()
        api.close()
