"""Every default is written once: functions, classes, layer methods, registry, seed names, CLI."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

import idgrad
from idgrad import defaults
from idgrad.cli import build_parser
from idgrad.engine.schedules import UNSET
from idgrad.methods.registry import METHODS

_EMPTY = inspect.Parameter.empty


def _defaults(*functions: Callable[..., Any]) -> dict[str, Any]:
    """Parameter name -> default over several signatures (``self`` and required ones left out)."""
    out: dict[str, Any] = {}
    for fn in functions:
        for name, p in inspect.signature(fn).parameters.items():
            if p.default is not _EMPTY:
                out[name] = p.default
    return out


def _class_defaults(cls: type) -> dict[str, Any]:
    return _defaults(cls.__init__, cls.attribute)  # type: ignore[attr-defined]


PAIRS = [
    ("IntegratedGradients", idgrad.integrated_gradients, idgrad.IntegratedGradients),
    (
        "IntegratedDecisionGradients",
        idgrad.integrated_decision_gradients,
        idgrad.IntegratedDecisionGradients,
    ),
    (
        "LayerIntegratedGradients",
        idgrad.layer_integrated_gradients,
        idgrad.LayerIntegratedGradients,
    ),
    (
        "LayerIntegratedDecisionGradients",
        idgrad.layer_integrated_decision_gradients,
        idgrad.LayerIntegratedDecisionGradients,
    ),
]


def _same_where_shared(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return [f"{k}: {a[k]!r} != {b[k]!r}" for k in sorted(a.keys() & b.keys()) if a[k] != b[k]]


@pytest.mark.parametrize(("label", "function", "cls"), PAIRS, ids=[p[0] for p in PAIRS])
def test_class_and_function_share_every_default(
    label: str, function: Callable[..., Any], cls: type
) -> None:
    fn, klass = _defaults(function), _class_defaults(cls)
    # ``method`` is captum's name for the rule in the class (the rule's default), a deprecated
    # spelling in the function (a marker that tells "not given" apart)
    assert klass.pop("method") == fn["rule"] == defaults.RULE_AUTO
    assert fn.pop("method") is UNSET
    assert not _same_where_shared(fn, klass)
    # every option of the class is one of the function's (captum's flag apart)
    assert klass.keys() - fn.keys() <= {"return_convergence_delta", "device_ids", "grad_kwargs"}


@pytest.mark.parametrize(
    ("core", "layer"),
    [
        (idgrad.integrated_gradients, idgrad.layer_integrated_gradients),
        (idgrad.integrated_decision_gradients, idgrad.layer_integrated_decision_gradients),
    ],
    ids=["IG", "IDG"],
)
def test_layer_methods_share_the_core_defaults(core: Any, layer: Any) -> None:
    core_defaults, layer_defaults = _defaults(core), _defaults(layer)
    assert not _same_where_shared(core_defaults, layer_defaults)
    assert core_defaults.keys() <= layer_defaults.keys()


@pytest.mark.parametrize("name", list(METHODS))
def test_registry_entries_share_their_method_defaults(name: str) -> None:
    spec = METHODS[name]
    own = _defaults(spec.function)
    common = _defaults(spec)
    assert common["n_steps"] == own[spec.steps_parameter]
    del common["n_steps"]
    assert not _same_where_shared(own, common)
    assert not spec.options.keys() & common.keys()  # fixed options are not offered


def test_every_method_uses_the_shared_constants() -> None:
    shared = {
        "internal_batch_size": defaults.INTERNAL_BATCH_SIZE,
        "multiply_by_inputs": defaults.MULTIPLY_BY_INPUTS,
        "n_pilot_steps": defaults.N_PILOT_STEPS,
        "normalize": defaults.NORMALIZE,
        "attribute_to_layer_input": defaults.ATTRIBUTE_TO_LAYER_INPUT,
    }
    #: a method with a schedule: its step count, schedule and rule follow the call (None:
    #: the method's own, or what ``rtol`` needs)
    scheduled = {
        "n_steps": defaults.N_STEPS_AUTO,
        "schedule": defaults.SCHEDULE_AUTO,
        "rule": defaults.RULE_AUTO,
        "rtol": defaults.RTOL,
        "max_evaluations": defaults.MAX_EVALUATIONS,
    }
    functions = [spec.function for spec in METHODS.values()]
    functions += [idgrad.layer_integrated_gradients, idgrad.layer_integrated_decision_gradients]
    for fn in functions:
        found = _defaults(fn)
        if "schedule" in found:
            assert not _same_where_shared(found, {**shared, **scheduled}), fn.__name__
            assert found.keys() >= scheduled.keys(), fn.__name__
        else:  # a path built as it goes (Guided IG; AGI counts max_iter)
            assert not _same_where_shared(found, {**shared, "n_steps": defaults.N_STEPS})
            assert not found.keys() & {"rule", "rtol", "max_evaluations", "method"}
        # the deprecated spellings default to a marker that tells "not given" apart
        for old in ("method", "adaptive"):
            if old in found:
                assert found[old] is UNSET, (fn.__name__, old)


def test_every_scheduled_method_is_registered_with_its_schedules() -> None:
    for name, spec in METHODS.items():
        takes = "schedule" in inspect.signature(spec.function).parameters
        assert bool(spec.schedules) == takes, name
        if takes:
            assert set(spec.schedules) == set(idgrad.SCHEDULES), name
            assert spec.default_schedule in spec.schedules
    assert METHODS["ig"].default_schedule == defaults.IG_SCHEDULE == "uniform"
    assert METHODS["idg"].default_schedule == defaults.IDG_SCHEDULE == "graded"


def test_seed_names_share_the_defaults() -> None:
    seed_idg = _defaults(idgrad.get_integrated_decision_gradients)
    seed_ig = _defaults(idgrad.get_integrated_gradients)
    idg = _defaults(idgrad.integrated_decision_gradients)
    # the seed names keep the seed's explicit 50; idgrad's None means the same budget
    assert seed_idg["n_steps"] == seed_ig["n_steps"] == defaults.N_STEPS
    assert idg["n_steps"] == defaults.N_STEPS_AUTO
    # the seed's own spelling of its schedule: adaptive=True is the paper's pilot schedule
    assert seed_idg["adaptive"] == defaults.ADAPTIVE
    assert seed_idg["n_prechar_steps"] == idg["n_pilot_steps"]


def test_command_line_shares_the_defaults() -> None:
    parser = build_parser()
    explain = parser.parse_args(["explain", "--model", "m.pt", "--input", "x.npy"])
    assert explain.steps is None  # the method's own default (N_STEPS, or what rtol needs)
    assert explain.rtol == defaults.RTOL
    assert explain.max_evaluations == defaults.MAX_EVALUATIONS
    assert explain.method == defaults.CLI_METHOD
    dataset = parser.parse_args(["dataset", "--model", "m.pt", "--data", "d", "--out", "o"])
    assert dataset.method == defaults.CLI_METHOD
    assert dataset.steps is None  # the method's own default
    for args in (explain, dataset):
        assert args.schedule == defaults.SCHEDULE_AUTO  # the method's own schedule
        assert args.rule == defaults.RULE_AUTO  # the schedule's own rule
        assert args.rtol == defaults.RTOL and args.max_evaluations == defaults.MAX_EVALUATIONS
