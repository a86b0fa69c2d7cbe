"""Tests for idgrad.metrics: insertion/deletion, blur, PIC, completeness, randomisation check."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from idgrad.metrics import (
    Curve,
    PicCurve,
    aggregate_pic,
    completeness_error,
    compressed_size,
    deletion,
    gaussian_blur,
    insertion,
    parameter_randomization_check,
    pic,
    random_pixel_mask,
    saliency_map,
    spearman,
)

H = W = 8


# ------------------------------------------------------------------------------------------
# Toy models and data
# ------------------------------------------------------------------------------------------


def tiny_cnn(seed: int = 0, dtype: torch.dtype = torch.float32, classes: int = 5) -> nn.Module:
    """Conv -> ReLU -> Linear on 3x8x8 images; deterministic, global RNG left alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(4 * H * W, classes),
        )
    return model.to(dtype).eval()


class KnownPixels(nn.Module):
    """Class 0's logit reads channel 0 at a known set of pixels; class 1 is a constant.

    ``logit_0 = scale * sum_{p in K} (x[0, p] - 0.5)``, ``logit_1 = scale * |K| / 4``.
    """

    def __init__(self, mask: torch.Tensor, scale: float = 10.0) -> None:
        super().__init__()
        self.register_buffer("mask", mask.float())
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        l0 = self.scale * ((x[:, 0] - 0.5) * self.mask).sum(dim=(1, 2))
        l1 = torch.full_like(l0, self.scale * float(self.mask.sum()) / 4)
        return torch.stack([l0, l1], dim=1)


def known_mask(h: int = H, w: int = W) -> torch.Tensor:
    m = torch.zeros(h, w, dtype=torch.bool)
    for r, c in [(1, 2), (3, 6), (5, 1), (6, 5)]:
        m[r * h // 8, c * w // 8] = True
    return m


def data(b: int = 4, dtype: torch.dtype = torch.float32, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(b, 3, H, W, generator=g).to(dtype)
    sal = torch.rand(b, H, W, generator=g).to(dtype)
    return images, sal


def probability(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.softmax(model(x), dim=1).gather(1, target[:, None])[:, 0]


# ------------------------------------------------------------------------------------------
# saliency_map and gaussian_blur
# ------------------------------------------------------------------------------------------


def test_saliency_map_reductions() -> None:
    a = torch.tensor([[[[1.0, -2.0]], [[-3.0, 1.0]], [[0.5, 0.0]]]])  # (1, 3, 1, 2)
    expected = {
        "abs_sum": [1.5, 1.0],
        "sum_abs": [4.5, 3.0],
        "sum": [-1.5, -1.0],
        "positive_sum": [0.0, 0.0],
        "l2": [math.sqrt(10.25), math.sqrt(5.0)],
        "max_abs": [3.0, 2.0],
    }
    for reduction, values in expected.items():
        out = saliency_map(a, reduction)  # type: ignore[arg-type]
        assert out.shape == (1, 1, 2)
        torch.testing.assert_close(out.flatten(), torch.tensor(values))
    with pytest.raises(ValueError, match="reduction"):
        saliency_map(a, "mean")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="B, C, H, W"):
        saliency_map(a[0])


def test_gaussian_blur_constant_and_delta() -> None:
    x = torch.full((2, 3, 12, 9), -0.7, dtype=torch.float64)
    for padding in ("reflect", "replicate"):
        torch.testing.assert_close(gaussian_blur(x, padding=padding), x, rtol=0, atol=1e-14)
    delta = torch.zeros(1, 1, 25, 25, dtype=torch.float64)
    delta[0, 0, 12, 12] = 1.0
    out = gaussian_blur(delta)
    assert abs(out.sum().item() - 1.0) < 1e-14
    # The blur of a delta is the kernel itself: outer product of a sampled Gaussian.
    r = torch.arange(-5, 6, dtype=torch.float64)
    g = torch.exp(-(r**2) / 50.0)
    g = g / g.sum()
    torch.testing.assert_close(out[0, 0, 7:18, 7:18], torch.outer(g, g), rtol=0, atol=1e-15)
    assert out[0, 0, :7].abs().max() == 0  # nothing beyond the kernel radius


def test_gaussian_blur_padding_modes_and_errors() -> None:
    x = torch.rand(1, 2, 8, 8, generator=torch.Generator().manual_seed(0))
    before = x.clone()
    reflect = gaussian_blur(x)
    expected = torch.nn.functional.pad(x, (5, 5, 5, 5), mode="reflect")
    r = torch.arange(-5, 6, dtype=torch.float32)
    g = torch.exp(-(r**2) / 50.0)
    k = torch.outer(g / g.sum(), g / g.sum())
    expected = torch.nn.functional.conv2d(expected.reshape(2, 1, 18, 18), k[None, None])
    torch.testing.assert_close(reflect, expected.reshape(1, 2, 8, 8), rtol=1e-5, atol=1e-6)
    assert torch.equal(x, before)
    zeros = gaussian_blur(x, padding="zeros")
    assert zeros[0, 0, 0, 0] < reflect[0, 0, 0, 0]  # zero padding darkens the corners
    # An image smaller than the kernel radius: the reflection repeats (numpy.pad's "reflect").
    small = torch.rand(1, 1, 4, 3, dtype=torch.float64)
    padded = torch.from_numpy(np.pad(small.numpy(), ((0, 0), (0, 0), (5, 5), (5, 5)), "reflect"))
    g64 = torch.exp(-(r.to(torch.float64) ** 2) / 50.0)
    k64 = torch.outer(g64 / g64.sum(), g64 / g64.sum())
    expected = torch.nn.functional.conv2d(padded, k64[None, None])
    torch.testing.assert_close(gaussian_blur(small), expected, rtol=0, atol=1e-14)
    assert gaussian_blur(small, padding="replicate").shape == small.shape
    with pytest.raises(ValueError, match="odd"):
        gaussian_blur(x, kernel_size=4)
    with pytest.raises(ValueError, match="sigma"):
        gaussian_blur(x, sigma=0.0)
    with pytest.raises(ValueError, match="padding"):
        gaussian_blur(x, padding="circular")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# Insertion and deletion
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pps", [1, 5, 7, 64, 100])
def test_curve_length_and_fractions(pps: int) -> None:
    model = tiny_cnn()
    images, sal = data(2)
    for fn in (insertion, deletion):
        c = fn(model, images, sal, pixels_per_step=pps)
        n_points = 1 + math.ceil(H * W / pps)
        assert isinstance(c, Curve)
        assert c.fractions.shape == (n_points,) and c.scores.shape == (2, n_points)
        assert c.auc.shape == (2,) and c.auc.dtype == torch.float64
        expected = [min(i * pps, H * W) / (H * W) for i in range(n_points)]
        assert c.fractions.tolist() == expected
        # AUC: trapezoid rule over the (possibly non-uniform) fractions.
        s = c.scores.double().numpy()
        x = np.asarray(expected)
        auc = ((s[:, 1:] + s[:, :-1]) / 2 * np.diff(x)).sum(axis=1)
        np.testing.assert_allclose(c.auc.numpy(), auc, rtol=1e-12, atol=1e-14)


def test_deletion_endpoints() -> None:
    model = tiny_cnn(dtype=torch.float64)
    images, sal = data(3, torch.float64)
    c = deletion(model, images, sal, pixels_per_step=10)
    target = model(images).argmax(dim=1)
    assert torch.equal(c.target, target)
    torch.testing.assert_close(
        c.scores[:, 0], probability(model, images, target), rtol=0, atol=1e-12
    )
    zeros = torch.zeros_like(images)
    torch.testing.assert_close(
        c.scores[:, -1], probability(model, zeros, target), rtol=0, atol=1e-12
    )
    # Tensor (broadcast) and callable substrates.
    mean = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64)[:, None, None]
    c2 = deletion(model, images, sal, pixels_per_step=10, substrate=mean)
    full = mean.expand_as(images)
    torch.testing.assert_close(
        c2.scores[:, -1], probability(model, full, target), rtol=0, atol=1e-12
    )
    c3 = deletion(model, images, sal, pixels_per_step=10, substrate=lambda x: -x)
    torch.testing.assert_close(
        c3.scores[:, -1], probability(model, -images, target), rtol=0, atol=1e-12
    )


def test_insertion_endpoints() -> None:
    model = tiny_cnn(dtype=torch.float64)
    images, sal = data(3, torch.float64)
    c = insertion(model, images, sal, pixels_per_step=9)
    t = c.target
    torch.testing.assert_close(
        c.scores[:, 0], probability(model, gaussian_blur(images), t), rtol=0, atol=1e-12
    )
    torch.testing.assert_close(c.scores[:, -1], probability(model, images, t), rtol=0, atol=1e-12)


def test_perfect_saliency_beats_reversed() -> None:
    mask = known_mask()
    model = KnownPixels(mask)
    images = torch.zeros(2, 3, H, W)
    images[:, :, mask] = 1.0
    images[1] *= 0.8
    perfect = mask.float().expand(2, H, W) + 0.01 * torch.rand(2, H, W)
    reversed_ = -perfect
    t = 0
    d_good = deletion(model, images, perfect, t, pixels_per_step=4)
    d_bad = deletion(model, images, reversed_, t, pixels_per_step=4)
    i_good = insertion(model, images, perfect, t, pixels_per_step=4)
    i_bad = insertion(model, images, reversed_, t, pixels_per_step=4)
    assert bool((d_good.auc < d_bad.auc - 0.3).all())
    assert bool((i_good.auc > i_bad.auc + 0.3).all())


@pytest.mark.parametrize(
    "dtype,tol", [(torch.float32, 1e-6), (torch.float64, 1e-12)], ids=["float32", "float64"]
)
def test_batch_size_invariance(dtype: torch.dtype, tol: float) -> None:
    model = tiny_cnn(dtype=dtype)
    images, sal = data(3, dtype)
    for fn in (insertion, deletion):
        ref = fn(model, images, sal, pixels_per_step=8, batch_size=3 * 9)  # all at once
        for bs in (1, 3):
            c = fn(model, images, sal, pixels_per_step=8, batch_size=bs)
            assert torch.equal(c.target, ref.target)
            torch.testing.assert_close(c.scores, ref.scores, rtol=0, atol=tol)
            torch.testing.assert_close(c.auc, ref.auc, rtol=0, atol=tol)


def test_runs_on_device(device: torch.device) -> None:
    model = tiny_cnn().to(device)
    images, sal = data(2)
    ref = insertion(tiny_cnn(), images, sal, pixels_per_step=16)
    for fn in (insertion, deletion):
        c = fn(model, images.to(device), sal.to(device), pixels_per_step=16, batch_size=3)
        assert c.scores.device.type == device.type and c.auc.device.type == device.type
        if fn is insertion:
            torch.testing.assert_close(c.scores.cpu(), ref.scores, rtol=1e-4, atol=1e-5)


def test_per_example_targets_and_saliency() -> None:
    model = tiny_cnn()
    images, sal = data(4)
    target = torch.tensor([0, 3, 1, 4])
    for fn in (insertion, deletion):
        c = fn(model, images, sal, target, pixels_per_step=8)
        assert torch.equal(c.target, target)
        for b in range(4):
            single = fn(model, images[b : b + 1], sal[b : b + 1], int(target[b]), pixels_per_step=8)
            torch.testing.assert_close(c.scores[b], single.scores[0], rtol=0, atol=1e-6)
        as_list = fn(model, images, sal, target.tolist(), pixels_per_step=8)
        torch.testing.assert_close(as_list.scores, c.scores, rtol=0, atol=1e-12)


def test_ties_are_broken_in_raster_order() -> None:
    weights = torch.arange(1.0, H * W + 1).reshape(1, H, W)

    def model(x: torch.Tensor) -> torch.Tensor:
        return torch.stack([(x[:, 0] * weights).sum(dim=(1, 2)), torch.zeros(len(x))], 1)

    images = torch.ones(1, 1, H, W)
    flat = torch.zeros(1, H, W)  # every pixel tied
    c = deletion(model, images, flat, 0, pixels_per_step=1, score="logit")
    total = weights.sum()
    expected = total - torch.cat([torch.zeros(1), weights.flatten().cumsum(0)])
    torch.testing.assert_close(c.scores[0], expected, rtol=0, atol=1e-12)


def test_score_options() -> None:
    model = tiny_cnn()
    images, sal = data(2)
    t = torch.tensor([1, 2])
    logit = deletion(model, images, sal, t, pixels_per_step=16, score="logit")
    with torch.no_grad():
        out = model(images)
    torch.testing.assert_close(logit.scores[:, 0], out.gather(1, t[:, None])[:, 0])
    custom = deletion(
        model,
        images,
        sal,
        t,
        pixels_per_step=16,
        score=lambda o, tt: torch.log_softmax(o, 1).gather(1, tt[:, None])[:, 0],
    )
    prob = deletion(model, images, sal, t, pixels_per_step=16)
    torch.testing.assert_close(custom.scores.exp(), prob.scores, rtol=1e-5, atol=1e-7)


def test_bad_inputs_raise() -> None:
    model = tiny_cnn()
    images, sal = data(2)
    for fn in (insertion, deletion):
        with pytest.raises(ValueError, match="saliency"):
            fn(model, images, sal[:, :-1])
        with pytest.raises(ValueError, match="saliency"):
            fn(model, images, sal[:1])
        with pytest.raises(ValueError, match="pixels_per_step"):
            fn(model, images, sal, pixels_per_step=0)
        with pytest.raises(TypeError, match="pixels_per_step"):
            fn(model, images, sal, pixels_per_step=2.5)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="score"):
            fn(model, images, sal, score="softmax")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="batch_size"):
            fn(model, images, sal, batch_size=0)
        with pytest.raises(ValueError, match="target"):
            fn(model, images, sal, target=[0, 1, 2])
        with pytest.raises(ValueError, match="out of range for 5 classes"):
            fn(model, images, sal, target=7)
        with pytest.raises(ValueError, match="NaN"):
            fn(model, images, torch.full_like(sal, float("nan")))
        with pytest.raises(ValueError, match="substrate"):
            fn(model, images, sal, substrate=torch.zeros(5, 3, H, W))
        with pytest.raises(ValueError, match="B, C, H, W"):
            fn(model, images[0], sal)


def test_model_and_tensors_left_as_found() -> None:
    model = tiny_cnn().train()
    images, sal = data(2)
    images.requires_grad_(True)
    model(images).sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    params = [p.detach().clone() for p in model.parameters()]
    img_grad = images.grad.clone()
    before_images, before_sal = images.detach().clone(), sal.clone()
    insertion(model, images, sal, pixels_per_step=16)
    deletion(model, images, sal, pixels_per_step=16, substrate=lambda x: x.mul_(0))
    assert model.training and torch.is_grad_enabled()
    assert images.requires_grad and torch.equal(images.grad, img_grad)
    assert torch.equal(images.detach(), before_images) and torch.equal(sal, before_sal)
    for p, g, v in zip(model.parameters(), grads, params):
        assert torch.equal(p.grad, g) and torch.equal(p.detach(), v) and p.requires_grad
    model.eval()
    deletion(model, images, sal, pixels_per_step=16)
    assert not model.training


# ------------------------------------------------------------------------------------------
# completeness_error and spearman
# ------------------------------------------------------------------------------------------


def test_completeness_error() -> None:
    a = torch.tensor([[0.5, 0.25], [1.0, -1.0]], dtype=torch.float32)
    err = completeness_error(a, torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0]))
    assert err.dtype == torch.float64
    torch.testing.assert_close(err, torch.tensor([-0.25, 0.0], dtype=torch.float64))
    err2 = completeness_error((a, torch.ones(2, 3, 2)), 0.0, 1.0)
    torch.testing.assert_close(err2, torch.tensor([5.75, 5.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="end"):
        completeness_error(a, 0.0, torch.ones(3))
    with pytest.raises(ValueError, match="batch"):
        completeness_error((a, torch.ones(3, 2)), 0.0, 1.0)


def test_spearman_matches_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(3)
    a = torch.randint(0, 5, (3, 40), generator=g).double()  # many ties
    b = a + torch.randint(0, 3, (3, 40), generator=g).double()
    rho = spearman(a, b)
    for i in range(3):
        assert abs(rho[i].item() - stats.spearmanr(a[i], b[i]).statistic) < 1e-12
    assert torch.isnan(spearman(torch.ones(1, 4), torch.rand(1, 4)))[0]
    with pytest.raises(ValueError, match="same shape"):
        spearman(a, b[:, :-1])


# ------------------------------------------------------------------------------------------
# parameter_randomization_check
# ------------------------------------------------------------------------------------------


def grad_times_input(model: nn.Module, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = model(x).gather(1, t[:, None]).sum()
        (g,) = torch.autograd.grad(out, x)
    return (g * x).detach()


def test_parameter_randomization_check() -> None:
    model = tiny_cnn()
    images, _ = data(3)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.random.get_rng_state()
    r = parameter_randomization_check(model, images, grad_times_input)
    assert r.layers == ("3", "0")  # Linear (top) first, then the conv
    assert r.correlations.shape == (2, 3) and r.correlations.dtype == torch.float64
    assert bool((r.correlations < 0.9).all())
    assert torch.equal(torch.random.get_rng_state(), rng)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert not model.training
    again = parameter_randomization_check(model, images, grad_times_input)
    assert torch.equal(again.correlations, r.correlations)  # seeded
    ind = parameter_randomization_check(model, images, grad_times_input, mode="independent")
    torch.testing.assert_close(ind.correlations[0], r.correlations[0])  # same first stage
    allr = parameter_randomization_check(model, images, grad_times_input, mode="all")
    assert allr.layers == ("all",) and allr.correlations.shape == (1, 3)
    # A method that ignores the model fails the check: correlation 1 at every stage.
    blind = parameter_randomization_check(model, images, lambda m, x, t: x.sum(1))
    torch.testing.assert_close(blind.correlations, torch.ones(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="mode"):
        parameter_randomization_check(model, images, grad_times_input, mode="top")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="layers"):
        parameter_randomization_check(model, images, grad_times_input, layers=["fc"])
    with pytest.raises(TypeError, match="Module"):
        parameter_randomization_check(lambda x: x, images, grad_times_input)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# PIC
# ------------------------------------------------------------------------------------------

PIC_H = 16


def pic_data(b: int = 2):
    """Noisy images whose class-0 evidence is four bright pixels in channel 0."""
    mask = known_mask(PIC_H, PIC_H)
    g = torch.Generator().manual_seed(5)
    images = 0.3 + 0.4 * torch.rand(b, 3, PIC_H, PIC_H, generator=g)
    images[:, 0, mask] = 1.0
    perfect = mask.float().expand(b, PIC_H, PIC_H).clone()
    perfect += 0.01 * torch.rand(b, PIC_H, PIC_H, generator=g)
    return KnownPixels(mask), images, perfect


def test_compressed_size_and_random_mask() -> None:
    g = torch.Generator().manual_seed(0)
    noise = torch.randint(0, 256, (3, 32, 32), generator=g, dtype=torch.uint8)
    flat = torch.full((3, 32, 32), 128.0)
    for codec in ("webp", "png", "zlib"):
        if codec != "zlib":
            pytest.importorskip("PIL")
        assert compressed_size(flat, codec) < compressed_size(noise, codec)  # type: ignore[arg-type]
    assert compressed_size(noise[:1], "webp") > 0  # grey-scale
    with pytest.raises(ValueError, match="zlib"):
        compressed_size(torch.zeros(2, 8, 8), "webp")
    with pytest.raises(ValueError, match="codec"):
        compressed_size(flat, "jpeg")  # type: ignore[arg-type]
    m = random_pixel_mask(3, 10, 20, fraction=0.1, seed=4)
    assert m.shape == (3, 10, 20) and m.sum(dim=(1, 2)).tolist() == [20, 20, 20]
    assert torch.equal(m, random_pixel_mask(3, 10, 20, fraction=0.1, seed=4))
    assert not torch.equal(m[0], m[1])


def test_pic_sic_perfect_beats_reversed() -> None:
    pytest.importorskip("scipy")
    pytest.importorskip("PIL")
    model, images, perfect = pic_data()
    good = pic(model, images, perfect, 0)
    bad = pic(model, images, -perfect, 0)
    assert isinstance(good, PicCurve)
    assert good.valid.all() and bad.valid.all() and good.reasons == ("", "")
    assert bool((good.auc > bad.auc + 0.2).all())
    assert good.curve_x.shape == (1001,) and good.curve_y.shape == (2, 1001)
    assert good.thresholds[0] == 0 and good.thresholds[-1] == 1
    assert torch.equal(good.curve_y[:, 0], torch.zeros(2))
    assert torch.equal(good.curve_y[:, -1], torch.ones(2))
    assert bool((good.curve_y.diff(dim=1) >= -1e-12).all())  # monotone with keep_monotonic
    # The last image is the original; scores are softmax probabilities of the target.
    p = probability(model, images, torch.zeros(2, dtype=torch.long))
    torch.testing.assert_close(good.scores[:, -1], p.double())


def test_pic_aic_batching_and_aggregate() -> None:
    pytest.importorskip("scipy")
    pytest.importorskip("PIL")
    model, images, perfect = pic_data()
    aic = pic(model, images, perfect, kind="aic", batch_size=64)
    assert set(aic.scores.unique().tolist()) <= {0.0, 1.0} and aic.valid.all()
    aic1 = pic(model, images, perfect, kind="aic", batch_size=1)
    assert torch.equal(aic.curve_y, aic1.curve_y) and torch.equal(aic.information, aic1.information)
    sic = pic(model, images, perfect, 0, batch_size=64, codec="png", n_points=101)
    sic3 = pic(model, images, perfect, 0, batch_size=3, codec="png", n_points=101)
    torch.testing.assert_close(sic.curve_y, sic3.curve_y, rtol=0, atol=1e-6)
    agg = aggregate_pic(sic, "mean")
    torch.testing.assert_close(agg.curve_y, sic.curve_y.mean(dim=0))
    assert agg.n_valid == 2 and abs(agg.auc.item() - sic.auc.mean().item()) < 1e-12
    med = aggregate_pic([sic, sic3])
    assert med.n_valid == 4
    with pytest.raises(ValueError, match="grids"):
        aggregate_pic([sic, aic])


def test_pic_invalid_examples_and_errors() -> None:
    pytest.importorskip("scipy")
    pytest.importorskip("PIL")
    model, images, perfect = pic_data()
    r = pic(model, images, perfect, 1)  # class 1 scores higher on the blurred image
    assert not r.valid.any() and all(r.reasons)
    assert torch.isnan(r.auc).all() and torch.isnan(r.curve_y).all()
    with pytest.raises(ValueError, match="no valid"):
        aggregate_pic(r)
    with pytest.raises(ValueError, match="kind"):
        pic(model, images, perfect, kind="xic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="thresholds"):
        pic(model, images, perfect, thresholds=[0.5, 0.2])
    with pytest.raises(ValueError, match="thresholds"):
        pic(model, images, perfect, thresholds=[0.0, 0.2])
    with pytest.raises(ValueError, match="random_mask"):
        pic(model, images, perfect, random_mask=torch.zeros(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="saliency"):
        pic(model, images, perfect[:, 1:])


def test_pic_interpolation_matches_griddata() -> None:
    interpolate = pytest.importorskip("scipy.interpolate")
    from idgrad.metrics._interpolation import _interpolate_from

    g = torch.Generator().manual_seed(2)
    h, w = 13, 10
    img = torch.rand(3, h, w, generator=g, dtype=torch.float64)
    coords = np.stack(np.unravel_index(np.arange(h * w), (h, w)), axis=1).astype(np.float64)
    for frac in (0.0, 0.1, 0.5):
        known = torch.rand(h, w, generator=g) < frac
        known[[0, 0, -1, -1], [0, -1, 0, -1]] = True
        k = known.numpy().ravel()
        values = img.numpy().reshape(3, -1).T
        ref = values.copy()
        ref[~k] = interpolate.griddata(coords[k], values[k], coords[~k], method="linear")
        out = _interpolate_from(img, known, "linear").numpy().reshape(3, -1).T
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)
        near = _interpolate_from(img, known, "nearest")
        assert torch.equal(near[:, known], img[:, known])


# ------------------------------------------------------------------------------------------
# target: the rules of idgrad.core.targets; non-finite values raise
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [insertion, deletion])
def test_negative_target_counts_from_the_end(fn) -> None:  # type: ignore[no-untyped-def]
    model, (images, sal) = tiny_cnn(), data(2)
    a = fn(model, images, sal, target=-1, pixels_per_step=16)
    b = fn(model, images, sal, target=4, pixels_per_step=16)
    assert a.target.tolist() == [4, 4] and torch.equal(a.scores, b.scores)
    c = fn(model, images, sal, target=torch.tensor([-5, 1]), pixels_per_step=16)
    assert c.target.tolist() == [0, 1]
    with pytest.raises(ValueError, match="out of range"):
        fn(model, images, sal, target=-6)


def test_pic_accepts_a_negative_target() -> None:
    model, images, perfect = pic_data(1)
    a = pic(model, images, perfect, -2, min_score=0.0, n_points=5)
    b = pic(model, images, perfect, 0, min_score=0.0, n_points=5)
    assert a.target.tolist() == [0] and torch.equal(a.scores, b.scores)


def test_predicted_is_spelled_out_and_none_is_refused() -> None:
    model, (images, sal) = tiny_cnn(), data(3)
    classes = model(images).argmax(1)
    default = deletion(model, images, sal, pixels_per_step=16)
    spelled = deletion(model, images, sal, target="predicted", pixels_per_step=16)
    assert torch.equal(default.target, classes) and torch.equal(spelled.scores, default.scores)
    with pytest.raises(TypeError, match="one scalar per example"):
        deletion(model, images, sal, target=None, pixels_per_step=16)


@pytest.mark.parametrize("bad", [torch.tensor([True, False]), [True, False], np.array([True])])
def test_bool_target_is_refused(bad) -> None:  # type: ignore[no-untyped-def]
    model, (images, sal) = tiny_cnn(), data(2)
    with pytest.raises(TypeError, match="bool"):
        insertion(model, images, sal, target=bad, pixels_per_step=16)


def test_one_element_target_applies_to_every_example() -> None:
    model, (images, sal) = tiny_cnn(), data(3)
    a = deletion(model, images, sal, target=torch.tensor([2]), pixels_per_step=16)
    b = deletion(model, images, sal, target=2, pixels_per_step=16)
    assert a.target.tolist() == [2, 2, 2] and torch.equal(a.scores, b.scores)


@pytest.mark.parametrize("fn", [insertion, deletion])
def test_nan_in_an_image_is_refused(fn) -> None:  # type: ignore[no-untyped-def]
    model, (images, sal) = tiny_cnn(), data(2)
    images[1, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="images contains NaN or Inf"):
        fn(model, images, sal, target=0, pixels_per_step=16)
    with pytest.raises(ValueError, match="images contains NaN or Inf"):
        pic(model, images, sal, 0)


def test_non_finite_score_names_the_example_and_point() -> None:
    from idgrad.core.validation import NonFiniteError

    base = tiny_cnn()

    def model(x: torch.Tensor) -> torch.Tensor:  # NaN once over 30% of the pixels are deleted
        out = base(x)
        broken = (x == 0).flatten(1).float().mean(1) > 0.3
        return torch.where(broken[:, None], torch.full_like(out, float("nan")), out)

    images, sal = data(2)
    images = images.abs() + 1.0  # no exact zeros until pixels are deleted
    # 4 pixels per step: 20 of the 64 pixels (31%) are deleted at point 5
    with pytest.raises(NonFiniteError, match="example 0, point 5 of its deletion curve"):
        deletion(model, images, sal, target=0, pixels_per_step=4, substrate=0.0, batch_size=7)


def test_randomization_check_resolves_predicted_and_passes_none_through() -> None:
    model = tiny_cnn()
    images, _ = data(2)
    seen = []

    def explain(m: nn.Module, x: torch.Tensor, t):  # type: ignore[no-untyped-def]
        seen.append(t)
        return x.sum(1)

    parameter_randomization_check(model, images, explain, mode="all")
    assert torch.equal(seen[0], model(images).argmax(1))
    parameter_randomization_check(model, images, explain, target=None, mode="all")
    assert seen[-1] is None
