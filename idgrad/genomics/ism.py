"""In-silico mutagenesis (ISM), and how far an attribution agrees with it.

ISM is the reference genomics users check attributions against: the model is evaluated on every
single-base substitution of a sequence ``x``,

``e[b, i] = F(x with base b at position i) − F(x)``,

so ``e`` is 0 at the observed base, and ``e[b, i]`` says what putting ``b`` at ``i`` would do.
With ``center=True`` each position is mean-centred over the four bases,
``ē[b, i] = e[b, i] − (1/4) Σ_c e[c, i]``, the form TF-MoDISco accepts as hypothetical
contributions and the form the gradient-based hypothetical contributions
(:func:`~idgrad.genomics.hypothetical_contributions`, ``convention="mean"``) take. The value
at the observed base is then ``−(1/4) Σ_c e[c, i]``: the average loss when position ``i`` is
mutated, scaled by 3/4.

Cost: ``B`` reference evaluations plus ``3`` per position (``4`` at an ``N``, an all-zero
column, where every base is a substitution), forward only, in chunks of at most
``internal_batch_size`` mutants: memory holds one chunk of mutants and the ``(B, 4, P)``
effects, whatever ``B × L``. Mutants are built chunk by chunk from the sequences, never all at
once.

:func:`agreement` compares any attribution with ISM (or with anything else of the same shape),
one sequence at a time: Spearman's rank correlation and the overlap of the top-``k`` entries.

Example:
    >>> from idgrad.genomics import one_hot
    >>> w = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0], [-1.0, 0.0]])  # a PWM, (4, L=2)
    >>> model = lambda x: (x * w).sum(dim=(1, 2))
    >>> ism(model, one_hot(["AC"]), center=False)[0]  # w[b, i] - w[observed, i]
    tensor([[ 0., -2.],
            [-1.,  0.],
            [-1., -2.],
            [-2., -2.]])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch

from idgrad.core.fan import TargetsType, check_targets
from idgrad.core.fan_seam import FanSeam
from idgrad.core.guard import ModelGuard
from idgrad.core.seam import ModelSeam, chunk_bounds, resolve_chunk_size
from idgrad.core.targets import TargetType
from idgrad.core.validation import ChunkSize, check_finite, check_int
from idgrad.genomics.sequences import check_one_hot, from_channels_first, to_channels_first

__all__ = ["Agreement", "agreement", "ism", "ism_evaluations"]


def _check_positions(positions: Any, length: int) -> tuple[int, int]:
    if positions is None:
        return 0, length
    if (
        not isinstance(positions, (tuple, list))
        or len(positions) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in positions)
    ):
        raise TypeError(
            f"positions must be None or a (start, stop) pair of ints, got {positions!r}"
        )
    start, stop = int(positions[0]), int(positions[1])
    if not 0 <= start < stop <= length:
        raise ValueError(
            f"positions must satisfy 0 <= start < stop <= L = {length}, got {(start, stop)}"
        )
    return start, stop


def _mutations(x: torch.Tensor, start: int, stop: int) -> tuple[torch.Tensor, ...]:
    """Every substitution of the window: ``(example, position, base)``, each ``(M,)`` long.

    A base equal to the observed one is left out; at an all-zero column (``N``) all four are
    kept. Ordered by example, then position, then base.
    """
    window = x[:, :, start:stop]  # (B, 4, P)
    keep = window == 0  # the observed base is 1, the others 0 (an N: four zeros)
    example, base, position = torch.nonzero(keep, as_tuple=True)
    order = torch.argsort((example * (stop - start) + position) * 4 + base)
    return example[order], position[order] + start, base[order]


def ism_evaluations(sequences: torch.Tensor, positions: tuple[int, int] | None = None) -> int:
    """Model evaluations :func:`ism` spends: ``B`` references plus one per substitution.

    Example:
        >>> from idgrad.genomics import one_hot
        >>> ism_evaluations(one_hot(["ACGTN"])), ism_evaluations(one_hot(["ACGTN"]), (0, 2))
        (17, 7)
    """
    lay = check_one_hot(sequences)
    x = to_channels_first(sequences.detach(), lay)
    start, stop = _check_positions(positions, int(x.shape[-1]))
    return int(x.shape[0]) + int((x[:, :, start:stop] == 0).sum())


def ism(
    forward_func: Callable[..., Any],
    sequences: torch.Tensor,
    target: TargetType = None,
    additional_forward_args: Any = None,
    *,
    targets: TargetsType | None = None,
    center: bool = True,
    positions: tuple[int, int] | None = None,
    internal_batch_size: ChunkSize = "auto",
    layout: str | None = None,
) -> torch.Tensor:
    """In-silico mutagenesis: the effect of every single-base substitution on the target.

    ``e[n, b, i] = F(x_n with base b at i) − F(x_n)``, ``0`` at the observed base; with
    ``center`` (default) ``e[n, b, i] − (1/4) Σ_c e[n, c, i]``.

    Args:
        forward_func: the model; it is called on mutants in the layout of ``sequences``.
        sequences: one-hot ``(B, 4, L)`` or ``(B, L, 4)`` (an all-zero column is an ``N``).
        target: which output to explain, every form the path methods take (see
            :mod:`idgrad.core.targets`), e.g. :func:`~idgrad.genomics.counts_target`;
            per-example indices and per-example ``additional_forward_args`` follow each
            mutant's sequence.
        additional_forward_args: extra arguments of the model, as in the path methods.
        targets: several targets at once, as in the path methods (:mod:`idgrad.core.fan`: a
            list of anything ``target`` takes, or ``"all"``): the model runs once per mutant
            for all of them and the result gains a leading axis, ``(K, B, 4, P)``, whose
            ``k``-th slice equals the call with ``target=targets[k]``. Give ``target`` or
            ``targets``, not both.
        center: mean-centre each position over the four bases.
        positions: ``(start, stop)``: mutate only these positions (Python slice rules);
            the result then has ``P = stop − start`` positions. None: all ``L``.
        internal_batch_size: mutants per forward pass (``"auto"``: from the sequence size,
            as the path methods; None: all at once). Peak memory is this many sequences plus
            the result; the result does not depend on it.
        layout: ``"NCL"``, ``"NLC"`` or None to infer it.

    Returns:
        ``(B, 4, P)`` effects (``(B, P, 4)`` for channels-last input), in the dtype of the
        model's output; ``(K, B, 4, P)`` with ``targets``.

    Raises:
        ValueError: sequences that are not one-hot, positions out of range, ``target`` and
            ``targets`` together, an empty ``targets``.
        NonFiniteError: a model output that is NaN or infinite (naming the example,
            position and base).
        TypeError: a bad target, or a model that does not return tensors.

    Example:
        >>> from idgrad.genomics import one_hot
        >>> model = lambda x: x[:, 2].sum(dim=1)  # counts the Gs
        >>> e = ism(model, one_hot(["GAT"]), center=False)
        >>> e[0]
        tensor([[-1.,  0.,  0.],
                [-1.,  0.,  0.],
                [ 0.,  1.,  1.],
                [-1.,  0.,  0.]])
        >>> ism(model, one_hot(["GAT"]))[0, :, 0]  # centred
        tensor([-0.2500, -0.2500,  0.7500, -0.2500])
    """
    if not isinstance(sequences, torch.Tensor):
        raise TypeError(f"sequences must be a torch.Tensor, got {type(sequences).__name__}")
    if sequences.dim() != 3:
        raise ValueError(
            f"sequences must be (B, 4, L) or (B, L, 4), got shape {tuple(sequences.shape)}"
        )
    if not sequences.is_floating_point():
        raise TypeError(f"sequences must be floating point (one-hot), got {sequences.dtype}")
    if sequences.shape[0] == 0:
        raise ValueError("sequences is an empty batch")
    lay = check_one_hot(sequences, layout)
    check_finite(sequences, "sequences")
    if targets is not None:
        if target is not None:
            raise ValueError(
                f"give target (one output) or targets (several), not both; got target={target!r}"
            )
        check_targets(targets)  # its form, before the model runs
    if not isinstance(center, bool):
        raise TypeError(f"center must be a bool, got {type(center).__name__}")
    user = sequences.detach()
    x = to_channels_first(user, lay)
    batch, _, length = (int(s) for s in x.shape)
    start, stop = _check_positions(positions, length)
    chunk = resolve_chunk_size(internal_batch_size, (user,))

    with ModelGuard(forward_func):
        seam = ModelSeam.build(
            forward_func, (user,), target, additional_forward_args, chunk, targets=targets
        )
        reference = _evaluate(seam, user, torch.arange(batch), chunk, lambda i: "at the input")
        example, position, base = _mutations(x, start, stop)
        effects = torch.zeros(
            reference.shape[0], batch, 4, stop - start, dtype=reference.dtype, device=user.device
        )
        step = max(int(example.shape[0]), 1) if chunk is None else chunk
        for lo in range(0, int(example.shape[0]), step):
            rows = example[lo : lo + step]
            pos, new = position[lo : lo + step], base[lo : lo + step]
            mutants = x.index_select(0, rows.to(x.device)).clone()
            arange = torch.arange(rows.shape[0], device=x.device)
            mutants[arange, :, pos.to(x.device)] = 0
            mutants[arange, new.to(x.device), pos.to(x.device)] = 1

            def where(i: int, pos: torch.Tensor = pos, new: torch.Tensor = new) -> str:
                return f"the substitution of base {'ACGT'[int(new[i])]} at position {int(pos[i])}"

            values = _evaluate(seam, from_channels_first(mutants, lay), rows, None, where)
            ref = reference[:, rows.to(reference.device)]
            effects[:, rows, new, pos - start] = (values - ref).to(effects.dtype)
    if center:
        effects = effects - effects.mean(dim=2, keepdim=True)
    effects = from_channels_first(effects, lay)
    return effects if targets is not None else effects[0]


def _evaluate(
    seam: ModelSeam,
    points: torch.Tensor,
    rows: torch.Tensor,
    chunk: int | None,
    where: Callable[[int], str],
) -> torch.Tensor:
    """``(K, n)`` target values of ``points`` (one forward pass per chunk for all ``K``)."""
    parts = []
    for lo, hi in chunk_bounds(int(points.shape[0]), chunk):
        sub_rows = rows[lo:hi].to(points.device)

        def label(i: int, lo: int = lo) -> str:
            return where(lo + i)

        if isinstance(seam, FanSeam):
            parts.append(seam.scalars_per_target((points[lo:hi],), sub_rows, label))
        else:
            parts.append(seam.scalars((points[lo:hi],), sub_rows, label).unsqueeze(0))
    return torch.cat(parts, dim=1)


class Agreement(NamedTuple):
    """Result of :func:`agreement`: one value per sequence, float64."""

    spearman: torch.Tensor
    """``(N,)`` Spearman's rank correlation (average ranks for ties; NaN for a constant row)."""
    topk: torch.Tensor
    """``(N,)`` fraction of the top-``k`` entries of one that are among the top ``k`` of the
    other."""


def _average_ranks(v: np.ndarray) -> np.ndarray:
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v), dtype=np.float64)
    sorted_v = v[order]
    starts = np.flatnonzero(np.r_[True, sorted_v[1:] != sorted_v[:-1]])
    ends = np.r_[starts[1:], len(v)]
    for lo, hi in zip(starts, ends):
        ranks[order[lo:hi]] = (lo + hi - 1) / 2.0
    return ranks


def _rows(values: Any, name: str) -> np.ndarray:
    t = torch.as_tensor(values).detach()
    if t.dim() < 2:
        raise ValueError(
            f"{name} must be (N, ...) with at least one entry per row, got {t.dim()}-d"
        )
    out = t.reshape(t.shape[0], -1).to(torch.float64).cpu().numpy()
    if not np.isfinite(out).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return out


def agreement(
    attributions: torch.Tensor | np.ndarray,
    reference: torch.Tensor | np.ndarray,
    *,
    k: int = 10,
    absolute: bool = True,
) -> Agreement:
    """Per-sequence agreement of two score arrays of the same shape (e.g. attributions vs ISM).

    Each row (sequence) is flattened: ``(N, 4, L)`` compares all ``4 L`` entries (e.g.
    hypothetical contributions with centred ISM), ``(N, L)`` compares positions (e.g. both
    summed over the bases). For row ``n`` with entries ``a`` and ``r``:

    * ``spearman[n] = pearson(rank(a), rank(r))`` (signed values, average ranks for ties);
    * ``topk[n] = |top_k(a) ∩ top_k(r)| / k``, where ``top_k`` takes the ``k`` largest
      ``|values|`` (``absolute=True``) or the ``k`` largest values; ties go to the lower
      index.

    Args:
        attributions, reference: same shape ``(N, ...)``, tensors or arrays.
        k: entries compared by the top-``k`` overlap (at most the entries per row).
        absolute: rank the top ``k`` by magnitude (True) or by signed value.

    Returns:
        An :class:`Agreement` of ``(N,)`` float64 tensors.

    Example:
        >>> a = torch.tensor([[0.1, 0.5, -2.0, 0.0]])
        >>> r = torch.tensor([[0.2, 0.1, -1.0, 0.4]])
        >>> agree = agreement(a, r, k=2)  # ranks 2,3,0,1 vs 2,1,0,3; top 2: {2, 1} vs {2, 3}
        >>> agree.spearman, agree.topk
        (tensor([0.2000], dtype=torch.float64), tensor([0.5000], dtype=torch.float64))
    """
    a, r = _rows(attributions, "attributions"), _rows(reference, "reference")
    if torch.as_tensor(attributions).shape != torch.as_tensor(reference).shape:
        raise ValueError(
            f"attributions {tuple(torch.as_tensor(attributions).shape)} and reference "
            f"{tuple(torch.as_tensor(reference).shape)} must have the same shape"
        )
    k = check_int(k, "k")
    if k > a.shape[1]:
        raise ValueError(f"k = {k} is more than the {a.shape[1]} entries per row")
    spearman = np.full(a.shape[0], np.nan)
    topk = np.empty(a.shape[0])
    for n in range(a.shape[0]):
        ra, rr = _average_ranks(a[n]), _average_ranks(r[n])
        ra, rr = ra - ra.mean(), rr - rr.mean()
        denom = np.sqrt((ra * ra).sum() * (rr * rr).sum())
        if denom > 0:
            spearman[n] = float((ra * rr).sum() / denom)
        key_a = np.abs(a[n]) if absolute else a[n]
        key_r = np.abs(r[n]) if absolute else r[n]
        top_a = np.argsort(-key_a, kind="stable")[:k]
        top_r = np.argsort(-key_r, kind="stable")[:k]
        topk[n] = len(np.intersect1d(top_a, top_r)) / k
    return Agreement(torch.from_numpy(spearman), torch.from_numpy(topk))
