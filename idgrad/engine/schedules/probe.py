"""What the graded schedule reads from its probe: where the integrand is active, how rough it
is, and whether a map of the path pays.

The probe (the two ends and a quarter of the plain rule's nodes, each with ``F``, ``F'`` and
random projections of the integrand) is read per example:

* **activity** on each cell between probe nodes: the integrand's size at the two ends,
  raised where ``F`` moved more than its end slopes allow (a feature the probe stepped over;
  squared for IDG, whose integrand carries ``F'``);
* **a map** (:func:`idgrad.engine.maps.fit_map`) when the activity is concentrated;
* **roughness**: the median relative residual of quadratic fits to the projections on 5
  neighbouring probe nodes (small on smooth paths sampled finely enough; large on ReLU
  networks' staircases and on features the nodes step over);
* **the gain** of the map under the rough-integrand model (error``^2 ~ integral size^2 h^2``,
  ``h`` the local spacing): the ``n - m`` mapped points against the ``n`` plain ones.

The map is used when the gain clears ``ROUGH_MARGIN`` on rough paths
(``GRAY_MARGIN`` on slightly rough ones); on smooth paths (roughness below
``SMOOTH_ROUGHNESS``) only when the feature is narrower than the plain rule's spacing
there, where Gauss-Legendre alone would not resolve it.

Example:
    >>> probe = np.linspace(0.05, 0.95, 8)
    >>> f = np.tile(np.concatenate([[0.0, 1.0], (probe > 0.5).astype(float)]), (1, 1))
    >>> fp = np.zeros((1, 10))
    >>> sk = np.ones((1, 10, 4))
    >>> use, mapping = decide(32, probe, f, fp, sk, decision_weighted=False)
    >>> bool(use[0]), bool(0.4 < mapping.c[0] < 0.7)
    (True, True)
"""

from __future__ import annotations

import functools
import math

import numpy as np

from idgrad.engine.estimate import matmul
from idgrad.engine.maps import SinhMap, fit_map

__all__ = [
    "GRAY_MARGIN",
    "MAP_OPTIONS",
    "ROUGH_MARGIN",
    "ROUGH_ROUGHNESS",
    "SMOOTH_MARGIN",
    "SMOOTH_ROUGHNESS",
    "decide",
    "roughness",
]

#: Map gains required on rough paths, on slightly rough ones, and on smooth ones.
ROUGH_MARGIN, GRAY_MARGIN, SMOOTH_MARGIN = 0.7, 0.55, 0.7
#: Roughness (median relative residual of quadratic fits on 5 probe nodes) below which the
#: path counts as smooth, and above which as rough.
SMOOTH_ROUGHNESS, ROUGH_ROUGHNESS = 0.25, 0.35
#: Map fitting (see :func:`idgrad.engine.maps.fit_map`).
MAP_OPTIONS = dict(power=1.0, reach=0.25, width_scale=0.25, min_floor=0.1, concentration=2.0)


def decide(
    n: int,
    probe: np.ndarray,
    outputs: np.ndarray,
    derivs: np.ndarray,
    sketches: np.ndarray,
    decision_weighted: bool,
) -> tuple[np.ndarray, SinhMap]:
    """Which examples get a map (``(C,)`` bool) and the maps (flat where none).

    Args:
        n: the budget (points of the plain rule).
        probe: ``(m,)`` the probe's nodes (a subset of the plain rule's).
        outputs, derivs: ``(C, m + 2)`` ``F`` and ``F'`` at ``0``, ``1`` and the probe nodes.
        sketches: ``(C, m + 2, r)`` projections of the integrand there.
        decision_weighted: IDG (the integrand carries ``F'``).
    """
    count, m2, r = sketches.shape
    m = m2 - 2
    # nodes in alpha order: 0, probe..., 1
    order = np.concatenate([[0], np.arange(2, m2), [1]])
    edges = np.concatenate([[0.0], probe, [1.0]])
    size = np.linalg.norm(sketches[:, order], axis=2) / math.sqrt(r)
    f = outputs[:, order]
    fp = np.abs(derivs[:, order])
    h = np.diff(edges)
    slope = np.abs(np.diff(f, axis=1)) / np.maximum(h, 1e-300)
    ends = (fp[:, :-1] + fp[:, 1:]) / 2
    tiny = 1e-12 * np.maximum(slope.max(1, keepdims=True), 1e-300)
    boost = np.maximum(1.0, slope / np.maximum(ends, tiny))
    if decision_weighted:
        boost = boost**2
    density = (size[:, :-1] + size[:, 1:]) / 2 * boost
    mapping, concentrated = fit_map(
        np.broadcast_to(edges, (count, len(edges))),
        density,
        **MAP_OPTIONS,  # type: ignore[arg-type]
    )
    k = n - m
    mid = (edges[:-1] + edges[1:]) / 2
    plain_density = n * _gl_density(mid)[None]
    mapped_density = k * _gl_density(mapping.cdf(np.broadcast_to(mid, (count, len(mid)))))
    mapped_density = mapped_density * mapping.pdf(np.broadcast_to(mid, (count, len(mid))))
    energy = density**2 * h
    ratio = np.sqrt(
        (energy / mapped_density**2).sum(1) / np.maximum((energy / plain_density**2).sum(1), 1e-300)
    )
    rough = roughness(probe, sketches[:, 2:])
    spacing = np.pi * np.sqrt(np.maximum(mapping.c * (1 - mapping.c), 1e-12)) / n
    smooth_ok = (mapping.b < 2 * spacing) & (ratio < SMOOTH_MARGIN)
    gray_ok = ratio < GRAY_MARGIN
    rough_ok = ratio < ROUGH_MARGIN
    use = np.where(
        rough < SMOOTH_ROUGHNESS,
        smooth_ok,
        np.where(rough < ROUGH_ROUGHNESS, gray_ok, rough_ok),
    )
    return concentrated & use, mapping


def _gl_density(alpha: np.ndarray) -> np.ndarray:
    """Gauss-Legendre's node density on ``[0, 1]`` for large ``n``: ``1 / (pi sqrt(a (1 - a)))``."""
    return 1.0 / (np.pi * np.sqrt(np.clip(alpha * (1.0 - alpha), 1e-300, None)))


@functools.lru_cache(maxsize=64)
def _residual_maps(nodes: tuple[float, ...], window: int) -> np.ndarray:
    """``(W, window, window)``: ``I - P`` with ``P`` the projection on quadratics, per window."""
    x_all = np.asarray(nodes)
    starts = np.arange(len(x_all) - window + 1)
    x = x_all[starts[:, None] + np.arange(window)]
    x = (x - x.mean(1, keepdims=True)) / np.maximum(np.ptp(x, axis=1, keepdims=True), 1e-300)
    vander = np.stack([np.ones_like(x), x, x**2], axis=2)
    return np.eye(window)[None] - vander @ np.linalg.pinv(vander)


def roughness(nodes: np.ndarray, sketches: np.ndarray, window: int = 5) -> np.ndarray:
    """Median relative residual of quadratic fits to ``window`` neighbouring nodes, per row.

    Smooth integrands sampled finely enough follow a quadratic on a few neighbouring nodes
    (small residual); rough ones (ReLU networks) and features the nodes step over do not.
    """
    count, m, r = sketches.shape
    if m < window:
        return np.ones(count)
    resid_map = _residual_maps(tuple(nodes.tolist()), window)
    starts = np.arange(m - window + 1)
    y = sketches[:, starts[:, None] + np.arange(window)]  # (C, W, window, r)
    resid = matmul(resid_map[None], y)
    centred = y - y.mean(2, keepdims=True)
    rel = np.sqrt((resid**2).sum((2, 3)) / np.maximum((centred**2).sum((2, 3)), 1e-300))
    return np.median(rel, axis=1)
