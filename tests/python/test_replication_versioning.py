"""Versioning across three peered nodes: bucket create/delete and the versioning status replicate;
every version, delete marker and permanent version delete converges on all three nodes, written
through any of them; a kill -9 of a node in the middle loses nothing; a wiped node gets every
version back through recovery."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from replication_cluster import make_cluster, wait_for

PENDING = "storage_node_replication_pending_entries"
SHIPPED = "storage_node_replication_shipped_entries_total"


@pytest.fixture
def cluster(tmp_path):
    nodes = make_cluster(tmp_path)
    yield nodes
    for n in nodes:
        n.stop()


def start_all(nodes):
    for n in nodes:
        n.start()


def has_bucket(node, bucket: str) -> bool:
    try:
        node.s3.head_bucket(Bucket=bucket)
        return True
    except ClientError as e:
        if e.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return False
        raise


def versioned_bucket(nodes, bucket: str) -> None:
    """Created and versioned through the first node only; replication does the rest."""
    nodes[0].s3.create_bucket(Bucket=bucket)
    nodes[0].s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for n in nodes[1:]:
        wait_for(f"versioning on {n.node_id}",
                 lambda: n.s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled")


def versions(node, bucket: str) -> list[tuple]:
    """Every version and delete marker: (key, version id, latest, marker, etag, size), paged."""
    out, kw = [], {}
    for _ in range(100):
        page = node.s3.list_object_versions(Bucket=bucket, MaxKeys=200, **kw)
        out += [(v["Key"], v["VersionId"], v["IsLatest"], False, v["ETag"], v["Size"])
                for v in page.get("Versions", [])]
        out += [(m["Key"], m["VersionId"], m["IsLatest"], True, "", 0)
                for m in page.get("DeleteMarkers", [])]
        if not page["IsTruncated"]:
            return sorted(out)
        kw = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
    raise AssertionError("listing did not end")


def converged(nodes, bucket: str, expected_count: int):
    lists = [versions(n, bucket) for n in nodes]
    if len(lists[0]) == expected_count and all(lst == lists[0] for lst in lists[1:]):
        return lists[0]
    return None


def caught_up(nodes) -> bool:
    return all(n.metric(PENDING, peer=p.node_id) == 0 for n in nodes for p in nodes if p is not n)


def test_bucket_create_and_delete_replicate(cluster):
    start_all(cluster)
    a, b, c = cluster
    a.s3.create_bucket(Bucket="life")
    for n in (b, c):
        wait_for(f"the bucket on {n.node_id}", lambda: has_bucket(n, "life"))
    # Objects written and deleted before the bucket delete do not keep it alive on the peers.
    for i in range(5):
        b.s3.put_object(Bucket="life", Key=f"k{i}", Body=b"x" * 100)
    wait_for("objects on a", lambda: a.s3.list_objects_v2(Bucket="life")["KeyCount"] == 5)
    for i in range(5):
        a.s3.delete_object(Bucket="life", Key=f"k{i}")
    a.s3.delete_bucket(Bucket="life")
    for n in (b, c):
        wait_for(f"the bucket gone from {n.node_id}", lambda: not has_bucket(n, "life"))
    assert [x["Name"] for x in c.s3.list_buckets()["Buckets"]] == []


def test_versions_and_delete_markers_converge_on_all_three_nodes(cluster):
    start_all(cluster)
    a, b, c = cluster
    versioned_bucket(cluster, "ver")
    ids = []
    for i, node in enumerate([a, b, c, a, b, c]):
        # Each write waits for the previous one to arrive, so the order is the same everywhere.
        if ids:
            wait_for("the previous version on this node", lambda: len(versions(node, "ver")) == len(ids))
        ids.append(node.s3.put_object(Bucket="ver", Key="k", Body=f"body {i}".encode())["VersionId"])
    marker = b.s3.delete_object(Bucket="ver", Key="k")["VersionId"]
    c.s3.put_object(Bucket="ver", Key="other", Body=b"o")
    wait_for("the marker on c", lambda: any(v[1] == marker for v in versions(c, "ver")))
    c.s3.delete_object(Bucket="ver", Key="k", VersionId=ids[1])  # gone for good, everywhere
    final = wait_for("versions converge", lambda: converged(cluster, "ver", 7), timeout=60)
    assert [v[1] for v in final if v[0] == "k" and not v[3]] == sorted(
        i for j, i in enumerate(ids) if j != 1)
    assert [(v[1], v[2]) for v in final if v[3]] == [(marker, True)]
    for node in cluster:
        for j, vid in enumerate(ids):
            if j == 1:
                with pytest.raises(ClientError) as e:
                    node.s3.get_object(Bucket="ver", Key="k", VersionId=vid)
                assert e.value.response["Error"]["Code"] == "NoSuchVersion"
                continue
            got = node.s3.get_object(Bucket="ver", Key="k", VersionId=vid)["Body"].read()
            assert got == f"body {j}".encode(), (node.node_id, j)
        with pytest.raises(ClientError) as e:
            node.s3.get_object(Bucket="ver", Key="k")
        assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"


def test_versions_survive_a_kill_9_mid_way(cluster):
    start_all(cluster)
    a, b, c = cluster
    versioned_bucket(cluster, "crash")
    wait_for("caught up", lambda: caught_up(cluster))
    c.kill9()
    keys = [f"k{i:03d}" for i in range(60)]
    body = b"v" * 150_000
    expected = 0
    for round_ in range(3):
        for k in keys:
            a.s3.put_object(Bucket="crash", Key=k, Body=body + bytes([round_]))
            expected += 1
    for k in keys[:10]:
        a.s3.delete_object(Bucket="crash", Key=k)  # a marker each
        expected += 1
    first = versions(a, "crash")
    for k in keys[10:15]:
        vid = next(v[1] for v in first if v[0] == k and not v[2])
        a.s3.delete_object(Bucket="crash", Key=k, VersionId=vid)  # a noncurrent version purged
        expected -= 1
    c.start()

    def progress():
        shipped = a.metric(SHIPPED, peer="n2")
        return shipped if shipped > 0 else None

    wait_for("shipping to c started", progress, interval=0.02)
    a.kill9()  # the sender dies with part of the backlog unshipped
    a.start()
    final = wait_for("versions converge after the crash",
                     lambda: converged(cluster, "crash", expected), timeout=90)
    assert sum(1 for v in final if v[3]) == 10
    assert sum(1 for v in final if v[2]) == 60
    for node in cluster:
        got = node.s3.get_object(Bucket="crash", Key=keys[20])["Body"].read()
        assert got == body + bytes([2])


def test_a_wiped_node_gets_every_version_back(cluster):
    start_all(cluster)
    a, b, c = cluster
    versioned_bucket(cluster, "wiped")
    a.s3.create_bucket(Bucket="plain")
    for i in range(4):
        a.s3.put_object(Bucket="wiped", Key="k", Body=f"v{i}".encode())
    a.s3.delete_object(Bucket="wiped", Key="k")
    before = wait_for("versions converge", lambda: converged(cluster, "wiped", 5))
    wait_for("caught up", lambda: caught_up(cluster))
    c.kill9()
    c.wipe()
    c.start()
    wait_for("the empty bucket back on c", lambda: has_bucket(c, "plain"), timeout=60)
    wait_for("versioning back on c",
             lambda: c.s3.get_bucket_versioning(Bucket="wiped").get("Status") == "Enabled", timeout=60)
    after = wait_for("every version back on c", lambda: converged(cluster, "wiped", 5), timeout=60)
    assert after == before


def test_versions_replicate_between_https_peers(tmp_path):
    from test_replication_tls import tls_pair

    (a, b), ca = tls_pair(tmp_path, lambda cluster, other: cluster)
    try:
        for n in (a, b):
            n.start()
        sa, sb = a.client(verify=str(ca)), b.client(verify=str(ca))
        a._s3, b._s3 = sa, sb
        versioned_bucket([a, b], "tlsver")
        ids = [sa.put_object(Bucket="tlsver", Key="k", Body=bytes([i]) * 200_000)["VersionId"]
               for i in range(3)]
        marker = sb.delete_object(Bucket="tlsver", Key="k")["VersionId"]
        sb.delete_object(Bucket="tlsver", Key="k", VersionId=ids[0])
        final = wait_for("versions converge over TLS", lambda: converged([a, b], "tlsver", 3), timeout=60)
        assert sorted(v[1] for v in final) == sorted([ids[1], ids[2], marker])
        assert sb.get_object(Bucket="tlsver", Key="k", VersionId=ids[1])["Body"].read() == bytes([1]) * 200_000
    finally:
        for n in (a, b):
            n.stop()
