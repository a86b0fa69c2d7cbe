"""``target`` means one thing everywhere: methods, layer methods, AGI and the resolver."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
import torch
from models import CountingModel, SmallMLP

import idgrad
from idgrad.core.targets import (
    TARGET_DOC,
    Target,
    class_indices,
    predicted_classes,
    resolve_target,
)
from idgrad.methods.registry import METHODS

D = torch.float64


def _ig(model, x, **kw):  # type: ignore[no-untyped-def]
    return idgrad.integrated_gradients(model, x, n_steps=8, **kw)


def _classifier() -> torch.nn.Module:
    return SmallMLP(3, 8, 4, activation="tanh", seed=2)


# ------------------------------------------------------------------ negative indices


def test_negative_index_is_python_indexing_in_methods() -> None:
    model, x = _classifier(), torch.rand(3, 3, dtype=D)
    assert torch.equal(_ig(model, x, target=-1), _ig(model, x, target=3))
    assert torch.equal(
        _ig(model, x, target=torch.tensor([-1, 0, -4])),
        _ig(model, x, target=torch.tensor([3, 0, 0])),
    )


def test_negative_index_is_python_indexing_in_class_indices() -> None:
    assert class_indices(-1, 3, 4).tolist() == [3, 3, 3]
    assert class_indices([0, -1, -4], 3, 4).tolist() == [0, 3, 0]
    with pytest.raises(ValueError, match="out of range"):
        class_indices(-5, 3, 4)
    with pytest.raises(ValueError, match="out of range"):
        class_indices(torch.tensor([0, 4, 1]), 3, 4)


def test_agi_accepts_negative_classes_like_the_methods() -> None:
    model, x = _classifier(), torch.rand(2, 3, dtype=D)
    kw = {"top_k": 2, "max_iter": 3}
    a = idgrad.adversarial_gradient_integration.details(model, x, target=-1, **kw)
    b = idgrad.adversarial_gradient_integration.details(model, x, target=3, **kw)
    assert a.target.tolist() == [3, 3]
    assert torch.equal(a.attributions, b.attributions)


# ------------------------------------------------------------------ bools are refused


@pytest.mark.parametrize(
    "target",
    [
        torch.tensor([True, False]),
        [True, False],
        (True,),
        np.array([True, False]),
        True,
    ],
)
def test_bool_targets_are_refused(target) -> None:  # type: ignore[no-untyped-def]
    model, x = _classifier(), torch.rand(2, 3, dtype=D)
    with pytest.raises(TypeError, match="bool"):
        _ig(model, x, target=target)
    with pytest.raises(TypeError):
        class_indices(target, 2, 4)


def test_agi_refuses_a_bool_tensor() -> None:
    with pytest.raises(TypeError, match="bool"):
        idgrad.adversarial_gradient_integration(
            _classifier(), torch.rand(2, 3, dtype=D), target=torch.tensor([True, False])
        )


# ------------------------------------------------------------------ one element for all


@pytest.mark.parametrize("one", [torch.tensor([2]), [2], torch.tensor([[2]]), np.array([2])])
def test_one_element_target_applies_to_every_example(one) -> None:  # type: ignore[no-untyped-def]
    model, x = _classifier(), torch.rand(4, 3, dtype=D)
    assert torch.equal(_ig(model, x, target=one), _ig(model, x, target=2))
    assert class_indices(one, 4, 4).tolist() == [2, 2, 2, 2]


def test_one_element_tuple_list_applies_to_every_example() -> None:
    model = lambda z: torch.tanh(z @ torch.ones(3, 6, dtype=D)).reshape(-1, 2, 3)
    x = torch.rand(3, 3, dtype=D)
    assert torch.equal(_ig(model, x, target=[(1, 2)]), _ig(model, x, target=(1, 2)))


def test_captum_noise_tunnel_around_our_class_for_one_example() -> None:
    captum_attr = pytest.importorskip("captum.attr")
    model, x = _classifier(), torch.rand(1, 3, dtype=D)
    ig = idgrad.IntegratedGradients(model)
    nt = captum_attr.NoiseTunnel(ig)
    out = nt.attribute(x, nt_type="smoothgrad", nt_samples=3, stdevs=0.0, target=torch.tensor([1]))
    assert torch.allclose(out, ig.attribute(x, target=1), rtol=0, atol=1e-12)


# ------------------------------------------------------------------ "predicted"


def test_predicted_is_the_argmax_at_the_inputs_resolved_once() -> None:
    model, x = CountingModel(_classifier()), torch.rand(5, 3, dtype=D)
    classes = _classifier()(x).argmax(1)
    expected = _ig(model, x, target=classes, internal_batch_size=2)
    model.reset()
    got = _ig(model, x, target="predicted", internal_batch_size=2)
    assert torch.equal(got, expected)
    # one forward pass over the 5 inputs (in chunks of 2), then 5 * 8 gradient points
    assert model.rows == 5 + 5 * 8 and model.grad_rows == 5 * 8 and model.max_rows <= 2


@pytest.mark.parametrize(
    "fn", [idgrad.integrated_decision_gradients, idgrad.left_integrated_gradients]
)
def test_predicted_means_the_same_in_every_method(fn) -> None:  # type: ignore[no-untyped-def]
    model, x = _classifier(), torch.rand(3, 3, dtype=D)
    classes = model(x).argmax(1)
    assert torch.equal(fn(model, x, target="predicted"), fn(model, x, target=classes))


def test_predicted_in_layer_methods_and_agi() -> None:
    model, x = _classifier(), torch.rand(3, 3, dtype=D)
    classes = model(x).argmax(1)
    layer = model.net[0] if hasattr(model, "net") else next(iter(model.children()))
    a = idgrad.layer_integrated_gradients(model, layer, x, target="predicted", n_steps=8)
    b = idgrad.layer_integrated_gradients(model, layer, x, target=classes, n_steps=8)
    assert torch.equal(a, b)
    d = idgrad.adversarial_gradient_integration.details(model, x, top_k=1, max_iter=2)
    assert torch.equal(d.target, classes)  # AGI's default target is "predicted"


def test_predicted_needs_a_classifier_output() -> None:
    with pytest.raises(ValueError, match="classifier output.*per example has shape \\(2, 3\\)"):
        _ig(
            lambda z: torch.tanh(z @ torch.ones(3, 6, dtype=D)).reshape(-1, 2, 3),
            torch.rand(2, 3, dtype=D),
            target="predicted",
        )
    with pytest.raises(TypeError, match="string 'top'"):
        _ig(_classifier(), torch.rand(2, 3, dtype=D), target="top")


def test_resolve_target_calls_the_model_only_for_predicted() -> None:
    calls = []

    def outputs() -> torch.Tensor:
        calls.append(1)
        return torch.tensor([[0.0, 1.0], [2.0, 1.0]])

    assert resolve_target(3, outputs) == 3 and resolve_target(None, outputs) is None
    assert calls == []
    assert resolve_target("predicted", outputs).tolist() == [1, 0]
    assert predicted_classes(torch.tensor([[0.0, 1.0]])).tolist() == [1]
    with pytest.raises(ValueError, match="NaN"):
        predicted_classes(torch.tensor([[0.0, float("nan")]]))


def test_none_is_not_a_class() -> None:
    with pytest.raises(TypeError, match="one scalar per example"):
        class_indices(None, 2, 4)
    with pytest.raises(TypeError, match="one scalar per example"):
        idgrad.adversarial_gradient_integration(
            _classifier(), torch.rand(2, 3, dtype=D), target=None
        )


# ------------------------------------------------------------------ messages


def test_missing_target_names_the_per_example_shape_and_the_batch() -> None:
    model = torch.nn.Linear(3, 10).double()
    with pytest.raises(ValueError) as err:
        idgrad.integrated_gradients(
            model, torch.rand(2, 3, dtype=D), n_steps=9, internal_batch_size=None
        )
    text = str(err.value)
    assert "(10,)" in text and "batch of 2" in text and "target=None" in text
    assert "18" not in text  # no internal chunk shape (2 inputs x 9 steps)


def test_out_of_range_target_names_the_per_example_shape() -> None:
    with pytest.raises(ValueError) as err:
        _ig(torch.nn.Linear(3, 10).double(), torch.rand(2, 3, dtype=D), target=12)
    assert "out of range" in str(err.value) and "(10,)" in str(err.value)
    assert "16" not in str(err.value)


def test_callable_target_gets_each_chunk_output() -> None:
    model, x = _classifier(), torch.rand(3, 3, dtype=D)
    for chunk in (1, 4, None):
        got = _ig(model, x, target=lambda out: out[:, 1] - out[:, 0], internal_batch_size=chunk)
        a, b = _ig(model, x, target=1), _ig(model, x, target=0)
        assert torch.allclose(got, a - b, rtol=0, atol=1e-13)


def test_target_object_forms() -> None:
    out = torch.arange(12.0).reshape(3, 4)
    rows = torch.arange(3)
    assert Target(None, 3).depth == 0
    assert Target(torch.tensor(2), 3).select(out, rows).tolist() == [2.0, 6.0, 10.0]
    assert Target(np.array([0, 1, 3]), 3).select(out, rows).tolist() == [0.0, 5.0, 11.0]
    with pytest.raises(TypeError, match="resolved"):
        Target("predicted", 3)
    with pytest.raises(ValueError, match="entries"):
        Target([0, 1], 3)
    with pytest.raises(TypeError, match="integers"):
        Target(np.array([0.5]), 3)


# ------------------------------------------------------------------ one description


def _documented_functions():  # type: ignore[no-untyped-def]
    fns = [inspect.unwrap(spec.function) for spec in METHODS.values()]
    fns += [idgrad.layer_integrated_gradients, idgrad.layer_integrated_decision_gradients]
    return {fn.__name__: fn for fn in fns}.values()


_REFERS = re.compile(
    r"(\btarget\b[\w, ]*: (the explained class, )?as in :func:`[~.\w]*integrated_gradients`"
    r"|Arguments as in :func:`~idgrad\.methods\.ig\.integrated_gradients`)"
)


@pytest.mark.parametrize("fn", _documented_functions(), ids=lambda f: f.__name__)
def test_every_method_documents_target_with_the_one_description(fn) -> None:  # type: ignore[no-untyped-def]
    doc = inspect.getdoc(fn) or ""
    flat = " ".join(doc.split())
    if fn.__name__ == "integrated_gradients":
        assert " ".join(TARGET_DOC.split()) in flat
    else:  # every other method refers to that one description and gives no other
        assert _REFERS.search(" ".join(line.strip() for line in doc.splitlines())), fn.__name__
        assert "target: which" not in flat
