"""idgrad.files.loading and idgrad.files.exported: models and tensors from files; none run.

Every hostile file here would write a marker file when loaded the usual way; each test
checks that idgrad refuses it with an error naming the problem and that the marker is
absent. ``test_the_crafted_archives_are_real_attacks`` shows, with torch's own loader,
that the crafted archives do run their payloads.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import types
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hostile
import numpy as np
import pytest
import torch

from idgrad.files.exported import _check_graph, load_exported_program
from idgrad.files.limits import FileLimits
from idgrad.files.loading import LoadError, UnsafeFileError, import_factory, load_model, load_tensor
from idgrad.files.shape_expressions import unsafe_expression

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
        ("s0**2 + s1**64", None),
        ("s0**s1", "exponent is not a number"),
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
    got = unsafe_expression(text)
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


# ---------------------------------------------------------------------- files that cost too much

#: Measured in a fresh interpreter: the refusal's time and its peak memory above the peak
#: after a warm-up (imports, and the clean archive loaded once). Prints one JSON line.
_MEASURE = """
import json, resource, sys, time
from idgrad.files.loading import UnsafeFileError, load_model
clean, *bombs = sys.argv[1:]
load_model(clean)
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
before = peak()
out = {}
for path in bombs:
    start = time.perf_counter()
    try:
        load_model(path)
        message = None
    except UnsafeFileError as err:
        message = str(err)
    out[path] = (time.perf_counter() - start, peak() - before, message)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def costly_archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The issue's archives: a tower of powers, and a 300 KB file whose graph is 300 MB."""
    folder = tmp_path_factory.mktemp("costly")
    clean = hostile.exported_archive(folder / "clean.pt2")
    big = 300 * 2**20
    return {
        "clean": clean,
        "tower": hostile.replace_expression(
            clean, folder / "tower.pt2", "((((9**64)**64)**64)**64)**64"
        ),
        "inflated": hostile.inflated_archive(clean, folder / "inflated.pt2", big),
        "lying header": hostile.inflated_archive(
            clean, folder / "lying.pt2", big, declared=hostile.record_size(clean, "model.json")
        ),
    }


def test_the_costly_archives_are_real(costly_archives: dict[str, Path]) -> None:
    """What torch would do with them: sympy computes powers exactly (one level fewer than
    the tower already has 800 000 bits), and torch's reader allocates the declared 300 MB
    of a file of about 300 KB."""
    import sympy  # type: ignore[import-untyped]

    assert int(sympy.sympify("((9**64)**64)**64")).bit_length() > 800_000
    inflated = costly_archives["inflated"]
    assert inflated.stat().st_size < 400_000
    reader = torch._C.PyTorchFileReader(str(inflated))
    assert reader.get_record_size("models/model.json") == 300 * 2**20


def test_costly_archives_are_refused_in_a_second_and_little_memory(
    costly_archives: dict[str, Path],
) -> None:
    """The issue's bounds: each refused in under a second and under 50 MB above the
    baseline (peak RSS in a fresh interpreter, after a warm-up that loads a clean archive)."""
    kinds = ["tower", "inflated", "lying header"]
    paths = [str(costly_archives[k]) for k in kinds]
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(costly_archives["clean"]), *paths],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    expected = {
        "tower": re.escape(
            "computes a number of up to 1048576 bits, more than the limit integer_bits"
        ),
        "inflated": re.escape(
            "models/model.json inflates to 314572800 bytes (the zip directory says "
            "so), more than the limit pt2_json_bytes=67108864"
        ),
        "lying header": r"inflates to more than the \d+ bytes its zip directory declares",
    }
    for kind, path in zip(kinds, paths):
        seconds, extra_bytes, message = measured[path]
        assert message is not None and re.search(expected[kind], message), (kind, message)
        assert seconds < 1.0, (kind, seconds)
        assert extra_bytes < 50 * 2**20, (kind, extra_bytes)


def test_a_record_that_does_not_inflate_as_declared_is_refused(
    clean_archive: Path, tmp_path: Path
) -> None:
    """A header that declares more than the stream holds: a damaged file, in one line."""
    size = hostile.record_size(clean_archive, "model.json")
    short = hostile.inflated_archive(clean_archive, tmp_path / "s.pt2", size, declared=size + 10)
    with pytest.raises(LoadError, match=f"does not inflate to the {size + 10} bytes") as info:
        load_model(short)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("((((9**64)**64)**64)**64)**64", "computes a number of up to 1048576 bits"),
        ("PowByNatural(9, Integer(1000000000000000000))", "more than the limit integer_bits"),
        ("PowByNatural(PowByNatural(9, 64), 64)", None),  # 16384 bits: cheap
        ("PowByNatural(9, 10**18)", "exponent is not a number"),
        ("LShift(1, 2**62)", "shifts by an amount that is not a number"),
        ("LShift(1, Integer(4611686018427387904))", "more than the limit integer_bits"),
        ("Float(1, 1000000000)", "a Float with a precision"),
        ("Integer(s0)", "a Integer of something other than numbers"),
        ("Max(" * 65 + "s0" + ")" * 65, "nests deeper than the limit expression_depth=64"),
        ("Add(" + ", ".join(["s0"] * 600) + ")", "more nodes than the limit expression_nodes"),
        ("+".join(["s0"] * 100), "nests deeper than the limit expression_depth=64"),
        (
            "Mul(Integer(1152), Add(FloorDiv(Symbol('s34', positive=True, integer=True), "
            "Integer(32)), Integer(4)))",
            None,
        ),  # fmt: skip - from a real export (EfficientNet)
    ],
)
def test_shape_expressions_that_cost_too_much(text: str, problem: str | None) -> None:
    got = unsafe_expression(text)
    if problem is None:
        assert got is None
    else:
        assert got is not None and problem in got, got


def test_every_limit_can_be_raised_for_a_trusted_file(clean_archive: Path, tmp_path: Path) -> None:
    """Each refusal names its limit, and the caller who raises it gets the file read."""
    deep = "Max(" * 65 + "s0" + ")" * 65
    assert unsafe_expression(deep, FileLimits(expression_depth=100)) is None
    many = "Add(" + ", ".join(["s0"] * 600) + ")"
    assert unsafe_expression(many, FileLimits(expression_nodes=2000)) is None
    power = "s0**2000"  # 128000 bits
    assert "integer_bits=65536" in str(unsafe_expression(power))
    assert unsafe_expression(power, FileLimits(integer_bits=2**17)) is None
    long = "Add(" + ", ".join(["s0"] * 1100) + ")"
    assert "expression_chars=4096" in str(unsafe_expression(long))
    raised = FileLimits(expression_chars=5000, expression_nodes=5000)
    assert unsafe_expression(long, raised) is None
    # a big but honest archive: its graph padded to 3 MB and deflated (about 150 times
    # its size on disk), read once the caller raises both limits it passes
    padded = hostile.inflated_archive(clean_archive, tmp_path / "padded.pt2", 3 * 2**20)
    with pytest.raises(UnsafeFileError, match="zip_inflation=32"):
        load_model(padded)
    with pytest.raises(UnsafeFileError, match="pt2_json_bytes=1048576"):
        load_model(padded, limits=FileLimits(pt2_json_bytes=2**20, zip_inflation=10**4))
    model = load_model(padded, limits=FileLimits(zip_inflation=10**4))
    x = torch.rand(4, 3)
    torch.testing.assert_close(model(x), hostile.Linear().eval()(x))


@pytest.mark.parametrize(
    "record, data, message",
    [
        ("models/model.json", b"{not json", "models/model.json is not valid JSON (Expecting"),
        ("models/model.json", b"[" * 200_000, "models/model.json is not JSON that can be read"),
        ("models/model.json", b'{"a": "\xff\xfe"}', "models/model.json is not UTF-8 text"),
        ("model_weights_config.json", b"{not json", "model_weights_config.json is not valid"),
        ("model_weights_config.json", b"[1, 2]", "model_weights_config.json is not a payload"),
        ("model_weights_config.json", b'{"config": {"fc.weight": 3}}', "not a payload desc"),
        ("model_constants_config.json", b"\xff", "model_constants_config.json is not UTF-8"),
        ("models/model.json", b'{"graph_module": 3}', "cannot load exported program"),
        ("archive_format", b"\xff\xfe", "cannot load exported program"),
        (".data/version", b"abc", "is not a torch.export archive"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_corrupt_archive_records_are_one_line_load_errors(
    record: str, data: bytes, message: str, clean_archive: Path, tmp_path: Path
) -> None:
    path = hostile.replace_record(clean_archive, tmp_path / "bad.pt2", record, data)
    with pytest.raises(LoadError) as info:
        load_model(path)
    text = str(info.value)
    assert message in text and str(path) in text
    assert "\n" not in text
    shown = info.value.__cause__ or (not info.value.__suppress_context__ and info.value.__context__)
    assert not shown  # no JSONDecodeError, RecursionError, ... chained under it


def test_integers_beyond_64_bits_in_the_graph_are_refused(
    clean_archive: Path, tmp_path: Path
) -> None:
    """Shape hints are 64-bit numbers; the expression bound counts on it."""

    def huge_hint(name: str, data: bytes) -> bytes:
        if not name.endswith("models/model.json"):
            return data
        return data.replace(b'"hint": {"as_int": 2}', b'"hint": {"as_int": ' + b"9" * 40 + b"}")

    path = hostile.rewrite_zip(clean_archive, tmp_path / "hint.pt2", huge_hint)
    assert b"9" * 40 in hostile.read_record(path, "models/model.json")
    with pytest.raises(UnsafeFileError, match="of 133 bits; sizes, strides and shape hints"):
        load_model(path)


def test_ambiguous_zip_directories_are_refused(clean_archive: Path, tmp_path: Path) -> None:
    """Two records of one name (readers disagree which one counts), records in two folders."""
    import zipfile

    twice = tmp_path / "twice.pt2"
    twice.write_bytes(clean_archive.read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile: "Duplicate name"
        with zipfile.ZipFile(twice, "a") as z:
            z.writestr("clean/models/model.json", b"{}")
    with pytest.raises(UnsafeFileError, match="two records named 'clean/models/model.json'"):
        load_model(twice)
    two_roots = hostile.rewrite_zip(
        clean_archive, tmp_path / "roots.pt2", lambda n, d: d, {"other/x": b"1"}
    )
    with pytest.raises(UnsafeFileError, match="several archive folders"):
        load_model(two_roots)


def test_zip_inflation_is_checked_for_every_zip_torch_reads(tmp_path: Path) -> None:
    """TorchScript, state dicts and .pt tensors are zips too: a record that declares a lot
    (deflated zeros) is refused before torch allocates it; raising the limit reads it."""
    import io
    import zipfile

    buf = io.BytesIO()
    torch.save(torch.zeros(2**20), buf)  # 4 MB of zeros, stored
    tensor = tmp_path / "zeros.pt"
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zin:
        with zipfile.ZipFile(tensor, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                zout.writestr(info.filename, zin.read(info.filename))
    assert tensor.stat().st_size < 2**15
    with pytest.raises(UnsafeFileError, match="zip_inflation=32"):
        load_tensor(tensor, what="baseline")
    big = load_tensor(tensor, limits=FileLimits(zip_inflation=1000))
    assert big.shape == (2**20,) and not big.any()
    state = tmp_path / "state.pt"
    state.write_bytes(tensor.read_bytes())
    with pytest.raises(UnsafeFileError, match="zip_inflation=32"):
        load_model(state, factory=hostile.Linear)

    class Zeros(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("big", torch.zeros(2**20))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.big[:3]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(Zeros()), str(tmp_path / "stored.pt"))
    scripted = tmp_path / "deflated.pt"
    with zipfile.ZipFile(tmp_path / "stored.pt") as zin:
        with zipfile.ZipFile(scripted, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                zout.writestr(info.filename, zin.read(info.filename))
    with pytest.raises(UnsafeFileError, match="zip_inflation=32"):
        load_model(scripted)
    model = load_model(scripted, limits=FileLimits(zip_inflation=1000))
    assert model(torch.ones(3)).tolist() == [1.0, 1.0, 1.0]


def test_npy_in_the_other_byte_order_is_read_as_its_values(tmp_path: Path) -> None:
    np.save(tmp_path / "big.npy", np.array([1.5, -2.0, 3.25], dtype=">f4"))
    x = load_tensor(tmp_path / "big.npy")
    assert x.dtype == torch.float32 and x.tolist() == [1.5, -2.0, 3.25]


def test_npy_header_that_declares_more_than_the_file_holds(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, np.zeros(4, np.float32))
    raw = path.read_bytes()
    lying = raw.replace(b"(4,), }" + b" " * 10, b"(10000000000,), }")  # 40 GB declared
    assert len(lying) == len(raw) and lying != raw
    path.write_bytes(lying)
    with pytest.raises(LoadError, match="cannot read input") as info:
        load_tensor(path, what="input")
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------------- devices


def _formats(tmp_path: Path) -> dict[str, tuple[Path, Any]]:
    scripted = tmp_path / "s.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(hostile.Linear().eval()), str(scripted))
    state = tmp_path / "state.pt"
    torch.save(hostile.Linear().state_dict(), state)
    return {
        "pt2": (hostile.exported_archive(tmp_path / "a.pt2"), None),
        "torchscript": (scripted, None),
        "state dict": (state, hostile.Linear),
    }


@pytest.mark.parametrize("fmt", ["pt2", "torchscript", "state dict"])
@pytest.mark.parametrize("device", ["cuda", "cuda:63", "bogus", "meta"])
def test_a_device_this_machine_lacks_is_one_load_error(
    fmt: str, device: str, tmp_path: Path
) -> None:
    """Every format, the same one-line error naming the device (never AssertionError,
    RuntimeError or a state dict blamed for 'other pickled objects')."""
    if device.startswith("cuda") and torch.cuda.is_available() and device != "cuda:63":
        pytest.skip("this machine has CUDA")
    path, factory = _formats(tmp_path)[fmt]
    with pytest.raises(LoadError) as info:
        load_model(path, factory=factory, device=device)
    text = str(info.value)
    assert not isinstance(info.value, UnsafeFileError)
    assert text.startswith(f"device {device!r} ") and "\n" not in text
    assert "pickled" not in text


@pytest.mark.parametrize("command", ["explain", "dataset"])
@pytest.mark.parametrize("device", ["cuda", "bogus"])
def test_cli_device_errors_are_one_line(
    command: str, device: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    from idgrad.cli import main as cli_main

    model = hostile.exported_archive(tmp_path / "m.pt2")
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((4, 3), dtype=np.float32))
    out = tmp_path / ("a.npy" if command == "explain" else "run")
    io = ["--input", str(tmp_path / "x.npy")] if command == "explain" else []
    io += ["--data", str(tmp_path / "x.npy")] if command == "dataset" else []
    argv = [command, "--model", str(model), *io, "--target", "0", "--out", str(out)]
    assert cli_main([*argv, "--device", device]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"idgrad: error: --device {device}: device {device!r} ")
    assert "\n" not in err
    assert not out.exists()


# ---------------------------------------------------------------------- factories


def test_a_factory_that_raises_says_which_and_why(tmp_path: Path) -> None:
    weights = tmp_path / "w.pt"
    torch.save(hostile.Linear().state_dict(), weights)

    def broken() -> torch.nn.Module:
        raise RuntimeError("the weights folder /data/x is missing")

    with pytest.raises(LoadError) as info:
        load_model(weights, factory=broken)
    text = str(info.value)
    assert text.startswith("the factory ") and "broken raised RuntimeError: the weights" in text
    assert "\n" not in text
    assert isinstance(info.value.__cause__, RuntimeError)  # kept for Python callers
    with pytest.raises(LoadError, match="the factory .* returned a int, not a torch.nn.Module"):
        load_model(weights, factory=lambda: 3)


@pytest.fixture()
def in_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``tmp_path`` as the current folder, sys.path and sys.modules restored afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    modules = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - modules:
        del sys.modules[name]


def test_a_factory_module_in_the_current_folder_is_found(in_a_folder: Path) -> None:
    """``--factory mynet:make_net`` beside mynet.py, with the current folder not on
    sys.path (as under the ``idgrad`` script): found, as ``python -m`` would find it; the
    folder goes to the end of sys.path (it shadows nothing installed)."""
    (in_a_folder / "mynet.py").write_text(
        "from hostile import Linear\nfrom mynet_parts import LAYERS\n"
        "def make_net():\n    return Linear()\n"
    )
    (in_a_folder / "mynet_parts.py").write_text("LAYERS = 1\n")
    torch.save(hostile.Linear().state_dict(), in_a_folder / "w.pt")
    model = load_model("w.pt", factory="mynet:make_net")
    x = torch.rand(2, 3)
    torch.testing.assert_close(model(x), hostile.Linear().eval()(x))
    assert sys.path[-1] == str(in_a_folder)


@pytest.mark.parametrize(
    "files, spec, message",
    [
        ({}, "nonet:make", "no module named 'nonet' on Python's path or in the current folder"),
        ({"bad.py": "def make(:\n"}, "bad:make", "raised SyntaxError: invalid syntax"),
        ({"ok.py": "x = 1\n"}, "ok:make", "module 'ok' ("),
        ({"deps.py": "import no_such_dep_xyz\n"}, "deps:make", "No module named 'no_such_dep"),
        ({"boom.py": "raise ValueError('no GPU')\n"}, "boom:m", "raised ValueError: no GPU"),
    ],
)
def test_factory_import_errors_say_how_to_fix_them(
    files: dict[str, str], spec: str, message: str, in_a_folder: Path
) -> None:
    for name, text in files.items():
        (in_a_folder / name).write_text(text)
    with pytest.raises(LoadError) as info:
        import_factory(spec)
    text = str(info.value)
    assert message in text and "\n" not in text
    if not files:
        assert str(in_a_folder) in text and "PYTHONPATH" in text


def test_the_idgrad_script_finds_a_factory_in_the_current_folder(tmp_path: Path) -> None:
    """The newcomer's case end to end: the installed ``idgrad`` script (which, unlike
    ``python -m``, does not put the current folder on sys.path) run beside mynet.py."""
    script = Path(sys.executable).with_name("idgrad")
    if not script.exists():
        pytest.skip("no idgrad script beside this interpreter")
    (tmp_path / "mynet.py").write_text(
        "import torch\ndef make_net():\n    return torch.nn.Linear(3, 2)\n"
        "def broken():\n    raise RuntimeError('boom')\n"
    )
    torch.save(torch.nn.Linear(3, 2).state_dict(), tmp_path / "w.pt")
    np.save(tmp_path / "x.npy", np.ones((2, 3), np.float32))
    argv = [str(script), "explain", "--model", "w.pt", "--input", "x.npy", "--target", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    ok = subprocess.run(
        [*argv, "--factory", "mynet:make_net", "--out", "a.npy", "--steps", "4"],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert np.load(tmp_path / "a.npy").shape == (2, 3)
    bad = subprocess.run(
        [*argv, "--factory", "mynet:broken", "--out", "b.npy"],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.strip() == "idgrad: error: the factory mynet:broken raised RuntimeError: boom"
