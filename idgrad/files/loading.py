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
  (:mod:`idgrad.files.exported`): no record that would be unpickled beyond ``weights_only``,
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

import importlib
import os
import re
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "LoadError",
    "UnsafeFileError",
    "import_factory",
    "load_model",
    "load_tensor",
]

#: How to save a model that idgrad reads (for messages).
RE_SAVE = "torch.export.save (with torch >= 2.8, no tensor subclasses)"


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


def check_file(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` as a Path, or LoadError when it is missing or not a file."""
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
    p = check_file(path, "model")
    kind = _model_format(p)
    if build is not None:
        if kind in ("pt2", "pt2-legacy", "torchscript"):
            raise LoadError(
                f"{p} is a {'TorchScript' if kind == 'torchscript' else 'torch.export'} "
                "model; a factory is only for a state dict"
            )
        return _load_state_dict_model(p, build, device)
    if kind == "pt2":
        from idgrad.files.exported import load_exported_program

        return load_exported_program(p).module(check_guards=False).to(device)
    if kind == "pt2-legacy":
        raise UnsafeFileError(
            f"{p} is a torch.export file in the format of torch < 2.8, which torch reads by "
            f"unpickling; save it again with {RE_SAVE}"
        )
    if kind == "torchscript":
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is asked for
                model = torch.jit.load(str(p), map_location=device)  # type: ignore[no-untyped-call]
        except Exception as err:  # noqa: BLE001 - torch raises several types for bad files
            raise LoadError(f"cannot load TorchScript model {p}: {first_line(err)}") from None
        return model.eval()
    if kind == "torch-save":
        raise UnsafeFileError(
            f"{p} is a torch.save file (a pickled model or a state dict); idgrad does not "
            "unpickle models. For a state dict, give the function that builds the model "
            "(--factory module:function); or save the model with torch.jit.save or "
            f"{RE_SAVE}"
        )
    raise LoadError(
        f"{p} is not a model file idgrad reads: save the model with torch.jit.save or "
        f"{RE_SAVE}, or pass a state dict with a factory"
    )


def _load_state_dict_model(path: Path, build: Callable[[], Any], device: str | torch.device) -> Any:
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is the file's fault
        raise UnsafeFileError(
            f"{path} is not a state dict that loads with weights_only=True "
            f"(it holds other pickled objects): {first_line(err)}"
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
            f"the state dict in {path} does not fit the factory's model: {first_line(err)}"
        ) from None
    return model.to(device).eval()


def first_line(err: BaseException) -> str:
    """The gist of an error from torch: the unpickler's reason, else the first line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()
    found = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\.|\n|$)", text)
    if found:
        return found.group(1).strip()
    return text.splitlines()[0] if text else type(err).__name__


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
    p = check_file(path, what)
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
            raise LoadError(f"cannot read {what} {p}: {first_line(err)}") from None
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
                f"objects, which idgrad does not unpickle): {first_line(err)}"
            ) from None
        if not isinstance(x, torch.Tensor):
            raise LoadError(f"{what} {p} holds a {type(x).__name__}, not a tensor")
        return x
    raise LoadError(f"{what} {p}: unsupported file type {p.suffix!r}; use .npy or .pt")
