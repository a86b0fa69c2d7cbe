"""The evaluator: chunk invariance, call counting, bounded chunks, per-point weights, paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import idgrad
from idgrad.core.seam import ModelSeam
from idgrad.engine.evaluator import Evaluator
from idgrad.engine.paths import StraightPath
from idgrad.engine.rules import Schedule, uniform_schedule

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


def _evaluator(
    f: object, x: torch.Tensor, chunk: int | None = None, decision_weighted: bool = False
) -> Evaluator:
    seam = ModelSeam.build(f, (x,), None, None)
    path = StraightPath((x,), (torch.zeros_like(x),))
    return Evaluator(seam, path, (x,), chunk, decision_weighted=decision_weighted)


@pytest.mark.parametrize("rule", idgrad.RULES)
@pytest.mark.parametrize("chunk", [1, 7, None])
def test_ig_identical_for_every_chunk_size(rule: str, chunk: int | None) -> None:
    model, x = Counting(), _x()
    t = torch.tensor([0, 2, 1, 1, 0])
    det = idgrad.integrated_gradients.details(model, x, target=t, n_steps=9, rule=rule)
    ref, dref = det.attributions, det.delta
    det = idgrad.integrated_gradients.details(
        model, x, target=t, n_steps=9, rule=rule, internal_batch_size=chunk
    )
    out, d = det.attributions, det.delta
    assert torch.allclose(out, ref, rtol=0, atol=1e-12)
    assert torch.allclose(d, dref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("schedule", idgrad.SCHEDULES)
@pytest.mark.parametrize("chunk", [1, 7, None])
def test_idg_identical_for_every_chunk_size(schedule: str, chunk: int | None) -> None:
    model, x = Counting(), _x()
    ref = idgrad.integrated_decision_gradients.details(
        model, x, target=1, n_steps=11, schedule=schedule
    )
    out = idgrad.integrated_decision_gradients.details(
        model, x, target=1, n_steps=11, schedule=schedule, internal_batch_size=chunk
    )
    assert torch.allclose(out.attributions, ref.attributions, rtol=0, atol=1e-12)
    assert torch.allclose(out.delta, ref.delta, rtol=0, atol=1e-12)
    assert torch.equal(out.evaluations, ref.evaluations)
    if schedule == "uniform":
        assert torch.equal(out.alphas, ref.alphas)
    else:  # nodes computed from F and F', which a pass rounds by its shape
        torch.testing.assert_close(out.alphas, ref.alphas, rtol=0, atol=1e-14)


def test_graded_idg_identical_for_every_chunk_size_past_the_probe() -> None:
    # n_steps >= 16: the graded schedule probes first and may map its points
    model, x = Counting(), _x()
    ref = idgrad.integrated_decision_gradients.details(model, x, target=1, n_steps=40)
    for chunk in (1, 7, None):
        out = idgrad.integrated_decision_gradients.details(
            model, x, target=1, n_steps=40, internal_batch_size=chunk
        )
        assert torch.allclose(out.attributions, ref.attributions, rtol=0, atol=1e-12)
        torch.testing.assert_close(out.alphas, ref.alphas, rtol=0, atol=1e-14)
        torch.testing.assert_close(out.error, ref.error, rtol=1e-9, atol=1e-15)


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


def test_pilot_idg_evaluations_are_counted_exactly() -> None:
    model, x = Counting(), _x(3)
    d = idgrad.integrated_decision_gradients.details(
        model, x, target=2, n_steps=20, n_pilot_steps=5, schedule="pilot"
    )
    assert d.n_gradient_evals == 3 * 20
    assert d.n_forward_evals == 3 * 6
    assert sum(model.rows) == d.n_evaluations
    assert d.evaluations.dtype == torch.int64 and d.evaluations.tolist() == [26] * 3
    assert d.alphas.shape == (3, 20) and d.pilot_alphas.shape == (3, 6)


@pytest.mark.parametrize("n_steps", [4, 40])
def test_graded_evaluations_are_counted_exactly(n_steps: int) -> None:
    # the graded schedule evaluates both ends as gradient points: n_steps + 2 per example
    model, x = Counting(), _x(3)
    for method in (idgrad.integrated_gradients, idgrad.integrated_decision_gradients):
        model.rows.clear()
        d = method.details(model, x, target=2, n_steps=n_steps, schedule="graded")
        assert isinstance(d, idgrad.GradedDetails)
        assert d.evaluations.dtype == torch.int64
        assert d.evaluations.tolist() == [n_steps + 2] * 3
        assert d.n_gradient_evals == 3 * (n_steps + 2) and d.n_forward_evals == 0
        assert sum(model.rows) == d.n_evaluations == int(d.evaluations.sum())


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
    d = idgrad.integrated_gradients.details(model, x, target=1, n_steps=6, rule=rule)
    assert d.n_forward_evals == forward_rows and sum(model.rows) == 18 + forward_rows
    assert d.evaluations.tolist() == [6 + forward_rows // 3] * 3
    with torch.no_grad():
        exact = model(x)[:, 1] - model(torch.zeros_like(x))[:, 1]
    assert torch.allclose(d.end - d.start, exact, atol=1e-12)
    u = idgrad.integrated_decision_gradients.details(
        model, x, target=1, n_steps=6, schedule="uniform", rule=rule
    )
    assert u.n_forward_evals == forward_rows
    assert u.evaluations.tolist() == [6 + forward_rows // 3] * 3
    assert torch.allclose(u.end - u.start, exact, atol=1e-12)


def test_outputs_and_derivatives_are_exact() -> None:
    # F(x) = sum x^3 along x' = 0: F(alpha) = alpha^3 S, F'(alpha) = 3 alpha^2 S
    f = lambda z: (z**3).sum(1)
    x = torch.rand(3, 4, dtype=D)
    sched = uniform_schedule(5, "riemann_left").expand(3)
    p = _evaluator(f, x, chunk=4).grid(sched.alphas, sched.weights.unsqueeze(0))
    s = (x**3).sum(1, keepdim=True)
    a = sched.alphas
    assert p.outputs.shape == p.derivatives.shape == (3, 5)
    assert torch.allclose(p.outputs, a**3 * s, atol=1e-14)
    assert torch.allclose(p.derivatives, 3 * a**2 * s, atol=1e-14)
    assert torch.allclose(_evaluator(f, x, chunk=2).grid_values(a), p.outputs, atol=1e-15)


def test_per_example_schedule_weights_travel_with_points() -> None:
    # two examples with different schedules, cut by chunks that straddle them
    f = lambda z: (z**2).sum(1)
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0]], dtype=D)
    sched = Schedule(
        torch.tensor([[0.1, 0.5, 0.9], [0.2, 0.3, 0.7]], dtype=D),
        torch.tensor([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]], dtype=D),
    )
    expected = torch.stack(
        [(sched.weights[b] * sched.alphas[b]).sum() * 2 * x[b] for b in range(2)]
    )
    rows = np.repeat(np.arange(2), 3)
    for chunk in (1, 2, 4, None):
        ev = _evaluator(f, x, chunk=chunk)
        p = ev.grid(sched.alphas, sched.weights.unsqueeze(0))
        assert torch.allclose(p.sums[0][0], expected, atol=1e-15)
        # the same points scattered (not as a grid) give the same sums and values
        q = ev.scatter(rows, sched.alphas.reshape(-1).numpy(), sched.weights.reshape(1, -1).numpy())
        assert torch.allclose(q.sums[0][0], expected, atol=1e-15)
        assert torch.allclose(q.outputs, p.outputs.reshape(-1), atol=1e-15)
        assert torch.allclose(q.derivatives, p.derivatives.reshape(-1), atol=1e-15)


def test_several_weight_sets_share_the_points() -> None:
    f = lambda z: (z**2).sum(1)
    x = torch.tensor([[1.0, 2.0], [0.5, -1.0]], dtype=D)
    a = uniform_schedule(4, "riemann_middle").expand(2).alphas
    w1 = torch.full((2, 4), 0.25, dtype=D)
    w2 = torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=D).expand(2, -1)
    ev = _evaluator(f, x, chunk=3)
    both = ev.grid(a, torch.stack([w1, w2]))
    for k, w in enumerate((w1, w2)):
        alone = ev.grid(a, w.unsqueeze(0))
        assert torch.equal(both.sums[k][0], alone.sums[0][0])


def test_decision_weighting_multiplies_each_weight_by_the_path_derivative() -> None:
    # F = |z|^2 along x' = 0: grad F = 2 alpha x, F'(alpha) = 2 alpha |x|^2
    f = lambda z: (z**2).sum(1)
    x = torch.tensor([[1.0, 2.0]], dtype=D)
    sched = uniform_schedule(3, "riemann_left")
    p = _evaluator(f, x, decision_weighted=True).grid(sched.alphas, sched.weights.unsqueeze(0))
    a, w = sched.alphas[0], sched.weights[0]
    expected = (w * (2 * a * 5) * a).sum() * 2 * x
    assert torch.allclose(p.sums[0][0], expected, atol=1e-15)


class _SquarePath:
    """``gamma(alpha) = alpha^2 x``: the straight line, traversed at another speed."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def points(self, rows: torch.Tensor, alphas: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (alphas.reshape(-1, 1).to(self.x.dtype) ** 2 * self.x[rows],)

    def points_and_velocities(
        self, rows: torch.Tensor, alphas: torch.Tensor
    ) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
        a = alphas.reshape(-1, 1).to(self.x.dtype)
        return self.points(rows, alphas), (2 * a * self.x[rows],)


def test_a_curved_path_carries_its_velocity_in_the_sums() -> None:
    # F = |z|^2 along alpha^2 x: grad F . v = 4 alpha^3 |x|^2; the integrand 4 alpha^3 x^2
    # integrates to x^2 (IG is invariant under reparametrisation), exactly with GL(2)
    f = lambda z: (z**2).sum(1)
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0]], dtype=D)
    seam = ModelSeam.build(f, (x,), None, None)
    sched = uniform_schedule(2, "gausslegendre").expand(2)
    for chunk in (1, 3, None):
        ev = Evaluator(seam, _SquarePath(x), (x,), chunk)
        p = ev.grid(sched.alphas, sched.weights.unsqueeze(0))
        assert torch.allclose(p.sums[0][0], x**2, atol=1e-14)
        a = sched.alphas
        assert torch.allclose(p.derivatives, 4 * a**3 * (x**2).sum(1, keepdim=True), atol=1e-14)
        assert torch.allclose(p.outputs, a**4 * (x**2).sum(1, keepdim=True), atol=1e-14)


def test_sketch_projects_the_integrand() -> None:
    # the sketch is c (grad F * velocity) R per point: IG c = 1, IDG c = F'
    f = lambda z: (z**2).sum(1)
    x = torch.tensor([[1.0, 2.0, -1.0]], dtype=D)
    sched = uniform_schedule(3, "gausslegendre")
    r = torch.randn(3, 4, dtype=D)
    a = sched.alphas[0]
    integrand = 2 * a[:, None] * x**2  # grad F (.) (x - 0) at each point
    for weighted in (False, True):
        ev = _evaluator(f, x, chunk=2, decision_weighted=weighted)
        p = ev.grid(sched.alphas, sched.weights.unsqueeze(0), sketch=[r])
        factor = (2 * a * (x**2).sum())[:, None] if weighted else 1.0
        assert p.sketch is not None and p.sketch.shape == (3, 4)
        assert torch.allclose(p.sketch, factor * integrand @ r, atol=1e-13)


def test_auto_chunk_size_follows_the_input_size() -> None:
    from idgrad.core.seam import AUTO_CHUNK_ELEMENTS, resolve_chunk_size

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
    from idgrad.core.seam import resolve_chunk_size

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 2, 3), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.LazyLinear(2)
    ).double()
    x = torch.rand(3, 3, 96, 96, dtype=D)
    model(x)  # materialise the lazy layer
    rows: list[int] = []
    handle = model.register_forward_pre_hook(lambda m, a: rows.append(int(a[0].shape[0])))
    try:
        pilot = {"schedule": "pilot"}  # one gradient pass (the graded schedule: two)
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
