"""The ``idgrad`` command line: one subcommand per module, no logic of its own.

Each subcommand module exposes ``register(subparsers)``, which adds its parser and
sets ``func`` to a function ``(args) -> int`` that calls the library.

Example:
    >>> main(["--version"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from idgrad import __version__

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

#: Subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS: tuple[str, ...] = ("demo", "explain", "dataset")


class CLIError(Exception):
    """A user-facing error: printed as ``idgrad: error: ...`` with exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="idgrad",
        description="Integrated Decision Gradients and exact path attributions for PyTorch.",
    )
    parser.add_argument("--version", action="version", version=f"idgrad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"idgrad.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"idgrad.cli.{name}":
                continue  # subcommand not available in this build
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CLIError as err:
        print(f"idgrad: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
