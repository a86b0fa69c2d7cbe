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
  one forward pass per chunk gives all ``K`` scalars of each point and one batched
  vector-Jacobian product their ``K`` gradients, for points every target shares (a fixed
  rule).

:func:`~idgrad.core.seam.prepare` repeats the inputs and baselines once per target
(:meth:`FanSeam.repeat_for_targets`), so that every method runs on the ``K B``
pseudo-examples as on any batch.

Example:
    >>> from idgrad.core.seam import ModelSeam
    >>> model = torch.nn.Linear(3, 2)
    >>> x = torch.ones(4, 3)
    >>> seam = ModelSeam.build(model, (x,), None, None, targets=[0, 1])
    >>> values, grads = seam.scalars_and_grads_per_target((x.clone(),), torch.arange(4))
    >>> values.shape, grads[0].shape                        # (K, n), (K, n, 3)
    (torch.Size([2, 4]), torch.Size([2, 4, 3]))
    >>> torch.equal(grads[0][1], model.weight[1].expand(4, 3))
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
        batched_grads: whether the ``K`` gradients of a point come from one batched
            vector-Jacobian product (None: not tried yet; False: the model's backward cannot
            be vmapped, and each target has its own backward pass over the shared graph).
    """

    def __init__(
        self, forward_func: Callable[..., Any], fan: TargetFan, extra: _ExtraArgs, batch_size: int
    ) -> None:
        super().__init__(forward_func, fan, extra, batch_size)
        self.fan: TargetFan = fan
        self.batched_grads: bool | None = None

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
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Forward once, the ``K`` targets' scalars ``(K, n)`` and gradients ``(K, n, ...)``.

        ``rows`` are real examples (``0 <= rows < B``). The ``K`` gradients come from one
        batched vector-Jacobian product (``torch.autograd.grad(..., is_grads_batched=True)``,
        the backward pass run under ``torch.vmap``); a model whose backward cannot be
        vmapped (e.g. a custom ``autograd.Function`` whose backward calls ``.item()`` or
        branches on tensor values, or an operation vmap has no rule for) falls back, for
        the rest of the call, to ``K`` backward passes over the one retained graph. Both
        give the gradients of the single-target calls.
        """
        fan = self.fan
        with torch.enable_grad():
            leaves = tuple(p.requires_grad_(True) for p in points)
            output = self.forward_func(*leaves, *self.extra.take(rows))
            parts = fan.select_each(output, rows)
            for k, v in enumerate(parts):
                if not v.requires_grad:
                    raise ValueError(
                        f"targets[{k}]: the model output does not depend on the inputs (no "
                        "gradient flows from the target back to any input)"
                    )
            values = torch.stack(_promoted(parts))
            grads = self._per_target_grads(values, leaves)
        values = values.detach()
        if not bool(finite_flag((values, *grads))):
            self._raise_per_target(values, grads, rows, where)
        return values, grads

    def _per_target_grads(
        self, values: torch.Tensor, leaves: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, ...]:
        """``d values[k].sum() / d leaf`` for every ``k``: one ``(K, n, ...)`` per leaf."""
        n_targets, n = values.shape
        if n_targets > 1 and self.batched_grads is not False:
            eye = torch.eye(n_targets, dtype=values.dtype, device=values.device)
            try:
                batched = torch.autograd.grad(
                    values,
                    leaves,
                    grad_outputs=eye.unsqueeze(2).expand(n_targets, n_targets, n),
                    is_grads_batched=True,
                    allow_unused=True,
                    retain_graph=True,  # kept for the fallback below
                )
            except RuntimeError:
                self.batched_grads = False
            else:
                self.batched_grads = True
                return tuple(
                    leaf.new_zeros((n_targets, *leaf.shape)) if g is None else g
                    for g, leaf in zip(batched, leaves)
                )
        per_target = [
            torch.autograd.grad(
                values[k].sum(),
                leaves,
                allow_unused=True,
                materialize_grads=True,
                retain_graph=k < n_targets - 1,
            )
            for k in range(n_targets)
        ]
        return tuple(torch.stack(g) for g in zip(*per_target))

    def _raise_per_target(
        self,
        values: torch.Tensor,
        grads: Sequence[torch.Tensor] | None,
        rows: torch.Tensor,
        where: PointLabel | None,
    ) -> None:
        """Name the first (target, point) whose scalar or gradient is not finite."""
        n_targets, n = values.shape
        pseudo = (
            torch.arange(n_targets, device=rows.device).unsqueeze(1) * self.batch_size + rows
        ).reshape(-1)
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
