"""captum-style classes: ``IntegratedGradients`` and ``IntegratedDecisionGradients``.

Thin wrappers over :func:`idgrad.integrated_gradients` and
:func:`idgrad.integrated_decision_gradients` with captum's constructor and
``attribute`` signature, so code written for ``captum.attr.IntegratedGradients``
runs unchanged (with exact trapezoid weights and float64 step weights).
``LayerIntegratedGradients`` and ``LayerIntegratedDecisionGradients`` do the same for
:mod:`idgrad.layer`. Every ``attribute`` carries ``__wrapped__``, so instances work
inside ``captum.attr.NoiseTunnel``.

Example:
    >>> import torch
    >>> ig = IntegratedGradients(torch.nn.Linear(3, 2))
    >>> attr, delta = ig.attribute(torch.rand(4, 3), target=1, return_convergence_delta=True)
    >>> attr.shape, delta.shape
    (torch.Size([4, 3]), torch.Size([4]))
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import torch

from idgrad.integrator import ChunkSize
from idgrad.layer import (
    LayerAttributions,
    LayerSpec,
    layer_integrated_decision_gradients,
    layer_integrated_gradients,
)
from idgrad.methods import integrated_decision_gradients, integrated_gradients
from idgrad.seam import BaselineType, TargetType, TensorOrTuple

__all__ = [
    "IntegratedDecisionGradients",
    "IntegratedGradients",
    "LayerIntegratedDecisionGradients",
    "LayerIntegratedGradients",
]

_F = TypeVar("_F", bound=Callable[..., Any])


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


class IntegratedGradients:
    """Integrated Gradients with captum's interface (see :func:`idgrad.integrated_gradients`)."""

    def __init__(self, forward_func: Callable[..., Any], multiply_by_inputs: bool = True) -> None:
        self.forward_func = forward_func
        self._multiply_by_inputs = multiply_by_inputs

    @property
    def multiplies_by_inputs(self) -> bool:
        """Whether attributions are multiplied by ``inputs - baselines``."""
        return self._multiply_by_inputs

    def has_convergence_delta(self) -> bool:
        """Path methods report a convergence delta."""
        return True

    @_captum_entry
    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: ChunkSize = "auto",
        return_convergence_delta: bool = False,
    ) -> TensorOrTuple | tuple[TensorOrTuple, torch.Tensor]:
        """Attributions shaped like ``inputs`` (and the delta ``(B,)`` on request)."""
        result = integrated_gradients(
            self.forward_func,
            inputs,
            baselines=baselines,
            target=target,
            additional_forward_args=additional_forward_args,
            n_steps=n_steps,
            method=method,
            internal_batch_size=internal_batch_size,
            multiply_by_inputs=self._multiply_by_inputs,
            return_convergence_delta=return_convergence_delta,
        )
        return cast("TensorOrTuple | tuple[TensorOrTuple, torch.Tensor]", result)


class IntegratedDecisionGradients(IntegratedGradients):
    """Integrated Decision Gradients with captum's interface.

    Args:
        forward_func: the model.
        multiply_by_inputs: multiply by ``inputs - baselines``.
        adaptive: pilot-based adaptive schedule (see
            :func:`idgrad.integrated_decision_gradients`).
        n_pilot_steps: pilot size (None: :func:`idgrad.default_pilot_steps`).
        normalize: rescale each example to completeness.
    """

    def __init__(
        self,
        forward_func: Callable[..., Any],
        multiply_by_inputs: bool = True,
        adaptive: bool = True,
        n_pilot_steps: int | None = None,
        normalize: bool = True,
    ) -> None:
        super().__init__(forward_func, multiply_by_inputs)
        self.adaptive = adaptive
        self.n_pilot_steps = n_pilot_steps
        self.normalize = normalize

    @_captum_entry
    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: ChunkSize = "auto",
        return_convergence_delta: bool = False,
    ) -> TensorOrTuple | tuple[TensorOrTuple, torch.Tensor]:
        """Attributions shaped like ``inputs`` (and the pre-rescaling delta on request)."""
        result = integrated_decision_gradients(
            self.forward_func,
            inputs,
            baselines=baselines,
            target=target,
            additional_forward_args=additional_forward_args,
            n_steps=n_steps,
            adaptive=self.adaptive,
            n_pilot_steps=self.n_pilot_steps,
            method=method,
            internal_batch_size=internal_batch_size,
            multiply_by_inputs=self._multiply_by_inputs,
            normalize=self.normalize,
            return_convergence_delta=return_convergence_delta,
        )
        return cast("TensorOrTuple | tuple[TensorOrTuple, torch.Tensor]", result)


class LayerIntegratedGradients:
    """Layer Integrated Gradients with captum's interface.

    See :func:`idgrad.layer_integrated_gradients`. Mirrors
    ``captum.attr.LayerIntegratedGradients(forward_func, layer, device_ids=None,
    multiply_by_inputs=True)``.

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

    def __init__(
        self,
        forward_func: Callable[..., Any],
        layer: LayerSpec,
        device_ids: list[int] | None = None,
        multiply_by_inputs: bool = True,
    ) -> None:
        if device_ids is not None:
            raise ValueError(
                "device_ids (captum's DataParallel scatter) is not supported; pass the "
                "model and layer without DataParallel"
            )
        self.forward_func = forward_func
        self.layer = layer
        self.device_ids = device_ids
        self._multiply_by_inputs = multiply_by_inputs

    @property
    def multiplies_by_inputs(self) -> bool:
        """Whether attributions are multiplied by ``a - a'``."""
        return self._multiply_by_inputs

    def has_convergence_delta(self) -> bool:
        """Path methods report a convergence delta."""
        return True

    @_captum_entry
    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: ChunkSize = "auto",
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
    ) -> LayerAttributions | tuple[LayerAttributions, torch.Tensor]:
        """Attributions shaped like the layer's activations (and the delta ``(B,)``)."""
        return layer_integrated_gradients(
            self.forward_func,
            self.layer,
            inputs,
            baselines=baselines,
            target=target,
            additional_forward_args=additional_forward_args,
            n_steps=n_steps,
            method=method,
            internal_batch_size=internal_batch_size,
            attribute_to_layer_input=attribute_to_layer_input,
            multiply_by_inputs=self._multiply_by_inputs,
            return_convergence_delta=return_convergence_delta,
        )


class LayerIntegratedDecisionGradients(LayerIntegratedGradients):
    """Layer Integrated Decision Gradients with captum's interface.

    See :func:`idgrad.layer_integrated_decision_gradients`.

    Args:
        forward_func, layer, device_ids, multiply_by_inputs: as in
            :class:`LayerIntegratedGradients`.
        adaptive: pilot-based adaptive schedule.
        n_pilot_steps: pilot size (None: :func:`idgrad.default_pilot_steps`).
        normalize: rescale each example to completeness along the layer path.
    """

    def __init__(
        self,
        forward_func: Callable[..., Any],
        layer: LayerSpec,
        device_ids: list[int] | None = None,
        multiply_by_inputs: bool = True,
        adaptive: bool = True,
        n_pilot_steps: int | None = None,
        normalize: bool = True,
    ) -> None:
        super().__init__(forward_func, layer, device_ids, multiply_by_inputs)
        self.adaptive = adaptive
        self.n_pilot_steps = n_pilot_steps
        self.normalize = normalize

    @_captum_entry
    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: ChunkSize = "auto",
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
    ) -> LayerAttributions | tuple[LayerAttributions, torch.Tensor]:
        """Attributions shaped like the layer's activations (and the pre-rescaling delta)."""
        return layer_integrated_decision_gradients(
            self.forward_func,
            self.layer,
            inputs,
            baselines=baselines,
            target=target,
            additional_forward_args=additional_forward_args,
            n_steps=n_steps,
            adaptive=self.adaptive,
            n_pilot_steps=self.n_pilot_steps,
            method=method,
            internal_batch_size=internal_batch_size,
            attribute_to_layer_input=attribute_to_layer_input,
            multiply_by_inputs=self._multiply_by_inputs,
            normalize=self.normalize,
            return_convergence_delta=return_convergence_delta,
        )
