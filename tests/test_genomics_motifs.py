"""Tests for idgrad.genomics.motifs: TF-MoDISco end to end, reading its file back, matching PWMs.

The round trip runs modisco-lite for real on a small planted set (a few seconds once numba's
kernels are in its cache; the first run of a fresh environment compiles them, ~20 s).
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from models import PWMScorer

import idgrad
from idgrad.genomics import (
    Pattern,
    contribution_scores,
    dinucleotide_shuffle,
    modisco,
    modisco_from_files,
    one_hot,
    planted_motifs,
    pwm_similarity,
    read_modisco_h5,
    save_modisco_npz,
)
from idgrad.ops.outputs import OutputError

MOTIF = "GATAAGCT"
OPTIONS = dict(  # small windows for 60-bp sequences; two Leiden runs keep it quick
    sliding_window_size=8,
    flank_size=2,
    n_leiden_runs=2,
    trim_to_window_size=12,
    initial_flank_to_add=3,
)


@pytest.fixture(scope="module")
def planted() -> dict:
    """240 sequences of 60 bp with one planted motif each, explained by IG on a PWM scorer."""
    data = planted_motifs(240, 60, motifs=[MOTIF], positive_fraction=1.0, seed=0)
    x = data.sequences.to(torch.float64)
    refs = dinucleotide_shuffle(x, n_shuffles=4, seed=0)
    scores = contribution_scores(idgrad.integrated_gradients, PWMScorer(MOTIF), x, refs, n_steps=8)
    return {"x": x, "mask": data.mask, "scores": scores}


def _hits(patterns: list[Pattern], mask: torch.Tensor) -> float:
    """Fraction of the seqlets of the best pattern that cover a planted position."""
    seqlets = patterns[0].seqlets
    return sum(bool(mask[s.example, s.start : s.end].any()) for s in seqlets) / len(seqlets)


def test_modisco_round_trip_recovers_the_planted_motif(planted: dict, tmp_path: Path) -> None:
    pytest.importorskip("modiscolite")
    x, scores = planted["x"], planted["scores"]
    out = tmp_path / "motifs.h5"
    found = modisco(x, scores.actual, scores.hypothetical, output=out, **OPTIONS)
    assert found.path == str(out) and out.exists() and found.window_size == 8
    assert found.patterns, "no pattern found"
    best = found.patterns[0]
    assert best.sign == 1 and best.name == "pos_patterns/pattern_0"
    assert pwm_similarity(one_hot(MOTIF).T, best.pwm) > 0.95
    assert len(best.seqlets) >= 20
    assert _hits(found.patterns, planted["mask"]) > 0.9
    assert np.allclose(best.pwm.sum(axis=1), 1.0)
    assert best.cwm.shape == best.pwm.shape == best.hypothetical_cwm.shape
    # the cwm is the mean actual contribution of the aligned seqlets, read back from our inputs
    fwd = [s for s in best.seqlets if s.strand == "+"]
    actual = scores.actual.transpose(1, 2).to(torch.float32).numpy()
    mean = np.mean([actual[s.example, s.start : s.end] for s in fwd], axis=0)
    rev = [actual[s.example, s.start : s.end][::-1, ::-1] for s in best.seqlets if s.strand == "-"]
    mean = (mean * len(fwd) + np.sum(rev, axis=0)) / len(best.seqlets)
    assert np.allclose(best.cwm, mean, atol=1e-5)
    # the file reads back to the same patterns, and is not overwritten
    again = read_modisco_h5(out, n_examples=x.shape[0], length=x.shape[2])
    assert [p.name for p in again] == [p.name for p in found.patterns]
    assert np.array_equal(again[0].pwm, best.pwm) and again[0].seqlets == best.seqlets
    stamp = out.stat().st_mtime_ns
    with pytest.raises(OutputError, match="overwrite=True"):
        modisco(x, None, scores.hypothetical, output=out, **OPTIONS)
    assert out.stat().st_mtime_ns == stamp


def test_modisco_from_files_writes_results_and_logos_and_keeps_existing_files(
    planted: dict, tmp_path: Path
) -> None:
    pytest.importorskip("modiscolite")
    pytest.importorskip("matplotlib")
    x, scores = planted["x"], planted["scores"]
    npz = save_modisco_npz(tmp_path / "scores.npz", x, scores.actual, scores.hypothetical)
    logos = tmp_path / "logos"
    found = modisco_from_files(npz, tmp_path / "out.h5", logos=logos, **OPTIONS)
    names = sorted(os.listdir(logos))
    assert names == sorted(p.name.replace("_patterns/", "_") + ".png" for p in found.patterns)
    assert (logos / "pos_pattern_0.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pwm_similarity(one_hot(MOTIF).T, found.patterns[0].pwm) > 0.95
    before = (tmp_path / "out.h5").read_bytes()
    with pytest.raises(OutputError):
        modisco_from_files(npz, tmp_path / "out.h5", **OPTIONS)
    with pytest.raises(OutputError, match="already holds"):
        modisco_from_files(npz, tmp_path / "other.h5", logos=logos, **OPTIONS)
    with pytest.raises(OutputError, match="is the input"):
        modisco_from_files(npz, npz, overwrite=True, **OPTIONS)  # never over its own input
    assert (tmp_path / "out.h5").read_bytes() == before
    assert not (tmp_path / "other.h5").exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".idgrad-")]


def test_modisco_refuses_bad_input_before_running(
    planted: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    tfmodisco = pytest.importorskip("modiscolite.tfmodisco")
    real = tfmodisco.TFMoDISco

    def must_not_run(one_hot, hypothetical_contribs, sliding_window_size=21, **kw):
        raise AssertionError("TFMoDISco ran")

    monkeypatch.setattr(tfmodisco, "TFMoDISco", must_not_run)
    must_not_run.__signature__ = inspect.signature(real)  # type: ignore[attr-defined]
    x, scores = planted["x"], planted["scores"]
    with pytest.raises(ValueError, match="not hypothetical ⊙ one-hot"):
        modisco(x, scores.attributions, scores.hypothetical)
    with pytest.raises(TypeError, match="no option"):
        modisco(x, None, scores.hypothetical, window=8)
    with pytest.raises(ValueError, match="shape"):
        modisco(x, None, scores.hypothetical[:, :, :-1])
    with pytest.raises(ValueError, match="not one-hot"):
        modisco(x * 0.5, None, scores.hypothetical)
    bad = scores.hypothetical.clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        modisco(x, None, bad)


def _write(path: Path, build) -> Path:
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        f.attrs["window_size"] = 8
        build(f)
    return path


def _pattern(f, name: str = "pos_patterns/pattern_0", n: int = 2, width: int = 5) -> None:
    g = f.create_group(name)
    seq = np.full((width, 4), 0.25)
    g.create_dataset("sequence", data=seq)
    g.create_dataset("contrib_scores", data=seq * 2)
    g.create_dataset("hypothetical_contribs", data=seq * 3)
    s = g.create_group("seqlets")
    s.create_dataset("n_seqlets", data=np.array([n]))
    s.create_dataset("start", data=np.arange(n))
    s.create_dataset("end", data=np.arange(n) + width)
    s.create_dataset("example_idx", data=np.arange(n) * 3)
    s.create_dataset("is_revcomp", data=np.arange(n) % 2 == 1)


def test_read_modisco_h5_checks_what_it_reads(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    good = _write(tmp_path / "good.h5", _pattern)
    (p,) = read_modisco_h5(good, n_examples=4, length=10)
    assert [tuple(s) for s in p.seqlets] == [(0, 0, 5, "+"), (3, 1, 6, "-")]
    assert np.allclose(p.pwm, 0.25) and np.allclose(p.cwm, 0.5) and p.sign == 1
    with pytest.raises(ValueError, match="outside the 3 sequences"):
        read_modisco_h5(good, n_examples=3, length=10)
    with pytest.raises(ValueError, match="outside"):
        read_modisco_h5(good, n_examples=4, length=5)

    def objects(f):
        _pattern(f)
        del f["pos_patterns/pattern_0/contrib_scores"]
        f["pos_patterns/pattern_0"].create_dataset(
            "contrib_scores", data=np.array(["x"] * 5, dtype=h5py.string_dtype())
        )

    with pytest.raises(ValueError, match="contrib_scores has dtype"):
        read_modisco_h5(_write(tmp_path / "objects.h5", objects))

    def wrong_shape(f):
        _pattern(f)
        del f["pos_patterns/pattern_0/sequence"]
        f["pos_patterns/pattern_0"].create_dataset("sequence", data=np.zeros((5, 3)))

    with pytest.raises(ValueError, match=r"sequence has shape \(5, 3\)"):
        read_modisco_h5(_write(tmp_path / "shape.h5", wrong_shape))

    def short_column(f):
        _pattern(f)
        del f["pos_patterns/pattern_0/seqlets/end"]
        f["pos_patterns/pattern_0/seqlets"].create_dataset("end", data=np.array([5]))

    with pytest.raises(ValueError, match="end has 1 entries, not 2"):
        read_modisco_h5(_write(tmp_path / "short.h5", short_column))

    def missing(f):
        _pattern(f)
        del f["pos_patterns/pattern_0/hypothetical_contribs"]

    with pytest.raises(ValueError, match="hypothetical_contribs is missing"):
        read_modisco_h5(_write(tmp_path / "missing.h5", missing))


def test_pwm_similarity_hand_values() -> None:
    gata = one_hot("AGATAA").T.numpy()  # (6, 4)
    assert pwm_similarity(gata, gata) == pytest.approx(1.0)
    assert pwm_similarity(gata, gata[::-1, ::-1].copy()) == pytest.approx(1.0)
    wide = np.vstack([np.full((4, 4), 0.25), gata[::-1, ::-1], np.full((7, 4), 0.25)])
    assert pwm_similarity(gata, wide) == pytest.approx(1.0)
    assert pwm_similarity(torch.from_numpy(gata), torch.from_numpy(wide)) == pytest.approx(1.0)
    # one column of six changed: centred one-hots give 5 * 3/4 - 1/4 over 6 * 3/4, i.e. 7/9
    mutated = gata.copy()
    mutated[2] = np.eye(4)[1]  # AGCTAA
    assert pwm_similarity(gata, mutated, min_overlap=6) == pytest.approx(7 / 9)
    rng = np.random.default_rng(0)
    random = rng.dirichlet(np.ones(4), size=(200, 20))
    scores = [pwm_similarity(gata, r) for r in random]
    assert np.median(scores) < 0.7  # random 20-column patterns rarely look like GATA
    with pytest.raises(ValueError, match="min_overlap"):
        pwm_similarity(gata, gata, min_overlap=7)
    with pytest.raises(ValueError, match=r"\(w, 4\)"):
        pwm_similarity(gata.T, gata)
