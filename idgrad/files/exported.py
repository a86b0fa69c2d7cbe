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

Every shape expression is checked by :mod:`idgrad.files.shape_expressions`; zip sizes by
:mod:`idgrad.files.zip_checks`.

Example:
    >>> check_exported_program(b"not an archive", "x.pt2")
    Traceback (most recent call last):
    ...
    idgrad.files.errors.LoadError: x.pt2 is not a torch.export archive: File is not a zip file
"""

from __future__ import annotations

import collections
import io
import json
import math
import operator
import os
import re
import zipfile
from typing import Any

import torch

from idgrad.files.errors import RE_SAVE, LoadError, UnsafeFileError, check_file, first_line
from idgrad.files.limits import FileLimits, over_limit
from idgrad.files.shape_expressions import unsafe_expression
from idgrad.files.zip_checks import check_zip_sizes

__all__ = ["check_exported_program", "load_exported_program"]


# Records a torch 2.13 ``torch.export.save`` writes (names inside the archive's root folder).
_PT2_RECORDS = re.compile(
    r"(archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id"
    r"|models/[\w.-]+\.json|extra/[^/]+"
    r"|data/weights/(weight_\d+|[\w.-]+_weights_config\.json)"
    r"|data/constants/(tensor_\d+|[\w.-]+_constants_config\.json)"
    r"|data/sample_inputs/[\w.-]+\.pt)"
)
# Records that hold tensor data (any size, bounded by the archive's inflation limit); every
# other record is JSON or a short text, bounded by ``FileLimits.pt2_json_bytes``.
_PAYLOAD = re.compile(r"data/(weights/weight_\d+|constants/tensor_\d+|sample_inputs/[\w.-]+\.pt)")


def load_exported_program(
    path: str | os.PathLike[str], *, limits: FileLimits | None = None
) -> torch.export.ExportedProgram:
    """A ``torch.export`` archive, loaded only after :func:`check_exported_program` passed.

    The file is read once; the bytes that were checked are the bytes that are loaded. Build
    the module with ``.module(check_guards=False)``: the guard code is Python source from the
    file.

    Args:
        path: the ``.pt2`` file.
        limits: the most work the file may cost (default: :class:`FileLimits`' defaults).

    Raises:
        UnsafeFileError: the archive holds something that loading would run, or that would
            cost more than ``limits``.
        LoadError: not a readable archive.
    """
    p = check_file(path, "model")
    data = p.read_bytes()
    check_exported_program(data, name=str(p), limits=limits)
    try:
        program = torch.export.load(io.BytesIO(data))
    except Exception as err:  # noqa: BLE001 - torch raises many types for bad archives
        raise LoadError(f"cannot load exported program {p}: {first_line(err)}") from None
    _check_graph(program, str(p))
    return program


def check_exported_program(
    data: bytes, name: str = "the archive", *, limits: FileLimits | None = None
) -> None:
    """Refuse a ``.pt2`` archive (its bytes) whose loading would run code from it, or cost too much.

    Checked, in this order and before torch reads anything: the sizes the zip directory
    declares (every JSON record at most ``limits.pt2_json_bytes``, the whole archive at most
    ``limits.zip_inflation`` times its size), that each compressed record inflates to no
    more than it declares (inflated with a cap), and that torch's reader sees the same
    records with the same sizes as Python's (no duplicate names, nothing for two readers
    to disagree on). Then: every record is one that ``torch.export.save`` writes (no
    AOTInductor or other compiled parts); no weight or constant is marked ``use_pickle``
    and every constant is a plain tensor; every sample-input file loads with
    ``weights_only=True`` (so torch never falls back to full unpickling); every JSON record
    is UTF-8 JSON, and every integer in the graph fits in 64 bits; every symbolic shape
    expression is arithmetic on symbols and numbers (torch evaluates them with
    ``sympy.sympify``, i.e. ``eval``) within the expression limits; and the file has no
    top-level ``version`` record (which would send a failed load down torch's unpickling
    path for old archives).

    Args:
        data: the archive's bytes.
        name: the file, for messages.
        limits: the most work the file may cost (default: :class:`FileLimits`' defaults).

    Raises:
        UnsafeFileError: naming the first offending record (and the limit it passes).
        LoadError: not a ``.pt2`` archive, or a record that is not what its name says
            (a JSON record that is not JSON).
    """
    limits = FileLimits() if limits is None else limits
    sizes = _directory(data, name, limits)
    reader = _torch_reader(data, name, sizes)
    for record in sizes:
        if not _PT2_RECORDS.fullmatch(record):
            raise UnsafeFileError(
                f"{name} holds {record!r}, which is not plain weights and graphs (compiled "
                f"code or an unknown part); idgrad loads only what {RE_SAVE} writes"
            )
    for record in sizes:
        if record.endswith("_weights_config.json") or record.endswith("_constants_config.json"):
            _check_payload_config(_json_record(reader, record, name), record, name)
        elif record.startswith("data/sample_inputs/"):
            sample = _record_bytes(reader, record, name)
            check_zip_sizes(io.BytesIO(sample), f"{name}: {record}", limits)
            try:
                torch.load(io.BytesIO(sample), weights_only=True)
            except Exception as err:  # noqa: BLE001
                raise UnsafeFileError(
                    f"{name}: {record} does not load with weights_only=True "
                    f"({first_line(err)}); torch would unpickle it"
                ) from None
        elif record.startswith("models/"):
            _check_program(_json_record(reader, record, name), record, name, limits)


def _directory(data: bytes, name: str, limits: FileLimits) -> dict[str, int]:
    """``{record: inflated size}`` as the zip directory declares it, checked against ``limits``.

    The sizes are checked before anything is inflated (torch's reader allocates what the
    directory declares); then :func:`~idgrad.files.zip_checks.check_zip_sizes` checks that
    every compressed record inflates to exactly what it declares, with a cap.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
    except Exception as err:  # noqa: BLE001 - a crafted directory raises many types
        raise LoadError(f"{name} is not a torch.export archive: {first_line(err)}") from None
    names = [info.filename for info in infos]
    top_level = [n for n in names if "/" not in n.rstrip("/")]
    if top_level:
        raise UnsafeFileError(
            f"{name} has records outside its archive folder ({', '.join(top_level[:3])}), "
            "which torch's reader for old archives would unpickle"
        )
    roots = sorted({n.split("/", 1)[0] for n in names})
    if len(roots) > 1:
        raise UnsafeFileError(
            f"{name} has records in several archive folders ({', '.join(roots[:3])}); "
            "torch.export.save writes one"
        )
    twice = sorted(n for n, k in collections.Counter(names).items() if k > 1)
    if twice:
        raise UnsafeFileError(
            f"{name} holds two records named {twice[0]!r}; zip readers disagree on which one "
            "counts, so idgrad reads neither"
        )
    sizes: dict[str, int] = {}
    for info in infos:
        record = info.filename.split("/", 1)[1]
        if not _PAYLOAD.fullmatch(record) and info.file_size > limits.pt2_json_bytes:
            raise UnsafeFileError(
                f"{name}: {record} inflates to {info.file_size} bytes (the zip directory says "
                f"so), more than {over_limit('pt2_json_bytes', limits)}"
            )
        sizes[record] = info.file_size
    check_zip_sizes(io.BytesIO(data), name, limits)
    return sizes


def _torch_reader(data: bytes, name: str, sizes: dict[str, int]) -> Any:
    """torch's own reader of the archive, after checking that it sees the records we checked."""
    try:
        reader = torch._C.PyTorchFileReader(io.BytesIO(data))
        records = reader.get_all_records()
        seen = {record: reader.get_record_size(record) for record in records}
    except Exception as err:  # noqa: BLE001 - torch raises several types for bad archives
        raise LoadError(f"{name} is not a torch.export archive: {first_line(err)}") from None
    if len(records) != len(seen) or seen != sizes:
        raise UnsafeFileError(
            f"{name}: torch's zip reader and Python's see different records or sizes in it; "
            "idgrad does not load an archive that two readers read differently"
        )
    return reader


def _record_bytes(reader: Any, record: str, name: str) -> bytes:
    """A record's bytes (its declared size was checked): LoadError if it does not inflate."""
    try:
        data: bytes = reader.get_record(record)
    except Exception as err:  # noqa: BLE001 - a damaged stream, a wrong checksum, ...
        raise LoadError(f"{name}: cannot read {record}: {first_line(err)}") from None
    return data


def _json_record(reader: Any, record: str, name: str) -> Any:
    """A JSON record of the archive, parsed; LoadError in one line if it is not JSON."""
    raw = _record_bytes(reader, record, name)
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        problem = f"not UTF-8 text (byte {err.start} is {raw[err.start : err.start + 1]!r})"
    except RecursionError:
        problem = "not JSON that can be read (it nests deeper than Python's JSON reader goes)"
    except ValueError as err:  # json.JSONDecodeError, and integers of over 4300 digits
        problem = f"not valid JSON ({first_line(err)})"
    raise LoadError(f"{name}: {record} is {problem}")


def _check_program(program: Any, record: str, name: str, limits: FileLimits) -> None:
    """Integers within 64 bits, and every shape expression safe and small."""
    expressions: set[str] = set()
    stack = [program]
    while stack:  # iteratively: no recursion limit
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "expr_str":
                    expressions.add(value if isinstance(value, str) else repr(value))
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) >= 2**64:
            raise UnsafeFileError(
                f"{name}: {record} holds the integer {str(item)[:20]}... of "
                f"{item.bit_length()} bits; sizes, strides and shape hints are 64-bit numbers"
            )
    for expr in sorted(expressions):
        problem = unsafe_expression(expr, limits)
        if problem is not None:
            raise UnsafeFileError(
                f"{name}: {record} has the shape expression {expr[:80]!r}, which {problem}"
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
