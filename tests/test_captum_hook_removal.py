"""captum 0.9's ``tests/attr/test_hook_removal.py`` for IG and Layer IG, against our classes.

captum generates these from the first entry of its test config that uses each method: IG on
``BasicModel_MultiLayer`` (4 random examples, target 1) and Layer IG on ``conv2`` of
``BasicModel_ConvNet`` (4 random 10x10 images scaled by 100, target 1). After an attribution -
a normal one, one with an impossible target, and (layer methods) one where the layer itself
raises - no forward, forward-pre or backward hook may be left on any module.

captum expects an ``AssertionError`` for the impossible target; we raise ``ValueError`` (README
"Differences from captum"). The raising layer's own ``AssertionError`` passes through unchanged.
"""

from __future__ import annotations

import pytest
import torch
from captum_models import BasicModel_ConvNet, BasicModel_MultiLayer
from torch import nn

import idgrad

IMPOSSIBLE_TARGET = (9999,) * 20


class ErrorModule(nn.Module):
    """A layer that fails when it runs."""

    def forward(self, *args: object, **kwargs: object) -> torch.Tensor:
        raise AssertionError("Raising error on execution")


def _assert_no_hooks(model: nn.Module) -> None:
    for module in model.modules():
        assert len(module._forward_hooks) == 0
        assert len(module._forward_pre_hooks) == 0
        assert len(module._backward_hooks) == 0


def _ig_problem() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(1234)
    return BasicModel_MultiLayer(), torch.randn(4, 3)


def _layer_problem() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(1234)
    return BasicModel_ConvNet(), 100 * torch.randn(4, 1, 10, 10)


@pytest.mark.parametrize("cls", [idgrad.IntegratedGradients, idgrad.IntegratedDecisionGradients])
def test_hook_removal_normal_basic_single_target(cls: type) -> None:
    model, x = _ig_problem()
    cls(model).attribute(x, target=1)
    _assert_no_hooks(model)


@pytest.mark.parametrize("cls", [idgrad.IntegratedGradients, idgrad.IntegratedDecisionGradients])
def test_hook_removal_incorrect_target_basic_single_target(cls: type) -> None:
    model, x = _ig_problem()
    with pytest.raises(ValueError, match="target"):
        cls(model).attribute(x, target=IMPOSSIBLE_TARGET)
    _assert_no_hooks(model)


LAYER_CLASSES = [idgrad.LayerIntegratedGradients, idgrad.LayerIntegratedDecisionGradients]


@pytest.mark.parametrize("cls", LAYER_CLASSES)
def test_hook_removal_normal_conv_layer_single_target(cls: type) -> None:
    model, x = _layer_problem()
    cls(model, model.conv2).attribute(x, target=1)
    _assert_no_hooks(model)


@pytest.mark.parametrize("cls", LAYER_CLASSES)
def test_hook_removal_incorrect_target_conv_layer_single_target(cls: type) -> None:
    model, x = _layer_problem()
    with pytest.raises(ValueError, match="target"):
        cls(model, model.conv2).attribute(x, target=IMPOSSIBLE_TARGET)
    _assert_no_hooks(model)


@pytest.mark.parametrize("cls", LAYER_CLASSES)
def test_hook_removal_invalid_module_conv_layer_single_target(cls: type) -> None:
    model, x = _layer_problem()
    model.conv2 = ErrorModule()
    with pytest.raises(AssertionError, match="Raising error on execution"):
        cls(model, model.conv2).attribute(x, target=1)
    _assert_no_hooks(model)
