"""The command line, in process: explain (every model format and error path) and demo."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from idgrad.cli import build_parser, main
from idgrad.cli.explain import heatmap_path
from idgrad.ops.extras import install_hint

# TorchScript is deprecated upstream but still what many users have saved; we keep loading it.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.tanh(self.conv(x)).mean((2, 3)))


@pytest.fixture()
def scripted(tmp_path: Path) -> Path:
    path = tmp_path / "net.pt"
    torch.jit.save(torch.jit.script(Net().eval()), str(path))
    return path


@pytest.fixture()
def npy_input(tmp_path: Path) -> Path:
    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(0).random((2, 3, 8, 8), dtype=np.float32))
    return path


def explain(model: Path, inputs: Path, *options: str | Path) -> int:
    """``idgrad explain --model MODEL --input INPUTS OPTIONS...`` in process: its exit status.

    A string option may hold several words (``"--target 1 --steps 4"``); a path is one.
    """
    words = [w for o in options for w in (o.split() if isinstance(o, str) else [str(o)])]
    return main(["explain", "--model", str(model), "--input", str(inputs), *words])


def test_help_lists_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "explain" in out and "demo" in out


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out


def test_explain_torchscript_npy(scripted: Path, npy_input: Path, tmp_path: Path) -> None:
    out = tmp_path / "attr.npy"
    rc = explain(scripted, npy_input, "--target 2 --steps 8 --internal-batch-size 5 --out", out)
    assert rc == 0
    attr = np.load(out)
    assert attr.shape == (2, 3, 8, 8)
    # matches the library call on the same model
    import idgrad

    x = torch.from_numpy(np.load(npy_input))
    expected = idgrad.integrated_decision_gradients(
        torch.jit.load(str(scripted)), x, target=2, n_steps=8
    )
    assert np.allclose(attr, expected.numpy(), atol=1e-6)
    assert heatmap_path(out).stat().st_size > 2000


def test_explain_top_target_ig_and_pt_output(
    scripted: Path, npy_input: Path, tmp_path: Path
) -> None:
    out = tmp_path / "attr.pt"
    rc = explain(scripted, npy_input, "--target predicted --method ig --steps 4 --out", out)
    assert rc == 0
    attr = torch.load(out, weights_only=True)
    assert attr.shape == (2, 3, 8, 8)


def test_explain_image_file(scripted: Path, tmp_path: Path) -> None:
    from PIL import Image

    img = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(
        img
    )
    out = tmp_path / "img-attr.npy"
    rc = explain(scripted, img, "--image-size 12 --normalize unit --target 0 --steps 4 --out", out)
    assert rc == 0
    assert np.load(out).shape == (1, 3, 12, 12)
    assert heatmap_path(out).exists()


def test_explain_state_dict_with_factory(
    tmp_path: Path, npy_input: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_factory.py").write_text(
        "import torch\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)\n"
        "        self.fc = torch.nn.Linear(4, 5)\n"
        "    def forward(self, x):\n"
        "        return self.fc(torch.tanh(self.conv(x)).mean((2, 3)))\n"
        "def make():\n"
        "    return Net()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    weights = tmp_path / "weights.pt"
    torch.save(Net().state_dict(), weights)
    out = tmp_path / "sd.npy"
    rc = explain(weights, npy_input, "--factory my_factory:make --target 1 --steps 4 --out", out)
    assert rc == 0
    assert np.load(out).shape == (2, 3, 8, 8)
    sys.modules.pop("my_factory", None)


def test_explain_exported_program(tmp_path: Path, npy_input: Path) -> None:
    batch = torch.export.Dim("batch")
    program = torch.export.export(
        Net().eval(), (torch.rand(2, 3, 8, 8),), dynamic_shapes={"x": {0: batch}}
    )
    path = tmp_path / "net.pt2"
    torch.export.save(program, str(path))
    out = tmp_path / "ep.npy"
    rc = explain(path, npy_input, "--target 3 --method ig --steps 4 --out", out)
    assert rc == 0
    assert np.load(out).shape == (2, 3, 8, 8)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "missing.pt", "--input", "X"], "model file not found"),
        (["--model", "MODEL", "--input", "missing.npy"], "input file not found"),
        (["--model", "MODEL", "--input", "X", "--steps", "0"], "--steps must be >= 1"),
        (
            ["--model", "MODEL", "--input", "X", "--internal-batch-size", "0"],
            "--internal-batch-size must be >= 1",
        ),
        (["--model", "MODEL", "--input", "X", "--out", "a.txt"], "--out must end"),
        (["--model", "MODEL", "--input", "X", "--target", "cat"], "--target must be"),
        (["--model", "MODEL", "--input", "X", "--target", "99"], "out of range"),
        (["--model", "MODEL", "--input", "X", "--target", "none"], "one scalar"),
        (
            ["--model", "MODEL", "--input", "X", "--baseline", "nope.npy", "--target", "0"],
            "baseline file not found",
        ),
        (["--model", "MODEL", "--input", "X", "--factory", "nocolon"], "module:function"),
        (
            ["--model", "MODEL", "--input", "X", "--factory", "no_such_mod:f"],
            "cannot import factory",
        ),
        (["--model", "NOTSCRIPT", "--input", "X"], "is a torch.save file"),
        (["--model", "MODEL", "--input", "BADTXT"], "unsupported file type '.txt'"),
    ],
)
def test_explain_errors(
    argv: list[str],
    message: str,
    scripted: Path,
    npy_input: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    not_script = tmp_path / "plain.pt"
    torch.save({"w": torch.zeros(1)}, not_script)
    bad_txt = tmp_path / "x.txt"
    bad_txt.write_text("1 2 3")
    subst = {
        "MODEL": str(scripted),
        "X": str(npy_input),
        "NOTSCRIPT": str(not_script),
        "BADTXT": str(bad_txt),
    }
    argv = [subst.get(a, a) for a in argv]
    argv = [str(tmp_path / a) if a.startswith(("missing", "nope", "a.txt")) else a for a in argv]
    rc = main(["explain", *argv])
    assert rc == 2
    assert message in capsys.readouterr().err


def test_static_exported_program_gets_a_clear_error(
    tmp_path: Path, npy_input: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "static.pt2"
    torch.export.save(torch.export.export(Net().eval(), (torch.rand(2, 3, 8, 8),)), str(path))
    assert (
        explain(path, npy_input, "--target", "0", "--steps", "4", "--out", tmp_path / "s.npy") == 2
    )
    assert "dynamic batch" in capsys.readouterr().err


def test_unknown_method_rejected_by_parser(scripted: Path, npy_input: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["explain", "--model", str(scripted), "--input", str(npy_input), "--method", "magic"])
    assert exc.value.code == 2


def test_demo_parser_registered() -> None:
    parser = build_parser()
    args = parser.parse_args(["demo"])
    assert args.command == "demo"


@pytest.mark.parametrize("method", ["left-ig", "guided-ig", "blur-ig", "ig-sign"])
def test_explain_every_registered_method(
    method: str, scripted: Path, npy_input: Path, tmp_path: Path
) -> None:
    out = tmp_path / f"{method}.npy"
    rc = explain(scripted, npy_input, "--target 1 --method", method, "--steps 3 --out", out)
    assert rc == 0
    attr = np.load(out)
    assert attr.shape == (2, 3, 8, 8) and np.isfinite(attr).all()


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("ig", {"schedule": "uniform", "rule": "riemann_trapezoid"}),
        ("ig", {"schedule": "graded"}),
        ("ig", {"schedule": "pilot"}),
        ("idg", {"schedule": "uniform"}),
        ("idg", {"schedule": "pilot", "rule": "gausslegendre"}),
        ("idg", {"schedule": "graded"}),
        ("blur-ig", {"schedule": "graded"}),
        ("left-ig", {"schedule": "uniform", "rule": "riemann_middle"}),
    ],
)
def test_explain_takes_the_schedule_and_rule_as_python_does(
    method: str, options: dict[str, str], scripted: Path, npy_input: Path, tmp_path: Path
) -> None:
    from idgrad.methods.registry import get_method

    out = tmp_path / "a.npy"
    flags = " ".join(f"--{k} {v}" for k, v in options.items())
    assert (
        explain(scripted, npy_input, f"--target 1 --steps 6 --method {method} {flags} --out", out)
        == 0
    )
    x = torch.from_numpy(np.load(npy_input))
    want = get_method(method)(torch.jit.load(str(scripted)), x, target=1, n_steps=6, **options)
    np.testing.assert_allclose(np.load(out), want.numpy(), rtol=1e-5, atol=1e-7)


def test_the_deprecated_method_names_warn_and_give_the_same_result(
    scripted: Path, npy_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for old, schedule in (("idg-pilot", "pilot"), ("idg-uniform", "uniform")):
        a, b = tmp_path / f"{old}.npy", tmp_path / f"{schedule}.npy"
        assert explain(scripted, npy_input, f"--target 1 --steps 6 --method {old} --out", a) == 0
        err = capsys.readouterr().err
        warning = f"idgrad: warning: --method {old} is deprecated; use --method idg --schedule "
        assert err.count("\n") == 1 and err.startswith(warning + schedule), err
        new = f"--target 1 --steps 6 --method idg --schedule {schedule} --out"
        assert explain(scripted, npy_input, new, b) == 0
        assert capsys.readouterr().err == ""
        assert np.array_equal(np.load(a), np.load(b))
    # the old name fixes its schedule: another --schedule is refused, in one line
    argv = ["explain", "--model", str(scripted), "--input", str(npy_input), "--target", "1"]
    argv += ["--method", "idg-pilot", "--schedule", "uniform", "--out", str(tmp_path / "c.npy")]
    err = _one_line_error(argv, capsys)
    assert "--method idg-pilot is --schedule pilot; drop --schedule" in err


def test_dataset_takes_the_schedule_and_rule_and_records_them(
    scripted: Path, npy_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import idgrad
    from idgrad.dataset import load_attributions

    run, old = tmp_path / "run", tmp_path / "old"
    argv = ["dataset", "--model", str(scripted), "--data", str(npy_input), "--target", "2"]
    argv += ["--steps", "6", "--no-progress"]
    assert main([*argv, "--out", str(run), "--schedule", "pilot", "--rule", "gausslegendre"]) == 0
    x = torch.from_numpy(np.load(npy_input))
    want = idgrad.integrated_decision_gradients(
        torch.jit.load(str(scripted)),
        x,
        target=2,
        n_steps=6,
        schedule="pilot",
        rule="gausslegendre",
    )
    res = load_attributions(run)
    np.testing.assert_allclose(res.attributions, want.numpy(), rtol=1e-5, atol=1e-7)
    kwargs = res.manifest["settings"]["method_kwargs"]
    assert kwargs["schedule"] == "pilot" and kwargs["rule"] == "gausslegendre"
    capsys.readouterr()
    assert main([*argv, "--out", str(old), "--method", "idg-pilot", "--rule", "gausslegendre"]) == 0
    assert "--method idg-pilot is deprecated" in capsys.readouterr().err
    assert np.array_equal(load_attributions(old).attributions, res.attributions)


def test_baseline_refused_for_methods_without_one(
    scripted: Path, npy_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = explain(
        scripted, npy_input, "--target 1 --method blur-ig --baseline 0.5 --out", tmp_path / "b.npy"
    )
    assert rc == 2
    assert "takes no baselines" in capsys.readouterr().err


def test_agi_needs_enough_classes(
    scripted: Path, npy_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the net has 5 classes; AGI's default top_k = 20 false classes cannot be met
    rc = explain(
        scripted, npy_input, "--target 1 --method agi --steps 2 --out", tmp_path / "agi.npy"
    )
    assert rc == 2
    assert "false classes" in capsys.readouterr().err


# ---------------------------------------------------------------------- the command line itself


def test_python_dash_m_idgrad() -> None:
    import subprocess

    import idgrad

    proc = subprocess.run(
        [sys.executable, "-m", "idgrad", "--version"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"idgrad {idgrad.__version__}"


def _options(parser: Any) -> list[tuple[str, Any, str]]:
    """``(command, action, rendered help)`` for every option of every subcommand."""
    import argparse

    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found = []
    for command, p in sub.choices.items():
        formatter = p._get_formatter()
        for action in p._actions:
            if action.option_strings and action.dest != "help":
                found.append((command, action, formatter._expand_help(action)))
    return found


def test_every_option_states_its_default_in_help() -> None:
    import argparse

    from idgrad.cli.common import DeprecatedAlias

    for command, action, text in _options(build_parser()):
        if action.help == argparse.SUPPRESS:  # only old spellings are hidden
            assert isinstance(action, DeprecatedAlias), (command, action.option_strings)
            continue
        if isinstance(action, argparse._StoreTrueAction) or action.required:
            continue
        assert "default" in text, (command, action.option_strings, text)
        if action.default is not None and not isinstance(action.default, bool):
            shown = (
                " ".join(map(str, action.default))
                if isinstance(action.default, list)
                else str(action.default)
            )
            assert shown in text, (command, action.option_strings, text)


def test_demo_pilot_steps_help_says_what_the_default_is() -> None:
    from idgrad.demo.imagenet import DEFAULT_STEPS, equal_cost_steps

    text = next(t for c, a, t in _options(build_parser()) if "--pilot-steps" in a.option_strings)
    m, pilot = equal_cost_steps(DEFAULT_STEPS)  # the default: graded, no pilot
    assert "fifth" not in text
    # the graded schedule evaluates its m nodes and both ends, all with gradients: IG's cost
    assert pilot == 0 and m + 2 == DEFAULT_STEPS + 2
    assert "graded schedule" in text and f"{m + 2} gradient points" in text


def test_our_import_errors_are_loud(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    real = importlib.import_module

    def broken(name: str, *args: Any) -> Any:
        if name == "idgrad.cli.dataset":
            raise ModuleNotFoundError(
                "No module named 'idgrad.dataset.oops'", name="idgrad.cli.dataset"
            )
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.raises(ModuleNotFoundError, match="oops"):
        build_parser()  # not a silently missing subcommand


@pytest.mark.parametrize(
    "error, message",
    [
        (ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib"), "plot"),
        (ModuleNotFoundError("No module named 'PIL'", name="PIL"), "images"),
        (ImportError(f"load_photo needs scikit-image: {install_hint('zoo')}"), "zoo"),
        (ModuleNotFoundError("No module named 'idgrad.gone'", name="idgrad.gone"), None),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(
    error: ImportError,
    message: str | None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from idgrad.cli import explain

    def run(args: Any) -> int:
        raise error

    monkeypatch.setattr(explain, "run", run)
    argv = ["explain", "--model", "m.pt", "--input", "x.npy"]
    if message is None:  # our own import error: a bug, with its traceback
        with pytest.raises(ModuleNotFoundError):
            main(argv)
        return
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("idgrad: error: ")
    assert install_hint(message) in err


# ---------------------------------------------------------------------- explain: one line, early


def _one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("idgrad: error: "), err
    return err


def test_wrong_input_shape_is_one_line(
    scripted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((2, 4, 8, 8), np.float32))  # 4 channels for a 3-channel model
    out = tmp_path / "a.npy"
    argv = ["explain", "--model", str(scripted), "--input", str(bad), "--target", "1"]
    err = _one_line_error([*argv, "--out", str(out)], capsys)
    assert "cannot take the input of shape (2, 4, 8, 8)" in err and "3 channels" in err
    assert not out.exists()


def test_outputs_are_checked_before_any_work(
    scripted: Path,
    npy_input: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from idgrad.cli import explain as explain_module

    def no_work(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the model was loaded before the output was checked")

    monkeypatch.setattr(explain_module, "load_model", no_work)  # the name explain calls
    (tmp_path / "afile").write_text("x")
    argv = ["explain", "--model", str(scripted), "--input", str(npy_input), "--target", "1"]
    err = _one_line_error([*argv, "--out", str(tmp_path / "afile" / "a.npy")], capsys)
    assert "afile is a file, not a folder" in err
    (tmp_path / "folder.npy").mkdir()
    err = _one_line_error([*argv, "--out", str(tmp_path / "folder.npy")], capsys)
    assert "is a folder" in err
    # a location where no file can be created, whoever runs (root too): found by trying
    err = _one_line_error([*argv, "--out", "/proc/idgrad-out/a.npy"], capsys)
    assert "--out /proc/idgrad-out/a.npy: cannot create files in /proc" in err


def test_pickled_baseline_and_input_are_refused_in_one_line(
    scripted: Path, npy_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import hostile

    marker = tmp_path / "marker"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(hostile.torch_save_payload(marker))
    argv = ["explain", "--model", str(scripted), "--target", "1", "--out", str(tmp_path / "a.npy")]
    err = _one_line_error([*argv, "--input", str(npy_input), "--baseline", str(evil)], capsys)
    assert "baseline" in err and "weights_only=True" in err
    err = _one_line_error([*argv, "--input", str(evil)], capsys)
    assert "input" in err and "weights_only=True" in err
    objects = hostile.object_npy(tmp_path / "objects.npy", marker)
    err = _one_line_error([*argv, "--input", str(npy_input), "--baseline", str(objects)], capsys)
    assert "holds Python objects" in err
    argv[argv.index("--target") + 1] = str(objects)  # per-example targets from a file
    err = _one_line_error([*argv, "--input", str(npy_input)], capsys)
    assert "target" in err and "holds Python objects" in err
    assert not marker.exists()


@pytest.mark.parametrize("command", ["explain", "dataset"])
def test_crafted_exported_program_runs_nothing_in_either_command(
    command: str, npy_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import hostile

    marker = tmp_path / "marker"
    clean = hostile.exported_archive(tmp_path / "clean.pt2")
    evil = hostile.crafted_archive("weight-pickle", clean, tmp_path / "evil.pt2", marker)
    data = tmp_path / "x3.npy"
    np.save(data, np.zeros((4, 3), np.float32))
    if command == "explain":
        argv = ["explain", "--model", str(evil), "--input", str(data)]
        argv += ["--out", str(tmp_path / "a.npy")]
    else:
        argv = ["dataset", "--model", str(evil), "--data", str(data), "--out", str(tmp_path / "o")]
    err = _one_line_error(argv, capsys)
    assert "marks 'fc.weight' as pickled" in err
    assert not marker.exists()


def test_plot_only_when_asked_or_possible(
    scripted: Path,
    npy_input: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv = ["explain", "--model", str(scripted), "--input", str(npy_input), "--target", "1"]
    argv += ["--steps", "4"]
    out = tmp_path / "a.npy"
    assert main([*argv, "--out", str(out), "--no-plot"]) == 0
    assert out.exists() and not heatmap_path(out).exists()
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    out2 = tmp_path / "b.npy"
    err = _one_line_error([*argv, "--out", str(out2), "--plot"], capsys)
    assert install_hint("plot") in err and not out2.exists()  # before computing
    assert main([*argv, "--out", str(out2)]) == 0
    printed = capsys.readouterr().out
    assert out2.exists() and not heatmap_path(out2).exists()
    assert "no heat map drawn" in printed and install_hint("plot") in printed


def test_explain_prints_delta_and_output_difference_per_example(
    scripted: Path,
    npy_input: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from idgrad import plot

    titles = []
    real = plot.image_attribution

    def spy(*args: Any, **kwargs: Any) -> Any:
        titles.append(kwargs.get("title"))
        return real(*args, **kwargs)

    monkeypatch.setattr(plot, "image_attribution", spy)
    out = tmp_path / "a.npy"
    argv = ["explain", "--model", str(scripted), "--input", str(npy_input), "--target", "2"]
    assert main([*argv, "--steps", "8", "--out", str(out), "--method", "ig"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[1].split()
    assert header == ["example", "target", "F(x)", "F(x')", "F(x)-F(x')", "sum(attr)", "delta"]
    model = torch.jit.load(str(scripted))
    x = torch.from_numpy(np.load(npy_input))
    with torch.no_grad():
        f_x, f_0 = model(x)[:, 2], model(torch.zeros_like(x))[:, 2]
    attr = np.load(out)
    for i in range(2):
        row = [float(v) for v in lines[2 + i].split()[2:]]
        np.testing.assert_allclose(row[:3], [f_x[i], f_0[i], f_x[i] - f_0[i]], rtol=1e-4)
        np.testing.assert_allclose(row[3], attr[i].sum(), rtol=1e-4)
        np.testing.assert_allclose(row[4], row[3] - row[2], atol=1e-6)  # IG: sum - difference
    assert titles == ["ig attributions, x.npy, target 2"]
    assert heatmap_path(out).exists()


def test_same_png_same_tensor_in_explain_and_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One preprocessing vocabulary: the same image gives the same attributions in both."""
    from PIL import Image

    import idgrad
    from idgrad.dataset import load_attributions

    img = tmp_path / "imgs" / "photo.png"
    img.parent.mkdir()
    pixels = np.random.default_rng(3).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(img)
    model_path = tmp_path / "net.pt"
    torch.jit.save(torch.jit.script(Net().eval()), str(model_path))
    common = ["--model", str(model_path), "--target", "1", "--steps", "6", "--method", "ig"]
    for normalize in [None, "imagenet"]:
        extra = [] if normalize is None else ["--normalize", normalize]
        out = tmp_path / f"e-{normalize}.npy"
        assert main(["explain", *common, *extra, "--input", str(img), "--out", str(out)]) == 0
        run = tmp_path / f"d-{normalize}"
        argv = ["dataset", *common, *extra, "--data", str(img.parent), "--out", str(run)]
        assert main([*argv, "--quiet", "--batch-size", "1"]) == 0
        from_dataset = load_attributions(run).attributions
        np.testing.assert_array_equal(np.load(out), from_dataset)
    x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255  # the default: unit
    want = idgrad.integrated_gradients(torch.jit.load(str(model_path)), x, target=1, n_steps=6)
    np.testing.assert_allclose(np.load(tmp_path / "e-None.npy"), want.numpy(), atol=1e-6)
    capsys.readouterr()


def test_explain_targets_mean_what_they_mean_in_python(
    scripted: Path, npy_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--target`` takes the library's forms with the library's meaning (Net has 5 classes)."""
    import idgrad

    model = torch.jit.load(str(scripted))
    x = torch.from_numpy(np.load(npy_input))
    for name, values in {
        "one.npy": np.array([-1]),
        "per.npy": np.array([-1, 1]),
        "column.npy": np.array([[4], [-4]]),
        "bools.npy": np.array([True, False]),
        "floats.npy": np.array([1.0, 2.0]),
        "three.npy": np.array([0, 1, 2]),
    }.items():
        np.save(tmp_path / name, values)
    argv = ["explain", "--model", str(scripted), "--input", str(npy_input), "--method", "ig"]
    argv += ["--steps", "4", "--no-plot"]
    for target, explained in [
        ("-1", [4, 4]),
        ("one.npy", [4, 4]),  # one entry: for every example
        ("per.npy", [4, 1]),
        ("column.npy", [4, 1]),
    ]:
        out = tmp_path / f"{target}.out.npy"
        given = str(tmp_path / target) if target.endswith(".npy") else target
        assert main([*argv, "--target", given, "--out", str(out)]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert [line.split()[1] for line in lines[2:4]] == [str(c) for c in explained]
        want = idgrad.integrated_gradients(model, x, target=torch.tensor(explained), n_steps=4)
        np.testing.assert_allclose(np.load(out), want.numpy(), rtol=1e-6, atol=1e-7)
    for target, message in [
        ("bools.npy", "target tensor holds bools"),
        ("floats.npy", "target tensor must hold integers"),
        ("three.npy", "expected a scalar, (2,) or (2, depth) for a batch of 2"),
        ("-6", "target index -6 is out of range"),
    ]:
        given = str(tmp_path / target) if target.endswith(".npy") else target
        assert main([*argv, "--target", given, "--out", str(tmp_path / "bad.npy")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
        assert not (tmp_path / "bad.npy").exists()


def test_explain_predicted_needs_a_classifier(
    tmp_path: Path, npy_input: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    class Scalar(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.flatten(1).sum(1)

    path = tmp_path / "scalar.pt"
    torch.jit.save(torch.jit.script(Scalar()), str(path))
    argv = ["explain", "--model", str(path), "--input", str(npy_input), "--target", "predicted"]
    assert main([*argv, "--out", str(tmp_path / "a.npy")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs a classifier output of shape (batch, classes)" in err


def test_explain_rtol_reports_the_estimate_and_reaches_the_python_numbers(
    scripted: Path, npy_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import idgrad

    out = tmp_path / "a.npy"
    assert explain(scripted, npy_input, "--target 2 --rtol 1e-3 --no-plot --out", out) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[-3:] == ["est.", "error", "evals"]
    model = torch.jit.load(str(scripted))
    x = torch.from_numpy(np.load(npy_input))
    d = idgrad.integrated_decision_gradients.details(model, x, target=2, rtol=1e-3)
    np.testing.assert_allclose(np.load(out), d.attributions.numpy(), rtol=1e-5, atol=1e-7)
    for i in range(2):
        words = lines[2 + i].split()
        assert float(words[-2]) == pytest.approx(float(d.error[i]), rel=1e-2)
        assert float(words[-2]) < 1e-3
        assert int(words[-1]) == int(d.evaluations[i])
    assert any(line.startswith("est. error:") for line in lines)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("--rtol 0.01 --steps 8", "give one budget: n_steps (a fixed number of points) or rtol"),
        ("--rtol 0.01 --schedule pilot", "rtol needs the graded schedule (schedule='graded')"),
        ("--rtol 0.01 --method guided-ig", "--rtol is for the methods with a schedule"),
        ("--schedule pilot --method agi", "--schedule is for the methods with a schedule"),
        ("--max-evaluations 64", "max_evaluations caps what rtol spends"),
        ("--rtol 1.5", "rtol must be"),
        ("--rtol 0.01 --max-evaluations 4", "max_evaluations must be"),
        (
            "--rule riemann_middle",
            "rule= is for schedule='uniform' or 'pilot' (schedule is --schedule; rule is --rule)",
        ),
        ("--schedule pilot --rule riemann_trapezoid", "riemann_trapezoid would evaluate"),
    ],
)
def test_explain_rtol_errors_are_one_line_before_any_work(
    options: str,
    message: str,
    scripted: Path,
    npy_input: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from idgrad.cli import explain as explain_module

    def no_model(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the model was loaded before the options were checked")

    monkeypatch.setattr(explain_module, "load_model", no_model)
    argv = ["explain", "--model", str(scripted), "--input", str(npy_input)]
    err = _one_line_error([*argv, "--out", str(tmp_path / "a.npy"), *options.split()], capsys)
    assert message in err


# ---------------------------------------------------------------------- outputs: never an input


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _photo(path: Path, seed: int = 0, size: int = 8) -> Path:
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_explain_keeps_the_input_image_of_the_same_name(
    scripted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reported case: ``--input cat.png --out cat.pt`` drew its heat map over cat.png."""
    cat = _photo(tmp_path / "cat.png")
    before = _digest(cat)
    out = tmp_path / "cat.pt"
    assert explain(scripted, cat, "--target 3 --steps 4 --out", out) == 0
    assert _digest(cat) == before
    assert heatmap_path(out) == tmp_path / "cat_heatmap.png" and heatmap_path(out).is_file()
    assert torch.load(out, weights_only=True).shape == (1, 3, 8, 8)
    capsys.readouterr()


@pytest.mark.parametrize("overwrite", [False, True])
def test_an_output_that_is_an_input_is_refused_even_with_overwrite(
    overwrite: bool,
    scripted: Path,
    npy_input: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from idgrad.cli import explain as explain_module

    def no_work(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the model was loaded before the outputs were checked")

    monkeypatch.setattr(explain_module, "load_model", no_work)
    flag = ["--overwrite"] if overwrite else []
    baseline = tmp_path / "base.npy"
    np.save(baseline, np.zeros((3, 8, 8), np.float32))
    link = tmp_path / "link.npy"
    link.symlink_to(npy_input)
    photo = _photo(tmp_path / "p_heatmap.png")
    files = [scripted, npy_input, baseline, photo]
    digests = [_digest(f) for f in files]
    argv = ["explain", "--model", str(scripted), "--target", "1", *flag]
    cases = [
        ([*argv, "--input", str(npy_input), "--out", str(npy_input)], "is the input"),
        ([*argv, "--input", str(npy_input), "--out", str(link)], "is the input"),
        (
            [*argv, "--input", str(npy_input), "--baseline", str(baseline), "--out", str(baseline)],
            "is the input",
        ),
        ([*argv, "--input", str(npy_input), "--out", str(scripted)], "is the input"),
        ([*argv, "--input", str(photo), "--out", str(tmp_path / "p.npy")], "(its heat map)"),
    ]
    for args, message in cases:
        err = _one_line_error(args, capsys)
        assert message in err and "destroy the input" in err, err
    assert [_digest(f) for f in files] == digests
    assert not (tmp_path / "p.npy").exists()


def test_an_existing_output_is_replaced_only_with_overwrite(
    scripted: Path, npy_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "a.npy"
    out.write_bytes(b"someone's file")
    png = heatmap_path(out)
    argv = ["explain", "--model", str(scripted), "--input", str(npy_input), "--target", "1"]
    argv += ["--steps", "4", "--out", str(out)]
    err = _one_line_error(argv, capsys)
    assert f"--out {out} exists; pass --overwrite to replace it" in err
    assert out.read_bytes() == b"someone's file" and not png.exists()
    png.write_bytes(b"a picture")  # the heat map's name is checked too, before any work
    out.unlink()
    err = _one_line_error(argv, capsys)
    assert "(its heat map)" in err and png.read_bytes() == b"a picture" and not out.exists()
    assert main([*argv, "--overwrite"]) == 0
    assert np.load(out).shape == (2, 3, 8, 8) and png.read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob(".*.tmp"))  # written aside, then moved into place
    capsys.readouterr()


@pytest.mark.parametrize("command", ["explain", "dataset", "demo"])
def test_an_unwritable_output_is_one_line_before_any_work(
    command: str,
    scripted: Path,
    npy_input: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``/proc`` refuses new files even to root: the check tries, it does not guess."""
    import idgrad.files.loading

    def no_work(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("work started before the output was checked")

    monkeypatch.setattr(idgrad.files.loading, "load_model", no_work)
    monkeypatch.setattr("idgrad.demo.experiment.run_experiment", no_work)
    argv = {
        "explain": ["explain", "--model", str(scripted), "--input", str(npy_input)],
        "dataset": ["dataset", "--model", str(scripted), "--data", str(npy_input)],
        "demo": ["demo", "--logistic-steps", "2", "--photos", "chelsea"],
    }[command]
    out = "/proc/idgrad-test/a.npy" if command == "explain" else "/proc/idgrad-test"
    err = _one_line_error([*argv, "--out", out], capsys)
    assert f"{out}: cannot create files in /proc" in err


# ---------------------------------------------------------------------- one line, every error


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["explain", "--model", "m.pt"], "explain: the following arguments are required: --input"),
        (
            ["explain", "--model", "m.pt", "--input", "x.npy", "--steps", "x"],
            "explain: argument --steps: invalid int value: 'x'",
        ),
        (
            ["dataset", "--model", "m", "--data", "d", "--out", "o", "-x"],
            "unrecognized arguments: -x",
        ),
        (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'"),
    ],
)
def test_parser_errors_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("idgrad: error: ") and message in err, err
    assert "--help" in err


@pytest.mark.parametrize("command", ["explain", "dataset"])
@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("bogus", "--device bogus: device 'bogus' is not a torch device"),
        ("meta", "--device meta: device 'meta' holds no data"),
        ("cuda:99", "--device cuda:99:"),
        ("mps", "--device mps: device 'mps' is not available: this machine has no MPS"),
    ],
)
def test_device_errors_are_one_line_before_the_model_loads(
    command: str,
    device: str,
    message: str,
    scripted: Path,
    npy_input: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import idgrad.files.loading

    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")

    def no_work(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the model was loaded before --device was checked")

    monkeypatch.setattr(idgrad.files.loading, "load_model", no_work)
    data = "--input" if command == "explain" else "--data"
    out = tmp_path / ("a.npy" if command == "explain" else "run")
    argv = [command, "--model", str(scripted), data, str(npy_input), "--out", str(out)]
    err = _one_line_error([*argv, "--device", device], capsys)
    assert message in err
    if not torch.cuda.is_available():
        err = _one_line_error([*argv, "--device", "cuda"], capsys)
        assert "--device cuda: device 'cuda' is not available" in err


def test_an_interrupt_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    from idgrad.cli import explain as explain_module

    def interrupted(args: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(explain_module, "run", interrupted)
    assert main(["explain", "--model", "m.pt", "--input", "x.npy"]) == 130
    assert capsys.readouterr().err == "idgrad: interrupted\n"


def test_static_export_error_gives_a_fix_that_works_as_pasted(
    tmp_path: Path, npy_input: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The suggested ``dynamic_shapes`` exports an ``nn.Sequential`` (its argument: ``input``)."""
    import re

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.Flatten(), torch.nn.Linear(72, 4))
    path = tmp_path / "static.pt2"
    torch.export.save(torch.export.export(net.eval(), (torch.rand(2, 3, 8, 8),)), str(path))
    err = _one_line_error(
        [
            "explain",
            "--model",
            str(path),
            "--input",
            str(npy_input),
            "--target",
            "0",
            "--out",
            str(tmp_path / "s.npy"),
        ],
        capsys,
    )
    assert "dynamic batch dimension" in err
    code = re.search(r"torch\.export\.export\(model, \(x,\), dynamic_shapes=.*?\)\)", err)
    assert code is not None, err
    program = eval(  # noqa: S307 - our own message, run as a user would paste it
        code.group(0), {"torch": torch, "model": net, "x": torch.rand(2, 3, 8, 8)}
    )
    assert program.module()(torch.rand(5, 3, 8, 8)).shape == (5, 4)  # any batch size


# ---------------------------------------------------------------------- one meaning per flag


def test_explain_and_dataset_flags_mean_the_same() -> None:
    from idgrad import defaults

    parser = build_parser()
    explain_args = parser.parse_args(["explain", "--model", "m", "--input", "x.npy"])
    dataset_args = parser.parse_args(["dataset", "--model", "m", "--data", "x.npy", "--out", "o"])
    demo_args = parser.parse_args(["demo"])
    for name in ("target", "baseline", "steps", "rtol", "max_evaluations", "device"):
        assert getattr(explain_args, name) == getattr(dataset_args, name), name
    for args in (explain_args, dataset_args, demo_args):
        assert args.internal_batch_size is None  # points per pass: one name in every command
    assert dataset_args.batch_size == defaults.DATASET_BATCH_SIZE  # examples per block
    assert dataset_args.rtol == defaults.RTOL and dataset_args.device == defaults.CLI_DEVICE
    given = ["--rtol", "0.01", "--max-evaluations", "64", "--baseline", "b.npy"]
    dataset_args = parser.parse_args(
        ["dataset", "--model", "m", "--data", "x.npy", "--out", "o", *given]
    )
    assert (dataset_args.rtol, dataset_args.max_evaluations) == (0.01, 64)
    assert dataset_args.baseline == "b.npy"  # a file, read as explain reads it
    texts = {(c, a.dest): t for c, a, t in _options(parser) if a.help != "==SUPPRESS=="}
    assert "(default: predicted)" in texts[("explain", "target")]
    assert "(default: predicted)" in texts[("dataset", "target")]
    for command in ("explain", "dataset", "demo"):
        assert "points per forward/backward pass" in texts[(command, "internal_batch_size")]


def test_old_spellings_still_work_and_say_they_are_deprecated(
    scripted: Path, npy_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = tmp_path / "old.npy", tmp_path / "new.npy"
    common = "--target 1 --method ig --steps 4 --no-plot --out"
    assert explain(scripted, npy_input, "--batch-size 3", common, old) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("idgrad: warning: --batch-size is deprecated")
    assert "use --internal-batch-size" in err
    assert explain(scripted, npy_input, "--internal-batch-size 3", common, new) == 0
    assert capsys.readouterr().err == ""
    np.testing.assert_array_equal(np.load(old), np.load(new))
    parser = build_parser()
    args = parser.parse_args(["demo", "--batch-size", "4"])
    assert args.internal_batch_size == 4
    args = parser.parse_args(["dataset", "--model", "m", "--data", "d", "--out", "o", "--quiet"])
    assert args.no_progress is True
    assert "use --no-progress" in capsys.readouterr().err


def test_the_default_target_is_predicted_in_both_commands(
    scripted: Path, npy_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from idgrad.dataset import load_attributions

    model = torch.jit.load(str(scripted))
    x = torch.from_numpy(np.load(npy_input))
    with torch.no_grad():
        predicted = model(x).argmax(1).tolist()
    out = tmp_path / "a.npy"
    assert explain(scripted, npy_input, "--method ig --steps 4 --no-plot --out", out) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [int(line.split()[1]) for line in lines[2:4]] == predicted
    run = tmp_path / "run"
    argv = ["dataset", "--model", str(scripted), "--data", str(npy_input), "--out", str(run)]
    assert main([*argv, "--method", "ig", "--steps", "4", "--no-progress"]) == 0
    res = load_attributions(run)
    assert res.target.tolist() == predicted
    np.testing.assert_allclose(res.attributions, np.load(out), rtol=1e-6, atol=1e-7)
    capsys.readouterr()


@pytest.mark.parametrize("command", ["explain", "dataset"])
def test_the_default_target_on_a_scalar_model_says_to_pass_none(
    command: str, tmp_path: Path, npy_input: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    class Scalar(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.flatten(1).sum(1)

    path = tmp_path / "scalar.pt"
    torch.jit.save(torch.jit.script(Scalar()), str(path))
    data = "--input" if command == "explain" else "--data"
    out = tmp_path / ("a.npy" if command == "explain" else "run")
    argv = [command, "--model", str(path), data, str(npy_input), "--out", str(out)]
    err = _one_line_error(argv, capsys)
    assert "--target predicted (the default)" in err and "pass --target none" in err


def test_dataset_takes_rtol_and_a_baseline_file_as_explain_does(
    scripted: Path, npy_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import idgrad
    from idgrad.dataset import load_attributions

    base = tmp_path / "base.npy"
    np.save(base, np.full((3, 8, 8), 0.25, np.float32))
    run = tmp_path / "run"
    argv = ["dataset", "--model", str(scripted), "--data", str(npy_input), "--out", str(run)]
    argv += ["--target", "2", "--baseline", str(base), "--no-progress"]
    assert main([*argv, "--rtol", "1e-2", "--batch-size", "2"]) == 0
    assert "wrote 1 block (2 examples, 0 failed), skipped 0 finished blocks" in (
        capsys.readouterr().out
    )
    model = torch.jit.load(str(scripted))
    x = torch.from_numpy(np.load(npy_input))
    want = idgrad.integrated_decision_gradients(
        model, x, baselines=torch.from_numpy(np.load(base)), target=2, rtol=1e-2
    )
    np.testing.assert_allclose(load_attributions(run).attributions, want.numpy(), atol=1e-6)
    settings = load_attributions(run).manifest["settings"]
    assert settings["method_kwargs"] == {"rtol": 0.01}
    assert settings["baselines"]["shape"] == [3, 8, 8]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("--rtol 0.01 --steps 8", "give one budget: n_steps (a fixed number of points) or rtol"),
        ("--rtol 0.01 --method guided-ig", "--rtol is for the methods with a schedule"),
        ("--max-evaluations 64", "max_evaluations caps what rtol spends"),
        ("--rtol 1.5", "rtol must be"),
        ("--method ig --steps 1 --rule riemann_trapezoid", "riemann_trapezoid needs n_steps >= 2"),
        ("--baseline nan", "--baseline must be a finite number"),
        ("--baseline base.txt", "--baseline must be a number or a .npy/.pt file"),
        ("--internal-batch-size 0", "--internal-batch-size must be >= 1"),
        ("--steps 0", "--steps must be >= 1"),
    ],
)
def test_dataset_budget_and_baseline_errors_are_one_line_before_any_work(
    options: str,
    message: str,
    scripted: Path,
    npy_input: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import idgrad.files.loading

    def no_model(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the model was loaded before the options were checked")

    monkeypatch.setattr(idgrad.files.loading, "load_model", no_model)
    run = tmp_path / "run"
    argv = ["dataset", "--model", str(scripted), "--data", str(npy_input), "--out", str(run)]
    err = _one_line_error([*argv, *options.split()], capsys)
    assert message in err
    assert not run.exists()


def test_a_method_setting_error_names_the_flag(
    scripted: Path, npy_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a setting the command line hands to the method unchecked: the method's own message,
    # with the flag that set it
    base = tmp_path / "base.npy"
    np.save(base, np.zeros((3, 4, 4), np.float32))  # does not broadcast to (3, 8, 8)
    run = tmp_path / "run"
    argv = ["dataset", "--model", str(scripted), "--data", str(npy_input), "--out", str(run)]
    err = _one_line_error([*argv, "--baseline", str(base), "--no-progress"], capsys)
    assert "set-up error" in err and "baselines has shape (3, 4, 4)" in err
    assert err.rstrip().endswith("(baselines is --baseline)")
    assert not (run / "blocks").exists()
    err = _one_line_error(
        [
            "explain",
            *argv[1:3],
            "--input",
            str(npy_input),
            "--baseline",
            str(base),
            "--out",
            str(tmp_path / "a.npy"),
        ],
        capsys,
    )
    assert "baselines has shape (3, 4, 4)" in err
    assert err.rstrip().endswith("(baselines is --baseline)")


def test_dataset_out_may_not_hold_its_inputs(
    scripted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = tmp_path / "images"
    images.mkdir()
    _photo(images / "a.png")
    argv = ["dataset", "--model", str(scripted), "--data", str(images), "--target", "1"]
    for out in (images, images / "attr"):
        err = _one_line_error([*argv, "--out", str(out)], capsys)
        assert "is inside the input folder" in err
    assert sorted(p.name for p in images.iterdir()) == ["a.png"]
    run = tmp_path / "run"
    (run / "blocks").mkdir(parents=True)
    data = run / "blocks" / "x.npy"
    np.save(data, np.zeros((2, 3, 8, 8), np.float32))
    argv = ["dataset", "--model", str(scripted), "--data", str(data), "--out", str(run)]
    err = _one_line_error(argv, capsys)
    assert "is one of the files a run writes there (blocks)" in err


@pytest.mark.parametrize("command", ["explain", "dataset", "demo"])
def test_an_image_size_beyond_what_pillow_reads_is_one_line(
    command: str, scripted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--image-size 100000`` would resize one photo to 10^10 pixels (40 GB as floats)."""
    (tmp_path / "images").mkdir()
    photo = _photo(tmp_path / "images" / "p.png")
    argv = {
        "explain": ["explain", "--model", str(scripted), "--input", str(photo)],
        "dataset": ["dataset", "--model", str(scripted), "--data", str(photo.parent)],
        "demo": ["demo", "--photos", "chelsea"],
    }[command]
    out = tmp_path / ("a.npy" if command == "explain" else "out")
    err = _one_line_error([*argv, "--image-size", "100000", "--out", str(out)], capsys)
    assert "--image-size asks for 10000000000 pixels per image" in err
    assert "MAX_IMAGE_PIXELS" in err and not out.exists()


def test_out_of_memory_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    from idgrad.cli import explain as explain_module

    def too_much(args: Any) -> int:
        raise MemoryError

    monkeypatch.setattr(explain_module, "run", too_much)
    _one_line_error(["explain", "--model", "m.pt", "--input", "x.npy"], capsys)


def test_the_default_device_follows_local_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    from idgrad.cli import CLIError
    from idgrad.cli.common import parse_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert parse_device(None) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert parse_device(None) == torch.device("cuda", 0)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert parse_device(None) == torch.device("cuda", 1)
    for rank in ("2", "x"):
        monkeypatch.setenv("LOCAL_RANK", rank)
        with pytest.raises(CLIError, match=f"LOCAL_RANK={rank} names no CUDA device"):
            parse_device(None)
    with pytest.raises(CLIError, match="has 2 CUDA device"):
        parse_device("cuda:2")
