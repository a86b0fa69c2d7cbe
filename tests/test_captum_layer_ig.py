"""captum 0.9's ``tests/attr/layer/test_layer_integrated_gradients.py`` against our layer classes.

Layer IG on an embedding equals IG on the embedded inputs (captum checks it by swapping the
embedding for a pass-through; so do we), matches captum's own ``LayerConductance`` at many
steps, reproduces captum's expected values on a layer with two outputs, and handles a list of
layers (one joint path; each layer's result where it sits in the list). The equivalences are
method-agnostic, so ``LayerIntegratedDecisionGradients`` / ``IntegratedDecisionGradients`` run
them too; so do the expected values of the two-output layer, which is followed by linear maps
only (IDG of a linear function equals IG once rescaled to completeness).

captum returns a *list* for a list of layers; that check is its own test
(``test_list_of_layers_returns_a_list``), as is ``grad_kwargs`` with an unused layer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import torch
from captum_models import (
    BasicEmbeddingModel,
    BasicModel,
    BasicModel_MultiLayer,
    BasicModel_MultiLayer_TrueMultiInput,
    assert_close_max,
    assert_close_sum,
)
from torch import nn

import idgrad

captum_attr = pytest.importorskip("captum.attr")

PAIRS = [
    pytest.param(idgrad.LayerIntegratedGradients, idgrad.IntegratedGradients, id="IG"),
    pytest.param(
        idgrad.LayerIntegratedDecisionGradients, idgrad.IntegratedDecisionGradients, id="IDG"
    ),
]
LAYER_CLASSES = [
    pytest.param(idgrad.LayerIntegratedGradients, id="IG"),
    pytest.param(idgrad.LayerIntegratedDecisionGradients, id="IDG"),
]


@contextmanager
def _embeddings_as_inputs(model: nn.Module, *names: str) -> Iterator[None]:
    """Swap the named sub-modules for pass-throughs (captum's interpretable embedding layer)."""
    saved = {name: getattr(model, name) for name in names}
    try:
        for name in names:
            setattr(model, name, _PassThrough())
        yield
    finally:
        for name, module in saved.items():
            setattr(model, name, module)


class _PassThrough(nn.Module):
    """Returns its first argument: the embedding itself is now the input."""

    def forward(self, embedded: torch.Tensor, *unused: Any) -> torch.Tensor:
        return embedded


def _compare_with_embedding_patching(
    layer_cls: type,
    core_cls: type,
    inputs: Any,
    baselines: Any,
    extra: Any,
    multiply_by_inputs: bool = True,
    both_embeddings: bool = False,
) -> tuple[Any, Any]:
    """Layer attributions on the embedding(s) vs core attributions on the embedded inputs."""
    torch.manual_seed(1234)
    model = BasicEmbeddingModel(nested_second_embedding=True)
    layers = [model.embedding1, model.embedding2] if both_embeddings else model.embedding1
    lig = layer_cls(model, layers, multiply_by_inputs=multiply_by_inputs)
    attributions, delta = lig.attribute(
        inputs, baselines=baselines, additional_forward_args=extra, return_convergence_delta=True
    )
    with torch.no_grad():
        if both_embeddings:
            embedded = (model.embedding1(inputs[0]), model.embedding2(*inputs[1:]))
            embedded_base = (model.embedding1(baselines[0]), model.embedding2(*baselines[1:]))
        else:
            embedded, embedded_base = model.embedding1(inputs), model.embedding1(baselines)
    names = ("embedding1", "embedding2") if both_embeddings else ("embedding1",)
    with _embeddings_as_inputs(model, *names):
        ig = core_cls(model, multiply_by_inputs=multiply_by_inputs)
        expected, expected_delta = ig.attribute(
            embedded,
            baselines=embedded_base,
            additional_forward_args=extra,
            target=0,
            return_convergence_delta=True,
        )
    assert isinstance(expected, tuple) == both_embeddings
    got = tuple(attributions) if both_embeddings else (attributions,)
    want = expected if both_embeddings else (expected,)
    assert len(got) == len(want)
    for a, e in zip(got, want):
        assert a.shape == e.shape
        assert_close_max(a, e, 0.05)
    if multiply_by_inputs:
        assert_close_max(delta, expected_delta, 0.05)
    return attributions, expected


# extra forward arguments: the ids of the nested second embedding
_IDS = torch.tensor([[2, 5, 0, 1]])
_ZERO_IDS = torch.tensor([[0, 0, 0, 0]])
_EXTRA = (torch.tensor([[0, 2, 4, 1]]), torch.tensor([[2, 3, 0, 1]]))


@pytest.mark.parametrize(("layer_cls", "core_cls"), PAIRS)
def test_compare_with_emb_patching(layer_cls: type, core_cls: type) -> None:
    _compare_with_embedding_patching(layer_cls, core_cls, _IDS, _ZERO_IDS, _EXTRA)


@pytest.mark.parametrize(("layer_cls", "core_cls"), PAIRS)
def test_compare_with_emb_patching_wo_mult_by_inputs(layer_cls: type, core_cls: type) -> None:
    _compare_with_embedding_patching(
        layer_cls, core_cls, _IDS, _ZERO_IDS, _EXTRA, multiply_by_inputs=False
    )


@pytest.mark.parametrize(("layer_cls", "core_cls"), PAIRS)
def test_compare_with_emb_patching_batch(layer_cls: type, core_cls: type) -> None:
    ids = torch.tensor([[2, 5, 0, 1], [3, 1, 1, 0]])
    extra = (torch.tensor([[0, 2, 4, 1], [2, 3, 5, 7]]), torch.tensor([[3, 5, 6, 7], [2, 3, 0, 1]]))
    _compare_with_embedding_patching(layer_cls, core_cls, ids, _ZERO_IDS, extra)


def _three_id_inputs() -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    inputs = (
        torch.tensor([[2, 5, 0, 1], [3, 1, 1, 0]]),
        torch.tensor([[0, 2, 4, 1], [2, 3, 5, 7]]),
        torch.tensor([[3, 5, 6, 7], [2, 3, 0, 1]]),
    )
    return inputs, tuple(torch.zeros_like(x) for x in inputs)


@pytest.mark.parametrize(("layer_cls", "core_cls"), PAIRS)
def test_multiple_layers_single_inputs(layer_cls: type, core_cls: type) -> None:
    inputs, baselines = _three_id_inputs()
    _compare_with_embedding_patching(
        layer_cls, core_cls, inputs, baselines, None, both_embeddings=True
    )


@pytest.mark.parametrize("attribute_to_layer_input", [False, True])
def test_compare_with_layer_conductance(attribute_to_layer_input: bool) -> None:
    # captum: test_compare_with_layer_conductance_attr_to_outputs / _attr_to_inputs. At 1500
    # steps captum's LayerConductance (the oracle) and Layer IG come close on this model.
    model = BasicModel_MultiLayer()
    x = torch.tensor([[50.0, 50.0, 50.0]])
    kwargs = {
        "target": 0,
        "n_steps": 1500,
        "return_convergence_delta": True,
        "attribute_to_layer_input": attribute_to_layer_input,
    }
    conductance, conductance_delta = captum_attr.LayerConductance(model, model.linear2).attribute(
        x, **kwargs
    )
    ours, delta = idgrad.LayerIntegratedGradients(model, model.linear2).attribute(x, **kwargs)
    assert_close_max(ours, conductance, 0.01)
    assert_close_max(delta, conductance_delta, 0.5)


@pytest.mark.parametrize("layer_cls", LAYER_CLASSES)
def test_multiple_tensors_compare_with_expected(layer_cls: type) -> None:
    net = BasicModel_MultiLayer(multi_input_module=True)
    attributions = layer_cls(net, net.multi_relu).attribute(
        torch.tensor([[0.0, 100.0, 0.0]]), target=0
    )
    assert isinstance(attributions, tuple) and len(attributions) == 2
    for a in attributions:
        assert_close_sum(a, [[90.0, 100.0, 100.0, 100.0]], 0.01)


@pytest.mark.parametrize("layer_cls", LAYER_CLASSES)
def test_multiple_tensors_compare_with_exp_wo_mult_by_inputs(layer_cls: type) -> None:
    net = BasicModel_MultiLayer(multi_input_module=True)
    x, base = torch.tensor([[0.0, 100.0, 0.0]]), torch.zeros(1, 3)
    attributions = layer_cls(net, net.multi_relu).attribute(x, target=0)
    multipliers = layer_cls(net, net.multi_relu, multiply_by_inputs=False).attribute(x, target=0)
    activation = captum_attr.LayerActivation(net, net.multi_relu)  # the oracle's activations
    differences = [a - b for a, b in zip(activation.attribute(x), activation.attribute(base))]
    for m, d, a in zip(multipliers, differences, attributions):
        assert_close_sum(m * d, a, 1e-4)


def _shared_input_problem(
    four_inputs: bool,
) -> tuple[nn.Module, tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    torch.manual_seed(1234)
    inputs = tuple(torch.randn(5, 3) for _ in range(4 if four_inputs else 3))
    return (
        BasicModel_MultiLayer_TrueMultiInput(),
        inputs,
        tuple(torch.zeros_like(x) for x in inputs),
    )


@pytest.mark.parametrize(("layer_cls", "core_cls"), PAIRS)
@pytest.mark.parametrize(
    ("four_inputs", "tol"),
    [
        pytest.param(False, 1e-5, id="multiple_inputs_shared_input"),
        pytest.param(True, 1e-7, id="multiple_input_outputs"),
    ],
)
def test_multiple_layers_multiple_inputs(
    layer_cls: type, core_cls: type, four_inputs: bool, tol: float
) -> None:
    # captum: test_multiple_layers_multiple_inputs_shared_input (x1 feeds both m1 and m234)
    # and test_multiple_layers_multiple_input_outputs (four inputs).
    net, inputs, baselines = _shared_input_problem(four_inputs)
    lig = layer_cls(net, [net.m1, net.m234])
    # IDG's graded schedule places its points by the size of the attributions it computes;
    # with x1 read by both layers, the layer attributions hold x1 twice and get another mesh
    # than the input attributions (the same F): the identity is exact on a fixed schedule, and
    # test_graded_layer_and_input_idg_agree_within_their_estimate checks the graded one.
    fixed = (
        {"method": "riemann_middle"}
        if layer_cls is idgrad.LayerIntegratedDecisionGradients and not four_inputs
        else {}
    )
    # the layers' inputs: m1 reads x1, m234 reads (x2, x3, x4 or x1); together they are the
    # model's inputs, so the layer attributions are the input attributions
    to_inputs = lig.attribute(inputs, baselines, target=0, attribute_to_layer_input=True, **fixed)
    assert len(to_inputs) == 2
    assert isinstance(to_inputs[0], torch.Tensor)
    assert isinstance(to_inputs[1], tuple) and len(to_inputs[1]) == 3
    regular = core_cls(net).attribute(inputs, baselines, target=0, **fixed)
    if four_inputs:
        combined = (to_inputs[0], *to_inputs[1])
    else:  # x1 reaches the output through both layers: add its two parts
        combined = (to_inputs[0] + to_inputs[1][-1], *to_inputs[1][:-1])
    assert len(combined) == len(regular)
    for a, e in zip(combined, regular):
        assert_close_sum(a, e, tol)
    # the layers' outputs: the model is their sum
    to_outputs = lig.attribute(inputs, baselines, target=0)
    fourth, fourth_base = (inputs[3], baselines[3]) if four_inputs else (inputs[0], baselines[1])
    with torch.no_grad():
        outputs = (net.m1(inputs[0]), net.m234(inputs[1], inputs[2], fourth, 1))
        outputs_base = (net.m1(baselines[0]), net.m234(baselines[1], baselines[2], fourth_base, 1))
    expected = core_cls(lambda a, b: a + b).attribute(outputs, outputs_base, target=0)
    assert len(to_outputs) == len(expected)
    for a, e in zip(to_outputs, expected):
        assert_close_sum(a, e, tol)


def test_graded_layer_and_input_idg_agree_within_their_estimate() -> None:
    net, inputs, baselines = _shared_input_problem(False)
    net = net.double()
    inputs = tuple(x.double() for x in inputs)
    baselines = tuple(b.double() for b in baselines)
    layer = idgrad.layer_integrated_decision_gradients.details(
        net, [net.m1, net.m234], inputs, baselines, target=0, attribute_to_layer_input=True
    )
    core = idgrad.integrated_decision_gradients.details(net, inputs, baselines, target=0)
    to_inputs = layer.attributions
    combined = (to_inputs[0] + to_inputs[1][-1], *to_inputs[1][:-1])
    diff = torch.cat([(a - e).flatten(1) for a, e in zip(combined, core.attributions)], 1)
    size = torch.cat([e.flatten(1) for e in core.attributions], 1).norm(dim=1)
    bound = torch.maximum(layer.error, core.error)
    assert torch.all(diff.norm(dim=1) / size <= bound + 1e-12)
    torch.testing.assert_close(layer.end - layer.start, core.end - core.start)  # the same F


def _list_results() -> dict[str, Any]:
    """The results of the list-of-layers calls whose container type captum asserts."""
    inputs, baselines = _three_id_inputs()
    torch.manual_seed(1234)
    model = BasicEmbeddingModel(nested_second_embedding=True)
    lig = idgrad.LayerIntegratedGradients(model, [model.embedding1, model.embedding2])
    net, net_inputs, net_baselines = _shared_input_problem(False)
    net_lig = idgrad.LayerIntegratedGradients(net, [net.m1, net.m234])
    return {
        "multiple_layers_single_inputs": lig.attribute(inputs, baselines),
        "multiple_layers_shared_input_to_inputs": net_lig.attribute(
            net_inputs, net_baselines, target=0, attribute_to_layer_input=True
        ),
    }


@pytest.mark.parametrize(
    "name", ["multiple_layers_single_inputs", "multiple_layers_shared_input_to_inputs"]
)
def test_list_of_layers_returns_a_list(name: str) -> None:
    # captum: assertIsInstance(attributions, list) in test_multiple_layers_single_inputs,
    # _multiple_inputs_shared_input and _multiple_input_outputs
    result = _list_results()[name]
    assert isinstance(result, list) and len(result) == 2


def test_simple_multi_gradient_activation_with_unused_layer() -> None:
    # model.relu runs but its output is unused (multi_input_module=True): its gradient is
    # materialised as zeros
    model = BasicModel_MultiLayer(multi_input_module=True)
    lig = idgrad.LayerIntegratedGradients(model, [model.linear1, model.relu])
    attributions = lig.attribute(
        torch.tensor([[3.0, 4.0, 0.0]]), target=0, grad_kwargs={"materialize_grads": True}
    )
    assert isinstance(attributions, list) and len(attributions) == 2
    assert attributions[0].shape == attributions[1].shape == (1, 4)


@pytest.mark.parametrize(("layer_cls", "core_cls"), PAIRS)
@pytest.mark.parametrize("multi_layer", [True, False], ids=["multi_layer", "single_layer"])
def test_input_layer_wrapper(layer_cls: type, core_cls: type, multi_layer: bool) -> None:
    # captum: test_input_layer_wrapper.py, test_LayerIntegratedGradients_IntegratedGradients_
    # {True,False}. captum's ModelInputWrapper routes every input through an identity module;
    # layer attributions on those modules (their outputs or their inputs) are the input
    # attributions.
    from captum.attr._utils.input_layer_wrapper import ModelInputWrapper

    torch.manual_seed(1234)
    if multi_layer:
        model = ModelInputWrapper(BasicModel_MultiLayer_TrueMultiInput())
        names = ["x1", "x2", "x3", "x4"]
    else:
        model = ModelInputWrapper(BasicModel())
        names = ["input"]
    layers = [model.input_maps[name] for name in names]
    method = layer_cls(model, layers if multi_layer else layers[0])
    inputs = tuple(torch.rand(5, 3) for _ in names)
    baselines = tuple(torch.zeros(5, 3) for _ in names)
    to_outputs = method.attribute(inputs, baselines, target=0)
    to_inputs = method.attribute(inputs, baselines, target=0, attribute_to_layer_input=True)
    regular = core_cls(model).attribute(inputs, baselines, target=0)

    def as_tuple(value: Any) -> tuple[torch.Tensor, ...]:
        return tuple(value) if isinstance(value, (list, tuple)) else (value,)

    for a, b, c in zip(as_tuple(to_outputs), as_tuple(to_inputs), as_tuple(regular), strict=True):
        assert_close_sum(a, b, 1e-4)
        assert_close_sum(a, c, 1e-4)
