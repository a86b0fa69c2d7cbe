"""Hostile files for the loading tests: each one runs a payload that writes a marker file.

A test makes the file, hands it to idgrad, and checks that the marker is absent (nothing
ran) and that the error names the problem. ``marker`` paths live in pytest's tmp_path.
"""

from __future__ import annotations

import builtins
import io
import json
import pickle
import struct
import zipfile
import zlib
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


# ---------------------------------------------------------------------- files that cost too much


def replace_expression(clean: Path, dst: Path, expr: str) -> Path:
    """``clean`` with its first symbolic size's expression (``expr_str``) replaced by ``expr``."""

    def inject(program: Any) -> None:
        stack = [program]
        while stack:
            item = stack.pop()
            if isinstance(item, dict) and "expr_str" in item:
                item["expr_str"] = expr
                return
            if isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
        raise AssertionError("the clean archive has no symbolic size")

    return rewrite_zip(
        clean,
        dst,
        lambda name, data: _edit_json(data, inject) if name.endswith("models/model.json") else data,
    )


def replace_record(clean: Path, dst: Path, record: str, data: bytes) -> Path:
    """``clean`` with the record ending in ``record`` replaced by ``data``."""
    return rewrite_zip(clean, dst, lambda name, old: data if name.endswith(record) else old)


def inflated_archive(
    clean: Path,
    dst: Path,
    size: int,
    *,
    record: str = "models/model.json",
    declared: int | None = None,
) -> Path:
    """``clean`` with ``record`` padded by spaces to ``size`` bytes (still the same JSON), deflated.

    Written in chunks: neither this function nor the file holds ``size`` bytes (300 MB
    deflate to about 300 KB). ``declared`` writes another inflated size into the zip
    directory than the record's real one (a header that lies).
    """
    chunk = b" " * 2**20
    with zipfile.ZipFile(clean) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if not info.filename.endswith(record):
                zout.writestr(info.filename, data)
                continue
            target = zipfile.ZipInfo(info.filename)
            target.compress_type = zipfile.ZIP_DEFLATED
            with zout.open(target, "w", force_zip64=size >= 2**31) as fh:
                fh.write(data)
                left = size - len(data)
                while left > 0:
                    fh.write(chunk[: min(left, len(chunk))])
                    left -= len(chunk)
    if declared is not None:
        _declare_size(dst, record, declared)
    return dst


def _declare_size(path: Path, record: str, size: int) -> None:
    """Write ``size`` as the inflated size of ``record`` in both of the zip's headers."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = next(i for i in z.infolist() if i.filename.endswith(record))
        offset = z.start_dir  # type: ignore[attr-defined]
    struct.pack_into("<I", raw, info.header_offset + 22, size)  # the local header
    while raw[offset : offset + 4] == b"PK\x01\x02":  # the central directory
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", raw, offset + 28)
        if struct.unpack_from("<I", raw, offset + 42)[0] == info.header_offset:
            struct.pack_into("<I", raw, offset + 24, size)
        offset += 46 + name_len + extra_len + comment_len
    path.write_bytes(bytes(raw))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(path: Path, width: int, height: int) -> Path:
    """A PNG of about a hundred bytes whose header declares ``width x height`` pixels."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grayscale
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )
    return path


def read_record(path: Path, record: str) -> bytes:
    """The bytes of the record ending in ``record``."""
    with zipfile.ZipFile(path) as z:
        return z.read(next(n for n in z.namelist() if n.endswith(record)))


def record_size(path: Path, record: str) -> int:
    """The inflated size of the record ending in ``record``."""
    return len(read_record(path, record))
