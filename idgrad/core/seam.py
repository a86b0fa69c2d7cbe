"""The one seam between idgrad and a user's model.

Everything that knows how a model is called lives here: inputs are normalised to a
tuple of tensors once, at the entry; baselines are expanded to the inputs' shapes;
``additional_forward_args`` are sliced per point; the target
(:class:`idgrad.core.targets.Target`) turns the model's output into one scalar per
point. :class:`ModelSeam` then offers two calls, ``scalars(points, rows)`` (forward
only) and ``scalars_and_grads(points, rows)`` (forward + backward), over a chunk of
points, where ``rows[i]`` is the example a point belongs to.

Both calls check that the scalars (and the gradients) are finite, with one
reduction per tensor and one host sync per chunk, and raise
:class:`~idgrad.core.validation.NonFiniteError` naming the example and the point
(``where``, e.g. its ``alpha``) where they stopped being finite.

With ``targets`` (several targets, :class:`~idgrad.core.targets.TargetFan`) a seam serves
``K B`` pseudo-examples: ``rows`` then count pseudo-examples ``r = k B + b`` (example ``b``,
target ``k``), the model is called on the points with example ``b``'s extra arguments and
each point gets its own target's scalar. ``scalars_per_target`` and
``scalars_and_grads_per_target`` instead take points of real examples and return all ``K``
scalars (and gradients) per point from one forward pass.

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
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import torch

from idgrad.core.targets import Target, TargetFan, TargetsType, TargetType, resolve_target
from idgrad.core.validation import (
    ChunkSize,
    NonFiniteError,
    check_chunk_size,
    check_device,
    check_finite,
    check_floating,
    check_model_device,
    finite_flag,
)

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
    "repeat_examples",
    "resolve_chunk_size",
    "restore_form",
    "to_input_dtypes",
    "total_attribution",
]

TensorOrTuple = torch.Tensor | tuple[torch.Tensor, ...]
BaselineType = None | float | int | torch.Tensor | tuple[None | float | int | torch.Tensor, ...]
#: Words for the position of the points of a chunk on their paths, used only in error
#: messages: one string for all of them, or ``where(i)`` for point ``i`` (``"alpha = 0.25"``).
PointLabel = str | Callable[[int], str]


def check_no_inference_mode() -> None:
    """Refuse to run inside ``torch.inference_mode`` (gradients are impossible there)."""
    if torch.is_inference_mode_enabled():
        raise RuntimeError(
            "idgrad needs gradients, which torch.inference_mode() forbids; "
            "call it outside inference_mode (torch.no_grad() is fine)"
        )


#: Why a path method refuses inputs that are not floating point (the default hint).
FLOATING_HINT = " (attribute token ids through a layer instead)"


def as_input_tuple(
    inputs: TensorOrTuple,
    name: str = "inputs",
    forward_func: Callable[..., Any] | None = None,
    *,
    floating: bool = True,
    hint: str = FLOATING_HINT,
) -> tuple[tuple[torch.Tensor, ...], bool]:
    """Normalise ``inputs`` to a tuple of tensors sharing a batch size and device.

    The one check of a model's inputs, used by the methods, the layer methods
    (:mod:`idgrad.methods.activations`, whose inputs may be token ids) and the noise tunnel.
    Each tensor must have a non-empty batch axis, live on a real device (one of the
    model's, with ``forward_func``: :func:`~idgrad.core.validation.check_model_device`)
    and hold finite values.

    Args:
        inputs: a tensor ``(B, ...)`` or a tuple (list) of them.
        name: what the caller calls them, for messages.
        forward_func: the model, whose device the inputs must be on (None: not checked).
        floating: refuse tensors that are not floating point (with ``hint`` saying why
            or what to do instead); False accepts any dtype (token ids).
        hint: appended to the message refusing a non-floating tensor.

    Returns:
        ``(tensors, was_tuple)``, the tensors detached.

    Raises:
        TypeError: not a tensor / tuple of tensors, or not floating point.
        ValueError: empty batch, mismatched batch sizes or devices, the meta device, NaN
            or Inf.

    Example:
        >>> xs, was_tuple = as_input_tuple(torch.ones(2, 3))
        >>> len(xs), was_tuple
        (1, False)
        >>> as_input_tuple(torch.ones(()))
        Traceback (most recent call last):
        ...
        ValueError: inputs must have a batch axis, got a 0-d tensor
    """
    was_tuple = isinstance(inputs, (tuple, list))
    tensors = tuple(inputs) if was_tuple else (inputs,)
    if not tensors:
        raise ValueError(f"{name} is an empty tuple")
    for i, t in enumerate(tensors):
        label = f"{name}[{i}]" if was_tuple else name
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{label} must be a torch.Tensor, got {type(t).__name__}")
        if floating:
            check_floating(t, label, hint)
        if t.ndim == 0:
            raise ValueError(f"{label} must have a batch axis, got a 0-d tensor")
        if t.shape[0] == 0:
            raise ValueError(f"{label} is an empty batch (shape {tuple(t.shape)})")
        if forward_func is not None:
            check_model_device(forward_func, [t], name)
        check_device(t, label)
        check_finite(t, label)
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
    shape (e.g. ``(1, ...)`` or ``(...)`` without the batch axis) and be on the
    input's device (a 0-d tensor counts as a number); a tuple gives one of those per
    input. Zeros and numbers are a single element broadcast to the input's shape (no
    memory per example); tensors are copied.
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
        if b.ndim > 0 and b.device != x.device:
            raise ValueError(
                f"{label} is on {b.device} but its input is on {x.device}; "
                "put inputs and baselines on one device (the model's)"
            )
        check_device(b, label)
        if b.is_complex():
            raise TypeError(f"{label} must be real, got {b.dtype}")
        check_finite(b, label)
        try:
            expanded = torch.broadcast_to(b, x.shape)
        except RuntimeError:
            raise ValueError(
                f"{label} has shape {tuple(b.shape)}, which does not broadcast to the input "
                f"shape {tuple(x.shape)}"
            ) from None
        out.append(expanded.to(device=x.device, dtype=x.dtype).clone())
    return tuple(out)


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
        #: The ``K`` targets of a call with ``targets``, else None.
        self.fan = target if isinstance(target, TargetFan) else None
        #: Whether the ``K`` gradients of a point come from one batched vector-Jacobian
        #: product (None: not tried yet; False: the model's backward cannot be vmapped).
        self.batched_grads: bool | None = None

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
        ``targets`` (``target`` must then be None) the seam serves pseudo-examples (see
        the module docstring); ``"all"`` is resolved from the output at the first example.
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

            def probe() -> Any:
                first = torch.zeros(1, dtype=torch.long, device=inputs[0].device)
                with torch.no_grad():
                    return forward_func(*(x[:1] for x in inputs), *extra.take(first))

            fan = TargetFan.build(targets, batch, outputs, probe)
            return cls(forward_func, fan, extra, batch)
        resolved = resolve_target(target, outputs)
        if own_seam is not None:
            return own_seam(inputs, Target(resolved, batch), extra, batch, chunk_size)  # type: ignore[no-any-return]
        return cls(forward_func, Target(resolved, batch), extra, batch)

    def _output(self, points: tuple[torch.Tensor, ...], rows: torch.Tensor) -> Any:
        """The model at ``points``; ``rows`` are examples (pseudo-examples with a fan)."""
        real = rows if self.fan is None else self.fan.split(rows)[1]
        return self.forward_func(*points, *self.extra.take(real))

    def _call(self, points: tuple[torch.Tensor, ...], rows: torch.Tensor) -> torch.Tensor:
        return self.target.select(self._output(points, rows), rows)

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

    def scalars_per_target(
        self,
        points: tuple[torch.Tensor, ...],
        rows: torch.Tensor,
        where: PointLabel | None = None,
    ) -> torch.Tensor:
        """Forward only, the ``K`` targets at once: ``(K, n)``, detached.

        ``rows`` are real examples (``0 <= rows < B``); one forward pass serves every target.
        """
        fan = self._need_fan()
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
        fan = self._need_fan()
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

    def _need_fan(self) -> TargetFan:
        if self.fan is None:
            raise TypeError("this seam has one target; the per-target calls need targets=")
        return self.fan

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
        example = f"example {int(rows[i])}" if self.fan is None else self.fan.where(int(rows[i]))
        at = example + (f", {label}" if label else "")
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
    for ``targets[k]`` (see :class:`~idgrad.core.targets.TargetFan`): every method runs
    on them as on any batch, and ``K`` paths of one example that share their points may
    share the model's passes (:class:`~idgrad.engine.evaluator.Evaluator`).
    """
    check_no_inference_mode()
    xs, was_tuple = as_input_tuple(inputs, forward_func=forward_func)
    bs = expand_baselines(baselines, xs)
    chunk = resolve_chunk_size(internal_batch_size, xs)
    seam = ModelSeam.build(
        forward_func, xs, target, additional_forward_args, chunk, targets=targets
    )
    if seam.fan is not None:
        k = seam.fan.n_targets
        xs = tuple(repeat_examples(x, k) for x in xs)
        bs = tuple(repeat_examples(b, k) for b in bs)
    return Prepared(xs, was_tuple, bs, seam, int(xs[0].shape[0]), chunk)
