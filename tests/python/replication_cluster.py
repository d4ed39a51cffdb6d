"""Three (or more) storage nodes peered with each other on loopback, for the replication tests.

Peers must know each other's S3 URL before they start, so the ports are picked up front and kept
across restarts (a node killed with SIGKILL comes back on the same ports).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
import signal
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import _LIVE_NODES, StorageNode, free_ports, node_env

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> list[tuple[str, dict[str, str], float]]:
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m:
            labels = dict(_LABEL.findall(m.group(3) or ""))
            out.append((m.group(1), labels, float(m.group(4))))
    return out


@dataclass
class PeerNode(StorageNode):
    """A node whose ports are fixed before start, so that peers can name it."""

    peers: list[str] = field(default_factory=list)
    _s3: object = None

    @property
    def s3(self):
        """One boto3 client, kept: the ports never change, and making clients is slow."""
        if self._s3 is None:
            self._s3 = self.client()
        return self._s3

    def command(self) -> list[str]:
        cmd = super().command()
        for p in self.peers:
            cmd += ["--peer", p]
        return cmd

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.root, env=node_env(),
            )
        finally:
            log.close()
        if self not in _LIVE_NODES:
            _LIVE_NODES.append(self)
        outcome = self._wait_ready()
        if outcome != "ready":
            self.stop()
            pytest.fail(f"{self.node_id} did not become ready: {outcome}\n--- log ---\n{self.log_tail()}", pytrace=False)

    def kill9(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self in _LIVE_NODES:
            _LIVE_NODES.remove(self)
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)

    def wipe(self) -> None:
        shutil.rmtree(self.data_dir)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    # -- observation ----------------------------------------------------

    def samples(self, name: str, **labels) -> list[float]:
        return [v for n, l, v in parse_metrics(self.metrics_text())
                if n == name and all(l.get(k) == val for k, val in labels.items())]

    def metric(self, name: str, **labels) -> float:
        """The sum of the matching samples (0 when there is none)."""
        return sum(self.samples(name, **labels))

    def footer(self, bucket: str, key: str) -> dict | None:
        """The JSON footer of a key's current object, read from disk: its object file or its
        newest record in the bucket's small-object log, whichever holds the newer version (the
        formats are in format.rs and small_log.rs)."""
        h = hashlib.sha256(key.encode()).hexdigest()
        path = self.data_dir / "buckets" / bucket / h[:2] / h
        found = []
        try:
            found.append(_image_meta(path.read_bytes()))
        except FileNotFoundError:
            pass
        log_dir = self.data_dir / "buckets" / bucket / ".log"
        for seg in sorted(log_dir.glob("*.seg")) if log_dir.is_dir() else []:
            raw, pos = seg.read_bytes(), 0
            while pos + 13 <= len(raw) and raw[pos:pos + 4] == b"NWLR":
                kind, blen = raw[pos + 4], struct.unpack("<I", raw[pos + 5:pos + 9])[0]
                if kind in (1, 3):
                    # A folded record (3) holds the write's replication record in its first 24 bytes.
                    skip = 24 if kind == 3 else 0
                    meta = _image_meta(raw[pos + 13 + skip:pos + 13 + blen])
                    if meta["key"] == key:
                        found.append(meta)
                pos += 13 + blen
        if not found:
            return None
        return max(found, key=lambda m: (m["version"]["hlc"], m["version"]["node"]))


def _image_meta(raw: bytes) -> dict:
    """The meta of an object image: data, JSON footer, footer length, CRC32C, magic."""
    assert raw[-8:] == b"NWOBJ\x00\x00\x01", "bad magic"
    flen, _crc = struct.unpack("<II", raw[-16:-8])
    return json.loads(raw[-16 - flen:-16])["meta"]


def make_cluster(root: Path, n: int = 3, extra: dict[int, list[str]] | None = None) -> list[PeerNode]:
    """n nodes (not started) that name each other as peers and share one key pair."""
    ports = free_ports(2 * n)
    # hex: a secret starting with "-" would read as a flag on the command line.
    access, secret = "AK" + secrets.token_hex(8).upper(), secrets.token_hex(24)
    ids = [f"n{i}" for i in range(n)]
    nodes = []
    for i in range(n):
        (root / ids[i]).mkdir(parents=True, exist_ok=True)
        node = PeerNode(root=root / ids[i], node_id=ids[i], access_key=access, secret_key=secret,
                        s3_port=ports[2 * i], admin_port=ports[2 * i + 1],
                        extra_args=["--log-level", "info,s3s=off"] + (extra or {}).get(i, []))
        nodes.append(node)
    for i, node in enumerate(nodes):
        node.peers = [f"{o.node_id}=http://127.0.0.1:{o.s3_port}" for j, o in enumerate(nodes) if j != i]
    return nodes


def wait_for(what: str, cond, timeout: float = 30.0, interval: float = 0.2):
    """Polls cond() until it returns something truthy; fails with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond()
        except Exception as e:  # a node restarting refuses connections for a moment
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
