"""Checks and helpers shared by the metrics: argument checks, pixel ranking, batched scoring,
the class each example is scored for, and the types the metrics accept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

from idgrad.core.targets import TargetType, class_indices, resolve_target
from idgrad.core.validation import NonFiniteError, check_device, check_finite, check_int

Model = Callable[[Tensor], Tensor]
"""Anything that maps a batch ``(N, C, H, W)`` to class scores ``(N, n_classes)``."""

Target = TargetType
"""The class scored for each example, as in :mod:`idgrad.core.targets`: ``"predicted"`` (the
model's predicted class on the images), an int, or one class per example (a sequence, array
or ``(B,)`` tensor; one element: for every example); negative indices count from the end."""

ScoreFn = Callable[[Tensor, Tensor], Tensor]
"""``score(outputs (N, n_classes), target (N,)) -> (N,)``."""

Score = Literal["probability", "logit"] | ScoreFn


def _check_images(images: object, name: str = "images") -> Tensor:
    if not isinstance(images, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W), got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {images.dtype}")
    if images.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one example, got shape {tuple(images.shape)}")
    check_device(images, name)
    check_finite(images, name)
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
    return check_int(batch_size, "batch_size")


def _images_per_pass(batch_size: object, images: Tensor) -> int:
    """``batch_size``, or for ``"auto"`` the path methods' rule (~0.5 M input elements per pass
    on the CPU; see :func:`idgrad.core.seam.resolve_chunk_size`): EfficientNet-Lite0 ran
    2.5x faster forward-only in passes of 4 images than of 64 on 2 CPU cores."""
    if batch_size == "auto":
        from idgrad.core.seam import resolve_chunk_size

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


def _classes(model: Model, images: Tensor, target: Target, batch_size: int) -> Tensor:
    """The class scored for each example, ``(B,)`` long, by :mod:`idgrad.core.targets`' rules.

    ``"predicted"`` costs one forward pass over ``images`` (``batch_size`` per pass); any
    other target costs at most one forward pass of one image, to learn ``n_classes``.
    """
    b = images.shape[0]
    n_seen: list[int] = []

    def outputs() -> Tensor:
        out = torch.cat(
            [_forward(model, images[i : i + batch_size]) for i in range(0, b, batch_size)]
        )
        n_seen.append(int(out.shape[1]))
        return out

    def n_classes() -> int:
        return n_seen[0] if n_seen else int(_forward(model, images[:1]).shape[1])

    return class_indices(resolve_target(target, outputs), b, n_classes).to(images.device)


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


def _score_batch(
    model: Model,
    batch: Tensor,
    target: Tensor,
    score_fn: ScoreFn,
    where: Callable[[int], str],
) -> Tensor:
    """The score of each image of ``batch``; NaN or Inf raises, naming ``where(i)``."""
    out = _forward(model, batch)
    s = score_fn(out, target)
    if not isinstance(s, Tensor) or tuple(s.shape) != (batch.shape[0],):
        shape = tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__
        raise ValueError(
            f"score must return one value per image, shape ({batch.shape[0]},), got {shape}"
        )
    finite = torch.isfinite(s)
    if not bool(finite.all()):
        i = int((~finite).nonzero()[0, 0])
        raise NonFiniteError(
            f"the score of the target class is {float(s[i])} at {where(i)}; the model's output "
            "is NaN or infinite on that image"
        )
    return s
