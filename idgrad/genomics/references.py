"""Reference (baseline) sequences for genomic path attributions.

Deterministic references have the shape of the input; :func:`dinucleotide_shuffle` returns
``n_shuffles`` references per input, ``(N, R, 4, L)`` (or ``(N, R, L, 4)`` for channels-last
input), ready for :func:`idgrad.genomics.expected_attributions`.

Every reference is zero where the input has an ``N`` (an all-zero column), so that position gets
no attribution: ``x_i - x'_i = 0`` there.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import overload

import numpy as np
import torch

from idgrad.frameworks.boundary import at_boundary
from idgrad.genomics.sequences import (
    _resolve_layout,
    check_one_hot,
    from_channels_first,
    to_channels_first,
)

__all__ = [
    "dinucleotide_counts",
    "dinucleotide_shuffle",
    "gc_reference",
    "uniform_reference",
    "zeros_reference",
]

Seed = int | torch.Generator | None


@at_boundary(models=(), numpy_inputs=None)  # frameworks hook: JAX arrays in and out
def zeros_reference(inputs: torch.Tensor, layout: str | None = None) -> torch.Tensor:
    """The all-zero reference ``x' = 0`` (same shape, dtype and device as ``inputs``).

    Example:
        >>> from idgrad.genomics import one_hot
        >>> zeros_reference(one_hot(["ACGTA"])).sum().item()
        0.0
    """
    if layout is not None:
        _resolve_layout(inputs, layout)
    elif not isinstance(inputs, torch.Tensor):
        raise TypeError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
    return torch.zeros_like(inputs)


@at_boundary(models=(), numpy_inputs=None)  # frameworks hook: JAX arrays in and out
def uniform_reference(inputs: torch.Tensor, layout: str | None = None) -> torch.Tensor:
    """The flat reference ``x'_{c,i} = 1/4`` at every called position, ``0`` at ``N``.

    Example:
        >>> from idgrad.genomics import one_hot
        >>> uniform_reference(one_hot(["AN"]))[0]
        tensor([[0.2500, 0.0000],
                [0.2500, 0.0000],
                [0.2500, 0.0000],
                [0.2500, 0.0000]])
    """
    lay = _resolve_layout(inputs, layout)
    cf = to_channels_first(inputs.detach(), lay)
    called = (cf != 0).any(dim=-2, keepdim=True)
    ref = called.to(inputs.dtype).expand_as(cf) / cf.shape[-2]
    return from_channels_first(ref.contiguous(), lay).contiguous()


@at_boundary(models=(), numpy_inputs=None)  # frameworks hook: JAX arrays in and out
def gc_reference(
    inputs: torch.Tensor, layout: str | None = None, alphabet: str = "ACGT"
) -> torch.Tensor:
    """GC-matched background: per-sequence GC fraction ``g`` spread over every called position.

    ``g = (#C + #G) / #called`` for each sequence, then at every called position
    ``x'_A = x'_T = (1 - g) / 2`` and ``x'_C = x'_G = g / 2``; ``N`` positions stay ``0``
    (``g = 1/2`` for a sequence with no called base).

    Args:
        inputs: one-hot ``(N, 4, L)`` or ``(N, L, 4)``.
        layout: ``"NCL"``, ``"NLC"`` or ``None`` to infer it.
        alphabet: channel order; must contain ``A``, ``C``, ``G``, ``T`` (or ``U``).

    Example:
        >>> from idgrad.genomics import one_hot
        >>> gc_reference(one_hot(["GGGAA"]))[0, :, 0]
        tensor([0.2000, 0.3000, 0.3000, 0.2000])
    """
    lay = check_one_hot(inputs, layout)
    up = alphabet.upper()
    weak = [up.find("A"), up.find("T") if "T" in up else up.find("U")]
    strong = [up.find("C"), up.find("G")]
    if min(weak + strong) < 0 or len(up) != 4:
        raise ValueError(f"gc_reference needs a 4-letter A/C/G/T(U) alphabet, got {alphabet!r}")
    cf = to_channels_first(inputs.detach(), lay).to(torch.float64)
    batch = cf if cf.dim() == 3 else cf[None]
    called = batch.sum(dim=1)  # (N, L), 1 where called
    n_called = called.sum(dim=-1)
    n_gc = batch[:, strong].sum(dim=(1, 2))
    g = torch.where(n_called > 0, n_gc / n_called.clamp(min=1), torch.full_like(n_gc, 0.5))
    column = torch.zeros(batch.shape[0], 4, dtype=torch.float64, device=inputs.device)
    column[:, weak] = ((1 - g) / 2)[:, None]
    column[:, strong] = (g / 2)[:, None]
    ref = column[:, :, None] * called[:, None, :]
    ref = ref if cf.dim() == 3 else ref[0]
    return from_channels_first(ref.to(inputs.dtype), lay).contiguous()


def _numpy_rng(seed: Seed) -> np.random.Generator:
    """A numpy generator drawn from ``seed`` (int), a ``torch.Generator`` or torch's global RNG."""
    if isinstance(seed, bool):
        raise TypeError("seed must be an int, a torch.Generator or None, not a bool")
    if isinstance(seed, int):
        return np.random.default_rng(seed)
    if seed is None or isinstance(seed, torch.Generator):
        draw = torch.randint(0, 2**62, (2,), generator=seed, dtype=torch.int64)
        return np.random.default_rng([int(v) for v in draw])
    raise TypeError(f"seed must be an int, a torch.Generator or None, got {type(seed).__name__}")


def _shuffle_codes(codes: list[int], rng: np.random.Generator) -> list[int]:
    """One uniformly random sequence with the same dinucleotide counts and first letter.

    The sequence is an Eulerian trail in the multigraph whose edges are its dinucleotides. A
    trail is fixed by (a) for every letter other than the last one, which of its outgoing edges is
    used last (these "last exits" form a spanning tree directed to the last letter), and (b) the
    order of its other outgoing edges. (a) is drawn with Wilson's loop-erased random walk over
    edge instances, (b) by a uniform permutation; together every trail, hence every sequence, is
    equally likely (BEST theorem; Altschul & Erickson 1985, Kandel et al. 1996).
    """
    length = len(codes)
    if length <= 2:
        return list(codes)
    edges: dict[int, list[int]] = {}
    for a, b in pairwise(codes):
        edges.setdefault(a, []).append(b)
    root = codes[-1]
    last_exit: dict[int, int] = {}
    in_tree = {root}
    for start in edges:
        u = start
        while u not in in_tree:  # random walk; overwriting last_exit erases loops
            last_exit[u] = int(rng.integers(len(edges[u])))
            u = edges[u][last_exit[u]]
        u = start
        while u not in in_tree:
            in_tree.add(u)
            u = edges[u][last_exit[u]]
    order: dict[int, list[int]] = {}
    for v, out in edges.items():
        if v == root:
            order[v] = [out[j] for j in rng.permutation(len(out))]
        else:
            keep = last_exit[v]
            rest = [out[j] for j in rng.permutation(len(out)) if j != keep]
            order[v] = rest + [out[keep]]
    pointer = dict.fromkeys(order, 0)
    result = [codes[0]]
    for _ in range(length - 1):
        v = result[-1]
        result.append(order[v][pointer[v]])
        pointer[v] += 1
    return result


def _shuffle_between_fixed(
    codes: list[int], fixed: frozenset[int], rng: np.random.Generator
) -> list[int]:
    """Shuffle each maximal run of ``codes`` between ``fixed`` letters; those stay in place.

    Each run is drawn by :func:`_shuffle_codes` (its own dinucleotide counts, first and last
    letter), independently of the others, so the result is uniform over the product of the runs'
    valid shuffles. The pairs that touch a fixed letter keep both letters (the runs' ends do not
    move), hence the counts of the whole sequence are kept too.
    """
    out: list[int] = []
    run: list[int] = []
    for c in codes:
        if c in fixed:
            out += _shuffle_codes(run, rng) if run else []
            out.append(c)
            run = []
        else:
            run.append(c)
    out += _shuffle_codes(run, rng) if run else []
    return out


@overload
def dinucleotide_shuffle(  # type: ignore[overload-overlap]
    sequences: str, n_shuffles: int = ..., seed: Seed = ..., layout: str | None = ...
) -> list[str]: ...
@overload
def dinucleotide_shuffle(
    sequences: Sequence[str], n_shuffles: int = ..., seed: Seed = ..., layout: str | None = ...
) -> list[list[str]]: ...
@overload
def dinucleotide_shuffle(
    sequences: torch.Tensor, n_shuffles: int = ..., seed: Seed = ..., layout: str | None = ...
) -> torch.Tensor: ...
@at_boundary(models=(), numpy_inputs=None)  # frameworks hook: JAX arrays in and out
def dinucleotide_shuffle(
    sequences: str | Sequence[str] | torch.Tensor,
    n_shuffles: int = 1,
    seed: Seed = None,
    layout: str | None = None,
) -> str | list[str] | list[list[str]] | torch.Tensor:
    """Random sequences with exactly the dinucleotide counts of each input (Euler-trail shuffle).

    ``N`` positions (an all-zero column; the letters ``N``/``n`` in strings) stay where they
    are, and each run of called bases between them is shuffled on its own: a shuffle ``r'`` of a
    run ``r`` satisfies ``#{i: r'_i r'_{i+1} = ab} = #{i: r_i r_{i+1} = ab}`` for every pair
    ``ab``, hence also the same letter counts, with ``r'_0 = r_0`` and ``r'_{-1} = r_{-1}``. The
    whole sequence keeps its dinucleotide counts, its first and last letter, and its ``N``
    columns, so every reference is zero where the input is ``N`` and that position gets no
    attribution. Each run is drawn uniformly among all its valid shuffles, independently of the
    other runs (Altschul & Erickson, 1985), so short runs may come back unchanged: ``"ACGT"``
    has no other arrangement.

    Args:
        sequences: a string, a list of strings, or a one-hot tensor ``(C, L)`` / ``(N, C, L)``
            (or channels last).
        n_shuffles: references ``R`` drawn per sequence.
        seed: an int, a ``torch.Generator`` (advanced by the call), or ``None`` for torch's global
            RNG. The same seed gives the same shuffles.
        layout: for tensor input: ``"NCL"``, ``"NLC"`` or ``None`` to infer it.

    Returns:
        For a string, a list of ``R`` strings; for a list, one such list per sequence; for a
        tensor ``(N, C, L)``, a tensor ``(N, R, C, L)`` (``(R, C, L)`` for ``(C, L)``), in the
        input's layout, dtype and device.

    Example:
        >>> from idgrad.genomics import one_hot
        >>> shuffles = dinucleotide_shuffle("AACAGATTGA", n_shuffles=3, seed=0)
        >>> all(dinucleotide_counts(s) == dinucleotide_counts("AACAGATTGA") for s in shuffles)
        True
        >>> dinucleotide_shuffle(one_hot(["ACGTACGT"]), n_shuffles=5, seed=0).shape
        torch.Size([1, 5, 4, 8])
    """
    if isinstance(n_shuffles, bool) or not isinstance(n_shuffles, int) or n_shuffles < 1:
        raise ValueError(f"n_shuffles must be a positive int, got {n_shuffles!r}")
    rng = _numpy_rng(seed)
    letter_n = frozenset((ord("N"), ord("n")))

    def shuffle_string(s: str) -> list[str]:
        codes = [ord(c) for c in s]
        return [
            "".join(map(chr, _shuffle_between_fixed(codes, letter_n, rng)))
            for _ in range(n_shuffles)
        ]

    if isinstance(sequences, str):
        return shuffle_string(sequences)
    if not isinstance(sequences, torch.Tensor):
        if not all(isinstance(s, str) for s in sequences):
            raise TypeError("sequences must be a string, a list of strings, or a one-hot tensor")
        return [shuffle_string(s) for s in sequences]
    if sequences.dim() not in (2, 3):
        raise ValueError(
            f"dinucleotide_shuffle expects (C, L) or (N, C, L), got shape {tuple(sequences.shape)}"
        )
    lay = check_one_hot(sequences, layout)
    cf = to_channels_first(sequences.detach(), lay)
    batch = cf if cf.dim() == 3 else cf[None]
    n, c, length = batch.shape
    idx = batch.argmax(dim=1).cpu().numpy()
    idx[(batch.sum(dim=1) == 0).cpu().numpy()] = c  # N is the extra letter c, kept in place
    column_n = frozenset((c,))
    shuffled = np.empty((n, n_shuffles, length), dtype=np.int64)
    for k in range(n):
        row = idx[k].tolist()
        for r in range(n_shuffles):
            shuffled[k, r] = _shuffle_between_fixed(row, column_n, rng)
    eye = torch.cat([torch.eye(c, dtype=sequences.dtype), torch.zeros(1, c, dtype=sequences.dtype)])
    refs = eye[torch.from_numpy(shuffled)].transpose(-1, -2)  # (N, R, C, L)
    refs = refs if cf.dim() == 3 else refs[0]
    return from_channels_first(refs, lay).contiguous().to(sequences.device)


def dinucleotide_counts(sequence: str) -> dict[str, int]:
    """Count the overlapping dinucleotides of a string.

    Example:
        >>> dinucleotide_counts("AACA")
        {'AA': 1, 'AC': 1, 'CA': 1}
    """
    counts: dict[str, int] = {}
    for a, b in pairwise(sequence):
        counts[a + b] = counts.get(a + b, 0) + 1
    return dict(sorted(counts.items()))
