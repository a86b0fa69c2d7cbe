"""The schedules' vocabulary: make_schedule's checks and defaults, and the old spellings.

``schedule=`` (uniform, pilot, graded) and ``rule=`` (the quadrature rule) are the words of
every face; ``method=`` for a rule or ``"graded"``, ``adaptive=`` and the registry names
``idg-pilot``/``idg-uniform`` keep working for one release with a ``DeprecationWarning``
naming the new spelling, and give exactly the new spelling's result.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
from models import SmallMLP

import idgrad
from idgrad import defaults
from idgrad.engine.schedules import SCHEDULES, make_schedule, translate_method
from idgrad.engine.schedules.graded import GradedSchedule
from idgrad.engine.schedules.pilot import PilotSchedule, default_pilot_steps
from idgrad.engine.schedules.uniform import UniformSchedule
from idgrad.methods.registry import METHODS, get_method

D = torch.float64


def _case() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    model = SmallMLP(seed=3)
    g = torch.Generator().manual_seed(4)
    return model, torch.randn(3, 6, generator=g, dtype=D), torch.tensor([0, 2, 1])


# ----------------------------------------------------------------------------- make_schedule


def test_make_schedule_defaults() -> None:
    build = lambda **kw: make_schedule(**{"schedule": None, "rule": None, "n_steps": None, **kw})
    assert build() == UniformSchedule(defaults.N_STEPS, defaults.UNIFORM_RULE)
    assert build(default="graded") == GradedSchedule(n_steps=defaults.N_STEPS)
    assert build(schedule="pilot", n_steps=40) == PilotSchedule(
        40, defaults.PILOT_RULE, default_pilot_steps(40)
    )
    assert build(schedule="pilot", n_pilot_steps=3) == PilotSchedule(
        defaults.N_STEPS, defaults.PILOT_RULE, 3
    )
    # rtol alone: the graded schedule, whatever the method's default
    assert build(rtol=0.01) == GradedSchedule(
        rtol=0.01, max_evaluations=defaults.GRADED_MAX_EVALUATIONS
    )
    assert build(rtol=0.01, max_evaluations=64) == GradedSchedule(rtol=0.01, max_evaluations=64)
    assert set(SCHEDULES) == {"uniform", "pilot", "graded"}


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"schedule": "magic"}, ValueError, "unknown schedule 'magic'"),
        ({"schedule": "uniform", "rule": "simpson"}, ValueError, "unknown rule 'simpson'"),
        ({"schedule": "uniform", "rule": 3}, TypeError, "rule must be one of"),
        ({"schedule": "graded", "rule": "gausslegendre"}, ValueError, "chooses its own rules"),
        ({"schedule": "pilot", "rule": "riemann_trapezoid"}, ValueError, "pilot interval"),
        ({"schedule": "uniform", "n_steps": 1, "rule": "riemann_trapezoid"}, ValueError, ">= 2"),
        ({"schedule": "uniform", "rtol": 0.01}, ValueError, "rtol needs the graded schedule"),
        ({"schedule": "pilot", "max_evaluations": 64}, ValueError, "max_evaluations needs"),
        ({"schedule": "graded", "n_pilot_steps": 4}, ValueError, "n_pilot_steps is the pilot"),
        ({"n_pilot_steps": 4}, ValueError, "n_pilot_steps is the pilot"),
        ({"n_steps": 8, "rtol": 0.01}, ValueError, "give one budget"),
        ({"schedule": "graded", "max_evaluations": 64}, ValueError, "caps what rtol spends"),
        ({"rtol": 0.0}, ValueError, "rtol must be"),
        ({"rtol": 1.0}, ValueError, r"rtol must be finite and in \(0, 1\)"),
        ({"rtol": 0.01, "max_evaluations": 4}, ValueError, "max_evaluations must be >= 8"),
        ({"n_steps": 0}, ValueError, "n_steps must be >= 1"),
        ({"n_steps": 2.5}, TypeError, "n_steps"),
        ({"schedule": "pilot", "n_pilot_steps": 0}, ValueError, "n_pilot_steps must be >= 1"),
    ],
)
def test_make_schedule_refuses_what_has_no_meaning(
    options: dict[str, Any], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        make_schedule(**{"schedule": None, "rule": None, "n_steps": None, **options})


# ----------------------------------------------------------------------------- old spellings


def _warns_and_equals(old: Callable[[], Any], new: Callable[[], Any], says: str) -> None:
    """``old()`` warns once, at the caller, naming the new spelling; equals ``new()`` exactly."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = old()
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(deprecations) == 1, [str(w.message) for w in caught]
    assert says in str(deprecations[0].message), str(deprecations[0].message)
    assert deprecations[0].filename == __file__  # points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        want = new()
    for a, b in zip(_tensors(got), _tensors(want)):
        assert torch.equal(a, b)


def _tensors(d: Any) -> list[torch.Tensor]:
    """The attributions and delta of a details object (or the attributions)."""
    if isinstance(d, torch.Tensor):
        return [d]
    attributions = d.attributions if isinstance(d.attributions, tuple) else (d.attributions,)
    return [*attributions, d.delta, d.alphas, d.weights]


@pytest.mark.parametrize("rule", idgrad.RULES)
def test_ig_method_is_the_rule(rule: str) -> None:
    model, x, t = _case()
    ig = idgrad.integrated_gradients
    _warns_and_equals(
        lambda: ig.details(model, x, target=t, n_steps=7, method=rule),
        lambda: ig.details(model, x, target=t, n_steps=7, rule=rule),
        f"method= are deprecated and will be removed in the next release; use rule='{rule}'",
    )


def test_method_graded_is_the_graded_schedule() -> None:
    model, x, t = _case()
    for fn in (idgrad.integrated_gradients, idgrad.integrated_decision_gradients):
        _warns_and_equals(
            lambda fn=fn: fn.details(model, x, target=t, n_steps=20, method="graded"),
            lambda fn=fn: fn.details(model, x, target=t, n_steps=20, schedule="graded"),
            "use schedule='graded'",
        )


@pytest.mark.parametrize(
    "rule", ["riemann_left", "riemann_right", "riemann_middle", "gausslegendre"]
)
def test_idg_method_is_the_pilot_schedule_with_that_rule(rule: str) -> None:
    # IDG's schedule was adaptive by default: a rule meant the paper's pilot schedule
    model, x, t = _case()
    idg = idgrad.integrated_decision_gradients
    _warns_and_equals(
        lambda: idg.details(model, x, target=t, n_steps=12, method=rule),
        lambda: idg.details(model, x, target=t, n_steps=12, schedule="pilot", rule=rule),
        f"use schedule='pilot', rule='{rule}'",
    )


@pytest.mark.parametrize("rule", [None, *idgrad.RULES])
def test_idg_adaptive_false_is_the_uniform_schedule(rule: str | None) -> None:
    model, x, t = _case()
    idg = idgrad.integrated_decision_gradients
    old: dict[str, Any] = (
        {"adaptive": False} if rule is None else {"adaptive": False, "method": rule}
    )
    new: dict[str, Any] = (
        {"schedule": "uniform"} if rule is None else {"schedule": "uniform", "rule": rule}
    )
    _warns_and_equals(
        lambda: idg.details(model, x, target=t, n_steps=12, **old),
        lambda: idg.details(model, x, target=t, n_steps=12, **new),
        "use schedule='uniform'",
    )


def test_idg_adaptive_true_alone_is_the_default_schedule() -> None:
    model, x, t = _case()
    idg = idgrad.integrated_decision_gradients
    _warns_and_equals(
        lambda: idg.details(model, x, target=t, n_steps=20, adaptive=True),
        lambda: idg.details(model, x, target=t, n_steps=20),
        "use the default schedule (no argument)",
    )


@pytest.mark.parametrize(
    ("fn", "first"),
    [
        (idgrad.left_integrated_gradients, ()),
        (idgrad.blur_integrated_gradients, ()),
        (idgrad.integrated_gradients_sign, ()),
        (idgrad.layer_integrated_gradients, ("layer",)),
        (idgrad.layer_integrated_decision_gradients, ("layer",)),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_every_scheduled_method_takes_method_as_the_old_rule(
    fn: Any, first: tuple[str, ...]
) -> None:
    model, x, t = _case()
    lead = (model, model.net[0], x) if first else (model, x)
    options: dict[str, Any] = {"target": t, "n_steps": 8}
    if fn is idgrad.blur_integrated_gradients:
        options["max_sigma"] = 1.0
    schedule = {"schedule": "pilot"} if fn is idgrad.layer_integrated_decision_gradients else {}
    _warns_and_equals(
        lambda: fn.details(*lead, method="riemann_middle", **options),
        lambda: fn.details(*lead, rule="riemann_middle", **schedule, **options),
        "rule='riemann_middle'",
    )


def test_old_and_new_spellings_must_agree() -> None:
    model, x, t = _case()
    with pytest.raises(ValueError, match="method and rule='riemann_right' disagree"):
        idgrad.integrated_gradients(model, x, target=t, method="riemann_left", rule="riemann_right")
    with pytest.raises(ValueError, match="disagree"):
        idgrad.integrated_decision_gradients(model, x, target=t, adaptive=False, schedule="graded")
    with pytest.raises(ValueError, match="method='graded' is adaptive"):
        idgrad.integrated_decision_gradients(model, x, target=t, method="graded", adaptive=False)
    with pytest.raises(TypeError, match="adaptive must be a bool"):
        idgrad.integrated_decision_gradients(model, x, target=t, adaptive="yes")
    # the same spelling twice is no disagreement (still deprecated)
    with pytest.warns(DeprecationWarning):
        idgrad.integrated_gradients(model, x, target=t, method="riemann_left", rule="riemann_left")


def test_translate_method_without_the_old_words_is_silent() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert translate_method("f", "pilot", "gausslegendre") == ("pilot", "gausslegendre")
        assert translate_method("f", None, None, warn=False, method="riemann_left") == (
            None,
            "riemann_left",
        )


@pytest.mark.parametrize(("old", "schedule"), [("idg-pilot", "pilot"), ("idg-uniform", "uniform")])
def test_the_old_registry_names_are_idg_with_a_schedule(old: str, schedule: str) -> None:
    model, x, t = _case()
    with pytest.warns(
        DeprecationWarning, match=f"method '{old}' is deprecated.*schedule='{schedule}'"
    ):
        spec = get_method(old)
    assert old not in METHODS  # not a method of its own: the listing has each method once
    assert spec.function is METHODS["idg"].function and dict(spec.options) == {"schedule": schedule}
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        got = spec.details(model, x, target=t, n_steps=12)
        want = METHODS["idg"].details(model, x, target=t, n_steps=12, schedule=schedule)
    for a, b in zip(_tensors(got), _tensors(want)):
        assert torch.equal(a, b)
    with pytest.raises(TypeError, match=f"fixes schedule='{schedule}'"):
        spec(model, x, target=t, schedule="graded")
