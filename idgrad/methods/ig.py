"""Integrated Gradients (Sundararajan, Taly & Yan, ICML 2017, arXiv:1703.01365).

    IG_i(x) = (x_i - x'_i) * integral_0^1 dF/dx_i (x' + alpha (x - x')) d alpha

computed by the engine (:mod:`idgrad.engine`) with any schedule: a quadrature rule
(``schedule="uniform"``, the default, Gauss-Legendre unless ``rule=`` says otherwise), the
paper's pilot schedule, or the graded schedule (points where the integrand needs them and
an estimate of the attributions' error; ``rtol`` asks for an accuracy). Completeness:
``sum_i IG_i = F(x) - F(x')`` up to the quadrature error, which the convergence delta
reports per example.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from idgrad.core.results import PathDetails
from idgrad.core.seam import BaselineType, TargetsType, TargetType, TensorOrTuple
from idgrad.core.validation import ChunkSize
from idgrad.defaults import (
    IG_SCHEDULE,
    INTERNAL_BATCH_SIZE,
    MAX_EVALUATIONS,
    MULTIPLY_BY_INPUTS,
    N_STEPS_AUTO,
    RTOL,
    RULE_AUTO,
    SCHEDULE_AUTO,
    TARGETS,
)
from idgrad.engine.integrands import Integrand
from idgrad.engine.integrate import integrate
from idgrad.engine.schedules import UNSET, translate_method
from idgrad.methods.base import path_method

__all__ = ["integrated_gradients"]


@path_method
def integrated_gradients(
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
    internal_batch_size: ChunkSize = INTERNAL_BATCH_SIZE,
    multiply_by_inputs: bool = MULTIPLY_BY_INPUTS,
    method: Any = UNSET,
) -> PathDetails[TensorOrTuple]:
    """Integrated Gradients along the straight path from ``baselines`` to ``inputs``.

    ``IG_i = (x_i - x'_i) sum_k w_k dF/dx_i(x' + alpha_k (x - x'))`` with the points and
    weights of the schedule: by default the ``n_steps``-point Gauss-Legendre rule (exact
    for polynomials of degree ``2 n - 1``; the weights sum to exactly 1, in float64).

    Args:
        forward_func: the model, called as ``forward_func(*inputs, *additional_forward_args)``.
        inputs: tensor ``(B, ...)`` or tuple of tensors sharing ``B``.
        baselines: None (zeros), a number, a tensor broadcastable to the input, or a
            tuple of those (one per input).
        target: which output to explain (see :mod:`idgrad.core.targets`): None (the model
            returns one scalar per example), ``"predicted"`` (the predicted class at the
            inputs), an int or a tuple index (negative counts from the end), an integer
            tensor ``(B,)`` / ``(B, depth)`` or a list with one index per example (one
            element: for every example), or a callable ``output -> (n,)``.
        additional_forward_args: extra arguments after the inputs; tensors whose first
            axis is ``B`` are sliced per example, others are passed as they are.
        targets: several outputs in one call, instead of ``target``: a list
            ``[t_1, ..., t_K]`` of anything ``target`` takes, or ``"all"`` (one target per
            index of the model's output after the batch axis, row-major; see
            :mod:`idgrad.core.fan`). The result gains a leading ``K`` axis whose ``k``-th
            slice is the call with ``target=t_k``, and so do the details. Where the points
            do not depend on the target (the uniform schedule) the ``K`` targets share each
            forward pass, and ``K`` backward passes over its graph give their gradients
            (:meth:`~idgrad.core.fan_seam.FanSeam.scalars_and_grads_per_target`); the pilot
            and graded schedules give each (example, target) pair its own path.
        n_steps: gradient evaluations per example (None: 50, or as many as ``rtol`` needs).
        schedule: where the points go (:mod:`idgrad.engine.schedules`): ``"uniform"`` (a
            rule), ``"pilot"`` (the IDG paper's schedule) or ``"graded"`` (where the
            integrand needs them, with an error estimate). None: ``"uniform"``, or
            ``"graded"`` with ``rtol``.
        rule: the quadrature rule of the uniform and pilot schedules
            (:data:`idgrad.engine.rules.RULES`; None: ``gausslegendre`` for uniform,
            ``riemann_middle`` inside pilot intervals); refused with ``"graded"``.
        rtol: ask for an accuracy instead of a budget: the graded schedule adds points
            until the estimated relative L2 error of each example's attributions (over
            all features) is below ``rtol`` (refused with ``n_steps``). The estimate is in
            ``.details(...).error``.
        max_evaluations: the most evaluations ``rtol`` may spend per example (None: 1024);
            an example that reaches it stops with its estimate above ``rtol`` and a
            :class:`~idgrad.core.results.ToleranceWarning`.
        internal_batch_size: at most this many points per forward/backward pass (may be
            smaller than ``B``); ``"auto"`` picks it from the size of one example
            (:func:`~idgrad.core.seam.resolve_chunk_size`); None evaluates all points at
            once. The result does not depend on it.
        multiply_by_inputs: multiply by ``x - x'`` (global attribution); False gives the
            path-averaged gradient (local attribution).
        method: deprecated: a rule (use ``rule=``) or ``"graded"`` (use ``schedule=``).

    Returns:
        Attributions shaped like ``inputs`` (with ``targets``: ``(K, B, ...)``, and every
        per-example field of the details ``(K, B, ...)``).
        ``integrated_gradients.details(...)`` returns a
        :class:`~idgrad.core.results.PathDetails` whose ``delta`` is
        ``sum(IG) - (F(x) - F(x'))`` ``(B,)`` (with ``multiply_by_inputs=False``:
        ``sum_k w_k F'(alpha_k) - (F(x) - F(x'))``), with the points, weights, ``F`` and
        ``F'`` along the path and the evaluations per example; on the graded schedule a
        :class:`~idgrad.core.results.GradedDetails`, which adds the error estimate.

    Example:
        >>> import torch
        >>> model = lambda x: (x ** 2).sum(1)  # F(x) = sum x_i^2, exact for GL(2)
        >>> x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
        >>> integrated_gradients(model, x, n_steps=2).tolist()
        [[1.0, 4.0]]
        >>> d = integrated_gradients.details(model, x, n_steps=2)
        >>> d.delta.abs().item() < 1e-12, d.evaluations.tolist()  # 2 points + F(x'), F(x)
        (True, [4])
        >>> smooth = lambda x: torch.sigmoid(3 * x.sum(1) - 4)
        >>> g = integrated_gradients.details(smooth, x, rtol=1e-6)  # ask for an accuracy
        >>> exact = x * (smooth(x) - smooth(0 * x)) / x.sum()  # all features share the path
        >>> bool(g.error[0] < 1e-6), bool(((g.attributions - exact).norm() / exact.norm()) < 1e-6)
        (True, True)
        >>> linear = torch.nn.Linear(2, 3).double()      # several targets in one call
        >>> many = integrated_gradients(linear, x, targets=[0, 2])
        >>> many.shape, torch.allclose(many[1], integrated_gradients(linear, x, target=2))
        (torch.Size([2, 1, 2]), True)
    """
    schedule, rule = translate_method("integrated_gradients", schedule, rule, method)
    return integrate(
        forward_func,
        inputs,
        baselines,
        target,
        additional_forward_args,
        integrand=Integrand(multiply_by_inputs=multiply_by_inputs),
        n_steps=n_steps,
        schedule=schedule,
        rule=rule,
        rtol=rtol,
        max_evaluations=max_evaluations,
        internal_batch_size=internal_batch_size,
        default_schedule=IG_SCHEDULE,
        targets=targets,
    )
