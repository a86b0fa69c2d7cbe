"""Gauss-Legendre boundary nodes (1 .. 10; 1 .. 6 below ``n = 40``): a Bessel-type expansion.

``u = sqrt(sin theta) P_n(cos theta)`` solves ``u'' + (rho^2 + 1 / (4 sin^2 theta)) u = 0`` and
``V = sqrt(theta) J_0(rho theta)`` solves ``V'' + (rho^2 + 1 / (4 theta^2)) V = 0``. Putting
``u = A V + B V'`` and collecting powers of ``rho`` gives an expansion of Bessel type (as in
Olver, *Asymptotics and Special Functions*, chapter 12):

    A = sum_{s <= 6} a_s(theta) rho^(-2s),    B = sum_{s < 6} b_s(theta) rho^(-2s-2),
    a_0 = 1,   b_s' = (a_s'' + psi a_s - (theta b_{s-1}' - b_{s-1}) / (2 theta^3)) / 2,
    a_{s+1}' = -(b_s'' + psi b_s) / 2,    b_s(0) = 0,    a_{s+1}(0) = -b_s'(0) / 2,
    psi = (1 / sin^2 theta - 1 / theta^2) / 4,

where ``a_s(0)`` makes ``P_n(1) = 1`` (for instance ``b_0 = (1 - theta cot theta) / (8 theta)
= theta/24 + theta^3/360 + ...`` and ``a_1 = -1/48 - 29 theta^2/5760 - ...``). The ``a_s``,
``b_s`` are computed once, as exact rational Taylor series in ``theta`` of degree 30 (from
Bernoulli numbers; their radius of convergence is pi, and the boundary nodes have
``theta < 0.9``); the first omitted term is ``O(rho^-13)``. ``J_0`` and ``J_1`` are summed
from their power series in exact integer arithmetic and rounded once, and the Bessel zeros
``j_{0,k}`` found by Newton's method from McMahon's expansion. Newton's method on ``u`` starts
from Olver's ``theta_k ~ psi_k + (psi_k cot psi_k - 1) / (8 psi_k rho^2)``,
``psi_k = j_{0,k} / rho``, and ``w_k = 2 sin theta_k / u'(theta_k)^2``.

Example:
    >>> theta, w = boundary_rule(40, 10)
    >>> theta.shape, bool((theta < 0.9).all()), bool((w > 0).all())
    ((10,), True, True)
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

import numpy as np

from idgrad.engine.legendre.bernoulli import bernoulli_numbers
from idgrad.engine.legendre.parameters import (
    BESSEL_ORDERS,
    BOUNDARY_NODES,
    SERIES_DEGREE,
    STEP_TOL,
)

__all__ = ["boundary_rule"]


def _series_derivative(a: list[Fraction]) -> list[Fraction]:
    return [j * a[j] for j in range(1, len(a))] + [Fraction(0)]


def _series_integral(a: list[Fraction]) -> list[Fraction]:
    return [Fraction(0)] + [a[j] / (j + 1) for j in range(len(a) - 1)]


def _series_product(a: list[Fraction], b: list[Fraction]) -> list[Fraction]:
    out = [Fraction(0)] * len(a)
    for i, ai in enumerate(a):
        if ai:
            for j in range(len(a) - i):
                out[i + j] += ai * b[j]
    return out


@lru_cache(maxsize=1)
def _bessel_expansion_series() -> tuple[tuple[tuple[Fraction, ...], ...], ...]:
    """``(a_0 .. a_S, b_0 .. b_{S-1})`` as exact Taylor coefficients in ``theta``.

    ``psi = (csc^2 theta - theta^-2) / 4 = sum_{k>=1} (-1)^{k+1} 4^k (2k-1) B_{2k} / (4 (2k)!)
    theta^{2k-2}`` (from ``cot theta = sum_k (-1)^k 4^k B_{2k} theta^{2k-1} / (2k)!``); the rest
    is the recurrence of the module docstring, term by term.
    """
    deg = SERIES_DEGREE
    bern = bernoulli_numbers(2 * deg + 4)
    psi = [Fraction(0)] * deg
    for k in range(1, deg // 2 + 1):
        psi[2 * k - 2] = (
            Fraction((-1) ** (k + 1) * 4**k * (2 * k - 1), 4 * math.factorial(2 * k)) * bern[2 * k]
        )
    a: list[list[Fraction]] = [[Fraction(1)] + [Fraction(0)] * (deg - 1)]
    b: list[list[Fraction]] = []
    d = _series_derivative
    for s in range(BESSEL_ORDERS + 1):
        if s > 0:
            prev = b[s - 1]
            rhs = [u + v for u, v in zip(d(d(prev)), _series_product(psi, prev))]
            nxt = [-c / 2 for c in _series_integral(rhs)]
            nxt[0] = -prev[1] / 2  # P_n(1) = 1
            a.append(nxt)
        if s < BESSEL_ORDERS:
            rhs = [u + v for u, v in zip(d(d(a[s])), _series_product(psi, a[s]))]
            if s > 0:
                # (theta b' - b) / (2 theta^3) = sum_j (j - 1)/2 beta_j theta^{j-3}, j odd
                for j in range(3, deg):
                    rhs[j - 3] -= Fraction(j - 1, 2) * b[s - 1][j]
            b.append([c / 2 for c in _series_integral(rhs)])
    return tuple(tuple(c) for c in a), tuple(tuple(c) for c in b)


def _bessel_j0_j1(z: float) -> tuple[float, float]:
    """``J_0(z)`` and ``J_1(z)`` for ``0 <= z <= 200``, correctly rounded (almost always).

    The power series ``J_0 = sum_k (-y)^k / k!^2``, ``J_1 = (z/2) sum_k (-y)^k / (k! (k+1)!)``,
    ``y = z^2 / 4``, summed in integer fixed point with ``P = 200 + 1.5 z`` fraction bits (the
    terms grow to ``~e^z``, so the cancellation costs ``1.45 z`` bits), then rounded once.
    """
    if not 0.0 <= z <= 200.0:
        raise ValueError(f"z must be in [0, 200], got {z}")
    if z == 0.0:
        return 1.0, 0.0
    mant, exp = math.frexp(z)
    num, exp = int(mant * (1 << 53)), exp - 53  # z = num * 2^exp exactly
    bits = 200 + int(1.5 * z)
    shift = 2 * exp - 2 + bits  # y = z^2 / 4 in fixed point
    y = (num * num) << shift if shift >= 0 else (num * num) >> -shift
    one = 1 << bits
    t0 = s0 = t1 = s1 = one
    k = 1
    while True:
        t0 = -((t0 * y) // (one * k * k))
        t1 = -((t1 * y) // (one * k * (k + 1)))
        s0 += t0
        s1 += t1
        if k > z and abs(t0) <= 1 and abs(t1) <= 1:
            break
        k += 1
    return s0 / one, float(Fraction(s1 * num, one) * Fraction(2) ** (exp - 1))


@lru_cache(maxsize=1)
def _bessel_j0_zeros(count: int = BOUNDARY_NODES) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` positive zeros ``j_{0,k}`` of ``J_0`` and ``J_1(j_{0,k})``.

    Newton's method (``J_0' = -J_1``) from McMahon's expansion ``beta + 1/(8 beta) -
    124/(3 (8 beta)^3)``, ``beta = (k - 1/4) pi``, with :func:`_bessel_j0_j1` (so ``count``
    is at most 60).
    """
    zeros, j1s = [], []
    for k in range(1, count + 1):
        beta = (k - 0.25) * math.pi
        j = beta + 1.0 / (8.0 * beta) - 124.0 / (3.0 * (8.0 * beta) ** 3)
        for _ in range(20):
            j0, j1 = _bessel_j0_j1(j)
            step = j0 / j1
            j += step
            if abs(step) <= STEP_TOL * j:
                break
        zeros.append(j)
        j1s.append(_bessel_j0_j1(j)[1])
    return np.array(zeros), np.array(j1s)


def _bessel_near_zeros(
    z: np.ndarray, zeros: np.ndarray, j1: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``J_0(z)`` and ``J_1(z)`` for ``z`` within ``0.01`` of the zeros ``j`` of ``J_0``.

    The Taylor series ``J_0(j + d) = sum_m c_m d^m`` to ``d^11``, from Bessel's equation
    ``z y'' + y' + z y = 0``: ``c_0 = 0``, ``c_1 = -J_1(j)``, and
    ``c_{p+2} = -((p+1)^2 c_{p+1} + j c_p + c_{p-1}) / (j (p+1) (p+2))``; ``J_1 = -J_0'``.
    """
    d = z - zeros
    if np.any(np.abs(d) > 0.01):
        raise RuntimeError("Gauss-Legendre: a boundary iterate left its Bessel zero")
    c_2back, c_back, c = np.zeros_like(d), np.zeros_like(d), -j1  # c_{m-2}, c_{m-1}, c_m
    j0, dj0, power = np.zeros_like(d), np.zeros_like(d), np.ones_like(d)
    for m in range(1, 12):
        dj0 += m * c * power  # power = d^(m-1)
        power = power * d
        j0 += c * power
        c_2back, c_back, c = (
            c_back,
            c,
            -(m * m * c + zeros * c_back + c_2back) / (zeros * m * (m + 1)),
        )
    return j0, -dj0


def boundary_rule(n: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``1 .. count`` from the Bessel-type expansion, by Newton's method (vectorised)."""
    rho = n + 0.5
    a_series, b_series = _bessel_expansion_series()
    a_coef = [
        sum(float(a_series[s][j]) * rho ** (-2 * s) for s in range(len(a_series)))
        for j in range(SERIES_DEGREE)
    ]
    b_coef = [
        sum(float(b_series[s][j]) * rho ** (-2 * s - 2) for s in range(len(b_series)))
        for j in range(SERIES_DEGREE)
    ]
    zeros, j1 = (v[:count] for v in _bessel_j0_zeros(BOUNDARY_NODES))
    psi = zeros / rho
    theta = psi + (psi / np.tan(psi) - 1.0) / (8.0 * psi * rho * rho)
    weights = np.empty(count)
    todo = np.arange(count)
    for _ in range(20):
        th = theta[todo]
        big_a, da = _polyval_with_derivative(a_coef, th)
        big_b, db = _polyval_with_derivative(b_coef, th)
        bj0, bj1 = _bessel_near_zeros(rho * th, zeros[todo], j1[todo])
        root = np.sqrt(th)
        v = root * bj0
        dv = bj0 / (2.0 * root) - rho * root * bj1
        q = rho * rho + 1.0 / (4.0 * th * th)
        u = big_a * v + big_b * dv
        du = (da - big_b * q) * v + (big_a + db) * dv  # V'' = -q V
        step = u / du
        # w = 2 sin theta / u'^2; d log w / dtheta = cot theta at the root (u'' = 0 there)
        weights[todo] = 2.0 * np.sin(th) / (du * du) * (1.0 - step / np.tan(th))
        theta[todo] = th - step
        todo = todo[np.abs(step) > STEP_TOL * th]
        if todo.size == 0:
            return theta, weights
    raise RuntimeError(f"Gauss-Legendre: Newton's method did not converge for n = {n}")


def _polyval_with_derivative(coef: list[float], t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    value, slope = np.zeros_like(t), np.zeros_like(t)
    for c in reversed(coef):
        slope = slope * t + value
        value = value * t + c
    return value, slope
