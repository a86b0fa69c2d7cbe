"""Attribution maps: channel reduction, sign selection, percentile normalisation."""

from __future__ import annotations

import numbers
from typing import Any, Literal, get_args

import numpy as np
import torch

from idgrad.ops.channels import DISPLAY_REDUCTION, REDUCTIONS, Reduction, combine_channels
from idgrad.visual._arrays import _as_array, _drop_batch, _to_hwc

__all__ = [
    "DEFAULT_CLIP_PERCENTILE",
    "SIGNS",
    "Sign",
    "attribution_map",
    "normalize_map",
    "reduce_channels",
    "select_sign",
]

Sign = Literal["positive", "negative", "absolute", "all"]

SIGNS: tuple[str, ...] = get_args(Sign)

#: Percentile of ``|map|`` that is mapped to full colour; larger values are clipped.
#: 99.5 saturates the top 0.5 % of pixels (about 250 of a 224 x 224 map): enough to stop a
#: handful of extreme gradient pixels from setting the scale and leaving the rest of the map
#: near zero, while keeping the ordering inside the important region visible (99 already
#: flattens the top 500 pixels to one colour).
DEFAULT_CLIP_PERCENTILE = 99.5


def reduce_channels(
    attribution: Any,
    reduction: Reduction = DISPLAY_REDUCTION,
    *,
    channels_first: bool | None = None,
) -> np.ndarray:
    """Reduces an attribution over its channels to a 2-D map ``(H, W)``.

    The reductions are those of :mod:`idgrad.ops.channels` (the same names, formulas and code as
    :func:`idgrad.metrics.saliency_map`): ``"sum"`` (signed, the default here so that
    :func:`select_sign` and a diverging colour map can show both signs), ``"abs_sum"``
    (``|sum_c a_c|``, the IDG paper's saliency map, the same as ``"sum"`` followed by
    ``sign="absolute"``), ``"sum_abs"``, ``"positive_sum"``, ``"l2"``, ``"max_abs"``.

    Args:
        attribution: ``(H, W)``, ``(C, H, W)``, ``(H, W, C)`` or ``(1, C, H, W)``; a 2-D input
            is returned as it is (as float64).
        reduction: How to combine the channels.
        channels_first: Layout of a 3-D input; ``None`` infers it (1, 3 or 4 channels).

    Returns:
        A float64 array of shape ``(H, W)``.

    Raises:
        ValueError: For an unknown reduction, a wrong number of dimensions or an unknown layout.

    Example:
        >>> a = np.array([[[1.0]], [[-3.0]]])  # (C=2, H=1, W=1)
        >>> reduce_channels(a, "sum", channels_first=True)
        array([[-2.]])
        >>> reduce_channels(a, "l2", channels_first=True)
        array([[3.16227766]])
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    array = _drop_batch(_as_array(attribution, "attribution"), "attribution")
    if array.ndim == 2:
        return array
    hwc = _to_hwc(array, channels_first, "attribution")
    return combine_channels(torch.from_numpy(hwc), reduction, dim=-1).numpy()


def select_sign(values: Any, sign: Sign = "all") -> np.ndarray:
    """Keeps the part of a map with the requested sign.

    ``"positive"`` gives ``max(v, 0)``, ``"negative"`` the magnitude of the negative part
    ``max(-v, 0)`` (so both are non-negative and ``positive - negative == v`` exactly),
    ``"absolute"`` gives ``|v|`` and ``"all"`` returns ``v`` unchanged.

    Args:
        values: A map of any shape.
        sign: Which part to keep.

    Returns:
        A float64 array of the same shape.

    Raises:
        ValueError: For an unknown ``sign``.

    Example:
        >>> v = np.array([-2.0, 0.0, 3.0])
        >>> select_sign(v, "positive"), select_sign(v, "negative")
        (array([0., 0., 3.]), array([2., 0., 0.]))
    """
    if sign not in SIGNS:
        raise ValueError(f"sign must be one of {SIGNS}, got {sign!r}")
    array = _as_array(values, "values")
    selected: np.ndarray
    if sign == "positive":
        selected = np.maximum(array, 0.0)
    elif sign == "negative":
        selected = np.maximum(-array, 0.0)
    elif sign == "absolute":
        selected = np.abs(array)
    else:
        selected = array
    return selected


def normalize_map(
    values: Any, clip_percentile: float | None = DEFAULT_CLIP_PERCENTILE
) -> np.ndarray:
    """Scales a map by a percentile of its magnitude and clips it to ``[-1, 1]``.

    The scale is ``s = percentile(|v|, clip_percentile)``; the result is
    ``clip(v / s, -1, 1)``. Zero stays zero and signs are kept, so a signed map lands in
    ``[-1, 1]`` (centred for a diverging colour map) and a non-negative one in ``[0, 1]``.
    If the percentile is 0 (a map that is zero almost everywhere) the largest magnitude is used
    instead; a map that is zero everywhere comes back as zeros, never NaN.

    Args:
        values: A map of any shape.
        clip_percentile: Percentile in ``(0, 100]`` of ``|v|`` mapped to 1; ``100`` or ``None``
            scales by the maximum and clips nothing.

    Returns:
        A float64 array of the same shape with values in ``[-1, 1]``.

    Raises:
        ValueError: If ``clip_percentile`` is outside ``(0, 100]``.

    Example:
        >>> normalize_map(np.array([-4.0, 1.0, 2.0]), clip_percentile=100)
        array([-1.  ,  0.25,  0.5 ])
    """
    if clip_percentile is None:
        clip_percentile = 100.0
    if isinstance(clip_percentile, bool) or not isinstance(clip_percentile, numbers.Real):
        raise TypeError(f"clip_percentile must be a number, got {clip_percentile!r}")
    if not 0.0 < clip_percentile <= 100.0:
        raise ValueError(f"clip_percentile must be in (0, 100], got {clip_percentile}")
    array = _as_array(values, "values")
    if array.size == 0:
        return array
    magnitude = np.abs(array)
    scale = float(np.percentile(magnitude, clip_percentile))
    if scale <= 0.0:
        scale = float(magnitude.max())
    if scale <= 0.0:
        return np.zeros_like(array)
    return np.clip(array / scale, -1.0, 1.0)


def attribution_map(
    attribution: Any,
    *,
    sign: Sign = "all",
    reduction: Reduction = DISPLAY_REDUCTION,
    clip_percentile: float | None = DEFAULT_CLIP_PERCENTILE,
    channels_first: bool | None = None,
) -> np.ndarray:
    """Turns an image attribution into a normalised 2-D map ready for a colour map.

    Runs :func:`reduce_channels`, :func:`select_sign` and :func:`normalize_map` in order.
    The IDG paper's saliency map ``|sum_c a_c|`` is ``reduction="sum", sign="absolute"`` (the
    same as ``reduction="abs_sum", sign="absolute"``).

    Args:
        attribution: ``(H, W)``, ``(C, H, W)``, ``(H, W, C)`` or ``(1, C, H, W)``.
        sign: ``"positive"``, ``"negative"``, ``"absolute"`` or ``"all"``.
        reduction: Channel reduction, see :func:`reduce_channels`.
        clip_percentile: See :func:`normalize_map`.
        channels_first: Layout of a 3-D input; ``None`` infers it.

    Returns:
        A float64 ``(H, W)`` array in ``[-1, 1]`` for ``sign="all"``, in ``[0, 1]`` otherwise.

    Example:
        >>> a = np.random.default_rng(0).normal(size=(3, 8, 8))
        >>> m = attribution_map(a, sign="absolute")
        >>> m.shape, bool(m.min() >= 0), float(m.max())
        ((8, 8), True, 1.0)
    """
    if sign not in SIGNS:
        raise ValueError(f"sign must be one of {SIGNS}, got {sign!r}")
    reduced = reduce_channels(attribution, reduction, channels_first=channels_first)
    return normalize_map(select_sign(reduced, sign), clip_percentile)
