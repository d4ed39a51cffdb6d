#!/usr/bin/env python3
"""boto3 load against an S3 endpoint, for `s3_loadgen` (and for comparing with RGW's figures).

    boto3_load.py load --endpoint http://127.0.0.1:PORT --access-key A --secret-key S \\
        --bucket bench --op put|get --size 4096 --threads 16 --secs 5
prints one JSON line: {"op", "size", "threads", "secs", "ops", "errors", "ops_per_sec",
"p50_ms", "p99_ms", "p999_ms"}. Each thread has its own boto3 client (botocore clients are not
shared between threads in this script, so no lock is contended). A GET run reads keys the script
wrote first (`--keys` of them, untimed).

    boto3_load.py presign --endpoint ... --bucket bench --method put|get --prefix p --count N
prints N presigned URLs (SigV4, one per line) for keys `<prefix>/k<i>`, for `wrk`.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import boto3
from botocore.config import Config


def client(args):
    return boto3.client(
        "s3",
        endpoint_url=args.endpoint,
        aws_access_key_id=args.access_key,
        aws_secret_access_key=args.secret_key,
        region_name="us-east-1",
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            max_pool_connections=4,
            connect_timeout=5,
            read_timeout=30,
        ),
    )


def pct(sorted_ms: list[float], p: float) -> float:
    if not sorted_ms:
        return 0.0
    return sorted_ms[round((len(sorted_ms) - 1) * p)]


def load(args) -> None:
    body = b"\xa5" * args.size
    prefix = f"boto3/s{args.size}"
    if args.op == "get":
        c = client(args)
        for i in range(args.keys):
            c.put_object(Bucket=args.bucket, Key=f"{prefix}/g/k{i}", Body=body)
    start = threading.Barrier(args.threads + 1)
    results: list[tuple[int, int, list[float]]] = [(0, 0, [])] * args.threads

    def worker(w: int) -> None:
        c = client(args)
        ops = errors = 0
        lat: list[float] = []
        start.wait()
        deadline = time.monotonic() + args.secs
        i = 0
        while time.monotonic() < deadline:
            t = time.monotonic()
            try:
                if args.op == "put":
                    c.put_object(Bucket=args.bucket, Key=f"{prefix}/w{w}/k{i % 500}", Body=body)
                else:
                    r = c.get_object(Bucket=args.bucket, Key=f"{prefix}/g/k{(w * 7 + i) % args.keys}")
                    if len(r["Body"].read()) != args.size:
                        raise ValueError("short body")
                ops += 1
            except Exception:  # noqa: BLE001 - every failure is one counted error
                errors += 1
            lat.append((time.monotonic() - t) * 1000.0)
            i += 1
        results[w] = (ops, errors, lat)

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(args.threads)]
    for t in threads:
        t.start()
    start.wait()
    began = time.monotonic()
    for t in threads:
        t.join(timeout=args.secs + 60)
    secs = time.monotonic() - began
    ops = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    lat = sorted(x for r in results for x in r[2])
    print(json.dumps({
        "op": args.op, "size": args.size, "threads": args.threads, "secs": round(secs, 3),
        "ops": ops, "errors": errors, "ops_per_sec": round(ops / secs, 1),
        "p50_ms": round(pct(lat, 0.5), 3), "p99_ms": round(pct(lat, 0.99), 3),
        "p999_ms": round(pct(lat, 0.999), 3),
    }), flush=True)


def presign(args) -> None:
    c = client(args)
    method = {"put": "put_object", "get": "get_object"}[args.method]
    for i in range(args.count):
        print(c.generate_presigned_url(
            method, Params={"Bucket": args.bucket, "Key": f"{args.prefix}/k{i}"}, ExpiresIn=3600))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["load", "presign"])
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--access-key", required=True)
    ap.add_argument("--secret-key", required=True)
    ap.add_argument("--bucket", default="bench")
    ap.add_argument("--op", choices=["put", "get"], default="put")
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--secs", type=float, default=5.0)
    ap.add_argument("--keys", type=int, default=256)
    ap.add_argument("--method", choices=["put", "get"], default="get")
    ap.add_argument("--prefix", default="wrk")
    ap.add_argument("--count", type=int, default=256)
    args = ap.parse_args()
    if args.threads < 1 or args.threads > 256 or args.size < 0 or args.size > (64 << 20):
        sys.exit("threads must be 1..256 and size 0..64 MiB")
    if args.command == "load":
        load(args)
    else:
        presign(args)


if __name__ == "__main__":
    main()
