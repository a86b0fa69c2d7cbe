"""Integrated Decision Gradients (Walker et al., AAAI 2024, arXiv:2305.20052).

    IDG_i(x) = (x_i - x'_i) * integral_0^1 dF/dx_i(gamma(alpha)) * F'(alpha) d alpha,
    F'(alpha) = grad F(gamma(alpha)) . (x - x')

The importance factor ``F'`` comes from the same backward pass as the gradient (it is
their dot product with ``x - x'``). It down-weights the saturated part of the path and
up-weights the decision region, where the output moves.

Where the points go is the engine's schedule (:mod:`idgrad.engine.schedules`):

* ``"graded"`` (default): points where the integrand needs them -- Gauss-Legendre where
  the path is smooth, concentrated where the decision is -- and an estimate of the
  attributions' error; ``rtol`` asks for an accuracy;
* ``"pilot"``: the paper's Algorithm 1, per example and on an exact budget: a forward-only
  pilot at ``N + 1`` uniform points measures how much ``F`` changes on each interval and
  :func:`idgrad.engine.schedules.pilot.adaptive_schedule` places the gradient points;
* ``"uniform"``: one quadrature rule.

The raw attributions sum to ``integral F'(alpha)^2 d alpha``; with ``normalize=True``
(default) each example is rescaled so its attributions sum to ``F(x) - F(x')``. The
convergence delta is computed before that rescaling: it is the schedule's quadrature error
on ``integral F'(alpha) d alpha = F(x) - F(x')``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from idgrad.core.results import PathDetails
from idgrad.core.seam import BaselineType, TargetsType, TargetType, TensorOrTuple
from idgrad.core.validation import ChunkSize
from idgrad.defaults import (
    IDG_SCHEDULE,
    INTERNAL_BATCH_SIZE,
    MAX_EVALUATIONS,
    MULTIPLY_BY_INPUTS,
    N_PILOT_STEPS,
    N_STEPS_AUTO,
    NORMALIZE,
    RTOL,
    RULE_AUTO,
    SCHEDULE_AUTO,
    TARGETS,
)
from idgrad.engine.integrands import IDGWarning, Integrand
from idgrad.engine.integrate import integrate
from idgrad.engine.schedules import UNSET, translate_method
from idgrad.methods.base import path_method

__all__ = ["IDGWarning", "integrated_decision_gradients"]


@path_method
def integrated_decision_gradients(
    forward_func: Callable[..., Any],
    inputs: TensorOrTuple,
    baselines: BaselineType = None,
    target: TargetType = None,
    additional_forward_args: Any = None,
    *,
    targets: TargetsType | None = TARGETS,
    n_steps: int | None = N_STEPS_AUTO,
    schedule: str | None = SCHEDULE_AUTO,
    rule: str | None = RULE_AUTO,
    rtol: float | None = RTOL,
    max_evaluations: int | None = MAX_EVALUATIONS,
    n_pilot_steps: int | None = N_PILOT_STEPS,
    internal_batch_size: ChunkSize = INTERNAL_BATCH_SIZE,
    multiply_by_inputs: bool = MULTIPLY_BY_INPUTS,
    normalize: bool = NORMALIZE,
    method: Any = UNSET,
    adaptive: Any = UNSET,
) -> PathDetails[TensorOrTuple]:
    """Integrated Decision Gradients, on the graded schedule by default.

    ``IDG_i = s_b (x_i - x'_i) sum_k w_k F'(alpha_k) dF/dx_i(gamma(alpha_k))`` where
    ``s_b = (F(x) - F(x')) / sum_k w_k F'(alpha_k)^2`` if ``normalize`` else 1.

    Args:
        forward_func, inputs, baselines, target, additional_forward_args, targets,
        internal_batch_size, multiply_by_inputs: as in
            :func:`~idgrad.methods.ig.integrated_gradients`.
        n_steps: gradient evaluations per example (None: 50, or as many as ``rtol``
            needs); every schedule also evaluates ``F(x')`` and ``F(x)`` (forward only,
            unless its rule has the ends), and the pilot schedule its ``N + 1`` pilot
            points: ``.details(...).evaluations`` counts them all.
        schedule: ``"graded"`` (default), ``"pilot"`` or ``"uniform"`` (see the module
            docstring); ``"graded"`` when ``rtol`` is given.
        rule: the rule of the uniform schedule (default ``gausslegendre``) or inside each
            pilot interval (default ``riemann_middle``); refused with ``"graded"``.
        rtol, max_evaluations: as in :func:`~idgrad.methods.ig.integrated_gradients`; the
            estimate is of the rescaled attributions.
        n_pilot_steps: the pilot schedule's pilot intervals ``N`` (``N + 1`` forward-only
            evaluations per example, which also give ``F(x')`` and ``F(x)``; default
            :func:`~idgrad.engine.schedules.pilot.default_pilot_steps`).
        normalize: rescale each example to completeness. An example whose path derivative
            vanishes at every point cannot be rescaled: it keeps its raw attributions and
            an :class:`~idgrad.engine.integrands.IDGWarning` is issued.
        method: deprecated: a rule inside pilot intervals (use ``schedule="pilot",
            rule=...``) or ``"graded"`` (use ``schedule="graded"``).
        adaptive: deprecated: ``adaptive=False`` is ``schedule="uniform"``.

    Returns:
        Attributions shaped like ``inputs``. ``integrated_decision_gradients.details(...)``
        returns a :class:`~idgrad.core.results.PathDetails` whose ``delta`` is the honest,
        pre-rescaling ``sum_k w_k F'(alpha_k) - (F(x) - F(x'))`` ``(B,)``; on the graded
        schedule a :class:`~idgrad.core.results.GradedDetails` with the error estimate.

    Example:
        >>> import torch
        >>> model = lambda x: torch.sigmoid(20 * (x.sum(1) - 1.0))
        >>> x = torch.tensor([[1.0, 0.5]], dtype=torch.float64)
        >>> d = integrated_decision_gradients.details(model, x, n_steps=64)
        >>> bool(abs(d.attributions.sum() - (model(x) - model(0 * x))) < 1e-12)  # completeness
        True
        >>> abs(d.delta.item()) < 1e-6  # quadrature error on the integral of F' (32: 3e-5)
        True
        >>> g = integrated_decision_gradients.details(model, x, rtol=1e-4)
        >>> bool(g.error[0] < 1e-4)
        True
    """
    schedule, rule = translate_method(
        "integrated_decision_gradients", schedule, rule, method, adaptive, rule_means_pilot=True
    )
    return integrate(
        forward_func,
        inputs,
        baselines,
        target,
        additional_forward_args,
        integrand=Integrand(
            decision_weighted=True, multiply_by_inputs=multiply_by_inputs, normalize=normalize
        ),
        n_steps=n_steps,
        schedule=schedule,
        rule=rule,
        rtol=rtol,
        max_evaluations=max_evaluations,
        n_pilot_steps=n_pilot_steps,
        internal_batch_size=internal_batch_size,
        default_schedule=IDG_SCHEDULE,
        targets=targets,
    )
