"""Generic process handling: free loopback ports, start a server, wait for it, stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

STOP_TIMEOUT_S = 10.0
KILL_TIMEOUT_S = 5.0
LOG_TAIL_BYTES = 16 * 1024
REPO_ROOT = Path(__file__).resolve().parents[3]


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", REPO_ROOT / "target"))


def release_binary(name: str, env_var: str | None = None) -> Path:
    """Our release binary `name`, or the path in `env_var` when it is set."""
    if env_var and os.environ.get(env_var):
        return Path(os.environ[env_var])
    return target_dir() / "release" / name


def free_ports(n: int) -> list[int]:
    """Ports on 127.0.0.1 that were free a moment ago, all distinct."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_until(pred, timeout_s: float, interval_s: float = 0.2, what: str = "condition"):
    """Polls `pred` until it returns a truthy value or `timeout_s` passes; returns the value.

    Raises AssertionError naming `what` on timeout. Exceptions from `pred` count as "not yet"
    and the last one is reported.
    """
    deadline = time.monotonic() + timeout_s
    last_err: Exception | None = None
    while True:
        try:
            value = pred()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - reported below
            last_err = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}; last error: {last_err!r}")
        time.sleep(interval_s)


def file_tail(path, n: int = LOG_TAIL_BYTES) -> str:
    """The last `n` bytes of the file at `path` as text, or why it could not be read."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - n))
            return f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"(no log: {e})"


@dataclass
class Server:
    """One child process with its log file. `start()` runs `cmd`; `ready_url` must answer 200."""

    name: str
    cmd: list[str]
    log_path: Path
    ready_url: str | None = None
    ready_timeout_s: float = 30.0
    cwd: Path | None = None
    env: dict[str, str] | None = None
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> "Server":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.cwd, env=self.env, start_new_session=True,
            )
        if self.ready_url:
            def ready():
                if self.proc.poll() is not None:
                    raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
                return requests.get(self.ready_url, timeout=1).status_code == 200
            try:
                wait_until(ready, self.ready_timeout_s, what=f"{self.name} at {self.ready_url}")
            except AssertionError as e:
                self.stop()
                raise AssertionError(f"{e}\n--- {self.name} log ---\n{self.log_tail()}") from None
        return self

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=KILL_TIMEOUT_S)

    def kill9(self) -> None:
        """SIGKILL, as a crash would."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=KILL_TIMEOUT_S)

    def log_tail(self) -> str:
        return file_tail(self.log_path)
