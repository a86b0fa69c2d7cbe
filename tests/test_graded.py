"""The graded schedule (idgrad.engine.schedules.graded), through IG and IDG, in float64."""

from __future__ import annotations

import warnings

import pytest
import torch

import idgrad
from idgrad import integrated_decision_gradients as idg
from idgrad import integrated_gradients as ig
from idgrad.core.results import GradedDetails, ToleranceWarning

D = torch.float64


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def steep(x: torch.Tensor) -> torch.Tensor:
    """A decision in a narrow band of the path (sigmoid of slope 50 at 80% of the way)."""
    return torch.sigmoid(50 * (x[:, 0] - 0.8)) + 0.05 * x[:, 1] + 0.05 * x[:, 2] ** 2


def relu_net(x: torch.Tensor) -> torch.Tensor:
    """Piecewise linear along every path: a staircase gradient with many jumps."""
    g = torch.Generator().manual_seed(3)
    w1 = torch.randn(x.shape[1], 80, generator=g, dtype=D) / x.shape[1] ** 0.5
    w2 = torch.randn(80, 1, generator=g, dtype=D)
    return (torch.relu(x @ w1 - 0.1) @ w2)[:, 0]


def smooth_net(x: torch.Tensor) -> torch.Tensor:
    g = torch.Generator().manual_seed(4)
    w1 = torch.randn(6, 20, generator=g, dtype=D)
    w2 = torch.randn(20, 1, generator=g, dtype=D)
    return (torch.tanh(x @ w1) @ w2)[:, 0]


X3 = torch.ones(1, 3, dtype=D)
X6 = torch.rand(3, 6, generator=torch.Generator().manual_seed(5), dtype=D)
#: Many features: the rough estimate is statistical over them
X64 = torch.rand(3, 64, generator=torch.Generator().manual_seed(6), dtype=D)


def _reference(method: object, model: object, x: torch.Tensor) -> torch.Tensor:
    return method(model, x, n_steps=4096, schedule="uniform")  # type: ignore[operator]


def test_small_budgets_are_the_plain_rule() -> None:
    d = ig.details(steep, X3, n_steps=8, schedule="graded")
    u = ig.details(steep, X3, n_steps=8)
    assert isinstance(d, GradedDetails)
    assert torch.allclose(d.attributions, u.attributions, rtol=1e-14, atol=0)
    assert d.evaluations.tolist() == [10]  # n_steps + both ends


def test_smooth_paths_get_gauss_legendre() -> None:
    # a smooth, spread-out integrand: the graded result is the uniform rule's
    for n in (16, 32, 64):
        g = ig.details(smooth_net, X6, n_steps=n, schedule="graded")
        u = ig(smooth_net, X6, n_steps=n)
        assert torch.allclose(g.attributions, u, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("n", [24, 48, 64])
def test_a_narrow_decision_gets_a_map_and_beats_the_plain_rule(n: int) -> None:
    for method in (ig, idg):
        ref = _reference(method, steep, X3)
        graded = method(steep, X3, n_steps=n, schedule="graded")
        plain = method(steep, X3, n_steps=n, schedule="uniform")
        assert _rel(graded, ref) < _rel(plain, ref) / 10


@pytest.mark.parametrize("model", [steep, relu_net, smooth_net])
def test_budgets_are_exact_and_weights_sum_to_one(model: object) -> None:
    x = X3 if model is steep else X6
    for n in (16, 40):
        d = idg.details(model, x, n_steps=n)
        assert d.evaluations.tolist() == [n + 2] * x.shape[0]
        assert d.n_gradient_evals == (n + 2) * x.shape[0] and d.n_forward_evals == 0
        assert torch.allclose(d.weights.sum(1), torch.ones(x.shape[0], dtype=D), atol=1e-12)
        # the delta is the rule's error on integral F' = F(x) - F(x')
        fp = (d.weights * torch.nan_to_num(d.derivatives)).sum(1)
        assert torch.allclose(d.delta, fp - (d.end - d.start), atol=1e-12)
        # IDG's completeness is exact
        assert torch.allclose(d.attributions.sum(1), d.end - d.start, atol=1e-12)


@pytest.mark.parametrize("chunk", [1, 7, None])
def test_the_result_does_not_depend_on_the_chunk(chunk: int | None) -> None:
    for model, x in ((steep, X3), (relu_net, X6)):
        base = idg.details(model, x, n_steps=40)
        d = idg.details(model, x, n_steps=40, internal_batch_size=chunk)
        assert torch.allclose(d.attributions, base.attributions, rtol=1e-12, atol=1e-14)
        assert torch.equal(torch.isnan(d.alphas), torch.isnan(base.alphas))
        assert torch.allclose(d.alphas.nan_to_num(), base.alphas.nan_to_num(), atol=1e-14)


def test_each_example_is_its_own() -> None:
    x = torch.cat([X6, 2 * X6[:1]])
    together = idg(relu_net, x, n_steps=48)
    for b in range(len(x)):
        alone = idg(relu_net, x[b : b + 1], n_steps=48)
        assert torch.allclose(together[b : b + 1], alone, rtol=1e-12, atol=1e-14)


def test_the_same_call_gives_the_same_result() -> None:
    a = idg.details(relu_net, X6, n_steps=64)
    b = idg.details(relu_net, X6, n_steps=64)
    assert torch.equal(a.attributions, b.attributions) and torch.equal(a.error, b.error)


@pytest.mark.parametrize(("model", "rtol"), [(steep, 1e-6), (smooth_net, 1e-8), (relu_net, 3e-3)])
def test_rtol_is_met(model: object, rtol: float) -> None:
    x = X3 if model is steep else X64 if model is relu_net else X6
    for method in (ig, idg):
        ref = _reference(method, model, x)
        if model is relu_net:  # a staircase: the reference itself converges only like 1/n
            ref = method(model, x, n_steps=2**15, schedule="uniform")  # type: ignore[operator]
        with warnings.catch_warnings():
            warnings.simplefilter("error", ToleranceWarning)
            d = method.details(model, x, rtol=rtol, max_evaluations=4096)
        assert (d.error <= rtol).all()
        for b in range(x.shape[0]):
            assert _rel(d.attributions[b], ref[b]) <= rtol
            assert int(d.evaluations[b]) <= 4096


def test_rtol_beyond_the_cap_warns_and_says_why() -> None:
    with pytest.warns(ToleranceWarning, match="max_evaluations=40"):
        d = idg.details(relu_net, X6, rtol=1e-9, max_evaluations=40)
    assert (d.evaluations <= 40).all() and (d.error > 1e-9).any()


def test_the_estimate_bounds_the_error_on_smooth_paths() -> None:
    for model, x in ((steep, X3), (smooth_net, X6)):
        for method in (ig, idg):
            ref = _reference(method, model, x)
            for n in (16, 32, 64):
                d = method.details(model, x, n_steps=n, schedule="graded")
                for b in range(x.shape[0]):
                    err = _rel(d.attributions[b], ref[b])
                    if err > 1e-10:
                        assert float(d.error[b]) >= err, (model.__name__, n, b)


def test_the_estimate_follows_the_error_on_rough_paths() -> None:
    # a staircase integrand: the estimate is statistical (jumps at random places), so it is
    # checked as the accuracy benchmark checks it: mostly above, never far below
    ratios = []
    for method in (ig, idg):
        ref = method(relu_net, X64, n_steps=2**15, schedule="uniform")
        for n in (16, 32, 64, 128):
            d = method.details(relu_net, X64, n_steps=n, schedule="graded")
            ratios += [float(d.error[b]) / _rel(d.attributions[b], ref[b]) for b in range(3)]
    assert min(ratios) > 1 / 3
    assert sum(r >= 1 for r in ratios) >= 0.7 * len(ratios)


def test_idg_defaults_to_graded_and_ig_with_rtol() -> None:
    assert isinstance(idg.details(steep, X3, n_steps=16), GradedDetails)
    assert isinstance(ig.details(steep, X3, rtol=1e-3), GradedDetails)
    assert not isinstance(ig.details(steep, X3, n_steps=16), GradedDetails)


def test_blur_ig_takes_the_graded_schedule_and_rtol() -> None:
    w = torch.linspace(-1.0, 1.0, 36, dtype=D).reshape(1, 1, 6, 6)

    def model(x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(3 * (x * w).flatten(1).sum(1))

    x = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(0), dtype=D)
    ref = idgrad.blur_integrated_gradients(model, x, n_steps=512, max_sigma=2.0)
    d = idgrad.blur_integrated_gradients.details(model, x, rtol=1e-6, max_sigma=2.0)
    assert isinstance(d, GradedDetails) and (d.error <= 1e-6).all()
    assert _rel(d.attributions, ref) < 1e-6
    assert d.delta.abs().max() < 1e-6


def test_a_rough_example_that_stalls_is_not_called_a_floor() -> None:
    # A small ReLU MLP in float32 (the README's): its integrand is piecewise constant, so a
    # round may leave the estimate where it was by chance. The warning must blame the budget
    # (raise max_evaluations or rtol), not a precision floor the model does not have.
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    x = torch.rand(4, 8)
    with pytest.warns(ToleranceWarning) as caught:
        d = idg.details(model, x, target=1, rtol=1e-3)
    message = str(caught[0].message)
    assert "raise max_evaluations or rtol" in message
    assert "no longer falling" not in message and "precision" not in message
    missed = d.error > 1e-3
    assert bool(missed.any()) and bool((d.evaluations[missed] > 300).all())
