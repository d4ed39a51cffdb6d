"""A real Ceph cluster (Debian's `ceph` 16 packages) on loopback, for tests.

One mon, one mgr with the prometheus module, and 1-3 BlueStore OSDs on sparse files, all under
one temporary directory (data, keyrings, admin sockets, logs), cephx on. Every daemon runs in the
foreground (`-f`) as our child, so stopping the cluster stops exactly what it started. Ports are
picked free on 127.0.0.1 (the mon's and the mgr prometheus module's) or from a random window of
ports (`ms_bind_port_min/max`, where the OSDs bind their messengers).

The mon's and the mgr prometheus module's ports, and the OSDs' window, lie below the kernel's
ephemeral range (`net.ipv4.ip_local_port_range`): a port from that range, free when picked, can be
handed to any outgoing connection on a busy machine before the daemon binds it, and a mon that
cannot bind its address gives up after three tries ("unable to bind monitor").

Startup is made fast for a test machine: small OSD caches and memory targets, one replica
allowed (`mon_allow_pool_size_one`), 8 PGs per pool, no scrubs, `osd_op_complaint_time` short
enough that a stopped OSD produces slow ops within seconds.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

from .procs import Server, file_tail, free_ports, wait_until

CEPH_TOOLS = ("ceph-mon", "ceph-mgr", "ceph-osd", "ceph", "rados", "ceph-authtool", "monmaptool")
CMD_TIMEOUT_S = 60.0
PORT_WINDOW = 200
LOWEST_PORT = 10000
ASOK_MAX_REPLY_BYTES = 64 << 20


def ephemeral_port_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections' local ports (Linux's default when unreadable)."""
    try:
        lo, hi = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def quiet_ports(n: int) -> tuple[int, list[int]]:
    """A random window of PORT_WINDOW ports and `n` ports outside it that are free now, all below the
    ephemeral range so that only an explicit bind can take them; `free_ports` where the range leaves
    no room below it."""
    lo, _ = ephemeral_port_range()
    if lo - LOWEST_PORT < 4 * PORT_WINDOW:
        return random.randrange(20000, 60000, PORT_WINDOW), free_ports(n)
    window = random.randrange(LOWEST_PORT, lo - PORT_WINDOW, PORT_WINDOW)
    picked: list[int] = []
    for _ in range(200):
        port = random.randrange(LOWEST_PORT, lo)
        if window <= port < window + PORT_WINDOW or port in picked:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        picked.append(port)
        if len(picked) == n:
            return window, picked
    raise AssertionError(f"no {n} free ports found in {LOWEST_PORT}..{lo}")


def missing_tools() -> list[str]:
    """The Ceph programs this harness needs that are not installed."""
    return [t for t in CEPH_TOOLS if shutil.which(t) is None]


def mgr_prometheus_importable() -> bool:
    """Whether the mgr's prometheus module can load (it needs cherrypy)."""
    # The mgr embeds the system interpreter, whatever python3 runs the tests.
    r = subprocess.run(["/usr/bin/python3", "-c", "import cherrypy"], capture_output=True, timeout=30)
    return r.returncode == 0


@dataclass
class CephCluster:
    """`root` is a fresh directory; `osds` BlueStore OSDs of `osd_size_bytes` (sparse) each."""

    root: Path
    osds: int = 2
    osd_size_bytes: int = 1 << 30
    op_complaint_time_s: float = 2.0
    fsid: str = field(default_factory=lambda: str(uuid.uuid4()))
    mon_port: int = 0
    prometheus_port: int = 0
    servers: dict[str, Server] = field(default_factory=dict)

    # -- paths -----------------------------------------------------------

    @property
    def conf(self) -> Path:
        return self.root / "ceph.conf"

    @property
    def run_dir(self) -> Path:
        """Where every admin socket lives (`ceph-<daemon>.asok`)."""
        return self.root / "run"

    def asok(self, daemon: str) -> Path:
        return self.run_dir / f"ceph-{daemon}.asok"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}/metrics"

    # -- commands --------------------------------------------------------

    def _base(self) -> list[str]:
        return ["--conf", str(self.conf)]

    def run(self, *args: str, timeout_s: float = CMD_TIMEOUT_S, check: bool = True) -> str:
        """Runs a Ceph tool (`ceph`, `rados`, ...) against this cluster; returns stdout."""
        tool, rest = args[0], list(args[1:])
        cmd = [tool, *self._base(), *rest]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                           stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
        return r.stdout

    def ceph_json(self, *args: str, timeout_s: float = CMD_TIMEOUT_S):
        return json.loads(self.run("ceph", *args, "--format", "json", timeout_s=timeout_s))

    def daemon_json(self, daemon: str, *command: str, timeout_s: float = 20.0):
        """`ceph daemon <daemon> <command>` through its admin socket."""
        out = subprocess.run(
            ["ceph", *self._base(), "--admin-daemon", str(self.asok(daemon)), *command],
            capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL,
        )
        if out.returncode != 0:
            raise AssertionError(f"ceph daemon {daemon} {' '.join(command)}: {out.stderr}")
        return json.loads(out.stdout)

    def asok_json(self, daemon: str, prefix: str, timeout_s: float = 10.0):
        """One admin-socket command sent straight over the socket (the command's JSON and a NUL; the
        reply is a 4-byte big-endian length and JSON): cheap enough to poll, where `daemon_json`
        starts the `ceph` CLI (a second of CPU on a busy machine)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout_s)
            s.connect(str(self.asok(daemon)))
            s.sendall(json.dumps({"prefix": prefix}).encode() + b"\0")
            head = _recv_exact(s, 4)
            (length,) = struct.unpack(">I", head)
            if length > ASOK_MAX_REPLY_BYTES:
                raise AssertionError(f"{daemon} {prefix}: a {length}-byte reply")
            return json.loads(_recv_exact(s, length))

    # -- bring-up --------------------------------------------------------

    def _write_conf(self, port_min: int) -> None:
        mon_addr = f"v2:127.0.0.1:{self.mon_port}"
        self.conf.write_text(f"""[global]
fsid = {self.fsid}
mon_host = [{mon_addr}]
public_addr = 127.0.0.1
public_network = 127.0.0.1/32
ms_bind_msgr1 = false
ms_bind_port_min = {port_min}
ms_bind_port_max = {port_min + PORT_WINDOW - 1}
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
keyring = {self.root}/keyring.$name
run_dir = {self.run_dir}
admin_socket = {self.run_dir}/$cluster-$name.asok
pid_file = {self.run_dir}/$name.pid
log_file = {self.root}/log/$name.log
mon_cluster_log_file = {self.root}/log/cluster.log
crash_dir = {self.root}/crash
exporter_sock_dir = {self.run_dir}
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_warn_on_pool_no_redundancy = false
mon_max_pg_per_osd = 1000
auth_allow_insecure_global_id_reclaim = false
mon_warn_on_insecure_global_id_reclaim_allowed = false
ms_async_op_threads = 1
debug_ms = 0

[mon]
mon_data = {self.root}/mon.$id
mon_initial_members = a
mgr_initial_modules = prometheus
mon_osd_reporter_subtree_level = osd
# The host's free space is not this throwaway cluster's health: by default a mon refuses to
# start with under 5% of its file system free (seen on a full build machine).
mon_data_avail_warn = 1
mon_data_avail_crit = 0

[mgr]
mgr_data = {self.root}/mgr.$id
mgr_stats_period = 1

[osd]
osd_data = {self.root}/osd.$id
osd_objectstore = bluestore
bluestore_block_size = {self.osd_size_bytes}
bluestore_block_create = true
bluestore_fsck_on_mount = false
bluestore_fsck_on_mkfs = false
bluestore_cache_autotune = false
bluestore_cache_size = 67108864
osd_memory_target = 939524096
osd_op_num_shards = 1
osd_op_num_threads_per_shard = 2
osd_scrub_begin_hour = 0
osd_scrub_end_hour = 0
osd_scrub_load_threshold = 0
osd_op_complaint_time = {self.op_complaint_time_s}
osd_heartbeat_interval = 2
osd_heartbeat_grace = 600
osd_mon_report_interval = 2
osd_pg_stat_report_interval_max = 2
osd_beacon_report_interval = 2
""")

    def start(self, ready_timeout_s: float = 180.0) -> "CephCluster":
        missing = missing_tools()
        if missing:
            raise AssertionError(f"Ceph tools missing: {missing} (apt-get install ceph; scripts/test.sh does)")
        deadline = time.monotonic() + ready_timeout_s
        self.root.mkdir(parents=True, exist_ok=True)
        for d in ("run", "log", "crash"):
            (self.root / d).mkdir(exist_ok=True)
        port_min, ports = quiet_ports(2)
        if not self.mon_port or not self.prometheus_port:
            self.mon_port, self.prometheus_port = ports
        self._write_conf(port_min)
        try:
            self._start_mon()
            self._start_mgr()
            for _ in range(self.osds):
                self._add_osd()
            self._wait_healthy(max(10.0, deadline - time.monotonic()))
        except BaseException:
            print(self.logs_tail(), flush=True)  # before stop() forgets the daemons
            self.stop()
            raise
        return self

    def _tool(self, *cmd: str) -> None:
        r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=CMD_TIMEOUT_S,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")

    def _daemon(self, name: str, binary: str, ident: str) -> Server:
        srv = Server(
            name=name,
            cmd=[binary, *self._base(), "-f", "-i", ident],
            log_path=self.root / "log" / f"{name}.stdout",
        ).start()
        self.servers[name] = srv
        return srv

    def _start_mon(self) -> None:
        mon_keyring = self.root / "keyring.mon.a.tmp"
        admin = self.root / "keyring.client.admin"
        self._tool("ceph-authtool", "--create-keyring", str(mon_keyring), "--gen-key", "-n", "mon.",
                   "--cap", "mon", "allow *")
        self._tool("ceph-authtool", "--create-keyring", str(admin), "--gen-key", "-n", "client.admin",
                   "--cap", "mon", "allow *", "--cap", "osd", "allow *", "--cap", "mgr", "allow *",
                   "--cap", "mds", "allow *")
        self._tool("ceph-authtool", str(mon_keyring), "--import-keyring", str(admin))
        monmap = self.root / "monmap"
        self._tool("monmaptool", "--create", "--fsid", self.fsid, "--addv", "a",
                   f"[v2:127.0.0.1:{self.mon_port}]", str(monmap))
        self._tool("ceph-mon", *self._base(), "--mkfs", "-i", "a", "--monmap", str(monmap),
                   "--keyring", str(mon_keyring))
        mon = self._daemon("mon.a", "ceph-mon", "a")
        # A mon that exits (e.g. its port taken) ends the wait at once; the caller prints its log.
        wait_until(lambda: not mon.is_running() or self.run("ceph", "mon", "stat", timeout_s=10, check=False),
                   30, interval_s=0.5, what="the mon to answer")
        if not mon.is_running():
            raise AssertionError(f"ceph-mon exited with {mon.proc.returncode if mon.proc else '?'}")

    def _start_mgr(self) -> None:
        (self.root / "mgr.x").mkdir(exist_ok=True)
        # Module options live in the mon's config database, not in ceph.conf.
        for key, value in (("server_addr", "127.0.0.1"), ("server_port", str(self.prometheus_port)),
                           ("scrape_interval", "1")):
            self.run("ceph", "config", "set", "mgr", f"mgr/prometheus/{key}", value, "--force")
        self.run("ceph", "auth", "get-or-create", "mgr.x", "mon", "allow profile mgr", "osd", "allow *",
                 "mds", "allow *", "-o", str(self.root / "keyring.mgr.x"))
        self._daemon("mgr.x", "ceph-mgr", "x")

    def _add_osd(self) -> int:
        osd_uuid = str(uuid.uuid4())
        secret = subprocess.run(["ceph-authtool", "--gen-print-key"], capture_output=True, text=True,
                                timeout=CMD_TIMEOUT_S, check=True).stdout.strip()
        new = self.root / f"osd-new-{osd_uuid}.json"
        new.write_text(json.dumps({"cephx_secret": secret}))
        osd_id = int(self.run("ceph", "osd", "new", osd_uuid, "-i", str(new)).strip())
        data = self.root / f"osd.{osd_id}"
        data.mkdir(exist_ok=True)
        (self.root / f"keyring.osd.{osd_id}").write_text(f"[osd.{osd_id}]\n\tkey = {secret}\n")
        self._tool("ceph-osd", *self._base(), "-i", str(osd_id), "--mkfs", "--osd-uuid", osd_uuid)
        self._daemon(f"osd.{osd_id}", "ceph-osd", str(osd_id))
        return osd_id

    def _wait_healthy(self, timeout_s: float) -> None:
        def up():
            s = self.ceph_json("osd", "stat", timeout_s=10)
            return s.get("num_up_osds") == self.osds and s.get("num_in_osds") == self.osds
        wait_until(up, timeout_s, interval_s=1, what=f"{self.osds} OSDs up and in")

        def prom():
            return requests.get(self.prometheus_url, timeout=5).status_code == 200
        wait_until(prom, timeout_s, interval_s=1, what="the mgr prometheus module")

    # -- pools and load --------------------------------------------------

    def create_pool(self, name: str, size: int = 1) -> None:
        self.run("ceph", "osd", "pool", "create", name, "8", "8")
        self.run("ceph", "osd", "pool", "set", name, "size", str(size), "--yes-i-really-mean-it")
        self.run("ceph", "osd", "pool", "set", name, "min_size", "1")
        self.run("ceph", "osd", "pool", "application", "enable", name, "rados")

        def clean():
            pgs = self.ceph_json("pg", "stat", timeout_s=10)
            summary = pgs.get("pg_summary", pgs)
            states = summary.get("num_pg_by_state", [])
            total = summary.get("num_pgs", 0)
            clean_n = sum(s["num"] for s in states if s["name"] == "active+clean")
            return total > 0 and clean_n == total
        wait_until(clean, 120, interval_s=1, what=f"pool {name}'s PGs active+clean")

    def pg_primaries(self, pool: str) -> dict[str, tuple[int, str]]:
        """Each PG of `pool` as the mgr last heard of it: pgid -> (acting primary OSD, state)."""
        out = self.ceph_json("pg", "ls-by-pool", pool, timeout_s=10)
        stats = out.get("pg_stats", []) if isinstance(out, dict) else out
        return {p["pgid"]: (int(p["acting_primary"]), p["state"]) for p in stats}

    def wait_primaries(self, pool: str, want: dict[str, int], timeout_s: float = 60.0) -> None:
        """Waits until every PG of `pool` is active+clean with the acting primary `want` names (pgid ->
        OSD), as after a primary-affinity change has re-peered them. The mgr reports a PG's new primary
        only once that OSD leads it, so stale stats cannot pass."""
        seen: list[dict] = [{}]

        def settled():
            seen[0] = self.pg_primaries(pool)
            return seen[0] == {pg: (osd, "active+clean") for pg, osd in want.items()}

        try:
            wait_until(settled, timeout_s, interval_s=0.5, what=f"pool {pool}'s PGs active+clean led by {want}")
        except AssertionError as e:
            raise AssertionError(f"{e}; last seen {seen[0]}") from None

    def set_primary_affinity(self, osd_id: int, affinity: float) -> None:
        """`ceph osd primary-affinity`: 0 makes the OSD primary of no PG that has another OSD to lead it."""
        self.run("ceph", "osd", "primary-affinity", f"osd.{osd_id}", str(affinity))

    def osd_pid(self, osd_id: int) -> int:
        srv = self.servers[f"osd.{osd_id}"]
        assert srv.proc is not None
        return srv.proc.pid

    def signal_osd(self, osd_id: int, sig: signal.Signals) -> None:
        os.kill(self.osd_pid(osd_id), sig)

    # -- teardown --------------------------------------------------------

    def stop(self) -> None:
        """Stops OSDs, then mgr, then mon (a stopped process is continued first)."""
        order = sorted(self.servers, key=lambda n: {"osd": 0, "mgr": 1, "mon": 2}[n.split(".")[0]])
        for name in order:
            srv = self.servers.pop(name)
            if srv.proc is not None and srv.proc.poll() is None:
                try:
                    os.kill(srv.proc.pid, signal.SIGCONT)
                except OSError:
                    pass
            srv.stop()

    def logs_tail(self, log_bytes: int = 4000) -> str:
        """Each daemon's state, the end of its stdout and of its Ceph log."""
        out = []
        for name, srv in self.servers.items():
            state = "running" if srv.is_running() else f"exited {srv.proc.returncode if srv.proc else '(stopped)'}"
            ceph_log = file_tail(self.root / "log" / f"{name}.log", log_bytes)
            out.append(f"--- {name} ({state}) stdout ---\n{srv.log_tail()}\n--- {name} log ---\n{ceph_log}")
        return "\n".join(out)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise AssertionError(f"admin socket closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def main() -> None:
    """`cd tests/python && python3 -m harness.ceph_cluster ROOT [OSDS]`: starts a cluster under ROOT,
    prints `ready <run_dir> <mgr prometheus url> <osd pids>` and runs until stdin closes (benches
    drive it this way), then stops every daemon."""
    import sys

    root = Path(sys.argv[1])
    osds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    c = CephCluster(root, osds=osds)
    try:
        c.start()
        c.create_pool("bench", size=min(2, osds))
        pids = ",".join(str(c.osd_pid(i)) for i in range(osds))
        print(f"ready {c.run_dir} {c.prometheus_url} {c.conf} {pids}", flush=True)
        sys.stdin.read()
    finally:
        c.stop()


if __name__ == "__main__":
    main()
