"""`node-agent detect`: CSV in, one score per data line out, streaming, with no lookahead."""

from __future__ import annotations

import math
import random
import subprocess

import pytest

from test_anomaly_alerts import agent_binary


def series(n: int, seed: int, shift_at: int | None = None) -> list[tuple[str, float]]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        t = 1_431_691_200 + i * 300
        h, m = divmod((t % 86_400) // 60, 60)
        ts = f"2015-05-{15 + t // 86_400 - 16_570:02d} {h:02d}:{m:02d}:00"
        v = 50 + 10 * math.sin(2 * math.pi * (t % 86_400) / 86_400) + rnd.gauss(0, 1)
        if shift_at is not None and i >= shift_at:
            v += 25
        out.append((ts, v))
    return out


def run_detect(rows, header=True, *args) -> list[float]:
    text = ("timestamp,value\n" if header else "") + "".join(f"{t},{v}\n" for t, v in rows)
    p = subprocess.run([str(agent_binary()), "detect", *args], input=text.encode(), capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    return [float(x) for x in p.stdout.decode().split()]


def test_one_score_per_row_in_range_and_a_shift_is_found():
    rows = series(1500, 1, shift_at=1200)
    scores = run_detect(rows)
    assert len(scores) == len(rows)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert max(scores[1200:1210]) >= 0.5, scores[1195:1215]
    assert sum(s >= 0.5 for s in scores[100:1200]) <= 3


@pytest.mark.parametrize("detector", ["auto", "robust", "level_shift", "ewma"])
def test_no_lookahead_through_the_binary(detector):
    rows = series(600, 2)
    full = run_detect(rows, True, "--detector", detector)
    for cut in (50, 300, 599):
        changed = rows[: cut + 1] + [(t, v * 7 - 1000) for t, v in rows[cut + 1 :]]
        other = run_detect(changed, True, "--detector", detector)
        assert full[: cut + 1] == other[: cut + 1], (detector, cut)


def test_streams_line_by_line():
    """Each score comes out before the next line goes in."""
    p = subprocess.Popen([str(agent_binary()), "detect"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        p.stdin.write(b"timestamp,value\n")
        for t, v in series(20, 3):
            p.stdin.write(f"{t},{v}\n".encode())
            p.stdin.flush()
            line = p.stdout.readline()
            assert 0.0 <= float(line) <= 1.0
        p.stdin.close()
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.kill()


def test_unknown_detector_is_a_clear_error():
    p = subprocess.run([str(agent_binary()), "detect", "--detector", "magic"], input=b"", capture_output=True, timeout=30)
    assert p.returncode != 0
    assert b"unknown detector" in p.stderr
