"""Layer attribution: Integrated Gradients and IDG in the space of a layer's activations.

Token ids are not differentiable, and often the question is about a layer rather
than the raw input. Let ``a = A(x)`` be a layer's activation (its output, or its
input) when the model runs on ``x``, and ``a' = A(x')`` the same at the baseline.
The path runs through the layer's space,

    gamma(alpha) = a' + alpha (a - a'),     G(alpha) = F(x; layer := gamma(alpha)),

where ``F(x; layer := v)`` runs the model on its own inputs ``x`` with the layer's
activation replaced by ``v`` (a forward hook, or a forward pre-hook for the layer's
input). ``G`` is an ordinary function of the activation tensor(s), so the core
methods run on it unchanged: :func:`~idgrad.integrated_gradients` and
:func:`~idgrad.integrated_decision_gradients` see the activations as their inputs
and the model's own inputs as per-example extra arguments, which the seam slices per
point. Schedules, chunking, targets and the IDG rescaling are the core's.

Several layers at once (a list) share one path in the joint space of their
activations (all replaced at the same ``alpha``); they must be independent (no
layer computes from another's output), as in captum's ``LayerIntegratedGradients``,
and the attributions are a list with one entry per layer. The hooks live in
:mod:`idgrad.methods.activations`.

The convergence delta is measured against the model at its own inputs,
``delta = sum(attributions) - (F(x) - F(x'))`` (for IDG: the pre-rescaling
``sum_k w_k G'(alpha_k) - (F(x) - F(x'))``). ``G(1) = F(x)`` always; ``G(0) = F(x')``
when the layer carries everything the model reads from its inputs (e.g. the word
embeddings of a transformer, with the attention mask as an extra argument). When it
does not, the delta shows the gap and does not shrink with more steps.

Example:
    >>> import torch
    >>> emb = torch.nn.Embedding(10, 3)
    >>> head = torch.nn.Linear(3, 1)
    >>> model = lambda ids: head(emb(ids).mean(1))[:, 0]
    >>> ids = torch.tensor([[1, 2, 3]])
    >>> d = layer_integrated_gradients.details(model, emb, ids, baselines=0)
    >>> d.attributions.shape, bool(d.delta.abs().max() < 1e-5)  # linear after the layer: exact
    (torch.Size([1, 3, 3]), True)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, cast

from idgrad.core.results import PathDetails
from idgrad.core.seam import (
    BaselineType,
    TargetsType,
    TargetType,
    TensorOrTuple,
    check_no_inference_mode,
    prepare,
)
from idgrad.core.targets import Target
from idgrad.core.validation import ChunkSize, check_chunk_size
from idgrad.defaults import (
    ATTRIBUTE_TO_LAYER_INPUT,
    IDG_SCHEDULE,
    IG_SCHEDULE,
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
from idgrad.engine.integrands import Integrand
from idgrad.engine.integrate import run_schedule
from idgrad.engine.paths import StraightPath
from idgrad.engine.schedules import UNSET, SchedulePolicy, make_schedule, translate_method
from idgrad.methods.activations import LayerAttributions, LayerPath, LayerSpec
from idgrad.methods.base import layer_method

__all__ = [
    "LayerAttributions",
    "LayerSpec",
    "layer_integrated_decision_gradients",
    "layer_integrated_gradients",
]


def _run(
    policy: SchedulePolicy,
    integrand: Integrand,
    forward_func: Callable[..., Any],
    layer: LayerSpec,
    inputs: TensorOrTuple,
    baselines: BaselineType,
    target: TargetType,
    additional_forward_args: Any,
    internal_batch_size: ChunkSize,
    attribute_to_layer_input: bool,
    targets: TargetsType | None,
) -> PathDetails[LayerAttributions]:
    check_no_inference_mode()
    check_chunk_size(internal_batch_size)
    path, was_list = LayerPath.build(
        forward_func,
        layer,
        inputs,
        baselines,
        target,
        additional_forward_args,
        attribute_to_layer_input,
        targets,
    )
    seam_target = path.seam.target
    # "predicted" (and "all") resolved once, at the inputs
    one_target = seam_target.value if isinstance(seam_target, Target) else None
    with path.hooked():
        acts_end, f_end = path.capture(path.inputs, internal_batch_size, "inputs")
        acts_start, f_start = path.capture(path.baselines, internal_batch_size, "baselines")
        prep = prepare(
            path.forward,
            acts_end,
            acts_start,
            one_target,
            path.inputs + path.extra,
            internal_batch_size,
            targets=path.seam.fan,
        )
        details = run_schedule(policy, prep, integrand, StraightPath(prep.inputs, prep.baselines))
    acc = details.delta.dtype
    f_start, f_end = f_start.to(acc), f_end.to(acc)
    # The engine's delta is against G(1) - G(0); move it to the model's own F(x) - F(x').
    delta = details.delta + (details.end - details.start) - (f_end - f_start)
    flat = details.attributions  # a tuple: the engine's inputs were the activations tuple
    # replace keeps the details' class (GradedDetails keeps its error estimate)
    return cast(
        "PathDetails[LayerAttributions]",
        dataclasses.replace(
            details,
            attributions=path.regroup(tuple(flat), was_list),  # type: ignore[arg-type]
            delta=delta,
            start=f_start,
            end=f_end,
            evaluations=details.evaluations + 2,
            n_forward_evals=details.n_forward_evals + 2 * path.batch,
        ),
    )


@layer_method
def layer_integrated_gradients(
    forward_func: Callable[..., Any],
    layer: LayerSpec,
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
    attribute_to_layer_input: bool = ATTRIBUTE_TO_LAYER_INPUT,
    multiply_by_inputs: bool = MULTIPLY_BY_INPUTS,
    method: Any = UNSET,
) -> PathDetails[LayerAttributions]:
    """Integrated Gradients of a layer's output (or input), along ``a' -> a``.

    ``LIG_j = (a_j - a'_j) sum_k w_k dG/da_j(a' + alpha_k (a - a'))`` with the
    points and weights of the schedule (by default the ``n_steps``-point Gauss-Legendre
    rule), where ``a``/``a'`` are the layer's activations
    at ``inputs``/``baselines`` and ``G`` runs the model on ``inputs`` with the layer's
    activation replaced (see the module docstring).

    Args:
        forward_func: the model, called as ``forward_func(*inputs, *additional_forward_args)``.
        layer: an ``nn.Module`` inside the model that runs once per forward pass, or a
            list of independent ones (one joint path; one result per layer).
        inputs: the model's inputs, tensor ``(B, ...)`` or tuple; any dtype (token ids
            are fine): only the layer's activations are interpolated.
        baselines: model inputs whose activations start the path: None (zeros), a
            number, a tensor broadcastable to the input (e.g. pad-token ids), or a tuple.
            Integer inputs need integer baselines.
        target, additional_forward_args, targets, n_steps, schedule, rule, rtol,
        max_evaluations, internal_batch_size, multiply_by_inputs, method: as in
            :func:`idgrad.integrated_gradients`;
            ``internal_batch_size`` also bounds the two capture passes, which the
            evaluation counts include (``max_evaluations`` caps the path's points).
        attribute_to_layer_input: attribute to the layer's positional inputs instead
            of its output.

    Returns:
        Attributions shaped like the layer's activation: a tensor, a tuple when the
        layer's output (input) is a tuple, a list of those for a list of layers.
        ``layer_integrated_gradients.details(...)`` returns a
        :class:`~idgrad.core.results.PathDetails`: ``delta`` is
        ``sum(attributions) - (F(x) - F(x'))`` ``(B,)`` with ``F`` at the model's own
        inputs and baselines; ``outputs`` and ``derivatives`` are ``G`` and ``G'``
        along the layer path; ``start`` and ``end`` are ``F(x')`` and ``F(x)``.

    Raises:
        TypeError: a layer that is not a module, non-floating activations (e.g. the
            input of an embedding layer), integer inputs with fractional baselines.
        ValueError: a layer not called, or called more than once, per forward pass;
            an activation without the batch axis first; the core's checks.
        RuntimeError: inside ``torch.inference_mode``.

    Example:
        >>> import torch
        >>> lin, head = torch.nn.Linear(2, 3).double(), torch.nn.Linear(3, 1).double()
        >>> model = lambda x: head(torch.tanh(lin(x)))[:, 0]
        >>> x = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
        >>> d = layer_integrated_gradients.details(model, lin, x, n_steps=32)
        >>> d.attributions.shape, bool(d.delta.abs().max() < 1e-10)
        (torch.Size([1, 3]), True)
    """
    schedule, rule = translate_method("layer_integrated_gradients", schedule, rule, method)
    policy = make_schedule(
        schedule=schedule,
        rule=rule,
        n_steps=n_steps,
        rtol=rtol,
        max_evaluations=max_evaluations,
        default=IG_SCHEDULE,
    )
    return _run(
        policy,
        Integrand(multiply_by_inputs=multiply_by_inputs),
        forward_func,
        layer,
        inputs,
        baselines,
        target,
        additional_forward_args,
        internal_batch_size,
        attribute_to_layer_input,
        targets,
    )


@layer_method
def layer_integrated_decision_gradients(
    forward_func: Callable[..., Any],
    layer: LayerSpec,
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
    attribute_to_layer_input: bool = ATTRIBUTE_TO_LAYER_INPUT,
    multiply_by_inputs: bool = MULTIPLY_BY_INPUTS,
    normalize: bool = NORMALIZE,
    method: Any = UNSET,
    adaptive: Any = UNSET,
) -> PathDetails[LayerAttributions]:
    """Integrated Decision Gradients of a layer's output (or input), along ``a' -> a``.

    ``LIDG_j = s_b (a_j - a'_j) sum_k w_k G'(alpha_k) dG/da_j(gamma(alpha_k))`` with
    ``G' = grad G . (a - a')``; points along the layer path on the graded schedule
    by default. With ``normalize`` each example is rescaled so its
    attributions sum to ``G(1) - G(0)``, the change along the layer path (equal to
    ``F(x) - F(x')`` when the layer carries all the model reads from its inputs; the
    delta tells).

    Args:
        forward_func, layer, inputs, baselines, target, additional_forward_args, targets,
        internal_batch_size, attribute_to_layer_input, multiply_by_inputs: as in
            :func:`layer_integrated_gradients`.
        n_steps, schedule, rule, rtol, max_evaluations, n_pilot_steps, normalize, method,
        adaptive: as in :func:`idgrad.integrated_decision_gradients`.

    Returns:
        As :func:`layer_integrated_gradients`; the details' ``delta`` is the
        pre-rescaling ``sum_k w_k G'(alpha_k) - (F(x) - F(x'))``, ``(B,)``.

    Example:
        >>> import torch
        >>> emb, head = torch.nn.Embedding(5, 4).double(), torch.nn.Linear(4, 1).double()
        >>> model = lambda ids: torch.sigmoid(head(emb(ids).sum(1)))[:, 0]
        >>> ids = torch.tensor([[1, 2, 3]])
        >>> attr = layer_integrated_decision_gradients(model, emb, ids, baselines=0,
        ...                                            n_steps=16)
        >>> tokens = attr.sum(-1)  # one score per token
        >>> bool(torch.isclose(tokens.sum(), model(ids) - model(0 * ids)).all())
        True
    """
    schedule, rule = translate_method(
        "layer_integrated_decision_gradients",
        schedule,
        rule,
        method,
        adaptive,
        rule_means_pilot=True,
    )
    policy = make_schedule(
        schedule=schedule,
        rule=rule,
        n_steps=n_steps,
        rtol=rtol,
        max_evaluations=max_evaluations,
        n_pilot_steps=n_pilot_steps,
        default=IDG_SCHEDULE,
    )
    return _run(
        policy,
        Integrand(
            decision_weighted=True, multiply_by_inputs=multiply_by_inputs, normalize=normalize
        ),
        forward_func,
        layer,
        inputs,
        baselines,
        target,
        additional_forward_args,
        internal_batch_size,
        attribute_to_layer_input,
        targets,
    )
