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

**The algorithm, by n.** ``n < 20``: Newton's method on the three-term recurrence, all nodes
at once (O(n^2); :mod:`~idgrad.engine.legendre.recurrence`). ``n >= 20``: Newton's method on
asymptotic expansions (O(n)), the scheme of Hale and Townsend, "Fast and accurate computation
of Gauss-Legendre and Gauss-Jacobi quadrature nodes and weights", SIAM J. Sci. Comput. 35
(2013) A652-A674 (Bogaert, SIAM J. Sci. Comput. 36 (2014) A1008-A1026, expands the nodes
themselves instead), with expansions derived and constants computed here: Stieltjes' for the
interior nodes (:mod:`~idgrad.engine.legendre.stieltjes`), one of Bessel type for the ten
nodes nearest each end (:mod:`~idgrad.engine.legendre.bessel`), their constants from exact
Bernoulli numbers (:mod:`~idgrad.engine.legendre.bernoulli`). The switch points and
tolerances, and the measurements that chose them: :mod:`~idgrad.engine.legendre.parameters`.

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

import numbers

import numpy as np

from idgrad.core.validation import check_int, check_number
from idgrad.engine.legendre.bessel import boundary_rule
from idgrad.engine.legendre.parameters import (
    BOUNDARY_NODES,
    BOUNDARY_NODES_SMALL,
    BOUNDARY_SMALL_BELOW,
    RECURRENCE_BELOW,
)
from idgrad.engine.legendre.recurrence import recurrence_rule
from idgrad.engine.legendre.stieltjes import interior_rule

__all__ = ["gauss_legendre"]


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
    if n < RECURRENCE_BELOW:
        return recurrence_rule(n)
    m = (n + 1) // 2
    nb = min(BOUNDARY_NODES_SMALL if n < BOUNDARY_SMALL_BELOW else BOUNDARY_NODES, m)
    theta_b, w_b = boundary_rule(n, nb)
    theta_i, w_i = interior_rule(n, nb + 1, m)
    return np.concatenate([theta_b, theta_i]), np.concatenate([w_b, w_i])
