"""The uniform schedule: one pass with a quadrature rule of :mod:`idgrad.engine.rules`.

Every example gets the ``n_steps``-point rule on ``[0, 1]``; ``F(x')`` and ``F(x)`` are
reused from the rule's own points when it has ``alpha = 0`` or ``1`` and evaluated forward
only otherwise (only when wanted: the delta or IDG's rescaling).

Example:
    >>> UniformSchedule(4, "riemann_middle")
    UniformSchedule(n_steps=4, rule='riemann_middle')
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from idgrad.engine.evaluator import Evaluator
from idgrad.engine.rules import rule_points
from idgrad.engine.schedules import Outcome, nan_like

__all__ = ["UniformSchedule", "grid_outcome"]


@dataclass(frozen=True)
class UniformSchedule:
    """``n_steps`` points of ``rule`` on ``[0, 1]`` for every example."""

    n_steps: int
    rule: str

    def run(self, evaluator: Evaluator, needs_ends: bool) -> Outcome:
        """One pass over the rule's points (plus the missing end points when needed)."""
        a, w = rule_points(self.n_steps, self.rule)
        batch = evaluator.batch
        alphas = torch.as_tensor(a).unsqueeze(0).expand(batch, -1).contiguous()
        weights = torch.as_tensor(w).unsqueeze(0).expand(batch, -1).contiguous()
        return grid_outcome(evaluator, alphas, weights, needs_ends)


def grid_outcome(
    evaluator: Evaluator,
    alphas: torch.Tensor,
    weights: torch.Tensor,
    needs_ends: bool,
    forward_evals: int = 0,
    pilot: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> Outcome:
    """One pass over the ``(B, S)`` grid ``alphas`` with ``weights``, as an :class:`Outcome`.

    ``F(x')``/``F(x)`` come from ``pilot`` (its first and last columns) when given, else from
    the grid's own ``alpha = 0``/``1`` points, else (when ``needs_ends``) a forward-only pass.
    ``forward_evals`` counts forward-only evaluations already spent per example.
    """
    batch, size = alphas.shape
    p = evaluator.grid(alphas, weights.unsqueeze(0))
    acc = p.outputs.dtype
    has_start = bool((alphas[:, 0] == 0).all())
    has_end = bool((alphas[:, -1] == 1).all())
    if pilot is not None:
        start, end = pilot[1][:, 0], pilot[1][:, -1]
    else:
        start = p.outputs[:, 0] if has_start else nan_like(batch, acc, evaluator.device)
        end = p.outputs[:, -1] if has_end else nan_like(batch, acc, evaluator.device)
        missing = [a for a, has in ((0.0, has_start), (1.0, has_end)) if not has]
        if missing and needs_ends:
            values = evaluator.grid_values(
                torch.tensor([missing], dtype=torch.float64).expand(batch, -1)
            )
            if not has_start:
                start = values[:, 0]
            if not has_end:
                end = values[:, -1]
            forward_evals += len(missing)
    fp_sum = (
        weights.to(p.derivatives.device, torch.float64) * p.derivatives.to(torch.float64)
    ).sum(1)
    return Outcome(
        sums=p.sums[0],
        fp_sum=fp_sum,
        alphas=alphas,
        weights=weights,
        outputs=p.outputs,
        derivatives=p.derivatives,
        start=start,
        end=end,
        evaluations=torch.full((batch,), size + forward_evals, dtype=torch.int64),
        n_gradient_evals=batch * size,
        n_forward_evals=batch * forward_evals,
        pilot_alphas=None if pilot is None else pilot[0],
        pilot_outputs=None if pilot is None else pilot[1],
    )
