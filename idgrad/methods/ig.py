"""Integrated Gradients (Sundararajan, Taly & Yan, ICML 2017, arXiv:1703.01365).

    IG_i(x) = (x_i - x'_i) * integral_0^1 dF/dx_i (x' + alpha (x - x')) d alpha

computed with a quadrature rule (:mod:`idgrad.engine.schedules`), or on the graded schedule
(:mod:`idgrad.engine.refinement`: gradient points in rounds where the error is, and an estimate
of the attributions' error; ``rtol`` asks for an accuracy). Completeness:
``sum_i IG_i = F(x) - F(x')`` up to the rule's quadrature error, which the
convergence delta reports per example.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from idgrad.core.results import PathDetails
from idgrad.core.seam import BaselineType, TargetType, TensorOrTuple, restore_form
from idgrad.defaults import (
    GRADED,
    IG_METHOD,
    INTERNAL_BATCH_SIZE,
    MAX_EVALUATIONS,
    METHOD_AUTO,
    MULTIPLY_BY_INPUTS,
    N_STEPS_AUTO,
    RTOL,
)
from idgrad.engine.integrator import ChunkSize, integrate_path
from idgrad.engine.schedules import uniform_schedule
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
from idgrad.methods.base import details_wanted, path_method

__all__ = ["check_options", "integrated_gradients"]


def check_options(
    n_steps: int | None,
    method: str | None,
    rtol: float | None = None,
    max_evaluations: int | None = None,
) -> Budget:
    """IG's own options, checked before any model call.

    The budget rules are ``idgrad.methods._common.resolve_budget``'s.
    """
    return resolve_budget(n_steps, method, rtol, max_evaluations, IG_METHOD)


@path_method
def integrated_gradients(
    forward_func: Callable[..., Any],
    inputs: TensorOrTuple,
    baselines: BaselineType = None,
    target: TargetType = None,
    additional_forward_args: Any = None,
    *,
    n_steps: int | None = N_STEPS_AUTO,
    method: str | None = METHOD_AUTO,
    rtol: float | None = RTOL,
    max_evaluations: int | None = MAX_EVALUATIONS,
    internal_batch_size: ChunkSize = INTERNAL_BATCH_SIZE,
    multiply_by_inputs: bool = MULTIPLY_BY_INPUTS,
) -> PathDetails[TensorOrTuple]:
    """Integrated Gradients along the straight path from ``baselines`` to ``inputs``.

    ``IG_i = (x_i - x'_i) sum_k w_k dF/dx_i(x' + alpha_k (x - x'))`` with the
    ``n_steps``-point rule ``method`` (``riemann_left``, ``riemann_right``,
    ``riemann_middle``, ``riemann_trapezoid``, ``gausslegendre``; the weights sum
    to exactly 1 and are float64), or on the graded schedule (``method="graded"``:
    points placed in rounds where the path needs them, every one a gradient
    evaluation, both ends included; the cubic spline's weights on them).

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
        n_steps: gradient evaluations per example (None: 50, or as many as ``rtol``
            needs). For ``graded`` the two ends of the path are among them.
        method: the quadrature rule, or ``"graded"`` (None: ``gausslegendre``, or
            ``graded`` with ``rtol``).
        rtol: ask for an accuracy instead of a budget: points are added in rounds until
            the estimated relative L2 error of each example's attributions (over all
            features) is below ``rtol`` (graded schedule only; refused with
            ``n_steps``). The estimate is in ``.details(...).error``.
        max_evaluations: the most gradient evaluations ``rtol`` may spend per example
            (None: 1024); an example that reaches it stops with its estimate above
            ``rtol``.
        internal_batch_size: at most this many points per forward/backward pass (may
            be smaller than ``B``); ``"auto"`` picks it from the size of one example
            (:func:`~idgrad.engine.integrator.resolve_chunk_size`: ~0.5 M input elements per
            pass on the CPU, which is also faster than one huge pass); None evaluates
            all ``B * n_steps`` points at once. The result does not depend on it.
        multiply_by_inputs: multiply by ``x - x'`` (global attribution); False gives
            the path-averaged gradient (local attribution).

    Returns:
        Attributions shaped like ``inputs``. ``integrated_gradients.details(...)``
        returns a :class:`~idgrad.core.results.PathDetails` whose ``delta`` is
        ``sum(IG) - (F(x) - F(x'))`` ``(B,)`` (with ``multiply_by_inputs=False``:
        ``sum_k w_k F'(alpha_k) - (F(x) - F(x'))``); on the graded schedule a
        :class:`~idgrad.core.results.GradedDetails`, which adds the error estimate and the
        evaluations per example.

    Example:
        >>> import torch
        >>> model = lambda x: (x ** 2).sum(1)  # F(x) = sum x_i^2, exact for GL(2)
        >>> x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
        >>> integrated_gradients(model, x, n_steps=2).tolist()
        [[1.0, 4.0]]
        >>> d = integrated_gradients.details(model, x, n_steps=2)
        >>> d.delta.abs().item() < 1e-12, d.n_evaluations
        (True, 4)
        >>> smooth = lambda x: torch.sigmoid(3 * x.sum(1) - 4)
        >>> g = integrated_gradients.details(smooth, x, rtol=1e-6)  # ask for an accuracy
        >>> exact = x * (smooth(x) - smooth(0 * x)) / x.sum()  # all features share the path
        >>> bool(g.error[0] < 1e-6), bool(((g.attributions - exact).norm() / exact.norm()) < 1e-6)
        (True, True)
    """
    budget = check_options(n_steps, method, rtol, max_evaluations)
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
            if not multiply_by_inputs:
                return sums
            return tuple(s * d[rows] for s, d in zip(sums, diffs))

        return graded_details(
            prep, budget, finish, False, multiply_by_inputs, False, internal_batch_size
        )
    assert budget.n_steps is not None
    n_steps = budget.n_steps
    schedule = uniform_schedule(n_steps, budget.method).expand(prep.batch_size)
    path = integrate_path(prep.seam, prep.inputs, prep.baselines, schedule, internal_batch_size)
    diffs = differences(prep)
    scaled = tuple(s * d for s, d in zip(path.sums, diffs))
    result = scaled if multiply_by_inputs else path.sums
    attributions = restore_form(to_input_dtypes(result, prep.inputs), prep.was_tuple)
    if details_wanted():
        # F(x') and F(x): reused from the rule's own points when it has alpha = 0 / 1
        start, end, n_forward = path_endpoints(
            prep, schedule.alphas, path.outputs, internal_batch_size
        )
    else:  # the end points are needed only for the delta, which a plain call drops
        start = end = torch.full_like(path.outputs[:, 0], float("nan"))
        n_forward = 0
    if multiply_by_inputs:
        delta = total_attribution(scaled).to(start.dtype) - (end - start)
    else:
        delta = schedule.integrate(path.derivatives) - (end - start)
    return PathDetails(
        attributions=attributions,
        delta=delta,
        alphas=schedule.alphas,
        weights=schedule.weights,
        outputs=path.outputs,
        derivatives=path.derivatives,
        start=start,
        end=end,
        n_gradient_evals=prep.batch_size * n_steps,
        n_forward_evals=n_forward,
    )
