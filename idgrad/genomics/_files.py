"""Writing result files without overwriting what the user did not ask to overwrite.

A file is written under a temporary name in its destination folder and then put in place:
with ``overwrite=False`` by a hard link, which fails if the name exists by then (so a file that
appeared while the work ran is not replaced either), with ``overwrite=True`` by ``os.replace``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import tempfile
from collections.abc import Iterator
from types import ModuleType


def optional_module(name: str, extra: str, what: str) -> ModuleType:
    """Import an optional package, or say which extra installs it."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise ImportError(
            f"{what} needs the package {name!r}: pip install 'idgrad[{extra}]'"
        ) from err


def check_destination(path: str | os.PathLike[str], overwrite: bool, what: str) -> str:
    """The path as a string; FileExistsError if it exists and ``overwrite`` is False."""
    out = os.fspath(path)
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be a bool, got {type(overwrite).__name__}")
    if os.path.isdir(out):
        raise IsADirectoryError(f"{what}: {out} is a folder; give a file name")
    if os.path.exists(out) and not overwrite:
        raise FileExistsError(f"{what}: {out} exists; pass overwrite=True to replace it")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{what}: the folder {folder} does not exist")
    return out


@contextlib.contextmanager
def staged(path: str, overwrite: bool, suffix: str) -> Iterator[str]:
    """Yield a temporary name beside ``path``; on success put the file there, else delete it."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".idgrad-", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield tmp
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise FileExistsError(
                    f"{path} appeared while it was being written; it was left as it is"
                ) from None
            except OSError:  # no hard links here: check, then move
                if os.path.exists(path):
                    raise FileExistsError(
                        f"{path} appeared while it was being written; it was left as it is"
                    ) from None
                os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
