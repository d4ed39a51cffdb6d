"""Our release `node-agent` with its own config file and data directory."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import requests

from .procs import Server, free_ports, release_binary

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')


def agent_binary() -> Path:
    path = release_binary("node-agent", "NODE_AGENT_BIN")
    if not path.is_file():
        raise AssertionError(f"node-agent not built at {path}: cargo build --release -p agent")
    return path


@dataclass
class Agent:
    """`config_toml` goes to <root>/agent.toml; `args` are extra flags after `run`."""

    root: Path
    config_toml: str = ""
    args: list[str] = field(default_factory=list)
    port: int = 0
    server: Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def start(self) -> "Agent":
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "agent.toml").write_text(self.config_toml)
        if not self.port:
            (self.port,) = free_ports(1)
        extra = list(self.args)
        # The pipeline listener defaults to 127.0.0.1:4318: give it a free port unless told.
        if "--otlp-listen" not in extra and "[pipeline]" not in self.config_toml:
            (pipeline_port,) = free_ports(1)
            extra += ["--otlp-listen", f"127.0.0.1:{pipeline_port}"]
        self.server = Server(
            name="node-agent",
            cmd=[
                str(agent_binary()), "run",
                "--config", str(self.root / "agent.toml"),
                "--listen", f"127.0.0.1:{self.port}",
                "--data-dir", str(self.data_dir),
                *extra,
            ],
            log_path=self.root / "agent.log",
            ready_url=f"{self.url}/healthz",
            cwd=self.root,
        ).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.stop()

    def kill9(self) -> None:
        if self.server:
            self.server.kill9()

    def pid(self) -> int:
        assert self.server and self.server.proc
        return self.server.proc.pid

    def metrics_text(self) -> str:
        r = requests.get(f"{self.url}/metrics", timeout=10)
        assert r.status_code == 200, r.text
        return r.text

    def samples(self, name: str) -> list[tuple[str, float]]:
        """(label block, value) of every sample of `name` in one scrape."""
        out = []
        for line in self.metrics_text().splitlines():
            m = SAMPLE_RE.match(line)
            if m and m.group(1) == name:
                out.append((m.group(2) or "", float(m.group(3))))
        return out

    def value(self, name: str, contains: str = "") -> float | None:
        vals = [v for labels, v in self.samples(name) if contains in labels]
        return vals[0] if vals else None

    def log_tail(self) -> str:
        return self.server.log_tail() if self.server else ""
