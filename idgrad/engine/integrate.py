"""The engine's one entry point: a path integral with any schedule, on any path.

:func:`integrate` checks the schedule options (before any model call), prepares the seam,
builds the :class:`~idgrad.engine.evaluator.Evaluator` for the path, runs the schedule and
lets the :class:`~idgrad.engine.integrands.Integrand` turn the sums into attributions.
IG, IDG, their layer forms, Blur IG, Left-IG and the genomics helpers all end here::

    method (methods/*.py)  ->  integrate (this module)  ->  schedule policy
    (engine/schedules/*.py)  ->  evaluator (engine/evaluator.py)  ->  the seam (the model)

Example:
    >>> import torch
    >>> from idgrad.engine.integrands import Integrand
    >>> model = lambda x: (x ** 2).sum(1)
    >>> x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    >>> d = integrate(model, x, None, None, None, integrand=Integrand(), n_steps=2)
    >>> d.attributions.tolist(), d.evaluations.tolist()
    ([[1.0, 4.0]], [4])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from idgrad.core.results import GradedDetails, PathDetails, details_wanted
from idgrad.core.seam import (
    BaselineType,
    Prepared,
    TargetsType,
    TargetType,
    TensorOrTuple,
    prepare,
    restore_form,
    to_input_dtypes,
)
from idgrad.core.validation import ChunkSize
from idgrad.engine.evaluator import Evaluator
from idgrad.engine.integrands import Integrand
from idgrad.engine.paths import Path, StraightPath
from idgrad.engine.schedules import SchedulePolicy, make_schedule

__all__ = ["integrate", "run_schedule"]


def integrate(
    forward_func: Callable[..., Any],
    inputs: TensorOrTuple,
    baselines: BaselineType,
    target: TargetType,
    additional_forward_args: Any,
    *,
    integrand: Integrand,
    n_steps: int | None = None,
    schedule: str | None = None,
    rule: str | None = None,
    rtol: float | None = None,
    max_evaluations: int | None = None,
    n_pilot_steps: int | None = None,
    internal_batch_size: ChunkSize = "auto",
    default_schedule: str = "uniform",
    path: Callable[[Prepared], Path] | None = None,
    targets: TargetsType | None = None,
) -> PathDetails[TensorOrTuple]:
    """A path integral of ``integrand`` from ``baselines`` to ``inputs`` (or along ``path``).

    Args:
        forward_func, inputs, baselines, target, additional_forward_args,
        internal_batch_size, targets: as in :func:`idgrad.integrated_gradients`.
        integrand: what is integrated (:class:`~idgrad.engine.integrands.Integrand`).
        n_steps, schedule, rule, rtol, max_evaluations, n_pilot_steps: the schedule's
            options (:func:`~idgrad.engine.schedules.make_schedule`).
        default_schedule: the schedule when none is named and no ``rtol`` is given.
        path: builds the path from the prepared inputs (None: the straight line); the
            path of an example must depend on its inputs only (not on its row), so that
            with ``targets`` the ``K`` copies of an example share it.

    Returns:
        :class:`~idgrad.core.results.PathDetails`, or
        :class:`~idgrad.core.results.GradedDetails` on the graded schedule. With
        ``targets`` every per-example field runs over the ``K B`` pseudo-examples
        (``k B + b``; :func:`~idgrad.core.results.split_targets` gives them their ``K``
        axis). ``n_gradient_evals`` counts the gradients computed (``K`` per point, as
        ``K`` calls would); ``n_forward_evals`` the forward-only evaluations made (a point
        the ``K`` targets shared counts once).
    """
    policy = make_schedule(
        schedule=schedule,
        rule=rule,
        n_steps=n_steps,
        rtol=rtol,
        max_evaluations=max_evaluations,
        n_pilot_steps=n_pilot_steps,
        default=default_schedule,
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
    chosen = StraightPath(prep.inputs, prep.baselines) if path is None else path(prep)
    return run_schedule(policy, prep, integrand, chosen)


def run_schedule(
    policy: SchedulePolicy,
    prep: Prepared,
    integrand: Integrand,
    path: Path,
    needs_ends: bool | None = None,
    share_targets: bool = True,
) -> PathDetails[TensorOrTuple]:
    """Run ``policy`` along ``path`` for the prepared call and package the details.

    ``needs_ends``: whether ``F`` at the path's two ends must be evaluated (None: when the
    caller reads the details, or the integrand rescales with them). ``share_targets``:
    with several targets, whether the ``K`` copies of an example share ``path`` (see
    :class:`~idgrad.engine.evaluator.Evaluator`); False for a path built per target.
    """
    evaluator = Evaluator(
        prep.seam,
        path,
        prep.inputs,
        prep.chunk,
        decision_weighted=integrand.decision_weighted,
        share_targets=share_targets,
    )
    if needs_ends is None:
        needs_ends = details_wanted() or integrand.normalize
    out = policy.run(evaluator, needs_ends=needs_ends)
    result, delta = integrand.finish(out, path)
    attributions = restore_form(to_input_dtypes(result, prep.inputs), prep.was_tuple)
    acc = evaluator.acc
    common: dict[str, Any] = dict(
        attributions=attributions,
        delta=delta.to(acc),
        alphas=out.alphas,
        weights=out.weights,
        outputs=out.outputs.to(acc),
        derivatives=out.derivatives.to(acc),
        start=out.start.to(acc),
        end=out.end.to(acc),
        pilot_alphas=out.pilot_alphas,
        pilot_outputs=out.pilot_outputs,
        evaluations=out.evaluations,
        n_gradient_evals=out.n_gradient_evals,
        n_forward_evals=out.n_forward_evals - evaluator.saved_forward_evals,
    )
    if out.error is not None:
        return GradedDetails(error=out.error.to(torch.float64), **common)
    return PathDetails(**common)
