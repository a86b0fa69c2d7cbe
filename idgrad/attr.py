"""captum-style classes: ``IntegratedGradients`` and ``IntegratedDecisionGradients``.

Thin wrappers over :func:`idgrad.integrated_gradients` and
:func:`idgrad.integrated_decision_gradients` with captum's constructor and
``attribute`` signature, so code written for ``captum.attr.IntegratedGradients``
runs unchanged (with exact trapezoid weights and float64 step weights).

Example:
    >>> import torch
    >>> ig = IntegratedGradients(torch.nn.Linear(3, 2))
    >>> attr, delta = ig.attribute(torch.rand(4, 3), target=1, return_convergence_delta=True)
    >>> attr.shape, delta.shape
    (torch.Size([4, 3]), torch.Size([4]))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from idgrad.methods import integrated_decision_gradients, integrated_gradients
from idgrad.seam import BaselineType, TargetType, TensorOrTuple

__all__ = ["IntegratedGradients", "IntegratedDecisionGradients"]


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

    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: int | None = None,
        return_convergence_delta: bool = False,
    ) -> TensorOrTuple | tuple[TensorOrTuple, torch.Tensor]:
        """Attributions shaped like ``inputs`` (and the delta ``(B,)`` on request)."""
        return integrated_gradients(
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

    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: int | None = None,
        return_convergence_delta: bool = False,
    ) -> TensorOrTuple | tuple[TensorOrTuple, torch.Tensor]:
        """Attributions shaped like ``inputs`` (and the pre-rescaling delta on request)."""
        return integrated_decision_gradients(
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
