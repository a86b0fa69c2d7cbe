"""Tests for idgrad.ops.blur's padding conventions (the Blur IG path itself: test_blur_ig.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from idgrad.ops.blur import DEFAULT_PADDING, PADDINGS, blur_and_velocity, gaussian_filter

# Each padding and the scipy.ndimage mode that means the same extension.
SCIPY_MODES = {
    "symmetric": "reflect",
    "reflect": "mirror",
    "replicate": "nearest",
    "zeros": "constant",
}


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("shape", [(2, 3, 9, 7), (1, 1, 3, 2), (1, 1, 1, 5)])
def test_paddings_match_scipy_modes(padding: str, shape: tuple[int, ...]) -> None:
    ndimage = pytest.importorskip("scipy.ndimage")
    x = torch.rand(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    # radius 4 is larger than the short axes: the reflections must repeat periodically.
    got = gaussian_filter(x, 1.3, radius=4, padding=padding)  # type: ignore[arg-type]
    ref = ndimage.gaussian_filter(
        x.numpy(), sigma=(0, 0, 1.3, 1.3), mode=SCIPY_MODES[padding], cval=0.0, radius=4
    )
    np.testing.assert_allclose(got.numpy(), ref, rtol=0, atol=1e-14)


@pytest.mark.parametrize("padding", PADDINGS)
def test_paddings_match_numpy_pad(padding: str) -> None:
    """Blur = pad by the radius with numpy.pad's equivalent mode, then convolve."""
    numpy_modes = {"symmetric": "symmetric", "reflect": "reflect", "replicate": "edge"}
    x = torch.rand(1, 2, 6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    r, sigma = 7, 2.0
    pad = ((0, 0), (0, 0), (r, r), (r, r))
    if padding == "zeros":
        padded = np.pad(x.numpy(), pad, mode="constant", constant_values=0.0)
    else:
        padded = np.pad(x.numpy(), pad, mode=numpy_modes[padding])  # type: ignore[call-overload]
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = torch.outer(k / k.sum(), k / k.sum())
    expected = torch.nn.functional.conv2d(
        torch.from_numpy(padded).reshape(2, 1, 20, 19), k[None, None]
    )
    got = gaussian_filter(x, sigma, radius=r, padding=padding)  # type: ignore[arg-type]
    torch.testing.assert_close(got, expected.reshape(1, 2, 6, 5), rtol=0, atol=1e-14)


@pytest.mark.parametrize("padding", PADDINGS)
def test_velocity_is_the_sigma_derivative_for_every_padding(padding: str) -> None:
    x = torch.rand(2, 1, 5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    sigmas = torch.tensor([0.9, 2.5], dtype=torch.float64)
    _, v = blur_and_velocity(x, sigmas, radius=6, padding=padding)  # type: ignore[arg-type]
    h = 1e-6
    up, _ = blur_and_velocity(x, sigmas + h, 6, velocity=False, padding=padding)  # type: ignore[arg-type]
    down, _ = blur_and_velocity(x, sigmas - h, 6, velocity=False, padding=padding)  # type: ignore[arg-type]
    assert v is not None
    torch.testing.assert_close(v, (up - down) / (2 * h), rtol=0, atol=1e-8)


def test_default_padding_and_errors() -> None:
    assert DEFAULT_PADDING == "symmetric"  # Blur IG's convention (scipy's "reflect")
    x = torch.rand(1, 1, 6, 6, dtype=torch.float64)
    torch.testing.assert_close(
        gaussian_filter(x, 1.0), gaussian_filter(x, 1.0, padding="symmetric"), rtol=0, atol=0
    )
    with pytest.raises(ValueError, match="padding must be one of"):
        gaussian_filter(x, 1.0, padding="mirror")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="padding must be one of"):
        blur_and_velocity(x, torch.ones(1), 2, padding="circular")  # type: ignore[arg-type]
