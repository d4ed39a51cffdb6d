"""Durability: acknowledged writes survive kill -9, damaged bytes are never served.

These drive a real node with boto3, kill it with SIGKILL in the middle of
concurrent PUTs, restart it on the same data directory and compare every byte.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from conftest import error_code, http_status

WRITERS = 8
KILL_AFTER_S = 2.5
WRITER_DEADLINE_S = 30.0


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_kill9_during_concurrent_puts(node_factory):
    node = node_factory()
    s3 = node.client()
    s3.create_bucket(Bucket="durable")

    attempted: dict[str, str] = {}  # key -> sha256 of the body we tried to write
    acked: dict[str, str] = {}  # key -> sha256, only after the PUT returned 200
    lock = threading.Lock()
    stop = threading.Event()
    failures: list[str] = []

    def writer(w: int) -> None:
        rng = random.Random(w)
        client = node.client()
        deadline = time.monotonic() + WRITER_DEADLINE_S
        i = 0
        while not stop.is_set() and time.monotonic() < deadline:
            size = rng.choice([1024, 4096, 65536, 200_000, 2 << 20])
            body = os.urandom(size)
            key = f"w{w}/obj-{i:05d}"
            i += 1
            with lock:
                attempted[key] = _sha(body)
            try:
                client.put_object(Bucket="durable", Key=key, Body=body)
            except Exception as e:  # the node died under us: expected once
                failures.append(type(e).__name__)
                return
            with lock:
                acked[key] = _sha(body)

    threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(WRITERS)]
    for t in threads:
        t.start()
    time.sleep(KILL_AFTER_S)
    node.proc.send_signal(signal.SIGKILL)
    node.proc.wait(timeout=10)
    stop.set()
    for t in threads:
        t.join(timeout=WRITER_DEADLINE_S)
        assert not t.is_alive(), "a writer thread did not stop"
    assert acked, "no PUT was acknowledged before the kill; the test proves nothing"
    assert failures, "no PUT was in flight at the kill; the test proves nothing"

    node.start()  # same data directory, new ports
    s3 = node.client()
    # Every acknowledged object reads back byte-identical.
    for key, digest in acked.items():
        body = s3.get_object(Bucket="durable", Key=key)["Body"].read()
        assert _sha(body) == digest, f"acknowledged object {key} changed after kill -9"
    # Nothing is visible half-written: every listed object is one we wrote, whole.
    listed = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="durable"):
        listed += [o["Key"] for o in page.get("Contents", [])]
    assert set(acked) <= set(listed)
    for key in set(listed) - set(acked):
        body = s3.get_object(Bucket="durable", Key=key)["Body"].read()
        assert _sha(body) == attempted[key], f"unacknowledged object {key} is visible but not whole"
    # Half-written temporary files were cleared at start-up.
    assert list((node.data_dir / "tmp").iterdir()) == []
    assert node.status()["objects"] == len(listed)
    print(f"acked={len(acked)} in-flight-at-kill={len(failures)} visible-unacked={len(set(listed) - set(acked))}")


def _object_file(node, bucket: str, key: str):
    h = hashlib.sha256(key.encode()).hexdigest()
    return node.data_dir / "buckets" / bucket / h[:2] / h, h


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_flipped_byte_is_never_served_and_scrub_finds_it(node_factory):
    node = node_factory(extra_args=["--scrub-interval-secs", "1", "--scrub-bytes-per-sec", "100000000"])
    s3 = node.client()
    s3.create_bucket(Bucket="scrubbed")
    victim = os.urandom(300_000)
    s3.put_object(Bucket="scrubbed", Key="victim", Body=victim)
    s3.put_object(Bucket="scrubbed", Key="healthy", Body=b"fine")
    before = _metric(node.metrics_text(), "storage_node_checksum_errors_total")

    path, key_hash = _object_file(node, "scrubbed", "victim")
    offset = 200_000  # inside the fourth 64 KiB block
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))
        f.flush()
        os.fsync(f.fileno())

    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="scrubbed", Key="victim")["Body"].read()
    assert http_status(e) == 500 and error_code(e) == "InternalError"
    # A range inside an undamaged block is still served, verified.
    part = s3.get_object(Bucket="scrubbed", Key="victim", Range="bytes=0-999")["Body"].read()
    assert part == victim[:1000]
    # A range over the damaged block is refused.
    with pytest.raises(ClientError):
        s3.get_object(Bucket="scrubbed", Key="victim", Range=f"bytes={offset - 10}-{offset + 10}")["Body"].read()
    assert s3.get_object(Bucket="scrubbed", Key="healthy")["Body"].read() == b"fine"
    assert _metric(node.metrics_text(), "storage_node_checksum_errors_total") >= before + 2

    logs = [r for r in node.log_records() if r.get("key_hash") == key_hash]
    assert any("checksum mismatch" in r.get("message", "") for r in logs), "the log does not name the damaged object"

    deadline = time.monotonic() + 15
    damaged = []
    while time.monotonic() < deadline:
        scrub = node.status()["last_scrub"]
        damaged = scrub["damaged"]
        if scrub["passes_completed"] >= 1 and damaged:
            break
        time.sleep(0.2)
    assert damaged == [f"scrubbed/{key_hash}"]
    text = node.metrics_text()
    assert _metric(text, "storage_node_scrub_errors_total") >= 1
    assert _metric(text, "storage_node_scrub_objects_total") >= 1


STREAMS = 32
ROUNDS = 3
ROUND_WRITE_S = 6.0  # at most; a round kills once 2 PUTs per stream were acknowledged
# Mostly small objects (the small-object log, group commit), some just over its 64 KiB threshold,
# and a few large ones (files): 1 KiB to 5 MiB.
MIXED_SIZES = [1024, 1024, 4096, 4096, 16384, 65536, 65537, 300_000, 5 << 20]


def test_kill9_during_32_put_streams_of_mixed_sizes_three_rounds(node_factory):
    """kill -9 in the middle of 32 concurrent PUT streams, three times over one data directory:
    every acknowledged PUT of every round reads back byte-identical after each restart, and any
    unacknowledged object that is visible is whole."""
    node = node_factory()
    node.client().create_bucket(Bucket="mixed")
    acked: dict[str, str] = {}  # key -> sha256 of its last acknowledged body
    inflight: dict[str, str] = {}  # key -> sha256 of a body being PUT (unacknowledged)
    lock = threading.Lock()

    round_acks = [0]

    def writer(rnd: int, w: int, stop: threading.Event, failures: list[str],
               ready: threading.Barrier) -> None:
        rng = random.Random(rnd * 1000 + w)
        client = node.client()
        ready.wait(timeout=60)
        deadline = time.monotonic() + WRITER_DEADLINE_S
        i = 0
        while not stop.is_set() and time.monotonic() < deadline:
            body = os.urandom(rng.choice(MIXED_SIZES))
            # Some keys are overwritten across rounds and streams: small by large and back.
            key = f"s{w}/k{rng.randrange(40)}" if i % 3 == 0 else f"r{rnd}/s{w}/obj-{i:05d}"
            i += 1
            with lock:
                inflight[key] = _sha(body)
            try:
                client.put_object(Bucket="mixed", Key=key, Body=body)
            except Exception as e:  # the node died under us: expected once
                failures.append(type(e).__name__)
                return
            with lock:
                acked[key] = inflight.pop(key)
                round_acks[0] += 1

    started = time.monotonic()
    for rnd in range(ROUNDS):
        stop, failures, ready = threading.Event(), [], threading.Barrier(STREAMS + 1)
        round_acks[0] = 0
        threads = [threading.Thread(target=writer, args=(rnd, w, stop, failures, ready), daemon=True)
                   for w in range(STREAMS)]
        for t in threads:
            t.start()
        ready.wait(timeout=60)  # every stream has its client: all 32 write at once
        deadline = time.monotonic() + ROUND_WRITE_S
        while round_acks[0] < 2 * STREAMS and time.monotonic() < deadline:
            time.sleep(0.05)
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait(timeout=10)
        stop.set()
        for t in threads:
            t.join(timeout=WRITER_DEADLINE_S)
            assert not t.is_alive(), "a writer thread did not stop"
        assert failures, f"round {rnd}: no PUT was in flight at the kill; the round proves nothing"
        node.start()
        s3 = node.client()
        listed = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="mixed"):
            listed |= {o["Key"] for o in page.get("Contents", [])}
        assert set(acked) <= listed, f"round {rnd}: acknowledged keys are missing"
        for key in listed:
            digest = _sha(s3.get_object(Bucket="mixed", Key=key)["Body"].read())
            # The last acknowledged body, or the whole body of the PUT in flight at the kill.
            allowed = {acked.get(key), inflight.get(key)} - {None}
            assert digest in allowed, f"round {rnd}: {key} is not what was last acknowledged"
            acked[key] = digest
        inflight.clear()
        assert list((node.data_dir / "tmp").iterdir()) == []
        print(f"round {rnd}: acked this round={round_acks[0]} acked={len(acked)} "
              f"listed={len(listed)} in-flight={len(failures)}")
    assert acked
    # Small PUTs after the last restart share group fsyncs and say so.
    s3 = node.client()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: s3.put_object(Bucket="mixed", Key=f"after/{i}", Body=b"x" * 4096),
                      range(64)))
    text = node.metrics_text()
    assert _metric(text, "storage_node_group_commit_batch_size_count") >= 1
    assert _metric(text, "storage_node_group_commit_batch_size_sum") >= 64
    assert time.monotonic() - started < 90
