"""Curves along the path or along a metric: normalised AUC, the decision region."""

from __future__ import annotations

from typing import Any

import numpy as np

from idgrad.visual._arrays import _curve

__all__ = ["decision_region", "normalized_auc"]


def normalized_auc(fractions: Any, scores: Any) -> float:
    """Area under a curve by the trapezoid rule, with the x axis rescaled to ``[0, 1]``.

    This is how insertion and deletion curves are scored: the fractions of pixels inserted or
    deleted (or step indices) are mapped linearly onto ``[0, 1]`` first, so the AUC of a
    constant score ``c`` is ``c`` whatever the number of steps.

    Args:
        fractions: Increasing x values, 1-D, at least two.
        scores: y values of the same length.

    Returns:
        The area, a Python float.

    Raises:
        ValueError: For mismatched lengths or x values that are not increasing.

    Example:
        >>> normalized_auc([0, 1, 2, 3, 4], [1.0, 1.0, 0.0, 0.0, 0.0])
        0.375
    """
    xs, ys = _curve(fractions, scores, "fractions", "scores")
    if np.any(np.diff(xs) < 0) or xs[-1] <= xs[0]:
        raise ValueError("fractions must be non-decreasing and not all equal")
    unit = (xs - xs[0]) / (xs[-1] - xs[0])
    return float(np.sum(np.diff(unit) * (ys[1:] + ys[:-1]) / 2.0))


def decision_region(
    alphas: Any,
    outputs: Any,
    start: float,
    end: float,
    *,
    low: float = 0.1,
    high: float = 0.9,
) -> tuple[float, float] | None:
    """The stretch of the path where the target output makes most of its change.

    With progress ``p(α) = (F(γ(α)) - F(x')) / (F(x) - F(x'))``, returns the first ``α`` where
    ``p`` reaches ``low`` and the first where it reaches ``high``, interpolating linearly between
    the sampled points (the endpoints ``(0, F(x'))`` and ``(1, F(x))`` are added). This is the
    region IDG up-weights and where adaptive sampling should put its points.

    Args:
        alphas: Points along the path, 1-D, in ``[0, 1]`` (any order).
        outputs: ``F(γ(α))`` at those points.
        start: ``F(x')``, the output at the baseline.
        end: ``F(x)``, the output at the input.
        low: Progress fraction that opens the region.
        high: Progress fraction that closes it.

    Returns:
        ``(alpha_low, alpha_high)``, or ``None`` when ``F(x) == F(x')`` (no decision to locate).

    Raises:
        ValueError: For mismatched arrays or ``not 0 <= low < high <= 1``.

    Example:
        >>> a = np.linspace(0, 1, 11)
        >>> lo, hi = decision_region(a, np.clip((a - 0.2) / 0.2, 0, 1), 0.0, 1.0)
        >>> round(lo, 6), round(hi, 6)
        (0.22, 0.38)
    """
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"need 0 <= low < high <= 1, got low={low}, high={high}")
    xs, ys = _curve(alphas, outputs, "alphas", "outputs")
    change = float(end) - float(start)
    if change == 0.0 or not np.isfinite(change):
        return None
    xs = np.concatenate([[0.0], xs, [1.0]])
    ys = np.concatenate([[float(start)], ys, [float(end)]])
    order = np.argsort(xs, kind="stable")
    xs, progress = xs[order], (ys[order] - float(start)) / change

    def first_crossing(level: float) -> float:
        k = int(np.argmax(progress >= level))
        if k == 0 or progress[k] == progress[k - 1]:
            return float(xs[k])
        t = (level - progress[k - 1]) / (progress[k] - progress[k - 1])
        return float(xs[k - 1] + t * (xs[k] - xs[k - 1]))

    return first_crossing(low), first_crossing(high)
