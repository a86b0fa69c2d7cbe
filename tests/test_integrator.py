"""The integrator: chunk invariance, call counting, bounded chunks, per-point weights."""

from __future__ import annotations

import pytest
import torch

import idgrad
from idgrad.core.seam import ModelSeam
from idgrad.engine.integrator import evaluate_path, integrate_path
from idgrad.engine.schedules import Schedule, uniform_schedule

D = torch.float64


class Counting(torch.nn.Module):
    """A small smooth CNN-ish model that records the rows of every call."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.conv = torch.nn.Conv1d(2, 4, 3, padding=1).double()
        self.head = torch.nn.Linear(4 * 6, 3).double()
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=D) * 0.5)
        self.rows: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows.append(int(x.shape[0]))
        return self.head(torch.tanh(self.conv(x)).flatten(1))


def _x(b: int = 5) -> torch.Tensor:
    return torch.randn(b, 2, 6, dtype=D)


@pytest.mark.parametrize("rule", idgrad.RULES)
@pytest.mark.parametrize("chunk", [1, 7, None])
def test_ig_identical_for_every_chunk_size(rule: str, chunk: int | None) -> None:
    model, x = Counting(), _x()
    t = torch.tensor([0, 2, 1, 1, 0])
    det = idgrad.integrated_gradients.details(model, x, target=t, n_steps=9, method=rule)
    ref, dref = det.attributions, det.delta
    det = idgrad.integrated_gradients.details(
        model, x, target=t, n_steps=9, method=rule, internal_batch_size=chunk
    )
    out, d = det.attributions, det.delta
    assert torch.allclose(out, ref, rtol=0, atol=1e-12)
    assert torch.allclose(d, dref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("adaptive", [True, False])
@pytest.mark.parametrize("chunk", [1, 7, None])
def test_idg_identical_for_every_chunk_size(adaptive: bool, chunk: int | None) -> None:
    model, x = Counting(), _x()
    ref = idgrad.integrated_decision_gradients.details(
        model, x, target=1, n_steps=11, adaptive=adaptive
    )
    out = idgrad.integrated_decision_gradients.details(
        model, x, target=1, n_steps=11, adaptive=adaptive, internal_batch_size=chunk
    )
    assert torch.allclose(out.attributions, ref.attributions, rtol=0, atol=1e-12)
    assert torch.allclose(out.delta, ref.delta, rtol=0, atol=1e-12)
    if adaptive:  # the graded nodes are computed from F and F', which a pass rounds by its shape
        torch.testing.assert_close(out.alphas, ref.alphas, rtol=0, atol=1e-14)
    else:
        assert torch.equal(out.alphas, ref.alphas)


def test_tuple_inputs_chunk_invariant() -> None:
    f = lambda a, b: torch.sin(a).sum(1) * torch.cos(b).sum(1)
    a, b = torch.rand(3, 4, dtype=D), torch.rand(3, 2, dtype=D)
    ref = idgrad.integrated_decision_gradients(f, (a, b), n_steps=10)
    for chunk in (1, 4, 29):
        out = idgrad.integrated_decision_gradients(f, (a, b), n_steps=10, internal_batch_size=chunk)
        for o, r in zip(out, ref):
            assert torch.allclose(o, r, rtol=0, atol=1e-12)


@pytest.mark.parametrize("chunk", [1, 3, 8, 40])
def test_model_calls_and_rows_are_bounded_by_the_chunk(chunk: int) -> None:
    model, x = Counting(), _x(4)
    idgrad.integrated_gradients(model, x, target=0, n_steps=10, internal_batch_size=chunk)
    # 4 * 10 gradient points in chunks of at most `chunk` rows (no end points: no details asked)
    assert len(model.rows) == -(-40 // chunk)
    assert max(model.rows) <= chunk
    assert sum(model.rows) == 40
    model.rows.clear()
    idgrad.integrated_gradients.details(model, x, target=0, n_steps=10, internal_batch_size=chunk)
    # ... + 4 * 2 end points (Gauss-Legendre has neither alpha = 0 nor 1), also chunked
    assert len(model.rows) == -(-40 // chunk) + -(-8 // chunk)
    assert max(model.rows) <= chunk
    assert sum(model.rows) == 48


def test_adaptive_idg_evaluations_are_counted_exactly() -> None:
    model, x = Counting(), _x(3)
    d = idgrad.integrated_decision_gradients.details(
        model, x, target=2, n_steps=20, n_pilot_steps=5, method="riemann_middle"
    )  # the pilot schedule (the graded one has no forward-only points)
    assert d.n_gradient_evals == 3 * 20
    assert d.n_forward_evals == 3 * 6
    assert sum(model.rows) == d.n_evaluations
    assert d.alphas.shape == (3, 20) and d.pilot_alphas.shape == (3, 6)


def test_one_pass_with_no_chunk_when_none() -> None:
    model, x = Counting(), _x(2)
    idgrad.integrated_gradients(model, x, target=0, n_steps=16)
    assert model.rows == [32]
    model.rows.clear()
    idgrad.integrated_gradients.details(model, x, target=0, n_steps=16)
    assert model.rows == [32, 4]


@pytest.mark.parametrize(
    "rule, forward_rows",
    [("riemann_trapezoid", 0), ("riemann_left", 3), ("riemann_right", 3), ("gausslegendre", 6)],
)
def test_end_points_are_reused_from_the_rule(rule: str, forward_rows: int) -> None:
    # a rule with alpha = 0 / 1 among its points has F(x') / F(x) already: no extra forward
    model, x = Counting(), _x(3)
    d = idgrad.integrated_gradients.details(model, x, target=1, n_steps=6, method=rule)
    assert d.n_forward_evals == forward_rows and sum(model.rows) == 18 + forward_rows
    with torch.no_grad():
        exact = model(x)[:, 1] - model(torch.zeros_like(x))[:, 1]
    assert torch.allclose(d.end - d.start, exact, atol=1e-12)
    u = idgrad.integrated_decision_gradients.details(
        model, x, target=1, n_steps=6, method=rule, adaptive=False
    )
    assert u.n_forward_evals == forward_rows
    assert torch.allclose(u.end - u.start, exact, atol=1e-12)


def test_outputs_and_derivatives_are_exact() -> None:
    # F(x) = sum x^3 along x' = 0: F(alpha) = alpha^3 S, F'(alpha) = 3 alpha^2 S
    f = lambda z: (z**3).sum(1)
    x = torch.rand(3, 4, dtype=D)
    seam = ModelSeam.build(f, (x,), None, None)
    sched = uniform_schedule(5, "riemann_left")
    p = integrate_path(seam, (x,), (torch.zeros_like(x),), sched, internal_batch_size=4)
    s = (x**3).sum(1, keepdim=True)
    a = sched.alphas
    assert torch.allclose(p.outputs, a**3 * s, atol=1e-14)
    assert torch.allclose(p.derivatives, 3 * a**2 * s, atol=1e-14)
    assert torch.allclose(
        evaluate_path(seam, (x,), (torch.zeros_like(x),), a.expand(3, -1), 2), p.outputs, atol=1e-15
    )


def test_per_example_schedule_weights_travel_with_points() -> None:
    # two examples with different schedules, cut by chunks that straddle them
    f = lambda z: (z**2).sum(1)
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0]], dtype=D)
    sched = Schedule(
        torch.tensor([[0.1, 0.5, 0.9], [0.2, 0.3, 0.7]], dtype=D),
        torch.tensor([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]], dtype=D),
    )
    seam = ModelSeam.build(f, (x,), None, None)
    for chunk in (1, 2, 4, None):
        p = integrate_path(seam, (x,), (torch.zeros_like(x),), sched, internal_batch_size=chunk)
        expected = torch.stack(
            [(sched.weights[b] * sched.alphas[b]).sum() * 2 * x[b] for b in range(2)]
        )
        assert torch.allclose(p.sums[0], expected, atol=1e-15)


def test_point_factor_multiplies_each_weight() -> None:
    f = lambda z: (z**2).sum(1)
    x = torch.tensor([[1.0, 2.0]], dtype=D)
    seam = ModelSeam.build(f, (x,), None, None)
    sched = uniform_schedule(3, "riemann_left")
    p = integrate_path(seam, (x,), (torch.zeros_like(x),), sched, point_factor=lambda v, d: v)
    a, w = sched.alphas[0], sched.weights[0]
    expected = (w * (a**2 * 5) * a).sum() * 2 * x
    assert torch.allclose(p.sums[0], expected, atol=1e-15)


def test_auto_chunk_size_follows_the_input_size() -> None:
    from idgrad.engine.integrator import AUTO_CHUNK_ELEMENTS, resolve_chunk_size

    cpu = AUTO_CHUNK_ELEMENTS["cpu"]
    image = torch.zeros(2, 3, 64, 64)
    assert resolve_chunk_size("auto", (image,)) == cpu // (3 * 64 * 64)
    # several inputs: one example of each counts
    assert resolve_chunk_size("auto", (image, torch.zeros(2, 1024))) == cpu // (3 * 64 * 64 + 1024)
    assert resolve_chunk_size("auto", (torch.zeros(1, 10),)) == 4096  # capped
    assert resolve_chunk_size("auto", (torch.zeros(1, 3, 2048, 2048),)) == 1  # never 0
    assert resolve_chunk_size(None, (image,)) is None
    assert resolve_chunk_size(5, (image,)) == 5
    with pytest.raises(TypeError, match="'big'"):
        resolve_chunk_size("big", (image,))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="internal_batch_size"):
        idgrad.integrated_gradients(lambda x: x.sum(1), torch.ones(1, 2), internal_batch_size="all")  # type: ignore[call-overload]


def test_auto_chunking_splits_large_inputs_and_changes_nothing() -> None:
    from idgrad.engine.integrator import resolve_chunk_size

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 2, 3), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.LazyLinear(2)
    ).double()
    x = torch.rand(3, 3, 96, 96, dtype=D)
    model(x)  # materialise the lazy layer
    rows: list[int] = []
    handle = model.register_forward_pre_hook(lambda m, a: rows.append(int(a[0].shape[0])))
    try:
        pilot = {"method": "riemann_middle"}  # one gradient pass (the graded schedule: rounds)
        auto = idgrad.integrated_decision_gradients.details(model, x, target=1, n_steps=40, **pilot)
        chunk = resolve_chunk_size("auto", (x,))
        assert chunk is not None and chunk < 3 * 40  # the default really splits this case
        assert max(rows) <= chunk
        assert sum(rows) == auto.n_evaluations
        rows.clear()
        one = idgrad.integrated_decision_gradients.details(
            model, x, target=1, n_steps=40, internal_batch_size=None, **pilot
        )
        assert max(rows) == 3 * 40  # None: every gradient point in one pass
    finally:
        handle.remove()
    assert torch.allclose(auto.attributions, one.attributions, rtol=0, atol=1e-12)
    assert torch.allclose(auto.delta, one.delta, rtol=0, atol=1e-12)
