"""Replication between three storage nodes on loopback: writes and deletes reach every peer with the
same bytes and version; the lag metric is honest while a peer is down; a wiped node is backfilled;
killing the sender mid-shipping loses nothing; concurrent writes of one key converge; a write quorum
that cannot be met fails cleanly with a 503."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest
import requests
from botocore.exceptions import ClientError

from conftest import error_code, http_status
from replication_cluster import make_cluster, wait_for

LAG = "storage_node_replication_lag_seconds"
PENDING = "storage_node_replication_pending_entries"
PENDING_BYTES = "storage_node_replication_pending_bytes"
SHIPPED = "storage_node_replication_shipped_entries_total"
UP = "storage_node_replication_peer_up"
REC_ACTIVE = "storage_node_recovery_active"
REC_OBJECTS = "storage_node_recovery_objects_total"
REC_REMAINING = "storage_node_recovery_objects_remaining"


@pytest.fixture
def cluster(tmp_path):
    nodes = make_cluster(tmp_path)
    yield nodes
    for n in nodes:
        n.stop()


def start_all(nodes):
    for n in nodes:
        n.start()


def body_for(key: str, size: int = 2048) -> bytes:
    seed = hashlib.sha256(key.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def create_bucket_everywhere(nodes, name: str) -> None:
    """Created through the first node; bucket creation replicates. Returns once every node has
    it and every shipper is caught up (so that later backlog counts hold only the test's writes)."""
    nodes[0].s3.create_bucket(Bucket=name)

    def everywhere():
        for n in nodes:
            try:
                n.s3.head_bucket(Bucket=name)
            except ClientError:
                return False
        return all(caught_up(n, p.node_id) for n in nodes for p in nodes if p is not n)

    wait_for(f"bucket {name} on every node", everywhere)


def read(node, bucket: str, key: str) -> bytes | None:
    try:
        return node.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") == "NoSuchKey":
            return None
        raise


def caught_up(node, peer: str) -> bool:
    return node.metric(PENDING, peer=peer) == 0 and node.metric(LAG, peer=peer) == 0


def test_writes_and_deletes_through_each_node_reach_the_other_two(cluster):
    start_all(cluster)
    create_bucket_everywhere(cluster, "repl")
    written = {}
    for i, node in enumerate(cluster):
        for j in range(5):
            key = f"from-{node.node_id}/obj-{j}"
            written[key] = body_for(key, 1000 + 997 * j)
            node.s3.put_object(Bucket="repl", Key=key, Body=written[key])
    for node in cluster:
        for key, data in written.items():
            got = wait_for(f"{key} on {node.node_id}", lambda: read(node, "repl", key))
            assert got == data, f"{key} differs on {node.node_id}"
    for key in written:
        footers = [n.footer("repl", key) for n in cluster]
        assert footers[0]["version"]["hlc"] > 0
        assert all(f["version"] == footers[0]["version"] for f in footers), (key, footers)
        assert all(f["etag"] == footers[0]["etag"] for f in footers)
    # A delete through one node removes the key everywhere, as a tombstone with one version.
    victim = "from-n0/obj-3"
    cluster[1].s3.delete_object(Bucket="repl", Key=victim)
    for node in cluster:
        wait_for(f"delete on {node.node_id}", lambda: read(node, "repl", victim) is None)
    tombs = [n.footer("repl", victim) for n in cluster]
    assert all(t is not None and t.get("deleted") is True for t in tombs), tombs
    assert len({(t["version"]["hlc"], t["version"]["node"]) for t in tombs}) == 1
    listed = {o["Key"] for o in cluster[2].s3.list_objects_v2(Bucket="repl").get("Contents", [])}
    assert listed == set(written) - {victim}
    # Nothing bounced: each node shipped only its own writes (5 puts each, plus n1's delete and
    # n0's bucket creation).
    for node in cluster:
        for peer in cluster:
            if peer is node:
                continue
            wait_for("caught up", lambda: caught_up(node, peer.node_id))
            assert node.metric(UP, peer=peer.node_id) == 1
            expected = 6 if node.node_id in ("n0", "n1") else 5
            assert node.metric(SHIPPED, peer=peer.node_id) == expected
    status = cluster[0].status()["replication"]
    assert sorted(p["peer"] for p in status) == ["n1", "n2"]
    assert all(p["up"] and p["pending_entries"] == 0 and p["lag_seconds"] == 0 for p in status)


def test_unauthenticated_pushes_are_refused(cluster):
    start_all(cluster)
    url = f"{cluster[0].url}/_nodewatch/replication/v1/apply"
    r = requests.post(url, data=b"\x00\x00\x00\x00", timeout=10)
    assert r.status_code == 403
    r = requests.post(url, data=b"\x00\x00\x00\x00", timeout=10, headers={
        "x-nodewatch-node": "n1", "x-nodewatch-time": str(int(time.time() * 1000)),
        "x-nodewatch-signature": "00" * 32})
    assert r.status_code == 403
    r = requests.get(f"{cluster[0].url}/_nodewatch/replication/v1/hello", timeout=10)
    assert r.status_code == 403
    assert cluster[0].s3.list_buckets()["Buckets"] == []


def test_a_dead_peer_shows_lag_and_catches_up_after_restart(cluster):
    start_all(cluster)
    a, b, c = cluster
    create_bucket_everywhere(cluster, "lag")
    c.kill9()
    s3 = a.s3
    for i in range(300):
        s3.put_object(Bucket="lag", Key=f"k{i:04d}", Body=body_for(f"k{i}", 512 + i))
    wait_for("pending entries for the dead peer", lambda: a.metric(PENDING, peer="n2") == 300)
    wait_for("lag for the dead peer rises", lambda: a.metric(LAG, peer="n2") > 0.5)
    assert a.metric(PENDING_BYTES, peer="n2") == sum(512 + i for i in range(300))
    assert a.metric(UP, peer="n2") == 0
    assert a.metric("storage_node_replication_errors_total", peer="n2", reason="connect") > 0
    lag_before = a.metric(LAG, peer="n2")
    time.sleep(0.6)
    assert a.metric(LAG, peer="n2") > lag_before, "the lag keeps growing while the peer is down"
    # The live peer is unaffected.
    wait_for("live peer caught up", lambda: caught_up(a, "n1"))
    c.start()
    wait_for("dead peer caught up", lambda: caught_up(a, "n2"), timeout=60)
    assert a.metric(UP, peer="n2") == 1
    for node in cluster:
        for i in range(300):
            got = node.s3.get_object(Bucket="lag", Key=f"k{i:04d}")["Body"].read()
            assert got == body_for(f"k{i}", 512 + i), (node.node_id, i)


def test_a_wiped_node_is_backfilled_by_recovery(cluster):
    start_all(cluster)
    a, b, c = cluster
    create_bucket_everywhere(cluster, "wipe")
    keys = [f"w{i:03d}" for i in range(200)]
    for k in keys:
        a.s3.put_object(Bucket="wipe", Key=k, Body=body_for(k, 3000))
    b.s3.delete_object(Bucket="wipe", Key=keys[0])
    for node in (a, b):
        wait_for("caught up before the wipe", lambda: caught_up(node, "n2"))
    c.kill9()
    c.wipe()
    c.start()
    assert c.s3.list_buckets()["Buckets"] == []
    # Both survivors notice the new incarnation and backfill it.
    wait_for("recovery ran", lambda: a.metric(REC_OBJECTS, peer="n2") + b.metric(REC_OBJECTS, peer="n2") >= 199,
             timeout=60)
    s3c = c.s3

    def all_there():
        listed = set()
        token = None
        while True:
            kw = {"ContinuationToken": token} if token else {}
            page = s3c.list_objects_v2(Bucket="wipe", **kw)
            listed |= {o["Key"] for o in page.get("Contents", [])}
            if not page.get("IsTruncated"):
                return listed == set(keys[1:])
            token = page["NextContinuationToken"]

    wait_for("every object back on the wiped node", all_there, timeout=60)
    for k in keys[1:]:
        assert s3c.get_object(Bucket="wipe", Key=k)["Body"].read() == body_for(k, 3000)
    for node in (a, b):
        wait_for("recovery settled", lambda: node.metric(REC_ACTIVE, peer="n2") == 0
                 and node.metric(REC_REMAINING, peer="n2") == 0 and caught_up(node, "n2"))
        assert node.status()["replication"][1]["needs_recovery"] is False
    assert a.metric("storage_node_recovery_bytes_total", peer="n2") + \
        b.metric("storage_node_recovery_bytes_total", peer="n2") >= 199 * 3000


def test_killing_the_sender_mid_shipping_loses_nothing(cluster):
    start_all(cluster)
    a, b, c = cluster
    create_bucket_everywhere(cluster, "crash")
    c.kill9()
    keys = [f"c{i:03d}" for i in range(300)]
    # 48 MB of backlog: a dozen 4 MiB batches, so that shipping takes long enough to be caught
    # in the middle (with small objects the whole backlog can go out between two polls).
    size = 160_000
    for k in keys:
        a.s3.put_object(Bucket="crash", Key=k, Body=body_for(k, size))
    wait_for("backlog for the dead peer", lambda: a.metric(PENDING, peer="n2") == 300)
    c.start()
    # Kill the sender as soon as it has shipped part of the backlog.
    def progress():
        samples = a.metric(SHIPPED, peer="n2"), a.metric(PENDING, peer="n2")
        return samples if samples[0] > 0 else None

    shipped, pending = wait_for("shipping started", progress, interval=0.02)
    a.kill9()
    assert pending > 0, "the sender was killed with part of its backlog unshipped"
    a.start()
    for node in cluster:
        wait_for("caught up after the crash", lambda: all(caught_up(n, p.node_id)
                 for n in cluster for p in cluster if p is not n), timeout=60)
    for node in cluster:
        s3 = node.s3
        for k in keys:
            assert s3.get_object(Bucket="crash", Key=k)["Body"].read() == body_for(k, size), (node.node_id, k)
        assert s3.list_objects_v2(Bucket="crash")["KeyCount"] == 300


def test_concurrent_writes_of_one_key_converge_to_one_winner(cluster):
    start_all(cluster)
    create_bucket_everywhere(cluster, "race")
    a, b, _ = cluster
    keys = [f"hot-{i}" for i in range(20)]
    barrier = threading.Barrier(2)
    errors = []

    def writer(node, tag):
        s3 = node.s3
        try:
            for k in keys:
                barrier.wait(timeout=10)
                s3.put_object(Bucket="race", Key=k, Body=f"{tag}:{k}".encode() * 100)
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(a, "A")), threading.Thread(target=writer, args=(b, "B"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    for node in cluster:
        for peer in cluster:
            if peer is not node:
                wait_for("caught up", lambda: caught_up(node, peer.node_id))
    for k in keys:
        bodies = {n.node_id: n.s3.get_object(Bucket="race", Key=k)["Body"].read() for n in cluster}
        assert len(set(bodies.values())) == 1, (k, {n: v[:8] for n, v in bodies.items()})
        assert next(iter(bodies.values())) in (f"A:{k}".encode() * 100, f"B:{k}".encode() * 100)
        versions = {str(n.footer("race", k)["version"]) for n in cluster}
        assert len(versions) == 1, (k, versions)


def test_write_quorum_fails_cleanly_when_peers_are_down(tmp_path):
    nodes = make_cluster(tmp_path, extra={0: ["--write-quorum", "2", "--quorum-timeout-ms", "1500"]})
    a, b, _ = nodes
    try:
        a.start()  # its peers never start
        s3 = a.s3
        s3.create_bucket(Bucket="quorum")
        t = time.monotonic()
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket="quorum", Key="k", Body=b"x" * 100)
        elapsed = time.monotonic() - t
        assert http_status(e) == 503
        assert error_code(e) == "ServiceUnavailable"
        assert "quorum" in e.value.response["Error"]["Message"]
        assert 1.4 <= elapsed < 10, elapsed
        assert a.metric("storage_node_write_quorum_failures_total") == 1
        # With one peer back (reachable, and repaired: a peer still under recovery does not count
        # toward a quorum), the quorum of two is met and the write is answered.
        b.start()
        wait_for("the peer back and repaired", lambda: a.metric(UP, peer=b.node_id) == 1
                 and a.metric(REC_ACTIVE, peer=b.node_id) == 0 and caught_up(a, b.node_id))
        s3.put_object(Bucket="quorum", Key="k2", Body=b"y" * 100)
        assert b.s3.get_object(Bucket="quorum", Key="k2")["Body"].read() == b"y" * 100
        assert a.metric("storage_node_write_quorum_failures_total") == 1
    finally:
        for n in nodes:
            n.stop()


CONTRACT = [
    "storage_node_replication_lag_seconds", "storage_node_replication_pending_entries",
    "storage_node_replication_pending_bytes", "storage_node_replication_shipped_entries_total",
    "storage_node_replication_shipped_bytes_total", "storage_node_replication_errors_total",
    "storage_node_replication_peer_up", "storage_node_replication_last_ack_timestamp_seconds",
    "storage_node_replication_backlog_full", "storage_node_replication_backlog_dropped_entries_total",
    "storage_node_recovery_active", "storage_node_recovery_objects_total",
    "storage_node_recovery_bytes_total", "storage_node_recovery_objects_remaining",
]


def test_every_contract_metric_is_exported_per_peer_and_promtool_accepts_them(cluster):
    import shutil
    import subprocess

    from replication_cluster import parse_metrics

    start_all(cluster)
    a = cluster[0]
    samples = parse_metrics(a.metrics_text())
    for name in CONTRACT:
        peers = {l.get("peer") for n, l, _ in samples if n == name}
        assert peers == {"n1", "n2"}, (name, peers)
    reasons = {l["reason"] for n, l, _ in samples if n == "storage_node_replication_errors_total"}
    assert reasons and all(r.isidentifier() for r in reasons)
    assert [l for n, l, _ in samples if n == "storage_node_write_quorum_failures_total"] == [{}]
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    r = subprocess.run([promtool, "check", "metrics"], input=a.metrics_text(), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"promtool: {r.stdout}{r.stderr}"


def test_a_full_backlog_drops_the_peer_to_recovery(tmp_path):
    nodes = make_cluster(tmp_path, extra={0: ["--replication-backlog-max-bytes", "100000"]})
    a, b, c = nodes
    try:
        for n in nodes:
            n.start()
        create_bucket_everywhere(nodes, "full")
        c.kill9()
        for i in range(40):
            a.s3.put_object(Bucket="full", Key=f"f{i:02d}", Body=body_for(f"f{i}", 5000))
        # 40 x 5000 bytes is over the 100000-byte bound: the peer is dropped to recovery.
        assert a.metric("storage_node_replication_backlog_full", peer="n2") == 1
        assert a.metric("storage_node_replication_backlog_dropped_entries_total", peer="n2") > 0
        assert a.metric("storage_node_replication_backlog_full", peer="n1") == 0
        assert any(r.get("message", "").startswith("replication backlog for the peer is full") for r in a.log_records())
        c.start()
        wait_for("recovered", lambda: a.metric("storage_node_replication_backlog_full", peer="n2") == 0
                 and a.metric(REC_ACTIVE, peer="n2") == 0 and caught_up(a, "n2")
                 and not a.status()["replication"][1]["needs_recovery"], timeout=60)
        assert a.metric(REC_OBJECTS, peer="n2") >= 40
        for i in range(40):
            assert c.s3.get_object(Bucket="full", Key=f"f{i:02d}")["Body"].read() == body_for(f"f{i}", 5000)
    finally:
        for n in nodes:
            n.stop()


def _signed(node, method: str, route: str, body: bytes, body_hash: str | None = None):
    import hmac as hmac_mod

    path = f"/_nodewatch/replication/v1/{route}"
    t = str(int(time.time() * 1000))
    h = body_hash if body_hash is not None else hashlib.sha256(body).hexdigest()
    msg = f"nodewatch-replication-v1\n{method}\n{path}\nn1\n{t}\n{h}".encode()
    sig = hmac_mod.new(node.secret_key.encode(), msg, hashlib.sha256).hexdigest()
    headers = {"x-nodewatch-node": "n1", "x-nodewatch-time": t, "x-nodewatch-signature": sig}
    return requests.request(method, f"{node.url}{path}", data=body, headers=headers, timeout=10), t


def test_hostile_replication_frames_are_refused_cleanly(cluster):
    import hmac as hmac_mod
    import json
    import struct

    a = cluster[0]
    a.start()
    # A correctly signed request whose frames are garbage: 400, and the node keeps serving.
    r, _ = _signed(a, "POST", "apply", struct.pack("<I", 7) + b"notjson", body_hash="frames")
    assert r.status_code == 400, r.text
    r, _ = _signed(a, "POST", "apply", struct.pack("<I", 10_000_000), body_hash="frames")
    assert r.status_code == 400, r.text
    r, _ = _signed(a, "POST", "apply", b"\x01\x00", body_hash="frames")
    assert r.status_code == 400, r.text
    # A well-formed frame with a wrong MAC is refused and stores nothing.
    meta = {"key": "forged", "size": 5, "etag": hashlib.md5(b"hello").hexdigest(), "last_modified_ms": 1,
            "attrs": {"content_type": None, "user_metadata": {}}, "checksums": {}, "parts": 0,
            "version": {"hlc": 1 << 40, "node": 1}}
    header = json.dumps({"bucket": "forge", "meta": meta}).encode()
    frame = struct.pack("<I", len(header)) + header + b"hello" + b"\x00" * 32 + struct.pack("<I", 0)
    r, _ = _signed(a, "POST", "apply", frame, body_hash="frames")
    assert r.status_code == 403, r.text
    assert a.footer("forge", "forged") is None
    # The same frame with the right MAC is applied: the MAC is what decides.
    t = str(int(time.time() * 1000))
    mac = hmac_mod.new(a.secret_key.encode(), f"nodewatch-frame-v1\n{t}\n".encode() + struct.pack("<I", len(header)) + header + b"hello",
                       hashlib.sha256).digest()
    path = "/_nodewatch/replication/v1/apply"
    sig = hmac_mod.new(a.secret_key.encode(), f"nodewatch-replication-v1\nPOST\n{path}\nn1\n{t}\nframes".encode(),
                       hashlib.sha256).hexdigest()
    body = struct.pack("<I", len(header)) + header + b"hello" + mac + struct.pack("<I", 0)
    r = requests.post(f"{a.url}{path}", data=body, timeout=10,
                      headers={"x-nodewatch-node": "n1", "x-nodewatch-time": t, "x-nodewatch-signature": sig})
    assert r.status_code == 200, r.text
    assert r.json()["applied"] == 1
    assert a.s3.get_object(Bucket="forge", Key="forged")["Body"].read() == b"hello"
    # Too many keys in one versions request.
    r, _ = _signed(a, "POST", "versions", json.dumps({"bucket": "forge", "keys": ["k"] * 1001}).encode())
    assert r.status_code == 400, r.text
    r, _ = _signed(a, "POST", "versions", json.dumps({"bucket": "forge", "keys": ["forged", "nope"]}).encode())
    assert r.status_code == 200
    versions = r.json()["versions"]
    assert versions[0]["version"] == {"hlc": 1 << 40, "node": 1} and versions[1] is None
    assert a.admin_get("/healthz").status_code == 200


def test_large_objects_multipart_completions_and_copies_replicate(cluster):
    import os

    start_all(cluster)
    a, b, c = cluster
    create_bucket_everywhere(cluster, "big")
    big = os.urandom(3 * 1024 * 1024 + 17)  # over 1 MiB: streamed to peers, not sent inline
    a.s3.put_object(Bucket="big", Key="big", Body=big)
    parts = [os.urandom(5 * 1024 * 1024), os.urandom(1234)]
    up = b.s3.create_multipart_upload(Bucket="big", Key="mp")
    etags = [b.s3.upload_part(Bucket="big", Key="mp", UploadId=up["UploadId"], PartNumber=i + 1, Body=p)["ETag"]
             for i, p in enumerate(parts)]
    b.s3.complete_multipart_upload(Bucket="big", Key="mp", UploadId=up["UploadId"], MultipartUpload={
        "Parts": [{"ETag": e, "PartNumber": i + 1} for i, e in enumerate(etags)]})
    # A copy made on a third node, from the replica it received.
    wait_for("big on n2", lambda: read(c, "big", "big"))
    c.s3.copy_object(Bucket="big", Key="copy", CopySource={"Bucket": "big", "Key": "big"})
    for node in cluster:
        assert wait_for("big", lambda: read(node, "big", "big")) == big
        assert wait_for("multipart", lambda: read(node, "big", "mp")) == b"".join(parts)
        assert wait_for("copy", lambda: read(node, "big", "copy")) == big
        head = node.s3.head_object(Bucket="big", Key="mp")
        assert head["ETag"].endswith('-2"'), head["ETag"]
    assert len({str(n.footer("big", "mp")["version"]) for n in cluster}) == 1
