"""Reading models and tensors from files that users hand us, without running code hidden in them.

This is the one place where idgrad reads a model or a tensor from a file (the ``explain`` and
``dataset`` commands, :class:`idgrad.dataset.BatchAttributor`). Model files travel between
people, and PyTorch's formats can carry code that runs while they load: ``torch.load`` without
``weights_only`` unpickles arbitrary objects, and ``torch.export.load`` (torch 2.13) unpickles
weights and constants marked ``use_pickle``, falls back to full unpickling for sample inputs it
cannot read safely, loads AOTInductor shared libraries, and evaluates every symbolic shape
expression with ``sympy.sympify`` (which calls ``eval``); ``ExportedProgram.module()`` then
``exec``-s the archive's guard code on every call. What is read here, and how:

* **TorchScript** (``torch.jit.save``): ``torch.jit.load``, whose unpickler builds TorchScript
  types only (a pickled Python object is refused by torch itself);
* **torch.export archives** (``.pt2``): the file is read once into memory and checked there
  (:func:`check_exported_program`): no record that would be unpickled beyond ``weights_only``,
  no compiled code, and every shape expression plain arithmetic on symbols. The same bytes are
  then loaded, and the module is built without the guard code (input shapes are still checked
  against the program's range constraints);
* **state dicts**: ``torch.load(weights_only=True)`` into the model a factory builds;
* **tensors**: ``.npy`` with ``allow_pickle=False``, ``.pt`` with ``weights_only=True``.

The format of a model file is read from its content, not its name. Everything else raises
:class:`UnsafeFileError` (reading it would run code) or :class:`LoadError`, naming the file.

Example:
    >>> import tempfile, os, torch
    >>> path = os.path.join(tempfile.mkdtemp(), "x.pt")
    >>> torch.save(torch.ones(2, 3), path)
    >>> load_tensor(path).shape
    torch.Size([2, 3])
"""

from __future__ import annotations

import ast
import importlib
import inspect
import io
import json
import math
import operator
import os
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "LoadError",
    "UnsafeFileError",
    "check_exported_program",
    "import_factory",
    "load_exported_program",
    "load_model",
    "load_tensor",
]

_RE_SAVE = "torch.export.save (with torch >= 2.8, no tensor subclasses)"


class LoadError(ValueError):
    """A file that cannot be read as what it was given for."""


class UnsafeFileError(LoadError):
    """A file that idgrad refuses to read because reading it would run code from it."""


# ---------------------------------------------------------------------- formats


def _zip_names(path: Path) -> list[str] | None:
    try:
        with zipfile.ZipFile(path) as z:
            return z.namelist()
    except (zipfile.BadZipFile, OSError):
        return None


def _model_format(path: Path) -> str:
    """``"pt2"``, ``"pt2-legacy"``, ``"torchscript"``, ``"torch-save"`` or ``"unknown"``."""
    names = _zip_names(path)
    if names is None:
        with open(path, "rb") as fh:
            head = fh.read(2)
        # a pickle (protocol 2+) starts with PROTO: an old-style torch.save file
        return "torch-save" if head[:1] == b"\x80" else "unknown"
    tails = {n.split("/", 1)[1] if "/" in n else n for n in names}
    if "archive_format" in tails:
        return "pt2"
    if "serialized_exported_program.json" in tails:
        return "pt2-legacy"
    if "constants.pkl" in tails or any(t.startswith("code/") for t in tails):
        return "torchscript"
    if "data.pkl" in tails:
        return "torch-save"
    return "unknown"


def _check_file(path: str | os.PathLike[str], what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise LoadError(f"{what} file not found: {p}")
    if not p.is_file():
        raise LoadError(f"{what} is not a file: {p}")
    return p


# ---------------------------------------------------------------------- models


def import_factory(spec: str) -> Callable[[], Any]:
    """The function named by ``'module:function'`` (it builds the model for a state dict).

    Raises:
        LoadError: not of that form, or the module or the function cannot be imported.
    """
    module_name, _, func_name = spec.partition(":")
    if not module_name or not func_name:
        raise LoadError(f"a factory must look like 'module:function', got {spec!r}")
    try:
        build = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as err:
        raise LoadError(f"cannot import factory {spec!r}: {err}") from None
    if not callable(build):
        raise LoadError(f"factory {spec!r} is a {type(build).__name__}, not a function")
    return build  # type: ignore[no-any-return]


def load_model(
    path: str | os.PathLike[str],
    *,
    factory: str | Callable[[], Any] | None = None,
    device: str | torch.device = "cpu",
) -> Any:
    """A model from a TorchScript file, a ``.pt2`` archive, or a state dict and a factory.

    Args:
        path: the model file; its format is read from its content.
        factory: for a state dict, ``'module:function'`` or a callable building the
            (untrained) model; the state dict is then loaded into it strictly.
        device: where the model is moved.

    Returns:
        The model (TorchScript and state-dict models in eval mode).

    Raises:
        UnsafeFileError: reading the file would run code from it (a pickled model, an
            archive with pickled or compiled parts).
        LoadError: a missing or unreadable file, or a state dict without a factory.
    """
    build = import_factory(factory) if isinstance(factory, str) else factory
    p = _check_file(path, "model")
    kind = _model_format(p)
    if build is not None:
        if kind in ("pt2", "pt2-legacy", "torchscript"):
            raise LoadError(
                f"{p} is a {'TorchScript' if kind == 'torchscript' else 'torch.export'} "
                "model; a factory is only for a state dict"
            )
        return _load_state_dict_model(p, build, device)
    if kind == "pt2":
        return load_exported_program(p).module(check_guards=False).to(device)
    if kind == "pt2-legacy":
        raise UnsafeFileError(
            f"{p} is a torch.export file in the format of torch < 2.8, which torch reads by "
            f"unpickling; save it again with {_RE_SAVE}"
        )
    if kind == "torchscript":
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is asked for
                model = torch.jit.load(str(p), map_location=device)  # type: ignore[no-untyped-call]
        except Exception as err:  # noqa: BLE001 - torch raises several types for bad files
            raise LoadError(f"cannot load TorchScript model {p}: {_first_line(err)}") from None
        return model.eval()
    if kind == "torch-save":
        raise UnsafeFileError(
            f"{p} is a torch.save file (a pickled model or a state dict); idgrad does not "
            "unpickle models. For a state dict, give the function that builds the model "
            "(--factory module:function); or save the model with torch.jit.save or "
            f"{_RE_SAVE}"
        )
    raise LoadError(
        f"{p} is not a model file idgrad reads: save the model with torch.jit.save or "
        f"{_RE_SAVE}, or pass a state dict with a factory"
    )


def _load_state_dict_model(path: Path, build: Callable[[], Any], device: str | torch.device) -> Any:
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is the file's fault
        raise UnsafeFileError(
            f"{path} is not a state dict that loads with weights_only=True "
            f"(it holds other pickled objects): {_first_line(err)}"
        ) from None
    if not isinstance(state, dict):
        raise LoadError(f"{path} holds a {type(state).__name__}, not a state dict")
    model = build()
    if not isinstance(model, torch.nn.Module):
        raise LoadError(f"the factory returned a {type(model).__name__}, not a torch.nn.Module")
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise LoadError(
            f"the state dict in {path} does not fit the factory's model: {_first_line(err)}"
        ) from None
    return model.to(device).eval()


def _first_line(err: BaseException) -> str:
    """The gist of an error from torch: the unpickler's reason, else the first line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()
    found = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\.|\n|$)", text)
    if found:
        return found.group(1).strip()
    return text.splitlines()[0] if text else type(err).__name__


# ---------------------------------------------------------------------- torch.export archives

# Records a torch 2.13 ``torch.export.save`` writes (names inside the archive's root folder).
_PT2_RECORDS = re.compile(
    r"(archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id"
    r"|models/[\w.-]+\.json|extra/[^/]+"
    r"|data/weights/(weight_\d+|[\w.-]+_weights_config\.json)"
    r"|data/constants/(tensor_\d+|[\w.-]+_constants_config\.json)"
    r"|data/sample_inputs/[\w.-]+\.pt)"
)


def load_exported_program(path: str | os.PathLike[str]) -> torch.export.ExportedProgram:
    """A ``torch.export`` archive, loaded only after :func:`check_exported_program` passed.

    The file is read once; the bytes that were checked are the bytes that are loaded. Build
    the module with ``.module(check_guards=False)``: the guard code is Python source from the
    file.

    Raises:
        UnsafeFileError: the archive holds something that loading would run.
        LoadError: not a readable archive.
    """
    p = _check_file(path, "model")
    data = p.read_bytes()
    check_exported_program(data, name=str(p))
    try:
        program = torch.export.load(io.BytesIO(data))
    except Exception as err:  # noqa: BLE001 - torch raises many types for bad archives
        raise LoadError(f"cannot load exported program {p}: {_first_line(err)}") from None
    _check_graph(program, str(p))
    return program


def check_exported_program(data: bytes, name: str = "the archive") -> None:
    """Refuse a ``.pt2`` archive (its bytes) whose loading would run code from it.

    Checked: every record is one that ``torch.export.save`` writes (no AOTInductor or
    other compiled parts); no weight or constant is marked ``use_pickle`` and every constant
    is a plain tensor; every sample-input file loads with ``weights_only=True`` (so torch
    never falls back to full unpickling); every symbolic shape expression is arithmetic on
    symbols and numbers (torch evaluates them with ``sympy.sympify``, i.e. ``eval``); and
    the file has no top-level ``version`` record (which would send a failed load down
    torch's unpickling path for old archives).

    Raises:
        UnsafeFileError: naming the first offending record.
        LoadError: not a ``.pt2`` archive.
    """
    from torch.export.pt2_archive import PT2ArchiveReader

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            top_level = [n for n in z.namelist() if "/" not in n.rstrip("/")]
    except (zipfile.BadZipFile, OSError) as err:
        raise LoadError(f"{name} is not a torch.export archive: {err}") from None
    if top_level:
        raise UnsafeFileError(
            f"{name} has records outside its archive folder ({', '.join(top_level[:3])}), "
            "which torch's reader for old archives would unpickle"
        )
    try:
        reader = PT2ArchiveReader(io.BytesIO(data))
        records = reader.get_file_names()
    except Exception as err:  # noqa: BLE001
        raise LoadError(f"{name} is not a torch.export archive: {_first_line(err)}") from None
    for record in records:
        if not _PT2_RECORDS.fullmatch(record):
            raise UnsafeFileError(
                f"{name} holds {record!r}, which is not plain weights and graphs (compiled "
                f"code or an unknown part); idgrad loads only what {_RE_SAVE} writes"
            )
    for record in records:
        if record.endswith("_weights_config.json") or record.endswith("_constants_config.json"):
            _check_payload_config(json.loads(reader.read_string(record)), record, name)
        elif record.startswith("data/sample_inputs/"):
            try:
                torch.load(io.BytesIO(reader.read_bytes(record)), weights_only=True)
            except Exception as err:  # noqa: BLE001
                raise UnsafeFileError(
                    f"{name}: {record} does not load with weights_only=True "
                    f"({_first_line(err)}); torch would unpickle it"
                ) from None
        elif record.startswith("models/"):
            for expr in _strings_under(json.loads(reader.read_string(record)), "expr_str"):
                problem = _unsafe_expression(expr)
                if problem is not None:
                    raise UnsafeFileError(
                        f"{name}: {record} has the shape expression {expr[:80]!r}, which is "
                        f"not plain arithmetic ({problem}); torch would evaluate it as Python"
                    )


def _check_payload_config(config: Any, record: str, name: str) -> None:
    entries = config.get("config", {}) if isinstance(config, dict) else None
    if not isinstance(entries, dict):
        raise LoadError(f"{name}: {record} is not a payload config")
    for key, meta in entries.items():
        if not isinstance(meta, dict):
            raise LoadError(f"{name}: {record} entry {key!r} is not a payload description")
        if meta.get("use_pickle", False) is not False:
            raise UnsafeFileError(
                f"{name}: {record} marks {key!r} as pickled (use_pickle), which torch "
                "unpickles with weights_only=False; idgrad loads plain tensors only "
                "(a tensor subclass cannot be loaded safely)"
            )
        path_name = str(meta.get("path_name", ""))
        if not re.fullmatch(r"(weight|tensor)_\d+", path_name):
            raise UnsafeFileError(
                f"{name}: {record} entry {key!r} is stored as {path_name!r}, not a plain "
                "tensor (custom and opaque objects are unpickled)"
            )


def _strings_under(obj: Any, key: str) -> Iterator[str]:
    """Every value of ``key`` anywhere in a JSON value (iteratively: no recursion limit)."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for k, v in item.items():
                if k == key:
                    yield v if isinstance(v, str) else repr(v)
                else:
                    stack.append(v)
        elif isinstance(item, list):
            stack.extend(item)


def _sympy_function_names() -> frozenset[str]:
    import sympy  # type: ignore[import-untyped]
    import torch.utils._sympy.functions as torch_sympy

    torch_names = {
        n
        for n, v in vars(torch_sympy).items()
        if inspect.isclass(v) and issubclass(v, sympy.Basic) and not n.startswith("_")
    }
    core = {
        "Symbol", "Integer", "Float", "Rational", "Add", "Mul", "Pow", "Abs", "Max", "Min",
        "Mod", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "And", "Or", "Not", "floor", "ceiling",
        "sqrt", "Piecewise", "ITE",
    }  # fmt: skip
    return frozenset(core | torch_names)


# sympy prints And, Or and Xor of conditions as &, | and ^
_BIN_OPS: tuple[type[ast.operator], ...] = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv)
_BIN_OPS += (ast.Mod, ast.Pow, ast.BitAnd, ast.BitOr, ast.BitXor)
_CMP_BOOL_OPS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.And, ast.Or)
_UNARY = (ast.USub, ast.UAdd, ast.Not, ast.Invert)
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_SYMBOL = re.compile(r"[A-Za-z]+[0-9]+")  # torch's shape symbols: s0, u3, ps2, ...
_CONSTANT_NAMES = frozenset({"oo", "zoo", "nan", "pi", "E", "I", "true", "false", "int_oo"})
_MAX_EXPRESSION = 4096


def _unsafe_expression(text: str) -> str | None:
    """Why ``text`` is not a plain arithmetic expression, or None when it is.

    Allowed: numbers, shape symbols (``s0``, ``u3``), sympy's constants, ``+ - * / // %``,
    ``**`` with constant exponents up to 64, comparisons, ``and``/``or``/``not``, and calls
    of sympy's and torch's symbolic functions on such expressions, with True/False keyword
    arguments; a string only as the name in ``Symbol('s0', positive=True)``. Everything
    else (attributes, subscripts, lambdas, builtins, other strings) is refused.

    Example:
        >>> _unsafe_expression("Max(2, 2*s0 + 1)") is None
        True
        >>> _unsafe_expression("exec('import os')")
        "a call of 'exec'"
    """
    if len(text) > _MAX_EXPRESSION:
        return f"longer than {_MAX_EXPRESSION} characters"
    try:
        tree = ast.parse(text, mode="eval")
        nodes = list(ast.walk(tree))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return "not an expression"
    functions = _sympy_function_names()
    names = set()  # ids of the Name nodes that are called, and of Symbol's name strings
    for node in nodes:
        if isinstance(node, ast.Call):
            problem = _unsafe_call(node, functions)
            if problem is not None:
                return problem
            names.add(id(node.func))
            if node.args and isinstance(node.args[0], ast.Constant):
                names.add(id(node.args[0]))  # a str here is a Symbol's (checked) name
    for node in nodes:
        if isinstance(node, (ast.Expression, ast.Load, ast.keyword, ast.Call)):
            continue
        if isinstance(node, (*_BIN_OPS, *_UNARY, *_CMP_BOOL_OPS)):
            continue
        if isinstance(node, (ast.UnaryOp, ast.Compare, ast.BoolOp)):
            continue
        if isinstance(node, ast.BinOp):
            exp = node.right
            if isinstance(node.op, ast.Pow) and not (
                isinstance(exp, ast.Constant)
                and isinstance(exp.value, (int, float))
                and abs(exp.value) <= 64
                or isinstance(exp, ast.Name)
            ):
                return "a power that is not a small constant"
            continue
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, str) and id(node) in names:
                continue  # a Symbol's name, checked in _unsafe_call
            if isinstance(value, bool) or (isinstance(value, (int, float)) and abs(value) < 2**63):
                continue
            return f"the constant {value!r}"[:60]
        if isinstance(node, ast.Name):
            if id(node) in names or _SYMBOL.fullmatch(node.id) or node.id in _CONSTANT_NAMES:
                continue
            return f"the name {node.id!r}"
        return f"a {type(node).__name__}"
    return None


def _unsafe_call(node: ast.Call, functions: frozenset[str]) -> str | None:
    if not isinstance(node.func, ast.Name) or node.func.id not in functions:
        return f"a call of {ast.unparse(node.func)!r}"
    for k, arg in enumerate(node.args):
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            if node.func.id != "Symbol" or k != 0 or not _IDENTIFIER.fullmatch(arg.value):
                return f"the string {arg.value[:40]!r} passed to {node.func.id}"
    for kw in node.keywords:
        if kw.arg is None or not _IDENTIFIER.fullmatch(kw.arg):
            return "a ** argument"
        if not (isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, bool)):
            return f"the argument {kw.arg}= that is not True/False"
    return None


def _allowed_call_targets() -> tuple[set[Any], tuple[type, ...]]:
    from torch._ops import HigherOrderOperator, OpOverload

    plain = {
        getattr(operator, n)
        for n in (
            "getitem", "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "neg", "pos",
            "eq", "ne", "lt", "le", "gt", "ge", "and_", "or_", "not_", "abs",
        )
    }  # fmt: skip
    plain |= {math.trunc, math.ceil, math.floor, math.sqrt}
    plain |= {
        getattr(torch, n)
        for n in ("sym_int", "sym_float", "sym_ite", "sym_max", "sym_min", "sym_not", "sym_sqrt")
        if hasattr(torch, n)
    }
    plain.add(torch.autograd.grad_mode.set_grad_enabled)
    return plain, (OpOverload, HigherOrderOperator)


def _check_graph(program: torch.export.ExportedProgram, name: str) -> None:
    """Every call in the program's graphs is a PyTorch operator or a plain arithmetic builtin."""
    plain, op_types = _allowed_call_targets()
    for module in program.graph_module.modules():
        graph = getattr(module, "graph", None)
        if graph is None:
            continue
        for node in graph.nodes:
            if node.op == "call_function":
                target = node.target
                if isinstance(target, op_types) or target in plain:
                    continue
                raise UnsafeFileError(
                    f"{name}: its graph calls {getattr(target, '__qualname__', target)!r}, "
                    "which is not a PyTorch operator"
                )
            if node.op in ("call_method", "call_module"):
                raise UnsafeFileError(f"{name}: its graph has a {node.op} node ({node.target})")


# ---------------------------------------------------------------------- tensors


def load_tensor(path: str | os.PathLike[str], *, what: str = "tensor") -> torch.Tensor:
    """A tensor from ``.npy`` (``allow_pickle=False``) or ``.pt`` (``weights_only=True``).

    Args:
        path: the file.
        what: what the file is, for messages (``"input"``, ``"baseline"``).

    Raises:
        UnsafeFileError: the file holds pickled objects.
        LoadError: missing, another type, or not a tensor.
    """
    p = _check_file(path, what)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        try:
            data = np.load(p, allow_pickle=False)
        except ValueError as err:
            if "allow_pickle" in str(err):
                raise UnsafeFileError(
                    f"{what} {p} holds Python objects, which idgrad does not unpickle; "
                    "save a numeric array"
                ) from None
            raise LoadError(f"cannot read {what} {p}: {_first_line(err)}") from None
        if not isinstance(data, np.ndarray):  # pragma: no cover - .npy always holds one
            raise LoadError(f"{what} {p} holds no array")
        if data.dtype.kind not in "biuf":
            raise LoadError(f"{what} {p} has dtype {data.dtype}; expected numbers")
        return torch.from_numpy(np.ascontiguousarray(data))
    if suffix == ".pt":
        try:
            x = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - the safe unpickler raises several types
            raise UnsafeFileError(
                f"{what} {p} does not load with weights_only=True (it holds pickled Python "
                f"objects, which idgrad does not unpickle): {_first_line(err)}"
            ) from None
        if not isinstance(x, torch.Tensor):
            raise LoadError(f"{what} {p} holds a {type(x).__name__}, not a tensor")
        return x
    raise LoadError(f"{what} {p}: unsupported file type {p.suffix!r}; use .npy or .pt")
