"""The paper's pilot schedule: composite rules, budget allocation, adaptive schedules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from idgrad.engine.rules import uniform_schedule
from idgrad.engine.schedules.pilot import (
    adaptive_schedule,
    allocate_budget,
    composite_schedule,
    interval_scores,
)


def test_composite_schedule_places_points_in_their_interval() -> None:
    edges = torch.tensor([[0.0, 0.2, 0.7, 1.0]], dtype=torch.float64)
    counts = torch.tensor([[3, 1, 2]])
    s = composite_schedule(edges, counts, "gausslegendre")
    a = s.alphas[0]
    assert ((a[:3] > 0.0) & (a[:3] < 0.2)).all()
    assert 0.2 < a[3] < 0.7
    assert ((a[4:] > 0.7) & (a[4:] < 1.0)).all()
    assert float(s.weights.sum()) == pytest.approx(1.0, abs=1e-15)
    # composite GL with 3 points on [0, 0.2] integrates x^5 there exactly
    assert float((s.weights[0, :3] * a[:3] ** 5).sum()) == pytest.approx(0.2**6 / 6, rel=1e-13)
    with pytest.raises(ValueError, match="at least one point"):
        composite_schedule(edges, torch.tensor([[3, 0, 2]]))


@settings(max_examples=60, deadline=None)
@given(
    scores=st.lists(st.floats(0, 10, allow_nan=False), min_size=1, max_size=30),
    n_steps=st.integers(1, 200),
    floor=st.floats(0, 1),
)
def test_allocate_budget_is_exact(scores: list[float], n_steps: int, floor: float) -> None:
    counts = allocate_budget(torch.tensor([scores], dtype=torch.float64), n_steps, floor)
    assert counts.dtype == torch.int64
    assert int(counts.sum()) == n_steps
    assert (counts >= 0).all()
    # no count deviates from its ideal share by a full point
    share = torch.tensor(scores, dtype=torch.float64)
    total = share.sum()
    j = len(scores)
    ideal = (
        (1 - floor) * (share / total if total > 0 else torch.full((j,), 1 / j)) + floor / j
    ) * n_steps
    if total <= 0:
        ideal = torch.full((j,), n_steps / j, dtype=torch.float64)
    assert ((counts[0] - ideal).abs() < 1.0 + 1e-9).all()


def _pilots(draw_rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(draw_rows, dtype=torch.float64)


@settings(max_examples=60, deadline=None)
@given(
    n_pilot=st.integers(1, 24),
    n_steps=st.integers(1, 120),
    batch=st.integers(1, 4),
    seed=st.integers(0, 10_000),
    rule=st.sampled_from(["riemann_middle", "gausslegendre", "riemann_left"]),
)
def test_adaptive_schedule_properties(
    n_pilot: int, n_steps: int, batch: int, seed: int, rule: str
) -> None:
    g = torch.Generator().manual_seed(seed)
    # monotone-ish random pilots with steps of very different sizes, per example
    pilot = torch.cumsum(torch.rand(batch, n_pilot + 1, generator=g, dtype=torch.float64) ** 4, 1)
    s = adaptive_schedule(pilot, n_steps, rule=rule)
    assert s.alphas.shape == s.weights.shape == (batch, n_steps)  # exact budget, per example
    assert torch.allclose(s.weights.sum(1), torch.ones(batch, dtype=torch.float64), atol=1e-14)
    assert (s.weights > 0).all()
    assert ((s.alphas >= 0) & (s.alphas <= 1)).all()
    assert (s.alphas.diff(dim=1) > 0).all()
    if n_steps >= n_pilot:
        # every pilot interval holds at least one point, and every point lies in its own interval
        # (a left-rule point sits on its interval's left edge: guard the rounding)
        cells = torch.clamp((s.alphas * n_pilot + 1e-9).floor().long(), max=n_pilot - 1)
        for row in cells:
            assert set(row.tolist()) == set(range(n_pilot))
        # weights inside each interval add up to the interval's width
        for b in range(batch):
            per_cell = torch.zeros(n_pilot, dtype=torch.float64).index_add_(
                0, cells[b], s.weights[b]
            )
            assert torch.allclose(per_cell, torch.full_like(per_cell, 1 / n_pilot), atol=1e-14)


def test_adaptive_schedules_differ_per_example() -> None:
    pilot = torch.tensor([[0, 1, 1, 1, 1], [0, 0, 0, 0, 1]], dtype=torch.float64)
    s = adaptive_schedule(pilot, 20)
    assert (s.alphas[0] < 0.25).sum() > 10  # first example: change in the first quarter
    assert (s.alphas[1] > 0.75).sum() > 10  # second: in the last quarter


@pytest.mark.parametrize("n_pilot, n_steps", [(4, 8), (5, 5), (10, 50), (3, 7)])
def test_flat_pilot_gives_uniform(n_pilot: int, n_steps: int) -> None:
    flat = torch.full((2, n_pilot + 1), 3.0, dtype=torch.float64)
    s = adaptive_schedule(flat, n_steps)
    if n_steps % n_pilot == 0:
        u = uniform_schedule(n_steps, "riemann_middle").expand(2)
        assert torch.allclose(s.alphas, u.alphas, atol=1e-15)
        assert torch.allclose(s.weights, u.weights, atol=1e-15)
    else:  # as even as whole points allow: counts per interval differ by at most one
        cells = (s.alphas * n_pilot).floor().long()
        counts = torch.stack([torch.bincount(c, minlength=n_pilot) for c in cells])
        assert int(counts.max() - counts.min()) <= 1


def test_linear_pilot_gives_uniform() -> None:
    pilot = torch.linspace(0, 2, 9, dtype=torch.float64).unsqueeze(0)  # equal steps everywhere
    s = adaptive_schedule(pilot, 16)
    u = uniform_schedule(16, "riemann_middle")
    assert torch.allclose(s.alphas, u.alphas, atol=1e-15)


def test_fewer_steps_than_pilot_intervals_keeps_weights_summing_to_one() -> None:
    pilot = torch.tensor([[0.0, 0.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0]], dtype=torch.float64)
    s = adaptive_schedule(pilot, 3, floor_fraction=0.0, neighbour_fraction=0.0)
    assert s.alphas.shape == (1, 3)
    assert float(s.weights.sum()) == pytest.approx(1.0, abs=1e-15)
    assert ((s.alphas > 1 / 8) & (s.alphas < 2 / 8)).sum() == 3  # all in the changing interval


@pytest.mark.parametrize("rule", ["riemann_middle", "gausslegendre"])
def test_adaptive_converges_to_exact_integral(rule: str) -> None:
    # a sharp sigmoid path: the adaptive rule's error on integral F' must go to 0
    alpha = torch.linspace(0, 1, 17, dtype=torch.float64)
    f = lambda a: torch.sigmoid(60 * (a - 0.3))
    pilot = f(alpha).unsqueeze(0)
    exact = float(
        f(torch.tensor(1.0, dtype=torch.float64)) - f(torch.tensor(0.0, dtype=torch.float64))
    )
    errors = []
    for n in (32, 128, 512, 2048):
        s = adaptive_schedule(pilot, n, rule=rule)
        a = s.alphas[0]
        deriv = 60 * f(a) * (1 - f(a))
        errors.append(abs(float((s.weights[0] * deriv).sum()) - exact))
    assert all(errors[i + 1] < errors[i] for i in range(len(errors) - 1)), errors
    if rule == "gausslegendre":
        assert errors[-1] < 1e-12
    else:  # O(h^2): 4x the points -> asymptotically 16x smaller error
        assert errors[-1] < 2e-5 and errors[-2] / errors[-1] > 8


def test_adaptive_bad_pilot() -> None:
    with pytest.raises(ValueError, match="pilot_outputs"):
        adaptive_schedule(torch.zeros(3), 4)
    with pytest.raises(ValueError, match="NaN"):
        adaptive_schedule(torch.tensor([[0.0, float("nan")]]), 4)


def test_interval_scores_share_with_neighbours() -> None:
    pilot = torch.tensor(
        [[0.0, 0.0, 4.0, 4.0, 4.0], [1.0, 2.0, 3.0, 4.0, 5.0]], dtype=torch.float64
    )
    assert interval_scores(pilot, 0.0).tolist() == [[0.0, 4.0, 0.0, 0.0], [1.0] * 4]
    assert interval_scores(pilot, 0.5).tolist() == [[2.0, 4.0, 2.0, 0.0], [1.0] * 4]
    assert interval_scores(pilot[:, :2], 0.5).tolist() == [[0.0], [1.0]]
    with pytest.raises(ValueError, match="neighbour_fraction"):
        interval_scores(pilot, 1.5)


def test_neighbours_of_a_jump_are_not_starved() -> None:
    # all the change in one interval: its neighbours get half its density (floor aside)
    pilot = torch.tensor([[0.0, 0.0, 0.0, 0.0, 8.0, 8.0, 8.0, 8.0, 8.0]], dtype=torch.float64)
    plain = adaptive_schedule(pilot, 40, floor_fraction=0.0, neighbour_fraction=0.0)
    shared = adaptive_schedule(pilot, 40, floor_fraction=0.0)
    cells = lambda s: torch.bincount((s.alphas[0] * 8).floor().long(), minlength=8)
    assert cells(plain).tolist() == [1, 1, 1, 33, 1, 1, 1, 1]
    assert cells(shared).tolist() == [1, 1, 9, 17, 9, 1, 1, 1]


@pytest.mark.parametrize(
    "rule", ["riemann_middle", "gausslegendre", "riemann_left", "riemann_right"]
)
def test_vectorised_composite_equals_the_interval_loop(rule: str) -> None:
    from idgrad.engine.schedules.pilot import _composite_on_grid, _composite_with_gaps

    g = torch.Generator().manual_seed(3)
    counts = torch.randint(1, 9, (4, 7), generator=g).numpy()
    counts[:, -1] += 60 - counts.sum(1)  # equal totals per row (all >= 1)
    grid = np.linspace(0.0, 1.0, 8)
    a1, w1 = _composite_on_grid(grid, counts, rule)
    a2, w2 = _composite_with_gaps(grid, counts, rule)
    assert np.array_equal(a1, a2) and np.array_equal(w1, w2)
