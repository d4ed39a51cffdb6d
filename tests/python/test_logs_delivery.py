"""Log delivery end to end: node-agent tails files and pushes to the test Loki.

Nothing is lost: every line written arrives, through rotations of both styles, three kill -9s of
the agent, and a Loki that answers 500 and then 429 for a minute.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from pathlib import Path

import pytest

from harness.logs import Agent, TestLoki, agent_config, toml_str
from harness.procs import wait_until

FILES = 8


class Writer(threading.Thread):
    """Writes `total` lines `seq=<n> file=<i> ...` round-robin over FILES files at about `rate`
    lines per second, rotating each file every `rotate_every` lines, alternating
    rename+create and copytruncate."""

    def __init__(self, directory: Path, total: int, rate: float, rotate_every: int | None):
        super().__init__(daemon=True)
        self.dir, self.total, self.rate, self.rotate_every = directory, total, rate, rotate_every
        self.rotations = {"rename": 0, "copytruncate": 0}
        self.error: BaseException | None = None

    def path(self, i: int) -> Path:
        return self.dir / f"app{i}.log"

    def run(self) -> None:
        try:
            self._run()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e

    def _run(self) -> None:
        fds = [open(self.path(i), "ab", buffering=0) for i in range(FILES)]
        written = [0] * FILES
        gen = [0] * FILES
        pad = "x" * 60
        start = time.monotonic()
        seq = 0
        batch = 500
        while seq < self.total:
            for i in range(FILES):
                n = min(batch // FILES + 1, self.total - seq)
                if n <= 0:
                    break
                data = "".join(f"seq={s:07d} file={i} gen={gen[i]} {pad}\n" for s in range(seq, seq + n))
                fds[i].write(data.encode())
                seq += n
                written[i] += n
                if self.rotate_every and written[i] >= self.rotate_every:
                    written[i] = 0
                    gen[i] += 1
                    rotated = self.dir / f"app{i}.log.{gen[i]}"
                    if gen[i] % 2:
                        fds[i].close()
                        os.rename(self.path(i), rotated)
                        fds[i] = open(self.path(i), "ab", buffering=0)
                        self.rotations["rename"] += 1
                    else:
                        shutil.copyfile(self.path(i), rotated)
                        os.truncate(self.path(i), 0)
                        self.rotations["copytruncate"] += 1
            ahead = seq / self.rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
        for f in fds:
            f.close()


WHOLE_LINE = re.compile(r"seq=(\d{7}) file=\d+ gen=\d+ x{60}")


def seqs_arrived(loki: TestLoki) -> tuple[set[int], int]:
    seen: set[int] = set()
    total = 0
    for r in loki.records():
        m = WHOLE_LINE.fullmatch(r["line"])
        if m:
            seen.add(int(m.group(1)))
            total += 1
    return seen, total


def broken_lines(loki: TestLoki) -> list[str]:
    """Entries that are not one whole line the Writer wrote (a line cut in two arrives as two)."""
    return [r["line"] for r in loki.records()
            if r["labels"].get("job") == "files" and not WHOLE_LINE.fullmatch(r["line"])]


def files_config(loki: TestLoki, directory: Path, **endpoint) -> str:
    extra = f"""
[sources.files]
include = [{toml_str(directory / "*.log*")}]
[sources.files.tail]
discover_interval_ms = 200
poll_interval_ms = 50
# Every line the Writer writes ends in a newline: a half line the tailer sees is a write still
# in progress, never one to send on its own however long a loaded machine stalls the writer.
eof_flush_ms = 600000
"""
    return agent_config(loki.push_url, extra, **endpoint)


def wait_all(loki: TestLoki, total: int, timeout_s: float) -> tuple[set[int], int]:
    state = {}

    def done():
        state["v"] = seqs_arrived(loki)
        return len(state["v"][0]) >= total

    try:
        wait_until(done, timeout_s, interval_s=1.0, what=f"{total} unique lines at the test Loki")
    except AssertionError:
        pass
    return state.get("v") or seqs_arrived(loki)


@pytest.mark.timeout(240)
def test_500k_lines_rotated_and_three_kill9s_lose_nothing(tmp_path):
    total = 500_000
    logs = tmp_path / "logs"
    logs.mkdir()
    loki = TestLoki(tmp_path / "loki", "--keep-max", "0")
    agent = Agent(tmp_path / "agent", files_config(loki, logs))
    try:
        agent.start()
        writer = Writer(logs, total, rate=40_000, rotate_every=9_000)
        writer.start()
        kills = 0
        for _ in range(3):
            time.sleep(2.5)
            agent.kill9()
            kills += 1
            time.sleep(0.3)
            agent.start()
        writer.join(timeout=120)
        assert not writer.is_alive() and writer.error is None, writer.error
        assert writer.rotations["rename"] > 0 and writer.rotations["copytruncate"] > 0, writer.rotations
        seen, received = wait_all(loki, total, 90)
        missing = total - len(seen)
        duplicates = received - len(seen)
        print(f"\nkill -9 x{kills}, rotations {writer.rotations}: {len(seen)} unique of {total}, "
              f"{duplicates} duplicates ({duplicates / total:.2%})")
        (tmp_path / "result.txt").write_text(f"unique={len(seen)} duplicates={duplicates}\n")
        assert missing == 0, f"{missing} lines never arrived, e.g. {sorted(set(range(total)) - seen)[:10]}\n{agent.log_tail()}"
        broken = broken_lines(loki)
        assert not broken, f"{len(broken)} entries are not whole lines: {broken[:10]}"
        assert agent.metric("nodewatch_agent_log_lines_dropped_total") == 0
    finally:
        agent.stop()
        loki.stop()


@pytest.mark.timeout(200)
def test_loki_500_then_429_for_a_minute_then_every_line_arrives(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    loki = TestLoki(tmp_path / "loki", "--keep-max", "0")
    # A small buffer so the bound is reached during the outage.
    agent = Agent(tmp_path / "agent", files_config(loki, logs, buffer_max_bytes=1_048_576,
                                                   max_backoff_ms=2_000, batch_max_bytes=262_144))
    total = 150_000
    try:
        agent.start()
        loki.fail(500, seconds=30)
        writer = Writer(logs, total, rate=total / 55, rotate_every=20_000)
        writer.start()
        time.sleep(30)
        loki.fail(429, seconds=30, retry_after=1)
        time.sleep(15)
        # Mid-outage: retried, not sent, and the buffer bounded.
        assert agent.metric("nodewatch_agent_log_lines_retried_total") > 0
        buffered = agent.metric("nodewatch_agent_log_buffer_bytes")
        limit = agent.metric("nodewatch_agent_log_buffer_limit_bytes")
        # The bound covers the queue; the batch being pushed adds at most batch_max_bytes.
        assert limit == 1_048_576 and buffered <= limit + 262_144 + 131_072, (buffered, limit)
        writer.join(timeout=60)
        assert writer.error is None
        stats = loki.stats()
        assert stats["failed_requests"] > 0
        seen, received = wait_all(loki, total, 60)
        print(f"\noutage: {stats['failed_requests']} failed pushes; {len(seen)} unique of {total}, "
              f"{received - len(seen)} duplicates")
        assert len(seen) == total, f"{total - len(seen)} lines lost\n{agent.log_tail()}"
        assert agent.metric("nodewatch_agent_log_lines_rejected_total") == 0
        assert agent.metric("nodewatch_agent_log_lines_sent_total") >= total
    finally:
        agent.stop()
        loki.stop()
