"""The registry says what each method needs, and its entries take the common signature."""

from __future__ import annotations

import inspect

import pytest
import torch
from models import SmallMLP

import idgrad
from idgrad.methods.base import PathMethod
from idgrad.methods.registry import METHODS, MethodSpec, get_method

D = torch.float64
COMMON = ["forward_func", "inputs", "baselines", "target", "additional_forward_args", "n_steps"]


@pytest.mark.parametrize("name", list(METHODS))
def test_each_entry_describes_its_method(name: str) -> None:
    spec = get_method(name)
    assert isinstance(spec, MethodSpec) and spec.name == name
    assert isinstance(spec.function, PathMethod)
    params = inspect.signature(spec.function).parameters
    assert spec.steps_parameter in params
    assert ("baselines" in params) == spec.takes_baselines
    assert set(spec.options) <= set(params)
    assert list(inspect.signature(spec).parameters)[: len(COMMON)] == COMMON
    assert spec.__name__ == spec.function.__name__


def test_what_the_methods_need() -> None:
    straight = {n for n, s in METHODS.items() if s.straight_path}
    assert straight == {"ig", "idg", "ig-sign"}
    # the details family; the graded schedule (IDG's default) returns its subclass
    assert get_method("idg").details_type is idgrad.PathDetails
    assert issubclass(idgrad.GradedDetails, idgrad.PathDetails)
    assert get_method("idg").default_schedule == "graded"
    assert get_method("ig").default_schedule == "uniform"
    with pytest.warns(DeprecationWarning, match="'idg-pilot' is deprecated"):
        assert get_method("idg-pilot").options == {"schedule": "pilot"}
    assert {n for n, s in METHODS.items() if not s.takes_baselines} == {"blur-ig", "agi"}
    assert {n for n, s in METHODS.items() if s.needs_classifier} == {"agi"}
    assert get_method("agi").steps_parameter == "max_iter"
    assert get_method("left-ig").details_type is idgrad.LeftIGDetails
    assert get_method("agi").details_type is idgrad.AGIDetails


def test_common_signature_maps_to_each_method() -> None:
    model = SmallMLP(n_features=4, n_classes=3)
    x = torch.rand(2, 4, dtype=D)
    uniform = get_method("idg")(model, x, target=1, n_steps=6, schedule="uniform")
    direct = idgrad.integrated_decision_gradients(model, x, target=1, n_steps=6, schedule="uniform")
    torch.testing.assert_close(uniform, direct, rtol=0, atol=0)
    d = get_method("agi").details(model, x, 0, target=1, n_steps=3, top_k=2)
    assert int(d.n_iterations.max()) <= 3  # n_steps is AGI's max_iter
    with pytest.warns(DeprecationWarning, match="'idg-uniform' is deprecated"):
        uniform_spec = get_method("idg-uniform")
    with pytest.raises(TypeError, match="fixes schedule='uniform'"):
        uniform_spec(model, x, target=1, schedule="graded")
    with pytest.raises(TypeError, match="n_steps"):
        get_method("agi")(model, x, max_iter=3)


@pytest.mark.parametrize("name", ["blur-ig", "agi"])
def test_methods_without_baseline_refuse_one(name: str) -> None:
    model = SmallMLP(n_features=4, n_classes=3)
    with pytest.raises(ValueError, match="takes no baselines"):
        get_method(name)(model, torch.rand(2, 4, dtype=D), baselines=0.5, target=1)


def test_unknown_name() -> None:
    with pytest.raises(ValueError, match="unknown method 'sg'; expected one of agi"):
        get_method("sg")
