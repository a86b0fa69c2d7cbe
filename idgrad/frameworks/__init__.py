"""Models of other frameworks: JAX (Flax, Haiku, Equinox) and any framework through a callback.

Every public function of idgrad takes them as it takes torch models: the inputs' type picks
the adapter (JAX arrays: :class:`~idgrad.frameworks.jax.JaxModel`; numpy arrays:
:class:`~idgrad.frameworks.callback.CallbackModel`), and the results come back in the
inputs' framework. Wrap the model yourself where its kind cannot be told from the inputs.
Modules: :mod:`~idgrad.frameworks.protocol` (what the engine needs from a model),
:mod:`~idgrad.frameworks.boundary` (the conversions at a public function's entry and exit),
:mod:`~idgrad.frameworks.jax` (imports jax, so only when asked; its seam and compiled
programs: :mod:`~idgrad.frameworks.jax_seam`, :mod:`~idgrad.frameworks.jax_programs`) and
:mod:`~idgrad.frameworks.callback`.

Example:
    >>> import numpy as np, idgrad
    >>> from idgrad.frameworks import CallbackModel
    >>> def fn(points, target):            # F = sum of squares, its gradient 2 x
    ...     return (points ** 2).sum(1), None if target is None else 2 * points
    >>> x = np.array([[1.0, 2.0]])
    >>> idgrad.integrated_gradients(CallbackModel(fn), x, n_steps=2)
    array([[1., 4.]])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from idgrad.frameworks.boundary import Bound, bind
from idgrad.frameworks.callback import CallbackModel
from idgrad.frameworks.protocol import ModelAdapter

if TYPE_CHECKING:
    from idgrad.frameworks.jax import JaxModel

__all__ = ["Bound", "CallbackModel", "JaxModel", "ModelAdapter", "bind"]


def __getattr__(name: str) -> Any:
    if name == "JaxModel":  # imports jax: only when asked for
        from idgrad.frameworks.jax import JaxModel

        return JaxModel
    raise AttributeError(f"module 'idgrad.frameworks' has no attribute {name!r}")
