#!/usr/bin/env python3
"""Ceph's own benchmark on this machine, for comparison with `s3_loadgen`'s figures.

    python3 storage-node/benches/ceph_rados_bench.py [--secs 10] [--threads 16] [--size 4096]

Starts a real Ceph 16 cluster on loopback with the test harness (`tests/python/harness/
ceph_cluster.py`: one mon, one mgr, three BlueStore OSDs on sparse files under a temporary
directory), creates a pool of size 3 (every write on three OSDs, like `--write-quorum 3`), and runs

    rados bench -p <pool> <secs> write -b <size> -t <threads> --no-cleanup
    rados bench -p <pool> <secs> seq -t <threads>
    rados bench -p <pool> <secs> rand -t <threads>

It prints rados bench's own summaries, then one line `ceph_rados_bench {json}` with each phase's
IOPS and latencies (average, max; rados bench reports no percentiles). Every daemon is stopped on
exit, on SIGTERM/SIGINT, and when the parent process (the load generator) goes away.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests" / "python"))

from harness.ceph_cluster import CephCluster, missing_tools  # noqa: E402

POOL = "bench3"


def parse(out: str) -> dict:
    """rados bench's `Name:  value` summary lines as numbers."""
    want = {
        "Total time run": "secs",
        "Average IOPS": "iops",
        "Stddev IOPS": "iops_stddev",
        "Bandwidth (MB/sec)": "mb_per_sec",
        "Average Latency(s)": "avg_latency_s",
        "Max latency(s)": "max_latency_s",
        "Min latency(s)": "min_latency_s",
    }
    got: dict = {}
    for line in out.splitlines():
        m = re.match(r"^\s*([A-Za-z][^:]*?):\s+([-0-9.e+]+)\s*$", line)
        if m and m.group(1) in want:
            got[want[m.group(1)]] = float(m.group(2))
    for k in ("avg_latency_s", "max_latency_s", "min_latency_s"):
        if k in got:
            got[k.replace("_s", "_ms")] = round(got.pop(k) * 1000.0, 3)
    return got


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--secs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--dir", default=os.environ.get("LOADGEN_DIR") or None,
                    help="where the cluster's temporary directory goes (default: $TMPDIR)")
    args = ap.parse_args()
    if not 1 <= args.secs <= 600 or not 1 <= args.threads <= 256:
        print("--secs must be 1..600 and --threads 1..256", file=sys.stderr)
        return 2
    missing = missing_tools()
    if missing:
        print(f"ceph_rados_bench: Ceph tools missing: {missing} (apt-get install -y ceph)", flush=True)
        return 3

    with tempfile.TemporaryDirectory(prefix="ceph-bench-", dir=args.dir) as root:
        cluster = CephCluster(Path(root) / "c", osds=3)
        stopping = threading.Event()

        def stop(*_):
            if not stopping.is_set():
                stopping.set()
                cluster.stop()
            raise SystemExit(1)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        parent = os.getppid()

        def orphan_watch():
            # The load generator died (even by SIGKILL): stop the daemons we started.
            while not stopping.is_set():
                if os.getppid() != parent:
                    os.kill(os.getpid(), signal.SIGTERM)
                    return
                time.sleep(1)

        threading.Thread(target=orphan_watch, daemon=True).start()
        results: dict = {"size": args.size, "threads": args.threads, "pool_size": 3}
        try:
            t = time.monotonic()
            cluster.start()
            cluster.create_pool(POOL, size=3)
            results["cluster_start_s"] = round(time.monotonic() - t, 1)
            print(f"ceph cluster up (3 OSDs, pool {POOL} size 3) in {results['cluster_start_s']} s", flush=True)
            phases = [
                ("write", ["write", "-b", str(args.size), "-t", str(args.threads), "--no-cleanup"]),
                ("seq", ["seq", "-t", str(args.threads)]),
                ("rand", ["rand", "-t", str(args.threads)]),
            ]
            for name, extra in phases:
                cmd = ["rados", "--conf", str(cluster.conf), "bench", "-p", POOL, str(args.secs), *extra]
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.secs * 3 + 120,
                                   stdin=subprocess.DEVNULL)
                if r.returncode != 0:
                    print(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}",
                          flush=True)
                    return 1
                summary = "\n".join(line for line in r.stdout.splitlines() if ":" in line and not
                                    line.lstrip().startswith(("sec", "hints")))
                print(f"--- rados bench {name} ---\n{summary}", flush=True)
                results[name] = parse(r.stdout)
        finally:
            stopping.set()
            cluster.stop()
    print("ceph_rados_bench " + json.dumps(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
