"""The seam of a call with ``targets``: the model seen as ``points -> K scalars``.

:class:`FanSeam` is the :class:`~idgrad.core.seam.ModelSeam` that
:meth:`~idgrad.core.seam.ModelSeam.build` returns when it is given ``targets``
(:class:`~idgrad.core.fan.TargetFan`, ``K`` targets for ``B`` examples). It serves two
kinds of rows:

* **pseudo-examples** (:meth:`scalars`, :meth:`scalars_and_grads`, as any seam): row
  ``r = k B + b`` is example ``b`` explained for ``targets[k]``; the model is called with
  example ``b``'s extra arguments and each point gets its own target's scalar. A path per
  (example, target) pair, for schedules whose points depend on the target.
* **real examples** (:meth:`scalars_per_target`, :meth:`scalars_and_grads_per_target`):
  one forward pass per chunk gives all ``K`` scalars of each point, and ``K`` backward passes
  over its graph their ``K`` gradients, for points every target shares (a fixed rule).

:func:`~idgrad.core.seam.prepare` repeats the inputs and baselines once per target
(:meth:`FanSeam.repeat_for_targets`), so that every method runs on the ``K B``
pseudo-examples as on any batch.

Example:
    >>> from idgrad.core.seam import ModelSeam
    >>> model = torch.nn.Linear(3, 2)
    >>> x = torch.ones(4, 3)
    >>> seam = ModelSeam.build(model, (x,), None, None, targets=[0, 1])
    >>> values, grads = seam.scalars_and_grads_per_target((x.clone(),), torch.arange(4))
    >>> values.shape                                        # (K, n)
    torch.Size([2, 4])
    >>> per_target = list(grads)                            # K gradients, target by target
    >>> torch.equal(per_target[1][0], model.weight[1].detach().expand(4, 3))
    True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from idgrad.core.fan import TargetFan, TargetsType
from idgrad.core.seam import ModelSeam, PointLabel, _ExtraArgs
from idgrad.core.validation import finite_flag

__all__ = ["FanSeam", "repeat_examples"]


class FanSeam(ModelSeam):
    """The model, ``K`` targets and the extra arguments (see the module docstring).

    Attributes:
        fan: the ``K`` targets.
    """

    def __init__(
        self, forward_func: Callable[..., Any], fan: TargetFan, extra: _ExtraArgs, batch_size: int
    ) -> None:
        super().__init__(forward_func, fan, extra, batch_size)
        self.fan: TargetFan = fan

    @classmethod
    def build_fan(
        cls,
        forward_func: Callable[..., Any],
        inputs: tuple[torch.Tensor, ...],
        targets: TargetsType | TargetFan,
        extra: _ExtraArgs,
        outputs: Callable[[], Any],
    ) -> FanSeam:
        """The seam for ``targets`` (from :meth:`~idgrad.core.seam.ModelSeam.build`).

        ``"all"`` is resolved from the model's output at the first example, ``"predicted"``
        from ``outputs()`` (the output at every example).
        """

        def probe() -> Any:
            first = torch.zeros(1, dtype=torch.long, device=inputs[0].device)
            with torch.no_grad():
                return forward_func(*(x[:1] for x in inputs), *extra.take(first))

        batch = int(inputs[0].shape[0])
        return cls(forward_func, TargetFan.build(targets, batch, outputs, probe), extra, batch)

    def _call(self, points: tuple[torch.Tensor, ...], rows: torch.Tensor) -> torch.Tensor:
        real = self.fan.split(rows)[1]
        return self.fan.select(self.forward_func(*points, *self.extra.take(real)), rows)

    def repeat_for_targets(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` ``(B, ...)`` once per target, ``(K B, ...)`` (:func:`repeat_examples`)."""
        return repeat_examples(t, self.fan.n_targets)

    def describe_row(self, row: int) -> str:
        """Words for pseudo-example ``row`` in messages: its example and its target."""
        return self.fan.where(row)

    def scalars_per_target(
        self,
        points: tuple[torch.Tensor, ...],
        rows: torch.Tensor,
        where: PointLabel | None = None,
    ) -> torch.Tensor:
        """Forward only, the ``K`` targets at once: ``(K, n)``, detached.

        ``rows`` are real examples (``0 <= rows < B``); one forward pass serves every target.
        """
        fan = self.fan
        with torch.no_grad():
            output = self.forward_func(*points, *self.extra.take(rows))
            values = torch.stack(_promoted(fan.select_each(output, rows))).detach()
        if not bool(finite_flag((values,))):
            self._raise_per_target(values, None, rows, where)
        return values

    def scalars_and_grads_per_target(
        self,
        points: tuple[torch.Tensor, ...],
        rows: torch.Tensor,
        where: PointLabel | None = None,
    ) -> tuple[torch.Tensor, Iterator[tuple[torch.Tensor, ...]]]:
        """Forward once: the ``K`` targets' scalars ``(K, n)``, then their gradients.

        ``rows`` are real examples (``0 <= rows < B``). The gradients come target by target
        from the returned iterator (``d F_k / d point``, one tensor per input, as
        :meth:`~idgrad.core.seam.ModelSeam.scalars_and_grads` gives them for one target):
        ``K`` backward passes over the one graph of the forward pass, which is kept until
        the last, so that only one target's gradients are held at a time. Take them in
        order, all of them.

        Why not one batched vector-Jacobian product (``torch.autograd.grad(...,
        is_grads_batched=True)``, the backward pass under ``torch.vmap``)? On the CPU it was
        slower than the ``K`` backward passes, 1.4-2x, on an MLP, a small CNN and a
        BPNet-style model (``benchmarks/results/targets.md``), it holds all ``K`` gradients at
        once, and it fails on models whose backward cannot be vmapped.

        Raises:
            ValueError: a target that does not depend on the inputs (naming it).
            NonFiniteError: a scalar (at once) or a gradient (when it comes) that is NaN or
                infinite, naming the example, the target and the point.
        """
        with torch.enable_grad():
            leaves = tuple(p.requires_grad_(True) for p in points)
            output = self.forward_func(*leaves, *self.extra.take(rows))
            parts = self.fan.select_each(output, rows)
        for k, v in enumerate(parts):
            if not v.requires_grad:
                raise ValueError(
                    f"targets[{k}]: the model output does not depend on the inputs (no "
                    "gradient flows from the target back to any input)"
                )
        values = torch.stack(_promoted([v.detach() for v in parts]))
        if not bool(finite_flag((values,))):
            self._raise_per_target(values, None, rows, where)
        return values, self._gradients(parts, leaves, values, rows, where)

    def _gradients(
        self,
        parts: list[torch.Tensor],
        leaves: tuple[torch.Tensor, ...],
        values: torch.Tensor,
        rows: torch.Tensor,
        where: PointLabel | None,
    ) -> Iterator[tuple[torch.Tensor, ...]]:
        """``d parts[k].sum() / d leaves`` for ``k = 0 .. K - 1``, the graph kept to the last."""
        last = len(parts) - 1
        for k, part in enumerate(parts):
            grads = torch.autograd.grad(
                part.sum(), leaves, allow_unused=True, materialize_grads=True, retain_graph=k < last
            )
            if not bool(finite_flag(grads)):
                one = values[k : k + 1]
                bad = [g.unsqueeze(0) for g in grads]
                self._raise_per_target(one, bad, rows, where, first=k)
            yield tuple(grads)

    def _raise_per_target(
        self,
        values: torch.Tensor,
        grads: Sequence[torch.Tensor] | None,
        rows: torch.Tensor,
        where: PointLabel | None,
        first: int = 0,
    ) -> None:
        """Name the first (target, point) whose scalar or gradient is not finite; ``values``
        ``(T, n)`` and ``grads`` ``(T, n, ...)`` are targets ``first .. first + T - 1``."""
        n_targets, n = values.shape
        targets = torch.arange(first, first + n_targets, device=rows.device)
        pseudo = (targets.unsqueeze(1) * self.batch_size + rows).reshape(-1)
        flat_grads = [g.reshape(n_targets * n, *g.shape[2:]) for g in grads or ()]

        def label(i: int) -> str:
            inner = where(i % n) if callable(where) else where
            return inner or ""

        self._raise_non_finite(values.reshape(-1), flat_grads, pseudo, label)


def _promoted(parts: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """``parts`` cast to their common dtype (targets may return different ones)."""
    dtype = parts[0].dtype
    for p in parts[1:]:
        dtype = torch.promote_types(dtype, p.dtype)
    return [p.to(dtype) for p in parts]


def repeat_examples(t: torch.Tensor, times: int) -> torch.Tensor:
    """``t`` ``(B, ...)`` as ``(times B, ...)``: row ``k B + b`` is row ``b``.

    A tensor that is the same for every example (batch stride 0: a number or zeros as a
    baseline) stays a view; others are copied.

    Example:
        >>> repeat_examples(torch.tensor([[1], [2]]), 2).flatten().tolist()
        [1, 2, 1, 2]
    """
    if times == 1:
        return t
    if t.stride(0) == 0:
        return t.as_strided((times * t.shape[0], *t.shape[1:]), t.stride(), t.storage_offset())
    return t.repeat(times, *([1] * (t.ndim - 1)))
