"""Synthetic sequences with planted motifs, a tiny CNN, and motif-recovery scores.

A ground truth for attributions: the label depends only on planted motif instances, so a good
attribution should put its mass inside them. Used by the tests and by
``benchmarks/genomics_motifs.py``.

* :func:`planted_motifs` — i.i.d. background with no accidental motif match, then in each
  positive sequence one instance of a random non-empty subset of the motifs (either strand) at
  random non-overlapping positions; label 1 iff something was planted.
* :func:`motif_cnn` / :func:`train_motif_model` — conv → ReLU → global max → linear, trained
  with Adam on the logistic loss; a few seconds on two CPU cores.
* :func:`topk_precision` / :func:`auroc` — per-sequence agreement of position scores with the
  planted-motif mask (chance: the mask fraction, and 0.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from idgrad.genomics.sequences import one_hot

__all__ = [
    "CTCF_MOTIF",
    "GATA_MOTIF",
    "MotifData",
    "auroc",
    "motif_cnn",
    "planted_motifs",
    "topk_precision",
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
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.BCEWithLogitsLoss()
    model.train()
    history = []
    for _ in range(epochs):
        order = torch.randperm(sequences.shape[0], generator=gen)
        total = 0.0
        for chunk in order.split(batch_size):
            opt.zero_grad()
            loss = loss_fn(model(sequences[chunk]), labels[chunk].to(torch.float32))
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(chunk)
        history.append(total / sequences.shape[0])
    opt.zero_grad(set_to_none=True)
    model.eval()
    return history


def _check_scores(scores: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    s = torch.as_tensor(scores).detach().to(torch.float64).cpu()
    m = torch.as_tensor(mask).detach().to(torch.bool).cpu()
    if s.shape != m.shape or s.dim() != 2:
        raise ValueError(
            f"scores and mask must both be (N, L), got {tuple(s.shape)} and {tuple(m.shape)}"
        )
    return s, m


def topk_precision(scores: torch.Tensor, mask: torch.Tensor, k: int | None = None) -> torch.Tensor:
    """Fraction of the ``k`` top-scored positions of each sequence that lie in the mask.

    ``k`` defaults to the mask size of each sequence (then precision = recall). Rows with an
    empty mask give NaN. Ties are broken by position (stable sort). Chance level is
    ``mask.sum() / L``.

    Example:
        >>> topk_precision(torch.tensor([[0.1, 0.9, 0.8, 0.0]]),
        ...                torch.tensor([[False, True, False, True]]))
        tensor([0.5000], dtype=torch.float64)
    """
    s, m = _check_scores(scores, mask)
    order = torch.argsort(-s, dim=1, stable=True)
    hits = torch.gather(m, 1, order).to(torch.float64)
    out = torch.full((s.shape[0],), float("nan"), dtype=torch.float64)
    for row in range(s.shape[0]):
        kk = int(m[row].sum()) if k is None else k
        if kk > 0 and m[row].any():
            out[row] = hits[row, :kk].mean()
    return out


def auroc(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-sequence area under the ROC curve of ``scores`` for the mask (ties count 1/2).

    ``AUROC = P(score at a random masked position > at a random unmasked one)``, computed from
    average ranks (Mann–Whitney); NaN where the mask is empty or full.

    Example:
        >>> auroc(torch.tensor([[0.1, 0.9, 0.8, 0.0]]), torch.tensor([[False, True, False, True]]))
        tensor([0.5000], dtype=torch.float64)
    """
    s, m = _check_scores(scores, mask)
    out = torch.full((s.shape[0],), float("nan"), dtype=torch.float64)
    for row in range(s.shape[0]):
        pos, neg = s[row][m[row]], s[row][~m[row]]
        if len(pos) == 0 or len(neg) == 0:
            continue
        greater = (pos[:, None] > neg[None, :]).to(torch.float64).sum()
        ties = (pos[:, None] == neg[None, :]).to(torch.float64).sum()
        out[row] = (greater + 0.5 * ties) / (len(pos) * len(neg))
    return out
