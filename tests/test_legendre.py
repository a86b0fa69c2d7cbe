"""Gauss-Legendre nodes and weights (idgrad.engine.legendre): exact cases, an independent
extended-precision reference, scipy, exactness on polynomials, large n, the interval map."""

from __future__ import annotations

import math
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from idgrad.engine.legendre import bessel, gauss_legendre, stieltjes

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.gauss_legendre import (  # noqa: E402
    EXTENDED,
    accuracy,
    angles,
    extended_precision_rule,
    sample_nodes,
)

EPS = float(np.finfo(np.float64).eps)
needs_extended = pytest.mark.skipif(not EXTENDED, reason="numpy's long double is float64 here")

# every n up to 200 (both switches, 20 and 40, inside), then a sample up to 1000
DENSE = list(range(1, 201))
SAMPLE = [211, 256, 331, 400, 499, 500, 512, 613, 700, 777, 853, 901, 999, 1000]


def _half(values: np.ndarray, n: int) -> np.ndarray:
    return values[::-1][: (n + 1) // 2]  # from x = 1 inwards: node k = 1 .. ceil(n/2)


# --------------------------------------------------------------------------- exact cases


def test_closed_forms() -> None:
    x, w = gauss_legendre(1)
    assert x.tolist() == [0.0] and w.tolist() == [2.0]
    x, w = gauss_legendre(2)
    np.testing.assert_allclose(x, [-1 / math.sqrt(3), 1 / math.sqrt(3)], rtol=0, atol=2e-16)
    np.testing.assert_allclose(w, [1.0, 1.0], rtol=2e-16)
    x, w = gauss_legendre(3)
    assert x[1] == 0.0 and not math.copysign(1.0, x[1]) < 0  # +0.0, not -0.0
    np.testing.assert_allclose(x, [-math.sqrt(0.6), 0.0, math.sqrt(0.6)], rtol=0, atol=2e-16)
    np.testing.assert_allclose(w, [5 / 9, 8 / 9, 5 / 9], rtol=4e-16)
    # n = 4: x^2 = (3 -+ 2 sqrt(6/5)) / 7, w = (18 +- sqrt(30)) / 36
    x, w = gauss_legendre(4)
    inner, outer = math.sqrt((3 - 2 * math.sqrt(1.2)) / 7), math.sqrt((3 + 2 * math.sqrt(1.2)) / 7)
    np.testing.assert_allclose(x, [-outer, -inner, inner, outer], rtol=0, atol=3e-16)
    big, small = (18 + math.sqrt(30)) / 36, (18 - math.sqrt(30)) / 36
    np.testing.assert_allclose(w, [small, big, big, small], rtol=1e-15)


@pytest.mark.parametrize("n", [1, 2, 3, 19, 20, 21, 39, 40, 41, 100, 1001, 10**4, 10**5 + 1])
def test_shape_order_symmetry_and_sum(n: int) -> None:
    x, w = gauss_legendre(n)
    assert x.shape == w.shape == (n,) and x.dtype == w.dtype == np.float64
    assert np.all(np.diff(x) > 0) and -1 < x[0] and x[-1] < 1
    assert np.array_equal(x, -x[::-1])  # exactly symmetric
    assert np.array_equal(w, w[::-1]) and np.all(w > 0)
    assert abs(math.fsum(w) - 2.0) <= 4 * EPS


def test_bad_input() -> None:
    for bad in (2.0, True, "3", None, np.float64(3)):
        with pytest.raises(TypeError, match="n must be an int"):
            gauss_legendre(bad)  # type: ignore[arg-type]
    for bad_n in (0, -1):
        with pytest.raises(ValueError, match="n must be >= 1"):
            gauss_legendre(bad_n)
    assert gauss_legendre(np.int64(5))[0].shape == (5,)
    for interval in ((0.0,), (0, 1, 2), "ab", (0, "1"), (False, 1), 3.0):
        with pytest.raises(TypeError, match="interval"):
            gauss_legendre(3, interval=interval)  # type: ignore[arg-type]
    for interval in ((1.0, 1.0), (1.0, 0.0), (0.0, math.inf), (math.nan, 1.0)):
        with pytest.raises(ValueError, match="interval"):
            gauss_legendre(3, interval=interval)


# --------------------------------------------------------------------------- accuracy


@needs_extended
@pytest.mark.parametrize("n", DENSE + SAMPLE)
def test_against_extended_precision_newton(n: int) -> None:
    """Every node, against Newton's method on the recurrence in 80-bit long double."""
    x, w = gauss_legendre(n)
    k = np.arange(1, (n + 1) // 2 + 1)
    xr, wr = extended_precision_rule(n, k)  # from Tricomi's guess, not from idgrad's nodes
    xh, wh = _half(x, n), _half(w, n)
    assert np.max(np.abs(xh.astype(np.longdouble) - xr)) <= 5e-16
    assert np.max(np.abs((wh.astype(np.longdouble) - wr) / wr)) <= 2e-15


@pytest.mark.parametrize("n", DENSE[::3] + SAMPLE)
def test_against_scipy(n: int) -> None:
    """Nodes to 1e-15; weights within scipy's own error (it computes them from the rounded
    node: ``1 / (P_{n-1}(x) P_n'(x))``, whose relative sensitivity to ``x`` is
    ``n |x| / (1 - x^2)``; about ``16 n eps / (1 - x^2)`` covers it for every n <= 1000)."""
    special = pytest.importorskip("scipy.special")
    x, w = gauss_legendre(n)
    xs, ws = special.roots_legendre(n)
    assert np.max(np.abs(x - xs)) <= 1e-15
    tolerance = 1e-14 + 16 * n * EPS / (1 - x * x)
    assert np.all(np.abs(w - ws) <= tolerance * w)


def test_scipy_weights_are_the_inaccurate_ones_at_the_ends() -> None:
    """At n = 1000 the end weights differ from scipy's by ~1e-8 (relative); mpmath (Newton on
    the recurrence in 50 digits) sides with idgrad, to 2e-15."""
    mp = pytest.importorskip("mpmath")
    special = pytest.importorskip("scipy.special")
    n = 1000
    x, w = gauss_legendre(n)
    xs, ws = special.roots_legendre(n)
    theta = angles(n)
    exact = {}
    with mp.workdps(50):
        for k in (1, 2, 10, 11, 500):
            th = mp.mpf(float(theta[k - 1]))
            for _ in range(3):
                c = mp.cos(th)
                p0, p1 = mp.mpf(1), c
                for j in range(1, n):
                    p0, p1 = p1, ((2 * j + 1) * c * p1 - j * p0) / (j + 1)
                dp = -n * (p0 - c * p1) / mp.sin(th)
                th -= p1 / dp
            exact[k] = (float(mp.cos(th)), float(2 / dp**2))
    for k, (xk, wk) in exact.items():
        assert abs(x[n - k] - xk) <= 3e-16
        assert abs(w[n - k] - wk) <= 2e-15 * wk
    assert abs(ws[n - 1] - exact[1][1]) > 1e-10 * exact[1][1]  # scipy's end weight
    assert abs(xs[n - 1] - exact[1][0]) <= 3e-16  # but not its node


@needs_extended
@pytest.mark.parametrize("n", [10**5, pytest.param(10**6, marks=pytest.mark.slow)])
def test_large_n_against_extended_precision_newton(n: int) -> None:
    """Both ends, both sides of the switch between the expansions, the middle."""
    x, w = gauss_legendre(n)
    ks = sample_nodes(n)
    assert {1, 10, 11, (n + 1) // 2} <= set(ks.tolist())
    xr, wr = extended_precision_rule(n, ks, angles(n)[ks - 1])
    xh, wh = _half(x, n)[ks - 1], _half(w, n)[ks - 1]
    assert np.max(np.abs(xh.astype(np.longdouble) - xr)) <= 5e-16
    assert np.max(np.abs((wh.astype(np.longdouble) - wr) / wr)) <= 2e-15


@pytest.mark.parametrize("n", [5, 19, 20, 40, 64, 150])
def test_exact_on_polynomials_of_degree_up_to_2n_minus_1(n: int) -> None:
    """sum_k w_k P_j(x_k) = 2 [j = 0] for j <= 2n - 1, and not for j = 2n."""
    x, w = gauss_legendre(n)
    p_prev, p = np.ones_like(x), x.copy()
    sums = [math.fsum(w), math.fsum(w * x)]
    for j in range(1, 2 * n):
        p_prev, p = p, ((2 * j + 1) * x * p - j * p_prev) / (j + 1)
        sums.append(math.fsum(w * p))  # P_{j+1}
    assert abs(sums[0] - 2.0) <= 4 * EPS
    assert max(abs(s) for s in sums[1 : 2 * n]) <= 20 * EPS  # |P_j| <= 1, sum w = 2
    assert abs(sums[2 * n]) > 1e-3  # degree 2n is not integrated exactly
    # monomials too: the integral of x^(2i) is 2 / (2i + 1)
    for i in range(n):
        assert abs(math.fsum(w * x ** (2 * i)) - 2 / (2 * i + 1)) <= 20 * EPS


# --------------------------------------------------------------------------- interval map


@pytest.mark.parametrize("n", [1, 2, 7, 20, 333, 10**4])
def test_unit_interval(n: int) -> None:
    x, w = gauss_legendre(n)
    a, v = gauss_legendre(n, interval=(0, 1))
    np.testing.assert_allclose(a, (x + 1) / 2, rtol=0, atol=EPS)
    assert np.array_equal(v, w / 2) and abs(math.fsum(v) - 1.0) <= 2 * EPS
    assert np.all(np.diff(a) > 0) and 0 < a[0] and a[-1] < 1
    assert np.array_equal(a[::-1][: n // 2], 1 - a[: n // 2])  # a_{n+1-k} = 1 - a_k
    if n % 2:
        assert a[n // 2] == 0.5


def test_unit_interval_keeps_small_nodes_precise() -> None:
    """``a_1 = sin^2(theta_1 / 2)`` to full relative precision, where ``(x_1 + 1) / 2`` has
    only absolute precision (n = 10^5: a_1 ~ 1.4e-10, so (x + 1) / 2 is ~1e-6 off)."""
    n = 10**5
    a, _ = gauss_legendre(n, interval=(0, 1))
    x, _ = gauss_legendre(n)
    assert abs((x[0] + 1) / 2 - a[0]) > 1e-9 * a[0]  # the naive map has lost digits
    if EXTENDED:
        xr, _ = extended_precision_rule(n, [1], angles(n)[:1])
        exact = (1 - xr[0]) / 2  # in long double: 1e-19 absolute, 4e-10 relative
        assert abs(a[0] - float(exact)) <= 1e-9 * a[0]


def test_other_intervals() -> None:
    x, w = gauss_legendre(9)
    y, v = gauss_legendre(9, interval=(2.0, 5.0))
    np.testing.assert_allclose(y, 2.0 + 3.0 * (x + 1) / 2, rtol=0, atol=4 * EPS)
    np.testing.assert_allclose(v, 1.5 * w, rtol=EPS)
    assert y[4] == 3.5 and abs(math.fsum(v) - 3.0) <= 4 * EPS
    # the integral of e^t over [2, 5] with 9 points: error ~ 3^18 / 18! / 2^17
    assert abs(math.fsum(v * np.exp(y)) - (math.exp(5) - math.exp(2))) <= 1e-12


# --------------------------------------------------------------------------- the pieces


def test_bessel_functions_and_zeros() -> None:
    mp = pytest.importorskip("mpmath")
    for z in (0.1, 2.404825557695773, 7.5, 30.0, 63.0, 150.0):
        j0, j1 = bessel._bessel_j0_j1(z)
        assert abs(j0 - float(mp.besselj(0, z))) <= EPS * 0.5
        assert abs(j1 - float(mp.besselj(1, z))) <= EPS * 0.5
    assert bessel._bessel_j0_j1(0.0) == (1.0, 0.0)
    with pytest.raises(ValueError):
        bessel._bessel_j0_j1(-1.0)
    zeros, j1 = bessel._bessel_j0_zeros(10)
    for k in range(1, 11):
        assert abs(zeros[k - 1] - float(mp.besseljzero(0, k))) <= EPS * zeros[k - 1]
        assert abs(j1[k - 1] - float(mp.besselj(1, mp.besseljzero(0, k)))) <= EPS
    # the Taylor series about the zeros, as the boundary's Newton iteration uses it
    z = zeros + np.array([0.009, -0.009] * 5)
    near0, near1 = bessel._bessel_near_zeros(z, zeros, j1)
    exact0 = np.array([bessel._bessel_j0_j1(float(t))[0] for t in z])
    exact1 = np.array([bessel._bessel_j0_j1(float(t))[1] for t in z])
    assert np.max(np.abs(near0 - exact0)) <= 2 * EPS and np.max(np.abs(near1 - exact1)) <= 2 * EPS
    with pytest.raises(RuntimeError, match="left its Bessel zero"):
        bessel._bessel_near_zeros(zeros + 0.1, zeros, j1)


def test_expansion_coefficients() -> None:
    """Spot values of the derived series (by hand from the recurrences of the docstring)."""
    a, b = bessel._bessel_expansion_series()
    # b_0 = (1 - theta cot theta) / (8 theta) = theta/24 + theta^3/360 + theta^5/3780 + ...
    assert b[0][:6] == (0, Fraction(1, 24), 0, Fraction(1, 360), 0, Fraction(1, 3780))
    # a_1' = -(b_0'' + psi b_0) / 2 with psi = 2 b_0', so a_1 = -(b_0' + b_0^2) / 2 (a_1(0) = -1/48)
    assert a[1][0] == Fraction(-1, 48)
    for t in (0.1, 0.5, 0.9):
        b0 = (1 - t / math.tan(t)) / (8 * t)
        b0_der = ((t / math.sin(t)) ** 2 - 1) / (8 * t * t)
        assert abs(sum(float(c) * t**j for j, c in enumerate(b[0])) - b0) <= 1e-16
        a1 = sum(float(c) * t**j for j, c in enumerate(a[1]))
        assert abs(a1 + (b0_der + b0 * b0) / 2) <= 1e-14  # the closed forms cancel digits
    # every a_s is even, every b_s odd
    assert all(c == 0 for s in a for c in s[1::2]) and all(c == 0 for s in b for c in s[::2])
    # Gamma(x + 1/4) / Gamma(x + 3/4) = x^(-1/2) exp(-1/(64 x^2) + 5/(2048 x^4) - ...)
    c = stieltjes._gamma_ratio_coefficients()
    assert c[0] == 1 / 64 and c[1] == -5 / 2048
    mp = pytest.importorskip("mpmath")
    for x in (20.75, 40.75, 1000.75):
        log_ratio = -0.5 * math.log(x) - sum(cj / x ** (2 * j + 2) for j, cj in enumerate(c))
        with mp.workdps(30):
            exact = mp.loggamma(mp.mpf(x) + 0.25) - mp.loggamma(mp.mpf(x) + 0.75)
            assert abs(float(mp.mpf(log_ratio) - exact)) <= 2 * EPS * abs(log_ratio)


def test_stieltjes_terms_stay_bounded() -> None:
    """The interior's cost per node does not grow with n (O(n) overall)."""
    terms = [
        stieltjes._stieltjes_terms(n, math.pi * (4 * 11 - 1) / (4 * n + 2))
        for n in (40, 10**3, 10**6, 10**9)
    ]
    assert max(terms) <= 17 and terms[-1] == terms[-2]


def test_benchmark_accuracy_helper_agrees() -> None:
    """The benchmark's accuracy table on a small case (what its script reports)."""
    pytest.importorskip("scipy.special")
    e = accuracy(30, all_nodes=True, scipy_max=100)
    assert e["x_scipy"] <= 1e-15 and abs(e["sum"]) <= 4 * EPS
    if EXTENDED:
        assert e["x_ref"] <= 5e-16 and e["w_ref"] <= 2e-15


def test_benchmark_smoke(tmp_path: Path) -> None:
    pytest.importorskip("scipy.special")
    from benchmarks.gauss_legendre import main

    text = main(["--smoke", "--out", str(tmp_path)])
    assert (tmp_path / "gauss_legendre.md").read_text() == text
    assert "Load average" in text and "| 1,000 |" in text and "| 200 |" in text
    assert "**missed**" not in text
