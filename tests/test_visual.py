"""Tests for idgrad.visual: the pure array transforms behind the plots."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from idgrad import visual

RNG = np.random.default_rng(1234)


# --------------------------------------------------------------------------------------------
# to_display_image / to_grayscale
# --------------------------------------------------------------------------------------------


def test_display_image_chw_tensor_becomes_hwc() -> None:
    x = torch.rand(3, 5, 7)
    out = visual.to_display_image(x)
    assert out.shape == (5, 7, 3)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, x.permute(1, 2, 0).double().numpy())


def test_display_image_hwc_and_batch_of_one() -> None:
    x = RNG.random((6, 9, 3))
    np.testing.assert_array_equal(visual.to_display_image(x), x)
    batch = torch.from_numpy(np.moveaxis(x, -1, 0))[None]
    np.testing.assert_allclose(visual.to_display_image(batch), x)


def test_display_image_uint8_is_divided_by_255() -> None:
    x = np.array([[[0, 51, 255]] * 2] * 2, dtype=np.uint8)
    out = visual.to_display_image(x)
    np.testing.assert_array_equal(out[0, 0], [0.0, 0.2, 1.0])
    out_t = visual.to_display_image(torch.from_numpy(x).permute(2, 0, 1))
    np.testing.assert_array_equal(out_t, out)


def test_display_image_grey_and_rgba() -> None:
    grey = RNG.random((5, 6))
    out = visual.to_display_image(grey)
    assert out.shape == (5, 6, 3)
    np.testing.assert_array_equal(out[..., 0], grey)
    np.testing.assert_array_equal(out[..., 2], grey)
    rgba = RNG.random((5, 6, 4))
    np.testing.assert_array_equal(visual.to_display_image(rgba), rgba[..., :3])
    one_channel = RNG.random((1, 5, 6))
    np.testing.assert_array_equal(visual.to_display_image(one_channel)[..., 1], one_channel[0])


def test_display_image_normalised_input_is_rescaled_to_unit_range() -> None:
    x = torch.randn(3, 8, 8) * 2.0
    out = visual.to_display_image(x)
    assert out.min() == 0.0 and out.max() == 1.0


def test_display_image_undoes_mean_std_exactly() -> None:
    raw = RNG.random((8, 8, 3))
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    normalised = (raw - np.array(mean)) / np.array(std)
    out = visual.to_display_image(np.moveaxis(normalised, -1, 0), mean=mean, std=std)
    np.testing.assert_allclose(out, raw, atol=1e-12)


def test_display_image_constant_float_is_not_nan() -> None:
    out = visual.to_display_image(np.full((4, 5, 3), 7.0))
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize(
    "shape",
    [(5,), (2, 3, 5, 6), (3, 4, 5, 6, 7), (1, 1, 3, 5, 6)],
)
def test_display_image_bad_ndim_or_batch(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="image"):
        visual.to_display_image(np.zeros(shape))


def test_display_image_ambiguous_or_unknown_layout() -> None:
    with pytest.raises(ValueError, match="ambiguous"):
        visual.to_display_image(np.zeros((3, 5, 3)))
    with pytest.raises(ValueError, match="channels_first"):
        visual.to_display_image(np.zeros((7, 5, 6)))
    out = visual.to_display_image(np.zeros((3, 5, 3)), channels_first=True)
    assert out.shape == (5, 3, 3)
    # Both ends could be channels: RGB (3) beats RGBA (4) beats grey (1).
    assert visual.to_display_image(np.zeros((4, 5, 3))).shape == (4, 5, 3)
    assert visual.to_display_image(np.zeros((3, 5, 4))).shape == (5, 4, 3)
    assert visual.to_display_image(np.zeros((1, 5, 4))).shape == (1, 5, 3)
    assert visual.reduce_channels(np.ones((3, 5, 1))).shape == (5, 1)


def test_display_image_bad_mean_std() -> None:
    with pytest.raises(ValueError, match="both mean and std"):
        visual.to_display_image(np.zeros((3, 5, 5)), mean=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="entries"):
        visual.to_display_image(np.zeros((3, 5, 5)), mean=[0.5, 0.5], std=[1.0, 1.0])


def test_display_image_rejects_nan_and_non_numbers() -> None:
    with pytest.raises(ValueError, match="NaN"):
        visual.to_display_image(np.full((5, 5, 3), np.nan))
    with pytest.raises(TypeError, match="image"):
        visual.to_display_image([["a", "b"], ["c", "d"]])


def test_grayscale_of_grey_image_is_itself() -> None:
    grey = RNG.random((6, 7))
    np.testing.assert_allclose(visual.to_grayscale(np.repeat(grey[..., None], 3, -1)), grey)
    assert visual.to_grayscale(torch.rand(3, 6, 7)).shape == (6, 7)


# --------------------------------------------------------------------------------------------
# reduce_channels / select_sign / normalize_map / attribution_map
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reduction", "expected"),
    [
        ("sum", lambda a: a.sum(0)),
        ("abs_sum", lambda a: np.abs(a.sum(0))),
        ("sum_abs", lambda a: np.abs(a).sum(0)),
        ("positive_sum", lambda a: np.maximum(a.sum(0), 0.0)),
        ("l2", lambda a: np.sqrt((a**2).sum(0))),
        ("max_abs", lambda a: np.abs(a).max(0)),
    ],
)
def test_reduce_channels_formulas_and_layouts(
    reduction: str, expected: Callable[[np.ndarray], np.ndarray]
) -> None:
    a = RNG.normal(size=(3, 6, 7))
    chw = visual.reduce_channels(a, reduction)  # type: ignore[arg-type]
    hwc = visual.reduce_channels(np.moveaxis(a, 0, -1), reduction)  # type: ignore[arg-type]
    tensor = visual.reduce_channels(torch.from_numpy(a)[None], reduction)  # type: ignore[arg-type]
    np.testing.assert_allclose(chw, expected(a), rtol=1e-12)
    np.testing.assert_allclose(hwc, expected(a), rtol=1e-12)
    np.testing.assert_allclose(tensor, expected(a), rtol=1e-12)
    assert chw.shape == (6, 7)


def test_reductions_match_the_metrics_vocabulary() -> None:
    from typing import get_args

    from idgrad import metrics

    assert set(visual.REDUCTIONS) == set(get_args(metrics.Reduction))
    a = torch.randn(2, 3, 6, 7, dtype=torch.float64)
    for reduction in visual.REDUCTIONS:
        expected = metrics.saliency_map(a, reduction).numpy()  # type: ignore[arg-type]
        for i in range(2):
            got = visual.reduce_channels(a[i], reduction)  # type: ignore[arg-type]
            np.testing.assert_allclose(got, expected[i], rtol=1e-12, err_msg=reduction)


def test_reduce_channels_passes_2d_through_and_validates() -> None:
    a = RNG.normal(size=(6, 7))
    np.testing.assert_array_equal(visual.reduce_channels(a), a)
    with pytest.raises(ValueError, match="reduction"):
        visual.reduce_channels(a, "median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shape"):
        visual.reduce_channels(np.zeros(5))
    with pytest.raises(ValueError, match="batch of 2"):
        visual.reduce_channels(np.zeros((2, 3, 5, 5)))
    # Any channel count works once the layout is given.
    assert visual.reduce_channels(np.ones((8, 5, 6)), channels_first=True).shape == (5, 6)


def test_select_sign_is_exact() -> None:
    v = RNG.normal(size=(20, 30))
    positive = visual.select_sign(v, "positive")
    negative = visual.select_sign(v, "negative")
    assert positive.min() >= 0.0 and negative.min() >= 0.0
    np.testing.assert_array_equal(positive - negative, v)
    np.testing.assert_array_equal(positive + negative, np.abs(v))
    np.testing.assert_array_equal(visual.select_sign(v, "absolute"), np.abs(v))
    np.testing.assert_array_equal(visual.select_sign(v, "all"), v)
    np.testing.assert_array_equal(positive[v < 0], 0.0)
    np.testing.assert_array_equal(negative[v > 0], 0.0)


def test_select_sign_unknown() -> None:
    with pytest.raises(ValueError, match="sign"):
        visual.select_sign(np.zeros(3), "both")  # type: ignore[arg-type]


@pytest.mark.parametrize("percentile", [99.5, 99.0, 90.0])
def test_normalize_map_percentile_clipping_bounds(percentile: float) -> None:
    v = RNG.standard_cauchy(size=(224, 224))  # heavy tails, like raw gradients
    out = visual.normalize_map(v, percentile)
    scale = np.percentile(np.abs(v), percentile)
    assert out.min() >= -1.0 and out.max() <= 1.0
    np.testing.assert_allclose(np.abs(out).max(), 1.0)
    # Exactly the pixels at or beyond the percentile are saturated ...
    saturated = np.abs(out) == 1.0
    np.testing.assert_array_equal(saturated, np.abs(v) >= scale)
    fraction = saturated.mean()
    assert abs(fraction - (1.0 - percentile / 100.0)) <= 2.0 / v.size
    # ... and the rest is a plain rescaling with the sign kept.
    np.testing.assert_allclose(out[~saturated], v[~saturated] / scale, rtol=1e-12)
    np.testing.assert_array_equal(np.sign(out), np.sign(v))


def test_normalize_map_default_and_no_clipping() -> None:
    assert visual.DEFAULT_CLIP_PERCENTILE == 99.5
    v = np.array([-4.0, 1.0, 2.0])
    np.testing.assert_allclose(visual.normalize_map(v, 100), v / 4.0)
    np.testing.assert_allclose(visual.normalize_map(v, None), v / 4.0)
    nonneg = RNG.random(1000)
    out = visual.normalize_map(nonneg)
    assert out.min() >= 0.0 and out.max() == 1.0


def test_normalize_map_zero_and_sparse_maps_have_no_nan() -> None:
    np.testing.assert_array_equal(visual.normalize_map(np.zeros((5, 5))), 0.0)
    sparse = np.zeros((100, 100))
    sparse[3, 4] = -2.0
    out = visual.normalize_map(sparse)  # the 99.5th percentile is 0: falls back to the max
    assert np.all(np.isfinite(out))
    assert out[3, 4] == -1.0 and np.count_nonzero(out) == 1


@pytest.mark.parametrize("bad", [0, -1.0, 100.5, 1e9])
def test_normalize_map_bad_percentile(bad: float) -> None:
    with pytest.raises(ValueError, match="clip_percentile"):
        visual.normalize_map(np.ones(4), bad)


def test_normalize_map_percentile_type() -> None:
    with pytest.raises(TypeError, match="clip_percentile"):
        visual.normalize_map(np.ones(4), "99")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="clip_percentile"):
        visual.normalize_map(np.ones(4), True)
    visual.normalize_map(np.ones(4), np.float32(99.0))  # type: ignore[arg-type]  # numpy is fine


@pytest.mark.parametrize("sign", ["positive", "negative", "absolute", "all"])
def test_attribution_map_ranges(sign: str) -> None:
    a = torch.randn(3, 16, 16)
    m = visual.attribution_map(a, sign=sign)  # type: ignore[arg-type]
    assert m.shape == (16, 16)
    low = -1.0 if sign == "all" else 0.0
    assert m.min() >= low and m.max() <= 1.0
    np.testing.assert_allclose(np.abs(m).max(), 1.0)


def test_attribution_map_is_the_papers_saliency() -> None:
    a = RNG.normal(size=(3, 10, 12))
    m = visual.attribution_map(a, sign="absolute", reduction="sum", clip_percentile=100)
    saliency = np.abs(a.sum(0))
    np.testing.assert_allclose(m, saliency / saliency.max(), rtol=1e-12)
    with pytest.raises(ValueError, match="sign"):
        visual.attribution_map(a, sign="pos")  # type: ignore[arg-type]


def test_low_precision_tensors_are_accepted() -> None:
    a = torch.randn(3, 8, 8, dtype=torch.bfloat16)
    assert visual.attribution_map(a).dtype == np.float64
    b = torch.randn(3, 8, 8, requires_grad=True)
    visual.attribution_map(b)  # no "call detach()" error
    assert b.grad is None


# --------------------------------------------------------------------------------------------
# blend / mask_image
# --------------------------------------------------------------------------------------------


def test_blend_ranges_and_endpoints() -> None:
    image = RNG.random((10, 12, 3))
    overlay = RNG.random((10, 12, 3))
    for alpha in (0.0, 0.3, 1.0):
        out = visual.blend(image, overlay, alpha)
        assert out.shape == (10, 12, 3)
        assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_array_equal(visual.blend(image, overlay, 0.0), image)
    np.testing.assert_array_equal(visual.blend(image, overlay, 1.0), overlay)
    np.testing.assert_allclose(
        visual.blend(image, overlay, 0.25), 0.75 * image + 0.25 * overlay, rtol=1e-12
    )


def test_blend_per_pixel_alpha_grey_base_and_rgba() -> None:
    grey = RNG.random((10, 12))
    overlay = RNG.random((10, 12, 4))
    alpha = RNG.random((10, 12))
    out = visual.blend(grey, overlay, alpha)
    weight = (alpha * overlay[..., 3])[..., None]
    expected = (1 - weight) * grey[..., None] + weight * overlay[..., :3]
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_blend_validation() -> None:
    image = RNG.random((10, 12, 3))
    with pytest.raises(ValueError, match="overlay"):
        visual.blend(image, RNG.random((10, 11, 3)))
    with pytest.raises(ValueError, match="alpha"):
        visual.blend(image, image, 1.5)
    with pytest.raises(ValueError, match="alpha"):
        visual.blend(image, image, np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        visual.blend(image * 255, image)
    with pytest.raises(ValueError, match="overlay"):
        visual.blend(image, image + 1.0)


def test_mask_image() -> None:
    image = RNG.random((6, 7, 3))
    values = RNG.random((6, 7))
    out = visual.mask_image(image, values)
    np.testing.assert_allclose(out, image * values[..., None], rtol=1e-12)
    assert out.min() >= 0.0 and out.max() <= 1.0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        visual.mask_image(image, values - 0.5)
    with pytest.raises(ValueError, match="shape"):
        visual.mask_image(image, values.T)


# --------------------------------------------------------------------------------------------
# normalized_auc / decision_region
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 5, 224])
def test_normalized_auc(n: int) -> None:
    x = np.linspace(0.0, 1.0, n)
    assert visual.normalized_auc(x, np.full(n, 0.3)) == pytest.approx(0.3, abs=1e-12)
    assert visual.normalized_auc(x, x) == pytest.approx(0.5, abs=1e-12)
    # Step indices instead of fractions give the same area.
    assert visual.normalized_auc(np.arange(n), x) == pytest.approx(0.5, abs=1e-12)


def test_normalized_auc_validation() -> None:
    with pytest.raises(ValueError, match="same length"):
        visual.normalized_auc([0, 1, 2], [1, 2])
    with pytest.raises(ValueError, match="non-decreasing"):
        visual.normalized_auc([0, 2, 1], [1, 2, 3])


def test_decision_region_piecewise_linear_is_exact() -> None:
    a = np.linspace(0.0, 1.0, 101)
    f = 3.0 + 2.0 * np.clip((a - 0.3) / 0.2, 0.0, 1.0)  # rises from 3 to 5 on [0.3, 0.5]
    low, high = visual.decision_region(a, f, 3.0, 5.0) or (np.nan, np.nan)
    assert low == pytest.approx(0.32, abs=1e-12)
    assert high == pytest.approx(0.48, abs=1e-12)
    # Order of the points does not matter; a falling output works too.
    perm = RNG.permutation(a.size)
    assert visual.decision_region(a[perm], -f[perm], -3.0, -5.0) == pytest.approx((low, high))


def test_decision_region_degenerate_and_bad_fractions() -> None:
    a = np.linspace(0.0, 1.0, 5)
    assert visual.decision_region(a, np.ones(5), 1.0, 1.0) is None
    with pytest.raises(ValueError, match="low"):
        visual.decision_region(a, a, 0.0, 1.0, low=0.9, high=0.1)
