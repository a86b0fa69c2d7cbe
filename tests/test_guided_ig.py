"""Guided IG: reductions to IG, linear exactness, the path's constraints, completeness, chunking."""

from __future__ import annotations

import pytest
import torch
from models import CountingModel, LinearModel, SineModel, SmallMLP

from idgrad.methods.guided_ig import guided_integrated_gradients
from idgrad.methods.ig import integrated_gradients

D = torch.float64


class Recorder(torch.nn.Module):
    """Keeps every point evaluated with a gradient (the guided path's points)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.points: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.requires_grad:
            self.points.append(x.detach().clone())
        return self.model(x)


@pytest.mark.parametrize(("fraction", "max_dist"), [(0.1, 1.0), (0.5, 0.1), (1.0, 0.0)])
def test_linear_model_equals_ig(fraction: float, max_dist: float) -> None:
    model = LinearModel(torch.randn(6, 3, dtype=D))
    x, b = torch.randn(4, 6, dtype=D), torch.randn(4, 6, dtype=D)
    got = guided_integrated_gradients(
        model, x, b, target=2, n_steps=7, fraction=fraction, max_dist=max_dist
    )
    torch.testing.assert_close(got, (x - b) * model.w[:, 2].detach(), rtol=0, atol=1e-12)


def test_linear_model_equals_ig_for_tuple_inputs() -> None:
    w1, w2 = torch.randn(3, dtype=D), torch.randn(2, 2, dtype=D)
    model = lambda a, c: a @ w1 + (c * w2).flatten(1).sum(1)
    x = (torch.randn(2, 3, dtype=D), torch.randn(2, 2, 2, dtype=D))
    a, c = guided_integrated_gradients(model, x, n_steps=5, fraction=0.3, max_dist=1.0)
    torch.testing.assert_close(a, x[0] * w1, rtol=0, atol=1e-12)
    torch.testing.assert_close(c, x[1] * w2, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("fraction", "max_dist"), [(0.25, 0.0), (0.7, 0.0), (1.0, 0.05), (1.0, 1.0)]
)
def test_reductions_to_ig_left_riemann(fraction: float, max_dist: float) -> None:
    # max_dist = 0 pins every feature to the straight line; fraction = 1 moves all features
    # by the same share: either way the path is straight, sampled at (t - 1) / n.
    model = SmallMLP(n_features=6, n_classes=3)
    x, b = torch.randn(3, 6, dtype=D), torch.rand(3, 6, dtype=D)
    got = guided_integrated_gradients(
        model, x, b, target=1, n_steps=9, fraction=fraction, max_dist=max_dist
    )
    ig = integrated_gradients(model, x, b, target=1, n_steps=9, rule="riemann_left")
    torch.testing.assert_close(got, ig, rtol=0, atol=1e-12)


def test_guided_path_differs_from_ig_otherwise() -> None:
    model = SmallMLP(n_features=6, n_classes=3)
    x = torch.randn(3, 6, dtype=D)
    got = guided_integrated_gradients(model, x, target=1, n_steps=9, fraction=0.25, max_dist=1.0)
    ig = integrated_gradients(model, x, target=1, n_steps=9, rule="riemann_left")
    assert (got - ig).abs().max() > 1e-3


@pytest.mark.parametrize(("fraction", "max_dist"), [(0.25, 0.1), (0.5, 1.0)])
def test_path_respects_distance_budget_and_bounds(fraction: float, max_dist: float) -> None:
    model = Recorder(SmallMLP(n_features=8, n_classes=2))
    x, b = torch.randn(2, 8, dtype=D), torch.randn(2, 8, dtype=D)
    n = 6
    guided_integrated_gradients(
        model, x, b, target=0, n_steps=n, fraction=fraction, max_dist=max_dist
    )
    assert len(model.points) == n
    d = x - b
    for t, pts in enumerate(model.points):  # point t is x^t (before step t + 1)
        progress = (pts - b) / d
        alpha = t / n
        # L1 distance to the input is (1 - t / n) of the total
        l1 = ((x - pts).abs().sum(1)) / d.abs().sum(1)
        torch.testing.assert_close(l1, torch.full_like(l1, 1 - alpha), rtol=0, atol=1e-12)
        assert (progress >= -1e-12).all() and (progress <= 1 + 1e-12).all()
        if t > 0:
            assert (progress >= alpha - max_dist - 1e-12).all()
            assert (progress <= alpha + max_dist + 1e-12).all()
            assert (progress >= ((model.points[t - 1] - b) / d) - 1e-12).all()  # monotone


def test_smallest_gradient_moves_first() -> None:
    # F = 10 x0 + x1 (plus a nonlinearity so it is not linear): at the baseline |g1| < |g0|,
    # so with fraction 1/2 the first step moves x1 only (as far as the bound allows).
    model = Recorder(torch.nn.Identity())
    fwd = lambda z: 10 * z[:, 0] + z[:, 1] + 0.01 * z[:, 1] ** 2
    rec = lambda z: fwd(model(z))
    x = torch.tensor([[1.0, 1.0]], dtype=D)
    guided_integrated_gradients(rec, x, n_steps=4, fraction=0.5, max_dist=1.0)
    second = model.points[1][0]
    assert second[0].item() == 0.0
    assert second[1].item() == pytest.approx(0.5, abs=1e-12)  # 1/4 of the L1 budget of 2


def test_completeness_error_shrinks_like_one_over_n() -> None:
    model = SineModel([1.0, -2.0, 0.5, 1.5])
    x = torch.tensor([[1.0, 2.0, -1.5, 0.5], [0.3, -0.7, 1.2, 2.0]], dtype=D)
    errors = []
    for n in (10, 40, 160):
        d = guided_integrated_gradients.details(model, x, n_steps=n, fraction=0.25, max_dist=0.2)
        gap = model(x) - model(torch.zeros_like(x))
        torch.testing.assert_close(
            d.attributions.sum(1) - gap.detach(), d.delta, rtol=0, atol=1e-13
        )
        torch.testing.assert_close(d.start, model(torch.zeros_like(x)).detach(), rtol=0, atol=0)
        torch.testing.assert_close(
            (d.weights * d.derivatives).sum(1), d.attributions.sum(1), rtol=0, atol=1e-12
        )
        errors.append(d.delta.abs().max().item())
    # left Riemann sums on the guided path: the error falls like 1/n
    assert 3.0 < errors[0] / errors[1] < 5.0
    assert 3.0 < errors[1] / errors[2] < 5.0


def test_input_equal_to_baseline_gives_zero() -> None:
    model = SmallMLP(n_features=3, n_classes=2)
    x = torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]], dtype=D)
    b = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], dtype=D)
    attr = guided_integrated_gradients(model, x, b, target=0, n_steps=4)
    assert torch.equal(attr[0], torch.zeros(3, dtype=D))
    assert attr[1].abs().sum() > 0


def test_counts_match_the_model_calls() -> None:
    model = CountingModel(SmallMLP(n_features=3, n_classes=2))
    d = guided_integrated_gradients.details(
        model, torch.randn(5, 3, dtype=D), target=1, n_steps=4, internal_batch_size=2
    )
    assert d.n_gradient_evals == 20 == model.grad_rows
    assert d.n_forward_evals == 5 == model.rows - model.grad_rows
    assert model.max_rows <= 2


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"fraction": 0.0}, ValueError, "fraction"),
        ({"fraction": 1.2}, ValueError, "fraction"),
        ({"fraction": None}, TypeError, "fraction"),
        ({"max_dist": -0.1}, ValueError, "max_dist"),
        ({"max_dist": 1.5}, ValueError, "max_dist"),
        ({"max_dist": "1"}, TypeError, "max_dist"),
    ],
)
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    model = lambda z: z.sum(1)
    with pytest.raises(error, match=match):
        guided_integrated_gradients(model, torch.ones(2, 2, dtype=D), **kwargs)


# ------------------------------------------------- the authors' code (PAIR saliency) cases
# The cases of saliency/core/guided_ig_test.py (same functions, inputs, parameters and
# expected values), one example of two features each, run through our batched code.

LINEAR = lambda z: 2 * z[:, 0] + z[:, 1]
QUAD_INDEPENDENT = lambda z: 2 * z[:, 0] ** 2 + z[:, 1] ** 2
QUAD_DEPENDENT = lambda z: (2 * z[:, 0] + z[:, 1]) ** 2


def _gig(model, x, b=None, **kwargs) -> torch.Tensor:
    x = torch.tensor([x], dtype=D)
    b = None if b is None else torch.tensor([b], dtype=D)
    return guided_integrated_gradients(model, x, b, **kwargs)[0]


def test_reference_linear_with_baseline() -> None:
    got = _gig(LINEAR, [10.0, 5.0], [-1.0, -3.0], n_steps=10, fraction=0.1, max_dist=0.5)
    torch.testing.assert_close(got, torch.tensor([22.0, 8.0], dtype=D), rtol=1e-7, atol=0)


def test_reference_linear_without_baseline() -> None:
    got = _gig(LINEAR, [10.0, 5.0], n_steps=10, fraction=0.1, max_dist=0.5)
    torch.testing.assert_close(got, torch.tensor([20.0, 5.0], dtype=D), rtol=1e-7, atol=0)


@pytest.mark.parametrize(
    ("x", "b", "want"), [([3.0, 3.0], None, [18.0, 9.0]), ([0.0, 0.0], [3.0, 3.0], [-18.0, -9.0])]
)
def test_reference_independent_quadratic(x, b, want) -> None:
    got = _gig(QUAD_INDEPENDENT, x, b, n_steps=1000, fraction=0.1, max_dist=0.4)
    torch.testing.assert_close(got, torch.tensor(want, dtype=D), rtol=0.01, atol=0)


@pytest.mark.parametrize(("fraction", "max_dist"), [(0.1, 0.0), (1.0, 0.5)])
def test_reference_dependent_quadratic_reduces_to_ig(fraction: float, max_dist: float) -> None:
    got = _gig(QUAD_DEPENDENT, [3.0, 3.0], n_steps=1000, fraction=fraction, max_dist=max_dist)
    torch.testing.assert_close(got, torch.tensor([54.0, 27.0], dtype=D), rtol=0.01, atol=0)


def test_reference_dependent_quadratic_unbounded() -> None:
    got = _gig(QUAD_DEPENDENT, [3.0, 3.0], n_steps=1000, fraction=0.1, max_dist=1.0)
    torch.testing.assert_close(got, torch.tensor([72.0, 9.0], dtype=D), rtol=0.01, atol=0)


def test_reference_dependent_quadratic_bounded() -> None:
    got = _gig(QUAD_DEPENDENT, [3.0, 3.0], n_steps=1000, fraction=0.1, max_dist=0.2)
    assert got.sum().item() == pytest.approx(81.0, abs=0.1)  # completeness
    assert 55.0 < got[0].item() < 71.0 and 10.0 < got[1].item() < 26.0  # between IG and unbounded


# ------------------------------------------------------------ ties and the selection count
# The authors' code selects, at every round, the features with |g_i| <= the `fraction`
# quantile (numpy's "lower" interpolation) of |g| over all N features of the example, where
# features that cannot move count as +inf. Hand-computed cases below; each expected value is
# also what saliency's guided_ig_impl returns for the same case.


def test_tied_gradients_move_together() -> None:
    # F = relu(x0 + x1 - 1), x = (1, 1), baseline 0, 4 steps, fraction 1/2, unbounded.
    # |g| ties at (0, 0) until x0 + x1 > 1, so both features move together along the diagonal:
    # points 0, 1/4, 1/2, 3/4 (gradient (1, 1) only at 3/4), hence (1/4, 1/4).
    # (Moving one tied feature at a time, in index order, gives (0, 1/2).)
    model = lambda z: torch.relu(z[:, 0] + z[:, 1] - 1)
    got = _gig(model, [1.0, 1.0], n_steps=4, fraction=0.5, max_dist=1.0)
    assert got.tolist() == [0.25, 0.25]


def test_symmetric_input_gives_symmetric_attribution() -> None:
    # Max-pool and ReLU at a black baseline (many exact ties, the paper's setting); the model
    # is invariant under swapping its two pooling windows, and so is the input.
    def model(z: torch.Tensor) -> torch.Tensor:
        pooled = torch.nn.functional.max_pool1d(z[:, None], 2)[:, 0]  # windows (z0, z1), (z2, z3)
        return torch.relu(pooled.sum(1) - 1.0) + 0.5 * torch.relu(z.sum(1) - 2.0)

    x = torch.tensor([[1.0, 0.5, 1.0, 0.5]], dtype=D)
    for fraction, max_dist in ((0.1, 1.0), (0.25, 0.02), (0.5, 0.3)):
        attr = guided_integrated_gradients(
            model, x, n_steps=12, fraction=fraction, max_dist=max_dist
        )[0]
        torch.testing.assert_close(attr[:2], attr[2:], rtol=0, atol=1e-14)
        assert attr.abs().sum() > 0


def test_selection_count_is_the_lower_quantile_index_plus_one() -> None:
    # N = 3 features, fraction 0.4: the reference selects floor(0.4 * (3 - 1)) + 1 = 1 feature
    # (not ceil(0.4 * 3) = 2). Distinct |g| = (1, 2, 3) at the baseline: the first step moves
    # x0 alone by the whole L1 budget 3 / 4.
    model = Recorder(torch.nn.Identity())
    fwd = lambda z: (model(z) * torch.tensor([1.0, 2.0, 3.0], dtype=D)).sum(1)
    fwd_q = lambda z: fwd(z) + 1e-3 * (z**2).sum(1)  # not linear, so the path is not trivial
    x = torch.ones(1, 3, dtype=D)
    guided_integrated_gradients(fwd_q, x, n_steps=4, fraction=0.4, max_dist=1.0)
    torch.testing.assert_close(
        model.points[1][0], torch.tensor([0.75, 0.0, 0.0], dtype=D), rtol=0, atol=1e-15
    )


def test_features_equal_to_the_baseline_count_in_n() -> None:
    # N = 4 with x2 = x'2 and x3 = x'3 (they never move): the reference counts them, so
    # fraction 0.5 selects floor(0.5 * 3) + 1 = 2 features (counting only the 2 that move
    # would give 1). x0 and x1 share the L1 budget 2 / 4 equally.
    model = Recorder(torch.nn.Identity())
    fwd = lambda z: (model(z) * torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=D)).sum(1)
    x = torch.tensor([[1.0, 1.0, 0.0, 0.0]], dtype=D)
    guided_integrated_gradients(fwd, x, n_steps=4, fraction=0.5, max_dist=1.0)
    torch.testing.assert_close(
        model.points[1][0], torch.tensor([0.25, 0.25, 0.0, 0.0], dtype=D), rtol=0, atol=1e-15
    )


def test_features_at_their_bound_count_as_infinite() -> None:
    # N = 8, fraction 0.3: quantile index floor(0.3 * 7) = 2, three features per round. Step 1
    # of 4 (alpha 1/4, max_dist 1/4: cap 1/2, L1 budget 2), |g| = (1, ..., 8): round 1 moves
    # x0..x2 to the cap (1.5 of the budget); they now count as +inf, so the index still points
    # at the third-smallest finite |g| and round 2 moves x3..x5 by 1/6 each (the last 0.5).
    model = Recorder(torch.nn.Identity())
    fwd = lambda z: (model(z) * torch.arange(1.0, 9.0, dtype=D)).sum(1)
    guided_integrated_gradients(
        fwd, torch.ones(1, 8, dtype=D), n_steps=4, fraction=0.3, max_dist=0.25
    )
    sixth = 1 / 6
    want = torch.tensor([0.5, 0.5, 0.5, sixth, sixth, sixth, 0.0, 0.0], dtype=D)
    torch.testing.assert_close(model.points[1][0], want, rtol=0, atol=1e-15)
