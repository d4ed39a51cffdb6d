"""Real S3 clients with their default settings against a node started here:
rclone from Debian (provider Other, path style: it lists with ListObjects v1)
and the AWS CLI (`aws s3 ...`), over plain HTTP and over TLS."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import requests

from conftest import REGION
from test_s3_tls import make_self_signed

MIB = 1024 * 1024
CLIENT_TIMEOUT_S = 90


@pytest.fixture(scope="module", params=["http", "https"])
def any_node(request, node_factory, tmp_path_factory):
    if request.param == "http":
        return node_factory()
    cert, key = make_self_signed(tmp_path_factory.mktemp("tls"))
    return node_factory(tls_cert=cert, tls_key=key)


def write_tree(root: Path) -> dict[str, bytes]:
    """A small tree with nested folders, an empty file, a non-ASCII and a spaced name."""
    files = {
        "a.txt": b"alpha\n",
        "empty": b"",
        "dir/b.bin": os.urandom(70_000),
        "dir/sub/c.txt": b"gamma " * 100,
        "dir/sub/d e+f.txt": b"spaces and plus",
        "unicodé/ñ.txt": "ünïcödé".encode(),
    }
    for name, data in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return files


# -- rclone --------------------------------------------------------------------------------------


def rclone(node, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    exe = shutil.which("rclone")
    if exe is None:
        pytest.fail("rclone is not installed (apt-get install rclone; scripts/test.sh does)")
    # Nothing from the caller's rclone or AWS settings (AWS_CA_BUNDLE, profiles) leaks in.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RCLONE_", "AWS_"))}
    # The remote `nw:` with rclone's defaults for a generic S3 server; nothing else is tuned.
    env.update(
        RCLONE_CONFIG_NW_TYPE="s3",
        RCLONE_CONFIG_NW_PROVIDER="Other",
        RCLONE_CONFIG_NW_ACCESS_KEY_ID=node.access_key,
        RCLONE_CONFIG_NW_SECRET_ACCESS_KEY=node.secret_key,
        RCLONE_CONFIG_NW_ENDPOINT=node.endpoint,
        RCLONE_CONFIG="/dev/null",
    )
    cmd = [exe, "--retries", "1", "--low-level-retries", "1"]
    if node.tls_cert:
        cmd += ["--ca-cert", str(node.tls_cert)]
    r = subprocess.run(cmd + list(args), env=env, capture_output=True, text=True,
                       timeout=CLIENT_TIMEOUT_S)
    if check:
        assert r.returncode == 0, f"rclone {' '.join(args)} failed:\n{r.stderr}"
    return r


def test_rclone_copy_sync_check_lsf_md5sum_purge(any_node, tmp_path):
    src = tmp_path / "src"
    files = write_tree(src)
    bucket = f"rc-{uuid.uuid4().hex[:12]}"
    remote = f"nw:{bucket}"

    rclone(any_node, "mkdir", remote)
    rclone(any_node, "copy", str(src), remote)

    listed = rclone(any_node, "lsf", "-R", "--files-only", remote).stdout.split("\n")
    assert sorted(x for x in listed if x) == sorted(files)
    top = rclone(any_node, "lsf", remote).stdout.split("\n")
    assert sorted(x for x in top if x) == ["a.txt", "dir/", "empty", "unicodé/"]

    sums = {}
    for line in rclone(any_node, "md5sum", remote).stdout.splitlines():
        digest, name = line.split("  ", 1)
        sums[name] = digest
    assert sums == {name: hashlib.md5(data).hexdigest() for name, data in files.items()}

    rclone(any_node, "check", str(src), remote)

    # sync: a changed, a new and a removed file; afterwards `check` agrees again.
    (src / "a.txt").write_bytes(b"alpha changed\n")
    (src / "new.txt").write_bytes(b"new")
    (src / "dir" / "b.bin").unlink()
    rclone(any_node, "sync", str(src), remote)
    rclone(any_node, "check", str(src), remote)
    listed = rclone(any_node, "lsf", "-R", "--files-only", remote).stdout.split()
    assert "dir/b.bin" not in listed and "new.txt" in listed

    back = tmp_path / "back"
    rclone(any_node, "copy", remote, str(back))
    assert (back / "a.txt").read_bytes() == b"alpha changed\n"
    assert (back / "unicodé" / "ñ.txt").read_bytes() == files["unicodé/ñ.txt"]

    rclone(any_node, "purge", remote)
    r = rclone(any_node, "lsf", remote, check=False)
    assert r.returncode != 0 and "directory not found" in r.stderr.lower(), r.stderr
    s3 = any_node.client()
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_rclone_forced_multipart_upload(any_node, tmp_path):
    data = os.urandom(12 * MIB + 1234)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    bucket = f"rcmp-{uuid.uuid4().hex[:12]}"
    rclone(any_node, "mkdir", f"nw:{bucket}")
    # rclone's minimum cutoff and chunk size are 5 MiB: three parts.
    rclone(any_node, "copyto", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M",
           str(src), f"nw:{bucket}/big.bin")
    head = any_node.client().head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3")
    rclone(any_node, "check", "--download", str(tmp_path), f"nw:{bucket}")
    out = tmp_path / "out"
    rclone(any_node, "copyto", f"nw:{bucket}/big.bin", str(out))
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(data).digest()
    rclone(any_node, "purge", f"nw:{bucket}")


# -- boto3: a pooled connection after an empty PUT --------------------------------------------


def test_boto3_puts_after_an_empty_put_on_one_pooled_connection(any_node):
    """botocore sends `Expect: 100-continue` on empty PutObjects too and takes the status line
    the node answers at once (there is no body to wait for) as final; it keeps that status line
    on the pooled connection, so unless that connection is closed, the next PUT with `Expect`
    on it loses every header of its answer (ETag included) and reads until the connection
    closes (boto/botocore#3755; the AWS CLI's sync of a tree with an empty file failed with
    s3transfer's `'ETag'` KeyError). One pooled connection makes every request reuse it."""
    s3 = any_node.client(max_pool_connections=1, read_timeout=10)
    bucket = f"pool-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)

    def put(key: str, data: bytes) -> str:
        # A file-like body, as s3transfer sends it: botocore adds `Expect: 100-continue`.
        etag = s3.put_object(Bucket=bucket, Key=key, Body=io.BytesIO(data)).get("ETag")
        assert etag == f'"{hashlib.md5(data).hexdigest()}"', (key, etag)
        return etag

    for i in range(3):
        put(f"empty-{i}", b"")
        put(f"full-{i}", os.urandom(1000 + i))

    # The CI failure: an UploadPart right after an empty PUT on the same connection.
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    parts = []
    for number, data in enumerate([os.urandom(5 * MIB), os.urandom(MIB)], start=1):
        put(f"empty-before-part-{number}", b"")
        etag = s3.upload_part(Bucket=bucket, Key="big", UploadId=upload, PartNumber=number,
                              Body=io.BytesIO(data)).get("ETag")
        assert etag == f'"{hashlib.md5(data).hexdigest()}"', (number, etag)
        parts.append({"PartNumber": number, "ETag": etag})
    s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload,
                                 MultipartUpload={"Parts": parts})
    assert s3.head_object(Bucket=bucket, Key="big")["ContentLength"] == 6 * MIB

    # A PUT refused before its body is read (no such bucket) leaves the connection usable too.
    with pytest.raises(s3.exceptions.NoSuchBucket):
        s3.put_object(Bucket=f"{bucket}-missing", Key="k", Body=io.BytesIO(b"x" * 1000))
    put("after-refusal", b"y" * 1000)

    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert len(keys) == 3 * 2 + 2 + 1 + 1


# -- AWS CLI -------------------------------------------------------------------------------------


def aws(node, tmp_path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    exe = shutil.which("aws")
    if exe is None:
        pytest.fail("the AWS CLI is not installed (pip install awscli; see requirements.txt)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=node.access_key,
        AWS_SECRET_ACCESS_KEY=node.secret_key,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(tmp_path / "aws-config-none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-credentials-none"),
    )
    if node.tls_cert:
        env["AWS_CA_BUNDLE"] = str(node.tls_cert)
    r = subprocess.run([exe, "--endpoint-url", node.endpoint, *args], env=env,
                       capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S)
    if check:
        assert r.returncode == 0, f"aws {' '.join(args)} failed:\n{r.stderr}"
    return r


def test_awscli_mb_cp_ls_sync_presign_rm(any_node, tmp_path):
    src = tmp_path / "src"
    files = write_tree(src)
    big = os.urandom(9 * MIB)  # above the CLI's 8 MiB multipart threshold
    (src / "big.bin").write_bytes(big)
    files["big.bin"] = big
    bucket = f"cli-{uuid.uuid4().hex[:12]}"
    url = f"s3://{bucket}"

    aws(any_node, tmp_path, "s3", "mb", url)
    aws(any_node, tmp_path, "s3", "cp", str(src / "a.txt"), f"{url}/single/a.txt")
    aws(any_node, tmp_path, "s3", "sync", str(src), f"{url}/tree")

    out = aws(any_node, tmp_path, "s3", "ls", "--recursive", url).stdout
    listed = sorted(line.split(None, 3)[3] for line in out.splitlines())
    assert listed == sorted(["single/a.txt"] + [f"tree/{k}" for k in files])
    top = aws(any_node, tmp_path, "s3", "ls", f"{url}/").stdout
    assert "PRE single/" in top and "PRE tree/" in top

    # A second sync uploads nothing; a local change is picked up.
    again = aws(any_node, tmp_path, "s3", "sync", str(src), f"{url}/tree").stdout
    assert "upload:" not in again
    (src / "a.txt").write_bytes(b"changed")
    again = aws(any_node, tmp_path, "s3", "sync", str(src), f"{url}/tree").stdout
    assert again.count("upload:") == 1

    back = tmp_path / "back"
    aws(any_node, tmp_path, "s3", "sync", f"{url}/tree", str(back))
    assert (back / "big.bin").read_bytes() == big
    assert (back / "unicodé" / "ñ.txt").read_bytes() == files["unicodé/ñ.txt"]

    link = aws(any_node, tmp_path, "s3", "presign", f"{url}/tree/dir/sub/c.txt",
               "--expires-in", "300").stdout.strip()
    verify = str(any_node.tls_cert) if any_node.tls_cert else True
    r = requests.get(link, timeout=10, verify=verify)
    assert r.status_code == 200 and r.content == files["dir/sub/c.txt"]

    # Versions: two writes of one key in a versioned bucket, listed by the CLI.
    vbucket = f"{bucket}-v"
    aws(any_node, tmp_path, "s3", "mb", f"s3://{vbucket}")
    aws(any_node, tmp_path, "s3api", "put-bucket-versioning", "--bucket", vbucket,
        "--versioning-configuration", "Status=Enabled")
    for body in ("one", "two"):
        (tmp_path / "v.txt").write_text(body)
        aws(any_node, tmp_path, "s3", "cp", str(tmp_path / "v.txt"), f"s3://{vbucket}/v.txt")
    listed = json.loads(aws(any_node, tmp_path, "s3api", "list-object-versions",
                            "--bucket", vbucket).stdout)
    versions = listed["Versions"]
    assert [v["Key"] for v in versions] == ["v.txt", "v.txt"]
    assert [v["IsLatest"] for v in versions] == [True, False]
    assert len({v["VersionId"] for v in versions}) == 2

    aws(any_node, tmp_path, "s3", "rm", "--recursive", url)
    assert aws(any_node, tmp_path, "s3", "ls", "--recursive", url).stdout.strip() == ""
    aws(any_node, tmp_path, "s3", "rb", url)
    r = aws(any_node, tmp_path, "s3", "ls", url, check=False)
    assert r.returncode != 0 and "NoSuchBucket" in r.stderr
