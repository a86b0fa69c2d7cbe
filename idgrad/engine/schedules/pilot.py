"""The paper's pilot schedule (Walker et al., AAAI 2024, Algorithm 1), done per example.

A forward-only pilot evaluates ``F`` at ``N + 1`` uniform points; each pilot interval's
share of the ``n_steps`` gradient points follows how much ``F`` changes across it
(:func:`interval_scores`, :func:`allocate_budget`), with a uniform floor so that no interval
starves; inside an interval a rule places its points (:func:`composite_schedule`,
:func:`adaptive_schedule`). :class:`PilotSchedule` is the policy the engine runs
(``schedule="pilot"``).

Example:
    >>> pilot = torch.tensor([[0.0, 1.0, 1.0, 1.0, 1.0]])  # all change in [0, 1/4]
    >>> s = adaptive_schedule(pilot, 8, floor_fraction=0.0, neighbour_fraction=0.0)
    >>> s.alphas.tolist()
    [[0.025, 0.075, 0.125, 0.175, 0.225, 0.375, 0.625, 0.875]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from idgrad.core.validation import check_int
from idgrad.engine.evaluator import Evaluator
from idgrad.engine.rules import Schedule, check_rule, rule_points
from idgrad.engine.schedules import Outcome
from idgrad.engine.schedules.uniform import grid_outcome

__all__ = [
    "PilotSchedule",
    "adaptive_schedule",
    "allocate_budget",
    "composite_schedule",
    "default_pilot_steps",
    "interval_scores",
]


def default_pilot_steps(n_steps: int) -> int:
    """Default pilot size ``N`` of the pilot schedule for ``n_steps`` gradient points.

    ``N = max(1, min(n_steps // 2, max(8, n_steps // 8)))``: ``N + 1`` forward-only
    evaluations (about 1/8 of the gradient points, a few percent of the time; at
    most half of them for small budgets), so every pilot interval gets a gradient
    point. Chosen from accuracy per model evaluation on EfficientNet-Lite0 and five
    photos (benchmarks/accuracy.py): at equal total evaluations a pilot of ``n/8``
    was as good as or better than ``n/4`` and ``n/16`` (the pilot points count as
    evaluations too).

    Example:
        >>> default_pilot_steps(50), default_pilot_steps(400), default_pilot_steps(5)
        (8, 50, 2)
    """
    return max(1, min(n_steps // 2, max(8, n_steps // 8)))


def composite_schedule(
    edges: torch.Tensor, counts: torch.Tensor, rule: str = "riemann_middle"
) -> Schedule:
    """Apply ``rule`` inside each interval with its own number of points.

    Interval ``j`` is ``[edges[b, j], edges[b, j + 1]]`` and receives ``counts[b, j]``
    points of ``rule``, scaled to the interval: points
    ``e_j + (e_{j+1} - e_j) * a_i`` with weights ``(e_{j+1} - e_j) * v_i``, where
    ``(a_i, v_i)`` is the rule on ``[0, 1]``. Every point lies inside its own
    interval. Every interval must receive at least one point (merge empty ones
    first), so the weights of each row sum to ``edges[-1] - edges[0]``.

    Args:
        edges: ``(B, J + 1)`` increasing interval edges.
        counts: ``(B, J)`` integer points per interval (>= 1), the same total per row.
        rule: rule inside every interval (one of :data:`RULES`).

    Example:
        >>> e = torch.tensor([[0.0, 0.5, 1.0]], dtype=torch.float64)
        >>> s = composite_schedule(e, torch.tensor([[1, 2]]))
        >>> s.alphas.tolist(), s.weights.tolist()
        ([[0.25, 0.625, 0.875]], [[0.5, 0.25, 0.25]])
    """
    edges = torch.as_tensor(edges, dtype=torch.float64)
    counts = torch.as_tensor(counts)
    if edges.ndim != 2 or counts.ndim != 2 or edges.shape[1] != counts.shape[1] + 1:
        raise ValueError(
            f"edges (B, J+1) and counts (B, J) do not match: {tuple(edges.shape)} vs "
            f"{tuple(counts.shape)}"
        )
    if (counts < 1).any():
        raise ValueError("every interval needs at least one point")
    totals = counts.sum(1)
    if (totals != totals[0]).any():
        raise ValueError("every row of counts must have the same total")
    rule_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    alphas_rows, weights_rows = [], []
    edges_np = edges.cpu().numpy()
    for b, row in enumerate(counts.cpu().numpy()):
        a_parts, w_parts = [], []
        for j, c in enumerate(row):
            c = int(c)
            if c not in rule_cache:
                rule_cache[c] = rule_points(c, rule)
            a, v = rule_cache[c]
            lo, hi = edges_np[b, j], edges_np[b, j + 1]
            a_parts.append(lo + (hi - lo) * a)
            w_parts.append((hi - lo) * v)
        alphas_rows.append(np.concatenate(a_parts))
        weights_rows.append(np.concatenate(w_parts))
    return Schedule(
        torch.as_tensor(np.stack(alphas_rows), device=edges.device),
        torch.as_tensor(np.stack(weights_rows), device=edges.device),
    )


def allocate_budget(
    scores: torch.Tensor, n_steps: int, floor_fraction: float = 0.1
) -> torch.Tensor:
    """Split ``n_steps`` points over intervals in proportion to their scores, per row.

    The share of interval ``j`` is ``(1 - f) * s_j / sum(s) + f / J`` (``f`` =
    ``floor_fraction``): proportional to the score, plus a uniform floor so that
    every interval's count grows with ``n_steps`` (no interval is starved for good,
    hence convergence to the exact integral). Rounding is by largest remainder, so
    each row sums to exactly ``n_steps``. A row whose scores are all zero gets the
    uniform share.

    Args:
        scores: ``(B, J)`` non-negative scores (e.g. ``|F(a_{j+1}) - F(a_j)|``).
        n_steps: total points per row.
        floor_fraction: weight of the uniform floor, in ``[0, 1]``.

    Returns:
        ``(B, J)`` int64 counts, each row summing to ``n_steps``.

    Example:
        >>> allocate_budget(torch.tensor([[0.0, 3.0, 1.0]]), 8, floor_fraction=0.0).tolist()
        [[0, 6, 2]]
    """
    n_steps = check_int(n_steps, "n_steps")
    if not 0.0 <= floor_fraction <= 1.0:
        raise ValueError(f"floor_fraction must be in [0, 1], got {floor_fraction}")
    s = torch.as_tensor(scores, dtype=torch.float64).detach().cpu().numpy()
    if s.ndim != 2 or s.shape[1] < 1:
        raise ValueError(f"scores must be (B, J) with J >= 1, got {tuple(s.shape)}")
    if not np.isfinite(s).all() or (s < 0).any():
        raise ValueError("scores must be finite and non-negative")
    # numpy: a handful of tiny array operations, ~10x cheaper than the same in torch
    n_intervals = s.shape[1]
    peak = s.max(1, keepdims=True)
    flat = peak <= 0
    scaled = s / np.where(flat, 1.0, peak)  # in [0, 1], no underflow
    proportional = scaled / np.maximum(scaled.sum(1, keepdims=True), 1.0)
    share = (1.0 - floor_fraction) * proportional + floor_fraction / n_intervals
    share = np.where(flat, 1.0 / n_intervals, share)
    ideal = share * n_steps
    counts = np.floor(ideal).astype(np.int64)
    missing = n_steps - counts.sum(1, keepdims=True)
    remainder = ideal - counts
    # Largest remainder; ties go to the earliest interval (stable sort).
    order = np.argsort(-remainder, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(n_intervals)[None, :].repeat(len(s), 0), axis=1)
    counts += rank < missing
    return torch.from_numpy(counts)


def interval_scores(pilot_outputs: torch.Tensor, neighbour_fraction: float = 0.5) -> torch.Tensor:
    """How much each pilot interval needs points: ``|F(j+1) - F(j)|``, shared with neighbours.

    The score of interval ``j`` is ``max(d_j, r * d_{j-1}, r * d_{j+1})`` with
    ``d_j = |F(j+1) - F(j)|`` and ``r = neighbour_fraction``: an interval next to a
    large change is never starved. The pilot sees only the net change across an
    interval; where ``F`` dips and recovers inside it (seen on real image models
    next to the decision region) ``d_j`` is small although ``F'`` is large, and the
    neighbour's share keeps points there. It also bounds the jump in point density
    between neighbouring intervals to ``1 / r``.

    Args:
        pilot_outputs: ``(B, N + 1)`` pilot values.
        neighbour_fraction: ``r`` in ``[0, 1]``; 0 gives the plain ``|F(j+1) - F(j)|``.

    Returns:
        ``(B, N)`` float64 scores.

    Example:
        >>> interval_scores(torch.tensor([[0.0, 0.0, 4.0, 4.0, 4.0]])).tolist()
        [[2.0, 4.0, 2.0, 0.0]]
    """
    if not 0.0 <= neighbour_fraction <= 1.0:
        raise ValueError(f"neighbour_fraction must be in [0, 1], got {neighbour_fraction}")
    pilot = torch.as_tensor(pilot_outputs, dtype=torch.float64).detach().cpu().numpy()
    d = np.abs(np.diff(pilot, axis=1))
    if neighbour_fraction > 0.0 and d.shape[1] > 1:
        neighbours = np.zeros_like(d)
        neighbours[:, 1:] = d[:, :-1]
        neighbours[:, :-1] = np.maximum(neighbours[:, :-1], d[:, 1:])
        d = np.maximum(d, neighbour_fraction * neighbours)
    return torch.from_numpy(d)


def adaptive_schedule(
    pilot_outputs: torch.Tensor,
    n_steps: int,
    rule: str = "riemann_middle",
    floor_fraction: float = 0.1,
    neighbour_fraction: float = 0.5,
) -> Schedule:
    """Adaptive schedule from a uniform pilot pass (IDG, Walker et al. 2024, Alg. 1).

    The pilot holds ``F`` at the ``N + 1`` uniform points ``j / N`` for each example.
    Interval ``j`` scores ``|F(j+1) - F(j)|``, raised to at least
    ``neighbour_fraction`` times its neighbours' (:func:`interval_scores`). When
    ``n_steps >= N`` every interval first gets one point, and the other
    ``n_steps - N`` are split by :func:`allocate_budget` (proportional to the score,
    with a uniform floor); otherwise all ``n_steps`` are split that way. Inside each
    interval ``rule`` places its points (midpoints by default: evenly spaced, each
    with the Riemann weight width / count), so every point lies inside its own pilot
    interval and the weights of an interval add up to its width. The span of an
    interval left without a point (only when ``n_steps < N``) is added to the
    weights of the nearest points on either side, half each. A flat pilot gives the
    uniform schedule when ``N`` divides ``n_steps``.

    The point density is proportional to the pilot's estimate of ``|F'|``, which
    the measurements of benchmarks/accuracy.py found best on real models (their
    gradients are rough along the path, so the quadrature error falls like
    ``1 / n`` and the best density is about proportional to ``|F'|``; a power
    0.5 of the score was 1.5-2x worse on EfficientNet-Lite0, 4/3 no better).

    Args:
        pilot_outputs: ``(B, N + 1)`` model outputs at ``alpha = j / N``.
        n_steps: points per example (exactly).
        rule: rule inside each interval.
        floor_fraction: uniform floor of the allocation (see :func:`allocate_budget`).
        neighbour_fraction: share of a neighbour's score an interval gets at least
            (see :func:`interval_scores`); 0 for the plain pilot differences.

    Returns:
        A ``(B, n_steps)`` schedule, weights summing to 1 per row.

    Example:
        >>> pilot = torch.tensor([[0.0, 1.0, 1.0, 1.0, 1.0]])  # all change in [0, 1/4]
        >>> s = adaptive_schedule(pilot, 8, floor_fraction=0.0, neighbour_fraction=0.0)
        >>> s.alphas.tolist()
        [[0.025, 0.075, 0.125, 0.175, 0.225, 0.375, 0.625, 0.875]]
        >>> # the neighbour of a large change gets a share:
        >>> adaptive_schedule(pilot, 8, floor_fraction=0.0).alphas.tolist()
        [[0.03125, 0.09375, 0.15625, 0.21875, 0.3125, 0.4375, 0.625, 0.875]]
    """
    pilot_outputs = torch.as_tensor(pilot_outputs)
    if pilot_outputs.ndim != 2 or pilot_outputs.shape[1] < 2:
        raise ValueError(
            f"pilot_outputs must be (B, N + 1) with N >= 1, got {tuple(pilot_outputs.shape)}"
        )
    n_steps = check_int(n_steps, "n_steps")
    _check_pilot_rule(rule)
    pilot = pilot_outputs.detach().to(torch.float64).cpu()
    if not torch.isfinite(pilot).all():
        raise ValueError("pilot outputs contain NaN or Inf")
    n_intervals = pilot.shape[1] - 1
    scores = interval_scores(pilot, neighbour_fraction)
    if n_steps > n_intervals:
        counts = 1 + allocate_budget(scores, n_steps - n_intervals, floor_fraction)
    elif n_steps == n_intervals:
        counts = torch.ones(scores.shape, dtype=torch.int64)
    else:
        counts = allocate_budget(scores, n_steps, floor_fraction)
    grid = np.linspace(0.0, 1.0, n_intervals + 1)
    counts_np = counts.numpy()
    if (counts_np > 0).all():
        alphas, weights = _composite_on_grid(grid, counts_np, rule)
    else:
        alphas, weights = _composite_with_gaps(grid, counts_np, rule)
    return Schedule(
        torch.as_tensor(alphas, device=pilot_outputs.device),
        torch.as_tensor(weights, device=pilot_outputs.device),
    )


def _composite_on_grid(
    grid: np.ndarray, counts: np.ndarray, rule: str
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised composite rule: ``counts[b, j] >= 1`` points of ``rule`` per grid interval.

    Interval ``j`` is ``[grid[j], grid[j + 1]]``.
    """
    batch, n_intervals = counts.shape
    flat = counts.reshape(-1)
    interval = np.repeat(np.tile(np.arange(n_intervals), batch), flat)
    per_point_count = np.repeat(flat, flat)
    first = np.cumsum(flat) - flat
    k = np.arange(int(flat.sum())) - np.repeat(first, flat)  # index inside the interval
    if rule == "riemann_middle":
        a = (k + 0.5) / per_point_count
        v = 1.0 / per_point_count
    else:
        sizes = np.unique(flat)
        tables = [rule_points(int(c), rule) for c in sizes]
        offset = np.zeros(int(sizes.max()) + 1, dtype=np.int64)
        offset[sizes] = np.cumsum([0] + [int(c) for c in sizes[:-1]])
        a_all = np.concatenate([t[0] for t in tables])
        v_all = np.concatenate([t[1] for t in tables])
        where = offset[per_point_count] + k
        a, v = a_all[where], v_all[where]
    lo, hi = grid[interval], grid[interval + 1]
    alphas = lo + (hi - lo) * a
    weights = (hi - lo) * v
    return alphas.reshape(batch, -1), weights.reshape(batch, -1)


def _composite_with_gaps(
    grid: np.ndarray, counts: np.ndarray, rule: str
) -> tuple[np.ndarray, np.ndarray]:
    """Composite rule where some intervals have no point: their span goes to the neighbours."""
    rule_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    alphas_rows, weights_rows = [], []
    for row in counts:
        a_parts: list[np.ndarray] = []
        w_parts: list[np.ndarray] = []
        pending = 0.0  # span of empty intervals waiting for the next point
        for j, c in enumerate(row):
            lo, hi = grid[j], grid[j + 1]
            if c == 0:
                pending += hi - lo
                continue
            if c not in rule_cache:
                rule_cache[c] = rule_points(int(c), rule)
            a, v = rule_cache[c]
            w = (hi - lo) * v
            if pending:
                if w_parts:
                    w_parts[-1][-1] += pending / 2
                    w[0] += pending / 2
                else:
                    w[0] += pending
                pending = 0.0
            a_parts.append(lo + (hi - lo) * a)
            w_parts.append(w)
        if pending:
            w_parts[-1][-1] += pending
        alphas_rows.append(np.concatenate(a_parts))
        weights_rows.append(np.concatenate(w_parts))
    return np.stack(alphas_rows), np.stack(weights_rows)


def _check_pilot_rule(rule: str) -> None:
    check_rule(rule)
    if rule == "riemann_trapezoid":
        raise ValueError(
            "the pilot schedule places points inside each pilot interval; riemann_trapezoid "
            "would evaluate shared interval ends twice: use riemann_middle or gausslegendre"
        )


@dataclass(frozen=True)
class PilotSchedule:
    """The paper's schedule: ``n_pilot_steps + 1`` forward-only pilot points, then ``n_steps``
    gradient points placed by :func:`adaptive_schedule` (``rule`` inside each pilot interval)."""

    n_steps: int
    rule: str
    n_pilot_steps: int

    def run(self, evaluator: Evaluator, needs_ends: bool) -> Outcome:
        """The pilot pass, then one pass over the adaptive schedule's points."""
        batch = evaluator.batch
        grid = torch.linspace(0.0, 1.0, self.n_pilot_steps + 1, dtype=torch.float64)
        pilot_alphas = grid.unsqueeze(0).expand(batch, -1)
        pilot_outputs = evaluator.grid_values(pilot_alphas)
        schedule = adaptive_schedule(pilot_outputs.cpu(), self.n_steps, rule=self.rule)
        return grid_outcome(
            evaluator,
            schedule.alphas.contiguous(),
            schedule.weights.contiguous(),
            needs_ends,
            forward_evals=self.n_pilot_steps + 1,
            pilot=(pilot_alphas, pilot_outputs),
        )
