"""Left-IG (Miglani, Kokhlikyan, Alsallakh, Martin & Reblitz-Richardson, arXiv:2010.12697).

Integrated Gradients on the left part of the straight path only, up to the point
``alpha*`` where the model has made most of its decision:

    LeftIG_i = (x_i - x'_i) * integral_0^{alpha*} dF/dx_i (x' + alpha (x - x')) d alpha,

    alpha* = min { alpha in [0, 1] :  s (F(gamma(alpha)) - F(x')) >= fraction |F(x) - F(x')| },
    s = sign(F(x) - F(x')),

the first point where the target output has covered ``fraction`` of its way from
``F(x')`` to ``F(x)`` (``fraction = 0.9`` in the IDG paper's experiments). Measuring
the way from ``F(x')`` rather than from 0 makes ``alpha*`` independent of an output
offset; the two agree when ``F(x') = 0``. ``fraction = 1`` gives the first point
where ``F`` reaches ``F(x)``, which is ``alpha* = 1`` (plain IG) for an output that
approaches ``F(x)`` monotonically. When ``F(x) = F(x')`` the condition already holds
at ``alpha = 0``: ``alpha* = 0`` and the attributions are 0.

``alpha*`` is found per example without gradients: a forward-only pilot at ``N + 1``
uniform points finds the first pilot point where the condition holds, and
``n_refine`` bisection steps (forward only, all examples at once) shrink the bracket
``[(j - 1) / N, j / N]`` around the crossing by ``2^-n_refine``; ``alpha*`` is the
bracket's right end, the leftmost point known to satisfy the condition (first
crossing up to the pilot's resolution ``1 / N``). The integral over ``[0, alpha*]``
then uses an exact rule (Gauss-Legendre by default) scaled to that interval, so
``sum_i LeftIG_i = F(gamma(alpha*)) - F(x')`` up to the rule's quadrature error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch

from idgrad.core.results import LeftIGDetails
from idgrad.core.seam import (
    BaselineType,
    TargetsType,
    TargetType,
    TensorOrTuple,
    prepare,
    total_attribution,
)
from idgrad.core.validation import ChunkSize, check_int, check_number
from idgrad.defaults import (
    IG_SCHEDULE,
    INTERNAL_BATCH_SIZE,
    LEFT_FRACTION,
    LEFT_N_REFINE,
    MAX_EVALUATIONS,
    MULTIPLY_BY_INPUTS,
    N_PILOT_STEPS,
    N_STEPS,
    N_STEPS_AUTO,
    RTOL,
    RULE_AUTO,
    SCHEDULE_AUTO,
    TARGETS,
)
from idgrad.engine.evaluator import Evaluator
from idgrad.engine.integrands import Integrand
from idgrad.engine.integrate import run_schedule
from idgrad.engine.paths import StraightPath
from idgrad.engine.schedules import UNSET, make_schedule, translate_method
from idgrad.engine.schedules.pilot import default_pilot_steps
from idgrad.methods.base import path_method

__all__ = ["find_alpha_star", "left_integrated_gradients"]


def _reached(
    values: torch.Tensor, start: torch.Tensor, end: torch.Tensor, fraction: float
) -> torch.Tensor:
    """Whether ``values`` ``(B, K)`` have covered ``fraction`` of the way from start to end."""
    change = (end - start).unsqueeze(1)
    progress = (values - start.unsqueeze(1)) * torch.sign(change)
    return progress >= fraction * change.abs()


def find_alpha_star(
    evaluate: Callable[[torch.Tensor], torch.Tensor],
    pilot_outputs: torch.Tensor,
    fraction: float,
    n_refine: int,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``alpha*`` per example from a uniform pilot, refined by bisection.

    Args:
        evaluate: ``alphas (B, 1) float64 -> F (B, 1)``, forward only.
        pilot_outputs: ``(B, N + 1)`` ``F`` at ``alpha = j / N``.
        fraction: in ``(0, 1]``.
        n_refine: bisection steps (each evaluates ``B`` points).

    Returns:
        ``(alpha_star (B,) float64, F(gamma(alpha_star)) (B,), evaluations spent)``.

    Example:
        >>> f = lambda a: a ** 2                      # F along the path, F(0)=0, F(1)=1
        >>> grid = torch.linspace(0, 1, 5, dtype=torch.float64)
        >>> a, fa, n = find_alpha_star(f, f(grid)[None], 0.25, 20)
        >>> round(float(a), 6), n
        (0.5, 20)
    """
    pilot = pilot_outputs
    batch, n_points = pilot.shape
    n_intervals = n_points - 1
    start, end = pilot[:, 0], pilot[:, -1]
    reached = _reached(pilot, start, end, fraction)
    reached[:, -1] = True  # F(x) has covered the whole way (guards against rounding)
    first = reached.to(torch.int64).argmax(1)  # first pilot point that satisfies the condition
    hi = first.to(torch.float64) / n_intervals
    lo = (first - 1).clamp_min(0).to(torch.float64) / n_intervals
    f_hi = pilot.gather(1, first.unsqueeze(1))[:, 0]
    open_ = first > 0
    spent = 0
    if open_.any():
        for _ in range(n_refine):
            mid = (lo + hi) / 2
            f_mid = evaluate(mid.unsqueeze(1))[:, 0].to(pilot.dtype)
            spent += batch
            ok = _reached(f_mid.unsqueeze(1), start, end, fraction)[:, 0] & open_
            hi = torch.where(ok, mid, hi)
            f_hi = torch.where(ok, f_mid, f_hi)
            lo = torch.where(ok | ~open_, lo, mid)
    return hi, f_hi, spent


@path_method
def left_integrated_gradients(
    forward_func: Callable[..., Any],
    inputs: TensorOrTuple,
    baselines: BaselineType = None,
    target: TargetType = None,
    additional_forward_args: Any = None,
    *,
    targets: TargetsType | None = TARGETS,
    n_steps: int | None = N_STEPS_AUTO,
    fraction: float = LEFT_FRACTION,
    schedule: str | None = SCHEDULE_AUTO,
    rule: str | None = RULE_AUTO,
    rtol: float | None = RTOL,
    max_evaluations: int | None = MAX_EVALUATIONS,
    n_pilot_steps: int | None = N_PILOT_STEPS,
    n_refine: int = LEFT_N_REFINE,
    internal_batch_size: ChunkSize = INTERNAL_BATCH_SIZE,
    multiply_by_inputs: bool = MULTIPLY_BY_INPUTS,
    method: Any = UNSET,
) -> LeftIGDetails:
    """Left-IG: Integrated Gradients on ``[0, alpha*]`` (see the module docstring).

    ``LeftIG_i = (x_i - x'_i) alpha* sum_k w_k dF/dx_i(x' + alpha* a_k (x - x'))`` with
    the points ``a_k`` and weights ``w_k`` of the schedule on ``[0, 1]`` (by default the
    ``n_steps``-point Gauss-Legendre rule): IG from ``x'`` to ``x' + alpha* (x - x')``. Paper:
    https://arxiv.org/abs/2010.12697.

    Args:
        forward_func, inputs, baselines, target, additional_forward_args, targets,
        internal_batch_size, multiply_by_inputs: as in
            :func:`~idgrad.methods.ig.integrated_gradients`.
        n_steps, schedule, rule, rtol, max_evaluations, method: as in
            :func:`~idgrad.methods.ig.integrated_gradients`, on ``[0, alpha*]``.
        fraction: share of the way from ``F(x')`` to ``F(x)`` that defines ``alpha*``,
            in ``(0, 1]``; 1 gives IG for outputs that approach ``F(x)`` monotonically.
        n_pilot_steps: pilot intervals ``N`` (``N + 1`` forward evaluations per example;
            they also give ``F(x')`` and ``F(x)``); default
            :func:`~idgrad.engine.schedules.pilot.default_pilot_steps` of ``n_steps``.
        n_refine: bisection steps on the crossing interval (``B`` forward evaluations each).

    Returns:
        Attributions shaped like ``inputs``. ``left_integrated_gradients.details(...)``
        returns a :class:`~idgrad.core.results.LeftIGDetails` whose ``delta`` is
        ``sum(LeftIG) - (F(gamma(alpha*)) - F(x'))`` ``(B,)``.

    Example:
        >>> import torch
        >>> model = lambda x: 2 * x.sum(1)          # linear: F(alpha) = 2 alpha sum(x)
        >>> x = torch.tensor([[1.0, 3.0]], dtype=torch.float64)
        >>> d = left_integrated_gradients.details(model, x, n_steps=4, fraction=0.5)
        >>> d.alpha_star.tolist(), d.attributions.tolist()
        ([0.5], [[1.0, 3.0]])
    """
    schedule, rule = translate_method("left_integrated_gradients", schedule, rule, method)
    policy = make_schedule(
        schedule=schedule,
        rule=rule,
        n_steps=n_steps,
        rtol=rtol,
        max_evaluations=max_evaluations,
        default=IG_SCHEDULE,
    )
    fraction = check_number(fraction, "fraction", minimum=0.0, maximum=1.0, open_minimum=True)
    n_refine = check_int(n_refine, "n_refine", minimum=0)
    n_pilot = (
        default_pilot_steps(N_STEPS if n_steps is None else check_int(n_steps, "n_steps"))
        if n_pilot_steps is None
        else check_int(n_pilot_steps, "n_pilot_steps")
    )
    prep = prepare(
        forward_func,
        inputs,
        baselines,
        target,
        additional_forward_args,
        internal_batch_size,
        targets=targets,
    )
    batch = prep.batch_size
    straight = Evaluator(
        prep.seam,
        StraightPath(prep.inputs, prep.baselines),
        prep.inputs,
        prep.chunk,
        share_targets=True,  # the pilot's grid is every target's
    )
    grid = torch.linspace(0.0, 1.0, n_pilot + 1, dtype=torch.float64)
    pilot_alphas = grid.unsqueeze(0).expand(batch, -1)
    pilot_outputs = straight.grid_values(pilot_alphas)
    start, end = pilot_outputs[:, 0], pilot_outputs[:, -1]
    alpha_star, output_star, spent = find_alpha_star(
        lambda a: straight.grid_values(a.cpu()), pilot_outputs, fraction, n_refine
    )
    # IG from x' to x~ = x' + alpha* (x - x'): the same integral, on [0, 1]
    scale = alpha_star.to(torch.float64)
    ends = tuple(
        torch.lerp(
            b.to(torch.float64),
            x.to(torch.float64),
            scale.to(x.device).reshape((-1,) + (1,) * (x.ndim - 1)),
        ).to(x.dtype)
        for x, b in zip(prep.inputs, prep.baselines)
    )
    left = prep._replace(inputs=ends)
    run = run_schedule(
        policy,
        left,
        Integrand(multiply_by_inputs=multiply_by_inputs),
        StraightPath(ends, prep.baselines),
        needs_ends=False,
        share_targets=False,  # alpha* depends on the target
    )
    attributions = run.attributions
    s = scale.cpu().unsqueeze(1)
    if not multiply_by_inputs:  # the sums are of the integral over t = alpha / alpha*
        parts = attributions if isinstance(attributions, tuple) else (attributions,)
        parts = tuple(
            a * scale.to(a.device, a.dtype).reshape((-1,) + (1,) * (a.ndim - 1)) for a in parts
        )
        attributions = parts if isinstance(attributions, tuple) else parts[0]
    acc = run.outputs.dtype
    target_change = (output_star - start).to(acc)
    weights = s * run.weights
    derivatives = torch.where(
        s.to(run.derivatives.device) > 0,
        run.derivatives / s.to(run.derivatives.device, acc).clamp_min(1e-300),
        torch.zeros_like(run.derivatives),
    )
    if multiply_by_inputs:
        parts = attributions if isinstance(attributions, tuple) else (attributions,)
        delta = total_attribution(parts).to(acc) - target_change
    else:
        delta = (weights.to(acc) * derivatives).nansum(1) - target_change
    return LeftIGDetails(
        **{
            f.name: getattr(run, f.name)
            for f in dataclasses.fields(run)
            if f.name
            not in {
                "attributions",
                "delta",
                "alphas",
                "weights",
                "derivatives",
                "start",
                "end",
                "pilot_alphas",
                "pilot_outputs",
                "evaluations",
                "n_forward_evals",
            }
            and f.name != "error"
        },
        attributions=attributions,
        delta=delta,
        alpha_star=alpha_star,
        output_star=output_star.to(acc),
        alphas=s * run.alphas,
        weights=weights,
        derivatives=derivatives,
        start=start.to(acc),
        end=end.to(acc),
        pilot_alphas=pilot_alphas,
        pilot_outputs=pilot_outputs,
        evaluations=run.evaluations + n_pilot + 1 + spent // batch,
        n_forward_evals=run.n_forward_evals
        + batch * (n_pilot + 1)
        + spent
        - straight.saved_forward_evals,
    )
