"""Every public function leaves the user's model, inputs and autograd state as found."""

from __future__ import annotations

import copy

import pytest
import torch

import idgrad

D = torch.float64


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(4, 3).double()
        self.drop = torch.nn.Dropout(0.5)
        self.bn = torch.nn.BatchNorm1d(3).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.drop(torch.tanh(self.fc(x))))


def _calls():
    yield (
        "integrated_gradients",
        lambda m, x: idgrad.integrated_gradients(m, x, target=1, n_steps=4, internal_batch_size=3),
    )
    yield (
        "integrated_decision_gradients",
        lambda m, x: idgrad.integrated_decision_gradients(m, x, target=1, n_steps=4),
    )
    yield (
        "idg_uniform",
        lambda m, x: idgrad.integrated_decision_gradients(
            m, x, target=1, n_steps=4, adaptive=False
        ),
    )
    yield (
        "IntegratedGradients",
        lambda m, x: idgrad.IntegratedGradients(m).attribute(x, target=1, n_steps=4),
    )
    yield (
        "IntegratedDecisionGradients",
        lambda m, x: idgrad.IntegratedDecisionGradients(m).attribute(x, target=1, n_steps=4),
    )
    yield (
        "get_integrated_gradients",
        lambda m, x: idgrad.get_integrated_gradients(m, x, target=1, n_steps=4),
    )
    yield (
        "get_integrated_decision_gradients",
        lambda m, x: idgrad.get_integrated_decision_gradients(m, x, target=1, n_steps=4),
    )


CALLS = dict(_calls())


@pytest.mark.filterwarnings("ignore::idgrad.IDGWarning")  # train-mode BatchNorm flattens F
@pytest.mark.parametrize("name", list(CALLS))
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("grad_mode", [True, False])
def test_state_is_left_as_found(name: str, training: bool, grad_mode: bool) -> None:
    model = Net()
    model.train(training)
    model.fc.weight.grad = torch.full_like(model.fc.weight, 7.0)  # a stale grad the user kept
    params_before = copy.deepcopy(model.state_dict())
    x = torch.rand(3, 4, dtype=D)
    x.requires_grad_(True)
    x_before = x.detach().clone()
    if training:
        # BatchNorm in train mode + dropout: the function is random; we only check state
        torch.manual_seed(0)
    with torch.set_grad_enabled(grad_mode):
        out = CALLS[name](model, x)
        assert torch.is_grad_enabled() == grad_mode
    assert model.training == training
    assert all(m.training == training for m in model.modules())
    assert torch.equal(model.fc.weight.grad, torch.full_like(model.fc.weight, 7.0))
    assert model.fc.bias.grad is None
    for k, v in model.state_dict().items():
        if k.endswith(("running_mean", "running_var", "num_batches_tracked")):
            continue  # a train-mode BatchNorm updates its statistics on every forward
        assert torch.equal(v, params_before[k]), k
    assert x.requires_grad and x.grad is None
    assert torch.equal(x.detach(), x_before)
    assert x.is_leaf
    result = out[0] if isinstance(out, tuple) else out
    assert not result.requires_grad


def test_eval_mode_batchnorm_statistics_untouched() -> None:
    model = Net().eval()
    before = copy.deepcopy(model.state_dict())
    idgrad.integrated_decision_gradients(model, torch.rand(3, 4, dtype=D), target=0, n_steps=6)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_inputs_without_requires_grad_stay_so() -> None:
    model = Net().eval()
    x = torch.rand(2, 4, dtype=D)
    b = torch.rand(2, 4, dtype=D)
    idgrad.integrated_gradients(model, x, baselines=b, target=0, n_steps=3)
    assert not x.requires_grad and not b.requires_grad


def test_rng_state_untouched_by_deterministic_methods() -> None:
    model = Net().eval()
    x = torch.rand(2, 4, dtype=D)
    state = torch.get_rng_state()
    idgrad.integrated_decision_gradients(model, x, target=0, n_steps=6)
    assert torch.equal(torch.get_rng_state(), state)
