"""Blur IG: the blur operator, exact velocities, completeness, chunk-size invariance, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from models import CountingModel, SmallCNN

from idgrad.methods.blur_ig import blur_integrated_gradients
from idgrad.ops.blur import blur_and_velocity, blur_radius, gaussian_filter

D = torch.float64
scipy_ndimage = pytest.importorskip("scipy.ndimage")


@pytest.mark.parametrize("sigma", [0.0, 0.6, 2.0, 7.5])
def test_gaussian_filter_matches_scipy(sigma: float) -> None:
    x = torch.rand(2, 3, 9, 6, dtype=D)  # 7.5 needs a radius of 30, wider than the image
    ref = scipy_ndimage.gaussian_filter(
        x.numpy(), sigma=(0, 0, sigma, sigma), mode="reflect", truncate=4.0
    )
    np.testing.assert_allclose(gaussian_filter(x, sigma).numpy(), ref, rtol=0, atol=1e-14)


def test_gaussian_filter_on_sequences_and_chosen_axes() -> None:
    x = torch.rand(3, 11, dtype=D)
    ref = scipy_ndimage.gaussian_filter(x.numpy(), sigma=(0, 1.5), mode="reflect")
    np.testing.assert_allclose(gaussian_filter(x, 1.5).numpy(), ref, atol=1e-14)
    y = torch.rand(2, 4, 5, 6, dtype=D)
    ref = scipy_ndimage.gaussian_filter(y.numpy(), sigma=(0, 0, 0, 1.0), mode="reflect")
    np.testing.assert_allclose(gaussian_filter(y, 1.0, dims=(-1,)).numpy(), ref, atol=1e-14)


def test_velocity_is_the_exact_sigma_derivative() -> None:
    x = torch.rand(3, 2, 7, 8, dtype=D)
    sig = torch.tensor([0.3, 1.1, 4.0], dtype=D)
    radius = 16
    _, v = blur_and_velocity(x, sig, radius)
    h = 1e-5
    up, _ = blur_and_velocity(x, sig + h, radius, velocity=False)
    down, _ = blur_and_velocity(x, sig - h, radius, velocity=False)
    assert v is not None
    torch.testing.assert_close(v, (up - down) / (2 * h), rtol=0, atol=1e-8)
    same, v0 = blur_and_velocity(x, torch.zeros(3, dtype=D), radius)
    assert torch.equal(same, x) and v0 is not None and torch.equal(v0, torch.zeros_like(x))


def test_linear_model_attribution_is_w_times_the_path_displacement() -> None:
    # For F = w . y, BlurIG_i = w_i (x_i - blur(x, max_sigma)_i): exact up to quadrature.
    w = torch.randn(1, 2, 6, 6, dtype=D)
    model = lambda y: (y * w).flatten(1).sum(1)
    x = torch.rand(3, 2, 6, 6, dtype=D)
    attr = blur_integrated_gradients(model, x, n_steps=96, max_sigma=3.0)
    expected = w * (x - gaussian_filter(x, 3.0))
    torch.testing.assert_close(attr, expected, rtol=0, atol=1e-10)


def test_completeness_converges_with_steps() -> None:
    model = SmallCNN(in_channels=2, n_classes=3)
    x = torch.rand(2, 2, 8, 8, dtype=D)
    deltas = []
    for n in (8, 32, 128):
        d = blur_integrated_gradients.details(model, x, target=1, n_steps=n, max_sigma=4.0)
        blurred = model(gaussian_filter(x, 4.0))[:, 1].detach()
        torch.testing.assert_close(d.start, blurred, rtol=0, atol=1e-14)
        torch.testing.assert_close(d.end, model(x)[:, 1].detach(), rtol=0, atol=1e-14)
        torch.testing.assert_close(
            d.delta, d.attributions.flatten(1).sum(1) - (d.end - d.start), rtol=0, atol=1e-14
        )
        deltas.append(d.delta.abs().max().item())
    assert deltas[0] > 1e-4
    assert deltas[2] < 1e-10


def test_constant_image_gets_zero_attribution() -> None:
    model = SmallCNN(in_channels=2, n_classes=3)
    x = torch.full((1, 2, 6, 6), 0.3, dtype=D)
    attr = blur_integrated_gradients(model, x, target=0, n_steps=4, max_sigma=3.0)
    assert attr.abs().max() < 1e-15


def test_tuple_inputs_and_counts() -> None:
    w1, w2 = torch.randn(1, 1, 5, 5, dtype=D), torch.randn(1, 7, dtype=D)
    inner = lambda a, b: (a * w1).flatten(1).sum(1) + (b * w2).sum(1)

    class Both(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return inner(a, b)

    model = CountingModel(Both())
    x = (torch.rand(2, 1, 5, 5, dtype=D), torch.rand(2, 7, dtype=D))
    d = blur_integrated_gradients.details(
        model, x, n_steps=64, max_sigma=1.5, internal_batch_size=37
    )
    a, b = d.attributions
    torch.testing.assert_close(a, w1 * (x[0] - gaussian_filter(x[0], 1.5)), rtol=0, atol=1e-10)
    torch.testing.assert_close(b, w2 * (x[1] - gaussian_filter(x[1], 1.5)), rtol=0, atol=1e-10)
    assert d.n_gradient_evals == 2 * 64 == model.grad_rows
    assert d.n_forward_evals == 4 == model.rows - model.grad_rows
    assert model.max_rows <= 37
    sig = 1.5 * (1 - d.alphas)
    assert blur_radius(1.5) == 6 and float(sig.min()) > 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_sigma": 0.0}, ValueError, "max_sigma"),
        ({"max_sigma": float("inf")}, ValueError, "max_sigma"),
        ({"max_sigma": "5"}, TypeError, "max_sigma"),
        ({"truncate": -1.0}, ValueError, "truncate"),
        ({"dims": (0,)}, ValueError, "dims"),
        ({"dims": (5,)}, ValueError, "dims"),
        ({"dims": 2}, TypeError, "dims"),
    ],
)
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    model = lambda z: z.flatten(1).sum(1)
    with pytest.raises(error, match=match):
        blur_integrated_gradients(model, torch.ones(2, 1, 4, 4, dtype=D), **kwargs)


def test_gaussian_filter_bad_arguments() -> None:
    with pytest.raises(ValueError, match="sigma"):
        gaussian_filter(torch.ones(1, 4), -1.0)
    with pytest.raises(TypeError, match="floating"):
        gaussian_filter(torch.ones(1, 4, dtype=torch.long), 1.0)
    with pytest.raises(ValueError, match="sigmas"):
        blur_and_velocity(torch.ones(2, 4), torch.ones(3), 2)
