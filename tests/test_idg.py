"""IDG specifics: importance factor, rescaling, honest delta, schedules per example."""

from __future__ import annotations

import warnings

import pytest
import torch

import idgrad
from idgrad import IDGWarning

D = torch.float64


def logistic(x: torch.Tensor) -> torch.Tensor:
    """The seed package's benchmark model."""
    return torch.sigmoid(50 * (x[:, 0] - 0.8)) + 0.05 * x[:, 1] + 0.05 * x[:, 2]


X = torch.tensor([[1.0, 0.5, 0.3]], dtype=D)
#: The paper's pilot schedule (a forward-only pilot, midpoints inside its intervals).
PILOT = {"schedule": "pilot"}


def test_importance_factor_is_the_path_derivative() -> None:
    d = idgrad.integrated_decision_gradients.details(
        logistic, X, n_steps=16, schedule="uniform", normalize=False
    )
    # raw IDG sums to sum_k w_k F'(alpha_k)^2 (the weighted square of the path derivative)
    raw_sum = d.attributions.sum()
    assert torch.allclose(raw_sum, (d.weights * d.derivatives**2).sum(), rtol=1e-12)
    # and F' is the numerical derivative of F along the path
    h = 1e-6
    a = d.alphas[0, 3]
    fd = (logistic((a + h) * X) - logistic((a - h) * X)) / (2 * h)
    assert torch.allclose(d.derivatives[0, 3], fd[0], rtol=1e-7)


@pytest.mark.parametrize("rule", [None, "riemann_middle"])  # None: the uniform schedule's own
def test_normalised_idg_is_complete_and_delta_is_honest(rule: str | None) -> None:
    det = idgrad.integrated_decision_gradients.details(
        logistic, X, n_steps=8, schedule="uniform", rule=rule
    )
    attr, delta = det.attributions, det.delta
    gap = logistic(X) - logistic(0 * X)
    assert torch.allclose(attr.sum(), gap[0], rtol=1e-13)
    # the delta is the quadrature error of the same schedule on integral F' = gap: not ~0 here
    det = idgrad.integrated_gradients.details(logistic, X, n_steps=8, rule=rule)
    _ig, ig_delta = det.attributions, det.delta
    assert abs(delta.item()) > 1e-3
    assert delta.item() == pytest.approx(ig_delta.item(), rel=1e-12)


def test_delta_shrinks_with_steps() -> None:
    deltas = [
        abs(idgrad.integrated_decision_gradients.details(logistic, X, n_steps=n).delta.item())
        for n in (8, 32, 128, 512)
    ]
    assert deltas[-1] < 1e-4
    assert deltas[-1] < deltas[0] / 100


def test_idg_converges_to_reference() -> None:
    ref = idgrad.integrated_decision_gradients(logistic, X, n_steps=20000, schedule="uniform")
    errs = []
    for n in (16, 64, 256):
        for schedule in idgrad.SCHEDULES:
            a = idgrad.integrated_decision_gradients(logistic, X, n_steps=n, schedule=schedule)
            errs.append(((a - ref).norm() / ref.norm()).item())
    assert max(errs[-len(idgrad.SCHEDULES) :]) < 1e-4


def test_pilot_schedule_is_per_example() -> None:
    # two examples whose decisions happen at different places along the path
    x = torch.tensor([[1.0, 0.0, 0.0], [3.0, 0.0, 0.0]], dtype=D)
    d = idgrad.integrated_decision_gradients.details(
        logistic, x, n_steps=24, n_pilot_steps=8, **PILOT
    )
    # decision where alpha * x0 = 0.8: alpha = 0.8 for the first, 0.27 for the second
    assert d.alphas[0].median() > 0.6
    assert d.alphas[1].median() < 0.45
    assert d.alphas.shape == (2, 24)
    single = idgrad.integrated_decision_gradients(
        logistic, x[1:], n_steps=24, n_pilot_steps=8, **PILOT
    )
    assert torch.allclose(single[0], d.attributions[1], rtol=0, atol=1e-14)


@pytest.mark.parametrize("n_steps", [8, 24, 64])
def test_graded_schedule_is_per_example(n_steps: int) -> None:
    # each example's points and estimate are its own: alone or in a batch, the same result
    x = torch.tensor([[1.0, 0.0, 0.0], [3.0, 0.0, 0.0]], dtype=D)
    d = idgrad.integrated_decision_gradients.details(logistic, x, n_steps=n_steps)
    assert isinstance(d, idgrad.GradedDetails)
    for b in range(2):
        one = idgrad.integrated_decision_gradients.details(logistic, x[b : b + 1], n_steps=n_steps)
        assert torch.allclose(one.attributions[0], d.attributions[b], rtol=0, atol=1e-14)
        assert float(one.error[0]) == pytest.approx(float(d.error[b]), rel=1e-9)
        assert int(one.evaluations[0]) == int(d.evaluations[b]) == n_steps + 2


def test_flat_path_warns_and_never_returns_nan() -> None:
    const_part = lambda z: 0.0 * z.sum(1) + 1.0
    x = torch.rand(2, 3, dtype=D)
    with pytest.warns(IDGWarning, match="cannot be rescaled"):
        attr = idgrad.integrated_decision_gradients(const_part, x, n_steps=8)
    assert torch.isfinite(attr).all()
    assert torch.equal(attr, torch.zeros_like(attr))


def test_only_flat_examples_warn_and_others_are_rescaled() -> None:
    f = lambda z: torch.relu(z[:, 0] - 2.0) + z[:, 1]
    x = torch.tensor([[3.0, 0.0], [3.0, 1.0]], dtype=D)  # example 0: flat until alpha = 2/3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        attr = idgrad.integrated_decision_gradients(f, x, n_steps=32)
    gap = f(x) - f(0 * x)
    assert torch.allclose(attr.sum(1), gap, rtol=1e-12)
    with pytest.warns(IDGWarning, match=r"\[0\]"):
        attr = idgrad.integrated_decision_gradients(
            f, torch.tensor([[1.0, 0.0], [3.0, 1.0]], dtype=D), n_steps=8
        )
    assert torch.isfinite(attr).all()
    assert attr[1].sum().item() == pytest.approx(2.0, rel=1e-12)


def test_multiply_by_inputs_false_is_local() -> None:
    f = lambda z: (2 * z).sum(1)
    x = torch.rand(3, 4, dtype=D) + 0.5
    local = idgrad.integrated_decision_gradients(f, x, n_steps=4, multiply_by_inputs=False)
    glob = idgrad.integrated_decision_gradients(f, x, n_steps=4)
    assert torch.allclose(local * x, glob, atol=1e-13)


def test_linear_model_idg_equals_gradient_times_input_any_schedule() -> None:
    w = torch.tensor([1.0, -2.0, 0.5], dtype=D)
    f = lambda z: z @ w
    x = torch.rand(4, 3, dtype=D)
    for schedule in ("pilot", "uniform"):
        for rule in idgrad.RULES:
            if schedule == "pilot" and rule == "riemann_trapezoid":
                with pytest.raises(ValueError, match="trapezoid"):
                    idgrad.integrated_decision_gradients(
                        f, x, n_steps=5, schedule=schedule, rule=rule
                    )
                continue
            a = idgrad.integrated_decision_gradients(
                f, x, n_steps=5, schedule=schedule, rule=rule, baselines=0.25
            )
            assert torch.allclose(a, (x - 0.25) * w, atol=1e-13), (schedule, rule)
    for n_steps in (5, 20):  # the graded schedule, plain and past its probe
        a = idgrad.integrated_decision_gradients(f, x, n_steps=n_steps, baselines=0.25)
        assert torch.allclose(a, (x - 0.25) * w, atol=1e-13), n_steps


def test_budget_is_exact_for_every_pilot_size() -> None:
    for n_steps, n_pilot in [(20, 10), (20, 40), (7, 3), (1, 1), (50, 12)]:
        d = idgrad.integrated_decision_gradients.details(
            logistic, X, n_steps=n_steps, n_pilot_steps=n_pilot, **PILOT
        )
        assert d.alphas.shape == (1, n_steps)
        assert d.n_gradient_evals == n_steps
        assert float(d.weights.sum()) == pytest.approx(1.0, abs=1e-14)


def test_default_pilot_steps() -> None:
    assert idgrad.default_pilot_steps(50) >= 4
    for n in (1, 4, 10, 50, 200):
        assert 1 <= idgrad.default_pilot_steps(n)


@pytest.mark.parametrize("n_steps", [1, 2, 3, 4, 5, 16, 50, 400])
def test_default_pilot_never_exceeds_the_budget(n_steps: int) -> None:
    n_pilot = idgrad.default_pilot_steps(n_steps)
    assert 1 <= n_pilot <= n_steps
    d = idgrad.integrated_decision_gradients.details(logistic, X, n_steps=n_steps, **PILOT)
    # every pilot interval holds at least one gradient point
    cells = torch.clamp((d.alphas[0] * n_pilot).floor().long(), max=n_pilot - 1)
    assert set(cells.tolist()) == set(range(n_pilot))
