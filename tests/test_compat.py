"""The seed package's names and captum-style classes: signatures, defaults, no seed bugs."""

from __future__ import annotations

import inspect
import warnings

import pytest
import torch

import idgrad
from idgrad import (
    IntegratedDecisionGradients,
    IntegratedGradients,
    get_integrated_decision_gradients,
    get_integrated_gradients,
)

D = torch.float64


def test_seed_signatures_and_defaults() -> None:
    sig = inspect.signature(get_integrated_decision_gradients)
    assert list(sig.parameters) == [
        "model",
        "input",
        "baseline",
        "target",
        "n_steps",
        "adaptive",
        "n_prechar_steps",
        "batch_size",
        "return_convergence_delta",
    ]
    defaults = {k: v.default for k, v in sig.parameters.items()}
    assert defaults["baseline"] is None and defaults["target"] is None
    assert defaults["n_steps"] == 50 and defaults["adaptive"] is True
    assert defaults["n_prechar_steps"] is None and defaults["batch_size"] == 1
    assert defaults["return_convergence_delta"] is False
    sig_ig = inspect.signature(get_integrated_gradients)
    assert list(sig_ig.parameters) == [
        "model",
        "input",
        "baseline",
        "target",
        "n_steps",
        "batch_size",
        "return_convergence_delta",
    ]


def test_target_none_attributes_the_sum_of_outputs() -> None:
    model = torch.nn.Linear(3, 4).double()
    x = torch.rand(2, 3, dtype=D)
    a = get_integrated_gradients(model, x)
    expected = x * model.weight.sum(0)
    assert torch.allclose(a, expected, atol=1e-13)
    b = get_integrated_decision_gradients(model, x)
    assert torch.allclose(b, expected, atol=1e-13)  # linear: IDG = IG


def test_tensor_targets_work() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh()).double()
    x = torch.rand(3, 3, dtype=D)
    t = torch.tensor([0, 3, 1])
    a = get_integrated_decision_gradients(model, x, target=t)
    for i in range(3):
        single = get_integrated_decision_gradients(model, x[i : i + 1], target=int(t[i]))
        assert torch.allclose(a[i], single[0], atol=1e-13)


def test_delta_is_pre_rescaling_not_zero_by_construction() -> None:
    f = lambda z: torch.sigmoid(50 * (z[:, 0] - 0.8)) + 0.05 * z[:, 1] + 0.05 * z[:, 2]
    x = torch.tensor([[1.0, 0.5, 0.3]], dtype=D)
    attr, delta = get_integrated_decision_gradients(f, x, n_steps=10, return_convergence_delta=True)
    assert torch.allclose(attr.sum(), f(x) - f(0 * x), rtol=1e-12)  # rescaled to completeness
    assert abs(delta.item()) > 1e-4  # ... but the delta still reports the quadrature error


def test_budget_respected_and_batch_size_is_steps_per_pass() -> None:
    calls: list[int] = []

    def f(z: torch.Tensor) -> torch.Tensor:
        calls.append(z.shape[0])
        return torch.tanh(z).sum(1)

    x = torch.rand(2, 3, dtype=D)
    get_integrated_decision_gradients(f, x, n_steps=20, n_prechar_steps=5, batch_size=4)
    assert max(calls) <= 4 * 2
    assert sum(calls) == 2 * 20 + 2 * 6  # exactly n_steps gradient points per example + pilot
    with pytest.raises(ValueError, match="batch_size"):
        get_integrated_gradients(f, x, batch_size=0)


def test_seed_functions_do_not_call_eval() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Dropout(0.0)).double()
    model.train()
    get_integrated_decision_gradients(model, torch.rand(2, 3, dtype=D))
    assert model.training


def test_captum_style_classes() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Softplus()).double()
    x = torch.rand(5, 3, dtype=D)
    ig = IntegratedGradients(model)
    assert ig.multiplies_by_inputs and ig.has_convergence_delta()
    a, d = ig.attribute(x, target=2, n_steps=12, return_convergence_delta=True)
    det = idgrad.integrated_gradients.details(model, x, target=2, n_steps=12)
    b, e = det.attributions, det.delta
    assert torch.equal(a, b) and torch.equal(d, e)
    local = IntegratedGradients(model, multiply_by_inputs=False).attribute(x, target=2, n_steps=12)
    assert torch.allclose(local * x, a, atol=1e-14)
    idg = IntegratedDecisionGradients(model, n_pilot_steps=4)
    # captum's method= is the rule; for IDG a rule is the paper's pilot schedule's (silently:
    # it is captum's own spelling here)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        c = idg.attribute(x, target=1, n_steps=12, method="riemann_middle", internal_batch_size=5)
    expected = idgrad.integrated_decision_gradients(
        model, x, target=1, n_steps=12, schedule="pilot", rule="riemann_middle", n_pilot_steps=4
    )
    assert torch.allclose(c, expected, atol=1e-14)
    assert torch.equal(idg.attribute(x, target=1, n_steps=12, schedule="pilot"), expected)
    raw = IntegratedDecisionGradients(model, normalize=False).attribute(
        x, target=1, schedule="uniform"
    )
    assert not torch.allclose(raw.sum(1), c.sum(1))


@pytest.mark.parametrize("layer", [False, True])
def test_captum_style_classes_take_every_schedule_option(layer: bool) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Softplus()).double()
    x = torch.rand(5, 3, dtype=D)
    pairs = (
        (IntegratedGradients, idgrad.integrated_gradients),
        (IntegratedDecisionGradients, idgrad.integrated_decision_gradients),
    )
    if layer:
        pairs = (
            (idgrad.LayerIntegratedGradients, idgrad.layer_integrated_gradients),
            (idgrad.LayerIntegratedDecisionGradients, idgrad.layer_integrated_decision_gradients),
        )
    for cls, fn in pairs:
        obj = cls(model, model[0]) if layer else cls(model)
        front = (model, model[0], x) if layer else (model, x)
        for options in (
            {"n_steps": 8, "schedule": "uniform", "rule": "riemann_trapezoid"},
            {"n_steps": 8, "schedule": "pilot", "rule": "gausslegendre"},
            {"n_steps": 20, "schedule": "graded"},
            {"rtol": 1e-4, "max_evaluations": 512},
        ):
            with warnings.catch_warnings():
                warnings.simplefilter("error", DeprecationWarning)
                got = obj.attribute(x, target=1, **options)
            assert torch.equal(got, fn(*front, target=1, **options)), (cls.__name__, options)
        # captum's method= and rule= name the same thing; they must agree
        with pytest.raises(ValueError, match="disagree"):
            obj.attribute(x, target=1, method="riemann_left", rule="riemann_right")


@pytest.mark.parametrize("layer", [False, True])
def test_the_idg_classes_adaptive_false_is_deprecated_and_means_uniform(layer: bool) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Softplus()).double()
    x = torch.rand(5, 3, dtype=D)
    cls = idgrad.LayerIntegratedDecisionGradients if layer else IntegratedDecisionGradients
    args = (model, model[0]) if layer else (model,)
    with pytest.warns(DeprecationWarning, match="adaptive.*deprecated.*schedule='uniform'"):
        old = cls(*args, adaptive=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        got = old.attribute(x, target=1, n_steps=8)
        want = cls(*args).attribute(x, target=1, n_steps=8, schedule="uniform")
    assert torch.equal(got, want)


def test_class_signature_mirrors_captum() -> None:
    # captum's parameters, in captum's order (``method`` is captum's name for the rule), then
    # idgrad's targets and schedule options, keyword-only
    for cls in (IntegratedGradients, IntegratedDecisionGradients):
        params = inspect.signature(cls.attribute).parameters.values()
        positional = [p.name for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
        keyword = [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]
        assert positional == [
            "self",
            "inputs",
            "baselines",
            "target",
            "additional_forward_args",
            "n_steps",
            "method",
            "internal_batch_size",
            "return_convergence_delta",
        ]
        assert keyword == ["targets", "schedule", "rule", "rtol", "max_evaluations"]
