"""Left-IG: alpha* per example, fraction 1 = IG, completeness on [0, alpha*], chunking, errors."""

from __future__ import annotations

import math

import pytest
import torch
from models import CountingModel, CubicModel, LogisticBenchmark, SmallMLP

from idgrad.methods.ig import integrated_gradients
from idgrad.methods.left_ig import find_alpha_star, left_integrated_gradients

D = torch.float64


def tanh_sum(x: torch.Tensor) -> torch.Tensor:
    """F(x) = tanh(sum x): along the path from 0, F(alpha) = tanh(alpha S)."""
    return torch.tanh(x.sum(1))


@pytest.mark.parametrize("rule", ["gausslegendre", "riemann_middle"])
def test_fraction_one_equals_ig_on_monotone_paths(rule: str) -> None:
    x = torch.tensor([[1.0, 0.5, 0.3], [0.9, 1.0, 1.0]], dtype=D)
    model = LogisticBenchmark()
    left = left_integrated_gradients(model, x, n_steps=24, fraction=1.0, rule=rule)
    ig = integrated_gradients(model, x, n_steps=24, rule=rule)
    torch.testing.assert_close(left, ig, rtol=0, atol=1e-12)
    cubic = CubicModel([1.0, 2.0, 0.5])
    d = left_integrated_gradients.details(cubic, x, n_steps=4, fraction=1.0)
    assert d.alpha_star.tolist() == [1.0, 1.0]
    torch.testing.assert_close(
        d.attributions, integrated_gradients(cubic, x, n_steps=4), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("schedule", ["uniform", "pilot", "graded"])
def test_fraction_one_equals_ig_on_every_schedule(schedule: str) -> None:
    # alpha* = 1 on a monotone path: Left-IG integrates IG's path with IG's schedule
    x = torch.tensor([[1.0, 0.5, 0.3], [0.9, 1.0, 1.0]], dtype=D)
    model = LogisticBenchmark()
    d = left_integrated_gradients.details(model, x, n_steps=24, fraction=1.0, schedule=schedule)
    assert d.alpha_star.tolist() == [1.0, 1.0]
    ig = integrated_gradients(model, x, n_steps=24, schedule=schedule)
    torch.testing.assert_close(d.attributions, ig, rtol=0, atol=1e-12)


def test_alpha_star_closed_form_per_example() -> None:
    # F(alpha) = tanh(alpha S): alpha* = atanh(fraction tanh S) / S, different per example
    x = torch.tensor([[0.5, 0.5], [2.0, 1.0], [-3.0, -1.0]], dtype=D)
    n_pilot, n_refine, fraction = 10, 20, 0.9
    d = left_integrated_gradients.details(
        tanh_sum, x, n_steps=8, fraction=fraction, n_pilot_steps=n_pilot, n_refine=n_refine
    )
    s = x.sum(1)
    exact = torch.atanh(fraction * torch.tanh(s)) / s
    width = 1.0 / (n_pilot * 2**n_refine)
    assert (d.alpha_star >= exact - 1e-12).all()  # the right end of the bracket: reached
    assert (d.alpha_star <= exact + width + 1e-12).all()
    torch.testing.assert_close(d.output_star, torch.tanh(d.alpha_star * s), rtol=0, atol=1e-15)
    # the third example decreases (F(x) < F(x')): the way is measured with its sign
    assert d.end[2] < d.start[2]


def test_linear_model_is_exact() -> None:
    w = torch.tensor([1.0, -2.0, 0.5], dtype=D)
    model = lambda x: x @ w + 3.0
    x = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]], dtype=D)
    d = left_integrated_gradients.details(model, x, n_steps=3, fraction=0.75, n_pilot_steps=4)
    assert d.alpha_star.tolist() == [0.75, 0.75]  # a pilot point: no refinement needed
    torch.testing.assert_close(d.attributions, 0.75 * x * w, rtol=0, atol=1e-14)
    assert d.delta.abs().max() < 1e-13
    assert torch.allclose(d.weights.sum(1), d.alpha_star, rtol=0, atol=1e-15)


def test_completeness_on_the_left_interval() -> None:
    model = SmallMLP(n_features=5, n_classes=3)
    x = torch.randn(4, 5, dtype=D)
    det = left_integrated_gradients.details(model, x, target=1, n_steps=32)
    attr, delta = det.attributions, det.delta
    assert delta.abs().max() < 1e-10
    d = left_integrated_gradients.details(model, x, target=1, n_steps=32)
    gap = d.output_star - d.start
    torch.testing.assert_close(attr.sum(1), gap, rtol=0, atol=1e-10)
    # attributions sum to about 90% of the whole change, never more than the bracket allows
    progress = (d.output_star - d.start) / (d.end - d.start)
    assert (progress >= 0.9 - 1e-12).all()


def test_left_ig_differs_from_ig_when_the_output_saturates() -> None:
    x = torch.tensor([[1.0, 0.5, 0.3]], dtype=D)
    model = LogisticBenchmark()
    d = left_integrated_gradients.details(model, x, n_steps=16)
    assert 0.7 < float(d.alpha_star) < 0.9  # the decision region is around alpha = 0.8
    ig = integrated_gradients(model, x, n_steps=16)
    assert not torch.allclose(d.attributions, ig)


def test_flat_output_gives_alpha_zero_and_zero_attributions() -> None:
    model = lambda x: (x[:, 0] - x[:, 1]) ** 2
    x = torch.tensor([[1.0, 1.0], [2.0, 0.0]], dtype=D)
    d = left_integrated_gradients.details(
        model, x, baselines=torch.tensor([1.0, 1.0], dtype=D), n_steps=4
    )
    assert float(d.alpha_star[0]) == 0.0
    assert torch.equal(d.attributions[0], torch.zeros(2, dtype=D))
    assert float(d.alpha_star[1]) > 0.0


def test_find_alpha_star_bisection() -> None:
    f = lambda a: a**3
    grid = torch.linspace(0, 1, 5, dtype=D)
    a, fa, spent = find_alpha_star(f, f(grid)[None], 0.5, 30)
    assert spent == 30
    assert float(a) == pytest.approx(0.5 ** (1 / 3), abs=1e-9)
    assert float(fa) == pytest.approx(float(a) ** 3, abs=1e-15)


def test_counts_match_the_model_calls() -> None:
    model = CountingModel(SmallMLP(n_features=3, n_classes=2))
    x = torch.randn(3, 3, dtype=D)
    d = left_integrated_gradients.details(
        model, x, target=0, n_steps=5, n_pilot_steps=6, n_refine=4, internal_batch_size=4
    )
    assert d.n_gradient_evals == 3 * 5 == model.grad_rows
    assert d.n_forward_evals == 3 * 7 + 3 * 4 == model.rows - model.grad_rows
    assert model.max_rows <= 4
    assert d.n_evaluations == model.rows


def test_multiply_by_inputs_false_is_the_left_path_average() -> None:
    w = torch.tensor([2.0, -1.0], dtype=D)
    x = torch.tensor([[1.0, 1.0]], dtype=D)
    d = left_integrated_gradients.details(
        lambda z: z @ w, x, fraction=0.5, n_pilot_steps=2, multiply_by_inputs=False
    )
    torch.testing.assert_close(d.attributions, 0.5 * w[None], rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"fraction": 0.0}, ValueError, "fraction"),
        ({"fraction": 1.5}, ValueError, "fraction"),
        ({"fraction": math.nan}, ValueError, "fraction"),
        ({"fraction": "0.9"}, TypeError, "fraction"),
        ({"n_refine": -1}, ValueError, "n_refine"),
        ({"n_refine": 2.0}, TypeError, "n_refine"),
        ({"n_pilot_steps": 0}, ValueError, "n_pilot_steps"),
        ({"rule": "simpson"}, ValueError, "unknown rule"),
        ({"schedule": "graded", "rule": "gausslegendre"}, ValueError, "chooses its own rules"),
        ({"schedule": "uniform", "rtol": 0.01}, ValueError, "rtol needs the graded schedule"),
    ],
)
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        left_integrated_gradients(tanh_sum, torch.ones(2, 2, dtype=D), **kwargs)
