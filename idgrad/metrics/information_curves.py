"""Performance Information Curves: SIC and AIC (PIC).

The Performance Information Curves (Kapishnikov et al., "XRAI", ICCV 2019) reveal the most
salient pixels of an image whose other pixels are interpolated from a sparse random subset, and
plot the model's normalised score against the image's normalised information content, estimated
by its losslessly compressed size.
"""

from __future__ import annotations

import io
import math
import zlib
from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor

from idgrad.core.guard import ModelGuard
from idgrad.core.validation import check_int
from idgrad.frameworks.boundary import at_boundary
from idgrad.metrics._checks import (
    Model,
    Target,
    _accuracy,
    _check_batch_size,
    _check_images,
    _check_saliency,
    _classes,
    _pixel_ranks,
    _probability,
    _score_batch,
)
from idgrad.metrics._interpolation import _interpolate_from

__all__ = [
    "DEFAULT_PIC_THRESHOLDS",
    "PicAggregate",
    "PicCurve",
    "aggregate_pic",
    "compressed_size",
    "pic",
    "random_pixel_mask",
]

DEFAULT_PIC_THRESHOLDS: tuple[float, ...] = (
    0.005,
    0.01,
    0.02,
    0.03,
    0.04,
    0.05,
    0.07,
    0.10,
    0.13,
    0.21,
    0.34,
    0.5,
    0.75,
)
"""Fractions of most salient pixels revealed for PIC, as in the XRAI paper's evaluation."""


class PicCurve(NamedTuple):
    """Performance Information Curves for a batch of images (see :func:`pic`).

    Attributes:
        curve_x: ``(n_points,)`` float64 normalised information grid, ``linspace(0, 1)``.
        curve_y: ``(B, n_points)`` float64 normalised score on that grid; NaN rows for
            examples that are not ``valid``.
        auc: ``(B,)`` float64 area under each curve (trapezoid rule); NaN where not valid.
        valid: ``(B,)`` bool, whether the example passed PIC's admission checks.
        reasons: one string per example, ``""`` when valid, else why it was left out.
        thresholds: ``(T + 2,)`` float64 fractions of pixels revealed: 0, the thresholds, 1.
        information: ``(B, T + 2)`` float64 compressed sizes in bytes of the fully blurred
            image, each partially revealed image, and the original.
        scores: ``(B, T + 2)`` float64 raw scores (softmax, or 0/1 accuracy) of those images.
        target: ``(B,)`` long class scored per example.
    """

    curve_x: Tensor
    curve_y: Tensor
    auc: Tensor
    valid: Tensor
    reasons: tuple[str, ...]
    thresholds: Tensor
    information: Tensor
    scores: Tensor
    target: Tensor


class PicAggregate(NamedTuple):
    """Aggregated PIC over the valid examples (see :func:`aggregate_pic`).

    Attributes:
        curve_x: ``(n_points,)`` float64 grid.
        curve_y: ``(n_points,)`` float64 pointwise median (or mean) of the valid curves.
        auc: float64 scalar tensor, trapezoid area under ``curve_y``.
        n_valid: number of curves aggregated.
    """

    curve_x: Tensor
    curve_y: Tensor
    auc: Tensor
    n_valid: int


def random_pixel_mask(
    batch: int, height: int, width: int, fraction: float = 0.01, seed: int = 0
) -> Tensor:
    r"""Random pixel masks that seed PIC's fully blurred image.

    Each of the ``batch`` masks marks :math:`\lfloor \text{fraction} \cdot HW \rfloor` distinct
    pixels drawn without replacement from a private generator seeded with ``seed`` (the global
    RNG is not touched). Use the same masks for every saliency method you compare.

    Args:
        batch: number of masks.
        height: image height ``H``.
        width: image width ``W``.
        fraction: share of pixels kept, in ``[0, 1]`` (0.01 in the XRAI paper).
        seed: generator seed.

    Returns:
        ``(batch, H, W)`` bool tensor.

    Example:
        >>> m = random_pixel_mask(2, 10, 10, fraction=0.05)
        >>> m.shape, m.sum(dim=(1, 2)).tolist()
        (torch.Size([2, 10, 10]), [5, 5])
    """
    batch = check_int(batch, "batch")
    height = check_int(height, "height")
    width = check_int(width, "width")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    n = height * width
    k = math.floor(fraction * n)
    gen = torch.Generator().manual_seed(int(seed))
    mask = torch.zeros(batch, n, dtype=torch.bool)
    for i in range(batch):
        mask[i, torch.randperm(n, generator=gen)[:k]] = True
    return mask.reshape(batch, height, width)


def compressed_size(image: Tensor, codec: Literal["webp", "png", "zlib"] = "webp") -> int:
    """Size in bytes of an 8-bit image after lossless compression: PIC's information proxy.

    ``"webp"`` (lossless WebP via Pillow, ``quality=100``) is the estimator of the PAIR
    ``saliency`` library; ``"png"`` (Pillow, ``compress_level=9``) is a second image codec;
    ``"zlib"`` (level 9 on the raw ``H·W·C`` bytes, standard library only) needs no Pillow but
    sees no 2-D structure, so it is the crudest of the three. Pillow is imported lazily.

    Args:
        image: ``(C, H, W)`` with ``C`` in 1, 3 or 4 for the Pillow codecs (any ``C`` for
            zlib), values in ``[0, 255]``; floats are rounded and clipped to ``uint8``.
        codec: ``"webp"``, ``"png"`` or ``"zlib"``.

    Returns:
        The compressed size in bytes.

    Example:
        >>> flat = torch.zeros(1, 32, 32)
        >>> noise = torch.randint(0, 256, (1, 32, 32), generator=torch.Generator().manual_seed(0))
        >>> compressed_size(flat, "zlib") < compressed_size(noise, "zlib")
        True
    """
    if not isinstance(image, Tensor) or image.ndim != 3:
        shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise ValueError(f"image must be a (C, H, W) tensor, got {shape}")
    if codec not in ("webp", "png", "zlib"):
        raise ValueError(f"codec must be 'webp', 'png' or 'zlib', got {codec!r}")
    img = image.detach()
    if img.dtype != torch.uint8:
        img = img.to(torch.float64).round().clamp(0, 255).to(torch.uint8)
    arr = np.ascontiguousarray(img.cpu().permute(1, 2, 0).numpy())  # (H, W, C)
    if codec == "zlib":
        return len(zlib.compress(arr.tobytes(), 9))
    c = arr.shape[2]
    if c not in (1, 3, 4):
        raise ValueError(f"codec {codec!r} needs 1, 3 or 4 channels, got {c}; use codec='zlib'")
    try:
        from PIL import Image
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"codec {codec!r} needs Pillow (pip install pillow); codec='zlib' does not"
        ) from err
    pil = Image.fromarray(arr[:, :, 0] if c == 1 else arr)
    buf = io.BytesIO()
    if codec == "webp":
        pil.save(buf, format="WEBP", lossless=True, quality=100)
    else:
        pil.save(buf, format="PNG", compress_level=9)
    return len(buf.getvalue())


def _default_to_uint8(reference: Tensor) -> Callable[[Tensor], Tensor]:
    lo, hi = reference.min(), reference.max()
    span = (hi - lo).clamp(min=torch.finfo(reference.dtype).tiny)

    def to_uint8(images: Tensor) -> Tensor:
        return (images - lo) / span * 255.0

    return to_uint8


@at_boundary(models=("model",), numpy_inputs="images")  # frameworks hook
def pic(
    model: Model,
    images: Tensor,
    saliency: Tensor,
    target: Target = "predicted",
    *,
    kind: Literal["sic", "aic"] = "sic",
    thresholds: Sequence[float] = DEFAULT_PIC_THRESHOLDS,
    random_mask: Tensor | None = None,
    random_fraction: float = 0.01,
    seed: int = 0,
    to_uint8: Callable[[Tensor], Tensor] | None = None,
    codec: Literal["webp", "png", "zlib"] = "webp",
    interpolation: Literal["linear", "nearest"] = "linear",
    min_score: float = 0.8,
    keep_monotonic: bool = True,
    n_points: int = 1001,
    batch_size: int = 64,
) -> PicCurve:
    r"""Performance Information Curves: SIC (softmax) or AIC (accuracy) against information.

    Kapishnikov et al., "XRAI: Better Attributions Through Regions", ICCV 2019, with the
    choices of the PAIR ``saliency`` library. For each example:

    1. The *fully blurred* image :math:`x_0` keeps the pixels of a sparse random mask (plus the
       four corners) and fills every other pixel by interpolation (``"linear"``: piecewise-
       linear on the Delaunay triangulation of the kept pixels, the same values as the
       library's ``scipy.interpolate.griddata``, but evaluated by rasterising the triangles
       in numpy, because scipy's per-triangle LAPACK set-up stalls for seconds when BLAS
       threads compete for the cores).
    2. For each threshold :math:`t`, the :math:`\operatorname{round}(t \cdot HW)` most salient
       pixels (stable ranking, ties in raster order) are added to the kept set and the image
       re-interpolated: :math:`x_t`. The original image is :math:`x_1`.
    3. Information :math:`e(x)` = compressed size of the 8-bit image (:func:`compressed_size`,
       lossless WebP by default); score :math:`p(x)` = softmax probability of the target
       (SIC) or 1 if the predicted class is the target else 0 (AIC).
    4. Normalise: :math:`\hat e_t = \operatorname{clip}((e(x_t) - e(x_0)) / (e(x_1) - e(x_0)),
       0, 1)` and likewise :math:`\hat p_t`; with ``keep_monotonic`` :math:`\hat p_t` is
       replaced by its running maximum over increasing :math:`t`.
    5. The points :math:`(0, 0)`, :math:`(\hat e_t, \hat p_t)` sorted by :math:`\hat e_t`
       (stable), and :math:`(1, 1)` are linearly interpolated (:func:`numpy.interp`) on
       ``n_points`` evenly spaced :math:`x \in [0, 1]`; the AUC is the trapezoid rule.

    An example is left out (``valid`` False, NaN curve, reason given) when
    :math:`p(x_1) <` ``min_score``, when :math:`e(x_0) \ge e(x_1)`, or when
    :math:`p(x_0) \ge p(x_1)`, as in the library. Aggregate with :func:`aggregate_pic`.

    Interpolation is done on the images as given (in the model's space), which is the same as
    interpolating the displayed image because normalisation is affine per channel and linear
    interpolation preserves affine maps; the model sees these unrounded images. Only the
    information estimate uses 8 bits: ``to_uint8`` maps a stack ``(N, C, H, W)`` of images of
    one example to ``[0, 255]`` (then rounded and clipped). The default maps the original
    image's own ``[min, max]`` (over all channels) to ``[0, 255]`` and applies that same map
    to every blurred version, so sizes are comparable within an example. For ImageNet-
    normalised inputs pass the de-normalisation, e.g.
    ``lambda x: (x * std + mean) * 255``.

    Args:
        model: maps ``(N, C, H, W)`` to ``(N, n_classes)``; not modified, mode untouched.
        images: ``(B, C, H, W)``.
        saliency: ``(B, H, W)``; higher means more important.
        target: the class scored for each example (see :func:`~idgrad.metrics.deletion`).
        kind: ``"sic"`` or ``"aic"``.
        thresholds: increasing fractions in ``(0, 1)`` of pixels to reveal.
        random_mask: ``(B, H, W)`` or ``(H, W)`` bool; default
            ``random_pixel_mask(B, H, W, random_fraction, seed)``.
        random_fraction: share of pixels in the default random mask.
        seed: seed of the default random mask.
        to_uint8: see above.
        codec: information estimator for :func:`compressed_size`.
        interpolation: ``"linear"`` (the library's recommendation) or ``"nearest"``.
        min_score: examples whose score on the original is below it are left out (the
            library's default 0.8; for AIC any value in ``(0, 1]`` keeps exactly the examples
            whose prediction is the target).
        keep_monotonic: use the running maximum of the normalised score (the paper's choice).
        n_points: grid size of the returned curves, ``>= 2``.
        batch_size: most images per forward pass.

    Returns:
        :class:`PicCurve`.

    Raises:
        ValueError: mismatched shapes, bad thresholds, unknown ``kind``/``codec``/
            ``interpolation``, NaN or Inf in ``images``, a bad ``target``;
            :class:`~idgrad.core.validation.NonFiniteError` where a score is NaN or infinite.
        ImportError: scipy (always) or Pillow (``"webp"``/``"png"``) missing.

    Example:
        >>> chk = ((torch.arange(8)[:, None] + torch.arange(8)) % 2).float()  # a checkerboard
        >>> w = torch.zeros(3, 8, 8, 2); w[0, :, :, 0] = 2 * chk - 1  # class 0 detects it
        >>> model = lambda x: x.flatten(1) @ w.reshape(-1, 2) / 8
        >>> x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0)); x[:, 0] = chk
        >>> r = pic(model, x, x[:, 0], 0, min_score=0.0, n_points=11)
        >>> bool(r.valid[0]), r.curve_y.shape, r.curve_y[0, [0, -1]].tolist()
        (True, torch.Size([1, 11]), [0.0, 1.0])
    """
    images = _check_images(images)
    saliency = _check_saliency(saliency, images)
    batch_size = _check_batch_size(batch_size)
    n_points = check_int(n_points, "n_points", minimum=2)
    if kind not in ("sic", "aic"):
        raise ValueError(f"kind must be 'sic' or 'aic', got {kind!r}")
    if codec not in ("webp", "png", "zlib"):
        raise ValueError(f"codec must be 'webp', 'png' or 'zlib', got {codec!r}")
    if interpolation not in ("linear", "nearest"):
        raise ValueError(f"interpolation must be 'linear' or 'nearest', got {interpolation!r}")
    th = np.asarray(list(thresholds), dtype=np.float64)
    if th.ndim != 1 or th.size == 0 or not np.all((th > 0) & (th < 1)):
        raise ValueError(
            f"thresholds must be a non-empty sequence in (0, 1), got {list(thresholds)}"
        )
    if np.any(np.diff(th) <= 0):
        raise ValueError(f"thresholds must be strictly increasing, got {th.tolist()}")
    b, _c, h, w = images.shape
    if h < 2 or w < 2:
        raise ValueError(f"pic needs images of at least 2x2 pixels, got H={h}, W={w}")
    n = h * w
    if random_mask is None:
        mask = random_pixel_mask(b, h, w, random_fraction, seed)
    else:
        if not isinstance(random_mask, Tensor) or random_mask.dtype != torch.bool:
            raise TypeError("random_mask must be a bool tensor")
        if tuple(random_mask.shape) == (h, w):
            mask = random_mask.expand(b, h, w)
        elif tuple(random_mask.shape) == (b, h, w):
            mask = random_mask
        else:
            raise ValueError(
                f"random_mask must have shape (H, W) = {(h, w)} or (B, H, W) = {(b, h, w)}, "
                f"got {tuple(random_mask.shape)}"
            )
    mask = mask.detach().to(images.device).clone()
    mask[:, [0, 0, -1, -1], [0, -1, 0, -1]] = True  # corners: the interpolation covers the image
    score_fn = _probability if kind == "sic" else _accuracy
    counts = np.floor(th * n + 0.5).astype(np.int64)
    all_t = torch.tensor([0.0, *th.tolist(), 1.0], dtype=torch.float64)
    grid = np.linspace(0.0, 1.0, n_points)

    with ModelGuard(model), torch.no_grad():
        x = images.detach()
        ranks = _pixel_ranks(saliency)
        target_t = _classes(model, x, target, batch_size)
        info = torch.empty(b, th.size + 2, dtype=torch.float64)
        scores = torch.empty(b, th.size + 2, dtype=torch.float64)
        curves = torch.full((b, n_points), float("nan"), dtype=torch.float64)
        aucs = torch.full((b,), float("nan"), dtype=torch.float64)
        valid = torch.zeros(b, dtype=torch.bool)
        reasons: list[str] = []

        def where(example: int, first: int) -> Callable[[int], str]:
            return lambda k: (
                f"example {example}, on its image with a fraction {float(all_t[first + k]):.4g} "
                "of the most salient pixels revealed"
            )

        for i in range(b):
            known = [mask[i]] + [mask[i] | (ranks[i] < int(k)) for k in counts]
            stack = torch.stack([_interpolate_from(x[i], m, interpolation) for m in known] + [x[i]])
            conv = to_uint8 if to_uint8 is not None else _default_to_uint8(x[i])
            as8 = conv(stack)
            if not isinstance(as8, Tensor) or as8.shape != stack.shape:
                raise ValueError(f"to_uint8 must return a tensor of shape {tuple(stack.shape)}")
            info[i] = torch.tensor([float(compressed_size(im, codec)) for im in as8])
            tgt = target_t[i].expand(stack.shape[0])
            scores[i] = (
                torch.cat(
                    [
                        _score_batch(
                            model,
                            stack[j : j + batch_size],
                            tgt[j : j + batch_size],
                            score_fn,
                            where(i, j),
                        )
                        for j in range(0, stack.shape[0], batch_size)
                    ]
                )
                .to(torch.float64)
                .cpu()
            )
            e, p = info[i].numpy(), scores[i].numpy()
            if p[-1] < min_score:
                reasons.append(f"score on the original image {p[-1]:.4g} < min_score {min_score}")
                continue
            if e[0] >= e[-1]:
                reasons.append(
                    f"information of the fully blurred image ({e[0]:.0f} B) is not below the "
                    f"original's ({e[-1]:.0f} B)"
                )
                continue
            if p[0] >= p[-1]:
                reasons.append(
                    f"score on the fully blurred image {p[0]:.4g} is not below the original's "
                    f"{p[-1]:.4g}"
                )
                continue
            ne = np.clip((e[1:-1] - e[0]) / (e[-1] - e[0]), 0.0, 1.0)
            npred = np.clip((p[1:-1] - p[0]) / (p[-1] - p[0]), 0.0, 1.0)
            if keep_monotonic:
                npred = np.maximum.accumulate(npred)
            order = np.argsort(ne, kind="stable")
            xs = np.concatenate([[0.0], ne[order], [1.0]])
            ys = np.concatenate([[0.0], npred[order], [1.0]])
            y = np.interp(grid, xs, ys)
            curves[i] = torch.from_numpy(y)
            aucs[i] = float(np.sum((y[1:] + y[:-1]) * np.diff(grid)) / 2.0)
            valid[i] = True
            reasons.append("")
    return PicCurve(
        torch.from_numpy(grid),
        curves,
        aucs,
        valid,
        tuple(reasons),
        all_t,
        info,
        scores,
        target_t.cpu(),
    )


def aggregate_pic(
    results: PicCurve | Sequence[PicCurve], method: Literal["median", "mean"] = "median"
) -> PicAggregate:
    """Aggregate the valid PIC curves of one saliency method pointwise, then integrate.

    Args:
        results: one :class:`PicCurve` or several (e.g. one per batch), on the same grid.
        method: ``"median"`` (the XRAI paper's aggregate) or ``"mean"``.

    Returns:
        :class:`PicAggregate`.

    Raises:
        ValueError: no valid curve, different grids, or an unknown ``method``.

    Example:
        >>> x = torch.linspace(0, 1, 3, dtype=torch.float64)
        >>> y = torch.tensor([[0, 1, 1], [0, 0, 1], [0, 0.5, 1]], dtype=torch.float64)
        >>> ok = torch.tensor([True, True, False])  # the third curve was left out
        >>> r = PicCurve(x, y, y[:, 1], ok, ("", "", "x"), x, y, y, torch.zeros(3))
        >>> aggregate_pic(r, "mean").curve_y
        tensor([0.0000, 0.5000, 1.0000], dtype=torch.float64)
    """
    if method not in ("median", "mean"):
        raise ValueError(f"method must be 'median' or 'mean', got {method!r}")
    parts = [results] if isinstance(results, PicCurve) else list(results)
    if not parts:
        raise ValueError("results is empty")
    grid = parts[0].curve_x
    for r in parts[1:]:
        if r.curve_x.shape != grid.shape or not torch.equal(r.curve_x, grid):
            raise ValueError("the PIC results were computed on different grids (n_points)")
    ys = torch.cat([r.curve_y[r.valid] for r in parts])
    if ys.shape[0] == 0:
        raise ValueError("no valid PIC curve to aggregate (see PicCurve.reasons)")
    # quantile(0.5) is the usual median (mean of the two middle values for an even count),
    # unlike torch.median, which returns the lower one.
    y = ys.quantile(0.5, dim=0) if method == "median" else ys.mean(dim=0)
    return PicAggregate(grid, y, torch.trapezoid(y, grid), int(ys.shape[0]))
