"""A real Alertmanager (Debian's `prometheus-alertmanager`) with its own config and storage."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import requests

from .procs import Server, free_ports

# A config that routes everything to a receiver with no integrations: alerts stay listable
# through the API, which is what the tests read.
DEFAULT_CONFIG = """\
route:
  receiver: "null"
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: "null"
"""


def alertmanager_binary() -> str:
    for name in ("prometheus-alertmanager", "alertmanager"):
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError("alertmanager not installed: apt-get install prometheus-alertmanager")


@dataclass
class Alertmanager:
    root: Path
    config_yaml: str = DEFAULT_CONFIG
    port: int = 0
    cluster_port: int = 0
    server: Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Alertmanager":
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "alertmanager.yml").write_text(self.config_yaml)
        if not self.port:
            self.port, self.cluster_port = free_ports(2)
        self.server = Server(
            name="alertmanager",
            cmd=[
                alertmanager_binary(),
                f"--config.file={self.root / 'alertmanager.yml'}",
                f"--storage.path={self.root / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                # No gossip: a single instance, and nothing but loopback.
                "--cluster.listen-address=",
            ],
            log_path=self.root / "alertmanager.log",
            ready_url=f"{self.url}/-/ready",
            cwd=self.root,
        ).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.stop()

    def alerts(self, active_only: bool = True) -> list[dict]:
        params = {"active": "true"} if active_only else {}
        r = requests.get(f"{self.url}/api/v2/alerts", params=params, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()
