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
* **state dicts**: ``torch.load(weights_only=True)`` into the model a factory builds
  (:mod:`idgrad.files.factories`);
* **tensors** (:mod:`idgrad.files.tensors`): ``.npy`` with ``allow_pickle=False``, ``.pt``
  with ``weights_only=True``.

The format of a model file is read from its content, not its name. Everything else raises
:class:`~idgrad.files.errors.UnsafeFileError` (reading it would run code, or cost more than
the :class:`~idgrad.files.limits.FileLimits` allow) or :class:`~idgrad.files.errors.LoadError`,
naming the file, in one line. What a file may cost is checked before the work: a zip-based
file (``.pt2``, TorchScript, ``torch.save``) may not declare records that inflate to more
than ``FileLimits.zip_inflation`` times its size (:mod:`idgrad.files.zip_checks`), and
``.pt2`` archives have their own limits (:mod:`idgrad.files.exported`). The device is checked
before the file is read (:func:`~idgrad.files.devices.check_device`), so a device that is not
there is called that, and not a bad file.

Example:
    >>> import tempfile, os, torch
    >>> path = os.path.join(tempfile.mkdtemp(), "net.pt")
    >>> torch.save(torch.nn.Linear(3, 2).state_dict(), path)
    >>> model = load_model(path, factory=lambda: torch.nn.Linear(3, 2))
    >>> model(torch.ones(1, 3)).shape, model.training
    (torch.Size([1, 2]), False)
"""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from idgrad.files.devices import check_device
from idgrad.files.errors import RE_SAVE, LoadError, UnsafeFileError, check_file, first_line
from idgrad.files.factories import import_factory
from idgrad.files.limits import FileLimits
from idgrad.files.tensors import load_tensor as load_tensor
from idgrad.files.tensors import load_weights_only
from idgrad.files.zip_checks import check_zip_sizes
from idgrad.files.zip_checks import zip_directory as zip_directory

# Every name this module defined before its split stays importable from it (load_tensor and
# zip_directory only for that); each is documented in its own module now.
__all__ = ["load_model"]


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


def load_model(
    path: str | os.PathLike[str],
    *,
    factory: str | Callable[[], Any] | None = None,
    device: str | torch.device = "cpu",
    limits: FileLimits | None = None,
) -> Any:
    """A model from a TorchScript file, a ``.pt2`` archive, or a state dict and a factory.

    The device and the factory are checked first, then the file (its format from its
    content, its declared sizes against ``limits``), and only then is it read.

    Args:
        path: the model file; its format is read from its content.
        factory: for a state dict, ``'module:function'`` (see
            :func:`~idgrad.files.factories.import_factory`) or a callable building the
            (untrained) model; the state dict is then loaded into it strictly.
        device: where the model is moved (checked by :func:`~idgrad.files.devices.check_device`).
        limits: the most work the file may cost (default:
            :class:`~idgrad.files.limits.FileLimits`' defaults); raise one for a file you
            trust, e.g. ``limits=FileLimits(pt2_json_bytes=2**30)``.

    Returns:
        The model (TorchScript and state-dict models in eval mode).

    Raises:
        UnsafeFileError: reading the file would run code from it (a pickled model, an
            archive with pickled or compiled parts), or cost more than ``limits``.
        LoadError: a device this machine lacks, a factory that cannot be imported or that
            raises, a missing or unreadable file, or a state dict without a factory.
    """
    dev = check_device(device)
    build = import_factory(factory) if isinstance(factory, str) else factory
    limits = FileLimits() if limits is None else limits
    p = check_file(path, "model")
    kind = _model_format(p)
    if build is not None:
        if kind in ("pt2", "pt2-legacy", "torchscript"):
            raise LoadError(
                f"{p} is a {'TorchScript' if kind == 'torchscript' else 'torch.export'} "
                "model; a factory is only for a state dict"
            )
        name = factory if isinstance(factory, str) else _callable_name(build)
        return _load_state_dict_model(p, build, name, dev, limits)
    if kind == "pt2":
        from idgrad.files.exported import load_exported_program

        module = load_exported_program(p, limits=limits).module(check_guards=False)
        return _to_device(module, dev, p)
    if kind == "pt2-legacy":
        raise UnsafeFileError(
            f"{p} is a torch.export file in the format of torch < 2.8, which torch reads by "
            f"unpickling; save it again with {RE_SAVE}"
        )
    if kind == "torchscript":
        check_zip_sizes(p, str(p), limits)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is asked for
                model = torch.jit.load(str(p), map_location=dev)  # type: ignore[no-untyped-call]
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


def _callable_name(build: Callable[[], Any]) -> str:
    module = getattr(build, "__module__", None)
    qualname = getattr(build, "__qualname__", None)
    return f"{module}:{qualname}" if module and qualname else repr(build)


def _to_device(model: Any, dev: torch.device, path: Path) -> Any:
    try:
        return model.to(dev)
    except Exception as err:  # noqa: BLE001 - out of memory, a device that went away, ...
        raise LoadError(f"cannot move the model of {path} to {dev}: {first_line(err)}") from None


def _load_state_dict_model(
    path: Path, build: Callable[[], Any], name: str, dev: torch.device, limits: FileLimits
) -> Any:
    check_zip_sizes(path, str(path), limits)
    state = load_weights_only(  # on the CPU: the device was checked, a failure is the file's
        path,
        f"cannot read the state dict {path}",
        f"{path} is not a state dict that loads with weights_only=True "
        "(it holds other pickled objects)",
    )
    if not isinstance(state, dict):
        raise LoadError(f"{path} holds a {type(state).__name__}, not a state dict")
    try:
        model = build()
    except Exception as err:  # noqa: BLE001 - the user's function; its error, in one line
        raise LoadError(
            f"the factory {name} raised {type(err).__name__}: {first_line(err)}"
        ) from err
    if not isinstance(model, torch.nn.Module):
        raise LoadError(
            f"the factory {name} returned a {type(model).__name__}, not a torch.nn.Module"
        )
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise LoadError(
            f"the state dict in {path} does not fit the factory's model: {first_line(err)}"
        ) from None
    return _to_device(model, dev, path).eval()
