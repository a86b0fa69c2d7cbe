"""Several targets in one call: ``targets=[t_1, ..., t_K]`` (or ``"all"``), the ``K`` axis.

Every method that takes ``target`` also takes ``targets``: a list (tuple, range) of anything
``target`` takes (:mod:`idgrad.core.targets`: an index, one index per example, a callable,
``"predicted"``), or ``"all"``, one target per index of the model's output after the batch
axis (row-major; at most :data:`TARGETS_ALL_MAX`, more by a list). The
result gains a leading ``K`` axis whose ``k``-th slice is the call with ``target=t_k``.

:class:`TargetFan` holds the ``K`` targets for a batch of ``B`` examples. A call with
``targets`` works on ``K B`` pseudo-examples, ``r = k B + b`` being example ``b`` explained
for ``t_k`` (:class:`~idgrad.core.fan_seam.FanSeam`); where their points coincide (a fixed
rule) the ``K`` targets share each forward pass (:mod:`idgrad.engine.evaluator`).

Example:
    >>> fan = TargetFan.build([0, lambda out: out.sum(1)], 2, outputs=None, probe=None)
    >>> out = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> [v.tolist() for v in fan.select_each(out, torch.arange(2))]  # K = 2, B = 2
    [[1.0, 3.0], [3.0, 7.0]]
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

import numpy as np
import torch

from idgrad.core.targets import Target, TargetType, is_predicted, predicted_classes

__all__ = ["ALL", "TARGETS_ALL_MAX", "TargetFan", "TargetsType", "all_targets", "check_targets"]

#: ``targets="all"``: one target per output index.
ALL: Final = "all"

#: What ``targets`` takes: a list (or tuple, range) of targets, or ``"all"``.
TargetsType = Sequence[TargetType] | Literal["all"]

#: Most targets ``targets="all"`` may stand for: each target costs a path per example (and the
#: inputs are held once per target), so more must be asked for by a list.
TARGETS_ALL_MAX: Final = 256


def check_targets(targets: Any) -> list[TargetType] | Literal["all"]:
    """The form of ``targets`` (a list, tuple or range of targets, or ``"all"``), checked.

    Each element is checked later, against the batch (:class:`TargetFan`).

    Raises:
        TypeError: not a list, tuple, range or ``"all"`` (a tensor, an int, ...).
        ValueError: an empty list, or another string.

    Example:
        >>> check_targets(range(3)), check_targets("all")
        ([0, 1, 2], 'all')
        >>> check_targets([])
        Traceback (most recent call last):
        ...
        ValueError: targets is empty; give at least one target (or 'all')
    """
    if isinstance(targets, str):
        if targets == ALL:
            return ALL
        hint = (
            " (the predicted class is target='predicted', or one of several: "
            "targets=['predicted', ...])"
            if is_predicted(targets)
            else ""
        )
        raise ValueError(f"targets must be a list of targets or 'all'; got {targets!r}{hint}")
    if isinstance(targets, (list, tuple, range)):
        if len(targets) == 0:
            raise ValueError("targets is empty; give at least one target (or 'all')")
        return list(targets)
    hint = (
        "; one index per example is target=..., several targets a list of them "
        "(e.g. list(range(C)), or 'all')"
        if isinstance(targets, (torch.Tensor, np.ndarray, numbers.Integral))
        else ""
    )
    raise TypeError(
        f"targets must be a list (or tuple) of targets, or 'all'; got {type(targets).__name__}"
        f"{hint}"
    )


def all_targets(output: Any) -> list[TargetType]:
    """``targets="all"`` for a model ``output`` ``(B, ...)``: every index after the batch axis.

    ``(B,)`` gives ``[None]``, ``(B, C)`` the ints ``0 .. C - 1``, more axes every index
    tuple in row-major order.

    Example:
        >>> all_targets(torch.zeros(2, 3)), all_targets(torch.zeros(2, 2, 2))[:3]
        ([0, 1, 2], [(0, 0), (0, 1), (1, 0)])
        >>> all_targets(torch.zeros(2, 1000))
        Traceback (most recent call last):
        ...
        ValueError: targets='all' would explain 1000 outputs per example ... more than 256: ...
    """
    if not isinstance(output, torch.Tensor) or output.ndim == 0:
        got = type(output).__name__ if not isinstance(output, torch.Tensor) else "a 0-d tensor"
        raise TypeError(
            f"targets='all' needs a model that returns a tensor (B, ...); it returned {got}: "
            "give the targets as a list (a callable target picks from any output)"
        )
    dims = tuple(int(d) for d in output.shape[1:])
    if not dims:
        return [None]
    count = math.prod(dims)
    if count == 0:
        raise ValueError(f"targets='all': the model's output per example is empty (shape {dims})")
    if count > TARGETS_ALL_MAX:
        raise ValueError(
            f"targets='all' would explain {count} outputs per example (the model's output per "
            f"example has shape {dims}), more than {TARGETS_ALL_MAX}: each target costs a path "
            "per example. Give the targets you need as a list (a list of any length is taken, "
            "e.g. list(range(n))), or reduce them with a callable target"
        )
    if len(dims) == 1:
        return list(range(dims[0]))
    return [tuple(int(i) for i in index) for index in np.ndindex(*dims)]


class TargetFan:
    """``K`` targets for a batch of ``B`` examples: the ``K`` axis of a call with ``targets``.

    Pseudo-example ``r = k B + b`` (``0 <= r < K B``) is example ``b`` explained for
    ``targets[k]``. :meth:`select` gives one scalar per pseudo-example row (a path per
    (example, target) pair), :meth:`select_each` the ``K`` scalars of real rows (one forward
    pass shared by the ``K`` targets). Build it with :meth:`build`.

    Attributes:
        members: one :class:`Target` per target, each for the ``B`` examples.
        values: the targets, resolved (``"predicted"`` became the classes).
        batch_size: ``B``.

    Example:
        >>> fan = TargetFan.build([0, 2], 2, outputs=None, probe=None)
        >>> out = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        >>> [v.tolist() for v in fan.select_each(out, torch.arange(2))]  # K = 2 targets
        [[1.0, 4.0], [3.0, 6.0]]
        >>> pseudo = torch.arange(4)                     # rows k B + b
        >>> fan.select(out.repeat(2, 1), pseudo).tolist()
        [1.0, 4.0, 3.0, 6.0]
    """

    def __init__(self, members: Sequence[Target], batch_size: int) -> None:
        self.members = tuple(members)
        self.values = tuple(m.value for m in self.members)
        self.batch_size = batch_size

    @property
    def n_targets(self) -> int:
        """``K``."""
        return len(self.members)

    @classmethod
    def build(
        cls,
        targets: TargetsType | TargetFan,
        batch_size: int,
        outputs: Callable[[], Any] | None,
        probe: Callable[[], Any] | None,
    ) -> TargetFan:
        """Check ``targets`` against a batch of ``batch_size``, then resolve it.

        Every form is checked before the model runs; then ``"all"`` is resolved from
        ``probe()`` (the model's output at one example) and ``"predicted"`` from
        ``outputs()`` (at every example, one forward pass for all such targets). A fan
        already built for this batch is returned as it is.
        """
        if isinstance(targets, TargetFan):
            if targets.batch_size != batch_size:
                raise ValueError(
                    f"targets were resolved for a batch of {targets.batch_size}, not {batch_size}"
                )
            return targets
        values = check_targets(targets)
        if values == ALL:
            assert probe is not None, "targets='all' needs the model's output"
            values = all_targets(probe())
        members: list[Target | None] = [
            None if is_predicted(t) else _member(t, k, batch_size) for k, t in enumerate(values)
        ]
        if any(m is None for m in members):
            assert outputs is not None, "targets with 'predicted' need the model's outputs"
            classes = predicted_classes(outputs())
            members = [Target(classes, batch_size) if m is None else m for m in members]
        return cls([m for m in members if m is not None], batch_size)

    def split(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(k, b)`` of pseudo-example rows ``r = k B + b``."""
        k = torch.div(rows, self.batch_size, rounding_mode="floor")
        return k, rows - k * self.batch_size

    def select(self, output: Any, rows: torch.Tensor) -> torch.Tensor:
        """One scalar per pseudo-example row, ``(n,)``: target ``k`` of example ``b``."""
        k, real = self.split(rows)
        lo, hi = int(k.min()), int(k.max())
        if lo == hi:
            return self._pick(lo, output, real)
        parts = [self._pick(j, output, real) for j in range(lo, hi + 1)]
        dtype = functools.reduce(torch.promote_types, (p.dtype for p in parts))
        stacked = torch.stack([p.to(dtype) for p in parts])
        return stacked.gather(0, (k - lo).to(stacked.device).unsqueeze(0))[0]

    def select_each(self, output: Any, rows: torch.Tensor) -> list[torch.Tensor]:
        """The ``K`` scalars of each real row (``0 <= rows < B``): ``K`` tensors ``(n,)``."""
        return [self._pick(k, output, rows) for k in range(self.n_targets)]

    def _pick(self, k: int, output: Any, rows: torch.Tensor) -> torch.Tensor:
        """``targets[k]``'s scalars of real ``rows``; its errors name it."""
        try:
            return self.members[k].select(output, rows)
        except (TypeError, ValueError) as e:
            raise type(e)(f"targets[{k}]: {e}") from None

    def where(self, row: int) -> str:
        """Words for pseudo-example ``row`` in messages: its example and its target."""
        k, b = divmod(int(row), self.batch_size)
        return f"example {b}, targets[{k}]"


def _member(target: TargetType, k: int, batch_size: int) -> Target:
    """``Target(target)`` whose errors name ``targets[k]``."""
    try:
        return Target(target, batch_size)
    except (TypeError, ValueError) as e:
        raise type(e)(f"targets[{k}]: {e}") from None
