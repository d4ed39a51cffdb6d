"""The README's run command comes up, and its Prometheus shows every target up.

Runs `scripts/run-local.sh --no-build --check` on free loopback ports (never the defaults) with its
state in a temporary directory, and checks what it printed and that it stopped everything.
"""

from __future__ import annotations

import re
import socket
import subprocess

from harness.procs import REPO_ROOT, free_ports, target_dir


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        # SO_REUSEADDR: a closed server's connections in TIME_WAIT do not count, a listener does.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def test_local_stack_check_shows_every_target_up(tmp_path):
    assert (target_dir() / "release" / "node-agent").is_file(), "build first: cargo build --release --workspace"
    # Node i uses base+i: take bases whose three ports are all free now.
    ports = free_ports(4)
    s3_base, admin_base = 0, 0
    for p in free_ports(40):
        if all(port_is_free(p + i) for i in range(3)) and p + 3 < 65535:
            if not s3_base:
                s3_base = p
            elif abs(p - s3_base) > 3:
                admin_base = p
                break
    assert s3_base and admin_base
    agent, prom, am, otlp = ports
    cmd = [str(REPO_ROOT / "scripts" / "run-local.sh"), "--no-build", "--check", "--check-timeout", "90",
           "--state-dir", str(tmp_path / "state"), "--s3-port", str(s3_base), "--admin-port", str(admin_base),
           "--agent-port", str(agent), "--prometheus-port", str(prom), "--alertmanager-port", str(am),
           "--otlp-port", str(otlp)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "every target up" in out
    targets = re.findall(r"^  target (\S+) +(\S+) +(\S+)$", out, re.M)
    jobs = sorted(j for j, _, _ in targets)
    assert jobs == ["alertmanager", "nodewatch-agent", "prometheus",
                    "storage-node", "storage-node", "storage-node"], out
    assert all(h == "up" for _, _, h in targets)
    assert {u for j, u, _ in targets if j == "storage-node"} == {
        f"http://127.0.0.1:{admin_base + i}/metrics" for i in range(3)}
    assert f"http://127.0.0.1:{prom}" in out and "histogram_quantile" in out
    # Generated configs are under the state directory, and everything stopped.
    assert (tmp_path / "state" / "prometheus" / "prometheus.yml").is_file()
    for port in [agent, prom, am, otlp] + [s3_base + i for i in range(3)] + [admin_base + i for i in range(3)]:
        assert port_is_free(port), f"port {port} still in use after --check"


def test_local_stack_generated_prometheus_config_passes_promtool(tmp_path):
    """The config the stack writes is valid for the installed Prometheus."""
    import sys
    sys.path.insert(0, str(REPO_ROOT / "deploy" / "local"))
    import stack as local_stack  # noqa: E402
    a = local_stack.parse_args(["--state-dir", str(tmp_path)])
    st = local_stack.Stack(a)
    st.rules = st.copy_rules()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(st.prometheus_config())
    r = subprocess.run(["promtool", "check", "config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "job_name: nodewatch-agent" in cfg.read_text() and "job_name: storage-node" in cfg.read_text()
