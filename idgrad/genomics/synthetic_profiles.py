"""Planted motifs with known PWMs and the read profiles they cause: a profile model's ground truth.

:func:`planted_profiles` plants the motifs of :data:`PROFILE_MOTIFS` at known positions, of
different strengths, one also at low affinity and one that acts only at a fixed spacing from
another, and draws read profiles from them. Used with :class:`~idgrad.genomics.bpnet.BPNet`
by ``benchmarks/genomics_bpnet.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from idgrad.genomics.sequences import one_hot

__all__ = ["PROFILE_CLASSES", "PROFILE_MOTIFS", "ProfileData", "ProfileMotif", "planted_profiles"]


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
