"""A peer applies a shipped batch of small objects with one group fsync, and answers only after it.
With `--write-quorum 3` every acknowledged PUT was applied durably by both peers: a peer killed
(kill -9) in the middle of streams of PUTs, overwrites and deletes, restarted alone (nothing can be
shipped to it again), serves every acknowledged write (or a later attempt of the same key),
byte-identical, and nothing half-written. Counts asserted, twice."""

from __future__ import annotations

import hashlib
import random
import threading
import time

import pytest
from botocore.exceptions import ClientError

from replication_cluster import make_cluster, wait_for

PENDING = "storage_node_replication_pending_entries"
LAG = "storage_node_replication_lag_seconds"
REC_ACTIVE = "storage_node_recovery_active"
THREADS = 16
KEYS_PER_THREAD = 12
ROUNDS = 2


def caught_up(node, peer: str) -> bool:
    return (node.metric(PENDING, peer=peer) == 0 and node.metric(LAG, peer=peer) == 0
            and node.metric(REC_ACTIVE, peer=peer) == 0)


def body(key: str, n: int, size: int) -> bytes:
    seed = hashlib.sha256(f"{key}/{n}".encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def writer(s3, t: int, stop: threading.Event, attempts: dict, acked: dict, lock: threading.Lock):
    """PUTs (mostly small, some past the small-object threshold), overwrites and deletes of this
    thread's keys until a write fails after `stop` is set (the peer is gone: the quorum fails).
    Records every attempt, in order, and the index of the last acknowledged one per key."""
    rng = random.Random(t)
    for n in range(100_000):
        key = f"t{t:02d}-k{rng.randrange(KEYS_PER_THREAD):02d}"
        if rng.random() < 0.1:
            payload = None
        else:
            payload = body(key, n, rng.choice([1024, 4096, 4096, 4096, 16384, 100_000]))
        with lock:
            attempts.setdefault(key, []).append(payload)
            at = len(attempts[key]) - 1
        try:
            if payload is None:
                s3.delete_object(Bucket="peerbatch", Key=key)
            else:
                s3.put_object(Bucket="peerbatch", Key=key, Body=payload)
        except ClientError:
            if stop.is_set():
                return
            raise
        with lock:
            acked[key] = max(acked.get(key, -1), at)


@pytest.mark.parametrize("round_no", range(ROUNDS))
def test_a_peer_killed_mid_batch_keeps_every_acknowledged_write(tmp_path, round_no):
    nodes = make_cluster(tmp_path, extra={0: ["--write-quorum", "3", "--quorum-timeout-ms", "1500"]})
    a, b, c = nodes
    try:
        for n in nodes:
            n.start()
        a.s3.create_bucket(Bucket="peerbatch")
        wait_for("bucket everywhere", lambda: caught_up(a, "n1") and caught_up(a, "n2"))
        applied_before = c.metric("storage_node_group_commit_batch_size_count")
        stop = threading.Event()
        attempts: dict[str, list] = {}
        acked: dict[str, int] = {}
        lock = threading.Lock()
        clients = [a.client() for _ in range(THREADS)]
        threads = [threading.Thread(target=writer, args=(clients[t], t, stop, attempts, acked, lock))
                   for t in range(THREADS)]
        for th in threads:
            th.start()
        wait_for("writes acknowledged", lambda: sum(1 for _ in acked) >= THREADS * KEYS_PER_THREAD // 2
                 and c.metric("storage_node_group_commit_batch_size_count") > applied_before + 20,
                 timeout=60, interval=0.05)
        time.sleep(0.3 + 0.4 * round_no)
        stop.set()
        c.kill9()
        for th in threads:
            th.join(timeout=60)
            assert not th.is_alive()
        a.kill9()
        b.kill9()
        # Alone: nothing can be shipped to it again, so it serves what it made durable itself.
        c.start()
        with lock:
            total_acked = len(acked)
            checked = 0
            for key, tries in attempts.items():
                last = acked.get(key, -1)
                allowed = tries[max(last, 0):] if last >= 0 else [None] + tries
                try:
                    got = c.s3.get_object(Bucket="peerbatch", Key=key)["Body"].read()
                except ClientError as e:
                    assert e.response["Error"]["Code"] == "NoSuchKey", (key, e.response["Error"])
                    got = None
                assert got in allowed, (key, last, len(tries), None if got is None else len(got))
                checked += 1
        assert total_acked >= THREADS * KEYS_PER_THREAD // 2 and checked == len(attempts)
        # Every object the peer serves is one the writer sent, whole (reads are CRC-checked).
        listed = c.s3.list_objects_v2(Bucket="peerbatch").get("Contents", [])
        assert {o["Key"] for o in listed} <= set(attempts)
        assert c.metric("storage_node_checksum_errors_total") == 0
    finally:
        for n in nodes:
            n.stop()
