"""Synthetic sequences with planted motifs and a tiny CNN that learns them.

A ground truth for attributions: the label depends only on planted motif instances, so a good
attribution should put its mass inside them. Used by the tests and by
``benchmarks/genomics_motifs.py``.

* :func:`planted_motifs` — i.i.d. background with no accidental motif match, then in each
  positive sequence one instance of a random non-empty subset of the motifs (either strand) at
  random non-overlapping positions; label 1 iff something was planted.
* :func:`motif_cnn` / :func:`train_motif_model` — conv → ReLU → global max → linear, trained
  with Adam on the logistic loss; a few seconds on two CPU cores.

The scores of attributions against the planted mask are in
:mod:`~idgrad.genomics.motif_recovery` (:func:`~idgrad.genomics.motif_recovery.topk_precision`,
:func:`~idgrad.genomics.motif_recovery.auroc`); the same ground truth for a profile model in
:mod:`~idgrad.genomics.synthetic_profiles` (motifs with known PWMs, read profiles) and
:mod:`~idgrad.genomics.bpnet` (a small BPNet and its loss).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from idgrad.genomics._training import train_epochs
from idgrad.genomics.bpnet import BPNet as BPNet
from idgrad.genomics.bpnet import train_bpnet as train_bpnet
from idgrad.genomics.motif_recovery import auroc as auroc
from idgrad.genomics.motif_recovery import topk_precision as topk_precision
from idgrad.genomics.sequences import one_hot
from idgrad.genomics.synthetic_profiles import PROFILE_CLASSES as PROFILE_CLASSES
from idgrad.genomics.synthetic_profiles import PROFILE_MOTIFS as PROFILE_MOTIFS
from idgrad.genomics.synthetic_profiles import ProfileData as ProfileData
from idgrad.genomics.synthetic_profiles import ProfileMotif as ProfileMotif
from idgrad.genomics.synthetic_profiles import planted_profiles as planted_profiles

# The names imported "as" themselves above, defined here before, stay importable from here.
__all__ = [
    "CTCF_MOTIF",
    "GATA_MOTIF",
    "MotifData",
    "motif_cnn",
    "planted_motifs",
    "train_motif_model",
]

GATA_MOTIF = "AGATAA"
"""GATA-family core (WGATAR consensus, one instance)."""
CTCF_MOTIF = "CCACCAGGGGGCGC"
"""CTCF core consensus (the 14 central bases of the JASPAR MA0139 site)."""

_COMPLEMENT = str.maketrans("ACGT", "TGCA")


def _revcomp(s: str) -> str:
    return s.translate(_COMPLEMENT)[::-1]


class MotifData(NamedTuple):
    """Result of :func:`planted_motifs`."""

    sequences: torch.Tensor
    """``(N, 4, L)`` one-hot, float32."""
    labels: torch.Tensor
    """``(N,)`` float32, 1 where a motif was planted."""
    mask: torch.Tensor
    """``(N, L)`` bool, True on planted motif positions."""
    strings: list[str]
    """The sequences as letters."""


def planted_motifs(
    n_sequences: int,
    length: int,
    motifs: Sequence[str] = (GATA_MOTIF, CTCF_MOTIF),
    positive_fraction: float = 0.5,
    gc: float = 0.4,
    seed: int = 0,
) -> MotifData:
    """Random sequences, half of them carrying planted motifs.

    Background letters are i.i.d. with ``P(C) = P(G) = gc/2``; any window matching a motif or
    its reverse complement is redrawn, before and after planting, so motifs occur only where
    planted. Each positive sequence gets one instance of each motif in a random non-empty
    subset, each on a random strand, at random non-overlapping positions.

    Args:
        n_sequences: ``N``.
        length: ``L`` (must fit every motif side by side).
        motifs: motif strings over ``ACGT``.
        positive_fraction: expected fraction of sequences with motifs.
        gc: background GC fraction.
        seed: numpy seed (torch's global RNG is not touched).

    Example:
        >>> data = planted_motifs(4, 40, seed=0)
        >>> data.sequences.shape, data.mask.shape
        (torch.Size([4, 4, 40]), torch.Size([4, 40]))
        >>> bool((data.mask.any(dim=1).float() == data.labels).all())
        True
    """
    if n_sequences < 1 or length < 1:
        raise ValueError(f"n_sequences and length must be positive, got {n_sequences}, {length}")
    motifs = [m.upper() for m in motifs]
    if not motifs or any(not m or set(m) - set("ACGT") for m in motifs):
        raise ValueError(f"motifs must be non-empty ACGT strings, got {motifs!r}")
    if sum(len(m) for m in motifs) > length:
        raise ValueError(f"length {length} cannot hold all motifs {motifs!r}")
    if not 0 <= positive_fraction <= 1 or not 0 < gc < 1:
        raise ValueError("positive_fraction must be in [0, 1] and gc in (0, 1)")
    rng = np.random.default_rng(seed)
    probs = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    patterns = sorted({m for m in motifs} | {_revcomp(m) for m in motifs})
    strings: list[str] = []
    mask = np.zeros((n_sequences, length), dtype=bool)
    labels = np.zeros(n_sequences, dtype=np.float32)
    for k in range(n_sequences):
        letters = np.array(list("ACGT"))[rng.choice(4, size=length, p=probs)]
        seq = "".join(letters)
        for _ in range(1000):  # redraw accidental matches
            hits = [i for p in patterns for i in _find_all(seq, p)]
            if not hits:
                break
            chars = list(seq)
            for i in hits:
                chars[i] = "ACGT"[rng.choice(4, p=probs)]
            seq = "".join(chars)
        if rng.random() < positive_fraction:
            chosen = [m for m in motifs if rng.random() < 0.5] or [
                motifs[rng.integers(len(motifs))]
            ]
            chars = list(seq)
            placed = _place(chosen, length, rng, mask[k])
            for start, text in placed:
                chars[start : start + len(text)] = list(text)
            seq = _remove_stray_matches("".join(chars), patterns, placed, mask[k], rng, probs)
            labels[k] = 1.0
        strings.append(seq)
    return MotifData(one_hot(strings), torch.from_numpy(labels), torch.from_numpy(mask), strings)


def _remove_stray_matches(
    seq: str,
    patterns: list[str],
    placed: list[tuple[int, str]],
    mask_row: np.ndarray,
    rng: np.random.Generator,
    probs: np.ndarray,
) -> str:
    """Redraw background letters of matches that planting created across a motif's edge."""
    legit = set(placed)
    for _ in range(1000):
        stray = [(i, p) for p in patterns for i in _find_all(seq, p) if (i, p) not in legit]
        if not stray:
            return seq
        chars = list(seq)
        for i, p in stray:
            free = [j for j in range(i, i + len(p)) if not mask_row[j]]
            if free:
                chars[free[int(rng.integers(len(free)))]] = "ACGT"[rng.choice(4, p=probs)]
        seq = "".join(chars)
    return seq


def _find_all(seq: str, pattern: str) -> list[int]:
    hits, i = [], seq.find(pattern)
    while i >= 0:
        hits.append(i)
        i = seq.find(pattern, i + 1)
    return hits


def _place(
    chosen: list[str], length: int, rng: np.random.Generator, mask_row: np.ndarray
) -> list[tuple[int, str]]:
    """Non-overlapping random starts for the chosen motifs (random strand); marks ``mask_row``."""
    order = [chosen[i] for i in rng.permutation(len(chosen))]
    free = length - sum(len(m) for m in order)
    gaps = np.sort(rng.integers(0, free + 1, size=len(order)))
    placed, offset = [], 0
    for gap, motif in zip(gaps, order):
        start = int(gap) + offset
        text = motif if rng.random() < 0.5 else _revcomp(motif)
        placed.append((start, text))
        mask_row[start : start + len(text)] = True
        offset += len(motif)
    return placed


def motif_cnn(n_filters: int = 16, kernel_size: int = 15, seed: int = 0) -> nn.Module:
    """A one-layer CNN: ``Conv1d(4, F, k) → ReLU → max over positions → Linear(F, 1)``.

    Maps ``(n, 4, L)`` to a logit ``(n,)``. Initialised from ``seed`` without touching torch's
    global RNG.

    Example:
        >>> motif_cnn(n_filters=4)(torch.zeros(2, 4, 30)).shape
        torch.Size([2])
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Conv1d(4, n_filters, kernel_size, padding=kernel_size // 2),
            nn.ReLU(),
            nn.AdaptiveMaxPool1d(1),
            nn.Flatten(),
            nn.Linear(n_filters, 1),
            nn.Flatten(0),
        )


def train_motif_model(
    model: nn.Module,
    sequences: torch.Tensor,
    labels: torch.Tensor,
    epochs: int = 20,
    batch_size: int = 64,
    lr: float = 1e-2,
    weight_decay: float = 0.0,
    seed: int = 0,
) -> list[float]:
    """Fit ``model`` (logit output) with AdamW on the logistic loss; return the epoch losses.

    Leaves the model in eval mode. Batches are drawn from ``seed`` without touching torch's
    global RNG.

    Example:
        >>> data = planted_motifs(64, 30, seed=0)
        >>> losses = train_motif_model(motif_cnn(n_filters=4), data.sequences, data.labels,
        ...                            epochs=2)
        >>> len(losses)
        2
    """
    if sequences.shape[0] != labels.shape[0]:
        raise ValueError(f"{sequences.shape[0]} sequences but {labels.shape[0]} labels")
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.BCEWithLogitsLoss()

    def chunk_loss(chunk: torch.Tensor) -> torch.Tensor:
        return loss_fn(model(sequences[chunk]), labels[chunk].to(torch.float32))

    return train_epochs(
        model, opt, sequences.shape[0], chunk_loss, epochs=epochs, batch_size=batch_size, seed=seed
    )
