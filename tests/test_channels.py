"""Tests for idgrad.ops.channels: the one channel reduction behind the metrics and the plots."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from idgrad import metrics, visual
from idgrad.ops import channels


def test_formulas_on_any_axis() -> None:
    a = torch.randn(2, 4, 3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    by_hand = {
        "sum": lambda v, d: v.sum(d),
        "abs_sum": lambda v, d: v.sum(d).abs(),
        "sum_abs": lambda v, d: v.abs().sum(d),
        "positive_sum": lambda v, d: torch.maximum(v.sum(d), torch.zeros(())),
        "l2": lambda v, d: (v**2).sum(d) ** 0.5,
        "max_abs": lambda v, d: v.abs().max(d).values,
    }
    assert set(by_hand) == set(channels.REDUCTIONS)
    for reduction, f in by_hand.items():
        for dim in (1, 3, -1):
            got = channels.combine_channels(a, reduction, dim=dim)  # type: ignore[arg-type]
            torch.testing.assert_close(got, f(a, dim), rtol=1e-14, atol=0, msg=reduction)


def test_result_is_detached_and_input_untouched() -> None:
    a = torch.randn(1, 3, 2, 2, requires_grad=True)
    before = a.detach().clone()
    out = channels.combine_channels(a, "l2", dim=1)
    assert not out.requires_grad
    assert torch.equal(a.detach(), before)


def test_errors() -> None:
    with pytest.raises(ValueError, match="reduction must be one of"):
        channels.combine_channels(torch.ones(1, 2), "mean", dim=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="torch.Tensor"):
        channels.combine_channels(np.ones((1, 2)), "sum", dim=1)  # type: ignore[arg-type]


def test_callers_default_to_the_named_constants() -> None:
    """The metrics rank by the paper's |sum|; the plots keep the sign. Each default is named
    once in idgrad.ops.channels and the callers refer to it."""
    assert channels.SALIENCY_REDUCTION == "abs_sum"
    assert channels.DISPLAY_REDUCTION == "sum"
    default = inspect.signature(metrics.saliency_map).parameters["reduction"].default
    assert default == channels.SALIENCY_REDUCTION
    for fn in (visual.reduce_channels, visual.attribution_map):
        assert inspect.signature(fn).parameters["reduction"].default == channels.DISPLAY_REDUCTION
    a = torch.tensor([1.0, -3.0, 0.5]).reshape(1, 3, 1, 1).expand(1, 3, 2, 2)
    assert metrics.saliency_map(a).flatten().tolist() == [1.5] * 4
    assert visual.reduce_channels(a).flatten().tolist() == [-1.5] * 4
