"""The seed package's function names (``integrated-decision-gradients`` 0.1.2).

Same parameter names, defaults and return shapes as that package, computed by
idgrad's methods, without its bugs: the convergence delta is honest (computed
before the completeness rescaling), the adaptive schedule is built per example,
the step budget is exact, tensor targets work, and the caller's model is never
switched to eval mode.

Differences that remain on purpose: ``n_prechar_steps=None`` uses
:func:`idgrad.default_pilot_steps` rather than ``n_steps // 2``; the rule is the
midpoint rule (the adaptive schedule is the seed's, a forward-only pilot, not idgrad's
graded one); ``delta`` has one entry per example (``(B,)``; ``.item()`` works for
one example).

Example:
    >>> import torch
    >>> model = torch.nn.Linear(3, 1)
    >>> x = torch.rand(2, 3)
    >>> get_integrated_decision_gradients(model, x).shape
    torch.Size([2, 3])
"""

from __future__ import annotations

from typing import Any

import torch

from idgrad.core.seam import TargetType
from idgrad.core.validation import check_int
from idgrad.defaults import ADAPTIVE, N_STEPS, PILOT_RULE
from idgrad.methods import integrated_decision_gradients, integrated_gradients
from idgrad.methods.base import captum_result

__all__ = ["get_integrated_decision_gradients", "get_integrated_gradients"]


def _sum_of_outputs(output: torch.Tensor) -> torch.Tensor:
    return output.reshape(output.shape[0], -1).sum(1)


def _seed_target(target: Any) -> TargetType:
    return _sum_of_outputs if target is None else target


def _points_per_pass(batch_size: int, input: torch.Tensor) -> int:
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"input must be a torch.Tensor, got {type(input).__name__}")
    batch_size = check_int(batch_size, "batch_size (steps per pass)")
    return batch_size * int(input.shape[0]) if input.ndim else batch_size


def _seed_schedule(adaptive: bool) -> str:
    """The seed's ``adaptive`` flag as a schedule: its pilot schedule, or uniform midpoints."""
    if not isinstance(adaptive, bool):
        raise TypeError(f"adaptive must be a bool, got {type(adaptive).__name__}")
    return "pilot" if adaptive else "uniform"


def _pilot_steps(adaptive: bool, n_prechar_steps: int | None) -> int | None:
    """The seed's pilot size: only with its adaptive schedule."""
    if adaptive or n_prechar_steps is None:
        return n_prechar_steps
    if n_prechar_steps is not None:
        raise ValueError(
            "n_prechar_steps is the adaptive schedule's pilot: adaptive=False has none"
        )
    return None


def get_integrated_decision_gradients(
    model: torch.nn.Module,
    input: torch.Tensor,
    baseline: torch.Tensor | None = None,
    target: int | torch.Tensor | None = None,
    n_steps: int = N_STEPS,
    adaptive: bool = ADAPTIVE,
    n_prechar_steps: int | None = None,
    batch_size: int = 1,
    return_convergence_delta: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Integrated Decision Gradients with the seed package's signature.

    ``target=None`` attributes the sum of all outputs; ``batch_size`` is the number
    of steps evaluated per forward/backward pass (for the whole batch).

    Returns:
        Attributions shaped like ``input``; with ``return_convergence_delta`` also
        the pre-rescaling delta ``(B,)``.
    """
    return captum_result(  # type: ignore[no-any-return]
        integrated_decision_gradients,
        return_convergence_delta,
        model,
        input,
        baselines=baseline,
        target=_seed_target(target),
        n_steps=n_steps,
        schedule=_seed_schedule(adaptive),
        n_pilot_steps=_pilot_steps(adaptive, n_prechar_steps),
        rule=PILOT_RULE,  # the seed's points: midpoints (inside pilot intervals)
        internal_batch_size=_points_per_pass(batch_size, input),
    )


def get_integrated_gradients(
    model: torch.nn.Module,
    input: torch.Tensor,
    baseline: torch.Tensor | None = None,
    target: int | torch.Tensor | None = None,
    n_steps: int = N_STEPS,
    batch_size: int = 1,
    return_convergence_delta: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Integrated Gradients with the seed package's signature (midpoint rule).

    Returns:
        Attributions shaped like ``input``; with ``return_convergence_delta`` also
        the delta ``sum(IG) - (F(x) - F(x'))`` ``(B,)``.
    """
    return captum_result(  # type: ignore[no-any-return]
        integrated_gradients,
        return_convergence_delta,
        model,
        input,
        baselines=baseline,
        target=_seed_target(target),
        n_steps=n_steps,
        rule="riemann_middle",
        internal_batch_size=_points_per_pass(batch_size, input),
    )
