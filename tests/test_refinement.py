"""The graded schedule and the tolerance API: tolerances met, residuals, budgets, chunking."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from models import CountingModel

import idgrad
from idgrad.engine.grading import node_cell_integrals, node_weights
from idgrad.engine.refinement import DEFAULT_MAX_EVALUATIONS, cell_residuals, check_budget

D = torch.float64


# --------------------------------------------------------------------------- analytic models


class PolyModel(torch.nn.Module):
    """``F(x) = a x0 + b x1^2 + c x2^4``: every feature has its own profile along the path.

    From ``x' = 0``: ``g = (a, 2 b x1^2 t, 4 c x2^4 t^3) / x`` per feature (``t = alpha``),
    ``F'(t) = a x0 + 2 b x1^2 t + 4 c x2^4 t^3``. IG and IDG are polynomial integrals.
    """

    def __init__(self, a: float = 1.0, b: float = -2.0, c: float = 3.0) -> None:
        super().__init__()
        self.a, self.b, self.c = a, b, c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a * x[:, 0] + self.b * x[:, 1] ** 2 + self.c * x[:, 2] ** 4

    def exact(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(IG, normalised IDG) in closed form, ``(B, 3)`` each."""
        p = [self.a * x[:, 0], 2 * self.b * x[:, 1] ** 2, 4 * self.c * x[:, 2] ** 4]
        # feature i contributes p_i t^k_i to F' with k = (0, 1, 3)
        k = (0, 1, 3)
        ig = torch.stack([p[i] / (k[i] + 1) for i in range(3)], 1)
        raw = torch.stack(
            [sum(p[i] * p[j] / (k[i] + k[j] + 1) for j in range(3)) for i in range(3)], 1
        )
        change = self(x) - self(0 * x)
        return ig, raw * (change / raw.sum(1)).unsqueeze(1)


class ReluSum(torch.nn.Module):
    """``F(x) = sum_j a_j relu(w_j . x - c_j)``: piecewise linear, kinks at known alphas."""

    def __init__(self, n_units: int = 12, n_features: int = 5, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = torch.randn(n_units, n_features, generator=g, dtype=D)
        self.c = torch.rand(n_units, generator=g, dtype=D) * 2 - 0.5
        self.a = torch.randn(n_units, generator=g, dtype=D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ self.w.T - self.c) @ self.a

    def exact(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(IG, normalised IDG) from the baseline 0, in closed form."""
        igs, idgs = [], []
        for row in x:
            slope = self.w @ row  # unit j's pre-activation along the path: slope t - c_j
            # unit j is active on [lo_j, hi_j] within [0, 1]
            with np.errstate(divide="ignore"):
                cross = (self.c / slope).numpy()
            s, c = slope.numpy(), self.c.numpy()
            lo = np.where(s > 0, np.clip(cross, 0, 1), 0.0)
            hi = np.where(s > 0, 1.0, np.clip(cross, 0, 1))
            lo = np.where(s == 0, np.where(-c > 0, 0.0, 1.0), lo)
            hi = np.where(s == 0, 1.0, hi)
            a, w = self.a.numpy(), self.w.numpy()
            length = np.maximum(hi - lo, 0)
            r = row.numpy()
            ig = r * ((a * length) @ w)
            both = np.maximum(
                np.minimum(hi[:, None], hi[None, :]) - np.maximum(lo[:, None], lo[None, :]), 0
            )
            fp = a * s  # F' gains a_j slope_j while unit j is active
            raw = r * (((a[:, None] * fp[None, :]) * both).sum(1) @ w)
            change = float(self(row[None]) - self(0 * row[None]))
            igs.append(ig)
            idgs.append(raw * change / raw.sum())
        return torch.tensor(np.array(igs)), torch.tensor(np.array(idgs))


def _rel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).flatten(1).norm(dim=1) / b.flatten(1).norm(dim=1)


POLY_X = torch.tensor([[1.0, 0.7, 0.9], [0.3, -1.2, 0.6]], dtype=D)
RELU_X = torch.tensor(
    [[1.0, 0.5, -0.3, 0.8, 0.2], [-0.4, 1.1, 0.6, 0.1, -0.9], [0.9, 0.9, 0.9, 0.9, 0.9]], dtype=D
)


def test_the_closed_forms_are_right() -> None:
    """The references themselves, against 20000-point uniform midpoint rules."""
    for model, x in ((PolyModel(), POLY_X), (ReluSum(), RELU_X)):
        ig, idg = model.exact(x)
        fine_ig = idgrad.integrated_gradients(model, x, n_steps=20000, method="riemann_middle")
        fine_idg = idgrad.integrated_decision_gradients(model, x, n_steps=20000, adaptive=False)
        # the midpoint rule's own error: ~1e-9 on the polynomial, ~1e-4 across the kinks
        assert _rel(fine_ig, ig).max() < 3e-4
        assert _rel(fine_idg, idg).max() < 3e-4


# --------------------------------------------------------------------------- tolerances


@pytest.mark.parametrize("rtol", [1e-2, 1e-4, 1e-6])
def test_tolerance_is_met_on_a_smooth_model(rtol: float) -> None:
    model = PolyModel()
    ig, idg = model.exact(POLY_X)
    d_ig = idgrad.integrated_gradients.details(model, POLY_X, rtol=rtol)
    d_idg = idgrad.integrated_decision_gradients.details(model, POLY_X, rtol=rtol)
    for d, exact in ((d_ig, ig), (d_idg, idg)):
        assert isinstance(d, idgrad.GradedDetails)
        assert (d.error <= rtol).all()  # what it claims ...
        assert (_rel(d.attributions, exact) <= rtol).all()  # ... holds


@pytest.mark.filterwarnings("ignore::idgrad.ToleranceWarning")  # the estimate may stay above rtol
@pytest.mark.parametrize("rtol", [3e-2, 3e-3])
def test_tolerance_is_met_on_a_piecewise_linear_model(rtol: float) -> None:
    model = ReluSum()
    ig, idg = model.exact(RELU_X)
    for fn, exact in (
        (idgrad.integrated_gradients, ig),
        (idgrad.integrated_decision_gradients, idg),
    ):
        d = fn.details(model, RELU_X, rtol=rtol, max_evaluations=4096)
        true = _rel(d.attributions, exact)
        assert (true <= rtol).all(), (fn.__name__, d.error)  # what was asked for, delivered
        assert (1.5 * d.error >= true).all()  # and the claim is honest (give or take)
        # a few kinks: the estimate may stay above rtol where splitting stops (a gap is
        # split at most 5 times below the graded spacing), but then it says so
        assert ((d.error <= rtol) | (d.evaluations > 200)).all()


def test_the_estimate_bounds_the_error_of_fixed_budgets() -> None:
    model = ReluSum(n_units=40, seed=3)
    _, idg = model.exact(RELU_X)
    ratios = []
    for n in (17, 33, 65, 129):
        d = idgrad.integrated_decision_gradients.details(model, RELU_X, n_steps=n)
        true = _rel(d.attributions, idg)
        assert (d.error >= true).all(), (n, d.error, true)
        ratios.append(d.error / true)
    # and not uselessly loose (one example, few kinks: a lucky small error happens)
    assert float(torch.cat(ratios).median()) < 5


def test_a_capped_tolerance_stops_at_the_cap_and_says_so() -> None:
    model = ReluSum(n_units=40, seed=3)
    with pytest.warns(idgrad.ToleranceWarning, match=r"rtol=1e-07 was not reached") as caught:
        d = idgrad.integrated_decision_gradients.details(
            model, RELU_X, rtol=1e-7, max_evaluations=40
        )
    assert (d.evaluations <= 40).all() and (d.evaluations == 40).any()
    assert (d.error > 1e-7).all()
    assert caught[0].filename == __file__  # points at the caller
    message = str(caught[0].message)
    assert f"0 ({float(d.error[0]):.2g} after {int(d.evaluations[0])} evaluations)" in message
    assert "max_evaluations=40" in message


def test_a_reached_tolerance_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = idgrad.integrated_gradients.details(ReluSum(), RELU_X, rtol=0.05)
    assert (d.error <= 0.05).all()


# --------------------------------------------------------------------------- residuals


def test_cell_residuals_sum_to_the_delta() -> None:
    model = ReluSum()
    d = idgrad.integrated_decision_gradients.details(model, RELU_X, n_steps=40)
    for b in range(len(RELU_X)):
        n = int(d.evaluations[b])
        a, out, der = d.alphas[b, :n], d.outputs[b, :n], d.derivatives[b, :n]
        r = cell_residuals(a.numpy(), out.numpy(), der.numpy())
        assert len(r) == n - 1
        assert abs(r.sum() - float(d.delta[b])) < 1e-12
        # each residual is the rule's integral of F' over the cell minus F(b) - F(a)
        cells = node_cell_integrals(a.numpy(), der.numpy())
        np.testing.assert_allclose(r, cells - np.diff(out.numpy()), rtol=0, atol=1e-14)


def test_cell_residuals_vanish_where_the_rule_is_exact() -> None:
    """F cubic along the path: F' quadratic, which the spline reproduces on every cell."""
    model = lambda x: x[:, 0] ** 3 - 2 * x[:, 1] ** 2 + x[:, 2]  # noqa: E731
    x = torch.tensor([[0.9, 1.3, -0.4]], dtype=D)
    d = idgrad.integrated_gradients.details(model, x, n_steps=12, method="graded")
    r = cell_residuals(d.alphas[0].numpy(), d.outputs[0].numpy(), d.derivatives[0].numpy())
    assert np.abs(r).max() < 1e-14
    assert abs(float(d.delta[0])) < 1e-14


# --------------------------------------------------------------------------- budgets


@pytest.mark.parametrize("n_steps", [2, 3, 5, 6, 11, 40, 150])
@pytest.mark.parametrize("method", ["ig", "idg"])
def test_fixed_budgets_are_exact(n_steps: int, method: str) -> None:
    counter = CountingModel(ReluSum())
    fn = idgrad.integrated_gradients if method == "ig" else idgrad.integrated_decision_gradients
    d = fn.details(counter, RELU_X, n_steps=n_steps, method="graded")
    assert (d.evaluations == n_steps).all()
    assert d.n_gradient_evals == len(RELU_X) * n_steps and d.n_forward_evals == 0
    assert counter.rows == counter.grad_rows == len(RELU_X) * n_steps  # nothing else ran
    assert d.alphas.shape == (len(RELU_X), n_steps)
    assert (d.alphas[:, 0] == 0).all() and (d.alphas[:, -1] == 1).all()
    assert (d.alphas.diff(dim=1) > 0).all()
    torch.testing.assert_close(d.weights.sum(1), torch.ones(len(RELU_X), dtype=D))


@pytest.mark.filterwarnings("ignore::idgrad.ToleranceWarning")  # capped on purpose
def test_tolerance_budgets_are_counted_per_example() -> None:
    counter = CountingModel(ReluSum(n_units=40, seed=3))
    d = idgrad.integrated_decision_gradients.details(counter, RELU_X, rtol=1e-3)
    assert counter.rows == counter.grad_rows == int(d.evaluations.sum()) == d.n_gradient_evals
    for b in range(len(RELU_X)):
        n = int(d.evaluations[b])
        assert torch.isfinite(d.alphas[b, :n]).all() and torch.isnan(d.alphas[b, n:]).all()
        assert float(d.weights[b].sum()) == pytest.approx(1.0, abs=1e-13)


@pytest.mark.filterwarnings("ignore::idgrad.ToleranceWarning")  # capped on purpose
def test_examples_are_independent_of_their_batch() -> None:
    model = ReluSum()
    for kw in ({"n_steps": 30}, {"rtol": 1e-3}):
        d = idgrad.integrated_decision_gradients.details(model, RELU_X, **kw)
        for b in range(len(RELU_X)):
            one = idgrad.integrated_decision_gradients.details(model, RELU_X[b : b + 1], **kw)
            torch.testing.assert_close(one.attributions[0], d.attributions[b], rtol=0, atol=1e-14)
            assert int(one.evaluations[0]) == int(d.evaluations[b])


@pytest.mark.filterwarnings("ignore::idgrad.ToleranceWarning")  # capped on purpose
@pytest.mark.parametrize("kw", [{"n_steps": 30}, {"rtol": 1e-3}])
def test_chunk_size_does_not_change_anything(kw: dict) -> None:
    model = ReluSum()
    runs = [
        idgrad.integrated_decision_gradients.details(model, RELU_X, internal_batch_size=c, **kw)
        for c in (1, 7, None)
    ]
    for other in runs[1:]:
        torch.testing.assert_close(other.attributions, runs[0].attributions, rtol=0, atol=1e-12)
        torch.testing.assert_close(other.error, runs[0].error, rtol=1e-10, atol=1e-14)
        # the nodes follow the values, so they move by rounding only
        torch.testing.assert_close(other.alphas, runs[0].alphas, rtol=0, atol=1e-13, equal_nan=True)


def test_weights_are_the_node_rule() -> None:
    d = idgrad.integrated_gradients.details(ReluSum(), RELU_X, n_steps=25, method="graded")
    for b in range(len(RELU_X)):
        np.testing.assert_array_equal(d.weights[b].numpy(), node_weights(d.alphas[b].numpy()))


def test_graded_idg_is_complete_and_its_delta_honest() -> None:
    model = ReluSum()
    d = idgrad.integrated_decision_gradients.details(model, RELU_X, n_steps=20)
    change = model(RELU_X) - model(0 * RELU_X)
    torch.testing.assert_close(d.attributions.sum(1), change, rtol=1e-12, atol=1e-12)
    # the delta is the rule's error on integral F' (before the rescaling): not zero here
    assert (d.delta.abs() > 1e-6).any()
    torch.testing.assert_close(d.delta, (d.weights * d.derivatives).nansum(1) - change)


def test_multiply_by_inputs_false_and_normalize_false() -> None:
    model = PolyModel()
    ig, _ = model.exact(POLY_X)
    local = idgrad.integrated_gradients(model, POLY_X, rtol=1e-7, multiply_by_inputs=False)
    torch.testing.assert_close(local * POLY_X, ig, rtol=1e-7, atol=1e-9)
    raw = idgrad.integrated_decision_gradients.details(model, POLY_X, n_steps=30, normalize=False)
    torch.testing.assert_close(
        raw.attributions.sum(1), (raw.weights * raw.derivatives**2).sum(1), rtol=1e-12, atol=0
    )


def test_layer_methods_take_the_tolerance() -> None:
    lin, head = torch.nn.Linear(2, 3).double(), torch.nn.Linear(3, 1).double()
    model = lambda x: head(torch.tanh(lin(x)))[:, 0]  # noqa: E731
    x = torch.tensor([[1.0, -1.0], [0.5, 2.0]], dtype=D)
    d = idgrad.layer_integrated_decision_gradients.details(model, lin, x, rtol=1e-6)
    assert isinstance(d, idgrad.GradedDetails) and (d.error <= 1e-6).all()
    ref = idgrad.layer_integrated_decision_gradients(model, lin, x, n_steps=4000, adaptive=False)
    assert (_rel(d.attributions, ref) < 1e-6).all()


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"n_steps": 10, "rtol": 0.01}, "exactly one"),
        ({"rtol": 0.0}, "rtol"),
        ({"rtol": 1.0}, "rtol"),
        ({"rtol": "0.01"}, "rtol"),
        ({"max_evaluations": 100}, "max_evaluations"),
        ({"rtol": 0.01, "max_evaluations": 3}, "max_evaluations"),
        ({"rtol": 0.01, "method": "riemann_middle"}, "graded schedule"),
        ({"method": "graded", "adaptive": False}, "adaptive"),
        ({"method": "graded", "n_steps": 1}, "n_steps"),
        ({"method": "graded", "n_steps": 10, "n_pilot_steps": 10}, "n_pilot_steps"),
        ({"method": "simpson"}, "unknown rule"),
    ],
)
def test_bad_budgets_fail_before_the_model_runs(kw: dict, match: str) -> None:
    counter = CountingModel(ReluSum())
    with pytest.raises((ValueError, TypeError), match=match):
        idgrad.integrated_decision_gradients(counter, RELU_X, **kw)
    assert counter.calls == 0


def test_check_budget_defaults() -> None:
    assert check_budget(None, 0.1, None) == (None, 0.1, DEFAULT_MAX_EVALUATIONS, None)
    assert check_budget(30, None, None, 5) == (30, None, DEFAULT_MAX_EVALUATIONS, 5)


@pytest.mark.slow  # ~1.5 min of CPU; the accuracy benchmark's EfficientNet rtol runs hit it too
def test_a_tolerance_out_of_reach_below_the_cap_says_why() -> None:
    # kinks everywhere: the schedule stops splitting gaps 32x below its graded spacing
    model = ReluSum(n_units=40, seed=3)
    with pytest.warns(idgrad.ToleranceWarning, match="splits no gap finer") as caught:
        d = idgrad.integrated_decision_gradients.details(
            model, RELU_X, rtol=1e-13, max_evaluations=100_000
        )
    assert (d.evaluations < 100_000).all()
    assert "max_evaluations=100000" in str(caught[0].message)
