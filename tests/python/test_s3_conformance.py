"""S3 behaviour as AWS documents it, driven by the newest boto3: listings (v1 and v2),
conditional requests, standard headers, multipart details, SSE-C, tagging, CORS, bucket
details, and 501 NotImplemented for everything the node does not implement."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
import uuid
from email.utils import formatdate

import pytest
import requests
from botocore.exceptions import ClientError

from conftest import error_code, http_status

MIB = 1024 * 1024


def put_keys(s3, bucket, keys):
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")


def raw(excinfo):
    return excinfo.value.response


# -- ListObjects (v1) ----------------------------------------------------------------------------


def test_list_objects_v1_prefix_delimiter_marker(s3, bucket):
    put_keys(s3, bucket, ["a", "b/1", "b/2", "c/x/1", "d"])
    r = s3.list_objects(Bucket=bucket)
    assert [o["Key"] for o in r["Contents"]] == ["a", "b/1", "b/2", "c/x/1", "d"]
    assert r["IsTruncated"] is False and r["MaxKeys"] == 1000 and r["Marker"] == ""
    assert "NextMarker" not in r
    assert r["Contents"][0]["Owner"]["ID"]

    r = s3.list_objects(Bucket=bucket, Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["a", "d"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["b/", "c/"]
    assert r["Delimiter"] == "/"

    r = s3.list_objects(Bucket=bucket, Prefix="b/", Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["b/1", "b/2"] and r["Prefix"] == "b/"

    r = s3.list_objects(Bucket=bucket, Marker="b/1")
    assert [o["Key"] for o in r["Contents"]] == ["b/2", "c/x/1", "d"]
    assert r["Marker"] == "b/1"


def test_list_objects_v1_paging_with_next_marker(s3, bucket):
    put_keys(s3, bucket, ["a", "b/1", "b/2", "c", "d/1", "e"])
    # With a delimiter, AWS gives NextMarker: the last key or common prefix of the page.
    r = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert r["IsTruncated"] is True and r["MaxKeys"] == 2
    assert [o["Key"] for o in r["Contents"]] == ["a"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["b/"]
    assert r["NextMarker"] == "b/"
    r = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2, Marker=r["NextMarker"])
    assert [o["Key"] for o in r["Contents"]] == ["c"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["d/"]
    assert r["IsTruncated"] is True
    r = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2, Marker=r["NextMarker"])
    assert [o["Key"] for o in r["Contents"]] == ["e"] and r["IsTruncated"] is False

    # Without a delimiter there is no NextMarker: the client continues from the last key.
    seen, marker = [], ""
    for _ in range(10):
        r = s3.list_objects(Bucket=bucket, MaxKeys=4, Marker=marker)
        assert "NextMarker" not in r
        seen += [o["Key"] for o in r.get("Contents", [])]
        if not r["IsTruncated"]:
            break
        marker = seen[-1]
    assert seen == ["a", "b/1", "b/2", "c", "d/1", "e"]

    paginated = [o["Key"] for page in s3.get_paginator("list_objects").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 2}) for o in page.get("Contents", [])]
    assert paginated == seen


def test_list_objects_v1_encoding_type_url(node, s3, bucket):
    s3.put_object(Bucket=bucket, Key="sp ace/é+&", Body=b"x")
    r = s3.list_objects(Bucket=bucket)  # boto3 asks for encoding-type=url and decodes it
    assert [o["Key"] for o in r["Contents"]] == ["sp ace/é+&"]
    # The wire form, read by hand:
    url = s3.generate_presigned_url("list_objects", Params={"Bucket": bucket, "EncodingType": "url"})
    body = requests.get(url, timeout=10).text
    assert "<Key>sp%20ace/%C3%A9%2B%26</Key>" in body
    assert "<EncodingType>url</EncodingType>" in body


def test_list_objects_v1_no_such_bucket(s3):
    with pytest.raises(ClientError) as e:
        s3.list_objects(Bucket=f"missing-{uuid.uuid4().hex[:8]}")
    assert http_status(e) == 404 and error_code(e) == "NoSuchBucket"


# -- ListObjectsV2 details -------------------------------------------------------------------------


def test_list_objects_v2_details(s3, bucket):
    put_keys(s3, bucket, ["a", "b", "c/1"])
    r = s3.list_objects_v2(Bucket=bucket)
    assert r["KeyCount"] == 3 and "Owner" not in r["Contents"][0]
    r = s3.list_objects_v2(Bucket=bucket, FetchOwner=True)
    assert r["Contents"][0]["Owner"]["ID"]
    r = s3.list_objects_v2(Bucket=bucket, StartAfter="a")
    assert [o["Key"] for o in r["Contents"]] == ["b", "c/1"] and r["StartAfter"] == "a"
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert r["KeyCount"] == 3 and [p["Prefix"] for p in r["CommonPrefixes"]] == ["c/"]


def test_list_objects_v2_empty_delimiter_is_not_echoed(node, s3, bucket):
    put_keys(s3, bucket, ["a/b"])
    url = s3.generate_presigned_url("list_objects_v2", Params={"Bucket": bucket, "Delimiter": ""})
    body = requests.get(url, timeout=10).text
    assert "<Delimiter>" not in body and "<Key>a/b</Key>" in body


def test_list_objects_v2_empty_continuation_token_is_refused(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="")
    assert http_status(e) == 400 and error_code(e) == "InvalidArgument"


# -- conditional requests --------------------------------------------------------------------------


def test_conditional_get_and_head(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"data")["ETag"]
    past = formatdate(time.time() - 3600, usegmt=True)
    future = formatdate(time.time() + 3600, usegmt=True)
    for op in (s3.get_object, s3.head_object):
        assert op(Bucket=bucket, Key="k", IfMatch=etag)["ETag"] == etag
        with pytest.raises(ClientError) as e:
            op(Bucket=bucket, Key="k", IfMatch='"0123"')
        assert http_status(e) == 412
        with pytest.raises(ClientError) as e:
            op(Bucket=bucket, Key="k", IfNoneMatch=etag)
        assert http_status(e) == 304
        assert raw(e)["ResponseMetadata"]["HTTPHeaders"]["etag"] == etag
        assert op(Bucket=bucket, Key="k", IfNoneMatch='"0123"')["ETag"] == etag
        with pytest.raises(ClientError) as e:
            op(Bucket=bucket, Key="k", IfModifiedSince=future)
        assert http_status(e) == 304
        assert op(Bucket=bucket, Key="k", IfModifiedSince=past)["ETag"] == etag
        with pytest.raises(ClientError) as e:
            op(Bucket=bucket, Key="k", IfUnmodifiedSince=past)
        assert http_status(e) == 412
        # Precedence: If-Match true wins over If-Unmodified-Since false (200) ...
        assert op(Bucket=bucket, Key="k", IfMatch=etag, IfUnmodifiedSince=past)["ETag"] == etag
        # ... and If-None-Match false over If-Modified-Since true (304).
        with pytest.raises(ClientError) as e:
            op(Bucket=bucket, Key="k", IfNoneMatch=etag, IfModifiedSince=past)
        assert http_status(e) == 304
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", IfMatch='"0123"')
    assert error_code(e) == "PreconditionFailed"


def test_conditional_put(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"one", IfNoneMatch="*")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfNoneMatch="*")
    assert http_status(e) == 412 and error_code(e) == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfMatch='"0123"')
    assert http_status(e) == 412
    s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="missing", Body=b"x", IfMatch=etag)
    assert http_status(e) == 404 and error_code(e) == "NoSuchKey"


def test_racing_if_none_match_puts_exactly_one_wins(node, bucket):
    clients = [node.client() for _ in range(8)]
    results: list = [None] * len(clients)
    start = threading.Barrier(len(clients))

    def put(i):
        start.wait(timeout=10)
        try:
            clients[i].put_object(Bucket=bucket, Key="race", Body=f"writer-{i}".encode() * 5000,
                                  IfNoneMatch="*")
            results[i] = "ok"
        except ClientError as e:
            results[i] = e.response["ResponseMetadata"]["HTTPStatusCode"]
        except Exception as e:  # noqa: BLE001 - reported in the assertion below
            results[i] = repr(e)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results.count("ok") == 1, results
    assert [r for r in results if r != "ok"] == [412] * (len(clients) - 1), results
    winner = results.index("ok")
    body = clients[0].get_object(Bucket=bucket, Key="race")["Body"].read()
    assert body == f"writer-{winner}".encode() * 5000


def test_conditional_copy(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"data")["ETag"]
    src = {"Bucket": bucket, "Key": "src"}
    past = formatdate(time.time() - 3600, usegmt=True)
    future = formatdate(time.time() + 3600, usegmt=True)
    s3.copy_object(Bucket=bucket, Key="d1", CopySource=src, CopySourceIfMatch=etag)
    s3.copy_object(Bucket=bucket, Key="d2", CopySource=src, CopySourceIfNoneMatch='"0123"')
    s3.copy_object(Bucket=bucket, Key="d3", CopySource=src, CopySourceIfModifiedSince=past)
    s3.copy_object(Bucket=bucket, Key="d4", CopySource=src, CopySourceIfUnmodifiedSince=future)
    for kw in ({"CopySourceIfMatch": '"0123"'}, {"CopySourceIfNoneMatch": etag},
               {"CopySourceIfModifiedSince": future}, {"CopySourceIfUnmodifiedSince": past}):
        with pytest.raises(ClientError) as e:
            s3.copy_object(Bucket=bucket, Key="nope", CopySource=src, **kw)
        assert http_status(e) == 412 and error_code(e) == "PreconditionFailed", kw
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["d1", "d2", "d3", "d4", "src"]


# -- standard headers and metadata -----------------------------------------------------------------


def test_standard_headers_are_stored_and_returned(s3, bucket):
    expires = "Wed, 21 Oct 2037 07:28:00 GMT"
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", CacheControl="max-age=60",
                  ContentDisposition='attachment; filename="a.txt"', ContentEncoding="gzip",
                  ContentLanguage="de-DE", Expires=expires, ContentType="text/plain")
    for r in (s3.head_object(Bucket=bucket, Key="k"), s3.get_object(Bucket=bucket, Key="k")):
        h = r["ResponseMetadata"]["HTTPHeaders"]
        assert h["cache-control"] == "max-age=60"
        assert h["content-disposition"] == 'attachment; filename="a.txt"'
        assert h["content-encoding"] == "gzip"
        assert h["content-language"] == "de-DE"
        assert h["expires"] == expires
        assert h["content-type"] == "text/plain"
    # Kept by a copy, replaced by a REPLACE copy.
    s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "k"})
    assert s3.head_object(Bucket=bucket, Key="c")["CacheControl"] == "max-age=60"
    s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "k"},
                   MetadataDirective="REPLACE", CacheControl="no-store")
    h = s3.head_object(Bucket=bucket, Key="c")
    assert h["CacheControl"] == "no-store" and "ContentEncoding" not in h


def test_response_overrides_on_get(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ContentType="text/plain")
    r = s3.get_object(Bucket=bucket, Key="k", ResponseContentType="application/json",
                      ResponseContentDisposition="inline", ResponseCacheControl="no-cache",
                      ResponseContentLanguage="fr", ResponseContentEncoding="identity",
                      ResponseExpires="Thu, 01 Jan 2037 00:00:00 GMT")
    h = r["ResponseMetadata"]["HTTPHeaders"]
    assert h["content-type"] == "application/json"
    assert h["content-disposition"] == "inline"
    assert h["cache-control"] == "no-cache"
    assert h["content-language"] == "fr"
    assert h["content-encoding"] == "identity"
    assert h["expires"] == "Thu, 01 Jan 2037 00:00:00 GMT"


def test_non_ascii_user_metadata_round_trips_as_rfc2047(s3, bucket):
    # botocore refuses non-ASCII header values; clients send RFC 2047 encoded words, which AWS
    # decodes on the way in and encodes again on the way out.
    value = "héllo wörld ✓"
    encoded = "=?UTF-8?B?" + base64.b64encode(value.encode()).decode() + "?="
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"name": encoded, "plain": "ascii"})
    h = s3.head_object(Bucket=bucket, Key="k")["Metadata"]
    assert h["plain"] == "ascii"
    assert h["name"].startswith("=?UTF-8?")
    import email.header
    decoded = "".join(
        part.decode(cs) if isinstance(part, bytes) else part
        for part, cs in email.header.decode_header(h["name"]))
    assert decoded == value


# -- multipart ----------------------------------------------------------------------------------


def upload_parts(s3, bucket, key, parts, **create):
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)
    done = []
    for i, data in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=i, Body=data,
                           **{k: v for k, v in create.items() if k == "ChecksumAlgorithm"})
        done.append({"PartNumber": i, "ETag": r["ETag"], **{
            k: v for k, v in r.items() if k.startswith("Checksum")}})
    return up["UploadId"], done


def test_get_and_head_by_part_number(s3, bucket):
    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(1234)]
    upload_id, done = upload_parts(s3, bucket, "mp", parts)
    etag = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                        MultipartUpload={"Parts": done})["ETag"]
    for n, data in enumerate(parts, 1):
        r = s3.get_object(Bucket=bucket, Key="mp", PartNumber=n)
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert r["PartsCount"] == 3 and r["ETag"] == etag
        assert r["ContentLength"] == len(data) and r["Body"].read() == data
        h = s3.head_object(Bucket=bucket, Key="mp", PartNumber=n)
        assert h["ContentLength"] == len(data) and h["PartsCount"] == 3
        assert h["ResponseMetadata"]["HTTPHeaders"]["x-amz-mp-parts-count"] == "3"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="mp", PartNumber=4)
    assert http_status(e) == 416 and error_code(e) == "InvalidPartNumber"
    # An object not uploaded in parts is its own part 1.
    s3.put_object(Bucket=bucket, Key="single", Body=b"body")
    assert s3.get_object(Bucket=bucket, Key="single", PartNumber=1)["Body"].read() == b"body"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="single", PartNumber=2)
    assert http_status(e) == 416


def test_upload_part_copy_with_range(s3, bucket):
    src = os.urandom(6 * MIB + 100)
    s3.put_object(Bucket=bucket, Key="src", Body=src)
    up = s3.create_multipart_upload(Bucket=bucket, Key="dst")
    p1 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=up["UploadId"], PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "src"},
                             CopySourceRange=f"bytes=0-{5 * MIB - 1}")
    p2 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=up["UploadId"], PartNumber=2,
                             CopySource={"Bucket": bucket, "Key": "src"},
                             CopySourceRange=f"bytes={5 * MIB}-{len(src) - 1}")
    assert p1["CopyPartResult"]["ETag"] == f'"{hashlib.md5(src[:5 * MIB]).hexdigest()}"'
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=up["UploadId"], PartNumber=3,
                            CopySource={"Bucket": bucket, "Key": "src"},
                            CopySourceRange=f"bytes=0-{len(src)}")
    assert http_status(e) == 400 and error_code(e) == "InvalidArgument"
    s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [
                                     {"PartNumber": 1, "ETag": p1["CopyPartResult"]["ETag"]},
                                     {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == src


def test_repeated_complete_answers_the_same_etag(s3, bucket):
    upload_id, done = upload_parts(s3, bucket, "mp", [os.urandom(5 * MIB), b"tail"])
    first = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                         MultipartUpload={"Parts": done})
    again = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                         MultipartUpload={"Parts": done})
    assert again["ETag"] == first["ETag"]
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ClientError) as e:  # other parts: not that completion
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                     MultipartUpload={"Parts": done[:1]})
    assert http_status(e) == 404 and error_code(e) == "NoSuchUpload"


def test_complete_refuses_a_wrong_checksum(s3, bucket):
    upload_id, done = upload_parts(s3, bucket, "mp", [os.urandom(5 * MIB), b"tail"],
                                   ChecksumAlgorithm="SHA256")
    assert all("ChecksumSHA256" in p for p in done)
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    bad_parts = [dict(done[0], ChecksumSHA256=wrong), done[1]]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                     MultipartUpload={"Parts": bad_parts})
    assert http_status(e) == 400 and error_code(e) == "InvalidPart"
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                     MultipartUpload={"Parts": done},
                                     ChecksumSHA256=wrong + "-2")
    assert http_status(e) == 400 and error_code(e) == "BadDigest"
    raw_sums = b"".join(base64.b64decode(p["ChecksumSHA256"]) for p in done)
    composite = base64.b64encode(hashlib.sha256(raw_sums).digest()).decode()
    r = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                     MultipartUpload={"Parts": done},
                                     ChecksumSHA256=f"{composite}-2")
    assert r["ChecksumSHA256"] == f"{composite}-2"


# -- SSE-C ---------------------------------------------------------------------------------------


def sse_c(key: bytes, prefix: str = "SSECustomer") -> dict:
    return {f"{prefix}Algorithm": "AES256", f"{prefix}Key": key}


def test_sse_c_encrypts_and_needs_the_key(node, s3, bucket):
    key, other = os.urandom(32), os.urandom(32)
    data = os.urandom(3 * MIB + 17)
    r = s3.put_object(Bucket=bucket, Key="secret", Body=data, **sse_c(key))
    assert r["SSECustomerAlgorithm"] == "AES256"
    assert r["SSECustomerKeyMD5"] == base64.b64encode(hashlib.md5(key).digest()).decode()
    got = s3.get_object(Bucket=bucket, Key="secret", **sse_c(key))
    assert got["Body"].read() == data and got["SSECustomerAlgorithm"] == "AES256"
    part = s3.get_object(Bucket=bucket, Key="secret", Range="bytes=1000000-1000099", **sse_c(key))
    assert part["Body"].read() == data[1000000:1000100]
    assert s3.head_object(Bucket=bucket, Key="secret", **sse_c(key))["ContentLength"] == len(data)

    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="secret")
    assert http_status(e) == 400 and error_code(e) == "InvalidRequest"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="secret", **sse_c(other))
    assert http_status(e) == 403 and error_code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="secret", **sse_c(other))
    assert http_status(e) == 403

    # On disk there is no plaintext and no key.
    blobs = b"".join(p.read_bytes() for p in (node.data_dir / "buckets" / bucket).rglob("*")
                     if p.is_file())
    assert data[:4096] not in blobs and key not in blobs
    assert base64.b64encode(key) not in blobs


def test_sse_c_key_errors(s3, bucket):
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="plain", **sse_c(os.urandom(32)))
    assert http_status(e) == 400 and error_code(e) == "InvalidRequest"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", **sse_c(os.urandom(16)))
    assert http_status(e) == 400 and error_code(e) == "InvalidArgument"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", SSECustomerAlgorithm="AES256",
                      SSECustomerKey=base64.b64encode(os.urandom(32)).decode(),
                      SSECustomerKeyMD5=base64.b64encode(b"0" * 16).decode())
    assert http_status(e) == 400 and error_code(e) == "InvalidArgument"


# -- not implemented: 501 with the S3 XML body ------------------------------------------------------


def assert_501(excinfo):
    assert http_status(excinfo) == 501 and error_code(excinfo) == "NotImplemented"


def test_sse_kms_and_sse_s3_are_refused(s3, bucket):
    for kw in ({"ServerSideEncryption": "aws:kms"},
               {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/x"},
               {"ServerSideEncryption": "AES256"}):
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="k", Body=b"x", **kw)
        assert_501(e)
        with pytest.raises(ClientError) as e:
            s3.create_multipart_upload(Bucket=bucket, Key="k", **kw)
        assert_501(e)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_unsupported_sub_resources_answer_501(node, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    calls = [
        lambda: s3.put_object(Bucket=bucket, Key="k2", Body=b"x", ACL="public-read"),
        lambda: s3.put_bucket_acl(Bucket=bucket, ACL="public-read"),
        lambda: s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read"),
        lambda: s3.put_bucket_policy(Bucket=bucket, Policy='{"Version":"2012-10-17","Statement":[]}'),
        lambda: s3.get_bucket_policy(Bucket=bucket),
        lambda: s3.put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration={"Rules": [
                {"ID": "r", "Status": "Enabled", "Filter": {"Prefix": ""},
                 "Expiration": {"Days": 1}}]}),
        lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket),
        lambda: s3.put_object_lock_configuration(
            Bucket=bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"}),
        lambda: s3.get_object_lock_configuration(Bucket=bucket),
        lambda: s3.put_bucket_logging(Bucket=bucket, BucketLoggingStatus={}),
        lambda: s3.get_bucket_logging(Bucket=bucket),
        lambda: s3.put_object(Bucket=bucket, Key="k3", Body=b"x", StorageClass="GLACIER"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert_501(e)
        body = raw(e)["Error"]
        assert body.get("Message")
    # The canned private ACL is what every object has: accepted, and read back.
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    acl = s3.get_object_acl(Bucket=bucket, Key="k")
    assert [g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
    # The raw XML body of a refusal.
    url = s3.generate_presigned_url("get_bucket_policy", Params={"Bucket": bucket})
    r = requests.get(url, timeout=10)
    assert r.status_code == 501 and "<Code>NotImplemented</Code>" in r.text


# -- tagging -------------------------------------------------------------------------------------


def test_object_tagging(s3, bucket):
    data = os.urandom(1000)
    etag = s3.put_object(Bucket=bucket, Key="k", Body=data, Tagging="a=1&b%20c=d")["ETag"]
    tags = s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("a", "1"), ("b c", "d")]
    assert s3.get_object(Bucket=bucket, Key="k")["TagCount"] == 2
    lm = s3.head_object(Bucket=bucket, Key="k")["LastModified"]
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "x", "Value": "y"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == [{"Key": "x", "Value": "y"}]
    h = s3.head_object(Bucket=bucket, Key="k")
    assert h["ETag"] == etag and h["LastModified"] == lm
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == data
    r = s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [
            {"Key": f"k{i}", "Value": "v"} for i in range(11)]})
    assert http_status(e) == 400 and error_code(e) == "InvalidTag"
    with pytest.raises(ClientError) as e:
        s3.get_object_tagging(Bucket=bucket, Key="missing")
    assert http_status(e) == 404 and error_code(e) == "NoSuchKey"


def test_bucket_tagging(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=bucket)
    assert http_status(e) == 404 and error_code(e) == "NoSuchTagSet"
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "team", "Value": "nw"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "team", "Value": "nw"}]
    s3.delete_bucket_tagging(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=bucket)
    assert error_code(e) == "NoSuchTagSet"


# -- CORS ----------------------------------------------------------------------------------------


def test_bucket_cors_configuration(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert http_status(e) == 404 and error_code(e) == "NoSuchCORSConfiguration"
    rules = [{"AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET", "PUT"],
              "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600}]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == rules
    with pytest.raises(ClientError) as e:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
            {"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]})
    assert http_status(e) == 400
    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert error_code(e) == "NoSuchCORSConfiguration"


def test_cors_preflight_and_response_headers(node, s3, bucket):
    url = f"{node.endpoint}/{bucket}/k"
    ask = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT",
           "Access-Control-Request-Headers": "content-type, x-amz-date"}
    r = requests.options(url, headers=ask, timeout=10)
    assert r.status_code == 403 and "<Code>AccessForbidden</Code>" in r.text  # no rules yet
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{
        "AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET", "PUT"],
        "AllowedHeaders": ["content-type", "x-amz-*"], "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 600}]})
    r = requests.options(url, headers=ask, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert r.headers["Access-Control-Allow-Methods"] == "GET, PUT"
    assert r.headers["Access-Control-Allow-Headers"] == "content-type, x-amz-date"
    assert r.headers["Access-Control-Expose-Headers"] == "ETag"
    assert r.headers["Access-Control-Max-Age"] == "600"
    for bad in ({**ask, "Origin": "https://evil.com"},
                {**ask, "Access-Control-Request-Method": "DELETE"},
                {**ask, "Access-Control-Request-Headers": "authorization"}):
        r = requests.options(url, headers=bad, timeout=10)
        assert r.status_code == 403 and "<Code>AccessForbidden</Code>" in r.text, bad
    r = requests.options(url, headers={"Access-Control-Request-Method": "GET"}, timeout=10)
    assert r.status_code == 400
    # An actual request from an allowed origin gets the CORS headers on its response.
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    link = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    r = requests.get(link, headers={"Origin": "https://app.example.com"}, timeout=10)
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    r = requests.get(link, headers={"Origin": "https://evil.com"}, timeout=10)
    assert "Access-Control-Allow-Origin" not in r.headers


# -- buckets -------------------------------------------------------------------------------------


def test_bucket_region_headers(s3, bucket):
    h = s3.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPHeaders"]
    assert h["x-amz-bucket-region"] == "us-east-1"
    listed = {b["Name"]: b for b in s3.list_buckets()["Buckets"]}
    assert listed[bucket]["BucketRegion"] == "us-east-1"
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] is None


@pytest.mark.parametrize("name", ["a.-b", "a-.b", "192.168.5.4", "xn--abc", "sthree-x",
                                  "bucket-s3alias", "bucket--ol-s3", "ab", "Upper", "a..b"])
def test_bucket_naming_rules(s3, name):
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=name)
    assert http_status(e) == 400 and error_code(e) == "InvalidBucketName"
