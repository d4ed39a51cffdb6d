"""S3 over TLS. Over HTTPS boto3 sends PutObject and UploadPart bodies as
aws-chunked with an unsigned trailing checksum, so this is where that decoding
is exercised."""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import os
import uuid
import zlib

import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, SSLError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

MIB = 1024 * 1024


def make_self_signed(dirpath) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "storage-node test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = dirpath / "cert.pem"
    key_path = dirpath / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_node(node_factory, tmp_path_factory):
    cert, key = make_self_signed(tmp_path_factory.mktemp("tls"))
    return node_factory(tls_cert=cert, tls_key=key)


@pytest.fixture(scope="module")
def s3(tls_node):
    return tls_node.client()


@pytest.fixture
def bucket(s3):
    name = f"tls-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MIB), b""):
            h.update(chunk)
    return h.hexdigest()


def test_endpoint_is_https(tls_node):
    assert tls_node.endpoint.startswith("https://127.0.0.1:")


def test_untrusted_certificate_is_rejected_by_client(tls_node, bucket):
    # Proves the listener really speaks TLS with our certificate: without it as
    # a trust root the handshake must fail.
    untrusting = tls_node.client(verify=True)
    with pytest.raises(SSLError):
        untrusting.list_buckets()


def test_plain_put_get_over_tls(s3, bucket):
    sent = []
    s3.meta.events.register(
        "before-send.s3.PutObject", lambda request, **_: sent.append(dict(request.headers))
    )
    body = os.urandom(300_000)
    r = s3.put_object(Bucket=bucket, Key="plain", Body=body, Metadata={"via": "tls"})
    # What makes this test worth having: boto3 really sent aws-chunked with a trailer.
    hdrs = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in sent[0].items()}
    assert hdrs.get("x-amz-content-sha256") == "STREAMING-UNSIGNED-PAYLOAD-TRAILER", hdrs
    assert "aws-chunked" in hdrs.get("content-encoding", ""), hdrs
    assert hdrs.get("x-amz-trailer") == "x-amz-checksum-crc32", hdrs
    assert r["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="plain")
    assert got["Body"].read() == body
    assert got["Metadata"] == {"via": "tls"}
    assert got["ContentLength"] == len(body)
    # A small one and an empty one: aws-chunked with a single chunk and with none.
    for key, data in (("small", b"hello tls"), ("empty", b"")):
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA256", "SHA1"])
def test_trailing_checksum_algorithms_over_tls(s3, bucket, algorithm):
    body = os.urandom(200_000)
    s3.put_object(Bucket=bucket, Key=f"alg-{algorithm}", Body=body, ChecksumAlgorithm=algorithm)
    got = s3.get_object(Bucket=bucket, Key=f"alg-{algorithm}", ChecksumMode="ENABLED")
    assert got["Body"].read() == body


def test_upload_and_download_file_50mib(s3, bucket, tmp_path):
    src = tmp_path / "big.bin"
    with open(src, "wb") as f:
        for _ in range(50):
            f.write(os.urandom(MIB))
    cfg = TransferConfig(
        multipart_threshold=8 * MIB,
        multipart_chunksize=8 * MIB,
        max_concurrency=4,
        preferred_transfer_client="classic",
    )
    s3.upload_file(str(src), bucket, "big/object.bin", Config=cfg)

    head = s3.head_object(Bucket=bucket, Key="big/object.bin")
    assert head["ContentLength"] == 50 * MIB
    parts = -(-50 // 8)
    assert head["ETag"].endswith(f'-{parts}"'), head["ETag"]

    dst = tmp_path / "back.bin"
    s3.download_file(bucket, "big/object.bin", str(dst), Config=cfg)
    assert dst.stat().st_size == 50 * MIB
    assert sha256_file(dst) == sha256_file(src)


class _TrailerSigner(S3SigV4Auth):
    """SigV4 for a body whose hash is the literal STREAMING-UNSIGNED-PAYLOAD-TRAILER."""

    def payload(self, request):
        return "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


def raw_chunked_put(node, bucket, key, data: bytes, trailer_value: str, chunk=64 * 1024):
    """PUT with an aws-chunked body and an unsigned x-amz-checksum-crc32 trailer,
    built by hand so that the trailer can be wrong."""
    body = b""
    for i in range(0, len(data), chunk):
        piece = data[i : i + chunk]
        body += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    body += b"0\r\n" + f"x-amz-checksum-crc32:{trailer_value}\r\n\r\n".encode()
    url = f"{node.endpoint}/{bucket}/{key}"
    req = AWSRequest(
        method="PUT",
        url=url,
        data=body,
        headers={
            "Content-Encoding": "aws-chunked",
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "x-amz-decoded-content-length": str(len(data)),
            "x-amz-trailer": "x-amz-checksum-crc32",
            "Content-Length": str(len(body)),
        },
    )
    _TrailerSigner(Credentials(node.access_key, node.secret_key), "s3", "us-east-1").add_auth(req)
    return requests.put(url, data=body, headers=dict(req.headers), verify=str(node.tls_cert),
                        timeout=30)


def test_hand_built_trailing_checksum(tls_node, s3, bucket):
    data = os.urandom(150_000)
    good = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    r = raw_chunked_put(tls_node, bucket, "good-trailer", data, good)
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="good-trailer")["Body"].read() == data

    bad = base64.b64encode((zlib.crc32(data) ^ 1).to_bytes(4, "big")).decode()
    r = raw_chunked_put(tls_node, bucket, "bad-trailer", data, bad)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=bucket, Key="bad-trailer")
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
