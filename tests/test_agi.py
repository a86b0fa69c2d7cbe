"""AGI: a plain one-path-at-a-time reference, class selection, delta, clipping, chunking, errors."""

from __future__ import annotations

import pytest
import torch
from models import CountingModel, SmallMLP

from idgrad.methods.agi import adversarial_gradient_integration

D = torch.float64


def reference_agi(model, x, c, classes, epsilon, max_iter, probabilities=True, clip=None):
    """The module docstring's formula, one example and one false class at a time."""
    total = torch.zeros_like(x)
    for j in classes:
        point = x.clone()
        for _ in range(max_iter):
            p = point.clone().requires_grad_(True)
            out = model(p[None])[0]
            if int(out.argmax()) == j:
                break
            scores = torch.softmax(out, 0) if probabilities else out
            g_j = torch.autograd.grad(scores[j], p, retain_graph=True)[0]
            g_c = torch.autograd.grad(scores[c], p)[0]
            new = point + epsilon * torch.sign(g_j)
            if clip is not None:
                new = new.clamp(*clip)
            total -= g_c * (new - point)
            point = new
    return total


@pytest.mark.parametrize("probabilities", [True, False])
def test_matches_the_one_path_reference(probabilities: bool) -> None:
    model = SmallMLP(n_features=5, n_classes=6)
    x = torch.randn(3, 5, dtype=D)
    d = adversarial_gradient_integration.details(
        model, x, epsilon=0.1, max_iter=12, top_k=3, probabilities=probabilities
    )
    for b in range(3):
        ref = reference_agi(
            model, x[b], int(d.target[b]), d.false_classes[b].tolist(), 0.1, 12, probabilities
        )
        torch.testing.assert_close(d.attributions[b], ref, rtol=0, atol=1e-12)


def test_clip_keeps_every_point_in_range() -> None:
    seen: list[torch.Tensor] = []
    net = SmallMLP(n_features=4, n_classes=4)

    def model(z: torch.Tensor) -> torch.Tensor:
        seen.append(z.detach().clone())
        return net(z)

    x = torch.rand(2, 4, dtype=D)
    d = adversarial_gradient_integration.details(
        model, x, epsilon=0.3, max_iter=10, top_k=2, clip=(0.0, 1.0)
    )
    assert all(((s >= 0) & (s <= 1)).all() for s in seen)
    assert any(((s == 0) | (s == 1)).any() for s in seen)  # the clip was active
    for b in range(2):
        ref = reference_agi(
            net, x[b], int(d.target[b]), d.false_classes[b].tolist(), 0.3, 10, clip=(0.0, 1.0)
        )
        torch.testing.assert_close(d.attributions[b], ref, rtol=0, atol=1e-12)


def test_target_and_class_selection() -> None:
    model = SmallMLP(n_features=5, n_classes=7)
    x = torch.randn(4, 5, dtype=D)
    logits = model(x).detach()
    d = adversarial_gradient_integration.details(model, x, top_k=3, max_iter=2)
    assert torch.equal(d.target, logits.argmax(1))
    masked = logits.clone()
    masked[torch.arange(4), d.target] = -float("inf")
    assert torch.equal(d.false_classes, masked.argsort(1, descending=True)[:, :3])
    target = torch.tensor([0, 1, 2, 3])
    r1 = adversarial_gradient_integration.details(
        model, x, target=target, top_k=4, classes="random", seed=5, max_iter=2
    )
    r2 = adversarial_gradient_integration.details(
        model, x, target=target, top_k=4, classes="random", seed=5, max_iter=2
    )
    assert torch.equal(r1.false_classes, r2.false_classes)
    assert torch.equal(r1.attributions, r2.attributions)
    assert not (r1.false_classes == target[:, None]).any()
    assert all(len(set(row.tolist())) == 4 for row in r1.false_classes)
    given = torch.tensor([[1, 2], [0, 2], [0, 1], [0, 1]])
    g = adversarial_gradient_integration.details(model, x, target=target, classes=given, max_iter=2)
    assert torch.equal(g.false_classes, given)


def test_delta_is_the_telescoping_gap_and_shrinks_with_epsilon() -> None:
    model = SmallMLP(n_features=6, n_classes=5)
    x = torch.randn(3, 6, dtype=D)
    deltas = []
    for eps in (0.1, 0.025):
        d = adversarial_gradient_integration.details(
            model, x, epsilon=eps, max_iter=int(0.8 / eps), top_k=2
        )
        gap = (d.start[:, None] - d.end_outputs).sum(1)
        torch.testing.assert_close(d.delta, d.attributions.sum(1) - gap, rtol=0, atol=1e-14)
        probs = torch.softmax(model(x), 1).detach()
        torch.testing.assert_close(d.start, probs[torch.arange(3), d.target], rtol=0, atol=1e-15)
        deltas.append(d.delta.abs().max().item())
    assert deltas[1] < deltas[0] / 2.5  # a left Riemann sum: the gap is O(epsilon)


def test_paths_stop_at_their_false_class() -> None:
    w = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 1.0]], dtype=D)
    model = lambda z: z @ w
    x = torch.tensor([[1.0, 0.2], [0.1, 1.0]], dtype=D)
    d = adversarial_gradient_integration.details(model, x, epsilon=0.1, max_iter=50, top_k=2)
    assert d.reached.all()
    assert (d.n_iterations < 50).all()
    # the first example's explained class (0) loses probability on the way to either class
    assert int(d.target[0]) == 0
    assert (d.end_outputs[0] < d.start[0]).all()
    assert d.attributions[0, 0] > 0


def test_counts_match_the_model_calls() -> None:
    model = CountingModel(SmallMLP(n_features=4, n_classes=4))
    d = adversarial_gradient_integration.details(
        model, torch.randn(3, 4, dtype=D), epsilon=0.05, max_iter=6, top_k=2, internal_batch_size=4
    )
    assert d.n_gradient_evals == model.grad_rows
    assert d.n_forward_evals == model.rows - model.grad_rows
    # each running path and iteration: a gradient of f_j, and of f_c unless the path stopped
    steps = int(d.n_iterations.sum())
    stopped = int(d.reached.sum())
    assert d.n_gradient_evals == 2 * steps + stopped
    assert d.n_forward_evals == 3 + int((~d.reached).sum())
    assert model.max_rows <= 4


def test_tuple_inputs_move_together() -> None:
    net = SmallMLP(n_features=5, n_classes=4)
    model = lambda a, b: net(torch.cat([a, b], 1))
    x = torch.randn(2, 5, dtype=D)
    a, b = adversarial_gradient_integration(
        model, (x[:, :2], x[:, 2:]), epsilon=0.1, max_iter=5, top_k=2
    )
    whole = adversarial_gradient_integration(net, x, epsilon=0.1, max_iter=5, top_k=2)
    torch.testing.assert_close(torch.cat([a, b], 1), whole, rtol=0, atol=1e-14)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"epsilon": 0.0}, ValueError, "epsilon"),
        ({"epsilon": "big"}, TypeError, "epsilon"),
        ({"top_k": 4}, ValueError, "top_k"),
        ({"top_k": 0}, ValueError, "top_k"),
        ({"classes": "all"}, ValueError, "classes"),
        ({"classes": torch.tensor([[1], [2]])}, ValueError, "classes tensor"),
        ({"target": 0, "classes": torch.tensor([[0]])}, ValueError, "explained class"),
        ({"target": 4}, ValueError, "out of range"),
        ({"target": torch.tensor([0.0])}, TypeError, "integers"),
        ({"clip": (1.0, 0.0)}, ValueError, "clip"),
        ({"clip": 0.5}, TypeError, "clip"),
        ({"probabilities": 1}, TypeError, "probabilities"),
    ],
)
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    model = SmallMLP(n_features=3, n_classes=4)
    with pytest.raises(error, match=match):
        adversarial_gradient_integration(model, torch.ones(1, 3, dtype=D), **kwargs)


def test_non_classifier_output_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\(batch, classes\)"):
        adversarial_gradient_integration(lambda z: z.sum(1), torch.ones(2, 3, dtype=D))
