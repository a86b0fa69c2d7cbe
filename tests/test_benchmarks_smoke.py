"""The benchmark scripts run end to end on tiny cases and write their tables (no timing checks)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

pytest.importorskip("matplotlib")


@pytest.fixture(autouse=True)
def _one_thread():  # tiny models: one thread avoids OpenMP spin-waits on a busy machine
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _run(module: str, args: list[str], out: Path) -> str:
    main = importlib.import_module(f"benchmarks.{module}").main
    return main([*args, "--out", str(out)])


def test_overhead_smoke(tmp_path: Path) -> None:
    text = _run("overhead", ["--smoke", "--steps", "4"], tmp_path)
    assert (tmp_path / "overhead.md").read_text() == text
    for method in ("| IG |", "| IDG |", "| IDG uniform |"):
        assert method in text


def test_peers_smoke(tmp_path: Path) -> None:
    pytest.importorskip("captum")
    pytest.importorskip("integrated_decision_gradients")
    text = _run("peers", ["--smoke", "--steps", "4"], tmp_path)
    assert "captum" in text and "defaults" in text and (tmp_path / "peers.md").exists()


def test_memory_smoke(tmp_path: Path) -> None:
    text = _run("memory", ["--smoke"], tmp_path)
    assert "idgrad IG" in text and "peak" in text and (tmp_path / "memory.md").exists()


def test_accuracy_smoke(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    text = _run("accuracy", ["--smoke", "--only", "logistic,digits"], tmp_path)
    assert (tmp_path / "accuracy_logistic.png").stat().st_size > 0
    assert (tmp_path / "accuracy_digits.png").stat().st_size > 0
    assert "IDG adaptive, pilot default" in text and "Evaluations per example" in text


def test_accuracy_reference_evaluator_matches_idgrad() -> None:
    # the oracle that builds the references agrees with idgrad on the same rule
    import numpy as np
    import torch

    import idgrad
    from benchmarks.accuracy import _logistic_model, shared_point_sums

    x = torch.tensor([[1.0, 0.5, -0.5], [0.3, 1.0, 2.0]], dtype=torch.float64)
    a, w = idgrad.schedules.rule_points(12, "gausslegendre")
    sums = shared_point_sums(
        _logistic_model, x, None, a, {"gl": w, "half": np.where(a < 0.5, w, 0.0)}
    )
    ig = idgrad.integrated_gradients(_logistic_model, x, n_steps=12)
    assert torch.allclose(sums["gl"]["ig"], ig, atol=1e-13)
    idg = idgrad.integrated_decision_gradients(
        _logistic_model, x, n_steps=12, adaptive=False, method="gausslegendre", normalize=False
    )
    assert torch.allclose(sums["gl"]["idg_raw"], idg, atol=1e-13)
    assert torch.all(sums["half"]["sum_fp2"] < sums["gl"]["sum_fp2"])


def test_gpu_script_on_cpu(tmp_path: Path) -> None:
    text = _run("gpu", ["--device", "cpu", "--smoke", "--autocast"], tmp_path)
    assert "bf16 autocast" in text and (tmp_path / "gpu_small.md").exists()


def test_run_rejects_unknown_names(tmp_path: Path) -> None:
    from benchmarks.run import main

    with pytest.raises(SystemExit):
        main(["--only", "nope", "--out", str(tmp_path)])


def test_assemble_shifts_headings_and_marks_missing_tables(tmp_path: Path) -> None:
    from benchmarks.assemble import PARTS, assemble, shift_headings

    assert (
        shift_headings("# A\n\n## B\ntext # not a heading\n", 3)
        == "### A\n\n#### B\ntext # not a heading\n"
    )
    assert shift_headings("no heading\n", 2) == "no heading\n"
    (tmp_path / "performance.md").write_text("# Performance\n\n## Verdicts\n")
    (tmp_path / "overhead.md").write_text(
        "## Overhead against the floor\n\n| a |\n![plot](o.png)\n"
    )
    text = assemble(tmp_path, tmp_path.parent / "BENCHMARKS.md")
    assert f"![plot]({tmp_path.name}/o.png)" in text  # image links still resolve from BENCHMARKS.md
    assert "## Performance\n" in text and "### Verdicts\n" in text
    assert "### Overhead against the floor\n" in text
    assert "[performance](#performance)" in text
    missing = [stem for stem, _, _ in PARTS if stem not in ("performance", "overhead")]
    for stem in missing:
        assert f"`results/{stem}.md` is missing" in text
