"""idgrad.engine.maps: the graded schedule's smooth maps of [0, 1]."""

from __future__ import annotations

import numpy as np
import pytest

from idgrad.engine.maps import SinhMap, fit_map
from idgrad.engine.rules import rule_points


def _maps() -> SinhMap:
    return SinhMap(
        np.array([0.8, 0.03, 0.5, 0.0]),
        np.array([0.02, 0.005, 0.3, 0.1]),
        np.array([0.2, 0.1, 0.5, 1.0]),
    )


def test_the_distribution_runs_from_0_to_1_and_rises() -> None:
    m = _maps()
    a = np.broadcast_to(np.linspace(0.0, 1.0, 2001), (4, 2001))
    c = m.cdf(a)
    assert np.allclose(c[:, 0], 0.0, atol=1e-15) and np.allclose(c[:, -1], 1.0, atol=1e-14)
    assert (np.diff(c, axis=1) > 0).all()


def test_the_density_is_the_derivative_of_the_distribution() -> None:
    m = _maps()
    a = np.broadcast_to(np.linspace(0.01, 0.99, 99), (4, 99))
    h = 1e-6
    numeric = (m.cdf(a + h) - m.cdf(a - h)) / (2 * h)
    assert np.allclose(numeric, m.pdf(a), rtol=1e-6)


def test_the_inverse_inverts_to_rounding() -> None:
    m = _maps()
    a = np.broadcast_to(np.linspace(0.0, 1.0, 513), (4, 513))
    back = m.inverse(m.cdf(a))
    assert np.abs(back - a).max() < 1e-14


def test_floor_one_is_the_identity() -> None:
    m = SinhMap(np.array([0.3]), np.array([0.01]), np.array([1.0]))
    t = np.linspace(0.0, 1.0, 11)[None]
    assert np.abs(m.inverse(t) - t).max() < 1e-15


@pytest.mark.parametrize("k", [32, 64])
def test_gauss_legendre_through_a_map_converges_spectrally(k: int) -> None:
    # integral of 1 and of a smooth function: the map's own quadrature error vanishes fast
    m = _maps()
    t, w = rule_points(k, "gausslegendre")
    a = m.inverse(np.broadcast_to(t, (4, k)))
    weights = w / m.pdf(a)
    assert np.abs(weights.sum(1) - 1.0).max() < (1e-5 if k == 32 else 1e-11)
    exact = np.sin(1.0)
    assert np.abs((weights * np.cos(a)).sum(1) - exact).max() < (1e-5 if k == 32 else 1e-11)


def test_a_map_puts_points_where_the_kernel_is() -> None:
    m = SinhMap(np.array([0.8]), np.array([0.01]), np.array([0.2]))
    t, _ = rule_points(40, "gausslegendre")
    a = m.inverse(t[None])[0]
    assert np.mean((a > 0.75) & (a < 0.85)) > 0.3  # 10% of the path, a third of the points


def test_fit_finds_the_peak_and_leaves_flat_rows_alone() -> None:
    edges = np.broadcast_to(np.linspace(0.0, 1.0, 21), (3, 21))
    density = np.ones((3, 20))
    density[0, 4] = 100.0  # a sharp peak in [0.2, 0.25]
    density[1, 10:13] = 20.0  # a wider one in [0.5, 0.65]
    m, ok = fit_map(
        edges,
        density,
        power=1.0,
        reach=0.25,
        width_scale=0.25,
        min_floor=0.1,
        concentration=2.0,
    )
    assert ok.tolist() == [True, True, False]
    assert 0.2 < m.c[0] < 0.25 and 0.5 < m.c[1] < 0.65
    assert m.b[0] < m.b[1]  # the narrow peak gets the narrow kernel
    assert m.f[2] == 1.0  # no map: the identity
    assert 0.1 <= m.f[0] < 0.5
