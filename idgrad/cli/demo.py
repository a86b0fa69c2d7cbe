"""``idgrad demo``: IG vs IDG on the logistic benchmark model (and more as it grows)."""

from __future__ import annotations

import argparse

from idgrad.demo.logistic import format_table, logistic_table


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    p = subparsers.add_parser(
        "demo",
        help="see IG and IDG explain models, with no downloads",
        description="Compare Integrated Gradients and Integrated Decision Gradients on the "
        "logistic benchmark model F(x) = sigmoid(50 (x0 - 0.8)) + 0.05 x1 + 0.05 x2.",
    )
    p.add_argument("--steps", type=int, nargs="+", default=[10, 20, 50], help="step counts to compare")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the comparison table."""
    print("IG vs IDG on F(x) = sigmoid(50 (x0 - 0.8)) + 0.05 x1 + 0.05 x2, x = [1, 0.5, 0.3], baseline 0")
    print("delta = sum of attributions' quadrature error on F(x) - F(x') (before IDG's rescaling)")
    print(format_table(logistic_table(args.steps)))
    return 0
