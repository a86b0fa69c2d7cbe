"""Schedules: where a path integral's points go, one policy per name.

============ ====================================================== ==================
``schedule`` what it does                                           options
============ ====================================================== ==================
``uniform``  one pass with a quadrature rule on ``[0, 1]``           ``n_steps``, ``rule``
``pilot``    the paper's schedule: a forward-only pilot, then the   ``n_steps``, ``rule``,
             rule inside each pilot interval, points where ``F``   ``n_pilot_steps``
             moves
``graded``   points where the integrand needs them, every one a     ``n_steps`` or ``rtol``
             gradient point, and an estimate of the attributions'    (+ ``max_evaluations``)
             error (:mod:`idgrad.engine.schedules.graded`)
============ ====================================================== ==================

:func:`make_schedule` checks the options of a call, before any model call, and returns
the policy; the engine then calls ``policy.run(evaluator, needs_ends)``, which evaluates
the model through the :class:`~idgrad.engine.evaluator.Evaluator` and returns an
:class:`Outcome`. :func:`translate_method` turns the old spellings (``method=`` for a rule
or ``"graded"``, ``adaptive=``) into the new ones, with a ``DeprecationWarning``.

Example:
    >>> make_schedule(schedule=None, rule=None, n_steps=None, default="uniform")
    UniformSchedule(n_steps=50, rule='gausslegendre')
    >>> make_schedule(schedule=None, rule=None, n_steps=None, rtol=0.01, default="uniform")
    GradedSchedule(n_steps=None, rtol=0.01, max_evaluations=1024)
"""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple, Protocol

import torch

from idgrad.core.guard import user_stacklevel
from idgrad.core.validation import check_int, check_number
from idgrad.defaults import (
    GRADED_MAX_EVALUATIONS,
    GRADED_MIN_STEPS,
    N_STEPS,
    PILOT_RULE,
    UNIFORM_RULE,
)
from idgrad.engine.evaluator import Evaluator
from idgrad.engine.rules import check_rule

__all__ = [
    "SCHEDULES",
    "Outcome",
    "SchedulePolicy",
    "make_schedule",
    "translate_method",
]

#: The schedules (``schedule=``).
SCHEDULES: tuple[str, ...] = ("uniform", "pilot", "graded")


class Outcome(NamedTuple):
    """What a schedule computed, before the integrand turns it into attributions.

    ``S`` is the most points of any example; shorter rows are padded (``alphas``, ``outputs``
    and ``derivatives`` NaN, ``weights`` 0).

    Attributes:
        sums: per input ``(B, ...)``: ``sum_k w_k c_k grad F(gamma(alpha_k))`` (times the
            velocity on a curved path).
        fp_sum: ``(B,)`` ``sum_k w_k F'(alpha_k)`` (its distance to ``end - start`` is the delta).
        alphas, weights, outputs, derivatives: ``(B, S)`` the final rule's points, float64
            weights, ``F`` and ``F'`` there.
        start, end: ``(B,)`` ``F`` at ``alpha = 0`` and ``1`` (NaN when not evaluated).
        evaluations: ``(B,)`` int64 model evaluations per example (gradient and forward-only).
        n_gradient_evals, n_forward_evals: totals over the batch.
        pilot_alphas, pilot_outputs: the pilot schedule's forward-only points, or None.
        error: ``(B,)`` float64 estimated relative error of each example's attributions
            (the graded schedule), or None.
    """

    sums: tuple[torch.Tensor, ...]
    fp_sum: torch.Tensor
    alphas: torch.Tensor
    weights: torch.Tensor
    outputs: torch.Tensor
    derivatives: torch.Tensor
    start: torch.Tensor
    end: torch.Tensor
    evaluations: torch.Tensor
    n_gradient_evals: int
    n_forward_evals: int
    pilot_alphas: torch.Tensor | None = None
    pilot_outputs: torch.Tensor | None = None
    error: torch.Tensor | None = None


class SchedulePolicy(Protocol):
    """A schedule: evaluates the model through ``evaluator`` and returns an :class:`Outcome`.

    ``needs_ends``: ``F(x')`` and ``F(x)`` are wanted (for the delta or the IDG rescaling);
    a schedule may skip evaluating them when not.
    """

    def run(self, evaluator: Evaluator, needs_ends: bool) -> Outcome:
        """Evaluate the path and integrate."""
        ...


def make_schedule(
    *,
    schedule: str | None,
    rule: str | None,
    n_steps: int | None,
    rtol: float | None = None,
    max_evaluations: int | None = None,
    n_pilot_steps: int | None = None,
    default: str = "uniform",
) -> SchedulePolicy:
    """Check a call's schedule options (before any model call) and build its policy.

    ``schedule=None`` is ``"graded"`` with ``rtol``, else ``default``; ``n_steps=None`` is
    :data:`idgrad.defaults.N_STEPS` unless ``rtol`` is given; ``rule=None`` is the schedule's
    own (:data:`~idgrad.defaults.UNIFORM_RULE`, :data:`~idgrad.defaults.PILOT_RULE`). Refused:
    ``rtol``/``max_evaluations`` without the graded schedule (the others have no error
    estimate), ``n_steps`` with ``rtol`` (one budget at a time), ``rule`` with the graded
    schedule (it picks its rules), ``n_pilot_steps`` without the pilot schedule.
    """
    if schedule is None:
        schedule = "graded" if rtol is not None else default
    if not isinstance(schedule, str) or schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")
    if n_pilot_steps is not None and schedule != "pilot":
        raise ValueError(
            f"n_pilot_steps is the pilot schedule's forward-only pilot; schedule={schedule!r} "
            "has none"
        )
    if schedule != "graded":
        for name, value in (("rtol", rtol), ("max_evaluations", max_evaluations)):
            if value is not None:
                raise ValueError(
                    f"{name} needs the graded schedule (schedule='graded'); "
                    f"schedule={schedule!r} has no error estimate"
                )
        steps = check_int(N_STEPS if n_steps is None else n_steps, "n_steps")
    if schedule == "uniform":
        from idgrad.engine.schedules.uniform import UniformSchedule

        rule = check_rule(UNIFORM_RULE if rule is None else rule)
        if rule == "riemann_trapezoid" and steps < 2:
            raise ValueError("riemann_trapezoid needs n_steps >= 2 (both end points)")
        return UniformSchedule(steps, rule)
    if schedule == "pilot":
        from idgrad.engine.schedules.pilot import PilotSchedule, default_pilot_steps

        rule = check_rule(PILOT_RULE if rule is None else rule)
        if rule == "riemann_trapezoid":
            raise ValueError(
                "the pilot schedule places points inside each pilot interval; riemann_trapezoid "
                "would evaluate shared interval ends twice: use riemann_middle or gausslegendre"
            )
        pilot = (
            default_pilot_steps(steps)
            if n_pilot_steps is None
            else check_int(n_pilot_steps, "n_pilot_steps")
        )
        return PilotSchedule(steps, rule, pilot)
    if rule is not None:
        raise ValueError(
            "the graded schedule chooses its own rules (Gauss-Legendre where the integrand is "
            "smooth); rule= is for schedule='uniform' or 'pilot'"
        )
    from idgrad.engine.schedules.graded import GradedSchedule

    if n_steps is None and rtol is None:
        n_steps = N_STEPS
    if n_steps is not None and rtol is not None:
        raise ValueError(
            "give one budget: n_steps (a fixed number of points) or rtol (a tolerance)"
        )
    if n_steps is not None:
        n_steps = check_int(n_steps, "n_steps")
        if max_evaluations is not None:
            raise ValueError(
                "max_evaluations caps what rtol spends; with n_steps the budget is exact"
            )
        return GradedSchedule(n_steps=n_steps)
    rtol = check_number(
        rtol, "rtol", minimum=0.0, maximum=1.0, open_minimum=True, open_maximum=True
    )
    cap = (
        GRADED_MAX_EVALUATIONS
        if max_evaluations is None
        else check_int(max_evaluations, "max_evaluations", minimum=GRADED_MIN_STEPS)
    )
    return GradedSchedule(rtol=rtol, max_evaluations=cap)


_UNSET: Any = object()
#: The marker a deprecated keyword's default is set to, so that passing it can be told apart.
UNSET = _UNSET


def translate_method(
    function: str,
    schedule: str | None,
    rule: str | None,
    method: Any = _UNSET,
    adaptive: Any = _UNSET,
    warn: bool = True,
    rule_means_pilot: bool = False,
) -> tuple[str | None, str | None]:
    """The new ``(schedule, rule)`` for the old spellings, with a ``DeprecationWarning``.

    ``method="graded"`` is ``schedule="graded"``; ``method=<rule>`` is ``rule=<rule>``, and
    with ``rule_means_pilot`` (IDG, whose schedule was adaptive by default: a rule meant the
    paper's pilot schedule) ``schedule="pilot"`` unless ``adaptive=False``;
    ``adaptive=False`` is ``schedule="uniform"``; ``adaptive=True`` alone is the default
    schedule. ``warn=False`` for the faces that keep an old spelling on
    purpose (captum's classes call the rule ``method``).

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     translate_method("idg", None, None, method="riemann_middle", rule_means_pilot=True)
        ('pilot', 'riemann_middle')
    """
    given = [name for name, v in (("method", method), ("adaptive", adaptive)) if v is not _UNSET]
    if not given:
        return schedule, rule
    if adaptive is not _UNSET and not isinstance(adaptive, bool):
        raise TypeError(f"adaptive must be a bool, got {type(adaptive).__name__}")
    new_schedule, new_rule = None, None
    if method is not _UNSET and method is not None:
        if not isinstance(method, str):
            raise TypeError(f"method must be a str, got {type(method).__name__}")
        if method == "graded":
            if adaptive is False:
                raise ValueError(
                    "method='graded' is adaptive; it cannot be used with adaptive=False"
                )
            new_schedule = "graded"
        else:
            new_rule = check_rule(method, "method")
            if adaptive is False:
                new_schedule = "uniform"
            elif rule_means_pilot:
                new_schedule = "pilot"
    elif adaptive is False:
        new_schedule = "uniform"
    for name, old, new in (("schedule", schedule, new_schedule), ("rule", rule, new_rule)):
        if old is not None and new is not None and old != new:
            raise ValueError(
                f"{'/'.join(given)} and {name}={old!r} disagree; give only {name}= (the new "
                "spelling)"
            )
    schedule = schedule if new_schedule is None else new_schedule
    rule = rule if new_rule is None else new_rule
    if warn:
        spelled = ", ".join(
            f"{k}={v!r}" for k, v in (("schedule", schedule), ("rule", rule)) if v is not None
        )
        warnings.warn(
            f"{function}: {' and '.join(given)}= are deprecated and will be removed in the next "
            f"release; use {spelled or 'the default schedule (no argument)'}",
            DeprecationWarning,
            stacklevel=user_stacklevel(),
        )
    return schedule, rule


def nan_like(batch: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``(B,)`` NaN: an end value that was not evaluated."""
    return torch.full((batch,), math.nan, dtype=dtype, device=device)
