"""captum 0.9's ``tests/attr/test_integrated_gradients_basic.py``, run against idgrad's classes.

Every case of captum's file is re-created here with its model, inputs, baselines, extra
arguments, quadrature rule, step count and tolerances (see :mod:`captum_models`), as one
parametrized test named after captum's test function. ``idgrad.IntegratedGradients`` is the
class under test; ``idgrad.IntegratedDecisionGradients`` runs the method-agnostic checks too
(shapes, completeness through the convergence delta, the same result with and without the
delta, the same result batched and one example at a time). captum's own ``NoiseTunnel`` wraps
our classes, as in captum's tests.

captum's test helper does a few things per case; they are separate tests here:

* the attribution checks (``test_case``);
* the delta from ``attribute`` against ``compute_convergence_delta`` for the ``vanilla`` cases
  (``test_external_delta``; ``test_idg_external_delta`` states what holds for IDG instead);
* ``test_futures_not_implemented``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
import torch
from captum_models import (
    BasicModel,
    BasicModel2,
    BasicModel3,
    BasicModel4_MultiArgs,
    BasicModel5_MultiArgs,
    BasicModel6_MultiTensor,
    BasicModel_MultiLayer,
    assert_close_max,
    assert_close_sum,
)

import idgrad

captum_attr = pytest.importorskip("captum.attr")

IG, IDG = idgrad.IntegratedGradients, idgrad.IntegratedDecisionGradients
N_STEPS = 500  # captum's tests use 500 steps per attribution
NT_SAMPLES = 5


class Call(NamedTuple):
    """One attribution call of a captum case."""

    model: torch.nn.Module
    inputs: tuple[torch.Tensor, ...]
    baselines: tuple[Any, ...] | None = None
    extra: Any = None
    target: Any = None


def _t(*rows: Any) -> torch.Tensor:
    return torch.tensor(list(rows), dtype=torch.float32)


def _multi_variable_calls() -> list[Call]:
    inputs, zeros = (_t(3.0), _t(1.0)), (_t(0.0), _t(0.0))
    return [Call(BasicModel2(), inputs, zeros), Call(BasicModel3(), inputs, zeros)]


def _univariable_calls() -> list[Call]:
    model = BasicModel()
    return [
        Call(model, (_t(1.0),), (_t(0.0),)),
        Call(model, (_t(0.0),), (_t(0.0),)),
        Call(model, (_t(-1.0),), (0.00001,)),
    ]


def _multi_argument_calls() -> list[Call]:
    one = (_t([1.5, 2.0, 34.3]), _t([3.0, 3.5, 23.2]))
    two = (_t([1.5, 2.0, 34.3], [3.4, 1.2, 2.0]), _t([3.0, 3.5, 23.2], [2.3, 1.2, 0.3]))
    m4, m5 = BasicModel4_MultiArgs(), BasicModel5_MultiArgs()
    return [
        Call(m4, one, (0.0, torch.zeros(1, 3)), torch.arange(1.0, 4.0).reshape(1, 3)),
        # per-example tensor and an int as extra arguments
        Call(m4, two, (torch.zeros(2, 3), 0.0), (torch.arange(1.0, 7.0).reshape(2, 3), 1)),
        # a Python list as an extra argument
        Call(m5, two, (0.0, 0.00001), ([2, 3], 1)),
        # a one-row baseline tensor for two examples
        Call(m5, two, (torch.zeros(1, 3), 0.00001), ([2, 3], 1)),
    ]


def _multi_tensor_calls() -> list[Call]:
    return [Call(BasicModel6_MultiTensor(), (_t([1.5, 2.0, 3.3]), _t([3.0, 3.5, 2.2])))]


def _batched_calls() -> list[Call]:
    x = _t([1.5, 2.0, 1.3], [0.5, 0.1, 2.3], [1.5, 2.0, 1.3])
    return [Call(BasicModel_MultiLayer(), (x,), target=0)]


def _batched_multi_calls() -> list[Call]:
    x1 = _t([1.5, 2.1, 1.9], [0.5, 0.0, 0.7], [1.5, 2.1, 1.1])
    x2 = _t([0.3, 1.9, 2.4], [0.5, 0.6, 2.1], [1.2, 2.1, 0.2])
    return [Call(BasicModel_MultiLayer(), (x1, x2), target=0)]


SCENARIOS: dict[str, Callable[[], list[Call]]] = {
    "multi_variable": _multi_variable_calls,
    "univariable": _univariable_calls,
    "multi_argument": _multi_argument_calls,
    "multi_tensor": _multi_tensor_calls,
    "batched": _batched_calls,
    "batched_multi": _batched_multi_calls,
}


class Case(NamedTuple):
    """A captum test function: scenario, NoiseTunnel type, rule and options."""

    scenario: str
    nt_type: str
    rule: str
    multiply_by_inputs: bool = True
    nt_samples_batch_size: int | None = None
    batch_helper: bool = False


CASES: dict[str, Case] = {
    "multivariable_vanilla": Case("multi_variable", "vanilla", "riemann_right"),
    "multivariable_vanilla_wo_mutliplying_by_inputs": Case(
        "multi_variable", "vanilla", "riemann_right", multiply_by_inputs=False
    ),
    "multivariable_smoothgrad": Case("multi_variable", "smoothgrad", "riemann_left"),
    "multivariable_smoothgrad_sq": Case("multi_variable", "smoothgrad_sq", "riemann_middle"),
    "multivariable_vargrad": Case("multi_variable", "vargrad", "riemann_trapezoid"),
    "multi_argument_vanilla": Case("multi_argument", "vanilla", "gausslegendre"),
    "multi_argument_smoothgrad": Case("multi_argument", "smoothgrad", "riemann_right"),
    "multi_argument_smoothgrad_sq": Case("multi_argument", "smoothgrad_sq", "riemann_left"),
    "multi_argument_vargrad": Case("multi_argument", "vargrad", "riemann_middle"),
    "univariable_vanilla": Case("univariable", "vanilla", "riemann_trapezoid"),
    "univariable_smoothgrad": Case("univariable", "smoothgrad", "gausslegendre"),
    "univariable_smoothgrad_sq": Case("univariable", "smoothgrad_sq", "riemann_right"),
    "univariable_vargrad": Case("univariable", "vargrad", "riemann_left"),
    "multi_tensor_input_vanilla": Case("multi_tensor", "vanilla", "riemann_middle"),
    "multi_tensor_input_smoothgrad": Case("multi_tensor", "smoothgrad", "riemann_trapezoid"),
    "multi_tensor_input_smoothgrad_sq": Case("multi_tensor", "smoothgrad_sq", "gausslegendre"),
    "multi_tensor_input_vargrad": Case("multi_tensor", "vargrad", "riemann_right"),
    "batched_input_vanilla": Case("batched", "vanilla", "riemann_left", batch_helper=True),
    "batched_input_smoothgrad": Case("batched", "smoothgrad", "riemann_middle", batch_helper=True),
    "batched_input_smoothgrad_with_batch_size_1": Case(
        "batched", "smoothgrad", "riemann_middle", nt_samples_batch_size=1
    ),
    "batched_input_smoothgrad_with_batch_size_2": Case(
        "batched", "vargrad", "riemann_middle", nt_samples_batch_size=2
    ),
    "batched_input_smoothgrad_with_batch_size_3": Case(
        "batched", "smoothgrad_sq", "riemann_middle", nt_samples_batch_size=3
    ),
    "batched_input_smoothgrad_sq": Case(
        "batched", "smoothgrad_sq", "riemann_trapezoid", batch_helper=True
    ),
    "batched_input_vargrad": Case("batched", "vargrad", "gausslegendre", batch_helper=True),
    "batched_multi_input_vanilla": Case("batched_multi", "vanilla", "riemann_right"),
    "batched_multi_input_smoothgrad": Case("batched_multi", "smoothgrad", "riemann_left"),
    "batched_multi_input_smoothgrad_sq": Case("batched_multi", "smoothgrad_sq", "riemann_middle"),
    "batched_multi_input_vargrad": Case("batched_multi", "vargrad", "riemann_trapezoid"),
    "batched_multi_input_vargrad_batch_size_1": Case(
        "batched_multi", "vargrad", "riemann_trapezoid", nt_samples_batch_size=1
    ),
    "batched_multi_input_smooth_batch_size_2": Case(
        "batched_multi", "vargrad", "riemann_trapezoid", nt_samples_batch_size=2
    ),
    "batched_multi_input_smoothgrad_sq_batch_size_3": Case(
        "batched_multi", "vargrad", "riemann_trapezoid", nt_samples_batch_size=3
    ),
}


def _explainer(
    cls: type, model: torch.nn.Module, rule: str, multiply_by_inputs: bool = True
) -> Any:
    """``cls(model)``."""
    return cls(model, multiply_by_inputs=multiply_by_inputs)


def _rule(cls: type, rule: str) -> dict[str, Any]:
    """captum's ``method=rule``; for IDG that is the rule inside its pilot schedule, which has
    no trapezoid rule, so IDG takes the trapezoid rule on the uniform schedule."""
    if cls is IDG and rule == "riemann_trapezoid":
        return {"schedule": "uniform", "rule": rule}
    return {"method": rule}


def _zero_baselines(call: Call) -> tuple[Any, ...]:
    """captum's helper turns a missing baseline into explicit zero tensors."""
    if call.baselines is not None:
        return call.baselines
    return tuple(torch.zeros_like(x) for x in call.inputs)


def _attribute_plain(cls: type, call: Call, case: Case) -> tuple[tuple[torch.Tensor, ...], Any]:
    """captum's "vanilla" branch: attributions with and without the delta, delta per example."""
    explainer = _explainer(cls, call.model, case.rule, case.multiply_by_inputs)
    assert explainer.multiplies_by_inputs == case.multiply_by_inputs
    kwargs = {
        "additional_forward_args": call.extra,
        **_rule(cls, case.rule),
        "n_steps": N_STEPS,
        "target": call.target,
    }
    baselines = _zero_baselines(call)
    attributions, delta = explainer.attribute(
        call.inputs, baselines, return_convergence_delta=True, **kwargs
    )
    plain = explainer.attribute(call.inputs, baselines, **kwargs)
    assert delta.shape == (call.inputs[0].shape[0],)
    return attributions, (delta, plain)


def _attribute_noise_tunnel(
    cls: type, call: Call, case: Case
) -> tuple[tuple[torch.Tensor, ...], Any]:
    """captum's NoiseTunnel branch: 5 samples at a tiny stdev, delta per (sample, example)."""
    explainer = _explainer(cls, call.model, case.rule, case.multiply_by_inputs)
    tunnel = captum_attr.NoiseTunnel(explainer)
    kwargs = {
        "nt_type": case.nt_type,
        "nt_samples": NT_SAMPLES,
        "stdevs": 0.00000002,
        "baselines": _zero_baselines(call),
        "target": call.target,
        "additional_forward_args": call.extra,
        **_rule(cls, case.rule),
        "n_steps": N_STEPS,
    }
    attributions, delta = tunnel.attribute(
        call.inputs,
        return_convergence_delta=True,
        nt_samples_batch_size=case.nt_samples_batch_size,
        **kwargs,
    )
    plain = tunnel.attribute(call.inputs, nt_samples_batch_size=3, **kwargs)
    assert tunnel.multiplies_by_inputs == case.multiply_by_inputs
    assert delta.shape == (call.inputs[0].shape[0] * NT_SAMPLES,)
    return attributions, (delta, plain)


def _check_call(cls: type, call: Call, case: Case) -> tuple[torch.Tensor, ...]:
    """The checks captum's helper makes on every call; returns the attributions."""
    run = _attribute_plain if case.nt_type == "vanilla" else _attribute_noise_tunnel
    attributions, (delta, plain) = run(cls, call, case)
    for x, a in zip(call.inputs, attributions):
        assert a.shape == x.shape
    if case.multiply_by_inputs:  # completeness, as captum checks it
        assert_close_max(delta, torch.zeros_like(delta), 0.07)
    for a, b in zip(attributions, plain):
        assert_close_sum(a, b, 0.05)
    return attributions


def _check_batch_vs_single(cls: type, call: Call, rule: str) -> None:
    """captum's batch helper: a batch equals its examples attributed one at a time."""
    explainer = _explainer(cls, call.model, rule)
    baselines = _zero_baselines(call)
    kwargs = {
        "additional_forward_args": call.extra,
        **_rule(cls, rule),
        "n_steps": 100,
        "target": call.target,
        "return_convergence_delta": True,
    }
    for size in (None, 10, 20):
        attributions, delta = explainer.attribute(
            call.inputs, baselines, internal_batch_size=size, **kwargs
        )
        total = 0.0
        for i in range(call.inputs[0].shape[0]):
            single, single_delta = explainer.attribute(
                tuple(x[i : i + 1] for x in call.inputs),
                tuple(b[i : i + 1] for b in baselines),
                internal_batch_size=size,
                **kwargs,
            )
            total += single_delta.abs().sum().item()
            for a, s in zip(attributions, single):
                assert_close_max(a[i], s[0], 0.05)
        assert abs(delta.abs().sum().item() - total) <= 0.005


def _params() -> list[Any]:
    params = []
    for name in CASES:
        for cls in (IG, IDG):
            params.append(pytest.param(name, cls, id=f"{name}-{cls.__name__}"))
    return params


@pytest.mark.parametrize(("name", "cls"), _params())
def test_case(name: str, cls: type) -> None:
    case = CASES[name]
    calls = SCENARIOS[case.scenario]()
    if cls is IDG and case.scenario in ("multi_argument", "univariable"):
        # F is flat along some paths, so F' = 0 everywhere and IDG says it cannot rescale
        # (IG is 0 there too): multi_argument's selected column is relu(...) = 0 all along
        # (e.g. relu(0.5 - 3) at the input); univariable's second call has x = x' = 0.
        with pytest.warns(idgrad.IDGWarning, match="cannot be rescaled"):
            results = [_check_call(cls, call, case) for call in calls]
    else:
        results = [_check_call(cls, call, case) for call in calls]
    if case.batch_helper:
        for call in calls:
            _check_batch_vs_single(cls, call, case.rule)
    if case.scenario == "multi_variable" and case.nt_type == "vanilla" and cls is IG:
        # IG of relu(relu(x1) - 1 - relu(x2)) (and of the second paper model) from 0 to (3, 1)
        first = [1.5] if case.multiply_by_inputs else [0.5]
        for attributions in results:
            assert_close_max(attributions[0], torch.tensor(first), 0.05)
            assert_close_max(attributions[1], torch.tensor([-0.5]), 0.05)
        # implementation invariance: the two models agree along the path
        assert torch.equal(sum(results[0]), sum(results[1]))


def _vanilla_params() -> list[Any]:
    return [name for name, case in CASES.items() if case.nt_type == "vanilla"]


def _external_delta(cls: type, call: Call, case: Case) -> tuple[Any, Any, Any]:
    """``(attributions, delta of attribute, compute_convergence_delta of what completeness
    sums)``: the attributions, or ``(x - x') * attributions`` without multiplying by inputs."""
    explainer = _explainer(cls, call.model, case.rule, case.multiply_by_inputs)
    baselines = _zero_baselines(call)
    attributions, delta = explainer.attribute(
        call.inputs,
        baselines,
        additional_forward_args=call.extra,
        **_rule(cls, case.rule),
        n_steps=N_STEPS,
        target=call.target,
        return_convergence_delta=True,
    )
    summed = attributions
    if not case.multiply_by_inputs:
        summed = tuple((x - b) * a for x, b, a in zip(call.inputs, baselines, attributions))
    external = explainer.compute_convergence_delta(
        summed, baselines, call.inputs, target=call.target, additional_forward_args=call.extra
    )
    return attributions, delta, external


@pytest.mark.parametrize("name", _vanilla_params())
def test_external_delta(name: str) -> None:
    # captum: the delta of attribute(...) equals compute_convergence_delta(...) on the returned
    # attributions exactly; we allow float32 rounding (the same terms, summed in another order).
    # Without multiplying by inputs, captum's delta sums the multipliers themselves (not a
    # completeness check); ours stays sum((x - x') * multipliers) - (F(x) - F(x')), the
    # quadrature error, so it is compared with compute_convergence_delta of that product
    # (README "Differences from captum").
    case = CASES[name]
    for call in SCENARIOS[case.scenario]():
        _, delta, external = _external_delta(IG, call, case)
        assert_close_max(delta, external, 1e-5)


# IDG warns where F is flat along the path (see test_case)
@pytest.mark.filterwarnings("ignore::idgrad.IDGWarning")
@pytest.mark.parametrize("name", _vanilla_params())
def test_idg_external_delta(name: str) -> None:
    # Not a captum case (captum has no IDG): IDG's attribute delta is the quadrature error of
    # sum_k w_k F'(alpha_k) before the rescaling (README "The method"), while its rescaled
    # attributions are complete by construction, so compute_convergence_delta on them is ~0.
    case = CASES[name]
    for call in SCENARIOS[case.scenario]():
        _, delta, external = _external_delta(IDG, call, case)
        assert delta.shape == external.shape
        assert_close_max(external, torch.zeros_like(external), 1e-5)


@pytest.mark.parametrize("cls", [IG, IDG])
def test_batched_input_smoothgrad_wo_mutliplying_by_inputs(cls: type) -> None:
    model = BasicModel_MultiLayer()
    x = _t([1.5, 2.0, 1.3], [0.5, 0.1, 2.3], [1.5, 2.0, 1.3])
    kwargs = {"nt_type": "smoothgrad", "nt_samples": 5, "stdevs": 0.0, "target": 0, "n_steps": 500}
    local = captum_attr.NoiseTunnel(cls(model, multiply_by_inputs=False)).attribute(x, **kwargs)
    global_ = captum_attr.NoiseTunnel(cls(model)).attribute(x, **kwargs)
    assert_close_sum(local * x, global_, 0.0001)


def test_futures_not_implemented() -> None:
    ig = IG(BasicModel2(), multiply_by_inputs=True)
    with pytest.raises(NotImplementedError):
        ig.attribute_future()
