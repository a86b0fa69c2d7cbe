"""Evaluation metrics for attributions: insertion, deletion, PIC (SIC/AIC) and sanity checks.

The insertion and deletion curves follow the protocol of the IDG paper (Walker et al., AAAI 2024,
arXiv 2305.20052), itself taken from RISE (Petsiuk et al., BMVC 2018): pixels are ranked by a
saliency map, changed ``pixels_per_step`` at a time in order of decreasing saliency, and the
model's softmax probability of the target class is recorded after every step. The area under
that curve (trapezoid rule over the fraction of pixels changed) summarises it: high is good for
insertion, low is good for deletion.

The Performance Information Curves (Kapishnikov et al., "XRAI", ICCV 2019) reveal the most
salient pixels of an image whose other pixels are interpolated from a sparse random subset, and
plot the model's normalised score against the image's normalised information content, estimated
by its losslessly compressed size.

Two cheap checks complete the module: :func:`completeness_error` (``Σ_i A_i − (F(x) − F(x'))``)
and :func:`parameter_randomization_check` (Adebayo et al., NeurIPS 2018).

All functions evaluate the model under :func:`torch.no_grad` (the caller's grad mode is restored
on return), never call ``model.eval()`` or ``model.train()``, and never modify their arguments.
Put the model in evaluation mode yourself: dropout or batch statistics would make every score
random.
"""

from __future__ import annotations

import copy
import io
import math
import zlib
from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "DEFAULT_PIC_THRESHOLDS",
    "Curve",
    "PicAggregate",
    "PicCurve",
    "RandomizationResult",
    "aggregate_pic",
    "completeness_error",
    "compressed_size",
    "deletion",
    "gaussian_blur",
    "insertion",
    "parameter_randomization_check",
    "pic",
    "random_pixel_mask",
    "saliency_map",
    "spearman",
]

Model = Callable[[Tensor], Tensor]
"""Anything that maps a batch ``(N, C, H, W)`` to class scores ``(N, n_classes)``."""

Target = int | Sequence[int] | Tensor | None
"""A class index for every example; ``None`` means the model's predicted class."""

ScoreFn = Callable[[Tensor, Tensor], Tensor]
"""``score(outputs (N, n_classes), target (N,)) -> (N,)``."""

Score = Literal["probability", "logit"] | ScoreFn

Substrate = float | Tensor | Callable[[Tensor], Tensor] | Literal["blur"]
"""A value, a tensor broadcastable to the images, ``images -> tensor`` or ``"blur"``."""

Reduce = Literal["abs_sum", "sum_abs", "sum", "positive_sum", "l2", "max_abs"]

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


# --------------------------------------------------------------------------------------------
# Small shared helpers
# --------------------------------------------------------------------------------------------


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_images(images: object, name: str = "images") -> Tensor:
    if not isinstance(images, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W), got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {images.dtype}")
    if images.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one example, got shape {tuple(images.shape)}")
    return images


def _check_saliency(saliency: object, images: Tensor) -> Tensor:
    if not isinstance(saliency, Tensor):
        raise TypeError(f"saliency must be a torch.Tensor, got {type(saliency).__name__}")
    b, _, h, w = images.shape
    if tuple(saliency.shape) != (b, h, w):
        raise ValueError(
            f"saliency must have shape (B, H, W) = {(b, h, w)} to match images of shape "
            f"{tuple(images.shape)}, got {tuple(saliency.shape)}; "
            "reduce channel attributions with saliency_map() first"
        )
    if saliency.is_complex() or saliency.dtype == torch.bool:
        raise TypeError(f"saliency must be real-valued, got {saliency.dtype}")
    if saliency.is_floating_point() and bool(torch.isnan(saliency).any()):
        raise ValueError("saliency contains NaN; the pixel ranking would be undefined")
    return saliency.detach().to(images.device)


def _pixel_ranks(saliency: Tensor) -> Tensor:
    """Rank of every pixel, 0 for the most salient, ties broken by raster order.

    Args:
        saliency: ``(B, H, W)``.

    Returns:
        ``(B, H, W)`` long tensor, a permutation of ``0 .. H·W − 1`` per example.
    """
    b, h, w = saliency.shape
    flat = saliency.reshape(b, h * w)
    order = torch.sort(flat, dim=1, descending=True, stable=True).indices
    ranks = torch.empty_like(order)
    positions = torch.arange(h * w, device=flat.device).expand(b, h * w)
    ranks.scatter_(1, order, positions)
    return ranks.reshape(b, h, w)


def _check_batch_size(batch_size: object) -> int:
    return _check_int("batch_size", batch_size, 1)


def _images_per_pass(batch_size: object, images: Tensor) -> int:
    """``batch_size``, or for ``"auto"`` the path methods' rule (~0.5 M input elements per pass
    on the CPU; see :func:`idgrad.integrator.resolve_chunk_size`): EfficientNet-Lite0 ran
    2.5x faster forward-only in passes of 4 images than of 64 on 2 CPU cores."""
    if batch_size == "auto":
        from idgrad.integrator import resolve_chunk_size

        return resolve_chunk_size("auto", (images,)) or 1
    return _check_batch_size(batch_size)


def _forward(model: Model, batch: Tensor) -> Tensor:
    out = model(batch)
    if not isinstance(out, Tensor):
        raise TypeError(f"the model must return a tensor, got {type(out).__name__}")
    if out.ndim != 2 or out.shape[0] != batch.shape[0]:
        raise ValueError(
            f"the model must return scores of shape (N, n_classes) for a batch of N = "
            f"{batch.shape[0]}, got {tuple(out.shape)}"
        )
    return out


def _resolve_target(model: Model, images: Tensor, target: Target, batch_size: int) -> Tensor:
    """Per-example class indices ``(B,)``; ``None`` means the predicted class."""
    b = images.shape[0]
    if target is None:
        preds = [
            _forward(model, images[i : i + batch_size]).argmax(dim=1)
            for i in range(0, b, batch_size)
        ]
        return torch.cat(preds).to(images.device)
    if isinstance(target, bool):
        raise TypeError("target must be an int, a sequence of ints or a tensor, got bool")
    if isinstance(target, (int, np.integer)):
        return torch.full((b,), int(target), dtype=torch.long, device=images.device)
    t = torch.as_tensor(target)
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"target must hold integer class indices, got dtype {t.dtype}")
    if t.ndim == 0:
        t = t.expand(b)
    if tuple(t.shape) != (b,):
        raise ValueError(
            f"target must have shape ({b},) (one class per example), got {tuple(t.shape)}"
        )
    if bool((t < 0).any()):
        raise ValueError(f"target holds a negative class index: {t.tolist()}")
    return t.to(device=images.device, dtype=torch.long)


def _probability(outputs: Tensor, target: Tensor) -> Tensor:
    return torch.softmax(outputs, dim=1).gather(1, target[:, None])[:, 0]


def _logit(outputs: Tensor, target: Tensor) -> Tensor:
    return outputs.gather(1, target[:, None])[:, 0]


def _accuracy(outputs: Tensor, target: Tensor) -> Tensor:
    return (outputs.argmax(dim=1) == target).to(outputs.dtype)


def _resolve_score(score: object) -> ScoreFn:
    if callable(score):
        return score
    if score == "probability":
        return _probability
    if score == "logit":
        return _logit
    raise ValueError(f"score must be 'probability', 'logit' or a callable, got {score!r}")


def _score_batch(model: Model, batch: Tensor, target: Tensor, score_fn: ScoreFn) -> Tensor:
    out = _forward(model, batch)
    if bool((target >= out.shape[1]).any()):
        raise ValueError(
            f"target holds class indices >= n_classes = {out.shape[1]}: {target.unique().tolist()}"
        )
    s = score_fn(out, target)
    if not isinstance(s, Tensor) or tuple(s.shape) != (batch.shape[0],):
        shape = tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__
        raise ValueError(
            f"score must return one value per image, shape ({batch.shape[0]},), got {shape}"
        )
    return s


def _resolve_substrate(substrate: object, images: Tensor, name: str = "substrate") -> Tensor:
    if isinstance(substrate, str):
        if substrate == "blur":
            return gaussian_blur(images)
        raise ValueError(
            f"{name} must be a number, a tensor, a callable or 'blur', got {substrate!r}"
        )
    if isinstance(substrate, bool):
        raise TypeError(f"{name} must be a number, a tensor, a callable or 'blur', got bool")
    if isinstance(substrate, (int, float, np.integer, np.floating)):
        return torch.full_like(images, float(substrate))
    if isinstance(substrate, Tensor):
        try:
            shape = torch.broadcast_shapes(substrate.shape, images.shape)
        except RuntimeError:
            shape = None
        if shape != images.shape:
            raise ValueError(
                f"{name} of shape {tuple(substrate.shape)} does not broadcast to the images' "
                f"shape {tuple(images.shape)}"
            )
        return substrate.detach().to(device=images.device, dtype=images.dtype).expand(images.shape)
    if callable(substrate):
        out = substrate(images.detach().clone())
        if not isinstance(out, Tensor) or out.shape != images.shape:
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(
                f"{name}(images) must return a tensor of shape {tuple(images.shape)}, got {shape}"
            )
        return out.detach().to(device=images.device, dtype=images.dtype)
    raise TypeError(
        f"{name} must be a number, a tensor, a callable or 'blur', got {type(substrate).__name__}"
    )


# --------------------------------------------------------------------------------------------
# Saliency maps and blur
# --------------------------------------------------------------------------------------------


def saliency_map(attributions: Tensor, reduce: Reduce = "abs_sum") -> Tensor:
    r"""Reduce channel attributions ``(B, C, H, W)`` to a pixel saliency map ``(B, H, W)``.

    With :math:`a_c` the attribution of channel ``c`` at a pixel:

    - ``"abs_sum"``: :math:`|\sum_c a_c|` (the IDG paper's protocol),
    - ``"sum_abs"``: :math:`\sum_c |a_c|`,
    - ``"sum"``: :math:`\sum_c a_c` (signed),
    - ``"positive_sum"``: :math:`\max(\sum_c a_c, 0)`,
    - ``"l2"``: :math:`\sqrt{\sum_c a_c^2}`,
    - ``"max_abs"``: :math:`\max_c |a_c|`.

    Args:
        attributions: ``(B, C, H, W)`` attributions of an image batch.
        reduce: one of the reductions above.

    Returns:
        ``(B, H, W)`` saliency, same dtype and device as ``attributions``.

    Raises:
        ValueError: if ``attributions`` is not 4-D or ``reduce`` is unknown.

    Example:
        >>> a = torch.tensor([[[[1.0, -2.0]], [[-3.0, 1.0]]]])  # (1, 2, 1, 2)
        >>> saliency_map(a)
        tensor([[[2., 1.]]])
        >>> saliency_map(a, "sum_abs")
        tensor([[[4., 3.]]])
    """
    if not isinstance(attributions, Tensor):
        raise TypeError(f"attributions must be a torch.Tensor, got {type(attributions).__name__}")
    if attributions.ndim != 4:
        raise ValueError(
            f"attributions must have shape (B, C, H, W), got {tuple(attributions.shape)}"
        )
    a = attributions.detach()
    if reduce == "abs_sum":
        return a.sum(dim=1).abs()
    if reduce == "sum_abs":
        return a.abs().sum(dim=1)
    if reduce == "sum":
        return a.sum(dim=1)
    if reduce == "positive_sum":
        return a.sum(dim=1).clamp(min=0)
    if reduce == "l2":
        return a.square().sum(dim=1).sqrt()
    if reduce == "max_abs":
        return a.abs().amax(dim=1)
    raise ValueError(
        "reduce must be one of 'abs_sum', 'sum_abs', 'sum', 'positive_sum', 'l2', 'max_abs', "
        f"got {reduce!r}"
    )


def _gaussian_kernel1d(kernel_size: int, sigma: float) -> Tensor:
    r = kernel_size // 2
    x = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-(x**2) / (2.0 * sigma**2))
    return k / k.sum()


def gaussian_blur(
    images: Tensor,
    kernel_size: int = 11,
    sigma: float = 5.0,
    padding: Literal["reflect", "replicate", "zeros"] = "reflect",
) -> Tensor:
    r"""Blur every channel of an image batch with a normalised Gaussian kernel.

    The kernel is the sampled Gaussian
    :math:`k_i = e^{-i^2 / 2\sigma^2} / \sum_j e^{-j^2 / 2\sigma^2}`, :math:`i = -r, \dots, r`,
    :math:`r = \lfloor \text{kernel\_size} / 2 \rfloor`, applied as the separable 2-D kernel
    :math:`k_i k_j` with :func:`torch.nn.functional.conv2d` on the image padded by :math:`r`
    pixels. The weights sum to 1 (up to rounding), so a constant image is unchanged.

    ``padding="reflect"`` (the default) mirrors the image without repeating the edge pixel
    (``c b | a b c``: torch's ``"reflect"``, scipy's ``"mirror"``; not the edge-repeating
    scipy ``"reflect"`` of :mod:`idgrad.blur`) and needs ``H, W > r``; ``"replicate"``
    repeats the edge pixel; ``"zeros"`` pads with 0 and so darkens the border.

    Note:
        The RISE code that the IDG authors use builds its 11×11 kernel by smoothing a delta
        with ``scipy.ndimage.gaussian_filter(sigma=5)`` inside the 11×11 window, which folds
        the tails back and gives an almost flat (box-like) kernel, and then pads with zeros.
        This function is the plain sampled Gaussian; pass ``padding="zeros"`` to get their
        border behaviour.

    Args:
        images: ``(B, C, H, W)`` floating-point images.
        kernel_size: odd positive kernel width (default 11, as in the IDG paper).
        sigma: standard deviation in pixels, ``> 0`` (default 5, as in the IDG paper).
        padding: ``"reflect"``, ``"replicate"`` or ``"zeros"``.

    Returns:
        Blurred images, same shape, dtype and device; ``images`` is not modified.

    Raises:
        ValueError: for an even or non-positive ``kernel_size``, ``sigma <= 0``, an unknown
            ``padding``, or an image too small for reflect padding.

    Example:
        >>> x = torch.full((1, 3, 16, 16), 0.5)
        >>> torch.allclose(gaussian_blur(x), x)
        True
        >>> delta = torch.zeros(1, 1, 21, 21); delta[0, 0, 10, 10] = 1.0
        >>> round(gaussian_blur(delta).sum().item(), 6)
        1.0
    """
    images = _check_images(images)
    kernel_size = _check_int("kernel_size", kernel_size, 1)
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd, got {kernel_size}")
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.integer, np.floating)):
        raise TypeError(f"sigma must be a number, got {type(sigma).__name__}")
    if not sigma > 0 or not math.isfinite(sigma):
        raise ValueError(f"sigma must be finite and > 0, got {sigma}")
    if padding not in ("reflect", "replicate", "zeros"):
        raise ValueError(f"padding must be 'reflect', 'replicate' or 'zeros', got {padding!r}")
    b, c, h, w = images.shape
    r = kernel_size // 2
    if padding == "reflect" and (h <= r or w <= r):
        raise ValueError(
            f"reflect padding of {r} pixels needs H and W > {r}, got H={h}, W={w}; "
            "use padding='replicate' for small images"
        )
    k = _gaussian_kernel1d(kernel_size, float(sigma)).to(device=images.device, dtype=images.dtype)
    x = images.detach().reshape(b * c, 1, h, w)
    if r > 0:
        mode = "constant" if padding == "zeros" else padding
        x = torch.nn.functional.pad(x, (r, r, r, r), mode=mode)
    x = torch.nn.functional.conv2d(x, k.reshape(1, 1, 1, kernel_size))
    x = torch.nn.functional.conv2d(x, k.reshape(1, 1, kernel_size, 1))
    return x.reshape(b, c, h, w)


# --------------------------------------------------------------------------------------------
# Insertion and deletion
# --------------------------------------------------------------------------------------------


class Curve(NamedTuple):
    """An insertion or deletion curve for a batch of images.

    Attributes:
        fractions: ``(n_points,)`` float64, fraction of pixels changed at each point, from 0
            to 1, ``n_points = 1 + ceil(H·W / pixels_per_step)``.
        scores: ``(B, n_points)`` the score of the target class at each point (the model's
            output dtype).
        auc: ``(B,)`` float64 area under ``scores`` against ``fractions`` (trapezoid rule).
        target: ``(B,)`` long, the class scored for each example.
    """

    fractions: Tensor
    scores: Tensor
    auc: Tensor
    target: Tensor


def _causal_curve(
    model: Model,
    images: Tensor,
    saliency: Tensor,
    target: Target,
    pixels_per_step: int,
    substrate: object,
    score: object,
    batch_size: int | Literal["auto"],
    insert: bool,
) -> Curve:
    images = _check_images(images)
    saliency = _check_saliency(saliency, images)
    pixels_per_step = _check_int("pixels_per_step", pixels_per_step, 1)
    batch_size = _images_per_pass(batch_size, images)
    score_fn = _resolve_score(score)
    b, _, h, w = images.shape
    n = h * w
    n_steps = -(-n // pixels_per_step)
    n_points = n_steps + 1
    with torch.no_grad():
        x = images.detach()
        other = _resolve_substrate(substrate, x)
        start, finish = (other, x) if insert else (x, other)
        ranks = _pixel_ranks(saliency)
        target_t = _resolve_target(model, x, target, batch_size)
        counts = (torch.arange(n_points, device=x.device) * pixels_per_step).clamp(max=n)
        chunks = []
        for lo in range(0, b * n_points, batch_size):
            item = torch.arange(lo, min(lo + batch_size, b * n_points), device=x.device)
            ex, step = item // n_points, item % n_points
            changed = ranks[ex] < counts[step][:, None, None]
            batch = torch.where(changed[:, None], finish[ex], start[ex])
            chunks.append(_score_batch(model, batch, target_t[ex], score_fn))
        scores = torch.cat(chunks).reshape(b, n_points)
        fractions = counts.to(torch.float64) / n
        auc = torch.trapezoid(scores.to(torch.float64), fractions.to(scores.device), dim=1)
    return Curve(fractions.to(scores.device), scores, auc, target_t)


def deletion(
    model: Model,
    images: Tensor,
    saliency: Tensor,
    target: Target = None,
    *,
    pixels_per_step: int = 224,
    substrate: Substrate = 0.0,
    score: Score = "probability",
    batch_size: int | Literal["auto"] = "auto",
) -> Curve:
    r"""Deletion curve: remove the most salient pixels first and watch the score fall.

    Pixels are ranked by decreasing ``saliency`` (a stable sort: equal values keep raster
    order, so the curve is deterministic). Point :math:`i = 0, \dots, n` of the curve,
    :math:`n = \lceil HW / p \rceil` with :math:`p` = ``pixels_per_step``, is the score of

    .. math:: x^{(i)} = m_i \odot s + (1 - m_i) \odot x,

    where :math:`m_i` marks the :math:`k_i = \min(i p, HW)` most salient pixels (all channels)
    and :math:`s` is the substrate (0, i.e. the mean in normalised space, in the IDG paper).
    The first point is the original image, the last the all-substrate image. The AUC is the
    trapezoid rule over the fraction of pixels changed :math:`k_i / HW \in [0, 1]` (the same
    as RISE's ``auc`` when :math:`p` divides :math:`HW`; otherwise the last, shorter step gets
    its true width). Lower is better.

    The model sees ``B · (n + 1)`` perturbed images, at most ``batch_size`` per forward pass;
    every image is built independently, so the result does not depend on ``batch_size``
    (beyond the model's own floating-point batch effects).

    Args:
        model: maps ``(N, C, H, W)`` to ``(N, n_classes)``; not modified, mode untouched.
        images: ``(B, C, H, W)`` inputs in the model's space.
        saliency: ``(B, H, W)``; higher means more important (see :func:`saliency_map`).
        target: class per example (int, sequence or ``(B,)`` tensor); ``None``: predicted
            class on ``images``.
        pixels_per_step: pixels changed per step, ``>= 1`` (224 in the IDG paper).
        substrate: value the deleted pixels take: a number, a tensor broadcastable to
            ``images``, a callable ``images -> tensor`` or ``"blur"`` (:func:`gaussian_blur`).
        score: ``"probability"`` (softmax of the target, the paper's choice), ``"logit"``, or
            ``score(outputs (N, n_classes), target (N,)) -> (N,)``.
        batch_size: most images per forward pass; ``"auto"`` picks it from the image size
            (about 0.5 M input elements per pass on the CPU, which is also the fastest).

    Returns:
        :class:`Curve` with ``fractions (n + 1,)``, ``scores (B, n + 1)``, ``auc (B,)``,
        ``target (B,)``.

    Raises:
        ValueError: mismatched shapes, NaN saliency, ``pixels_per_step < 1``,
            ``batch_size < 1``, an unknown ``score``, a bad ``target``.

    Example:
        >>> w = torch.tensor([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [4.0, 0.0]])
        >>> model = lambda x: x.flatten(1) @ w
        >>> x = torch.ones(1, 1, 2, 2)
        >>> s = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
        >>> c = deletion(model, x, s, target=0, pixels_per_step=1, score="logit")
        >>> c.scores
        tensor([[10.,  6.,  3.,  1.,  0.]])
        >>> c.fractions
        tensor([0.0000, 0.2500, 0.5000, 0.7500, 1.0000], dtype=torch.float64)
        >>> c.auc
        tensor([3.7500], dtype=torch.float64)
    """
    return _causal_curve(
        model, images, saliency, target, pixels_per_step, substrate, score, batch_size, False
    )


def insertion(
    model: Model,
    images: Tensor,
    saliency: Tensor,
    target: Target = None,
    *,
    pixels_per_step: int = 224,
    substrate: Substrate = "blur",
    score: Score = "probability",
    batch_size: int | Literal["auto"] = "auto",
) -> Curve:
    r"""Insertion curve: start from a blurred image and restore the most salient pixels first.

    Point :math:`i = 0, \dots, n` is the score of :math:`x^{(i)} = m_i \odot x + (1 - m_i)
    \odot s`, with :math:`m_i` the :math:`k_i = \min(i p, HW)` most salient pixels (stable
    ranking, ties in raster order) and :math:`s` the substrate, by default
    ``gaussian_blur(images)`` (kernel 11, σ 5, reflect padding, as in the IDG paper). The first
    point is the substrate, the last the original image. The AUC is the trapezoid rule over
    :math:`k_i / HW \in [0, 1]`. Higher is better. Arguments and batching are those of
    :func:`deletion`.

    Args:
        model: maps ``(N, C, H, W)`` to ``(N, n_classes)``; not modified, mode untouched.
        images: ``(B, C, H, W)`` inputs in the model's space.
        saliency: ``(B, H, W)``; higher means more important.
        target: class per example; ``None``: predicted class on ``images``.
        pixels_per_step: pixels restored per step, ``>= 1``.
        substrate: the starting image: ``"blur"``, a number, a broadcastable tensor, or a
            callable ``images -> tensor``.
        score: ``"probability"``, ``"logit"`` or a callable (see :func:`deletion`).
        batch_size: most images per forward pass; ``"auto"`` picks it from the image size
            (about 0.5 M input elements per pass on the CPU, which is also the fastest).

    Returns:
        :class:`Curve`.

    Raises:
        ValueError: as :func:`deletion`.

    Example:
        >>> w = torch.tensor([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [4.0, 0.0]])
        >>> model = lambda x: x.flatten(1) @ w
        >>> x = torch.ones(1, 1, 2, 2)
        >>> s = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
        >>> insertion(model, x, s, 0, pixels_per_step=2, substrate=0.0, score="logit").scores
        tensor([[ 0.,  7., 10.]])
    """
    return _causal_curve(
        model, images, saliency, target, pixels_per_step, substrate, score, batch_size, True
    )


# --------------------------------------------------------------------------------------------
# PIC: Softmax / Accuracy Information Curves
# --------------------------------------------------------------------------------------------


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
    batch = _check_int("batch", batch, 1)
    height = _check_int("height", height, 1)
    width = _check_int("width", width, 1)
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


def _linear_fill(
    points: np.ndarray, values: np.ndarray, simplices: np.ndarray, queries: np.ndarray
) -> np.ndarray:
    """Piecewise-linear interpolation on a triangulation, at integer grid ``queries``.

    The triangles are rasterised: every grid pixel in a triangle's bounding box is tested with
    its barycentric coordinates (closed-form 2×2 inverse, vectorised in numpy). A pixel on an
    edge shared by two triangles takes the first one; both give the same value. Pixels that no
    triangle covers come back as NaN.

    Args:
        points: ``(K, 2)`` integer-valued ``(row, col)`` coordinates of the known pixels.
        values: ``(K, C)`` their values.
        simplices: ``(T, 3)`` triangles as indices into ``points``.
        queries: ``(M, 2)`` integer ``(row, col)`` coordinates to fill.

    Returns:
        ``(M, C)`` float64.
    """
    out = np.full((queries.shape[0], values.shape[1]), np.nan)
    corners = points[simplices]  # (T, 3, 2)
    a, e1, e2 = corners[:, 0], corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    good = det != 0  # flat triangles cover no pixel
    simplices, corners, a, e1, e2, det = (
        simplices[good],
        corners[good],
        a[good],
        e1[good],
        e2[good],
        det[good],
    )
    lo = np.floor(corners.min(axis=1)).astype(np.int64)  # (T, 2)
    hi = np.ceil(corners.max(axis=1)).astype(np.int64)
    extent = hi - lo + 1
    sizes = extent[:, 0] * extent[:, 1]
    tri = np.repeat(np.arange(len(simplices)), sizes)
    offset = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    rows = lo[tri, 0] + offset // extent[tri, 1]
    cols = lo[tri, 1] + offset % extent[tri, 1]
    width = int(max(points[:, 1].max(), queries[:, 1].max())) + 1
    height = int(max(points[:, 0].max(), queries[:, 0].max())) + 1
    slot = np.full(height * width, -1, dtype=np.int64)
    q = queries.astype(np.int64)
    slot[q[:, 0] * width + q[:, 1]] = np.arange(len(q))
    target = slot[rows * width + cols]
    keep = target >= 0
    tri, rows, cols, target = tri[keep], rows[keep], cols[keep], target[keep]
    dr, dc = rows - a[tri, 0], cols - a[tri, 1]
    l1 = (dr * e2[tri, 1] - dc * e2[tri, 0]) / det[tri]
    l2 = (e1[tri, 0] * dc - e1[tri, 1] * dr) / det[tri]
    l0 = 1.0 - l1 - l2
    eps = 1e-9
    inside = (l0 >= -eps) & (l1 >= -eps) & (l2 >= -eps)
    tri, target, l0, l1, l2 = tri[inside], target[inside], l0[inside], l1[inside], l2[inside]
    first = np.unique(target, return_index=True)[1]  # first triangle found for each pixel
    tri, target = tri[first], target[first]
    v = values[simplices[tri]]  # (M', 3, C)
    out[target] = l0[first, None] * v[:, 0] + l1[first, None] * v[:, 1] + l2[first, None] * v[:, 2]
    return out


def _interpolate_from(image: Tensor, known: Tensor, method: str) -> Tensor:
    """Fill the unknown pixels of ``image (C, H, W)`` from the ``known (H, W)`` ones.

    ``"linear"``: piecewise-linear on the Delaunay triangulation (scipy's Qhull) of the known
    pixels, as ``scipy.interpolate.griddata(method="linear")``, evaluated by
    :func:`_linear_fill`; ``"nearest"``: value of the nearest known pixel (``cKDTree``).
    Pixels outside the triangulation take the image's mean colour.
    """
    if bool(known.all()):
        return image.clone()
    try:
        from scipy.spatial import Delaunay, cKDTree
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("pic() needs scipy for its interpolation (pip install scipy)") from err
    c, h, w = image.shape
    arr = image.detach().to(torch.float64).cpu().numpy().reshape(c, h * w).T  # (H·W, C)
    mask = known.cpu().numpy().reshape(-1)
    coords = np.stack(np.unravel_index(np.arange(h * w), (h, w)), axis=1).astype(np.float64)
    filled = arr.copy()
    if method == "linear":
        tri = Delaunay(coords[mask])
        filled[~mask] = _linear_fill(coords[mask], arr[mask], tri.simplices, coords[~mask])
    else:
        nearest = cKDTree(coords[mask]).query(coords[~mask])[1]
        filled[~mask] = arr[mask][nearest]
    missing = np.isnan(filled)
    if missing.any():
        mean = np.broadcast_to(arr.mean(axis=0), filled.shape)
        filled[missing] = mean[missing]
    out = torch.from_numpy(filled.T.reshape(c, h, w).copy())
    return out.to(device=image.device, dtype=image.dtype)


def _default_to_uint8(reference: Tensor) -> Callable[[Tensor], Tensor]:
    lo, hi = reference.min(), reference.max()
    span = (hi - lo).clamp(min=torch.finfo(reference.dtype).tiny)

    def to_uint8(images: Tensor) -> Tensor:
        return (images - lo) / span * 255.0

    return to_uint8


def pic(
    model: Model,
    images: Tensor,
    saliency: Tensor,
    target: Target = None,
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
        target: class per example; ``None``: predicted class on ``images``.
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
            ``interpolation``.
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
    n_points = _check_int("n_points", n_points, 2)
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

    with torch.no_grad():
        x = images.detach()
        ranks = _pixel_ranks(saliency)
        target_t = _resolve_target(model, x, target, batch_size)
        info = torch.empty(b, th.size + 2, dtype=torch.float64)
        scores = torch.empty(b, th.size + 2, dtype=torch.float64)
        curves = torch.full((b, n_points), float("nan"), dtype=torch.float64)
        aucs = torch.full((b,), float("nan"), dtype=torch.float64)
        valid = torch.zeros(b, dtype=torch.bool)
        reasons: list[str] = []
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
                            model, stack[j : j + batch_size], tgt[j : j + batch_size], score_fn
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


# --------------------------------------------------------------------------------------------
# Completeness and parameter randomisation
# --------------------------------------------------------------------------------------------


def completeness_error(
    attributions: Tensor | Sequence[Tensor],
    start: Tensor | float,
    end: Tensor | float,
) -> Tensor:
    r"""Per-example completeness error :math:`\sum_i A_i - (F(x) - F(x'))`.

    For Integrated Gradients (and IDG after its rescaling) this is 0 up to the quadrature
    error, so it is the usual convergence check.

    Args:
        attributions: ``(B, ...)`` tensor, or a sequence of them (several inputs) that are all
            summed per example.
        start: ``F(x')`` per example, ``(B,)`` or a number.
        end: ``F(x)`` per example, ``(B,)`` or a number.

    Returns:
        ``(B,)`` float64 (the sums are taken in float64).

    Raises:
        ValueError: inconsistent batch sizes.

    Example:
        >>> a = torch.tensor([[0.5, 0.25]])  # F(x') = 0, F(x) = 1
        >>> completeness_error(a, torch.tensor([0.0]), torch.tensor([1.0]))
        tensor([-0.2500], dtype=torch.float64)
    """
    parts = [attributions] if isinstance(attributions, Tensor) else list(attributions)
    if not parts or not all(isinstance(a, Tensor) for a in parts):
        raise TypeError("attributions must be a tensor or a non-empty sequence of tensors")
    b = parts[0].shape[0] if parts[0].ndim > 0 else None
    if b is None or any(a.ndim == 0 or a.shape[0] != b for a in parts):
        raise ValueError(
            "every attribution tensor must have the batch as first dimension, got shapes "
            f"{[tuple(a.shape) for a in parts]}"
        )
    device = parts[0].device
    total = sum(a.detach().to(torch.float64).reshape(b, -1).sum(dim=1).to(device) for a in parts)
    ends = []
    for name, v in (("start", start), ("end", end)):
        t = torch.as_tensor(v.detach() if isinstance(v, Tensor) else v, dtype=torch.float64)
        t = t.to(device)
        if t.ndim == 0:
            t = t.expand(b)
        if tuple(t.shape) != (b,):
            raise ValueError(f"{name} must be a number or have shape ({b},), got {tuple(t.shape)}")
        ends.append(t)
    return total - (ends[1] - ends[0])


def _average_ranks(x: Tensor) -> Tensor:
    """Ranks 1..n along dim 1 with ties given their average rank (float64)."""
    b, n = x.shape
    values, order = torch.sort(x, dim=1, stable=True)
    new = torch.ones_like(values, dtype=torch.bool)
    new[:, 1:] = values[:, 1:] != values[:, :-1]
    group = new.long().cumsum(dim=1) - 1
    pos = torch.arange(n, device=x.device, dtype=torch.float64).expand(b, n)
    first = torch.full((b, n), float(n), dtype=torch.float64, device=x.device)
    first = first.scatter_reduce(1, group, pos, reduce="amin")
    last = torch.zeros((b, n), dtype=torch.float64, device=x.device)
    last = last.scatter_reduce(1, group, pos, reduce="amax")
    sorted_ranks = ((first + last) / 2 + 1).gather(1, group)
    return torch.empty_like(sorted_ranks).scatter_(1, order, sorted_ranks)


def spearman(a: Tensor, b: Tensor) -> Tensor:
    r"""Spearman rank correlation per example, ties given their average rank.

    :math:`\rho = \operatorname{corr}(\operatorname{rank}(a), \operatorname{rank}(b))`
    over the flattened features of each example; NaN when either map is constant.

    Args:
        a: ``(B, ...)``.
        b: same shape as ``a``.

    Returns:
        ``(B,)`` float64.

    Example:
        >>> spearman(torch.tensor([[1.0, 2.0, 3.0, 4.0]]), torch.tensor([[1.0, 4.0, 9.0, 16.0]]))
        tensor([1.], dtype=torch.float64)
    """
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError("a and b must be tensors")
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(
            f"a and b must have the same shape (B, ...), got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    ra = _average_ranks(a.detach().reshape(a.shape[0], -1).to(torch.float64))
    rb = _average_ranks(b.detach().reshape(b.shape[0], -1).to(torch.float64).to(a.device))
    ra = ra - ra.mean(dim=1, keepdim=True)
    rb = rb - rb.mean(dim=1, keepdim=True)
    denom = (ra.square().sum(dim=1) * rb.square().sum(dim=1)).sqrt()
    num = (ra * rb).sum(dim=1)
    nan = torch.full_like(num, float("nan"))
    return torch.where(denom > 0, num / torch.where(denom > 0, denom, 1.0), nan)


class RandomizationResult(NamedTuple):
    """Result of :func:`parameter_randomization_check`.

    Attributes:
        layers: one label per stage: the layer randomised at that stage (``"cascading"``:
            the layer added at that stage, all layers before it stay random; ``"all"``: a
            single stage labelled ``"all"``).
        correlations: ``(n_stages, B)`` float64 Spearman correlation between the original
            and the randomised attributions of each example.
    """

    layers: tuple[str, ...]
    correlations: Tensor


def _reinitialise(module: nn.Module) -> None:
    """Redraw the parameters owned directly by ``module`` (not its children's)."""
    reset = getattr(module, "reset_parameters", None)
    if callable(reset):
        reset()
        return
    with torch.no_grad():
        for p in module.parameters(recurse=False):
            std = float(p.std()) if p.numel() > 1 else 0.0
            p.normal_(0.0, std if std > 0 and math.isfinite(std) else 0.01)


def parameter_randomization_check(
    model: nn.Module,
    inputs: Tensor,
    explain: Callable[[nn.Module, Tensor, Tensor], Tensor],
    target: Target = None,
    *,
    mode: Literal["cascading", "independent", "all"] = "cascading",
    layers: Sequence[str] | None = None,
    absolute: bool = True,
    seed: int = 0,
    init: Callable[[nn.Module], None] | None = None,
) -> RandomizationResult:
    r"""Model-parameter randomisation test (Adebayo et al., "Sanity Checks for Saliency Maps").

    Attributions of a trustworthy method must change when the model's weights are
    re-initialised. This function explains ``inputs`` with the original model, then with a
    :func:`copy.deepcopy` of it (the caller's model is never modified) whose layers are
    re-initialised, and reports the Spearman rank correlation :math:`\rho` (:func:`spearman`)
    between the original and randomised attributions, per example and stage. High
    :math:`\rho` after randomisation means the method ignores the model.

    Modes: ``"cascading"`` re-initialises the layers one after the other from the top (output)
    layer down, keeping the earlier ones random (one stage per layer); ``"independent"``
    re-initialises one layer at a time in a fresh copy; ``"all"`` re-initialises every layer
    at once (one stage).

    Layers are the modules that own parameters directly; by default in reverse registration
    order (``named_modules``), which for most models is top to bottom. Pass ``layers`` (names
    from ``named_modules``, top first) when the registration order is not the forward order.
    A layer is re-initialised with its ``reset_parameters()`` when it has one (note that for
    normalisation layers this restores the constant initial values: weight 1, bias 0), else
    each of its parameters is redrawn from :math:`\mathcal N(0, \sigma^2)` with :math:`\sigma`
    its own standard deviation (0.01 if that is 0); ``init`` replaces both. The draws use the
    global generator forked and seeded with ``seed``, so the caller's RNG state is unchanged.

    Args:
        model: an :class:`torch.nn.Module`; only its deep copies are modified.
        inputs: batch passed to ``explain``.
        explain: ``explain(model, inputs, target) -> attributions (B, ...)``.
        target: passed to ``explain`` unchanged; ``None``: a ``(B,)`` long tensor of the
            original model's predicted classes (so every stage explains the same classes).
        mode: ``"cascading"``, ``"independent"`` or ``"all"``.
        layers: module names to randomise, top first; default all parameterised modules.
        absolute: correlate ``|attributions|`` (default, as in the paper's main figures)
            rather than signed values.
        seed: seed of the re-initialisation.
        init: ``init(module)`` re-initialising one module's own parameters in place.

    Returns:
        :class:`RandomizationResult`.

    Raises:
        TypeError: ``model`` is not a module or ``explain`` returns no tensor.
        ValueError: unknown ``mode`` or layer name, or a model without parameters.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> nn_ = torch.nn
        >>> net = nn_.Sequential(nn_.Linear(4, 8), nn_.Tanh(), nn_.Linear(8, 3))
        >>> def grad_x_input(m, x, t):
        ...     return x * torch.func.grad(lambda z: m(z).gather(1, t[:, None]).sum())(x)
        >>> r = parameter_randomization_check(net, torch.randn(2, 4), grad_x_input)
        >>> r.layers, r.correlations.shape
        (('2', '0'), torch.Size([2, 2]))
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(inputs, Tensor):
        raise TypeError(f"inputs must be a tensor, got {type(inputs).__name__}")
    if mode not in ("cascading", "independent", "all"):
        raise ValueError(f"mode must be 'cascading', 'independent' or 'all', got {mode!r}")
    modules = dict(model.named_modules())
    owners = [name for name, m in modules.items() if any(True for _ in m.parameters(recurse=False))]
    if layers is None:
        names = owners[::-1]
    else:
        names = list(layers)
        unknown = [n for n in names if n not in modules]
        if unknown:
            raise ValueError(f"layers not found in model.named_modules(): {unknown}")
    if not names:
        raise ValueError("the model has no parameterised layer to randomise")
    reinit = init if init is not None else _reinitialise

    target_t: Target = target
    if target is None:
        with torch.no_grad():
            target_t = _forward(model, inputs).argmax(dim=1)

    def attribute(m: nn.Module) -> Tensor:
        out = explain(m, inputs, target_t)  # type: ignore[arg-type]
        if not isinstance(out, Tensor):
            raise TypeError(f"explain must return a tensor, got {type(out).__name__}")
        out = out.detach()
        return out.abs() if absolute else out

    original = attribute(model)
    devices = sorted({p.device.index for p in model.parameters() if p.device.type == "cuda"})
    labels: list[str] = []
    rows: list[Tensor] = []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        if mode == "all":
            copy_ = copy.deepcopy(model)
            mods = dict(copy_.named_modules())
            for name in names:
                reinit(mods[name])
            labels.append("all")
            rows.append(spearman(original, attribute(copy_)))
        else:
            copy_ = copy.deepcopy(model)
            for name in names:
                if mode == "independent":
                    copy_ = copy.deepcopy(model)
                reinit(dict(copy_.named_modules())[name])
                labels.append(name)
                rows.append(spearman(original, attribute(copy_)))
    return RandomizationResult(tuple(labels), torch.stack(rows))
