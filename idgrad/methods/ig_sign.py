"""Integrated Gradients times sign (IG x Sign), as in the seed package (seed 002).

    IGxSign_i = s_i * IG_i,    s_i = +1 if x_i >= mu_i else -1,

with ``IG`` from :func:`~idgrad.methods.ig.integrated_gradients` (any baseline, e.g.
from :func:`idgrad.core.baselines.make_baseline`). The sign map makes the attribution of
a feature below the threshold ``mu`` (0, or a reference such as a per-feature mean)
count with the opposite sign. With ``multiply_by_inputs=False`` it is the
path-averaged gradient times the sign, which does not vanish at ``x_i = x'_i``
(the "x Sign" variants of Mamalakis et al.). The convergence delta is IG's
(before the sign).
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable
from typing import Any, Union

import torch

from idgrad.core.results import PathDetails
from idgrad.core.seam import (
    BaselineType,
    TargetsType,
    TargetType,
    TensorOrTuple,
    as_input_tuple,
    restore_form,
)
from idgrad.core.validation import ChunkSize
from idgrad.defaults import (
    INTERNAL_BATCH_SIZE,
    MAX_EVALUATIONS,
    MULTIPLY_BY_INPUTS,
    N_STEPS_AUTO,
    RTOL,
    RULE_AUTO,
    SCHEDULE_AUTO,
    SIGN_MU,
    TARGETS,
)
from idgrad.engine.schedules import UNSET, translate_method
from idgrad.methods.base import path_method
from idgrad.methods.ig import integrated_gradients

__all__ = ["integrated_gradients_sign", "sign_map"]

Threshold = Union[float, torch.Tensor, tuple[float | torch.Tensor, ...]]  # noqa: UP007


def sign_map(inputs: tuple[torch.Tensor, ...], mu: Threshold = 0.0) -> tuple[torch.Tensor, ...]:
    """``+1`` where ``x >= mu``, ``-1`` elsewhere, per input (``mu``: number, tensor or tuple).

    Example:
        >>> sign_map((torch.tensor([[-1.0, 0.0, 2.0]]),))[0].tolist()
        [[-1.0, 1.0, 1.0]]
    """
    items = tuple(mu) if isinstance(mu, (tuple, list)) else (mu,) * len(inputs)
    if len(items) != len(inputs):
        raise ValueError(f"got {len(items)} thresholds mu for {len(inputs)} inputs")
    out = []
    for i, (x, m) in enumerate(zip(inputs, items)):
        if isinstance(m, bool) or not isinstance(m, (numbers.Real, torch.Tensor)):
            raise TypeError(f"mu must be a number or a tensor, got {type(m).__name__}")
        t = torch.as_tensor(m, dtype=x.dtype).detach().to(x.device)
        if not torch.isfinite(t).all():
            raise ValueError("mu must be finite")
        try:
            t = torch.broadcast_to(t, x.shape)
        except RuntimeError:
            raise ValueError(
                f"mu has shape {tuple(t.shape)}, which does not broadcast to input {i} "
                f"{tuple(x.shape)}"
            ) from None
        out.append(torch.where(x >= t, torch.ones_like(x), -torch.ones_like(x)))
    return tuple(out)


@path_method
def integrated_gradients_sign(
    forward_func: Callable[..., Any],
    inputs: TensorOrTuple,
    baselines: BaselineType = None,
    target: TargetType = None,
    additional_forward_args: Any = None,
    *,
    targets: TargetsType | None = TARGETS,
    n_steps: int | None = N_STEPS_AUTO,
    schedule: str | None = SCHEDULE_AUTO,
    rule: str | None = RULE_AUTO,
    rtol: float | None = RTOL,
    max_evaluations: int | None = MAX_EVALUATIONS,
    internal_batch_size: ChunkSize = INTERNAL_BATCH_SIZE,
    multiply_by_inputs: bool = MULTIPLY_BY_INPUTS,
    mu: Threshold = SIGN_MU,
    method: Any = UNSET,
) -> PathDetails[TensorOrTuple]:
    """IG x Sign: Integrated Gradients multiplied by the sign map ``sign(x - mu)`` (0 -> +1).

    Arguments as in :func:`~idgrad.methods.ig.integrated_gradients`, plus ``mu`` (the
    threshold: a number, a tensor broadcastable to the input, or a tuple per input).
    ``integrated_gradients_sign.details(...)`` returns IG's details with the signed
    attributions (the delta is IG's).

    Example:
        >>> import torch
        >>> model = lambda x: (x ** 2).sum(1)
        >>> x = torch.tensor([[-1.0, 2.0]], dtype=torch.float64)
        >>> integrated_gradients_sign(model, x, n_steps=2).tolist()   # IG = (1, 4)
        [[-1.0, 4.0]]
    """
    schedule, rule = translate_method("integrated_gradients_sign", schedule, rule, method)
    xs, _ = as_input_tuple(inputs)
    signs = sign_map(xs, mu)
    out = integrated_gradients.impl(
        forward_func,
        inputs,
        baselines,
        target,
        additional_forward_args,
        targets=targets,
        n_steps=n_steps,
        schedule=schedule,
        rule=rule,
        rtol=rtol,
        max_evaluations=max_evaluations,
        internal_batch_size=internal_batch_size,
        multiply_by_inputs=multiply_by_inputs,
    )
    attr = out.attributions
    attr_t = tuple(attr) if isinstance(attr, tuple) else (attr,)
    signed = restore_form(
        # with targets the attributions hold K copies of the batch: the signs repeat
        tuple(
            (a.reshape(-1, *s.shape) * s.to(a.dtype)).reshape(a.shape)
            for a, s in zip(attr_t, signs)
        ),
        isinstance(attr, tuple),
    )
    return dataclasses.replace(out, attributions=signed)
