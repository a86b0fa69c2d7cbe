"""Parity with captum's ``IntegratedGradients`` (the de facto reference), float64.

captum 0.9 evaluates the same points as idgrad for ``riemann_left/right/middle`` and
``gausslegendre``, but

* casts its step weights to float32 (``torch.tensor(step_sizes).float()``), and
* builds its Riemann points with ``torch.linspace`` in float32.

So the two agree to float64 rounding wherever captum's schedule is exactly
representable in float32 (Riemann rules with ``n`` a power of two), and elsewhere
differ by exactly what that rounding explains: the difference is checked against
the same IG sum evaluated by an independent reference (plain autograd, below) on
captum's rounded schedule and on the exact one.

``riemann_trapezoid`` is the exception: captum's weights are ``1/n`` (halved at the
ends), which sum to ``(n - 1)/n``, so every captum attribution is biased.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pytest
import torch
from models import ExtraArgModel, LinearModel, ReluToy, SmallCNN, SmallMLP, XExpY

import idgrad
from idgrad.engine.rules import rule_points

captum_attr = pytest.importorskip("captum.attr")
try:
    from captum.attr._utils.approximation_methods import approximation_parameters
except ImportError:  # pragma: no cover - captum moved its private helper
    approximation_parameters = None

F64 = torch.float64


def _randn(*shape: int, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


class Case(NamedTuple):
    """One parity scenario: the arguments common to both libraries."""

    model: Callable[..., Any]
    inputs: Any
    baselines: Any
    target: Any
    extra: Any
    multiply_by_inputs: bool


def _cases() -> dict[str, Case]:
    mlp = SmallMLP(seed=21)
    x, b = _randn(5, 6, seed=1), _randn(5, 6, seed=2, scale=0.3)
    extra_model = ExtraArgModel(seed=22)
    mask = (_randn(5, 6, seed=3) > -0.5).to(F64)
    cnn = SmallCNN(seed=23)
    return {
        "mlp_int_target": Case(mlp, x, b, 2, None, True),
        "mlp_tensor_target": Case(mlp, x, b, torch.tensor([0, 3, 1, 2, 3]), None, True),
        "mlp_local": Case(mlp, x, b, 1, None, False),
        "cnn": Case(
            cnn, _randn(3, 2, 6, 6, seed=4), _randn(3, 2, 6, 6, seed=5, scale=0.2), 1, None, True
        ),
        "x_exp_y_tuple": Case(
            XExpY(),
            (_randn(4, 1, seed=6), _randn(4, 1, seed=7)),
            (_randn(4, 1, seed=8, scale=0.5), _randn(4, 1, seed=9, scale=0.5)),
            None,
            None,
            True,
        ),
        "relu_toy_tuple": Case(
            ReluToy(),
            (torch.tensor([[3.0], [2.5]], dtype=F64), torch.tensor([[1.0], [0.2]], dtype=F64)),
            (torch.zeros(2, 1, dtype=F64), torch.tensor([[0.0], [-0.3]], dtype=F64)),
            None,
            None,
            True,
        ),
        "extra_forward_args": Case(
            extra_model, x, b, torch.tensor([1, 0, 2, 2, 1]), (mask, 1.7), True
        ),
    }


CASES = _cases()


def _as_tuple(t: Any) -> tuple[torch.Tensor, ...]:
    return tuple(t) if isinstance(t, tuple) else (t,)


def _ours(case: Case, rule: str, n: int) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    det = idgrad.integrated_gradients.details(
        case.model,
        case.inputs,
        case.baselines,
        target=case.target,
        additional_forward_args=case.extra,
        n_steps=n,
        rule=rule,
        multiply_by_inputs=case.multiply_by_inputs,
    )
    attr, delta = det.attributions, det.delta
    return _as_tuple(attr), delta


def _captum(case: Case, rule: str, n: int) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    explainer = captum_attr.IntegratedGradients(
        case.model, multiply_by_inputs=case.multiply_by_inputs
    )
    attr, delta = explainer.attribute(
        case.inputs,
        case.baselines,
        target=case.target,
        additional_forward_args=case.extra,
        n_steps=n,
        method=rule,
        return_convergence_delta=True,
    )
    return _as_tuple(attr), delta


def _reference(case: Case, alphas: np.ndarray, weights: np.ndarray) -> tuple[torch.Tensor, ...]:
    """IG by plain autograd: sum_k w_k grad F(x' + a_k (x - x')) [* (x - x')], float64.

    All ``S`` points of the ``B`` examples go through the model in one batch (step-major).
    """
    xs, bs = _as_tuple(case.inputs), _as_tuple(case.baselines)
    extra = (
        case.extra
        if isinstance(case.extra, tuple)
        else (() if case.extra is None else (case.extra,))
    )
    n_points, batch = len(alphas), xs[0].shape[0]
    a = torch.as_tensor(alphas, dtype=F64)
    w = torch.as_tensor(weights, dtype=F64)
    points = tuple(
        (b + a.reshape((-1,) + (1,) * x.ndim) * (x - b))
        .reshape((n_points * batch,) + x.shape[1:])
        .requires_grad_(True)
        for x, b in zip(xs, bs)
    )
    tiled = tuple(torch.cat([e] * n_points) if isinstance(e, torch.Tensor) else e for e in extra)
    out = case.model(*points, *tiled)
    if case.target is None:
        value = out
    elif isinstance(case.target, int):
        value = out[:, case.target]
    else:
        value = out[torch.arange(n_points * batch), case.target.repeat(n_points)]
    grads = torch.autograd.grad(value.sum(), points, allow_unused=True)
    totals = []
    for x, b, g in zip(xs, bs, grads):
        if g is None:
            g = torch.zeros((n_points * batch,) + x.shape[1:], dtype=F64)
        g = g.reshape((n_points,) + x.shape)
        total = (w.reshape((-1,) + (1,) * x.ndim) * g).sum(0)
        totals.append(total * (x - b) if case.multiply_by_inputs else total)
    return tuple(t.detach() for t in totals)


def _captum_schedule(rule: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """captum's points (as it uses them) and weights after its float32 cast."""
    if approximation_parameters is None:
        pytest.skip("captum's approximation_parameters helper moved")
    step_sizes, alphas = approximation_parameters(rule)
    weights = torch.tensor(step_sizes(n)).float().double().numpy()
    return np.asarray(alphas(n), dtype=np.float64), weights


def _assert_tuple_close(
    a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...], **tol: float
) -> None:
    assert len(a) == len(b)
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v, **tol)


TIGHT = {"rtol": 1e-10, "atol": 1e-12}


# ================================================================ the schedules themselves


@pytest.mark.parametrize(
    "rule", ["riemann_left", "riemann_right", "riemann_middle", "gausslegendre"]
)
@pytest.mark.parametrize("n", [8, 50])
def test_captum_schedule_is_ours_up_to_float32(rule: str, n: int) -> None:
    ours_a, ours_w = rule_points(n, rule)
    cap_a, cap_w = _captum_schedule(rule, n)
    assert ours_w.sum() == pytest.approx(1.0, abs=1e-15)
    # Same points and weights, up to captum's float32 rounding (half an ulp: 2^-24 relative).
    np.testing.assert_allclose(cap_a, ours_a, rtol=2.0**-24, atol=2.0**-25)
    np.testing.assert_allclose(cap_w, ours_w, rtol=2.0**-24, atol=0)
    if rule != "gausslegendre" and n == 8:  # dyadic: representable in float32, identical
        np.testing.assert_array_equal(cap_a, ours_a)
        np.testing.assert_array_equal(cap_w, ours_w)
    if rule == "gausslegendre":  # the float32 cast does change GL weights
        assert np.abs(cap_w - ours_w).max() > 0


# ================================================================ attributions


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("rule", ["riemann_left", "riemann_right", "riemann_middle"])
@pytest.mark.parametrize("n", [8, 32])
def test_parity_where_captum_schedule_is_exact(case: str, rule: str, n: int) -> None:
    # n a power of two: captum's float32 points and weights are exact, so both libraries
    # compute the same sum; only the summation order differs.
    c = CASES[case]
    ours, our_delta = _ours(c, rule, n)
    theirs, their_delta = _captum(c, rule, n)
    _assert_tuple_close(ours, theirs, **TIGHT)
    if c.multiply_by_inputs:  # captum's delta for local attributions is not a completeness gap
        torch.testing.assert_close(our_delta, their_delta.to(F64), **TIGHT)
    assert max(float(t.abs().max()) for t in ours) > 1e-3  # not trivially zero


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize(
    "rule,n",
    [
        ("gausslegendre", 7),
        ("gausslegendre", 50),
        ("riemann_middle", 50),
        ("riemann_left", 50),
        ("riemann_right", 50),
    ],
)
def test_parity_difference_is_captums_float32_rounding(case: str, rule: str, n: int) -> None:
    # ours = reference(exact schedule); captum = reference(float32-rounded schedule);
    # hence ours - captum = the difference of the two references, to float64 rounding.
    c = CASES[case]
    ours, _ = _ours(c, rule, n)
    theirs, _ = _captum(c, rule, n)
    exact = _reference(c, *rule_points(n, rule))
    rounded = _reference(c, *_captum_schedule(rule, n))
    _assert_tuple_close(ours, exact, **TIGHT)
    _assert_tuple_close(theirs, rounded, **TIGHT)
    for o, t, e, r in zip(ours, theirs, exact, rounded):
        torch.testing.assert_close(o - t, e - r, rtol=0, atol=1e-12)
        if case != "relu_toy_tuple":
            # Smooth models: the difference is float32-sized, below 2^-23 of the scale. (On
            # the ReLU toy a rounded point can cross the kink and move one whole weight.)
            assert float((o - t).abs().max()) <= 2.0**-23 * (1 + float(o.abs().max()))


# ================================================================ trapezoid


@pytest.mark.parametrize("n", [16, 50])
def test_captum_trapezoid_is_biased_ours_is_exact(n: int) -> None:
    # Linear F: every rule whose weights sum to 1 is exact. captum's trapezoid weights are
    # 1/n each, halved at both ends: they sum to (n - 1)/n, so its attributions are exactly
    # (n - 1)/n of the true ones (to float32 rounding of 1/n: exact for n = 16).
    w = _randn(5, 3, seed=30)
    model = LinearModel(w, bias=0.2)
    x, b = _randn(4, 5, seed=31), _randn(4, 5, seed=32)
    exact = (x - b) * w[:, 1]
    ours = idgrad.integrated_gradients(model, x, b, target=1, n_steps=n, rule="riemann_trapezoid")
    torch.testing.assert_close(ours, exact, rtol=1e-13, atol=1e-13)
    theirs = captum_attr.IntegratedGradients(model).attribute(
        x, b, target=1, n_steps=n, method="riemann_trapezoid"
    )
    rtol = 1e-14 if n == 16 else 2.0**-23
    torch.testing.assert_close(theirs, exact * (n - 1) / n, rtol=rtol, atol=1e-14)
    assert (theirs - exact).abs().max() > 0.5 / n * exact.abs().max()  # the bias is visible


def test_trapezoid_on_a_network_ours_converges_captums_is_off_by_one_over_n() -> None:
    c = CASES["mlp_int_target"]
    n = 50
    converged = _reference(c, *rule_points(64, "gausslegendre"))[0]  # GL(64): converged
    ours, _ = _ours(c, "riemann_trapezoid", n)
    theirs, _ = _captum(c, "riemann_trapezoid", n)
    err_ours = float((ours[0] - converged).abs().max())
    err_theirs = float((theirs[0] - converged).abs().max())
    # Trapezoid error O(1/n^2) vs captum's O(1/n) bias (1/n of every attribution).
    assert err_ours < err_theirs / 10
    assert err_theirs == pytest.approx(float((converged / n).abs().max()), rel=0.2)
    # captum's result is the IG sum with its weights: 1/n each, halved at the ends.
    alphas, weights = _captum_schedule("riemann_trapezoid", n)
    np.testing.assert_allclose(weights[[0, 1, -1]], [0.5 / n, 1 / n, 0.5 / n], rtol=2.0**-24)
    assert weights.sum() == pytest.approx((n - 1) / n, rel=1e-6)
    torch.testing.assert_close(theirs[0], _reference(c, alphas, weights)[0], **TIGHT)
