"""Hostile files for the loading tests: each one runs a payload that writes a marker file.

A test makes the file, hands it to idgrad, and checks that the marker is absent (nothing
ran) and that the error names the problem. ``marker`` paths live in pytest's tmp_path.
"""

from __future__ import annotations

import builtins
import io
import json
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch


class Payload:
    """Unpickling this runs ``open(marker, 'w').write('pwned')``."""

    def __init__(self, marker: Path) -> None:
        self.code = f"open({str(marker)!r}, 'w').write('pwned')"

    def __reduce__(self) -> tuple[Any, ...]:
        return (builtins.exec, (self.code,))


def payload_code(marker: Path) -> str:
    """A Python expression that writes ``marker`` (for files that torch evaluates)."""
    return f"__import__('builtins').exec(\"open({str(marker)!r}, 'w').write('pwned')\")"


def torch_save_payload(marker: Path) -> bytes:
    """A ``torch.save`` file (zip) whose unpickling runs the payload."""
    buf = io.BytesIO()
    torch.save(Payload(marker), buf)
    return buf.getvalue()


def pickle_payload(marker: Path) -> bytes:
    """A plain pickle (old ``torch.save`` layout starts this way) that runs the payload."""
    return pickle.dumps(Payload(marker), protocol=2)


def object_npy(path: Path, marker: Path) -> Path:
    """A ``.npy`` of dtype object whose unpickling runs the payload."""
    np.save(path, np.array([Payload(marker), 1], dtype=object), allow_pickle=True)
    return path


class Linear(torch.nn.Module):
    """A small model with a parameter, a buffer and a tensor constant."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(3, 2)
        self.register_buffer("scale", torch.tensor([1.0, 2.0]))
        self.shift = torch.tensor([0.5, -0.5])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) * self.scale + self.shift


def exported_archive(path: Path) -> Path:
    """A clean ``.pt2`` of :class:`Linear` with a dynamic batch dimension."""
    program = torch.export.export(
        Linear().eval(), (torch.rand(2, 3),), dynamic_shapes=({0: torch.export.Dim("batch")},)
    )
    torch.export.save(program, str(path))
    return path


def rewrite_zip(
    src: Path,
    dst: Path,
    edit: Callable[[str, bytes], bytes],
    add: dict[str, bytes] | None = None,
) -> Path:
    """Copy a zip, passing each record through ``edit(name, data)``, and add records."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        root = zin.namelist()[0].split("/", 1)[0]
        for info in zin.infolist():
            zout.writestr(info.filename, edit(info.filename, zin.read(info.filename)))
        for name, data in (add or {}).items():
            zout.writestr(name.replace("{root}", root), data)
    return dst


def _edit_json(data: bytes, change: Callable[[Any], None]) -> bytes:
    obj = json.loads(data)
    change(obj)
    return json.dumps(obj).encode()


def crafted_archive(kind: str, clean: Path, dst: Path, marker: Path) -> Path:
    """A ``.pt2`` made from ``clean`` that runs the payload (or loads code) when torch loads it.

    Kinds: ``weight-pickle`` (a weight marked ``use_pickle``), ``constant-pickle`` (a
    constant marked ``use_pickle``), ``opaque-constant`` (a constant stored as an opaque
    pickled object), ``sample-inputs`` (sample inputs that are not weights-only, so torch
    falls back to full unpickling), ``shape-expression`` (a symbolic size that is Python
    code; torch evaluates it with sympy), ``aoti`` (an AOTInductor folder, which torch
    loads as a shared library), ``top-level`` (records outside the archive folder, which
    torch's old-format fallback unpickles).
    """

    def edit(name: str, data: bytes) -> bytes:
        if kind == "weight-pickle":
            if name.endswith("model_weights_config.json"):

                def mark(cfg: Any) -> None:
                    cfg["config"]["fc.weight"]["use_pickle"] = True

                return _edit_json(data, mark)
            if name.endswith("data/weights/weight_0"):
                return torch_save_payload(marker)
        if kind == "constant-pickle":
            if name.endswith("model_constants_config.json"):

                def mark_constant(cfg: Any) -> None:
                    for meta in cfg["config"].values():
                        meta["use_pickle"] = True

                return _edit_json(data, mark_constant)
            if name.endswith("data/constants/tensor_0"):
                return torch_save_payload(marker)
        if kind == "opaque-constant" and name.endswith("model_constants_config.json"):

            def opaque(cfg: Any) -> None:
                for meta in cfg["config"].values():
                    meta["path_name"] = "opaque_obj_0"

            return _edit_json(data, opaque)
        if kind == "sample-inputs" and "data/sample_inputs/" in name:
            return torch_save_payload(marker)
        if kind == "shape-expression" and name.endswith("models/model.json"):

            def inject(program: Any) -> None:
                stack = [program]
                while stack:
                    item = stack.pop()
                    if isinstance(item, dict) and "expr_str" in item:
                        item["expr_str"] = f"{payload_code(marker)} or {item['expr_str']}"
                        return
                    if isinstance(item, dict):
                        stack.extend(item.values())
                    elif isinstance(item, list):
                        stack.extend(item)
                raise AssertionError("the clean archive has no symbolic size")

            return _edit_json(data, inject)
        return data

    add: dict[str, bytes] = {}
    if kind == "opaque-constant":
        add["{root}/data/constants/opaque_obj_0"] = pickle_payload(marker)
    if kind == "aoti":
        add["{root}/data/aotinductor/model/model.so"] = b"\x7fELF not really"
    if kind == "top-level":
        add["version"] = b"1"
        add["serialized_state_dict.pt"] = torch_save_payload(marker)
    return rewrite_zip(clean, dst, edit, add)


def crafted_torchscript(clean: Path, dst: Path, marker: Path) -> Path:
    """A TorchScript file whose ``data.pkl`` is a Python payload pickle."""
    return rewrite_zip(
        clean,
        dst,
        lambda name, data: pickle_payload(marker) if name.endswith("/data.pkl") else data,
    )
