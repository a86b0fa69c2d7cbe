"""Baselines (references) for path attributions, by kind.

``make_baseline(kind, inputs)`` returns a tensor shaped, typed and placed like
``inputs`` (or a tuple, one per input, for a tuple of inputs):

========== ==================================================================
kind       baseline
========== ==================================================================
``zero``   all zeros
``black``  ``low`` everywhere (a number, or a tensor broadcastable to one
           example, e.g. per-channel ``(C, 1, 1)`` for normalised images)
``white``  ``high`` everywhere (idem)
``gaussian`` ``mean + std * N(0, 1)``, seeded; ``mean="input"`` gives a noisy copy
           of the input (Sturmfels et al. 2020); optional ``clip``
``uniform`` ``U(low, high)`` per feature, seeded
``blur``   the input blurred with a Gaussian of std. dev. ``sigma``
           (:func:`idgrad.ops.blur.gaussian_filter`; spatial axes by default)
a tensor   the user's baseline, broadcast to the inputs' shape (copied)
========== ==================================================================

Random kinds draw from a CPU generator seeded with ``seed`` (float64, then cast and
moved), so a seed gives the same baseline on every device and dtype; ``seed=None``
draws from torch's global generator.

Example:
    >>> import torch
    >>> x = torch.rand(2, 3, 4, 4)
    >>> make_baseline("white", x).unique().tolist()
    [1.0]
    >>> torch.equal(make_baseline("gaussian", x, seed=1), make_baseline("gaussian", x, seed=1))
    True
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Literal, Union

import torch

from idgrad.ops.blur import gaussian_filter

__all__ = ["BASELINE_KINDS", "BaselineKind", "make_baseline"]

BaselineKind = Literal["zero", "black", "white", "gaussian", "uniform", "blur"]
BASELINE_KINDS: tuple[str, ...] = ("zero", "black", "white", "gaussian", "uniform", "blur")

Level = Union[float, torch.Tensor]  # noqa: UP007


def _level(value: Level, x: torch.Tensor, name: str) -> torch.Tensor:
    """A number or tensor broadcast to ``x`` (``x.shape`` or one example's shape)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, torch.Tensor)):
        raise TypeError(f"{name} must be a number or a tensor, got {type(value).__name__}")
    t = torch.as_tensor(value, dtype=torch.float64).detach()
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite")
    try:
        return torch.broadcast_to(t.to(x.device), x.shape)
    except RuntimeError:
        raise ValueError(
            f"{name} has shape {tuple(t.shape)}, which does not broadcast to {tuple(x.shape)}"
        ) from None


def _generator(seed: int | None) -> torch.Generator | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
    return torch.Generator().manual_seed(int(seed))


def _one(
    kind: BaselineKind | torch.Tensor,
    x: torch.Tensor,
    gen: torch.Generator | None,
    low: Level,
    high: Level,
    mean: Level | Literal["input"],
    std: float,
    clip: tuple[float, float] | None,
    sigma: float,
    dims: Sequence[int] | None,
    label: str,
) -> torch.Tensor:
    if isinstance(kind, torch.Tensor):
        if not torch.isfinite(kind).all():
            raise ValueError("the baseline tensor contains NaN or Inf")
        try:
            return torch.broadcast_to(kind.detach(), x.shape).to(x.device, x.dtype).clone()
        except RuntimeError:
            raise ValueError(
                f"the baseline tensor has shape {tuple(kind.shape)}, which does not broadcast "
                f"to {label} {tuple(x.shape)}"
            ) from None
    if kind == "zero":
        return torch.zeros_like(x)
    if kind == "black":
        return _level(low, x, "low").to(x.dtype).clone()
    if kind == "white":
        return _level(high, x, "high").to(x.dtype).clone()
    if kind == "gaussian":
        noise = torch.randn(x.shape, generator=gen, dtype=torch.float64).to(x.device)
        center = x.detach().to(torch.float64) if isinstance(mean, str) else _level(mean, x, "mean")
        out = center + std * noise
        if clip is not None:
            out = out.clamp(clip[0], clip[1])
        return out.to(x.dtype)
    if kind == "uniform":
        lo, hi = _level(low, x, "low"), _level(high, x, "high")
        if (lo > hi).any():
            raise ValueError("uniform baseline needs low <= high")
        u = torch.rand(x.shape, generator=gen, dtype=torch.float64).to(x.device)
        return (lo + (hi - lo) * u).to(x.dtype)
    if kind == "blur":
        return gaussian_filter(x.detach(), sigma, dims)
    raise ValueError(
        f"unknown baseline kind {kind!r}; expected a tensor or one of {', '.join(BASELINE_KINDS)}"
    )


def make_baseline(
    kind: BaselineKind | torch.Tensor,
    inputs: torch.Tensor | tuple[torch.Tensor, ...],
    *,
    seed: int | None = 0,
    low: Level = 0.0,
    high: Level = 1.0,
    mean: Level | Literal["input"] = 0.0,
    std: float = 0.1,
    clip: tuple[float, float] | None = None,
    sigma: float = 5.0,
    dims: Sequence[int] | None = None,
) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """A baseline of ``kind`` for ``inputs`` (see the module table).

    Args:
        kind: ``"zero"``, ``"black"``, ``"white"``, ``"gaussian"``, ``"uniform"``,
            ``"blur"``, or a tensor broadcastable to the inputs.
        inputs: ``(B, ...)`` floating tensor, or a tuple of them (one baseline each; the
            random kinds draw them one after the other from the same generator).
        seed: seed of the random kinds (None: torch's global generator).
        low, high: the value range: ``black`` is ``low``, ``white`` is ``high``,
            ``uniform`` draws in ``[low, high]``. Numbers or broadcastable tensors.
        mean: centre of ``gaussian`` (a number, a broadcastable tensor, or ``"input"``).
        std: standard deviation of ``gaussian`` (>= 0; the seed package used 0.1).
        clip: ``(low, high)`` range ``gaussian`` is clipped to, or None.
        sigma: blur standard deviation in samples for ``blur`` (>= 0; default 5).
        dims: blurred axes for ``blur`` (default: ``2 ..`` or ``1`` for 2-D inputs).

    Returns:
        A baseline like ``inputs`` (a new tensor; ``inputs`` is not modified).

    Raises:
        ValueError: unknown kind, bad parameter values or shapes.
        TypeError: a non-tensor input or a parameter of the wrong type.

    Example:
        >>> x = torch.tensor([[0.5, 2.0]])
        >>> make_baseline("black", x, low=-1.0).tolist()
        [[-1.0, -1.0]]
        >>> make_baseline(torch.tensor([1.0, 3.0]), x).tolist()
        [[1.0, 3.0]]
    """
    was_tuple = isinstance(inputs, (tuple, list))
    xs = tuple(inputs) if was_tuple else (inputs,)
    if not xs:
        raise ValueError("inputs is an empty tuple")
    for i, x in enumerate(xs):
        label = f"inputs[{i}]" if was_tuple else "inputs"
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"{label} must be a floating-point tensor")
        if x.ndim < 1:
            raise ValueError(f"{label} must have a batch axis")
    if not isinstance(kind, torch.Tensor) and not isinstance(kind, str):
        raise TypeError(f"kind must be a string or a tensor, got {type(kind).__name__}")
    if (
        isinstance(std, bool)
        or not isinstance(std, numbers.Real)
        or not (math.isfinite(float(std)) and std >= 0)
    ):
        raise ValueError(f"std must be a finite number >= 0, got {std!r}")
    if (
        isinstance(sigma, bool)
        or not isinstance(sigma, numbers.Real)
        or not (math.isfinite(float(sigma)) and sigma >= 0)
    ):
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
    if isinstance(mean, str) and mean != "input":
        raise ValueError(f"mean must be a number, a tensor or 'input', got {mean!r}")
    if clip is not None and (
        not isinstance(clip, (tuple, list)) or len(clip) != 2 or not clip[0] <= clip[1]
    ):
        raise ValueError(f"clip must be None or a pair (low, high) with low <= high, got {clip!r}")
    gen = _generator(seed)
    out = tuple(
        _one(
            kind,
            x,
            gen,
            low,
            high,
            mean,
            float(std),
            clip,
            float(sigma),
            dims,
            f"inputs[{i}]" if was_tuple else "inputs",
        )
        for i, x in enumerate(xs)
    )
    return out if was_tuple else out[0]
