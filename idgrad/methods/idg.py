"""Integrated Decision Gradients (Walker et al., AAAI 2024, arXiv:2305.20052).

    IDG_i(x) = (x_i - x'_i) * integral_0^1 dF/dx_i(gamma(alpha)) * F'(alpha) d alpha,
    F'(alpha) = grad F(gamma(alpha)) . (x - x')

The importance factor ``F'`` comes from the same backward pass as the gradient (it
is their dot product with ``x - x'``). It down-weights the saturated part of the
path and up-weights the decision region, where the output moves.

Adaptive sampling (the paper's Algorithm 1, done per example and on an exact
budget): a forward-only pilot at ``N + 1`` uniform points measures how much ``F``
changes on each interval; :func:`idgrad.schedules.adaptive_schedule` places the
``n_steps`` gradient points accordingly.

The raw attributions sum to ``integral F'(alpha)^2 d alpha``; with
``normalize=True`` (default) each example is rescaled so its attributions sum to
``F(x) - F(x')``. The convergence delta is computed before that rescaling: it is the
schedule's quadrature error on ``integral F'(alpha) d alpha = F(x) - F(x')``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch

from idgrad.defaults import (
    ADAPTIVE,
    IDG_METHOD,
    INTERNAL_BATCH_SIZE,
    MULTIPLY_BY_INPUTS,
    N_PILOT_STEPS,
    N_STEPS,
    NORMALIZE,
)
from idgrad.guard import user_stacklevel
from idgrad.integrator import ChunkSize, evaluate_path, integrate_path
from idgrad.methods._common import (
    differences,
    path_endpoints,
    prepare,
    to_input_dtypes,
    total_attribution,
)
from idgrad.methods.base import path_method
from idgrad.results import PathDetails
from idgrad.schedules import adaptive_schedule, check_rule, uniform_schedule
from idgrad.seam import BaselineType, TargetType, TensorOrTuple, restore_form
from idgrad.validation import check_int

__all__ = ["IDGWarning", "check_options", "default_pilot_steps", "integrated_decision_gradients"]


class IDGWarning(UserWarning):
    """An example's IDG attributions could not be rescaled to completeness."""


def default_pilot_steps(n_steps: int) -> int:
    """Default pilot size ``N`` for a budget of ``n_steps`` gradient points.

    ``N = max(1, min(n_steps // 2, max(8, n_steps // 8)))``: ``N + 1`` forward-only
    evaluations (about 1/8 of the gradient points, a few percent of the time; at
    most half of them for small budgets), so every pilot interval gets a gradient
    point. Chosen from
    accuracy per model evaluation on EfficientNet-Lite0 and five photos
    (benchmarks/accuracy.py): at equal total evaluations a pilot of
    ``n/8`` was as good as or better than ``n/4`` and ``n/16`` (the pilot points
    count as evaluations too).

    Example:
        >>> default_pilot_steps(50), default_pilot_steps(400), default_pilot_steps(5)
        (8, 50, 2)
    """
    return max(1, min(n_steps // 2, max(8, n_steps // 8)))


def _importance(values: torch.Tensor, derivatives: torch.Tensor) -> torch.Tensor:
    return derivatives


def check_options(
    n_steps: int, method: str, adaptive: bool, n_pilot_steps: int | None
) -> tuple[int, int | None]:
    """IDG's own options, checked before any model call.

    Returns:
        ``(n_steps, n_pilot)``: the step count, and the pilot intervals when adaptive
        (:func:`default_pilot_steps` when ``n_pilot_steps`` is None), else None.
    """
    n_steps = check_int(n_steps, "n_steps")
    check_rule(method, adaptive=adaptive)
    if not adaptive:
        return n_steps, None
    if n_pilot_steps is None:
        return n_steps, default_pilot_steps(n_steps)
    return n_steps, check_int(n_pilot_steps, "n_pilot_steps")


@path_method
def integrated_decision_gradients(
    forward_func: Callable[..., Any],
    inputs: TensorOrTuple,
    baselines: BaselineType = None,
    target: TargetType = None,
    additional_forward_args: Any = None,
    *,
    n_steps: int = N_STEPS,
    adaptive: bool = ADAPTIVE,
    n_pilot_steps: int | None = N_PILOT_STEPS,
    method: str = IDG_METHOD,
    internal_batch_size: ChunkSize = INTERNAL_BATCH_SIZE,
    multiply_by_inputs: bool = MULTIPLY_BY_INPUTS,
    normalize: bool = NORMALIZE,
) -> PathDetails[TensorOrTuple]:
    """Integrated Decision Gradients, adaptive (default) or on a uniform rule.

    ``IDG_i = s_b (x_i - x'_i) sum_k w_k F'(alpha_k) dF/dx_i(gamma(alpha_k))`` where
    ``s_b = (F(x) - F(x')) / sum_k w_k F'(alpha_k)^2`` if ``normalize`` else 1.

    Args:
        forward_func, inputs, baselines, target, additional_forward_args,
        internal_batch_size, multiply_by_inputs: as in
            :func:`~idgrad.methods.ig.integrated_gradients`.
        n_steps: gradient evaluations per example (exactly, also when adaptive).
        adaptive: place the points from a pilot pass (True) or use the uniform rule.
        n_pilot_steps: pilot intervals ``N`` (``N + 1`` forward-only evaluations per
            example, which also give ``F(x')`` and ``F(x)``); default
            :func:`default_pilot_steps`.
        method: the rule: of the whole path when uniform, inside each pilot interval
            when adaptive.
        normalize: rescale each example to completeness. An example whose path
            derivative vanishes at every point cannot be rescaled: it keeps its raw
            attributions and an :class:`IDGWarning` is issued.

    Returns:
        Attributions shaped like ``inputs``. ``integrated_decision_gradients.details(...)``
        returns a :class:`~idgrad.results.PathDetails` whose ``delta`` is the honest,
        pre-rescaling ``sum_k w_k F'(alpha_k) - (F(x) - F(x'))`` ``(B,)``.

    Example:
        >>> import torch
        >>> model = lambda x: torch.sigmoid(20 * (x.sum(1) - 1.0))
        >>> x = torch.tensor([[1.0, 0.5]], dtype=torch.float64)
        >>> d = integrated_decision_gradients.details(model, x, n_steps=32)
        >>> bool(abs(d.attributions.sum() - (model(x) - model(0 * x))) < 1e-12)  # completeness
        True
        >>> abs(d.delta.item()) < 1e-2  # quadrature error on integral of F'
        True
    """
    n_steps, n_pilot = check_options(n_steps, method, adaptive, n_pilot_steps)
    prep = prepare(
        forward_func, inputs, baselines, target, additional_forward_args, internal_batch_size
    )
    batch = prep.batch_size
    pilot_alphas = pilot_outputs = None
    if n_pilot is not None:
        grid = torch.linspace(0.0, 1.0, n_pilot + 1, dtype=torch.float64)
        pilot_alphas = grid.unsqueeze(0).expand(batch, -1)
        pilot_outputs = evaluate_path(
            prep.seam, prep.inputs, prep.baselines, pilot_alphas, internal_batch_size
        )
        start, end = pilot_outputs[:, 0], pilot_outputs[:, -1]
        schedule = adaptive_schedule(pilot_outputs, n_steps, rule=method)
        n_forward = batch * (n_pilot + 1)
    else:
        schedule = uniform_schedule(n_steps, method).expand(batch)
    path = integrate_path(
        prep.seam, prep.inputs, prep.baselines, schedule, internal_batch_size, _importance
    )
    if not adaptive:
        # F(x') and F(x): reused from the rule's own points when it has alpha = 0 / 1
        start, end, n_forward = path_endpoints(
            prep, schedule.alphas, path.outputs, internal_batch_size
        )
    diffs = differences(prep)
    raw = tuple(s * d for s, d in zip(path.sums, diffs))
    delta = schedule.integrate(path.derivatives) - (end - start)
    result = raw if multiply_by_inputs else path.sums
    if normalize:
        scale = _completeness_scale(total_attribution(raw).to(start.dtype), start, end)
        result = tuple(r * scale.to(r.dtype).reshape((-1,) + (1,) * (r.ndim - 1)) for r in result)
    attributions = restore_form(to_input_dtypes(result, prep.inputs), prep.was_tuple)
    return PathDetails(
        attributions=attributions,
        delta=delta,
        alphas=schedule.alphas,
        weights=schedule.weights,
        outputs=path.outputs,
        derivatives=path.derivatives,
        start=start,
        end=end,
        pilot_alphas=pilot_alphas,
        pilot_outputs=pilot_outputs,
        n_gradient_evals=batch * n_steps,
        n_forward_evals=n_forward,
    )


def _completeness_scale(
    raw_total: torch.Tensor, start: torch.Tensor, end: torch.Tensor
) -> torch.Tensor:
    """``(F(x) - F(x')) / raw_total`` per example; 1 (with a warning) where raw_total ~ 0.

    ``raw_total = sum_k w_k F'(alpha_k)^2 >= 0`` vanishes only when the path
    derivative is zero at every point; below the noise floor
    ``(64 eps max(1, |F(x)|, |F(x')|))^2`` the ratio is meaningless.
    """
    eps = torch.finfo(raw_total.dtype).eps
    scale_of_f = torch.maximum(torch.ones_like(start), torch.maximum(start.abs(), end.abs()))
    degenerate = raw_total <= (64 * eps * scale_of_f) ** 2
    if degenerate.any():
        rows = degenerate.nonzero().flatten().tolist()
        warnings.warn(
            f"IDG: the path derivative F'(alpha) is ~0 at every sampled point for example(s) "
            f"{rows}, so their attributions cannot be rescaled to F(x) - F(x'); they are "
            "returned unnormalised. Check the target and baseline, or use more steps.",
            IDGWarning,
            stacklevel=user_stacklevel(),
        )
    safe_total = torch.where(degenerate, torch.ones_like(raw_total), raw_total)
    return torch.where(degenerate, torch.ones_like(raw_total), (end - start) / safe_total)
