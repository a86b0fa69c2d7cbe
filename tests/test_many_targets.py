"""Many targets in one call (``targets=``): the k-th slice is the call with ``target=t_k``.

Checked for every registered method with every schedule it lists, the layer methods and the
captum-style classes, in float32 (1e-6 relative) and float64 (1e-12): attributions and every
per-example field of the details. Then what the engine promises about the work: the uniform
schedule shares every forward pass (a batched vector-Jacobian product, or ``K`` backward
passes where the model's backward cannot be vmapped), the pilot and graded schedules give
every (example, target) pair its own path, a shared chunk holds ``chunk // K`` points, and
the result does not depend on the chunk size. Bad ``targets`` are refused before the model
runs.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
import torch
from models import CountingModel, TrackModel
from torch import nn

import idgrad
from idgrad.core.fan import TargetFan, all_targets, check_targets
from idgrad.core.fan_seam import FanSeam
from idgrad.core.seam import ModelSeam
from idgrad.core.validation import NonFiniteError
from idgrad.methods.noise import noise_tunnel
from idgrad.methods.registry import METHODS

D = torch.float64
#: Relative tolerance of a slice against its single-target call, per dtype.
RTOL = {torch.float32: 1e-6, torch.float64: 1e-12}
_OPTIONS: dict[str, dict[str, Any]] = {
    "guided-ig": {"fraction": 0.5, "max_dist": 0.2},
    "blur-ig": {"max_sigma": 1.0},
    "agi": {"top_k": 2, "epsilon": 0.05},
}


class Net(nn.Module):
    """``(B, 6) -> (B, 3)``: a small smooth network with a layer to hook (``fc1``)."""

    def __init__(self, dtype: torch.dtype = D, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.fc1 = nn.Linear(6, 8)
        self.fc2 = nn.Linear(8, 3)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen))
        self.to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.tanh(self.fc1(x)))


def _x(dtype: torch.dtype = D, batch: int = 3) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(batch, 6, generator=gen, dtype=torch.float64).to(dtype)


def _mixed() -> list[Any]:
    """One target of every form: an int, one index per example, a tuple index, a callable,
    the predicted class."""
    return [0, torch.tensor([2, 1, 0]), (1,), lambda out: out[:, 0] - out[:, 2], "predicted"]


def _slice(value: Any, k: int) -> Any:
    if isinstance(value, torch.Tensor):
        return value[k]
    if isinstance(value, (tuple, list)):
        return type(value)(_slice(v, k) for v in value)
    return value


def _assert_close(a: Any, b: Any, rtol: float, label: str, scale: float | None = None) -> None:
    """``a`` equals ``b`` up to ``rtol`` times ``scale`` (None: the largest ``|b|``)."""
    if isinstance(b, (tuple, list)):
        assert isinstance(a, type(b)) and len(a) == len(b), label
        for i, (u, v) in enumerate(zip(a, b)):
            _assert_close(u, v, rtol, f"{label}[{i}]")
        return
    if not isinstance(b, torch.Tensor):
        assert a == b, label
        return
    assert isinstance(a, torch.Tensor), label
    assert a.shape == b.shape and a.dtype == b.dtype, (label, a.shape, b.shape, a.dtype, b.dtype)
    if not (a.is_floating_point() or a.is_complex()):
        assert torch.equal(a, b), label
        return
    assert torch.equal(torch.isnan(a), torch.isnan(b)), label
    u, v = a.nan_to_num().double(), b.nan_to_num().double()
    if scale is None:
        scale = float(v.abs().max()) if v.numel() else 0.0
    worst = float((u - v).abs().max()) if v.numel() else 0.0
    assert worst <= rtol * max(scale, 1e-300), (label, worst, scale)


def assert_slices_equal(many: Any, singles: list[Any], rtol: float) -> None:
    """Every per-example field of ``many`` (details with a ``K`` axis) against the
    single-target details, slice by slice."""
    assert type(many) is type(singles[0])
    for f in dataclasses.fields(singles[0]):
        if f.name in ("n_gradient_evals", "n_forward_evals"):
            continue
        for k, single in enumerate(singles):
            # the delta is a difference of F values: its rounding is on their scale; the
            # graded error estimate is a relative error: its rounding is on the scale of 1
            # (or of the estimate, where it exceeds 1)
            scale = {
                "delta": _scale_of_f(single),
                "error": max(1.0, float(single.error.abs().max())) if f.name == "error" else 1.0,
            }.get(f.name)
            _assert_close(
                _slice(getattr(many, f.name), k),
                getattr(single, f.name),
                rtol,
                f"{f.name}[{k}]",
                scale,
            )


def _scale_of_f(details: Any) -> float:
    """The largest ``|F|`` the details hold (at the path's ends and points)."""
    values = [
        getattr(details, name).nan_to_num().abs().max()
        for name in ("start", "end", "outputs", "output_star", "end_outputs")
        if isinstance(getattr(details, name, None), torch.Tensor)
    ]
    return float(torch.stack(values).max())


_CASES = [
    (name, schedule) for name, spec in METHODS.items() for schedule in (spec.schedules or (None,))
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize(("name", "schedule"), _CASES, ids=[f"{n}-{s}" for n, s in _CASES])
def test_every_method_and_schedule_equals_one_call_per_target(
    name: str, schedule: str | None, dtype: torch.dtype
) -> None:
    spec = METHODS[name]
    model, x = Net(dtype), _x(dtype)
    # AGI explains classes: the forms that name one class per example
    targets = [0, torch.tensor([2, 1, 0]), "predicted"] if name == "agi" else _mixed()
    options = {"n_steps": 6, "internal_batch_size": 5, **_OPTIONS.get(name, {})}
    if schedule is not None:
        options["schedule"] = schedule
    many = spec.details(model, x, targets=targets, **options)
    singles = [spec.details(model, x, target=t, **options) for t in targets]
    assert_slices_equal(many, singles, RTOL[dtype])
    assert _slice(many.attributions, 0).shape == x.shape
    assert many.delta.shape == (len(targets), x.shape[0])


_LAYER = [idgrad.layer_integrated_gradients, idgrad.layer_integrated_decision_gradients]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("schedule", ["uniform", "pilot", "graded"])
@pytest.mark.parametrize("method", _LAYER, ids=lambda m: m.__name__)
def test_layer_methods_equal_one_call_per_target(
    method: Any, schedule: str, dtype: torch.dtype
) -> None:
    model, x = Net(dtype), _x(dtype)
    targets = _mixed()
    options = {"n_steps": 6, "schedule": schedule, "internal_batch_size": 4}
    many = method.details(model, model.fc1, x, targets=targets, **options)
    singles = [method.details(model, model.fc1, x, target=t, **options) for t in targets]
    assert_slices_equal(many, singles, RTOL[dtype])


@pytest.mark.parametrize(
    "cls",
    [
        idgrad.IntegratedGradients,
        idgrad.IntegratedDecisionGradients,
        idgrad.LayerIntegratedGradients,
        idgrad.LayerIntegratedDecisionGradients,
    ],
    ids=lambda c: c.__name__,
)
def test_captum_classes_take_targets(cls: type) -> None:
    model, x = Net(), _x()
    layer = "Layer" in cls.__name__
    obj = cls(model, model.fc1) if layer else cls(model)
    targets = [2, torch.tensor([0, 1, 1])]
    attr, delta = obj.attribute(x, targets=targets, n_steps=8, return_convergence_delta=True)
    assert delta.shape == (2, 3)
    for k, t in enumerate(targets):
        one, one_delta = obj.attribute(x, target=t, n_steps=8, return_convergence_delta=True)
        torch.testing.assert_close(attr[k], one, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(delta[k], one_delta, rtol=1e-12, atol=1e-14)


def test_tuple_inputs_and_per_example_extra_arguments() -> None:
    net = Net()

    def model(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor, scale: float) -> Any:
        return net(torch.cat([a, b], 1) * mask) * scale

    x = _x()
    inputs = (x[:, :2].clone(), x[:, 2:].clone())
    mask = torch.tensor([[1.0] * 6, [0.5] * 6, [1.0, 0.0] * 3], dtype=D)
    targets = [1, torch.tensor([0, 2, 1])]
    for method, schedule in [
        (idgrad.integrated_gradients, "uniform"),
        (idgrad.integrated_decision_gradients, "graded"),
    ]:
        kw = {"n_steps": 8, "schedule": schedule, "baselines": (0.1, 0.0)}
        many = method.details(
            model, inputs, additional_forward_args=(mask, 2.0), targets=targets, **kw
        )
        assert isinstance(many.attributions, tuple)
        assert [a.shape for a in many.attributions] == [(2, 3, 2), (2, 3, 4)]
        singles = [
            method.details(model, inputs, additional_forward_args=(mask, 2.0), target=t, **kw)
            for t in targets
        ]
        assert_slices_equal(many, singles, 1e-12)


def test_targets_all_is_every_output() -> None:
    model, x = Net(), _x()
    every = idgrad.integrated_gradients(model, x, targets="all", n_steps=8)
    listed = idgrad.integrated_gradients(model, x, targets=[0, 1, 2], n_steps=8)
    assert every.shape == (3, 3, 6)
    assert torch.equal(every, listed)
    # several axes after the batch: every index, row-major
    track = TrackModel(n_features=6, length=2, tracks=3, nonlinear=True)
    out = idgrad.integrated_gradients(track, x, targets="all", n_steps=8)
    assert out.shape == (6, 3, 6)
    for k, index in enumerate([(i, j) for i in range(2) for j in range(3)]):
        one = idgrad.integrated_gradients(track, x, target=index, n_steps=8)
        torch.testing.assert_close(out[k], one, rtol=1e-12, atol=1e-14)
    # one scalar per example: one target (None)
    scalar = idgrad.integrated_gradients(lambda v: torch.sin(v).sum(1), x, targets="all")
    assert scalar.shape == (1, 3, 6)


def test_details_gain_the_k_axis_everywhere() -> None:
    model, x = Net(), _x()
    d = idgrad.integrated_gradients.details(model, x, targets=[0, 1], n_steps=5)
    assert d.attributions.shape == (2, 3, 6)
    assert d.delta.shape == d.start.shape == d.end.shape == d.evaluations.shape == (2, 3)
    assert d.alphas.shape == d.weights.shape == d.outputs.shape == d.derivatives.shape == (2, 3, 5)
    p = idgrad.integrated_decision_gradients.details(
        model, x, targets=[0, 1], n_steps=8, schedule="pilot", n_pilot_steps=4
    )
    assert p.pilot_alphas is not None and p.pilot_alphas.shape == (2, 3, 5)
    g = idgrad.integrated_decision_gradients.details(model, x, targets=[0, 1], n_steps=8)
    assert isinstance(g, idgrad.GradedDetails) and g.error.shape == (2, 3)
    left = idgrad.left_integrated_gradients.details(model, x, targets=[0, 1], n_steps=4)
    assert left.alpha_star.shape == left.output_star.shape == (2, 3)


# ----------------------------------------------------------------------------- the work


class _Recorder(nn.Module):
    """Records the rows of every forward call, and whether it was a gradient pass."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.grad_calls: list[int] = []
        self.forward_calls: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grad = torch.is_grad_enabled() and x.requires_grad
        (self.grad_calls if grad else self.forward_calls).append(int(x.shape[0]))
        return self.model(x)


def test_uniform_schedule_shares_every_forward_pass() -> None:
    x = _x()
    one = _Recorder(Net())
    single = idgrad.integrated_gradients.details(one, x, target=0, n_steps=10)
    many = _Recorder(Net())
    d = idgrad.integrated_gradients.details(many, x, targets=[0, 1, 2, 2], n_steps=10)
    # the same points, each evaluated once for the four targets
    assert sum(many.grad_calls) == sum(one.grad_calls) == 3 * 10
    assert sum(many.forward_calls) == sum(one.forward_calls) == 3 * 2  # F(x'), F(x)
    # every target's gradients are computed (4 per point); the forward-only ends once
    assert d.n_gradient_evals == 4 * single.n_gradient_evals == 4 * 30
    assert d.n_forward_evals == single.n_forward_evals == 6
    assert d.evaluations.tolist() == [single.evaluations.tolist()] * 4


def test_pilot_shares_its_forward_pilot_and_graded_shares_nothing() -> None:
    x = _x()
    targets = [0, 1, 2]
    one = _Recorder(Net())
    idgrad.integrated_decision_gradients(one, x, target=0, n_steps=16, schedule="pilot")
    many = _Recorder(Net())
    idgrad.integrated_decision_gradients(many, x, targets=targets, n_steps=16, schedule="pilot")
    # the forward-only pilot is on a fixed grid: shared; the gradient points depend on F
    assert sum(many.forward_calls) == sum(one.forward_calls)
    assert sum(many.grad_calls) == len(targets) * sum(one.grad_calls)
    one, many = _Recorder(Net()), _Recorder(Net())
    idgrad.integrated_decision_gradients(one, x, target=0, n_steps=16, schedule="graded")
    idgrad.integrated_decision_gradients(many, x, targets=targets, n_steps=16, schedule="graded")
    assert sum(many.grad_calls) == len(targets) * sum(one.grad_calls)


def test_a_shared_chunk_holds_chunk_over_k_points() -> None:
    x = _x()
    rec = _Recorder(Net())
    idgrad.integrated_gradients(rec, x, targets=[0, 1, 2], n_steps=10, internal_batch_size=7)
    assert max(rec.grad_calls) == 7 // 3 and sum(rec.grad_calls) == 30  # 2 points, 6 gradients
    rec = _Recorder(Net())
    idgrad.integrated_gradients(rec, x, targets=[0, 1, 2], n_steps=10, internal_batch_size=2)
    assert max(rec.grad_calls) == 1  # never fewer than one point
    rec = _Recorder(Net())
    idgrad.integrated_gradients(
        rec, x, targets=[0, 1, 2], n_steps=10, internal_batch_size=7, schedule="graded"
    )
    assert max(rec.grad_calls) == 7  # a path per (example, target): plain chunks


@pytest.mark.parametrize("schedule", ["uniform", "pilot", "graded"])
def test_chunk_size_does_not_change_the_result(schedule: str) -> None:
    model, x = Net(), _x()
    targets = [0, torch.tensor([2, 1, 0]), lambda out: out.sum(1)]
    results = [
        idgrad.integrated_decision_gradients.details(
            model, x, targets=targets, n_steps=12, schedule=schedule, internal_batch_size=chunk
        )
        for chunk in (1, 5, 64, None)
    ]
    for other in results[1:]:
        torch.testing.assert_close(
            other.attributions, results[0].attributions, rtol=1e-12, atol=1e-14
        )
        torch.testing.assert_close(other.delta, results[0].delta, rtol=1e-12, atol=1e-14)
        assert torch.equal(other.alphas, results[0].alphas)


class _CountingIdentity(torch.autograd.Function):
    """Identity that counts its backward calls, and reads a number in its backward (which
    ``torch.vmap``, a batched vector-Jacobian product, could not run)."""

    backward_calls = 0

    @staticmethod
    def forward(x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        pass

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        _CountingIdentity.backward_calls += 1
        if float(grad.abs().max()) < 0:  # never true
            return -grad
        return grad


class _CountsBackward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = Net()
        self.grad_forwards = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.grad_forwards += int(torch.is_grad_enabled() and x.requires_grad)
        return self.net(_CountingIdentity.apply(x))


def test_k_backward_passes_over_one_forward_pass_per_chunk() -> None:
    model, x = _CountsBackward(), _x()
    targets = [0, 1, 2, torch.tensor([1, 0, 2])]
    singles = [idgrad.integrated_gradients(model.net, x, target=t, n_steps=9) for t in targets]
    _CountingIdentity.backward_calls = 0
    many = idgrad.integrated_gradients(model, x, targets=targets, n_steps=9, internal_batch_size=12)
    n_chunks = -(-27 // (12 // 4))  # a shared chunk holds chunk // K points
    assert model.grad_forwards == n_chunks
    assert _CountingIdentity.backward_calls == len(targets) * n_chunks
    for k, single in enumerate(singles):
        torch.testing.assert_close(many[k], single, rtol=1e-12, atol=1e-14)


def test_seam_per_target_calls_match_one_target_at_a_time() -> None:
    model, x = Net(), _x()
    targets = [2, torch.tensor([0, 1, 1]), lambda out: (out**2).sum(1)]
    seam = ModelSeam.build(model, (x,), None, None, targets=targets)
    assert isinstance(seam, FanSeam) and seam.fan is not None
    rows = torch.arange(3)
    values, stream = seam.scalars_and_grads_per_target((x.clone(),), rows)
    grads = list(stream)
    assert values.shape == (3, 3) and len(grads) == 3 and grads[0][0].shape == (3, 6)
    assert torch.equal(seam.scalars_per_target((x,), rows), values)
    for k, t in enumerate(targets):
        one = ModelSeam.build(model, (x,), t, None)
        v, g = one.scalars_and_grads((x.clone(),), rows)
        torch.testing.assert_close(values[k], v, rtol=1e-14, atol=0)
        torch.testing.assert_close(grads[k][0], g[0], rtol=1e-14, atol=1e-15)
    # pseudo-examples: row k B + b is example b for targets[k]
    pseudo = torch.tensor([0, 4, 8, 5])
    picked = seam.scalars((x[pseudo % 3],), pseudo)
    assert torch.equal(picked, values[pseudo // 3, pseudo % 3])
    assert seam.describe_row(5) == "example 2, targets[1]"
    assert ModelSeam.build(model, (x,), 0, None).fan is None


def test_target_fan_selects_per_pseudo_example() -> None:
    fan = TargetFan.build([1, lambda o: o.sum(1)], 2, outputs=None, probe=None)
    out = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    # rows: example 0 target 0, example 1 target 1, example 0 target 1
    assert fan.select(out, torch.tensor([0, 3, 2])).tolist() == [2.0, 7.0, 11.0]
    assert fan.where(3) == "example 1, targets[1]"
    assert all_targets(torch.zeros(4, 2)) == [0, 1] and all_targets(torch.zeros(4)) == [None]
    assert check_targets((0, 1)) == [0, 1]


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"target": 1, "targets": [0, 1]}, ValueError, "not both"),
        ({"target": torch.tensor([0, 1, 2]), "targets": [0]}, ValueError, "not both"),
        ({"targets": []}, ValueError, "empty"),
        ({"targets": "predicted"}, ValueError, "targets=['predicted'"),
        ({"targets": "every"}, ValueError, "'all'"),
        ({"targets": torch.tensor([0, 1])}, TypeError, "list"),
        ({"targets": 2}, TypeError, "list"),
        ({"targets": [0, 1.5]}, TypeError, "targets[1]"),
        ({"targets": [0, torch.tensor([1, 2])]}, ValueError, "targets[1]"),
        ({"targets": [0, "largest"]}, TypeError, "targets[1]"),
    ],
    ids=lambda v: str(v)[:30] if not isinstance(v, dict) else "-".join(v),
)
@pytest.mark.parametrize(
    "method",
    [
        idgrad.integrated_gradients,
        idgrad.integrated_decision_gradients,
        idgrad.left_integrated_gradients,
        idgrad.guided_integrated_gradients,
    ],
    ids=lambda m: m.__name__,
)
def test_bad_targets_are_refused_before_the_model_runs(
    method: Any, kwargs: dict[str, Any], error: type, words: str
) -> None:
    model = CountingModel(Net())
    with pytest.raises(error, match=re.escape(words)):
        method(model, _x(), **kwargs)
    assert model.calls == 0


def test_agi_and_layer_methods_refuse_bad_targets_before_the_model_runs() -> None:
    model = CountingModel(Net())
    with pytest.raises(TypeError, match=r"targets\[1\]"):
        idgrad.adversarial_gradient_integration(model, _x(), targets=[0, (0, 1)])
    with pytest.raises(ValueError, match="not both"):
        idgrad.adversarial_gradient_integration(model, _x(), target=1, targets=[0])
    with pytest.raises(ValueError, match="not both"):
        idgrad.layer_integrated_gradients(model, model.model.fc1, _x(), target=0, targets=[1])
    assert model.calls == 0


def test_targets_all_needs_a_tensor_output() -> None:
    with pytest.raises(TypeError, match="targets='all'"):
        idgrad.integrated_gradients(lambda v: {"y": v.sum(1)}, _x(), targets="all")


@pytest.mark.parametrize("nt_type", ["smoothgrad", "vargrad"])
def test_noise_tunnel_takes_targets(nt_type: str) -> None:
    model, x = Net(), _x()
    targets: list[Any] = [0, torch.tensor([2, 1, 0]), "predicted", lambda out: out.sum(1)]
    options: dict[str, Any] = {
        "nt_type": nt_type,
        "nt_samples": 4,
        "nt_samples_batch_size": 3,
        "stdevs": 0.3,
        "nt_seed": 1,
        "forward_func": model,
        "n_steps": 6,
        "return_convergence_delta": True,
    }
    many, delta = noise_tunnel(idgrad.integrated_gradients, x, targets=targets, **options)
    assert many.shape == (4, 3, 6) and delta.shape == (4, 3, 4)
    for k, t in enumerate(targets):  # the same noise for every target
        one, one_delta = noise_tunnel(idgrad.integrated_gradients, x, target=t, **options)
        torch.testing.assert_close(many[k], one, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(delta[k], one_delta, rtol=1e-12, atol=1e-14)
    # "all" is resolved at the clean inputs; the captum-style classes work inside it too
    every = noise_tunnel(
        idgrad.IntegratedGradients(model), x, nt_samples=2, stdevs=0.1, nt_seed=0, targets="all"
    )
    assert every.shape == (3, 3, 6)
    with pytest.raises(ValueError, match="not both"):
        noise_tunnel(idgrad.integrated_gradients, x, forward_func=model, target=0, targets=[1])
    counting = CountingModel(model)
    with pytest.raises(ValueError, match=re.escape("targets[1]")):
        noise_tunnel(
            idgrad.integrated_gradients, x, forward_func=counting, targets=[0, torch.ones(2).long()]
        )
    assert counting.calls == 0


def test_targets_all_on_a_model_with_many_outputs_says_how_many() -> None:
    track = CountingModel(TrackModel(n_features=6, length=100, tracks=3))
    with pytest.raises(ValueError, match="would explain 300 outputs per example"):
        idgrad.integrated_gradients(track, _x(), targets="all")
    assert track.calls == 1  # the probe at one example: no path work
    # a list of any length is taken
    out = idgrad.integrated_gradients(track, _x(), targets=[(i, 0) for i in range(3)], n_steps=2)
    assert out.shape == (3, 3, 6)


def test_an_index_out_of_range_names_its_target() -> None:
    with pytest.raises(ValueError, match=re.escape("targets[1]: target index 3 is out of range")):
        idgrad.integrated_gradients(Net(), _x(), targets=[0, 3])
    with pytest.raises(ValueError, match=re.escape("targets[0]: target has 2 indices")):
        idgrad.integrated_decision_gradients(Net(), _x(), targets=[(0, 1)])


def test_jax_and_callback_models_refuse_targets_in_one_line() -> None:
    pytest.importorskip("jax")
    pytest.importorskip("flax")
    import jax.numpy as jnp
    import numpy as np

    from idgrad.frameworks import CallbackModel
    from tests.jax_models import NnxMLP, mlp_weights

    model = NnxMLP(mlp_weights(), jnp.float32)
    x = jnp.asarray(_x(torch.float32).numpy())
    for name in ("ig", "idg", "left-ig", "guided-ig", "blur-ig", "ig-sign"):
        with pytest.raises(ValueError, match="targets= .* needs a torch model") as err:
            METHODS[name].function(model, x, targets=[0, 1])
        assert "\n" not in str(err.value)
    # AGI explains each (example, class) pair on its own adversarial paths: JAX works
    many = idgrad.adversarial_gradient_integration(model, x, targets=[0, 2], top_k=2, max_iter=3)
    one = idgrad.adversarial_gradient_integration(model, x, target=2, top_k=2, max_iter=3)
    assert np.allclose(np.asarray(many[1]), np.asarray(one), rtol=1e-6, atol=1e-7)
    calls: list[int] = []

    def callback(points: np.ndarray, target: Any) -> tuple[Any, Any]:
        calls.append(len(points))
        return np.tanh(points), None

    with pytest.raises(ValueError, match="needs a torch model"):
        idgrad.integrated_gradients(CallbackModel(callback), np.ones((2, 6)), targets=[0, 1])
    assert calls == []


def test_a_non_finite_target_is_named() -> None:
    def model(v: torch.Tensor) -> torch.Tensor:
        s = v.sum(1)
        broken = torch.where(s.abs() < 0.5, torch.full_like(s, float("nan")), s)
        return torch.stack([s, broken], 1)

    x = torch.full((2, 6), 0.5, dtype=D)  # s goes from 0 to 3 along the path
    with pytest.raises(NonFiniteError, match=r"example 0, targets\[1\]"):
        idgrad.integrated_gradients(model, x, targets=[0, 1], n_steps=4)


def test_model_and_inputs_are_left_as_found() -> None:
    model, x = Net(), _x().requires_grad_(True)
    model.train(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for method in (idgrad.integrated_gradients, idgrad.integrated_decision_gradients):
        method(model, x, targets=[0, 1], n_steps=4)
    assert not model.training and x.requires_grad and x.grad is None
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert torch.is_grad_enabled()


def test_agi_random_false_classes_match_one_call_per_target() -> None:
    model, x = Net(), _x()
    targets: list[Any] = ["predicted", 0, 2]
    kw: dict[str, Any] = {"top_k": 1, "classes": "random", "seed": 3, "max_iter": 5}
    many = idgrad.adversarial_gradient_integration.details(model, x, targets=targets, **kw)
    for k, t in enumerate(targets):
        one = idgrad.adversarial_gradient_integration.details(model, x, target=t, **kw)
        assert torch.equal(many.false_classes[k], one.false_classes)
        torch.testing.assert_close(many.attributions[k], one.attributions, rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------- track models


def test_bpnet_count_and_profile_windows_in_one_call() -> None:
    from idgrad.genomics import BPNet, counts_target, one_hot, profile_target, window_targets

    model = BPNet(channels=8, layers=2, seed=1).eval()
    x = one_hot(["ACGTTGCAAC" * 6, "TTGACGATCG" * 6])  # (2, 4, 60), float32
    windows = window_targets(60, 20, head=0)  # window sums of the profile logits
    targets = [
        counts_target(head=1),
        profile_target(head=0, window=(0, 30), center=False),  # BPNet's detached softmax
        *windows,
    ]
    assert len(windows) == 3
    for method, schedule in [
        (idgrad.integrated_gradients, "uniform"),
        (idgrad.integrated_decision_gradients, "graded"),
    ]:
        options: dict[str, Any] = {"n_steps": 8, "schedule": schedule}
        many = method.details(model, x, targets=targets, **options)
        singles = [method.details(model, x, target=t, **options) for t in targets]
        assert_slices_equal(many, singles, RTOL[torch.float32])


def test_window_targets_tile_the_sequence_at_a_resolution() -> None:
    from idgrad.genomics import track_target, window_targets

    y = torch.arange(24.0).reshape(1, 12, 2)  # 12 bins of 8 bp, 2 tracks: 96 bp
    tiles = window_targets(96, 32, resolution=8, tracks=1)
    assert len(tiles) == 3
    assert [t(y).item() for t in tiles] == [
        track_target((lo, lo + 32), tracks=1, resolution=8)(y).item() for lo in (0, 32, 64)
    ]
    assert sum(t(y).item() for t in tiles) == y[0, :, 1].sum().item()
    assert len(window_targets(96, 32, stride=16, resolution=8)) == 5
    with pytest.raises(ValueError, match="no window of width 40"):
        window_targets(30, 40)
    with pytest.raises(ValueError, match="stride"):
        window_targets(30, 10, stride=0)


def test_ism_takes_targets_all_and_names_a_bad_target() -> None:
    from idgrad.genomics import ism, one_hot

    w = torch.randn(4, 9, 3, generator=torch.Generator().manual_seed(0), dtype=D)

    def model(z: torch.Tensor) -> torch.Tensor:  # (n, 4, 9) -> (n, 3) tracks
        return torch.einsum("ncl,clt->nt", z, w)

    x = one_hot(["ACGTACGTA", "TTGCAACGT"], dtype=D)
    every = ism(model, x, targets="all")
    assert every.shape == (3, 2, 4, 9)
    for k in range(3):
        torch.testing.assert_close(every[k], ism(model, x, target=k), rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match=re.escape("targets[1]: target index 5")):
        ism(model, x, targets=[0, 5])
    with pytest.raises(ValueError, match="empty"):
        ism(model, x, targets=[])
