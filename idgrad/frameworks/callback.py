"""The callback adapter: a model of any framework, through one numpy function.

For TensorFlow, Keras 3 (on any backend), or anything else that can compute a gradient,
write one function

    fn(points, target) -> (outputs, gradients)

* ``points``: the path points, a numpy array ``(n, ...)`` (a tuple of them for several
  inputs), in the inputs' dtype;
* ``target``: ``None`` when only the outputs are needed (forward only; return ``None`` or
  anything as the gradients), else an int64 array ``(n, depth)``: for each point, the index
  into that point's output of the scalar ``F`` to differentiate (``depth = 0``: the output
  is one scalar per point);
* ``outputs``: the model's outputs at the points, ``(n, ...)`` (all of them: idgrad picks
  ``F`` with the same target rules as for torch models);
* ``gradients``: ``d F_i / d points_i``, shaped like ``points``.

idgrad's schedules, budgets, error control and chunking then work as for torch models
(``internal_batch_size`` bounds ``n``). Inputs given as numpy arrays pick this adapter by
themselves and the results come back as numpy arrays. A target must be an index (an int,
a tuple, one per example, ``"predicted"``): a callable target would need gradients through
it, which the callback cannot give; extra forward arguments are refused (bind them into the
callback).

Example:
    >>> import numpy as np, idgrad
    >>> w = np.array([[1.0, -1.0], [2.0, 0.5]])              # a linear model, 2 classes
    >>> def fn(points, target):
    ...     outputs = points @ w
    ...     if target is None:
    ...         return outputs, None
    ...     return outputs, w[:, target[:, 0]].T             # d outputs[i, k] / d points[i]
    >>> x = np.array([[1.0, 2.0]])
    >>> idgrad.integrated_gradients(fn, x, target=1, n_steps=4)
    array([[-1.,  1.]])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from idgrad.core.seam import ModelSeam, PointLabel, _ExtraArgs
from idgrad.core.targets import Target
from idgrad.core.validation import finite_flag
from idgrad.frameworks.protocol import ModelAdapter

__all__ = ["CallbackModel", "CallbackSeam"]

_HOW = "it is called as fn(points, target) -> (outputs, gradients) (see idgrad.frameworks.callback)"


class CallbackModel(ModelAdapter):
    """A model given as ``fn(points, target) -> (outputs, gradients)`` (module docstring).

    Args:
        fn: the callback.

    Example:
        >>> import numpy as np, torch
        >>> model = CallbackModel(lambda p, t: (p * 2, None))
        >>> model(torch.ones(1, 2))                          # forward only, torch in and out
        tensor([[2., 2.]])
    """

    framework = "callback"
    arrays = "numpy arrays"

    def __init__(self, fn: Callable[..., Any] | None) -> None:
        if fn is not None and not callable(fn):
            raise TypeError(f"CallbackModel needs a callable, got {type(fn).__name__}")
        self.fn = fn
        #: Calls of the callback so far (forward-only and with gradients).
        self.calls = 0

    def owns(self, value: Any) -> bool:
        return isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating)

    def to_torch(self, value: Any) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(value))

    def from_torch(self, tensor: torch.Tensor) -> Any:
        return tensor.detach().cpu().numpy()

    def invoke(self, points: tuple[torch.Tensor, ...], index: np.ndarray | None) -> tuple[Any, Any]:
        """Call the callback on torch points; its outputs as torch, its gradients as given."""
        if self.fn is None:
            raise TypeError("this CallbackModel has no callback")
        arrays = tuple(p.detach().cpu().numpy() for p in points)
        self.calls += 1
        try:
            result = self.fn(arrays if len(arrays) > 1 else arrays[0], index)
        except TypeError as err:
            raise TypeError(
                f"the model was called as a callback because the inputs are numpy arrays, and "
                f"it failed ({err}); {_HOW}. For a JAX function, pass JAX arrays or "
                "idgrad.frameworks.JaxModel(f); for a torch model, torch tensors"
            ) from err
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise TypeError(f"the callback returned {type(result).__name__}, not a pair; {_HOW}")
        outputs, gradients = result
        return _outputs_to_torch(outputs, points[0].device), gradients

    def __call__(self, *args: Any) -> Any:
        points = tuple(a for a in args if isinstance(a, torch.Tensor))
        if len(points) != len(args):
            raise TypeError(f"the callback takes no extra forward arguments; {_HOW}")
        return self.invoke(points, None)[0]

    def idgrad_seam(
        self,
        inputs: tuple[torch.Tensor, ...],
        target: Target,
        extra: _ExtraArgs,
        batch_size: int,
        chunk: int | None,
    ) -> ModelSeam:
        if extra.items:
            raise TypeError(
                "the callback adapter takes no additional_forward_args; bind them into the "
                "callback (functools.partial or a closure)"
            )
        if target.callable is not None:
            raise TypeError(
                "a callable target needs gradients through it, which a callback cannot give; "
                "give an index (an int, a tuple, one per example or 'predicted') and compute "
                "any other scalar inside the callback"
            )
        return CallbackSeam(self, target, extra, batch_size)


def _outputs_to_torch(outputs: Any, device: torch.device) -> torch.Tensor:
    try:
        array = np.asarray(outputs)
    except Exception as err:  # noqa: BLE001 -- whatever the framework's tensor refuses
        raise TypeError(
            f"the callback's outputs ({type(outputs).__name__}) cannot be read as a numpy "
            f"array: {err}"
        ) from err
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"the callback returned {array.dtype} outputs; {_HOW}")
    return torch.from_numpy(np.ascontiguousarray(array)).to(device)


class CallbackSeam(ModelSeam):
    """The seam of a :class:`CallbackModel`: one callback call per chunk of points."""

    target: Target  # one target: ModelSeam.build refuses targets= for an adapter

    def __init__(
        self, adapter: CallbackModel, target: Target, extra: _ExtraArgs, batch_size: int
    ) -> None:
        super().__init__(adapter, target, extra, batch_size)
        self.adapter = adapter

    def _index(self, rows: torch.Tensor) -> np.ndarray:
        n = int(rows.shape[0])
        if self.target.fixed is not None:
            return np.broadcast_to(
                np.asarray(self.target.fixed, np.int64), (n, len(self.target.fixed))
            ).copy()
        assert self.target.per_example is not None
        return self.target.per_example.index_select(0, rows.cpu()).numpy().astype(np.int64)

    def scalars(
        self,
        points: tuple[torch.Tensor, ...],
        rows: torch.Tensor,
        where: PointLabel | None = None,
    ) -> torch.Tensor:
        outputs, _ = self.adapter.invoke(points, None)
        values = self.target.select(outputs, rows)
        if not bool(finite_flag((values,))):
            self._raise_non_finite(values, (), rows, where)
        return values

    def scalars_and_grads(
        self,
        points: tuple[torch.Tensor, ...],
        rows: torch.Tensor,
        where: PointLabel | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        outputs, gradients = self.adapter.invoke(points, self._index(rows))
        values = self.target.select(outputs, rows)
        given = gradients if isinstance(gradients, (tuple, list)) else (gradients,)
        if len(given) != len(points):
            raise ValueError(
                f"the callback returned {len(given)} gradient arrays for {len(points)} inputs; "
                "give one per input, shaped like it"
            )
        grads = []
        for k, (g, p) in enumerate(zip(given, points)):
            of = f" for input {k}" if len(points) > 1 else ""
            if g is None:
                raise ValueError(
                    f"the callback returned no gradients{of} although a target was given; {_HOW}"
                )
            array = np.asarray(g)
            if array.shape != tuple(p.shape):
                raise ValueError(
                    f"the callback returned gradients of shape {array.shape}{of} for points of "
                    f"shape {tuple(p.shape)}; they must have the points' shape"
                )
            grads.append(torch.from_numpy(np.ascontiguousarray(array)).to(p.device, p.dtype))
        if not bool(finite_flag((values, *grads))):
            self._raise_non_finite(values, grads, rows, where)
        return values, tuple(grads)
