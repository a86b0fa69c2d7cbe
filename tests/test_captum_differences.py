"""Where idgrad's captum-style classes differ from captum on purpose (README "Differences from
captum"): each test asserts our behaviour and names captum's.

The ``ValueError``-instead-of-``AssertionError`` row is tested with captum's own cases in
:mod:`test_captum_targets` (``test_simple_target_missing_error``, ``test_multi_target_error``).
"""

from __future__ import annotations

import pytest
import torch
from models import CountingModel

import idgrad

F64 = torch.float64


def _x() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    return torch.randn(3, 4, generator=g, dtype=F64), torch.randn(3, 4, generator=g, dtype=F64)


def test_trapezoid_weights_sum_to_one() -> None:
    # captum 0.9: riemann_trapezoid weights are 1/n, halved at both ends, so they sum to
    # (n - 1)/n and every attribution comes out (n - 1)/n too small (2% at 50 steps).
    # idgrad: the composite trapezoid rule on n points, weights summing to 1 - exact on a
    # linear model.
    w = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=F64)
    x, b = _x()
    attributions = idgrad.IntegratedGradients(lambda z: z @ w).attribute(
        x, b, method="riemann_trapezoid", n_steps=50
    )
    torch.testing.assert_close(attributions, (x - b) * w, rtol=0, atol=1e-13)


@pytest.mark.parametrize(("rule", "n"), [("riemann_middle", 10), ("gausslegendre", 3)])
def test_points_and_weights_are_float64(rule: str, n: int) -> None:
    # captum 0.9: step weights cast to float32 and Riemann points from a float32 linspace, so a
    # float64 model is integrated to ~1e-8 at best. idgrad: float64 points and weights; the
    # midpoint rule is exact for F = sum x^2 (its IG integrand is linear in alpha), 3-point
    # Gauss-Legendre for F = sum x^3 (quadratic integrand).
    power = 2 if rule == "riemann_middle" else 3
    x, b = _x()
    attributions = idgrad.IntegratedGradients(lambda z: (z**power).sum(1)).attribute(
        x, b, method=rule, n_steps=n
    )
    torch.testing.assert_close(attributions, x**power - b**power, rtol=0, atol=1e-13)


def test_default_chunking_is_automatic() -> None:
    # captum 0.9: internal_batch_size=None by default - all B * n_steps points in one forward
    # pass (its most-reported out-of-memory). idgrad: "auto" by default - chunks of about 0.5 M
    # input elements on the CPU; None still means one pass; the result is the same.
    model = CountingModel(lambda z: torch.tanh(z).flatten(1).sum(1))
    x = torch.rand(2, 3, 64, 64, dtype=F64)
    default = idgrad.IntegratedGradients(model).attribute(x, n_steps=50)
    assert model.calls > 1 and model.max_rows < 2 * 50
    model.reset()
    one_pass = idgrad.IntegratedGradients(model).attribute(x, n_steps=50, internal_batch_size=None)
    assert model.calls == 1 and model.max_rows == 2 * 50
    torch.testing.assert_close(default, one_pass, rtol=0, atol=1e-12)


def test_chunks_may_be_smaller_than_the_batch() -> None:
    # captum 0.9: an internal_batch_size below the number of examples is raised to it (with a
    # warning), so a pass always holds every example. idgrad: chunks cut across examples, so
    # internal_batch_size=1 means one point per pass, with the same result.
    model = CountingModel(lambda z: torch.tanh(z).sum(1))
    x, b = _x()
    chunked = idgrad.IntegratedGradients(model).attribute(x, b, n_steps=8, internal_batch_size=1)
    assert model.max_rows == 1
    whole = idgrad.IntegratedGradients(model).attribute(x, b, n_steps=8, internal_batch_size=None)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "cls", [idgrad.LayerIntegratedGradients, idgrad.LayerIntegratedDecisionGradients]
)
def test_layer_classes_refuse_device_ids(cls: type) -> None:
    # captum 0.9: device_ids scatters the model over GPUs with DataParallel for the layer
    # hooks. idgrad: refused with a ValueError (hook the plain model; one device per call).
    model = torch.nn.Sequential(torch.nn.Linear(3, 2))
    with pytest.raises(ValueError, match="device_ids"):
        cls(model, model[0], device_ids=[0])


def test_delta_without_multiplying_by_inputs_is_the_quadrature_error() -> None:
    # captum 0.9: with multiply_by_inputs=False the delta sums the returned multipliers m,
    # sum(m) - (F(x) - F(x')) (here -1.0 for an exact integral). idgrad: the delta stays
    # sum((x - x') m) - (F(x) - F(x')), as with True; compute_convergence_delta sums what it
    # is given.
    model = lambda a, b: torch.relu(torch.relu(a) - 1 - torch.relu(b)).sum(1)
    x = (torch.tensor([[3.0]], dtype=F64), torch.tensor([[1.0]], dtype=F64))
    zeros = (torch.zeros(1, 1, dtype=F64), torch.zeros(1, 1, dtype=F64))
    ig = idgrad.IntegratedGradients(model, multiply_by_inputs=False)
    multipliers, delta = ig.attribute(
        x, zeros, method="riemann_right", n_steps=500, return_convergence_delta=True
    )
    torch.testing.assert_close(multipliers[0], torch.tensor([[0.5]], dtype=F64))
    products = tuple(a * m for a, m in zip(x, multipliers))
    torch.testing.assert_close(delta, ig.compute_convergence_delta(products, zeros, x))
    assert abs(delta.item()) < 1e-12
    # the multipliers themselves sum to 0.5 - 0.5 = 0, i.e. a "delta" of -(F(x) - F(x')) = -1
    assert ig.compute_convergence_delta(multipliers, zeros, x).item() == pytest.approx(-1.0)
