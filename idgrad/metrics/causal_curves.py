"""Insertion and deletion curves (causal metrics).

The insertion and deletion curves follow the protocol of the IDG paper (Walker et al., AAAI 2024,
arXiv 2305.20052), itself taken from RISE (Petsiuk et al., BMVC 2018): pixels are ranked by a
saliency map, changed ``pixels_per_step`` at a time in order of decreasing saliency, and the
model's softmax probability of the target class is recorded after every step. The area under
that curve (trapezoid rule over the fraction of pixels changed) summarises it: high is good for
insertion, low is good for deletion.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from idgrad.core.guard import ModelGuard
from idgrad.core.validation import check_int
from idgrad.frameworks.boundary import at_boundary
from idgrad.metrics._checks import (
    Model,
    Score,
    Target,
    _check_images,
    _check_saliency,
    _classes,
    _images_per_pass,
    _pixel_ranks,
    _resolve_score,
    _score_batch,
)
from idgrad.metrics.images import Substrate, _resolve_substrate

__all__ = ["Curve", "deletion", "insertion"]


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
    pixels_per_step = check_int(pixels_per_step, "pixels_per_step")
    batch_size = _images_per_pass(batch_size, images)
    score_fn = _resolve_score(score)
    b, _, h, w = images.shape
    n = h * w
    n_steps = -(-n // pixels_per_step)
    n_points = n_steps + 1
    with ModelGuard(model), torch.no_grad():
        x = images.detach()
        other = _resolve_substrate(substrate, x)
        start, finish = (other, x) if insert else (x, other)
        ranks = _pixel_ranks(saliency)
        target_t = _classes(model, x, target, batch_size)
        counts = (torch.arange(n_points, device=x.device) * pixels_per_step).clamp(max=n)
        kind = "insertion" if insert else "deletion"

        def where(ex: Tensor, step: Tensor) -> Callable[[int], str]:
            return lambda i: (
                f"example {int(ex[i])}, point {int(step[i])} of its {kind} curve "
                f"({int(counts[step[i]])} pixels changed)"
            )

        chunks = []
        for lo in range(0, b * n_points, batch_size):
            item = torch.arange(lo, min(lo + batch_size, b * n_points), device=x.device)
            ex, step = item // n_points, item % n_points
            changed = ranks[ex] < counts[step][:, None, None]
            batch = torch.where(changed[:, None], finish[ex], start[ex])
            chunks.append(_score_batch(model, batch, target_t[ex], score_fn, where(ex, step)))
        scores = torch.cat(chunks).reshape(b, n_points)
        fractions = counts.to(torch.float64) / n
        auc = torch.trapezoid(scores.to(torch.float64), fractions.to(scores.device), dim=1)
    return Curve(fractions.to(scores.device), scores, auc, target_t)


@at_boundary(models=("model",), numpy_inputs="images")  # frameworks hook
def deletion(
    model: Model,
    images: Tensor,
    saliency: Tensor,
    target: Target = "predicted",
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
        saliency: ``(B, H, W)``; higher means more important (see
            :func:`~idgrad.metrics.saliency_map`).
        target: the class scored for each example: ``"predicted"`` (the model's predicted
            class on ``images``), an int, or one class per example (sequence or ``(B,)``
            tensor); the rules of :mod:`idgrad.core.targets` (negative indices count from the end).
        pixels_per_step: pixels changed per step, ``>= 1`` (224 in the IDG paper).
        substrate: value the deleted pixels take: a number, a tensor broadcastable to
            ``images``, a callable ``images -> tensor`` or ``"blur"``
            (:func:`~idgrad.metrics.gaussian_blur`).
        score: ``"probability"`` (softmax of the target, the paper's choice), ``"logit"``, or
            ``score(outputs (N, n_classes), target (N,)) -> (N,)``.
        batch_size: most images per forward pass; ``"auto"`` picks it from the image size
            (about 0.5 M input elements per pass on the CPU, which is also the fastest).

    Returns:
        :class:`Curve` with ``fractions (n + 1,)``, ``scores (B, n + 1)``, ``auc (B,)``,
        ``target (B,)``.

    Raises:
        ValueError: mismatched shapes, NaN saliency, NaN or Inf in ``images``,
            ``pixels_per_step < 1``, ``batch_size < 1``, an unknown ``score``, a bad
            ``target``; :class:`~idgrad.core.validation.NonFiniteError` where a score is NaN or
            infinite (naming the example and the point of its curve).

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


@at_boundary(models=("model",), numpy_inputs="images")  # frameworks hook
def insertion(
    model: Model,
    images: Tensor,
    saliency: Tensor,
    target: Target = "predicted",
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
        target: the class scored for each example (see :func:`deletion`).
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
