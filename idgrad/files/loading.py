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
:class:`UnsafeFileError` (reading it would run code, or cost more than the
:class:`~idgrad.files.limits.FileLimits` allow) or :class:`LoadError`, naming the file, in one
line. What a file may cost is checked before the work: a zip-based file (``.pt2``,
TorchScript, ``torch.save``) may not declare records that inflate to more than
``FileLimits.zip_inflation`` times its size, and ``.pt2`` archives have their own limits
(:mod:`idgrad.files.exported`). The device is checked before the file is read
(:func:`check_device`), so a device that is not there is called that, and not a bad file.

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
import pickle
import re
import struct
import sys
import warnings
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from idgrad.files.limits import FileLimits, over_limit

__all__ = [
    "LoadError",
    "UnsafeFileError",
    "check_device",
    "check_zip_sizes",
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


def zip_directory(source: IO[bytes], name: str) -> list[zipfile.ZipInfo] | None:
    """The records of a zip file as its central directory lists them; None if not a zip.

    Nothing is inflated. A file that starts like a zip but whose directory cannot be read
    is refused (LoadError): another reader (torch's) might read it differently.
    """
    source.seek(0)
    magic = source.read(4)
    source.seek(0)
    if magic != b"PK\x03\x04":
        return None
    try:
        with zipfile.ZipFile(source) as z:
            return z.infolist()
    except Exception as err:  # noqa: BLE001 - a crafted directory raises many types
        raise LoadError(f"{name} is a damaged zip file: {first_line(err)}") from None
    finally:
        source.seek(0)


def check_zip_sizes(
    source: str | os.PathLike[str] | IO[bytes], name: str, limits: FileLimits | None = None
) -> None:
    """Refuse a zip whose records would cost more to inflate than they may.

    torch's zip reader allocates, for each record, the size the zip directory declares,
    and inflates its whole stream. So, before torch reads anything: the declared sizes
    together may be at most ``limits.zip_inflation`` times the file's size, and every
    compressed record is inflated once here, in chunks and with a cap, to check that it
    inflates to exactly its declared size (a header that declares 5 KB for a stream of
    300 MB is refused after 5 KB). A file that is not a zip passes (its reader says what
    it is).

    Args:
        source: a path or a binary file object (read from its start, left at its start).
        name: the file, for messages.
        limits: the limits (default: :class:`~idgrad.files.limits.FileLimits`' defaults).

    Raises:
        UnsafeFileError: it declares more than the limit allows, or a record inflates to
            more than it declares.
        LoadError: a damaged zip (unreadable directory, a stream that ends early or fails
            its checksum, a compression torch does not read).

    Example:
        >>> import io, zipfile
        >>> buf = io.BytesIO()
        >>> with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        ...     z.writestr("a/zeros", bytes(10**6))
        >>> len(buf.getvalue()) < 2000
        True
        >>> check_zip_sizes(buf, "zeros.zip")
        Traceback (most recent call last):
        ...
        idgrad.files.loading.UnsafeFileError: zeros.zip declares 1000000 bytes once inflated, ...
    """
    limits = FileLimits() if limits is None else limits
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:
            check_zip_sizes(fh, name, limits)
        return
    infos = zip_directory(source, name)
    if infos is None:
        return
    size = source.seek(0, os.SEEK_END)
    total = sum(info.file_size for info in infos)
    if total > limits.zip_inflation * max(size, 1):
        raise UnsafeFileError(
            f"{name} declares {total} bytes once inflated, {total / max(size, 1):.0f} times its "
            f"{size} bytes on disk, more than {over_limit('zip_inflation', limits)}"
        )
    try:
        for info in infos:
            _check_stream(source, info, name)
    finally:
        source.seek(0)


def _check_stream(source: IO[bytes], info: zipfile.ZipInfo, name: str) -> None:
    """One record's stream inflates to exactly its declared size (read with a cap)."""
    if info.compress_type == zipfile.ZIP_STORED:
        if info.compress_size != info.file_size:
            raise LoadError(
                f"{name} is a damaged zip file: {info.filename} is stored with "
                f"{info.compress_size} bytes but declares {info.file_size}"
            )
        return
    if info.compress_type != zipfile.ZIP_DEFLATED:
        raise LoadError(
            f"{name}: {info.filename} is compressed with zip method {info.compress_type}, "
            "which torch does not read (only stored and deflated records)"
        )
    source.seek(info.header_offset)
    local = source.read(30)
    if len(local) < 30 or local[:4] != b"PK\x03\x04":
        raise LoadError(f"{name} is a damaged zip file: no local header for {info.filename}")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    source.seek(info.header_offset + 30 + name_len + extra_len)
    stream = zlib.decompressobj(-zlib.MAX_WBITS)
    left, produced, crc = info.compress_size, 0, 0
    pending = b""
    while not stream.eof:
        if not pending:
            if left <= 0:
                break
            pending = source.read(min(left, 2**20))
            left -= len(pending)
            if not pending:
                break
        try:
            out = stream.decompress(pending, info.file_size - produced + 1)
        except zlib.error as err:
            raise LoadError(f"{name} is a damaged zip file: {info.filename}: {err}") from None
        pending = stream.unconsumed_tail
        produced += len(out)
        crc = zlib.crc32(out, crc)
        if produced > info.file_size:
            raise UnsafeFileError(
                f"{name}: {info.filename} inflates to more than the {info.file_size} bytes its "
                "zip directory declares (a header that hides what the record costs)"
            )
    if not stream.eof or produced != info.file_size or crc != info.CRC:
        raise LoadError(
            f"{name} is a damaged zip file: {info.filename} does not inflate to the "
            f"{info.file_size} bytes (and checksum) its zip directory declares"
        )


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a :class:`torch.device` that this machine has; LoadError in one line if not.

    Checked before any file is read, so that a missing GPU is called a missing GPU (and
    not a bad model file). ``meta`` is refused: it holds no weights.

    Raises:
        LoadError: not a device name, or a device this machine (or this torch) lacks.

    Example:
        >>> check_device("cpu")
        device(type='cpu')
        >>> check_device("bogus")
        Traceback (most recent call last):
        ...
        idgrad.files.loading.LoadError: device 'bogus' is not a torch device (such as cpu, ...
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise LoadError(
            f"device {str(device)!r} is not a torch device (such as cpu, cuda, cuda:1 or mps)"
        ) from None
    if dev.type == "meta":
        raise LoadError("device 'meta' holds no data; use cpu or a GPU")
    if dev.type == "cuda" and not torch.cuda.is_available():
        why = "was built without CUDA" if torch.version.cuda is None else "finds no GPU"
        raise LoadError(
            f"device {str(device)!r} is not available: this torch ({torch.__version__}) {why}; "
            "use cpu"
        )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise LoadError(f"device {str(device)!r} is not available: this machine has no MPS; use cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise LoadError(
            f"device {str(device)!r} is not available: this machine has "
            f"{torch.cuda.device_count()} CUDA device(s), cuda:0 to "
            f"cuda:{torch.cuda.device_count() - 1}"
        )
    try:
        torch.empty(0, device=dev)
    except Exception as err:  # noqa: BLE001 - torch raises AssertionError, RuntimeError, ...
        raise LoadError(f"device {str(device)!r} is not available: {first_line(err)}") from None
    return dev


# ---------------------------------------------------------------------- models


def import_factory(spec: str) -> Callable[[], Any]:
    """The function named by ``'module:function'`` (it builds the model for a state dict).

    The module is imported as Python imports it; when it is not found there, the current
    folder is searched too (as ``python -m`` does: ``--factory mynet:make_net`` finds
    ``mynet.py`` in the folder idgrad runs from). That folder is then added at the *end* of
    ``sys.path`` (and stays there, so that the module's own imports of its neighbours
    work), where it never shadows an installed module.

    Raises:
        LoadError: not of that form, or the module or the function cannot be imported
            (saying why: not found, where it was looked for, or the error its import
            raised), in one line.
    """
    module_name, _, func_name = spec.partition(":")
    if not module_name or not func_name:
        raise LoadError(f"a factory must look like 'module:function', got {spec!r}")
    module = _import_module(module_name, spec)
    try:
        build = getattr(module, func_name)
    except AttributeError:
        raise LoadError(
            f"cannot import factory {spec!r}: module {module_name!r} ({_where(module)}) has no "
            f"{func_name!r}"
        ) from None
    if not callable(build):
        raise LoadError(f"factory {spec!r} is a {type(build).__name__}, not a function")
    return build  # type: ignore[no-any-return]


def _where(module: Any) -> str:
    return str(getattr(module, "__file__", None) or "built in")


def _import_module(name: str, spec: str) -> Any:
    here = os.getcwd()
    top = name.split(".", 1)[0]
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        missing = err.name or ""
        if missing != name and not name.startswith(missing + "."):
            raise LoadError(
                f"cannot import factory {spec!r}: importing {name!r} failed: {first_line(err)}"
            ) from err  # the module was found; something it imports was not
        searched = here in sys.path or (os.path.abspath("") == here and "" in sys.path)
        local = Path(here, f"{top}.py").is_file() or Path(here, top, "__init__.py").is_file()
        if not local or searched:
            raise LoadError(
                f"cannot import factory {spec!r}: no module named {missing!r} on Python's path "
                f"or in the current folder {here}; run idgrad from the folder that holds "
                f"{top}.py, or add that folder to PYTHONPATH"
            ) from None
    except Exception as err:  # noqa: BLE001 - the module's own code failed while importing
        raise LoadError(
            f"cannot import factory {spec!r}: importing {name!r} raised "
            f"{type(err).__name__}: {first_line(err)}"
        ) from err
    sys.path.append(here)  # as python -m does, but last: it shadows no installed module
    importlib.invalidate_caches()
    try:
        return importlib.import_module(name)
    except Exception as err:  # noqa: BLE001 - the module's own code failed while importing
        raise LoadError(
            f"cannot import factory {spec!r}: importing {name!r} (from {here}) raised "
            f"{type(err).__name__}: {first_line(err)}"
        ) from err


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
        factory: for a state dict, ``'module:function'`` (see :func:`import_factory`) or a
            callable building the (untrained) model; the state dict is then loaded into it
            strictly.
        device: where the model is moved (checked by :func:`check_device`).
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
    try:  # on the CPU: the device was checked, and a failure here is the file's
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only load failed" not in str(err).lower():
            raise LoadError(f"cannot read the state dict {path}: {first_line(err)}") from None
        raise UnsafeFileError(
            f"{path} is not a state dict that loads with weights_only=True "
            f"(it holds other pickled objects): {first_line(err)}"
        ) from None
    except Exception as err:  # noqa: BLE001 - torch raises several types for damaged files
        raise LoadError(f"cannot read the state dict {path}: {first_line(err)}") from None
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


def first_line(err: BaseException) -> str:
    """The gist of an error from torch: the unpickler's reason, else the first line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()
    found = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\.|\n|$)", text)
    if found:
        return found.group(1).strip()
    return text.splitlines()[0] if text else type(err).__name__


# ---------------------------------------------------------------------- tensors


def load_tensor(
    path: str | os.PathLike[str], *, what: str = "tensor", limits: FileLimits | None = None
) -> torch.Tensor:
    """A tensor from ``.npy`` (``allow_pickle=False``) or ``.pt`` (``weights_only=True``).

    A ``.npy`` file is mapped first, so a header that declares more data than the file
    holds is refused before anything is allocated; a ``.pt`` file's zip directory is
    checked against ``limits.zip_inflation`` before torch reads it.

    Args:
        path: the file.
        what: what the file is, for messages (``"input"``, ``"baseline"``).
        limits: the most work the file may cost (default:
            :class:`~idgrad.files.limits.FileLimits`' defaults).

    Raises:
        UnsafeFileError: the file holds pickled objects, or declares more than ``limits``.
        LoadError: missing, damaged, another type, or not a tensor.
    """
    p = check_file(path, what)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        try:  # mapped: the header's shape is checked against the file's size
            data = np.load(p, mmap_mode="r", allow_pickle=False)
        except ValueError as err:
            if "allow_pickle" in str(err) or "Python objects" in str(err):
                raise UnsafeFileError(
                    f"{what} {p} holds Python objects, which idgrad does not unpickle; "
                    "save a numeric array"
                ) from None
            raise LoadError(f"cannot read {what} {p}: {first_line(err)}") from None
        except (OSError, EOFError) as err:
            raise LoadError(f"cannot read {what} {p}: {first_line(err)}") from None
        if not isinstance(data, np.ndarray):  # pragma: no cover - .npy always holds one
            raise LoadError(f"{what} {p} holds no array")
        if data.dtype.kind not in "biuf":
            raise LoadError(f"{what} {p} has dtype {data.dtype}; expected numbers")
        native = data.dtype.newbyteorder("=")  # torch reads native byte order only
        return torch.from_numpy(np.array(data, dtype=native, order="C"))
    if suffix == ".pt":
        check_zip_sizes(p, f"{what} {p}", limits)
        try:
            x = torch.load(p, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            if "weights only load failed" not in str(err).lower():
                raise LoadError(f"cannot read {what} {p}: {first_line(err)}") from None
            raise UnsafeFileError(
                f"{what} {p} does not load with weights_only=True (it holds pickled Python "
                f"objects, which idgrad does not unpickle): {first_line(err)}"
            ) from None
        except Exception as err:  # noqa: BLE001 - torch raises several types for damaged files
            raise LoadError(f"cannot read {what} {p}: {first_line(err)}") from None
        if not isinstance(x, torch.Tensor):
            raise LoadError(f"{what} {p} holds a {type(x).__name__}, not a tensor")
        return x
    raise LoadError(f"{what} {p}: unsupported file type {p.suffix!r}; use .npy or .pt")
