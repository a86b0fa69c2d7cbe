"""The one seam between idgrad and a user's model.

Everything that knows how a model is called lives here: inputs are normalised to a
tuple of tensors once, at the entry; baselines are expanded to the inputs' shapes;
``additional_forward_args`` are sliced per point; the target turns the model's
output into one scalar per point. :class:`ModelSeam` then offers two calls,
``scalars(points, rows)`` (forward only) and ``scalars_and_grads(points, rows)``
(forward + backward), over a chunk of points, where ``rows[i]`` is the example a
point belongs to.

Example:
    >>> model = torch.nn.Linear(3, 2)
    >>> x = torch.ones(4, 3)
    >>> seam = ModelSeam.build(model, (x,), target=1, additional_forward_args=None)
    >>> seam.scalars((x,), torch.arange(4)).shape
    torch.Size([4])
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import torch

__all__ = [
    "BaselineType",
    "ModelSeam",
    "TargetType",
    "TensorOrTuple",
    "as_input_tuple",
    "check_no_inference_mode",
    "expand_baselines",
    "restore_form",
]

TensorOrTuple = torch.Tensor | tuple[torch.Tensor, ...]
TargetType = (
    None
    | int
    | tuple[int, ...]
    | torch.Tensor
    | Sequence[int | tuple[int, ...]]
    | Callable[[Any], torch.Tensor]
)
BaselineType = None | float | int | torch.Tensor | tuple[None | float | int | torch.Tensor, ...]


def check_no_inference_mode() -> None:
    """Refuse to run inside ``torch.inference_mode`` (gradients are impossible there)."""
    if torch.is_inference_mode_enabled():
        raise RuntimeError(
            "idgrad needs gradients, which torch.inference_mode() forbids; "
            "call it outside inference_mode (torch.no_grad() is fine)"
        )


def as_input_tuple(
    inputs: TensorOrTuple, name: str = "inputs"
) -> tuple[tuple[torch.Tensor, ...], bool]:
    """Normalise ``inputs`` to a tuple of floating tensors sharing a batch size.

    Returns:
        ``(tensors, was_tuple)``.

    Raises:
        TypeError: not a tensor / tuple of tensors, or not floating point.
        ValueError: empty batch, mismatched batch sizes, NaN or Inf.
    """
    was_tuple = isinstance(inputs, (tuple, list))
    tensors = tuple(inputs) if was_tuple else (inputs,)
    if not tensors:
        raise ValueError(f"{name} is an empty tuple")
    for i, t in enumerate(tensors):
        label = f"{name}[{i}]" if was_tuple else name
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{label} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(
                f"{label} has dtype {t.dtype}; path attribution needs a floating dtype "
                "(attribute token ids through a layer instead)"
            )
        if t.ndim == 0:
            raise ValueError(f"{label} must have a batch dimension, got a 0-d tensor")
        if t.shape[0] == 0:
            raise ValueError(f"{label} is an empty batch (shape {tuple(t.shape)})")
        if not torch.isfinite(t).all():
            raise ValueError(f"{label} contains NaN or Inf")
    batch = tensors[0].shape[0]
    for i, t in enumerate(tensors[1:], start=1):
        if t.shape[0] != batch:
            raise ValueError(f"{name}[{i}] has batch size {t.shape[0]} but {name}[0] has {batch}")
        if t.device != tensors[0].device:
            raise ValueError(
                f"{name}[{i}] is on {t.device} but {name}[0] is on {tensors[0].device}"
            )
    # Work on detached views: the caller's tensors keep their graph and flags.
    return tuple(t.detach() for t in tensors), was_tuple


def restore_form(tensors: Sequence[torch.Tensor], was_tuple: bool) -> TensorOrTuple:
    """Give results back in the form the inputs came in (tensor or tuple)."""
    return tuple(tensors) if was_tuple else tensors[0]


def expand_baselines(
    baselines: BaselineType, inputs: tuple[torch.Tensor, ...]
) -> tuple[torch.Tensor, ...]:
    """Baselines shaped, typed and placed like ``inputs`` (read-only).

    ``None`` gives zeros; a number fills; a tensor must broadcast to its input's
    shape (e.g. ``(1, ...)`` or ``(...)`` without the batch axis); a tuple gives one
    of those per input. Zeros and numbers are a single element broadcast to the
    input's shape (no memory per example); tensors are copied.
    """
    if isinstance(baselines, (tuple, list)):
        if len(baselines) != len(inputs):
            raise ValueError(
                f"got {len(baselines)} baselines for {len(inputs)} inputs; give one per input"
            )
        items = tuple(baselines)
    else:
        items = (baselines,) * len(inputs)
    out = []
    for i, (b, x) in enumerate(zip(items, inputs)):
        label = f"baselines[{i}]" if len(inputs) > 1 else "baselines"
        if b is None:
            out.append(torch.zeros((), dtype=x.dtype, device=x.device).expand(x.shape))
            continue
        if isinstance(b, bool) or not isinstance(b, (numbers.Real, torch.Tensor)):
            raise TypeError(f"{label} must be None, a number or a tensor, got {type(b).__name__}")
        if isinstance(b, numbers.Real):
            if not math.isfinite(float(b)):
                raise ValueError(f"{label} is {b}; it must be finite")
            out.append(torch.full((), float(b), dtype=x.dtype, device=x.device).expand(x.shape))
            continue
        b = b.detach()
        if not torch.isfinite(b).all():
            raise ValueError(f"{label} contains NaN or Inf")
        if b.is_complex():
            raise TypeError(f"{label} must be real, got {b.dtype}")
        try:
            expanded = torch.broadcast_to(b, x.shape)
        except RuntimeError:
            raise ValueError(
                f"{label} has shape {tuple(b.shape)}, which does not broadcast to the input "
                f"shape {tuple(x.shape)}"
            ) from None
        out.append(expanded.to(device=x.device, dtype=x.dtype).clone())
    return tuple(out)


class _Target:
    """Turns a model output ``(n, ...)`` into one scalar per point ``(n,)``."""

    def __init__(self, target: TargetType, batch_size: int) -> None:
        self.raw = target
        self.callable: Callable[[Any], torch.Tensor] | None = None
        self.fixed: tuple[int, ...] | None = None
        self.per_example: torch.Tensor | None = None  # (B, depth) long
        self._checked_dims: set[tuple[int, ...]] = set()  # output shapes (after B) already checked
        if target is None:
            self.fixed = ()
        elif callable(target) and not isinstance(target, torch.Tensor):
            self.callable = target
        elif isinstance(target, bool):
            raise TypeError(
                "target must be an int, a tuple, a tensor, a list or a callable, not bool"
            )
        elif isinstance(target, numbers.Integral):
            self.fixed = (int(target),)
        elif isinstance(target, tuple):
            self.fixed = self._index_tuple(target, "target")
        elif isinstance(target, torch.Tensor):
            if target.is_floating_point() or target.is_complex():
                raise TypeError(f"target tensor must hold integers, got {target.dtype}")
            if target.ndim == 0:
                self.fixed = (int(target),)
            elif target.ndim == 1 and target.shape[0] == batch_size:
                self.per_example = target.detach().to(torch.long).reshape(batch_size, 1)
            elif target.ndim == 2 and target.shape[0] == batch_size:
                self.per_example = target.detach().to(torch.long)
            else:
                raise ValueError(
                    f"target tensor has shape {tuple(target.shape)}; expected a scalar, "
                    f"({batch_size},) or ({batch_size}, depth) for a batch of {batch_size}"
                )
        elif isinstance(target, list):
            if len(target) != batch_size:
                raise ValueError(
                    f"target list has {len(target)} entries for a batch of {batch_size}"
                )
            rows = [
                self._index_tuple(t if isinstance(t, tuple) else (t,), f"target[{i}]")
                for i, t in enumerate(target)
            ]
            depths = {len(r) for r in rows}
            if len(depths) != 1:
                raise ValueError("every entry of a target list must have the same depth")
            self.per_example = torch.tensor(rows, dtype=torch.long)
        else:
            raise TypeError(
                "target must be None, an int, a tuple of ints, an integer tensor, a list per "
                f"example or a callable; got {type(target).__name__}"
            )

    @staticmethod
    def _index_tuple(t: tuple[Any, ...], label: str) -> tuple[int, ...]:
        for v in t:
            if isinstance(v, bool) or not isinstance(v, (numbers.Integral, torch.Tensor)):
                raise TypeError(f"{label} must hold ints, got {t!r}")
        return tuple(int(v) for v in t)

    def select(self, output: Any, rows: torch.Tensor) -> torch.Tensor:
        """Scalar per point from the chunk's ``output``; ``rows`` = example of each point."""
        n = int(rows.shape[0])
        if self.callable is not None:
            value = self.callable(output)
            if not isinstance(value, torch.Tensor):
                raise TypeError(
                    f"the target callable must return a tensor, got {type(value).__name__}"
                )
            if value.shape not in ((n,), (n, 1)):
                raise ValueError(
                    f"the target callable returned shape {tuple(value.shape)}; expected ({n},): "
                    "one scalar per row of the output"
                )
            return value.reshape(n)
        if not isinstance(output, torch.Tensor):
            raise TypeError(
                f"the model returned {type(output).__name__}; pass a callable target that "
                "picks one scalar per example from it"
            )
        if output.ndim == 0 or output.shape[0] != n:
            raise ValueError(
                f"the model output has shape {tuple(output.shape)} for {n} inputs; its first "
                "axis must be the batch axis"
            )
        dims = tuple(output.shape[1:])
        if dims not in self._checked_dims:  # once per output shape, for every example
            self._check_range(output, self.fixed, self.per_example)
            self._checked_dims.add(dims)
        if self.fixed is not None:
            index = self.fixed
            value = output[(slice(None),) + index] if index else output
        else:
            assert self.per_example is not None
            index_rows = self.per_example.to(output.device)[rows]
            depth = index_rows.shape[1]
            value = output[
                (torch.arange(n, device=output.device),)
                + tuple(index_rows[:, d] for d in range(depth))
            ]
        if value.ndim == 2 and value.shape[1] == 1:
            value = value[:, 0]
        if value.ndim != 1:
            raise ValueError(
                f"target {self.raw!r} selects shape {tuple(value.shape[1:])} per example from "
                f"an output of shape {tuple(output.shape)}; it must select one scalar "
                "(give an index for every output axis, or a callable)"
            )
        return value

    def _check_range(
        self,
        output: torch.Tensor,
        index: tuple[int, ...] | None,
        index_rows: torch.Tensor | None = None,
    ) -> None:
        dims = output.shape[1:]
        depth = len(index) if index is not None else int(index_rows.shape[1])  # type: ignore[union-attr]
        if depth > len(dims):
            raise ValueError(
                f"target has {depth} indices but the output has only {len(dims)} axes after "
                f"the batch axis (shape {tuple(output.shape)})"
            )
        for d in range(depth):
            size = dims[d]
            if index is not None:
                lo = hi = index[d]
            else:
                col = index_rows[:, d]  # type: ignore[index]
                lo, hi = int(col.min()), int(col.max())
            if lo < -size or hi >= size:
                raise ValueError(
                    f"target index {lo if lo < -size else hi} is out of range for output axis "
                    f"{d + 1} of size {size} (output shape {tuple(output.shape)})"
                )


class _ExtraArgs:
    """``additional_forward_args`` with per-example tensors sliced per point."""

    def __init__(self, args: Any, batch_size: int) -> None:
        if args is None:
            self.items: tuple[Any, ...] = ()
        elif isinstance(args, tuple):
            self.items = args
        else:
            self.items = (args,)
        self.batch_size = batch_size
        self.per_example = tuple(
            isinstance(a, torch.Tensor) and a.ndim > 0 and a.shape[0] == batch_size
            for a in self.items
        )

    def take(self, rows: torch.Tensor) -> tuple[Any, ...]:
        """The arguments for a chunk of points; ``rows`` = example of each point."""
        return tuple(
            a.index_select(0, rows.to(a.device)) if sliced else a
            for a, sliced in zip(self.items, self.per_example)
        )


class ModelSeam:
    """The model, the target and the extra arguments, seen as ``points -> scalars``.

    Build with :meth:`build`. The batch size ``B`` is fixed at build time; a chunk of
    ``n`` points comes with ``rows`` (``(n,)`` long), the example each point belongs to.
    """

    def __init__(
        self,
        forward_func: Callable[..., Any],
        target: _Target,
        extra: _ExtraArgs,
        batch_size: int,
    ) -> None:
        self.forward_func = forward_func
        self.target = target
        self.extra = extra
        self.batch_size = batch_size

    @classmethod
    def build(
        cls,
        forward_func: Callable[..., Any],
        inputs: tuple[torch.Tensor, ...],
        target: TargetType,
        additional_forward_args: Any,
    ) -> ModelSeam:
        """Validate the target and extra arguments against the batch of ``inputs``."""
        if not callable(forward_func):
            raise TypeError(
                "forward_func must be a callable (e.g. an nn.Module), "
                f"got {type(forward_func).__name__}"
            )
        batch = int(inputs[0].shape[0])
        return cls(
            forward_func, _Target(target, batch), _ExtraArgs(additional_forward_args, batch), batch
        )

    def _call(self, points: tuple[torch.Tensor, ...], rows: torch.Tensor) -> torch.Tensor:
        output = self.forward_func(*points, *self.extra.take(rows))
        return self.target.select(output, rows)

    def scalars(self, points: tuple[torch.Tensor, ...], rows: torch.Tensor) -> torch.Tensor:
        """Forward only: the target scalar at each point, ``(n,)``, detached."""
        with torch.no_grad():
            return self._call(points, rows).detach()

    def scalars_and_grads(
        self, points: tuple[torch.Tensor, ...], rows: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Forward + backward: scalars ``(n,)`` and ``d scalar / d point`` per input.

        Points are fresh leaf tensors made by the caller; inputs the output does not
        depend on get zero gradients.
        """
        with torch.enable_grad():
            leaves = tuple(p.requires_grad_(True) for p in points)
            values = self._call(leaves, rows)
            if not values.requires_grad:
                raise ValueError(
                    "the model output does not depend on the inputs (no gradient flows "
                    "from the target back to any input)"
                )
            grads = torch.autograd.grad(
                values.sum(), leaves, allow_unused=True, materialize_grads=True
            )
        return values.detach(), tuple(grads)
