"""The captum-style classes: captum's whole ``Attribution`` contract, not only ``attribute``."""

from __future__ import annotations

import pytest
import torch
from models import SmallMLP
from torch import nn

import idgrad
from idgrad.compat.captum import (
    IntegratedDecisionGradients,
    IntegratedGradients,
    LayerIntegratedDecisionGradients,
    LayerIntegratedGradients,
)

D = torch.float64


class Tokens(nn.Module):
    """Token ids ``(B, T)`` -> embedding -> two independent layers -> ``(B, 3)``."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.emb = nn.Embedding(9, 4).double()
        self.a = nn.Linear(4, 5).double()
        self.b = nn.Linear(4, 5).double()
        self.out = nn.Linear(5, 3).double()
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=D))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        e = self.emb(ids).mean(1)
        return self.out(torch.tanh(self.a(e)) * torch.tanh(self.b(e)))


IDS = torch.tensor([[1, 4, 7, 2], [3, 3, 8, 5]])


def _all(model: nn.Module, layer: nn.Module) -> list[object]:
    return [
        IntegratedGradients(model),
        IntegratedDecisionGradients(model),
        LayerIntegratedGradients(model, layer),
        LayerIntegratedDecisionGradients(model, layer),
    ]


def test_convergence_delta_flags_and_attribute_future() -> None:
    model = SmallMLP(n_features=4, n_classes=3)
    for obj in _all(model, model.net[0]):
        assert obj.has_convergence_delta()  # type: ignore[attr-defined]
        assert obj.multiplies_by_inputs  # type: ignore[attr-defined]
        with pytest.raises(NotImplementedError, match="attribute_future"):
            obj.attribute_future()  # type: ignore[attr-defined]
    assert not IntegratedGradients(model, multiply_by_inputs=False).multiplies_by_inputs


def test_compute_convergence_delta_is_the_completeness_gap() -> None:
    model = SmallMLP(n_features=4, n_classes=3)
    x = torch.rand(3, 4, dtype=D)
    base = 0.1 * torch.rand(3, 4, dtype=D)
    target = torch.tensor([0, 2, 1])
    ig = IntegratedGradients(model)
    attr, delta = ig.attribute(x, base, target, n_steps=6, return_convergence_delta=True)
    got = ig.compute_convergence_delta(attr, base, x, target=target)
    torch.testing.assert_close(got, delta, rtol=0, atol=1e-12)
    # any attributions: sum - (F(end) - F(start)), per example
    other = torch.rand(3, 4, dtype=D)
    rows = target[:, None]
    change = model(x).gather(1, rows)[:, 0] - model(base).gather(1, rows)[:, 0]
    want = other.sum(1) - change.detach()
    torch.testing.assert_close(ig.compute_convergence_delta(other, base, x, target), want)
    with pytest.raises(ValueError, match="first dimension"):
        ig.compute_convergence_delta(other[:2], base, x, target)


def test_layer_compute_convergence_delta_uses_the_models_own_inputs() -> None:
    model = Tokens()
    lig = LayerIntegratedGradients(model, model.emb)
    attr, delta = lig.attribute(IDS, 0, target=1, n_steps=8, return_convergence_delta=True)
    got = lig.compute_convergence_delta(attr, 0, IDS, target=1)
    torch.testing.assert_close(got, delta, rtol=0, atol=1e-12)


def test_compute_convergence_delta_matches_captum() -> None:
    captum_attr = pytest.importorskip("captum.attr")
    model = Tokens()
    attr = torch.rand(2, 4, 4, dtype=D)
    theirs = captum_attr.LayerIntegratedGradients(model, model.emb).compute_convergence_delta(
        attr, torch.zeros_like(IDS), IDS, target=2
    )
    ours = LayerIntegratedGradients(model, model.emb).compute_convergence_delta(
        attr, torch.zeros_like(IDS), IDS, target=2
    )
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)
    mlp = SmallMLP(n_features=4, n_classes=3)
    x, a = torch.rand(3, 4, dtype=D), torch.rand(3, 4, dtype=D)
    theirs = captum_attr.IntegratedGradients(mlp).compute_convergence_delta(a, 0.5, x, [0, 1, 2])
    ours = IntegratedGradients(mlp).compute_convergence_delta(a, 0.5, x, [0, 1, 2])
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cls", [LayerIntegratedGradients, LayerIntegratedDecisionGradients])
def test_a_list_of_layers_gives_a_list(cls: type) -> None:
    model = Tokens()
    one = cls(model, model.a).attribute(IDS, target=1, n_steps=4)
    assert isinstance(one, torch.Tensor) and one.shape == (2, 5)
    both = cls(model, [model.a, model.b]).attribute(IDS, target=1, n_steps=4)
    assert isinstance(both, list) and [t.shape for t in both] == [(2, 5), (2, 5)]
    single = cls(model, [model.a]).attribute(IDS, target=1, n_steps=4)
    assert isinstance(single, list) and len(single) == 1


@pytest.mark.filterwarnings("ignore:Multiple layers provided")  # captum's reminder
def test_a_list_of_layers_matches_captums_form() -> None:
    captum_attr = pytest.importorskip("captum.attr")
    model = Tokens()
    theirs = captum_attr.LayerIntegratedGradients(model, [model.a, model.b]).attribute(
        IDS, target=1, n_steps=4
    )
    ours = LayerIntegratedGradients(model, [model.a, model.b]).attribute(IDS, target=1, n_steps=4)
    assert type(ours) is type(theirs) is list and len(ours) == len(theirs)


@pytest.mark.parametrize("cls", [LayerIntegratedGradients, LayerIntegratedDecisionGradients])
def test_grad_kwargs_what_idgrad_does_is_accepted_the_rest_refused(cls: type) -> None:
    model = Tokens()
    lig = cls(model, [model.a, model.b])
    plain = lig.attribute(IDS, target=1, n_steps=4)
    same = lig.attribute(
        IDS, target=1, n_steps=4, grad_kwargs={"materialize_grads": True, "allow_unused": True}
    )
    for p, s in zip(plain, same):
        torch.testing.assert_close(s, p, rtol=0, atol=0)
    for bad in ({"create_graph": True}, {"materialize_grads": False}, {"retain_graph": True}):
        with pytest.raises(ValueError, match="grad_kwargs"):
            lig.attribute(IDS, target=1, n_steps=4, grad_kwargs=bad)
    with pytest.raises(TypeError, match="grad_kwargs"):
        lig.attribute(IDS, target=1, n_steps=4, grad_kwargs=[("create_graph", True)])


def test_idg_classes_use_idgs_rule_by_default() -> None:
    model = SmallMLP(n_features=4, n_classes=3)
    x = torch.rand(2, 4, dtype=D)
    via_class = IntegratedDecisionGradients(model).attribute(x, target=1, n_steps=8)
    via_function = idgrad.integrated_decision_gradients(model, x, target=1, n_steps=8)
    torch.testing.assert_close(via_class, via_function, rtol=0, atol=0)
