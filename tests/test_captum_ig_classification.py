"""captum 0.9's ``tests/attr/test_integrated_gradients_classification.py`` against our classes.

Completeness of IG on a sigmoid and a softmax classifier (one example, and a batch of three
with per-example targets), plain and inside captum's ``NoiseTunnel``. The models are
captum's :class:`~captum_models.SigmoidModel` / :class:`~captum_models.SoftmaxModel` with
weights drawn after seeding torch with 1234 (captum's test seed); the inputs are captum's
(``arange`` ramps). ``IntegratedDecisionGradients`` runs the same completeness checks (its
delta is the quadrature error of ``sum_k w_k F'(alpha_k)`` before the rescaling, which must be
as small). As in :mod:`test_captum_ig_basic`, the comparison with ``compute_convergence_delta``
is its own test.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest
import torch
from captum_models import SigmoidModel, SoftmaxModel, assert_close_max

import idgrad

captum_attr = pytest.importorskip("captum.attr")

IG, IDG = idgrad.IntegratedGradients, idgrad.IntegratedDecisionGradients


class Problem(NamedTuple):
    model: torch.nn.Module
    inputs: torch.Tensor
    target: torch.Tensor
    baselines: torch.Tensor | None


def _problem(kind: str) -> Problem:
    torch.manual_seed(1234)
    if kind == "sigmoid":  # one example, 20 features, one output
        model: torch.nn.Module = SigmoidModel(20, 5, 1)
        return Problem(model, torch.arange(0.0, 20.0).unsqueeze(0), torch.tensor(0), None)
    model = SoftmaxModel(40, 20, 10)
    if kind == "softmax":  # one example, 10 classes
        return Problem(model, torch.arange(0.0, 40.0).unsqueeze(0), torch.tensor(5), None)
    # a batch of three with per-example targets and a one-row baseline
    x = torch.arange(0.0, 120.0).reshape(3, 40)
    return Problem(model, x, torch.tensor([5, 5, 2]), torch.zeros(1, 40))


CASES: dict[str, tuple[str, str, str]] = {
    "sigmoid_classification_vanilla": ("sigmoid", "vanilla", "riemann_right"),
    "sigmoid_classification_smoothgrad": ("sigmoid", "smoothgrad", "riemann_left"),
    "sigmoid_classification_smoothgrad_sq": ("sigmoid", "smoothgrad_sq", "riemann_middle"),
    "sigmoid_classification_vargrad": ("sigmoid", "vargrad", "riemann_trapezoid"),
    "softmax_classification_vanilla": ("softmax", "vanilla", "gausslegendre"),
    "softmax_classification_smoothgrad": ("softmax", "smoothgrad", "riemann_right"),
    "softmax_classification_smoothgrad_sq": ("softmax", "smoothgrad_sq", "riemann_left"),
    "softmax_classification_vargrad": ("softmax", "vargrad", "riemann_middle"),
    "softmax_classification_vanilla_batch": ("softmax_batch", "vanilla", "riemann_trapezoid"),
    "softmax_classification_smoothgrad_batch": ("softmax_batch", "smoothgrad", "gausslegendre"),
    "softmax_classification_smoothgrad_sq_batch": (
        "softmax_batch",
        "smoothgrad_sq",
        "riemann_right",
    ),
    "softmax_classification_vargrad_batch": ("softmax_batch", "vargrad", "riemann_left"),
}


def _explainer(cls: type, model: torch.nn.Module, rule: str) -> Any:
    """``cls(model.forward)`` as captum builds it."""
    return cls(model.forward)


def _rule(cls: type, rule: str) -> dict[str, Any]:
    """captum's ``method=rule``; for IDG that is the rule inside its pilot schedule, which has
    no trapezoid rule, so IDG takes the trapezoid rule on the uniform schedule."""
    if cls is IDG and rule == "riemann_trapezoid":
        return {"schedule": "uniform", "rule": rule}
    return {"method": rule}


def _params(names: list[str], marks: list[Any]) -> list[Any]:
    return [
        pytest.param(name, cls, id=f"{name}-{cls.__name__}", marks=marks)
        for name in names
        for cls in (IG, IDG)
    ]


@pytest.mark.parametrize(("name", "cls"), _params(list(CASES), []))
def test_completeness(name: str, cls: type) -> None:
    kind, nt_type, rule = CASES[name]
    problem = _problem(kind)
    explainer = _explainer(cls, problem.model, rule)
    batch = problem.inputs.shape[0]
    if nt_type == "vanilla":
        attributions, delta = explainer.attribute(
            problem.inputs,
            baselines=problem.baselines,
            target=problem.target,
            **_rule(cls, rule),
            n_steps=200,
            return_convergence_delta=True,
        )
        assert (delta.abs() < 0.005).all(), delta
        assert delta.shape == (batch,)
    else:
        n_samples = 10
        attributions, delta = captum_attr.NoiseTunnel(explainer).attribute(
            problem.inputs,
            baselines=problem.baselines,
            nt_type=nt_type,
            nt_samples=n_samples,
            stdevs=0.0002,
            n_steps=100,
            target=problem.target,
            **_rule(cls, rule),
            return_convergence_delta=True,
        )
        assert delta.shape == (batch * n_samples,)
    assert (delta.abs() < 0.05).all()
    assert attributions.shape == problem.inputs.shape


_VANILLA = [name for name, (_, nt_type, _) in CASES.items() if nt_type == "vanilla"]


def _external_delta(cls: type, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The delta of ``attribute`` and ``compute_convergence_delta`` of its attributions."""
    kind, _, rule = CASES[name]
    problem = _problem(kind)
    explainer = _explainer(cls, problem.model, rule)
    attributions, delta = explainer.attribute(
        problem.inputs,
        baselines=problem.baselines,
        target=problem.target,
        **_rule(cls, rule),
        n_steps=200,
        return_convergence_delta=True,
    )
    external = explainer.compute_convergence_delta(
        attributions, problem.baselines, problem.inputs, problem.target
    )
    return delta, external


@pytest.mark.parametrize("name", _VANILLA)
def test_external_delta(name: str) -> None:
    # captum: compute_convergence_delta on the returned attributions reproduces the delta
    # (to its default 1e-4 summed tolerance; we compare the largest difference to 1e-5).
    delta, external = _external_delta(IG, name)
    assert_close_max(external, delta, 1e-5)


@pytest.mark.parametrize("name", _VANILLA)
def test_idg_external_delta(name: str) -> None:
    # Not a captum case: IDG's delta is the quadrature error before its rescaling, and the
    # rescaled attributions are complete by construction (see test_captum_ig_basic).
    delta, external = _external_delta(IDG, name)
    assert delta.shape == external.shape
    assert_close_max(external, torch.zeros_like(external), 1e-5)
