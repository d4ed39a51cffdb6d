"""Replication between nodes that serve S3 only over HTTPS: peers named with `https://` URLs are
reached over TLS, verified against the cluster's CA (`--peer-ca-file`); a peer whose certificate
does not chain to that CA gets nothing."""

from __future__ import annotations

import datetime
import ipaddress

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from replication_cluster import make_cluster, wait_for


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(dirpath, cn: str):
    """A CA certificate and key; returns (cert, key, ca_pem_path)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = dirpath / f"{cn}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key, path


def make_leaf(dirpath, ca_cert, ca_key, name: str):
    """A server certificate for 127.0.0.1 signed by the CA; returns (cert_path, key_path)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(_name(name)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = dirpath / f"{name}.crt", dirpath / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def tls_pair(tmp_path, trusted_ca_for_peers):
    """Two peered HTTPS-only nodes whose certificates come from the `cluster` CA; each trusts
    `trusted_ca_for_peers(cluster_ca_path, other_ca_path)` for its peer."""
    certs = tmp_path / "certs"
    certs.mkdir()
    ca_cert, ca_key, ca_path = make_ca(certs, "cluster")
    _, _, other_ca = make_ca(certs, "other")
    nodes = make_cluster(tmp_path / "nodes", n=2)
    for n in nodes:
        n.tls_cert, n.tls_key = make_leaf(certs, ca_cert, ca_key, n.node_id)
        n.extra_args += ["--peer-ca-file", str(trusted_ca_for_peers(ca_path, other_ca))]
    for i, n in enumerate(nodes):
        other = nodes[1 - i]
        n.peers = [f"{other.node_id}=https://127.0.0.1:{other.s3_port}"]
    return nodes, ca_path


def client(node, ca_path):
    return node.client(verify=str(ca_path))


def test_https_peers_replicate_writes_and_deletes(tmp_path):
    (a, b), ca = tls_pair(tmp_path, lambda cluster, other: cluster)
    try:
        for n in (a, b):
            n.start()
        assert a.endpoint.startswith("https://")
        sa, sb = client(a, ca), client(b, ca)
        sa.create_bucket(Bucket="tls")  # bucket creation replicates
        wait_for("the bucket on b", lambda: sb.head_bucket(Bucket="tls"))
        sa.put_object(Bucket="tls", Key="from-a", Body=b"a" * 3000)
        sb.put_object(Bucket="tls", Key="from-b", Body=b"b" * 5000)
        got = wait_for("from-a on b", lambda: sb.get_object(Bucket="tls", Key="from-a")["Body"].read())
        assert got == b"a" * 3000
        got = wait_for("from-b on a", lambda: sa.get_object(Bucket="tls", Key="from-b")["Body"].read())
        assert got == b"b" * 5000
        sa.delete_object(Bucket="tls", Key="from-a")

        def gone():
            try:
                sb.head_object(Bucket="tls", Key="from-a")
                return False
            except ClientError as e:
                return e.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        wait_for("the delete on b", gone)
        assert a.metric("storage_node_replication_peer_up", peer=b.node_id) == 1
        assert a.metric("storage_node_replication_pending_entries", peer=b.node_id) == 0
    finally:
        for n in (a, b):
            n.stop()


def test_a_peer_outside_the_trusted_ca_gets_nothing(tmp_path):
    # Each node trusts only the "other" CA, which did not sign its peer's certificate.
    (a, b), ca = tls_pair(tmp_path, lambda cluster, other: other)
    try:
        for n in (a, b):
            n.start()
        sa = client(a, ca)
        sa.create_bucket(Bucket="untrusted")
        sa.put_object(Bucket="untrusted", Key="k", Body=b"secret")
        wait_for("connect errors to the untrusted peer",
                 lambda: a.metric("storage_node_replication_errors_total", peer=b.node_id) > 0)
        assert a.metric("storage_node_replication_peer_up", peer=b.node_id) == 0
        # The bucket creation and the PUT.
        assert a.metric("storage_node_replication_pending_entries", peer=b.node_id) == 2
        with pytest.raises(ClientError):
            client(b, ca).head_object(Bucket="untrusted", Key="k")
    finally:
        for n in (a, b):
            n.stop()
