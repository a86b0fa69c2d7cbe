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
* :func:`planted_profiles` / :class:`BPNet` / :func:`train_bpnet` — the same for a profile model:
  motifs with known PWMs (:data:`PROFILE_MOTIFS`) planted at known positions, of different
  strengths, one also at low affinity and one that acts only at a fixed spacing from another,
  with read profiles drawn from them; a small BPNet (dilated residual convolutions, a profile
  and a count head) and BPNet's loss. Used by ``benchmarks/genomics_bpnet.py``.
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
    "PROFILE_CLASSES",
    "PROFILE_MOTIFS",
    "BPNet",
    "MotifData",
    "ProfileData",
    "ProfileMotif",
    "auroc",
    "motif_cnn",
    "planted_motifs",
    "planted_profiles",
    "topk_precision",
    "train_bpnet",
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


# ----------------------------------------------------------------------------- profile models


def _pwm(
    consensus: str, degenerate: dict[int, str] | None = None, peak: float = 0.91
) -> np.ndarray:
    """``(w, 4)`` probabilities: ``peak`` on the consensus base, the rest shared; at a
    degenerate position the listed bases share ``peak``."""
    rows = np.full((len(consensus), 4), (1 - peak) / 3)
    for i, base in enumerate(consensus):
        choices = (degenerate or {}).get(i, base)
        rows[i] = (1 - peak) / (4 - len(choices)) if len(choices) < 4 else 0.0
        for b in choices:
            rows[i, "ACGT".index(b)] = peak / len(choices)
    return rows


class ProfileMotif(NamedTuple):
    """A motif of :func:`planted_profiles`: its PWM and how strongly it drives the reads."""

    name: str
    pwm: np.ndarray
    """``(w, 4)`` base probabilities (what a planted instance is drawn from)."""
    strength: float
    """Reads it adds at full affinity, relative to the strongest motif."""


#: The motifs :func:`planted_profiles` plants: a strong GATA site (also planted at low
#: affinity), a medium AP-1 site, a weak GC-box, and an E-box that acts only 12 bp upstream
#: of a GATA site (a spacing rule; alone it does almost nothing).
PROFILE_MOTIFS: tuple[ProfileMotif, ...] = (
    ProfileMotif("GATA", _pwm("AGATAAG", {0: "AT", 6: "AG"}), 1.0),
    ProfileMotif("AP1", _pwm("TGACTCA", {3: "CG"}), 0.5),
    ProfileMotif("GCbox", _pwm("GGGGCGGGG", {0: "AG", 8: "AG"}), 0.25),
    ProfileMotif("Ebox", _pwm("CACGTG"), 0.05),
)

#: Ground-truth classes of the planted instances, in :attr:`ProfileData.instances`.
PROFILE_CLASSES = ("GATA", "GATA low-affinity", "AP1", "GCbox", "Ebox paired", "Ebox alone")
_EBOX_SPACING = 12  # E-box start = GATA start - 12 (E-box upstream) in a cooperative pair
_EBOX_BOOST = 0.6  # reads a correctly spaced E-box adds, on top of the GATA site's


class ProfileData(NamedTuple):
    """Result of :func:`planted_profiles`."""

    sequences: torch.Tensor
    """``(N, 4, L)`` one-hot, float32."""
    profiles: torch.Tensor
    """``(N, L)`` read counts per position (Poisson draws around the true profile)."""
    expected: torch.Tensor
    """``(N, L)`` the true (expected) profile the reads were drawn from."""
    instances: list[tuple[int, int, int, str, str]]
    """Every planted instance: ``(sequence, start, end, class, strand)``, ``class`` one of
    :data:`PROFILE_CLASSES`."""

    def mask(self, classes: Sequence[str] | None = None) -> torch.Tensor:
        """``(N, L)`` bool: True on the planted positions of ``classes`` (None: all)."""
        n, length = self.sequences.shape[0], self.sequences.shape[2]
        out = torch.zeros(n, length, dtype=torch.bool)
        for k, start, end, cls, _ in self.instances:
            if classes is None or cls in classes:
                out[k, start:end] = True
        return out


def _log_odds(pwm: np.ndarray) -> np.ndarray:
    return np.log(pwm / 0.25)


def _best_score(pwm: np.ndarray) -> float:
    return float(_log_odds(pwm).max(axis=1).sum())


def _scan(codes: np.ndarray, pwm: np.ndarray) -> np.ndarray:
    """Best log-odds of either strand at every start, ``(L - w + 1,)``."""
    lo = _log_odds(pwm)
    rc = lo[::-1, ::-1]
    w = len(pwm)
    windows = np.lib.stride_tricks.sliding_window_view(codes, w)
    fwd = lo[np.arange(w), windows].sum(axis=1)
    rev = rc[np.arange(w), windows].sum(axis=1)
    return np.maximum(fwd, rev)


def planted_profiles(
    n_sequences: int,
    length: int = 160,
    *,
    gc: float = 0.42,
    depth: float = 200.0,
    seed: int = 0,
) -> ProfileData:
    """Sequences with motifs planted at known positions, and the read profiles they cause.

    The background is i.i.d. (GC fraction ``gc``) with every window that scores within 4 nats
    of a motif's best log-odds redrawn, so motifs occur only where planted. Each sequence then
    gets, independently: a GATA site (probability 0.5), a GATA site at low affinity (one
    consensus base mutated, 0.4), an AP-1 site (0.5), a GC-box (0.5), an E-box 12 bp upstream
    of a GATA site (a pair, 0.35) and a lone E-box (0.35), each drawn from its PWM
    (:data:`PROFILE_MOTIFS`), on a random strand, at non-overlapping positions.

    Each instance adds ``depth · strength · affinity`` reads around its centre (a Laplace
    footprint, scale 4 bp), ``affinity = exp(0.3 (score − best score))`` of the instance's own
    log-odds (1 for the consensus, about 0.36 for one mismatch); a paired E-box adds
    ``0.6 · depth · affinity`` more around the pair, a lone one only its own small strength.
    On top, ``0.05`` reads per bp. The reads are Poisson draws around
    that expected profile (numpy ``seed``; torch's RNG is not touched).

    Example:
        >>> data = planted_profiles(4, 120, seed=0)
        >>> data.sequences.shape, data.profiles.shape
        (torch.Size([4, 4, 120]), torch.Size([4, 120]))
        >>> {cls for *_, cls, _ in data.instances} <= set(PROFILE_CLASSES)
        True
    """
    if n_sequences < 1 or length < 100:
        raise ValueError(f"need n_sequences >= 1 and length >= 100, got {n_sequences}, {length}")
    rng = np.random.default_rng(seed)
    probs = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    gata, ap1, gcbox, ebox = PROFILE_MOTIFS
    strings, truth = [], []
    reads, expected_all = np.zeros((n_sequences, length)), np.zeros((n_sequences, length))
    positions = np.arange(length)
    for k in range(n_sequences):
        codes = rng.choice(4, size=length, p=probs)
        for _ in range(200):  # remove accidental near-matches of every motif
            hits = [
                (i, len(m.pwm))
                for m in PROFILE_MOTIFS
                for i in np.flatnonzero(_scan(codes, m.pwm) > _best_score(m.pwm) - 4.0)
            ]
            if not hits:
                break
            for i, w in hits:
                codes[i + rng.integers(w)] = rng.choice(4, p=probs)
        plan: list[tuple[str, ProfileMotif, int]] = []  # (class, motif, mutations)
        if rng.random() < 0.5:
            plan.append(("GATA", gata, 0))
        if rng.random() < 0.4:
            plan.append(("GATA low-affinity", gata, 1))
        if rng.random() < 0.5:
            plan.append(("AP1", ap1, 0))
        if rng.random() < 0.5:
            plan.append(("GCbox", gcbox, 0))
        if rng.random() < 0.35:
            plan.append(("Ebox paired", ebox, 0))
        if rng.random() < 0.35:
            plan.append(("Ebox alone", ebox, 0))
        occupied = np.zeros(length, dtype=bool)
        expected = np.full(length, 0.05)
        for cls, motif, mutations in [plan[i] for i in rng.permutation(len(plan))]:
            w = len(motif.pwm)
            span = w + (_EBOX_SPACING + len(gata.pwm) - w if cls == "Ebox paired" else 0)
            free = [
                s for s in range(2, length - span - 2) if not occupied[s - 2 : s + span + 2].any()
            ]
            if not free:
                continue
            start = int(rng.choice(free))
            placed = [(cls, motif, mutations, start)]
            if cls == "Ebox paired":  # E-box, then the GATA site 12 bp after its start
                placed.append(("GATA", gata, 0, start + _EBOX_SPACING))
            for name, m, muts, s in placed:
                site = np.array([rng.choice(4, p=row) for row in m.pwm])
                consensus = m.pwm.argmax(axis=1)
                site = np.where(m.pwm.max(axis=1) > 0.6, consensus, site)  # core kept
                if muts:
                    core = np.flatnonzero(m.pwm.max(axis=1) > 0.6)
                    for i in rng.choice(core, size=muts, replace=False):
                        site[i] = rng.choice([b for b in range(4) if b != consensus[i]])
                strand = "+" if rng.random() < 0.5 else "-"
                text = site if strand == "+" else (3 - site)[::-1]
                codes[s : s + len(text)] = text
                occupied[s : s + len(text)] = True
                score = float((_log_odds(m.pwm)[np.arange(len(site)), site]).sum())
                affinity = float(np.exp(0.3 * (score - _best_score(m.pwm))))
                centre = s + (len(text) - 1) / 2
                footprint = np.exp(-np.abs(positions - centre) / 4.0)
                expected += depth * m.strength * affinity * footprint / footprint.sum()
                if name == "Ebox paired":
                    pair_centre = (s + s + _EBOX_SPACING + len(gata.pwm)) / 2
                    boost = np.exp(-np.abs(positions - pair_centre) / 6.0)
                    expected += depth * _EBOX_BOOST * affinity * boost / boost.sum()
                truth.append((k, s, s + len(text), name, strand))
        strings.append("".join("ACGT"[c] for c in codes))
        reads[k] = rng.poisson(expected)
        expected_all[k] = expected
    return ProfileData(
        one_hot(strings),
        torch.from_numpy(reads).float(),
        torch.from_numpy(expected_all).float(),
        truth,
    )


class _Residual(nn.Module):
    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.relu = nn.ReLU()  # one module per layer (DeepLIFT rules attach to modules)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.relu(self.conv(h))


class BPNet(nn.Module):
    """A small BPNet: dilated residual convolutions, a profile head and a count head.

    ``(n, 4, L)`` one-hot → ``(profile logits (n, L), log counts (n,))``: a first convolution
    (``channels`` filters of width 21) and ReLU, ``layers`` residual blocks
    ``h + ReLU(conv_d(h))`` with dilations ``2, 4, …, 2^layers``, then the profile head (a
    width-25 convolution to one track) and the count head (mean over positions, then a linear
    map). About 93k parameters with the defaults. Trained by :func:`train_bpnet`.

    Example:
        >>> profile, counts = BPNet(seed=0)(torch.zeros(2, 4, 120))
        >>> profile.shape, counts.shape
        (torch.Size([2, 120]), torch.Size([2]))
    """

    def __init__(self, channels: int = 64, layers: int = 7, seed: int = 0) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.stem = nn.Conv1d(4, channels, 21, padding=10)
            self.stem_relu = nn.ReLU()
            self.body = nn.Sequential(*(_Residual(channels, 2 ** (i + 1)) for i in range(layers)))
            self.profile_head = nn.Conv1d(channels, 1, 25, padding=12)
            self.count_head = nn.Linear(channels, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(self.stem_relu(self.stem(x)))
        return self.profile_head(h)[:, 0], self.count_head(h.mean(dim=2))[:, 0]


def train_bpnet(
    model: nn.Module,
    sequences: torch.Tensor,
    profiles: torch.Tensor,
    *,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 2e-3,
    count_weight: float = 10.0,
    seed: int = 0,
) -> list[float]:
    """Fit a profile model with BPNet's loss; return the loss of each epoch.

    Loss per sequence: the multinomial negative log-likelihood of the reads under
    ``softmax(profile logits)`` plus ``count_weight`` times the squared error of the log
    counts against ``log(1 + total reads)``. Adam; batches drawn from ``seed`` (torch's global
    RNG is not touched); the model is left in eval mode.

    Example:
        >>> data = planted_profiles(16, 120, seed=0)
        >>> len(train_bpnet(BPNet(channels=8, layers=2), data.sequences, data.profiles,
        ...                 epochs=1))
        1
    """
    if sequences.shape[0] != profiles.shape[0]:
        raise ValueError(f"{sequences.shape[0]} sequences but {profiles.shape[0]} profiles")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    log_total = torch.log1p(profiles.sum(dim=1))
    model.train()
    history = []
    for _ in range(epochs):
        order = torch.randperm(sequences.shape[0], generator=gen)
        total = 0.0
        for chunk in order.split(batch_size):
            opt.zero_grad()
            logits, counts = model(sequences[chunk])
            nll = -(profiles[chunk] * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
            loss = nll + count_weight * ((counts - log_total[chunk]) ** 2).mean()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(chunk)
        history.append(total / sequences.shape[0])
    opt.zero_grad(set_to_none=True)
    model.eval()
    return history
