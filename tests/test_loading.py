"""idgrad.files.loading and idgrad.files.exported: models and tensors from files; none run.

Every hostile file here would write a marker file when loaded the usual way; each test
checks that idgrad refuses it with an error naming the problem and that the marker is
absent. ``test_the_crafted_archives_are_real_attacks`` shows, with torch's own loader,
that the crafted archives do run their payloads.
"""

from __future__ import annotations

import logging
import os
import sys
import types
import warnings
from pathlib import Path

import hostile
import numpy as np
import pytest
import torch

from idgrad.files.exported import _check_graph, _unsafe_expression, load_exported_program
from idgrad.files.loading import LoadError, UnsafeFileError, import_factory, load_model, load_tensor

ARCHIVE_KINDS = [
    "weight-pickle",
    "constant-pickle",
    "opaque-constant",
    "sample-inputs",
    "shape-expression",
    "aoti",
    "top-level",
]


@pytest.fixture()
def clean_archive(tmp_path: Path) -> Path:
    return hostile.exported_archive(tmp_path / "clean.pt2")


@pytest.fixture()
def scripted(tmp_path: Path) -> Path:
    path = tmp_path / "lin.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(hostile.Linear().eval()), str(path))
    return path


# ---------------------------------------------------------------------- torch.export archives


def test_clean_archive_loads_and_computes_the_model(clean_archive: Path) -> None:
    model = load_model(clean_archive)
    x = torch.rand(5, 3)
    torch.testing.assert_close(model(x), hostile.Linear().eval()(x))
    program = load_exported_program(clean_archive)
    assert isinstance(program, torch.export.ExportedProgram)


def test_archive_with_symbolic_arithmetic_loads(tmp_path: Path) -> None:
    """Shape expressions such as 2*s0 (from a reshape) are plain arithmetic: accepted."""

    class Flatten(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.cat([x, x], 0)
            return h.reshape(2 * x.shape[0], -1).sum(1)

    program = torch.export.export(
        Flatten(), (torch.rand(3, 2, 4),), dynamic_shapes=({0: torch.export.Dim("b")},)
    )
    path = tmp_path / "flat.pt2"
    torch.export.save(program, str(path))
    x = torch.rand(4, 2, 4)
    torch.testing.assert_close(load_model(path)(x), Flatten()(x))


@pytest.mark.parametrize("kind", ARCHIVE_KINDS)
def test_crafted_archive_is_refused_and_nothing_runs(
    kind: str, clean_archive: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    path = hostile.crafted_archive(kind, clean_archive, tmp_path / f"{kind}.pt2", marker)
    with pytest.raises(UnsafeFileError) as info:
        load_model(path)
    assert not marker.exists()
    message = str(info.value)
    assert str(path) in message
    expected = {
        "weight-pickle": "marks 'fc.weight' as pickled",
        "constant-pickle": "as pickled (use_pickle)",
        "opaque-constant": "opaque_obj_0",
        "sample-inputs": "does not load with weights_only=True",
        "shape-expression": "not plain arithmetic",
        "aoti": "data/aotinductor/",
        "top-level": "outside its archive folder",
    }[kind]
    assert expected in message


@pytest.mark.parametrize(
    "kind", ["weight-pickle", "constant-pickle", "sample-inputs", "shape-expression"]
)
def test_the_crafted_archives_are_real_attacks(
    kind: str, clean_archive: Path, tmp_path: Path
) -> None:
    """torch.export.load itself runs these payloads (torch 2.13): the refusal above matters."""
    marker = tmp_path / "marker"
    path = hostile.crafted_archive(kind, clean_archive, tmp_path / f"{kind}.pt2", marker)
    logging.disable(logging.CRITICAL)  # torch logs the failures that follow the payload
    try:
        torch.export.load(str(path))
    except Exception:  # noqa: BLE001 - the archive need not load; the payload ran before
        pass
    finally:
        logging.disable(logging.NOTSET)
    assert marker.read_text() == "pwned"


def test_old_export_format_is_refused(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "old.pt2"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("version", "1")
        z.writestr("serialized_exported_program.json", "{}")
        z.writestr("serialized_state_dict.pt", hostile.torch_save_payload(tmp_path / "m"))
    with pytest.raises(UnsafeFileError, match="format of torch < 2.8"):
        load_model(path)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    "text, problem",
    [
        ("Symbol('s31', positive=True, integer=True)", None),
        ("Max(2, 2*s0 + 1)", None),
        ("Eq(Mod(s0, 2), 0) & (s1 > 2) | ~(s2 < 1)", None),
        ("s0 @ s1", "MatMult"),
        ("FloorDiv(s0, 2) >= -int_oo", None),
        ("s0**2 + s1**s2", None),
        ("__import__('os').system('ls')", "a call of"),
        ("Max(exec, 1)", "the name 'exec'"),
        ("floor('1+1')", "the string '1+1' passed to floor"),
        ("Symbol('x').__class__", "Attribute"),
        ("s0[0]", "Subscript"),
        ("(lambda: 1)()", "a call of"),
        ("2**10**10", "power"),
        ("Symbol('a b')", "passed to Symbol"),
        ("Symbol('s0', **{'real': True})", "a ** argument"),
        ("Symbol('s0', real=exec)", "not True/False"),
        ("s0 +", "not an expression"),
        ("x" * 5000, "longer than"),
    ],
)
def test_shape_expression_rules(text: str, problem: str | None) -> None:
    got = _unsafe_expression(text)
    if problem is None:
        assert got is None
    else:
        assert got is not None and problem in got, got


def test_graph_check_refuses_python_calls() -> None:
    """A graph whose node calls a Python function (not a PyTorch operator) is refused."""
    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    graph.call_function(os.system, ("true",))
    graph.output(graph.call_function(torch.ops.aten.relu.default, (x,)))
    program = types.SimpleNamespace(graph_module=torch.fx.GraphModule(torch.nn.Module(), graph))
    with pytest.raises(UnsafeFileError, match="system"):
        _check_graph(program, "crafted")  # type: ignore[arg-type]
    ok = torch.fx.Graph()
    y = ok.placeholder("x")
    ok.output(ok.call_function(torch.ops.aten.relu.default, (y,)))
    _check_graph(types.SimpleNamespace(graph_module=torch.fx.GraphModule({}, ok)), "ok")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- other model formats


def test_torchscript_loads_and_a_pickled_payload_inside_is_refused(
    scripted: Path, tmp_path: Path
) -> None:
    model = load_model(scripted)
    x = torch.rand(2, 3)
    torch.testing.assert_close(model(x), hostile.Linear().eval()(x))
    marker = tmp_path / "marker"
    evil = hostile.crafted_torchscript(scripted, tmp_path / "evil.pt", marker)
    with pytest.raises(LoadError, match="cannot load TorchScript"):
        load_model(evil)
    assert not marker.exists()


@pytest.mark.parametrize("layout", ["zip", "plain pickle"])
def test_pickled_model_is_refused_without_unpickling(layout: str, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / "model.pt"
    data = hostile.torch_save_payload(marker) if layout == "zip" else hostile.pickle_payload(marker)
    path.write_bytes(data)
    with pytest.raises(UnsafeFileError, match="does not unpickle models"):
        load_model(path)
    assert not marker.exists()


def test_state_dict_with_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "factory_mod.py").write_text(
        "from hostile import Linear\ndef make():\n    return Linear()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    weights = tmp_path / "weights.pt"
    torch.save(hostile.Linear().state_dict(), weights)
    model = load_model(weights, factory="factory_mod:make")
    assert not model.training
    x = torch.rand(2, 3)
    torch.testing.assert_close(model(x), hostile.Linear().eval()(x))
    marker = tmp_path / "marker"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(hostile.torch_save_payload(marker))
    with pytest.raises(UnsafeFileError, match="weights_only=True"):
        load_model(evil, factory="factory_mod:make")
    assert not marker.exists()
    with pytest.raises(LoadError, match="a factory is only for a state dict"):
        load_model(hostile.exported_archive(tmp_path / "a.pt2"), factory="factory_mod:make")
    sys.modules.pop("factory_mod", None)


def test_factory_spelling_and_import_errors() -> None:
    with pytest.raises(LoadError, match="module:function"):
        import_factory("nocolon")
    with pytest.raises(LoadError, match="cannot import factory"):
        import_factory("no_such_module_xyz:make")
    with pytest.raises(LoadError, match="not a function"):
        import_factory("math:pi")


def test_missing_and_unknown_model_files(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="model file not found"):
        load_model(tmp_path / "none.pt")
    with pytest.raises(LoadError, match="model is not a file"):
        load_model(tmp_path)
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(LoadError, match="not a model file idgrad reads"):
        load_model(tmp_path / "text.pt")


# ---------------------------------------------------------------------- tensors


def test_tensors_from_npy_and_pt(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
    torch.save(torch.ones(2, 2), tmp_path / "b.pt")
    assert load_tensor(tmp_path / "a.npy").tolist() == [[0, 1, 2], [3, 4, 5]]
    assert load_tensor(tmp_path / "b.pt").shape == (2, 2)
    torch.save({"x": torch.ones(1)}, tmp_path / "d.pt")
    with pytest.raises(LoadError, match="holds a dict, not a tensor"):
        load_tensor(tmp_path / "d.pt")
    (tmp_path / "c.txt").write_text("1")
    with pytest.raises(LoadError, match="unsupported file type"):
        load_tensor(tmp_path / "c.txt")


def test_pickled_tensor_files_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    npy = hostile.object_npy(tmp_path / "x.npy", marker)
    with pytest.raises(UnsafeFileError, match="holds Python objects"):
        load_tensor(npy, what="input")
    pt = tmp_path / "x.pt"
    pt.write_bytes(hostile.torch_save_payload(marker))
    with pytest.raises(UnsafeFileError, match="baseline .* weights_only=True"):
        load_tensor(pt, what="baseline")
    assert not marker.exists()
