"""Protocol details where the node must answer as AWS does: SigV2 bucket requests, presigned URL
lifetime, a signed payload that does not match its body, and requests the HTTP server refuses
before they reach S3 (counted on /metrics)."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import uuid

import boto3
import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from conftest import REGION


def sig_v2_client(node):
    return boto3.session.Session().client(
        "s3", endpoint_url=node.endpoint, region_name=REGION,
        aws_access_key_id=node.access_key, aws_secret_access_key=node.secret_key,
        config=Config(signature_version="s3", s3={"addressing_style": "path"},
                      retries={"total_max_attempts": 1}))


def test_sig_v2_bucket_requests(node):
    c = sig_v2_client(node)
    bucket = f"v2-{uuid.uuid4().hex[:12]}"
    c.create_bucket(Bucket=bucket)
    c.put_object(Bucket=bucket, Key="a/b", Body=b"x")
    assert [o["Key"] for o in c.list_objects(Bucket=bucket)["Contents"]] == ["a/b"]
    assert c.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    c.delete_object(Bucket=bucket, Key="a/b")
    c.delete_bucket(Bucket=bucket)
    assert bucket not in [b["Name"] for b in c.list_buckets()["Buckets"]]


def test_presigned_url_lifetime_is_at_most_a_week(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    week = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"},
                                     ExpiresIn=604800)
    assert requests.get(week, timeout=10).content == b"data"
    longer = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"},
                                       ExpiresIn=604801)
    r = requests.get(longer, timeout=10)
    assert r.status_code == 400
    assert "<Code>AuthorizationQueryParametersError</Code>" in r.text


def test_signed_payload_that_does_not_match_the_body(node, s3, bucket):
    url = f"{node.endpoint}/{bucket}/k"
    signed_body, sent_body = b"A" * 1000, b"B" * 1000
    req = AWSRequest(method="PUT", url=url, data=signed_body, headers={
        "x-amz-content-sha256": hashlib.sha256(signed_body).hexdigest(),
        "Content-Length": str(len(signed_body))})
    S3SigV4Auth(Credentials(node.access_key, node.secret_key), "s3", REGION).add_auth(req)
    r = requests.put(url, data=sent_body, headers=dict(req.headers), timeout=10)
    assert r.status_code == 400, r.text
    assert "<Code>XAmzContentSHA256Mismatch</Code>" in r.text
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def refusals(node, reason: str) -> float:
    m = re.search(
        r'^storage_node_http_connection_refusals_total\{listener="s3",reason="%s"\} (\S+)$' % reason,
        node.metrics_text(), re.M)
    assert m, f"no series for reason {reason}"
    return float(m.group(1))


def test_oversized_request_head_is_431_and_counted(node, s3, bucket):
    for reason in ("request_header_fields_too_large", "uri_too_long", "header_timeout",
                   "idle_timeout"):
        refusals(node, reason)  # every series exists from the start
    before = refusals(node, "request_header_fields_too_large")
    with socket.create_connection(("127.0.0.1", node.s3_port), timeout=10) as sock:
        sock.sendall(f"GET /{bucket} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
                     + b"X-Big: " + b"a" * (300 * 1024) + b"\r\n\r\n")
        resp = sock.recv(4096)
    assert resp.startswith(b"HTTP/1.1 431"), resp[:100]
    assert refusals(node, "request_header_fields_too_large") == before + 1


@pytest.mark.timeout(150)
def test_header_and_idle_timeouts_are_counted(node_factory):
    """The node closes a connection whose request head does not complete within 30 s
    (header_timeout), and a keep-alive connection that sends nothing (idle_timeout).
    A node of its own: pooled keep-alive connections of other tests would idle out too."""
    node = node_factory()
    before = {r: refusals(node, r) for r in ("header_timeout", "idle_timeout")}
    slow = socket.create_connection(("127.0.0.1", node.s3_port), timeout=45)
    idle = socket.create_connection(("127.0.0.1", node.s3_port), timeout=45)
    try:
        slow.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        for sock in (slow, idle):  # both are closed by the server, neither gets an answer
            try:
                data = sock.recv(4096)
            except ConnectionResetError:
                data = b""
            assert not data.startswith(b"HTTP/1.1 2"), data[:80]
    finally:
        slow.close()
        idle.close()
    assert refusals(node, "header_timeout") == before["header_timeout"] + 1
    assert refusals(node, "idle_timeout") == before["idle_timeout"] + 1


def chunks(data: bytes, size: int = 65536):
    for i in range(0, len(data), size):
        yield data[i:i + size]


def test_chunked_put_without_content_length(node, s3, bucket):
    data = os.urandom(3 * 1024 * 1024 + 5)
    # Presigned (UNSIGNED-PAYLOAD): requests sends a generator as Transfer-Encoding: chunked.
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "presigned"})
    r = requests.put(url, data=chunks(data), timeout=30)
    assert r.status_code == 200, r.text
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in r.request.headers
    assert s3.get_object(Bucket=bucket, Key="presigned")["Body"].read() == data

    # Header-signed with the payload's SHA-256: the hash is still checked.
    for body, status in ((data, 200), (data[:-1] + b"!", 400)):
        target = f"{node.endpoint}/{bucket}/signed"
        req = AWSRequest(method="PUT", url=target, data=data, headers={
            "x-amz-content-sha256": hashlib.sha256(data).hexdigest()})
        S3SigV4Auth(Credentials(node.access_key, node.secret_key), "s3", REGION).add_auth(req)
        headers = {k: v for k, v in req.headers.items() if k.lower() != "content-length"}
        r = requests.put(target, data=chunks(body), headers=headers, timeout=30)
        assert r.status_code == status, r.text
    assert s3.get_object(Bucket=bucket, Key="signed")["Body"].read() == data


def test_post_object_browser_form_upload(s3, bucket):
    post = s3.generate_presigned_post(bucket, "form/hello.txt",
                                      Fields={"Content-Type": "text/plain"},
                                      Conditions=[{"Content-Type": "text/plain"},
                                                  ["starts-with", "$key", "form/"]],
                                      ExpiresIn=300)
    r = requests.post(post["url"], data=post["fields"],
                      files={"file": ("hello.txt", b"from a form")}, timeout=10)
    assert r.status_code in (200, 204), r.text
    got = s3.get_object(Bucket=bucket, Key="form/hello.txt")
    assert got["Body"].read() == b"from a form" and got["ContentType"] == "text/plain"
    # A field the policy does not allow is refused, and nothing is stored.
    bad = dict(post["fields"], **{"Content-Type": "text/html"})
    r = requests.post(post["url"], data=bad, files={"file": ("evil.txt", b"x")}, timeout=10)
    # (AWS answers 403 AccessDenied here; s3s answers 400 InvalidPolicyDocument.)
    assert r.status_code == 400 and "<Code>InvalidPolicyDocument</Code>" in r.text, r.text
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["form/hello.txt"]
    # `${filename}` keys are not substituted: refused rather than stored under a literal name.
    named = s3.generate_presigned_post(bucket, "form/${filename}", ExpiresIn=300)
    r = requests.post(named["url"], data=named["fields"], files={"file": ("a.txt", b"x")},
                      timeout=10)
    assert r.status_code == 501 and "<Code>NotImplemented</Code>" in r.text
