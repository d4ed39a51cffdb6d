"""Bucket versioning, driven by the newest boto3, awscli and rclone against a real node:
Put/GetBucketVersioning, ListObjectVersions (markers, paging, prefix, delimiter), GET/HEAD/
DELETE/CopyObject with a version id, delete markers, and the `null` version of unversioned and
suspended buckets. Statuses, error codes and headers are the ones AWS documents."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import error_code, http_status


def new_bucket(s3, versioning: str | None = None) -> str:
    name = f"v-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    if versioning:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning})
    return name


def put(s3, bucket: str, key: str, body: bytes) -> dict:
    return s3.put_object(Bucket=bucket, Key=key, Body=body)


def headers(resp_or_exc) -> dict:
    resp = getattr(getattr(resp_or_exc, "value", None), "response", None) or resp_or_exc
    return resp["ResponseMetadata"]["HTTPHeaders"]


def all_versions(s3, bucket: str, **kw) -> tuple[list[dict], list[dict]]:
    resp = s3.list_object_versions(Bucket=bucket, **kw)
    assert resp["IsTruncated"] is False
    return resp.get("Versions", []), resp.get("DeleteMarkers", [])


def test_unversioned_bucket_has_null_versions(s3):
    bucket = new_bucket(s3)
    got = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in got
    resp = put(s3, bucket, "a", b"one")
    assert "VersionId" not in resp
    assert "x-amz-version-id" not in headers(resp)
    put(s3, bucket, "a", b"two")
    versions, markers = all_versions(s3, bucket)
    assert [(v["Key"], v["VersionId"], v["IsLatest"], v["Size"]) for v in versions] == [
        ("a", "null", True, 3)
    ]
    assert markers == []
    assert s3.get_object(Bucket=bucket, Key="a", VersionId="null")["Body"].read() == b"two"
    assert s3.head_object(Bucket=bucket, Key="a", VersionId="null")["ContentLength"] == 3
    # A plain DELETE leaves no delete marker in a bucket that was never versioned.
    resp = s3.delete_object(Bucket=bucket, Key="a")
    assert "DeleteMarker" not in resp and "VersionId" not in resp
    assert all_versions(s3, bucket) == ([], [])
    s3.delete_bucket(Bucket=bucket)


def test_get_bucket_versioning_of_a_missing_bucket_is_404(s3):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_versioning(Bucket=f"v-{uuid.uuid4().hex[:16]}")
    assert (http_status(e), error_code(e)) == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as e:
        s3.list_object_versions(Bucket=f"v-{uuid.uuid4().hex[:16]}")
    assert (http_status(e), error_code(e)) == (404, "NoSuchBucket")


def test_put_bucket_versioning_refuses_a_bad_status(s3):
    bucket = new_bucket(s3)
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "On"})
    assert (http_status(e), error_code(e)) == (400, "MalformedXML")
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)


def test_enabled_bucket_keeps_every_version(s3):
    bucket = new_bucket(s3)
    put(s3, bucket, "k", b"before versioning")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    v1 = put(s3, bucket, "k", b"first")
    v2 = put(s3, bucket, "k", b"second!")
    ids = [v1["VersionId"], v2["VersionId"]]
    assert len(set(ids)) == 2 and all(len(i) == 24 and i != "null" for i in ids)
    assert headers(v1)["x-amz-version-id"] == v1["VersionId"]

    current = s3.get_object(Bucket=bucket, Key="k")
    assert current["Body"].read() == b"second!"
    assert current["VersionId"] == v2["VersionId"]
    old = s3.get_object(Bucket=bucket, Key="k", VersionId=v1["VersionId"])
    assert old["Body"].read() == b"first" and old["VersionId"] == v1["VersionId"]
    null = s3.get_object(Bucket=bucket, Key="k", VersionId="null")
    assert null["Body"].read() == b"before versioning" and null["VersionId"] == "null"
    head = s3.head_object(Bucket=bucket, Key="k", VersionId=v1["VersionId"])
    assert head["ContentLength"] == 5 and head["VersionId"] == v1["VersionId"]
    ranged = s3.get_object(Bucket=bucket, Key="k", VersionId=v1["VersionId"], Range="bytes=1-2")
    assert ranged["Body"].read() == b"ir"

    versions, markers = all_versions(s3, bucket)
    assert markers == []
    assert [(v["VersionId"], v["IsLatest"], v["Size"]) for v in versions] == [
        (v2["VersionId"], True, 7),
        (v1["VersionId"], False, 5),
        ("null", False, 17),
    ]
    assert all(v["StorageClass"] == "STANDARD" and v["ETag"].startswith('"') for v in versions)
    # Only the current version is in ListObjectsV2.
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("k", 7)]


def test_unknown_and_malformed_version_ids(s3):
    bucket = new_bucket(s3, "Enabled")
    put(s3, bucket, "k", b"x")
    missing = "f" * 24
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId=missing)
    assert (http_status(e), error_code(e)) == (404, "NoSuchVersion")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k", VersionId=missing)
    assert http_status(e) == 404
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId="not-a-version")
    assert (http_status(e), error_code(e)) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=bucket, Key="k", VersionId="not-a-version")
    assert (http_status(e), error_code(e)) == (400, "InvalidArgument")
    # Deleting a version that does not exist succeeds, as in S3.
    resp = s3.delete_object(Bucket=bucket, Key="k", VersionId=missing)
    assert http_status(resp) == 204 and resp["VersionId"] == missing
    assert len(all_versions(s3, bucket)[0]) == 1


def test_delete_markers(s3):
    bucket = new_bucket(s3, "Enabled")
    v1 = put(s3, bucket, "k", b"data")["VersionId"]
    resp = s3.delete_object(Bucket=bucket, Key="k")
    assert http_status(resp) == 204
    assert resp["DeleteMarker"] is True
    marker = resp["VersionId"]
    assert marker not in (v1, "null") and len(marker) == 24

    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert (http_status(e), error_code(e)) == (404, "NoSuchKey")
    assert headers(e)["x-amz-delete-marker"] == "true"
    assert headers(e)["x-amz-version-id"] == marker
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k")
    assert http_status(e) == 404 and headers(e)["x-amz-delete-marker"] == "true"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId=marker)
    assert (http_status(e), error_code(e)) == (405, "MethodNotAllowed")
    assert headers(e)["x-amz-delete-marker"] == "true"
    assert "last-modified" in headers(e)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k", VersionId=marker)
    assert http_status(e) == 405 and headers(e)["x-amz-delete-marker"] == "true"

    versions, markers = all_versions(s3, bucket)
    assert [(m["Key"], m["VersionId"], m["IsLatest"]) for m in markers] == [("k", marker, True)]
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [(v1, False)]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    # The old version is still readable by id.
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() == b"data"
    # A second delete stacks another marker.
    second = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    assert [m["VersionId"] for m in all_versions(s3, bucket)[1]] == [second, marker]

    # Removing the markers brings the object back.
    for m in (second, marker):
        resp = s3.delete_object(Bucket=bucket, Key="k", VersionId=m)
        assert resp["DeleteMarker"] is True and resp["VersionId"] == m
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"data" and got["VersionId"] == v1
    # A bucket with versions left is not empty; once they are gone it can be deleted.
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert (http_status(e), error_code(e)) == (409, "BucketNotEmpty")
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v1)
    assert all_versions(s3, bucket) == ([], [])
    s3.delete_bucket(Bucket=bucket)


def test_delete_marker_on_a_missing_key(s3):
    bucket = new_bucket(s3, "Enabled")
    resp = s3.delete_object(Bucket=bucket, Key="never-written")
    assert resp["DeleteMarker"] is True
    versions, markers = all_versions(s3, bucket)
    assert versions == [] and [m["Key"] for m in markers] == ["never-written"]
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert error_code(e) == "BucketNotEmpty"


def test_permanent_delete_of_a_version(s3):
    bucket = new_bucket(s3, "Enabled")
    ids = [put(s3, bucket, "k", f"body-{i}".encode())["VersionId"] for i in range(3)]
    # A noncurrent version: gone for good, the current one untouched.
    resp = s3.delete_object(Bucket=bucket, Key="k", VersionId=ids[1])
    assert http_status(resp) == 204 and resp["VersionId"] == ids[1]
    assert "DeleteMarker" not in resp
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId=ids[1])
    assert error_code(e) == "NoSuchVersion"
    assert [v["VersionId"] for v in all_versions(s3, bucket)[0]] == [ids[2], ids[0]]
    # The current version: the newest remaining one becomes current.
    s3.delete_object(Bucket=bucket, Key="k", VersionId=ids[2])
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"body-0" and got["VersionId"] == ids[0]
    versions, _ = all_versions(s3, bucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [(ids[0], True)]


def test_suspended_bucket_writes_the_null_version(s3):
    bucket = new_bucket(s3, "Enabled")
    v1 = put(s3, bucket, "k", b"versioned")["VersionId"]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    resp = put(s3, bucket, "k", b"null one")
    assert resp["VersionId"] == "null"
    put(s3, bucket, "k", b"null two")  # replaces the null version
    versions, _ = all_versions(s3, bucket)
    assert [(v["VersionId"], v["IsLatest"], v["Size"]) for v in versions] == [
        ("null", True, 8),
        (v1, False, 9),
    ]
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"null two" and got["VersionId"] == "null"
    # A delete writes a null delete marker, which replaces the null version.
    resp = s3.delete_object(Bucket=bucket, Key="k")
    assert resp["DeleteMarker"] is True and resp["VersionId"] == "null"
    versions, markers = all_versions(s3, bucket)
    assert [(m["VersionId"], m["IsLatest"]) for m in markers] == [("null", True)]
    assert [v["VersionId"] for v in versions] == [v1]
    # Re-enabling keeps the null marker as a noncurrent version.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v3 = put(s3, bucket, "k", b"again")["VersionId"]
    versions, markers = all_versions(s3, bucket)
    assert [v["VersionId"] for v in versions] == [v3, v1]
    assert [(m["VersionId"], m["IsLatest"]) for m in markers] == [("null", False)]


def test_copy_object_from_a_version(s3):
    bucket = new_bucket(s3, "Enabled")
    v1 = put(s3, bucket, "src", b"old bytes")["VersionId"]
    put(s3, bucket, "src", b"new bytes")
    resp = s3.copy_object(
        Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src", "VersionId": v1}
    )
    assert resp["CopySourceVersionId"] == v1
    assert len(resp["VersionId"]) == 24 and resp["VersionId"] != v1
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"old bytes"
    # Copying a version over its own key restores it as a new current version.
    resp = s3.copy_object(
        Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src", "VersionId": v1}
    )
    assert s3.get_object(Bucket=bucket, Key="src")["Body"].read() == b"old bytes"
    assert len(all_versions(s3, bucket, Prefix="src")[0]) == 3
    with pytest.raises(ClientError) as e:
        s3.copy_object(
            Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "src", "VersionId": "f" * 24}
        )
    assert (http_status(e), error_code(e)) == (404, "NoSuchVersion")


def test_multipart_completion_is_a_version(s3):
    bucket = new_bucket(s3, "Enabled")
    v1 = put(s3, bucket, "mp", b"small")["VersionId"]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"p")
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert len(done["VersionId"]) == 24 and done["VersionId"] != v1
    assert [v["VersionId"] for v in all_versions(s3, bucket)[0]] == [done["VersionId"], v1]


def test_list_object_versions_paging_prefix_and_delimiter(s3):
    bucket = new_bucket(s3, "Enabled")
    expected = []
    for key in ["a/1", "a/2", "b", "c/x/1", "d"]:
        ids = [put(s3, bucket, key, f"{key}-{i}".encode())["VersionId"] for i in range(3)]
        expected += [(key, vid) for vid in reversed(ids)]
    marker = s3.delete_object(Bucket=bucket, Key="b")["VersionId"]
    expected.insert(6, ("b", marker))

    full = s3.list_object_versions(Bucket=bucket)
    entries = sorted(
        full.get("Versions", []) + full.get("DeleteMarkers", []),
        key=lambda v: (v["Key"], v["VersionId"]),
    )
    assert [(v["Key"], v["VersionId"]) for v in entries] == expected
    assert full["MaxKeys"] == 1000 and full["IsTruncated"] is False

    # Page through two entries at a time with KeyMarker / VersionIdMarker.
    seen, kw = [], {}
    for _ in range(20):
        page = s3.list_object_versions(Bucket=bucket, MaxKeys=2, **kw)
        items = page.get("Versions", []) + page.get("DeleteMarkers", [])
        assert len(items) <= 2
        seen += sorted((v["Key"], v["VersionId"]) for v in items)
        if not page["IsTruncated"]:
            break
        assert page["NextKeyMarker"] == seen[-1][0]
        assert page["NextVersionIdMarker"] == seen[-1][1]
        kw = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
    assert seen == expected

    # KeyMarker alone starts after every version of that key.
    page = s3.list_object_versions(Bucket=bucket, KeyMarker="b")
    assert {v["Key"] for v in page["Versions"]} == {"c/x/1", "d"}

    page = s3.list_object_versions(Bucket=bucket, Prefix="a/")
    assert [v["Key"] for v in page["Versions"]] == ["a/1"] * 3 + ["a/2"] * 3
    assert page["Prefix"] == "a/"

    page = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["a/", "c/"]
    assert sorted({v["Key"] for v in page["Versions"]}) == ["b", "d"]
    assert page["Delimiter"] == "/"
    # A common prefix counts as one entry; paging past it skips the whole prefix.
    page = s3.list_object_versions(Bucket=bucket, Delimiter="/", MaxKeys=1)
    assert page["CommonPrefixes"] == [{"Prefix": "a/"}] and page["IsTruncated"] is True
    assert page["NextKeyMarker"] == "a/"
    page = s3.list_object_versions(Bucket=bucket, Delimiter="/", KeyMarker="a/", MaxKeys=1)
    assert [m["Key"] for m in page.get("DeleteMarkers", [])] == ["b"]
    assert "CommonPrefixes" not in page

    with pytest.raises(ClientError) as e:
        s3.list_object_versions(Bucket=bucket, VersionIdMarker=marker)
    assert (http_status(e), error_code(e)) == (400, "InvalidArgument")


def test_delete_objects_with_version_ids(s3):
    bucket = new_bucket(s3, "Enabled")
    ids = {k: put(s3, bucket, k, b"x")["VersionId"] for k in ("a", "b")}
    resp = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": "a", "VersionId": ids["a"]}, {"Key": "b"}]},
    )
    deleted = {d["Key"]: d for d in resp["Deleted"]}
    assert deleted["a"]["VersionId"] == ids["a"] and "DeleteMarker" not in deleted["a"]
    assert deleted["b"]["DeleteMarker"] is True
    marker = deleted["b"]["DeleteMarkerVersionId"]
    versions, markers = all_versions(s3, bucket)
    assert [(v["Key"], v["VersionId"]) for v in versions] == [("b", ids["b"])]
    assert [(m["Key"], m["VersionId"]) for m in markers] == [("b", marker)]
    resp = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": "b", "VersionId": marker}, {"Key": "b", "VersionId": ids["b"]}]},
    )
    assert len(resp["Deleted"]) == 2
    s3.delete_bucket(Bucket=bucket)


def test_versions_survive_kill_9(node_factory):
    node = node_factory()
    s3 = node.client()
    bucket = new_bucket(s3)
    put(s3, bucket, "k", b"null")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    ids = [put(s3, bucket, "k", f"v{i}".encode())["VersionId"] for i in range(3)]
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    before = s3.list_object_versions(Bucket=bucket)
    node.proc.kill()
    node.proc.wait(timeout=10)
    node.start()
    s3 = node.client()
    after = s3.list_object_versions(Bucket=bucket)
    assert after["Versions"] == before["Versions"]
    assert after["DeleteMarkers"] == before["DeleteMarkers"]
    assert [v["VersionId"] for v in after["Versions"]] == list(reversed(ids)) + ["null"]
    assert after["DeleteMarkers"][0]["VersionId"] == marker
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=ids[0])["Body"].read() == b"v0"
    node.stop()


def test_awscli_list_object_versions(node):
    if shutil.which("aws") is None:
        pytest.fail("awscli is not installed (pip install awscli)", pytrace=False)
    s3 = node.client()
    bucket = new_bucket(s3, "Enabled")
    ids = [put(s3, bucket, "k", f"v{i}".encode())["VersionId"] for i in range(2)]
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": node.access_key,
        "AWS_SECRET_ACCESS_KEY": node.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    out = subprocess.run(
        ["aws", "s3api", "list-object-versions", "--bucket", bucket,
         "--endpoint-url", node.endpoint, "--output", "json"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert [v["VersionId"] for v in doc["Versions"]] == list(reversed(ids))
    assert [(m["VersionId"], m["IsLatest"]) for m in doc["DeleteMarkers"]] == [(marker, True)]


def rclone(node, *args: str) -> subprocess.CompletedProcess:
    # The SDK inside rclone reads AWS_* (a CA bundle, a profile): keep them out.
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))},
        "RCLONE_CONFIG": "/dev/null",
        "RCLONE_CONFIG_NW_TYPE": "s3",
        "RCLONE_CONFIG_NW_PROVIDER": "Other",
        "RCLONE_CONFIG_NW_ENDPOINT": node.endpoint,
        "RCLONE_CONFIG_NW_ACCESS_KEY_ID": node.access_key,
        "RCLONE_CONFIG_NW_SECRET_ACCESS_KEY": node.secret_key,
    }
    return subprocess.run(["rclone", *args], capture_output=True, text=True, env=env, timeout=120)


def test_rclone_purge_removes_a_versioned_bucket(node):
    if shutil.which("rclone") is None:
        pytest.fail("rclone is not installed (apt-get install rclone)", pytrace=False)
    s3 = node.client()
    bucket = new_bucket(s3, "Enabled")
    for i in range(3):
        for key in ("dir/a", "dir/b", "top"):
            put(s3, bucket, key, f"{key}-{i}".encode())
    s3.delete_object(Bucket=bucket, Key="top")
    assert len(all_versions(s3, bucket)[0]) == 9
    out = rclone(node, "purge", f"nw:{bucket}")
    assert out.returncode == 0, out.stderr
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=bucket)
    assert http_status(e) == 404


def test_versioning_over_tls(node_factory, tmp_path):
    from test_s3_tls import make_self_signed

    cert, key = make_self_signed(tmp_path)
    node = node_factory(tls_cert=cert, tls_key=key)
    s3 = node.client()
    bucket = new_bucket(s3, "Enabled")
    ids = [put(s3, bucket, "k", os.urandom(70_000))["VersionId"] for _ in range(2)]
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    versions, markers = all_versions(s3, bucket)
    assert [v["VersionId"] for v in versions] == list(reversed(ids))
    assert [m["VersionId"] for m in markers] == [marker]
    assert len(s3.get_object(Bucket=bucket, Key="k", VersionId=ids[0])["Body"].read()) == 70_000


def test_a_flipped_byte_in_a_noncurrent_version_is_never_served_and_scrub_finds_it(node_factory):
    import hashlib
    import time

    node = node_factory(extra_args=["--scrub-interval-secs", "1", "--scrub-bytes-per-sec", "100000000"])
    s3 = node.client()
    bucket = new_bucket(s3, "Enabled")
    old = os.urandom(200_000)
    v1 = put(s3, bucket, "k", old)["VersionId"]
    put(s3, bucket, "k", b"current")
    h = hashlib.sha256(b"k").hexdigest()
    path = node.data_dir / "buckets" / bucket / ".versions" / h[:2] / f"{h}.{v1}"
    with open(path, "r+b") as f:
        f.seek(100_000)
        b = f.read(1)
        f.seek(100_000)
        f.write(bytes([b[0] ^ 0xFF]))
        f.flush()
        os.fsync(f.fileno())
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read()
    assert (http_status(e), error_code(e)) == (500, "InternalError")
    # The block before the damage is still served, verified; the current version is untouched.
    part = s3.get_object(Bucket=bucket, Key="k", VersionId=v1, Range="bytes=0-999")["Body"].read()
    assert part == old[:1000]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"current"
    deadline = time.monotonic() + 15
    damaged = []
    while time.monotonic() < deadline:
        scrub = node.status()["last_scrub"]
        damaged = scrub["damaged"]
        if scrub["passes_completed"] >= 1 and damaged:
            break
        time.sleep(0.2)
    assert damaged == [f"{bucket}/{h}"]


def test_keys_that_need_url_encoding_list_as_versions(s3):
    bucket = new_bucket(s3, "Enabled")
    keys = ["a b/ü+%", "a b/plain", "z&z"]
    for k in keys:
        put(s3, bucket, k, b"x")
        put(s3, bucket, k, b"y")
    # boto3 asks for encoding-type=url and decodes the answer.
    page = s3.list_object_versions(Bucket=bucket, Delimiter="/", MaxKeys=1)
    assert page["CommonPrefixes"] == [{"Prefix": "a b/"}] and page["NextKeyMarker"] == "a b/"
    versions, _ = all_versions(s3, bucket, Prefix="a b/")
    assert [v["Key"] for v in versions] == ["a b/plain"] * 2 + ["a b/ü+%"] * 2
    page = s3.list_object_versions(Bucket=bucket, KeyMarker="a b/ü+%")
    assert [v["Key"] for v in page["Versions"]] == ["z&z", "z&z"]


def test_tags_of_versions(s3):
    bucket = new_bucket(s3, "Enabled")
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"1", Tagging="gen=one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"2", Tagging="gen=two")["VersionId"]
    got = s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=v1)
    assert got["TagSet"] == [{"Key": "gen", "Value": "one"}] and got["VersionId"] == v1
    got = s3.get_object_tagging(Bucket=bucket, Key="k")
    assert got["TagSet"] == [{"Key": "gen", "Value": "two"}] and got["VersionId"] == v2
    # Retagging a version with its own id would make a new version here: refused, never faked.
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": []})
    assert (http_status(e), error_code(e)) == (501, "NotImplemented")
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=v1, Tagging={"TagSet": []})
    assert (http_status(e), error_code(e)) == (501, "NotImplemented")
    assert [v["VersionId"] for v in all_versions(s3, bucket)[0]] == [v2, v1]
    # The null version of a suspended bucket is retagged in place.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    put(s3, bucket, "k", b"3")
    resp = s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert resp["VersionId"] == "null"
    assert s3.get_object_tagging(Bucket=bucket, Key="k", VersionId="null")["TagSet"] == [
        {"Key": "a", "Value": "b"}
    ]
    assert [v["VersionId"] for v in all_versions(s3, bucket)[0]] == ["null", v2, v1]
