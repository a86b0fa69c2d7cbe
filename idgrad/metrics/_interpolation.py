"""Interpolation of PIC's partially revealed images: the unknown pixels are filled from the
known ones (piecewise-linear on a Delaunay triangulation, or nearest known pixel)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def _linear_fill(
    points: np.ndarray, values: np.ndarray, simplices: np.ndarray, queries: np.ndarray
) -> np.ndarray:
    """Piecewise-linear interpolation on a triangulation, at integer grid ``queries``.

    The triangles are rasterised: every grid pixel in a triangle's bounding box is tested with
    its barycentric coordinates (closed-form 2×2 inverse, vectorised in numpy). A pixel on an
    edge shared by two triangles takes the first one; both give the same value. Pixels that no
    triangle covers come back as NaN.

    Args:
        points: ``(K, 2)`` integer-valued ``(row, col)`` coordinates of the known pixels.
        values: ``(K, C)`` their values.
        simplices: ``(T, 3)`` triangles as indices into ``points``.
        queries: ``(M, 2)`` integer ``(row, col)`` coordinates to fill.

    Returns:
        ``(M, C)`` float64.
    """
    out = np.full((queries.shape[0], values.shape[1]), np.nan)
    corners = points[simplices]  # (T, 3, 2)
    a, e1, e2 = corners[:, 0], corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    good = det != 0  # flat triangles cover no pixel
    simplices, corners, a, e1, e2, det = (
        simplices[good],
        corners[good],
        a[good],
        e1[good],
        e2[good],
        det[good],
    )
    lo = np.floor(corners.min(axis=1)).astype(np.int64)  # (T, 2)
    hi = np.ceil(corners.max(axis=1)).astype(np.int64)
    extent = hi - lo + 1
    sizes = extent[:, 0] * extent[:, 1]
    tri = np.repeat(np.arange(len(simplices)), sizes)
    offset = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    rows = lo[tri, 0] + offset // extent[tri, 1]
    cols = lo[tri, 1] + offset % extent[tri, 1]
    width = int(max(points[:, 1].max(), queries[:, 1].max())) + 1
    height = int(max(points[:, 0].max(), queries[:, 0].max())) + 1
    slot = np.full(height * width, -1, dtype=np.int64)
    q = queries.astype(np.int64)
    slot[q[:, 0] * width + q[:, 1]] = np.arange(len(q))
    target = slot[rows * width + cols]
    keep = target >= 0
    tri, rows, cols, target = tri[keep], rows[keep], cols[keep], target[keep]
    dr, dc = rows - a[tri, 0], cols - a[tri, 1]
    l1 = (dr * e2[tri, 1] - dc * e2[tri, 0]) / det[tri]
    l2 = (e1[tri, 0] * dc - e1[tri, 1] * dr) / det[tri]
    l0 = 1.0 - l1 - l2
    eps = 1e-9
    inside = (l0 >= -eps) & (l1 >= -eps) & (l2 >= -eps)
    tri, target, l0, l1, l2 = tri[inside], target[inside], l0[inside], l1[inside], l2[inside]
    first = np.unique(target, return_index=True)[1]  # first triangle found for each pixel
    tri, target = tri[first], target[first]
    v = values[simplices[tri]]  # (M', 3, C)
    out[target] = l0[first, None] * v[:, 0] + l1[first, None] * v[:, 1] + l2[first, None] * v[:, 2]
    return out


def _interpolate_from(image: Tensor, known: Tensor, method: str) -> Tensor:
    """Fill the unknown pixels of ``image (C, H, W)`` from the ``known (H, W)`` ones.

    ``"linear"``: piecewise-linear on the Delaunay triangulation (scipy's Qhull) of the known
    pixels, as ``scipy.interpolate.griddata(method="linear")``, evaluated by
    :func:`_linear_fill`; ``"nearest"``: value of the nearest known pixel (``cKDTree``).
    Pixels outside the triangulation take the image's mean colour.
    """
    if bool(known.all()):
        return image.clone()
    try:
        from scipy.spatial import Delaunay, cKDTree
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("pic() needs scipy for its interpolation (pip install scipy)") from err
    c, h, w = image.shape
    arr = image.detach().to(torch.float64).cpu().numpy().reshape(c, h * w).T  # (H·W, C)
    mask = known.cpu().numpy().reshape(-1)
    coords = np.stack(np.unravel_index(np.arange(h * w), (h, w)), axis=1).astype(np.float64)
    filled = arr.copy()
    if method == "linear":
        tri = Delaunay(coords[mask])
        filled[~mask] = _linear_fill(coords[mask], arr[mask], tri.simplices, coords[~mask])
    else:
        nearest = cKDTree(coords[mask]).query(coords[~mask])[1]
        filled[~mask] = arr[mask][nearest]
    missing = np.isnan(filled)
    if missing.any():
        mean = np.broadcast_to(arr.mean(axis=0), filled.shape)
        filled[missing] = mean[missing]
    out = torch.from_numpy(filled.T.reshape(c, h, w).copy())
    return out.to(device=image.device, dtype=image.dtype)
