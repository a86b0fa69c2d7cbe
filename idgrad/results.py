"""Result types shared by the attribution methods."""

from __future__ import annotations

from typing import NamedTuple

import torch

from idgrad.seam import TensorOrTuple

__all__ = ["Details"]


class Details(NamedTuple):
    """Everything a path method computed, for diagnostics and plots.

    Attributes:
        attributions: same form as the inputs (tensor or tuple of tensors).
        delta: ``(B,)`` signed convergence delta: the schedule's quadrature error on
            ``integral_0^1 F'(alpha) d alpha = F(x) - F(x')`` (before any rescaling).
        alphas: ``(B, S)`` float64 points along the path.
        weights: ``(B, S)`` float64 quadrature weights (each row sums to 1).
        outputs: ``(B, S)`` target output ``F`` at the points.
        derivatives: ``(B, S)`` path derivative ``F'(alpha) = grad F . (x - x')``.
        start: ``(B,)`` ``F(x')``.
        end: ``(B,)`` ``F(x)``.
        pilot_alphas: ``(B, N + 1)`` forward-only pilot points, or None.
        pilot_outputs: ``(B, N + 1)`` ``F`` at the pilot points, or None.
        n_gradient_evals: number of forward + backward point evaluations.
        n_forward_evals: number of forward-only point evaluations (pilot, end points).
    """

    attributions: TensorOrTuple
    delta: torch.Tensor
    alphas: torch.Tensor
    weights: torch.Tensor
    outputs: torch.Tensor
    derivatives: torch.Tensor
    start: torch.Tensor
    end: torch.Tensor
    pilot_alphas: torch.Tensor | None
    pilot_outputs: torch.Tensor | None
    n_gradient_evals: int
    n_forward_evals: int

    @property
    def n_evaluations(self) -> int:
        """All model evaluations (gradient points + forward-only points)."""
        return self.n_gradient_evals + self.n_forward_evals
