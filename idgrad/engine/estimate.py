"""The graded schedule's error estimate, from random projections of the integrand.

A path integral's attributions are a vector of ``D`` features; their relative L2 error is
estimated from ``r`` random projections of the integrand ("sketches": ``S_k = R^T U_k``
with ``R`` a ``D x r`` Gaussian matrix) at the rule's nodes, which cost ``r`` numbers per
node instead of a gradient per node: the error of the sketched integral has nearly the
relative size of the error of the full one (Johnson-Lindenstrauss; with ``r = 32`` within
about +-25% for most draws).

Two regimes, told apart by the estimates themselves:

* **rough** integrands (ReLU networks: every feature's gradient is a staircase along the
  path with many jumps): the two halves of the rule's nodes (every other node, twice the
  weight) each make an O(h) rule; their errors from jumps at random places have correlation
  ``-1/2``, so the full rule's error is ``|Q_a - Q_b| / (2 sqrt 3)``, about ``0.29 |Q_a - Q_b|``
  in the mean; the measured ratio varies by a factor of about 3 around it (digits CNN,
  EfficientNet-Lite0), so :data:`HALF_FACTOR` is 1.6 times that, which puts the estimate
  above the error in about 9 of 10 cases and within 3x of it;
* **smooth** integrands: the Legendre coefficients ``c_j`` of the sketch's interpolant at
  the ``k`` Gauss-Legendre nodes decay geometrically; a line through ``log |c_j|`` on the
  upper half ``j in [k/2, k)`` gives ``|c_2k|``, and the rule's error is about
  ``1.23 / sqrt(k) |c_2k|`` (the rule's error on ``P_2k``), times :data:`SPECTRAL_SAFETY`.

The spectral estimate is used when it is below a tenth of the rough one (a smooth
integrand: the halves differ by the rule's O(1/k) weight imbalance, far above its error);
both are floored at the rounding level. For IDG the rescaling ``1 / sum w F'^2`` is a
quadrature too: its error (the same estimates on ``F'^2``) adds.

Example:
    >>> x, w = np.polynomial.legendre.leggauss(16)
    >>> t, wt = (x + 1) / 2, w / 2
    >>> S = np.stack([np.exp(t), np.cos(3 * t)], 1)[None]   # smooth: a tiny estimate
    >>> err, smooth = estimate_errors(wt, S, eps=2.2e-16)
    >>> bool(err[0] < 1e-12), bool(smooth[0])
    (True, True)
"""

from __future__ import annotations

import functools

import numpy as np
import torch

__all__ = [
    "HALF_FACTOR",
    "SPECTRAL_SAFETY",
    "combine",
    "estimate_errors",
    "half_errors",
    "legendre_coefficients",
    "matmul",
    "spectral_errors",
]

#: ``E = HALF_FACTOR |Q_a - Q_b|`` for rough integrands: ``1.6 / (2 sqrt 3)`` (see the module).
HALF_FACTOR = 0.47
#: Factor on the spectral estimate (its extrapolation is the uncertain part).
SPECTRAL_SAFETY = 3.0
#: The spectral estimate is trusted when below this share of the rough one.
SMOOTH_SHARE = 0.1


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for float64 numpy arrays, computed by torch (its threads, not numpy's BLAS).

    numpy's BLAS starts its own threads, which on a busy 2-core machine spin: a 52x52 by
    52x1024 product took 1-23 ms there against torch's 0.5 ms (``torch.set_num_threads``
    is respected). Same broadcasting as ``@``.

    Example:
        >>> matmul(np.eye(2), np.array([[1.0], [2.0]])).ravel().tolist()
        [1.0, 2.0]
    """
    ta, tb = (torch.from_numpy(np.require(m, requirements="W")) for m in (a, b))
    return torch.matmul(ta, tb).numpy()


def legendre_coefficients(weights: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Legendre coefficients of the interpolants at the ``k`` Gauss-Legendre nodes in ``t``.

    ``c_j = (2 j + 1) sum_i w_i P_j(x_i) S_i`` with ``x = 2 t - 1`` and the weights ``w`` on
    ``[0, 1]`` (sum 1): exact for the interpolating polynomial of degree ``k - 1``.

    Args:
        weights: ``(k,)`` Gauss-Legendre weights on ``[0, 1]``.
        samples: ``(B, k, r)`` values at the nodes.

    Returns:
        ``(B, k, r)`` coefficients.
    """
    k = len(weights)
    flat = samples.transpose(1, 0, 2).reshape(k, -1)
    coef = matmul(_transform(k), flat)
    return coef.reshape(k, samples.shape[0], -1).transpose(1, 0, 2)


@functools.lru_cache(maxsize=16)
def _transform(k: int) -> np.ndarray:
    """``(k, k)``: ``(2 j + 1) w_i P_j(x_i)``, the discrete Legendre transform at ``k`` nodes."""
    from idgrad.engine.rules import rule_points

    t, w = rule_points(k, "gausslegendre")
    vander = np.polynomial.legendre.legvander(2.0 * t - 1.0, k - 1)  # (k, k): P_j(x_i)
    out = (vander * w[:, None]).T * (2 * np.arange(k) + 1)[:, None]
    out.setflags(write=False)
    return out


def spectral_errors(weights: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """``1.23 / sqrt(k) |c_2k| / |Q|`` per example, from a line through the upper half.

    ``c_2k`` is extrapolated from the envelope of ``|c_j|`` (the norm over the ``r``
    projections) for ``j`` in ``[k/2, k)``; ``Q = sum_i w_i S_i``.
    """
    coef = legendre_coefficients(weights, samples)
    total = np.linalg.norm(np.einsum("k,bkr->br", weights, samples), axis=1)
    k = coef.shape[1]
    norms = np.linalg.norm(coef, axis=2)
    envelope = np.maximum.accumulate(norms[:, ::-1], axis=1)[:, ::-1]
    lo = k // 2
    j = np.arange(lo, k, dtype=np.float64)
    y = np.log(np.maximum(envelope[:, lo:], 1e-300))
    jc = j - j.mean()
    slope = (y - y.mean(1, keepdims=True)) @ jc / max(float(jc @ jc), 1e-300)
    slope = np.minimum(slope, 0.0)
    at_2k = y.mean(1) + slope * (2 * k - j.mean())
    return 1.23 / np.sqrt(k) * np.exp(at_2k) / np.maximum(total, 1e-300)


def half_errors(total: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``HALF_FACTOR |Q_a - Q_b| / |Q|`` per example (rows of ``(B, ...)`` arrays)."""
    batch = len(total)
    diff = np.linalg.norm((first - second).reshape(batch, -1), axis=1)
    size = np.linalg.norm(total.reshape(batch, -1), axis=1)
    return HALF_FACTOR * diff / np.maximum(size, 1e-300)


def combine(
    rough: np.ndarray, smooth: np.ndarray | None, eps: float, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The estimate from the rough and (if known) spectral ones, and which was chosen.

    The spectral estimate (times :data:`SPECTRAL_SAFETY`) when below :data:`SMOOTH_SHARE` of
    the rough one, else the rough one; never below the rounding level ``8 eps sqrt(k)``.
    """
    floor = 8 * eps * np.sqrt(k)
    if smooth is None:
        return np.maximum(rough, floor), np.zeros(len(rough), dtype=bool)
    is_smooth = smooth < SMOOTH_SHARE * rough
    chosen = np.where(is_smooth, SPECTRAL_SAFETY * smooth, rough)
    return np.maximum(chosen, floor), is_smooth


def estimate_errors(
    weights: np.ndarray,
    samples: np.ndarray,
    *,
    eps: float,
    normaliser: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Estimated relative L2 error of ``sum_i w_i S_i`` per example, from the sketches alone.

    Args:
        weights: ``(k,)`` Gauss-Legendre weights on ``[0, 1]`` (the rule in ``t``).
        samples: ``(B, k, r)`` sketches of the integrand in ``t`` (times ``d alpha / dt``).
        eps: the rounding level of the model's dtype (the floor of the estimate).
        normaliser: ``(B, k)`` the integrand of a scalar the result is divided by (IDG's
            ``F'^2 d alpha / dt``), or None.

    Returns:
        ``(errors, smooth)``: ``(B,)`` estimates, and whether the integrand (not the
        normaliser) looked smooth (the spectral estimate was used).
    """
    batch, k, _ = samples.shape
    if k < 4:
        return np.full(batch, np.inf), np.zeros(batch, dtype=bool)
    parts = [samples] if normaliser is None else [samples, normaliser[:, :, None]]
    errors = np.zeros(batch)
    smooth_integrand = np.zeros(batch, dtype=bool)
    for i, values in enumerate(parts):
        q = np.einsum("k,bkr->br", weights, values)
        qa = 2.0 * np.einsum("k,bkr->br", weights[0::2], values[:, 0::2])
        qb = 2.0 * np.einsum("k,bkr->br", weights[1::2], values[:, 1::2])
        err, is_smooth = combine(half_errors(q, qa, qb), spectral_errors(weights, values), eps, k)
        errors = errors + err
        if i == 0:
            smooth_integrand = is_smooth
    return errors, smooth_integrand
