"""IG vs IDG on the seed package's logistic benchmark model.

``F(x) = sigmoid(50 (x0 - 0.8)) + 0.05 x1 + 0.05 x2`` at ``x = [1, 0.5, 0.3]`` from
baseline 0: along the path the output jumps near ``alpha = 0.8`` and is flat
elsewhere. The table compares the methods at equal numbers of gradient steps:
model evaluations (gradient points + forward-only points), the honest
convergence delta and the relative L2 error against converged references (IG in
closed form; IDG with 20000 midpoint steps).

Example:
    >>> rows = logistic_table(steps=(8,))
    >>> [r.method for r in rows][:2]
    ['IG riemann_left', 'IG riemann_right']
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import NamedTuple

import torch

from idgrad.engine.rules import RULES
from idgrad.methods import integrated_decision_gradients, integrated_gradients

__all__ = ["LEGEND", "LOGISTIC_INPUT", "Row", "format_table", "logistic_model", "logistic_table"]

LOGISTIC_INPUT = torch.tensor([[1.0, 0.5, 0.3]], dtype=torch.float64)


def logistic_model(x: torch.Tensor) -> torch.Tensor:
    """``sigmoid(50 (x0 - 0.8)) + 0.05 x1 + 0.05 x2``, one scalar per example."""
    return torch.sigmoid(50 * (x[:, 0] - 0.8)) + 0.05 * x[:, 1] + 0.05 * x[:, 2]


class Row(NamedTuple):
    """One line of the demo table."""

    method: str
    steps: int
    evaluations: int
    delta: float
    rel_error: float


def _ig_exact(x: torch.Tensor) -> torch.Tensor:
    # IG of a separable model: each term's own increment
    first = torch.sigmoid(50 * (x[:, 0] - 0.8)) - torch.sigmoid(torch.tensor(-40.0, dtype=x.dtype))
    return torch.stack([first, 0.05 * x[:, 1], 0.05 * x[:, 2]], dim=1)


def logistic_table(
    steps: Sequence[int] = (10, 20, 50), n_pilot_steps: int | None = None
) -> list[Row]:
    """Rows of the comparison for each number of steps (float64)."""
    x = LOGISTIC_INPUT
    ig_ref = _ig_exact(x)
    idg_ref = integrated_decision_gradients(
        logistic_model, x, n_steps=20000, schedule="uniform", rule="riemann_middle"
    )
    rows: list[Row] = []

    def rel(a: object, ref: object) -> float:
        assert isinstance(a, torch.Tensor) and isinstance(ref, torch.Tensor)
        return float((a - ref).norm() / ref.norm())

    for n in steps:
        for rule in RULES:
            d = integrated_gradients.details(logistic_model, x, n_steps=n, rule=rule)
            rows.append(
                Row(
                    f"IG {rule}", n, d.n_evaluations, float(d.delta[0]), rel(d.attributions, ig_ref)
                )
            )
        for adaptive in (False, True):
            d = integrated_decision_gradients.details(
                logistic_model,
                x,
                n_steps=n,
                schedule="pilot" if adaptive else "uniform",
                rule="riemann_middle",  # uniform midpoints / the paper's pilot schedule
                n_pilot_steps=n_pilot_steps if adaptive else None,
            )
            name = "IDG adaptive" if adaptive else "IDG uniform"
            rows.append(
                Row(name, n, d.n_evaluations, float(d.delta[0]), rel(d.attributions, idg_ref))
            )
    return rows


#: What the columns mean, printed under the table.
LEGEND = (
    "steps: the method's n_steps; model evals: evaluations of F it made (gradient points + "
    "forward-only points); delta: sum of the attributions minus F(x) - F(x'), the quadrature "
    "error (IDG's before its rescaling); rel. error: ||A - A_ref||_2 / ||A_ref||_2 against a "
    "converged reference (IG in closed form; IDG with 20000 midpoint steps)."
)


def format_table(rows: Sequence[Row]) -> str:
    """A fixed-width text table followed by :data:`LEGEND`.

    Example:
        >>> print(format_table([Row("IG riemann_middle", 10, 12, -0.293, 0.293)]))
        ... # doctest: +ELLIPSIS
        method                 steps model evals       delta rel. error
        ---------------------------------------------------------------
        IG riemann_middle         10          12   -2.93e-01   2.93e-01
        <BLANKLINE>
        steps: the method's n_steps; ...
    """
    head = f"{'method':<22} {'steps':>5} {'model evals':>11} {'delta':>11} {'rel. error':>10}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.method:<22} {r.steps:>5} {r.evaluations:>11} {r.delta:>11.2e} {r.rel_error:>10.2e}"
        )
    lines.append("")
    lines.extend(textwrap.wrap(LEGEND, width=len(head)))
    return "\n".join(lines)
