"""Completeness error: how far attributions are from summing to ``F(x) - F(x')``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["completeness_error"]


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
