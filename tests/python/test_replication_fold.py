"""A small write's replication record is folded into its small-object log record (one group fsync
on the writer). When the writer is killed (kill -9) after acknowledging writes it never shipped, and
its replication log also lost what it wrote after its last fsync (as a power cut can), start-up
appends those records back from the small-object log and they reach the peers: counts asserted."""

from __future__ import annotations

import hashlib
import json
import struct

import pytest

from replication_cluster import make_cluster, wait_for

PENDING = "storage_node_replication_pending_entries"
LAG = "storage_node_replication_lag_seconds"
N = 200


@pytest.fixture
def cluster(tmp_path):
    nodes = make_cluster(tmp_path)
    yield nodes
    for n in nodes:
        n.stop()


def body_for(key: str, size: int = 4096) -> bytes:
    seed = hashlib.sha256(key.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def caught_up(node, peer: str) -> bool:
    return node.metric(PENDING, peer=peer) == 0 and node.metric(LAG, peer=peer) == 0


def repl_records(seg) -> list[tuple[int, dict]]:
    """(offset, record) of every record of a replication log segment (format in log.rs)."""
    raw, pos, out = seg.read_bytes(), 28, []
    while pos + 8 <= len(raw):
        n = struct.unpack("<I", raw[pos:pos + 4])[0]
        if n == 0 or pos + 8 + n > len(raw):
            break
        out.append((pos, json.loads(raw[pos + 8:pos + 8 + n])))
        pos += 8 + n
    return out


def small_log_kinds(node, bucket: str) -> dict[int, int]:
    """How many records of each kind the bucket's small-object log holds (format in small_log.rs)."""
    kinds: dict[int, int] = {}
    for seg in sorted((node.data_dir / "buckets" / bucket / ".log").glob("*.seg")):
        raw, pos = seg.read_bytes(), 0
        while pos + 13 <= len(raw) and raw[pos:pos + 4] == b"NWLR":
            kind, blen = raw[pos + 4], struct.unpack("<I", raw[pos + 5:pos + 9])[0]
            kinds[kind] = kinds.get(kind, 0) + 1
            pos += 13 + blen
    return kinds


def test_folded_records_lost_with_the_log_tail_are_shipped_after_kill9(cluster):
    a, b, c = cluster
    for n in cluster:
        n.start()
    a.s3.create_bucket(Bucket="fold")
    wait_for("bucket everywhere", lambda: all(caught_up(a, p) for p in ("n1", "n2")))
    # The peers go away: what a acknowledges now is on a alone.
    b.kill9()
    c.kill9()
    keys = [f"f{i:03d}" for i in range(N)]
    for k in keys:
        a.s3.put_object(Bucket="fold", Key=k, Body=body_for(k))
    wait_for("backlog for both peers", lambda: a.metric(PENDING, peer="n1") == N
             and a.metric(PENDING, peer="n2") == N)
    # Each write went to the small-object log with its replication record folded in.
    assert small_log_kinds(a, "fold").get(3) == N
    a.kill9()
    # The folded records were never fsynced in the replication log: cut them off, as a power cut
    # after the acknowledgements may.
    seg = max((a.data_dir / "replication" / "log").glob("*.seg"))
    recs = repl_records(seg)
    ours = [(off, r) for off, r in recs if r["bucket"] == "fold" and r["key"] in set(keys)]
    assert len(ours) == N
    cut = ours[0][0]
    assert all(off >= cut for off, _ in ours) and len(recs) - len(ours) == sum(1 for off, _ in recs if off < cut)
    with open(seg, "r+b") as f:
        f.truncate(cut)
    a.start()
    # Start-up appended them back from the small-object log: the same backlog, record for record.
    wait_for("backlog restored", lambda: a.metric(PENDING, peer="n1") == N
             and a.metric(PENDING, peer="n2") == N)
    back = [r for off, r in repl_records(seg) if off >= cut]
    assert [(r["seq"], r["key"], r["cum_bytes"]) for r in back] == \
        [(r["seq"], r["key"], r["cum_bytes"]) for _, r in ours]
    assert "appended folded records back" in a.log_tail()
    b.start()
    c.start()
    wait_for("caught up", lambda: caught_up(a, "n1") and caught_up(a, "n2"), timeout=60)
    for node in (b, c):
        for k in keys:
            assert node.s3.get_object(Bucket="fold", Key=k)["Body"].read() == body_for(k), (node.node_id, k)
        assert node.s3.list_objects_v2(Bucket="fold")["KeyCount"] == N
        # Replicas are not logged again: plain object records, none folded.
        assert small_log_kinds(node, "fold") == {1: N}
