"""A model in train mode: buffers restored after every call (also one that raises), one warning."""

from __future__ import annotations

import copy
import functools
import warnings

import pytest
import torch
from models import ModeDependentNet, SmallMLP
from torch import nn

import idgrad
from idgrad.core.guard import ModelGuard, TrainModeWarning, reachable_modules

D = torch.float64


def _buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.named_buffers()}


def _x() -> torch.Tensor:
    return torch.randn(4, 6, generator=torch.Generator().manual_seed(3), dtype=D)


def test_two_identical_calls_leave_identical_buffers_and_warn() -> None:
    model = ModeDependentNet(p=0.0).train()  # batch norm in train mode, no dropout noise
    before = _buffers(model)
    x = _x()
    with pytest.warns(TrainModeWarning, match="BatchNorm1d"):
        first = idgrad.integrated_gradients(model, x, target=1, n_steps=4)
    after_first = _buffers(model)
    with pytest.warns(TrainModeWarning):
        second = idgrad.integrated_gradients(model, x, target=1, n_steps=4)
    for key, value in _buffers(model).items():
        assert torch.equal(value, before[key]), key
        assert torch.equal(after_first[key], before[key]), key
    # the same statistics at the start of both calls: the same attributions
    torch.testing.assert_close(second, first, rtol=0, atol=0)


def test_a_call_that_raises_restores_the_buffers_too() -> None:
    class FailsLate(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = ModeDependentNet(p=0.0)
            self.calls = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            if self.calls == 3:
                raise RuntimeError("model failed")
            return self.net(x)

    model = FailsLate().train()
    before = _buffers(model)
    with pytest.warns(TrainModeWarning), pytest.raises(RuntimeError, match="model failed"):
        idgrad.integrated_gradients(model, _x(), target=1, n_steps=8, internal_batch_size=4)
    assert model.calls == 3  # two chunks ran (and updated the statistics) before it raised
    for key, value in _buffers(model).items():
        assert torch.equal(value, before[key]), key


def test_nested_methods_warn_once_per_call() -> None:
    model = ModeDependentNet().train()
    x = _x()
    calls = {
        "layer method (calls the core)": lambda: idgrad.layer_integrated_decision_gradients(
            model, model.fc1, x, target=1, n_steps=4
        ),
        "IG x Sign (calls IG)": lambda: idgrad.integrated_gradients_sign(
            model, x, target=1, n_steps=4
        ),
        "noise tunnel (calls the method)": lambda: idgrad.noise_tunnel(
            idgrad.IntegratedGradients(model), x, nt_samples=3, stdevs=0.1, target=1, n_steps=4
        ),
    }
    for label, call in calls.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        assert [w.category for w in caught].count(TrainModeWarning) == 1, label


def test_eval_mode_gives_no_warning_and_keeps_buffers() -> None:
    model = ModeDependentNet().eval()
    before = copy.deepcopy(model.state_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainModeWarning)
        idgrad.integrated_decision_gradients(model, _x(), target=0, n_steps=6)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_train_mode_without_mode_dependent_modules_is_silent() -> None:
    model = SmallMLP().train()  # Linear and Tanh: the same function in both modes
    no_dropout = nn.Sequential(nn.Linear(6, 2), nn.Dropout(0.0)).double().train()
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainModeWarning)
        idgrad.integrated_gradients(model, torch.rand(2, 6, dtype=D), target=0, n_steps=4)
        idgrad.integrated_gradients(no_dropout, torch.rand(2, 6, dtype=D), target=0, n_steps=4)


def test_a_module_that_replaces_its_buffer_gets_the_original_back() -> None:
    class Counter(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("seen", torch.zeros(()))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.training:
                self.seen = self.seen + 1  # a new tensor, not an in-place update
            return x.sum(1)

    model = Counter().train()
    original = model.seen
    with pytest.warns(TrainModeWarning, match="changed its buffers"):
        idgrad.integrated_gradients(model, torch.rand(2, 3, dtype=D), n_steps=4)
    assert model.seen is original and float(model.seen) == 0.0


def test_modules_are_found_through_wrappers() -> None:
    net = ModeDependentNet()
    other = nn.Linear(2, 2)

    def make(model: nn.Module):
        return lambda x: model(x)

    class Holder:
        def __init__(self) -> None:
            self.model = net

        def __call__(self, x: torch.Tensor) -> torch.Tensor:
            return self.model(x)

    assert reachable_modules(net) == [net]
    assert reachable_modules(net.forward) == [net]
    assert reachable_modules(make(net)) == [net]
    assert reachable_modules(functools.partial(make(net))) == [net]
    assert reachable_modules(Holder()) == [net]
    assert reachable_modules(idgrad.IntegratedGradients(net)) == [net]
    assert reachable_modules(net, [other, net]) == [net, other]
    assert reachable_modules(lambda x: x, None, torch.ones(2)) == []


def test_guards_nest_and_only_the_outer_one_restores() -> None:
    model = ModeDependentNet(p=0.0).train()
    before = _buffers(model)
    with pytest.warns(TrainModeWarning) as record:
        with ModelGuard(model):
            with ModelGuard(model):
                model(_x())
            assert not torch.equal(model.bn.running_mean, before["bn.running_mean"])
    assert len(record) == 1
    assert torch.equal(model.bn.running_mean, before["bn.running_mean"])
