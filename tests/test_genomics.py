"""Tests for idgrad.genomics: encoding, references, expected attributions, targets,
contribution scores, TF-MoDISco files, plots, and motif recovery on a trained toy CNN."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import torch

import idgrad
from idgrad.genomics import (
    CTCF_MOTIF,
    GATA_MOTIF,
    actual_contributions,
    auroc,
    check_one_hot,
    contribution_scores,
    counts_target,
    decode,
    dinucleotide_counts,
    dinucleotide_shuffle,
    expected_attributions,
    gc_reference,
    hypothetical_contributions,
    infer_layout,
    load_modisco_npz,
    logo_layout,
    motif_cnn,
    one_hot,
    planted_motifs,
    plot_logo,
    plot_tracks,
    profile_target,
    reverse_complement,
    save_modisco_cli_inputs,
    save_modisco_npz,
    topk_precision,
    track_target,
    train_motif_model,
    uniform_reference,
    zeros_reference,
)

IG = idgrad.integrated_gradients
IDG = idgrad.integrated_decision_gradients


def random_strings(
    rng: np.random.Generator, n: int, length: int, letters: str = "ACGT"
) -> list[str]:
    return ["".join(rng.choice(list(letters), size=length)) for _ in range(n)]


class ConvNet(torch.nn.Module):
    """Smooth small conv net (float64): (n, 4, L) -> (n,)."""

    def __init__(self, length: int = 12) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(3)
        self.conv = torch.nn.Conv1d(4, 3, 3, padding=1).double()
        with torch.no_grad():
            self.conv.weight.copy_(
                torch.randn(self.conv.weight.shape, generator=gen, dtype=torch.float64)
            )
            self.conv.bias.copy_(torch.randn(3, generator=gen, dtype=torch.float64))
        self.w = torch.randn(3, length, generator=gen, dtype=torch.float64)

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        h = torch.nn.functional.softplus(self.conv(x))
        out = torch.tanh((h * self.w).sum(dim=(1, 2)))
        return out if scale is None else out * scale


# ----------------------------------------------------------------------------- sequences


def test_one_hot_values_layouts_and_case() -> None:
    x = one_hot(["ACGTN", "acgtn"])
    assert x.shape == (2, 4, 5) and x.dtype == torch.float32
    expected = torch.zeros(4, 5)
    expected[0, 0] = expected[1, 1] = expected[2, 2] = expected[3, 3] = 1
    assert torch.equal(x[0], expected) and torch.equal(x[1], expected)
    nlc = one_hot(["ACGTN"], layout="NLC", dtype=torch.float64)
    assert nlc.shape == (1, 5, 4) and nlc.dtype == torch.float64
    assert torch.equal(nlc[0].T.float(), expected)
    assert one_hot("ACGU", alphabet="ACGU").shape == (4, 4)


def test_one_hot_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match=r"'X' at position 3 of sequence 1"):
        one_hot(["ACGT", "ACGX"])
    with pytest.raises(ValueError, match="position 1"):
        one_hot("Aé")
    with pytest.raises(ValueError, match="equal lengths"):
        one_hot(["ACG", "AC"])
    with pytest.raises(ValueError, match="layout"):
        one_hot("ACG", layout="LNC")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        one_hot([1, 2])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="dtype"):
        one_hot("ACG", dtype=torch.long)
    with pytest.raises(ValueError, match="repeated"):
        one_hot("ACG", alphabet="AAC")


def test_decode_round_trip_and_layout_helpers() -> None:
    rng = np.random.default_rng(0)
    strings = random_strings(rng, 20, 33, "ACGTN")
    for layout in ("NCL", "NLC"):
        assert decode(one_hot(strings, layout=layout)) == strings
    assert decode(one_hot(strings[0])) == strings[0]
    assert infer_layout(torch.zeros(2, 4, 7)) == "NCL"
    assert infer_layout(torch.zeros(2, 3, 7, 4)) == "NLC"
    with pytest.raises(ValueError, match="both of the last two axes"):
        infer_layout(torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match="no axis of 4"):
        infer_layout(torch.zeros(2, 5, 7))
    bad = one_hot(["ACGT", "ACGA"], layout="NLC")
    bad[1, 2, 1] = 1.0
    with pytest.raises(ValueError, match=r"\(1, 2\)"):
        check_one_hot(bad, layout="NLC")
    assert decode(reverse_complement(one_hot(["AACGTN"]))) == ["NACGTT"]
    assert decode(reverse_complement(one_hot(["AACGTN"], layout="NLC"))) == ["NACGTT"]


# ----------------------------------------------------------------------------- references


def test_dinucleotide_shuffle_preserves_counts_and_ends() -> None:
    rng = np.random.default_rng(1)
    for trial in range(300):
        length = int(rng.integers(1, 80))
        letters = "ACGTN" if trial % 3 == 0 else ("ACGT" if trial % 3 == 1 else "AT")
        s = random_strings(rng, 1, length, letters)[0]
        for t in dinucleotide_shuffle(s, n_shuffles=3, seed=trial):
            assert len(t) == len(s)
            assert dinucleotide_counts(t) == dinucleotide_counts(s)
            assert t[:1] == s[:1] and t[-1:] == s[-1:]


def test_dinucleotide_shuffle_tensor_shapes_seeds_and_layouts() -> None:
    rng = np.random.default_rng(2)
    strings = random_strings(rng, 5, 40, "ACGTN")
    x = one_hot(strings, dtype=torch.float64)
    refs = dinucleotide_shuffle(x, n_shuffles=6, seed=7)
    assert refs.shape == (5, 6, 4, 40) and refs.dtype == torch.float64
    for n in range(5):
        for t in decode(refs[n]):
            assert dinucleotide_counts(t) == dinucleotide_counts(strings[n])
    assert torch.equal(refs, dinucleotide_shuffle(x, n_shuffles=6, seed=7))
    assert not torch.equal(refs, dinucleotide_shuffle(x, n_shuffles=6, seed=8))
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a, b = dinucleotide_shuffle(x, 2, seed=g1), dinucleotide_shuffle(x, 2, seed=g2)
    assert torch.equal(a, b)
    assert not torch.equal(a, dinucleotide_shuffle(x, 2, seed=g1))  # the generator advanced
    nlc = dinucleotide_shuffle(x.transpose(1, 2), n_shuffles=6, seed=7)
    assert torch.equal(nlc, refs.transpose(-1, -2))
    single = dinucleotide_shuffle(x[0], n_shuffles=3, seed=0)
    assert single.shape == (3, 4, 40)
    assert dinucleotide_shuffle("ACGT", n_shuffles=4, seed=0) == ["ACGT"] * 4  # no other trail
    with pytest.raises(ValueError, match="n_shuffles"):
        dinucleotide_shuffle(x, n_shuffles=0)
    with pytest.raises(TypeError, match="seed"):
        dinucleotide_shuffle("ACGA", seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not one-hot"):
        dinucleotide_shuffle(torch.full((1, 4, 10), 0.25))


def test_dinucleotide_shuffle_is_uniform_over_valid_sequences() -> None:
    from scipy.stats import chisquare

    s = "AACAGATCAG"
    target = dinucleotide_counts(s)
    valid = sorted(
        {
            s[0] + "".join(p) + s[-1]
            for p in itertools.permutations(s[1:-1])
            if dinucleotide_counts(s[0] + "".join(p) + s[-1]) == target
        }
    )
    assert len(valid) > 5
    draws = Counter(dinucleotide_shuffle(s, n_shuffles=200 * len(valid), seed=11))
    assert set(draws) == set(valid)
    assert chisquare([draws[v] for v in valid]).pvalue > 1e-3


def _segments(s: str) -> list[tuple[int, str]]:
    """The maximal N-free runs of ``s`` as ``(start, run)``."""
    return [(m.start(), m.group()) for m in re.finditer(r"[^Nn]+", s)]


def test_dinucleotide_shuffle_keeps_n_positions_fixed() -> None:
    rng = np.random.default_rng(4)
    for trial in range(200):
        length = int(rng.integers(1, 60))
        s = random_strings(rng, 1, length, "ACGTN" if trial % 2 else "ACGTNNNN")[0]
        for t in dinucleotide_shuffle(s, n_shuffles=3, seed=trial):
            assert [i for i, c in enumerate(t) if c == "N"] == [
                i for i, c in enumerate(s) if c == "N"
            ]
            # every run between Ns is a dinucleotide shuffle of its own (counts and ends)
            for (start, run), (start_t, run_t) in zip(_segments(s), _segments(t)):
                assert start_t == start and len(run_t) == len(run)
                assert dinucleotide_counts(run_t) == dinucleotide_counts(run)
                assert run_t[0] == run[0] and run_t[-1] == run[-1]
            assert dinucleotide_counts(t) == dinucleotide_counts(s)
    for t in dinucleotide_shuffle("ACAnGACAGnTA", n_shuffles=20, seed=0):  # lower case too
        assert t[3] == t[9] == "n"


def test_dinucleotide_shuffle_tensor_references_are_zero_at_n() -> None:
    rng = np.random.default_rng(5)
    strings = random_strings(rng, 6, 50, "ACGTN")
    x = one_hot(strings, dtype=torch.float64)
    for layout_x, axis in ((x, 1), (x.transpose(1, 2), 2)):
        refs = dinucleotide_shuffle(layout_x, n_shuffles=7, seed=2)
        is_n = layout_x.sum(dim=axis) == 0  # (N, L)
        assert is_n.any()
        called = refs.sum(dim=axis + 1)  # (N, R, L)
        assert torch.equal(called == 0, is_n[:, None].expand_as(called))


def test_dinucleotide_shuffle_with_n_is_uniform_per_segment() -> None:
    from scipy.stats import chisquare

    s = "ACAGAT" + "N" + "CAGACTAG"
    valid_parts = []
    for _, run in _segments(s):
        target = dinucleotide_counts(run)
        valid_parts.append(
            {
                run[0] + "".join(p) + run[-1]
                for p in itertools.permutations(run[1:-1])
                if dinucleotide_counts(run[0] + "".join(p) + run[-1]) == target
            }
        )
    valid = sorted(a + "N" + b for a in valid_parts[0] for b in valid_parts[1])
    assert len(valid) >= 4 and all(len(p) >= 2 for p in valid_parts)
    draws = Counter(dinucleotide_shuffle(s, n_shuffles=200 * len(valid), seed=12))
    assert set(draws) == set(valid)
    assert chisquare([draws[v] for v in valid]).pvalue > 1e-3


def test_expected_attributions_are_zero_at_n_and_contributions_add_up() -> None:
    model = ConvNet(length=24)
    x = one_hot(["ACGTTGCANNTTACGGATCAGTCA", "GATTACACCGATNGCATTGACCTA"], dtype=torch.float64)
    refs = dinucleotide_shuffle(x, n_shuffles=6, seed=3)
    is_n = x.sum(dim=1) == 0
    for method in (IG, IDG):
        attr = expected_attributions(method, model, x, refs, n_steps=16)
        assert torch.equal(attr.permute(0, 2, 1)[is_n], torch.zeros(int(is_n.sum()), 4).double())
        scores = contribution_scores(method, model, x, refs, n_steps=16)
        torch.testing.assert_close(
            scores.actual.sum(dim=(1, 2)), scores.attributions.sum(dim=(1, 2)), rtol=0, atol=1e-12
        )
    det = expected_attributions.details(IG, model, x, refs, n_steps=64)
    attr, delta = det.attributions, det.delta
    actual = actual_contributions(attr, x)
    with torch.no_grad():
        gap = model(x) - model(refs.reshape(-1, 4, 24)).reshape(2, 6).mean(dim=1)
    torch.testing.assert_close(actual.sum(dim=(1, 2)), gap + delta.mean(dim=1), rtol=0, atol=1e-12)
    assert delta.abs().max() < 1e-3


def test_uniform_and_gc_references() -> None:
    x = one_hot(["GGCAN", "ATTTA"], dtype=torch.float64)
    u = uniform_reference(x)
    assert torch.equal(u[0, :, :4], torch.full((4, 4), 0.25, dtype=torch.float64))
    assert torch.equal(u[0, :, 4], torch.zeros(4, dtype=torch.float64))
    g = gc_reference(x)
    assert torch.allclose(
        g[0, :, 0], torch.tensor([0.125, 0.375, 0.375, 0.125], dtype=torch.float64)
    )
    assert torch.equal(g[0, :, 4], torch.zeros(4, dtype=torch.float64))
    assert torch.allclose(g[1, :, 2], torch.tensor([0.5, 0.0, 0.0, 0.5], dtype=torch.float64))
    assert torch.allclose(g.sum(dim=1), x.sum(dim=1))
    assert torch.equal(gc_reference(x.transpose(1, 2)), g.transpose(1, 2))
    assert torch.equal(zeros_reference(x), torch.zeros_like(x))


# ----------------------------------------------------------------------------- expected


@pytest.fixture(scope="module")
def seq_batch() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(3)
    x = one_hot(random_strings(rng, 3, 12), dtype=torch.float64)
    return x, dinucleotide_shuffle(x, n_shuffles=4, seed=0)


@pytest.mark.parametrize("method", [IG, IDG])
def test_identical_references_equal_single_reference(method, seq_batch) -> None:
    model = ConvNet()
    x, refs = seq_batch
    one = refs[:, 0]
    same = one[:, None].expand(-1, 5, -1, -1)
    det = expected_attributions.details(method, model, x, same, n_steps=8)
    got, delta = det.attributions, det.delta
    det = method.details(model, x, baselines=one, n_steps=8)
    want, want_delta = det.attributions, det.delta
    assert torch.allclose(got, want, rtol=0, atol=1e-12)
    assert delta.shape == (3, 5)
    assert torch.allclose(delta, want_delta[:, None].expand(3, 5), rtol=0, atol=1e-12)
    per_input = expected_attributions(method, model, x, one, n_steps=8)  # (N, ...) = one ref
    assert torch.allclose(per_input, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", [IG, IDG])
def test_expected_attributions_independent_of_internal_batch_size(method, seq_batch) -> None:
    model = ConvNet()
    x, refs = seq_batch
    results = [
        expected_attributions(method, model, x, refs, n_steps=6, internal_batch_size=b)
        for b in (1, 7, None)
    ]
    for r in results[1:]:
        assert torch.allclose(r, results[0], rtol=0, atol=1e-12)
    per_ref = expected_attributions(method, model, x, refs, n_steps=6, reduce="none")
    assert per_ref.shape == (3, 4, 4, 12)
    assert torch.allclose(per_ref.mean(dim=1), results[0], rtol=0, atol=1e-12)
    for r in range(4):  # each reference as its own call
        alone = method(model, x, baselines=refs[:, r], n_steps=6)
        assert torch.allclose(per_ref[:, r], alone, rtol=0, atol=1e-12)


def test_expected_ig_completeness_and_repeated_arguments(seq_batch) -> None:
    model = ConvNet()
    x, refs = seq_batch
    det = expected_attributions.details(IG, model, x, refs, n_steps=32)
    attr, delta = det.attributions, det.delta
    with torch.no_grad():
        gap = model(x) - model(refs.reshape(-1, 4, 12)).reshape(3, 4).mean(dim=1)
    assert torch.allclose(attr.sum(dim=(1, 2)) - gap, delta.mean(dim=1), atol=1e-12)
    assert delta.abs().max() < 1e-6
    scale = torch.tensor([1.0, 2.0, -3.0], dtype=torch.float64)
    scaled = expected_attributions(IG, model, x, refs, additional_forward_args=scale, n_steps=8)
    plain = expected_attributions(IG, model, x, refs, n_steps=8)
    assert torch.allclose(scaled, plain * scale[:, None, None], atol=1e-12)
    with pytest.raises(ValueError, match="references must have shape"):
        expected_attributions(IG, model, x, refs[:2])
    with pytest.raises(TypeError, match="baselines"):
        expected_attributions(IG, model, x, refs, baselines=0.0)
    with pytest.raises(ValueError, match="reduce"):
        expected_attributions(IG, model, x, refs, reduce="sum")  # type: ignore[arg-type]


def test_expected_attributions_per_example_targets() -> None:
    w = torch.randn(2, 4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    def model(z: torch.Tensor) -> torch.Tensor:  # (n, 2) linear in z
        return torch.einsum("ncl,kcl->nk", z, w)

    x = one_hot(["ACGTAC", "TTGACA"], dtype=torch.float64)
    refs = dinucleotide_shuffle(x, n_shuffles=3, seed=1)
    target = torch.tensor([0, 1])
    got = expected_attributions(IG, model, x, refs, target=target, n_steps=2)
    for n in range(2):  # linear: E[(x - x') * w_t]
        want = ((x[n] - refs[n]) * w[target[n]]).mean(dim=0)
        assert torch.allclose(got[n], want, atol=1e-12)
    as_list = expected_attributions(IG, model, x, refs, target=[0, 1], n_steps=2)
    assert torch.allclose(as_list, got, atol=1e-12)


def test_model_and_inputs_left_as_found(seq_batch) -> None:
    model = ConvNet().train()
    x, refs = seq_batch
    x0, r0 = x.clone(), refs.clone()
    expected_attributions(IDG, model, x, refs, n_steps=4)
    assert model.training and all(p.grad is None for p in model.parameters())
    assert torch.equal(x, x0) and torch.equal(refs, r0) and not x.requires_grad


# ----------------------------------------------------------------------------- targets


def test_track_target_hand_values() -> None:
    y = torch.arange(24.0).reshape(2, 4, 3)  # (n, L, T); y[k, i, j] = 12k + 3i + j
    assert torch.equal(track_target()(y), y.sum(dim=(1, 2)))
    assert torch.equal(track_target(window=(1, 3), tracks=[0, 2])(y), torch.tensor([22.0, 70.0]))
    assert torch.equal(
        track_target(window=(0, 2), tracks=1, reduce="mean")(y), torch.tensor([2.5, 14.5])
    )
    ntl = y.transpose(1, 2)
    assert torch.equal(
        track_target(window=(1, 3), tracks=[0, 2], layout="NTL")(ntl), torch.tensor([22.0, 70.0])
    )
    assert torch.equal(track_target(window=(1, 2))(y[:, :, 0]), torch.tensor([3.0, 15.0]))
    with pytest.raises(ValueError, match="past the length 4"):
        track_target(window=(2, 9))(y)
    with pytest.raises(ValueError, match="out of range"):
        track_target(tracks=[5])(y)
    with pytest.raises(ValueError, match="start < stop"):
        track_target(window=(3, 3))
    with pytest.raises(ValueError, match="reduce"):
        track_target(reduce="max")  # type: ignore[arg-type]


def test_track_target_over_bins_and_heads_hand_values() -> None:
    bins = torch.tensor([[[1.0, 2.0], [10.0, 20.0], [100.0, 200.0]]])  # 3 bins of 4 bp, 2 tracks
    # bp window [2, 8): half of bin 0, all of bin 1 (bins cover [0, 4), [4, 8), [8, 12))
    half = track_target(window=(2, 8), resolution=4)
    assert torch.allclose(half(bins), torch.tensor([0.5 * 3.0 + 30.0]))
    assert torch.allclose(
        track_target(window=(2, 8), resolution=4, reduce="mean")(bins),
        torch.tensor([(0.5 * 3.0 + 30.0) / (1.5 * 2)]),
    )
    # the first bin starts at bp 100 (a cropped input): [101, 105) is 3/4 of bin 0, 1/4 of bin 1
    cropped = track_target(window=(101, 105), tracks=1, resolution=4, offset=100)
    assert torch.allclose(cropped(bins), torch.tensor([0.75 * 2.0 + 0.25 * 20.0]))
    assert torch.allclose(track_target(resolution=4)(bins), bins.sum(dim=(1, 2)))
    # resolution 1 with offset 0 is the per-position target
    y = torch.arange(24.0).reshape(2, 4, 3)
    assert torch.equal(track_target(window=(1, 3), resolution=1)(y), track_target((1, 3))(y))
    assert torch.equal(track_target(window=(1, 3), head=1)((None, y)), track_target((1, 3))(y))
    with pytest.raises(ValueError, match="reaches past the input positions"):
        track_target(window=(2, 13), resolution=4)(bins)
    with pytest.raises(ValueError, match="starts before offset 100"):
        track_target(window=(50, 120), resolution=4, offset=100)
    with pytest.raises(ValueError, match="resolution must be >= 1"):
        track_target(resolution=0)
    with pytest.raises(TypeError, match="several heads"):
        track_target(head=0)(y)


def test_counts_and_profile_targets_hand_values() -> None:
    profile = torch.tensor([[[0.0], [2.0]], [[1.0], [1.0]]])  # (n=2, L=2, T=1)
    counts = torch.tensor([[1.0, 3.0], [2.0, 5.0]])
    out = (profile, counts)
    assert torch.equal(counts_target()(out), torch.tensor([4.0, 7.0]))
    assert torch.equal(counts_target(tracks=0, reduce="mean")(out), torch.tensor([1.0, 2.0]))
    assert torch.equal(counts_target(head="c")({"c": counts[:, 0]}), torch.tensor([1.0, 2.0]))
    # profile 0: centred logits (-1, 1), softmax weights (1, e^2)/(1 + e^2)
    e2 = float(np.exp(2.0))
    want0 = (-1.0 + e2) / (1.0 + e2)
    got = profile_target()(out)
    assert torch.allclose(got, torch.tensor([want0, 0.0]))
    # BPNet's form without the centring: (0 + 2 e^2) / (1 + e^2), and 1 for the flat profile
    uncentred = profile_target(center=False)(out)
    assert torch.allclose(uncentred, torch.tensor([2.0 * e2 / (1.0 + e2), 1.0]))
    # the weights are held constant: d target / d z = softmax(z) (minus 1/L when centred)
    z = profile.clone().requires_grad_(True)
    profile_target(center=False)((z, counts)).sum().backward()
    assert torch.allclose(z.grad[0, :, 0], torch.tensor([1.0, e2]) / (1.0 + e2))
    z.grad = None
    profile_target()((z, counts)).sum().backward()
    assert torch.allclose(z.grad[0, :, 0], torch.tensor([1.0, e2]) / (1.0 + e2) - 0.5)
    with pytest.raises(TypeError, match="several heads"):
        counts_target()(counts)
    with pytest.raises(ValueError, match="no head 3"):
        counts_target(head=3)(out)


def test_track_target_drives_attribution() -> None:
    gen = torch.Generator().manual_seed(0)
    conv = torch.nn.Conv1d(4, 2, 3, padding=1).double()
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen, dtype=torch.float64))

    def model(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tracks = torch.tanh(conv(z)).transpose(1, 2)  # (n, L, T=2)
        return tracks, tracks.sum(dim=(1, 2))[:, None]

    x = one_hot(["ACGTTGCAAT"], dtype=torch.float64)
    t = lambda out: track_target(window=(2, 5), tracks=[1])(out[0])
    det = IG.details(model, x, target=t, n_steps=64)
    attr, delta = det.attributions, det.delta
    assert abs(delta.item()) < 1e-8
    assert attr[:, :, :1].abs().max() == 0 and attr[:, :, 7:].abs().max() == 0  # receptive field
    counts_attr = IG(model, x, target=counts_target(), n_steps=8)
    assert counts_attr.shape == x.shape


# ----------------------------------------------------------------------------- contributions


def test_hypothetical_and_actual_contributions_linear_model() -> None:
    w = torch.randn(4, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    model = lambda z: (z * w).sum(dim=(1, 2))
    x = one_hot(["ACGTNACGT", "GGGATTACA"], dtype=torch.float64)
    refs = dinucleotide_shuffle(x, n_shuffles=5, seed=3)
    c = contribution_scores(IG, model, x, refs, n_steps=2)
    # linear model: multiplier = w; h[b, i] = w[b, i] - E_r w[ref_r(i), i]
    at_ref = (refs * w).sum(dim=2, keepdim=True).mean(dim=1)
    assert torch.allclose(c.hypothetical, w - at_ref, atol=1e-12)
    assert torch.allclose(c.actual, c.hypothetical * x, atol=1e-12)
    assert torch.allclose(c.actual, actual_contributions(c.attributions, x), atol=1e-12)
    assert torch.equal(c.actual[0, :, 4], torch.zeros(4, dtype=torch.float64))  # N
    assert torch.allclose(c.actual.sum(dim=(1, 2)), c.attributions.sum(dim=(1, 2)), atol=1e-12)
    mean_h = contribution_scores(IG, model, x, refs, n_steps=2, convention="mean").hypothetical
    assert torch.allclose(mean_h, w - w.mean(dim=0, keepdim=True), atol=1e-12)
    assert c.delta.shape == (2, 5)
    with pytest.raises(TypeError, match="multiply_by_inputs"):
        contribution_scores(IG, model, x, refs, multiply_by_inputs=True)
    with pytest.raises(ValueError, match="convention"):
        hypothetical_contributions(refs, refs, convention="max")  # type: ignore[arg-type]


def test_idg_contributions_are_consistent(seq_batch) -> None:
    x, refs = seq_batch
    model = ConvNet()
    c = contribution_scores(IDG, model, x, refs, n_steps=8)
    direct = expected_attributions(IDG, model, x, refs, n_steps=8)
    assert torch.allclose(c.attributions, direct, atol=1e-12)
    assert torch.allclose(c.actual, actual_contributions(direct, x), atol=1e-12)
    nlc = contribution_scores(
        IDG, model_nlc(model), x.transpose(1, 2), refs.transpose(-1, -2), n_steps=8
    )
    assert torch.allclose(nlc.hypothetical, c.hypothetical.transpose(1, 2), atol=1e-12)


def model_nlc(model: torch.nn.Module):  # channels-last wrapper
    return lambda z: model(z.transpose(1, 2))


def test_modisco_files_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(4)
    x = one_hot(random_strings(rng, 3, 10))
    hyp = torch.randn(3, 4, 10)
    con = hyp * x
    path = save_modisco_npz(tmp_path / "scores", x, con, hyp)
    assert path.endswith("scores.npz")
    data = load_modisco_npz(path)
    assert data["one_hot"].shape == (3, 10, 4) and data["one_hot"].dtype == np.float32
    np.testing.assert_array_equal(data["one_hot"], x.transpose(1, 2).numpy())
    np.testing.assert_array_equal(data["hypothetical_contribs"], hyp.transpose(1, 2).numpy())
    np.testing.assert_array_equal(data["contrib_scores"], con.transpose(1, 2).numpy())
    again = load_modisco_npz(
        save_modisco_npz(
            tmp_path / "nlc.npz", x.transpose(1, 2), con.transpose(1, 2), hyp.transpose(1, 2)
        )
    )
    np.testing.assert_array_equal(again["hypothetical_contribs"], data["hypothetical_contribs"])
    seq_file, hyp_file = save_modisco_cli_inputs(tmp_path / "run", x, hyp)
    np.testing.assert_array_equal(np.load(seq_file)["arr_0"], x.numpy())  # CLI reads (N, 4, L)
    np.testing.assert_array_equal(np.load(hyp_file)["arr_0"], hyp.numpy())
    with pytest.raises(ValueError, match="shapes differ"):
        save_modisco_npz(tmp_path / "bad", x, con[:, :, :5], hyp)
    np.savez(tmp_path / "other.npz", a=np.zeros(1))
    with pytest.raises(ValueError, match="lacks"):
        load_modisco_npz(tmp_path / "other.npz")


def test_modisco_file_with_pickled_objects_is_refused(tmp_path) -> None:
    import hostile

    marker = tmp_path / "marker"
    payload = np.array([hostile.Payload(marker)], dtype=object)
    zeros = np.zeros((1, 2, 4), np.float32)
    path = tmp_path / "evil.npz"
    np.savez(path, one_hot=zeros, contrib_scores=zeros, hypothetical_contribs=payload)
    with pytest.raises(ValueError, match="allow_pickle"):
        load_modisco_npz(path)
    assert not marker.exists()


# ----------------------------------------------------------------------------- plots


def test_plot_logo_and_tracks_under_agg() -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = torch.tensor([[1.0, 0.0, -0.5], [0.5, 0.0, 0.0], [0.0, 2.0, -1.0], [0.0, 0.0, 0.0]])
    fig, ax = plot_logo(scores)
    assert len(ax.patches) == int((scores != 0).sum()) == 5
    tops = sorted(round(p.get_path().get_extents().y1, 6) for p in ax.patches)
    assert max(tops) == pytest.approx(2.0, abs=1e-6)
    lows = sorted(round(p.get_path().get_extents().y0, 6) for p in ax.patches)
    assert min(lows) == pytest.approx(-1.5, abs=1e-6)  # two negatives stacked at position 2
    fig2, _ = plot_logo(scores.T, ax=ax)
    assert fig2 is fig and len(ax.patches) == 10
    assert logo_layout(scores)[:2] == [(0, 1, 0.0, 0.5), (0, 0, 0.5, 1.0)]  # largest on top
    _, ax3 = plot_tracks(torch.randn(3, 20), labels=["a", "b", "c"])
    assert len(ax3.lines) == 3 and len(ax3.collections) == 3
    _, ax4 = plot_tracks([0.0, 1.0, 0.0], fill=False)
    assert len(ax4.lines) == 1 and len(ax4.collections) == 0
    with pytest.raises(ValueError, match=r"\(4, L\)"):
        plot_logo(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="labels"):
        plot_tracks(torch.zeros(2, 5), labels=["x"])
    plt.close("all")


# ----------------------------------------------------------------------------- synthetic


def test_planted_motifs_ground_truth() -> None:
    data = planted_motifs(60, 50, seed=5)
    rc = {m: m.translate(str.maketrans("ACGT", "TGCA"))[::-1] for m in (GATA_MOTIF, CTCF_MOTIF)}
    for s, label, mask in zip(data.strings, data.labels, data.mask):
        found = np.zeros(50, dtype=bool)
        for m in (GATA_MOTIF, CTCF_MOTIF):
            for p in (m, rc[m]):
                i = s.find(p)
                while i >= 0:
                    found[i : i + len(p)] = True
                    i = s.find(p, i + 1)
        assert bool(label) == bool(mask.any())
        assert np.array_equal(found, mask.numpy())  # motifs exactly where planted
    assert decode(data.sequences) == data.strings
    assert 0.3 < float(data.labels.mean()) < 0.7
    with pytest.raises(ValueError, match="cannot hold"):
        planted_motifs(2, 10)


def test_motif_metrics_hand_values() -> None:
    scores = torch.tensor([[3.0, 1.0, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    mask = torch.tensor([[True, False, True, False], [False, False, False, False]])
    assert topk_precision(scores, mask)[0] == 1.0 and torch.isnan(topk_precision(scores, mask)[1])
    assert topk_precision(scores, mask, k=3)[0] == pytest.approx(2 / 3)
    assert auroc(scores, mask)[0] == 1.0 and auroc(-scores, mask)[0] == 0.0
    assert auroc(torch.ones(1, 4), mask[:1])[0] == 0.5


def test_trained_cnn_attributions_find_planted_motifs() -> None:
    train = planted_motifs(2000, 50, seed=0)
    model = motif_cnn(n_filters=8, kernel_size=15, seed=0)
    losses = train_motif_model(model, train.sequences, train.labels, epochs=6)
    assert losses[-1] < 0.6 * losses[0] and not model.training
    test = planted_motifs(40, 50, seed=1)
    pos = test.labels == 1
    x, mask = test.sequences[pos][:12], test.mask[pos][:12]
    refs = dinucleotide_shuffle(x, n_shuffles=4, seed=0)
    chance = float(mask.float().mean())  # top-k precision of a random ranking
    for method in (IG, IDG):
        c = contribution_scores(method, model, x, refs, n_steps=12, internal_batch_size=256)
        per_position = c.actual.sum(dim=1)
        assert float(topk_precision(per_position, mask).nanmean()) > 2 * chance
        assert float(auroc(per_position.abs(), mask).nanmean()) > 0.75


def test_import_does_not_load_matplotlib() -> None:
    code = (
        "import sys, idgrad.genomics; "
        "loaded = {'matplotlib', 'modiscolite', 'h5py', 'pybigtools', 'numba'} & set(sys.modules); "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_contribution_scores_pass_the_method_option_to_idg(seq_batch) -> None:
    # the first four arguments are positional only, so method= is IDG's rule, not ours
    x, refs = seq_batch
    model = ConvNet()
    pilot = contribution_scores(IDG, model, x, refs, n_steps=6, method="riemann_middle")
    again = contribution_scores(IDG, model, x, refs, n_steps=6, method="riemann_middle")
    graded = contribution_scores(IDG, model, x, refs, n_steps=6, method="graded")
    assert torch.equal(pilot.hypothetical, again.hypothetical)
    assert not torch.allclose(pilot.hypothetical, graded.hypothetical)
    direct = expected_attributions(
        IDG, model, x, refs, n_steps=6, method="riemann_middle", multiply_by_inputs=True
    )
    assert torch.allclose(pilot.attributions, direct, atol=1e-12)


# ----------------------------------------------------------------------------- profile models


def test_planted_profiles_ground_truth() -> None:
    from idgrad.genomics.synthetic import PROFILE_CLASSES, PROFILE_MOTIFS, planted_profiles

    data = planted_profiles(40, 120, seed=3)
    again = planted_profiles(40, 120, seed=3)
    assert torch.equal(data.sequences, again.sequences) and data.instances == again.instances
    assert data.sequences.shape == (40, 4, 120) and data.profiles.shape == (40, 120)
    check_one_hot(data.sequences)
    motifs = {m.name: m for m in PROFILE_MOTIFS}
    strings = decode(data.sequences)
    for k, start, end, cls, strand in data.instances:
        assert cls in PROFILE_CLASSES and strand in "+-"
        site = one_hot(strings[k][start:end]).T.numpy()
        if strand == "-":
            site = site[::-1, ::-1]
        pwm = motifs[cls.split()[0]].pwm
        assert site.shape == pwm.shape
        core = pwm.max(axis=1) > 0.6
        mismatches = int((site.argmax(axis=1) != pwm.argmax(axis=1))[core].sum())
        assert mismatches == (1 if cls == "GATA low-affinity" else 0), (cls, mismatches)
    # instances do not overlap, each paired E-box has a GATA site 12 bp after its start
    mask = torch.zeros(40, 120, dtype=torch.int64)
    for k, start, end, *_ in data.instances:
        mask[k, start:end] += 1
    assert int(mask.max()) == 1
    starts = {(k, s) for k, s, _, cls, _ in data.instances if cls == "GATA"}
    paired = [(k, s) for k, s, _, cls, _ in data.instances if cls == "Ebox paired"]
    assert paired and all((k, s + 12) in starts for k, s in paired)
    # the expected reads are highest where strong motifs sit
    strong = data.mask(["GATA"])
    assert float(data.expected[strong].mean()) > 5 * float(data.expected[~data.mask()].mean())


def test_bpnet_shapes_training_and_deeplift_friendly_modules() -> None:
    from idgrad.genomics.synthetic import BPNet, planted_profiles, train_bpnet

    model = BPNet()
    assert 80_000 < sum(p.numel() for p in model.parameters()) < 120_000
    relus = [m for m in model.modules() if isinstance(m, torch.nn.ReLU)]
    assert len(relus) == 8 and len({id(m) for m in relus}) == 8  # one module per use
    data = planted_profiles(32, 100, seed=0)
    small = BPNet(channels=8, layers=2, seed=1)
    before = [p.detach().clone() for p in small.parameters()]
    losses = train_bpnet(small, data.sequences, data.profiles, epochs=2, seed=0)
    assert len(losses) == 2 and losses[1] < losses[0] and not small.training
    assert any(not torch.equal(a, b) for a, b in zip(before, small.parameters()))
    profile, counts = small(data.sequences[:3])
    assert profile.shape == (3, 100) and counts.shape == (3,)
