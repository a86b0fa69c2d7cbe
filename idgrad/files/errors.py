"""The errors of :mod:`idgrad.files`, their one-line messages, and the first check of every reader.

Every reader of a user's file raises :class:`LoadError` (the file cannot be read as what it
was given for) or :class:`UnsafeFileError` (reading it would run code from it, or cost more
than the :class:`~idgrad.files.limits.FileLimits` allow), in one line that names the file.

Example:
    >>> issubclass(UnsafeFileError, LoadError), issubclass(LoadError, ValueError)
    (True, True)
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["RE_SAVE", "LoadError", "UnsafeFileError", "check_file", "first_line"]

#: How to save a model that idgrad reads (for messages).
RE_SAVE = "torch.export.save (with torch >= 2.8, no tensor subclasses)"


class LoadError(ValueError):
    """A file that cannot be read as what it was given for."""


class UnsafeFileError(LoadError):
    """A file that idgrad refuses to read because reading it would run code from it."""


def check_file(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` as a Path, or LoadError when it is missing or not a file."""
    p = Path(path)
    if not p.exists():
        raise LoadError(f"{what} file not found: {p}")
    if not p.is_file():
        raise LoadError(f"{what} is not a file: {p}")
    return p


def first_line(err: BaseException) -> str:
    """The gist of an error from torch: the unpickler's reason, else the first line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()
    found = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\.|\n|$)", text)
    if found:
        return found.group(1).strip()
    return text.splitlines()[0] if text else type(err).__name__
