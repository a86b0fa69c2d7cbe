"""Gaussian blur as a linear operator, with its exact derivative in the blur scale.

Along each blurred axis of length ``n`` the blur is a matrix ``A(sigma)`` (``n x n``):

    A[i, j] = sum_t k_t(sigma) [reflect(i + t) = j],      t = -R .. R,
    k_t(sigma) = exp(-t^2 / (2 sigma^2)) / sum_s exp(-s^2 / (2 sigma^2)),

where ``reflect(j)`` maps an index outside ``0 .. n-1`` back into the axis by the chosen
``padding`` (one name per convention; the libraries disagree on what "reflect" means):

- ``"symmetric"``: ``c b a | a b c d | d c b``, the edge sample repeated (numpy.pad's
  ``"symmetric"``, scipy.ndimage's ``mode="reflect"``);
- ``"reflect"``: ``d c b | a b c d | c b a``, the edge sample not repeated (numpy.pad's and
  torch's ``"reflect"``, scipy.ndimage's ``mode="mirror"``);
- ``"replicate"``: ``a a a | a b c d | d d d`` (torch's ``"replicate"``, numpy.pad's ``"edge"``,
  scipy.ndimage's ``mode="nearest"``);
- ``"zeros"``: ``0 0 0 | a b c d | 0 0 0`` (``"constant"`` with 0 in all three).

Both reflections repeat periodically, so they stay valid for any radius ``R``, also one
larger than the axis. Blur IG and the ``"blur"`` baseline use ``"symmetric"`` (the default,
:data:`DEFAULT_PADDING`); the insertion metric's substrate
(:func:`idgrad.metrics.gaussian_blur`) uses ``"reflect"``. The kernel's sigma-derivative is
exact:

    d k_t / d sigma = k_t (t^2 - sum_s k_s s^2) / sigma^3,

so a multi-axis blur ``y = A_1 ... A_m x`` has the velocity
``dy / d sigma = sum_a A_1 .. dA_a .. A_m x`` (the product rule, one axis at a time).
With ``R`` fixed, ``sigma -> blur(x, sigma)`` is a smooth curve, and ``sigma = 0`` is
the identity. This is the path of Blur IG (:mod:`idgrad.methods.blur_ig`) and the
``"blur"`` baseline (:mod:`idgrad.core.baselines`).

Example:
    >>> import torch
    >>> x = torch.zeros(1, 1, 5, 5, dtype=torch.float64); x[0, 0, 2, 2] = 1.0
    >>> y = gaussian_filter(x, 1.0)
    >>> round(float(y.sum()), 12), round(float(y[0, 0, 2, 2]), 4)
    (1.0, 0.1592)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Literal, get_args

import torch

__all__ = [
    "DEFAULT_PADDING",
    "PADDINGS",
    "Padding",
    "blur_and_velocity",
    "blur_radius",
    "default_blur_dims",
    "gaussian_filter",
]

Padding = Literal["symmetric", "reflect", "replicate", "zeros"]
"""How the blur extends an axis beyond its ends (see the list above)."""

PADDINGS: tuple[str, ...] = get_args(Padding)

DEFAULT_PADDING: Padding = "symmetric"
"""Half-sample symmetric (scipy's ``mode="reflect"``): Blur IG's and the blur baseline's."""

# Below this sigma every off-centre weight is < exp(-200) / sigma^3: the blur is the identity.
_TINY_SIGMA = 0.05


def default_blur_dims(ndim: int) -> tuple[int, ...]:
    """Axes blurred by default for a batch tensor of ``ndim`` dims.

    ``(B, C, *spatial)`` (``ndim >= 3``) blurs the spatial axes ``2 ..``; ``(B, L)``
    blurs axis 1.

    Example:
        >>> default_blur_dims(4), default_blur_dims(2)
        ((2, 3), (1,))
    """
    if ndim < 2:
        raise ValueError(f"a blurred tensor needs a batch axis and a feature axis, got {ndim} dims")
    return tuple(range(2, ndim)) if ndim >= 3 else (1,)


def _check_dims(dims: Sequence[int] | None, ndim: int, label: str) -> tuple[int, ...]:
    if dims is None:
        return default_blur_dims(ndim)
    if isinstance(dims, (int, bool)) or not all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in dims
    ):
        raise TypeError(f"dims must be a sequence of ints, got {dims!r}")
    out = tuple(sorted({int(d) % ndim if -ndim <= d < ndim else ndim for d in dims}))
    if not out or any(d == 0 or d >= ndim for d in out):
        raise ValueError(
            f"dims {tuple(dims)} must name non-batch axes of {label} ({ndim} dims): 1 .. {ndim - 1}"
        )
    return out


def blur_radius(sigma: float, truncate: float = 4.0) -> int:
    """Kernel radius ``int(truncate * sigma + 0.5)`` (as scipy.ndimage).

    Example:
        >>> blur_radius(1.0), blur_radius(2.6)
        (4, 10)
    """
    return int(truncate * float(sigma) + 0.5)


def _kernels(
    sigmas: torch.Tensor, radius: int, derivative: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Kernels ``(P, 2R + 1)`` float64 for sigmas ``(P,)`` and, on request, d/dsigma."""
    t = torch.arange(-radius, radius + 1, dtype=torch.float64, device=sigmas.device)
    s = sigmas.to(torch.float64).clamp_min(_TINY_SIGMA).unsqueeze(1)
    e = torch.exp(-(t**2) / (2 * s**2))
    k = e / e.sum(1, keepdim=True)
    tiny = (sigmas < _TINY_SIGMA).unsqueeze(1)
    delta = (t == 0).to(torch.float64).expand_as(k)
    k = torch.where(tiny, delta, k)
    if not derivative:
        return k, None
    second = (k * t**2).sum(1, keepdim=True)
    dk = k * (t**2 - second) / s**3
    dk = torch.where(tiny, torch.zeros_like(dk), dk)
    return k, dk


def _check_padding(padding: object) -> Padding:
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    return padding  # type: ignore[return-value]


def _source_index(n: int, radius: int, padding: Padding, device: torch.device) -> torch.Tensor:
    """``(n, 2R + 1)`` index of the sample that output ``i`` reads at offset ``t``.

    The index ``n`` (one past the axis) stands for a zero (``padding="zeros"``).
    """
    i = torch.arange(n, device=device).unsqueeze(1)
    t = torch.arange(-radius, radius + 1, device=device).unsqueeze(0)
    j = i + t
    if padding == "symmetric":  # period 2n: a b c d d c b a
        m = torch.remainder(j, 2 * n)
        return torch.where(m >= n, 2 * n - 1 - m, m)
    if padding == "reflect":  # period 2n - 2: a b c d c b
        if n == 1:
            return torch.zeros_like(j)
        m = torch.remainder(j, 2 * n - 2)
        return torch.where(m >= n, 2 * n - 2 - m, m)
    if padding == "replicate":
        return j.clamp(0, n - 1)
    return torch.where((j >= 0) & (j < n), j, torch.full_like(j, n))


def _matrices(kernels: torch.Tensor, n: int, radius: int, padding: Padding) -> torch.Tensor:
    """Blur matrices ``(P, n, n)`` from kernels ``(P, 2R + 1)``."""
    p = kernels.shape[0]
    index = _source_index(n, radius, padding, kernels.device)
    index = index.unsqueeze(0).expand(p, n, 2 * radius + 1)
    out = torch.zeros(p, n, n + 1, dtype=kernels.dtype, device=kernels.device)
    out.scatter_add_(2, index, kernels.unsqueeze(1).expand(p, n, 2 * radius + 1))
    return out[:, :, :n]


def _apply(matrix: torch.Tensor, x: torch.Tensor, dim: int) -> torch.Tensor:
    """``y[p, ..., i, ...] = sum_j matrix[p, i, j] x[p, ..., j, ...]`` along ``dim``."""
    moved = x.movedim(dim, -1)
    shape = moved.shape
    y = torch.bmm(moved.reshape(shape[0], -1, shape[-1]), matrix.transpose(1, 2))
    return y.reshape(shape).movedim(-1, dim)


def blur_and_velocity(
    x: torch.Tensor,
    sigmas: torch.Tensor,
    radius: int,
    dims: Sequence[int] | None = None,
    velocity: bool = True,
    padding: Padding = DEFAULT_PADDING,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Blur each row of ``x`` with its own sigma, and (optionally) ``d blur / d sigma``.

    Args:
        x: ``(P, ...)`` floating tensor, one row per point.
        sigmas: ``(P,)`` non-negative blur scales (std. dev. in samples).
        radius: fixed kernel radius ``R`` (the same for every sigma keeps the curve smooth).
        dims: blurred axes (default :func:`default_blur_dims`).
        velocity: also return the sigma-derivative.
        padding: how an axis is extended beyond its ends (see the module's list).

    Returns:
        ``(blurred, d_blurred_d_sigma or None)``, each like ``x``; computed in float64
        for float64 ``x`` and float32 otherwise, returned in ``x``'s dtype.

    Example:
        >>> x = torch.arange(6.0, dtype=torch.float64).reshape(1, 6)
        >>> y, v = blur_and_velocity(x, torch.tensor([0.0]), radius=3)
        >>> torch.equal(y, x), float(v.abs().max())
        (True, 0.0)
    """
    dims_t = _check_dims(dims, x.ndim, "x")
    padding = _check_padding(padding)
    if isinstance(radius, bool) or not isinstance(radius, numbers.Integral) or radius < 0:
        raise ValueError(f"radius must be an int >= 0, got {radius!r}")
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64, device=x.device).reshape(-1)
    if sigmas.shape[0] != x.shape[0]:
        raise ValueError(f"got {sigmas.shape[0]} sigmas for {x.shape[0]} rows")
    if not torch.isfinite(sigmas).all() or (sigmas < 0).any():
        raise ValueError("sigmas must be finite and >= 0")
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    k, dk = _kernels(sigmas, int(radius), velocity)
    y = x.to(work)
    dy = torch.zeros_like(y) if velocity else None
    for d in dims_t:
        n = x.shape[d]
        a = _matrices(k, n, int(radius), padding).to(work)
        if velocity:
            assert dk is not None and dy is not None
            da = _matrices(dk, n, int(radius), padding).to(work)
            dy = _apply(a, dy, d) + _apply(da, y, d)
        y = _apply(a, y, d)
    return y.to(x.dtype), (dy.to(x.dtype) if dy is not None else None)


def gaussian_filter(
    x: torch.Tensor,
    sigma: float | torch.Tensor,
    dims: Sequence[int] | None = None,
    truncate: float = 4.0,
    *,
    radius: int | None = None,
    padding: Padding = DEFAULT_PADDING,
) -> torch.Tensor:
    """Gaussian blur of a batch (scipy.ndimage.gaussian_filter with ``mode="reflect"`` by
    default, i.e. ``padding="symmetric"``).

    Args:
        x: ``(B, ...)`` floating tensor; ``x`` is not modified.
        sigma: standard deviation in samples (>= 0): a number, or ``(B,)`` per example.
        dims: blurred axes (default: ``2 ..`` for ``(B, C, *spatial)``, ``1`` for ``(B, L)``).
        truncate: kernel radius in standard deviations (radius ``int(truncate sigma + 0.5)``).
        radius: the kernel radius itself (``>= 0``), in place of ``truncate``: a kernel of
            ``2 radius + 1`` taps.
        padding: how an axis is extended beyond its ends (see the module's list).

    Returns:
        The blurred batch, like ``x``.

    Example:
        >>> x = torch.full((2, 3, 8, 8), 0.25)
        >>> torch.allclose(gaussian_filter(x, 2.0), x)
        True
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError("x must be a floating-point tensor")
    sig = torch.as_tensor(sigma, dtype=torch.float64).reshape(-1).expand(x.shape[0])
    if not torch.isfinite(sig).all() or (sig < 0).any():
        raise ValueError(f"sigma must be finite and >= 0, got {sigma}")
    if (
        isinstance(truncate, bool)
        or not isinstance(truncate, numbers.Real)
        or not (math.isfinite(truncate) and truncate > 0)
    ):
        raise ValueError(f"truncate must be a finite number > 0, got {truncate!r}")
    if radius is None:
        radius = blur_radius(float(sig.max()), float(truncate))
    y, _ = blur_and_velocity(x.detach(), sig, radius, dims, velocity=False, padding=padding)
    return y
