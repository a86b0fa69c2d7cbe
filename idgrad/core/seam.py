"""The one seam between idgrad and a user's model.

Everything that knows how a model is called lives here: inputs are normalised to a
tuple of tensors once, at the entry, and baselines expanded to the inputs' shapes
(:mod:`idgrad.core.inputs`, re-exported here);
``additional_forward_args`` are sliced per point; the target
(:class:`idgrad.core.targets.Target`) turns the model's output into one scalar per
point. :class:`ModelSeam` then offers two calls, ``scalars(points, rows)`` (forward
only) and ``scalars_and_grads(points, rows)`` (forward + backward), over a chunk of
points, where ``rows[i]`` is the example a point belongs to.

Both calls check that the scalars (and the gradients) are finite, with one
reduction per tensor and one host sync per chunk, and raise
:class:`~idgrad.core.validation.NonFiniteError` naming the example and the point
(``where``, e.g. its ``alpha``) where they stopped being finite.

With ``targets`` (several targets, :mod:`idgrad.core.fan`) :meth:`ModelSeam.build` returns a
:class:`~idgrad.core.fan_seam.FanSeam`, whose rows count the ``K B`` pseudo-examples and which
also gives the ``K`` targets' scalars and gradients from one forward pass.

Example:
    >>> model = torch.nn.Linear(3, 2)
    >>> x = torch.ones(4, 3)
    >>> seam = ModelSeam.build(model, (x,), target=1, additional_forward_args=None)
    >>> seam.scalars((x,), torch.arange(4)).shape
    torch.Size([4])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import torch

from idgrad.core.fan import TargetFan, TargetsType
from idgrad.core.inputs import (
    FLOATING_HINT,
    BaselineType,
    TensorOrTuple,
    as_input_tuple,
    check_no_inference_mode,
    expand_baselines,
    restore_form,
)
from idgrad.core.targets import Target, TargetType, resolve_target
from idgrad.core.validation import ChunkSize, NonFiniteError, check_chunk_size, finite_flag

__all__ = [
    "AUTO_CHUNK_ELEMENTS",
    "FLOATING_HINT",
    "BaselineType",
    "ModelSeam",
    "PointLabel",
    "Prepared",
    "TargetType",
    "TargetsType",
    "TensorOrTuple",
    "accumulation_dtype",
    "as_input_tuple",
    "check_no_inference_mode",
    "chunk_bounds",
    "expand_baselines",
    "model_outputs",
    "prepare",
    "resolve_chunk_size",
    "restore_form",
    "to_input_dtypes",
    "total_attribution",
]

#: Words for the position of the points of a chunk on their paths, used only in error
#: messages: one string for all of them, or ``where(i)`` for point ``i`` (``"alpha = 0.25"``).
PointLabel = str | Callable[[int], str]


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


def chunk_bounds(total: int, size: int | None) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of consecutive chunks of at most ``size`` items (None: one chunk).

    Example:
        >>> list(chunk_bounds(5, 2)), list(chunk_bounds(5, None)), list(chunk_bounds(0, None))
        ([(0, 2), (2, 4), (4, 5)], [(0, 5)], [])
    """
    step = max(total, 1) if size is None else size
    for start in range(0, total, step):
        yield start, min(start + step, total)


def model_outputs(
    forward_func: Callable[..., Any],
    inputs: tuple[torch.Tensor, ...],
    additional_forward_args: Any = None,
    chunk_size: int | None = None,
) -> Any:
    """The model's output at ``inputs`` (forward only, detached), ``chunk_size`` rows a pass.

    What ``target="predicted"`` is resolved from (:func:`idgrad.core.targets.resolve_target`).
    Per-example tensors of ``additional_forward_args`` are sliced with the rows.

    Example:
        >>> model_outputs(torch.nn.Linear(3, 2), (torch.ones(5, 3),), chunk_size=2).shape
        torch.Size([5, 2])
    """
    batch = int(inputs[0].shape[0])
    extra = _ExtraArgs(additional_forward_args, batch)
    parts = []
    for start, stop in chunk_bounds(batch, chunk_size):
        rows = torch.arange(start, stop, device=inputs[0].device)
        with torch.no_grad():
            out = forward_func(*(x[start:stop] for x in inputs), *extra.take(rows))
        parts.append(out.detach() if isinstance(out, torch.Tensor) else out)
    return torch.cat(parts) if len(parts) > 1 else parts[0]


class ModelSeam:
    """The model, the target and the extra arguments, seen as ``points -> scalars``.

    Build with :meth:`build`. The batch size ``B`` is fixed at build time; a chunk of
    ``n`` points comes with ``rows`` (``(n,)`` long), the example each point belongs to.
    """

    #: The ``K`` targets of a call with ``targets`` (a :class:`~idgrad.core.fan_seam.FanSeam`),
    #: None for one target.
    fan: TargetFan | None = None

    def __init__(
        self,
        forward_func: Callable[..., Any],
        target: Target | TargetFan,
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
        chunk_size: int | None = None,
        targets: TargetsType | TargetFan | None = None,
    ) -> ModelSeam:
        """Validate the target and extra arguments against the batch of ``inputs``.

        ``target="predicted"`` is resolved here, by one forward pass over ``inputs``
        in chunks of at most ``chunk_size`` examples (None: all at once). With
        ``targets`` (``target`` must then be None) it returns a
        :class:`~idgrad.core.fan_seam.FanSeam` (torch models only).
        """
        if not callable(forward_func):
            raise TypeError(
                "forward_func must be a callable (e.g. an nn.Module), "
                f"got {type(forward_func).__name__}"
            )
        batch = int(inputs[0].shape[0])
        extra = _ExtraArgs(additional_forward_args, batch)

        def outputs() -> Any:
            return model_outputs(forward_func, inputs, additional_forward_args, chunk_size)

        # frameworks hook (idgrad/frameworks): a model of another framework is an adapter
        # that brings its own seam, checked here before any path work
        own_seam = getattr(forward_func, "idgrad_seam", None)
        if targets is not None:
            if target is not None:
                raise ValueError(
                    "give target (one output) or targets (several), not both; got "
                    f"target={target!r}"
                )
            if own_seam is not None:
                raise ValueError(
                    "targets= (several targets in one call) needs a torch model; for a JAX or "
                    "callback model, call once per target with target=..."
                )
            from idgrad.core.fan_seam import FanSeam  # it builds on this module

            return FanSeam.build_fan(forward_func, inputs, targets, extra, outputs)
        resolved = resolve_target(target, outputs)
        if own_seam is not None:
            return own_seam(inputs, Target(resolved, batch), extra, batch, chunk_size)  # type: ignore[no-any-return]
        return cls(forward_func, Target(resolved, batch), extra, batch)

    def _call(self, points: tuple[torch.Tensor, ...], rows: torch.Tensor) -> torch.Tensor:
        output = self.forward_func(*points, *self.extra.take(rows))
        return self.target.select(output, rows)

    def repeat_for_targets(self, t: torch.Tensor) -> torch.Tensor:
        """A per-example tensor ``(B, ...)`` for this seam's rows: itself (one target)."""
        return t

    def describe_row(self, row: int) -> str:
        """Words for ``row`` in messages."""
        return f"example {row}"

    def scalars(
        self,
        points: tuple[torch.Tensor, ...],
        rows: torch.Tensor,
        where: PointLabel | None = None,
    ) -> torch.Tensor:
        """Forward only: the target scalar at each point, ``(n,)``, detached.

        Raises :class:`~idgrad.core.validation.NonFiniteError` if one is NaN or infinite;
        ``where(i)`` describes point ``i`` in that message.
        """
        with torch.no_grad():
            values = self._call(points, rows).detach()
        if not bool(finite_flag((values,))):
            self._raise_non_finite(values, (), rows, where)
        return values

    def scalars_and_grads(
        self,
        points: tuple[torch.Tensor, ...],
        rows: torch.Tensor,
        where: PointLabel | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Forward + backward: scalars ``(n,)`` and ``d scalar / d point`` per input.

        Points are fresh leaf tensors made by the caller; inputs the output does not
        depend on get zero gradients. Non-finite scalars or gradients raise as in
        :meth:`scalars` (one reduction per tensor, one host sync per chunk).
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
        values = values.detach()
        if not bool(finite_flag((values, *grads))):
            self._raise_non_finite(values, grads, rows, where)
        return values, tuple(grads)

    def _raise_non_finite(
        self,
        values: torch.Tensor,
        grads: Sequence[torch.Tensor],
        rows: torch.Tensor,
        where: PointLabel | None,
    ) -> None:
        """Name the first point (in chunk order) whose scalar or gradient is not finite."""
        n = int(values.shape[0])
        bad_value = ~torch.isfinite(values)
        bad_grad = [~torch.isfinite(g.reshape(n, -1)).all(1) for g in grads]
        bad = bad_value.clone()
        for b in bad_grad:
            bad |= b.to(bad.device)
        i = int(bad.nonzero()[0, 0])
        label = where(i) if callable(where) else where
        at = self.describe_row(int(rows[i])) + (f", {label}" if label else "")
        hint = (
            "; check the model for divisions by zero, overflow, or log/sqrt of values <= 0 "
            "on the path (between the baseline and the input)"
        )
        if bool(bad_value[i]):
            raise NonFiniteError(f"the model's target output F is {float(values[i])} at {at}{hint}")
        k = next(j for j, b in enumerate(bad_grad) if bool(b[i]))
        of = f" (input {k})" if len(grads) > 1 else ""
        raise NonFiniteError(
            f"the gradient of F{of} is NaN or infinite at {at}, where F = "
            f"{float(values[i]):.6g} is finite{hint}"
        )


#: Input elements per pass that ``internal_batch_size="auto"`` aims at, per device type. On
#: the CPU, passes of ~0.5 M input elements keep the activations cache-sized: measured on 2
#: cores (benchmarks/overhead.py), a CIFAR-sized CNN ran 1.1-1.6x faster in 170-row chunks than
#: in one 400-row pass, and EfficientNet-Lite0 at 224x224 1.6-1.7x faster in 3-row chunks than
#: in one 50-row pass. On a GPU, larger passes (4 M elements; not measured, no GPU was lent).
AUTO_CHUNK_ELEMENTS: dict[str, int] = {"cpu": 2**19, "cuda": 2**22}
_AUTO_MAX_ROWS = 4096


def resolve_chunk_size(
    internal_batch_size: ChunkSize, inputs: tuple[torch.Tensor, ...]
) -> int | None:
    """Points per pass: ``"auto"`` becomes a row count from the size of one example.

    ``rows = clamp(AUTO_CHUNK_ELEMENTS[device] // elements_per_example, 1, 4096)``, where
    ``elements_per_example`` counts one example of every input. An int or None is returned
    unchanged. The result never changes the attributions beyond floating-point summation
    order: every point carries its own weight.

    Example:
        >>> resolve_chunk_size("auto", (torch.zeros(8, 3, 32, 32),))  # 2**19 // 3072
        170
        >>> resolve_chunk_size("auto", (torch.zeros(2, 30),)), resolve_chunk_size(None, ())
        (4096, None)
    """
    check_chunk_size(internal_batch_size)
    if internal_batch_size != "auto":
        return internal_batch_size
    per_example = sum(int(x[:1].numel()) for x in inputs) or 1
    budget = AUTO_CHUNK_ELEMENTS.get(inputs[0].device.type, AUTO_CHUNK_ELEMENTS["cuda"])
    return max(1, min(_AUTO_MAX_ROWS, budget // per_example))


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; every other floating dtype accumulates in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def to_input_dtypes(
    tensors: Sequence[torch.Tensor], inputs: Sequence[torch.Tensor]
) -> tuple[torch.Tensor, ...]:
    """Cast accumulated results back to each input's dtype."""
    return tuple(t.to(x.dtype) for t, x in zip(tensors, inputs))


def total_attribution(attributions: Sequence[torch.Tensor]) -> torch.Tensor:
    """Sum of every attribution of each example, over all inputs: ``(B,)``."""
    return torch.stack([a.reshape(a.shape[0], -1).sum(1) for a in attributions]).sum(0)


class Prepared(NamedTuple):
    """Inputs as a tuple, baselines expanded, the model seam, the batch size, the chunk.

    With ``targets`` the inputs and baselines are those of the ``K B`` pseudo-examples
    (example ``b`` repeated for every target, :meth:`ModelSeam.build`) and ``batch_size``
    counts them.
    """

    inputs: tuple[torch.Tensor, ...]
    was_tuple: bool
    baselines: tuple[torch.Tensor, ...]
    seam: ModelSeam
    batch_size: int
    chunk: int | None


def prepare(
    forward_func: Callable[..., Any],
    inputs: TensorOrTuple,
    baselines: BaselineType,
    target: TargetType,
    additional_forward_args: Any,
    internal_batch_size: ChunkSize,
    targets: TargetsType | TargetFan | None = None,
) -> Prepared:
    """Validate and normalise the arguments every path method takes.

    Everything is checked before the first model call, which is the forward pass that
    resolves ``target="predicted"`` (if given). With ``targets`` (``K`` targets) the
    result holds ``K B`` pseudo-examples, ``r = k B + b`` being example ``b`` explained
    for ``targets[k]`` (:mod:`idgrad.core.fan_seam`): every method runs on them as on any
    batch, and ``K`` paths of one example that share their points may share the model's
    passes (:class:`~idgrad.engine.evaluator.Evaluator`).
    """
    check_no_inference_mode()
    xs, was_tuple = as_input_tuple(inputs, forward_func=forward_func)
    bs = expand_baselines(baselines, xs)
    chunk = resolve_chunk_size(internal_batch_size, xs)
    seam = ModelSeam.build(
        forward_func, xs, target, additional_forward_args, chunk, targets=targets
    )
    xs = tuple(seam.repeat_for_targets(x) for x in xs)
    bs = tuple(seam.repeat_for_targets(b) for b in bs)
    return Prepared(xs, was_tuple, bs, seam, int(xs[0].shape[0]), chunk)
