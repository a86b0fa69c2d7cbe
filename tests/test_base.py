"""The calling contract of every method: ``method(...)`` attributions, ``method.details(...)``."""

from __future__ import annotations

import doctest
import importlib
import inspect
import pydoc

import pytest
import torch

import idgrad
from idgrad.core.results import Details
from idgrad.methods.base import PathMethod, details_wanted, path_method
from idgrad.methods.registry import METHODS

D = torch.float64
PUBLIC = sorted(
    {spec.function for spec in METHODS.values()}
    | {idgrad.layer_integrated_gradients, idgrad.layer_integrated_decision_gradients},
    key=lambda m: m.__name__,
)
POSITIONAL = ("forward_func", "layer", "inputs", "baselines", "target", "additional_forward_args")


@pytest.mark.parametrize("method", PUBLIC, ids=lambda m: m.__name__)
def test_one_signature_keyword_only_options(method: PathMethod) -> None:
    assert isinstance(method, PathMethod)
    params = inspect.signature(method).parameters
    assert "return_convergence_delta" not in params and "return_details" not in params
    for name, p in params.items():
        if name in POSITIONAL:
            assert p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, name
        else:
            assert p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD), name
    # .details takes the same arguments
    assert inspect.signature(method.details).parameters == params


@pytest.mark.parametrize("method", PUBLIC, ids=lambda m: m.__name__)
def test_the_wrapper_keeps_name_doc_module_and_help(method: PathMethod) -> None:
    impl = method.__wrapped__  # type: ignore[attr-defined]
    assert inspect.isfunction(impl) and method.impl is impl
    assert method.__name__ == impl.__name__ and method.__doc__ == impl.__doc__
    assert method.__module__ == impl.__module__ and method.__module__.startswith("idgrad.")
    assert inspect.isroutine(method)
    text = pydoc.render_doc(method, renderer=pydoc.plaintext)
    assert method.__name__ in text and "internal_batch_size" in text  # the signature
    assert inspect.getdoc(impl).splitlines()[0] in text


@pytest.mark.parametrize("method", PUBLIC, ids=lambda m: m.__name__)
def test_doctests_of_the_decorated_functions_are_collected(method: PathMethod) -> None:
    module = importlib.import_module(method.__module__)
    names = {t.name for t in doctest.DocTestFinder().find(module) if t.examples}
    assert f"{module.__name__}.{method.__name__}" in names


def test_positional_options_are_refused() -> None:
    model = lambda x: x.sum(1)
    with pytest.raises(TypeError):
        idgrad.integrated_gradients(model, torch.ones(1, 2), None, None, None, 8)  # type: ignore[misc]


def test_call_is_attributions_details_is_the_details_object() -> None:
    model = lambda x: (x**3).sum(1)
    x = torch.tensor([[1.0, 2.0]], dtype=D)
    attr = idgrad.integrated_gradients(model, x, n_steps=4)
    d = idgrad.integrated_gradients.details(model, x, n_steps=4)
    assert isinstance(d, idgrad.PathDetails) and isinstance(d, Details)
    assert torch.equal(d.attributions, attr)
    assert d.delta.shape == (1,) and d.delta.abs().max() < 1e-12


def test_a_plain_call_skips_what_only_the_details_need() -> None:
    seen = []

    @path_method
    def probe(forward_func, inputs):  # noqa: ANN001, ANN202
        seen.append(details_wanted())
        return Details(
            attributions=inputs, delta=torch.zeros(1), n_gradient_evals=1, n_forward_evals=0
        )

    probe(None, torch.ones(1))
    probe.details(None, torch.ones(1))
    assert seen == [False, True]
    assert details_wanted()  # outside any call


def test_a_method_can_be_a_class_attribute() -> None:
    class Holder:
        method = idgrad.integrated_gradients

        def __init__(self) -> None:
            self.scale = 2.0

    bound = Holder().method
    assert bound.__self__.scale == 2.0  # binds like a function
    assert Holder.method is idgrad.integrated_gradients
