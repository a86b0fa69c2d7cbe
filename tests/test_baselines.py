"""Baseline kinds of seed 002 (plus a user tensor) and IG x Sign."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from models import SmallMLP

from idgrad.core.baselines import BASELINE_KINDS, make_baseline
from idgrad.methods.ig import integrated_gradients
from idgrad.methods.ig_sign import integrated_gradients_sign, sign_map
from idgrad.ops.blur import gaussian_filter

D = torch.float64


@pytest.mark.parametrize("kind", BASELINE_KINDS)
@pytest.mark.parametrize("dtype", [torch.float32, D])
def test_every_kind_is_shaped_like_the_inputs(kind: str, dtype: torch.dtype) -> None:
    x = torch.rand(2, 3, 6, 5, dtype=dtype)
    x_before = x.clone()
    b = make_baseline(kind, x)
    assert b.shape == x.shape and b.dtype == dtype and b.device == x.device
    assert torch.isfinite(b).all()
    assert torch.equal(x, x_before)
    assert b.data_ptr() != x.data_ptr()


def test_constant_kinds() -> None:
    x = torch.rand(2, 3, 4, 4)
    assert torch.equal(make_baseline("zero", x), torch.zeros_like(x))
    assert torch.equal(make_baseline("black", x), torch.zeros_like(x))
    assert torch.equal(make_baseline("white", x), torch.ones_like(x))
    # normalised images: black and white per channel, e.g. (0 - mean) / std
    mean = torch.tensor([0.485, 0.456, 0.406]).reshape(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).reshape(3, 1, 1)
    black = make_baseline("black", x, low=(0 - mean) / std)
    white = make_baseline("white", x, high=(1 - mean) / std)
    torch.testing.assert_close(black[1, :, 2, 3], ((0 - mean) / std).flatten())
    torch.testing.assert_close(white[0, :, 0, 0], ((1 - mean) / std).flatten())


def test_random_kinds_are_seeded_and_device_and_dtype_independent() -> None:
    x = torch.rand(3, 2, 5)
    for kind in ("gaussian", "uniform"):
        a, b = make_baseline(kind, x, seed=7), make_baseline(kind, x, seed=7)
        assert torch.equal(a, b)
        assert not torch.equal(a, make_baseline(kind, x, seed=8))
        wide = make_baseline(kind, x.double(), seed=7)
        torch.testing.assert_close(wide.float(), a, rtol=0, atol=0)
    torch.manual_seed(3)
    g1 = make_baseline("gaussian", x, seed=None)
    torch.manual_seed(3)
    assert torch.equal(g1, make_baseline("gaussian", x, seed=None))


def test_gaussian_and_uniform_statistics() -> None:
    x = torch.zeros(4000, 5, dtype=D)
    g = make_baseline("gaussian", x, std=0.1)
    assert abs(g.mean().item()) < 0.01 and abs(g.std().item() - 0.1) < 0.005
    u = make_baseline("uniform", x, low=-2.0, high=3.0)
    assert u.min() >= -2.0 and u.max() <= 3.0 and abs(u.mean().item() - 0.5) < 0.05
    xi = torch.rand(6, 5, dtype=D)
    noisy = make_baseline("gaussian", xi, mean="input", std=0.5, clip=(0.0, 1.0))
    assert noisy.min() >= 0.0 and noisy.max() <= 1.0
    close = make_baseline("gaussian", xi, mean="input", std=1e-9)
    torch.testing.assert_close(close, xi, rtol=0, atol=1e-7)


def test_blur_kind() -> None:
    scipy_ndimage = pytest.importorskip("scipy.ndimage")
    x = torch.rand(2, 3, 8, 9, dtype=D)
    b = make_baseline("blur", x, sigma=2.0)
    np.testing.assert_allclose(
        b.numpy(),
        scipy_ndimage.gaussian_filter(x.numpy(), (0, 0, 2.0, 2.0), mode="reflect"),
        atol=1e-14,
    )
    torch.testing.assert_close(make_baseline("blur", x, sigma=0.0), x, rtol=0, atol=0)
    seq = torch.rand(2, 10, dtype=D)
    torch.testing.assert_close(make_baseline("blur", seq, sigma=1.0), gaussian_filter(seq, 1.0))


def test_user_tensor_and_tuple_inputs() -> None:
    x = torch.rand(2, 3)
    user = torch.tensor([1.0, 2.0, 3.0], dtype=D)
    b = make_baseline(user, x)
    assert b.dtype == x.dtype and b.shape == x.shape and torch.equal(b[1], user.float())
    b[0, 0] = 9.0
    assert user[0] == 1.0  # a copy
    pair = make_baseline("uniform", (x, torch.rand(2, 4, 4)), seed=1)
    assert isinstance(pair, tuple) and pair[1].shape == (2, 4, 4)
    first = make_baseline("uniform", x, seed=1)
    assert torch.equal(pair[0], first)  # the first input draws first


@pytest.mark.parametrize(
    ("kind", "kwargs", "error", "match"),
    [
        ("sepia", {}, ValueError, "unknown baseline kind"),
        (3, {}, TypeError, "kind"),
        ("gaussian", {"std": -1.0}, ValueError, "std"),
        ("gaussian", {"mean": "median"}, ValueError, "mean"),
        ("gaussian", {"clip": (1.0, 0.0)}, ValueError, "clip"),
        ("blur", {"sigma": -2.0}, ValueError, "sigma"),
        ("uniform", {"low": 1.0, "high": 0.0}, ValueError, "low <= high"),
        ("black", {"low": torch.zeros(5)}, ValueError, "broadcast"),
        ("white", {"high": "1"}, TypeError, "high"),
        ("uniform", {"seed": 1.5}, TypeError, "seed"),
        (torch.zeros(7), {}, ValueError, "broadcast"),
        (torch.tensor([float("nan")]), {}, ValueError, "NaN"),
    ],
)
def test_bad_arguments(kind: object, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make_baseline(kind, torch.rand(2, 3), **kwargs)  # type: ignore[arg-type]


def test_bad_inputs() -> None:
    with pytest.raises(TypeError, match="floating"):
        make_baseline("zero", torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="empty"):
        make_baseline("zero", ())


# ------------------------------------------------------------------ IG x Sign


def test_ig_sign_is_ig_times_the_sign_map() -> None:
    model = SmallMLP(n_features=5, n_classes=3)
    x = torch.randn(4, 5, dtype=D)
    base = make_baseline("uniform", x, low=-1.0, high=1.0)
    det = integrated_gradients.details(model, x, base, target=2, n_steps=8)
    ig, ig_delta = det.attributions, det.delta
    det = integrated_gradients_sign.details(model, x, base, target=2, n_steps=8)
    got, delta = det.attributions, det.delta
    signs = torch.where(x >= 0, 1.0, -1.0).to(D)
    torch.testing.assert_close(got, ig * signs, rtol=0, atol=0)
    torch.testing.assert_close(delta, ig_delta, rtol=0, atol=0)
    mu = torch.tensor([0.0, 0.5, -0.5, 1.0, 0.0], dtype=D)
    shifted = integrated_gradients_sign(model, x, base, target=2, n_steps=8, mu=mu)
    torch.testing.assert_close(shifted, ig * torch.where(x >= mu, 1.0, -1.0).to(D))


def test_ig_sign_local_variant_and_details() -> None:
    model = lambda z: (z**2).sum(1)
    x = torch.tensor([[-1.0, 0.0, 2.0]], dtype=D)
    local = integrated_gradients_sign(model, x, baselines=1.0, n_steps=2, multiply_by_inputs=False)
    # path-averaged gradient of z^2 from 1 to x is x + 1; times the sign map of x
    torch.testing.assert_close(local, torch.tensor([[-0.0, 1.0, 3.0]], dtype=D))
    d = integrated_gradients_sign.details(model, x, n_steps=2)
    torch.testing.assert_close(d.attributions, torch.tensor([[-1.0, 0.0, 4.0]], dtype=D))
    assert d.n_gradient_evals == 2


def test_ig_sign_thresholds_per_input() -> None:
    x = (torch.randn(3, 1, 4, 4, dtype=D), torch.randn(3, 1, 4, 4, dtype=D))
    signs = sign_map(x, (0.0, 0.1))
    assert torch.equal(signs[0], torch.where(x[0] >= 0.0, 1.0, -1.0).to(D))
    assert torch.equal(signs[1], torch.where(x[1] >= 0.1, 1.0, -1.0).to(D))
    fwd = lambda a, b: (a * b).flatten(1).sum(1)
    signed = integrated_gradients_sign(fwd, x, n_steps=3, mu=(0.0, 0.1))
    plain = integrated_gradients(fwd, x, n_steps=3)
    for got, ig, sign in zip(signed, plain, signs):
        torch.testing.assert_close(got, ig * sign, rtol=0, atol=0)


def test_ig_sign_bad_mu() -> None:
    with pytest.raises(ValueError, match="thresholds"):
        integrated_gradients_sign(lambda z: z.sum(1), torch.ones(1, 2, dtype=D), mu=(0.0, 1.0))
    with pytest.raises(ValueError, match="broadcast"):
        integrated_gradients_sign(lambda z: z.sum(1), torch.ones(1, 2, dtype=D), mu=torch.zeros(3))
    with pytest.raises(TypeError, match="mu"):
        integrated_gradients_sign(lambda z: z.sum(1), torch.ones(1, 2, dtype=D), mu="zero")


def test_runs_on_the_device(device: torch.device) -> None:
    x = torch.rand(2, 3, 5, 5, dtype=D)
    for kind in BASELINE_KINDS:
        b = make_baseline(kind, x.to(device), seed=4)
        assert b.device == x.to(device).device
        torch.testing.assert_close(b.cpu(), make_baseline(kind, x, seed=4), rtol=0, atol=1e-12)
