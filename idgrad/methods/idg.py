"""Integrated Decision Gradients (Walker et al., AAAI 2024, arXiv:2305.20052).

    IDG_i(x) = (x_i - x'_i) * integral_0^1 dF/dx_i(gamma(alpha)) * F'(alpha) d alpha,
    F'(alpha) = grad F(gamma(alpha)) . (x - x')

The importance factor ``F'`` comes from the same backward pass as the gradient (it
is their dot product with ``x - x'``). It down-weights the saturated part of the
path and up-weights the decision region, where the output moves.

Adaptive sampling, two schedules:

* the graded schedule (default, :mod:`idgrad.engine.refinement`): gradient points in rounds,
  every one of them also a pilot (it gives ``F`` and ``F'``), placed where the error of
  the attributions is; the cubic spline's weights on them; an estimate of the
  attributions' error, and with ``rtol`` as many points as that error needs;
* the paper's pilot schedule (Algorithm 1, done per example and on an exact budget;
  ``method`` any rule of :data:`idgrad.engine.schedules.RULES`): a forward-only pilot at
  ``N + 1`` uniform points measures how much ``F`` changes on each interval;
  :func:`idgrad.engine.schedules.adaptive_schedule` places the ``n_steps`` gradient points
  accordingly.

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

from idgrad.core.guard import user_stacklevel
from idgrad.core.results import PathDetails
from idgrad.core.seam import BaselineType, TargetType, TensorOrTuple, restore_form
from idgrad.core.validation import check_int
from idgrad.defaults import (
    ADAPTIVE,
    GRADED,
    IDG_METHOD,
    IDG_UNIFORM_METHOD,
    INTERNAL_BATCH_SIZE,
    MAX_EVALUATIONS,
    METHOD_AUTO,
    MULTIPLY_BY_INPUTS,
    N_PILOT_STEPS,
    N_STEPS_AUTO,
    NORMALIZE,
    RTOL,
)
from idgrad.engine.integrator import ChunkSize, evaluate_path, integrate_path
from idgrad.engine.schedules import (
    adaptive_schedule,
    check_rule,
    default_pilot_steps,
    uniform_schedule,
)
from idgrad.methods._common import (
    Budget,
    differences,
    graded_details,
    path_endpoints,
    prepare,
    resolve_budget,
    to_input_dtypes,
    total_attribution,
)
from idgrad.methods.base import path_method

__all__ = ["IDGWarning", "check_options", "integrated_decision_gradients"]


class IDGWarning(UserWarning):
    """An example's IDG attributions could not be rescaled to completeness."""


def _importance(values: torch.Tensor, derivatives: torch.Tensor) -> torch.Tensor:
    return derivatives


def check_options(
    n_steps: int | None,
    method: str | None,
    adaptive: bool,
    n_pilot_steps: int | None,
    rtol: float | None = None,
    max_evaluations: int | None = None,
) -> tuple[Budget, int | None]:
    """IDG's own options, checked before any model call.

    Returns:
        ``(budget, n_pilot)``: the resolved budget (``resolve_budget`` of
        ``idgrad.methods._common``; the default rule is ``graded`` when adaptive,
        ``riemann_middle`` when not), and for the
        pilot schedule its forward-only intervals (:func:`default_pilot_steps` when
        ``n_pilot_steps`` is None), else None.
    """
    if not isinstance(adaptive, bool):
        raise TypeError(f"adaptive must be a bool, got {type(adaptive).__name__}")
    default_rule = IDG_METHOD if adaptive else IDG_UNIFORM_METHOD
    budget = resolve_budget(
        n_steps, method, rtol, max_evaluations, default_rule, n_pilot_steps if adaptive else None
    )
    if budget.method == GRADED:
        if not adaptive:
            raise ValueError(
                "the graded schedule is adaptive: with adaptive=False give a uniform rule "
                f"(method={IDG_UNIFORM_METHOD!r}, the default) and no rtol"
            )
        return budget, None
    check_rule(budget.method, adaptive=adaptive)
    if not adaptive:
        if n_pilot_steps is not None:
            raise ValueError(
                "n_pilot_steps is the adaptive schedules' pilot: adaptive=False has none"
            )
        return budget, None
    assert budget.n_steps is not None
    if n_pilot_steps is None:
        return budget, default_pilot_steps(budget.n_steps)
    return budget, check_int(n_pilot_steps, "n_pilot_steps")


@path_method
def integrated_decision_gradients(
    forward_func: Callable[..., Any],
    inputs: TensorOrTuple,
    baselines: BaselineType = None,
    target: TargetType = None,
    additional_forward_args: Any = None,
    *,
    n_steps: int | None = N_STEPS_AUTO,
    adaptive: bool = ADAPTIVE,
    n_pilot_steps: int | None = N_PILOT_STEPS,
    method: str | None = METHOD_AUTO,
    rtol: float | None = RTOL,
    max_evaluations: int | None = MAX_EVALUATIONS,
    internal_batch_size: ChunkSize = INTERNAL_BATCH_SIZE,
    multiply_by_inputs: bool = MULTIPLY_BY_INPUTS,
    normalize: bool = NORMALIZE,
) -> PathDetails[TensorOrTuple]:
    """Integrated Decision Gradients on the graded schedule (default), the pilot one or a rule.

    ``IDG_i = s_b (x_i - x'_i) sum_k w_k F'(alpha_k) dF/dx_i(gamma(alpha_k))`` where
    ``s_b = (F(x) - F(x')) / sum_k w_k F'(alpha_k)^2`` if ``normalize`` else 1.

    Args:
        forward_func, inputs, baselines, target, additional_forward_args,
        internal_batch_size, multiply_by_inputs: as in
            :func:`~idgrad.methods.ig.integrated_gradients`.
        n_steps: gradient evaluations per example, exactly (None: 50, or as many as
            ``rtol`` needs). On the graded schedule the two ends of the path are among
            them and nothing else is evaluated; the pilot schedule adds ``N + 1``
            forward-only evaluations, a uniform rule 2 (``F(x')``, ``F(x)``) unless it
            has them.
        adaptive: place the points where the path needs them (True), or use a uniform
            rule.
        n_pilot_steps: pilot intervals ``N``. Pilot schedule: ``N + 1`` forward-only
            evaluations per example, which also give ``F(x')`` and ``F(x)`` (default
            :func:`~idgrad.engine.schedules.default_pilot_steps`); graded schedule: its first
            ``N + 1`` gradient points are uniform (default: ``n_steps / 6`` within
            ``[2, 16]``, or 8 with ``rtol``).
        method: ``"graded"`` (the graded schedule), or a rule of
            :data:`idgrad.engine.schedules.RULES`: of the whole path when not adaptive, inside
            each pilot interval when adaptive (the paper's schedule). None: ``graded``
            when adaptive, ``riemann_middle`` when not.
        rtol: ask for an accuracy instead of a budget: points are added in rounds until
            the estimated relative L2 error of each example's attributions (over all
            features, after the rescaling) is below ``rtol`` (graded schedule only;
            refused with ``n_steps``). The estimate is in ``.details(...).error``.
        max_evaluations: the most gradient evaluations ``rtol`` may spend per example
            (None: 1024).
        normalize: rescale each example to completeness. An example whose path
            derivative vanishes at every point cannot be rescaled: it keeps its raw
            attributions and an :class:`IDGWarning` is issued.

    Returns:
        Attributions shaped like ``inputs``. ``integrated_decision_gradients.details(...)``
        returns a :class:`~idgrad.core.results.PathDetails` whose ``delta`` is the honest,
        pre-rescaling ``sum_k w_k F'(alpha_k) - (F(x) - F(x'))`` ``(B,)``; on the
        graded schedule a :class:`~idgrad.core.results.GradedDetails` with the error
        estimate and the evaluations per example.

    Example:
        >>> import torch
        >>> model = lambda x: torch.sigmoid(20 * (x.sum(1) - 1.0))
        >>> x = torch.tensor([[1.0, 0.5]], dtype=torch.float64)
        >>> d = integrated_decision_gradients.details(model, x, n_steps=32)
        >>> bool(abs(d.attributions.sum() - (model(x) - model(0 * x))) < 1e-12)  # completeness
        True
        >>> abs(d.delta.item()) < 1e-2  # quadrature error on integral of F'
        True
        >>> g = integrated_decision_gradients.details(model, x, rtol=1e-4)
        >>> bool(g.error[0] < 1e-4), g.n_forward_evals  # every point is a gradient one
        (True, 0)
    """
    budget, n_pilot = check_options(n_steps, method, adaptive, n_pilot_steps, rtol, max_evaluations)
    prep = prepare(
        forward_func, inputs, baselines, target, additional_forward_args, internal_batch_size
    )
    if budget.method == GRADED:
        diffs = differences(prep)

        def finish(
            rows: torch.Tensor,
            sums: tuple[torch.Tensor, ...],
            fp_sum: torch.Tensor,
            fp2_sum: torch.Tensor,
            start: torch.Tensor,
            end: torch.Tensor,
            warn: bool,
        ) -> tuple[torch.Tensor, ...]:
            raw = tuple(s * d[rows] for s, d in zip(sums, diffs))
            result = raw if multiply_by_inputs else sums
            if not normalize:
                return result
            total = total_attribution(raw).to(start.dtype)
            scale = _completeness_scale(total, start, end, warn)
            return tuple(r * scale.to(r.dtype).reshape((-1,) + (1,) * (r.ndim - 1)) for r in result)

        return graded_details(
            prep, budget, finish, True, multiply_by_inputs, normalize, internal_batch_size
        )
    assert budget.n_steps is not None
    n_steps, method = budget.n_steps, budget.method
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
    raw_total: torch.Tensor, start: torch.Tensor, end: torch.Tensor, warn: bool = True
) -> torch.Tensor:
    """``(F(x) - F(x')) / raw_total`` per example; 1 (with a warning) where raw_total ~ 0.

    ``raw_total = sum_k w_k F'(alpha_k)^2 >= 0`` vanishes only when the path
    derivative is zero at every point; below the noise floor
    ``(64 eps max(1, |F(x)|, |F(x')|))^2`` the ratio is meaningless.
    """
    eps = torch.finfo(raw_total.dtype).eps
    scale_of_f = torch.maximum(torch.ones_like(start), torch.maximum(start.abs(), end.abs()))
    degenerate = raw_total <= (64 * eps * scale_of_f) ** 2
    if warn and degenerate.any():
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
