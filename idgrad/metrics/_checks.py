"""Checks and helpers shared by the metrics: argument checks, pixel ranking, batched scoring,
target resolution and the types the metrics accept."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch
from torch import Tensor

Model = Callable[[Tensor], Tensor]
"""Anything that maps a batch ``(N, C, H, W)`` to class scores ``(N, n_classes)``."""

Target = int | Sequence[int] | Tensor | None
"""A class index for every example; ``None`` means the model's predicted class."""

ScoreFn = Callable[[Tensor, Tensor], Tensor]
"""``score(outputs (N, n_classes), target (N,)) -> (N,)``."""

Score = Literal["probability", "logit"] | ScoreFn


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
