"""What ``target`` means, everywhere in idgrad: the one place that resolves it.

A model maps a batch of ``B`` examples to an output ``(B, ...)``; path methods need
one scalar per example. ``target`` says which one:

* ``None``: the output already is one scalar per example, ``(B,)`` or ``(B, 1)``;
* ``"predicted"``: the class the model predicts at the inputs (an output
  ``(B, classes)``), found by one forward pass before any path work
  (:func:`resolve_target`);
* an int, or a tuple of ints for an output with several axes after the batch axis:
  the same index for every example; negative indices count from the end, as in
  Python;
* an integer tensor ``(B,)`` or ``(B, depth)``, a numpy array, or a list of ``B``
  ints or tuples: one index per example;
* a one-element tensor or list: that index for every example (as in captum);
* a callable ``output -> (n,)``: one scalar per row of the output it is given.

A bool, a bool tensor, a float tensor or any other string is refused with a
``TypeError``.

Metrics and AGI explain a class of a classifier and use :func:`class_indices`, the
same rules reduced to one class per example; ``None`` (one scalar per example) has
no class, so they are given ``"predicted"`` or indices instead.

``targets`` (the plural, several outputs in one call) is :mod:`idgrad.core.fan`'s.

Example:
    >>> out = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]])
    >>> t = Target(-1, batch_size=2)
    >>> t.select(out, torch.arange(2)).tolist()
    [0.0, 0.10000000149011612]
    >>> resolve_target("predicted", out).tolist()
    [1, 0]
    >>> class_indices(torch.tensor([-1]), batch_size=2, n_classes=3).tolist()
    [2, 2]
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

import numpy as np
import torch

from idgrad.core.validation import NonFiniteError

__all__ = [
    "PREDICTED",
    "TARGET_DOC",
    "TARGET_FORMS",
    "Target",
    "TargetType",
    "class_indices",
    "is_predicted",
    "predicted_classes",
    "resolve_target",
]

PREDICTED: Final = "predicted"

TargetType = (
    None
    | Literal["predicted"]
    | int
    | tuple[int, ...]
    | torch.Tensor
    | np.ndarray
    | Sequence[int | tuple[int, ...]]
    | Callable[[Any], torch.Tensor]
)

#: The one description of ``target`` that every method's docstring repeats.
TARGET_DOC: Final = (
    "target: which output to explain (see :mod:`idgrad.core.targets`): None (the model "
    'returns one scalar per example), ``"predicted"`` (the predicted class at the '
    "inputs), an int or a tuple index (negative counts from the end), an integer "
    "tensor ``(B,)`` / ``(B, depth)`` or a list with one index per example (one "
    "element: for every example), or a callable ``output -> (n,)``."
)

#: The forms ``target`` takes, as error messages list them.
TARGET_FORMS: Final = (
    "None, 'predicted', an int, a tuple of ints, an integer tensor or array, a list "
    "with one index per example, or a callable"
)


def is_predicted(target: Any) -> bool:
    """Whether ``target`` asks for the predicted class (the string ``"predicted"``)."""
    return isinstance(target, str) and target == PREDICTED


def _index_tuple(t: tuple[Any, ...], label: str) -> tuple[int, ...]:
    for v in t:
        if isinstance(v, (bool, np.bool_)) or (
            isinstance(v, torch.Tensor) and v.dtype == torch.bool
        ):
            raise TypeError(f"{label} must hold ints, not bools: {t!r}")
        if isinstance(v, torch.Tensor) and v.ndim == 0 and not v.is_floating_point():
            continue
        if not isinstance(v, numbers.Integral):
            raise TypeError(f"{label} must hold ints, got {t!r}")
    return tuple(int(v) for v in t)


class Target:
    """A validated ``target`` for a batch of ``batch_size`` examples.

    :meth:`select` turns a model output ``(n, ...)`` (``n`` points of any examples)
    into one scalar per point. ``value`` is the target as given. ``of`` names the
    examples in messages (``"a dataset"`` when ``batch_size`` counts a dataset's).
    """

    def __init__(self, target: TargetType, batch_size: int, *, of: str = "a batch") -> None:
        self.value = target
        self.batch_size = batch_size
        self.of = of
        self.callable: Callable[[Any], torch.Tensor] | None = None
        self.fixed: tuple[int, ...] | None = None
        self.per_example: torch.Tensor | None = None  # (B, depth) long
        self._checked_dims: set[tuple[int, ...]] = set()  # output shapes (after B) checked
        if isinstance(target, np.ndarray):
            if target.dtype == np.bool_:
                raise TypeError("target array holds bools; give integer indices")
            if not np.issubdtype(target.dtype, np.integer):
                raise TypeError(f"target array must hold integers, got {target.dtype}")
            target = torch.from_numpy(np.ascontiguousarray(target, dtype=np.int64))
        if target is None:
            self.fixed = ()
        elif isinstance(target, str):
            if is_predicted(target):
                raise TypeError(
                    "target='predicted' must be resolved to classes first "
                    "(idgrad.core.targets.resolve_target)"
                )
            raise TypeError(f"target must be {TARGET_FORMS}; got the string {target!r}")
        elif callable(target) and not isinstance(target, torch.Tensor):
            self.callable = target
        elif isinstance(target, (bool, np.bool_)):
            raise TypeError(f"target must be {TARGET_FORMS}; not a bool")
        elif isinstance(target, numbers.Integral):
            self.fixed = (int(target),)
        elif isinstance(target, tuple):
            self.fixed = _index_tuple(target, "target")
        elif isinstance(target, torch.Tensor):
            self._from_tensor(target.detach(), batch_size)
        elif isinstance(target, list):
            self._from_list(target, batch_size)
        else:
            raise TypeError(f"target must be {TARGET_FORMS}; got {type(target).__name__}")

    def _from_tensor(self, target: torch.Tensor, batch: int) -> None:
        if target.dtype == torch.bool:
            raise TypeError("target tensor holds bools; give integer indices")
        if target.is_floating_point() or target.is_complex():
            raise TypeError(f"target tensor must hold integers, got {target.dtype}")
        if target.ndim == 0:
            self.fixed = (int(target),)
        elif target.ndim in (1, 2) and target.shape[0] == batch:
            self.per_example = target.to(torch.long).reshape(batch, -1)
        elif target.ndim in (1, 2) and target.shape[0] == 1:  # one entry for every example
            self.fixed = tuple(int(v) for v in target.reshape(-1))
        else:
            raise ValueError(
                f"target tensor has shape {tuple(target.shape)}; expected a scalar, "
                f"({batch},) or ({batch}, depth) for {self.of} of {batch}, or one entry "
                "for every example"
            )

    def _from_list(self, target: list[Any], batch: int) -> None:
        if len(target) not in (batch, 1):
            raise ValueError(
                f"target list has {len(target)} entries for {self.of} of {batch}; give one "
                "per example, or one for every example"
            )
        rows = [
            _index_tuple(t if isinstance(t, tuple) else (t,), f"target[{i}]")
            for i, t in enumerate(target)
        ]
        if len({len(r) for r in rows}) != 1:
            raise ValueError("every entry of a target list must have the same depth")
        if len(rows) == 1 and batch != 1:
            self.fixed = rows[0]
        else:
            self.per_example = torch.tensor(rows, dtype=torch.long)

    @property
    def depth(self) -> int | None:
        """Indices per example (0 for None), or None for a callable."""
        if self.fixed is not None:
            return len(self.fixed)
        return None if self.per_example is None else int(self.per_example.shape[1])

    def select(self, output: Any, rows: torch.Tensor) -> torch.Tensor:
        """Scalar per point from a model ``output``; ``rows`` = example of each point."""
        n = int(rows.shape[0])
        if self.callable is not None:
            return self._call(output, n)
        if not isinstance(output, torch.Tensor):
            raise TypeError(
                f"the model returned {type(output).__name__}; pass a callable target that "
                "picks one scalar per example from it"
            )
        if output.ndim == 0 or output.shape[0] != n:
            raise ValueError(
                f"the model returned shape {tuple(output.shape)} when called on {n} rows; "
                "its first axis must be the batch axis (one row per input row)"
            )
        dims = tuple(output.shape[1:])
        if dims not in self._checked_dims:  # once per output shape, for every example
            self._check_range(dims)
            self._checked_dims.add(dims)
        if self.fixed is not None:
            value = output[(slice(None),) + self.fixed] if self.fixed else output
        else:
            assert self.per_example is not None  # set whenever fixed and callable are not
            index_rows = self.per_example.to(output.device)[rows]
            value = output[
                (torch.arange(n, device=output.device),)
                + tuple(index_rows[:, d] for d in range(index_rows.shape[1]))
            ]
        if value.ndim == 2 and value.shape[1] == 1:
            value = value[:, 0]
        if value.ndim != 1:
            raise ValueError(self._not_scalar(dims, tuple(value.shape[1:])))
        return value

    def _call(self, output: Any, n: int) -> torch.Tensor:
        value = self.callable(output)  # type: ignore[misc]
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"the target callable must return a tensor, got {type(value).__name__}")
        if value.shape not in ((n,), (n, 1)):
            got = (
                f"shape {tuple(value.shape[1:])} per row"
                if value.ndim > 0 and value.shape[0] == n
                else "a tensor whose first axis does not run over the output's rows"
            )
            raise ValueError(
                f"the target callable must return one scalar per row of the model output "
                f"it is given; it returned {got}"
            )
        return value.reshape(n)

    def _not_scalar(self, dims: tuple[int, ...], picked: tuple[int, ...]) -> str:
        where = f"the model's output per example has shape {dims} ({self.of} of {self.batch_size})"
        if self.fixed == ():
            return (
                f"target=None needs a model that returns one scalar per example, but {where}; "
                "give the index to explain (an int, a tuple), 'predicted' or a callable"
            )
        return (
            f"target {self.value!r} selects shape {picked} per example, but {where}; it must "
            "select one scalar (give an index for every output axis, or a callable)"
        )

    def _check_range(self, dims: tuple[int, ...]) -> None:
        depth = self.depth
        assert depth is not None  # not a callable
        if depth > len(dims):
            raise ValueError(
                f"target has {depth} indices but the model's output per example has only "
                f"{len(dims)} axes (shape {dims}, {self.of} of {self.batch_size})"
            )
        for d in range(depth):
            size = dims[d]
            if self.fixed is not None:
                lo = hi = self.fixed[d]
            else:
                col = self.per_example[:, d]  # type: ignore[index]
                lo, hi = int(col.min()), int(col.max())
            if lo < -size or hi >= size:
                raise ValueError(
                    f"target index {lo if lo < -size else hi} is out of range for axis {d} "
                    f"of size {size} of the model's output per example (shape {dims})"
                )


def predicted_classes(output: Any) -> torch.Tensor:
    """The predicted class of each example, ``argmax`` of an output ``(B, classes)``.

    Example:
        >>> predicted_classes(torch.tensor([[0.0, 2.0], [3.0, 1.0]])).tolist()
        [1, 0]
    """
    if not isinstance(output, torch.Tensor) or output.ndim != 2 or output.shape[1] == 0:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else None
        got = (
            f"the model's output per example has shape {shape[1:]}"
            if shape
            else f"the model returned {type(output).__name__}"
        )
        raise ValueError(
            f"target='predicted' needs a classifier output of shape (batch, classes); {got}. "
            "Give the index to explain or a callable instead"
        )
    finite = torch.isfinite(output).all(1)
    if not bool(finite.all()):
        bad = int((~finite).nonzero()[0, 0])
        raise NonFiniteError(
            f"the model's output at the inputs is NaN or infinite for example {bad}, so its "
            "predicted class is undefined"
        )
    return output.detach().argmax(1)


def resolve_target(target: TargetType, outputs: torch.Tensor | Callable[[], Any]) -> TargetType:
    """``"predicted"`` becomes the ``(B,)`` predicted classes; anything else is returned as is.

    Args:
        target: a target in any form (see the module docstring).
        outputs: the model's output at the inputs ``(B, classes)``, or a function
            that computes it; it is called only when ``target == "predicted"``.

    Example:
        >>> model = torch.nn.Linear(3, 4)
        >>> x = torch.rand(2, 3)
        >>> classes = resolve_target("predicted", lambda: model(x))  # one forward pass
        >>> classes.shape, resolve_target(2, lambda: model(x))
        (torch.Size([2]), 2)
    """
    if not is_predicted(target):
        return target
    return predicted_classes(outputs() if callable(outputs) else outputs)


def class_indices(
    target: TargetType, batch_size: int, n_classes: int | Callable[[], int]
) -> torch.Tensor:
    """One class per example, ``(B,)`` long in ``[0, n_classes)``, for classifier tools.

    The rules of :class:`Target` with one index per example: an int, a tensor, an
    array or a list (one element: for every example); negative indices count from
    the end. Resolve ``"predicted"`` first (:func:`resolve_target`). ``n_classes``
    may be a function (e.g. one forward pass); it is called after the form of
    ``target`` has been checked.

    Raises:
        TypeError: None, a callable, a tuple index, bools or floats.
        ValueError: a wrong number of entries, or an index out of range.

    Example:
        >>> class_indices([0, -1], batch_size=2, n_classes=10).tolist()
        [0, 9]
    """
    if target is None or is_predicted(target):
        raise TypeError(
            "target=None means the model returns one scalar per example; a class per "
            "example is needed here: give 'predicted', an int or one class per example"
            if target is None
            else "target='predicted' must be resolved first (idgrad.core.targets.resolve_target)"
        )
    if isinstance(target, tuple) or (callable(target) and not isinstance(target, torch.Tensor)):
        raise TypeError(
            f"a class per example is needed here; got {type(target).__name__} (give "
            "'predicted', an int or one class per example)"
        )
    t = Target(target, batch_size)
    if t.depth != 1:
        raise ValueError(
            f"target must give one class per example, got {t.depth} indices per example"
        )
    if t.fixed is not None:
        classes = torch.full((batch_size,), t.fixed[0], dtype=torch.long)
    else:
        assert t.per_example is not None
        classes = t.per_example[:, 0].cpu()
    if callable(n_classes):
        n_classes = n_classes()
    lo, hi = int(classes.min()), int(classes.max())
    if lo < -n_classes or hi >= n_classes:
        raise ValueError(
            f"target class {lo if lo < -n_classes else hi} is out of range for {n_classes} classes"
        )
    return torch.remainder(classes, n_classes)
