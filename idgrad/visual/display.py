"""Images for display: any tensor or array to RGB in [0, 1], grey levels, blending, masking."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from idgrad.visual._arrays import _as_array, _check_unit_image, _drop_batch, _to_hwc

__all__ = ["blend", "mask_image", "to_display_image", "to_grayscale"]

# ITU-R BT.601 luma weights.
_LUMA = np.array([0.299, 0.587, 0.114])


def to_display_image(
    image: Any,
    *,
    channels_first: bool | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> np.ndarray:
    """Converts an image tensor or array to a float RGB array ``(H, W, 3)`` in ``[0, 1]``.

    Accepted shapes: ``(H, W)``, ``(C, H, W)``, ``(H, W, C)`` and ``(1, C, H, W)`` with
    ``C`` in 1, 3 or 4. The layout is inferred from which end has 1, 3 or 4 entries (if both do,
    3 is preferred, then 4, then 1); when it cannot be, e.g. ``(3, 5, 3)``, pass
    ``channels_first``. Grey images are repeated to three channels and an
    alpha channel is dropped.

    Values: integer arrays are divided by 255 (``uint8``) or rescaled to their range; float
    arrays already in ``[0, 1]`` are kept; ``mean``/``std`` undo a per-channel normalisation
    (``x * std + mean``) and the result is clipped to ``[0, 1]``; any other float array is
    min-max rescaled, so a normalised model input still displays sensibly.

    Args:
        image: The image, as a torch tensor, numpy array or nested sequence.
        channels_first: ``True`` for ``(C, H, W)``, ``False`` for ``(H, W, C)``, ``None`` to
            infer it.
        mean: Per-channel mean of the normalisation to undo, e.g. ImageNet's.
        std: Per-channel standard deviation of the normalisation to undo.

    Returns:
        A float64 array of shape ``(H, W, 3)`` with values in ``[0, 1]``.

    Raises:
        ValueError: For a wrong number of dimensions, a batch of more than one, an unknown
            layout, or ``mean``/``std`` of the wrong length.

    Example:
        >>> import torch
        >>> to_display_image(torch.ones(3, 5, 7)).shape
        (5, 7, 3)
        >>> float(to_display_image(np.full((2, 2), 255, dtype=np.uint8)).max())
        1.0
    """
    if isinstance(image, torch.Tensor):
        raw_integer = not (image.is_floating_point() or image.dtype == torch.bool)
        raw_uint8 = image.dtype == torch.uint8
    else:
        dtype = np.asarray(image).dtype
        raw_integer = bool(np.issubdtype(dtype, np.integer))  # bool is not an integer here
        raw_uint8 = dtype == np.uint8
    array = _drop_batch(_as_array(image, "image"), "image")
    array = array[..., None] if array.ndim == 2 else _to_hwc(array, channels_first, "image")
    if array.shape[-1] == 4:
        array = array[..., :3]
    channels = array.shape[-1]
    if channels not in (1, 3):
        raise ValueError(f"image must have 1, 3 or 4 channels, got {channels}")

    if (mean is None) != (std is None):
        raise ValueError("pass both mean and std to undo a normalisation, or neither")
    if mean is not None and std is not None:
        mean_a = np.asarray(mean, dtype=np.float64).reshape(-1)
        std_a = np.asarray(std, dtype=np.float64).reshape(-1)
        if mean_a.size not in (1, channels) or std_a.size not in (1, channels):
            raise ValueError(
                f"mean and std must have 1 or {channels} entries, "
                f"got {mean_a.size} and {std_a.size}"
            )
        array = np.clip(array * std_a + mean_a, 0.0, 1.0)
    elif raw_uint8:
        array = array / 255.0
    elif raw_integer or array.min() < 0.0 or array.max() > 1.0:
        low, high = float(array.min()), float(array.max())
        array = (array - low) / (high - low) if high > low else np.zeros_like(array)

    if channels == 1:
        array = np.repeat(array, 3, axis=-1)
    return np.ascontiguousarray(array)


def to_grayscale(image: Any, *, channels_first: bool | None = None) -> np.ndarray:
    """Converts an image to grey levels ``(H, W)`` in ``[0, 1]`` (BT.601 luma).

    Args:
        image: Any image :func:`to_display_image` accepts.
        channels_first: Layout of a 3-D image; ``None`` infers it.

    Returns:
        A float64 array of shape ``(H, W)``.

    Example:
        >>> to_grayscale(np.ones((5, 6, 3))).shape
        (5, 6)
    """
    rgb = to_display_image(image, channels_first=channels_first)
    grey: np.ndarray = np.clip(rgb @ _LUMA, 0.0, 1.0)
    return grey


def blend(image: Any, overlay: Any, alpha: float | Any = 0.5) -> np.ndarray:
    """Alpha-blends a coloured overlay onto an image: ``(1 - a) * image + a * overlay``.

    Args:
        image: ``(H, W)`` or ``(H, W, 3)`` array in ``[0, 1]`` (grey images are repeated to RGB).
        overlay: ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA in ``[0, 1]``, e.g. a colour map's output;
            an RGBA overlay's own alpha multiplies ``alpha``.
        alpha: Opacity of the overlay in ``[0, 1]``: a number, or an ``(H, W)`` array to vary
            it per pixel (e.g. ``alpha * |map|`` so unimportant pixels show the image).

    Returns:
        A float64 ``(H, W, 3)`` array in ``[0, 1]``.

    Raises:
        ValueError: For mismatched shapes or values outside ``[0, 1]``.

    Example:
        >>> out = blend(np.zeros((2, 2, 3)), np.ones((2, 2, 3)), alpha=0.25)
        >>> float(out.min()), float(out.max())
        (0.25, 0.25)
    """
    base = _check_unit_image(image, "image")
    layer = _as_array(overlay, "overlay")
    if layer.ndim != 3 or layer.shape[-1] not in (3, 4) or layer.shape[:2] != base.shape[:2]:
        raise ValueError(
            f"overlay must have shape {(*base.shape[:2], 3)} or {(*base.shape[:2], 4)} to match "
            f"the image, got {tuple(layer.shape)}"
        )
    if layer.min() < 0.0 or layer.max() > 1.0:
        raise ValueError("overlay must have values in [0, 1]")
    opacity = _as_array(alpha, "alpha")
    if opacity.ndim not in (0, 2) or (opacity.ndim == 2 and opacity.shape != base.shape[:2]):
        raise ValueError(
            f"alpha must be a number or an array of shape {base.shape[:2]}, "
            f"got shape {tuple(opacity.shape)}"
        )
    if opacity.min() < 0.0 or opacity.max() > 1.0:
        raise ValueError("alpha must be in [0, 1]")
    if layer.shape[-1] == 4:
        opacity = opacity * layer[..., 3]
        layer = layer[..., :3]
    weight = np.broadcast_to(opacity, base.shape[:2])[..., None]
    blended: np.ndarray = np.clip((1.0 - weight) * base + weight * layer, 0.0, 1.0)
    return blended


def mask_image(image: Any, values: Any) -> np.ndarray:
    """Multiplies an image by a map in ``[0, 1]``: important pixels stay, the rest fades to black.

    Args:
        image: ``(H, W)`` or ``(H, W, 3)`` array in ``[0, 1]``.
        values: ``(H, W)`` map in ``[0, 1]``, e.g. ``attribution_map(a, sign="absolute")``.

    Returns:
        A float64 ``(H, W, 3)`` array in ``[0, 1]``.

    Raises:
        ValueError: For mismatched shapes or a map outside ``[0, 1]`` (normalise it first).

    Example:
        >>> mask_image(np.ones((1, 2, 3)), np.array([[0.0, 0.5]]))[0, :, 0]
        array([0. , 0.5])
    """
    base = _check_unit_image(image, "image")
    weight = _as_array(values, "values")
    if weight.shape != base.shape[:2]:
        raise ValueError(
            f"values must have shape {base.shape[:2]} to match the image, got {tuple(weight.shape)}"
        )
    if weight.size and (weight.min() < 0.0 or weight.max() > 1.0):
        raise ValueError(
            "values must be in [0, 1] to mask an image; use a one-sign map "
            "(sign='positive', 'negative' or 'absolute') normalised by normalize_map"
        )
    masked: np.ndarray = base * weight[..., None]
    return masked
