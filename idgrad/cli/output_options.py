"""Where a command writes, checked before any work: ``--out`` and ``--overwrite``.

An input is never replaced, an existing file only with ``--overwrite``
(:mod:`idgrad.ops.outputs`), and a folder must take a new file.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from idgrad.cli import CLIError
from idgrad.ops import outputs

#: How an error about an existing output says to replace it.
OVERWRITE_HINT = "pass --overwrite to replace it"

__all__ = [
    "OVERWRITE_HINT",
    "add_overwrite_option",
    "check_output_dir",
    "check_output_file",
    "inside",
    "write_output",
]


def check_output_file(
    path: Path,
    flag: str = "--out",
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> None:
    """Refuse before any work an output file that may not or cannot be written.

    An input is never replaced; an existing file only with ``--overwrite``; the folder
    must take a new file (tried, not guessed: see :func:`idgrad.ops.outputs.check_writable`).
    """
    try:
        outputs.check_output_file(
            path, overwrite=overwrite, inputs=inputs, what=flag, hint=OVERWRITE_HINT
        )
    except outputs.OutputError as err:
        raise CLIError(str(err)) from None


def check_output_dir(
    path: Path, flag: str = "--out", inputs: Iterable[str | os.PathLike[str]] = ()
) -> None:
    """Refuse before any work an output folder that is an input or cannot be written."""
    if path.exists() and not path.is_dir():
        raise CLIError(f"{flag} {path} is a file; give a folder")
    for given in inputs:
        if Path(given).exists() and inside(path, given):
            raise CLIError(
                f"{flag} {path} is inside the input folder {given}: the run's files would "
                "become part of its data; choose a folder outside it"
            )
    try:
        outputs.check_writable(path, f"{flag} {path}")
    except outputs.OutputError as err:
        raise CLIError(str(err)) from None


def inside(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (links resolved)."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    resolved, base = Path(path).resolve(), folder.resolve()
    return resolved == base or base in resolved.parents


def write_output(path: Path, write: Callable[[IO[bytes]], Any], overwrite: bool) -> None:
    """Write an output file at once (:func:`idgrad.ops.outputs.write_file`); one line on error."""
    try:
        outputs.write_file(path, write, overwrite=overwrite, hint=OVERWRITE_HINT)
    except outputs.OutputError as err:
        raise CLIError(str(err)) from None


def add_overwrite_option(p: argparse.ArgumentParser, what: str) -> None:
    """``--overwrite``: replace existing output files (never an input)."""
    p.add_argument(
        "--overwrite",
        action="store_true",
        help=f"replace {what} if it exists (default: refuse; an input file is never replaced)",
    )
