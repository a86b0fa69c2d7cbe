"""``benchmarks/paper_offline.py``: equal-cost step counts, and a smoke run of ``--quick``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from benchmarks import paper_imagenet as pi
from benchmarks import paper_offline as po


def test_equal_cost_steps_fill_the_ig_budget() -> None:
    steps = po.equal_cost_steps(50)
    assert steps == {
        "ig": 50,
        "idg-pilot": 43,
        "left-ig": 35,
        "guided-ig": 51,
        "agi": 25,
        "blur-ig": 50,
        "idg-graded": 50,  # 50 nodes + both ends, every one a gradient point
    }
    protocol = pi.Protocol(agi_max_iter=steps["agi"], steps=tuple(steps.items()))
    for method in steps:
        assert 50 <= po.max_evaluations(method, protocol) <= 52


def test_counted_evaluations_match_the_plan() -> None:
    """The counts the methods report are those the budget was planned with (AGI: at most)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 8 * 8, 5)
    ).eval()
    spec = pi.ModelSpec("toy", model, (0.0,), (1.0,))
    steps = po.equal_cost_steps(14)
    protocol = pi.Protocol(
        agi_max_iter=steps["agi"],
        steps=tuple(steps.items()),
        pixels_per_step=8,
        blur_kernel=3,
        blur_sigma=1.0,
    )
    pixels = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    rows = pi.evaluate_batch(
        spec,
        pixels,
        ["a", "b", "c"],
        [-1] * 3,
        [*pi.METHODS, "blur-ig", "idg-graded"],
        replace(protocol, blur_ig_max_sigma=2.0),
    )
    for r in rows:
        total = r["n_gradient_evals"] + r["n_forward_evals"]
        planned = po.max_evaluations(r["method"], protocol)
        if r["method"] == "agi":
            assert 2 <= total <= planned
        else:
            assert total == planned, r["method"]


def test_random_false_classes_do_not_depend_on_the_batch() -> None:
    target = torch.tensor([3, 0, 9])
    both = pi.random_false_classes(["x", "y", "z"], target, 10, 2)
    alone = pi.random_false_classes(["y"], target[1:2], 10, 2)
    assert torch.equal(both[1], alone[0])
    assert not (both == target[:, None]).any()
    assert all(len(set(row.tolist())) == 2 for row in both)


@pytest.mark.slow
def test_quick_run_writes_the_report_and_resumes(tmp_path: Path) -> None:
    text = po.main(["--quick", "--out", str(tmp_path)])
    rows = pi.read_rows(tmp_path / "paper_offline.csv")
    assert {r["model"] for r in rows} == {"efficientnet-lite0", "digits-cnn"}
    assert len([r for r in rows if r["model"] == "efficientnet-lite0"]) == 2 * len(pi.METHODS)
    assert "| efficientnet-lite0 | IDG (schedule=pilot) | 2 |" in text
    assert "IDG (schedule=pilot) vs Left-IG" in text
    before = (tmp_path / "paper_offline.csv").read_text()
    po.main(["--quick", "--out", str(tmp_path), "--no-photos"])
    assert (tmp_path / "paper_offline.csv").read_text() == before  # nothing redone
