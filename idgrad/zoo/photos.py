"""The natural colour photographs that scikit-image and scikit-learn ship, square-cropped."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.nn import functional as F

from idgrad.zoo._common import _require

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["load_photo", "load_photos", "photo_names"]


def _skimage_photo(name: str) -> Callable[[], NDArray[np.uint8]]:
    def load() -> NDArray[np.uint8]:
        data = _require("skimage.data", f"load_photo({name!r})")
        # The motorcycle is the left view of scikit-image's stereo pair.
        image = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
        return np.asarray(image, dtype=np.uint8)

    return load


def _sklearn_photo(name: str) -> Callable[[], NDArray[np.uint8]]:
    def load() -> NDArray[np.uint8]:
        datasets = _require("sklearn.datasets", f"load_photo({name!r})")
        return np.asarray(datasets.load_sample_image(f"{name}.jpg"), dtype=np.uint8)

    return load


# Every RGB photograph the two packages ship inside their wheels (no pooch download).
# Everyday scenes first; the last three are scientific images (telescope, fundus
# camera, microscope) that ImageNet classifiers see as out of distribution.
# skimage's `cat` is the same picture as `chelsea` and is left out.
_PHOTOS: dict[str, Callable[[], NDArray[np.uint8]]] = {
    "chelsea": _skimage_photo("chelsea"),
    "coffee": _skimage_photo("coffee"),
    "astronaut": _skimage_photo("astronaut"),
    "rocket": _skimage_photo("rocket"),
    "motorcycle": _skimage_photo("motorcycle"),
    "china": _sklearn_photo("china"),
    "flower": _sklearn_photo("flower"),
    "hubble_deep_field": _skimage_photo("hubble_deep_field"),
    "retina": _skimage_photo("retina"),
    "immunohistochemistry": _skimage_photo("immunohistochemistry"),
}


def photo_names() -> list[str]:
    """List the names accepted by :func:`load_photo`, in :func:`load_photos` order.

    Returns:
        ``chelsea``, ``coffee``, ``astronaut``, ``rocket``, ``motorcycle``
        (scikit-image), ``china``, ``flower`` (scikit-learn), then the
        scientific images ``hubble_deep_field``, ``retina`` and
        ``immunohistochemistry`` (scikit-image).

    Example:
        >>> photo_names()[:2]
        ['chelsea', 'coffee']
    """
    return list(_PHOTOS)


@cache
def _original_photo(name: str) -> NDArray[np.uint8]:
    image = np.asarray(_PHOTOS[name]())
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise RuntimeError(
            f"photo {name!r} loaded as {image.dtype} {image.shape}, expected uint8 (H, W, 3)"
        )
    image.setflags(write=False)
    return image


def _square(image: NDArray[np.uint8], size: int) -> NDArray[np.uint8]:
    """Centre-crop to a square and resize it to ``size`` with antialiased bilinear."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = image[top : top + side, left : left + side]
    if side == size:
        return np.array(crop)
    x = torch.from_numpy(crop.astype(np.float32)).permute(2, 0, 1)[None]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"size must be an int, got {type(size).__name__}")
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")


def load_photo(name: str, size: int = 224) -> NDArray[np.uint8]:
    """Load one bundled photo as a square RGB image.

    The shorter side is scaled to ``size`` and the longer one centre-cropped
    (done as a centre square crop followed by an antialiased bilinear resize).

    Args:
        name: One of :func:`photo_names`.
        size: Side of the returned square, in pixels.

    Returns:
        A new, writable uint8 array ``(size, size, 3)``.

    Raises:
        KeyError: If ``name`` is not a known photo.
        TypeError: If ``size`` is not an int.
        ValueError: If ``size`` is not positive.
        ImportError: If the package shipping the photo is missing.

    Example:
        >>> load_photo("coffee", size=64).shape
        (64, 64, 3)
    """
    _check_size(size)
    if name not in _PHOTOS:
        raise KeyError(f"unknown photo {name!r}; choose from {photo_names()}")
    return _square(_original_photo(name), int(size))


def load_photos(size: int = 224) -> OrderedDict[str, NDArray[np.uint8]]:
    """Load every bundled photo (see :func:`photo_names`) as square RGB images.

    Args:
        size: Side of each returned square, in pixels.

    Returns:
        An ordered mapping from name to a uint8 array ``(size, size, 3)``.

    Raises:
        TypeError: If ``size`` is not an int.
        ValueError: If ``size`` is not positive.
        ImportError: If scikit-image or scikit-learn is missing.

    Example:
        >>> photos = load_photos(size=32)
        >>> list(photos)[:2], photos["chelsea"].shape, photos["chelsea"].dtype
        (['chelsea', 'coffee'], (32, 32, 3), dtype('uint8'))
    """
    _check_size(size)
    return OrderedDict((name, load_photo(name, size)) for name in _PHOTOS)
