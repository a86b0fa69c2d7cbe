"""Graded meshes: the spline rule on any nodes, the smooth density, node placement."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import CubicSpline, PchipInterpolator

from idgrad.engine.grading import (
    Density,
    node_cell_integrals,
    node_weights,
    pchip,
    place_nodes,
    spline_cell_integrals,
    spline_weights,
)


def _mesh(rng: np.random.Generator, n: int, power: float) -> np.ndarray:
    inner = np.sort(rng.random(n - 2) ** power)
    return np.concatenate([[0.0], inner, [1.0]])


@pytest.mark.parametrize("n", [4, 5, 6, 11, 64, 301])
@pytest.mark.parametrize("power", [1.0, 3.0])
def test_spline_weights_match_scipy_cubic_spline_integral(n: int, power: float) -> None:
    rng = np.random.default_rng(n)
    for _ in range(5):
        a = _mesh(rng, n, power)
        if np.diff(a).min() < 1e-6 * np.diff(a).max():
            continue  # both solvers lose digits on near-coincident nodes
        ref = CubicSpline(a, np.eye(n), bc_type="not-a-knot", axis=0).integrate(0.0, 1.0)
        np.testing.assert_allclose(spline_weights(a), ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n", [2, 3, 4, 7, 40])
def test_spline_weights_sum_to_one_and_degree(n: int) -> None:
    a = _mesh(np.random.default_rng(0), n, 2.0)
    w = spline_weights(a)
    assert abs(w.sum() - 1.0) < 1e-13
    degree = 1 if n == 2 else 2 if n == 3 else 3
    for k in range(degree + 1):
        assert abs(w @ a**k - 1.0 / (k + 1)) < 1e-13, k
    if n >= 5:  # not exact beyond the spline's degree
        assert abs(w @ a**5 - 1.0 / 6) > 1e-8


def test_spline_weights_small_cases() -> None:
    np.testing.assert_allclose(spline_weights(np.array([0.0, 1.0])), [0.5, 0.5])
    np.testing.assert_allclose(spline_weights(np.array([0.0, 0.5, 1.0])), [1 / 6, 4 / 6, 1 / 6])
    np.testing.assert_allclose(
        spline_weights(np.linspace(0, 1, 4)), [1 / 8, 3 / 8, 3 / 8, 1 / 8], atol=1e-15
    )


def test_spline_weights_are_the_trapezoid_rule_in_the_interior() -> None:
    """On uniform nodes the interior weights are h (what keeps rough integrands tame)."""
    w = spline_weights(np.linspace(0, 1, 41))
    np.testing.assert_allclose(w[10:-10], 1 / 40, rtol=1e-4)


def test_spline_rule_converges_like_h4_on_smooth_integrands() -> None:
    f = np.exp
    errs = []
    for n in (9, 17, 33, 65):
        a = np.linspace(0, 1, n) ** 1.5  # a graded, non-uniform mesh
        errs.append(abs(spline_weights(a) @ f(a) - (np.e - 1)))
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert (rates > 3.5).all(), rates


@pytest.mark.parametrize("bad", [np.array([0.0]), np.array([0.0, 0.5, 0.5, 1.0]), np.zeros((2, 2))])
def test_spline_weights_reject_bad_nodes(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        spline_weights(bad)


@pytest.mark.parametrize("n", [2, 3, 4, 9])
def test_cell_integrals_sum_to_the_rule_and_are_exact_for_cubics(n: int) -> None:
    a = _mesh(np.random.default_rng(3), n, 1.5)
    y = np.random.default_rng(4).random(n)
    assert abs(spline_cell_integrals(a, y).sum() - spline_weights(a) @ y) < 1e-14
    degree = 1 if n == 2 else 2 if n == 3 else 3
    cubic = a**degree
    np.testing.assert_allclose(
        spline_cell_integrals(a, cubic), np.diff(a ** (degree + 1)) / (degree + 1), atol=1e-14
    )


def test_pchip_matches_scipy_and_is_monotone() -> None:
    rng = np.random.default_rng(5)
    x = np.sort(rng.random(12))
    y = np.cumsum(rng.random(12))
    at = np.linspace(x[0], x[-1], 200)
    got = pchip(x, y, at)
    np.testing.assert_allclose(got, PchipInterpolator(x, y)(at), atol=1e-13)
    assert (np.diff(got) >= -1e-15).all()


def test_density_cdf_and_quantile() -> None:
    d = Density(np.array([0.02, 0.7]), np.array([0.01, 0.1]), np.array([3.0, 1.0]), floor=0.2)
    a = np.linspace(0, 1, 1001)
    p = d.cdf(a)
    assert p[0] == 0.0 and abs(p[-1] - 1.0) < 1e-15
    assert (np.diff(p) > 0).all()
    u = np.linspace(0, 1, 57)
    np.testing.assert_allclose(d.cdf(d.quantile(u)), u, atol=1e-14)
    # the first kernel holds 0.8 * 3/4 of the mass, nearly all of it below 0.06
    assert d.cdf(np.array([0.06]))[0] > 0.58


def test_density_without_kernels_is_uniform() -> None:
    d = Density(np.zeros(0), np.zeros(0), np.zeros(0), floor=0.0)
    np.testing.assert_allclose(d.cdf(np.array([0.25, 0.5])), [0.25, 0.5])


@pytest.mark.parametrize("total", [5, 9, 40])
def test_place_nodes_keeps_existing_nodes_and_hits_the_count(total: int) -> None:
    existing = np.array([0.0, 0.01, 0.02, 0.5, 1.0])
    d = Density(np.array([0.015]), np.array([0.01]), np.array([1.0]), floor=0.3)
    new = place_nodes(existing, d, total)
    assert len(new) == total - len(existing)
    full = np.sort(np.concatenate([existing, new]))
    assert (np.diff(full) > 0).all()
    assert full[0] == 0.0 and full[-1] == 1.0


def test_place_nodes_uniform_density_refines_a_uniform_mesh_uniformly() -> None:
    d = Density(np.zeros(0), np.zeros(0), np.zeros(0), floor=1.0)
    new = place_nodes(np.linspace(0, 1, 5), d, 17)
    np.testing.assert_allclose(
        np.sort(np.concatenate([np.linspace(0, 1, 5), new])), np.linspace(0, 1, 17), atol=1e-15
    )


def test_place_nodes_follows_the_density() -> None:
    d = Density(np.array([0.05]), np.array([0.005]), np.array([1.0]), floor=0.2)
    new = place_nodes(np.array([0.0, 1.0]), d, 102)
    # 80 % of the mass sits within ~0.05 +- 0.03: most nodes are there
    assert ((new > 0.02) & (new < 0.08)).mean() > 0.6


def test_place_nodes_rejects_too_few() -> None:
    d = Density(np.zeros(0), np.zeros(0), np.zeros(0), floor=1.0)
    with pytest.raises(ValueError):
        place_nodes(np.linspace(0, 1, 6), d, 4)


@pytest.mark.parametrize("n", [3, 4, 9, 30])
def test_natural_spline_weights_match_scipy(n: int) -> None:
    a = _mesh(np.random.default_rng(n + 1), n, 1.0)
    ref = CubicSpline(a, np.eye(n), bc_type="natural", axis=0).integrate(0.0, 1.0)
    np.testing.assert_allclose(spline_weights(a, "natural"), ref, rtol=1e-10, atol=1e-13)


def test_node_weights_fall_back_to_the_trapezoid_rule_on_lopsided_gaps() -> None:
    for lopsided in ([0.0, 0.02, 0.04, 0.5, 0.75, 1.0], [0.0, 1e-4, 0.3, 0.6, 1.0]):
        a = np.array(lopsided)
        assert np.abs(spline_weights(a)).sum() > 1.1  # the spline swings
        w = node_weights(a)
        h = np.diff(a)
        np.testing.assert_allclose(w, np.concatenate([[0], h / 2]) + np.concatenate([h / 2, [0]]))
        assert (w > 0).all() and abs(w.sum() - 1) < 1e-15
    for good in (np.linspace(0, 1, 9), np.linspace(0, 1, 30) ** 1.5):
        np.testing.assert_array_equal(node_weights(good), spline_weights(good))


def test_node_cell_integrals_follow_the_node_rule() -> None:
    for a in (np.linspace(0, 1, 9), np.array([0.0, 1e-4, 0.3, 0.6, 1.0])):
        y = np.cos(3 * a)
        assert abs(node_cell_integrals(a, y).sum() - node_weights(a) @ y) < 1e-14
