"""A call's inputs and baselines, checked and normalised once, at the entry.

Inputs become a tuple of detached tensors sharing a batch size and a device
(:func:`as_input_tuple`, :func:`restore_form` gives results back in their form); baselines
are expanded to the inputs' shapes (:func:`expand_baselines`). :mod:`idgrad.core.seam`
re-exports all of it.

Example:
    >>> xs, was_tuple = as_input_tuple(torch.ones(2, 3))
    >>> expand_baselines(0.5, xs)[0].shape, was_tuple
    (torch.Size([2, 3]), False)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import torch

from idgrad.core.validation import (
    check_device,
    check_finite,
    check_floating,
    check_model_device,
)

__all__ = [
    "FLOATING_HINT",
    "BaselineType",
    "TensorOrTuple",
    "as_input_tuple",
    "check_no_inference_mode",
    "expand_baselines",
    "restore_form",
]

TensorOrTuple = torch.Tensor | tuple[torch.Tensor, ...]
BaselineType = None | float | int | torch.Tensor | tuple[None | float | int | torch.Tensor, ...]


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
