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
    for method in (
        "| IG |",
        "| IDG (schedule=graded) |",
        "| IDG (schedule=pilot) |",
        "| IDG (schedule=uniform) |",
    ):
        assert method in text


def test_large_n_smoke(tmp_path: Path) -> None:
    text = _run("large_n", ["--smoke"], tmp_path)
    assert (tmp_path / "large_n.md").read_text() == text
    from benchmarks.large_n import CASES

    for label in CASES:  # every case ran and has its row
        assert f"| {label} |" in text
    assert "peak memory flat" in text and "Gauss-Legendre nodes" in text


def test_targets_smoke(tmp_path: Path) -> None:
    text = _run("targets", ["--smoke"], tmp_path)
    assert (tmp_path / "targets.md").read_text() == text
    assert "Load average" in text
    for row in ("| IG, uniform", "| IDG, graded", "| forward + 10 backward passes (idgrad) |"):
        assert row in text
    # the shared row forwards each point once; the graded row as many rows as K calls
    shared, graded = (line for line in text.splitlines() if line.startswith(("| IG", "| IDG")))
    many, separate = (int(v) for v in shared.split("|")[6].split(" vs "))
    assert 10 * many == separate
    many, separate = (int(v) for v in graded.split("|")[6].split(" vs "))
    assert many == separate


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
    assert "IDG graded" in text and "IDG pilot" in text and "Evaluations per example" in text
    assert "Is the error estimate to be trusted?" in text


def test_accuracy_reference_evaluator_matches_idgrad() -> None:
    # the oracle that builds the references agrees with idgrad on the same rule
    import numpy as np
    import torch

    import idgrad
    from benchmarks.accuracy import _logistic_model, shared_point_sums

    x = torch.tensor([[1.0, 0.5, -0.5], [0.3, 1.0, 2.0]], dtype=torch.float64)
    a, w = idgrad.engine.rules.rule_points(12, "gausslegendre")
    sums = shared_point_sums(
        _logistic_model, x, None, a, {"gl": w, "half": np.where(a < 0.5, w, 0.0)}
    )
    ig = idgrad.integrated_gradients(_logistic_model, x, n_steps=12)
    assert torch.allclose(sums["gl"]["ig"], ig, atol=1e-13)
    idg = idgrad.integrated_decision_gradients(
        _logistic_model, x, n_steps=12, schedule="uniform", rule="gausslegendre", normalize=False
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
    with pytest.raises(SystemExit):  # needs ImageNet: refused without its arguments
        main(["--only", "paper_imagenet", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):  # arguments after -- go to exactly one script
        main(["--only", "overhead,peers", "--out", str(tmp_path), "--", "--steps", "4"])


def test_run_knows_every_benchmark_script(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.run import BENCHMARKS, DEFAULT, main

    scripts = {
        p.stem
        for p in (ROOT / "benchmarks").glob("*.py")
        if "def main(" in p.read_text() and p.stem not in ("run", "assemble")
    }
    assert {b.module for b in BENCHMARKS} == scripts
    assert set(DEFAULT) <= {b.name for b in BENCHMARKS}
    main(["--list"])
    listed = capsys.readouterr().out
    for b in BENCHMARKS:
        assert b.name in listed and b.what in listed
    assert listed.count("SLOW") == sum(b.slow for b in BENCHMARKS) >= 2


def test_run_runs_a_script_in_its_own_process(tmp_path: Path) -> None:
    from benchmarks.run import main

    main(["--quick", "--only", "gpu", "--out", str(tmp_path), "--", "--smoke"])
    assert (tmp_path / "all.md").is_file()
    assert any(tmp_path.glob("gpu*.md"))


def test_assemble_quotes_headlines_and_links_details(tmp_path: Path) -> None:
    from benchmarks.assemble import PARTS, assemble, section, shift_headings

    assert (
        shift_headings("# A\n\n## B\ntext # not a heading\n", 3)
        == "### A\n\n#### B\ntext # not a heading\n"
    )
    assert shift_headings("no heading\n", 2) == "no heading\n"
    assert section("## A\nx\n## B\ny\n", "C") is None
    (tmp_path / "performance.md").write_text(
        "# Performance\n\nintro\n\n## Verdicts\n\n| t | 1.001x |\n![plot](o.png)\n\n"
        "## Details\n\nlong text\n"
    )
    (tmp_path / "overhead.md").write_text("## Overhead against the floor\n\n| a |\n")
    text = assemble(tmp_path, tmp_path.parent / "BENCHMARKS.md")
    assert "| t | 1.001x |" in text and "long text" not in text and "intro" not in text
    assert f"![plot]({tmp_path.name}/o.png)" in text  # links still resolve from BENCHMARKS.md
    assert f"[overhead]({tmp_path.name}/overhead.md)" in text
    assert "[memory](" not in text  # no link to a table that does not exist
    for part in PARTS[1:]:
        stem, heading = part.headline
        assert f'`results/{stem}.md` has no section "{heading}"' in text


def test_benchmarks_md_is_the_assembled_summary() -> None:
    from benchmarks.assemble import assemble

    text = (ROOT / "BENCHMARKS.md").read_text()
    assert text == assemble(), "BENCHMARKS.md is stale: run python -m benchmarks.assemble"
    assert len(text) < 20_000
