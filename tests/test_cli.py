"""The command line, in process: explain (every model format and error path) and demo."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from idgrad.cli import build_parser, main

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
    rc = main(
        [
            "explain",
            "--model",
            str(scripted),
            "--input",
            str(npy_input),
            "--target",
            "2",
            "--steps",
            "8",
            "--batch-size",
            "5",
            "--out",
            str(out),
        ]
    )
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
    assert out.with_suffix(".png").stat().st_size > 2000


def test_explain_top_target_ig_and_pt_output(
    scripted: Path, npy_input: Path, tmp_path: Path
) -> None:
    out = tmp_path / "attr.pt"
    assert (
        main(
            [
                "explain",
                "--model",
                str(scripted),
                "--input",
                str(npy_input),
                "--target",
                "top",
                "--method",
                "ig",
                "--steps",
                "4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    attr = torch.load(out, weights_only=True)
    assert attr.shape == (2, 3, 8, 8)


def test_explain_image_file(scripted: Path, tmp_path: Path) -> None:
    from PIL import Image

    img = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(
        img
    )
    out = tmp_path / "img-attr.npy"
    assert (
        main(
            [
                "explain",
                "--model",
                str(scripted),
                "--input",
                str(img),
                "--image-size",
                "12",
                "--normalize",
                "unit",
                "--target",
                "0",
                "--steps",
                "4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert np.load(out).shape == (1, 3, 12, 12)
    assert out.with_suffix(".png").exists()


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
    assert (
        main(
            [
                "explain",
                "--model",
                str(weights),
                "--factory",
                "my_factory:make",
                "--input",
                str(npy_input),
                "--target",
                "1",
                "--steps",
                "4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
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
    assert (
        main(
            [
                "explain",
                "--model",
                str(path),
                "--input",
                str(npy_input),
                "--target",
                "3",
                "--method",
                "ig",
                "--steps",
                "4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert np.load(out).shape == (2, 3, 8, 8)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "missing.pt", "--input", "X"], "model file not found"),
        (["--model", "MODEL", "--input", "missing.npy"], "input file not found"),
        (["--model", "MODEL", "--input", "X", "--steps", "0"], "--steps must be >= 1"),
        (["--model", "MODEL", "--input", "X", "--batch-size", "0"], "--batch-size must be >= 1"),
        (["--model", "MODEL", "--input", "X", "--out", "a.txt"], "--out must end"),
        (["--model", "MODEL", "--input", "X", "--target", "cat"], "--target must be"),
        (["--model", "MODEL", "--input", "X", "--target", "99"], "out of range"),
        (["--model", "MODEL", "--input", "X"], "one scalar"),
        (
            ["--model", "MODEL", "--input", "X", "--baseline", "nope.npy", "--target", "0"],
            "baseline file not found",
        ),
        (["--model", "MODEL", "--input", "X", "--factory", "nocolon"], "module:function"),
        (
            ["--model", "MODEL", "--input", "X", "--factory", "no_such_mod:f"],
            "cannot import factory",
        ),
        (["--model", "NOTSCRIPT", "--input", "X"], "not a TorchScript file"),
        (["--model", "MODEL", "--input", "BADTXT"], "unsupported input file type"),
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
        main(
            [
                "explain",
                "--model",
                str(path),
                "--input",
                str(npy_input),
                "--target",
                "0",
                "--steps",
                "4",
                "--out",
                str(tmp_path / "s.npy"),
            ]
        )
        == 2
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


@pytest.mark.parametrize("method", ["left-ig", "guided-ig", "blur-ig", "ig-sign", "idg-uniform"])
def test_explain_every_registered_method(
    method: str, scripted: Path, npy_input: Path, tmp_path: Path
) -> None:
    out = tmp_path / f"{method}.npy"
    rc = main(
        [
            "explain",
            "--model",
            str(scripted),
            "--input",
            str(npy_input),
            "--target",
            "1",
            "--method",
            method,
            "--steps",
            "3",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    attr = np.load(out)
    assert attr.shape == (2, 3, 8, 8) and np.isfinite(attr).all()


def test_baseline_refused_for_methods_without_one(
    scripted: Path, npy_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(
        [
            "explain",
            "--model",
            str(scripted),
            "--input",
            str(npy_input),
            "--target",
            "1",
            "--method",
            "blur-ig",
            "--baseline",
            "0.5",
            "--out",
            str(tmp_path / "b.npy"),
        ]
    )
    assert rc == 2
    assert "takes no baselines" in capsys.readouterr().err


def test_agi_needs_enough_classes(
    scripted: Path, npy_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the net has 5 classes; AGI's default top_k = 20 false classes cannot be met
    rc = main(
        [
            "explain",
            "--model",
            str(scripted),
            "--input",
            str(npy_input),
            "--target",
            "1",
            "--method",
            "agi",
            "--steps",
            "2",
            "--out",
            str(tmp_path / "agi.npy"),
        ]
    )
    assert rc == 2
    assert "false classes" in capsys.readouterr().err
