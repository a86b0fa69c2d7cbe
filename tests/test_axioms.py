"""The attribution axioms of Sundararajan et al. (2017), for IG and, where they apply, IDG.

* completeness: IG sums to F(x) - F(x') up to the rule's quadrature error, which the
  convergence delta reports and which shrinks at the rule's rate; normalised IDG sums
  to F(x) - F(x') exactly, and its delta is the (honest) error before rescaling;
* sensitivity: a feature that differs from the baseline and changes the output gets
  a non-zero attribution (also where the gradient at x is zero);
* dummy: a feature the model ignores gets exactly 0;
* implementation invariance: two networks computing the same function get the same
  attributions;
* linearity (IG only: IDG weights by F', which is not linear in F);
* symmetry preservation: a function symmetric in two features, with equal values of
  both in the input and in the baseline, gives them equal attributions.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from models import SineModel, SmallMLP, SymmetricModel, split_mlp_equivalent
from torch import nn

from idgrad import integrated_decision_gradients as idg
from idgrad import integrated_gradients as ig
from idgrad.methods.registry import get_method

F64 = torch.float64
RULES = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre")


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _attr_delta(d: Any) -> tuple[Any, torch.Tensor]:
    return d.attributions, d.delta


def _sums(attr: torch.Tensor | tuple[torch.Tensor, ...]) -> torch.Tensor:
    parts = attr if isinstance(attr, tuple) else (attr,)
    return torch.stack([a.flatten(1).sum(1) for a in parts]).sum(0)


class _At24Steps:
    """A registered method called as ``(model, x, b, **kw)``, 24 steps unless told, with
    the options in ``fixed`` (the schedule)."""

    def __init__(self, name: str, **fixed: Any) -> None:
        self.spec = get_method(name)
        self.fixed = fixed

    def __call__(self, m: Any, x: Any, b: Any, n_steps: int = 24, **kw: Any) -> Any:
        return self.spec(m, x, b, n_steps=n_steps, **self.fixed, **kw)

    def details(self, m: Any, x: Any, b: Any, n_steps: int = 24, **kw: Any) -> Any:
        return self.spec.details(m, x, b, n_steps=n_steps, **self.fixed, **kw)


# Both methods with the variants that matter: IDG on each of its schedules.
METHODS = {
    "ig": _At24Steps("ig"),
    "idg_uniform": _At24Steps("idg", schedule="uniform"),
    "idg_pilot": _At24Steps("idg", schedule="pilot"),
    "idg_graded": _At24Steps("idg"),
}
#: The variants that take a rule (the graded schedule picks its own).
RULED = ("ig", "idg_uniform", "idg_pilot")


# ================================================================ completeness


def _sine_case() -> tuple[SineModel, torch.Tensor, torch.Tensor]:
    model = SineModel([1.0, -0.7, 1.3, 0.4])
    x = torch.tensor([[1.2, -0.8, 2.0, 0.3], [0.5, 1.5, -1.0, 2.2]], dtype=F64)
    b = torch.tensor([[0.0, 0.4, -0.5, 1.0], [-0.6, 0.0, 0.3, -0.4]], dtype=F64)
    return model, x, b


@pytest.mark.parametrize(
    "rule,ratio",
    [
        ("riemann_left", 2.0),  # error ~ c h, h = 1/n
        ("riemann_right", 2.0),
        ("riemann_middle", 4.0),  # error ~ c h^2, h = 1/n
        ("riemann_trapezoid", (63 / 31) ** 2),  # error ~ c h^2, h = 1/(n - 1)
    ],
)
def test_ig_delta_shrinks_at_the_rule_rate(rule: str, ratio: float) -> None:
    # For a smooth integrand the leading error term is c h^p, so going from n = 32 to 64
    # divides the delta by the ratio of h^p, up to the next order's relative size
    # (O(h): ~1.5% here for left/right; O(h^2) for middle/trapezoid). Tolerance 3%.
    model, x, b = _sine_case()
    det = ig.details(model, x, b, n_steps=32, rule=rule)
    _, d1 = det.attributions, det.delta
    det = ig.details(model, x, b, n_steps=64, rule=rule)
    _, d2 = det.attributions, det.delta
    assert (d1.abs() > 1e-6).all()  # a real quadrature error, not zero by construction
    observed = d1 / d2
    assert ((observed - ratio).abs() < 0.03 * ratio).all(), observed


def test_ig_delta_gauss_legendre_is_spectral() -> None:
    # GL(n) is exact to degree 2n - 1; for sin over |d| <= 3 the error falls like
    # (|d|/2)^(2n) / (2n)!: ~1e-3 at n = 2, below rounding at n = 12.
    model, x, b = _sine_case()
    det = ig.details(model, x, b, n_steps=2)
    _, d2 = det.attributions, det.delta
    det = ig.details(model, x, b, n_steps=12)
    _, d12 = det.attributions, det.delta
    assert (d2.abs() > 1e-6).all()
    assert (d12.abs() < 1e-13).all()


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("n", [2, 7])
def test_ig_delta_is_the_completeness_gap(rule: str, n: int) -> None:
    # delta = sum(IG) - (F(x) - F(x')), with F evaluated here, independently.
    model = SmallMLP(seed=3)
    x, b = _randn(5, 6, seed=1), _randn(5, 6, seed=2)
    target = torch.tensor([0, 1, 2, 3, 1])
    det = ig.details(model, x, b, target=target, n_steps=n, rule=rule)
    attr, delta = det.attributions, det.delta
    rows = torch.arange(5)
    with torch.no_grad():
        gap = model(x)[rows, target] - model(b)[rows, target]
    torch.testing.assert_close(delta, attr.sum(1) - gap, rtol=0, atol=1e-13)
    assert delta.abs().max() > 1e-8  # low n: the gap is real and reported


@pytest.mark.parametrize(
    "method, rule",
    [
        (method, rule)
        for method in ("idg_uniform", "idg_pilot")
        for rule in ("riemann_middle", "gausslegendre", "riemann_left")
    ]
    + [("idg_graded", None)],
)
def test_idg_normalised_is_complete_and_delta_is_honest(method: str, rule: str | None) -> None:
    model = SmallMLP(seed=4)
    x, b = _randn(4, 6, seed=5), _randn(4, 6, seed=6) * 0.2
    target = torch.tensor([3, 0, 2, 1])
    kw: dict[str, Any] = {"target": target, "n_steps": 6}
    if rule is not None:
        kw["rule"] = rule
    det = METHODS[method].details(model, x, b, **kw)
    attr, delta = det.attributions, det.delta
    rows = torch.arange(4)
    with torch.no_grad():
        gap = model(x)[rows, target] - model(b)[rows, target]
    torch.testing.assert_close(attr.sum(1), gap, rtol=1e-12, atol=1e-12)
    # The delta is measured before the rescaling: the quadrature error of int F' on
    # the schedule, which is not zero at 6 points.
    det = METHODS[method].details(model, x, b, **kw)
    torch.testing.assert_close(
        delta, (det.weights * det.derivatives).sum(1) - gap, rtol=0, atol=1e-13
    )
    assert delta.abs().max() > 1e-10


@pytest.mark.parametrize("rule", RULES)
def test_idg_uniform_delta_equals_ig_delta(rule: str) -> None:
    # On the same uniform schedule, both deltas are sum_k w_k F'(alpha_k) - (F(x) - F(x')).
    model = SmallMLP(seed=5)
    x, b = _randn(3, 6, seed=7), _randn(3, 6, seed=8)
    det = ig.details(model, x, b, target=2, n_steps=9, rule=rule)
    _, d_ig = det.attributions, det.delta
    det = idg.details(model, x, b, target=2, n_steps=9, schedule="uniform", rule=rule)
    _, d_idg = det.attributions, det.delta
    torch.testing.assert_close(d_idg, d_ig, rtol=0, atol=1e-13)


# ================================================================ sensitivity


@pytest.mark.parametrize("method", list(METHODS))
def test_sensitivity_single_differing_feature_gets_the_change(method: str) -> None:
    # Input and baseline differ in feature 2 only, and the output changes: feature 2
    # gets a non-zero attribution, every other feature exactly 0 (x_i - x'_i = 0).
    model = SmallMLP(seed=6)
    x = _randn(3, 6, seed=9)
    b = x.clone()
    b[:, 2] = x[:, 2] - 1.5
    det = METHODS[method].details(model, x, b, target=1)
    attr, delta = det.attributions, det.delta
    with torch.no_grad():
        gap = model(x)[:, 1] - model(b)[:, 1]
    assert (gap.abs() > 1e-3).all()
    others = torch.cat([attr[:, :2], attr[:, 3:]], 1)
    assert torch.equal(others, torch.zeros_like(others))
    assert (attr[:, 2].abs() > 1e-3).all()
    if method == "ig":
        torch.testing.assert_close(attr[:, 2] - gap, delta, rtol=0, atol=1e-13)
    else:  # normalised IDG: all of the change, exactly
        torch.testing.assert_close(attr[:, 2], gap, rtol=1e-12, atol=1e-13)


class _Saturating(nn.Module):
    """F(x) = 1 - ReLU(1 - x): F(0) = 0, F(2) = 1, but dF/dx = 0 at x = 2 (IG paper, sec. 2.1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (1 - torch.relu(1 - x)).sum(1)


@pytest.mark.parametrize("method", list(METHODS))
def test_sensitivity_where_the_gradient_at_the_input_is_zero(method: str) -> None:
    x = torch.tensor([[2.0]], dtype=F64, requires_grad=True)
    _Saturating()(x).sum().backward()
    assert float(x.grad) == 0.0  # gradient x input would give 0
    # Midpoints with n even (24) never land on the kink at alpha = 1/2 and half lie
    # below it, so IG = 2 * 1/2 = 1 exactly; normalised IDG is complete: also 1 (on the
    # graded schedule, which picks its own rule, too).
    kw = {"rule": "riemann_middle"} if method in RULED else {}
    attr = METHODS[method](_Saturating(), x.detach(), None, **kw)
    torch.testing.assert_close(attr, torch.ones(1, 1, dtype=F64), rtol=1e-12, atol=1e-12)


# ================================================================ dummy


class _IgnoresLastFeatures(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mlp = SmallMLP(n_features=3, seed=7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x[:, :3])


class _IgnoresSecondInput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mlp = SmallMLP(n_features=4, seed=8)

    def forward(self, x: torch.Tensor, unused: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


@pytest.mark.parametrize("method", list(METHODS))
def test_dummy_feature_gets_exactly_zero(method: str) -> None:
    x, b = _randn(4, 5, seed=10), _randn(4, 5, seed=11)
    attr = METHODS[method](_IgnoresLastFeatures(), x, b, target=0)
    assert torch.equal(attr[:, 3:], torch.zeros(4, 2, dtype=F64))
    assert (attr[:, :3].abs() > 0).all()


@pytest.mark.parametrize("method", list(METHODS))
def test_dummy_input_tensor_gets_exactly_zero(method: str) -> None:
    x = (_randn(3, 4, seed=12), _randn(3, 2, 2, seed=13))
    b = (_randn(3, 4, seed=14), _randn(3, 2, 2, seed=15))
    a_used, a_unused = METHODS[method](_IgnoresSecondInput(), x, b, target=2)
    assert torch.equal(a_unused, torch.zeros(3, 2, 2, dtype=F64))
    assert a_used.shape == (3, 4) and (a_used.abs() > 0).all()


# ================================================================ implementation invariance


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("method", list(METHODS))
def test_implementation_invariance(activation: str, method: str) -> None:
    # Same function, different networks (duplicated hidden units read with half weight,
    # last layer split into two linear maps): equal up to float rounding (~1e-15).
    net = SmallMLP(activation=activation, seed=9)
    twin = split_mlp_equivalent(net)
    x, b = _randn(4, 6, seed=16), _randn(4, 6, seed=17)
    with torch.no_grad():
        assert (net(x) - twin(x)).abs().max() < 1e-13
        assert sum(p.numel() for p in twin.parameters()) > sum(p.numel() for p in net.parameters())
    target = torch.tensor([0, 3, 1, 2])
    a_net = METHODS[method](net, x, b, target=target)
    a_twin = METHODS[method](twin, x, b, target=target)
    torch.testing.assert_close(a_twin, a_net, rtol=1e-10, atol=1e-12)


# ================================================================ linearity (IG)


@pytest.mark.parametrize("rule", ["gausslegendre", "riemann_middle", "riemann_trapezoid"])
def test_ig_linearity(rule: str) -> None:
    f1, f2 = SmallMLP(seed=10), SmallMLP(seed=11, activation="softplus")
    a, c = 2.5, -0.75

    def combined(x: torch.Tensor) -> torch.Tensor:
        return a * f1(x) + c * f2(x)

    x, b = _randn(4, 6, seed=18), _randn(4, 6, seed=19)
    target = torch.tensor([1, 0, 3, 2])
    kw: dict[str, Any] = {
        "baselines": b,
        "target": target,
        "n_steps": 10,
        "rule": rule,
    }
    attr, delta = _attr_delta(ig.details(combined, x, **kw))
    attr1, delta1 = _attr_delta(ig.details(f1, x, **kw))
    attr2, delta2 = _attr_delta(ig.details(f2, x, **kw))
    torch.testing.assert_close(attr, a * attr1 + c * attr2, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(delta, a * delta1 + c * delta2, rtol=1e-12, atol=1e-12)
    assert (attr1 - attr2).abs().max() > 1e-2  # the two models really differ


def test_idg_is_not_linear() -> None:
    # IDG weights the gradient by F', which is not linear in F: document that the
    # linearity axiom does not carry over (a guard against testing it by mistake).
    f1, f2 = SmallMLP(seed=10), SmallMLP(seed=11, activation="softplus")
    x, b = _randn(2, 6, seed=18), _randn(2, 6, seed=19)

    def combined(z: torch.Tensor) -> torch.Tensor:
        return f1(z) + f2(z)

    kw: dict[str, Any] = {
        "baselines": b,
        "target": 0,
        "n_steps": 16,
        "schedule": "uniform",
        "normalize": False,
    }
    lhs = idg(combined, x, **kw)
    rhs = idg(f1, x, **kw) + idg(f2, x, **kw)
    assert (lhs - rhs).abs().max() > 1e-3


# ================================================================ symmetry preservation


@pytest.mark.parametrize("method", list(METHODS))
def test_symmetry_preservation(method: str) -> None:
    model = SymmetricModel(n_features=4, seed=12)
    x = torch.tensor([[0.7, 0.7, -0.3, 1.1], [-1.2, -1.2, 0.5, 0.0]], dtype=F64)
    b = torch.tensor([[0.1, 0.1, 0.2, -0.4], [0.3, 0.3, -0.6, 0.9]], dtype=F64)
    attr = METHODS[method](model, x, b)
    torch.testing.assert_close(attr[:, 0], attr[:, 1], rtol=1e-14, atol=1e-15)
    assert (attr[:, 0].abs() > 1e-4).all()
    # Control: break the symmetry of the input and the two attributions part.
    x2 = x.clone()
    x2[:, 1] += 0.5
    attr2 = METHODS[method](model, x2, b)
    assert ((attr2[:, 0] - attr2[:, 1]).abs() > 1e-4).all()
