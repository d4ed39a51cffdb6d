"""A real Prometheus (Debian's `prometheus`) with its own config and data directory."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import requests

from .procs import Server, free_ports, wait_until


def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if not path:
        raise AssertionError("prometheus not installed: apt-get install prometheus (scripts/test.sh does)")
    return path


@dataclass
class Prometheus:
    """`config_yaml` is written to <root>/prometheus.yml; `rule_files` are copied beside it."""

    root: Path
    config_yaml: str
    extra_args: tuple[str, ...] = ("--web.enable-remote-write-receiver",)
    port: int = 0
    server: Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Prometheus":
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "prometheus.yml").write_text(self.config_yaml)
        if not self.port:
            (self.port,) = free_ports(1)
        self.server = Server(
            name="prometheus",
            cmd=[
                prometheus_binary(),
                f"--config.file={self.root / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.root / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                *self.extra_args,
            ],
            log_path=self.root / "prometheus.log",
            ready_url=f"{self.url}/-/ready",
            cwd=self.root,
        ).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.stop()

    def kill9(self) -> None:
        if self.server:
            self.server.kill9()

    def restart(self) -> "Prometheus":
        """Stops and starts again on the same port and data directory."""
        self.stop()
        return self.start()

    def reload(self) -> None:
        r = requests.post(f"{self.url}/-/reload", timeout=10)
        assert r.status_code == 200, r.text

    # -- HTTP API ------------------------------------------------------

    def api(self, path: str, **params) -> dict:
        r = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=30)
        body = r.json()
        assert body.get("status") == "success", f"{path} {params}: {r.status_code} {body}"
        return body["data"]

    def query(self, expr: str, time: float | None = None) -> list[dict]:
        params = {"query": expr}
        if time is not None:
            params["time"] = str(time)
        return self.api("query", **params)["result"]

    def query_range(self, expr: str, start: float, end: float, step: str = "15s") -> list[dict]:
        return self.api("query_range", query=expr, start=str(start), end=str(end), step=step)["result"]

    def scalar(self, expr: str) -> float | None:
        """The value of a query that returns one sample, or None when it returns nothing."""
        res = self.query(expr)
        if not res:
            return None
        assert len(res) == 1, f"{expr} returned {len(res)} series"
        return float(res[0]["value"][1])

    def targets(self) -> list[dict]:
        return self.api("targets")["activeTargets"]

    def wait_targets_up(self, timeout_s: float = 60.0) -> list[dict]:
        def all_up():
            ts = self.targets()
            return ts if ts and all(t["health"] == "up" for t in ts) else None
        return wait_until(all_up, timeout_s, interval_s=0.5, what="every Prometheus target up")
