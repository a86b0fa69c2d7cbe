"""Per-position attributions as bigWig tracks for genome browsers (``pybigtools``, optional).

:func:`write_bigwig` places the score of position ``i`` of sequence ``n`` at genome coordinate
``start_n + i`` of chromosome ``chrom_n`` (0-based, half-open, as BED and bigWig count), one
record per base; the coordinates are the caller's (idgrad knows nothing of where a sequence came
from). Scores ``(N, 4, L)`` (or ``(N, L, 4)``) are summed over the bases first, which for actual
contributions (zero off the observed base) is the observed base's contribution; ``(N, L)`` is
written as given. :func:`read_bigwig` reads the same windows back as an ``(N, L)`` array.

The file is written under a temporary name beside the destination and put in place at the end;
an existing file is replaced only with ``overwrite=True``. Needs the ``bigwig`` extra
(``pip install 'idgrad[bigwig]'``).

Example:
    >>> import os, tempfile
    >>> scores = torch.tensor([[0.5, -1.0, 2.0]])
    >>> path = os.path.join(tempfile.mkdtemp(), "ig.bw")
    >>> write_bigwig(path, scores, [("chr1", 100)], chrom_sizes={"chr1": 1000})
    '...ig.bw'
    >>> read_bigwig(path, [("chr1", 100)], length=3)
    array([[ 0.5, -1. ,  2. ]], dtype=float32)
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import torch

from idgrad.genomics._files import check_destination, optional_module, staged
from idgrad.genomics.sequences import _resolve_layout

__all__ = ["read_bigwig", "write_bigwig"]

Coordinates = Sequence[tuple[str, int]]


def _check_coordinates(coordinates: Coordinates, n: int) -> list[tuple[str, int]]:
    if isinstance(coordinates, (str, bytes)) or not isinstance(coordinates, Sequence):
        raise TypeError(
            f"coordinates must be a list of (chrom, start) pairs, got {type(coordinates).__name__}"
        )
    if len(coordinates) != n:
        raise ValueError(f"coordinates has {len(coordinates)} entries for {n} sequences")
    out: list[tuple[str, int]] = []
    for k, item in enumerate(coordinates):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise TypeError(f"coordinates[{k}] must be a (chrom, start) pair, got {item!r}")
        chrom, start = item
        if not isinstance(chrom, str) or not chrom:
            raise TypeError(f"coordinates[{k}]: the chromosome must be a non-empty string")
        if isinstance(start, bool) or not isinstance(start, numbers.Integral) or start < 0:
            raise ValueError(f"coordinates[{k}]: start must be an int >= 0, got {start!r}")
        out.append((chrom, int(start)))
    return out


def _per_position(values: torch.Tensor | np.ndarray, layout: str | None) -> np.ndarray:
    t = torch.as_tensor(values).detach()
    if t.dim() == 3:
        lay = _resolve_layout(t, layout)
        t = t.sum(dim=1 if lay == "NCL" else 2)
    elif t.dim() != 2:
        raise ValueError(
            f"values must be (N, L) per position or (N, 4, L) / (N, L, 4), got {tuple(t.shape)}"
        )
    out = t.to(torch.float64).cpu().numpy().astype(np.float32)
    if not np.isfinite(out).all():
        n, i = np.argwhere(~np.isfinite(out))[0]
        raise ValueError(f"values: sequence {n}, position {i} is {out[n, i]} (not finite)")
    return out


def write_bigwig(
    path: str | os.PathLike[str],
    values: torch.Tensor | np.ndarray,
    coordinates: Coordinates,
    *,
    chrom_sizes: Mapping[str, int] | None = None,
    overwrite: bool = False,
    layout: str | None = None,
) -> str:
    """Write per-position scores to a bigWig file, at the genome coordinates given.

    Position ``i`` of sequence ``n`` goes to ``[start_n + i, start_n + i + 1)`` on
    ``chrom_n``; the value is ``values[n, i]`` (``(N, L)``) or ``Σ_b values[n, b, i]``
    (``(N, 4, L)`` / ``(N, L, 4)``), stored as float32.

    Args:
        path: the file to write (``.bw``).
        values: ``(N, L)``, ``(N, 4, L)`` or ``(N, L, 4)``, finite; tensor or array.
        coordinates: ``(chrom, start)`` of each sequence, 0-based.
        chrom_sizes: the length of each chromosome (the bigWig header needs them); None
            takes the end of the last sequence on each chromosome.
        overwrite: replace ``path`` if it exists (otherwise OutputError, before any
            work).
        layout: ``"NCL"`` or ``"NLC"`` for 3-D values (None: inferred).

    Returns:
        The path written.

    Raises:
        ValueError: coordinates that do not match the sequences, sequences that overlap on a
            chromosome (a bigWig holds one value per base), a sequence past its chromosome's
            end, or non-finite values.
        ImportError: without pybigtools.
    """
    pybigtools = optional_module("pybigtools", "bigwig", "write_bigwig")
    out = check_destination(path, overwrite, "write_bigwig")
    scores = _per_position(values, layout)
    n, length = scores.shape
    coords = _check_coordinates(coordinates, n)
    order = sorted(range(n), key=lambda k: (coords[k][0], coords[k][1]))
    for a, b in zip(order, order[1:]):
        if coords[a][0] == coords[b][0] and coords[b][1] < coords[a][1] + length:
            raise ValueError(
                f"sequences {a} and {b} overlap on {coords[a][0]} ({coords[a][1]}-"
                f"{coords[a][1] + length} and {coords[b][1]}-{coords[b][1] + length}); a bigWig "
                "holds one value per base: write them to separate files"
            )
    ends: dict[str, int] = {}
    for chrom, start in coords:
        ends[chrom] = max(ends.get(chrom, 0), start + length)
    if chrom_sizes is None:
        sizes = dict(ends)
    else:
        sizes = {}
        for chrom, size in chrom_sizes.items():
            if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
                raise ValueError(f"chrom_sizes[{chrom!r}] must be a positive int, got {size!r}")
            sizes[str(chrom)] = int(size)
        for chrom, end in ends.items():
            if chrom not in sizes:
                raise ValueError(f"chrom_sizes has no entry for {chrom!r}")
            if end > sizes[chrom]:
                raise ValueError(
                    f"a sequence on {chrom!r} ends at {end}, past its size {sizes[chrom]}"
                )

    def records() -> Iterator[tuple[str, int, int, float]]:
        for k in order:  # by chromosome, then start
            chrom, start = coords[k]
            row = scores[k]
            for i in range(length):
                yield chrom, start + i, start + i + 1, float(row[i])

    with staged(out, overwrite, ".bw") as tmp:
        writer = pybigtools.open(tmp, "w")
        writer.write(sizes, records())
    return out


def read_bigwig(path: str | os.PathLike[str], coordinates: Coordinates, length: int) -> np.ndarray:
    """Read ``length`` bases from each ``(chrom, start)`` of a bigWig file: ``(N, length)``.

    Bases the file has no value for are NaN. The inverse of :func:`write_bigwig` (up to the
    float32 the file stores).
    """
    pybigtools = optional_module("pybigtools", "bigwig", "read_bigwig")
    if isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 1:
        raise ValueError(f"length must be a positive int, got {length!r}")
    coords = _check_coordinates(coordinates, len(coordinates))
    out = np.full((len(coords), int(length)), np.nan, dtype=np.float32)
    reader = pybigtools.open(os.fspath(path), "r")
    try:
        sizes = reader.chroms()
        for k, (chrom, start) in enumerate(coords):
            if chrom not in sizes:
                continue
            stop = min(start + int(length), int(sizes[chrom]))
            if stop > start:
                out[k, : stop - start] = reader.values(chrom, start, stop, fillna=None)
    finally:
        reader.close()
    return out
