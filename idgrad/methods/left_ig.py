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

from collections.abc import Callable
from typing import Any

import torch

from idgrad.core.results import LeftIGDetails
from idgrad.core.seam import BaselineType, TargetType, TensorOrTuple, restore_form
from idgrad.core.validation import check_int, check_number
from idgrad.defaults import (
    IG_METHOD,
    INTERNAL_BATCH_SIZE,
    LEFT_FRACTION,
    LEFT_N_REFINE,
    MULTIPLY_BY_INPUTS,
    N_PILOT_STEPS,
    N_STEPS,
)
from idgrad.engine.integrator import ChunkSize, evaluate_path, integrate_path
from idgrad.engine.schedules import Schedule, default_pilot_steps, rule_points
from idgrad.methods._common import (
    differences,
    prepare,
    to_input_dtypes,
    total_attribution,
)
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
    n_steps: int = N_STEPS,
    fraction: float = LEFT_FRACTION,
    method: str = IG_METHOD,
    n_pilot_steps: int | None = N_PILOT_STEPS,
    n_refine: int = LEFT_N_REFINE,
    internal_batch_size: ChunkSize = INTERNAL_BATCH_SIZE,
    multiply_by_inputs: bool = MULTIPLY_BY_INPUTS,
) -> LeftIGDetails:
    """Left-IG: Integrated Gradients on ``[0, alpha*]`` (see the module docstring).

    ``LeftIG_i = (x_i - x'_i) alpha* sum_k w_k dF/dx_i(x' + alpha* a_k (x - x'))`` with
    the ``n_steps``-point rule ``(a_k, w_k)`` of ``method`` on ``[0, 1]``. Paper:
    https://arxiv.org/abs/2010.12697.

    Args:
        forward_func, inputs, baselines, target, additional_forward_args,
        internal_batch_size, multiply_by_inputs: as in
            :func:`~idgrad.methods.ig.integrated_gradients`.
        n_steps: gradient evaluations per example.
        fraction: share of the way from ``F(x')`` to ``F(x)`` that defines ``alpha*``,
            in ``(0, 1]``; 1 gives IG for outputs that approach ``F(x)`` monotonically.
        method: quadrature rule, scaled to ``[0, alpha*]``.
        n_pilot_steps: pilot intervals ``N`` (``N + 1`` forward evaluations per example;
            they also give ``F(x')`` and ``F(x)``); default
            :func:`~idgrad.engine.schedules.default_pilot_steps`.
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
    n_steps = check_int(n_steps, "n_steps")
    fraction = check_number(fraction, "fraction", minimum=0.0, maximum=1.0, open_minimum=True)
    n_refine = check_int(n_refine, "n_refine", minimum=0)
    prep = prepare(
        forward_func, inputs, baselines, target, additional_forward_args, internal_batch_size
    )
    batch = prep.batch_size
    n_pilot = (
        default_pilot_steps(n_steps)
        if n_pilot_steps is None
        else check_int(n_pilot_steps, "n_pilot_steps")
    )
    points, rule_weights = rule_points(n_steps, method)
    grid = torch.linspace(0.0, 1.0, n_pilot + 1, dtype=torch.float64)
    pilot_alphas = grid.unsqueeze(0).expand(batch, -1)
    pilot_outputs = evaluate_path(
        prep.seam, prep.inputs, prep.baselines, pilot_alphas, internal_batch_size
    )
    start, end = pilot_outputs[:, 0], pilot_outputs[:, -1]

    def evaluate(alphas: torch.Tensor) -> torch.Tensor:
        return evaluate_path(
            prep.seam, prep.inputs, prep.baselines, alphas.cpu(), internal_batch_size
        )

    alpha_star, output_star, spent = find_alpha_star(evaluate, pilot_outputs, fraction, n_refine)
    a = torch.as_tensor(points, dtype=torch.float64).unsqueeze(0)
    w = torch.as_tensor(rule_weights, dtype=torch.float64).unsqueeze(0)
    scale = alpha_star.cpu().unsqueeze(1)
    schedule = Schedule(scale * a, scale * w)
    run = integrate_path(prep.seam, prep.inputs, prep.baselines, schedule, internal_batch_size)
    diffs = differences(prep)
    target_change = output_star - start
    if multiply_by_inputs:
        result = tuple(s * d for s, d in zip(run.sums, diffs))
        delta = total_attribution(result).to(start.dtype) - target_change
    else:
        result = run.sums
        delta = schedule.integrate(run.derivatives) - target_change
    attributions = restore_form(to_input_dtypes(result, prep.inputs), prep.was_tuple)
    return LeftIGDetails(
        attributions=attributions,
        delta=delta,
        alpha_star=alpha_star,
        output_star=output_star,
        alphas=schedule.alphas,
        weights=schedule.weights,
        outputs=run.outputs,
        derivatives=run.derivatives,
        start=start,
        end=end,
        pilot_alphas=pilot_alphas,
        pilot_outputs=pilot_outputs,
        n_gradient_evals=batch * n_steps,
        n_forward_evals=batch * (n_pilot + 1) + spent,
    )
