"""Gauss-Legendre nodes and weights in O(n) operations, to double precision.

:func:`gauss_legendre` returns the ``n``-point
Gauss-Legendre rule on ``[-1, 1]`` or on any interval ``[a, b]`` (the library's path parameter
uses ``interval=(0, 1)``): the nodes ``x_k`` are the zeros of the Legendre polynomial ``P_n``
and the weights are ``w_k = 2 / ((1 - x_k^2) P_n'(x_k)^2)``, so that ``sum_k w_k p(x_k)`` is
the integral over ``[-1, 1]`` of any polynomial ``p`` of degree ``<= 2n - 1``. It is pure numpy,
O(n) in time and memory (``n = 10^6`` in about 0.1 s on one core), where numpy's
``leggauss`` (an eigenvalue problem) is O(n^3) and scipy's ``roots_legendre`` is O(n^2).

Everything is computed in the angle ``theta`` (``x = cos theta``), with ``rho = n + 1/2``. The
nodes are ``0 < theta_1 < ... < theta_n < pi`` with ``theta_{n+1-k} = pi - theta_k``, so only
``theta <= pi/2`` is computed, and ``w_k = 2 / (dP_n(cos theta)/dtheta)^2`` at ``theta_k``.
The angle matters near the ends, where ``1 - x_k`` is ``~ 3 / n^2`` and has lost digits to
rounding: a weight computed from the rounded ``x_k`` inherits that error, amplified by
``2 |x| / (1 - x^2)`` at best and by ``n |x| / (1 - x^2)`` for scipy's
``1 / (P_{n-1}(x) P_n'(x))``, whose weights are ``2e-8`` off (relatively) at the ends for
``n = 1000``; ``theta_k`` is known to a few units in its last place.

**n < 20: Newton's method on the three-term recurrence** (O(n^2)), all nodes at once.
``P_n(cos theta)`` and its derivative come from the recurrence written for the differences
``D_k = P_k - P_{k-1}`` in ``t = 1 - cos theta = 2 sin^2(theta/2)`` (as in Reinsch's
modification of Clenshaw's method, so that ``1 - x`` is exact near ``x = 1``):

    D_{k+1} = (k D_k - (2k + 1) t P_k) / (k + 1),    P_{k+1} = P_k + D_{k+1},
    dP_n/dtheta = -n (t P_n - D_n) / sin theta,

from Tricomi's ``theta_k ~ phi_k + cot(phi_k) / (8 rho^2)``, ``phi_k = (k - 1/4) pi / rho``;
the weights from the Christoffel-Darboux sum ``w_k = 2 / sum_{j<n} (2j + 1) P_j(x_k)^2`` at
the converged nodes (a sum of positive terms).

**n >= 20: Newton's method on asymptotic expansions** (O(n)): the scheme of Hale and Townsend,
"Fast and accurate computation of Gauss-Legendre and Gauss-Jacobi quadrature nodes and
weights", SIAM J. Sci. Comput. 35 (2013) A652-A674 (Bogaert, SIAM J. Sci. Comput. 36 (2014)
A1008-A1026, expands the nodes themselves instead). The expansions below are derived and
their constants computed here.

*Interior: nodes 11 .. ceil(n/2)* (7 .. for ``n < 40``). Stieltjes' expansion (Szegő,
*Orthogonal Polynomials*, section 8.21) is a polynomial in
``z = (1 - i cot theta) / 2 = exp(i (theta - pi/2)) / (2 sin theta)``:

    P_n(cos theta) = C_n (2 sin theta)^(-1/2) Re[exp(i (rho theta - pi/4)) S(z)],
    S(z) = sum_{m < M} h_m z^m,   h_0 = 1,   h_m = h_{m-1} (m - 1/2)^2 / (m (n + m + 1/2)),
    C_n = (2 / sqrt(pi)) Gamma(n + 1) / Gamma(n + 3/2).

``M`` is the least with ``h_M |z|^M <= 2^-60`` at the first interior node: 16 or 17 for every
``n >= 40`` (the error of the truncated series at node ``k`` is about ``exp(-2 pi k)`` at best,
which is why the first nodes need the boundary expansion). The zeros solve the phase equation
``Phi(theta) = rho theta - pi/4 + arg S(z(theta)) = (k - 1/2) pi``, by Newton's method from
``phi_k + cot(phi_k) / (8 rho (n + 3/2))`` (relatively ``1 / (8 (pi k)^4)`` off, so one step
suffices but near the ends), and the weights need no cosine of the large argument
``rho theta``:

    w_k = 4 sin theta / (C_n^2 |S|^2 Phi'^2),    Phi' = rho + Re(S'(z) / S) / (2 sin^2 theta),
    4 / C_n^2 = pi (n + 3/4) exp(2 E),   E = sum_{j >= 1} c_j (n + 3/4)^(-2j),

with ``c_j = 2 B_{2j+1}(1/4) / (2j (2j + 1))`` (``1/64, -5/2048, ...``) from Stirling's series
for ``log Gamma(x + h)`` with Bernoulli polynomials (DLMF 5.11.8, ``x = n + 3/4``,
``h = 1/4, 3/4``: the odd powers cancel).

*Boundary: nodes 1 .. 10* (1 .. 6 for ``n < 40``). ``u = sqrt(sin theta) P_n(cos theta)``
solves ``u'' + (rho^2 + 1 / (4 sin^2 theta)) u = 0`` and ``V = sqrt(theta) J_0(rho theta)``
solves ``V'' + (rho^2 + 1 / (4 theta^2)) V = 0``. Putting ``u = A V + B V'`` and collecting
powers of ``rho`` gives an expansion of Bessel type (as in Olver, *Asymptotics and Special
Functions*, chapter 12):

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

Newton's method stops at the first step below ``1e-13 theta`` (quadratic convergence leaves the
new iterate exact to rounding); the weight of that last evaluation is moved to the new node to
first order.

**Switch points, from measurements.** Below ``n = 20`` the six boundary nodes the interior
series needs would reach ``theta ~ pi/2``, where the Taylor series of ``a_s``, ``b_s``
converge slowly; the recurrence's error grows like ``n`` (weights ``9e-16`` up to
``n = 19``, ``2e-15`` at ``n = 59``). Six orders ``a_s``: with four, the weights at
``n = 20`` are ``6e-15`` off, with five ``5e-16`` (but ``3e-15`` at ``n = 16``), with six
``5e-16``. Ten boundary nodes rather than 20 or 30: Stieltjes' series would need 12 or 11
terms instead of 17, but that saves only 5% at ``n = 10^6`` (the per-node work outside the
series dominates), while 20 boundary nodes would need ``n >= 69`` to keep ``theta < 0.9``;
the boundary costs 0.35 ms whatever its size (all its nodes are iterated together).

**Measured accuracy** (``tests/test_legendre.py``, ``benchmarks/gauss_legendre.py``). Against
Newton's method on the recurrence in 80-bit extended precision, for every ``n <= 1000``: nodes
within ``4.3e-16`` (absolute), weights within ``1.6e-15`` (relative); every node at
``n = 10^4``, and sampled nodes (both ends, both sides of the switch, the middle) at ``10^5``
and ``10^6``: the same. Against ``scipy.special.roots_legendre`` for every ``n <= 1000``:
nodes within ``4.6e-16``; weights within scipy's own error (above), which reaches ``2.4e-8``
at the ends for ``n = 1000`` (mpmath sides with these weights) and ``2e-12`` even for
``|x| < 1/2``: the two agree to ``1e-14`` only up to ``n = 11``.
"""

from __future__ import annotations

import math
import numbers
from fractions import Fraction
from functools import lru_cache

import numpy as np

from idgrad.core.validation import check_int, check_number

__all__ = ["gauss_legendre"]

#: Below this ``n``, Newton's method on the three-term recurrence (O(n^2)).
_RECURRENCE_BELOW = 20
#: The nodes at each end that come from the Bessel-type expansion (the rest: Stieltjes), and
#: fewer below ``n = 40``, so that they stay below ``theta = 0.9`` (``theta_k ~ j_{0,k} / rho``:
#: ``theta_6 = 0.88`` at ``n = 20``, ``theta_10 = 0.76`` at ``n = 40``).
_BOUNDARY_NODES = 10
_BOUNDARY_NODES_SMALL = 6
_BOUNDARY_SMALL_BELOW = 40
#: Orders of the Bessel-type expansion: ``a_s`` for ``s <= 6``, ``b_s`` for ``s < 6``.
_BESSEL_ORDERS = 6
#: Taylor degree of the coefficient functions ``a_s``, ``b_s``.
_SERIES_DEGREE = 30
#: Relative size of the first omitted term of Stieltjes' series.
_STIELTJES_TOL = 2.0**-60
#: A Newton step below this times ``theta`` ends the iteration.
_STEP_TOL = 1e-13
#: Nodes per block of the vectorised interior evaluation (keeps the work in cache).
_BLOCK = 8192


def gauss_legendre(
    n: int, interval: tuple[float, float] = (-1.0, 1.0)
) -> tuple[np.ndarray, np.ndarray]:
    """The ``n``-point Gauss-Legendre rule: nodes and weights, in O(n) time and memory.

    The nodes ``x_k`` are the zeros of the Legendre polynomial ``P_n``, ascending, and the
    weights are ``w_k = 2 / ((1 - x_k^2) P_n'(x_k)^2)``, so that

        integral_{-1}^{1} p(x) dx = sum_k w_k p(x_k)    for every polynomial of degree <= 2n - 1.

    On ``interval=(a, b)`` the rule is mapped affinely: nodes ``a + (b - a) (x_k + 1) / 2``
    (computed as ``a + (b - a) sin^2(theta_k / 2)`` from the angle ``x_k = -cos theta_k``, so
    nodes near ``a`` keep their relative precision) and weights ``(b - a) w_k / 2``; the rule of
    the library's path parameter is ``interval=(0, 1)``, whose weights sum to 1. The nodes
    ascend in ``(a, b)``, symmetric about its midpoint; the weights are positive, symmetric and
    sum to ``b - a``. The algorithm and its measured accuracy (nodes within ``5e-16``, weights
    within ``1.6e-15`` relative) are described in the module's documentation.

    Args:
        n: The number of nodes, an int ``>= 1``.
        interval: ``(a, b)`` with ``a < b``, finite; ``(-1, 1)`` by default.

    Returns:
        ``(nodes, weights)``, float64 arrays of shape ``(n,)``.

    Raises:
        TypeError: ``n`` is not an int (bools are refused), or ``interval`` is not a pair of
            numbers.
        ValueError: ``n < 1``, or ``interval`` is not finite with ``a < b``.

    Example:
        >>> x, w = gauss_legendre(3)
        >>> x.tolist(), w.tolist()  # -sqrt(3/5), 0, sqrt(3/5); 5/9, 8/9, 5/9
        ([-0.774597, 0.0, 0.774597], [0.555556, 0.888889, 0.555556])
        >>> float(w @ x**4)  # exact up to degree 5: 2/5
        0.4
        >>> a, w01 = gauss_legendre(1_000_000, interval=(0, 1))  # well under a second
        >>> float(w01.sum()), float(a[0])
        (1.0, 1.4458e-12)
    """
    n = check_int(n, "n")
    a, b = _check_interval(interval)
    theta, weights = _half_rule(n)
    half = n // 2  # the nodes with theta < pi/2; the middle one (n odd) is theta = pi/2
    if (a, b) == (-1.0, 1.0):
        right = np.cos(theta)
        nodes = np.concatenate([-right, right[:half][::-1]])
        if n % 2:
            nodes[half] = 0.0
        return nodes, np.concatenate([weights, weights[:half][::-1]])
    length = b - a
    s = np.sin(theta / 2.0)
    frac = s * s  # (1 + x) / 2 for x = -cos theta, the left half
    if n % 2:
        frac[-1] = 0.5
    nodes = np.concatenate([a + length * frac, (b - length * frac[:half])[::-1]])
    w = weights * (length / 2.0)
    return nodes, np.concatenate([w, w[:half][::-1]])


def _check_interval(interval: object) -> tuple[float, float]:
    if (
        not isinstance(interval, (tuple, list))
        or len(interval) != 2
        or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in interval)
    ):
        raise TypeError(f"interval must be a pair of numbers (a, b), got {interval!r}")
    a = check_number(interval[0], "interval[0]")
    b = check_number(interval[1], "interval[1]")
    if not a < b:
        raise ValueError(f"interval must have a < b, got {interval!r}")
    return a, b


def _half_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``theta_k`` and ``w_k`` for ``k = 1 .. ceil(n/2)`` (``theta`` ascending to ``<= pi/2``)."""
    if n < _RECURRENCE_BELOW:
        return _recurrence_rule(n)
    m = (n + 1) // 2
    nb = min(_BOUNDARY_NODES_SMALL if n < _BOUNDARY_SMALL_BELOW else _BOUNDARY_NODES, m)
    theta_b, w_b = _boundary_rule(n, nb)
    theta_i, w_i = _interior_rule(n, nb + 1, m)
    return np.concatenate([theta_b, theta_i]), np.concatenate([w_b, w_i])


# --------------------------------------------------------------------------- small n


def _recurrence_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Newton's method in ``theta`` on the three-term recurrence, all nodes at once (O(n^2)).

    The weights come from the Christoffel-Darboux sum at the converged nodes,
    ``w_k = 2 / sum_{j<n} (2j + 1) P_j(x_k)^2`` (a sum of positive terms: ``8.7e-16`` relative
    for ``n < 20``, against ``1.3e-15`` from the derivative).
    """
    k = np.arange(1, (n + 1) // 2 + 1, dtype=np.float64)
    rho = n + 0.5
    phi = np.pi * (4.0 * k - 1.0) / (4.0 * n + 2.0)
    theta = phi + 1.0 / (8.0 * rho * rho * np.tan(phi))
    for _ in range(20):
        t = _one_minus_cos(theta)
        p, d, _ = _recurrence(n, t)
        step = p / (-n * (t * p - d) / np.sin(theta))  # P_n / (dP_n / dtheta)
        theta = theta - step
        if np.all(np.abs(step) <= _STEP_TOL * theta):
            return theta, 2.0 / _recurrence(n, _one_minus_cos(theta))[2]
    raise RuntimeError(f"Gauss-Legendre: Newton's method did not converge for n = {n}")


def _one_minus_cos(theta: np.ndarray) -> np.ndarray:
    s = np.sin(0.5 * theta)
    return 2.0 * s * s


def _recurrence(n: int, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``P_n``, ``D_n = P_n - P_{n-1}`` and ``sum_{j<n} (2j + 1) P_j^2`` at ``x = 1 - t``."""
    d = -t  # D_1 = P_1 - P_0
    p = 1.0 + d  # P_1
    christoffel = np.ones_like(t)  # (2j + 1) P_j^2 for j = 0
    for j in range(1, n):
        christoffel += (2.0 * j + 1.0) * (p * p)
        d = (j / (j + 1.0)) * d - ((2.0 * j + 1.0) / (j + 1.0)) * (t * p)
        p = p + d
    return p, d, christoffel


# --------------------------------------------------------------------------- interior


@lru_cache(maxsize=1)
def _bernoulli_numbers(count: int) -> tuple[Fraction, ...]:
    """``B_0 .. B_count`` exactly (``B_1 = -1/2``), from ``sum_j C(k+1, j) B_j = 0``."""
    b = [Fraction(1)]
    for k in range(1, count + 1):
        b.append(-sum((math.comb(k + 1, j) * b[j] for j in range(k)), Fraction(0)) / (k + 1))
    return tuple(b)


def _bernoulli_polynomial(m: int, t: Fraction) -> Fraction:
    b = _bernoulli_numbers(2 * _SERIES_DEGREE + 4)
    return sum((math.comb(m, j) * b[j] * t ** (m - j) for j in range(m + 1)), Fraction(0))


@lru_cache(maxsize=1)
def _gamma_ratio_coefficients() -> tuple[float, ...]:
    """``c_j`` with ``Gamma(x + 1/4) / Gamma(x + 3/4) = x^{-1/2} exp(-sum_j c_j x^{-2j})``.

    Stirling's series ``log Gamma(x + h) ~ (x + h - 1/2) log x - x + log(2 pi)/2 +
    sum_{k>=1} (-1)^{k+1} B_{k+1}(h) / (k (k+1) x^k)`` (DLMF 5.11.8); for ``h = 1/4, 3/4`` the odd
    powers cancel (``B_m(1 - h) = (-1)^m B_m(h)``), leaving ``c_j = 2 B_{2j+1}(1/4) / (2j (2j+1))``:
    ``1/64, -5/2048, 61/49152, ...``.
    """
    quarter = Fraction(1, 4)
    return tuple(
        float(2 * _bernoulli_polynomial(2 * j + 1, quarter) / (2 * j * (2 * j + 1)))
        for j in range(1, 13)
    )


def _stieltjes_h(n: int, terms: int) -> list[float]:
    h = [1.0]
    for m in range(1, terms):
        h.append(h[-1] * (m - 0.5) ** 2 / (m * (n + m + 0.5)))
    return h


def _stieltjes_terms(n: int, theta_min: float) -> int:
    """The least ``M`` with ``h_M / (2 sin theta_min)^M <= 2^-60`` (at most 60)."""
    size, z = 1.0, 1.0 / (2.0 * math.sin(theta_min))
    for m in range(1, 61):
        size *= (m - 0.5) ** 2 / (m * (n + m + 0.5)) * z
        if size <= _STIELTJES_TOL:
            return m
    return 60


def _interior_rule(n: int, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``first .. last`` (1-based from ``theta = 0``) from Stieltjes' expansion."""
    count = last - first + 1
    theta = np.empty(count)
    weights = np.empty(count)
    if count <= 0:
        return theta, weights
    rho = n + 0.5
    x = n + 0.75
    energy = 0.0
    for c in reversed(_gamma_ratio_coefficients()):
        energy = (energy + c) / (x * x)
    # 4 / C_n^2 = pi (n + 3/4) exp(2 E)
    scale = math.pi * x * math.exp(2.0 * energy)
    phi_first = math.pi * (4.0 * first - 1.0) / (4.0 * n + 2.0)
    h = _stieltjes_h(n, _stieltjes_terms(n, phi_first))
    for start in range(0, count, _BLOCK):
        stop = min(start + _BLOCK, count)
        k = np.arange(first + start, first + stop, dtype=np.float64)
        phi = np.pi * (4.0 * k - 1.0) / (4.0 * n + 2.0)
        th = phi + 1.0 / (8.0 * rho * (n + 1.5) * np.tan(phi))
        w = np.empty_like(th)
        todo = np.arange(th.size)
        for _ in range(6):
            step, w_todo = _phase_newton_step(th[todo], phi[todo], h, rho, scale)
            th[todo] -= step
            w[todo] = w_todo
            todo = todo[np.abs(step) > _STEP_TOL * th[todo]]
            if todo.size == 0:
                break
        else:
            raise RuntimeError(f"Gauss-Legendre: Newton's method did not converge for n = {n}")
        theta[start:stop] = th
        weights[start:stop] = w
    return theta, weights


def _phase_newton_step(
    theta: np.ndarray, phi: np.ndarray, h: list[float], rho: float, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """One Newton step on ``Phi(theta) = (k - 1/2) pi``, and the weight moved to the new node."""
    sin = np.sin(theta)
    cot = np.cos(theta) / sin
    csc2 = 1.0 / (sin * sin)
    z = 0.5 - 0.5j * cot
    s = np.full(theta.shape, h[-1], dtype=np.complex128)
    ds = np.zeros_like(s)
    for hm in h[-2::-1]:  # Horner for S and S'
        ds *= z
        ds += s
        s *= z
        s += hm
    ratio = ds / s
    dphase = 0.5 * ratio.real * csc2  # d arg S / dtheta
    dlog_abs = -0.5 * ratio.imag * csc2  # d log|S| / dtheta
    phase_dot = rho + dphase  # Phi'
    step = (rho * (theta - phi) + np.angle(s)) / phase_dot
    abs2 = s.real * s.real + s.imag * s.imag
    weights = scale * sin / (abs2 * phase_dot * phase_dot)
    # d log w / dtheta = cot - 2 d log|S|/dtheta - 2 Phi''/Phi' (the last ~1e-4 of the rest)
    return step, weights * (1.0 - step * (cot - 2.0 * dlog_abs))


# --------------------------------------------------------------------------- boundary


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
    deg = _SERIES_DEGREE
    bern = _bernoulli_numbers(2 * deg + 4)
    psi = [Fraction(0)] * deg
    for k in range(1, deg // 2 + 1):
        psi[2 * k - 2] = (
            Fraction((-1) ** (k + 1) * 4**k * (2 * k - 1), 4 * math.factorial(2 * k)) * bern[2 * k]
        )
    a: list[list[Fraction]] = [[Fraction(1)] + [Fraction(0)] * (deg - 1)]
    b: list[list[Fraction]] = []
    d = _series_derivative
    for s in range(_BESSEL_ORDERS + 1):
        if s > 0:
            prev = b[s - 1]
            rhs = [u + v for u, v in zip(d(d(prev)), _series_product(psi, prev))]
            nxt = [-c / 2 for c in _series_integral(rhs)]
            nxt[0] = -prev[1] / 2  # P_n(1) = 1
            a.append(nxt)
        if s < _BESSEL_ORDERS:
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
def _bessel_j0_zeros(count: int = _BOUNDARY_NODES) -> tuple[np.ndarray, np.ndarray]:
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
            if abs(step) <= _STEP_TOL * j:
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


def _boundary_rule(n: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``1 .. count`` from the Bessel-type expansion, by Newton's method (vectorised)."""
    rho = n + 0.5
    a_series, b_series = _bessel_expansion_series()
    a_coef = [
        sum(float(a_series[s][j]) * rho ** (-2 * s) for s in range(len(a_series)))
        for j in range(_SERIES_DEGREE)
    ]
    b_coef = [
        sum(float(b_series[s][j]) * rho ** (-2 * s - 2) for s in range(len(b_series)))
        for j in range(_SERIES_DEGREE)
    ]
    zeros, j1 = (v[:count] for v in _bessel_j0_zeros(_BOUNDARY_NODES))
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
        todo = todo[np.abs(step) > _STEP_TOL * th]
        if todo.size == 0:
            return theta, weights
    raise RuntimeError(f"Gauss-Legendre: Newton's method did not converge for n = {n}")


def _polyval_with_derivative(coef: list[float], t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    value, slope = np.zeros_like(t), np.zeros_like(t)
    for c in reversed(coef):
        slope = slope * t + value
        value = value * t + c
    return value, slope
