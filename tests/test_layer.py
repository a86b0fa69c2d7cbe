"""Layer IG / IDG: closed forms, reduction to the core, chunking, captum parity, state."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import idgrad
from idgrad.compat.captum import LayerIntegratedDecisionGradients, LayerIntegratedGradients
from idgrad.methods.layer import layer_integrated_decision_gradients, layer_integrated_gradients

D = torch.float64
RULES = ["riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre"]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class TwoStage(nn.Module):
    """``head(act(body(x)))``: the body's output carries everything the head reads."""

    def __init__(
        self,
        d_in: int = 4,
        d_hid: int = 5,
        d_out: int = 3,
        act: str = "tanh",
        head_linear: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        g = _gen(seed)
        self.body = nn.Linear(d_in, d_hid).double()
        self.mid = nn.Linear(d_hid, d_hid).double()
        self.head = nn.Linear(d_hid, d_out).double()
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=D))
        self.act = {"tanh": torch.tanh, "relu_": torch.relu_, "none": lambda t: t}[act]
        self.head_linear = head_linear

    def after_body(self, a: torch.Tensor) -> torch.Tensor:
        if self.head_linear:
            return self.head(a)
        return self.head(torch.tanh(self.mid(self.act(a))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.after_body(self.body(x))


class TokenModel(nn.Module):
    """Token ids ``(B, T)`` -> embedding -> mean over tokens -> MLP -> ``(B, C)``."""

    def __init__(
        self, vocab: int = 11, dim: int = 6, n_classes: int = 2, linear: bool = False, seed: int = 0
    ) -> None:
        super().__init__()
        g = _gen(seed)
        self.emb = nn.Embedding(vocab, dim).double()
        self.fc = nn.Linear(dim, 8).double()
        self.out = nn.Linear(8, n_classes).double()
        self.lin = nn.Linear(dim, n_classes).double()
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=D))
        self.linear = linear

    def pooled(self, e: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            return e.mean(1)
        m = mask.to(e.dtype).unsqueeze(-1)
        return (e * m).sum(1) / m.sum(1)

    def head(self, e: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        p = self.pooled(e, mask)
        return self.lin(p) if self.linear else self.out(torch.tanh(self.fc(p)))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.emb(ids), mask)


def _x(b: int = 3, d: int = 4, seed: int = 1) -> torch.Tensor:
    return torch.randn(b, d, generator=_gen(seed), dtype=D)


# ---------------------------------------------------------------- closed forms


@pytest.mark.parametrize("rule", RULES)
def test_linear_after_layer_is_exact_for_every_rule(rule: str) -> None:
    model = TwoStage(head_linear=True)
    x, xb = _x(), _x(seed=2)
    a, ab = model.body(x).detach(), model.body(xb).detach()
    expected = (a - ab) * model.head.weight[2].detach()
    det = layer_integrated_gradients.details(
        model, model.body, x, xb, target=2, n_steps=3, rule=rule
    )
    attr, delta = det.attributions, det.delta
    torch.testing.assert_close(attr, expected, rtol=0, atol=1e-12)
    assert delta.abs().max() < 1e-12
    # IDG on a linear function equals IG (constant importance factor), on every schedule
    for options in (
        {"schedule": "pilot", "rule": "riemann_middle"},
        {"schedule": "uniform", "rule": rule},
        {"schedule": "graded"},
    ):
        idg = layer_integrated_decision_gradients(
            model, model.body, x, xb, target=2, n_steps=4, **options
        )
        torch.testing.assert_close(idg, expected, rtol=0, atol=1e-12)


def test_quadratic_after_layer_matches_closed_form() -> None:
    lin = nn.Linear(3, 4).double()
    c = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=D)
    model = lambda x: (c * lin(x) ** 2).sum(1)
    x, xb = _x(2, 3), _x(2, 3, seed=5)
    a, ab = lin(x).detach(), lin(xb).detach()
    attr = layer_integrated_gradients(model, lin, x, xb, n_steps=2)  # GL(2): exact on cubics
    torch.testing.assert_close(attr, c * (a**2 - ab**2), rtol=0, atol=1e-12)


@pytest.mark.parametrize("schedule", ["uniform", "pilot", "graded"])
@pytest.mark.parametrize("multiply", [True, False])
def test_reduces_to_core_on_the_head(schedule: str, multiply: bool) -> None:
    model = TwoStage()
    x, xb = _x(), _x(seed=2)
    a, ab = model.body(x).detach(), model.body(xb).detach()
    target = torch.tensor([0, 2, 1])
    ours = layer_integrated_decision_gradients.details(
        model,
        model.body,
        x,
        xb,
        target=target,
        n_steps=12,
        schedule=schedule,
        multiply_by_inputs=multiply,
    )
    core = idgrad.integrated_decision_gradients.details(
        model.after_body,
        a,
        ab,
        target=target,
        n_steps=12,
        schedule=schedule,
        multiply_by_inputs=multiply,
    )
    torch.testing.assert_close(ours.attributions, core.attributions, rtol=0, atol=1e-12)
    torch.testing.assert_close(ours.delta, core.delta, rtol=0, atol=1e-12)
    torch.testing.assert_close(ours.alphas, core.alphas, rtol=0, atol=0)
    torch.testing.assert_close(ours.derivatives, core.derivatives, rtol=0, atol=1e-12)
    ig = layer_integrated_gradients(
        model, model.body, x, xb, target=target, n_steps=12, multiply_by_inputs=multiply
    )
    core_ig = idgrad.integrated_gradients(
        model.after_body, a, ab, target=target, n_steps=12, multiply_by_inputs=multiply
    )
    torch.testing.assert_close(ig, core_ig, rtol=0, atol=1e-12)


def test_in_place_operation_after_the_layer() -> None:
    model = TwoStage(act="relu_")  # ReLU(inplace) right after the hooked layer
    x, xb = _x(), _x(seed=2)
    a, ab = model.body(x.clone()).detach(), model.body(xb.clone()).detach()
    reference = idgrad.integrated_gradients(
        lambda t: model.head(torch.tanh(model.mid(torch.relu(t)))), a, ab, target=1, n_steps=8
    )
    ours = layer_integrated_gradients(model, model.body, x, xb, target=1, n_steps=8)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-12)


def test_delta_is_against_the_models_own_inputs() -> None:
    lin = nn.Linear(3, 2).double()
    w, v = torch.tensor([1.5, -0.5], dtype=D), torch.tensor([0.3, 0.0, -1.0], dtype=D)
    model = lambda x: lin(x) @ w + x @ v
    x, xb = _x(2, 3), _x(2, 3, seed=4)
    det = layer_integrated_gradients.details(model, lin, x, xb, n_steps=4)
    attr, delta = det.attributions, det.delta
    torch.testing.assert_close(attr.sum(1), (lin(x) - lin(xb)).detach() @ w, rtol=0, atol=1e-12)
    torch.testing.assert_close(delta, -(x - xb) @ v, rtol=0, atol=1e-12)
    details = layer_integrated_gradients.details(model, lin, x, xb, n_steps=4)
    torch.testing.assert_close(details.end, model(x).detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(details.start, model(xb).detach(), rtol=0, atol=1e-12)
    assert details.n_gradient_evals == 2 * 4
    assert details.n_forward_evals == 2 * 2 + 2 * 2  # capture at x and x', core end points


# ---------------------------------------------------------------- tokens


def test_embedding_token_ids_closed_form() -> None:
    model = TokenModel(linear=True)
    ids = torch.tensor([[1, 4, 7, 2], [3, 3, 9, 5]])
    pad = torch.zeros_like(ids)
    det = layer_integrated_gradients.details(model, model.emb, ids, pad, target=1, n_steps=2)
    attr, delta = det.attributions, det.delta
    e, e0 = model.emb(ids).detach(), model.emb(pad).detach()
    expected = (e - e0) * model.lin.weight[1].detach() / ids.shape[1]
    assert attr.shape == (2, 4, 6)
    torch.testing.assert_close(attr, expected, rtol=0, atol=1e-12)
    assert delta.abs().max() < 1e-12


@pytest.mark.parametrize("fn", [layer_integrated_gradients, layer_integrated_decision_gradients])
def test_embedding_token_scores_complete(fn) -> None:
    model = TokenModel()
    ids = torch.tensor([[1, 4, 7, 2, 0], [3, 3, 9, 5, 6]])
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    base = torch.where(mask.bool(), torch.full_like(ids, 10), ids)  # "mask token" 10
    base[:, 0] = ids[:, 0]  # keep the first (CLS-like) token
    det = fn.details(
        model, model.emb, ids, base, target=0, additional_forward_args=mask, n_steps=64
    )
    attr, delta = det.attributions, det.delta
    scores = attr.sum(-1)
    assert scores.shape == ids.shape
    gap = (model(ids, mask) - model(base, mask))[:, 0].detach()
    # Gauss-Legendre(64) for IG; IDG on its default (graded) schedule within 1e-3 on its
    # delta, and its rescaled scores sum to the gap exactly
    tol = 1e-6 if fn is layer_integrated_gradients else 1e-3
    assert delta.abs().max() < tol * gap.abs().max()
    assert scores[:, 0].abs().max() < 1e-15  # unchanged token: zero attribution
    assert scores[0, 4].abs() < 1e-15  # padded position, masked out
    exact = 1e-12 if fn is layer_integrated_decision_gradients else tol
    torch.testing.assert_close(scores.sum(1), gap, rtol=0, atol=exact * gap.abs().max().item())


def test_tuple_output_layer() -> None:
    class Split(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return torch.sin(x), x**2

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.split, self.head = Split(), nn.Linear(4, 2).double()

        def after(self, s: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.head(torch.cat([s, q * s], 1)))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.after(*self.split(x))

    net = Net()
    x, xb = _x(3, 2), _x(3, 2, seed=8)
    ours = layer_integrated_gradients(net, net.split, x, xb, target=1, n_steps=10)
    core = idgrad.integrated_gradients(net.after, net.split(x), net.split(xb), target=1, n_steps=10)
    assert isinstance(ours, tuple) and len(ours) == 2
    for o, c in zip(ours, core):
        torch.testing.assert_close(o, c, rtol=0, atol=1e-12)


def test_layer_input() -> None:
    model = TwoStage()
    x, xb = _x(), _x(seed=2)
    # the input of `mid` is tanh(body(x)); from there the model is head(tanh(mid(.)))
    h, hb = torch.tanh(model.body(x)).detach(), torch.tanh(model.body(xb)).detach()
    ours = layer_integrated_gradients(
        model, model.mid, x, xb, target=0, n_steps=9, attribute_to_layer_input=True
    )
    core = idgrad.integrated_gradients(
        lambda t: model.head(torch.tanh(model.mid(t))), h, hb, target=0, n_steps=9
    )
    torch.testing.assert_close(ours, core, rtol=0, atol=1e-12)


def test_several_layers_share_one_path() -> None:
    lin1, lin2 = nn.Linear(4, 3).double(), nn.Linear(4, 3).double()
    net = lambda t: torch.tanh(lin1(t) * lin2(t)).sum(1)
    x, xb = _x(), _x(seed=2)
    det = layer_integrated_gradients.details(net, [lin1, lin2], x, xb, n_steps=40)
    both, delta = det.attributions, det.delta
    assert isinstance(both, list) and len(both) == 2
    assert both[0].shape == both[1].shape == (3, 3)
    assert delta.abs().max() < 1e-10  # complete jointly
    a1, a2 = lin1(x).detach(), lin2(x).detach()
    b1, b2 = lin1(xb).detach(), lin2(xb).detach()
    core = idgrad.integrated_gradients(
        lambda u, v: torch.tanh(u * v).sum(1), (a1, a2), (b1, b2), n_steps=40
    )
    for o, c in zip(both, core):
        torch.testing.assert_close(o, c, rtol=0, atol=1e-12)
    single = layer_integrated_gradients(net, [lin1], x, xb, n_steps=4)
    assert isinstance(single, list) and len(single) == 1  # a list of layers gives a list


# ---------------------------------------------------------------- chunking, targets


def test_callable_and_tensor_targets_agree() -> None:
    model = TokenModel(n_classes=3)
    ids = torch.tensor([[1, 4, 7], [3, 3, 9]])
    by_list = layer_integrated_gradients(model, model.emb, ids, target=[2, 1], n_steps=6)
    by_tensor = layer_integrated_gradients(
        model, model.emb, ids, target=torch.tensor([2, 1]), n_steps=6
    )
    torch.testing.assert_close(by_list, by_tensor, rtol=0, atol=0)
    picked = layer_integrated_gradients(
        model, model.emb, ids, target=lambda out: out[:, 2], n_steps=6
    )
    fixed = layer_integrated_gradients(model, model.emb, ids, target=2, n_steps=6)
    torch.testing.assert_close(picked, fixed, rtol=0, atol=0)


def test_classes_match_functions() -> None:
    model = TokenModel()
    ids = torch.tensor([[1, 4, 7], [3, 3, 9]])
    lig = LayerIntegratedGradients(model, model.emb, multiply_by_inputs=False)
    assert lig.has_convergence_delta() and not lig.multiplies_by_inputs
    got = lig.attribute(ids, 0, target=1, n_steps=5, method="riemann_middle")  # captum's word
    want = layer_integrated_gradients(
        model,
        model.emb,
        ids,
        0,
        target=1,
        n_steps=5,
        rule="riemann_middle",
        multiply_by_inputs=False,
    )
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    lidg = LayerIntegratedDecisionGradients(model, model.emb, normalize=False)
    got, delta = lidg.attribute(
        ids, target=1, n_steps=5, schedule="uniform", return_convergence_delta=True
    )
    det = layer_integrated_decision_gradients.details(
        model,
        model.emb,
        ids,
        target=1,
        n_steps=5,
        schedule="uniform",
        normalize=False,
    )  # the class and the function share every default (the rule included)
    want, want_delta = det.attributions, det.delta
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    torch.testing.assert_close(delta, want_delta, rtol=0, atol=0)
    with pytest.raises(ValueError, match="device_ids"):
        LayerIntegratedGradients(model, model.emb, device_ids=[0])


# ---------------------------------------------------------------- captum parity


@pytest.mark.parametrize("rule", RULES)
def test_parity_with_captum_layer_integrated_gradients(rule: str) -> None:
    captum_attr = pytest.importorskip("captum.attr")
    model = TokenModel(n_classes=3)
    ids = torch.tensor([[1, 4, 7, 2], [3, 3, 9, 5]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    theirs, their_delta = captum_attr.LayerIntegratedGradients(model, model.emb).attribute(
        ids,
        0,
        target=[2, 0],
        additional_forward_args=mask,
        n_steps=12,
        method=rule,
        return_convergence_delta=True,
    )
    det = layer_integrated_gradients.details(
        model,
        model.emb,
        ids,
        0,
        target=[2, 0],
        additional_forward_args=mask,
        n_steps=12,
        rule=rule,
    )
    ours, delta = det.attributions, det.delta
    # captum's trapezoid weights sum to (n - 1) / n; its step weights are float32
    factor = 11 / 12 if rule == "riemann_trapezoid" else 1.0
    torch.testing.assert_close(ours * factor, theirs, rtol=1e-6, atol=1e-8)
    if rule != "riemann_trapezoid":
        torch.testing.assert_close(delta, their_delta, rtol=0, atol=1e-6)  # float32 weights


@pytest.mark.filterwarnings("ignore:Multiple layers provided")
def test_parity_with_captum_input_multi_layer_and_local() -> None:
    captum_attr = pytest.importorskip("captum.attr")
    model = TwoStage()
    x, xb = _x(), _x(seed=2)
    for kwargs in ({"attribute_to_layer_input": True}, {}):
        theirs = captum_attr.LayerIntegratedGradients(model, model.mid).attribute(
            x, xb, target=1, n_steps=10, **kwargs
        )
        ours = LayerIntegratedGradients(model, model.mid).attribute(
            x, xb, target=1, n_steps=10, **kwargs
        )
        torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-8)
    theirs = captum_attr.LayerIntegratedGradients(model, model.body, multiply_by_inputs=False)
    ours = LayerIntegratedGradients(model, model.body, multiply_by_inputs=False)
    torch.testing.assert_close(
        ours.attribute(x, xb, target=0, n_steps=10),
        theirs.attribute(x, xb, target=0, n_steps=10),
        rtol=1e-6,
        atol=1e-8,
    )
    lin1, lin2 = nn.Linear(4, 3).double(), nn.Linear(4, 3).double()

    class Joint(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = lin1, lin2

        def forward(self, t: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.a(t) * self.b(t)).sum(1)

    net = Joint()
    theirs_list = captum_attr.LayerIntegratedGradients(net, [net.a, net.b]).attribute(
        x, xb, n_steps=10
    )
    ours_tuple = layer_integrated_gradients(net, [net.a, net.b], x, xb, n_steps=10)
    for o, t in zip(ours_tuple, theirs_list):
        torch.testing.assert_close(o, t, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------- state and hooks


def _hook_counts(model: nn.Module) -> list[tuple[int, int]]:
    return [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model.modules()]


@pytest.mark.parametrize("to_input", [False, True])
def test_hooks_are_removed_after_a_call(to_input: bool) -> None:
    model = TwoStage()
    hooks = _hook_counts(model)
    layer_integrated_decision_gradients(
        model, model.mid, _x(), target=1, n_steps=6, attribute_to_layer_input=to_input
    )
    assert _hook_counts(model) == hooks


class Exploding(nn.Module):
    """Raises on the ``fail_at``-th forward call."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.inner = TwoStage()
        self.fail_at, self.calls = fail_at, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("boom")
        return self.inner(x)


@pytest.mark.parametrize("fail_at", [1, 2, 3, 5])
@pytest.mark.parametrize("to_input", [False, True])
def test_hooks_removed_when_the_model_raises(fail_at: int, to_input: bool) -> None:
    model = Exploding(fail_at)
    hooks = _hook_counts(model)
    with pytest.raises(RuntimeError, match="boom"):
        layer_integrated_decision_gradients(
            model,
            model.inner.mid,
            _x(),
            target=0,
            n_steps=4,
            internal_batch_size=2,
            attribute_to_layer_input=to_input,
        )
    assert _hook_counts(model) == hooks
    model.calls = -100  # the model works again, and unhooked
    out = model(_x())
    torch.testing.assert_close(out, model.inner(_x()))


# ---------------------------------------------------------------- errors


def test_bad_inputs_raise_clear_errors() -> None:
    model = TokenModel()
    ids = torch.tensor([[1, 4, 7]])
    lig = layer_integrated_gradients
    with pytest.raises(TypeError, match="nn.Module"):
        lig(model, "emb", ids)
    with pytest.raises(ValueError, match="empty list"):
        lig(model, [], ids)
    with pytest.raises(ValueError, match="more than once"):
        lig(model, [model.emb, model.emb], ids)
    with pytest.raises(TypeError, match="layer\\[1\\]"):
        lig(model, [model.emb, 3], ids)
    with pytest.raises(ValueError, match="was not called"):
        lig(model, model.lin, ids, target=0)  # lin is unused by the non-linear head
    with pytest.raises(TypeError, match="int64"):
        lig(model, model.emb, ids, target=0, attribute_to_layer_input=True)
    with pytest.raises(TypeError, match="integers"):
        lig(model, model.emb, ids, baselines=0.5, target=0)
    with pytest.raises(TypeError, match="integers"):
        lig(model, model.emb, ids, baselines=torch.zeros(1, 3), target=0)
    with pytest.raises(TypeError, match="torch.Tensor"):
        lig(model, model.emb, [[1, 2]], target=0)
    with pytest.raises(ValueError, match="batch size"):
        lig(lambda a, b: model(a), model.emb, (ids, torch.zeros(2, 3)), target=0)
    with pytest.raises(ValueError, match="n_steps"):
        lig(model, model.emb, ids, target=0, n_steps=0)
    with pytest.raises(ValueError, match="internal_batch_size"):
        lig(model, model.emb, ids, target=0, internal_batch_size=0)
    with pytest.raises(TypeError, match="callable"):
        lig(3, model.emb, ids)
    with torch.inference_mode(), pytest.raises(RuntimeError, match="inference_mode"):
        lig(model, model.emb, ids, target=0)
    assert _hook_counts(model) == [(0, 0)] * len(list(model.modules()))


def test_layers_that_cannot_be_attributed() -> None:
    shared = nn.Linear(3, 3).double()
    twice = lambda x: shared(shared(x)).sum(1)
    with pytest.raises(ValueError, match="called 2 times"):
        layer_integrated_gradients(twice, shared, _x(2, 3))

    class SeqFirst(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.T

    seq = SeqFirst()
    with pytest.raises(ValueError, match="batch axis"):
        layer_integrated_gradients(lambda x: seq(x).sum(0), seq, _x(2, 3))

    class Dicty(nn.Module):
        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"h": x}

    dicty = Dicty()
    with pytest.raises(TypeError, match="dict"):
        layer_integrated_gradients(lambda x: dicty(x)["h"].sum(1), dicty, _x(2, 3))

    lin = nn.Linear(3, 1).double()
    kw_only = lambda x: lin(input=x)[:, 0]
    with pytest.raises(ValueError, match="no positional inputs"):
        layer_integrated_gradients(kw_only, lin, _x(2, 3), attribute_to_layer_input=True)
    for m in (shared, seq, dicty, lin):
        assert _hook_counts(m) == [(0, 0)]
