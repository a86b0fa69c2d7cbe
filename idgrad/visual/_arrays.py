"""Array checks shared by the visual modules: conversion, layout, unit images, curves."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

_CHANNEL_COUNTS = (1, 3, 4)
_CHANNEL_PRIORITY = (3, 4, 1)


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


def _curve(x: Any, y: Any, x_name: str, y_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validates two 1-D arrays of equal length (at least two points)."""
    xs, ys = _as_array(x, x_name), _as_array(y, y_name)
    if xs.ndim != 1 or ys.ndim != 1 or xs.shape != ys.shape or xs.size < 2:
        raise ValueError(
            f"{x_name} and {y_name} must be 1-D of the same length (at least 2), "
            f"got shapes {tuple(xs.shape)} and {tuple(ys.shape)}"
        )
    return xs, ys
