"""Capturing and replacing a layer's activations: the hooks behind :mod:`idgrad.methods.layer`.

:class:`LayerPath` hooks one or several layers of a model. ``capture`` runs the
model on its own inputs (or baselines) and records the layers' activations;
``forward`` is the model as a function of those activations,
``G(a) = F(x; layer := a)``, which the core methods integrate along ``a' -> a``.
A layer must run exactly once per forward pass and produce floating tensors whose
first axis is the batch axis; anything else is refused with a clear error.

Example:
    >>> import torch
    >>> lin, head = torch.nn.Linear(2, 3), torch.nn.Linear(3, 1)
    >>> model = lambda x: head(lin(x))[:, 0]
    >>> path, was_list = LayerPath.build(model, lin, torch.rand(4, 2), 0, None, None, False)
    >>> with path.hooked():
    ...     acts, values = path.capture(path.inputs, None, "inputs")
    >>> acts[0].shape, values.shape, was_list
    (torch.Size([4, 3]), torch.Size([4]), False)
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from idgrad.core.fan_seam import FanSeam
from idgrad.core.seam import (
    BaselineType,
    ModelSeam,
    TargetsType,
    TargetType,
    TensorOrTuple,
    as_input_tuple,
    chunk_bounds,
    expand_baselines,
    resolve_chunk_size,
)
from idgrad.core.validation import ChunkSize

__all__ = ["LayerAttributions", "LayerPath", "LayerSpec"]

LayerSpec = nn.Module | Sequence[nn.Module]
#: One layer: a tensor, or a tuple when the layer's output (input) is several tensors.
#: A list of layers: a list with one such entry per layer.
LayerAttributions = torch.Tensor | tuple[torch.Tensor, ...] | list[Any]


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


class LayerPath:
    """The hooks, the activations at both ends, and ``G`` as a forward function.

    Build it with :meth:`build`, which checks every argument before the model runs.
    """

    def __init__(
        self,
        forward_func: Callable[..., Any],
        layers: tuple[nn.Module, ...],
        inputs: tuple[torch.Tensor, ...],
        baselines: tuple[torch.Tensor, ...],
        target: TargetType,
        extra: tuple[Any, ...],
        to_input: bool,
        targets: TargetsType | None = None,
    ) -> None:
        self.forward_func = forward_func
        self.sites = [_Site(m, i, to_input) for i, m in enumerate(layers)]
        self.inputs = inputs
        self.baselines = baselines
        self.extra = extra
        self.batch = int(inputs[0].shape[0])
        self.seam = ModelSeam.build(forward_func, inputs, target, extra, targets=targets)
        self.counts: list[int] = []

    @classmethod
    def build(
        cls,
        forward_func: Callable[..., Any],
        layer: LayerSpec,
        inputs: TensorOrTuple,
        baselines: BaselineType,
        target: TargetType,
        additional_forward_args: Any,
        attribute_to_layer_input: bool,
        targets: TargetsType | None = None,
    ) -> tuple[LayerPath, bool]:
        """Check the arguments; the path and whether ``layer`` was a list."""
        if not callable(forward_func):
            raise TypeError(f"forward_func must be callable, got {type(forward_func).__name__}")
        layers, was_list = _layers(layer)
        # Any dtype: the layer's activations are interpolated, not the inputs (token ids).
        xs, _ = as_input_tuple(inputs, forward_func=forward_func, floating=False)
        bs = _model_baselines(baselines, xs)
        extra = _extra_tuple(additional_forward_args)
        path = cls(
            forward_func, layers, xs, bs, target, extra, bool(attribute_to_layer_input), targets
        )
        return path, was_list

    @contextlib.contextmanager
    def hooked(self) -> Iterator[None]:
        """The layers' hooks attached for the duration (removed also on errors)."""
        for site in self.sites:
            site.attach()
        try:
            yield
        finally:
            for site in self.sites:
                site.detach()

    def capture(
        self, points: tuple[torch.Tensor, ...], internal_batch_size: ChunkSize, name: str
    ) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """Run the model on ``points`` (``B`` rows): the layers' activations and ``F``.

        With several targets ``F`` holds every target's value at every row, ``(K B,)``
        (row ``k B + b``), from the one pass.
        """
        values = []
        for site in self.sites:
            site.captured = []
        for start, stop in chunk_bounds(
            self.batch, resolve_chunk_size(internal_batch_size, points)
        ):
            rows = torch.arange(start, stop, device=points[0].device)
            for site in self.sites:
                site.mode, site.calls = "capture", 0
            chunk = tuple(p[start:stop] for p in points)
            try:
                if isinstance(self.seam, FanSeam):  # every target's F from the one pass
                    values.append(self.seam.scalars_per_target(chunk, rows, f"at the {name}"))
                else:
                    values.append(self.seam.scalars(chunk, rows, f"at the {name}"))
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
        return tuple(acts), torch.cat(values, -1).reshape(-1)

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
        return out if was_list else out[0]
