"""One contract for every public method, checked in one place.

Every registered method (:data:`idgrad.methods.registry.METHODS`, through its common
signature; at its defaults, on every schedule it lists in ``MethodSpec.schedules`` and, where
it takes the graded schedule, with ``rtol``), the layer methods, the captum-style classes, the
seed package's names and the noise tunnel must:

- leave the model as found: train/eval flag of every module, parameters, parameter
  ``.grad``, buffers (batch norm statistics, also in train mode, where a
  :class:`~idgrad.TrainModeWarning` is issued);
- leave the inputs and baselines as found: values, ``requires_grad``, ``.grad``;
- leave the global grad mode as found, also inside ``torch.no_grad()``;
- give the same result for every chunk size (float64, to 1e-12);
- keep the input's dtype (float32, float64) and device (CUDA where one exists);
- refuse bad input (and a bad schedule, rule or budget) with a ValueError/TypeError before
  the model is called.

The metrics that call the model (insertion, deletion, PIC, the randomisation check)
leave it as found too.

The per-method test files keep only what is specific to each method.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from models import ModeDependentNet
from torch import nn

import idgrad
from idgrad import metrics
from idgrad.core.results import Details
from idgrad.methods.noise import noise_tunnel
from idgrad.methods.registry import METHODS, MethodSpec

D = torch.float64

#: Small settings per registered method (4 steps everywhere).
_OPTIONS: dict[str, dict[str, Any]] = {
    "guided-ig": {"fraction": 0.5, "max_dist": 0.2},
    "blur-ig": {"max_sigma": 1.0},
    "agi": {"top_k": 2, "epsilon": 0.05},
}
#: The graded schedule's budget: enough for its probe and its choice of points (below 16 it
#: is the plain Gauss-Legendre rule).
_GRADED_STEPS = 20
#: A tolerance run (``rtol``), capped so that it stays cheap.
_RTOL = {"rtol": 1e-4, "max_evaluations": 64}


@dataclass
class Entry:
    """One public way to attribute: ``run(model, x, **options) -> attributions``.

    ``options`` may hold ``baselines`` (when ``takes_baselines``) and the chunk option
    ``chunk_name`` (``internal_batch_size``, the seed names' ``batch_size``). ``budget`` is
    how the entry asks for its points: ``"n_steps"`` or ``"rtol"``; ``scheduled`` whether it
    takes ``schedule=`` and ``rule=``.
    """

    name: str
    run: Callable[..., Any]
    takes_baselines: bool = True
    chunk_name: str = "internal_batch_size"
    chunk_sizes: tuple[Any, ...] = (1, 7, None)
    details: Callable[..., Any] | None = None
    details_type: type | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    budget: str = "n_steps"
    scheduled: bool = False


def _details_type(spec: MethodSpec, schedule: str) -> type:
    """What ``spec.details`` returns on ``schedule``: the graded schedule adds its estimate."""
    if schedule == "graded" and spec.details_type is idgrad.PathDetails:
        return idgrad.GradedDetails
    return spec.details_type


def _registered(name: str, schedule: str | None = None, rtol: bool = False) -> Entry:
    """A registered method at its defaults, on one of its schedules, or with ``rtol``."""
    spec = METHODS[name]
    opts: dict[str, Any] = {"target": 1, "n_steps": 4, **_OPTIONS.get(name, {})}
    label = name
    if schedule is not None:
        opts["schedule"] = schedule
        label = f"{name}[schedule={schedule}]"
        if schedule == "graded":
            opts["n_steps"] = _GRADED_STEPS
    if rtol:
        del opts["n_steps"]
        opts.update(_RTOL)
        label = f"{name}[rtol]"
    return Entry(
        label,
        lambda m, x, **kw: spec(m, x, **{**opts, **kw}),
        takes_baselines=spec.takes_baselines,
        details=lambda m, x, **kw: spec.details(m, x, **{**opts, **kw}),
        details_type=_details_type(spec, "graded" if rtol else schedule or spec.default_schedule),
        budget="rtol" if rtol else "n_steps",
        scheduled=bool(spec.schedules),
    )


def _layer(fn: Any) -> Entry:
    def run(m: Any, x: Any, **kw: Any) -> Any:
        return fn(m, m.fc1, x, **{"target": 1, "n_steps": 4, **kw})

    def details(m: Any, x: Any, **kw: Any) -> Any:
        return fn.details(m, m.fc1, x, **{"target": 1, "n_steps": 4, **kw})

    graded = fn is idgrad.layer_integrated_decision_gradients  # IDG's default: graded
    kind = idgrad.GradedDetails if graded else idgrad.PathDetails
    return Entry(fn.__name__, run, details=details, details_type=kind)


def _class(cls: type, layer: bool) -> Entry:
    def run(m: Any, x: Any, **kw: Any) -> Any:
        obj = cls(m, m.fc1) if layer else cls(m)
        return obj.attribute(x, **{"target": 1, "n_steps": 4, **kw})

    return Entry(cls.__name__, run)


def _seed(fn: Any) -> Entry:
    def run(m: Any, x: Any, **kw: Any) -> Any:
        if "baselines" in kw:
            kw["baseline"] = kw.pop("baselines")
        return fn(m, x, **{"target": 1, "n_steps": 4, **kw})

    return Entry(fn.__name__, run, chunk_name="batch_size", chunk_sizes=(1, 3, 50))


def _noise_tunnel() -> Entry:
    def run(m: Any, x: Any, **kw: Any) -> Any:
        return noise_tunnel(
            idgrad.integrated_gradients,
            x,
            nt_samples=2,
            stdevs=0.1,
            nt_seed=0,
            forward_func=m,
            **{"target": 1, "n_steps": 4, **kw},
        )

    return Entry("noise_tunnel", run)


ENTRIES: dict[str, Entry] = {
    e.name: e
    for e in [
        *(_registered(name) for name in METHODS),
        *(_registered(name, schedule) for name in METHODS for schedule in METHODS[name].schedules),
        *(_registered(name, rtol=True) for name in METHODS if "graded" in METHODS[name].schedules),
        _layer(idgrad.layer_integrated_gradients),
        _layer(idgrad.layer_integrated_decision_gradients),
        _class(idgrad.IntegratedGradients, layer=False),
        _class(idgrad.IntegratedDecisionGradients, layer=False),
        _class(idgrad.LayerIntegratedGradients, layer=True),
        _class(idgrad.LayerIntegratedDecisionGradients, layer=True),
        _seed(idgrad.get_integrated_gradients),
        _seed(idgrad.get_integrated_decision_gradients),
        _noise_tunnel(),
    ]
}
WITH_DETAILS = [name for name, e in ENTRIES.items() if e.details is not None]


def _attributions(out: Any) -> list[torch.Tensor]:
    """Every tensor of a result (tensor, tuple, list of layers)."""
    if isinstance(out, torch.Tensor):
        return [out]
    return [t for item in out for t in _attributions(item)]


def _x(dtype: torch.dtype = D, device: Any = "cpu", seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(3, 6, generator=g, dtype=torch.float64).to(dtype=dtype, device=device)


def test_every_registered_method_is_in_the_contract() -> None:
    assert set(METHODS) <= set(ENTRIES)
    assert set(WITH_DETAILS) >= set(METHODS)
    # ... on every schedule it takes, and with rtol where it takes the graded schedule
    for name, spec in METHODS.items():
        for schedule in spec.schedules:
            assert f"{name}[schedule={schedule}]" in ENTRIES
        assert (f"{name}[rtol]" in ENTRIES) == ("graded" in spec.schedules)
    assert "blur-ig[rtol]" in ENTRIES


# ----------------------------------------------------------------------------- state


@pytest.mark.filterwarnings("ignore::idgrad.IDGWarning")  # train-mode batch norm flattens F
@pytest.mark.parametrize("name", list(ENTRIES))
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("grad_mode", [True, False])
def test_model_inputs_and_grad_mode_are_left_as_found(
    name: str, training: bool, grad_mode: bool
) -> None:
    entry = ENTRIES[name]
    model = ModeDependentNet().train(training)
    model.fc1.weight.grad = torch.full_like(model.fc1.weight, 7.0)  # a stale grad the user kept
    state = copy.deepcopy(model.state_dict())
    x = _x().requires_grad_(True)
    x_before = x.detach().clone()
    kwargs: dict[str, Any] = {}
    if entry.takes_baselines:
        base = (0.1 * _x(seed=2)).requires_grad_(True)
        base_before = base.detach().clone()
        kwargs["baselines"] = base
    torch.manual_seed(0)  # dropout: the function is random in train mode; we check the state
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with torch.set_grad_enabled(grad_mode):
            out = entry.run(model, x, **kwargs)
            assert torch.is_grad_enabled() == grad_mode
    modes = [w for w in caught if issubclass(w.category, idgrad.TrainModeWarning)]
    assert len(modes) == (1 if training else 0), [str(w.message) for w in caught]
    if training:
        assert modes[0].filename == __file__  # points at the caller's line
    assert all(m.training == training for m in model.modules())
    assert torch.equal(model.fc1.weight.grad, torch.full_like(model.fc1.weight, 7.0))
    assert all(p.grad is None for n, p in model.named_parameters() if n != "fc1.weight")
    for key, value in model.state_dict().items():  # parameters and buffers
        assert torch.equal(value, state[key]), key
    assert x.requires_grad and x.is_leaf and x.grad is None
    assert torch.equal(x.detach(), x_before)
    if entry.takes_baselines:
        assert base.requires_grad and base.grad is None
        assert torch.equal(base.detach(), base_before)
    for a in _attributions(out):
        assert not a.requires_grad


@pytest.mark.parametrize("name", list(ENTRIES))
def test_plain_inputs_and_the_global_rng_are_left_alone(name: str) -> None:
    entry = ENTRIES[name]
    x = _x()
    kwargs = {"baselines": 0.1 * _x(seed=2)} if entry.takes_baselines else {}
    model = ModeDependentNet().eval()
    state = torch.get_rng_state()
    entry.run(model, x, **kwargs)
    assert not x.requires_grad
    assert all(not b.requires_grad for b in kwargs.values())
    assert torch.equal(torch.get_rng_state(), state)  # seeded noise uses its own generator


@pytest.mark.parametrize("name", WITH_DETAILS)
def test_details_carry_the_delta_and_the_counts(name: str) -> None:
    entry = ENTRIES[name]
    assert entry.details is not None
    model = ModeDependentNet().eval()
    x = _x()
    d = entry.details(model, x)
    assert isinstance(d, Details)
    if entry.details_type is not None:
        assert type(d) is entry.details_type
    assert d.delta.shape == (3,) and torch.isfinite(d.delta).all()
    assert d.n_gradient_evals > 0 and d.n_evaluations >= d.n_gradient_evals
    if isinstance(d, idgrad.PathDetails):  # every model evaluation, per example
        assert d.evaluations.dtype == torch.int64 and d.evaluations.shape == (3,)
        assert int(d.evaluations.sum()) == d.n_evaluations
    plain = entry.run(model, x)
    for a, b in zip(_attributions(plain), _attributions(d.attributions)):
        assert torch.equal(a, b)


# ----------------------------------------------------------------------------- chunking


@pytest.mark.filterwarnings("ignore::idgrad.IDGWarning")
@pytest.mark.parametrize("name", [n for n in ENTRIES if n != "noise_tunnel"])
def test_chunk_size_does_not_change_the_result(name: str) -> None:
    entry = ENTRIES[name]
    model = ModeDependentNet().eval()
    x = _x()
    results = [
        _attributions(entry.run(model, x, **{entry.chunk_name: size})) for size in entry.chunk_sizes
    ]
    for other in results[1:]:
        for a, b in zip(results[0], other):
            torch.testing.assert_close(b, a, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- dtype, device


@pytest.mark.filterwarnings("ignore::idgrad.IDGWarning")
@pytest.mark.parametrize("name", list(ENTRIES))
def test_float32_keeps_its_dtype_and_is_close_to_float64(name: str) -> None:
    entry = ENTRIES[name]
    ref = _attributions(entry.run(ModeDependentNet().eval(), _x()))
    got = _attributions(entry.run(ModeDependentNet().eval().float(), _x(torch.float32)))
    if entry.details is not None:  # the delta too: lower precisions accumulate in float32
        assert entry.details(ModeDependentNet().eval().float(), _x(torch.float32)).delta.dtype == (
            torch.float32
        )
    for a32, a64 in zip(got, ref):
        assert a32.dtype == torch.float32 and a64.dtype == torch.float64
        assert torch.isfinite(a32).all()
        if name != "noise_tunnel":  # its noise is drawn in the input's dtype
            torch.testing.assert_close(a32.double(), a64, rtol=1e-3, atol=1e-4)


@pytest.mark.filterwarnings("ignore::idgrad.IDGWarning")
@pytest.mark.parametrize("name", list(ENTRIES))
def test_runs_on_the_device(name: str, device: torch.device) -> None:
    entry = ENTRIES[name]
    ref = _attributions(entry.run(ModeDependentNet().eval(), _x()))
    got = _attributions(entry.run(ModeDependentNet().eval().to(device), _x(device=device)))
    for a, r in zip(got, ref):
        assert a.device.type == device.type
        torch.testing.assert_close(a.cpu(), r, rtol=1e-9, atol=1e-10)


# ----------------------------------------------------------------------------- bad input


class _Calls(nn.Module):
    """Counts the forward calls of the wrapped model."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = ModeDependentNet().eval()
        self.fc1 = self.inner.fc1  # the layer the layer methods attribute to
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.inner(x)


def _bad_cases(entry: Entry) -> list[tuple[str, dict[str, Any], Any, type]]:
    """``(label, options, inputs, error)``."""
    x = _x()
    nan = x.clone()
    nan[1, 2] = float("nan")
    cases = [
        ("inputs a list", {}, x.tolist(), TypeError),
        ("inputs with NaN", {}, nan, ValueError),
        ("chunk 0", {entry.chunk_name: 0}, x, ValueError),
        ("target a string", {"target": "cat"}, x, TypeError),
    ]
    if entry.budget == "rtol":
        cases += [
            ("rtol=0", {"rtol": 0.0}, x, ValueError),
            ("rtol='1e-3'", {"rtol": "1e-3"}, x, TypeError),
            ("max_evaluations=4", {"max_evaluations": 4}, x, ValueError),
            ("rtol and n_steps", {"n_steps": 8}, x, ValueError),
        ]
    else:
        cases += [
            ("n_steps=0", {"n_steps": 0}, x, ValueError),
            ("n_steps=2.5", {"n_steps": 2.5}, x, TypeError),
        ]
    if entry.scheduled:
        cases += [
            ("schedule unknown", {"schedule": "magic"}, x, ValueError),
            ("rule unknown", {"schedule": "uniform", "rule": "simpson"}, x, ValueError),
            ("rule with graded", {"schedule": "graded", "rule": "gausslegendre"}, x, ValueError),
        ]
    if entry.takes_baselines:
        wrong = {"baselines": torch.zeros(3, 5)}
        cases.append(("baselines of a wrong shape", wrong, x, ValueError))
    return cases


_BAD = [(name, label) for name, entry in ENTRIES.items() for label, *_ in _bad_cases(entry)]


@pytest.mark.parametrize(("name", "label"), _BAD)
def test_bad_input_is_refused_before_the_model_runs(name: str, label: str) -> None:
    entry = ENTRIES[name]
    (options, inputs, error) = next((o, i, e) for lab, o, i, e in _bad_cases(entry) if lab == label)
    model = _Calls()
    with pytest.raises(error):
        entry.run(model, inputs, **options)
    assert model.calls == 0


# ----------------------------------------------------------------------------- metrics


def _image_model() -> nn.Module:
    """:class:`ModeDependentNet` on images ``(B, 1, 2, 3)``: batch norm and dropout."""
    return nn.Sequential(nn.Flatten(), ModeDependentNet())


def _explain(model: Any, x: torch.Tensor, target: Any) -> torch.Tensor:
    return idgrad.integrated_gradients(model, x, target=target, n_steps=4)


METRICS: dict[str, Callable[[Any, torch.Tensor, torch.Tensor], Any]] = {
    "insertion": lambda m, x, s: metrics.insertion(m, x, s, pixels_per_step=2),
    "deletion": lambda m, x, s: metrics.deletion(m, x, s, pixels_per_step=2),
    "pic": lambda m, x, s: metrics.pic(m, x, s, codec="zlib", min_score=0.0, seed=0),
    "parameter_randomization_check": lambda m, x, s: metrics.parameter_randomization_check(
        m, x, _explain, mode="independent"
    ),
}


@pytest.mark.parametrize("name", list(METRICS))
@pytest.mark.parametrize("training", [False, True])
def test_metrics_leave_the_model_as_found(name: str, training: bool) -> None:
    """Every public metric that calls the model goes through one guard: buffers restored,
    one TrainModeWarning at the caller's line for a model in train mode."""
    model = _image_model().train(training)
    state = copy.deepcopy(model.state_dict())
    g = torch.Generator().manual_seed(3)
    images = torch.randn(2, 1, 2, 3, generator=g, dtype=D)
    saliency = torch.rand(2, 2, 3, generator=g, dtype=D)
    torch.manual_seed(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        METRICS[name](model, images, saliency)
    modes = [w for w in caught if issubclass(w.category, idgrad.TrainModeWarning)]
    assert len(modes) == (1 if training else 0), [str(w.message) for w in caught]
    if training:
        assert modes[0].filename == __file__
    assert all(m.training == training for m in model.modules())
    for key, value in model.state_dict().items():  # parameters and buffers
        assert torch.equal(value, state[key]), key
