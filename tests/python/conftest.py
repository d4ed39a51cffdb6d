"""Shared fixtures for the storage-node end-to-end tests.

Every test talks to a real `storage-node serve` process started here. The node
listens on 127.0.0.1 only, on ports the kernel handed out a moment before, and
is always stopped at teardown (SIGTERM, then SIGKILL, each wait bounded).

The binary is `target/release/storage-node` under the repository root, or
whatever `STORAGE_NODE_BIN` names. When a test fails, the tail of the log of
every node that was running is attached to the report.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import boto3
import pytest
import requests
from botocore.config import Config

from harness.procs import free_ports  # noqa: F401 - also imported from here by tests

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "target" / "release" / "storage-node"

READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
KILL_TIMEOUT_S = 5.0
START_ATTEMPTS = 3  # only retried when the port we picked was taken meanwhile
LOG_TAIL_BYTES = 16 * 1024
REGION = "us-east-1"

# Nodes currently running, so that a failing test can show their logs.
_LIVE_NODES: list["StorageNode"] = []


@atexit.register
def _stop_leftover_nodes() -> None:
    """Last resort when pytest exits without running fixture teardown."""
    for n in list(_LIVE_NODES):
        n.stop()


def node_binary() -> Path:
    path = Path(os.environ.get("STORAGE_NODE_BIN", DEFAULT_BIN))
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"storage-node binary not found at {path}; build it with "
            "`cargo build --release -p storage-node` or set STORAGE_NODE_BIN",
            pytrace=False,
        )
    return path


def node_env() -> dict[str, str]:
    """The environment for a node: ours, minus any STORAGE_NODE_* setting (the
    node reads those as configuration) and with backtraces on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STORAGE_NODE_")}
    env["RUST_BACKTRACE"] = "1"
    return env


@dataclass
class StorageNode:
    """One running `storage-node serve` process and how to reach it."""

    root: Path
    node_id: str
    access_key: str
    secret_key: str
    tls_cert: Path | None = None
    tls_key: Path | None = None
    extra_args: list[str] = field(default_factory=list)
    # When set, everything but extra_args goes into a TOML file passed with --config,
    # and the secret key into a file named by secret_key_file.
    via_config_file: bool = False
    s3_port: int = 0
    admin_port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "node.log"

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.s3_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    # -- lifecycle -----------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.root / "node.toml"

    def _write_config_file(self) -> None:
        secret_file = self.root / "secret-key"
        secret_file.write_text(self.secret_key + "\n")  # the trailing newline is ignored
        secret_file.chmod(0o600)
        lines = [
            f'node_id = "{self.node_id}"',
            f'data_dir = "{self.data_dir}"',
            f's3_listen = "127.0.0.1:{self.s3_port}"',
            f'admin_listen = "127.0.0.1:{self.admin_port}"',
            f'access_key = "{self.access_key}"',
            f'secret_key_file = "{secret_file}"',
        ]
        if self.tls_cert:
            lines += [f'tls_cert = "{self.tls_cert}"', f'tls_key = "{self.tls_key}"']
        self.config_path.write_text("\n".join(lines) + "\n")

    def command(self) -> list[str]:
        if self.via_config_file:
            return [str(node_binary()), "serve", "--config", str(self.config_path)] + self.extra_args
        cmd = [
            str(node_binary()),
            "serve",
            "--node-id", self.node_id,
            "--data-dir", str(self.data_dir),
            "--s3-listen", f"127.0.0.1:{self.s3_port}",
            "--admin-listen", f"127.0.0.1:{self.admin_port}",
            # `--flag=value`: a generated secret may start with "-", which clap would read as a flag.
            f"--access-key={self.access_key}",
            f"--secret-key={self.secret_key}",
        ]
        if self.tls_cert:
            cmd += ["--tls-cert", str(self.tls_cert), "--tls-key", str(self.tls_key)]
        return cmd + self.extra_args

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        last_error = ""
        for _attempt in range(START_ATTEMPTS):
            self.s3_port, self.admin_port = free_ports(2)
            if self.via_config_file:
                self._write_config_file()
            log = open(self.log_path, "ab")
            try:
                self.proc = subprocess.Popen(
                    self.command(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.root,
                    env=node_env(),
                )
            finally:
                log.close()
            if self not in _LIVE_NODES:
                _LIVE_NODES.append(self)
            outcome = self._wait_ready()
            if outcome == "ready":
                return
            self.stop()
            last_error = outcome
            if "in use" not in self.log_tail().lower():
                break
        pytest.fail(
            f"storage-node did not become ready: {last_error}\n"
            f"command: {' '.join(self.command())}\n--- log ---\n{self.log_tail()}",
            pytrace=False,
        )

    def _wait_ready(self) -> str:
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no answer"
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                return f"process exited with status {code}"
            try:
                r = requests.get(f"{self.admin_url}/readyz", timeout=1)
                if r.status_code == 200:
                    return "ready"
                last = f"/readyz answered {r.status_code}"
            except requests.RequestException as e:
                last = f"/readyz: {e.__class__.__name__}"
            time.sleep(0.1)
        return f"not ready after {READY_TIMEOUT_S}s ({last})"

    def stop(self) -> None:
        if self in _LIVE_NODES:
            _LIVE_NODES.remove(self)
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=KILL_TIMEOUT_S)

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - LOG_TAIL_BYTES))
                return f.read().decode("utf-8", "replace")
        except OSError as e:
            return f"(no log: {e})"

    def log_records(self) -> list[dict]:
        """The JSON log lines; a line that is not JSON fails the caller."""
        out = []
        for line in self.log_path.read_text("utf-8", "replace").splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

    # -- clients -------------------------------------------------------

    def client(self, secret_key: str | None = None, access_key: str | None = None,
               verify=None, **config_kwargs):
        settings = dict(
            # boto3 presigns with SigV2 for custom endpoints unless told; the node speaks SigV4.
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": 1},  # no retries: counts must be exact
            connect_timeout=5,
            read_timeout=60,
        )
        cfg = Config(**{**settings, **config_kwargs})  # a caller's setting wins
        if verify is None:
            verify = str(self.tls_cert) if self.tls_cert else True
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=cfg,
            verify=verify,
        )

    def admin_get(self, path: str) -> requests.Response:
        return requests.get(f"{self.admin_url}{path}", timeout=10)

    def status(self) -> dict:
        r = self.admin_get("/admin/status")
        assert r.status_code == 200, r.text
        return r.json()

    def metrics_text(self) -> str:
        r = self.admin_get("/metrics")
        assert r.status_code == 200, r.text
        return r.text


def _new_node(root: Path, **kwargs) -> StorageNode:
    root.mkdir(parents=True, exist_ok=True)
    return StorageNode(
        root=root,
        node_id=kwargs.pop("node_id", f"node-{uuid.uuid4().hex[:8]}"),
        access_key=kwargs.pop("access_key", "AK" + secrets.token_hex(8).upper()),
        secret_key=kwargs.pop("secret_key", secrets.token_urlsafe(30)),
        **kwargs,
    )


@pytest.fixture(scope="module")
def node_factory(tmp_path_factory) -> Iterator:
    """Start nodes for a module: `node_factory(tls_cert=..., extra_args=[...])`."""
    started: list[StorageNode] = []

    def start(**kwargs) -> StorageNode:
        node = _new_node(tmp_path_factory.mktemp("node"), **kwargs)
        started.append(node)
        node.start()
        return node

    yield start
    for node in started:
        node.stop()


@pytest.fixture(scope="module")
def node(node_factory) -> StorageNode:
    """One plain-HTTP node shared by the tests of a module."""
    return node_factory()


@pytest.fixture(scope="module")
def s3(node):
    return node.client()


@pytest.fixture
def bucket(s3) -> str:
    """A fresh, empty bucket for one test."""
    name = f"b-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name


def error_code(excinfo) -> str:
    return excinfo.value.response.get("Error", {}).get("Code", "")


def http_status(excinfo_or_response) -> int:
    resp = getattr(getattr(excinfo_or_response, "value", None), "response", None)
    if resp is None:
        resp = excinfo_or_response
    return resp["ResponseMetadata"]["HTTPStatusCode"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for n in list(_LIVE_NODES):
            report.sections.append(
                (f"storage-node {n.node_id} log ({n.log_path})", n.log_tail())
            )
