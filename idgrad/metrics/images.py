"""Image helpers of the metrics: channel attributions to a saliency map, the Gaussian blur of
the insertion protocol, and the substrates (what removed or not-yet-inserted pixels show).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from idgrad.core.validation import check_int
from idgrad.metrics._checks import _check_images
from idgrad.ops.blur import PADDINGS, Padding, gaussian_filter
from idgrad.ops.channels import SALIENCY_REDUCTION, Reduction, combine_channels

__all__ = ["Reduction", "Substrate", "gaussian_blur", "saliency_map"]

Substrate = float | Tensor | Callable[[Tensor], Tensor] | Literal["blur"]
"""A value, a tensor broadcastable to the images, ``images -> tensor`` or ``"blur"``."""


def _resolve_substrate(substrate: object, images: Tensor, name: str = "substrate") -> Tensor:
    if isinstance(substrate, str):
        if substrate == "blur":
            return gaussian_blur(images)
        raise ValueError(
            f"{name} must be a number, a tensor, a callable or 'blur', got {substrate!r}"
        )
    if isinstance(substrate, bool):
        raise TypeError(f"{name} must be a number, a tensor, a callable or 'blur', got bool")
    if isinstance(substrate, (int, float, np.integer, np.floating)):
        return torch.full_like(images, float(substrate))
    if isinstance(substrate, Tensor):
        try:
            shape = torch.broadcast_shapes(substrate.shape, images.shape)
        except RuntimeError:
            shape = None
        if shape != images.shape:
            raise ValueError(
                f"{name} of shape {tuple(substrate.shape)} does not broadcast to the images' "
                f"shape {tuple(images.shape)}"
            )
        return substrate.detach().to(device=images.device, dtype=images.dtype).expand(images.shape)
    if callable(substrate):
        out = substrate(images.detach().clone())
        if not isinstance(out, Tensor) or out.shape != images.shape:
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(
                f"{name}(images) must return a tensor of shape {tuple(images.shape)}, got {shape}"
            )
        return out.detach().to(device=images.device, dtype=images.dtype)
    raise TypeError(
        f"{name} must be a number, a tensor, a callable or 'blur', got {type(substrate).__name__}"
    )


def saliency_map(attributions: Tensor, reduction: Reduction = SALIENCY_REDUCTION) -> Tensor:
    r"""Reduce channel attributions ``(B, C, H, W)`` to a pixel saliency map ``(B, H, W)``.

    The reductions are those of :mod:`idgrad.ops.channels` (one implementation for the metrics and
    the plots). The default, ``"abs_sum"`` = :math:`|\sum_c a_c|`, is the IDG paper's
    protocol; ``"sum_abs"``, ``"sum"``, ``"positive_sum"``, ``"l2"`` and ``"max_abs"`` are the
    others.

    Args:
        attributions: ``(B, C, H, W)`` attributions of an image batch.
        reduction: one of :data:`idgrad.ops.channels.REDUCTIONS`.

    Returns:
        ``(B, H, W)`` saliency, same dtype and device as ``attributions``.

    Raises:
        ValueError: if ``attributions`` is not 4-D or ``reduction`` is unknown.

    Example:
        >>> a = torch.tensor([[[[1.0, -2.0]], [[-3.0, 1.0]]]])  # (1, 2, 1, 2)
        >>> saliency_map(a)
        tensor([[[2., 1.]]])
        >>> saliency_map(a, "sum_abs")
        tensor([[[4., 3.]]])
    """
    if not isinstance(attributions, Tensor):
        raise TypeError(f"attributions must be a torch.Tensor, got {type(attributions).__name__}")
    if attributions.ndim != 4:
        raise ValueError(
            f"attributions must have shape (B, C, H, W), got {tuple(attributions.shape)}"
        )
    return combine_channels(attributions, reduction, dim=1)


def gaussian_blur(
    images: Tensor,
    kernel_size: int = 11,
    sigma: float = 5.0,
    padding: Padding = "reflect",
) -> Tensor:
    r"""Blur every channel of an image batch with a normalised Gaussian kernel.

    The kernel is the sampled Gaussian
    :math:`k_i = e^{-i^2 / 2\sigma^2} / \sum_j e^{-j^2 / 2\sigma^2}`, :math:`i = -r, \dots, r`,
    :math:`r = \lfloor \text{kernel\_size} / 2 \rfloor`, applied along the rows and then the
    columns (the separable 2-D kernel :math:`k_i k_j`) by :func:`idgrad.ops.blur.gaussian_filter`,
    the one blur of idgrad. The weights sum to 1 (up to rounding), so a constant image is
    unchanged.

    ``padding="reflect"`` (the default) mirrors the image without repeating the edge pixel
    (``c b | a b c``: torch's and numpy's ``"reflect"``, scipy's ``"mirror"``);
    ``"symmetric"`` repeats it (``b a | a b c``: scipy's ``"reflect"``, the convention of
    Blur IG); ``"replicate"`` repeats the edge pixel outwards; ``"zeros"`` pads with 0 and so
    darkens the border. Both reflections repeat periodically, so any image size works.

    Note:
        The RISE code that the IDG authors use builds its 11×11 kernel by smoothing a delta
        with ``scipy.ndimage.gaussian_filter(sigma=5)`` inside the 11×11 window, which folds
        the tails back and gives an almost flat (box-like) kernel, and then pads with zeros.
        This function is the plain sampled Gaussian; pass ``padding="zeros"`` to get their
        border behaviour.

    Args:
        images: ``(B, C, H, W)`` floating-point images.
        kernel_size: odd positive kernel width (default 11, as in the IDG paper).
        sigma: standard deviation in pixels, ``> 0`` (default 5, as in the IDG paper).
        padding: ``"reflect"``, ``"symmetric"``, ``"replicate"`` or ``"zeros"``.

    Returns:
        Blurred images, same shape, dtype and device; ``images`` is not modified.

    Raises:
        ValueError: for an even or non-positive ``kernel_size``, ``sigma <= 0`` or an unknown
            ``padding``.

    Example:
        >>> x = torch.full((1, 3, 16, 16), 0.5)
        >>> torch.allclose(gaussian_blur(x), x)
        True
        >>> delta = torch.zeros(1, 1, 21, 21); delta[0, 0, 10, 10] = 1.0
        >>> round(gaussian_blur(delta).sum().item(), 6)
        1.0
    """
    images = _check_images(images)
    kernel_size = check_int(kernel_size, "kernel_size")
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd, got {kernel_size}")
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.integer, np.floating)):
        raise TypeError(f"sigma must be a number, got {type(sigma).__name__}")
    if not sigma > 0 or not math.isfinite(sigma):
        raise ValueError(f"sigma must be finite and > 0, got {sigma}")
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    return gaussian_filter(
        images, float(sigma), dims=(2, 3), radius=kernel_size // 2, padding=padding
    )
