"""Checks of user arguments, shared by every module so that each is worded once.

Every check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right kind,
wrong value) naming the argument and what it got, before any model call; none uses
``assert``. Non-finite values found along a path raise :class:`NonFiniteError`.

Example:
    >>> check_int(8, "n_steps"), check_int(0, "n_refine", minimum=0)
    (8, 0)
    >>> check_int(0, "n_steps")
    Traceback (most recent call last):
    ...
    ValueError: n_steps must be >= 1, got 0
    >>> check_number(0.5, "fraction", minimum=0.0, maximum=1.0, open_minimum=True)
    0.5
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import torch

__all__ = [
    "ChunkSize",
    "NonFiniteError",
    "check_chunk_size",
    "check_device",
    "check_finite",
    "check_floating",
    "check_int",
    "check_model_device",
    "check_number",
    "finite_flag",
    "model_devices",
]

#: ``internal_batch_size``: points per forward/backward pass; ``"auto"`` picks it from
#: the input size (:func:`idgrad.core.seam.resolve_chunk_size`); None evaluates every
#: point in one pass.
ChunkSize = int | Literal["auto"] | None


class NonFiniteError(ValueError):
    """The model's output or its gradient is NaN or infinite at a point of a path."""


def check_int(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum`` (bools are refused; numpy ints are fine)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_number(
    value: Any,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    open_minimum: bool = False,
    open_maximum: bool = False,
) -> float:
    """``value`` as a finite float in ``[minimum, maximum]`` (open ends where asked)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    low_ok = minimum is None or (v > minimum if open_minimum else v >= minimum)
    high_ok = maximum is None or (v < maximum if open_maximum else v <= maximum)
    if not (math.isfinite(v) and low_ok and high_ok):
        left = "(" if open_minimum or minimum is None else "["
        low = "-inf" if minimum is None else f"{minimum:g}"
        high = "inf" if maximum is None else f"{maximum:g}"
        end = ")" if open_maximum or maximum is None else "]"
        raise ValueError(f"{name} must be finite and in {left}{low}, {high}{end}, got {value}")
    return v


def check_chunk_size(internal_batch_size: ChunkSize) -> None:
    """Validate ``internal_batch_size`` (an int >= 1, ``"auto"`` or None)."""
    if internal_batch_size is None or internal_batch_size == "auto":
        return
    if isinstance(internal_batch_size, bool) or not isinstance(internal_batch_size, int):
        raise TypeError(
            "internal_batch_size must be an int, 'auto' or None, got "
            f"{internal_batch_size!r} ({type(internal_batch_size).__name__})"
        )
    check_int(internal_batch_size, "internal_batch_size")


def check_floating(tensor: torch.Tensor, label: str, hint: str = "") -> None:
    """Refuse a tensor whose dtype is not floating point (``hint`` says what to do)."""
    if not tensor.is_floating_point():
        raise TypeError(
            f"{label} has dtype {tensor.dtype}; path attribution needs a floating dtype{hint}"
        )


def check_device(tensor: torch.Tensor, label: str) -> None:
    """Refuse a tensor on the ``meta`` device: it has a shape but no values."""
    if tensor.device.type == "meta":
        raise ValueError(
            f"{label} is on the meta device (a shape without values); "
            "move it to a real device (e.g. .to('cpu')) first"
        )


def check_finite(tensor: torch.Tensor, label: str) -> None:
    """Refuse a tensor holding NaN or Inf (call :func:`check_device` first)."""
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{label} contains NaN or Inf")


def finite_flag(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """A 0-d bool tensor: every element of every (real, floating) tensor is finite.

    One ``aminmax`` reduction per tensor (NaN and infinities propagate to its min or
    max): about 10x cheaper than ``isfinite(t).all()`` on the CPU, as it allocates no
    mask. No host sync: ``bool()`` of the result is the caller's one sync.

    Example:
        >>> bool(finite_flag([torch.ones(3), torch.tensor([1.0, float("nan")])]))
        False
    """
    flags = [torch.isfinite(torch.stack(torch.aminmax(t))).all() for t in tensors if t.numel()]
    if not flags:
        return torch.tensor(True)
    device = flags[0].device
    return torch.stack([f.to(device) for f in flags]).all()


def model_devices(forward_func: Callable[..., Any]) -> set[torch.device]:
    """The devices of a module's parameters and buffers (also for its bound methods).

    Empty for a plain function or a module without parameters or buffers: then
    there is nothing to compare the inputs with.

    Example:
        >>> model_devices(torch.nn.Linear(2, 1)), model_devices(torch.sin)
        ({device(type='cpu')}, set())
    """
    module = forward_func if isinstance(forward_func, torch.nn.Module) else None
    if module is None and isinstance(getattr(forward_func, "__self__", None), torch.nn.Module):
        module = forward_func.__self__  # type: ignore[attr-defined]
    if module is None:
        return set()
    tensors: Iterable[torch.Tensor] = (*module.parameters(), *module.buffers())
    return {t.device for t in tensors}


def check_model_device(
    forward_func: Callable[..., Any], tensors: Sequence[torch.Tensor], name: str = "inputs"
) -> None:
    """Refuse inputs on a device where the model has no parameters.

    A model split over several devices accepts inputs on any one of them. Called
    before any model call, so that the error names both devices instead of
    surfacing from deep inside the model.

    Example:
        >>> meta = torch.zeros(1, 2, device="meta")
        >>> try:
        ...     check_model_device(torch.nn.Linear(2, 1), [meta])
        ... except ValueError as err:
        ...     print(str(err)[:58])
        inputs are on meta but the model's parameters are on cpu;
    """
    devices = model_devices(forward_func)
    if not devices or not tensors:
        return
    device = tensors[0].device
    if device not in devices:
        shown = ", ".join(sorted(str(d) for d in devices))
        raise ValueError(
            f"{name} are on {device} but the model's parameters are on {shown}; "
            f"move the {name} (and baselines) to the model's device"
        )
