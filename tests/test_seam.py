"""The model seam: inputs, baselines, targets, extra arguments and every bad input."""

from __future__ import annotations

import pytest
import torch
from models import NanInMiddle

import idgrad
from idgrad.core.seam import as_input_tuple, expand_baselines

D = torch.float64


class Multi(torch.nn.Module):
    """(B, 3) -> (B, 4, 5) output, smooth, every entry depends on the input."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.w = torch.nn.Parameter(torch.randn(3, 20, generator=g, dtype=D))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x @ self.w).reshape(-1, 4, 5)


def _ig(model, x, **kw):
    return idgrad.integrated_gradients(model, x, n_steps=8, **kw)


def test_int_target_equals_callable_target() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 4).double(), torch.nn.Tanh())
    x = torch.rand(5, 3, dtype=D)
    a = _ig(model, x, target=2)
    b = _ig(model, x, target=lambda out: out[:, 2])
    assert torch.allclose(a, b, rtol=0, atol=1e-15)


def test_tuple_target_into_multidimensional_output() -> None:
    model = Multi()
    x = torch.rand(3, 3, dtype=D)
    a = _ig(model, x, target=(1, 3))
    b = _ig(model, x, target=lambda out: out[:, 1, 3])
    assert torch.allclose(a, b, rtol=0, atol=1e-15)


def test_per_example_targets_tensor_list_and_2d() -> None:
    model = Multi()
    x = torch.rand(3, 3, dtype=D)
    per_example = [(0, 1), (2, 4), (3, 0)]
    a = _ig(model, x, target=per_example)
    b = _ig(model, x, target=torch.tensor(per_example))
    for i, t in enumerate(per_example):
        single = _ig(model, x[i : i + 1], target=t)
        assert torch.allclose(a[i], single[0], rtol=0, atol=1e-14)
    assert torch.allclose(a, b, rtol=0, atol=0)


def test_per_example_long_tensor_matches_loop() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 4).double(), torch.nn.Softplus())
    x = torch.rand(4, 3, dtype=D)
    t = torch.tensor([3, 0, 1, 3])
    a = _ig(model, x, target=t, internal_batch_size=3)
    for i in range(4):
        assert torch.allclose(a[i], _ig(model, x[i : i + 1], target=int(t[i]))[0], atol=1e-14)


def test_none_target_needs_scalar_output() -> None:
    x = torch.rand(2, 3, dtype=D)
    a = _ig(lambda z: z.pow(2).sum(1, keepdim=True), x)  # (B, 1) is one scalar
    assert torch.allclose(a, x**2, atol=1e-13)
    with pytest.raises(ValueError, match="one scalar"):
        _ig(torch.nn.Linear(3, 2).double(), x)


@pytest.mark.parametrize(
    "target, error, match",
    [
        (7, ValueError, "out of range"),
        (-9, ValueError, "out of range"),
        ((1, 2, 3), ValueError, "indices"),
        (torch.tensor([0, 5]), ValueError, "out of range"),
        (torch.tensor([0, 1, 2]), ValueError, "shape"),
        ([0, 1, 2], ValueError, "entries"),
        (torch.tensor([0.5, 1.0]), TypeError, "integers"),
        ("cat", TypeError, "target"),
        (True, TypeError, "bool"),
        (lambda out: out, ValueError, "callable must return one scalar per row"),
        (lambda out: 3.0, TypeError, "tensor"),
    ],
)
def test_bad_targets(target, error, match) -> None:
    model = torch.nn.Linear(3, 4).double()
    x = torch.rand(2, 3, dtype=D)
    with pytest.raises(error, match=match):
        _ig(model, x, target=target)


def test_target_selecting_non_scalar() -> None:
    with pytest.raises(ValueError, match="one scalar"):
        _ig(Multi(), torch.rand(2, 3, dtype=D), target=1)


def test_tuple_inputs_come_back_as_tuple() -> None:
    f = lambda a, b: (a * b).sum(1)
    a, b = torch.rand(2, 3, dtype=D), torch.rand(2, 3, dtype=D)
    out = _ig(f, (a, b))
    assert isinstance(out, tuple) and len(out) == 2
    # F = sum a_i b_i from 0: each product term splits equally between a and b
    assert torch.allclose(out[0], a * b / 2, atol=1e-14)
    assert torch.allclose(out[1], a * b / 2, atol=1e-14)


def test_baseline_forms() -> None:
    x = torch.rand(3, 2, 4, dtype=D)
    (zero,) = expand_baselines(None, (x,))
    assert torch.equal(zero, torch.zeros_like(x))
    (num,) = expand_baselines(0.5, (x,))
    assert torch.equal(num, torch.full_like(x, 0.5))
    (bcast,) = expand_baselines(torch.arange(4.0), (x,))
    assert (
        bcast.shape == x.shape
        and bcast.dtype == D
        and torch.equal(bcast[2, 1], torch.arange(4.0, dtype=D))
    )
    (one,) = expand_baselines(torch.rand(1, 2, 4), (x,))
    assert one.shape == x.shape
    pair = expand_baselines((None, 1.0), (x, x))
    assert torch.equal(pair[1], torch.ones_like(x))


@pytest.mark.parametrize(
    "baselines, error, match",
    [
        (torch.rand(2, 3), ValueError, "broadcast"),
        ((None, None), ValueError, "one per input"),
        (float("nan"), ValueError, "finite"),
        (torch.tensor([float("inf")]), ValueError, "NaN or Inf"),
        ("zero", TypeError, "baselines"),
    ],
)
def test_bad_baselines(baselines, error, match) -> None:
    x = torch.rand(3, 4, dtype=D)
    with pytest.raises(error, match=match):
        _ig(lambda z: z.sum(1), x, baselines=baselines)


@pytest.mark.parametrize(
    "inputs, error, match",
    [
        (torch.zeros(0, 3), ValueError, "empty batch"),
        (torch.ones(2, 3, dtype=torch.long), TypeError, "floating"),
        (torch.tensor([[1.0, float("nan")]]), ValueError, "NaN"),
        ((torch.ones(2, 3), torch.ones(3, 3)), ValueError, "batch size"),
        ((), ValueError, "empty tuple"),
        ([1.0, 2.0], TypeError, "torch.Tensor"),
        (torch.tensor(1.0), ValueError, "batch axis"),
    ],
)
def test_bad_inputs(inputs, error, match) -> None:
    with pytest.raises(error, match=match):
        _ig(lambda *z: z[0].sum(1), inputs)


@pytest.mark.parametrize("fn", [idgrad.integrated_gradients, idgrad.integrated_decision_gradients])
def test_bad_step_and_chunk_arguments(fn) -> None:
    x = torch.rand(2, 3)
    f = lambda z: z.sum(1)
    with pytest.raises(ValueError, match="n_steps"):
        fn(f, x, n_steps=0)
    with pytest.raises(TypeError, match="n_steps"):
        fn(f, x, n_steps=2.0)
    with pytest.raises(ValueError, match="internal_batch_size"):
        fn(f, x, internal_batch_size=0)
    with pytest.raises(TypeError, match="internal_batch_size"):
        fn(f, x, internal_batch_size=1.5)
    with pytest.raises(ValueError, match="unknown rule"):
        fn(f, x, schedule="uniform", rule="simpson")
    with pytest.raises(ValueError, match="unknown schedule"):
        fn(f, x, schedule="adaptive")
    with pytest.raises(TypeError, match="forward_func"):
        fn("model", x)


def test_bad_pilot_steps() -> None:
    with pytest.raises(ValueError, match="n_pilot_steps"):
        idgrad.integrated_decision_gradients(lambda z: z.sum(1), torch.rand(2, 3), n_pilot_steps=0)


def test_model_output_independent_of_input() -> None:
    const = torch.nn.Linear(3, 1)
    with pytest.raises(ValueError, match="does not depend on the inputs"):
        _ig(lambda z: const(torch.zeros_like(z)).detach()[:, 0], torch.rand(2, 3))


def test_output_without_batch_axis_is_refused() -> None:
    with pytest.raises(ValueError, match="batch axis"):
        _ig(lambda z: z.sum(), torch.rand(2, 3))


def test_inference_mode_is_refused_clearly() -> None:
    with torch.inference_mode(), pytest.raises(RuntimeError, match="inference_mode"):
        _ig(lambda z: z.sum(1), torch.rand(2, 3))


def test_additional_forward_args_sliced_per_example() -> None:
    def f(x: torch.Tensor, scale: torch.Tensor, power: int) -> torch.Tensor:
        return (scale * x**power).sum(1)

    x = torch.rand(4, 3, dtype=D)
    scale = torch.rand(4, 1, dtype=D)
    for chunk in (1, 5, None):
        a = _ig(f, x, additional_forward_args=(scale, 2), internal_batch_size=chunk)
        # IG of s x^2 from 0 is s x^2 (GL with 8 points is exact for the linear integrand)
        assert torch.allclose(a, scale * x**2, atol=1e-13)
    # a non-batch tensor argument is passed through unchanged
    b = _ig(f, x, additional_forward_args=(torch.tensor(2.0, dtype=D), 1))
    assert torch.allclose(b, 2 * x, atol=1e-13)


def test_as_input_tuple_reports_form() -> None:
    t, was_tuple = as_input_tuple(torch.ones(2, 1))
    assert not was_tuple and len(t) == 1
    t, was_tuple = as_input_tuple((torch.ones(2, 1), torch.ones(2, 5)))
    assert was_tuple and len(t) == 2
    ids, _ = as_input_tuple(torch.ones(2, 3, dtype=torch.long), floating=False)  # token ids
    assert ids[0].dtype == torch.long


_LINEAR = torch.nn.Linear(3, 1).double()


def _layer_ig(inputs: object) -> object:
    return idgrad.layer_integrated_gradients(
        lambda *z: _LINEAR(z[0])[:, 0], _LINEAR, inputs, n_steps=4
    )


def _noise_tunnel(inputs: object) -> object:
    return idgrad.noise_tunnel(
        idgrad.integrated_gradients,
        inputs,
        nt_samples=2,
        nt_seed=0,
        forward_func=lambda *z: _LINEAR(z[0])[:, 0],
        n_steps=4,
    )


_BAD_INPUTS = {
    "0-d": torch.tensor(1.0, dtype=D),
    "empty batch": torch.zeros(0, 3, dtype=D),
    "NaN": torch.tensor([[1.0, float("nan"), 0.0]], dtype=D),
    "batch sizes": (torch.ones(2, 3, dtype=D), torch.ones(3, 3, dtype=D)),
    "empty tuple": (),
    "not a tensor": [[1.0, 2.0, 3.0]],
    "meta": torch.zeros(2, 3, dtype=D, device="meta"),
}


@pytest.mark.parametrize("case", list(_BAD_INPUTS))
def test_one_input_check_for_methods_layer_methods_and_the_noise_tunnel(case: str) -> None:
    """The same bad inputs get the same error, worded once (seam.as_input_tuple)."""
    inputs = _BAD_INPUTS[case]
    errors = []
    for run in (lambda z: _ig(lambda *a: _LINEAR(a[0])[:, 0], z), _layer_ig, _noise_tunnel):
        with pytest.raises((TypeError, ValueError)) as info:
            run(inputs)
        errors.append((type(info.value), str(info.value)))
    assert errors[1] == errors[0] and errors[2] == errors[0], errors


def test_the_noise_tunnel_says_why_it_needs_floating_inputs() -> None:
    with pytest.raises(TypeError, match="has dtype torch.int64; .* adds Gaussian noise"):
        _noise_tunnel(torch.ones(2, 3, dtype=torch.long))


# ---------------------------------------------------------------- non-finite along the path


def _first_broken_alpha(alphas: torch.Tensor, total: float, low: float, high: float) -> float:
    """The smallest point of a schedule where ``low < alpha * total < high``."""
    inside = [float(a) for a in alphas.flatten() if low < float(a) * total < high]
    return min(inside)


def _broken_batch() -> torch.Tensor:
    # example 0: F = 3 alpha * 0.1 never reaches 0.9; example 1: F = 3 alpha, broken on (0.3, 0.6)
    return torch.tensor([[0.1, 0.1, 0.1], [1.0, 1.0, 1.0]], dtype=D)


@pytest.mark.parametrize("broken", ["output", "gradient"])
@pytest.mark.parametrize("chunk", [1, 5, None])
def test_ig_names_example_and_alpha_where_the_path_breaks(broken: str, chunk) -> None:
    from idgrad.core.validation import NonFiniteError
    from idgrad.engine.rules import uniform_schedule

    model = NanInMiddle(broken)
    x = _broken_batch()
    # the ends are finite: F(0) = 0, F(x) = 0.3 and 3
    assert torch.isfinite(model(x)).all() and torch.isfinite(model(0 * x)).all()
    alpha = _first_broken_alpha(uniform_schedule(16).alphas, 3.0, 0.9, 1.8)
    what = "output F is nan" if broken == "output" else "gradient of F is NaN or infinite"
    with pytest.raises(NonFiniteError, match=what) as err:
        idgrad.integrated_gradients(model, x, n_steps=16, internal_batch_size=chunk)
    assert f"example 1, alpha = {alpha:.6g}" in str(err.value)


@pytest.mark.parametrize("broken", ["output", "gradient"])
@pytest.mark.parametrize("schedule", idgrad.SCHEDULES)
def test_idg_raises_where_the_path_breaks(broken: str, schedule: str) -> None:
    from idgrad.core.validation import NonFiniteError

    with pytest.raises(NonFiniteError, match="example 1, alpha = 0\\.[345]"):
        idgrad.integrated_decision_gradients(
            NanInMiddle(broken), _broken_batch(), n_steps=16, schedule=schedule
        )


@pytest.mark.parametrize("broken", ["output", "gradient"])
def test_comparison_methods_raise_where_the_path_breaks(broken: str) -> None:
    from idgrad.core.validation import NonFiniteError

    model, x = NanInMiddle(broken), _broken_batch()
    with pytest.raises(NonFiniteError, match="example 1, alpha = 0\\.[345]"):
        idgrad.left_integrated_gradients(model, x, n_steps=16)
    with pytest.raises(NonFiniteError, match="example 1, alpha = 0\\.[345]"):
        idgrad.guided_integrated_gradients(model, x, n_steps=16, max_dist=0.0)


def test_layer_method_raises_where_the_path_breaks() -> None:
    from idgrad.core.validation import NonFiniteError

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = torch.nn.Linear(3, 3, bias=False).double()
            with torch.no_grad():
                self.scale.weight.copy_(torch.eye(3, dtype=D))
            self.head = NanInMiddle("gradient")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.scale(x))

    net = Net()
    with pytest.raises(NonFiniteError, match="example 1, alpha = 0\\.[345]"):
        idgrad.layer_integrated_gradients(net, net.scale, _broken_batch(), n_steps=16)


def test_non_finite_output_at_the_baseline_is_named() -> None:
    from idgrad.core.validation import NonFiniteError

    model = lambda z: torch.log(z.sum(1) - 1.0)  # finite at x, NaN at the baseline 0
    x = torch.full((2, 3), 1.0, dtype=D)
    with pytest.raises(NonFiniteError, match="example 0, alpha = 0"):
        idgrad.integrated_gradients(model, x, rule="riemann_left", n_steps=4)


# ---------------------------------------------------------------- inputs shaped (B,)


def _square(z: torch.Tensor) -> torch.Tensor:  # one scalar feature and one output per example
    return z**2


def test_ig_on_one_feature_per_example_with_delta() -> None:
    x = torch.tensor([1.0, -2.0, 3.0], dtype=D)
    attr = idgrad.integrated_gradients(_square, x, n_steps=2)
    details = idgrad.integrated_gradients.details(_square, x, n_steps=2)
    delta = details.delta
    assert attr.shape == (3,) and delta.shape == (3,)
    assert torch.allclose(attr, x**2, rtol=0, atol=1e-13)  # GL(2) is exact for a linear integrand
    assert delta.abs().max() < 1e-13
    assert torch.equal(details.attributions, attr)


@pytest.mark.parametrize("schedule", idgrad.SCHEDULES)
def test_idg_on_one_feature_per_example(schedule: str) -> None:
    x = torch.tensor([1.0, -2.0, 3.0], dtype=D)
    attr = idgrad.integrated_decision_gradients(_square, x, schedule=schedule)  # defaults
    assert attr.shape == (3,)
    # one feature carries all of F(x) - F(0) after the completeness rescaling
    assert torch.allclose(attr, x**2, rtol=0, atol=1e-12)
    delta = idgrad.integrated_decision_gradients.details(_square, x, schedule=schedule).delta
    assert delta.shape == (3,) and delta.abs().max() < 1e-2


def test_comparison_methods_on_one_feature_per_example() -> None:
    x = torch.tensor([1.0, -2.0, 3.0], dtype=D)
    delta = idgrad.left_integrated_gradients.details(_square, x, fraction=1.0).delta
    assert delta.shape == (3,) and delta.abs().max() < 1e-12
    attr = idgrad.guided_integrated_gradients(_square, x, n_steps=8, max_dist=1.0)
    assert attr.shape == (3,)
