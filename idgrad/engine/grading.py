"""Graded meshes on the path parameter: a rule on any nodes, and where to put the next ones.

Three pieces, all plain float64 numpy on ``alpha`` in ``[0, 1]``, knowing nothing about
models (:mod:`idgrad.engine.refinement` uses them with a model's values):

* :func:`spline_weights` -- the quadrature rule on arbitrary sorted nodes
  ``0 = a_0 < ... < a_{n-1} = 1``: the integral of the not-a-knot cubic spline through
  the values, written as weights, ``integral_0^1 h ~= sum_k w_k h(a_k)``. Exact for
  cubics, error ``O(h^4)`` on smooth integrands whatever the grading, and for rough
  (piecewise constant) integrands its interior weights are those of the trapezoid rule
  (half the neighbouring gaps), so it does not amplify jumps.
* :class:`Density` -- a smooth density on ``[0, 1]``, a floor plus logistic kernels
  centred on cells with a share of "activity" each; its CDF and inverse.
* :func:`place_nodes` -- ``M`` nodes at the density's quantiles, bent smoothly so that
  the nodes already evaluated are among them (nothing evaluated is wasted and the mesh
  stays smoothly graded, which a smooth integrand's error needs).

Example:
    >>> a = np.linspace(0.0, 1.0, 5)
    >>> w = spline_weights(a)
    >>> bool(abs(w.sum() - 1) < 1e-15), bool(abs(w @ a**3 - 0.25) < 1e-15)
    (True, True)
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "Density",
    "node_cell_integrals",
    "node_rule",
    "node_weights",
    "pchip",
    "place_nodes",
    "spline_cell_integrals",
    "spline_weights",
]


def _solve_tridiagonal(
    lower: np.ndarray, diag: np.ndarray, upper: np.ndarray, rhs: np.ndarray
) -> np.ndarray:
    """Solve ``T x = rhs`` for tridiagonal ``T`` by Gaussian elimination with row pivoting.

    ``lower[i] = T[i + 1, i]``, ``diag[i] = T[i, i]``, ``upper[i] = T[i, i + 1]``.
    Pivoting (LAPACK's gtsv scheme: one extra superdiagonal of fill-in) keeps the
    not-a-knot rows, which are not diagonally dominant, stable.
    """
    n = len(diag)
    d = diag.astype(np.float64).copy()
    du = np.zeros(n)
    du[:-1] = upper
    du2 = np.zeros(n)
    dl = lower.astype(np.float64).copy()
    b = rhs.astype(np.float64).copy()
    for i in range(n - 1):
        if abs(d[i]) >= abs(dl[i]):
            # no swap: eliminate the subdiagonal entry of row i + 1
            if d[i] == 0.0:
                raise np.linalg.LinAlgError("singular tridiagonal system")
            f = dl[i] / d[i]
            d[i + 1] -= f * du[i]
            b[i + 1] -= f * b[i]
            dl[i] = 0.0
        else:
            # swap rows i and i + 1
            f = d[i] / dl[i]
            d[i] = dl[i]
            tmp = d[i + 1]
            d[i + 1] = du[i] - f * tmp
            if i < n - 2:
                du2[i] = du[i + 1]
                du[i + 1] = -f * du[i + 1]
            du[i] = tmp
            b[i], b[i + 1] = b[i + 1], b[i] - f * b[i + 1]
    if d[n - 1] == 0.0:
        raise np.linalg.LinAlgError("singular tridiagonal system")
    x = np.empty(n)
    x[n - 1] = b[n - 1] / d[n - 1]
    if n > 1:
        x[n - 2] = (b[n - 2] - du[n - 2] * x[n - 1]) / d[n - 2]
    for i in range(n - 3, -1, -1):
        x[i] = (b[i] - du[i] * x[i + 1] - du2[i] * x[i + 2]) / d[i]
    return x


def _spline_system(
    h: np.ndarray, ends: str = "not-a-knot"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cubic spline's slope equations ``A s = R y`` on gaps ``h`` (``n >= 4`` nodes).

    Returns ``A`` as (lower, diag, upper) and ``R`` as (rows, cols, vals) triplets:
    interior rows ``h_i s_{i-1} + 2 (h_{i-1} + h_i) s_i + h_{i-1} s_{i+1} =
    3 (h_i delta_{i-1} + h_{i-1} delta_i)`` with ``delta_j = (y_{j+1} - y_j) / h_j``, and
    at both ends de Boor's not-a-knot rows (as in scipy's ``CubicSpline``) or the natural
    ones (``S'' = 0``: ``2 s_0 + s_1 = 3 delta_0``).
    """
    n = len(h) + 1
    diag = np.empty(n)
    upper = np.empty(n - 1)
    lower = np.empty(n - 1)
    diag[1:-1] = 2 * (h[:-1] + h[1:])
    lower[:-1] = h[1:]  # T[i, i - 1] = h_i for the interior rows i = 1..n-2
    upper[1:] = h[:-1]  # T[i, i + 1] = h_{i-1}
    d0, dn = h[0] + h[1], h[-2] + h[-1]
    if ends == "natural":
        diag[0], upper[0] = 2.0, 1.0
        diag[-1], lower[-1] = 2.0, 1.0
    else:
        diag[0], upper[0] = h[1], d0
        diag[-1], lower[-1] = h[-2], dn
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []

    def add_delta(row: int, j: int, coef: float) -> None:
        rows.extend((row, row))
        cols.extend((j, j + 1))
        vals.extend((-coef / h[j], coef / h[j]))

    if ends == "natural":
        add_delta(0, 0, 3.0)
    else:
        add_delta(0, 0, (h[0] + 2 * d0) * h[1] / d0)
        add_delta(0, 1, h[0] ** 2 / d0)
    for i in range(1, n - 1):
        add_delta(i, i - 1, 3 * h[i])
        add_delta(i, i, 3 * h[i - 1])
    if ends == "natural":
        add_delta(n - 1, n - 2, 3.0)
    else:
        add_delta(n - 1, n - 3, h[-1] ** 2 / dn)
        add_delta(n - 1, n - 2, (2 * dn + h[-1]) * h[-2] / dn)
    return lower, diag, upper, np.asarray(rows), np.asarray(cols), np.asarray(vals)


def _check_nodes(alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(alphas, dtype=np.float64)
    if a.ndim != 1 or a.shape[0] < 2:
        raise ValueError(f"a spline rule needs at least 2 nodes, got shape {a.shape}")
    h = np.diff(a)
    if not (h > 0).all():
        raise ValueError("a spline rule needs strictly increasing nodes")
    return a, h


def spline_weights(alphas: np.ndarray, ends: str = "not-a-knot") -> np.ndarray:
    """Weights of the integral of the cubic spline through sorted nodes.

    With the spline's slopes ``s`` at the nodes (``A s = R y``, tridiagonal ``A``, the
    not-a-knot end conditions of de Boor), the integral over ``[a_0, a_{n-1}]`` is
    ``sum_i h_i (y_i + y_{i+1}) / 2 + h_i^2 (s_i - s_{i+1}) / 12``, linear in ``y``:
    ``w = t + R^T A^-T c``. Two nodes give the trapezoid rule, three the parabola's
    integral (Simpson's rule for equal gaps). ``ends="natural"`` (``S'' = 0`` at both ends)
    is exact only up to degree 1 at the ends but never gives large weights; not-a-knot
    can, when the first (or last) two gaps differ a lot.

    Args:
        alphas: ``(n,)`` strictly increasing nodes, ``n >= 2``.
        ends: ``"not-a-knot"`` or ``"natural"``.

    Returns:
        ``(n,)`` float64 weights; they sum to ``a_{n-1} - a_0`` and (not-a-knot)
        integrate cubics exactly.

    Example:
        >>> np.round(spline_weights(np.array([0.0, 0.5, 1.0])), 12).tolist()  # Simpson
        [0.166666666667, 0.666666666667, 0.166666666667]
        >>> a = np.array([0.0, 0.1, 0.15, 0.5, 0.7, 1.0])
        >>> bool(abs(spline_weights(a) @ a**3 - 0.25) < 1e-15)
        True
    """
    a, h = _check_nodes(alphas)
    if ends not in ("not-a-knot", "natural"):
        raise ValueError(f"ends must be 'not-a-knot' or 'natural', got {ends!r}")
    n = len(a)
    if n == 2:
        return np.array([h[0] / 2, h[0] / 2])
    if n == 3 and ends == "not-a-knot":
        h0, h1 = h
        total = h0 + h1
        return np.array(
            [
                total * (2 * h0 - h1) / (6 * h0),
                total**3 / (6 * h0 * h1),
                total * (2 * h1 - h0) / (6 * h1),
            ]
        )
    t = np.zeros(n)
    t[:-1] += h / 2
    t[1:] += h / 2
    c = np.zeros(n)  # the integral's coefficients of the slopes
    c[:-1] += h**2 / 12
    c[1:] -= h**2 / 12
    lower, diag, upper, rows, cols, vals = _spline_system(h, ends)
    z = _solve_tridiagonal(upper, diag, lower, c)  # A^T z = c (transpose swaps the bands)
    w = t.copy()
    np.add.at(w, cols, vals * z[rows])
    return w


def node_rule(alphas: np.ndarray) -> str:
    """Which spline the rule of :func:`node_weights` uses on these nodes.

    ``"not-a-knot"`` unless its weights would amplify noise (absolute sum above 1.1
    times their sum, or a weight above 3 times its node's trapezoid weight), then
    ``"natural"`` under the same test, else ``"trapezoid"``.

    Example:
        >>> node_rule(np.linspace(0.0, 1.0, 7)), node_rule(np.array([0.0, 1e-4, 0.3, 1.0]))
        ('not-a-knot', 'trapezoid')
    """
    a, h = _check_nodes(alphas)
    trap = np.zeros(len(a))
    trap[:-1] += h / 2
    trap[1:] += h / 2
    for ends in ("not-a-knot", "natural"):
        w = spline_weights(a, ends)
        if np.abs(w).sum() <= 1.1 * w.sum() and (w <= 3 * trap).all():
            return ends
    return "trapezoid"


def node_weights(alphas: np.ndarray) -> np.ndarray:
    """The rule of graded meshes: spline weights, unless they would amplify noise.

    Not-a-knot spline weights are exact for cubics. But a spline through a mesh with
    very unequal neighbouring gaps swings hard, and its weights grow large and alternate
    in sign, which would amplify the jumps of a rough integrand: then the natural
    spline's weights are tried, then the trapezoid rule's (always safe); see
    :func:`node_rule`.

    Example:
        >>> a = np.linspace(0.0, 1.0, 5)
        >>> node_weights(a).tolist() == spline_weights(a).tolist()
        True
        >>> node_weights(np.array([0.0, 1e-4, 0.5, 0.7, 1.0])).round(5).tolist()  # trapezoid
        [5e-05, 0.25, 0.35, 0.25, 0.15]
    """
    a, h = _check_nodes(alphas)
    rule = node_rule(a)
    if rule == "trapezoid":
        trap = np.zeros(len(a))
        trap[:-1] += h / 2
        trap[1:] += h / 2
        return trap
    return spline_weights(a, rule)


def node_cell_integrals(alphas: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The integral over each gap of the interpolant behind :func:`node_weights`.

    Sums to ``node_weights(alphas) @ values``.

    Example:
        >>> a = np.array([0.0, 1e-4, 0.5, 0.7, 1.0])
        >>> node_cell_integrals(a, np.ones(5)).tolist() == np.diff(a).tolist()
        True
    """
    a, h = _check_nodes(alphas)
    rule = node_rule(a)
    if rule == "trapezoid":
        y = np.asarray(values, dtype=np.float64)
        return h * (y[:-1] + y[1:]) / 2
    return spline_cell_integrals(a, values, rule)


def spline_cell_integrals(
    alphas: np.ndarray, values: np.ndarray, ends: str = "not-a-knot"
) -> np.ndarray:
    """The cubic spline through ``(alphas, values)`` integrated over each gap.

    Returns ``(n - 1,)``; the sum is ``spline_weights(alphas, ends) @ values``.

    Example:
        >>> a = np.array([0.0, 0.2, 0.5, 0.6, 1.0])
        >>> np.round(spline_cell_integrals(a, a**2), 12).tolist()  # exact for cubics
        [0.002667, 0.039, 0.030333, 0.261333]
    """
    a, h = _check_nodes(alphas)
    y = np.asarray(values, dtype=np.float64)
    n = len(a)
    if n == 2:
        return h * (y[0] + y[1]) / 2
    if n == 3 and ends == "not-a-knot":
        anti = np.polyint(np.polyfit(a, y, 2))
        left = np.polyval(anti, a[1]) - np.polyval(anti, a[0])
        return np.array([left, np.polyval(anti, a[2]) - np.polyval(anti, a[1])])
    lower, diag, upper, rows, cols, vals = _spline_system(h, ends)
    rhs = np.zeros(n)
    np.add.at(rhs, rows, vals * y[cols])
    s = _solve_tridiagonal(lower, diag, upper, rhs)
    return h * (y[:-1] + y[1:]) / 2 + h**2 * (s[:-1] - s[1:]) / 12


def pchip(x: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Monotone piecewise cubic Hermite interpolation (Fritsch-Carlson) of ``y(x)`` at ``at``.

    ``x`` strictly increasing, ``y`` non-decreasing: the interpolant is non-decreasing
    and continuously differentiable.

    Example:
        >>> x, y = np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 1.0])
        >>> pchip(x, y, np.array([0.5, 1.5])).tolist()
        [0.6875, 1.0]
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    h = np.diff(x)
    delta = np.diff(y) / h
    m = np.zeros_like(y)
    if len(x) == 2:
        m[:] = delta[0]
    else:
        w1 = 2 * h[1:] + h[:-1]
        w2 = h[1:] + 2 * h[:-1]
        same = (delta[:-1] * delta[1:]) > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            harm = (w1 + w2) / (w1 / delta[:-1] + w2 / delta[1:])
        m[1:-1] = np.where(same, harm, 0.0)
        for end, d_near, d_far, h_near, h_far in (
            (0, delta[0], delta[1], h[0], h[1]),
            (-1, delta[-1], delta[-2], h[-1], h[-2]),
        ):
            s = ((2 * h_near + h_far) * d_near - h_near * d_far) / (h_near + h_far)
            if s * d_near <= 0:
                s = 0.0
            elif d_near * d_far <= 0 and abs(s) > abs(3 * d_near):
                s = 3 * d_near
            m[end] = s
    at = np.asarray(at, np.float64)
    k = np.clip(np.searchsorted(x, at, side="right") - 1, 0, len(x) - 2)
    t = (at - x[k]) / h[k]
    h00 = (1 + 2 * t) * (1 - t) ** 2
    h10 = t * (1 - t) ** 2
    h01 = t**2 * (3 - 2 * t)
    h11 = t**2 * (t - 1)
    return h00 * y[k] + h10 * h[k] * m[k] + h01 * y[k + 1] + h11 * h[k] * m[k + 1]


class Density:
    """A smooth density on ``[0, 1]``: ``floor + (1 - floor) sum_c m_c K_c``.

    ``K_c`` is a logistic kernel (CDF ``sigmoid((alpha - centre_c) / scale_c)``)
    truncated and renormalised to ``[0, 1]``; the shares ``m_c >= 0`` sum to 1
    (all zero: uniform). Analytic, so a mesh of its quantiles is smoothly graded.

    Args:
        centres, scales, shares: ``(C,)`` arrays (scales > 0).
        floor: uniform share in ``[0, 1]``.

    Example:
        >>> d = Density(np.array([0.25]), np.array([0.01]), np.array([1.0]), floor=0.5)
        >>> float(d.cdf(np.array([0.0, 1.0]))[1]), round(float(d.cdf(np.array([0.25]))[0]), 3)
        (1.0, 0.375)
    """

    def __init__(
        self, centres: np.ndarray, scales: np.ndarray, shares: np.ndarray, floor: float
    ) -> None:
        self.centres = np.asarray(centres, np.float64)
        self.scales = np.maximum(np.asarray(scales, np.float64), 1e-12)
        total = float(np.sum(shares))
        self.shares = (
            np.asarray(shares, np.float64) / total
            if total > 0
            else np.full(len(self.centres), 1.0 / max(len(self.centres), 1))
        )
        self.floor = float(floor) if len(self.centres) else 1.0
        self._lo = self._kernel_cdf(np.zeros(1))[0]
        self._span = self._kernel_cdf(np.ones(1))[0] - self._lo

    def _kernel_cdf(self, alphas: np.ndarray) -> np.ndarray:
        z = (alphas[:, None] - self.centres) / self.scales
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic CDF, without overflow

    def cdf(self, alphas: np.ndarray) -> np.ndarray:
        """``P(alpha)`` in ``[0, 1]``, non-decreasing, ``P(0) = 0`` and ``P(1) = 1``."""
        alphas = np.asarray(alphas, np.float64)
        if not len(self.centres):
            return alphas.copy()
        kern = (self._kernel_cdf(alphas) - self._lo) / self._span
        return self.floor * alphas + (1.0 - self.floor) * (kern @ self.shares)

    def quantile(self, u: np.ndarray) -> np.ndarray:
        """``P^-1(u)`` by bisection to double precision (``u`` in ``[0, 1]``)."""
        u = np.asarray(u, np.float64)
        lo, hi = np.zeros_like(u), np.ones_like(u)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            below = self.cdf(mid) < u
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
        return 0.5 * (lo + hi)


def place_nodes(existing: np.ndarray, density: Density, total: int) -> np.ndarray:
    """The ``total - len(existing)`` new nodes of a graded mesh that keeps ``existing``.

    The mesh is ``P^-1(t(u_k))`` on ``u_k = k / (total - 1)``: ``t = u`` would give the
    density's quantiles; ``t`` is bent (monotone cubic, :func:`pchip`) through
    ``(u_{k_j}, P(e_j))`` for each existing node ``e_j``, with ``k_j`` the grid index
    nearest to ``P(e_j) (total - 1)`` (made strictly increasing), so each existing
    node is exactly the ``k_j``-th node and the grading stays smooth.

    Args:
        existing: sorted nodes already evaluated, ``0`` and ``1`` among them.
        density: where the nodes should be dense.
        total: nodes in the mesh (``>= len(existing)``).

    Returns:
        The new nodes, sorted, none equal to an existing one.

    Example:
        >>> d = Density(np.zeros(0), np.zeros(0), np.zeros(0), floor=1.0)  # uniform
        >>> place_nodes(np.array([0.0, 0.5, 1.0]), d, 5).tolist()
        [0.25, 0.75]
    """
    e = np.asarray(existing, np.float64)
    n_old = len(e)
    if total < n_old:
        raise ValueError(f"total ({total}) is below the {n_old} existing nodes")
    if total == n_old:
        return np.zeros(0)
    p = density.cdf(e)
    p[0], p[-1] = 0.0, 1.0
    k = np.rint(p * (total - 1)).astype(np.int64)
    k[0] = 0
    for j in range(1, n_old - 1):  # strictly increasing, ...
        k[j] = max(k[j], k[j - 1] + 1)
    k[-1] = total - 1
    for j in range(n_old - 2, 0, -1):  # ... and below the last index
        k[j] = min(k[j], k[j + 1] - 1)
    u = np.arange(total) / (total - 1)
    t = pchip(u[k], p, u)
    mesh = density.quantile(np.clip(t, 0.0, 1.0))
    mesh[k] = e
    free = np.ones(total, dtype=bool)
    free[k] = False
    new = mesh[free]
    # a new node can only coincide with an old one through rounding: nudge it to the gap
    # midpoint in that (measure-zero) case so the nodes stay distinct
    full = np.sort(np.concatenate([e, new]))
    if (np.diff(full) <= 0).any():
        fixed = []
        for j, kk in enumerate(np.flatnonzero(free)):
            lo = mesh[kk - 1] if kk > 0 else 0.0
            hi = mesh[kk + 1] if kk + 1 < total else 1.0
            fixed.append(new[j] if lo < new[j] < hi else 0.5 * (lo + hi))
        new = np.asarray(fixed)
    return new
