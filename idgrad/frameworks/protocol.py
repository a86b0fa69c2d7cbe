"""The model protocol: what the engine needs from a model of any framework.

The engine (:mod:`idgrad.engine`) works on torch tensors and asks a model for two things
only, through a seam (:class:`idgrad.core.seam.ModelSeam`), for a chunk of ``n`` path points
``(n, ...)`` (one tensor per input) and ``rows`` ``(n,)``, the example of each point:

* ``scalars(points, rows, where)``: the target scalar ``F`` at each point, ``(n,)``;
* ``scalars_and_grads(points, rows, where)``: ``F`` and ``grad F`` (one tensor per input).

A torch model is called directly. A model of another framework is wrapped in a
:class:`ModelAdapter`, which

* is callable on torch tensors, forward only (``adapter(*points, *extra) -> outputs``), so
  that what only reads outputs (``target="predicted"``, the metrics, the dataset runner)
  calls it as it would call a torch model;
* builds its own seam (:meth:`ModelAdapter.idgrad_seam`), whose two calls convert the points
  to the framework's arrays, evaluate ``F`` and ``grad F`` there and convert back;
* converts the caller's arrays to torch tensors at the entry of a public function and the
  results back at its exit (:meth:`ModelAdapter.to_torch`, :meth:`ModelAdapter.from_torch`;
  see :mod:`idgrad.frameworks.boundary`).

Adapters: :class:`idgrad.frameworks.jax.JaxModel` (a pure JAX function, evaluated with
``jax.value_and_grad`` under ``jax.vmap`` and ``jax.jit``) and
:class:`idgrad.frameworks.callback.CallbackModel` (``fn(points, target) -> (outputs,
gradients)`` on numpy arrays, for any other framework).

Example:
    >>> import numpy as np, torch
    >>> from idgrad.frameworks.callback import CallbackModel
    >>> adapter = CallbackModel(lambda p, t: (p.sum(1), None if t is None else np.ones_like(p)))
    >>> isinstance(adapter, ModelAdapter), adapter.framework
    (True, 'callback')
    >>> adapter(torch.ones(2, 3))                     # forward only, on torch tensors
    tensor([3., 3.])
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import torch

if TYPE_CHECKING:
    from idgrad.core.seam import ModelSeam, _ExtraArgs
    from idgrad.core.targets import Target

__all__ = ["ModelAdapter"]


class ModelAdapter(ABC):
    """A model of another framework, seen by idgrad's engine (see the module docstring).

    Subclasses set ``framework`` and implement the four methods below.
    """

    #: The framework's name, in messages (``"jax"``, ``"callback"``).
    framework: ClassVar[str]
    #: What the caller's arrays are called, in messages (``"JAX arrays"``).
    arrays: ClassVar[str]

    @abstractmethod
    def __call__(self, *args: Any) -> Any:
        """Forward only: the model's outputs at torch inputs (and extra arguments), as torch."""

    @abstractmethod
    def idgrad_seam(
        self,
        inputs: tuple[torch.Tensor, ...],
        target: Target,
        extra: _ExtraArgs,
        batch_size: int,
        chunk: int | None,
    ) -> ModelSeam:
        """The seam the engine calls (``scalars``, ``scalars_and_grads``) for one call.

        Called by :meth:`idgrad.core.seam.ModelSeam.build` once the target is resolved;
        checks what it can (output shapes, the target, differentiability) before any path
        work.
        """

    @abstractmethod
    def owns(self, value: Any) -> bool:
        """Whether ``value`` is an array of this framework (converted at the entry)."""

    @abstractmethod
    def to_torch(self, value: Any) -> torch.Tensor:
        """An array of this framework as a torch tensor (without a copy where possible)."""

    @abstractmethod
    def from_torch(self, tensor: torch.Tensor) -> Any:
        """A torch tensor as an array of this framework (without a copy where possible)."""

    def fingerprint(self) -> bytes:
        """Bytes that change when the model's weights do (for resumable dataset runs).

        The default: the adapter's class and the wrapped function's name only.
        """
        fn = getattr(self, "fn", None)
        name = getattr(fn, "__qualname__", type(fn).__qualname__)
        return f"{type(self).__qualname__}:{name}".encode()
