"""captum-style classes: ``IntegratedGradients`` and ``IntegratedDecisionGradients``.

Thin wrappers over :func:`idgrad.integrated_gradients` and
:func:`idgrad.integrated_decision_gradients` with captum's constructor and
``attribute`` signature, so code written for ``captum.attr.IntegratedGradients``
runs unchanged (with exact trapezoid weights and float64 step weights).
``LayerIntegratedGradients`` and ``LayerIntegratedDecisionGradients`` do the same for
:mod:`idgrad.methods.layer`. As in captum, ``attribute`` takes ``return_convergence_delta``;
the classes also have ``compute_convergence_delta``, ``has_convergence_delta``,
``multiplies_by_inputs`` and ``attribute_future`` (not implemented, as in captum's
IG). ``attribute`` takes captum's arguments (``method`` is captum's name for the rule) and,
keyword-only, every option the functions take (``schedule``, ``rule``, ``rtol``,
``max_evaluations``, and for IDG ``n_pilot_steps``). Defaults come from
:mod:`idgrad.defaults`, like the functions'. Every
``attribute`` carries ``__wrapped__``, so instances work inside
``captum.attr.NoiseTunnel``.

Example:
    >>> import torch
    >>> ig = IntegratedGradients(torch.nn.Linear(3, 2))
    >>> attr, delta = ig.attribute(torch.rand(4, 3), target=1, return_convergence_delta=True)
    >>> attr.shape, delta.shape
    (torch.Size([4, 3]), torch.Size([4]))
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch

from idgrad.compat.convergence import completeness_gap
from idgrad.core.guard import ModelGuard
from idgrad.core.seam import (
    BaselineType,
    ModelSeam,
    TargetsType,
    TargetType,
    TensorOrTuple,
    as_input_tuple,
    expand_baselines,
)
from idgrad.core.validation import ChunkSize
from idgrad.defaults import (
    ATTRIBUTE_TO_LAYER_INPUT,
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
from idgrad.engine.schedules import UNSET, translate_method
from idgrad.methods import integrated_decision_gradients, integrated_gradients
from idgrad.methods.activations import LayerAttributions, LayerPath, LayerSpec
from idgrad.methods.base import PathMethod, captum_result
from idgrad.methods.layer import layer_integrated_decision_gradients, layer_integrated_gradients

__all__ = [
    "IntegratedDecisionGradients",
    "IntegratedGradients",
    "LayerIntegratedDecisionGradients",
    "LayerIntegratedGradients",
]

_F = TypeVar("_F", bound=Callable[..., Any])

#: ``torch.autograd.grad`` options that idgrad's gradient pass always uses; a layer
#: class's ``grad_kwargs`` may ask for these, anything else is refused.
GRAD_KWARGS: Mapping[str, bool] = {
    "allow_unused": True,
    "materialize_grads": True,
    "only_inputs": True,
}


def _captum_entry(method: _F) -> _F:
    """Give an ``attribute`` method the ``__wrapped__`` that captum's wrappers call.

    ``captum.attr.NoiseTunnel`` calls ``attribution.attribute.__wrapped__(attribution,
    inputs, **kwargs)`` (captum's own methods carry a logging decorator); with this the
    classes here work inside it, without idgrad importing captum.
    """

    @functools.wraps(method)
    def attribute(*args: Any, **kwargs: Any) -> Any:
        return method(*args, **kwargs)

    return attribute  # type: ignore[return-value]


def _check_grad_kwargs(grad_kwargs: Mapping[str, Any] | None) -> None:
    if grad_kwargs is None:
        return
    if not isinstance(grad_kwargs, Mapping):
        raise TypeError(f"grad_kwargs must be a dict or None, got {type(grad_kwargs).__name__}")
    for key, value in grad_kwargs.items():
        if key not in GRAD_KWARGS or value is not GRAD_KWARGS[key]:
            always = ", ".join(f"{k}={v}" for k, v in GRAD_KWARGS.items())
            raise ValueError(
                f"grad_kwargs {key}={value!r} is not supported: idgrad's gradient pass always "
                f"calls torch.autograd.grad with {always} (an unused activation gets zero "
                "gradients), and takes no other options"
            )


def _checked_options(cls: str, options: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    """The extra keyword options of a class's ``attribute``, refused by name if unknown."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(
            f"{cls}.attribute() got an unexpected keyword argument {unknown[0]!r}"
            + (f" (it also takes {', '.join(allowed)})" if allowed else "")
        )
    return options


class _PathAttribution:
    """captum's ``Attribution`` contract, shared by the four classes."""

    _function: PathMethod[..., Any]

    def __init__(self, forward_func: Callable[..., Any], multiply_by_inputs: bool) -> None:
        self.forward_func = forward_func
        self._multiply_by_inputs = multiply_by_inputs

    @property
    def multiplies_by_inputs(self) -> bool:
        """Whether attributions are multiplied by ``inputs - baselines``."""
        return self._multiply_by_inputs

    def has_convergence_delta(self) -> bool:
        """Path methods report a convergence delta."""
        return True

    def attribute_future(self) -> None:
        """Not implemented (as in captum's IntegratedGradients)."""
        raise NotImplementedError(f"attribute_future is not implemented for {type(self).__name__}")

    def _options(self) -> dict[str, Any]:
        return {"multiply_by_inputs": self._multiply_by_inputs}

    def _call(self, return_convergence_delta: bool, *args: Any, **kwargs: Any) -> Any:
        kwargs = {**self._options(), **kwargs}
        # captum calls the rule ``method``: translated silently (it is captum's spelling here)
        method = kwargs.pop("method", None)
        schedule, rule = translate_method(
            type(self).__name__,
            kwargs.pop("schedule", None),
            kwargs.pop("rule", None),
            UNSET if method is None else method,
            kwargs.pop("adaptive", UNSET),
            warn=False,
            rule_means_pilot=isinstance(self, _DecisionOptions),
        )
        return captum_result(
            self._function,
            return_convergence_delta,
            self.forward_func,
            *args,
            schedule=schedule,
            rule=rule,
            **kwargs,
        )


class _DecisionOptions(_PathAttribution):
    """IDG's constructor options, passed to every call."""

    n_pilot_steps: int | None
    normalize: bool
    adaptive: Any

    def _options(self) -> dict[str, Any]:
        options = {**super()._options(), "normalize": self.normalize}
        if self.n_pilot_steps is not None:
            options["n_pilot_steps"] = self.n_pilot_steps
        if self.adaptive is not UNSET:
            options["adaptive"] = self.adaptive
        return options

    def _keep(self, adaptive: Any, n_pilot_steps: int | None, normalize: bool) -> None:
        if adaptive is not UNSET:
            translate_method(type(self).__name__, None, None, adaptive=adaptive)  # warns
        self.adaptive = adaptive
        self.n_pilot_steps = n_pilot_steps
        self.normalize = normalize


class IntegratedGradients(_PathAttribution):
    """Integrated Gradients with captum's interface (see :func:`idgrad.integrated_gradients`).

    Example:
        >>> import torch
        >>> model = lambda x: (x ** 2).sum(1)
        >>> ig = IntegratedGradients(model)
        >>> x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
        >>> attr = ig.attribute(x, n_steps=2)
        >>> ig.compute_convergence_delta(attr, 0.0, x).abs().item() < 1e-12
        True
    """

    _function = staticmethod(integrated_gradients)
    #: keyword options of ``attribute`` beyond captum's and the common ones
    _call_options: tuple[str, ...] = ()

    def __init__(
        self, forward_func: Callable[..., Any], multiply_by_inputs: bool = MULTIPLY_BY_INPUTS
    ) -> None:
        super().__init__(forward_func, multiply_by_inputs)

    @_captum_entry
    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        n_steps: int | None = N_STEPS_AUTO,
        method: str | None = RULE_AUTO,
        internal_batch_size: ChunkSize = INTERNAL_BATCH_SIZE,
        return_convergence_delta: bool = False,
        *,
        targets: TargetsType | None = TARGETS,
        schedule: str | None = SCHEDULE_AUTO,
        rule: str | None = RULE_AUTO,
        rtol: float | None = RTOL,
        max_evaluations: int | None = MAX_EVALUATIONS,
        **options: Any,
    ) -> TensorOrTuple | tuple[TensorOrTuple, torch.Tensor]:
        """Attributions shaped like ``inputs`` (and the delta ``(B,)`` on request).

        ``method`` is captum's name for the rule (``rule=``; ``"graded"`` is
        ``schedule="graded"``); ``targets``, ``schedule``, ``rule``, ``rtol``,
        ``max_evaluations`` (and for IDG ``n_pilot_steps``) are the functions'
        (:func:`idgrad.integrated_gradients`, :func:`idgrad.integrated_decision_gradients`):
        with ``targets`` the attributions and the delta gain a leading ``K`` axis. For IDG
        the delta is the pre-rescaling one.
        """
        return self._call(  # type: ignore[no-any-return]
            return_convergence_delta,
            inputs,
            baselines,
            target,
            additional_forward_args,
            targets=targets,
            n_steps=n_steps,
            method=method,
            internal_batch_size=internal_batch_size,
            schedule=schedule,
            rule=rule,
            rtol=rtol,
            max_evaluations=max_evaluations,
            **_checked_options(type(self).__name__, options, self._call_options),
        )

    def compute_convergence_delta(
        self,
        attributions: TensorOrTuple,
        start_point: BaselineType,
        end_point: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Any = None,
    ) -> torch.Tensor:
        """``sum(attributions) - (F(end_point) - F(start_point))`` per example ``(B,)``.

        captum's completeness check for any attributions: ``start_point`` is a
        baseline (None, a number, a tensor or a tuple) for ``end_point``.
        """
        end, _ = as_input_tuple(end_point, "end_point")
        start = expand_baselines(start_point, end)
        seam = ModelSeam.build(self.forward_func, end, target, additional_forward_args)
        with ModelGuard(self.forward_func):
            return completeness_gap(seam, attributions, start, end)


class IntegratedDecisionGradients(_DecisionOptions, IntegratedGradients):
    """Integrated Decision Gradients with captum's interface.

    Args:
        forward_func: the model.
        multiply_by_inputs: multiply by ``inputs - baselines``.
        adaptive: deprecated (``adaptive=False`` is ``attribute(..., schedule="uniform")``).
        n_pilot_steps: the pilot schedule's pilot size (see
            :func:`idgrad.integrated_decision_gradients`).
        normalize: rescale each example to completeness.

    Example:
        >>> import torch
        >>> idg = IntegratedDecisionGradients(lambda x: torch.sigmoid(x.sum(1)))
        >>> x = torch.ones(2, 3, dtype=torch.float64)
        >>> idg.attribute(x, rtol=1e-3).shape  # every option of the function
        torch.Size([2, 3])
    """

    _function = staticmethod(integrated_decision_gradients)
    _call_options = ("n_pilot_steps",)

    def __init__(
        self,
        forward_func: Callable[..., Any],
        multiply_by_inputs: bool = MULTIPLY_BY_INPUTS,
        adaptive: Any = UNSET,
        n_pilot_steps: int | None = N_PILOT_STEPS,
        normalize: bool = NORMALIZE,
    ) -> None:
        super().__init__(forward_func, multiply_by_inputs)
        self._keep(adaptive, n_pilot_steps, normalize)


class LayerIntegratedGradients(_PathAttribution):
    """Layer Integrated Gradients with captum's interface.

    See :func:`idgrad.layer_integrated_gradients`. Mirrors
    ``captum.attr.LayerIntegratedGradients(forward_func, layer, device_ids=None,
    multiply_by_inputs=True)``; a list of layers gives a list of attributions.

    Args:
        forward_func: the model.
        layer: an ``nn.Module`` of the model, or a list of independent ones.
        device_ids: accepted for signature compatibility; only None is supported
            (hook the module inside ``DataParallel``, or run without it).
        multiply_by_inputs: multiply by the activation difference ``a - a'``.

    Example:
        >>> import torch
        >>> emb, head = torch.nn.Embedding(6, 4), torch.nn.Linear(4, 2)
        >>> model = lambda ids: head(emb(ids).mean(1))
        >>> lig = LayerIntegratedGradients(model, emb)
        >>> lig.attribute(torch.tensor([[1, 2, 3]]), baselines=0, target=1).shape
        torch.Size([1, 3, 4])
    """

    _function = staticmethod(layer_integrated_gradients)
    _call_options: tuple[str, ...] = ()

    def __init__(
        self,
        forward_func: Callable[..., Any],
        layer: LayerSpec,
        device_ids: list[int] | None = None,
        multiply_by_inputs: bool = MULTIPLY_BY_INPUTS,
    ) -> None:
        if device_ids is not None:
            raise ValueError(
                "device_ids (captum's DataParallel scatter) is not supported; pass the "
                "model and layer without DataParallel"
            )
        super().__init__(forward_func, multiply_by_inputs)
        self.layer = layer
        self.device_ids = device_ids

    def _call(self, return_convergence_delta: bool, *args: Any, **kwargs: Any) -> Any:
        _check_grad_kwargs(kwargs.pop("grad_kwargs"))
        return super()._call(return_convergence_delta, self.layer, *args, **kwargs)

    @_captum_entry
    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        n_steps: int | None = N_STEPS_AUTO,
        method: str | None = RULE_AUTO,
        internal_batch_size: ChunkSize = INTERNAL_BATCH_SIZE,
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = ATTRIBUTE_TO_LAYER_INPUT,
        grad_kwargs: dict[str, Any] | None = None,
        *,
        targets: TargetsType | None = TARGETS,
        schedule: str | None = SCHEDULE_AUTO,
        rule: str | None = RULE_AUTO,
        rtol: float | None = RTOL,
        max_evaluations: int | None = MAX_EVALUATIONS,
        **options: Any,
    ) -> LayerAttributions | tuple[LayerAttributions, torch.Tensor]:
        """Attributions shaped like the layer's activations (and the delta ``(B,)``).

        ``method`` is captum's name for the rule; ``targets``, ``schedule``, ``rule``,
        ``rtol``, ``max_evaluations`` (and for IDG ``n_pilot_steps``) are the functions'
        (with ``targets`` a leading ``K`` axis). For IDG the delta is the pre-rescaling one.

        ``grad_kwargs`` may only repeat what idgrad's gradient pass always does
        (:data:`GRAD_KWARGS`, e.g. ``{"materialize_grads": True}``); anything else is
        refused with a ValueError.
        """
        return self._call(  # type: ignore[no-any-return]
            return_convergence_delta,
            inputs,
            baselines,
            target,
            additional_forward_args,
            targets=targets,
            n_steps=n_steps,
            method=method,
            internal_batch_size=internal_batch_size,
            attribute_to_layer_input=attribute_to_layer_input,
            grad_kwargs=grad_kwargs,
            schedule=schedule,
            rule=rule,
            rtol=rtol,
            max_evaluations=max_evaluations,
            **_checked_options(type(self).__name__, options, self._call_options),
        )

    def compute_convergence_delta(
        self,
        attributions: LayerAttributions,
        start_point: BaselineType,
        end_point: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Any = None,
    ) -> torch.Tensor:
        """``sum(attributions) - (F(end_point) - F(start_point))`` per example ``(B,)``.

        As captum: the attributions are the layer's (any form, summed per example),
        ``start_point`` and ``end_point`` the model's own baselines and inputs.
        """
        path, _ = LayerPath.build(
            self.forward_func,
            self.layer,
            end_point,
            start_point,
            target,
            additional_forward_args,
            False,
        )
        with ModelGuard(self.forward_func, self.layer):
            return completeness_gap(path.seam, attributions, path.baselines, path.inputs)


class LayerIntegratedDecisionGradients(_DecisionOptions, LayerIntegratedGradients):
    """Layer Integrated Decision Gradients with captum's interface.

    See :func:`idgrad.layer_integrated_decision_gradients`.

    Args:
        forward_func, layer, device_ids, multiply_by_inputs: as in
            :class:`LayerIntegratedGradients`.
        adaptive: deprecated (``adaptive=False`` is ``attribute(..., schedule="uniform")``).
        n_pilot_steps: the pilot schedule's pilot size (see
            :func:`idgrad.integrated_decision_gradients`).
        normalize: rescale each example to completeness along the layer path.
    """

    _function = staticmethod(layer_integrated_decision_gradients)
    _call_options = ("n_pilot_steps",)

    def __init__(
        self,
        forward_func: Callable[..., Any],
        layer: LayerSpec,
        device_ids: list[int] | None = None,
        multiply_by_inputs: bool = MULTIPLY_BY_INPUTS,
        adaptive: Any = UNSET,
        n_pilot_steps: int | None = N_PILOT_STEPS,
        normalize: bool = NORMALIZE,
    ) -> None:
        super().__init__(forward_func, layer, device_ids, multiply_by_inputs)
        self._keep(adaptive, n_pilot_steps, normalize)
