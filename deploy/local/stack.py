#!/usr/bin/env python3
"""The local Nodewatch stack on loopback (called by scripts/run-local.sh).

Starts three storage nodes (peered when the binary knows `--peer`), the node agent scraping all
three, and, when installed, a real Prometheus (scraping everything, loading rules/, remote_write
receiver on) and a real Alertmanager, with generated configs under the state directory.

Modes: default (run until Ctrl-C), `--check` (start, wait until Prometheus shows every target up,
print, stop; exit status says whether it did), `--demo-load` (S3 traffic plus a fault: a slow disk
through the storage node's fault injection when it has one, else a peer killed with -9 and
restarted). Ports come from flags or NODEWATCH_* environment variables.
Only the standard library is used, except boto3 for --demo-load (installed with pip if missing).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ACCESS_KEY = "nodewatch"
NODES = 3
STOP_TIMEOUT_S = 10


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Nodewatch local stack")
    ap.add_argument("--state-dir", type=Path,
                    default=Path(os.environ.get("NODEWATCH_STATE_DIR", REPO / ".local-stack")))
    ap.add_argument("--bin-dir", type=Path,
                    default=Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "release")
    ap.add_argument("--s3-port", type=int, default=env_int("NODEWATCH_S3_PORT", 9000),
                    help="node i listens on S3_PORT+i")
    ap.add_argument("--admin-port", type=int, default=env_int("NODEWATCH_ADMIN_PORT", 9900),
                    help="node i's admin listener is ADMIN_PORT+i")
    ap.add_argument("--agent-port", type=int, default=env_int("NODEWATCH_AGENT_PORT", 9464))
    ap.add_argument("--otlp-port", type=int, default=env_int("NODEWATCH_OTLP_PORT", 4318),
                    help="the agent's pipeline listener (OTLP/HTTP and Pushgateway pushes)")
    ap.add_argument("--prometheus-port", type=int, default=env_int("NODEWATCH_PROMETHEUS_PORT", 9090))
    ap.add_argument("--alertmanager-port", type=int, default=env_int("NODEWATCH_ALERTMANAGER_PORT", 9093))
    ap.add_argument("--check", action="store_true", help="start, wait for every target up, print, stop")
    ap.add_argument("--check-timeout", type=float, default=120.0)
    ap.add_argument("--demo-load", action="store_true", help="drive S3 traffic and inject a fault")
    ap.add_argument("--demo-fault-after", type=float, default=90.0,
                    help="seconds of clean load first (the detectors warm up meanwhile)")
    ap.add_argument("--demo-fault-secs", type=float, default=120.0, help="how long the fault lasts")
    return ap.parse_args(argv)


def http_get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def wait_http(url: str, timeout_s: float, proc: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            http_get(url, 1.0)
            return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    return False


def help_text(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd + ["--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


@dataclass
class Proc:
    name: str
    cmd: list[str]
    log: Path
    ready_url: str | None = None
    popen: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> "Proc":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as f:
            self.popen = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=f,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        if self.ready_url and not wait_http(self.ready_url, timeout_s, self.popen):
            tail = self.log.read_text("utf-8", "replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{self.name} did not become ready at {self.ready_url}; log {self.log}:\n{tail}")

    def stop(self, sig=signal.SIGTERM) -> None:
        p, self.popen = self.popen, None
        if p is None or p.poll() is not None:
            return
        p.send_signal(sig)
        try:
            p.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


class Stack:
    def __init__(self, a: argparse.Namespace):
        self.a = a
        self.state = a.state_dir.resolve()
        self.procs: list[Proc] = []
        self.nodes: list[Proc] = []
        self.secret_file = self.state / "s3-secret-key"
        sn_help = help_text([str(a.bin_dir / "storage-node"), "serve"])
        self.has_peer = "--peer" in sn_help
        self.has_fault = "--fault-injection" in sn_help
        self.agent_help = help_text([str(a.bin_dir / "node-agent"), "run"])
        self.prometheus = shutil.which("prometheus")
        self.alertmanager = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")

    # -- urls -----------------------------------------------------------
    def s3(self, i): return f"http://127.0.0.1:{self.a.s3_port + i}"
    def admin(self, i): return f"http://127.0.0.1:{self.a.admin_port + i}"
    @property
    def agent_url(self): return f"http://127.0.0.1:{self.a.agent_port}"
    @property
    def prom_url(self): return f"http://127.0.0.1:{self.a.prometheus_port}"
    @property
    def am_url(self): return f"http://127.0.0.1:{self.a.alertmanager_port}"

    # -- configs --------------------------------------------------------
    def prometheus_config(self) -> str:
        nodes = ", ".join(f'"127.0.0.1:{self.a.admin_port + i}"' for i in range(NODES))
        alerting = ""
        if self.alertmanager:
            alerting = ("alerting:\n  alertmanagers:\n    - static_configs:\n"
                        f"        - targets: [\"127.0.0.1:{self.a.alertmanager_port}\"]\n")
        am_job = ""
        if self.alertmanager:
            am_job = ("  - job_name: alertmanager\n    static_configs:\n"
                      f"      - targets: [\"127.0.0.1:{self.a.alertmanager_port}\"]\n")
        return (
            "# Generated by deploy/local/stack.py; rewritten at every start.\n"
            "global:\n  scrape_interval: 5s\n  evaluation_interval: 5s\n"
            "  external_labels: {cluster: local}\n"
            f"rule_files: [\"{self.state / 'prometheus' / 'rules'}/*.yml\"]\n"
            f"{alerting}"
            "scrape_configs:\n"
            # honor_labels: series pushed to the agent's pipeline listener keep their own `job`,
            # as with a Pushgateway.
            "  - job_name: nodewatch-agent\n    honor_labels: true\n    static_configs:\n"
            f"      - targets: [\"127.0.0.1:{self.a.agent_port}\"]\n        labels: {{node_name: local}}\n"
            # As the PodMonitor in deploy/kubernetes: the agent re-exposes storage_node_* with
            # node_id/node_name, so the direct scrape keeps only `up`, build info and process_*,
            # and nothing is counted twice by the rules.
            "  - job_name: storage-node\n    static_configs:\n"
            f"      - targets: [{nodes}]\n"
            "    metric_relabel_configs:\n"
            "      - {source_labels: [__name__], regex: 'storage_node_build_info|process_.+', action: keep}\n"
            "  - job_name: prometheus\n    static_configs:\n"
            f"      - targets: [\"127.0.0.1:{self.a.prometheus_port}\"]\n"
            f"{am_job}"
        )

    def copy_rules(self) -> list[Path]:
        """rules/*.yml and rules/generated/*.yml that are rule files (not promtool tests)."""
        out = self.state / "prometheus" / "rules"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        copied = []
        for d in (REPO / "rules", REPO / "rules" / "generated"):
            for f in sorted(d.glob("*.yml")) + sorted(d.glob("*.yaml")):
                text = f.read_text("utf-8", "replace")
                if any(line.startswith("groups:") for line in text.splitlines()):
                    dest = out / (f"{d.name}-{f.stem}.yml")
                    dest.write_text(text)
                    copied.append(dest)
        return copied

    # -- lifecycle ------------------------------------------------------
    def node_proc(self, i: int) -> Proc:
        d = self.state / f"node-{i}"
        cmd = [str(self.a.bin_dir / "storage-node"), "serve", "--node-id", f"node-{i}",
               "--data-dir", str(d / "data"), "--s3-listen", f"127.0.0.1:{self.a.s3_port + i}",
               "--admin-listen", f"127.0.0.1:{self.a.admin_port + i}", "--access-key", ACCESS_KEY,
               "--secret-key-file", str(self.secret_file), "--log-file", str(d / "storage-node.log")]
        if self.has_peer:
            for j in range(NODES):
                if j != i:
                    cmd += ["--peer", f"node-{j}={self.s3(j)}"]
        if self.has_fault and self.a.demo_load:
            cmd += ["--fault-injection"]
        return Proc(f"node-{i}", cmd, d / "stdout.log", f"{self.admin(i)}/readyz")

    def start(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        if not self.secret_file.exists() or not self.secret_file.read_text().strip():
            old = os.umask(0o077)
            try:
                self.secret_file.write_text(secrets.token_hex(24))
            finally:
                os.umask(old)
        for i in range(NODES):
            self.nodes.append(self.start_proc(self.node_proc(i), wait=False))
        for n in self.nodes:
            n.wait_ready()
        # The local stack scrapes the nodes every 2 s and shortens the detectors' start-up grace,
        # so that --demo-load shows an anomaly within a few minutes; everything else is the
        # agent's embedded defaults.
        agent_cfg = self.state / "agent" / "agent.toml"
        agent_cfg.parent.mkdir(parents=True, exist_ok=True)
        agent_cfg.write_text(
            "# Generated by deploy/local/stack.py; rewritten at every start.\n"
            "[sources.storage_node]\ninterval_secs = 2\ntimeout_ms = 1500\n"
            "[transforms.detect.policy]\nstartup_grace_secs = 30\n")
        agent_cmd = [str(self.a.bin_dir / "node-agent"), "run", "--config", str(agent_cfg),
                     "--listen", f"127.0.0.1:{self.a.agent_port}",
                     "--data-dir", str(self.state / "agent" / "data")]
        for i in range(NODES):
            agent_cmd += ["--storage-node", self.admin(i)]
        if "--otlp-listen" in self.agent_help:
            agent_cmd += ["--otlp-listen", f"127.0.0.1:{self.a.otlp_port}"]
        if self.alertmanager and "--alertmanager-url" in self.agent_help:
            agent_cmd += ["--alertmanager-url", self.am_url]
        if "--log-path" in self.agent_help:  # the logs source, when built in
            for i in range(NODES):
                agent_cmd += ["--log-path", str(self.state / f"node-{i}" / "storage-node.log")]
        (self.state / "agent" / "data").mkdir(parents=True, exist_ok=True)
        self.start_proc(Proc("node-agent", agent_cmd, self.state / "agent" / "agent.log",
                             f"{self.agent_url}/healthz"))
        if self.alertmanager:
            am = self.state / "alertmanager"
            am.mkdir(parents=True, exist_ok=True)
            (am / "alertmanager.yml").write_text(
                "# Generated by deploy/local/stack.py.\nroute:\n  receiver: \"null\"\n  group_wait: 5s\n"
                "  group_interval: 10s\n  repeat_interval: 1h\nreceivers:\n  - name: \"null\"\n")
            self.start_proc(Proc("alertmanager", [
                self.alertmanager, f"--config.file={am / 'alertmanager.yml'}",
                f"--storage.path={am / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.a.alertmanager_port}",
                "--cluster.listen-address="], am / "alertmanager.log", f"{self.am_url}/-/ready"))
        if self.prometheus:
            pd = self.state / "prometheus"
            pd.mkdir(parents=True, exist_ok=True)
            self.rules = self.copy_rules()
            (pd / "prometheus.yml").write_text(self.prometheus_config())
            self.start_proc(Proc("prometheus", [
                self.prometheus, f"--config.file={pd / 'prometheus.yml'}",
                f"--storage.tsdb.path={pd / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.a.prometheus_port}",
                "--web.enable-remote-write-receiver", "--web.enable-lifecycle"],
                pd / "prometheus.log", f"{self.prom_url}/-/ready"))

    def start_proc(self, p: Proc, wait: bool = True) -> Proc:
        self.procs.append(p)
        p.start()
        if wait:
            p.wait_ready()
        return p

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.stop()

    def targets_up(self) -> tuple[bool, list[tuple[str, str, str]]]:
        body = json.loads(http_get(f"{self.prom_url}/api/v1/targets"))
        ts = [(t["labels"].get("job", ""), t["scrapeUrl"], t["health"])
              for t in body["data"]["activeTargets"]]
        return bool(ts) and all(h == "up" for _, _, h in ts), ts

    def wait_targets_up(self, timeout_s: float) -> tuple[bool, list]:
        deadline = time.monotonic() + timeout_s
        ok, ts = False, []
        while time.monotonic() < deadline:
            try:
                ok, ts = self.targets_up()
            except (urllib.error.URLError, OSError, ValueError, KeyError):
                ok = False
            if ok:
                break
            time.sleep(1.0)
        return ok, ts

    def banner(self) -> str:
        lines = [f"\nNodewatch local stack is up (state in {self.state}).\n", "  storage nodes (S3, path-style, SigV4):"]
        for i in range(NODES):
            lines.append(f"    node-{i}  S3 {self.s3(i)}   admin {self.admin(i)}/metrics  /admin/status")
        lines.append(f"    peered: {'yes (--peer)' if self.has_peer else 'no (this storage-node has no --peer)'}")
        lines.append(f"  credentials: access key \"{ACCESS_KEY}\", secret key in {self.secret_file}")
        lines.append(f"  agent:        {self.agent_url}/metrics")
        if "--otlp-listen" in self.agent_help:
            lines.append(f"  pipelines:    http://127.0.0.1:{self.a.otlp_port}/v1/metrics (OTLP/HTTP), "
                         f"http://127.0.0.1:{self.a.otlp_port}/metrics/job/<job> (Pushgateway)")
        if self.prometheus:
            lines.append(f"  Prometheus:   {self.prom_url}   (rules: {len(self.rules)} files from rules/)")
        else:
            lines.append("  Prometheus:   not installed (apt-get install prometheus)")
        lines.append(f"  Alertmanager: {self.am_url}" if self.alertmanager else
                     "  Alertmanager: not installed (apt-get install prometheus-alertmanager)")
        lines.append(f"  logs:         {self.state}/*/*.log")
        lines.append("""
  example PromQL (Prometheus > Graph):
    histogram_quantile(0.99, sum by (le, node_id) (rate(storage_node_op_latency_seconds_bucket{job="nodewatch-agent"}[1m])))
    sum by (node_id, op) (rate(storage_node_op_latency_seconds_count{job="nodewatch-agent"}[1m]))
    max by (node_id, peer) (storage_node_replication_lag_seconds)
    ALERTS{alertstate="firing"}
    up
""")
        return "\n".join(lines)


# -- demo load ------------------------------------------------------------------------------------

def s3_clients(stack: Stack):
    try:
        import boto3  # noqa: F401
    except ImportError:
        print("== pip install boto3 (for --demo-load)", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "boto3"], check=True)
    import boto3
    from botocore.config import Config
    secret = stack.secret_file.read_text().strip()
    cfg = Config(signature_version="s3v4", s3={"addressing_style": "path"},
                 retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=10)
    return [boto3.session.Session().client("s3", endpoint_url=stack.s3(i), region_name="us-east-1",
                                           aws_access_key_id=ACCESS_KEY, aws_secret_access_key=secret,
                                           config=cfg) for i in range(NODES)]


def drive_load(stack: Stack, stop: threading.Event) -> None:
    clients = s3_clients(stack)
    for c in clients:
        try:
            c.create_bucket(Bucket="demo")
        except Exception:  # noqa: BLE001 - exists already, or the node is down: the loop reports
            pass
    body = os.urandom(16 * 1024)
    n = 0
    while not stop.is_set():
        c = clients[n % NODES]
        try:
            c.put_object(Bucket="demo", Key=f"obj-{n % 500}", Body=body)
            c.get_object(Bucket="demo", Key=f"obj-{n % 500}")["Body"].read()
        except Exception:  # noqa: BLE001 - errors are what the demo shows
            time.sleep(0.05)
        n += 1
        time.sleep(0.01)


def post_json(url: str, doc: dict) -> int:
    req = urllib.request.Request(url, data=json.dumps(doc).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.status


def demo(stack: Stack, stop: threading.Event) -> None:
    load = threading.Thread(target=drive_load, args=(stack, stop), daemon=True)
    load.start()
    print(f"== demo: S3 load on all nodes; fault in {stack.a.demo_fault_after:.0f}s", flush=True)
    if stop.wait(stack.a.demo_fault_after):
        return
    victim = stack.nodes[1]
    if stack.has_fault:
        print("== demo: node-1's disk is now slow (POST /admin/fault {\"disk_delay_ms\": 200}); watch"
              " p99 latency and StorageNodeLatencyAnomaly", flush=True)
        post_json(f"{stack.admin(1)}/admin/fault", {"disk_delay_ms": 200})
        if stop.wait(stack.a.demo_fault_secs):
            return
        post_json(f"{stack.admin(1)}/admin/fault", {"disk_delay_ms": 0})
        print("== demo: fault removed; the alert resolves within a few minutes", flush=True)
    else:
        print("== demo: kill -9 node-1 (watch up{job=\"storage-node\"}, errors, replication lag)", flush=True)
        victim.stop(signal.SIGKILL)
        if stop.wait(stack.a.demo_fault_secs):
            return
        victim.start()
        victim.wait_ready()
        print("== demo: node-1 restarted; lag drains and alerts resolve", flush=True)


def main(argv=None) -> int:
    a = parse_args(argv)
    for b in ("storage-node", "node-agent"):
        if not (a.bin_dir / b).is_file():
            print(f"missing {a.bin_dir / b}: build with cargo build --release --workspace --bins", file=sys.stderr)
            return 1
    stack = Stack(a)
    stop = threading.Event()

    def on_signal(signum, _frame):
        stop.set()
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start()
        if a.check:
            if not stack.prometheus:
                print("--check needs Prometheus (apt-get install prometheus)", file=sys.stderr)
                return 1
            ok, ts = stack.wait_targets_up(a.check_timeout)
            print(stack.banner())
            for job, url, health in ts:
                print(f"  target {job:16} {url:45} {health}")
            print("every target up" if ok else "NOT every target is up", flush=True)
            return 0 if ok else 1
        print(stack.banner(), flush=True)
        if a.demo_load:
            threading.Thread(target=demo, args=(stack, stop), daemon=True).start()
        print("Press Ctrl-C to stop.", flush=True)
        while not stop.wait(1.0):
            for p in stack.procs:
                demo_victim = a.demo_load and p is stack.nodes[1]  # restarted by the demo
                if p.popen is not None and p.popen.poll() is not None and not demo_victim:
                    print(f"{p.name} exited ({p.popen.returncode}); see {p.log}", file=sys.stderr)
                    return 1
        return 0
    except RuntimeError as e:
        print(f"run-local: {e}", file=sys.stderr)
        return 1
    finally:
        stop.set()
        print("\n== stopping", flush=True)
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
