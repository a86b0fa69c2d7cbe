"""``--target``: one default and one meaning in every command, the library's
(:mod:`idgrad.core.targets`).

Example:
    >>> parse_target("none") is None, parse_target("-1"), parse_target("label", ("label",))
    (True, -1, 'label')
"""

from __future__ import annotations

import argparse
from typing import Any

from idgrad.cli import CLIError
from idgrad.defaults import CLI_TARGET

__all__ = ["add_target_option", "parse_target", "target_message", "target_text"]


def parse_target(text: str | None, words: tuple[str, ...] = ("predicted",)) -> Any:
    """``--target`` as the library takes it (:mod:`idgrad.core.targets`), with the same meaning.

    ``none`` (or None) is ``target=None``: the model returns one scalar per example;
    one of ``words`` is passed on as it is (``predicted``: each example's predicted
    class; ``label``: each example's label); ``3`` or ``-1`` is an int (negative
    counts from the end), ``i,j,...`` a tuple index; a ``.npy`` file is its integer
    array: one index per example (``(B,)`` or ``(B, depth)``), or one entry for every
    example. Only the form of the text is checked here: the value is checked where it
    is used, by the library's rules (:class:`idgrad.core.targets.Target`), so that a bool
    or float array, a wrong length or an index out of range gets the library's error,
    in one line.
    """
    if text is None or text == "none":
        return None
    if text in words:
        return text
    if text.endswith(".npy"):
        from idgrad.files.loading import LoadError, load_tensor

        try:
            return load_tensor(text, what="target")
        except LoadError as err:
            raise CLIError(str(err)) from None
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        spelled = ", ".join(f"'{w}'" for w in ("none", *words))
        raise CLIError(
            f"--target must be {spelled}, an int, 'i,j,...' or a .npy file of ints, got {text!r}"
        ) from None
    return parts[0] if len(parts) == 1 else tuple(parts)


def add_target_option(p: argparse.ArgumentParser, words: tuple[str, ...]) -> None:
    """``--target`` with one default and one meaning in every command (:func:`target_text`)."""
    extra = ", 'label' (each example's label)" if "label" in words else ""
    p.add_argument(
        "--target",
        default=None,
        metavar="T",
        help="what to explain, as target= in Python (idgrad.core.targets): 'predicted' (each "
        "example's highest output of a (batch, classes) model)"
        f"{extra}, 'none' (the model returns one scalar per example), an int or 'i,j' for a "
        "multi-dimensional output (negative counts from the end), or a .npy file of one int "
        f"per example (or one for every example) (default: {CLI_TARGET})",
    )


def target_text(args: argparse.Namespace) -> str:
    """``--target`` as given, or the default (:data:`idgrad.defaults.CLI_TARGET`)."""
    return CLI_TARGET if args.target is None else str(args.target)


def target_message(args: argparse.Namespace, message: str) -> str:
    """An error about the target, saying what to do when the target came from the default."""
    if args.target is None:
        return (
            f"--target {CLI_TARGET} (the default): {message}; for a model that returns one "
            "scalar per example pass --target none"
        )
    return f"--target {args.target}: {message}"
