"""Tensors from files (inputs, baselines, targets): ``.npy`` and ``.pt``, nothing unpickled.

Example:
    >>> import tempfile, os, torch
    >>> path = os.path.join(tempfile.mkdtemp(), "x.pt")
    >>> torch.save(torch.ones(2, 3), path)
    >>> load_tensor(path).shape
    torch.Size([2, 3])
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from idgrad.files.errors import LoadError, UnsafeFileError, check_file, first_line
from idgrad.files.limits import FileLimits
from idgrad.files.zip_checks import check_zip_sizes

__all__ = ["load_tensor", "load_weights_only"]


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
        x = load_weights_only(
            p,
            f"cannot read {what} {p}",
            f"{what} {p} does not load with weights_only=True (it holds pickled Python "
            "objects, which idgrad does not unpickle)",
        )
        if not isinstance(x, torch.Tensor):
            raise LoadError(f"{what} {p} holds a {type(x).__name__}, not a tensor")
        return x
    raise LoadError(f"{what} {p}: unsupported file type {p.suffix!r}; use .npy or .pt")


def load_weights_only(path: Path, cannot_read: str, unsafe: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; its failures in one line.

    Args:
        path: a file whose zip sizes were checked
            (:func:`~idgrad.files.zip_checks.check_zip_sizes`).
        cannot_read: the message of a damaged file (LoadError), before ``": <why>"``.
        unsafe: the message of a file that holds other pickled objects (UnsafeFileError),
            before ``": <why>"``.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only load failed" not in str(err).lower():
            raise LoadError(f"{cannot_read}: {first_line(err)}") from None
        raise UnsafeFileError(f"{unsafe}: {first_line(err)}") from None
    except Exception as err:  # noqa: BLE001 - torch raises several types for damaged files
        raise LoadError(f"{cannot_read}: {first_line(err)}") from None
