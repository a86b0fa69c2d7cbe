"""captum 0.9's ``tests/attr/test_targets.py`` (the IG, NoiseTunnel-IG and Layer IG cases).

captum generates one test per entry of its test config (``captum/testing/attr/helpers/
test_config.py``) that has a list or tensor target: the batch is attributed once, then every
example on its own with its own target (and, when there is one target per example, once more
with a one-element target list/tensor), and the rows must agree to 1e-4. The entries below are
those of captum's config for ``IntegratedGradients`` and ``LayerIntegratedGradients`` (same
models, shapes, scales, targets, extra arguments, baselines, internal batch sizes, NoiseTunnel
settings); captum's config draws its random inputs once at import, ours are drawn from a seeded
generator per entry. The per-example agreement is method-agnostic, so every entry also runs
with ``IntegratedDecisionGradients`` / ``LayerIntegratedDecisionGradients``.

The two hand-written tests of captum's file check the errors for a missing target and for a
target tuple of the wrong length: captum raises ``AssertionError``, we raise ``ValueError``
(a deliberate difference, see README "Differences from captum").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
import torch
from captum_models import (
    BasicModel_MultiLayer,
    BasicModel_MultiLayer_MultiInput,
    assert_close_max,
)

import idgrad

captum_attr = pytest.importorskip("captum.attr")

TUPLE_TARGETS = [(1, 0, 0), (0, 1, 1), (1, 1, 1), (0, 0, 0)]
MULTIDIM = (None, True)  # extra arguments: add_input=None, multidim_output=True


class Entry(NamedTuple):
    """One config entry: the model, ``attribute`` arguments, and how to wrap the method."""

    model: Callable[[], torch.nn.Module]
    args: Callable[[torch.Generator], dict[str, Any]]
    layer: str | None = None
    noise_tunnel: bool = False


def _n(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=g)


def _multi_input_args(g: torch.Generator, target: Any) -> dict[str, Any]:
    return {
        "inputs": (10 * _n(g, 6, 3), 5 * _n(g, 6, 3)),
        "additional_forward_args": (2 * _n(g, 6, 3), 5),
        "target": target,
    }


_NT = {"nt_samples": 20, "stdevs": 0.0}
_ML, _MI = BasicModel_MultiLayer, BasicModel_MultiLayer_MultiInput

ENTRIES: dict[str, Entry] = {
    "basic_multi_target": Entry(_ML, lambda g: {"inputs": _n(g, 4, 3), "target": [0, 1, 1, 0]}),
    "basic_multi_input_multi_target": Entry(
        _MI, lambda g: _multi_input_args(g, [0, 1, 1, 0, 0, 1])
    ),
    "basic_multiple_tuple_target": Entry(
        _ML,
        lambda g: {
            "inputs": _n(g, 4, 3),
            "target": TUPLE_TARGETS,
            "additional_forward_args": MULTIDIM,
        },
    ),
    "basic_tensor_single_target": Entry(
        _ML, lambda g: {"inputs": _n(g, 4, 3), "target": torch.tensor([0])}
    ),
    "basic_tensor_multi_target": Entry(
        _ML, lambda g: {"inputs": _n(g, 4, 3), "target": torch.tensor([1, 1, 0, 0])}
    ),
    "basic_multiple_tuple_target_with_baselines": Entry(
        _ML,
        lambda g: {
            "inputs": _n(g, 4, 3),
            "baselines": 0.5 * _n(g, 4, 3),
            "target": TUPLE_TARGETS,
            "additional_forward_args": MULTIDIM,
        },
    ),
    "basic_tensor_single_target_with_baselines": Entry(
        _ML,
        lambda g: {
            "inputs": _n(g, 4, 3),
            "baselines": 0.5 * _n(g, 4, 3),
            "target": torch.tensor([0]),
        },
    ),
    "basic_multiple_tuple_target_with_internal_batching": Entry(
        _ML,
        lambda g: {
            "inputs": _n(g, 4, 3),
            "target": TUPLE_TARGETS,
            "additional_forward_args": MULTIDIM,
            "internal_batch_size": 2,
        },
    ),
    "basic_multi_input_multi_target_nt": Entry(
        _MI, lambda g: {**_multi_input_args(g, [0, 1, 1, 0, 0, 1]), **_NT}, noise_tunnel=True
    ),
    "basic_multiple_target_with_baseline_nt": Entry(
        _ML, lambda g: {"inputs": _n(g, 4, 3), "target": [0, 1, 1, 0], **_NT}, noise_tunnel=True
    ),
    "basic_multiple_tuple_target_nt": Entry(
        _ML,
        lambda g: {
            "inputs": _n(g, 4, 3),
            "target": TUPLE_TARGETS,
            "additional_forward_args": MULTIDIM,
            **_NT,
        },
        noise_tunnel=True,
    ),
    "basic_single_tensor_target_nt": Entry(
        _ML,
        lambda g: {"inputs": _n(g, 4, 3), "target": torch.tensor([0]), **_NT},
        noise_tunnel=True,
    ),
    "basic_multi_tensor_target_nt": Entry(
        _ML,
        lambda g: {"inputs": _n(g, 4, 3), "target": torch.tensor([0, 1, 1, 0]), **_NT},
        noise_tunnel=True,
    ),
    "basic_multi_tensor_target_batched_nt": Entry(
        _ML,
        lambda g: {
            "inputs": _n(g, 4, 3),
            "target": torch.tensor([0, 1, 1, 0]),
            "nt_samples_batch_size": 2,
            **_NT,
        },
        noise_tunnel=True,
    ),
    "basic_layer_multiple_target": Entry(
        _ML, lambda g: {"inputs": _n(g, 4, 3), "target": [0, 1, 1, 0]}, layer="relu"
    ),
    "basic_layer_tensor_multiple_target": Entry(
        _ML,
        lambda g: {"inputs": _n(g, 4, 3), "target": torch.tensor([0, 1, 1, 0])},
        layer="relu",
    ),
    "basic_layer_multiple_tuple_target": Entry(
        _ML,
        lambda g: {
            "inputs": _n(g, 4, 3),
            "target": TUPLE_TARGETS,
            "additional_forward_args": MULTIDIM,
        },
        layer="relu",
    ),
    "basic_layer_multiple_tuple_target_with_internal_batching": Entry(
        _ML,
        lambda g: {
            "inputs": _n(g, 4, 3),
            "target": TUPLE_TARGETS,
            "additional_forward_args": MULTIDIM,
            "internal_batch_size": 2,
        },
        layer="relu",
    ),
}


def _explainer(entry: Entry, idg: bool) -> Any:
    model = entry.model()
    if entry.layer is None:
        cls = idgrad.IntegratedDecisionGradients if idg else idgrad.IntegratedGradients
        method = cls(model)
    else:
        layer_cls = (
            idgrad.LayerIntegratedDecisionGradients if idg else idgrad.LayerIntegratedGradients
        )
        method = layer_cls(model, getattr(model, entry.layer))
    return captum_attr.NoiseTunnel(method) if entry.noise_tunnel else method


def _rows(value: Any, i: int) -> Any:
    """Example ``i`` of a tensor or a tuple of them (other values pass through)."""
    if isinstance(value, torch.Tensor):
        return value[i : i + 1]
    if isinstance(value, tuple):
        return tuple(v[i : i + 1] if isinstance(v, torch.Tensor) else v for v in value)
    return value


def _params() -> list[Any]:
    params = []
    for index, name in enumerate(ENTRIES):
        for idg in (False, True):
            kind = "IDG" if idg else "IG"
            params.append(pytest.param(index, name, idg, id=f"{name}-{kind}"))
    return params


# On the multi-input model some examples have every ReLU off along the whole path (the fixed
# extra input pushes them below zero): F is flat there, IG is 0, and IDG warns that it cannot
# rescale those examples. The per-example agreement is what these tests check.
@pytest.mark.filterwarnings("ignore::idgrad.IDGWarning")
@pytest.mark.parametrize(("seed", "name", "idg"), _params())
def test_target(seed: int, name: str, idg: bool) -> None:
    entry = ENTRIES[name]
    args = entry.args(torch.Generator().manual_seed(1234 + seed))
    explainer = _explainer(entry, idg)
    batch = explainer.attribute(**args)
    inputs, targets = args["inputs"], args["target"]
    n = (inputs if isinstance(inputs, torch.Tensor) else inputs[0]).shape[0]
    per_example = len(targets) == n
    for i in range(n):
        single_args = dict(args)
        single_args["inputs"] = _rows(inputs, i)
        single_args["target"] = targets[i] if per_example else targets
        if "additional_forward_args" in args:
            single_args["additional_forward_args"] = _rows(args["additional_forward_args"], i)
        if "baselines" in args:
            single_args["baselines"] = _rows(args["baselines"], i)
        want = _rows(batch, i)
        calls = [single_args]
        if per_example:  # the same example with a one-element target list / tensor
            calls.append({**single_args, "target": targets[i : i + 1]})
        for call in calls:
            got = explainer.attribute(**call)
            got_t = got if isinstance(got, tuple) else (got,)
            want_t = want if isinstance(want, tuple) else (want,)
            assert len(got_t) == len(want_t)
            for a, b in zip(want_t, got_t):
                assert_close_max(a, b, 1e-4)


def test_simple_target_missing_error() -> None:
    # captum: AssertionError. Ours: ValueError (bad input is never reported by `assert`).
    ig = idgrad.IntegratedGradients(BasicModel_MultiLayer())
    with pytest.raises(ValueError, match="target"):
        ig.attribute(torch.zeros(1, 3))  # the output has 2 classes per example


def test_multi_target_error() -> None:
    # captum: AssertionError. Ours: ValueError. The output is (1, 2, 2, 2), so a target needs
    # three indices; (1, 0) selects a vector per example.
    ig = idgrad.IntegratedGradients(BasicModel_MultiLayer())
    with pytest.raises(ValueError, match="target"):
        ig.attribute(torch.zeros(1, 3), additional_forward_args=MULTIDIM, target=(1, 0))
