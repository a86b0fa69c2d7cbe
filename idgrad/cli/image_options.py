"""``--image-size``, ``--normalize`` and ``--grayscale``: image files to model inputs.

The words are :mod:`idgrad.files.images`'; a resize larger than an image Pillow reads is
refused before any work.
"""

from __future__ import annotations

import argparse

from idgrad.cli import CLIError
from idgrad.files.images import DEFAULT_NORMALIZE, NORMALIZATIONS

__all__ = ["add_image_options", "check_pixels", "image_size", "max_image_pixels"]


def add_image_options(p: argparse.ArgumentParser) -> None:
    """``--image-size``, ``--normalize`` and ``--grayscale`` (see :mod:`idgrad.files.images`)."""
    p.add_argument(
        "--image-size",
        type=int,
        nargs="+",
        metavar="PX",
        default=None,
        help="for image inputs: one number crops the central square and resizes it to PX x "
        "PX; two (H W) resize to H x W (default: keep each image's size)",
    )
    p.add_argument(
        "--normalize",
        choices=list(NORMALIZATIONS),
        default=None,
        help="for image inputs, pixels p (0-255) to model space: unit p/255, raw p, imagenet "
        "((p/255 - mean)/std, ImageNet's RGB mean and std), lite ((p - 127)/128, "
        f"EfficientNet-Lite) (default: {DEFAULT_NORMALIZE})",
    )
    p.add_argument(
        "--grayscale", action="store_true", help="for image inputs: read one channel, not RGB"
    )


def image_size(values: list[int] | None) -> int | tuple[int, int] | None:
    """``--image-size`` as :func:`idgrad.files.images.read_image` takes it."""
    if values is None:
        return None
    if len(values) > 2 or any(v < 1 for v in values):
        raise CLIError(f"--image-size takes one or two sizes >= 1 (PX or H W), got {values}")
    check_pixels(values[0] * values[-1])
    return values[0] if len(values) == 1 else (values[0], values[1])


def max_image_pixels() -> int:
    """The most pixels an image may be resized to: Pillow's own bound on images it reads."""
    try:
        from PIL import Image
    except ImportError:
        return 89_478_485  # Pillow's default (Image.MAX_IMAGE_PIXELS) in every release
    return int(Image.MAX_IMAGE_PIXELS or 89_478_485)


def check_pixels(pixels: int, flag: str = "--image-size") -> None:
    """Refuse a resize target larger than an image idgrad would read (before any work)."""
    limit = max_image_pixels()
    if pixels > limit:
        raise CLIError(
            f"{flag} asks for {pixels} pixels per image, more than the {limit} that Pillow "
            "reads (PIL.Image.MAX_IMAGE_PIXELS); give a smaller size"
        )
