"""Tests for idgrad.genomics.ism: in-silico mutagenesis and its agreement statistics."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import idgrad
from idgrad.core.guard import TrainModeWarning
from idgrad.core.validation import NonFiniteError
from idgrad.genomics import (
    agreement,
    contribution_scores,
    counts_target,
    dinucleotide_shuffle,
    ism,
    ism_evaluations,
    one_hot,
    profile_target,
    track_target,
)


def random_sequences(n: int, length: int, seed: int, with_n: bool = True) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    strings = ["".join(rng.choice(list("ACGT"), size=length)) for _ in range(n)]
    if with_n:
        s = list(strings[0])
        s[length // 2] = "N"
        strings[0] = "".join(s)
    return one_hot(strings, dtype=torch.float64)


class TwoHeads(torch.nn.Module):
    """Smooth (n, 4, L) -> (profile (n, L, 2), counts (n, 2)), float64."""

    def __init__(self, length: int) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(5)
        self.conv = torch.nn.Conv1d(4, 2, 5, padding=2).double()
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=gen).double())
        self.norm = torch.nn.BatchNorm1d(2).double().eval()
        self.length = length

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None) -> tuple:
        h = torch.tanh(self.norm(self.conv(x)))  # (n, 2, L)
        if scale is not None:
            h = h * scale[:, None, None]
        return h.transpose(1, 2), torch.log1p(torch.exp(h).sum(dim=2))


def hand_ism(f, x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
    """Loop over every position and base, one sequence at a time: (B, 4, P), uncentred."""
    stop = x.shape[-1] if stop is None else stop
    out = torch.zeros(x.shape[0], 4, stop - start, dtype=torch.float64)
    with torch.no_grad():
        _loop(f, x, start, stop, out)
    return out


def _loop(f, x: torch.Tensor, start: int, stop: int, out: torch.Tensor) -> None:
    for n in range(x.shape[0]):
        ref = f(x[n : n + 1], n)
        for i in range(start, stop):
            for b in range(4):
                if x[n, b, i] == 1:
                    continue
                mutant = x[n : n + 1].clone()
                mutant[0, :, i] = 0
                mutant[0, b, i] = 1
                out[n, b, i - start] = f(mutant, n) - ref


def test_ism_equals_a_hand_loop_for_every_target_form_and_chunk() -> None:
    x = random_sequences(3, 9, seed=0)  # sequence 0 has an N at position 4
    model = TwoHeads(9).eval()
    scale = torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64)
    per_example = torch.tensor([0, 1, 1])
    cases = [
        (counts_target(tracks=[1]), lambda out, n: out[1][:, 1]),
        (profile_target(), None),
        (
            track_target(window=(2, 5), tracks=0, head=0),
            lambda out, n: out[0][:, 2:5, 0].sum(dim=1),
        ),
    ]
    for target, pick in cases:
        if pick is None:
            pick = lambda out, n, t=target: t(out)  # noqa: E731
        expected = hand_ism(lambda z, n, p=pick: float(p(model(z, scale[n : n + 1]), n)), x)
        for chunk in (1, 7, None):
            got = ism(model, x, target, scale, center=False, internal_batch_size=chunk)
            assert torch.allclose(got, expected, atol=1e-12, rtol=0), (target, chunk)
    # per-example indices into a (B, L, T) output via a wrapped model
    flat = lambda z, s=None: model(z, s)[1]  # (n, 2)
    expected = hand_ism(lambda z, n: float(flat(z, scale[n : n + 1])[0, per_example[n]]), x)
    got = ism(flat, x, per_example, scale, center=False, internal_batch_size=5)
    assert torch.allclose(got, expected, atol=1e-12, rtol=0)
    # the N column: every base is a substitution, none is zero by construction
    assert bool((got[0, :, 4] != 0).all())
    observed = x.sum(dim=1) == 1
    assert bool((got * x).abs().sum() == 0) and observed.sum() == 26


def test_ism_centring_window_layout_and_evaluation_count() -> None:
    x = random_sequences(2, 11, seed=1)
    model = TwoHeads(11).eval()
    target = counts_target()
    raw = ism(model, x, target, center=False)
    centred = ism(model, x, target)
    assert torch.allclose(centred, raw - raw.mean(dim=1, keepdim=True), atol=1e-15)
    assert torch.allclose(centred.sum(dim=1), torch.zeros(2, 11, dtype=torch.float64), atol=1e-14)
    window = ism(model, x, target, positions=(3, 8))
    assert window.shape == (2, 4, 5)
    assert torch.allclose(window, centred[:, :, 3:8], atol=1e-15)
    nlc_model = lambda z: model(z.transpose(1, 2))  # the model of a channels-last user
    nlc = ism(nlc_model, x.transpose(1, 2).contiguous(), target)
    assert nlc.shape == (2, 11, 4)
    assert torch.allclose(nlc.transpose(1, 2), centred, atol=1e-15)
    calls = []
    counted = lambda z: (calls.append(z.shape[0]), model(z))[1]
    ism(counted, x, target, positions=(3, 8), internal_batch_size=4)
    # 2 references, 3 substitutions at each of 5 positions of 2 sequences, 1 more at the N
    assert sum(calls) == ism_evaluations(x, (3, 8)) == 2 + 3 * 5 * 2 + 1
    assert max(calls) <= 4


def test_ism_many_targets_equal_separate_calls_and_share_the_forward_passes() -> None:
    x = random_sequences(2, 7, seed=2)
    model = TwoHeads(7).eval()
    targets = [
        counts_target(tracks=0),
        profile_target(center=False),
        track_target(tracks=1, head=0),
    ]
    calls = []
    counted = lambda z: (calls.append(z.shape[0]), model(z))[1]
    many = ism(counted, x, targets=targets, internal_batch_size=9)
    assert many.shape == (3, 2, 4, 7)
    assert sum(calls) == ism_evaluations(x)  # one pass for all three targets
    for k, t in enumerate(targets):
        assert torch.allclose(many[k], ism(model, x, t, internal_batch_size=3), atol=1e-12)
    with pytest.raises(ValueError, match="not both"):
        ism(model, x, counts_target(), targets=targets)
    with pytest.raises(ValueError, match="empty"):
        ism(model, x, targets=[])


def test_ism_of_a_linear_pwm_scorer_is_known_in_closed_form_and_agrees_with_ig() -> None:
    # F(x) = sum_{c,i} W[c, i] x[c, i]: e[b, i] = W[b, i] - W[observed, i] exactly
    gen = torch.Generator().manual_seed(0)
    length = 30
    w = torch.randn(4, length, generator=gen, dtype=torch.float64)
    model = lambda z: (z * w).sum(dim=(1, 2))
    x = random_sequences(4, length, seed=3, with_n=False)
    observed = (w[None] * x).sum(dim=1, keepdim=True)
    assert torch.allclose(ism(model, x, center=False), w[None] - observed, atol=1e-13, rtol=0)
    centred = ism(model, x)
    assert torch.allclose(centred, (w - w.mean(dim=0))[None].expand(4, 4, length), atol=1e-14)
    # the gradient-based hypothetical contributions of a linear model are W - mean W too,
    # whatever the references: Spearman and the top-k overlap are exactly 1
    refs = dinucleotide_shuffle(x, n_shuffles=3, seed=0)
    scores = contribution_scores(idgrad.integrated_gradients, model, x, refs, n_steps=4)
    mean_hyp = contribution_scores(
        idgrad.integrated_gradients, model, x, refs, n_steps=4, convention="mean"
    ).hypothetical
    assert torch.allclose(mean_hyp, centred, atol=1e-14)
    agree = agreement(mean_hyp, centred, k=12)
    assert torch.allclose(agree.spearman, torch.ones(4, dtype=torch.float64), atol=1e-12)
    assert torch.equal(agree.topk, torch.ones(4, dtype=torch.float64))
    # the reference convention differs from ISM per position by a constant: the same ranks
    # within a position, so the per-position observed-base scores agree exactly
    per_position = agreement(scores.actual.sum(dim=1), (centred * x).sum(dim=1), k=5)
    expected = (w * x).sum(dim=1) - (w * refs.mean(dim=1)).sum(dim=1)
    assert torch.allclose(scores.actual.sum(dim=1), expected, atol=1e-12)
    assert bool((per_position.spearman > 0.5).all())


def test_agreement_matches_scipy_with_ties_and_checks_its_inputs() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a = rng.integers(-3, 4, size=(5, 4, 6)).astype(np.float64)  # many ties
    r = a + rng.normal(0, 2.0, size=a.shape)
    agree = agreement(a, torch.from_numpy(r), k=6)
    for n in range(5):
        rho = stats.spearmanr(a[n].ravel(), r[n].ravel()).statistic
        assert agree.spearman[n].item() == pytest.approx(rho, abs=1e-12)
    # top-k by magnitude, ties to the lower index
    a1, r1 = torch.tensor([[3.0, -3.0, 1.0, 0.0]]), torch.tensor([[0.0, 5.0, -4.0, 1.0]])
    assert agreement(a1, r1, k=2).topk.tolist() == [0.5]  # {0, 1} vs {1, 2}
    assert agreement(a1, r1, k=2, absolute=False).topk.tolist() == [0.0]  # {0, 2} vs {1, 3}
    assert torch.isnan(agreement(torch.ones(1, 4), torch.arange(4.0)[None], k=1).spearman).all()
    with pytest.raises(ValueError, match="same shape"):
        agreement(torch.zeros(2, 4, 3), torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match="entries per row"):
        agreement(torch.zeros(2, 3), torch.zeros(2, 3), k=4)
    with pytest.raises(ValueError, match="NaN"):
        agreement(torch.full((1, 3), float("nan")), torch.zeros(1, 3), k=1)


def test_ism_leaves_model_and_sequences_as_found_and_warns_in_train_mode() -> None:
    x = random_sequences(2, 6, seed=4)
    x.requires_grad_(True)
    before = x.detach().clone()
    model = TwoHeads(6).eval()
    stats = model.norm.running_mean.clone()
    ism(model, x, counts_target())
    assert torch.equal(x.detach(), before) and x.requires_grad and x.grad is None
    assert not model.training and torch.equal(model.norm.running_mean, stats)
    assert all(p.grad is None for p in model.parameters())
    model.train()
    with pytest.warns(TrainModeWarning):
        ism(model, x.detach(), counts_target())
    assert model.training and torch.equal(model.norm.running_mean, stats)


def test_ism_errors_name_the_problem_before_work() -> None:
    x = random_sequences(2, 6, seed=5)
    calls = []
    model = lambda z: (calls.append(1), z.sum(dim=(1, 2)))[1]
    with pytest.raises(ValueError, match="not one-hot"):
        ism(model, x * 2)
    with pytest.raises(ValueError, match="0 <= start < stop <= L = 6"):
        ism(model, x, positions=(4, 9))
    with pytest.raises(TypeError, match="positions"):
        ism(model, x, positions=3)
    with pytest.raises(TypeError, match="floating"):
        ism(model, x.long())
    with pytest.raises(ValueError, match=r"\(B, 4, L\)"):
        ism(model, x[0])
    assert not calls
    poisoned = lambda z: torch.where(z[:, 3, 2] == 1, float("nan"), 0.0) + z.sum(dim=(1, 2))
    x0 = one_hot(["AAAAAA"], dtype=torch.float64)
    with pytest.raises(NonFiniteError, match="example 0, the substitution of base T at position 2"):
        ism(poisoned, x0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ism(lambda z: z.sum(dim=(1, 2)), x0)  # no warning for a plain function
