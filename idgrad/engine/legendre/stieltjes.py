"""Gauss-Legendre interior nodes (11 .. ceil(n/2); 7 .. below ``n = 40``): Stieltjes' expansion.

Stieltjes' expansion (Szegő, *Orthogonal Polynomials*, section 8.21) is a polynomial in
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

Example:
    >>> theta, w = interior_rule(40, 11, 20)  # the nodes after the ten boundary ones
    >>> theta.shape, bool((w > 0).all())
    ((10,), True)
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

import numpy as np

from idgrad.engine.legendre.bernoulli import bernoulli_polynomial
from idgrad.engine.legendre.parameters import BLOCK, STEP_TOL, STIELTJES_TOL

__all__ = ["interior_rule"]


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
        float(2 * bernoulli_polynomial(2 * j + 1, quarter) / (2 * j * (2 * j + 1)))
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
        if size <= STIELTJES_TOL:
            return m
    return 60


def interior_rule(n: int, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
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
    for start in range(0, count, BLOCK):
        stop = min(start + BLOCK, count)
        k = np.arange(first + start, first + stop, dtype=np.float64)
        phi = np.pi * (4.0 * k - 1.0) / (4.0 * n + 2.0)
        th = phi + 1.0 / (8.0 * rho * (n + 1.5) * np.tan(phi))
        w = np.empty_like(th)
        todo = np.arange(th.size)
        for _ in range(6):
            step, w_todo = _phase_newton_step(th[todo], phi[todo], h, rho, scale)
            th[todo] -= step
            w[todo] = w_todo
            todo = todo[np.abs(step) > STEP_TOL * th[todo]]
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
