"""The agent gives memory back after a burst: `node-agent run` ships a million log lines to the
test Loki, and once it is idle again its resident set falls back to near what it was before the
burst (glibc would otherwise keep the peak; see agent/src/allocator.rs).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.logs import Agent, TestLoki, agent_config, toml_str
from harness.procs import wait_until

FILES = 8
LINES = 1_000_000
# RSS after the burst may exceed the idle figure by this much (MiB): the code the burst paged in
# and allocator bookkeeping. Without the fix the excess is about 16 MiB.
MARGIN_MIB = 5.0
# The burst must raise RSS clearly, or the test could not tell a fix from no burst.
MIN_RISE_MIB = 8.0


def status_mib(pid: int, key: str) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"{key} not in /proc/{pid}/status")


def write_logs(directory: Path, total: int) -> None:
    """`total` lines of about 130 bytes, split evenly over FILES files."""
    assert total % FILES == 0
    pad = "abcdefghijklmnopqrstuvwxyz0123456789" * 3
    for i in range(FILES):
        data = "".join(f"seq={n:07d} file={i} level=info msg=\"{pad[n % 30:n % 30 + 80]}\"\n"
                       for n in range(total // FILES))
        (directory / f"app{i}.log").write_bytes(data.encode())


@pytest.mark.timeout(120)
def test_rss_falls_back_to_idle_after_shipping_a_million_lines(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    loki = TestLoki(tmp_path / "loki", "--keep-max", "0")
    extra = f"""
[sources.files]
include = [{toml_str(logs / "*.log")}]
[sources.files.tail]
discover_interval_ms = 200
poll_interval_ms = 50
"""
    agent = Agent(tmp_path / "agent", agent_config(loki.push_url, extra))
    try:
        agent.start()
        time.sleep(3)
        idle = status_mib(agent.pid, "VmRSS")
        t0 = time.monotonic()
        write_logs(logs, LINES)
        wait_until(lambda: loki.stats()["accepted_entries"] >= LINES, 60, interval_s=0.2,
                   what=f"{LINES} lines at the test Loki")
        shipped_s = time.monotonic() - t0
        peak = status_mib(agent.pid, "VmHWM")
        assert peak - idle >= MIN_RISE_MIB, f"the burst did not raise RSS: idle {idle:.1f} peak {peak:.1f} MiB"
        samples = []

        def settled() -> bool:
            samples.append(status_mib(agent.pid, "VmRSS"))
            return samples[-1] <= idle + MARGIN_MIB

        try:
            wait_until(settled, 20, interval_s=0.5, what="RSS back near idle")
        except AssertionError:
            pass
        after = samples[-1]
        print(f"\nwrote and shipped {LINES} lines in {shipped_s:.1f} s; RSS idle {idle:.1f} MiB, "
              f"peak {peak:.1f} MiB, after {after:.1f} MiB (samples {samples[:4]}...)")
        assert after <= idle + MARGIN_MIB, (
            f"RSS stayed high after the burst: idle {idle:.1f}, peak {peak:.1f}, after {after:.1f} MiB "
            f"(margin {MARGIN_MIB} MiB)\n{agent.log_tail()}")
        assert agent.metric("nodewatch_agent_log_lines_dropped_total") == 0
    finally:
        agent.stop()
        loki.stop()
