"""Tests for idgrad.genomics.bigwig: per-position attributions to bigWig and back."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from idgrad.genomics import one_hot
from idgrad.genomics.bigwig import read_bigwig, write_bigwig
from idgrad.ops.outputs import OutputError

pytest.importorskip("pybigtools")


def _scores(n: int, length: int, seed: int = 0) -> torch.Tensor:
    """Actual-contribution-like scores (N, 4, L): a value on the observed base only."""
    rng = np.random.default_rng(seed)
    x = one_hot(["".join(rng.choice(list("ACGT"), size=length)) for _ in range(n)])
    return x * torch.from_numpy(rng.normal(size=(n, 1, length))).float()


def test_bigwig_files_read_back_equal(tmp_path: Path) -> None:
    scores = _scores(4, 25)
    coords = [("chr2", 500), ("chr1", 1000), ("chr1", 0), ("chr10", 7)]  # unsorted on purpose
    path = write_bigwig(
        tmp_path / "a.bw", scores, coords, chrom_sizes={"chr1": 5000, "chr2": 900, "chr10": 40}
    )
    back = read_bigwig(path, coords, length=25)
    expected = scores.sum(dim=1).numpy().astype(np.float32)
    assert back.dtype == np.float32 and np.array_equal(back, expected)
    # channels-last input and (N, L) input give the same file contents
    nlc = write_bigwig(tmp_path / "b.bw", scores.transpose(1, 2), coords, layout="NLC")
    per_position = write_bigwig(tmp_path / "c.bw", scores.sum(dim=1).numpy(), coords)
    for other in (nlc, per_position):
        assert np.array_equal(read_bigwig(other, coords, length=25), expected)
    # bases the file has no value for are NaN: around a sequence, and on another chromosome
    around = read_bigwig(path, [("chr1", 990), ("chrX", 0)], length=20)
    assert np.isnan(around[0, :10]).all() and np.array_equal(around[0, 10:], expected[1, :10])
    assert np.isnan(around[1]).all()


def test_bigwig_never_overwrites_unless_asked(tmp_path: Path) -> None:
    scores = _scores(2, 10)
    coords = [("chr1", 0), ("chr1", 10)]
    target = tmp_path / "keep.bw"
    target.write_bytes(b"the user's file")
    with pytest.raises(OutputError, match="overwrite=True"):
        write_bigwig(target, scores, coords)
    assert target.read_bytes() == b"the user's file"
    write_bigwig(target, scores, coords, overwrite=True)
    assert np.array_equal(
        read_bigwig(target, coords, 10), scores.sum(dim=1).numpy().astype(np.float32)
    )
    assert sorted(os.listdir(tmp_path)) == ["keep.bw"]  # no temporary file left behind


def test_bigwig_errors_name_the_problem_and_leave_nothing(tmp_path: Path) -> None:
    scores = _scores(2, 10)
    out = tmp_path / "x.bw"
    with pytest.raises(ValueError, match="sequences 0 and 1 overlap on chr1"):
        write_bigwig(out, scores, [("chr1", 0), ("chr1", 5)])
    with pytest.raises(ValueError, match="past its size 15"):
        write_bigwig(out, scores, [("chr1", 0), ("chr1", 10)], chrom_sizes={"chr1": 15})
    with pytest.raises(ValueError, match="no entry for 'chr2'"):
        write_bigwig(out, scores, [("chr1", 0), ("chr2", 0)], chrom_sizes={"chr1": 15})
    with pytest.raises(ValueError, match="3 entries for 2 sequences"):
        write_bigwig(out, scores, [("chr1", 0), ("chr1", 20), ("chr1", 40)])
    with pytest.raises(ValueError, match="start must be an int >= 0"):
        write_bigwig(out, scores, [("chr1", -1), ("chr1", 20)])
    bad = scores.clone()
    bad[1, 0, 3] = float("inf")
    with pytest.raises(ValueError, match="sequence 1, position 3"):
        write_bigwig(out, bad, [("chr1", 0), ("chr1", 20)])
    with pytest.raises(OutputError, match="does not exist"):
        write_bigwig(tmp_path / "no" / "x.bw", scores, [("chr1", 0), ("chr1", 20)])
    assert os.listdir(tmp_path) == []
