"""Grouping accuracy of `node-agent patterns` (the live log_patterns transform) on real logs with
hand-checked ground truth (agent/tests/data/log_patterns/, README there): the share of lines whose
template group is exactly their true event's group, the usual log-parsing measure (Zhu et al.,
ICSE-SEIP 2019). Every corpus must reach at least 0.95 (the same floor as the agent's unit test
`accuracy_tests`, which runs the same measure in `cargo test`)."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from harness.procs import release_binary

DATA = Path(__file__).resolve().parents[2] / "agent" / "tests" / "data" / "log_patterns"
CORPORA = ["fixtures-cri-hdfs", "fixtures-docker-packetbeat", "storage-node", "node-agent", "prometheus",
           "alertmanager"]

TARGET = 0.95


def grouping_accuracy(predicted: list[str], truth: list[str]) -> float:
    assert len(predicted) == len(truth)
    by_pred, by_truth = defaultdict(set), defaultdict(set)
    for i, (p, t) in enumerate(zip(predicted, truth)):
        by_pred[p].add(i)
        by_truth[t].add(i)
    correct = sum(1 for i, (p, t) in enumerate(zip(predicted, truth)) if by_pred[p] == by_truth[t])
    return correct / len(truth)


def assignments(path: Path) -> list[str]:
    out = subprocess.run([str(release_binary("node-agent", "NODE_AGENT_BIN")), "patterns", "--assignments",
                          str(path)], capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.splitlines()


def test_the_measure_itself():
    assert grouping_accuracy(["a", "a", "b"], ["x", "x", "y"]) == 1.0
    # A split group makes all its lines wrong; a merge makes both groups' lines wrong.
    assert grouping_accuracy(["a", "b", "c"], ["x", "x", "y"]) == pytest.approx(1 / 3)
    assert grouping_accuracy(["a", "a", "a"], ["x", "x", "y"]) == 0.0


@pytest.mark.parametrize("corpus", CORPORA)
def test_grouping_accuracy_per_corpus(corpus):
    truth = (DATA / f"{corpus}.truth").read_text().splitlines()
    got = assignments(DATA / f"{corpus}.log")
    acc = grouping_accuracy(got, truth)
    print(f"grouping accuracy {corpus}: {acc:.3f} ({len(truth)} lines, {len(set(truth))} events)")
    assert acc >= TARGET, f"{corpus}: {acc:.3f}"
