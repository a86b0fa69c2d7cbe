"""Quadrature rules and the Schedule value: weights, exactness by degree, error rates."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from idgrad.engine.rules import RULES, Schedule, check_rule, rule_points, uniform_schedule

# Highest polynomial degree each n-point rule integrates exactly on [0, 1].
EXACT_DEGREE = {
    "riemann_left": lambda n: 0,
    "riemann_right": lambda n: 0,
    "riemann_middle": lambda n: 1,
    "riemann_trapezoid": lambda n: 1,
    "gausslegendre": lambda n: 2 * n - 1,
}


def _smallest_n(rule: str) -> int:
    return 2 if rule == "riemann_trapezoid" else 1


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("n", [1, 2, 3, 7, 50, 257])
def test_weights_sum_to_one_and_points_in_unit_interval(rule: str, n: int) -> None:
    if n < _smallest_n(rule):
        with pytest.raises(ValueError, match="trapezoid"):
            rule_points(n, rule)
        return
    a, w = rule_points(n, rule)
    assert a.dtype == np.float64 and w.dtype == np.float64
    assert a.shape == w.shape == (n,)
    assert abs(w.sum() - 1.0) < 1e-14
    assert (w > 0).all()
    assert (a >= 0).all() and (a <= 1).all()
    assert (np.diff(a) > 0).all()


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_exact_on_polynomials_of_the_rule_degree(rule: str, n: int) -> None:
    a, w = rule_points(n, rule)
    degree = EXACT_DEGREE[rule](n)
    for d in range(degree + 1):
        assert abs((w * a**d).sum() - 1.0 / (d + 1)) < 1e-13, (rule, n, d)
    # ... and not exact one degree above (the bound is tight)
    d = degree + 1
    assert abs((w * a**d).sum() - 1.0 / (d + 1)) > 1e-12, (rule, n, d)


@pytest.mark.parametrize(
    "rule, order",
    [("riemann_left", 1), ("riemann_right", 1), ("riemann_middle", 2), ("riemann_trapezoid", 2)],
)
def test_error_rate_when_n_doubles(rule: str, order: int) -> None:
    f = np.exp  # integral on [0, 1] = e - 1
    exact = math.e - 1
    errors = []
    # trapezoid spacing is 1 / (n - 1): double the spacing, not the count
    counts = (17, 33, 65, 129) if rule == "riemann_trapezoid" else (16, 32, 64, 128)
    for n in counts:
        a, w = rule_points(n, rule)
        errors.append(abs((w * f(a)).sum() - exact))
    ratios = [errors[i] / errors[i + 1] for i in range(3)]
    for r in ratios:
        assert r == pytest.approx(2.0**order, rel=0.05), ratios


def test_gausslegendre_converges_spectrally() -> None:
    a, w = rule_points(8, "gausslegendre")
    assert abs((w * np.exp(a)).sum() - (math.e - 1)) < 1e-13


def test_uniform_schedule_is_shared_row_float64() -> None:
    s = uniform_schedule(5, "riemann_left")
    assert s.alphas.shape == (1, 5) and s.alphas.dtype == torch.float64
    assert s.expand(3).alphas.shape == (3, 5)
    with pytest.raises(ValueError, match="rows"):
        Schedule(torch.zeros(2, 3), torch.zeros(2, 3)).expand(4)


@pytest.mark.parametrize("bad", [0, -3])
def test_bad_counts(bad: int) -> None:
    with pytest.raises(ValueError, match="n_steps"):
        rule_points(bad, "riemann_left")
    with pytest.raises(TypeError, match="n_steps"):
        rule_points(2.5, "riemann_left")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown rule"):
        rule_points(3, "simpson")


def test_check_rule_names_the_option() -> None:
    assert check_rule("riemann_middle") == "riemann_middle"
    with pytest.raises(ValueError, match=r"unknown method 'simpson'.*gausslegendre"):
        check_rule("simpson", "method")
    with pytest.raises(TypeError, match="rule must be one of"):
        check_rule(3)


def test_rule_points_are_copies_of_the_cached_rule() -> None:
    a, w = rule_points(6, "gausslegendre")
    a[:] = 0.0
    w[:] = 0.0
    again = rule_points(6, "gausslegendre")
    assert abs(again[1].sum() - 1.0) < 1e-14 and (again[0] > 0).all()


def test_schedule_integrate_is_the_weighted_sum() -> None:
    s = uniform_schedule(3, "gausslegendre").expand(2)
    values = torch.stack([s.alphas[0] ** 5, torch.ones(3, dtype=torch.float64)])
    out = s.integrate(values)
    assert out.shape == (2,)
    assert abs(float(out[0]) - 1 / 6) < 1e-15 and abs(float(out[1]) - 1.0) < 1e-15
    assert s.n_points == 3
