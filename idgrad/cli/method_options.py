"""``--method``, the budget (``--steps``, ``--schedule``, ``--rule``, ``--rtol``,
``--max-evaluations``), ``--internal-batch-size`` and ``--baseline``: the method's arguments.

The words are the library's (``n_steps=``, ``schedule=``, ...), checked by its own rules
before any work; an error that names a method argument also names the flag that sets it
(:func:`with_flag`).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path
from typing import Any

from idgrad.cli import CLIError
from idgrad.cli.argparse_parts import DeprecatedAlias
from idgrad.defaults import (
    GRADED_MAX_EVALUATIONS,
    MAX_EVALUATIONS,
    N_STEPS,
    RTOL,
    RULE_AUTO,
    SCHEDULE_AUTO,
)
from idgrad.engine.rules import RULES
from idgrad.engine.schedules import SCHEDULES, make_schedule
from idgrad.methods.registry import DEPRECATED_NAMES, METHODS, get_method

__all__ = [
    "FLAGS",
    "add_internal_batch_size_option",
    "add_method_option",
    "add_steps_options",
    "budget",
    "check_budget_options",
    "parse_baseline",
    "resolve_method",
    "with_flag",
]


def add_method_option(p: argparse.ArgumentParser, default: str) -> None:
    """``--method``: a registry name (the old ``idg-pilot``/``idg-uniform`` still work)."""
    p.add_argument(
        "--method",
        default=default,
        choices=sorted(METHODS) + sorted(DEPRECATED_NAMES),
        metavar="{" + ",".join(sorted(METHODS)) + "}",
        help="attribution method",
    )


def add_steps_options(p: argparse.ArgumentParser) -> None:
    """``--steps``, ``--schedule``, ``--rule``, ``--rtol`` and ``--max-evaluations``.

    Read by :func:`check_budget_options` and :func:`budget`; the words are the library's
    (``n_steps=``, ``schedule=``, ``rule=``, ``rtol=``, ``max_evaluations=``).
    """
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="gradient points per example (default: the method's own, "
        f"{N_STEPS} for the path methods; with --rtol as many as it needs)",
    )
    p.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default=SCHEDULE_AUTO,
        help="where the points go: uniform (one rule), pilot (the IDG paper's), graded "
        "(where the integrand needs them, with an error estimate) (default: the method's "
        "own: uniform for ig, graded for idg; graded with --rtol)",
    )
    p.add_argument(
        "--rule",
        choices=RULES,
        default=RULE_AUTO,
        help="the quadrature rule of the uniform and pilot schedules (default: gausslegendre "
        "for uniform, riemann_middle inside pilot intervals)",
    )
    p.add_argument(
        "--rtol",
        type=float,
        default=RTOL,
        help="ask for an accuracy instead of --steps: points are added until the estimated "
        "relative L2 error of each example's attributions is below RTOL (the graded "
        "schedule) (default: none, a fixed number of steps)",
    )
    p.add_argument(
        "--max-evaluations",
        type=int,
        default=MAX_EVALUATIONS,
        help="the most model evaluations --rtol may spend per example "
        f"(default: {GRADED_MAX_EVALUATIONS})",
    )


def resolve_method(args: argparse.Namespace) -> None:
    """An old ``--method idg-pilot``/``idg-uniform`` as ``--method idg --schedule ...``.

    Says so on stderr (one line); refused when ``--schedule`` says otherwise.
    """
    if args.method not in DEPRECATED_NAMES:
        return
    method, schedule = DEPRECATED_NAMES[args.method]
    if args.schedule not in (None, schedule):
        raise CLIError(f"--method {args.method} is --schedule {schedule}; drop --schedule")
    print(
        f"idgrad: warning: --method {args.method} is deprecated; use --method {method} "
        f"--schedule {schedule}",
        file=sys.stderr,
    )
    args.method, args.schedule = method, schedule


def budget(args: argparse.Namespace) -> dict[str, Any]:
    """The method's keyword arguments for the budget and schedule flags given."""
    given = {
        "n_steps": args.steps,
        "schedule": args.schedule,
        "rule": args.rule,
        "rtol": args.rtol,
        "max_evaluations": args.max_evaluations,
    }
    return {name: value for name, value in given.items() if value is not None}


def check_budget_options(args: argparse.Namespace) -> None:
    """The budget and schedule flags: checked by the library's rules, before any work.

    Methods without a schedule (their path is not fixed in advance: guided-ig, agi) refuse
    ``--schedule``, ``--rule``, ``--rtol`` and ``--max-evaluations``.
    """
    resolve_method(args)
    if args.steps is not None and args.steps < 1:
        raise CLIError(f"--steps must be >= 1, got {args.steps}")
    spec = get_method(args.method)
    scheduled = {
        "--schedule": args.schedule,
        "--rule": args.rule,
        "--rtol": args.rtol,
        "--max-evaluations": args.max_evaluations,
    }
    if not spec.schedules:
        given = [flag for flag, value in scheduled.items() if value is not None]
        if given:
            with_schedules = ", ".join(name for name in sorted(METHODS) if METHODS[name].schedules)
            raise CLIError(
                f"{given[0]} is for the methods with a schedule ({with_schedules}); "
                f"--method {args.method} builds its path as it goes"
            )
        return
    try:
        make_schedule(
            schedule=args.schedule,
            rule=args.rule,
            n_steps=args.steps,
            rtol=args.rtol,
            max_evaluations=args.max_evaluations,
            default=spec.default_schedule,
        )
    except (TypeError, ValueError) as err:
        raise CLIError(with_flag(str(err))) from None


def add_internal_batch_size_option(p: argparse.ArgumentParser, old_meaning: str = "") -> None:
    """``--internal-batch-size``: path points per forward/backward pass, in every command.

    Args:
        old_meaning: for a command where ``--batch-size`` meant the same before, a
            sentence for the deprecation message: the old spelling keeps working.
    """
    p.add_argument(
        "--internal-batch-size",
        type=int,
        default=None,
        metavar="POINTS",
        help="at most this many path points per forward/backward pass: a memory bound "
        "(internal_batch_size= in Python) (default: chosen from the input size)",
    )
    if old_meaning:
        p.add_argument(
            "--batch-size",
            type=int,
            dest="internal_batch_size",
            action=DeprecatedAlias,
            new="--internal-batch-size",
            note=old_meaning,
            default=argparse.SUPPRESS,
            help=argparse.SUPPRESS,
        )


def parse_baseline(text: str | None) -> Any:
    """``--baseline``: None (the method's own), a finite number, or a .npy/.pt tensor file."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise CLIError(f"--baseline must be a finite number or a .npy/.pt file, got {text}")
        return value
    if Path(text).suffix.lower() not in (".npy", ".pt"):
        raise CLIError(f"--baseline must be a number or a .npy/.pt file, got {text!r}")
    from idgrad.files.loading import LoadError, load_tensor

    try:
        return load_tensor(text, what="baseline")
    except LoadError as err:
        raise CLIError(str(err)) from None


#: The method arguments that command-line flags set, for messages that name the argument.
FLAGS = {
    "n_steps": "--steps",
    "schedule": "--schedule",
    "rule": "--rule",
    "n_pilot_steps": "--pilot-steps",
    "rtol": "--rtol",
    "max_evaluations": "--max-evaluations",
    "internal_batch_size": "--internal-batch-size",
    "baselines": "--baseline",
}


def with_flag(message: str) -> str:
    """A library message that names a method argument, with the flag that sets it.

    Example:
        >>> with_flag("n_steps must be >= 2, got 1")
        'n_steps must be >= 2, got 1 (n_steps is --steps)'
    """
    named = [
        f"{name} is {flag}"
        for name, flag in FLAGS.items()
        if re.search(rf"(?<![\w-]){name}(?![\w-])", message)
    ]
    return f"{message} ({'; '.join(named)})" if named else message
