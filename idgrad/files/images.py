"""Image files to model inputs: one reader and one preprocessing vocabulary for every command.

``idgrad explain`` and ``idgrad dataset`` (and :class:`idgrad.dataset.ImageFolderDataset`)
read images through :func:`read_image`, so the same PNG with the same options gives the same
tensor in both. An image is decoded with Pillow (the ``images`` extra), converted to RGB or
grayscale, optionally resized, and mapped from pixels ``p`` on the 0-255 scale to model
space by ``x = (p - mean) / std`` per channel, with ``(mean, std)`` named by ``normalize``:

========== =============================================== ==========================
name       model space                                     ``(mean, std)``
========== =============================================== ==========================
``unit``   ``[0, 1]`` (the default; torchvision's ToTensor) ``(0, 255)``
``raw``    the pixel values, 0-255                          ``(0, 1)``
``imagenet`` ImageNet mean/std of ``[0, 1]`` images (RGB)  ``(255 m_c, 255 s_c)``
``lite``   EfficientNet-Lite, ``(p - 127) / 128``          ``(127, 128)``
========== =============================================== ==========================

Pixels are on the 0-255 scale whatever the file's depth: a 16-bit grayscale image is read
at full depth and scaled, ``p = v * 255 / 65535`` (not rounded: ``normalize="raw"`` gives
its 65536 levels as floats from 0 to 255, ``"unit"`` from 0 to 1); Pillow decodes 16-bit
colour images to 8 bits per channel (the high byte of each value). Images with 32-bit
integer or float pixels have no fixed scale and are refused. An alpha channel is dropped
(Pillow's conversion to RGB or L).

Before an image is decoded, its size is read from its header and checked against
``FileLimits.image_pixels`` (:class:`~idgrad.files.limits.FileLimits`): a PNG of a hundred
bytes can declare 20000 x 20000 pixels. Pillow's own guard (``PIL.Image.MAX_IMAGE_PIXELS``,
which refuses more than twice its value) still applies on top of it.

Example:
    >>> x = torch.tensor([[[0.0, 255.0]]])  # (1, 1, 2) pixels
    >>> normalize_pixels(x, "unit").tolist(), normalize_pixels(x, "lite").tolist()
    ([[[0.0, 1.0]]], [[[-0.9921875, 1.0]]])
    >>> torch.equal(to_pixels(normalize_pixels(x, "lite"), "lite"), x)
    True
"""

from __future__ import annotations

import os
import re
import warnings
from typing import Any

import numpy as np
import torch

from idgrad.files.limits import FileLimits, over_limit
from idgrad.ops.extras import install_hint
from idgrad.zoo import LITE_MEAN, LITE_STD

__all__ = [
    "DEFAULT_NORMALIZE",
    "IMAGE_EXTENSIONS",
    "NORMALIZATIONS",
    "PILLOW_HINT",
    "normalize_pixels",
    "read_image",
    "require_pillow",
    "to_pixels",
]

#: File name endings read as images (compared in lower case).
IMAGE_EXTENSIONS = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".gif",
    ".webp",
    ".tif",
    ".tiff",
    ".ppm",
    ".pgm",
)

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

#: ``name: (mean, std)`` on the 0-255 scale, per channel or for every channel.
NORMALIZATIONS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "unit": ((0.0,), (255.0,)),
    "raw": ((0.0,), (1.0,)),
    "imagenet": (
        tuple(255.0 * m for m in _IMAGENET_MEAN),
        tuple(255.0 * s for s in _IMAGENET_STD),
    ),
    "lite": ((LITE_MEAN,), (LITE_STD,)),
}

#: The normalisation when none is named.
DEFAULT_NORMALIZE = "unit"

PILLOW_HINT = f"reading images needs Pillow: {install_hint('images')}"


def require_pillow() -> Any:
    """The ``PIL.Image`` module, or ImportError naming the extra that brings it."""
    try:
        from PIL import Image
    except ImportError as err:
        raise ImportError(PILLOW_HINT) from err
    return Image


def _mean_std(how: str, channels: int, device: Any, dtype: torch.dtype) -> tuple[Any, Any]:
    if how not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {', '.join(NORMALIZATIONS)}, got {how!r}")
    mean, std = NORMALIZATIONS[how]
    if len(mean) not in (1, channels):
        raise ValueError(
            f"normalize={how!r} is for {len(mean)}-channel images; these have {channels}"
        )
    shape = (-1, 1, 1)
    return (
        torch.tensor(mean, device=device, dtype=dtype).view(shape),
        torch.tensor(std, device=device, dtype=dtype).view(shape),
    )


def normalize_pixels(pixels: torch.Tensor, how: str = DEFAULT_NORMALIZE) -> torch.Tensor:
    """Pixels on the 0-255 scale ``(..., C, H, W)`` to model space: ``(p - mean) / std``."""
    mean, std = _mean_std(how, pixels.shape[-3], pixels.device, pixels.dtype)
    return (pixels - mean) / std


def to_pixels(x: torch.Tensor, how: str = DEFAULT_NORMALIZE) -> torch.Tensor:
    """The inverse of :func:`normalize_pixels`: model space back to 0-255 pixels."""
    mean, std = _mean_std(how, x.shape[-3], x.device, x.dtype)
    return x * std + mean


def read_image(
    path: str | os.PathLike[str],
    *,
    size: int | tuple[int, int] | None = None,
    mode: str = "RGB",
    normalize: str = DEFAULT_NORMALIZE,
    limits: FileLimits | None = None,
) -> torch.Tensor:
    """One image file as a float32 ``(C, H, W)`` tensor in model space.

    Args:
        path: the image file.
        size: ``None`` keeps the size; an int ``s`` crops the central square and resizes
            it to ``s x s``; ``(h, w)`` resizes to ``h x w`` (bilinear).
        mode: ``"RGB"`` (3 channels) or ``"L"`` (grayscale, 1 channel).
        normalize: a name in :data:`NORMALIZATIONS`.
        limits: the most pixels the file may declare (``limits.image_pixels``; default:
            :class:`~idgrad.files.limits.FileLimits`' defaults). For an image you trust:
            ``limits=FileLimits(image_pixels=...)``.

    Raises:
        ImportError: Pillow is missing.
        OSError: the file cannot be read as an image, declares more pixels than
            ``limits`` allow, or has pixels without a fixed scale (naming the file, in one
            line).
        ValueError: a bad ``mode``, ``size`` or ``normalize``.

    Example:
        >>> import tempfile, numpy as np
        >>> from PIL import Image
        >>> path = os.path.join(tempfile.mkdtemp(), "ramp16.png")
        >>> Image.fromarray(np.array([[0, 32768, 65535]], np.uint16)).save(path)
        >>> read_image(path, mode="L", normalize="raw").flatten().tolist()
        [0.0, 127.50194549560547, 255.0]
    """
    if mode not in ("RGB", "L"):
        raise ValueError(f"mode must be 'RGB' or 'L', got {mode!r}")
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {', '.join(NORMALIZATIONS)}, got {normalize!r}")
    sides = [size] if isinstance(size, int) else ([] if size is None else list(size))
    if size is not None and (
        len(sides) != (1 if isinstance(size, int) else 2)
        or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in sides)
    ):
        raise ValueError(f"size must be None, an int or (height, width) >= 1, got {size!r}")
    limits = FileLimits() if limits is None else limits
    image_module = require_pillow()
    where = os.fspath(path)
    opened = _open_checked(image_module, path, where, limits)
    try:
        with opened:
            img = _on_255_scale(image_module, opened, mode, where)
            if isinstance(size, int):
                w, h = img.size
                side = min(w, h)
                left, top = (w - side) // 2, (h - side) // 2
                img = img.crop((left, top, left + side, top + side))
                size = (size, size)
            if size is not None:
                img = img.resize((int(size[1]), int(size[0])), image_module.Resampling.BILINEAR)
            arr = np.asarray(img, dtype=np.float32)
    except OSError as err:
        raise OSError(f"cannot read image {where}: {err}") from err
    except Exception as err:  # noqa: BLE001 - Pillow's decoders raise many types for bad files
        raise OSError(f"cannot read image {where}: {type(err).__name__}: {err}") from err
    arr = arr.reshape(arr.shape[0], arr.shape[1], -1)
    if mode == "RGB" and arr.shape[2] == 1:  # a 16-bit grayscale file read as RGB
        arr = np.repeat(arr, 3, axis=2)
    pixels = torch.from_numpy(arr.transpose(2, 0, 1).copy())
    return normalize_pixels(pixels, normalize)


def _open_checked(image_module: Any, path: Any, where: str, limits: FileLimits) -> Any:
    """The opened (not yet decoded) image, after its declared size passed ``limits``."""
    try:
        with warnings.catch_warnings():  # Pillow warns above its own limit; idgrad's is below
            warnings.simplefilter("ignore", image_module.DecompressionBombWarning)
            opened = image_module.open(path)
    except image_module.DecompressionBombError as err:
        found = re.search(r"\((\d+) pixels\)", str(err))
        declared = f"{found.group(1)} pixels" if found else "more pixels than Pillow allows"
        if limits.image_pixels < 2 * (image_module.MAX_IMAGE_PIXELS or 0):
            raise OSError(
                f"cannot read image {where}: it declares {declared}, more than "
                f"{over_limit('image_pixels', limits)}"
            ) from None
        raise OSError(
            f"cannot read image {where}: it declares {declared}, more than twice Pillow's own "
            f"limit PIL.Image.MAX_IMAGE_PIXELS={image_module.MAX_IMAGE_PIXELS}; for an image "
            "you trust, raise that too"
        ) from None
    except OSError as err:
        raise OSError(f"cannot read image {where}: {err}") from err
    except Exception as err:  # noqa: BLE001 - Pillow's parsers raise many types for bad files
        raise OSError(f"cannot read image {where}: {type(err).__name__}: {err}") from err
    width, height = opened.size
    if width * height > limits.image_pixels:
        opened.close()
        raise OSError(
            f"cannot read image {where}: it declares {width} x {height} = {width * height} "
            f"pixels, more than {over_limit('image_pixels', limits)}"
        )
    return opened


def _on_255_scale(image_module: Any, img: Any, mode: str, where: str) -> Any:
    """``img`` in ``mode`` with pixels on the 0-255 scale (a float image for 16-bit files)."""
    if img.mode.startswith("I;16"):  # 16-bit grayscale: full depth, scaled (never clipped)
        values = np.asarray(img, dtype=np.float32) * np.float32(255.0 / 65535.0)
        return image_module.fromarray(values)
    if img.mode in ("I", "F"):
        kind = "integers" if img.mode == "I" else "floats"
        raise OSError(
            f"its pixels are 32-bit {kind} (Pillow mode {img.mode}), which have no fixed "
            "0-255 scale; save it with 8 or 16 bits per channel"
        )
    return img.convert(mode)
