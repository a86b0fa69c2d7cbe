"""captum's convergence delta for any attributions: ``sum(A) - (F(end) - F(start))``.

What the captum-style classes' ``compute_convergence_delta``
(:mod:`idgrad.compat.captum`) compute: the attributions of each example summed over every
input (tensors, tuples and lists of them), against the change of the model's target
scalar between the two points, evaluated forward-only in automatic chunks.

Example:
    >>> import torch
    >>> from idgrad.core.seam import ModelSeam
    >>> model = torch.nn.Linear(2, 1)
    >>> x = torch.ones(3, 2)
    >>> seam = ModelSeam.build(model, (x,), 0, None)
    >>> exact = x * model.weight.detach()                 # IG of a linear model from 0
    >>> gap = completeness_gap(seam, exact, (torch.zeros_like(x),), (x,))
    >>> bool(gap.abs().max() < 1e-6)
    True
"""

from __future__ import annotations

from typing import Any

import torch

from idgrad.core.seam import (
    ModelSeam,
    accumulation_dtype,
    chunk_bounds,
    resolve_chunk_size,
)
from idgrad.defaults import INTERNAL_BATCH_SIZE

__all__ = ["completeness_gap", "total_per_example"]


def total_per_example(attributions: Any, batch: int) -> torch.Tensor:
    """Sum of every attribution of each example (tensors, tuples, lists of them)."""
    tensors = []
    stack = [attributions]
    while stack:
        item = stack.pop()
        if isinstance(item, (tuple, list)):
            stack.extend(item)
        elif isinstance(item, torch.Tensor):
            if item.ndim == 0 or item.shape[0] != batch:
                raise ValueError(
                    f"attributions of shape {tuple(item.shape)} do not match the {batch} "
                    "examples of end_point on the first dimension"
                )
            tensors.append(
                item.detach().reshape(batch, -1).to(accumulation_dtype(item.dtype)).sum(1)
            )
        else:
            raise TypeError(
                f"attributions must be tensors or tuples/lists of them, got {type(item).__name__}"
            )
    if not tensors:
        raise ValueError("attributions is empty")
    total = tensors[0]
    for t in tensors[1:]:
        total = total + t.to(total.device, torch.promote_types(total.dtype, t.dtype))
    return total


def _outputs(seam: ModelSeam, points: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """``F`` at ``points`` (one row per example), forward only, in automatic chunks."""
    batch = int(points[0].shape[0])
    values = [
        seam.scalars(tuple(p[lo:hi] for p in points), torch.arange(lo, hi, device=points[0].device))
        for lo, hi in chunk_bounds(batch, resolve_chunk_size(INTERNAL_BATCH_SIZE, points))
    ]
    return torch.cat(values)


def completeness_gap(
    seam: ModelSeam,
    attributions: Any,
    start: tuple[torch.Tensor, ...],
    end: tuple[torch.Tensor, ...],
) -> torch.Tensor:
    """``sum(attributions) - (F(end) - F(start))`` per example ``(B,)``, in the accumulation
    dtype of ``F`` and cast back to it (the seam gives ``F``; ``start`` and ``end`` are
    tuples of ``(B, ...)`` tensors)."""
    total = total_per_example(attributions, int(end[0].shape[0]))
    f_start, f_end = _outputs(seam, start), _outputs(seam, end)
    change = (f_end - f_start).to(accumulation_dtype(f_end.dtype))
    return (total.to(change.device, change.dtype) - change).to(f_end.dtype)
