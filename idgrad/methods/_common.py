"""What every path method does first and last: normalise, validate, restore form."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch

from idgrad.core.guard import user_stacklevel
from idgrad.core.results import GradedDetails, ToleranceWarning
from idgrad.core.seam import (
    BaselineType,
    ModelSeam,
    TargetType,
    TensorOrTuple,
    as_input_tuple,
    check_no_inference_mode,
    expand_baselines,
    restore_form,
)
from idgrad.core.validation import check_int
from idgrad.defaults import GRADED, N_STEPS
from idgrad.engine.integrator import (
    ChunkSize,
    accumulation_dtype,
    check_chunk_size,
    evaluate_path,
    resolve_chunk_size,
)
from idgrad.engine.refinement import Finish, check_budget, refine_path
from idgrad.engine.schedules import check_rule

__all__ = [
    "Budget",
    "Prepared",
    "differences",
    "endpoint_outputs",
    "graded_details",
    "path_endpoints",
    "prepare",
    "resolve_budget",
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


class Budget(NamedTuple):
    """IG's and IDG's schedule options after :func:`resolve_budget`.

    ``method`` is a rule of :data:`idgrad.engine.schedules.RULES` or ``"graded"``; for the
    graded schedule exactly one of ``n_steps`` and ``rtol`` is set and ``cap`` is
    ``rtol``'s evaluation cap.
    """

    n_steps: int | None
    method: str
    rtol: float | None
    cap: int | None
    n_pilot_steps: int | None


def resolve_budget(
    n_steps: int | None,
    method: str | None,
    rtol: float | None,
    max_evaluations: int | None,
    default_rule: str,
    n_pilot_steps: int | None = None,
) -> Budget:
    """Resolve ``n_steps``, ``method``, ``rtol``, ``max_evaluations`` before any model call.

    ``method=None`` is ``"graded"`` when ``rtol`` is given, else ``default_rule``;
    ``n_steps=None`` is :data:`idgrad.defaults.N_STEPS` unless ``rtol`` is given. A
    tolerance needs the graded schedule (the other rules have no error estimate), and
    ``n_steps`` with ``rtol`` is refused (one budget at a time).

    Example:
        >>> resolve_budget(None, None, 0.01, None, "gausslegendre")
        Budget(n_steps=None, method='graded', rtol=0.01, cap=1024, n_pilot_steps=None)
        >>> resolve_budget(None, None, None, None, "gausslegendre").n_steps
        50
    """
    if method is None:
        method = GRADED if rtol is not None else default_rule
    if not isinstance(method, str):
        raise TypeError(f"method must be a str or None, got {type(method).__name__}")
    if method != GRADED:
        check_rule(method)
        for name, value in (("rtol", rtol), ("max_evaluations", max_evaluations)):
            if value is not None:
                raise ValueError(
                    f"{name} needs the graded schedule (method='graded' or None); "
                    f"method={method!r} has no error estimate"
                )
        n_steps = check_int(N_STEPS if n_steps is None else n_steps, "n_steps")
        return Budget(n_steps, method, None, None, n_pilot_steps)
    if n_steps is None and rtol is None:
        n_steps = N_STEPS
    n_steps, rtol, cap, n_pilot_steps = check_budget(n_steps, rtol, max_evaluations, n_pilot_steps)
    return Budget(n_steps, method, rtol, cap, n_pilot_steps)


def graded_details(
    prep: Prepared,
    budget: Budget,
    finish: Finish,
    with_derivative: bool,
    by_inputs: bool,
    normalized: bool,
    internal_batch_size: ChunkSize,
) -> GradedDetails[TensorOrTuple]:
    """Run :func:`idgrad.engine.refinement.refine_path` and package what it found.

    ``delta`` is ``sum_k w_k F'(alpha_k) - (F(x) - F(x'))`` with the spline weights (before
    any rescaling); ``outputs`` and ``derivatives`` are in the accumulation dtype.
    """
    path = refine_path(
        prep.seam,
        prep.inputs,
        prep.baselines,
        finish,
        with_derivative=with_derivative,
        by_inputs=by_inputs,
        normalized=normalized,
        n_steps=budget.n_steps,
        rtol=budget.rtol,
        max_evaluations=budget.cap if budget.rtol is not None else None,
        n_pilot_steps=budget.n_pilot_steps,
        internal_batch_size=internal_batch_size,
    )
    if budget.rtol is not None:
        missed = torch.nonzero(path.error > budget.rtol).flatten().tolist()
        if missed:
            shown = ", ".join(
                f"{i} ({float(path.error[i]):.2g} after {int(path.n_points[i])} evaluations)"
                for i in missed[:10]
            )
            more = f" and {len(missed) - 10} more" if len(missed) > 10 else ""
            early = any(int(path.n_points[i]) < (budget.cap or 0) for i in missed)
            why = (
                "; those below the cap stopped because the schedule splits no gap finer than "
                "1/32 of its graded spacing (jumps it cannot resolve further): raise rtol"
                if early
                else ": raise max_evaluations or rtol"
            )
            warnings.warn(
                f"rtol={budget.rtol:g} was not reached for example(s) {shown}{more} "
                f"(estimated errors; max_evaluations={budget.cap}){why}",
                ToleranceWarning,
                stacklevel=user_stacklevel(),
            )
    acc = accumulation_dtype(prep.inputs[0].dtype)
    attributions = restore_form(to_input_dtypes(path.attributions, prep.inputs), prep.was_tuple)
    return GradedDetails(
        attributions=attributions,
        delta=(path.fp_sum - (path.end - path.start)).to(acc),
        alphas=path.alphas,
        weights=path.weights,
        outputs=path.outputs.to(acc),
        derivatives=path.derivatives.to(acc),
        start=path.start.to(acc),
        end=path.end.to(acc),
        n_gradient_evals=int(path.n_points.sum()),
        n_forward_evals=0,
        error=path.error,
        evaluations=path.n_points,
    )
