"""What every path method does first and last: normalise, validate, restore form."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch

from idgrad.integrator import (
    ChunkSize,
    accumulation_dtype,
    check_chunk_size,
    evaluate_path,
    resolve_chunk_size,
)
from idgrad.seam import (
    BaselineType,
    ModelSeam,
    TargetType,
    TensorOrTuple,
    as_input_tuple,
    check_no_inference_mode,
    expand_baselines,
)

__all__ = [
    "Prepared",
    "differences",
    "endpoint_outputs",
    "path_endpoints",
    "prepare",
    "to_input_dtypes",
    "total_attribution",
]


class Prepared(NamedTuple):
    """Inputs as a tuple, baselines expanded, the model seam, the batch size."""

    inputs: tuple[torch.Tensor, ...]
    was_tuple: bool
    baselines: tuple[torch.Tensor, ...]
    seam: ModelSeam
    batch_size: int


def prepare(
    forward_func: Callable[..., Any],
    inputs: TensorOrTuple,
    baselines: BaselineType,
    target: TargetType,
    additional_forward_args: Any,
    internal_batch_size: ChunkSize,
) -> Prepared:
    """Validate and normalise the arguments every path method takes.

    Everything is checked before the first model call, which is the forward pass
    that resolves ``target="predicted"`` (if given).
    """
    check_no_inference_mode()
    xs, was_tuple = as_input_tuple(inputs, forward_func=forward_func)
    bs = expand_baselines(baselines, xs)
    check_chunk_size(internal_batch_size)
    chunk = resolve_chunk_size(internal_batch_size, xs)
    seam = ModelSeam.build(forward_func, xs, target, additional_forward_args, chunk)
    return Prepared(xs, was_tuple, bs, seam, int(xs[0].shape[0]))


def endpoint_outputs(
    prep: Prepared, internal_batch_size: ChunkSize
) -> tuple[torch.Tensor, torch.Tensor]:
    """``F(x')`` and ``F(x)`` per example (``2 B`` forward-only evaluations)."""
    alphas = torch.tensor([[0.0, 1.0]], dtype=torch.float64).expand(prep.batch_size, 2)
    values = evaluate_path(prep.seam, prep.inputs, prep.baselines, alphas, internal_batch_size)
    return values[:, 0], values[:, 1]


def path_endpoints(
    prep: Prepared,
    alphas: torch.Tensor,
    outputs: torch.Tensor,
    internal_batch_size: ChunkSize,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``F(x')``, ``F(x)`` and the number of forward-only evaluations they cost.

    A schedule whose first point is ``alpha = 0`` (or last point ``alpha = 1``) for
    every example already evaluated ``F`` there (``outputs``, ``(B, S)``): that value
    is reused; only the missing end points are evaluated, forward only.
    """
    batch = prep.batch_size
    has_start = bool((alphas[:, 0] == 0).all())
    has_end = bool((alphas[:, -1] == 1).all())
    missing = [a for a, has in ((0.0, has_start), (1.0, has_end)) if not has]
    values = None
    if missing:
        grid = torch.tensor([missing], dtype=torch.float64).expand(batch, -1)
        values = evaluate_path(prep.seam, prep.inputs, prep.baselines, grid, internal_batch_size)
    start = outputs[:, 0] if has_start else values[:, 0]  # type: ignore[index]
    end = outputs[:, -1] if has_end else values[:, -1]  # type: ignore[index]
    return start, end, batch * len(missing)


def total_attribution(attributions: Sequence[torch.Tensor]) -> torch.Tensor:
    """Sum of every attribution of each example, over all inputs: ``(B,)``."""
    return torch.stack([a.reshape(a.shape[0], -1).sum(1) for a in attributions]).sum(0)


def to_input_dtypes(
    tensors: Sequence[torch.Tensor], inputs: Sequence[torch.Tensor]
) -> tuple[torch.Tensor, ...]:
    """Cast accumulated results back to each input's dtype."""
    return tuple(t.to(x.dtype) for t, x in zip(tensors, inputs))


def differences(prep: Prepared) -> tuple[torch.Tensor, ...]:
    """``x - x'`` per input, in the accumulation dtype."""
    return tuple(
        x.to(accumulation_dtype(x.dtype)) - b.to(accumulation_dtype(x.dtype))
        for x, b in zip(prep.inputs, prep.baselines)
    )
