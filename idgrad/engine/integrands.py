"""Integrands: what a path method integrates, and how the sums become attributions.

Along a path ``gamma`` with velocity ``v = d gamma / d alpha`` and ``g = grad F(gamma(alpha))``:

    A_i = s * integral_0^1 c(alpha) g_i(alpha) v_i(alpha) d alpha

* Integrated Gradients: ``c = 1``, ``s = 1``;
* Integrated Decision Gradients: ``c = F'(alpha) = g . v`` and, with ``normalize``,
  ``s = (F(1) - F(0)) / sum_i A_i|_(s=1)`` per example, so that the attributions sum to
  ``F(x) - F(x')`` (an example whose ``F'`` vanishes at every point keeps ``s = 1`` and an
  :class:`IDGWarning` says so).

On the straight path ``v = x - x'`` is constant, so the engine integrates ``c g`` and
multiplies by ``x - x'`` once; ``multiply_by_inputs=False`` leaves that out (the
path-averaged gradient, "local" attribution). The convergence ``delta`` is always
measured before any rescaling: ``sum(A) - (F(1) - F(0))`` for IG, and the rule's error on
``integral F' = F(1) - F(0)`` for IDG (and for IG without the multiplication).

Example:
    >>> IG, IDG = Integrand(), Integrand(decision_weighted=True, normalize=True)
    >>> IG.decision_weighted, IDG.normalize
    (False, True)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from idgrad.core.guard import user_stacklevel
from idgrad.core.seam import total_attribution
from idgrad.engine.paths import Path, StraightPath
from idgrad.engine.schedules import Outcome

__all__ = ["IDGWarning", "Integrand"]


class IDGWarning(UserWarning):
    """An example's IDG attributions could not be rescaled to completeness."""


@dataclass(frozen=True)
class Integrand:
    """The factor ``c`` (1, or ``F'`` when ``decision_weighted``), the multiplication by the
    velocity, and IDG's rescaling to completeness (see the module docstring)."""

    decision_weighted: bool = False
    multiply_by_inputs: bool = True
    normalize: bool = False

    def finish(self, outcome: Outcome, path: Path) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """The attributions (accumulation dtype, one per input) and the ``(B,)`` delta."""
        change = outcome.end - outcome.start
        if isinstance(path, StraightPath):
            raw = tuple(s * d for s, d in zip(outcome.sums, path.differences()))
        else:
            raw = outcome.sums  # the velocity is inside the sums already
        result = raw if self.multiply_by_inputs else outcome.sums
        if self.decision_weighted or not self.multiply_by_inputs:
            delta = outcome.fp_sum.to(change.dtype) - change
        else:
            delta = total_attribution(raw).to(change.dtype) - change
        if self.normalize:
            scale = completeness_scale(
                total_attribution(raw).to(change.dtype), outcome.start, outcome.end
            )
            result = tuple(
                r * scale.to(r.dtype).reshape((-1,) + (1,) * (r.ndim - 1)) for r in result
            )
        return result, delta


def completeness_scale(
    raw_total: torch.Tensor, start: torch.Tensor, end: torch.Tensor, warn: bool = True
) -> torch.Tensor:
    """``(F(x) - F(x')) / raw_total`` per example; 1 (with a warning) where raw_total ~ 0.

    ``raw_total = sum_k w_k F'(alpha_k)^2 >= 0`` (IDG) vanishes only when the path derivative
    is zero at every point; below the noise floor ``(64 eps max(1, |F(x)|, |F(x')|))^2`` the
    ratio is meaningless.

    Example:
        >>> completeness_scale(torch.tensor([2.0]), torch.tensor([0.0]), torch.tensor([1.0]))
        tensor([0.5000])
    """
    eps = torch.finfo(raw_total.dtype).eps
    scale_of_f = torch.maximum(torch.ones_like(start), torch.maximum(start.abs(), end.abs()))
    degenerate = raw_total <= (64 * eps * scale_of_f) ** 2
    if warn and degenerate.any():
        rows = degenerate.nonzero().flatten().tolist()
        warnings.warn(
            f"IDG: the path derivative F'(alpha) is ~0 at every sampled point for example(s) "
            f"{rows}, so their attributions cannot be rescaled to F(x) - F(x'); they are "
            "returned unnormalised. Check the target and baseline, or use more steps.",
            IDGWarning,
            stacklevel=user_stacklevel(),
        )
    safe_total = torch.where(degenerate, torch.ones_like(raw_total), raw_total)
    return torch.where(degenerate, torch.ones_like(raw_total), (end - start) / safe_total)
