"""Array transforms behind the plots: attribution -> 2-D map, image -> displayable array.

Everything here is pure numpy (torch tensors are accepted and converted), so it can be tested
exactly and reused without matplotlib. The drawing functions in :mod:`idgrad.plot` are thin
layers on top of these.

The usual pipeline for an image attribution of shape ``(C, H, W)`` or ``(H, W, C)``::

    reduce_channels  ->  select_sign  ->  normalize_map
       (H, W)             (H, W)          (H, W) in [-1, 1], or [0, 1] for one sign

which :func:`attribution_map` runs in one call.

Example:
    >>> import numpy as np
    >>> attribution = np.zeros((3, 5, 5))  # (C, H, W)
    >>> attribution[:, 1, 2] = 1.0
    >>> attribution[:, 3, 0] = -0.5
    >>> m = attribution_map(attribution, sign="all", clip_percentile=100)
    >>> float(m[1, 2]), float(m[3, 0]), m.shape
    (1.0, -0.5, (5, 5))
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, Literal, get_args

import numpy as np
import torch

from idgrad.channels import DISPLAY_REDUCTION, REDUCTIONS, Reduction, combine_channels

__all__ = [
    "DEFAULT_CLIP_PERCENTILE",
    "REDUCTIONS",
    "SIGNS",
    "Reduction",
    "Sign",
    "attribution_map",
    "blend",
    "decision_region",
    "mask_image",
    "normalize_map",
    "normalized_auc",
    "reduce_channels",
    "select_sign",
    "to_display_image",
    "to_grayscale",
]

Sign = Literal["positive", "negative", "absolute", "all"]

SIGNS: tuple[str, ...] = get_args(Sign)

#: Percentile of ``|map|`` that is mapped to full colour; larger values are clipped.
#: 99.5 saturates the top 0.5 % of pixels (about 250 of a 224 x 224 map): enough to stop a
#: handful of extreme gradient pixels from setting the scale and leaving the rest of the map
#: near zero, while keeping the ordering inside the important region visible (99 already
#: flattens the top 500 pixels to one colour).
DEFAULT_CLIP_PERCENTILE = 99.5

_CHANNEL_COUNTS = (1, 3, 4)
_CHANNEL_PRIORITY = (3, 4, 1)
# ITU-R BT.601 luma weights.
_LUMA = np.array([0.299, 0.587, 0.114])


def _as_array(x: Any, name: str) -> np.ndarray:
    """Converts a tensor, array or nested sequence to a float64 numpy array."""
    if isinstance(x, torch.Tensor):
        x = x.detach().to(device="cpu", dtype=torch.float64).numpy()
    try:
        array = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} must be a tensor or array of numbers, got {type(x).__name__}"
        ) from error
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _drop_batch(array: np.ndarray, name: str) -> np.ndarray:
    """Drops a leading batch dimension of size 1 from a 4-D array."""
    if array.ndim == 4:
        if array.shape[0] != 1:
            raise ValueError(
                f"{name} has shape {tuple(array.shape)}: a batch of {array.shape[0]}; "
                "pass one example, e.g. attribution[i]"
            )
        array = array[0]
    if array.ndim not in (2, 3):
        raise ValueError(
            f"{name} must have shape (H, W), (C, H, W), (H, W, C) or (1, C, H, W), "
            f"got {tuple(array.shape)}"
        )
    return array


def _to_hwc(array: np.ndarray, channels_first: bool | None, name: str) -> np.ndarray:
    """Moves the channel axis of a 3-D array last, inferring the layout if not given.

    The channel axis is the end with 1, 3 or 4 entries. When both ends qualify with different
    counts, the likelier channel count wins (3 for RGB, then 4 for RGBA, then 1 for grey), so a
    small ``(4, 5, 3)`` image is read as ``(H, W, C)``; equal counts are ambiguous.
    """
    if channels_first is None:
        head, tail = array.shape[0], array.shape[-1]
        first, last = head in _CHANNEL_COUNTS, tail in _CHANNEL_COUNTS
        if first and last and head != tail:
            first = _CHANNEL_PRIORITY.index(head) < _CHANNEL_PRIORITY.index(tail)
            last = not first
        if first == last:
            why = "ambiguous" if first else "not recognised (1, 3 or 4 channels expected)"
            raise ValueError(
                f"layout of {name} with shape {tuple(array.shape)} is {why}; "
                "pass channels_first=True for (C, H, W) or False for (H, W, C)"
            )
        channels_first = first
    return np.moveaxis(array, 0, -1) if channels_first else array


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


def reduce_channels(
    attribution: Any,
    reduction: Reduction = DISPLAY_REDUCTION,
    *,
    channels_first: bool | None = None,
) -> np.ndarray:
    """Reduces an attribution over its channels to a 2-D map ``(H, W)``.

    The reductions are those of :mod:`idgrad.channels` (the same names, formulas and code as
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


def _check_unit_image(image: Any, name: str) -> np.ndarray:
    """Checks an ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` array in ``[0, 1]``; returns RGB."""
    array = _as_array(image, name)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3):
        raise ValueError(
            f"{name} must have shape (H, W), (H, W, 1) or (H, W, 3), got {tuple(array.shape)}; "
            "convert it with to_display_image first"
        )
    if array.size and (array.min() < 0.0 or array.max() > 1.0):
        raise ValueError(
            f"{name} must have values in [0, 1], got [{array.min():.3g}, {array.max():.3g}]; "
            "convert it with to_display_image first"
        )
    return np.broadcast_to(array, (*array.shape[:2], 3))


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


def _curve(x: Any, y: Any, x_name: str, y_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validates two 1-D arrays of equal length (at least two points)."""
    xs, ys = _as_array(x, x_name), _as_array(y, y_name)
    if xs.ndim != 1 or ys.ndim != 1 or xs.shape != ys.shape or xs.size < 2:
        raise ValueError(
            f"{x_name} and {y_name} must be 1-D of the same length (at least 2), "
            f"got shapes {tuple(xs.shape)} and {tuple(ys.shape)}"
        )
    return xs, ys


def normalized_auc(fractions: Any, scores: Any) -> float:
    """Area under a curve by the trapezoid rule, with the x axis rescaled to ``[0, 1]``.

    This is how insertion and deletion curves are scored: the fractions of pixels inserted or
    deleted (or step indices) are mapped linearly onto ``[0, 1]`` first, so the AUC of a
    constant score ``c`` is ``c`` whatever the number of steps.

    Args:
        fractions: Increasing x values, 1-D, at least two.
        scores: y values of the same length.

    Returns:
        The area, a Python float.

    Raises:
        ValueError: For mismatched lengths or x values that are not increasing.

    Example:
        >>> normalized_auc([0, 1, 2, 3, 4], [1.0, 1.0, 0.0, 0.0, 0.0])
        0.375
    """
    xs, ys = _curve(fractions, scores, "fractions", "scores")
    if np.any(np.diff(xs) < 0) or xs[-1] <= xs[0]:
        raise ValueError("fractions must be non-decreasing and not all equal")
    unit = (xs - xs[0]) / (xs[-1] - xs[0])
    return float(np.sum(np.diff(unit) * (ys[1:] + ys[:-1]) / 2.0))


def decision_region(
    alphas: Any,
    outputs: Any,
    start: float,
    end: float,
    *,
    low: float = 0.1,
    high: float = 0.9,
) -> tuple[float, float] | None:
    """The stretch of the path where the target output makes most of its change.

    With progress ``p(α) = (F(γ(α)) - F(x')) / (F(x) - F(x'))``, returns the first ``α`` where
    ``p`` reaches ``low`` and the first where it reaches ``high``, interpolating linearly between
    the sampled points (the endpoints ``(0, F(x'))`` and ``(1, F(x))`` are added). This is the
    region IDG up-weights and where adaptive sampling should put its points.

    Args:
        alphas: Points along the path, 1-D, in ``[0, 1]`` (any order).
        outputs: ``F(γ(α))`` at those points.
        start: ``F(x')``, the output at the baseline.
        end: ``F(x)``, the output at the input.
        low: Progress fraction that opens the region.
        high: Progress fraction that closes it.

    Returns:
        ``(alpha_low, alpha_high)``, or ``None`` when ``F(x) == F(x')`` (no decision to locate).

    Raises:
        ValueError: For mismatched arrays or ``not 0 <= low < high <= 1``.

    Example:
        >>> a = np.linspace(0, 1, 11)
        >>> lo, hi = decision_region(a, np.clip((a - 0.2) / 0.2, 0, 1), 0.0, 1.0)
        >>> round(lo, 6), round(hi, 6)
        (0.22, 0.38)
    """
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"need 0 <= low < high <= 1, got low={low}, high={high}")
    xs, ys = _curve(alphas, outputs, "alphas", "outputs")
    change = float(end) - float(start)
    if change == 0.0 or not np.isfinite(change):
        return None
    xs = np.concatenate([[0.0], xs, [1.0]])
    ys = np.concatenate([[float(start)], ys, [float(end)]])
    order = np.argsort(xs, kind="stable")
    xs, progress = xs[order], (ys[order] - float(start)) / change

    def first_crossing(level: float) -> float:
        k = int(np.argmax(progress >= level))
        if k == 0 or progress[k] == progress[k - 1]:
            return float(xs[k])
        t = (level - progress[k - 1]) / (progress[k] - progress[k - 1])
        return float(xs[k - 1] + t * (xs[k] - xs[k - 1]))

    return first_crossing(low), first_crossing(high)
