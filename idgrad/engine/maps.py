"""Smooth maps of ``[0, 1]`` that put a rule's points where a path integral needs them.

The graded schedule integrates in a coordinate ``t`` with ``alpha = phi(t)``:

    integral_0^1 h(alpha) d alpha = integral_0^1 h(phi(t)) phi'(t) dt,

and applies Gauss-Legendre in ``t``. ``phi`` is the inverse of the distribution function
``T`` of a density on ``[0, 1]``,

    rho(alpha) = f + (1 - f) K(alpha),    K(alpha) = 1 / (Z sqrt((alpha - c)^2 + b^2)),

a uniform floor ``f`` plus one "sinh" kernel at ``c`` of width ``b`` (``Z`` normalises it on
``[0, 1]``), so ``T(alpha) = f alpha + (1 - f) (asinh((alpha - c) / b) + asinh(c / b)) / Z``.
Points gather where ``rho`` is large, ``1 / (n rho)`` apart. ``T`` is analytic away from
``c +- i b`` and its inverse is analytic on a strip around ``[0, 1]``, so a smooth integrand
stays smooth in ``t`` and Gauss-Legendre keeps converging spectrally -- faster than without
the map when ``h`` has a sharp feature near ``c`` (a pole at distance ``~ b``: the sinh
transformation of Johnston & Elliott, Math. Comp. 2005). The kernel's ``1 / |alpha - c|``
tails keep points everywhere.

Everything is vectorised over examples: one map per row of ``(B,)`` parameters.

Example:
    >>> m = SinhMap(np.array([0.8]), np.array([0.02]), np.array([0.2]))
    >>> t = np.array([[0.0, 0.5, 1.0]])
    >>> a = m.inverse(t)
    >>> bool(abs(a[0, 0]) < 1e-15 and abs(a[0, 2] - 1) < 1e-15), bool(0.7 < a[0, 1] < 0.85)
    (True, True)
    >>> bool(np.allclose(m.cdf(a), t))
    True
"""

from __future__ import annotations

import numpy as np

__all__ = ["SinhMap", "fit_map"]


class SinhMap:
    """``rho = f + (1 - f) / (Z sqrt((alpha - c)^2 + b^2))`` on ``[0, 1]``, one per example.

    Args:
        centre, width, floor: ``(B,)`` arrays: ``c`` in ``[0, 1]``, ``b > 0``, ``f`` in ``[0, 1]``.
    """

    def __init__(self, centre: np.ndarray, width: np.ndarray, floor: np.ndarray) -> None:
        self.c = np.asarray(centre, dtype=np.float64)
        self.b = np.asarray(width, dtype=np.float64)
        self.f = np.asarray(floor, dtype=np.float64)
        self.lo = np.arcsinh(-self.c / self.b)
        self.z = np.arcsinh((1.0 - self.c) / self.b) - self.lo

    def _col(self, v: np.ndarray) -> np.ndarray:
        return v.reshape(-1, 1)

    def cdf(self, alpha: np.ndarray) -> np.ndarray:
        """``T(alpha)`` for ``alpha`` ``(B, S)``."""
        c, b, f = self._col(self.c), self._col(self.b), self._col(self.f)
        kernel = (np.arcsinh((alpha - c) / b) - self._col(self.lo)) / self._col(self.z)
        return f * alpha + (1.0 - f) * kernel

    def pdf(self, alpha: np.ndarray) -> np.ndarray:
        """``rho(alpha) = T'(alpha)`` for ``alpha`` ``(B, S)``."""
        c, b, f = self._col(self.c), self._col(self.b), self._col(self.f)
        return f + (1.0 - f) / (self._col(self.z) * np.sqrt((alpha - c) ** 2 + b**2))

    def inverse(self, t: np.ndarray) -> np.ndarray:
        """``phi(t) = T^{-1}(t)`` for ``t`` ``(B, S)`` in ``[0, 1]``, to rounding.

        A table of ``T`` on 257 points gives the start (error ~1e-5); Newton's steps, kept
        inside the table's bracket, finish in three or four.
        """
        t = np.asarray(t, dtype=np.float64)
        batch, size = t.shape
        grid = np.linspace(0.0, 1.0, 257)
        table = self.cdf(np.broadcast_to(grid, (batch, grid.size)))
        # the table cell of every t, for all rows at once (rows offset to stay apart)
        offset = 2.0 * np.arange(batch)[:, None]
        cell = np.searchsorted((table + offset).ravel(), (t + offset).ravel()) - 1
        cell = np.clip(cell.reshape(batch, size) - 257 * np.arange(batch)[:, None], 0, 255)
        rows = np.arange(batch)[:, None]
        t0, t1 = table[rows, cell], table[rows, cell + 1]
        lo, hi = grid[cell], grid[cell + 1]
        x = lo + (hi - lo) * np.clip((t - t0) / np.maximum(t1 - t0, 1e-300), 0.0, 1.0)
        for _ in range(8):
            g = self.cdf(x) - t
            step = x - g / self.pdf(x)
            x_new = np.clip(step, lo, hi)
            done = np.abs(x_new - x) <= 2e-16 * np.maximum(np.abs(x), 1e-300)
            x = x_new
            if done.all():
                break
        x = np.where(t <= 0.0, 0.0, np.where(t >= 1.0, 1.0, x))
        x = np.where(self._col(self.f) >= 1.0, t, x)  # no kernel: the identity, exactly
        return np.clip(x, 0.0, 1.0)


def fit_map(
    edges: np.ndarray,
    density: np.ndarray,
    *,
    power: float,
    reach: float,
    width_scale: float,
    min_floor: float,
    concentration: float,
) -> tuple[SinhMap, np.ndarray]:
    """One sinh map per example from the activity density on cells, and which rows have one.

    The target density is ``density ** power`` (normalised). The kernel covers the densest
    cell and the contiguous cells around it whose density is at least ``reach`` times the
    peak: its centre is their mass-weighted centre, its width ``width_scale`` times their
    extent, its mass theirs; the floor is the rest (at least ``min_floor``). A row whose peak
    is below ``concentration`` times the mean density gets no map (``False``).

    Args:
        edges: ``(B, J + 1)`` increasing cell edges from 0 to 1.
        density: ``(B, J)`` non-negative activity per unit ``alpha`` on each cell.

    Returns:
        ``(map, concentrated)``; rows without a map get a flat one (floor 1).

    Example:
        >>> e = np.linspace(0, 1, 11)[None]
        >>> d = np.ones((1, 10)); d[0, 7] = 50.0
        >>> m, ok = fit_map(e, d, power=1.0, reach=0.25, width_scale=0.25, min_floor=0.1,
        ...                 concentration=2.0)
        >>> bool(ok[0]), round(float(m.c[0]), 2), round(float(m.f[0]), 2)
        (True, 0.75, 0.15)
    """
    h = np.diff(edges, axis=1)
    mid = (edges[:, 1:] + edges[:, :-1]) / 2
    d = np.maximum(density, 0.0) ** power
    mass = d * h
    total = mass.sum(1, keepdims=True)
    ok = total[:, 0] > 0
    safe = np.where(total > 0, total, 1.0)
    dn = d / safe  # density relative to its mean over [0, 1]
    peak_cell = np.argmax(dn, axis=1)
    rows = np.arange(len(d))
    peak = dn[rows, peak_cell]
    ok &= peak >= concentration
    # the run of cells >= reach * peak that contains the peak cell
    inside = dn >= reach * peak[:, None]
    breaks = np.cumsum(~inside, axis=1)
    label = breaks[rows, peak_cell]
    region = inside & (breaks == label[:, None])
    m = np.where(region, mass / safe, 0.0)
    share = m.sum(1)
    centre = (m * mid).sum(1) / np.where(share > 0, share, 1.0)
    first = np.where(region, edges[:, :-1], np.inf).min(1)
    last = np.where(region, edges[:, 1:], -np.inf).max(1)
    width = width_scale * np.where(ok, last - first, 1.0)
    floor = np.where(ok, np.maximum(min_floor, 1.0 - share), 1.0)
    centre = np.where(ok, np.clip(centre, 0.0, 1.0), 0.5)
    width = np.maximum(width, 1e-9)
    return SinhMap(centre, width, floor), ok
