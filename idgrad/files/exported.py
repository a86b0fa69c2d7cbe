"""``torch.export`` archives (``.pt2``), checked so that loading them runs no code from them.

``torch.export.load`` (torch 2.13) runs code from a crafted archive in several ways: it
unpickles weights and constants marked ``use_pickle`` with ``weights_only=False``, falls
back to full unpickling for sample inputs that ``weights_only`` cannot read, loads
AOTInductor shared libraries, evaluates every symbolic shape expression with
``sympy.sympify`` (``eval``), and for archives without the ``archive_format`` record
unpickles the old format; ``ExportedProgram.module()`` then ``exec``-s the archive's
guard code. :func:`load_exported_program` reads the file once, checks those bytes
(:func:`check_exported_program`), loads the same bytes, and checks that the graphs call
only PyTorch operators; build the module with ``.module(check_guards=False)``.

Example:
    >>> _unsafe_expression("Max(2, 2*s0 + 1)") is None
    True
"""

from __future__ import annotations

import ast
import inspect
import io
import json
import math
import operator
import os
import re
import zipfile
from collections.abc import Iterator
from typing import Any

import torch

from idgrad.files.loading import RE_SAVE, LoadError, UnsafeFileError, check_file, first_line

__all__ = ["check_exported_program", "load_exported_program"]


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
    p = check_file(path, "model")
    data = p.read_bytes()
    check_exported_program(data, name=str(p))
    try:
        program = torch.export.load(io.BytesIO(data))
    except Exception as err:  # noqa: BLE001 - torch raises many types for bad archives
        raise LoadError(f"cannot load exported program {p}: {first_line(err)}") from None
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
        raise LoadError(f"{name} is not a torch.export archive: {first_line(err)}") from None
    for record in records:
        if not _PT2_RECORDS.fullmatch(record):
            raise UnsafeFileError(
                f"{name} holds {record!r}, which is not plain weights and graphs (compiled "
                f"code or an unknown part); idgrad loads only what {RE_SAVE} writes"
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
                    f"({first_line(err)}); torch would unpickle it"
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
