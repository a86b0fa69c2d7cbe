"""Layer attribution: Integrated Gradients and IDG in the space of a layer's activations.

Token ids are not differentiable, and often the question is about a layer rather
than the raw input. Let ``a = A(x)`` be a layer's activation (its output, or its
input) when the model runs on ``x``, and ``a' = A(x')`` the same at the baseline.
The path runs through the layer's space,

    gamma(alpha) = a' + alpha (a - a'),     G(alpha) = F(x; layer := gamma(alpha)),

where ``F(x; layer := v)`` runs the model on its own inputs ``x`` with the layer's
activation replaced by ``v`` (a forward hook, or a forward pre-hook for the layer's
input). ``G`` is an ordinary function of the activation tensor(s), so the core
methods run on it unchanged: :func:`~idgrad.integrated_gradients` and
:func:`~idgrad.integrated_decision_gradients` see the activations as their inputs
and the model's own inputs as per-example extra arguments, which the seam slices per
point. Schedules, chunking, targets and the IDG rescaling are the core's.

Several layers at once (a list) share one path in the joint space of their
activations (all replaced at the same ``alpha``); they must be independent (no
layer computes from another's output), as in captum's ``LayerIntegratedGradients``.

The convergence delta is measured against the model at its own inputs,
``delta = sum(attributions) - (F(x) - F(x'))`` (for IDG: the pre-rescaling
``sum_k w_k G'(alpha_k) - (F(x) - F(x'))``). ``G(1) = F(x)`` always; ``G(0) = F(x')``
when the layer carries everything the model reads from its inputs (e.g. the word
embeddings of a transformer, with the attention mask as an extra argument). When it
does not, the delta shows the gap and does not shrink with more steps.

Example:
    >>> import torch
    >>> emb = torch.nn.Embedding(10, 3)
    >>> head = torch.nn.Linear(3, 1)
    >>> model = lambda ids: head(emb(ids).mean(1))[:, 0]
    >>> ids = torch.tensor([[1, 2, 3]])
    >>> attr, delta = layer_integrated_gradients(
    ...     model, emb, ids, baselines=0, return_convergence_delta=True)
    >>> attr.shape, bool(delta.abs().max() < 1e-5)  # linear after the layer: exact
    (torch.Size([1, 3, 3]), True)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, Literal, overload

import torch
from torch import nn

from idgrad.integrator import ChunkSize, check_chunk_size, chunk_bounds, resolve_chunk_size
from idgrad.methods import integrated_decision_gradients, integrated_gradients
from idgrad.results import Details
from idgrad.seam import (
    BaselineType,
    ModelSeam,
    TargetType,
    TensorOrTuple,
    check_no_inference_mode,
    expand_baselines,
)
from idgrad.validation import check_int, check_model_device

__all__ = [
    "LayerAttributions",
    "LayerSpec",
    "layer_integrated_decision_gradients",
    "layer_integrated_gradients",
]

LayerSpec = nn.Module | Sequence[nn.Module]
#: One layer: a tensor, or a tuple when the layer's output (input) is several tensors.
#: A list of layers: a tuple with one such entry per layer.
LayerAttributions = torch.Tensor | tuple[Any, ...]


# --------------------------------------------------------------------------- hooks


class _Site:
    """A hook on one layer that can record its activation or replace it.

    ``mode`` is ``"capture"`` (record a detached copy), ``"replace"`` (return the
    tensors in ``replacement`` instead) or ``"idle"``. ``calls`` counts the layer's
    calls since the last reset, to refuse layers that run more or less than once
    per forward pass.
    """

    def __init__(self, layer: nn.Module, index: int, to_input: bool) -> None:
        self.layer = layer
        self.label = f"layer[{index}] ({type(layer).__name__})"
        self.to_input = to_input
        self.mode = "idle"
        self.calls = 0
        self.captured: list[tuple[torch.Tensor, ...]] = []
        self.replacement: tuple[torch.Tensor, ...] | None = None
        self.is_tuple = False
        self.handle: Any = None

    def attach(self) -> None:
        if self.to_input:
            self.handle = self.layer.register_forward_pre_hook(self._pre_hook)
        else:
            self.handle = self.layer.register_forward_hook(self._hook)

    def detach(self) -> None:
        if self.handle is not None:
            self.handle.remove()
            self.handle = None

    def _pre_hook(self, module: nn.Module, args: tuple[Any, ...]) -> Any:
        if self.mode == "idle":
            return None
        if not args:
            raise ValueError(
                f"{self.label} received no positional inputs, so its input cannot be "
                "attributed (it may be called with keyword arguments only); attribute to "
                "its output or to the layer that produces its input"
            )
        self.calls += 1
        self._visit(tuple(args), len(args) > 1, "input")
        if self.mode == "replace":
            return tuple(t.clone() for t in self.replacement)  # type: ignore[union-attr]
        return None

    def _hook(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
        if self.mode == "idle":
            return None
        self.calls += 1
        is_tuple = isinstance(output, (tuple, list))
        self._visit(tuple(output) if is_tuple else (output,), is_tuple, "output")
        if self.mode == "replace":
            # A copy, not the leaf itself: the model may modify it in place (ReLU(inplace)).
            new = tuple(t.clone() for t in self.replacement)  # type: ignore[union-attr]
            return new if is_tuple else new[0]
        return None

    def _visit(self, tensors: tuple[Any, ...], is_tuple: bool, what: str) -> None:
        for i, t in enumerate(tensors):
            label = f"the {what} of {self.label}" + (f" (item {i})" if is_tuple else "")
            if not isinstance(t, torch.Tensor):
                raise TypeError(
                    f"{label} is a {type(t).__name__}; layer attribution needs a tensor or a "
                    "tuple of tensors"
                )
            if not t.is_floating_point():
                raise TypeError(
                    f"{label} has dtype {t.dtype}; only floating activations can be "
                    "interpolated (for token ids, attribute to the embedding layer's output)"
                )
        if self.mode == "capture":
            # A copy: later in-place operations of the model must not change it.
            self.captured.append(tuple(t.detach().clone() for t in tensors))
            self.is_tuple = is_tuple
        elif self.mode == "replace":
            assert self.replacement is not None
            shapes = [tuple(t.shape) for t in tensors]
            expected = [tuple(t.shape) for t in self.replacement]
            if shapes != expected:
                raise ValueError(
                    f"the {what} of {self.label} has shape(s) {shapes} on the path but "
                    f"{expected} were prepared; the layer's shape must not depend on anything "
                    "but the batch"
                )


def _check_calls(sites: Sequence[_Site]) -> None:
    for site in sites:
        if site.calls == 0:
            raise ValueError(f"{site.label} was not called when the model ran on the inputs")
        if site.calls > 1:
            raise ValueError(
                f"{site.label} was called {site.calls} times in one forward pass; layer "
                "attribution needs a layer that runs once per pass (hook a module that is "
                "not shared, or wrap the repeated call in a module of its own)"
            )


# --------------------------------------------------------------------------- checks


def _layers(layer: LayerSpec) -> tuple[tuple[nn.Module, ...], bool]:
    """``(layers, was_list)``; refuses non-modules, empty lists and repeats."""
    if isinstance(layer, nn.Module):
        return (layer,), False
    if isinstance(layer, (list, tuple)):
        layers = tuple(layer)
        if not layers:
            raise ValueError("layer is an empty list; give at least one nn.Module")
        for i, m in enumerate(layers):
            if not isinstance(m, nn.Module):
                raise TypeError(f"layer[{i}] must be an nn.Module, got {type(m).__name__}")
        if len({id(m) for m in layers}) != len(layers):
            raise ValueError("layer lists the same module more than once")
        return layers, True
    raise TypeError(f"layer must be an nn.Module or a list of them, got {type(layer).__name__}")


def _model_inputs(inputs: TensorOrTuple) -> tuple[torch.Tensor, ...]:
    """The model's inputs as a tuple of tensors sharing a batch axis (any dtype)."""
    was_tuple = isinstance(inputs, (tuple, list))
    tensors = tuple(inputs) if was_tuple else (inputs,)
    if not tensors:
        raise ValueError("inputs is an empty tuple")
    for i, t in enumerate(tensors):
        label = f"inputs[{i}]" if was_tuple else "inputs"
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{label} must be a torch.Tensor, got {type(t).__name__}")
        if t.ndim == 0 or t.shape[0] == 0:
            raise ValueError(
                f"{label} must have a non-empty batch axis, got shape {tuple(t.shape)}"
            )
        if (t.is_floating_point() or t.is_complex()) and not torch.isfinite(t).all():
            raise ValueError(f"{label} contains NaN or Inf")
        if t.shape[0] != tensors[0].shape[0]:
            raise ValueError(
                f"{label} has batch size {t.shape[0]} but inputs[0] has {tensors[0].shape[0]}"
            )
    return tuple(t.detach() for t in tensors)


def _model_baselines(
    baselines: BaselineType, inputs: tuple[torch.Tensor, ...]
) -> tuple[torch.Tensor, ...]:
    """Baselines shaped like the model inputs; integer inputs need integer baselines."""
    items = baselines if isinstance(baselines, (tuple, list)) else (baselines,) * len(inputs)
    for i, (b, x) in enumerate(zip(items, inputs)):
        if x.is_floating_point() or x.is_complex():
            continue
        label = f"baselines[{i}]" if len(inputs) > 1 else "baselines"
        bad_number = (
            isinstance(b, numbers.Real)
            and not isinstance(b, bool)
            and (not math.isfinite(float(b)) or float(b) != int(b))
        )
        shown: Any = b
        if isinstance(b, torch.Tensor) and (b.is_floating_point() or b.is_complex()):
            bad_number, shown = True, b.dtype
        if bad_number:
            raise TypeError(
                f"{label} must hold integers like its input (dtype {x.dtype}, e.g. token ids); "
                f"got {shown}"
            )
    return tuple(b.detach() for b in expand_baselines(baselines, inputs))


def _extra_tuple(args: Any) -> tuple[Any, ...]:
    if args is None:
        return ()
    return tuple(args) if isinstance(args, tuple) else (args,)


# --------------------------------------------------------------------------- the pass


class _LayerPath:
    """The hooks, the activations at both ends, and ``G`` as a forward function."""

    def __init__(
        self,
        forward_func: Callable[..., Any],
        layers: tuple[nn.Module, ...],
        inputs: tuple[torch.Tensor, ...],
        baselines: tuple[torch.Tensor, ...],
        target: TargetType,
        extra: tuple[Any, ...],
        to_input: bool,
    ) -> None:
        self.forward_func = forward_func
        self.sites = [_Site(m, i, to_input) for i, m in enumerate(layers)]
        self.inputs = inputs
        self.baselines = baselines
        self.extra = extra
        self.batch = int(inputs[0].shape[0])
        self.seam = ModelSeam.build(forward_func, inputs, target, extra)
        self.counts: list[int] = []

    def capture(
        self, points: tuple[torch.Tensor, ...], internal_batch_size: ChunkSize, name: str
    ) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """Run the model on ``points`` (``B`` rows): the layers' activations and ``F``."""
        values = []
        for site in self.sites:
            site.captured = []
        for start, stop in chunk_bounds(
            self.batch, resolve_chunk_size(internal_batch_size, points)
        ):
            rows = torch.arange(start, stop, device=points[0].device)
            for site in self.sites:
                site.mode, site.calls = "capture", 0
            try:
                values.append(
                    self.seam.scalars(tuple(p[start:stop] for p in points), rows, f"at the {name}")
                )
            finally:
                for site in self.sites:
                    site.mode = "idle"
            _check_calls(self.sites)
        acts: list[torch.Tensor] = []
        counts = []
        for site in self.sites:
            parts = list(zip(*site.captured))
            counts.append(len(parts))
            for j, chunks in enumerate(parts):
                a = torch.cat(chunks, 0)
                label = f"the {'input' if site.to_input else 'output'} of {site.label}"
                if site.is_tuple:
                    label += f" (item {j})"
                if a.ndim == 0 or a.shape[0] != self.batch:
                    raise ValueError(
                        f"{label} has shape {tuple(a.shape)} on a batch of {self.batch} "
                        f"{name}; its first axis must be the batch axis"
                    )
                if not torch.isfinite(a).all():
                    raise ValueError(f"{label} contains NaN or Inf at the {name}")
                acts.append(a)
            site.captured = []
        self.counts = counts
        return tuple(acts), torch.cat(values)

    def forward(self, *args: Any) -> Any:
        """``G``: the model on its inputs with each layer's activation replaced.

        Called by the core seam as ``forward(*activations, *model_inputs, *extra)``
        with every per-example tensor already sliced to the chunk's points.
        """
        offset = 0
        for site, count in zip(self.sites, self.counts):
            site.replacement = tuple(args[offset : offset + count])
            site.mode, site.calls = "replace", 0
            offset += count
        try:
            output = self.forward_func(*args[offset:])
        finally:
            for site in self.sites:
                site.mode, site.replacement = "idle", None
        _check_calls(self.sites)
        return output

    def regroup(self, flat: tuple[torch.Tensor, ...], was_list: bool) -> LayerAttributions:
        """Flat per-tensor results back into one entry per layer."""
        out: list[Any] = []
        offset = 0
        for site, count in zip(self.sites, self.counts):
            part = flat[offset : offset + count]
            out.append(tuple(part) if site.is_tuple else part[0])
            offset += count
        return tuple(out) if was_list else out[0]


def _run(
    core: Callable[..., Any],
    core_kwargs: dict[str, Any],
    forward_func: Callable[..., Any],
    layer: LayerSpec,
    inputs: TensorOrTuple,
    baselines: BaselineType,
    target: TargetType,
    additional_forward_args: Any,
    internal_batch_size: ChunkSize,
    attribute_to_layer_input: bool,
    return_convergence_delta: bool,
    return_details: bool,
) -> Any:
    check_no_inference_mode()
    if not callable(forward_func):
        raise TypeError(f"forward_func must be callable, got {type(forward_func).__name__}")
    layers, was_list = _layers(layer)
    xs = _model_inputs(inputs)
    bs = _model_baselines(baselines, xs)
    check_chunk_size(internal_batch_size)
    extra = _extra_tuple(additional_forward_args)
    check_model_device(forward_func, xs)
    path = _LayerPath(forward_func, layers, xs, bs, target, extra, bool(attribute_to_layer_input))
    for site in path.sites:
        site.attach()
    try:
        acts_end, f_end = path.capture(xs, internal_batch_size, "inputs")
        acts_start, f_start = path.capture(bs, internal_batch_size, "baselines")
        details = core(
            path.forward,
            acts_end,
            baselines=acts_start,
            target=path.seam.target.value,  # "predicted" resolved once, at the inputs
            additional_forward_args=xs + extra,
            internal_batch_size=internal_batch_size,
            return_details=True,
            **core_kwargs,
        )
    finally:
        for site in path.sites:
            site.detach()
    acc = details.delta.dtype
    f_start, f_end = f_start.to(acc), f_end.to(acc)
    # The core's delta is against G(1) - G(0); move it to the model's own F(x) - F(x').
    delta = details.delta + (details.end - details.start) - (f_end - f_start)
    attributions = path.regroup(details.attributions, was_list)
    if return_details:
        return details._replace(
            attributions=attributions,
            delta=delta,
            start=f_start,
            end=f_end,
            n_forward_evals=details.n_forward_evals + 2 * path.batch,
        )
    if return_convergence_delta:
        return attributions, delta
    return attributions


# --------------------------------------------------------------------------- public API


@overload
def layer_integrated_gradients(
    forward_func: Callable[..., Any],
    layer: LayerSpec,
    inputs: TensorOrTuple,
    baselines: BaselineType = ...,
    target: TargetType = ...,
    additional_forward_args: Any = ...,
    n_steps: int = ...,
    method: str = ...,
    internal_batch_size: ChunkSize = ...,
    attribute_to_layer_input: bool = ...,
    multiply_by_inputs: bool = ...,
    return_convergence_delta: Literal[False] = ...,
    return_details: Literal[False] = ...,
) -> LayerAttributions: ...
@overload
def layer_integrated_gradients(
    forward_func: Callable[..., Any],
    layer: LayerSpec,
    inputs: TensorOrTuple,
    baselines: BaselineType = ...,
    target: TargetType = ...,
    additional_forward_args: Any = ...,
    n_steps: int = ...,
    method: str = ...,
    internal_batch_size: ChunkSize = ...,
    attribute_to_layer_input: bool = ...,
    multiply_by_inputs: bool = ...,
    *,
    return_convergence_delta: Literal[True],
    return_details: Literal[False] = ...,
) -> tuple[LayerAttributions, torch.Tensor]: ...
@overload
def layer_integrated_gradients(
    forward_func: Callable[..., Any],
    layer: LayerSpec,
    inputs: TensorOrTuple,
    baselines: BaselineType = ...,
    target: TargetType = ...,
    additional_forward_args: Any = ...,
    n_steps: int = ...,
    method: str = ...,
    internal_batch_size: ChunkSize = ...,
    attribute_to_layer_input: bool = ...,
    multiply_by_inputs: bool = ...,
    return_convergence_delta: bool = ...,
    *,
    return_details: Literal[True],
) -> Details: ...


@overload
def layer_integrated_gradients(
    forward_func: Callable[..., Any],
    layer: LayerSpec,
    inputs: TensorOrTuple,
    baselines: BaselineType = ...,
    target: TargetType = ...,
    additional_forward_args: Any = ...,
    n_steps: int = ...,
    method: str = ...,
    internal_batch_size: ChunkSize = ...,
    attribute_to_layer_input: bool = ...,
    multiply_by_inputs: bool = ...,
    return_convergence_delta: bool = ...,
    return_details: bool = ...,
) -> LayerAttributions | tuple[LayerAttributions, torch.Tensor] | Details: ...


def layer_integrated_gradients(
    forward_func: Callable[..., Any],
    layer: LayerSpec,
    inputs: TensorOrTuple,
    baselines: BaselineType = None,
    target: TargetType = None,
    additional_forward_args: Any = None,
    n_steps: int = 50,
    method: str = "gausslegendre",
    internal_batch_size: ChunkSize = "auto",
    attribute_to_layer_input: bool = False,
    multiply_by_inputs: bool = True,
    return_convergence_delta: bool = False,
    return_details: bool = False,
) -> LayerAttributions | tuple[LayerAttributions, torch.Tensor] | Details:
    """Integrated Gradients of a layer's output (or input), along ``a' -> a``.

    ``LIG_j = (a_j - a'_j) sum_k w_k dG/da_j(a' + alpha_k (a - a'))`` with the
    ``n_steps``-point rule ``method``, where ``a``/``a'`` are the layer's activations
    at ``inputs``/``baselines`` and ``G`` runs the model on ``inputs`` with the layer's
    activation replaced (see the module docstring).

    Args:
        forward_func: the model, called as ``forward_func(*inputs, *additional_forward_args)``.
        layer: an ``nn.Module`` inside the model that runs once per forward pass, or a
            list of independent ones (one joint path; one result per layer).
        inputs: the model's inputs, tensor ``(B, ...)`` or tuple; any dtype (token ids
            are fine): only the layer's activations are interpolated.
        baselines: model inputs whose activations start the path: None (zeros), a
            number, a tensor broadcastable to the input (e.g. pad-token ids), or a tuple.
            Integer inputs need integer baselines.
        target, additional_forward_args, n_steps, method, internal_batch_size,
        multiply_by_inputs: as in :func:`idgrad.integrated_gradients`;
            ``internal_batch_size`` also bounds the two capture passes.
        attribute_to_layer_input: attribute to the layer's positional inputs instead
            of its output.
        return_convergence_delta: also return ``sum(attributions) - (F(x) - F(x'))``,
            ``(B,)``, with ``F`` at the model's own inputs and baselines.
        return_details: return a :class:`~idgrad.results.Details` (``outputs`` and
            ``derivatives`` are ``G`` and ``G'`` along the layer path; ``start`` and
            ``end`` are ``F(x')`` and ``F(x)``).

    Returns:
        Attributions shaped like the layer's activation: a tensor, a tuple when the
        layer's output (input) is a tuple, a tuple of those for a list of layers.

    Raises:
        TypeError: a layer that is not a module, non-floating activations (e.g. the
            input of an embedding layer), integer inputs with fractional baselines.
        ValueError: a layer not called, or called more than once, per forward pass;
            an activation without the batch axis first; the core's checks.
        RuntimeError: inside ``torch.inference_mode``.

    Example:
        >>> import torch
        >>> lin, head = torch.nn.Linear(2, 3).double(), torch.nn.Linear(3, 1).double()
        >>> model = lambda x: head(torch.tanh(lin(x)))[:, 0]
        >>> x = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
        >>> attr, delta = layer_integrated_gradients(model, lin, x, n_steps=32,
        ...                                          return_convergence_delta=True)
        >>> attr.shape, bool(delta.abs().max() < 1e-10)
        (torch.Size([1, 3]), True)
    """
    check_int(n_steps, "n_steps")
    return _run(
        integrated_gradients,
        {"n_steps": n_steps, "method": method, "multiply_by_inputs": multiply_by_inputs},
        forward_func,
        layer,
        inputs,
        baselines,
        target,
        additional_forward_args,
        internal_batch_size,
        attribute_to_layer_input,
        return_convergence_delta,
        return_details,
    )


@overload
def layer_integrated_decision_gradients(
    forward_func: Callable[..., Any],
    layer: LayerSpec,
    inputs: TensorOrTuple,
    baselines: BaselineType = ...,
    target: TargetType = ...,
    additional_forward_args: Any = ...,
    n_steps: int = ...,
    adaptive: bool = ...,
    n_pilot_steps: int | None = ...,
    method: str = ...,
    internal_batch_size: ChunkSize = ...,
    attribute_to_layer_input: bool = ...,
    multiply_by_inputs: bool = ...,
    normalize: bool = ...,
    return_convergence_delta: Literal[False] = ...,
    return_details: Literal[False] = ...,
) -> LayerAttributions: ...
@overload
def layer_integrated_decision_gradients(
    forward_func: Callable[..., Any],
    layer: LayerSpec,
    inputs: TensorOrTuple,
    baselines: BaselineType = ...,
    target: TargetType = ...,
    additional_forward_args: Any = ...,
    n_steps: int = ...,
    adaptive: bool = ...,
    n_pilot_steps: int | None = ...,
    method: str = ...,
    internal_batch_size: ChunkSize = ...,
    attribute_to_layer_input: bool = ...,
    multiply_by_inputs: bool = ...,
    normalize: bool = ...,
    *,
    return_convergence_delta: Literal[True],
    return_details: Literal[False] = ...,
) -> tuple[LayerAttributions, torch.Tensor]: ...
@overload
def layer_integrated_decision_gradients(
    forward_func: Callable[..., Any],
    layer: LayerSpec,
    inputs: TensorOrTuple,
    baselines: BaselineType = ...,
    target: TargetType = ...,
    additional_forward_args: Any = ...,
    n_steps: int = ...,
    adaptive: bool = ...,
    n_pilot_steps: int | None = ...,
    method: str = ...,
    internal_batch_size: ChunkSize = ...,
    attribute_to_layer_input: bool = ...,
    multiply_by_inputs: bool = ...,
    normalize: bool = ...,
    return_convergence_delta: bool = ...,
    *,
    return_details: Literal[True],
) -> Details: ...


@overload
def layer_integrated_decision_gradients(
    forward_func: Callable[..., Any],
    layer: LayerSpec,
    inputs: TensorOrTuple,
    baselines: BaselineType = ...,
    target: TargetType = ...,
    additional_forward_args: Any = ...,
    n_steps: int = ...,
    adaptive: bool = ...,
    n_pilot_steps: int | None = ...,
    method: str = ...,
    internal_batch_size: ChunkSize = ...,
    attribute_to_layer_input: bool = ...,
    multiply_by_inputs: bool = ...,
    normalize: bool = ...,
    return_convergence_delta: bool = ...,
    return_details: bool = ...,
) -> LayerAttributions | tuple[LayerAttributions, torch.Tensor] | Details: ...


def layer_integrated_decision_gradients(
    forward_func: Callable[..., Any],
    layer: LayerSpec,
    inputs: TensorOrTuple,
    baselines: BaselineType = None,
    target: TargetType = None,
    additional_forward_args: Any = None,
    n_steps: int = 50,
    adaptive: bool = True,
    n_pilot_steps: int | None = None,
    method: str = "riemann_middle",
    internal_batch_size: ChunkSize = "auto",
    attribute_to_layer_input: bool = False,
    multiply_by_inputs: bool = True,
    normalize: bool = True,
    return_convergence_delta: bool = False,
    return_details: bool = False,
) -> LayerAttributions | tuple[LayerAttributions, torch.Tensor] | Details:
    """Integrated Decision Gradients of a layer's output (or input), along ``a' -> a``.

    ``LIDG_j = s_b (a_j - a'_j) sum_k w_k G'(alpha_k) dG/da_j(gamma(alpha_k))`` with
    ``G' = grad G . (a - a')``; adaptive points from a forward-only pilot along the
    layer path by default. With ``normalize`` each example is rescaled so its
    attributions sum to ``G(1) - G(0)``, the change along the layer path (equal to
    ``F(x) - F(x')`` when the layer carries all the model reads from its inputs; the
    delta tells).

    Args:
        forward_func, layer, inputs, baselines, target, additional_forward_args,
        internal_batch_size, attribute_to_layer_input, multiply_by_inputs,
        return_details: as in :func:`layer_integrated_gradients`.
        n_steps, adaptive, n_pilot_steps, method, normalize: as in
            :func:`idgrad.integrated_decision_gradients`.
        return_convergence_delta: also return the pre-rescaling
            ``sum_k w_k G'(alpha_k) - (F(x) - F(x'))``, ``(B,)``.

    Returns:
        As :func:`layer_integrated_gradients`.

    Example:
        >>> import torch
        >>> emb, head = torch.nn.Embedding(5, 4).double(), torch.nn.Linear(4, 1).double()
        >>> model = lambda ids: torch.sigmoid(head(emb(ids).sum(1)))[:, 0]
        >>> ids = torch.tensor([[1, 2, 3]])
        >>> attr = layer_integrated_decision_gradients(model, emb, ids, baselines=0,
        ...                                            n_steps=16)
        >>> tokens = attr.sum(-1)  # one score per token
        >>> bool(torch.isclose(tokens.sum(), model(ids) - model(0 * ids)).all())
        True
    """
    check_int(n_steps, "n_steps")
    return _run(
        integrated_decision_gradients,
        {
            "n_steps": n_steps,
            "adaptive": adaptive,
            "n_pilot_steps": n_pilot_steps,
            "method": method,
            "multiply_by_inputs": multiply_by_inputs,
            "normalize": normalize,
        },
        forward_func,
        layer,
        inputs,
        baselines,
        target,
        additional_forward_args,
        internal_batch_size,
        attribute_to_layer_input,
        return_convergence_delta,
        return_details,
    )
