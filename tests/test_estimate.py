"""idgrad.engine.estimate: error estimates of a Gauss-Legendre rule from projections."""

from __future__ import annotations

import numpy as np
import pytest

from idgrad.engine.estimate import estimate_errors, legendre_coefficients
from idgrad.engine.rules import rule_points


def test_coefficients_of_a_polynomial_are_exact() -> None:
    t, w = rule_points(8, "gausslegendre")
    x = 2 * t - 1
    # 3 P_0 + 2 P_2 - P_5
    p = 3 + 2 * (3 * x**2 - 1) / 2 - (63 * x**5 - 70 * x**3 + 15 * x) / 8
    c = legendre_coefficients(w, p[None, :, None])[0, :, 0]
    expected = np.zeros(8)
    expected[[0, 2, 5]] = [3, 2, -1]
    assert np.abs(c - expected).max() < 1e-13


def _smooth_samples(k: int, width: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Projections of a smooth vector integrand (sigmoid bumps of a given width)."""
    t, w = rule_points(k, "gausslegendre")
    rng = np.random.default_rng(0)
    centres = rng.uniform(0.3, 0.7, size=16)
    f = 1 / np.cosh((t[:, None] - centres[None]) / width) ** 2  # (k, 16)
    return t, w, f[None]


@pytest.mark.parametrize(("k", "width"), [(16, 0.2), (24, 0.1), (32, 0.1)])
def test_smooth_estimates_bound_the_error(k: int, width: float) -> None:
    t, w, f = _smooth_samples(k, width)
    fine_t, fine_w, fine = _smooth_samples(512, width)
    err = np.linalg.norm(w @ f[0] - fine_w @ fine[0]) / np.linalg.norm(fine_w @ fine[0])
    est, smooth = estimate_errors(w, f, eps=2.2e-16)
    assert bool(smooth[0])
    assert est[0] >= err
    assert est[0] < 1e4 * max(err, 1e-14)  # cautious, not vacuous


def test_rough_estimates_are_within_3x_of_the_error() -> None:
    # many features, each a staircase with jumps at random places (a ReLU network's gradient)
    rng = np.random.default_rng(1)
    features, jumps = 400, 30
    places = rng.uniform(0, 1, size=(features, jumps))
    sizes = rng.normal(size=(features, jumps))
    projection = rng.normal(size=(features, 32)) / np.sqrt(32)

    def integrand(t: np.ndarray) -> np.ndarray:
        return ((t[:, None, None] > places[None]) * sizes[None]).sum(2)  # (k, features)

    exact = ((1 - places) * sizes).sum(1)
    for k in (32, 64, 128):
        t, w = rule_points(k, "gausslegendre")
        u = integrand(t)
        err = np.linalg.norm(w @ u - exact) / np.linalg.norm(exact)
        est, smooth = estimate_errors(w, (u @ projection)[None], eps=2.2e-16)
        assert not bool(smooth[0])
        assert err / 3 <= est[0] <= 3 * err


def test_the_normaliser_adds_its_own_error() -> None:
    t, w, f = _smooth_samples(16, 0.1)
    alone, _ = estimate_errors(w, f, eps=2.2e-16)
    rough = (t > 0.37).astype(float)[None]  # a step: a rough scalar
    both, _ = estimate_errors(w, f, eps=2.2e-16, normaliser=rough)
    assert both[0] > alone[0]


def test_the_floor_is_the_rounding_level() -> None:
    t, w = rule_points(32, "gausslegendre")
    constant = np.ones((1, 32, 4))
    est, _ = estimate_errors(w, constant, eps=1.2e-7)
    assert 1e-7 <= est[0] < 1e-4
