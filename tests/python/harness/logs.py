"""The test Loki (`target/release/test-loki`) and `node-agent run` with log sources, on loopback."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from .procs import Server, free_ports, release_binary, wait_until


class TestLoki:
    """A running test-loki; every accepted entry is appended to `record_path` (JSON lines)."""

    __test__ = False  # not a pytest class

    def __init__(self, workdir: Path, *flags: str):
        workdir.mkdir(parents=True, exist_ok=True)
        self.record_path = workdir / "loki-record.jsonl"
        port_file = workdir / "loki.port"
        self.server = Server(
            name="test-loki",
            cmd=[str(release_binary("test-loki", "TEST_LOKI_BIN")), "--port-file", str(port_file),
                 "--record", str(self.record_path), *flags],
            log_path=workdir / "test-loki.log",
        ).start()
        port = wait_until(lambda: port_file.exists() and port_file.read_text().strip(), 20, what="test-loki port file")
        self.url = f"http://127.0.0.1:{int(port)}"
        wait_until(lambda: requests.get(f"{self.url}/ready", timeout=1).ok, 20, what="test-loki ready")

    @property
    def push_url(self) -> str:
        return f"{self.url}/loki/api/v1/push"

    def stats(self) -> dict:
        return requests.get(f"{self.url}/control/stats", timeout=5).json()

    def entries(self) -> list[dict]:
        return requests.get(f"{self.url}/control/entries", timeout=30).json()

    def fail(self, status: int, seconds: float | None = None, retry_after: int | None = None) -> None:
        q = {"status": status}
        if seconds is not None:
            q["seconds"] = seconds
        if retry_after is not None:
            q["retry_after"] = retry_after
        requests.post(f"{self.url}/control/fail", params=q, timeout=5).raise_for_status()

    def ok(self) -> None:
        requests.post(f"{self.url}/control/ok", timeout=5).raise_for_status()

    def records(self):
        """Every accepted entry so far, from the record file."""
        with open(self.record_path, "rb") as f:
            for line in f:
                if line.endswith(b"\n"):
                    yield json.loads(line)

    def stop(self) -> None:
        self.server.stop()


@dataclass
class Agent:
    """`node-agent run` with a config file; kill9() and start() again keep the data dir."""

    workdir: Path
    config_text: str
    extra_args: tuple[str, ...] = ()
    server: Server | None = None
    api: str = ""

    def start(self) -> "Agent":
        self.workdir.mkdir(parents=True, exist_ok=True)
        cfg = self.workdir / "agent.toml"
        cfg.write_text(self.config_text)
        (port,) = free_ports(1)
        self.api = f"http://127.0.0.1:{port}"
        self.server = Server(
            name="node-agent",
            cmd=[str(release_binary("node-agent", "NODE_AGENT_BIN")), "run", "--config", str(cfg),
                 "--listen", f"127.0.0.1:{port}", "--data-dir", str(self.workdir / "data"),
                 # The pipeline listener is not under test here: an ephemeral port, never 4318.
                 "--otlp-listen", "127.0.0.1:0", *self.extra_args],
            log_path=self.workdir / "agent.log",
            ready_url=f"{self.api}/healthz",
        ).start()
        return self

    @property
    def pid(self) -> int:
        assert self.server and self.server.proc
        return self.server.proc.pid

    def kill9(self) -> None:
        if self.server:
            self.server.kill9()

    def stop(self) -> None:
        if self.server:
            self.server.stop()

    def metrics_text(self) -> str:
        return requests.get(f"{self.api}/metrics", timeout=10).text

    def metric(self, name: str, **labels) -> float:
        """The sum of the samples of `name` whose labels include `labels`."""
        total = 0.0
        for line in self.metrics_text().splitlines():
            if not line.startswith(name):
                continue
            m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)", line)
            if not m or m.group(1) != name:
                continue
            got = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
            if all(got.get(k) == v for k, v in labels.items()):
                total += float(m.group(4))
        return total

    def log_tail(self) -> str:
        return self.server.log_tail() if self.server else ""


BASE_CONFIG = """
log_level = "info"
[sources.host]
enabled = false
[sources.smartctl]
enabled = false
[sources.storage_node]
enabled = false
"""


def agent_config(loki_url: str, extra: str = "", **endpoint) -> str:
    """A config with only log sources on, pushing to `loki_url`."""
    ep = "".join(f"{k} = {json.dumps(v)}\n" for k, v in endpoint.items())
    return BASE_CONFIG + extra + f"\n[[sinks.loki.endpoints]]\nurl = \"{loki_url}\"\n{ep}"


def toml_str(p: os.PathLike | str) -> str:
    return json.dumps(str(p))


def rfc3339_to_ns(ts: str) -> str:
    """`2020-08-19T21:06:24.337Z` (any fraction length, UTC) to nanoseconds, as Loki's JSON writes them."""
    from datetime import datetime, timezone
    base, _, frac = ts.rstrip("Z").partition(".")
    secs = int(datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp())
    return str(secs * 1_000_000_000 + int((frac or "0").ljust(9, "0")[:9]))
