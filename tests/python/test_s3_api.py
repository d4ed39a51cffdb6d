"""The S3 operations storage-node serves, driven by the newest boto3 over HTTP."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests
from botocore.exceptions import ClientError

from conftest import error_code, http_status, node_binary, node_env

MIB = 1024 * 1024


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def quoted_md5(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c_b64(data: bytes) -> str:
    """CRC32C computed here, independently of botocore and awscrt."""
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return base64.b64encode((c ^ 0xFFFFFFFF).to_bytes(4, "big")).decode()


def assert_absent(s3, bucket, key):
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=bucket, Key=key)
    assert http_status(ei) == 404, ei.value.response


def list_all_keys(s3, bucket, **kwargs) -> list[str]:
    keys, token = [], None
    for _ in range(1000):
        args = dict(Bucket=bucket, **kwargs)
        if token:
            args["ContinuationToken"] = token
        page = s3.list_objects_v2(**args)
        keys += [o["Key"] for o in page.get("Contents", [])]
        if not page.get("IsTruncated"):
            return keys
        token = page["NextContinuationToken"]
    pytest.fail("ListObjectsV2 never stopped paginating")


# --- buckets -----------------------------------------------------------------


def test_bucket_lifecycle(s3):
    name = f"life-{uuid.uuid4().hex[:12]}"
    before = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert name not in before

    r = s3.create_bucket(Bucket=name)
    assert http_status(r) == 200
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert http_status(s3.head_bucket(Bucket=name)) == 200

    with pytest.raises(ClientError) as ei:
        s3.create_bucket(Bucket=name)
    assert error_code(ei) in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists")
    assert http_status(ei) == 409

    s3.put_object(Bucket=name, Key="k", Body=b"x")
    with pytest.raises(ClientError) as ei:
        s3.delete_bucket(Bucket=name)
    assert error_code(ei) == "BucketNotEmpty"
    assert http_status(ei) == 409
    assert http_status(s3.head_bucket(Bucket=name)) == 200

    s3.delete_object(Bucket=name, Key="k")
    r = s3.delete_bucket(Bucket=name)
    assert http_status(r) == 204
    with pytest.raises(ClientError) as ei:
        s3.head_bucket(Bucket=name)
    assert http_status(ei) == 404
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_missing_bucket_and_key_errors(s3, bucket):
    missing = f"nope-{uuid.uuid4().hex[:12]}"
    with pytest.raises(ClientError) as ei:
        s3.list_objects_v2(Bucket=missing)
    assert error_code(ei) == "NoSuchBucket"
    assert http_status(ei) == 404
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=missing, Key="k", Body=b"x")
    assert error_code(ei) == "NoSuchBucket"
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=missing, Key="k")
    assert error_code(ei) == "NoSuchBucket"
    with pytest.raises(ClientError) as ei:
        s3.delete_bucket(Bucket=missing)
    assert error_code(ei) == "NoSuchBucket"

    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="missing")
    assert error_code(ei) == "NoSuchKey"
    assert http_status(ei) == 404
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=bucket, Key="missing")
    assert http_status(ei) == 404


# --- single objects ---------------------------------------------------------


def test_put_get_head_delete(s3, bucket):
    body = os.urandom(4321)
    r = s3.put_object(
        Bucket=bucket,
        Key="dir/obj.bin",
        Body=body,
        ContentType="application/x-nodewatch",
        Metadata={"color": "blue", "owner-id": "42", "mixed": "Value With Spaces"},
    )
    assert r["ETag"] == quoted_md5(body)

    got = s3.get_object(Bucket=bucket, Key="dir/obj.bin")
    assert got["Body"].read() == body
    assert got["ETag"] == quoted_md5(body)
    assert got["ContentLength"] == len(body)
    assert got["ContentType"] == "application/x-nodewatch"
    assert got["Metadata"] == {"color": "blue", "owner-id": "42", "mixed": "Value With Spaces"}

    head = s3.head_object(Bucket=bucket, Key="dir/obj.bin")
    assert head["ContentLength"] == len(body)
    assert head["ETag"] == quoted_md5(body)
    assert head["ContentType"] == "application/x-nodewatch"
    assert head["Metadata"] == got["Metadata"]
    assert head["LastModified"] is not None

    r = s3.delete_object(Bucket=bucket, Key="dir/obj.bin")
    assert http_status(r) == 204
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="dir/obj.bin")
    assert error_code(ei) == "NoSuchKey"
    # Deleting what is not there is not an error in S3.
    assert http_status(s3.delete_object(Bucket=bucket, Key="dir/obj.bin")) == 204


def test_overwrite_replaces_content_and_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"first", Metadata={"v": "1"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"second!", Metadata={"w": "2"})
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"second!"
    assert got["Metadata"] == {"w": "2"}
    assert list_all_keys(s3, bucket) == ["k"]


def test_empty_object(s3, bucket):
    r = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert r["ETag"] == quoted_md5(b"")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["ContentLength"] == 0
    assert got["Body"].read() == b""


def test_content_md5(s3, bucket):
    body = b"checked with md5\n" * 100
    r = s3.put_object(Bucket=bucket, Key="good", Body=body, ContentMD5=md5_b64(body))
    assert r["ETag"] == quoted_md5(body)
    assert s3.get_object(Bucket=bucket, Key="good")["Body"].read() == body

    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket, Key="bad", Body=body, ContentMD5=md5_b64(body + b"x"))
    assert error_code(ei) == "BadDigest"
    assert http_status(ei) == 400
    assert_absent(s3, bucket, "bad")


def test_range_get(s3, bucket):
    body = bytes(range(100))
    s3.put_object(Bucket=bucket, Key="r", Body=body)
    cases = [
        ("bytes=0-9", body[0:10], "bytes 0-9/100"),
        ("bytes=-5", body[95:], "bytes 95-99/100"),
        ("bytes=10-", body[10:], "bytes 10-99/100"),
        ("bytes=50-50", body[50:51], "bytes 50-50/100"),
        ("bytes=90-1000", body[90:], "bytes 90-99/100"),
    ]
    for rng, want, content_range in cases:
        r = s3.get_object(Bucket=bucket, Key="r", Range=rng)
        assert http_status(r) == 206, rng
        assert r["ContentRange"] == content_range, rng
        assert r["ContentLength"] == len(want), rng
        assert r["Body"].read() == want, rng

    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=200-300")
    assert http_status(ei) == 416
    assert error_code(ei) == "InvalidRange"


def test_delete_objects_batch(s3, bucket):
    keys = [f"batch/{i}" for i in range(5)] + ["batch/x&y<z>'\" ü"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    doomed = keys[:4] + ["batch/never-existed"]
    r = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in doomed]}
    )
    assert not r.get("Errors"), r.get("Errors")
    assert sorted(d["Key"] for d in r["Deleted"]) == sorted(doomed)
    assert list_all_keys(s3, bucket) == keys[4:]

    r = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[4:]], "Quiet": True}
    )
    assert not r.get("Errors"), r.get("Errors")
    assert not r.get("Deleted")
    assert list_all_keys(s3, bucket) == []


def test_copy_object_metadata_copy_and_replace(s3, bucket):
    body = os.urandom(10_000)
    s3.put_object(
        Bucket=bucket, Key="src", Body=body, ContentType="text/plain", Metadata={"a": "1"}
    )
    src = {"Bucket": bucket, "Key": "src"}

    r = s3.copy_object(Bucket=bucket, Key="dst-copy", CopySource=src)
    assert r["CopyObjectResult"]["ETag"] == quoted_md5(body)
    got = s3.get_object(Bucket=bucket, Key="dst-copy")
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"a": "1"}

    s3.copy_object(
        Bucket=bucket,
        Key="dst-replace",
        CopySource=src,
        MetadataDirective="REPLACE",
        ContentType="application/json",
        Metadata={"b": "2"},
    )
    got = s3.get_object(Bucket=bucket, Key="dst-replace")
    assert got["Body"].read() == body
    assert got["ContentType"] == "application/json"
    assert got["Metadata"] == {"b": "2"}

    # Copying onto itself is only allowed when something changes (REPLACE).
    s3.copy_object(
        Bucket=bucket, Key="src", CopySource=src, MetadataDirective="REPLACE", Metadata={"c": "3"}
    )
    got = s3.get_object(Bucket=bucket, Key="src")
    assert got["Body"].read() == body
    assert got["Metadata"] == {"c": "3"}

    other = f"b-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=other)
    s3.copy_object(Bucket=other, Key="x", CopySource=src)
    assert s3.get_object(Bucket=other, Key="x")["Body"].read() == body

    # A source key that must be percent-encoded in x-amz-copy-source.
    odd = "src dir/ü+plus%25?&=.txt"
    s3.put_object(Bucket=bucket, Key=odd, Body=b"odd source")
    s3.copy_object(Bucket=bucket, Key="odd copy", CopySource={"Bucket": bucket, "Key": odd})
    assert s3.get_object(Bucket=bucket, Key="odd copy")["Body"].read() == b"odd source"

    with pytest.raises(ClientError) as ei:
        s3.copy_object(Bucket=bucket, Key="y", CopySource={"Bucket": bucket, "Key": "missing"})
    assert error_code(ei) == "NoSuchKey"


# --- listing ----------------------------------------------------------------


def test_list_prefix_and_delimiter(s3, bucket):
    keys = ["a/1", "a/2", "a/sub/x", "a/sub/y", "b/1", "c", "d"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"v")

    r = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in r["Contents"]] == keys
    assert r["KeyCount"] == len(keys)
    assert all(o["Size"] == 1 and o["ETag"] == quoted_md5(b"v") for o in r["Contents"])

    r = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["c", "d"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/", "b/"]
    assert r["KeyCount"] == 4

    r = s3.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/sub/"]

    r = s3.list_objects_v2(Bucket=bucket, Prefix="a/sub/")
    assert [o["Key"] for o in r["Contents"]] == ["a/sub/x", "a/sub/y"]
    assert "CommonPrefixes" not in r

    r = s3.list_objects_v2(Bucket=bucket, Prefix="zzz")
    assert r["KeyCount"] == 0
    assert "Contents" not in r

    r = s3.list_objects_v2(Bucket=bucket, StartAfter="b/1")
    assert [o["Key"] for o in r["Contents"]] == ["c", "d"]


def test_list_keys_that_need_url_encoding(s3, bucket):
    """boto3 asks for EncodingType=url and url-decodes every key it gets back, so
    the node must encode them: otherwise `%41` comes back as `A` and `+` as a space."""
    keys = ["100%", "a%41b", "c+d", "e f", "g&h<i>", "j%2Fk", "plus+/x", "ü/é"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(keys, key=lambda k: k.encode())
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["plus+/", "ü/"]
    r = s3.list_objects_v2(Bucket=bucket, Prefix="a%4")
    assert [o["Key"] for o in r["Contents"]] == ["a%41b"]
    # The raw response says which encoding it applied.
    raw = s3.list_objects_v2(Bucket=bucket, EncodingType="url")
    assert raw.get("EncodingType") == "url"


def test_list_pagination_every_key_once_in_order(s3, bucket):
    # Not zero-padded on purpose: lexicographic order differs from numeric.
    keys = [f"p/{i}" for i in range(250)] + [f"q{i}/z" for i in range(30)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b""), keys))
    expected = sorted(keys, key=lambda k: k.encode())

    seen, token, pages = [], None, 0
    for _ in range(len(keys)):  # far more pages than needed, still bounded
        args = {"Bucket": bucket, "MaxKeys": 7}
        if token:
            args["ContinuationToken"] = token
        page = s3.list_objects_v2(**args)
        pages += 1
        contents = [o["Key"] for o in page.get("Contents", [])]
        assert len(contents) <= 7
        assert page["KeyCount"] == len(contents)
        assert page["MaxKeys"] == 7
        seen += contents
        if not page["IsTruncated"]:
            assert "NextContinuationToken" not in page
            break
        assert len(contents) == 7
        token = page["NextContinuationToken"]
    else:
        pytest.fail("pagination did not end")
    assert seen == expected
    assert pages == -(-len(keys) // 7)

    # Paging with a delimiter: each common prefix exactly once across pages.
    prefixes, objs, token = [], [], None
    for _ in range(100):
        args = {"Bucket": bucket, "MaxKeys": 4, "Delimiter": "/"}
        if token:
            args["ContinuationToken"] = token
        page = s3.list_objects_v2(**args)
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        objs += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    else:
        pytest.fail("pagination did not end")
    assert objs == []
    assert prefixes == sorted(["p/"] + [f"q{i}/" for i in range(30)])


# --- multipart ---------------------------------------------------------------


def test_multipart_upload_complete(s3, bucket):
    parts_data = [os.urandom(5 * MIB) for _ in range(3)]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="video/x-test",
                                    Metadata={"kind": "multi"})
    upload_id = up["UploadId"]

    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("mp", upload_id)]

    parts = []
    for n, data in enumerate(parts_data, start=1):
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=n, Body=data)
        assert r["ETag"] == quoted_md5(data)
        part = {"PartNumber": n, "ETag": r["ETag"]}
        for alg in ("ChecksumCRC32", "ChecksumCRC32C", "ChecksumSHA1", "ChecksumSHA256"):
            if alg in r:
                part[alg] = r[alg]
        parts.append(part)

    listed = s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2, 3]
    assert [p["Size"] for p in listed["Parts"]] == [5 * MIB] * 3
    assert [p["ETag"] for p in listed["Parts"]] == [p["ETag"] for p in parts]

    # Not visible as an object before completion.
    assert_absent(s3, bucket, "mp")

    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    whole = b"".join(parts_data)
    s3_style = hashlib.md5(b"".join(hashlib.md5(d).digest() for d in parts_data)).hexdigest()
    assert done["ETag"].endswith('-3"'), done["ETag"]
    assert done["ETag"] == f'"{s3_style}-3"'

    head = s3.head_object(Bucket=bucket, Key="mp")
    assert head["ContentLength"] == len(whole)
    assert head["ETag"] == done["ETag"]
    assert head["ContentType"] == "video/x-test"
    assert head["Metadata"] == {"kind": "multi"}
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert hashlib.sha256(got["Body"].read()).digest() == hashlib.sha256(whole).digest()
    # A range across the boundary of parts 1 and 2.
    r = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={5 * MIB - 3}-{5 * MIB + 2}")
    assert r["Body"].read() == whole[5 * MIB - 3 : 5 * MIB + 3]

    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_multipart_abort(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="gone")
    upload_id = up["UploadId"]
    s3.upload_part(Bucket=bucket, Key="gone", UploadId=upload_id, PartNumber=1,
                   Body=os.urandom(1024))
    r = s3.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId=upload_id)
    assert http_status(r) == 204

    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as ei:
        s3.list_parts(Bucket=bucket, Key="gone", UploadId=upload_id)
    assert error_code(ei) == "NoSuchUpload"
    with pytest.raises(ClientError) as ei:
        s3.upload_part(Bucket=bucket, Key="gone", UploadId=upload_id, PartNumber=2, Body=b"x")
    assert error_code(ei) == "NoSuchUpload"
    assert_absent(s3, bucket, "gone")


def test_multipart_complete_rejects_wrong_etag(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="bad")
    uid = up["UploadId"]
    s3.upload_part(Bucket=bucket, Key="bad", UploadId=uid, PartNumber=1, Body=b"tiny")
    with pytest.raises(ClientError) as ei:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="bad", UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": quoted_md5(b"other")}]},
        )
    assert error_code(ei) == "InvalidPart"
    assert_absent(s3, bucket, "bad")
    s3.abort_multipart_upload(Bucket=bucket, Key="bad", UploadId=uid)


# --- flexible checksums -------------------------------------------------------


def test_default_checksum_put(s3, bucket):
    """Newest boto3 sends x-amz-checksum-crc32 unless told otherwise."""
    body = os.urandom(70_000)
    r = s3.put_object(Bucket=bucket, Key="default", Body=body)
    assert r["ETag"] == quoted_md5(body)
    assert r.get("ChecksumCRC32") == crc32_b64(body), "PutObject did not echo the CRC32"
    got = s3.get_object(Bucket=bucket, Key="default", ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert got.get("ChecksumCRC32") == crc32_b64(body), "GetObject did not return the CRC32"
    # A range is not the whole object: no full-object checksum may come with it
    # (boto3 would check it against the partial body and fail).
    part = s3.get_object(Bucket=bucket, Key="default", Range="bytes=0-99", ChecksumMode="ENABLED")
    assert part["Body"].read() == body[:100]
    assert "ChecksumCRC32" not in part


@pytest.mark.parametrize(
    "algorithm, field, compute",
    [("SHA256", "ChecksumSHA256", sha256_b64), ("CRC32C", "ChecksumCRC32C", crc32c_b64),
     ("CRC32", "ChecksumCRC32", crc32_b64)],
)
def test_explicit_checksum_algorithm(s3, bucket, algorithm, field, compute):
    body = os.urandom(20_000)
    r = s3.put_object(Bucket=bucket, Key=algorithm, Body=body, ChecksumAlgorithm=algorithm)
    assert r["ETag"] == quoted_md5(body)
    assert r.get(field) == compute(body), f"PutObject did not echo {field}"
    got = s3.get_object(Bucket=bucket, Key=algorithm, ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert got.get(field) == compute(body), f"GetObject did not return {field}"
    head = s3.head_object(Bucket=bucket, Key=algorithm, ChecksumMode="ENABLED")
    assert head.get(field) == compute(body), f"HeadObject did not return {field}"


@pytest.mark.parametrize(
    "field, right",
    [("ChecksumCRC32", crc32_b64), ("ChecksumSHA256", sha256_b64), ("ChecksumCRC32C", crc32c_b64)],
)
def test_wrong_checksum_is_refused_and_not_stored(s3, bucket, field, right):
    body = b"the body the checksum does not match\n" * 50
    wrong = right(body + b"!")
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket, Key="wrong", Body=body, **{field: wrong})
    assert 400 <= http_status(ei) < 500, ei.value.response
    assert error_code(ei) in (
        "BadDigest", "InvalidRequest", "XAmzContentChecksumMismatch", "InvalidDigest"
    ), ei.value.response
    assert_absent(s3, bucket, "wrong")


def test_wrong_checksum_on_upload_part_is_refused(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mpwrong", ChecksumAlgorithm="CRC32")
    uid = up["UploadId"]
    data = os.urandom(4096)
    with pytest.raises(ClientError) as ei:
        s3.upload_part(Bucket=bucket, Key="mpwrong", UploadId=uid, PartNumber=1, Body=data,
                       ChecksumCRC32=crc32_b64(data + b"x"))
    assert 400 <= http_status(ei) < 500, ei.value.response
    listed = s3.list_parts(Bucket=bucket, Key="mpwrong", UploadId=uid)
    assert listed.get("Parts", []) == []
    s3.abort_multipart_upload(Bucket=bucket, Key="mpwrong", UploadId=uid)


# --- auth ------------------------------------------------------------------


def test_presigned_get(s3, bucket):
    body = b"presigned body " * 10
    s3.put_object(Bucket=bucket, Key="pre/signed.txt", Body=body)
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "pre/signed.txt"}, ExpiresIn=300
    )
    r = requests.get(url, timeout=10)
    assert r.status_code == 200, r.text
    assert r.content == body

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    sig = query["X-Amz-Signature"]
    bad_sig = dict(query, **{"X-Amz-Signature": ("0" if sig[0] != "0" else "1") + sig[1:]})
    tampered = [
        urlunsplit(parts._replace(query=urlencode(bad_sig))),
        # Same signature, different object.
        urlunsplit(parts._replace(path=parts.path.replace("signed.txt", "signed.txT"))),
        # Same signature, longer validity.
        urlunsplit(parts._replace(query=urlencode(dict(query, **{"X-Amz-Expires": "3600"})))),
    ]
    for t in tampered:
        r = requests.get(t, timeout=10)
        assert r.status_code == 403, (t, r.status_code, r.text)
        assert "SignatureDoesNotMatch" in r.text or "AccessDenied" in r.text, r.text


def test_presigned_url_expires(s3, bucket):
    s3.put_object(Bucket=bucket, Key="short-lived", Body=b"x")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "short-lived"}, ExpiresIn=1
    )
    time.sleep(2.1)
    r = requests.get(url, timeout=10)
    assert r.status_code == 403, r.text
    assert "AccessDenied" in r.text, r.text


def test_presigned_put(s3, bucket):
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "via-presigned"}, ExpiresIn=300
    )
    r = requests.put(url, data=b"uploaded by url", timeout=10)
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="via-presigned")["Body"].read() == b"uploaded by url"


def test_wrong_secret_is_refused(node, s3, bucket):
    s3.put_object(Bucket=bucket, Key="secret", Body=b"s")
    bad = node.client(secret_key=node.secret_key + "x")
    for call in (
        lambda: bad.list_buckets(),
        lambda: bad.get_object(Bucket=bucket, Key="secret"),
        lambda: bad.put_object(Bucket=bucket, Key="intruder", Body=b"x"),
    ):
        with pytest.raises(ClientError) as ei:
            call()
        assert http_status(ei) == 403
        assert error_code(ei) == "SignatureDoesNotMatch"
    assert_absent(s3, bucket, "intruder")


def test_unknown_access_key_is_refused(node, bucket):
    other = node.client(access_key="AKNOTAKEY0000000")
    with pytest.raises(ClientError) as ei:
        other.list_objects_v2(Bucket=bucket)
    assert http_status(ei) == 403
    assert error_code(ei) in ("InvalidAccessKeyId", "AccessDenied", "SignatureDoesNotMatch")


def test_anonymous_is_refused(node, s3, bucket):
    s3.put_object(Bucket=bucket, Key="private", Body=b"p")
    r = requests.get(f"{node.endpoint}/{bucket}/private", timeout=10)
    assert r.status_code == 403
    assert "AccessDenied" in r.text
    r = requests.put(f"{node.endpoint}/{bucket}/anon", data=b"x", timeout=10)
    assert r.status_code == 403
    r = requests.get(f"{node.endpoint}/", timeout=10)
    assert r.status_code == 403
    assert_absent(s3, bucket, "anon")


# --- keys ----------------------------------------------------------------------


def test_key_length_limit(s3, bucket):
    ok = "k" * 1024
    s3.put_object(Bucket=bucket, Key=ok, Body=b"max")
    assert s3.get_object(Bucket=bucket, Key=ok)["Body"].read() == b"max"

    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"too long")
    assert error_code(ei) == "KeyTooLongError"
    assert http_status(ei) == 400
    assert list_all_keys(s3, bucket) == [ok]


# --- admin endpoints and check-config -------------------------------------------


def test_admin_endpoints(node):
    assert node.admin_get("/healthz").status_code == 200
    assert node.admin_get("/readyz").status_code == 200
    st = node.status()
    for f in ("node_id", "version", "uptime_seconds", "objects", "stored_bytes",
              "capacity_bytes", "free_bytes", "ops_in_flight", "slow_ops", "last_scrub"):
        assert f in st, f
    assert st["node_id"] == node.node_id
    assert node.admin_get("/no-such-endpoint").status_code == 404


def test_logs_are_json_lines(node, s3, bucket):
    s3.put_object(Bucket=bucket, Key="logged", Body=b"x")
    records = node.log_records()
    assert records, "the node logged nothing"
    assert all(isinstance(r, dict) for r in records)


def check_config(path):
    return subprocess.run([str(node_binary()), "check-config", str(path)], capture_output=True,
                          text=True, timeout=30, env=node_env())


def test_check_config_accepts_a_valid_file(tmp_path):
    (tmp_path / "secret").write_text("s3cr3t\n")
    cfg = tmp_path / "ok.toml"
    cfg.write_text(
        f'node_id = "cfg-node"\ndata_dir = "{tmp_path / "data"}"\n'
        f's3_listen = "127.0.0.1:0"\nadmin_listen = "127.0.0.1:0"\n'
        f'access_key = "AK"\nsecret_key_file = "{tmp_path / "secret"}"\n'
        f'slow_op_threshold_ms = 500\nscrub_interval_secs = 60\n'
    )
    r = check_config(cfg)
    assert r.returncode == 0, r.stdout + r.stderr


def test_check_config_rejects_unknown_key(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("no_such_option_xyz = 1\n")
    r = check_config(cfg)
    assert r.returncode != 0
    assert "no_such_option_xyz" in r.stdout + r.stderr

    cfg.write_text("this is [not toml\n")
    r = check_config(cfg)
    assert r.returncode != 0
    assert (r.stdout + r.stderr).strip()

    r = check_config(tmp_path / "missing.toml")
    assert r.returncode != 0
    assert "missing.toml" in r.stdout + r.stderr


def test_serve_from_config_file_and_secret_key_file(node_factory):
    n = node_factory(via_config_file=True, node_id="from-file")
    c = n.client()
    c.create_bucket(Bucket="cfgbucket")
    c.put_object(Bucket="cfgbucket", Key="k", Body=b"v")
    assert c.get_object(Bucket="cfgbucket", Key="k")["Body"].read() == b"v"
    assert n.status()["node_id"] == "from-file"
    # The secret is the file's content without its newline: with the newline it is wrong.
    with pytest.raises(ClientError) as ei:
        n.client(secret_key=n.secret_key + "\n").list_buckets()
    assert http_status(ei) == 403


def test_flags_override_config_file(node_factory):
    n = node_factory(via_config_file=True, node_id="from-file",
                     extra_args=["--node-id", "from-flag"])
    assert n.status()["node_id"] == "from-flag"
