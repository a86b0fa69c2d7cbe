"""Quadrature rules on ``[0, 1]``, and the :class:`Schedule` value: points and weights.

A rule weighs points so that

    integral_0^1 h(alpha) d alpha  ~=  sum_k w_k h(alpha_k),     sum_k w_k = 1.

==================== ===================================== ===============
rule                 points (n of them)                    exact up to
==================== ===================================== ===============
``riemann_left``     k/n,            k = 0..n-1            degree 0
``riemann_right``    k/n,            k = 1..n              degree 0
``riemann_middle``   (k + 1/2)/n,    k = 0..n-1            degree 1
``riemann_trapezoid`` k/(n-1),       k = 0..n-1 (ends 1/2) degree 1
``gausslegendre``    Gauss-Legendre nodes on [0, 1]        degree 2n - 1
==================== ===================================== ===============

Gauss-Legendre nodes come from :func:`idgrad.engine.legendre.gauss_legendre` (O(n)).
A :class:`Schedule` holds one row per example (``(B, S)``) or one shared row (``(1, S)``),
in float64, and knows nothing about models.

Example:
    >>> s = uniform_schedule(4, "riemann_middle")
    >>> s.alphas.tolist()
    [[0.125, 0.375, 0.625, 0.875]]
    >>> float(s.weights.sum())
    1.0
"""

from __future__ import annotations

import functools
from typing import Literal, NamedTuple

import numpy as np
import torch

from idgrad.core.validation import check_int
from idgrad.engine.legendre import gauss_legendre

__all__ = [
    "RULES",
    "Rule",
    "Schedule",
    "check_rule",
    "rule_points",
    "uniform_schedule",
]

Rule = Literal[
    "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre"
]
#: The quadrature rules (``rule=``).
RULES: tuple[str, ...] = (
    "riemann_left",
    "riemann_right",
    "riemann_middle",
    "riemann_trapezoid",
    "gausslegendre",
)


class Schedule(NamedTuple):
    """Points and weights of a quadrature on ``[0, 1]``.

    Attributes:
        alphas: ``(B, S)`` or ``(1, S)`` float64 points in ``[0, 1]``.
        weights: same shape, float64, each row sums to 1.
    """

    alphas: torch.Tensor
    weights: torch.Tensor

    @property
    def n_points(self) -> int:
        """Number of points per example (``S``)."""
        return int(self.alphas.shape[-1])

    def expand(self, batch_size: int) -> Schedule:
        """Return the schedule with one row per example (``(batch_size, S)``)."""
        rows = self.alphas.shape[0]
        if rows == batch_size:
            return self
        if rows != 1:
            raise ValueError(
                f"schedule has {rows} rows; it cannot serve a batch of {batch_size} examples"
            )
        return Schedule(
            self.alphas.expand(batch_size, -1).contiguous(),
            self.weights.expand(batch_size, -1).contiguous(),
        )

    def integrate(self, values: torch.Tensor) -> torch.Tensor:
        """``sum_k w_k values[..., k]`` over the last axis (values ``(B, S)``)."""
        return (self.weights.to(values.dtype) * values).sum(-1)


def check_rule(rule: object, name: str = "rule") -> str:
    """``rule`` if it is one of :data:`RULES` (TypeError / ValueError otherwise)."""
    if not isinstance(rule, str):
        raise TypeError(f"{name} must be one of {', '.join(RULES)}, got {rule!r}")
    if rule not in RULES:
        raise ValueError(f"unknown {name} {rule!r}; expected one of {', '.join(RULES)}")
    return rule


def rule_points(n: int, rule: str = "gausslegendre") -> tuple[np.ndarray, np.ndarray]:
    """Points and weights of an ``n``-point rule on ``[0, 1]`` (float64 numpy arrays).

    Args:
        n: number of points (>= 1; >= 2 for ``riemann_trapezoid``).
        rule: one of :data:`RULES`.

    Returns:
        ``(alphas, weights)``, each of shape ``(n,)``; the weights sum to 1.

    Example:
        >>> a, w = rule_points(3, "riemann_trapezoid")
        >>> a.tolist(), w.tolist()
        ([0.0, 0.5, 1.0], [0.25, 0.5, 0.25])
    """
    n = check_int(n, "n_steps")
    check_rule(rule)
    if rule == "riemann_trapezoid" and n == 1:
        raise ValueError("riemann_trapezoid needs n_steps >= 2 (both end points)")
    alphas, weights = _rule_points(n, rule)
    return alphas.copy(), weights.copy()


@functools.lru_cache(maxsize=64)
def _rule_points(n: int, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`rule_points` without the checks, cached (read-only arrays)."""
    if rule == "riemann_left":
        alphas = np.arange(n, dtype=np.float64) / n
        weights = np.full(n, 1.0 / n)
    elif rule == "riemann_right":
        alphas = np.arange(1, n + 1, dtype=np.float64) / n
        weights = np.full(n, 1.0 / n)
    elif rule == "riemann_middle":
        alphas = (np.arange(n, dtype=np.float64) + 0.5) / n
        weights = np.full(n, 1.0 / n)
    elif rule == "riemann_trapezoid":
        alphas = np.arange(n, dtype=np.float64) / (n - 1)
        weights = np.full(n, 1.0 / (n - 1))
        weights[0] = weights[-1] = 0.5 / (n - 1)
    else:
        alphas, weights = gauss_legendre(n, interval=(0.0, 1.0))
    alphas.setflags(write=False)
    weights.setflags(write=False)
    return alphas, weights


def uniform_schedule(
    n_steps: int, rule: str = "gausslegendre", device: torch.device | str | None = None
) -> Schedule:
    """The ``n_steps``-point rule on ``[0, 1]`` as a shared ``(1, n_steps)`` schedule.

    Example:
        >>> uniform_schedule(2, "riemann_left").alphas.tolist()
        [[0.0, 0.5]]
    """
    alphas, weights = rule_points(n_steps, rule)
    return Schedule(
        torch.as_tensor(alphas, dtype=torch.float64, device=device).unsqueeze(0),
        torch.as_tensor(weights, dtype=torch.float64, device=device).unsqueeze(0),
    )
