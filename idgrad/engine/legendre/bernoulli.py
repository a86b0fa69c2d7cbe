"""Bernoulli numbers and polynomials, exactly (:class:`fractions.Fraction`).

They give the constants of both asymptotic expansions of :mod:`idgrad.engine.legendre`:
Stirling's series in :mod:`~idgrad.engine.legendre.stieltjes` and the Taylor series of
``csc^2`` in :mod:`~idgrad.engine.legendre.bessel`.

Example:
    >>> [str(b) for b in bernoulli_numbers(4)]
    ['1', '-1/2', '1/6', '0', '-1/30']
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

from idgrad.engine.legendre.parameters import SERIES_DEGREE

__all__ = ["bernoulli_numbers", "bernoulli_polynomial"]


@lru_cache(maxsize=1)
def bernoulli_numbers(count: int) -> tuple[Fraction, ...]:
    """``B_0 .. B_count`` exactly (``B_1 = -1/2``), from ``sum_j C(k+1, j) B_j = 0``."""
    b = [Fraction(1)]
    for k in range(1, count + 1):
        b.append(-sum((math.comb(k + 1, j) * b[j] for j in range(k)), Fraction(0)) / (k + 1))
    return tuple(b)


def bernoulli_polynomial(m: int, t: Fraction) -> Fraction:
    """``B_m(t)`` exactly, for ``m <= 2 * SERIES_DEGREE + 4``."""
    b = bernoulli_numbers(2 * SERIES_DEGREE + 4)
    return sum((math.comb(m, j) * b[j] * t ** (m - j) for j in range(m + 1)), Fraction(0))
