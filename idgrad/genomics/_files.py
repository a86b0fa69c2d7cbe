"""Result files of idgrad.genomics, under the rules of :mod:`idgrad.ops.outputs`.

Where an output goes is checked before any work (:func:`~idgrad.ops.outputs.check_output_file`:
an existing file is replaced only with ``overwrite=True``, an input never), and a file is
written under a temporary name beside its destination and then put in place: without
``overwrite`` by a hard link, which fails if the name appeared meanwhile, with it by
``os.replace``. :func:`staged` is that step for writers that want a path rather than a file
object (HDF5, bigWig); :func:`~idgrad.ops.outputs.write_file` is the same for file objects.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import tempfile
from collections.abc import Iterator
from types import ModuleType

from idgrad.ops.extras import install_hint
from idgrad.ops.outputs import OutputError, check_output_file

__all__ = ["OutputError", "check_destination", "optional_module", "staged"]

_HINT = "pass overwrite=True to replace it"


def optional_module(name: str, extra: str, what: str) -> ModuleType:
    """Import an optional package, or say which extra installs it."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise ImportError(f"{what} needs the package {name!r}: {install_hint(extra)}") from err


def check_destination(
    path: str | os.PathLike[str],
    overwrite: bool,
    what: str,
    inputs: tuple[str | os.PathLike[str], ...] = (),
) -> str:
    """The path as a string, once :func:`~idgrad.ops.outputs.check_output_file` accepts it."""
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be a bool, got {type(overwrite).__name__}")
    out = os.fspath(path)
    if not os.path.isdir(os.path.dirname(os.path.abspath(out))):
        folder = os.path.dirname(os.path.abspath(out))
        raise OutputError(f"{what}: the folder {folder} does not exist")
    check_output_file(out, overwrite=overwrite, inputs=inputs, what=what, hint=_HINT)
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
                raise OutputError(f"{path} exists; {_HINT}") from None
            except OSError:  # no hard links on this file system: check, then move
                if os.path.lexists(path):
                    raise OutputError(f"{path} exists; {_HINT}") from None
                os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
