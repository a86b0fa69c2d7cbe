"""IG and IDG in float64 against closed forms and independent quadrature.

Where a rule is exact (the integrand is a polynomial in ``alpha`` of at most the
rule's degree) the check is to ~1e-12. Where it is not, the error itself is
checked against its closed form: for a polynomial integrand the error of each rule
is known exactly, and for a smooth integrand the composite midpoint and trapezoid
rules have the Euler-Maclaurin leading error

    midpoint:  -(h^2 / 24) [phi'(b) - phi'(a)],    trapezoid:  +(h^2 / 12) [phi'(b) - phi'(a)]

on each piece ``[a, b]`` with spacing ``h``.

Degrees in ``alpha`` of the IG integrand ``d_i dF/dx_i(x' + alpha d)``: a
polynomial ``F`` of degree ``p`` gives degree ``p - 1``. Exact up to degree:
left/right 0, middle/trapezoid 1, Gauss-Legendre with ``n`` points ``2n - 1``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from models import (
    CubicModel,
    LinearModel,
    LogisticBenchmark,
    QuadraticModel,
    ReluToy,
    SineModel,
    TrackModel,
    XExpY,
)

import idgrad
from idgrad import integrated_decision_gradients as idg
from idgrad import integrated_gradients as ig

integrate = pytest.importorskip("scipy.integrate")

F64 = torch.float64
RULES = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre")
EXACT = {"rtol": 1e-12, "atol": 1e-12}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed), dtype=F64)


def _quad(f, points=None) -> float:  # type: ignore[no-untyped-def]
    value, _ = integrate.quad(f, 0.0, 1.0, points=points, limit=400, epsabs=1e-15, epsrel=1e-13)
    return float(value)


# ================================================================ IG: polynomials


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("n", [1, 2, 3, 7, 50])
def test_ig_linear_is_exact_for_every_rule_and_n(rule: str, n: int) -> None:
    if rule == "riemann_trapezoid" and n == 1:
        pytest.skip("the trapezoid rule needs both end points (tested below)")
    w = _randn(5, seed=1)
    model = LinearModel(w, bias=0.3)
    x, b = _randn(4, 5, seed=2), _randn(4, 5, seed=3)
    det = ig.details(model, x, b, n_steps=n, rule=rule)
    attr, delta = det.attributions, det.delta
    torch.testing.assert_close(attr, (x - b) * w, **EXACT)
    torch.testing.assert_close(delta, torch.zeros(4, dtype=F64), rtol=0, atol=1e-12)


def test_ig_trapezoid_with_one_step_is_refused() -> None:
    with pytest.raises(ValueError, match="trapezoid"):
        ig(
            LinearModel([1.0, 2.0]),
            torch.ones(1, 2, dtype=F64),
            n_steps=1,
            rule="riemann_trapezoid",
        )


@pytest.mark.parametrize("rule", RULES)
def test_ig_linear_multiclass_targets(rule: str) -> None:
    w = _randn(5, 3, seed=4)
    model = LinearModel(w, bias=_randn(3, seed=5))
    x, b = _randn(4, 5, seed=6), _randn(4, 5, seed=7)
    target = torch.tensor([2, 0, 1, 2])
    attr = ig(model, x, b, target=target, n_steps=3, rule=rule)
    torch.testing.assert_close(attr, (x - b) * w[:, target].T, **EXACT)
    attr1 = ig(model, x, b, target=1, n_steps=3, rule=rule)
    torch.testing.assert_close(attr1, (x - b) * w[:, 1], **EXACT)
    # Without multiplying by x - x' the result is the average gradient, w itself.
    grad = ig(model, x, b, target=1, n_steps=3, rule=rule, multiply_by_inputs=False)
    torch.testing.assert_close(grad, w[:, 1].expand(4, 5), **EXACT)


def test_ig_multidimensional_output_targets() -> None:
    model = TrackModel(n_features=5, length=3, tracks=2, seed=3)
    x, b = _randn(3, 5, seed=8), _randn(3, 5, seed=9)
    attr = ig(model, x, b, target=(2, 1), n_steps=2)
    torch.testing.assert_close(attr, (x - b) * model.weight[:, 2, 1].detach(), **EXACT)
    per_example = [(0, 0), (1, 1), (2, 0)]
    attr = ig(model, x, b, target=per_example, n_steps=2)
    w = torch.stack([model.weight[:, pos, t].detach() for pos, t in per_example])
    torch.testing.assert_close(attr, (x - b) * w, **EXACT)


def _quadratic() -> tuple[QuadraticModel, torch.Tensor, torch.Tensor, torch.Tensor]:
    model = QuadraticModel(_randn(4, 4, seed=10), _randn(4, seed=11), c=0.7)
    x, b = _randn(3, 4, seed=12), _randn(3, 4, seed=13)
    a = model.a.detach()
    d = x - b
    # grad F = 2 A x + b_vec is linear in alpha along the path:
    # IG_i = d_i (2 (A x')_i + (A d)_i + b_i)
    exact = d * (2 * b @ a + d @ a + model.b.detach())
    return model, x, b, exact


@pytest.mark.parametrize("rule", ["riemann_middle", "riemann_trapezoid", "gausslegendre"])
@pytest.mark.parametrize("n", [2, 5, 16])
def test_ig_quadratic_exact_for_rules_of_degree_one(rule: str, n: int) -> None:
    # The integrand is degree 1 in alpha: midpoint, trapezoid and GL(n >= 1) are exact.
    model, x, b, exact = _quadratic()
    det = ig.details(model, x, b, n_steps=n, rule=rule)
    attr, delta = det.attributions, det.delta
    torch.testing.assert_close(attr, exact, **EXACT)
    assert delta.abs().max() < 1e-12


def test_ig_quadratic_gauss_legendre_one_point_is_exact() -> None:
    model, x, b, exact = _quadratic()
    torch.testing.assert_close(ig(model, x, b, n_steps=1), exact, **EXACT)


@pytest.mark.parametrize("n", [1, 4, 9])
def test_ig_quadratic_left_right_errors_are_the_closed_form(n: int) -> None:
    # Left rule on c0 + c1 alpha: c0 + c1 (n - 1) / (2n) = exact - c1 / (2n); right: + c1 / (2n).
    # Here c1 = 2 d_i (A d)_i, so the errors are -/+ d_i (A d)_i / n.
    model, x, b, exact = _quadratic()
    d = x - b
    slope_term = d * (d @ model.a.detach()) / n
    left = ig(model, x, b, n_steps=n, rule="riemann_left")
    right = ig(model, x, b, n_steps=n, rule="riemann_right")
    torch.testing.assert_close(left, exact - slope_term, **EXACT)
    torch.testing.assert_close(right, exact + slope_term, **EXACT)
    assert (slope_term.abs() > 1e-3).any()  # the error is really there


def _cubic() -> tuple[CubicModel, torch.Tensor, torch.Tensor]:
    model = CubicModel([1.0, -2.0, 0.5, 3.0])
    x = torch.tensor([[1.0, 2.0, -1.5, 0.5], [0.3, -0.7, 2.0, -1.0]], dtype=F64)
    b = torch.tensor([[0.0, 0.5, 0.25, -1.0], [-1.0, 0.0, 0.0, 0.5]], dtype=F64)
    return model, x, b


@pytest.mark.parametrize("n", [2, 3, 10])
def test_ig_cubic_gauss_legendre_exact(n: int) -> None:
    # Separable: IG_i = a_i (x_i^3 - x'_i^3); the integrand is degree 2, GL(n >= 2) is exact.
    model, x, b = _cubic()
    exact = model.a.detach() * (x**3 - b**3)
    det = ig.details(model, x, b, n_steps=n, rule="gausslegendre")
    attr, delta = det.attributions, det.delta
    torch.testing.assert_close(attr, exact, **EXACT)
    assert delta.abs().max() < 1e-12
    torch.testing.assert_close(attr.sum(1), model(x) - model(b), **EXACT)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("n", [2, 5, 12])
def test_ig_cubic_rule_errors_are_the_closed_form(rule: str, n: int) -> None:
    # Integrand c0 + c1 alpha + c2 alpha^2 with c1 = 6 a d^2 x', c2 = 3 a d^3.
    # Rule sums of alpha and alpha^2 (exact: 1/2 and 1/3):
    #   left:      1/2 - 1/(2n),      1/3 - 1/(2n) + 1/(6n^2)
    #   right:     1/2 + 1/(2n),      1/3 + 1/(2n) + 1/(6n^2)
    #   middle:    1/2,               1/3 - 1/(12 n^2)
    #   trapezoid: 1/2,               1/3 + h^2/6, h = 1/(n-1)
    #   GL(n>=2):  1/2,               1/3
    model, x, b = _cubic()
    a = model.a.detach()
    d = x - b
    c1, c2 = 6 * a * d**2 * b, 3 * a * d**3
    err1, err2 = {
        "riemann_left": (-1 / (2 * n), -1 / (2 * n) + 1 / (6 * n**2)),
        "riemann_right": (1 / (2 * n), 1 / (2 * n) + 1 / (6 * n**2)),
        "riemann_middle": (0.0, -1 / (12 * n**2)),
        "riemann_trapezoid": (0.0, 1 / (6 * (n - 1) ** 2)),
        "gausslegendre": (0.0, 0.0),
    }[rule]
    expected = a * (x**3 - b**3) + c1 * err1 + c2 * err2
    torch.testing.assert_close(ig(model, x, b, n_steps=n, rule=rule), expected, **EXACT)


def test_ig_cubic_gauss_legendre_one_point_is_the_midpoint() -> None:
    model, x, b = _cubic()
    a, d = model.a.detach(), x - b
    expected = a * (x**3 - b**3) - 3 * a * d**3 / 12
    torch.testing.assert_close(ig(model, x, b, n_steps=1), expected, **EXACT)


@pytest.mark.parametrize("rule", ["riemann_middle", "gausslegendre"])
def test_ig_sine_matches_closed_form(rule: str) -> None:
    # IG_i = a_i (sin x_i - sin x'_i). GL(12) on a_i d_i cos(x'_i + alpha d_i), |d_i| <= 3:
    # error ~ (|d|/2)^(2n) / (2n)! < 1e-14.
    # Midpoint: |E| <= max|h''| / (24 n^2) = |a d^3| / (24 n^2).
    model = SineModel([1.0, -0.5, 2.0])
    x = torch.tensor([[1.0, 2.5, -0.3], [0.2, -1.0, 1.7]], dtype=F64)
    b = torch.tensor([[-1.0, 0.0, 0.4], [0.0, 0.5, -1.0]], dtype=F64)
    a, d = model.a.detach(), x - b
    exact = a * (torch.sin(x) - torch.sin(b))
    n = 12 if rule == "gausslegendre" else 200
    attr = ig(model, x, b, n_steps=n, rule=rule)
    if rule == "gausslegendre":
        torch.testing.assert_close(attr, exact, **EXACT)
    else:
        bound = (a * d**3).abs() / (24 * n**2)
        assert ((attr - exact).abs() <= bound + 1e-15).all()
        assert ((attr - exact).abs() > bound / 100).any()  # it is a real O(1/n^2) error


# ================================================================ IG: seed-004 cases


@pytest.mark.parametrize("n", [2, 8, 50, 64])
@pytest.mark.parametrize("rule", ["gausslegendre", "riemann_middle"])
def test_relu_toy_exact_with_even_symmetric_rules(rule: str, n: int) -> None:
    # Path (3a, a): ReLU(2a - 1) is active for a > 1/2 with gradient (1, -1), so
    # IG = (3 * 1/2, 1 * (-1/2)) = (1.5, -0.5), F(x) - F(x') = 1. With n even, GL nodes
    # and midpoints are symmetric about 1/2 and none is at 1/2: the weights above the
    # kink sum to exactly 1/2, so these rules are exact despite the kink.
    x1 = torch.tensor([[3.0]], dtype=F64)
    x2 = torch.tensor([[1.0]], dtype=F64)
    det = ig.details(ReluToy(), (x1, x2), n_steps=n, rule=rule)
    (a1, a2), delta = det.attributions, det.delta
    torch.testing.assert_close(a1, torch.tensor([[1.5]], dtype=F64), **EXACT)
    torch.testing.assert_close(a2, torch.tensor([[-0.5]], dtype=F64), **EXACT)
    assert abs(float(delta)) < 1e-12


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("n", [7, 51, 400])
def test_relu_toy_error_bounded_by_one_weight(rule: str, n: int) -> None:
    # The integrand is a step at alpha = 1/2; a rule misplaces at most the weight of the
    # point(s) next to the step: |IG_i - exact_i| <= |d_i| * max_k w_k (-> 0 as 1/n).
    x = (torch.tensor([[3.0]], dtype=F64), torch.tensor([[1.0]], dtype=F64))
    base = (torch.zeros(1, 1, dtype=F64), torch.zeros(1, 1, dtype=F64))
    det = ig.details(ReluToy(), x, base, n_steps=n, rule=rule)
    max_w = float(det.weights.max())
    a1, a2 = (float(t) for t in det.attributions)
    assert abs(a1 - 1.5) <= 3 * max_w + 1e-14
    assert abs(a2 + 0.5) <= 1 * max_w + 1e-14
    assert abs(float(det.delta) - (a1 + a2 - 1.0)) < 1e-14


def test_x_exp_y_closed_form() -> None:
    # F(x, y) = x e^y from (x', y') = (-0.5, -0.25) to (0.5, 0.5): d = (1, 0.75),
    # x(a) = -0.5 + a, y(a) = -0.25 + 0.75 a.
    # IG_x = 1 * int_0^1 e^{y(a)} da = (e^{0.5} - e^{-0.25}) / 0.75
    # IG_y = 0.75 int_0^1 x(a) e^{y(a)} da = int_{-0.25}^{0.5} (-1/6 + 4u/3) e^u du   (u = y)
    #      = [(4u/3 - 3/2) e^u]_{-0.25}^{0.5} = -(5/6) e^{0.5} + (11/6) e^{-0.25}
    # Sum = 0.5 e^{0.5} + 0.5 e^{-0.25} = F(x) - F(x') = 1.21376...
    e5, e25 = math.exp(0.5), math.exp(-0.25)
    ig_x = (e5 - e25) / 0.75
    ig_y = -5 / 6 * e5 + 11 / 6 * e25
    total = 0.5 * e5 + 0.5 * e25
    assert abs(ig_x + ig_y - total) < 1e-15 and abs(total - 1.21376) < 1e-5
    x = (torch.tensor([[0.5]], dtype=F64), torch.tensor([[0.5]], dtype=F64))
    base = (torch.tensor([[-0.5]], dtype=F64), torch.tensor([[-0.25]], dtype=F64))
    # GL(16) on smooth exponentials over [0, 1] with rate 0.75: error far below 1e-14.
    det = ig.details(XExpY(), x, base, n_steps=16)
    (ax, ay), delta = det.attributions, det.delta
    assert abs(float(ax) - ig_x) < 1e-13
    assert abs(float(ay) - ig_y) < 1e-13
    assert abs(float(delta)) < 1e-13
    assert abs(float(XExpY()(*x) - XExpY()(*base)) - total) < 1e-15


# ================================================================ IDG


@pytest.mark.parametrize(
    ("schedule", "rule"),
    [("uniform", rule) for rule in RULES]
    + [("pilot", rule) for rule in RULES if rule != "riemann_trapezoid"]  # refused: below
    + [("graded", None)],
)
@pytest.mark.parametrize("n", [3, 10, 32])
def test_idg_linear_equals_ig(schedule: str, rule: str | None, n: int) -> None:
    # F' = w . d is constant along the path: raw IDG_i = d_i w_i (w . d) and the sum of
    # raw attributions is (w . d)^2, so the normalised IDG is d_i w_i = IG_i exactly.
    w = _randn(5, seed=20)
    model = LinearModel(w, bias=-0.4)
    x, b = _randn(3, 5, seed=21), _randn(3, 5, seed=22)
    d = x - b
    options = {"schedule": schedule} if rule is None else {"schedule": schedule, "rule": rule}
    det = idg.details(model, x, b, n_steps=n, **options)
    attr, delta = det.attributions, det.delta
    torch.testing.assert_close(attr, d * w, **EXACT)
    torch.testing.assert_close(attr, ig(model, x, b, n_steps=2), **EXACT)
    assert delta.abs().max() < 1e-12
    raw = idg(model, x, b, n_steps=n, normalize=False, **options)
    torch.testing.assert_close(raw, d * w * (d @ w)[:, None], **EXACT)


def test_idg_pilot_trapezoid_and_graded_rule_are_refused_clearly() -> None:
    model = LogisticBenchmark()
    x = torch.ones(1, 3, dtype=F64)
    # The trapezoid rule needs both ends of each pilot interval (2 points), which the
    # neighbouring interval evaluates too: refused, with a message about the pilot schedule.
    with pytest.raises(ValueError, match="pilot schedule.*riemann_trapezoid"):
        idg(model, x, n_steps=32, schedule="pilot", rule="riemann_trapezoid")
    # the graded schedule picks its own rules
    with pytest.raises(ValueError, match="graded schedule chooses its own rules"):
        idg(model, x, n_steps=32, rule="gausslegendre")


# ---------------------------------------------------------------- logistic benchmark


def _logistic_integrands(alpha: np.ndarray | float, d: np.ndarray) -> np.ndarray:
    """``(len(alpha), 4)``: the three raw IDG integrands d_i g_i F' and F'^2 (baseline 0)."""
    a = np.atleast_1d(np.asarray(alpha, dtype=np.float64))
    g = LogisticBenchmark.gradient_np(np.multiply.outer(a, d))
    fp = g @ d
    return np.concatenate([d * g * fp[:, None], (fp**2)[:, None]], 1)


def _logistic_reference(d: np.ndarray) -> np.ndarray:
    """Raw IDG (3 values) and integral of F'^2, by adaptive quadrature (scipy)."""
    return np.array(
        [
            _quad(lambda a, i=i: float(_logistic_integrands(a, d)[0, i]), points=[0.8 / d[0]])
            for i in range(4)
        ]
    )


def _slope(alpha: float, d: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """phi'(alpha) of the four integrands, fourth-order central differences."""

    def f(t: float) -> np.ndarray:
        return _logistic_integrands(t, d)[0]

    return (-f(alpha + 2 * h) + 8 * f(alpha + h) - 8 * f(alpha - h) + f(alpha - 2 * h)) / (12 * h)


LOGISTIC_X = np.array([1.0, 1.0, 1.0])


def test_logistic_reference_is_consistent() -> None:
    ref = _logistic_reference(LOGISTIC_X)
    # Sum of raw IDG = int F'^2; the decision feature carries almost everything.
    assert abs(ref[:3].sum() - ref[3]) < 1e-10 * ref[3]
    assert ref[0] > 100 * ref[1] > 0


def test_idg_logistic_gauss_legendre_matches_quad() -> None:
    # The integrands are analytic with poles at alpha = 0.8 +- i pi/50; GL converges like
    # rho^(-2n) with rho ~ 1.16 (Bernstein ellipse through the poles), so n = 128 is at
    # rounding level: rtol 1e-12.
    model = LogisticBenchmark()
    x = torch.tensor(LOGISTIC_X[None], dtype=F64)
    ref = _logistic_reference(LOGISTIC_X)
    delta_f = float(model(x) - model(0 * x))
    expected = ref[:3] * delta_f / ref[3]
    det = idg.details(model, x, n_steps=128, schedule="uniform", rule="gausslegendre")
    np.testing.assert_allclose(det.attributions[0].numpy(), expected, rtol=1e-12, atol=0)
    assert abs(float(det.attributions.sum()) - delta_f) < 1e-13
    raw = idg(model, x, n_steps=128, schedule="uniform", rule="gausslegendre", normalize=False)
    np.testing.assert_allclose(raw[0].numpy(), ref[:3], rtol=1e-12, atol=0)
    # The raw sum is int F'(alpha)^2 d alpha, and exactly the schedule's sum of w F'^2.
    assert abs(float(raw.sum()) - ref[3]) < 1e-12 * ref[3]
    assert abs(float(raw.sum()) - float((det.weights * det.derivatives**2).sum())) < 1e-12 * ref[3]


@pytest.mark.parametrize("rule,coef", [("riemann_middle", -1 / 24), ("riemann_trapezoid", 1 / 12)])
@pytest.mark.parametrize("n", [128, 256])
def test_idg_logistic_uniform_error_is_euler_maclaurin(rule: str, coef: float, n: int) -> None:
    # Uniform composite rule with spacing h: error = coef h^2 [phi'(1) - phi'(0)] + O(h^4).
    # At n >= 128 the O(h^4) term is < 1% of the leading one (measured < 0.5%).
    model = LogisticBenchmark()
    x = torch.tensor(LOGISTIC_X[None], dtype=F64)
    ref = _logistic_reference(LOGISTIC_X)
    det = idg.details(model, x, n_steps=n, schedule="uniform", rule=rule, normalize=False)
    got = np.concatenate(
        [det.attributions[0].numpy(), [float((det.weights * det.derivatives**2).sum())]]
    )
    h = 1 / n if rule == "riemann_middle" else 1 / (n - 1)
    leading = coef * h**2 * (_slope(1.0, LOGISTIC_X) - _slope(0.0, LOGISTIC_X))
    np.testing.assert_allclose(got - ref, leading, rtol=0.02, atol=1e-14)
    assert abs(got[:3].sum() - got[3]) < 1e-12 * got[3]
    # Normalised: propagate the raw errors (first order) with a 10% margin.
    delta_f = float(model(x) - model(0 * x))
    norm = idg(model, x, n_steps=n, schedule="uniform", rule=rule)[0].numpy()
    expected = ref[:3] * delta_f / ref[3]
    bound = delta_f / ref[3] * (np.abs(leading[:3]) + np.abs(ref[:3]) * abs(leading[3]) / ref[3])
    assert (np.abs(norm - expected) <= 1.1 * bound + 1e-14).all()


@pytest.mark.parametrize("n", [128, 256])
def test_idg_logistic_pilot_error_is_composite_midpoint(n: int) -> None:
    # The pilot schedule (midpoints inside each pilot interval [j/N, (j+1)/N], c_j points of
    # spacing h_j = 1/(N c_j), which is also each point's weight): the error is
    # -sum_j (h_j^2 / 24) [phi'((j+1)/N) - phi'(j/N)] + O(h^4). Measured: within 1% at n >= 128.
    model = LogisticBenchmark()
    x = torch.tensor(LOGISTIC_X[None], dtype=F64)
    ref = _logistic_reference(LOGISTIC_X)
    det = idg.details(model, x, n_steps=n, schedule="pilot", rule="riemann_middle", normalize=False)
    n_pilot = det.pilot_alphas.shape[1] - 1
    assert n_pilot == idgrad.default_pilot_steps(n)
    alphas, weights = det.alphas[0].numpy(), det.weights[0].numpy()
    leading = np.zeros(4)
    for j in range(n_pilot):
        lo, hi = j / n_pilot, (j + 1) / n_pilot
        inside = (alphas > lo) & (alphas < hi)
        c = int(inside.sum())
        assert c >= 1  # n >= N: no interval is starved
        np.testing.assert_allclose(weights[inside], 1 / (n_pilot * c), rtol=1e-12)
        np.testing.assert_allclose(
            np.sort(alphas[inside]), lo + (np.arange(c) + 0.5) / (n_pilot * c), rtol=1e-12
        )
        leading -= (1 / (n_pilot * c)) ** 2 / 24 * (_slope(hi, LOGISTIC_X) - _slope(lo, LOGISTIC_X))
    got = np.concatenate(
        [det.attributions[0].numpy(), [float((det.weights * det.derivatives**2).sum())]]
    )
    np.testing.assert_allclose(got - ref, leading, rtol=0.02, atol=1e-14)


# ---------------------------------------------------------------- x exp(y)


# Along the path from (-0.5, -0.25) to (0.5, 0.5): x(a) = -0.5 + a, y(a) = -0.25 + 0.75 a,
# grad F = (e^y, x e^y), F'(a) = e^y (1 + 0.75 x), e^{2y} = e^{1.5 a - 0.5}. Each IDG integrand
# is a polynomial p(a) times e^{1.5 a - 0.5}:
#   raw IDG_x integrand  1 * e^y * F'      = (0.625 + 0.75 a) e^{1.5a - 0.5}
#   raw IDG_y integrand  0.75 x e^y * F'   = 0.75 (a - 0.5)(0.625 + 0.75 a) e^{1.5a - 0.5}
#   F'^2                                   = (0.625 + 0.75 a)^2 e^{1.5a - 0.5}
_XEY_POLYS = (
    np.polynomial.Polynomial([0.625, 0.75]),
    0.75 * np.polynomial.Polynomial([-0.5, 1.0]) * np.polynomial.Polynomial([0.625, 0.75]),
    np.polynomial.Polynomial([0.625, 0.75]) ** 2,
)


def _xey_integrand(k: int, a: np.ndarray | float, order: int = 0) -> np.ndarray:
    """``order``-th derivative of integrand ``k``: e^{..} sum_m C(order, m) 1.5^(order-m) p^(m)."""
    p = _XEY_POLYS[k]
    a = np.asarray(a, dtype=np.float64)
    total = sum(
        math.comb(order, m) * 1.5 ** (order - m) * p.deriv(m)(a) for m in range(min(order, 3) + 1)
    )
    return total * np.exp(1.5 * a - 0.5)


def _gauss_legendre_error_bound(k: int, alphas: np.ndarray, n_pilot: int) -> float:
    """Composite GL error bound, summed over pilot intervals [j/N, (j+1)/N] with c_j points:
    h^(2c+1) (c!)^4 / ((2c+1) ((2c)!)^3) max |phi^(2c)| (max on a fine grid, +1%)."""
    bound = 0.0
    for j in range(n_pilot):
        lo, hi = j / n_pilot, (j + 1) / n_pilot
        c = int(((alphas > lo) & (alphas < hi)).sum())
        assert c >= 1
        grid = np.linspace(lo, hi, 201)
        peak = 1.01 * np.abs(_xey_integrand(k, grid, 2 * c)).max()
        h = hi - lo
        bound += (
            h ** (2 * c + 1)
            * math.factorial(c) ** 4
            / ((2 * c + 1) * math.factorial(2 * c) ** 3)
            * peak
        )
    return bound


def test_idg_x_exp_y_matches_quad() -> None:
    # gamma(a) = (x(a), y(a)) = (-0.5 + a, -0.25 + 0.75 a); grad F = (e^y, x e^y);
    # F'(a) = e^y (1 + 0.75 x). Raw IDG_x = int 1 * e^y F' da, raw IDG_y = int 0.75 x e^y F' da.
    # Entire integrands: GL(16) (uniform, or GL inside the pilot schedule's intervals) is exact to
    # rounding.
    def path(a: float) -> tuple[float, float]:
        return -0.5 + a, -0.25 + 0.75 * a

    def fprime(a: float) -> float:
        xa, ya = path(a)
        return math.exp(ya) * (1 + 0.75 * xa)

    raw_x = _quad(lambda a: math.exp(path(a)[1]) * fprime(a))
    raw_y = _quad(lambda a: 0.75 * path(a)[0] * math.exp(path(a)[1]) * fprime(a))
    total = _quad(lambda a: fprime(a) ** 2)
    assert abs(raw_x + raw_y - total) < 1e-13
    for k, value in enumerate((raw_x, raw_y, total)):  # the polynomial forms agree with quad
        assert abs(_quad(lambda a, k=k: float(_xey_integrand(k, a))) - value) < 1e-13
    delta_f = 0.5 * math.exp(0.5) + 0.5 * math.exp(-0.25)
    x = (torch.tensor([[0.5]], dtype=F64), torch.tensor([[0.5]], dtype=F64))
    base = (torch.tensor([[-0.5]], dtype=F64), torch.tensor([[-0.25]], dtype=F64))
    ref = np.array([raw_x, raw_y, total])

    # Uniform GL(16): the 32nd derivative bound makes the error < 1e-30: exact to rounding.
    ax, ay = idg(XExpY(), x, base, n_steps=16, schedule="uniform", rule="gausslegendre")
    assert abs(float(ax) - raw_x * delta_f / total) < 1e-13
    assert abs(float(ay) - raw_y * delta_f / total) < 1e-13
    rx, ry = idg(
        XExpY(), x, base, n_steps=16, schedule="uniform", rule="gausslegendre", normalize=False
    )
    np.testing.assert_allclose([float(rx), float(ry), float(rx + ry)], ref, rtol=1e-13, atol=0)

    # The pilot schedule: GL with c_j points inside each pilot interval; check against the
    # composite GL error bound (pieces with one point are midpoints, error ~h^3).
    for n in (16, 48):
        det = idg.details(
            XExpY(), x, base, n_steps=n, schedule="pilot", rule="gausslegendre", normalize=False
        )
        alphas = det.alphas[0].numpy()
        n_pilot = det.pilot_alphas.shape[1] - 1
        bounds = np.array([_gauss_legendre_error_bound(k, alphas, n_pilot) for k in range(3)])
        got = np.array(
            [
                float(det.attributions[0]),
                float(det.attributions[1]),
                float((det.weights * det.derivatives**2).sum()),
            ]
        )
        assert (np.abs(got - ref) <= bounds + 1e-14).all(), (got - ref, bounds)
        ax, ay = idg(XExpY(), x, base, n_steps=n, schedule="pilot", rule="gausslegendre")
        norm_bound = delta_f / total * (bounds[:2] + np.abs(ref[:2]) * bounds[2] / total)
        expected = ref[:2] * delta_f / total
        assert (
            np.abs(np.array([float(ax), float(ay)]) - expected) <= 1.1 * norm_bound + 1e-14
        ).all()
        assert abs(float(ax + ay) - delta_f) < 1e-13
